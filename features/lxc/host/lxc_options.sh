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
#     existed is never chowned (its ownership is the operator's);
#   - a custom AppArmor profile (the stack's apparmor/<name>) written to /etc/apparmor.d/<name>
#     and loaded with `apparmor_parser -r` before the config names it, as the Bash tool's
#     apply_apparmor_profile did (a profile LXC cannot find stops the start). The profile stays
#     when the container goes (other containers may run under it).
# The config file is edited under Proxmox's own config lock (the one pct takes), so it never races
# a `pct set`; pct commands run outside it (they take it themselves). The container restarts only
# when a line or a flag changed and it is running. Before changing anything that needs a restart
# a "restart pending" mark is written; it goes once the container restarted (or was found
# stopped), so a run killed in between restarts on the next run, and read reports drift until then.
# Flags and devices are judged as the container will run with them: a running container keeps a
# changed flag or device in its config's `[pve:pending]` section until it restarts (Proxmox
# hotplugs neither), so such a pending change is drift that a restart resolves; a mount point
# detached while running (its deletion pending) is taken back (`pct set --revert mpN`).
#   PHOENIX_CTID           container ID
#   PHOENIX_OPTIONS        desired lines, one `lxc.key=value` per line, in order
#   PHOENIX_GPUS           GPU indexes, comma-separated (empty: none): adds the dynamic device majors
#   PHOENIX_FEATURES       `pct set --features` value (`keyctl=1,nesting=1`; empty: leave flags to the API)
#   PHOENIX_ROOTFS_GB      declared root disk size in GiB (empty: leave the disk to the API)
#   PHOENIX_MOUNT_SOURCES  bind-mount sources, one `<host uid>:<host gid>:<explicit 0|1>:<path>` per line
#   PHOENIX_APPARMOR       a custom AppArmor profile: its name, a newline, its text (optional)
#   PHOENIX_VOLUMES        volumes on storages, one `mp<N>=<GiB>:<storage>:<container path>` per
#                          line. The provider creates them with the container; after that this
#                          script owns the set (the container ignores its mountPoints): a declared
#                          volume missing from the config is allocated as root with
#                          `pct set <ctid> --mp<N> <storage>:<GiB>,mp=<path>` (pve-container
#                          PVE/LXC/Config.pm: "syntax STORAGE_ID:SIZE_IN_GiB to allocate a new
#                          volume"; create_disks allocates it); a smaller one is resized in place
#                          (`pct resize <ctid> mp<N> <N>G`: the provider would replace the container,
#                          and its data with it). A volume in the config that is no longer declared
#                          is NEVER detached or deleted (data): it is reported as
#                          `undeclared_volumes` for the operator (`pct set <ctid> --delete mpN`).
set -euo pipefail
# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="lxc_options ${PHOENIX_CTID:-}"
# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh
# phoenix-include: lib/host_paths.sh

ctid=${PHOENIX_CTID:?}
valid_guest_id "$ctid" || invalid "CTID '$ctid'"
conf=/etc/pve/lxc/$ctid.conf
record=/var/lib/phoenix/lxc/$ctid.lxc-options
pending=/var/lib/phoenix/lxc/$ctid.restart-pending
lock=/run/lock/lxc/pve-config-$ctid.lock
features=${PHOENIX_FEATURES:-}
rootfs_gb=${PHOENIX_ROOTFS_GB:-}
flag='((nesting|keyctl|fuse|mknod)=[01]|mount=[a-z0-9]+(;[a-z0-9]+)*)'
[ -z "$features" ] || [[ $features =~ ^$flag(,$flag)*$ ]] || invalid "features '$features'"
[ -z "$rootfs_gb" ] || [[ $rootfs_gb =~ ^[1-9][0-9]{0,5}$ ]] || invalid "root disk size '$rootfs_gb'"

