# shellcheck shell=bash
# Shared library of the Proxmox CLI emulator (pct, qm, ...), sourced by each tool. It stands in
# for a Proxmox VE node inside a test host's throwaway root, written from the Proxmox docs
# (pct(1), qm(1), pct.conf(5), qm.conf(5)):
#
#   - state lives where Proxmox keeps it: /etc/pve/nodes/<node>/lxc/<vmid>.conf and
#     /etc/pve/nodes/<node>/qemu-server/<vmid>.conf (reached as /etc/pve/lxc, /etc/pve/qemu-server
#     on the node itself, see emu_pve_layout; EMU_NODE names the node, default `pve`),
#     in Proxmox's format: `key: value` lines for the current config, then one `[snapname]`
#     section per snapshot (with `snaptime:` and optional `description:`), and `parent: <snap>`
#     in the current config naming the newest snapshot;
#   - config changes take Proxmox's own per-guest lock, flock on /run/lock/lxc/pve-config-<vmid>.lock
#     (containers) or /run/lock/qemu-server/lock-<vmid>.conf (VMs), so a script that edits a
#     .conf under the same lock is serialised with the tools;
#   - runtime state (running flag, root filesystems, snapshot copies) under $EMU_STATE
#     (default /var/lib/pve-emu);
#   - settings (EMU_STATE, EMU_LOG, EMU_HOST_ROOT, EMU_DEV_ROOT...) come from the environment or /etc/pve-emu.conf;
#     EMU_LXC=real runs real LXC containers behind `pct start/exec` (see pct), EMU_CLONE_SECONDS
#     is how long a container clone's copy holds its source's lock (default 2: two clones of one
#     source started together always collide, as on a host);
#   - storages live in storage.cfg (EMU_STORAGE_CFG, default /etc/pve/storage.cfg; a fresh node's
#     `local` and `local-lvm` when missing): volumes on unknown storages are refused, snapshots
#     need a storage that snapshots (emu_volume_can_snapshot), as pve-storage decides;
#   - locks as Proxmox keeps them: the per-guest flock while a config is edited, and `lock: <x>`
#     in the config for long tasks (clone, snapshot), honoured by the tools as check_lock does;
#   - a cluster (several nodes sharing one EMU_PVE_DIR, test/host/cluster.ts) refuses what
#     Proxmox refuses: a VMID used on any node (emu_check_vmid_unused), a guest that is not on
#     this node ("Configuration file 'nodes/<this node>/...' does not exist"), a storage whose
#     `nodes` leave this node out (emu_storage_check_node);
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
# Proxmox's tools run through its daemons with their own umask, not the caller's (a host script
# may run with umask 077): an unprivileged container's root must traverse /var/lib/lxc and its rootfs.
umask 022

# Settings a test host may pin for every call (sessions do not inherit a test's environment).
if [ -f /etc/pve-emu.conf ]; then
  # shellcheck source=/dev/null
  . /etc/pve-emu.conf
fi
EMU_STATE=${EMU_STATE:-/var/lib/pve-emu}
EMU_LOG=${EMU_LOG:-/var/log/pve-emu/calls.log}
# The node this emulator is (PVE::INotify::nodename): `pve`, the name a single-node test host has
# always had; each node of a test cluster (test/host/cluster.ts) sets its own in /etc/pve-emu.conf.
EMU_NODE=${EMU_NODE:-pve}
# The cluster filesystem (pmxcfs): one /etc/pve shared by every node of a cluster.
EMU_PVE_DIR=${EMU_PVE_DIR:-/etc/pve}
# Where host paths (bind mount sources) are looked up: tests cannot create /fastData on the machine.
EMU_HOST_ROOT=${EMU_HOST_ROOT:-}
# Where the host's device nodes (devN paths, /dev/...) are looked up: tests must not create nodes
# in this machine's /dev (a test host points it at its private /run, lib.ts installEmulator).
EMU_DEV_ROOT=${EMU_DEV_ROOT:-$EMU_HOST_ROOT}
# Copied over every new container root filesystem (stand-in tools for feature scripts...).
EMU_SEED_EXTRA=${EMU_SEED_EXTRA:-/usr/local/lib/pve-emu/seed}

