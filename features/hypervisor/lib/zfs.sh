# shellcheck shell=bash
# ZFS helpers shared by zfs_pool.sh and zfs_dataset.sh (included with `# phoenix-include: lib/zfs.sh`).

# The one data-protection rule for pools and datasets: $1 (a pool's root dataset or a dataset)
# holds data unless it is provably empty: no dataset or snapshot below it and no file in its
# directory. An unmounted filesystem is mounted for the look and unmounted again; one that cannot
# be looked into (mountpoint none/legacy, canmount=off, the mount fails, a volume) holds data.
zfs_holds_data() {
  local target=$1 count mp mounted canmount type found
  count=$(zfs list -H -r -t all -o name "$target" 2>/dev/null | wc -l)
  [ "$count" -gt 1 ] && return 0
  type=$(zfs get -H -o value type "$target") || return 0
  [ "$type" = filesystem ] || return 0
  mounted=$(zfs get -H -o value mounted "$target") || return 0
  mp=$(zfs get -H -o value mountpoint "$target") || return 0
  case $mp in /*) ;; *) return 0 ;; esac
  if [ "$mounted" = yes ]; then
    [ -d "$mp" ] || return 0
    [ -n "$(find "$mp" -mindepth 1 -maxdepth 1 -print -quit)" ]
    return
  fi
  canmount=$(zfs get -H -o value canmount "$target") || return 0
  [ "$canmount" != off ] || return 0
  zfs mount "$target" >/dev/null 2>&1 || return 0
  found=1
  if [ -d "$mp" ] && [ -z "$(find "$mp" -mindepth 1 -maxdepth 1 -print -quit)" ]; then found=0; fi
  zfs unmount "$target" >/dev/null 2>&1 || true
  [ "$found" = 1 ]
}
