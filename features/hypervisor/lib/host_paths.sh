# shellcheck shell=bash
# Host paths an NFS export or a Samba share must never serve, and bind-mount sources must never
# reach: the same rules as infra/config/lxc-raw.ts sensitiveSharePath and sensitiveHostPath (test/config/host-paths.test.ts runs this check over
# that file's lists and keeps the two equal). Config validation refuses them first; this is the
# host's own refusal, for a script run with other inputs. PHOENIX_ALLOW_HOST_PATHS=1 (the stack's
# phoenix:allowHostPaths) lets them through, as it does in validation.

# The path lexically resolved as the kernel does: `//`, `/./`, `..` and a trailing `/` gone.
normalise_host_path() {
  local part parts=() kept=() IFS=/
  read -r -a parts <<<"$1" || true
  for part in "${parts[@]}"; do
    case $part in
      '' | .) ;;
      ..) [ ${#kept[@]} -eq 0 ] || unset 'kept[${#kept[@]}-1]' ;;
      *) kept+=("$part") ;;
    esac
  done
  printf '/%s\n' "${kept[*]}"
}

# Prints the sensitive host path a bind mount of $1 reaches (lxc-raw.ts sensitiveHostPath) and
# succeeds; fails when $1 is fine.
sensitive_host_path() {
  local n t
  n=$(normalise_host_path "$1")
  # host-paths-begin (infra/config/lxc-raw.ts: SENSITIVE_HOST_PATHS, HOST_DATA_LOCATIONS, SENSITIVE_HOST_TREES)
  local whole=(/ /dev /mnt /mnt/pve /media /srv)
  local data=(/var/www)
  local trees=(/etc /root /home /boot /efi /proc /sys /run /usr /bin /sbin /lib /lib32 /lib64 /libx32 /opt /snap /tmp /var /dev/shm /dev/mqueue /dev/mem /dev/kmem /dev/port)
  # host-paths-end
  for t in "${whole[@]}"; do [ "$n" != "$t" ] || { printf '%s\n' "$t"; return 0; }; done
  for t in "${data[@]}"; do [[ $n != "$t"/* ]] || return 1; done
  for t in "${trees[@]}"; do
    if [ "$n" = "$t" ] || [[ $n == "$t"/* ]]; then printf '%s\n' "$t"; return 0; fi
  done
  return 1
}

# Prints the sensitive host path an export or share of $1 serves (lxc-raw.ts sensitiveSharePath:
# as sensitive_host_path, and all of /dev) and succeeds; fails when $1 is fine.
sensitive_share_path() {
  local n
  n=$(normalise_host_path "$1")
  if [ "$n" = /dev ] || [[ $n == /dev/* ]]; then echo /dev; return 0; fi
  sensitive_host_path "$n"
}

# Dies (the script's own die) when $1 is a sensitive host path and the stack does not allow it.
refuse_sensitive_share_path() {
  local hit
  [ "${PHOENIX_ALLOW_HOST_PATHS:-}" != 1 ] || return 0
  if hit=$(sensitive_share_path "$1"); then
    die "refusing to serve $1: it is$([ "$hit" = "$(normalise_host_path "$1")" ] || echo ' under') the host's $hit (a stack that needs it sets phoenix:allowHostPaths: true)"
  fi
}
