#!/usr/bin/env bash
# One Samba share as a section of the Phoenix-managed
# include file /etc/samba/phoenix-shares.conf, included once from smb.conf; the rest of smb.conf
# is never edited. Every change is built as a candidate copy and validated with `testparm -s`
# (errors and unknown parameters reject it) before an atomic rename puts it in place; smbd reloads
# its configuration when it runs. Runs under the host lock `samba` (one shared file).
#
# Parameters (environment):
#   PHOENIX_NAME         share name
#   PHOENIX_PATH         absolute directory the share serves
#   PHOENIX_OPTIONS      one `key=value` per line (browseable=yes, writable=yes, ...)
#   PHOENIX_VALID_USERS  space-separated user names ("" = no restriction)
#   PHOENIX_ALLOW_HOST_PATHS  1: the stack allows sharing the host's system paths (lib/host_paths.sh)
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
name=${PHOENIX_NAME:?PHOENIX_NAME is required}
share_path=${PHOENIX_PATH:?PHOENIX_PATH is required}
options=${PHOENIX_OPTIONS:-}
valid_users=${PHOENIX_VALID_USERS:-}
smb_conf=/etc/samba/smb.conf
managed=/etc/samba/phoenix-shares.conf
include_line="include = $managed"

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="samba_share $name"

# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh
# phoenix-include: lib/host_paths.sh

[[ $name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$ ]] || invalid "share name"
case ${name,,} in global|homes|printers|print\$) invalid "share name: reserved by Samba" ;; esac
valid_share_path "$share_path" || invalid "path '$share_path'"
# Never the host's system paths (/, /etc, /root, ...): Samba serves them as its root-run smbd.
[ "$action" != apply ] || refuse_sensitive_share_path "$share_path"
[[ $valid_users != *$'\n'* ]] || invalid "valid_users (one line, space-separated)"
read -r -a users <<<"$valid_users" || true
user_re='^[@+&]?[A-Za-z0-9_][A-Za-z0-9_.-]*[$]?$'
for u in "${users[@]}"; do
  [[ $u =~ $user_re ]] || invalid "user '$u'"
done
# key = value; the value may not hold brackets or '=' (no way to smuggle in a section).
option_re='^[[:space:]]*([a-z][a-z0-9 _:]*[a-z0-9])[[:space:]]*=[[:space:]]*(.*)$'
option_lines=()
while IFS= read -r line; do
  [ -n "${line//[[:space:]]/}" ] || continue
  [[ $line =~ $option_re ]] || invalid "option '$line' (key=value)"
  key=${BASH_REMATCH[1]}
  value=${BASH_REMATCH[2]%"${BASH_REMATCH[2]##*[![:space:]]}"}
  case $value in *\[*|*\]*|*=*|*\\*|*$'\r'*) invalid "value in option '$line'" ;; esac
  # Allow-list, compared as Samba compares names (case and whitespace ignored, lib/param strwicmp);
  # the same list as infra/config/samba-options.ts (test/config/samba-options.test.ts keeps them equal).
  norm=${key,,}; norm=${norm//[[:space:]]/}
  case $norm in
    # samba-allow-list-begin
    accessbasedshareenum|aclallowexecutealways|aclmapfullcontrol|aioreadsize|aiowritesize|allowhosts|\
    available|blocksize|browsable|browseable|casesensitive|casesignames|comment|createmask|createmode|\
    cscpolicy|defaultcase|deletereadonly|deletevetofiles|denyhosts|directorymask|directorymode|\
    directorynamecachesize|dosfilemode|durablehandles|easupport|followsymlinks|forcecreatemode|\
    forcedirectorymode|guestok|guestonly|hidedotfiles|hidefiles|hidenewfilestimeout|hidespecialfiles|\
    hideunreadable|hostsallow|hostsdeny|inheritacls|inheritowner|inheritpermissions|invalidusers|\
    level2oplocks|locking|manglednames|mapaclinherit|maparchive|maphidden|mapreadonly|mapsystem|\
    maxconnections|ntaclsupport|onlyguest|oplocks|posixlocking|preservecase|public|readlist|readonly|\
    serversmbencrypt|shortpreservecase|smbencrypt|storedosattributes|strictallocate|strictlocking|\
    strictsync|syncalways|vetofiles|writable|writeable|writelist|writeok) ;;
    # samba-allow-list-end
    *) invalid "option '$key': not on the share option allow-list" ;;
  esac
  option_lines+=("   $key = $value")
