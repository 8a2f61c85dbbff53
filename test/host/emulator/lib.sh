# shellcheck shell=bash
# Shared library of the Proxmox CLI emulator (pct, qm, ...), sourced by each tool. It stands in
# for a Proxmox VE node inside a test host's throwaway root, written from the Proxmox docs
# (pct(1), qm(1), pct.conf(5), qm.conf(5)):
#
#   - state lives where Proxmox keeps it: /etc/pve/lxc/<vmid>.conf and /etc/pve/qemu-server/<vmid>.conf,
#     in Proxmox's format: `key: value` lines for the current config, then one `[snapname]`
#     section per snapshot (with `snaptime:` and optional `description:`), and `parent: <snap>`
#     in the current config naming the newest snapshot;
#   - config changes take Proxmox's own per-guest lock, flock on /run/lock/lxc/pve-config-<vmid>.lock
#     (containers) or /run/lock/qemu-server/lock-<vmid>.conf (VMs), so a script that edits a
#     .conf under the same lock is serialised with the tools;
#   - runtime state (running flag, root filesystems, snapshot copies) under $EMU_STATE
#     (default /var/lib/pve-emu);
#   - settings (EMU_STATE, EMU_LOG, EMU_HOST_ROOT...) come from the environment or /etc/pve-emu.conf;
#   - every call is appended to $EMU_LOG (default /var/log/pve-emu/calls.log) as one line
#     `<tool> <args...>` (arguments %q-quoted), so tests can assert the order of operations.
#
# Functions for tool authors (all take the config file path where relevant):
#   emu_log TOOL ARGS...          record a call
#   emu_die MSG                   print `MSG` to stderr and exit 255 (pct/qm exit code on errors)
#   emu_with_lock LOCKFILE CMD... run CMD holding an exclusive flock
#   emu_conf_get FILE KEY         value of KEY in the current (non-snapshot) section, exit 1 if absent
#   emu_conf_set FILE KEY VALUE   set KEY in the current section (keeps raw `lxc.*` lines last)
#   emu_conf_del FILE KEY         delete KEY from the current section
#   emu_conf_current FILE         print the current section
#   emu_conf_snapshots FILE       print snapshot names, oldest first
#   emu_conf_snapshot FILE NAME   print snapshot NAME's section body
#   emu_conf_add_snapshot FILE NAME DESCRIPTION   copy the current section into [NAME]
#   emu_conf_del_snapshot FILE NAME               remove [NAME], fixing `parent:` links
#   emu_seed_rootfs DIR           build a minimal root filesystem (busybox, bash, and a copy of
#                                 $EMU_SEED_EXTRA, default /usr/local/lib/pve-emu/seed)
set -euo pipefail

# Settings a test host may pin for every call (sessions do not inherit a test's environment).
if [ -f /etc/pve-emu.conf ]; then
  # shellcheck source=/dev/null
  . /etc/pve-emu.conf
fi
EMU_STATE=${EMU_STATE:-/var/lib/pve-emu}
EMU_LOG=${EMU_LOG:-/var/log/pve-emu/calls.log}
EMU_NODE=${EMU_NODE:-pve}
# Where host paths (bind mount sources) are looked up: tests cannot create /fastData on the machine.
EMU_HOST_ROOT=${EMU_HOST_ROOT:-}
# Copied over every new container root filesystem (stand-in tools for feature scripts...).
EMU_SEED_EXTRA=${EMU_SEED_EXTRA:-/usr/local/lib/pve-emu/seed}

