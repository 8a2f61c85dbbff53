# shellcheck shell=bash
# The parameter checks host scripts share: each is the bash spelling of one pattern of
# infra/config/patterns.ts (named beside it), which the config layer and the provider kinds use.
# Bash cannot import the TypeScript patterns, so test/features/patterns-agree.test.ts runs every
# function here over values the TypeScript pattern accepts and refuses and asserts both agree.
# Included with `# phoenix-include: lib/checks.sh` (features/lxc/host/lib/checks.sh and
# features/vm/host/lib/checks.sh link to this file). Each returns 0 when the value is valid.

# USERNAME: a Linux user name (useradd's NAME_REGEX, at most 32 characters).
valid_user_name() { [[ $1 =~ ^[a-z_][a-z0-9_-]{0,31}$ ]]; }

# SYSTEM_ACCOUNT: a system account (root, www-data, systemd-*, _apt, ...), never managed as an
# admin user or the Samba user.
system_account() { [[ $1 =~ ^(root|daemon|bin|sys|sync|games|man|lp|mail|news|uucp|proxy|www-data|backup|list|irc|gnats|nobody|messagebus|sshd|postfix|statd|tss|ceph|systemd-[a-z0-9_-]*|_[a-z0-9_-]*)$ ]]; }

# GUEST_ID_TEXT: a container or VM id, 100-999999999.
valid_guest_id() { [[ $1 =~ ^[1-9][0-9]{2,8}$ ]]; }

# SNAPSHOT_NAME: Proxmox's pve-snapshot-name (a pve-configid of 2-40 characters).
valid_snapshot_name() { [[ $1 =~ ^[A-Za-z][A-Za-z0-9_-]{1,39}$ ]]; }

# STORAGE_ID: Proxmox's pve-storage-id.
valid_storage_id() { [[ $1 =~ ^[A-Za-z][A-Za-z0-9._-]*[A-Za-z0-9]$ ]]; }

# NODE_NAME: a Proxmox node name (pve-common pve_verify_node_name: a DNS label).
valid_node_name() { [[ $1 =~ ^[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$ ]]; }

# ZFS_POOL: OpenZFS's pool_namecheck (under 240 characters), and not a vdev keyword of zpool create.
valid_zfs_pool() {
  [[ $1 =~ ^[A-Za-z][A-Za-z0-9_.:-]{0,238}$ ]] || return 1
  ! [[ $1 =~ ^(mirror|raidz[0-9]*|draid[0-9]*|spare|log|cache|special|dedup)$ ]]
}

# ZFS_DATASET: a dataset name inside a pool (`apps/qdrant`).
valid_zfs_dataset() { [[ $1 =~ ^[A-Za-z0-9][A-Za-z0-9_.:-]*(/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$ ]]; }

# SCRIPT_SHARE_PATH: a share or export path (one line of smb.conf or /etc/exports).
valid_share_path() { [[ $1 =~ ^/[A-Za-z0-9_.@+/-]*$ ]]; }

# SCRIPT_DIR_PATH: a dir storage's path, a pool's mountpoint, a login shell.
valid_dir_path() { [[ $1 =~ ^/[A-Za-z0-9_./-]*$ ]]; }

# SCRIPT_DISK_PATH: a disk given to zpool create.
valid_disk_path() { [[ $1 =~ ^/[A-Za-z0-9_./:+-]+$ ]]; }

# RAID_LEVELS and MIN_DISKS: prints the fewest disks `zpool create` takes for a layout (OpenZFS
# cmd/zpool/zpool_vdev.c is_grouping: mirror 2, raidzN N+1); fails for an unknown layout.
raid_min_disks() {
  case $1 in
    single) echo 1 ;;
    mirror | raidz1) echo 2 ;;
    raidz2) echo 3 ;;
    raidz3) echo 4 ;;
    *) return 1 ;;
  esac
}
