#!/usr/bin/env bash
# A ZFS pool from whole disks. Creates it when missing,
# adopts an existing pool whose layout matches, refuses to touch one whose layout differs (a pool
# cannot be reshaped in place). Delete destroys the pool only when it holds no data or
# PHOENIX_ALLOW_DESTROY=1.
#
# Parameters (environment):
#   PHOENIX_NAME        pool name
#   PHOENIX_RAID_LEVEL  single | mirror | raidz1 | raidz2 | raidz3
#   PHOENIX_DISKS       disks, one per line (/dev/disk/by-id/... or, in tests, files)
#   PHOENIX_MOUNTPOINT  optional mountpoint of the pool's root dataset (default /<name>)
#   PHOENIX_ASHIFT      sector size exponent given at creation (`-o ashift=`); it cannot change
#                       later: an existing pool with another explicit ashift is refused
#   PHOENIX_AUTOTRIM    pool property autotrim (on/off)
#   PHOENIX_COMPRESSION compression of the root dataset (its datasets inherit it)
#   PHOENIX_ATIME       atime of the root dataset (on/off)
#   PHOENIX_ENFORCE     which of these the configuration sets itself (space-separated names)
# Each of the four may be empty: Phoenix leaves that setting to ZFS. All four apply when the pool
# is created. On a pool that exists (created earlier, or adopted) only the enforced ones are held:
# autotrim, compression and atime drift is reported and set again, an enforced ashift that
# differs is refused; the pool's other settings are the operator's. read reports all four.
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
name=${PHOENIX_NAME:?PHOENIX_NAME is required}
raid_level=${PHOENIX_RAID_LEVEL:?PHOENIX_RAID_LEVEL is required}
disks_param=${PHOENIX_DISKS:?PHOENIX_DISKS is required}
mountpoint=${PHOENIX_MOUNTPOINT:-}
allow_destroy=${PHOENIX_ALLOW_DESTROY:-0}
ashift=${PHOENIX_ASHIFT:-}
autotrim=${PHOENIX_AUTOTRIM:-}
compression=${PHOENIX_COMPRESSION:-}
atime=${PHOENIX_ATIME:-}
enforce=" ${PHOENIX_ENFORCE:-} "

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="zfs_pool $name"

# phoenix-include: lib/result.sh
# phoenix-include: lib/zfs.sh
# phoenix-include: lib/checks.sh

valid_zfs_pool "$name" || invalid "pool name (or a word zpool reserves)"
mapfile -t disks < <(printf '%s\n' "$disks_param" | sed '/^[[:space:]]*$/d')
for d in "${disks[@]}"; do
  valid_disk_path "$d" || invalid "disk path '$d'"