# Desired lines in Proxmox's `key: value` form.
desired=""
while IFS= read -r line; do
  [ -n "$line" ] || continue
  [[ $line =~ ^(lxc\.[a-z0-9_.-]+)=(.*)$ ]] || invalid "LXC option line '$line' (want lxc.key=value)"
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
  [[ $PHOENIX_GPUS =~ ^[0-9]{1,2}(,[0-9]{1,2})*$ ]] || invalid "GPU list '$PHOENIX_GPUS'"
  desired_devs=$'dev0 /dev/nvidia-uvm\ndev1 /dev/nvidia-uvm-tools'
  major=$(awk '$2 == "nvidia-caps" {print $1}' /proc/devices)
  [ -z "$major" ] || desired+="lxc.cgroup2.devices.allow: c $major:* rwm"$'\n'
fi

# Volumes: mp<N> → GiB, storage id and container path (the config layer's STORAGE_ID and
# MOUNT_PATH patterns: no `.`/`..` component, no spaces, shell characters, `,` or `=`, which would
# add properties to Proxmox's `mpN` property string).
declare -A volume_gb=() volume_storage=() volume_path=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  if ! [[ $line =~ ^(mp[0-9]{1,3})=([1-9][0-9]{0,5}):([A-Za-z][A-Za-z0-9._-]*):(/([A-Za-z0-9._+@-]+(/[A-Za-z0-9._+@-]+)*/?)?)$ ]] \
    || [[ "${BASH_REMATCH[4]}/" == */./* || "${BASH_REMATCH[4]}/" == */../* ]]; then
    invalid "volume '$line' (want mp<N>=<GiB>:<storage>:<absolute container path>)"
  fi
  mp=${BASH_REMATCH[1]}
  volume_gb[$mp]=${BASH_REMATCH[2]}
  volume_storage[$mp]=${BASH_REMATCH[3]}
  volume_path[$mp]=${BASH_REMATCH[4]}
  valid_storage_id "${volume_storage[$mp]}" || invalid "volume '$line': storage id '${volume_storage[$mp]}'"
done <<<"${PHOENIX_VOLUMES:-}"

# Bind-mount sources: parallel arrays of owner and path.
src_uid=() src_gid=() src_explicit=() src_path=()
while IFS= read -r line; do
  [ -n "$line" ] || continue
  [[ $line =~ ^([0-9]{1,10}):([0-9]{1,10}):([01]):(/.*)$ ]] || invalid "mount source '$line' (want uid:gid:explicit:/path)"
  src_uid+=("${BASH_REMATCH[1]}") src_gid+=("${BASH_REMATCH[2]}") src_explicit+=("${BASH_REMATCH[3]}") src_path+=("${BASH_REMATCH[4]}")
done <<<"${PHOENIX_MOUNT_SOURCES:-}"

# A custom AppArmor profile, as its file under /etc/apparmor.d: the host's apparmor service loads
# every file there at boot, so the file is the profile's state.
aa_name=
aa_text=
if [ -n "${PHOENIX_APPARMOR:-}" ]; then
  aa_name=${PHOENIX_APPARMOR%%$'\n'*}
  aa_text=${PHOENIX_APPARMOR#*$'\n'}
  [ "$aa_text" != "$PHOENIX_APPARMOR" ] || aa_text=
fi
[ -z "$aa_name" ] || [[ $aa_name =~ ^[A-Za-z0-9][A-Za-z0-9_.-]*$ ]] || invalid "AppArmor profile name '$aa_name'"
[ -z "$aa_name" ] || [ -n "$aa_text" ] || invalid "AppArmor profile $aa_name without its text"
aa_file=/etc/apparmor.d/$aa_name
profile_matches() { [ -z "$aa_name" ] || { [ -f "$aa_file" ] && [ "$(cat "$aa_file")" = "$(printf '%s\n' "$aa_text")" ]; }; }
# Writes the profile atomically when it differs and loads it (replacing the loaded one).
install_profile() {
  local tmp
  if profile_matches; then return 0; fi
  mkdir -p /etc/apparmor.d
  tmp=$(mktemp "$aa_file.phoenix.XXXXXX")
  printf '%s\n' "$aa_text" >"$tmp"
  chmod 0644 "$tmp"
  # Compiled first without loading (-Q) or caching (-K): a broken file never replaces a good one.
  apparmor_parser -Q -K "$tmp" || { rm -f "$tmp"; die "AppArmor profile $aa_name does not compile (apparmor_parser)"; }
  mv -f "$tmp" "$aa_file"
  apparmor_parser -r "$aa_file" || die "apparmor_parser -r $aa_file failed"
}

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

# Changes Proxmox could not apply to the running container wait in a `[pve:pending]` section
# until its next start (pve-container update_pct_config: only some options are hotplugged; a
# `pct set --features`, a changed devN, a mount point removed or replaced stay pending). What the
# container will run with is the current section with them applied (what `pct config` shows).
pending_section() { awk '/^\[/ { on = ($0 == "[pve:pending]"); next } on && NF > 0' "$conf"; }
pending_deletes() { pending_section | sed -n 's/^delete: //p' | tr -s ',; ' '\n' | sed 's/^!//' | awk 'NF > 0'; }
# The current section with the pending values and deletions applied, as `pct config` prints it.
config_view() {
  local deletes
  deletes=$(pending_deletes)
  {
    current_section | awk -v del="$deletes" -v pend="$(pending_section | sed 's/: .*//')" '
      BEGIN { n = split(del "\n" pend, k, "\n"); for (i = 1; i <= n; i++) if (k[i] != "") skip[k[i]] = 1 }
      { key = $0; sub(/: .*/, "", key) } !(key in skip)'
    pending_section | grep -v '^delete: ' || true
  }
}
# Whether a change of what this script owns (feature flags, devN entries) waits in the pending
# section of a running container: only a restart applies it, so it counts as a pending restart
# (a stopped container applies it when it starts).
owned_pending() {
  { pending_section | sed 's/: .*//'; pending_deletes; } | grep -qE '^(features|dev[0-9]+)$' && is_running
}

