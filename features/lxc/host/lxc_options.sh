#!/usr/bin/env bash
# What only root@pam may set on a container, done over SSH as root (an API token gets HTTP 403
# for each of these in Proxmox's check_ct_modify_config_perm):
#   - raw LXC lines `lxc.<key>: <value>` in the current section of /etc/pve/lxc/<ctid>.conf: the
#     container's lxc_options, AppArmor profile, bind mounts (`lxc.mount.entry`) and NVIDIA GPUs
#     (device nodes bind-mounted, their character devices allowed). This resource owns the WHOLE
#     raw-line set: lines it does not declare (a clone inherits its parent's) are removed, and
#     read reports them as drift;
#   - feature flags other than `nesting` (`keyctl`, `fuse`, `mknod`, `mount`), and any flag of a
#     privileged container, with `pct set --features` (PHOENIX_FEATURES: the full wanted set);
#   - the root disk of a clone grown to its declared size (`pct resize <ctid> rootfs <N>G`): the
#     proxmoxve provider clones with the parent's disk and resizes only on a later update; and
#     volumes grown in place (the provider replaces a container whose mount point size changed);
#   - bind-mount source folders created on the host, owned as declared, before the container
#     (re)starts with the mount (a missing source stops lxc-start); a folder that already
#     existed is never chowned (its ownership is the operator's).
# The config file is edited under Proxmox's own config lock (the one pct takes), so it never races
# a `pct set`; pct commands run outside it (they take it themselves). The container restarts only
# when a line or a flag changed and it is running. Before changing anything that needs a restart
# a "restart pending" mark is written; it goes once the container restarted (or was found
# stopped), so a run killed in between restarts on the next run, and read reports drift until then.
#   PHOENIX_CTID           container ID
#   PHOENIX_OPTIONS        desired lines, one `lxc.key=value` per line, in order
#   PHOENIX_GPUS           GPU indexes, comma-separated (empty: none): adds the dynamic device majors
#   PHOENIX_FEATURES       `pct set --features` value (`keyctl=1,nesting=1`; empty: leave flags to the API)
#   PHOENIX_ROOTFS_GB      declared root disk size in GiB (empty: leave the disk to the API)
#   PHOENIX_MOUNT_SOURCES  bind-mount sources, one `<host uid>:<host gid>:<explicit 0|1>:<path>` per line
#   PHOENIX_VOLUMES        volume sizes, one `mp<N>=<GiB>` per line: a grown volume is resized in
#                          place (`pct resize <ctid> mp<N> <N>G`); the provider would replace the
#                          container, and its data with it
set -euo pipefail

ctid=${PHOENIX_CTID:?}
[[ $ctid =~ ^[1-9][0-9]{2,8}$ ]] || { echo "invalid CTID '$ctid'" >&2; exit 2; }
conf=/etc/pve/lxc/$ctid.conf
record=/var/lib/phoenix/lxc/$ctid.lxc-options
pending=/var/lib/phoenix/lxc/$ctid.restart-pending
lock=/run/lock/lxc/pve-config-$ctid.lock
features=${PHOENIX_FEATURES:-}
rootfs_gb=${PHOENIX_ROOTFS_GB:-}
flag='((nesting|keyctl|fuse|mknod)=[01]|mount=[a-z0-9]+(;[a-z0-9]+)*)'
[ -z "$features" ] || [[ $features =~ ^$flag(,$flag)*$ ]] || { echo "invalid features '$features'" >&2; exit 2; }
[ -z "$rootfs_gb" ] || [[ $rootfs_gb =~ ^[1-9][0-9]{0,5}$ ]] || { echo "invalid root disk size '$rootfs_gb'" >&2; exit 2; }

# Desired lines in Proxmox's `key: value` form.
desired=""
while IFS= read -r line; do
  [ -n "$line" ] || continue
  [[ $line =~ ^(lxc\.[a-z0-9_.-]+)=(.*)$ ]] || { echo "invalid LXC option line '$line' (want lxc.key=value)" >&2; exit 2; }
  desired+="${BASH_REMATCH[1]}: ${BASH_REMATCH[2]}"$'\n'
done <<<"${PHOENIX_OPTIONS:-}"

