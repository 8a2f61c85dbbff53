// Strict patterns for every value from a Phoenix file that can end up on a shell command line, in
// a config file on the host (smb.conf, /etc/exports, LXC config) or in cloud-init. Values are
// quoted downstream as well; these patterns are the first gate, so a hostile or mistyped value is
// rejected with a clear message before anything runs. None admits `;`, `$(`, backticks, quotes,
// backslashes or newlines; spaces only where the value is a space-separated list or a command line.

/** DNS hostname, dots allowed (real files use `vllm-qwen2.5-7b-awq`, `Template-Base`). */
export const HOSTNAME = /^[A-Za-z0-9](?:[A-Za-z0-9.-]{0,61}[A-Za-z0-9])?$/;
/** Linux user name (useradd's default NAME_REGEX, at most 32 characters). Host scripts:
 *  valid_user_name in features/hypervisor/lib/checks.sh. */
export const USERNAME = /^[a-z_][a-z0-9_-]{0,31}$/;
/** System accounts, never an admin user or the Samba user: Debian base-passwd's fixed accounts (as
 *  on Proxmox VE; `www-data` runs pveproxy), systemd's `systemd-*` and Debian's `_*` service
 *  accounts. Host scripts: system_account in features/hypervisor/lib/checks.sh. */
export const SYSTEM_ACCOUNT = /^(?:root|daemon|bin|sys|sync|games|man|lp|mail|news|uucp|proxy|www-data|backup|list|irc|gnats|nobody|messagebus|sshd|postfix|statd|tss|ceph|systemd-[a-z0-9_-]*|_[a-z0-9_-]*)$/;
/** A user name or `@group` (Samba `valid users`). */
export const USER_OR_GROUP = new RegExp(`^@?${USERNAME.source.slice(1)}`);
/** crypt(3) hash: `$id$[params$]salt$hash` (sha512crypt, yescrypt, bcrypt, ...). */
export const PASSWORD_HASH = /^\$[0-9a-z]+\$[A-Za-z0-9./$=,+-]+$/;
/** One OpenSSH public key line: type, base64 blob, optional comment. */
export const SSH_PUBLIC_KEY =
  /^(?:ssh-(?:ed25519|rsa|dss)|ecdsa-sha2-nistp(?:256|384|521)|sk-(?:ssh-ed25519|ecdsa-sha2-nistp256)@openssh\.com) [A-Za-z0-9+/]+={0,3}(?: [A-Za-z0-9@._+:-]+)*$/;
/** Olson timezone name, e.g. `America/New_York`, `Etc/GMT+5`, `UTC`. */
export const TIMEZONE = /^[A-Za-z][A-Za-z0-9_+-]*(?:\/[A-Za-z0-9_+-]+)*$/;
/** Absolute path: no `..`, spaces or shell metacharacters. */
export const ABSOLUTE_PATH = /^(?!.*\/\.\.?(?:\/|$))\/(?:[A-Za-z0-9._+@,=-]+(?:\/[A-Za-z0-9._+@,=-]+)*\/?)?$/;
/** A container mount point of a volume: an ABSOLUTE_PATH without `,` or `=`, which would end the
 *  path in Proxmox's `mpN` property string (`<storage>:<size>,mp=<path>`) and add properties. */
export const MOUNT_PATH = /^(?!.*\/\.\.?(?:\/|$))\/(?:[\w.+@-]+(?:\/[\w.+@-]+)*\/?)?$/;
/** Path relative to something (a Samba share's dataset path, a test script). */
export const RELATIVE_PATH = /^(?!\.\.?(?:\/|$))(?!.*\/\.\.?(?:\/|$))[A-Za-z0-9._+@-]+(?:\/[A-Za-z0-9._+@-]+)*\/?$/;
/** A share or export path as samba_share.sh and nfs_export.sh take it (one line of smb.conf or
 *  /etc/exports: no spaces, `,` or `=`). Host scripts: valid_share_path. */
export const SCRIPT_SHARE_PATH = /^\/[A-Za-z0-9_.@+/-]*$/;
/** A directory path as proxmox_storage.sh (a dir storage's path), zfs_pool.sh (the mountpoint) and
 *  admin_user.sh (the login shell) take it. Host scripts: valid_dir_path. */