done
n=${#disks[@]}
min_disks=$(raid_min_disks "$raid_level") || invalid "raid level '$raid_level'"
[ "$n" -ge "$min_disks" ] || invalid "disk count: $raid_level needs at least $min_disks disks; got $n"
vdev_type=$raid_level
[ "$raid_level" != single ] || vdev_type=""
if [ -n "$mountpoint" ]; then
  valid_dir_path "$mountpoint" || invalid "mountpoint '$mountpoint'"
fi
[[ $ashift =~ ^((9|1[0-6]))?$ ]] || invalid "ashift '$ashift'"
[[ $autotrim =~ ^(on|off)?$ ]] || invalid "autotrim '$autotrim'"
[[ $atime =~ ^(on|off)?$ ]] || invalid "atime '$atime'"
[[ $enforce =~ ^(\ (ashift|autotrim|compression|atime))*\ +$ ]] || invalid "enforce '${enforce# }'"
[[ $compression =~ ^(on|off|lz4|lzjb|zle|gzip(-[1-9])?|zstd(-([1-9]|1[0-9]))?|zstd-fast(-([1-9]|[1-9][0-9]|[1-9]00|1000))?)?$ ]] || invalid "compression '$compression'"

exists() { zpool list -H -o name "$name" >/dev/null 2>&1; }

# The pool's layout from `zpool status` (full paths with -P where supported: OpenZFS; zfs-fuse
# prints full paths for file vdevs anyway). Prints "<level>" then one device per line.
layout() {
  local status
  status=$(zpool status -P "$name" 2>/dev/null || zpool status "$name")
  printf '%s\n' "$status" | awk -v pool="$name" '
    /^config:/ { inconf = 1; next }
    /^errors:/ { inconf = 0 }
    !inconf || NF == 0 || $1 == "NAME" { next }
    $1 == pool { inpool = 1; next }
    /^\t[a-z]/ && $1 != pool { inpool = 0 }   # logs, cache, spares sections
    !inpool { next }
    $1 ~ /^(mirror|raidz[123]?)(-[0-9]+)?$/ { t = $1; sub(/-[0-9]+$/, "", t); if (t == "raidz") t = "raidz1"; level = t; next }
    { devs[++nd] = $1 }
    END { print (level == "" ? "single" : level); for (i = 1; i <= nd; i++) print devs[i] }'
}

# Disks compare by base name: `zpool status` shows by-id names without /dev/disk/by-id/, and
# whole disks given to OpenZFS appear as their first partition (`<by-id name>-part1`).
same_layout() {
  local got want
  got=$(layout | { read -r level; echo "$level"; sed -e 's#.*/##' -e 's/-part[0-9]\+$//' | sort; })
  want=$({ echo "$raid_level"; printf '%s\n' "${disks[@]}" | sed 's#.*/##' | sort; })
  [ "$got" = "$want" ]
}

# `zpool get` with its header (zfs-fuse's takes no -H/-o): the value column of the one row.
pool_prop() { zpool get "$1" "$name" 2>/dev/null | awk 'NR == 2 { print $3 }' || true; }
root_prop() { zfs get -H -o value "$1" "$name" 2>/dev/null || true; }

# The enforced settings that can change in place (autotrim, compression, atime) and differ, as
# `kind key value` lines (kind: pool or root).
enforced() { [[ $enforce == *" $1 "* ]]; }
settings_drift() {
  if [ -n "$autotrim" ] && enforced autotrim && [ "$(pool_prop autotrim)" != "$autotrim" ]; then echo "pool autotrim $autotrim"; fi
  if [ -n "$compression" ] && enforced compression && [ "$(root_prop compression)" != "$compression" ]; then echo "root compression $compression"; fi
  if [ -n "$atime" ] && enforced atime && [ "$(root_prop atime)" != "$atime" ]; then echo "root atime $atime"; fi
  return 0
}

# ashift is fixed at creation. A pool whose ashift property is 0 let ZFS pick per vdev (the Bash
# tool's pools): that is the pool's, not drift. Another explicit value cannot be changed.
ashift_conflict() {
  local have
  [ -n "$ashift" ] && enforced ashift || return 1
  have=$(pool_prop ashift)
  [ -n "$have" ] && [ "$have" != 0 ] && [ "$have" != "$ashift" ]
}

report() {
  if ! exists; then result '{"present":false}'; return; fi
  local lay level devs_json="" first=1 d health mp
  lay=$(layout)
  level=$(printf '%s\n' "$lay" | head -n1)
  while read -r d; do
    [ -n "$d" ] || continue
    [ $first -eq 1 ] || devs_json+=","; devs_json+=$(json_str "$d"); first=0
  done < <(printf '%s\n' "$lay" | tail -n +2)
  health=$(zpool list -H -o health "$name")
  mp=$(zfs get -H -o value mountpoint "$name")
  # raid_level/disks mirror the parameters when the layout matches, so a diff sees no change.
  local obs_level=$level obs_disks matches=true
  if same_layout; then obs_disks=$disks_param; else obs_disks=$(printf '%s\n' "$lay" | tail -n +2); matches=false; fi
  local obs_mp=${mountpoint:-}
  if [ -n "$mountpoint" ] && [ "$mp" != "$mountpoint" ]; then obs_mp=$mp; matches=false; fi
  [ -z "$(settings_drift)" ] || matches=false
  result '{"present":true,"matches":%s,"name":%s,"raid_level":%s,"disks":%s,"mountpoint":%s,"devices":[%s],"health":%s,"ashift":%s,"autotrim":%s,"compression":%s,"atime":%s}' \
    "$matches" "$(json_str "$name")" "$(json_str "$obs_level")" "$(json_str "$obs_disks")" "$(json_str "$obs_mp")" "$devs_json" "$(json_str "$health")" \
    "$(json_str "$(pool_prop ashift)")" "$(json_str "$(pool_prop autotrim)")" "$(json_str "$(root_prop compression)")" "$(json_str "$(root_prop atime)")"
}

apply() {
  if exists; then
    same_layout || die "exists with a different layout ($(layout | tr '\n' ' ')); a pool cannot be reshaped in place"
    if ashift_conflict; then
      die "has ashift $(pool_prop ashift), declared $ashift: ashift is fixed when a pool is created; set ashift to $(pool_prop ashift) for this pool in phoenix_hypervisor_config.json"
    fi
    if [ -n "$mountpoint" ] && [ "$(zfs get -H -o value mountpoint "$name")" != "$mountpoint" ]; then
      zfs set "mountpoint=$mountpoint" "$name"
    fi
    local kind key value
    while read -r kind key value; do
      [ -n "$kind" ] || continue
      if [ "$kind" = pool ]; then zpool set "$key=$value" "$name"; else zfs set "$key=$value" "$name"; fi
      echo "set $key=$value on pool $name" >&2
    done < <(settings_drift)
    return
  fi
  for d in "${disks[@]}"; do [ -e "$d" ] || die "disk $d does not exist"; done
  local args=()
  [ -n "$mountpoint" ] && args+=(-m "$mountpoint")
  [ -z "$ashift" ] || args+=(-o "ashift=$ashift")
  [ -z "$autotrim" ] || args+=(-o "autotrim=$autotrim")
  [ -z "$compression" ] || args+=(-O "compression=$compression")
  [ -z "$atime" ] || args+=(-O "atime=$atime")
  # No -f: zpool refuses disks that hold another pool or a partition table, which is the point.
  # shellcheck disable=SC2086 # vdev_type is empty for single
  zpool create "${args[@]}" "$name" $vdev_type "${disks[@]}" >&2
  echo "created pool $name ($raid_level: ${disks[*]}${args[*]:+; ${args[*]}})" >&2
}

delete() {
  exists || { result '{"present":false}'; return; }
  if [ "$allow_destroy" != 1 ] && zfs_holds_data "$name"; then
    die "holds data; not destroyed. Set phoenix:allowDataDestruction true (and unprotect the resource) to destroy it"
  fi
  local try
  for try in 1 2 3 4 5 6; do
    zpool destroy "$name" >&2 && break
    [ "$try" -lt 6 ] || die "could not be destroyed"
    sleep 1
  done
  echo "destroyed pool $name" >&2
  result '{"present":false}'
}

run_action "$action"