# /etc/pve as pmxcfs lays it out (pve-cluster src/pmxcfs/pmxcfs.c, cfs_plug_link_new): every
# guest config lives in its node's folder, nodes/<node>/lxc/<vmid>.conf and
# nodes/<node>/qemu-server/<vmid>.conf, and /etc/pve/local, /etc/pve/lxc and
# /etc/pve/qemu-server are symlinks to the LOCAL node's folders (pmxcfs shows each node its own).
# A single node gets Proxmox's links (local -> nodes/<node>, lxc -> nodes/<node>/lxc). In a test
# cluster the nodes share one directory, which cannot hold a different link per node: there
# `local` points at EMU_PVE_LOCAL_LINK, a path in each node's private /run that points at that
# node's folder, and lxc/qemu-server point through `local`; paths resolve as on Proxmox.
# A folder left from before the links (lxc/ or qemu-server/ as plain directories) is moved into
# the node's folder. Cheap when all is in place (tests only), so every tool calls it.
emu_pve_layout() {
  local d=$EMU_PVE_DIR node_dir=nodes/$EMU_NODE kind local_target link
  if [ -d "$d/$node_dir/lxc" ] && [ -d "$d/$node_dir/qemu-server" ] && [ -L "$d/local" ] && [ -L "$d/lxc" ] && [ -L "$d/qemu-server" ] \
    && { [ -z "${EMU_PVE_LOCAL_LINK:-}" ] || [ -L "$EMU_PVE_LOCAL_LINK" ]; }; then
    return 0
  fi
  mkdir -p "$d/$node_dir/lxc" "$d/$node_dir/qemu-server"
  if [ -n "${EMU_PVE_LOCAL_LINK:-}" ]; then
    mkdir -p "$(dirname "$EMU_PVE_LOCAL_LINK")"
    ln -sfn "$d/$node_dir" "$EMU_PVE_LOCAL_LINK"
    local_target=$EMU_PVE_LOCAL_LINK
  else
    local_target=$node_dir
  fi
  for kind in lxc qemu-server; do
    link=$d/$kind
    if [ -d "$link" ] && [ ! -L "$link" ]; then
      # Another node sharing this folder may have made the link meanwhile: tolerate a lost race.
      find "$link" -mindepth 1 -maxdepth 1 -exec mv -n -t "$d/$node_dir/$kind/" {} + 2>/dev/null || true
      rmdir "$link" 2>/dev/null || true
    fi
    # -n: when another node made the link meanwhile, fail instead of linking inside its target.
    if [ -n "${EMU_PVE_LOCAL_LINK:-}" ]; then
      [ -L "$link" ] || ln -sn "local/$kind" "$link" 2>/dev/null || [ -L "$link" ]
    else
      [ -L "$link" ] || ln -sn "$node_dir/$kind" "$link" 2>/dev/null || [ -L "$link" ]
    fi
  done
  [ -L "$d/local" ] || ln -sn "$local_target" "$d/local" 2>/dev/null || [ -L "$d/local" ]
}