export const SCRIPT_DIR_PATH = /^\/[A-Za-z0-9_./-]*$/;
/** A disk path as zfs_pool.sh takes it. Host scripts: valid_disk_path. */
export const SCRIPT_DISK_PATH = /^\/[A-Za-z0-9_./:+-]+$/;
/** Block device path given to `zpool create`. */
export const DISK_PATH = /^\/dev\/[A-Za-z0-9._+:,@=-]+(?:\/[A-Za-z0-9._+:,@=-]+)*$/;
/**
 * ZFS pool name as OpenZFS's pool_namecheck (module/zcommon/zfs_namecheck.c) takes it: a letter
 * first, then letters, digits, `_ - . :`, shorter than ZFS_MAX_DATASET_NAME_LEN - 2 - 2 *
 * strlen("$ORIGIN") = 240 characters; and not a word `zpool create` reads as a vdev keyword
 * (mirror, raidzN, draidN, spare, log, cache, special, dedup). Host scripts: valid_zfs_pool.
 */
export const ZFS_POOL = /^(?!(?:mirror|raidz[0-9]*|draid[0-9]*|spare|log|cache|special|dedup)$)[A-Za-z][A-Za-z0-9_.:-]{0,238}$/;
/** A dataset name inside a pool (`shared-prod-data`, `apps/qdrant`). Host scripts: valid_zfs_dataset. */
export const ZFS_DATASET = /^[A-Za-z0-9][A-Za-z0-9_.:-]*(?:\/[A-Za-z0-9][A-Za-z0-9_.:-]*)*$/;
/** A `compression` value OpenZFS accepts (zfsprops(7)): on, off, lz4, lzjb, zle, gzip[-1..9],
 *  zstd[-1..19], zstd-fast[-N]. Host scripts: zfs_pool.sh checks it again. */
export const ZFS_COMPRESSION = /^(?:on|off|lz4|lzjb|zle|gzip(?:-[1-9])?|zstd(?:-(?:[1-9]|1[0-9]))?|zstd-fast(?:-(?:[1-9]|[1-9][0-9]|[1-9]00|1000))?)$/;
/** ZFS property name (`recordsize`, `com.example:tag`). */
export const ZFS_PROPERTY_KEY = /^[a-z][a-z0-9_.:]*$/;
/** ZFS property value (`16K`, `lz4`, `1.4T`, `/mnt/x`, `on`). */
export const ZFS_PROPERTY_VALUE = /^[A-Za-z0-9._:/+@-]+$/;
/** Proxmox storage id, pve-storage's `pve-storage-id` format (PVE/JSONSchema.pm parse_storage_id:
 *  `^[a-z][a-z0-9\-\_\.]*[a-z0-9]$/i`). Host scripts: valid_storage_id. */
