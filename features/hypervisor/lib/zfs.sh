# shellcheck shell=bash
# ZFS helpers shared by zfs_pool.sh and zfs_dataset.sh (included with `# phoenix-include: lib/zfs.sh`).

# The one data-protection rule for pools and datasets: $1 (a pool's root dataset or a dataset)
# holds data when it has any dataset or snapshot below it, or any file in its mounted directory;
# unmounted, when it uses more than 1 MiB.
zfs_holds_data() {
  local target=$1 count mp mounted
  count=$(zfs list -H -r -t all -o name "$target" 2>/dev/null | wc -l)
  [ "$count" -gt 1 ] && return 0
  mounted=$(zfs get -H -o value mounted "$target")
  mp=$(zfs get -H -o value mountpoint "$target")
  if [ "$mounted" = yes ] && [ -d "$mp" ]; then
    [ -n "$(find "$mp" -mindepth 1 -maxdepth 1 -print -quit)" ] && return 0
    return 1
  fi
  [ "$(zfs get -Hp -o value used "$target")" -gt $((1024 * 1024)) ]
}