# Where guest VMID's config lives in the cluster, as PVE::Cluster::get_vmlist knows it (pmxcfs
# builds the list from every nodes/<node>/{lxc,qemu-server}/<vmid>.conf): prints `CT <node>` or
# `VM <node>`; exit 1 when no node has it.
emu_vmid_owner() {
  local f node
  for f in "$EMU_PVE_DIR"/nodes/*/lxc/"$1".conf "$EMU_PVE_DIR"/nodes/*/qemu-server/"$1".conf; do
    [ -f "$f" ] || continue
    node=${f#"$EMU_PVE_DIR"/nodes/} node=${node%%/*}
    case $f in */lxc/*) printf 'CT %s\n' "$node" ;; *) printf 'VM %s\n' "$node" ;; esac
    return 0
  done
  return 1
}

# PVE::Cluster::check_vmid_unused: VMIDs are unique across the cluster. Dies with
# "<CT|VM> <vmid> already exists on node '<node>'" (the node holding it), prefixed by PREFIX
# (e.g. "unable to create CT 100 - " when create_and_lock_config's check fails).
emu_check_vmid_unused() {
  local owner
  owner=$(emu_vmid_owner "$1") || return 0
  emu_die "${2:-}${owner% *} $1 already exists on node '${owner#* }'"
}

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

# Sorts a section's lines the way Proxmox writes a config (write_pct_config / write_vm_config):
# the description first, as `#` comment lines (percent-encoded, one per line of text; a
# `description: X` line is turned into them), then ordinary keys alphabetically, then raw `lxc.*`
# keys in their given order (several may share a key, and their order matters to LXC). Raw keys
# Proxmox does not keep (see emu_lxc_key_valid) are dropped with Proxmox's warning, as
# PVE::LXC::Config::parse_pct_config (non-strict) does when it loads the file before a rewrite.
emu_sort_current() {
  local lines
  lines=$(cat)
  { printf '%s\n' "$lines" | grep '^#' || true; }
  { printf '%s\n' "$lines" | sed -n 's/^description: //p' | emu_desc_lines || true; }
  { printf '%s\n' "$lines" | grep -v '^lxc\.' | grep -v '^#' | grep -v '^description: ' | grep -v '^$' | LC_ALL=C sort -t: -k1,1 -s || true; }
  local line key
  while IFS= read -r line; do
    key=${line%%:*}
    if emu_lxc_key_valid "$key"; then
      printf '%s\n' "$line"
    else
      printf 'vm %s - unable to parse config: %s\n' "${EMU_VMID:-?}" "$line" >&2
    fi
  done < <(printf '%s\n' "$lines" | grep '^lxc\.' || true)
}

# Raw LXC keys Proxmox keeps in a container config: PVE::LXC::Config's $valid_lxc_conf_keys, plus
# every lxc.cgroup2.*, lxc.prlimit.* and lxc.net.* key, and the deprecated names it still accepts
# with a warning (lxc.cgroup.*, lxc.limit.*, the pre-3.0 names). lxc.rootfs.path/options are
# refused (generated from `rootfs`). Exit 0 when KEY is kept.
EMU_LXC_KEYS=" lxc.apparmor.profile lxc.apparmor.allow_incomplete lxc.apparmor.allow_nesting lxc.apparmor.raw lxc.selinux.context lxc.include lxc.arch lxc.uts.name lxc.signal.halt lxc.signal.reboot lxc.signal.stop lxc.init.cmd lxc.init.cwd lxc.init.uid lxc.init.gid lxc.init.groups lxc.pty.max lxc.console.logfile lxc.console.path lxc.tty.max lxc.devtty.dir lxc.hook.autodev lxc.autodev lxc.kmsg lxc.mount.fstab lxc.mount.entry lxc.mount.auto lxc.rootfs.mount lxc.cap.drop lxc.cap.keep lxc.seccomp.profile lxc.seccomp.notify.proxy lxc.seccomp.notify.cookie lxc.idmap lxc.hook.pre-start lxc.hook.pre-mount lxc.hook.mount lxc.hook.start lxc.hook.stop lxc.hook.post-stop lxc.hook.clone lxc.hook.destroy lxc.hook.version lxc.log.level lxc.log.file lxc.start.auto lxc.start.delay lxc.start.order lxc.group lxc.environment lxc.environment.runtime lxc.environment.hooks lxc.sysctl.fs.mqueue lxc.sysctl.kernel.msgmax lxc.sysctl.kernel.msgmnb lxc.sysctl.kernel.msgmni lxc.sysctl.kernel.sem lxc.sysctl.kernel.shmall lxc.sysctl.kernel.shmmax lxc.sysctl.kernel.shmmni lxc.sysctl.kernel.shm_rmid_forced "
EMU_LXC_DEPRECATED=" lxc.aa_profile lxc.aa_allow_incomplete lxc.console lxc.devttydir lxc.haltsignal lxc.rebootsignal lxc.stopsignal lxc.id_map lxc.init_cmd lxc.loglevel lxc.logfile lxc.mount lxc.network.type lxc.network.flags lxc.network.link lxc.network.mtu lxc.network.name lxc.network.hwaddr lxc.network.ipv4 lxc.network.ipv4.gateway lxc.network.ipv6 lxc.network.ipv6.gateway lxc.network.script.up lxc.network.script.down lxc.pts lxc.se_context lxc.seccomp lxc.tty lxc.utsname "
emu_lxc_key_valid() {
  local key=$1
  [[ $key =~ ^lxc\.[a-z0-9_.-]+$ ]] || return 1
  [[ $EMU_LXC_KEYS == *" $key "* || $EMU_LXC_DEPRECATED == *" $key "* ]] && return 0
  [[ $key == lxc.cgroup.* || $key == lxc.cgroup2.* || $key == lxc.prlimit.* || $key == lxc.limit.* || $key == lxc.net.* ]]
}

# Proxmox's encode_text (PVE::ParseUtils): UTF-8, then every byte outside 0x20-0x7e, and `%`
# and `:`, as %XX. Reads the text on stdin, prints it encoded (no newline).
emu_encode_text() {
  perl -e 'local $/; my $t = <STDIN>; $t =~ s/([^\x20-\x24\x26-\x39\x3b-\x7e])/sprintf("%%%02X", ord($1))/ge; print $t'
}

# The description as `#` comment lines: each line of the text (stdin; already percent-encoded
# text, %0A separating lines) becomes `#<encoded line>`, as write_pct_config/write_vm_config do.
emu_desc_lines() {
  perl -ne 'chomp; next unless length; my $t = $_; $t =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge;
    for my $l (split /\n/, $t) { $l =~ s/([^\x20-\x24\x26-\x39\x3b-\x7e])/sprintf("%%%02X", ord($1))/ge; print "#$l\n"; }'
}

# Prints a config section (stdin: its lines) the way `pct config` (FLAVOR lxc) or `qm config`
# (FLAVOR qemu) print it: keys sorted with `description: <encode_text(text)>` among them, raw
# `lxc.*` lines last. The description's text is decoded from the `#` lines (each adds a
# newline: LXC keeps the trailing one, parse_pct_config) and `description:` lines; QEMU strips
# trailing whitespace (parse_vm_config's finish_description).
emu_conf_print() {
  perl -e '
    my $flavor = shift; my $descr; my (@keys, @lxc);
    while (my $l = <STDIN>) {
      chomp $l; next if $l =~ /^\s*$/;
      sub dec { my $t = shift; $t =~ s/%([0-9A-Fa-f]{2})/chr(hex($1))/ge; $t }
      if ($l =~ /^#(.*)$/) { $descr .= dec($1) . "\n"; next; }
      if ($l =~ /^description:\s*(.*\S)\s*$/) { $descr .= dec($1); next; }
      if ($l =~ /^lxc\./) { push @lxc, $l; next; }
      push @keys, $l;
    }
    if (defined $descr) {
      $descr =~ s/\s+$// if $flavor eq "qemu";
      (my $e = $descr) =~ s/([^\x20-\x24\x26-\x39\x3b-\x7e])/sprintf("%%%02X", ord($1))/ge;
      push @keys, "description: $e";
    }
    my %k = map { my ($n) = /^([^:]+)/; ($_ => $n) } @keys;
    print "$_\n" for (sort { $k{$a} cmp $k{$b} } @keys), @lxc;
  ' "$1"
}

# Everything from the first snapshot header on, preceded by a blank line.
emu_conf_tail() {
  awk 'BEGIN{p=0} /^\[/{if(!p){print ""}; p=1} p{print}' "$1"
}

# Snapshot names, oldest first: every `[name]` section but `[pve:pending]`.
emu_conf_snapshots() {
  sed -n 's/^\[\(.*\)\]$/\1/p' "$1" | grep -vx 'pve:pending' || true
}

# Pending changes, as PVE::LXC::Config's parse_pct_config/write_pct_config keep them: a
# `[pve:pending]` section right after the current one holds the values `pct set` could not apply
# to a running container (sorted `key: value` lines) and `delete: <key>,<key>` for the keys it
# could not remove; they are applied at the next start (vm_start -> vmconfig_apply_pending).
# Prints the pending section's lines.
emu_conf_pending() {
  awk '/^\[/ { on = ($0 == "[pve:pending]"); next } on && NF > 0 { print }' "$1"
}

# Value of KEY in the pending section (exit 1 when absent).
emu_pending_get() {
  emu_conf_pending "$1" | awk -v k="$2" 'index($0, k ": ") == 1 { print substr($0, length(k) + 3); found = 1; exit } END { exit found ? 0 : 1 }'
}

# Rewrites FILE's pending section with the lines on stdin (none: the section goes), keeping the
# current section before it and the snapshot sections after it.
emu_pending_write() {
  local file=$1 body tmp
  body=$(awk 'NF > 0' | LC_ALL=C sort -t: -k1,1 -s)
  tmp=$(mktemp "$file.XXXXXX")
  {
    emu_conf_current "$file" | awk 'NF > 0'
    [ -z "$body" ] || printf '\n[pve:pending]\n%s\n' "$body"
    awk '/^\[/ { h = 1; skip = ($0 == "[pve:pending]"); if (!skip) print ""; } h && !skip { print }' "$file"
  } | awk 'NF > 0 {blank = 0; print; next} !blank {print; blank = 1}' >"$tmp"
  mv "$tmp" "$file"
}

# Sets KEY to VALUE in the pending section (an empty VALUE removes KEY).
emu_pending_set() {
  local file=$1 key=$2 value=$3
  { emu_conf_pending "$file" | awk -v k="$key" 'index($0, k ": ") != 1'; [ -z "$value" ] || printf '%s: %s\n' "$key" "$value"; } | emu_pending_write "$file"
}

# The pending deletions (AbstractConfig parse_pending_delete), one key per line.
emu_pending_deletes() {
  { emu_pending_get "$1" delete || true; } | tr -s ',; ' '\n' | sed 's/^!//' | awk 'NF > 0'
}

# Adds (ACTION add) or removes (ACTION remove) KEY in the pending deletions, written sorted and
# comma-separated as print_pending_delete writes them.
emu_pending_delete() {
  local file=$1 action=$2 key=$3 list
  list=$({ emu_pending_deletes "$file" | grep -vxF -- "$key"; [ "$action" != add ] || printf '%s\n' "$key"; } | LC_ALL=C sort -u | paste -sd, -)
  emu_pending_set "$file" delete "$list"
}

emu_conf_snapshot() {
  local file=$1 name=$2
  awk -v n="[$name]" '$0 == n {p = 1; next} /^\[/ {p = 0} p && NF > 0 {print}' "$file"
}

# Text (stdin, raw, may span lines) as the `#` comment lines Proxmox writes for a description.
emu_desc_from_text() {
  perl -e 'local $/; my $t = <STDIN>; for my $l (split /\n/, $t) { $l =~ s/([^\x20-\x24\x26-\x39\x3b-\x7e])/sprintf("%%%02X", ord($1))/ge; print "#$l\n"; }'
}

# Replaces the description of FILE's current section by TEXT (raw; empty removes it).
emu_conf_set_description() {
  local file=$1 text=$2 tmp
  tmp=$(mktemp "$file.XXXXXX")
  {
    {
      emu_conf_current "$file" | awk 'NF > 0 && !/^#/ && index($0, "description: ") != 1'
      [ -z "$text" ] || printf '%s' "$text" | emu_desc_from_text
    } | emu_sort_current
    emu_conf_tail "$file"
  } >"$tmp"
  mv "$tmp" "$file"
}

# Copies the current section into a new `[NAME]` section as AbstractConfig's snapshot_create does
# (__snapshot_copy_config skips the guest's description and its lock; the snapshot's comment is
# the section's description, raw text DESCRIPTION), and points the current `parent:` at it.
emu_conf_add_snapshot() {
  local file=$1 name=$2 description=$3 tmp body
  tmp=$(mktemp "$file.XXXXXX")
  # Not copied into a snapshot (pve-guest-common __snapshot_copy_config): lock, the guest's
  # description and its unused volumes; parent is handled below.
  body=$(emu_conf_current "$file" | awk 'NF > 0 && !/^#/ && index($0, "description: ") != 1 && index($0, "lock: ") != 1 && !/^unused[0-9]+: /')
  {
    emu_conf_current "$file" | awk 'NF > 0 && index($0, "parent: ") != 1'
    printf 'parent: %s\n' "$name"
  } | emu_sort_current >"$tmp"
  emu_conf_tail "$file" >>"$tmp"
  {
    printf '\n[%s]\n' "$name"
    {
      printf '%s\n' "$body"
      [ -z "$description" ] || printf '%s' "$description" | emu_desc_from_text
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

# Guest firewall files /etc/pve/firewall/<vmid>.fw, as PVE::Firewall::Helpers keeps them with
# the guest: clone_vmfw_conf (API2::LXC clone_vm, API2::Qemu clone_vm, right after the new
# guest's config is created) drops a stale <newid>.fw and copies the source's, if any;
# remove_vmfw_conf (on `pct/qm destroy`, and for the new guest when its clone fails) deletes it.
EMU_FW_DIR=$EMU_PVE_DIR/firewall
emu_fw_clone() {
  local src=$EMU_FW_DIR/$1.fw dst=$EMU_FW_DIR/$2.fw
  rm -f "$dst"
  if [ -f "$src" ]; then
    cp "$src" "$dst.tmp.$$" && mv "$dst.tmp.$$" "$dst"
  fi
}
emu_fw_remove() { rm -f "$EMU_FW_DIR/$1.fw"; }

# Storages (/etc/pve/storage.cfg, written by pvesm). A missing file is a fresh node installed on
# LVM: `dir: local` (/var/lib/vz) and `lvmthin: local-lvm`, as the Proxmox installer writes them.
EMU_STORAGE_CFG=${EMU_STORAGE_CFG:-$EMU_PVE_DIR/storage.cfg}
emu_storage_ensure() {
  [ -f "$EMU_STORAGE_CFG" ] && return
  mkdir -p "$(dirname "$EMU_STORAGE_CFG")"
  printf 'dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nlvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n' >"$EMU_STORAGE_CFG"
}

# Prints the type (zfspool, dir, lvmthin...) of storage ID; exit 1 when it is not defined.
emu_storage_type() {
  emu_storage_ensure
  awk -v id="$1" '/^[a-z]+: / { split($0, a, ": "); if (a[2] == id) { print a[1]; found = 1; exit } } END { exit !found }' "$EMU_STORAGE_CFG"
}

# PVE::Storage::storage_check_node (through storage_check_enabled, which every allocation and
# activation calls): a storage whose `nodes` property lists nodes is usable only on those.
emu_storage_check_node() {
  local nodes
  emu_storage_ensure
  nodes=$(awk -v id="$1" '/^[a-z]+: / { split($0, a, ": "); cur = a[2]; next }
    cur == id && $1 == "nodes" { print $2 }' "$EMU_STORAGE_CFG")
  [ -z "$nodes" ] || [[ ",$nodes," == *",$EMU_NODE,"* ]] || emu_die "storage '$1' is not available on node '$EMU_NODE'"
}

# Value of property KEY of storage ID in storage.cfg (a bare flag reads as 1); exit 1 when unset.
emu_storage_get() {
  emu_storage_ensure
  awk -v id="$1" -v key="$2" '/^[a-z]+: / { split($0, a, ": "); cur = a[2]; next }
    cur == id && /^[ \t]+[^ \t]/ { sub(/^[ \t]+/, ""); k = $1; v = substr($0, length(k) + 2); if (v == "") v = 1; if (k == key) { print v; found = 1; exit } }
    END { exit !found }' "$EMU_STORAGE_CFG"
}

# PVE::Storage::storage_check_enabled: a storage with `disable 1` is refused ("storage 'X' is
# disabled") by every allocation and activation, then storage_check_node.
emu_storage_check_enabled() {
  [ "$(emu_storage_get "$1" disable 2>/dev/null || echo 0)" != 1 ] || emu_die "storage '$1' is disabled"
  emu_storage_check_node "$1"
}

# DirPlugin parse_is_mountpoint: the path a dir storage's `is_mountpoint` says must be mounted
# (`yes`/`1`/`on`: its own path; another value is that path); nothing when unset or false.
emu_storage_mountpoint() {
  local value
  value=$(emu_storage_get "$1" is_mountpoint 2>/dev/null) || return 0
  case ${value,,} in
    1 | yes | on | true) emu_storage_get "$1" path ;;
    0 | no | off | false) ;;
    *) printf '%s\n' "$value" ;;
  esac
}

# DirPlugin path_is_mounted: PATH (symlinks resolved, Cwd::realpath) is a mount point listed in
# /proc/mounts. Exit 1 otherwise (also when PATH does not exist).
emu_path_is_mounted() {
  local real
  real=$(realpath -e -- "$1" 2>/dev/null) || return 1
  awk -v p="$real" '{ gsub(/\\040/, " ", $2) } $2 == p { found = 1 } END { exit !found }' /proc/mounts
}

# PVE::Storage::activate_storage, as vm_start's activate_volumes, clone and allocation call it:
# storage_check_enabled, then the plugin's activate_storage; a dir storage with `is_mountpoint`
# whose path is not mounted refuses (DirPlugin activate_storage), so a container on an unmounted
# dataset never writes into the empty directory underneath.
emu_storage_activate() {
  local sid=$1 mp
  emu_storage_type "$sid" >/dev/null || emu_die "storage '$sid' does not exist"
  emu_storage_check_enabled "$sid"
  if [ "$(emu_storage_type "$sid")" = dir ]; then
    mp=$(emu_storage_mountpoint "$sid")
    if [ -n "$mp" ] && ! emu_path_is_mounted "$mp"; then
      emu_die "unable to activate storage '$sid' - directory is expected to be a mount point but is not mounted: '$mp'"
    fi
  fi
}

# Whether storage ID's `content` (storage.cfg) holds CONTENT (rootdir, images, ...).
emu_storage_has_content() {
  emu_storage_ensure
  awk -v id="$1" -v want="$2" '/^[a-z]+: / { split($0, a, ": "); cur = a[2]; next }
    cur == id && $1 == "content" { n = split($2, c, ","); for (i = 1; i <= n; i++) if (c[i] == want) ok = 1 }
    END { exit !ok }' "$EMU_STORAGE_CFG"
}

# Whether a guest volume supports snapshots, as the storage plugins' volume_has_feature say:
# zfspool and lvmthin volumes do; on `dir` (and nfs/cifs) only qcow2 images do, so never a
# container volume (raw/subvol); a bind mount (a host path) never does. VOLUME is `storage:name`
# or an absolute path; FORMAT is the volume's format (qcow2, raw, subvol).
emu_volume_can_snapshot() {
  local volume=$1 format=${2:-raw} type
  [[ $volume == /* ]] && return 1
  type=$(emu_storage_type "${volume%%:*}") || return 1
  case $type in
    zfspool | lvmthin | rbd | zfs) return 0 ;;
    dir | nfs | cifs | glusterfs | cephfs) [ "$format" = qcow2 ] ;;
    *) return 1 ;;
  esac
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
  # The init a real container runs (lxc.init.cmd defaults to /sbin/init): waits, ends on the
  # halt signal (SIGPWR) or SIGTERM as a distribution's init does.
  mkdir -p "$dir/sbin"
  printf '#!/bin/sh\ntrap "exit 0" PWR TERM INT\nwhile :; do sleep 1 & wait $!; done\n' >"$dir/sbin/init"
  chmod 755 "$dir/sbin/init"
  printf 'root:x:0:0:root:/root:/bin/bash\n' >"$dir/etc/passwd"
  printf 'root:x:0:\n' >"$dir/etc/group"
}