export const STORAGE_ID = /^[A-Za-z][\w.-]*[A-Za-z\d]$/;
/** Proxmox node name. */
export const NODE_NAME = /^[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/;
/** An SSH endpoint's host as the transport takes it: a host name, an IPv4 address or an IPv6 address
 *  (with `[]` or a `%zone`). */
export const SSH_HOST = /^[A-Za-z0-9._:\-[\]%]+$/;
/** IPv4 address. */
export const IPV4 = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)$/;
/** IPv4 CIDR (`10.0.0.150/24`). */
export const IPV4_CIDR = /^(?:(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\.){3}(?:25[0-5]|2[0-4]\d|1\d\d|[1-9]?\d)\/(?:3[0-2]|[12]?\d)$/;
/** Guest IP setting: CIDR or `dhcp`. */
export const GUEST_IP = new RegExp(`^(?:dhcp|${IPV4_CIDR.source.slice(1, -1)})$`);
/** NFS client: IP, CIDR, host name or `*`. */
export const NFS_CLIENT = /^(?:\*|[A-Za-z0-9][A-Za-z0-9.-]*(?:\/(?:3[0-2]|[12]?\d))?)$/;
/** NFS export option (`rw`, `no_root_squash`, `anonuid=1000`, `sec=sys:krb5`). */
export const NFS_OPTION = /^[a-z_]+(?:=[A-Za-z0-9_.:/-]+)?$/;
/** MAC address `52:54:00:AA:BB:CC`. */
export const MAC = /^[0-9A-Fa-f]{2}(?::[0-9A-Fa-f]{2}){5}$/;
/** Samba share name (the `[section]`). */
export const SAMBA_SHARE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Proxmox container feature `key=value` (`nesting=1`, `keyctl=1`). */
export const PCT_OPTION = /^[a-z][a-z0-9_]*=[A-Za-z0-9_.,-]+$/;
/** A raw LXC config key as Proxmox reads it (pve-container Config.pm: `lxc\.[a-z0-9_\-\.]+`), unanchored. */
export const LXC_KEY = "lxc\\.[a-z0-9_.-]+";
/** Raw LXC config value characters: spaces allowed (`/dev/fuse dev/fuse none bind,create=file`), `*` too (`c 195:* rwm`). */
const LXC_VALUE_CHARS = "[A-Za-z0-9 _.,:=/+*-]";
/**
 * A raw LXC line as written in `lxc_options` and split as Proxmox splits it (`key: value` or
 * `key = value`, spaces around the value ignored): capture 1 the key, 2 the value.
 */
export const LXC_LINE = new RegExp(`^(${LXC_KEY})(?::|\\s*=)\\s*(${LXC_VALUE_CHARS}*?)\\s*$`);
/** AppArmor profile name. */
export const APPARMOR_PROFILE = /^[A-Za-z0-9][A-Za-z0-9_.-]*$/;
/** Application script: a file name or relative path under the application script folder. */
export const SCRIPT_PATH = /^[A-Za-z0-9_][A-Za-z0-9_.-]*(?:\/[A-Za-z0-9_][A-Za-z0-9_.-]*)*$/;
/** A command line run inside a guest (health checks): words, no chaining, substitution or quotes. */
export const COMMAND_LINE = /^[A-Za-z0-9_./:=,+@%-]+(?: [A-Za-z0-9_./:=,+@%-]+)*$/;
/** Feature name as written (checked against the registry afterwards). */
export const FEATURE_NAME = /^[a-z0-9_]+$/;
/** Snapshot name, Proxmox's `pve-snapshot-name` (pve-common PVE/JSONSchema.pm: a `pve-configid`,
 *  `^[a-z][a-z0-9_-]+$/i`, at most 40 characters). Host scripts: valid_snapshot_name. */
export const SNAPSHOT_NAME = /^[A-Za-z][A-Za-z0-9_-]{1,39}$/;
/** Cloud image file name. */
export const IMAGE_FILE = /^[A-Za-z0-9][A-Za-z0-9._+-]*$/;
/** https URL without shell metacharacters. */
export const HTTPS_URL = /^https?:\/\/[A-Za-z0-9.-]+(?::\d+)?(?:\/[A-Za-z0-9._~%+=,@:/-]*)?$/;
/** Driver or CUDA version (`580.76.05`, `12.8`). */
export const VERSION = /^[0-9]+(?:\.[0-9]+)*$/;
/** A stack name as `--stack` takes it (the `<name>` of `stacks/Pulumi.<name>.yaml`). */
export const STACK_NAME = /^[A-Za-z0-9_.-]+$/;
/** Guest ID as written in keys and references (100-999999999). Host scripts: valid_guest_id. */
export const GUEST_ID_TEXT = /^[1-9][0-9]{2,8}$/;

export const MIN_GUEST_ID = 100;
export const MAX_GUEST_ID = 999_999_999;
/** Storages every Proxmox installation may have without the host config declaring them. */
export const STANDARD_STORAGES = ["local", "local-lvm", "local-zfs"] as const;

/** The pool layouts Phoenix creates: one vdev of this type (`single`: the disks striped). */
export const RAID_LEVELS = ["single", "mirror", "raidz1", "raidz2", "raidz3"] as const;
/**
 * Fewest disks `zpool create` takes for each layout: OpenZFS cmd/zpool/zpool_vdev.c is_grouping
 * (mirror 2, raidzN N+1). Fewer disks than this are refused by the config layer, by the provider
 * kind and by zfs_pool.sh (raid_min_disks in features/hypervisor/lib/checks.sh) alike.
 */
export const MIN_DISKS: Readonly<Record<(typeof RAID_LEVELS)[number], number>> = { single: 1, mirror: 2, raidz1: 2, raidz2: 3, raidz3: 4 };

/**
 * A PCI device as Proxmox's PCI mappings name it (qemu-server PCI.pm `parse_hostpci`, `host`
 * key): `[domain:]bus:slot[.function]`, hex; without `.function`, every function of the card
 * (a GPU with its audio device).
 */
export const PCI_PATH = /^(?:[0-9a-fA-F]{4}:)?[0-9a-fA-F]{2}:[0-9a-fA-F]{2}(?:\.[0-7])?$/;
/** A PCI vendor:device (or subsystem) id as `lspci -nn` shows it: `10de:2204`. */
export const PCI_ID = /^[0-9a-fA-F]{4}:[0-9a-fA-F]{4}$/;
/** A cluster resource mapping's name: pve-common `pve-configid` (a letter, then letters, digits, '_' or '-'). */
export const PCI_MAPPING_NAME = /^[A-Za-z][A-Za-z0-9_-]{1,63}$/;