# GPUs: the options carry the device nodes' bind mounts and the NVIDIA major (195). nvidia-uvm and
# nvidia-uvm-tools get a major when the host loads nvidia_uvm, which can change at the next load:
# they are Proxmox device passthrough entries (`devN: /dev/nvidia-uvm`), which Proxmox resolves at
# every container start (lxc-pve-prestart-hook: the node and its cgroup rule from the host's
# current device), so a changed major needs no Phoenix run. devN is root@pam only: set here with
# `pct set`. This resource owns the container's devN entries (a clone's inherited ones included).
# The nvidia-caps major (MIG; its nodes may be absent, a devN entry would stop the start) is
# read from /proc/devices.
desired_devs=""
if [ -n "${PHOENIX_GPUS:-}" ]; then
  [[ $PHOENIX_GPUS =~ ^[0-9]{1,2}(,[0-9]{1,2})*$ ]] || { echo "invalid GPU list '$PHOENIX_GPUS'" >&2; exit 2; }
  desired_devs=$'dev0 /dev/nvidia-uvm\ndev1 /dev/nvidia-uvm-tools'
  major=$(awk '$2 == "nvidia-caps" {print $1}' /proc/devices)
  [ -z "$major" ] || desired+="lxc.cgroup2.devices.allow: c $major:* rwm"$'\n'
fi

# Volume sizes: mp<N> → GiB.
declare -A volume_gb=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  [[ $line =~ ^(mp[0-9]{1,3})=([1-9][0-9]{0,5})$ ]] || { echo "invalid volume size '$line' (want mp<N>=<GiB>)" >&2; exit 2; }
  volume_gb[${BASH_REMATCH[1]}]=${BASH_REMATCH[2]}
done <<<"${PHOENIX_VOLUMES:-}"

# Bind-mount sources: parallel arrays of owner and path.
src_uid=() src_gid=() src_explicit=() src_path=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  [[ $line =~ ^([0-9]{1,10}):([0-9]{1,10}):([01]):(/.*)$ ]] || { echo "invalid mount source '$line' (want uid:gid:explicit:/path)" >&2; exit 2; }
  src_uid+=("${BASH_REMATCH[1]}") src_gid+=("${BASH_REMATCH[2]}") src_explicit+=("${BASH_REMATCH[3]}") src_path+=("${BASH_REMATCH[4]}")
done <<<"${PHOENIX_MOUNT_SOURCES:-}"