done <<<"$options"

section() {
  printf '[%s]\n   path = %s\n' "$name" "$share_path"
  [ ${#users[@]} -eq 0 ] || printf '   valid users = %s\n' "${users[*]}"
  [ ${#option_lines[@]} -eq 0 ] || printf '%s\n' "${option_lines[@]}"
}

# The managed file without share $name (sections compared case-insensitively, as Samba does).
without_share() {
  [ -f "$managed" ] || return 0
  awk -v want="[${name,,}]" '
    /^[ \t]*\[/ { h = tolower($0); gsub(/[ \t]/, "", h); skip = (h == want) }
    !skip { print }' "$managed" | sed -e :a -e '/^\n*$/{$d;N;ba' -e '}'
}

current_section() {
  [ -f "$managed" ] || return 0
  awk -v want="[${name,,}]" '
    /^[ \t]*\[/ { h = tolower($0); gsub(/[ \t]/, "", h); on = (h == want) }
    on && NF { print }' "$managed"
}

# Our include line as Samba reads it: any indentation, any case of `include`, spaces around `=`.
include_re="^[[:space:]]*[Ii][Nn][Cc][Ll][Uu][Dd][Ee][[:space:]]*=[[:space:]]*${managed//./\\.}[[:space:]]*\$"
included() { [ -f "$smb_conf" ] && grep -qE "$include_re" "$smb_conf"; }

# Validates a candidate managed file with testparm against smb.conf (with the include pointing at
# the candidate), then renames it into place and makes sure smb.conf includes it.
activate() {
  local candidate=$1 tmp out
  tmp=$(mktemp -d "${TMPDIR:-/tmp}/phoenix-samba.XXXXXX")
  # shellcheck disable=SC2064 # expand now: the path is fixed
  trap "rm -rf '$tmp'" EXIT
  { if [ -f "$smb_conf" ]; then grep -vE "$include_re" "$smb_conf" || true; fi
    printf 'include = %s\n' "$candidate"; } >"$tmp/smb.conf"
  if ! out=$(testparm -s "$tmp/smb.conf" 2>&1 >/dev/null) || grep -qiE 'unknown parameter|error|invalid|not boolean' <<<"$out"; then
    rm -f "$candidate"
    die "testparm rejected the change; the previous configuration stays in place: $(grep -iE 'unknown parameter|error|invalid|not boolean|ignoring' <<<"$out" | head -n5 | tr '\n' ' ')"
  fi
  mv -f "$candidate" "$managed"
  if ! included; then
    { [ ! -f "$smb_conf" ] || cat "$smb_conf"
      printf '\n# Phoenix-managed shares\n%s\n' "$include_line"; } >"$smb_conf.phoenix-new"
    mv -f "$smb_conf.phoenix-new" "$smb_conf"
  fi
  # A running smbd re-reads its configuration now (it would anyway, within a minute).
  if pgrep -x smbd >/dev/null 2>&1; then
    if smbcontrol smbd reload-config >&2; then echo "smbd reloaded" >&2
    else echo "smbd did not confirm the reload" >&2; fi
  fi
}

report() {
  local cur
  cur=$(current_section)
  if [ -z "$cur" ]; then result '{"present":false}'; return; fi
  local matches=false inc=false exists=false
  [ "$cur" = "$(section)" ] && matches=true
  included && inc=true
  [ "$inc" = true ] || matches=false
  [ -d "$share_path" ] && exists=true
  result '{"present":true,"matches":%s,"included":%s,"pathExists":%s,"section":%s}' \
    "$matches" "$inc" "$exists" "$(json_str "$cur")"
}

apply() {
  if [ "$(current_section)" = "$(section)" ] && included; then return; fi
  mkdir -p "$(dirname "$managed")"
  local candidate="$managed.phoenix-new"
  { printf '# Managed by Phoenix (one section per share); edits are overwritten.\n'
    without_share | grep -v '^# Managed by Phoenix' || true
    echo; section; } | sed '/./,$!d' >"$candidate"
  chmod 644 "$candidate"
  activate "$candidate"
  echo "share [$name] -> $share_path" >&2
}

delete() {
  if [ -n "$(current_section)" ]; then
    local candidate="$managed.phoenix-new"
    without_share >"$candidate"
    chmod 644 "$candidate"
    activate "$candidate"
    echo "removed share [$name] (its data is untouched)" >&2
  fi
  result '{"present":false}'
}

run_action "$action"