is_running() { pct status "$ctid" 2>/dev/null | grep -q 'status: running'; }

# `pct reboot` shuts the container down and starts it again, applying the changed config.
restart() { pct reboot "$ctid"; }

# A feature string as a sorted `key=value` list; flags set to 0 are the same as absent.
canon_features() {
  tr ',' '\n' <<<"$1" | awk -F= 'NF == 2 && $2 != "0" && $2 != ""' | LC_ALL=C sort | paste -sd, -
}
current_features() { canon_features "$(config_view | sed -n 's/^features: //p')"; }
# The devN entries of the config (pending ones applied) as `devN <path>`, by N.
current_devs() { config_view | sed -nE 's/^(dev[0-9]+): (path=)?([^,]*).*$/\1 \3/p' | sort -V; }
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
# Proxmox refuses a devN entry (`pct set`) and a container start whose device node does not exist
# (pve-container PVE/LXC/Tools.pm get_device_mode_and_rdev: "Device /dev/nvidia-uvm does not
# exist"). /dev/nvidia-uvm and /dev/nvidia-uvm-tools appear only once something loads nvidia_uvm
# and creates them: NVIDIA's own tool does both (`nvidia-modprobe -u -c=0`, the udev rule the
# driver step installs runs the same at every boot). A host whose module cannot load (no driver,
# or nouveau still bound to the GPU until the reboot after the driver install) stops here with
# what to do, before anything is changed.
ensure_uvm_nodes() {
  [ -c /dev/nvidia-uvm ] && [ -c /dev/nvidia-uvm-tools ] && return 0
  command -v nvidia-modprobe >/dev/null \
    || die "GPU container: /dev/nvidia-uvm does not exist and nvidia-modprobe is not installed: the host has no NVIDIA driver (declare nvidia_driver in phoenix_hypervisor_config.json, or install it by hand)"
  if ! nvidia-modprobe -u -c=0 >&2; then
    if [ -d /sys/module/nouveau ]; then
      die "GPU container: /dev/nvidia-uvm cannot be created while nouveau drives the GPU: reboot the host (the NVIDIA driver takes over at boot), then run pulumi up again"
    fi
    die "GPU container: /dev/nvidia-uvm could not be created (nvidia-modprobe -u -c=0 failed: the NVIDIA kernel module does not load; see nvidia-smi and dmesg on the host)"
  fi
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
# Mount points of the current section (mp0...), sorted.
current_volumes() { current_section | sed -nE 's/^(mp[0-9]+): .*/\1/p' | sort -V; }
# A property (`mp`, the volume id's storage) of mount point $1 in the config.
volume_prop() {
  local v
  v=$(current_section | sed -n "s/^$1: //p")
  case $2 in
    storage) v=${v%%,*} v=${v#volume=}; printf '%s\n' "${v%%:*}" ;;
    mp) tr ',' '\n' <<<"$v" | sed -n 's/^mp=//p' ;;
  esac
}
# Declared volumes missing from the config, or detached (pending deletion: gone at next start).
volumes_missing() {
  local mp
  for mp in $(printf '%s\n' "${!volume_gb[@]}" | sort -V); do
    if ! current_section | grep -q "^$mp: " || pending_deletes | grep -qx "$mp"; then printf '%s\n' "$mp"; fi
  done
}
# Mount points in the config that are not declared (kept: they hold data).
volumes_undeclared() {
  local mp
  for mp in $(current_volumes); do
    [ -n "${volume_gb[$mp]:-}" ] || printf '%s\n' "$mp"
  done
}
# A declared volume present under another mount path or storage: the JSON's volume list changed
# order (mp<N> is the list index). Refused, never remapped: that would mount one volume's data
# where another's is expected.
check_volumes_same() {
  local mp have_path have_storage
  for mp in "${!volume_gb[@]}"; do
    current_section | grep -q "^$mp: " || continue
    have_path=$(volume_prop "$mp" mp) have_storage=$(volume_prop "$mp" storage)
    if [ "${have_path%/}" != "${volume_path[$mp]%/}" ] || [ "$have_storage" != "${volume_storage[$mp]}" ]; then
      die "$mp of container $ctid is $have_storage mounted at $have_path, declared as ${volume_storage[$mp]} at ${volume_path[$mp]}: volumes keep their place in the list (mp<N> is the index); move the data by hand or restore the order"
    fi
  done
}
# Whether path $1 is a mount point inside the running container (Proxmox hotplugs a new volume
# into a running container, pve-container apply_pending_mountpoint → mountpoint_hotplug; where it
# cannot, the mount appears at the next start).
mounted_inside() {
  local p=${1%/}
  # shellcheck disable=SC2016 # an awk program
  pct exec "$ctid" -- awk -v p="${p:-/}" '$5 == p { f = 1 } END { exit !f }' /proc/self/mountinfo >/dev/null 2>&1
}
json_list() { json_lines "$1"; }

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