json_lines() {
  local first=1 l out="["
  while IFS= read -r l; do
    [ -n "$l" ] || continue
    l=${l//\\/\\\\}
    l=${l//\"/\\\"}
    [ $first = 1 ] || out+=","
    out+="\"$l\""
    first=0
  done <<<"$1"
  printf '%s]' "$out"
}

# The current (non-snapshot) section of the config.
current_section() { awk '/^\[/{exit} {print}' "$conf"; }

# Every raw LXC line of the current section, in order.
raw_lines() { current_section | grep '^lxc\.' || true; }

is_running() { pct status "$ctid" 2>/dev/null | grep -q 'status: running'; }

# `pct reboot` shuts the container down and starts it again, applying the changed config.
restart() { pct reboot "$ctid"; }

# A feature string as a sorted `key=value` list; flags set to 0 are the same as absent.
canon_features() {
  tr ',' '\n' <<<"$1" | awk -F= 'NF == 2 && $2 != "0" && $2 != ""' | LC_ALL=C sort | paste -sd, -
}
current_features() { canon_features "$(current_section | sed -n 's/^features: //p')"; }
# The devN entries of the current section as `devN <path>`, by N.
current_devs() { current_section | sed -nE 's/^(dev[0-9]+): (path=)?([^,]*).*$/\1 \3/p' | sort -V; }
devs_match() { [ "$(current_devs)" = "$desired_devs" ]; }
# Sets the desired devN entries and deletes the others, in one `pct set`.
set_devs() {
  local args=() delete="" key path
  while read -r key path; do
    [ -n "$key" ] || continue
    grep -q "^$key " <<<"$desired_devs" || delete+="${delete:+,}$key"
  done <<<"$(current_devs)"
  while read -r key path; do
    [ -n "$key" ] && args+=("--$key" "$path")
  done <<<"$desired_devs"
  [ -z "$delete" ] || args+=(--delete "$delete")
  pct set "$ctid" "${args[@]}"
}
features_match() { [ -z "$features" ] || [ "$(current_features)" = "$(canon_features "$features")" ]; }

# Size in GiB (rounded up) of disk $1 (rootfs, mp0...) from its line's `size=`; 0 when unknown.
disk_size_gb() {
  local v n u
  v=$(current_section | sed -n "s/^$1: //p" | tr ',' '\n' | sed -n 's/^size=//p')
  [[ $v =~ ^([0-9]+(\.[0-9]+)?)([KMGT]?)$ ]] || { echo 0; return; }
  n=${BASH_REMATCH[1]} u=${BASH_REMATCH[3]}
  awk -v n="$n" -v u="$u" 'BEGIN { f = (u == "T") ? 1024 : (u == "M") ? 1/1024 : (u == "K") ? 1/1048576 : (u == "G") ? 1 : 1/1073741824; g = n * f; printf "%d\n", (g == int(g)) ? g : int(g) + 1 }'
}
rootfs_matches() { [ -z "$rootfs_gb" ] || [ "$(disk_size_gb rootfs)" -ge "$rootfs_gb" ]; }
# Volumes smaller than declared.
volumes_small() {
  local mp
  for mp in "${!volume_gb[@]}"; do
    if current_section | grep -q "^$mp: " && [ "$(disk_size_gb "$mp")" -lt "${volume_gb[$mp]}" ]; then printf '%s\n' "$mp"; fi
  done
}

# Bind-mount source folders this script created, host-wide (one path per line; a folder two
# containers bind is created once). Only these are ever chowned: an existing folder's ownership
# is the operator's (chowning /var/lib/dpkg/info or a user's data tree to a container's root
# would hand that container the host's files). Config validation refuses system paths first.
created_record=/var/lib/phoenix/lxc/bind-sources.created
phoenix_created() { [ -f "$created_record" ] && grep -qxF -- "$1" "$created_record"; }

# Bind-mount sources that are missing or, when Phoenix created them and the owner is declared,
# owned by someone else.
sources_wrong() {
  local i
  for i in "${!src_path[@]}"; do
    if [ ! -d "${src_path[$i]}" ]; then
      printf '%s\n' "${src_path[$i]}"
    elif [ "${src_explicit[$i]}" = 1 ] && phoenix_created "${src_path[$i]}" \
      && [ "$(stat -c %u:%g "${src_path[$i]}")" != "${src_uid[$i]}:${src_gid[$i]}" ]; then
      printf '%s\n' "${src_path[$i]}"
    fi
  done
}

# Creates missing sources owned as declared (default: the container's root) and records them;
# a declared owner is set again on a folder this script created (the folder itself, never what
# is inside it). A folder that already existed keeps its owner: the log says so.
make_sources() {
  local i p have
  for i in "${!src_path[@]}"; do
    p=${src_path[$i]}
    if [ -e "$p" ] && [ ! -d "$p" ]; then echo "bind mount source $p exists and is not a directory" >&2; exit 1; fi
    if [ ! -d "$p" ]; then
      # Parents too must be traversable by the container's (mapped) root: not the runner's umask 077.
      (umask 022 && mkdir -p -- "$p")
      chmod 0755 -- "$p"
      chown -- "${src_uid[$i]}:${src_gid[$i]}" "$p"
      phoenix_created "$p" || printf '%s\n' "$p" >>"$created_record"
    elif phoenix_created "$p"; then
      [ "${src_explicit[$i]}" != 1 ] || chown -- "${src_uid[$i]}:${src_gid[$i]}" "$p"
    else
      have=$(stat -c %u:%g -- "$p")
      if [ "${src_explicit[$i]}" = 1 ] && [ "$have" != "${src_uid[$i]}:${src_gid[$i]}" ]; then
        echo "bind mount source $p existed before Phoenix: its owner $have stays (the operator's; owner_uid/owner_gid set only folders Phoenix creates, chown it by hand to ${src_uid[$i]}:${src_gid[$i]} if the container needs it)" >&2
      fi
    fi
  done
}

# Rewrites the current section with no raw LXC line but the desired ones, at the end (raw LXC
# keys follow the Proxmox keys); prints "changed" when the file content changed.
rewrite() {
  local want=$1 tmp
  # Temp files of a run killed mid-rewrite: safe to remove, this run holds the config lock.
  rm -f -- "$conf".phoenix.??????
  tmp=$(mktemp "$conf.phoenix.XXXXXX")
  {
    current_section | awk 'NF > 0 && !/^lxc\./ { print }'
    printf '%s' "$want"
    awk 'BEGIN{p=0} /^\[/{if(!p){print ""}; p=1} p{print}' "$conf"
  } >"$tmp"
  if cmp -s "$tmp" "$conf"; then
    rm -f "$tmp"
  else
    chmod --reference="$conf" "$tmp" 2>/dev/null || true
    mv "$tmp" "$conf"
    echo changed
  fi
}

take_lock() {
  exec 8>>"$lock"
  flock "$@" -w 60 8 || { echo "config of CT $ctid is locked" >&2; exit 1; }
}
drop_lock() { exec 8>&-; }

# Restarts a running container when a restart is pending; a stopped one picks the config up at
# its next start. Either way the mark goes.
settle_restart() {
  restarted=false
  if [ -f "$pending" ]; then
    if is_running; then
      restart
      restarted=true
    fi
    rm -f "$pending"
  fi
}

mkdir -p "$(dirname "$record")" "$(dirname "$lock")"

case ${PHOENIX_ACTION:?} in
  read)
    if [ ! -f "$conf" ]; then
      echo 'PHOENIX_RESULT {"present":false}'
      exit 0
    fi
    # Read config and record together, under the config lock (shared: pct holds it exclusively).
    take_lock -s
    if [ ! -f "$record" ]; then
      drop_lock
      echo 'PHOENIX_RESULT {"present":false}'
      exit 0
    fi
    have=$(raw_lines)
    lines_ok=false features_ok=false rootfs_ok=false sources_ok=false restart_ok=false
    [ "$have" = "${desired%$'\n'}" ] && lines_ok=true
    features_match && devs_match && features_ok=true
    rootfs_matches && [ -z "$(volumes_small)" ] && rootfs_ok=true
    [ -z "$(sources_wrong)" ] && sources_ok=true
    [ ! -f "$pending" ] && restart_ok=true
    drop_lock
    matches=false
    if $lines_ok && $features_ok && $rootfs_ok && $sources_ok && $restart_ok; then matches=true; fi
    printf 'PHOENIX_RESULT {"present":true,"ctid":"%s","matches":%s,"lines_match":%s,"features_match":%s,"rootfs_match":%s,"sources_match":%s,"restart_pending":%s,"lines":%s}\n' \
      "$ctid" "$matches" "$lines_ok" "$features_ok" "$rootfs_ok" "$sources_ok" "$([ "$restart_ok" = true ] && echo false || echo true)" "$(json_lines "$have")"
    ;;
  apply)
    [ -f "$conf" ] || { echo "container $ctid does not exist ($conf missing)" >&2; exit 1; }
    # Root disk first: the steps after this one need the declared space. Proxmox grows only.
    resized=false
    if ! rootfs_matches; then
      pct resize "$ctid" rootfs "${rootfs_gb}G"
      resized=true
    fi
    for mp in $(volumes_small); do
      pct resize "$ctid" "$mp" "${volume_gb[$mp]}G"
      resized=true
    done
    # Sources before the mount lines: a restart with a missing source fails.
    make_sources
    features_changed=false
    if ! features_match; then
      : >"$pending"
      pct set "$ctid" --features "$features"
      features_changed=true
    fi
    if ! devs_match; then
      : >"$pending"
      set_devs
      features_changed=true
    fi
    take_lock
    if [ "$(raw_lines)" != "${desired%$'\n'}" ]; then : >"$pending"; fi
    changed=$(rewrite "$desired")
    printf '%s' "$desired" >"$record"
    drop_lock
    settle_restart
    printf 'PHOENIX_RESULT {"present":true,"ctid":"%s","matches":true,"changed":%s,"features_changed":%s,"resized":%s,"restarted":%s,"lines":%s}\n' \
      "$ctid" "$([ "$changed" = changed ] && echo true || echo false)" "$features_changed" "$resized" "$restarted" "$(json_lines "$desired")"
    ;;
  delete)
    # The raw lines and device entries go; flags, disk size and source folders stay (they go
    # with the container, and a folder may hold data).
    if [ -f "$conf" ] && [ -f "$record" ]; then
      desired_devs=""
      if ! devs_match; then
        : >"$pending"
        set_devs
      fi
      take_lock
      if [ -n "$(raw_lines)" ]; then : >"$pending"; fi
      rewrite "" >/dev/null
      drop_lock
      settle_restart
    fi
    rm -f "$record" "$pending"
    echo 'PHOENIX_RESULT {"present":false}'
    ;;
  *) echo "unknown action $PHOENIX_ACTION" >&2; exit 2 ;;
esac