emu_log() {
  local line="" arg
  mkdir -p "$(dirname "$EMU_LOG")"
  for arg in "$@"; do
    # Plain words stay as they are; anything else is single-quoted, one call per line.
    if [[ $arg =~ ^[A-Za-z0-9_.,:=/@%+-]+$ ]]; then
      line+=" $arg"
    else
      arg=${arg//$'\n'/\\n}
      line+=" '${arg//\'/\'\\\'\'}'"
    fi
  done
  # One line per call; appends under a lock so concurrent tools never interleave.
  (flock 9; printf '%s\n' "${line# }" >>"$EMU_LOG") 9>>"$EMU_LOG.lock"
}

emu_die() {
  printf '%s\n' "$*" >&2
  exit 255
}

emu_with_lock() {
  local lockfile=$1
  shift
  mkdir -p "$(dirname "$lockfile")"
  (
    flock -w 60 9 || emu_die "can't lock file '$lockfile' - got timeout"
    "$@"
  ) 9>>"$lockfile"
}

# The current section is everything before the first `[snapshot]` header.
emu_conf_current() {
  awk '/^\[/{exit} {print}' "$1"
}

emu_conf_get() {
  local file=$1 key=$2
  emu_conf_current "$file" | awk -v k="$key" '
    index($0, k ": ") == 1 { print substr($0, length(k) + 3); found = 1; exit }
    END { exit found ? 0 : 1 }'
}

# Rewrites FILE with KEY set in the current section. Proxmox writes the current section sorted by
# key with raw `lxc.*` keys after the others; snapshot sections follow unchanged.
emu_conf_set() {
  local file=$1 key=$2 value=$3 tmp
  tmp=$(mktemp "$file.XXXXXX")
  {
    {
      emu_conf_current "$file" | awk -v k="$key" 'index($0, k ": ") != 1 && NF > 0'
      printf '%s: %s\n' "$key" "$value"
    } | emu_sort_current
    emu_conf_tail "$file"
  } >"$tmp"
  mv "$tmp" "$file"
}

emu_conf_del() {
  local file=$1 key=$2 tmp
  tmp=$(mktemp "$file.XXXXXX")
  {
    emu_conf_current "$file" | awk -v k="$key" 'index($0, k ": ") != 1 && NF > 0' | emu_sort_current
    emu_conf_tail "$file"
  } >"$tmp"
  mv "$tmp" "$file"
}

# Sorts `key: value` lines: ordinary keys alphabetically, then `lxc.*` keys in their given order
# (several `lxc.*` lines may share a key, and their order matters to LXC).
emu_sort_current() {
  local lines
  lines=$(cat)
  { printf '%s\n' "$lines" | grep -v '^lxc\.' | grep -v '^$' | LC_ALL=C sort -t: -k1,1 -s || true; }
  { printf '%s\n' "$lines" | grep '^lxc\.' || true; }
}

# Everything from the first snapshot header on, preceded by a blank line.
emu_conf_tail() {
  awk 'BEGIN{p=0} /^\[/{if(!p){print ""}; p=1} p{print}' "$1"
}

emu_conf_snapshots() {
  sed -n 's/^\[\(.*\)\]$/\1/p' "$1"
}

emu_conf_snapshot() {
  local file=$1 name=$2
  awk -v n="[$name]" '$0 == n {p = 1; next} /^\[/ {p = 0} p && NF > 0 {print}' "$file"
}

emu_conf_add_snapshot() {
  local file=$1 name=$2 description=$3 tmp body
  tmp=$(mktemp "$file.XXXXXX")
  # Not copied into a snapshot (pve-guest-common __snapshot_copy_config): lock, parent handled below.
  body=$(emu_conf_current "$file" | awk 'NF > 0 && index($0, "lock: ") != 1')
  {
    emu_conf_current "$file" | awk 'NF > 0 && index($0, "parent: ") != 1'
    printf 'parent: %s\n' "$name"
  } | emu_sort_current >"$tmp"
  emu_conf_tail "$file" >>"$tmp"
  {
    printf '\n[%s]\n' "$name"
    {
      printf '%s\n' "$body"
      [ -n "$description" ] && printf 'description: %s\n' "$description"
      printf 'snaptime: %s\n' "$(date +%s)"
    } | emu_sort_current
  } >>"$tmp"
  # Squeeze runs of blank lines left by the concatenation.
  awk 'NF > 0 {blank = 0; print; next} !blank {print; blank = 1}' "$tmp" >"$tmp.2"
  mv "$tmp.2" "$file"
  rm -f "$tmp"
}

emu_conf_del_snapshot() {
  local file=$1 name=$2 tmp snap_parent
  snap_parent=$(emu_conf_snapshot "$file" "$name" | sed -n 's/^parent: //p')
  tmp=$(mktemp "$file.XXXXXX")
  awk -v n="[$name]" -v np="$snap_parent" '
    $0 == n {skip = 1; next}
    /^\[/ {skip = 0}
    skip {next}
    # Anything whose parent was the removed snapshot now hangs off the parent of that snapshot.
    $0 == "parent: " substr(n, 2, length(n) - 2) { if (np != "") print "parent: " np; next }
    {print}' "$file" | awk 'NF > 0 {blank = 0; print; next} !blank {print; blank = 1}' >"$tmp"
  mv "$tmp" "$file"
}

# A minimal root filesystem a chroot can run shell scripts in: busybox-static (its applets as
# /bin/<name>), the host's bash with the libraries it links, /etc/os-release of Ubuntu 24.04, and
# anything placed in $EMU_SEED_EXTRA (a directory copied over the result, e.g. stand-in tools).
emu_seed_rootfs() {
  local dir=$1 cache=$EMU_STATE/seed-rootfs
  # Built once per emulator state, then copied: containers are created many times in tests.
  mkdir -p "$EMU_STATE"
  (
    flock 9
    if [ ! -f "$cache/.complete" ]; then
      rm -rf "$cache"
      emu_build_rootfs "$cache"
      touch "$cache/.complete"
    fi
  ) 9>>"$EMU_STATE/seed-rootfs.lock"
  mkdir -p "$(dirname "$dir")"
  cp -a "$cache" "$dir"
  rm -f "$dir/.complete"
  if [ -n "${EMU_SEED_EXTRA:-}" ] && [ -d "$EMU_SEED_EXTRA" ]; then
    cp -a "$EMU_SEED_EXTRA/." "$dir/"
  fi
}

emu_build_rootfs() {
  local dir=$1 lib applet
  mkdir -p "$dir"/{bin,sbin,etc,tmp,root,var/lib,var/log,usr/bin,usr/sbin,usr/local/bin,usr/local/sbin,dev,proc,run}
  chmod 1777 "$dir/tmp"
  cp /bin/busybox "$dir/bin/busybox"
  for applet in $("$dir/bin/busybox" --list); do
    [ -e "$dir/bin/$applet" ] || ln -s busybox "$dir/bin/$applet"
  done
  ln -sf /bin/busybox "$dir/usr/bin/env"
  # Scripts redirect to /dev/null; a plain file stands in where mknod is not allowed.
  mknod -m 666 "$dir/dev/null" c 1 3 2>/dev/null || { : >"$dir/dev/null" && chmod 666 "$dir/dev/null"; }
  rm -f "$dir/bin/bash" "$dir/bin/sh"
  cp /bin/bash "$dir/bin/bash"
  ln -s bash "$dir/bin/sh"
  for lib in $(ldd /bin/bash | grep -o '/[^ ]*'); do
    mkdir -p "$dir$(dirname "$lib")"
    cp -L "$lib" "$dir$lib"
  done
  cat >"$dir/etc/os-release" <<'EOF'
PRETTY_NAME="Ubuntu 24.04 LTS"
NAME="Ubuntu"
VERSION_ID="24.04"
VERSION_CODENAME=noble
ID=ubuntu
ID_LIKE=debian
EOF
  printf 'root:x:0:0:root:/root:/bin/bash\n' >"$dir/etc/passwd"
  printf 'root:x:0:\n' >"$dir/etc/group"
}