# Bind-mount sources as the kernel resolves them: lxc-start's mount follows every symlink on the
# way (one made by hand, or by a guest in a folder it can write), so the resolved path is what the
# container gets. Validate judged the declared path (a system path only with
# phoenix:allowHostPaths); a link on the way that leads to a system path is refused here, before
# anything is written, whatever the allowance: the config names the real path if it means it.
check_sources() {
  local p real hit
  for p in "${src_path[@]}"; do
    real=$(realpath -m -- "$p")
    if [ "$real" != "$(normalise_host_path "$p")" ] && hit=$(sensitive_host_path "$real"); then
      die "bind mount source $p resolves to $real, which is$([ "$hit" = "$real" ] || echo ' under') the host's $hit: a symlink on the way leads there; remove it, or declare $real itself (with phoenix:allowHostPaths)"
    fi
    if [ -e "$real" ] && [ ! -d "$real" ]; then die "bind mount source $p ($real) exists and is not a directory"; fi
  done
}

# In a subshell: walks from / to the absolute path $1 one component at a time without following
# a symlink, creating missing folders (mode 0755, root's) when $2 is 1, and runs the rest of the
# arguments in the folder reached (`.` is that folder, whatever happens to its path meanwhile).
# After each step the working directory must physically be the path walked (pwd -P): a component
# that is, or is swapped for, a symlink stops the walk. mkdir never follows its last component.
in_dir_nofollow() (
  set -f
  local want=$1 create=$2 part walked="" IFS=/
  shift 2
  cd /
  for part in ${want#/}; do
    [ -n "$part" ] || continue
    if [ "$create" = 1 ] && [ ! -e "$part" ] && [ ! -L "$part" ]; then mkdir -m 0755 -- "$part"; fi
    [ ! -L "$part" ] || die "bind mount source $want: $walked/$part is a symlink; Phoenix never follows one on the host"
    cd -P -- "$part"
    walked+="/$part"
    [ "$(pwd -P)" = "$walked" ] || die "bind mount source $want: $walked changed while it was walked (a symlink); nothing done"
  done
  "$@"
)

# Creates missing sources owned as declared (default: the container's root) and records them;
# a declared owner is set again on a folder this script created (the folder itself, never what
# is inside it). A folder that already existed keeps its owner: the log says so. Folders a guest
# can write are on the way: no symlink is followed (in_dir_nofollow; chown -h and chmod on `.`),
# and runs are serialised by a host lock.
make_sources() {
  local i p have
  exec 7>>/run/lock/phoenix-bind-sources.lock
  flock -w 60 7 || die "bind-mount sources are locked by another run"
  check_sources
  for i in "${!src_path[@]}"; do
    p=${src_path[$i]}
    if [ -e "$p" ] && [ ! -d "$p" ]; then die "bind mount source $p exists and is not a directory"; fi
    if [ ! -d "$p" ]; then
      # Parents too must be traversable by the container's (mapped) root: 0755, not the runner's umask 077.
      # shellcheck disable=SC2016 # $1 is the inner shell's
      in_dir_nofollow "$p" 1 sh -c 'chmod 0755 . && chown -h -- "$1" .' chown "${src_uid[$i]}:${src_gid[$i]}"
      phoenix_created "$p" || printf '%s\n' "$p" >>"$created_record"
    elif phoenix_created "$p"; then
      [ "${src_explicit[$i]}" != 1 ] || in_dir_nofollow "$p" 0 chown -h -- "${src_uid[$i]}:${src_gid[$i]}" .
    else
      have=$(stat -c %u:%g -- "$p")
      if [ "${src_explicit[$i]}" = 1 ] && [ "$have" != "${src_uid[$i]}:${src_gid[$i]}" ]; then
        echo "bind mount source $p existed before Phoenix: its owner $have stays (the operator's; owner_uid/owner_gid set only folders Phoenix creates, chown it by hand to ${src_uid[$i]}:${src_gid[$i]} if the container needs it)" >&2
      fi
    fi
  done
  exec 7>&-
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
  flock "$@" -w 60 8 || die "config of CT $ctid is locked"
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
      result '{"present":false}'
      exit 0
    fi
    # Read config and record together, under the config lock (shared: pct holds it exclusively).
    take_lock -s
    if [ ! -f "$record" ]; then
      drop_lock
      result '{"present":false}'
      exit 0
    fi
    have=$(raw_lines)
    lines_ok=false features_ok=false rootfs_ok=false sources_ok=false restart_ok=false
    [ "$have" = "${desired%$'\n'}" ] && lines_ok=true
    features_match && devs_match && features_ok=true
    missing=$(volumes_missing)
    undeclared=$(volumes_undeclared)
    rootfs_matches && [ -z "$(volumes_small)" ] && [ -z "$missing" ] && rootfs_ok=true
    [ -z "$(sources_wrong)" ] && sources_ok=true
    [ ! -f "$pending" ] && ! owned_pending && restart_ok=true
    drop_lock
    profile_ok=false
    profile_matches && profile_ok=true
    matches=false
    if $lines_ok && $features_ok && $rootfs_ok && $sources_ok && $restart_ok && $profile_ok; then matches=true; fi
    # Undeclared volumes are drift the operator resolves (they are never removed here), so they
    # do not make the resource differ: an apply would change nothing.
    result '{"present":true,"ctid":"%s","matches":%s,"lines_match":%s,"features_match":%s,"rootfs_match":%s,"sources_match":%s,"profile_match":%s,"restart_pending":%s,"missing_volumes":%s,"undeclared_volumes":%s,"lines":%s}' \
      "$ctid" "$matches" "$lines_ok" "$features_ok" "$rootfs_ok" "$sources_ok" "$profile_ok" "$([ "$restart_ok" = true ] && echo false || echo true)" "$(json_list "$missing")" "$(json_list "$undeclared")" "$(json_lines "$have")"
    ;;
  apply)
    [ -f "$conf" ] || die "container $ctid does not exist ($conf missing)"
    # Sources that resolve to system paths are refused before anything changes (again under the lock).
    check_sources
    # The GPU's device nodes before anything that sets devN entries or (re)starts the container.
    [ -z "$desired_devs" ] || ensure_uvm_nodes
    # Root disk first: the steps after this one need the declared space. Proxmox grows only.
    resized=false
    if ! rootfs_matches; then
      pct resize "$ctid" rootfs "${rootfs_gb}G"
      resized=true
    fi
    check_volumes_same
    for mp in $(volumes_small); do
      pct resize "$ctid" "$mp" "${volume_gb[$mp]}G"
      resized=true
    done
    # New volumes, allocated by Proxmox on their storage and owned by the container's root.
    # A running container restarts (the restart path below) unless Proxmox hotplugged the mount:
    # marked first, so a run killed after the `pct set` still restarts; the mark goes when the
    # mount is visible and nothing else was pending (features and lines are checked after this).
    added=""
    for mp in $(volumes_missing); do
      was_pending=false
      [ ! -f "$pending" ] || was_pending=true
      ! is_running || : >"$pending"
      if current_section | grep -q "^$mp: "; then
        # Detached while running (its deletion pending): taken back with its volume and data.
        pct set "$ctid" --revert "$mp"
      else
        pct set "$ctid" "--$mp" "${volume_storage[$mp]}:${volume_gb[$mp]},mp=${volume_path[$mp]}"
      fi
      added+="$mp"$'\n'
      if [ "$was_pending" = false ] && [ -f "$pending" ] && mounted_inside "${volume_path[$mp]}"; then rm -f "$pending"; fi
    done
    undeclared=$(volumes_undeclared)
    # Sources before the mount lines: a restart with a missing source fails. The profile before
    # the line naming it, for the same reason.
    make_sources
    install_profile
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
    # A change that waits for the next start (a feature flag or device the API set on the
    # running container, a detached mount point) is applied by the restart below.
    ! owned_pending || : >"$pending"
    drop_lock
    settle_restart
    result '{"present":true,"ctid":"%s","matches":true,"changed":%s,"features_changed":%s,"resized":%s,"restarted":%s,"added_volumes":%s,"undeclared_volumes":%s,"lines":%s}' \
      "$ctid" "$([ "$changed" = changed ] && echo true || echo false)" "$features_changed" "$resized" "$restarted" "$(json_list "$added")" "$(json_list "$undeclared")" "$(json_lines "$desired")"
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
    result '{"present":false}'
    ;;
  *) invalid "action '$PHOENIX_ACTION'" ;;
esac
