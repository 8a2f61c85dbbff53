# shellcheck shell=bash
# Reading a guest's config as Proxmox writes and prints it, for the container and VM host scripts
# (included with `# phoenix-include: lib/guest_config.sh`; features/vm/host/lib links here).

# A description as `pct config` / `qm config` print it: stored as `#` comment lines, each
# percent-encoded (PVE::Tools::encode_text: `:` is %3A, a newline %0A), printed percent-encoded
# again, for containers with a trailing newline. Prints the decoded first line of TEXT.
guest_description_decode() {
  local s=${1//\\/\\\\} decoded
  decoded=$(printf '%b' "${s//%/\\x}")
  printf '%s' "${decoded%%$'\n'*}"
}

# Whether snapshot NAME in config FILE is incomplete: a snapshot killed mid-way leaves its section
# marked `snapstate: prepare` (an interrupted delsnapshot: `snapstate: delete`), as pve-guest-common
# AbstractConfig snapshot_prepare/snapshot_commit do. `pct/qm config --snapshot` hide snapstate,
# so the file is read.
guest_snapshot_incomplete() {
  [ -f "$1" ] && awk -v s="[$2]" '$0 == s { on = 1; next } /^\[/ { on = 0 } on && /^snapstate:/ { f = 1 } END { exit !f }' "$1"
}

# The `lock:` of config FILE's current section (empty when unlocked).
guest_config_lock() {
  [ -f "$1" ] && awk '/^\[/ { exit } /^lock:/ { print $2 }' "$1"
}
