// The one judge of raw LXC config lines (`lxc_options`, and the bind-mount sources of
// `mount_points` / `shared_volumes`): the config loader and the policy pack both ask it, so a line
// is refused, or flagged, by the same rule wherever it is looked at.
//
// Two kinds of finding:
// - a line Proxmox drops or LXC rejects (a key outside Proxmox's whitelist, a cgroup v1 key on a
//   cgroup2 host, an unknown capability, an lxc.mount.auto token LXC does not know): always an
//   error, naming the key and what to write instead;
// - a line that grants the container more than confinement: host hooks and host files
//   (`lxc.hook.*`, `lxc.include`, log files, seccomp/AppArmor overrides), capabilities Proxmox
//   drops, read-write proc/sys/cgroup, device wildcards and block devices, host network devices,
//   id maps onto privileged host ids (root, disk, shadow, ...), bind sources under sensitive host paths. An error unless the stack
//   names the allowance (`phoenix:allowRawLxc`, `phoenix:allowHostPaths`); the policy pack flags
//   such lines in production stacks either way.
//
// References:
// - Proxmox's whitelist: pve-container src/PVE/LXC/Config.pm, `$valid_lxc_conf_keys`,
//   `$deprecated_lxc_conf_keys` and `is_valid_lxc_conf_key` (lxc.cgroup2.*, lxc.prlimit.*, lxc.net.*
//   pass; lxc.cgroup.* "is deprecated, this will be a hard error in the future"; anything else makes
//   `pct` fail with "unable to parse config").
// - lxc.container.conf(5): lxc.mount.auto tokens, lxc.cap.drop / lxc.cap.keep ("none" clears keep).
// - LXC's common.conf (Debian lxc, Proxmox lxc-pve): `lxc.cap.drop = mac_admin mac_override
//   sys_time sys_module sys_rawio`, `lxc.mount.auto = cgroup:mixed proc:mixed sys:mixed`.
// - capabilities(7) for capability names.
import * as path from "path";
import { LXC_KEY } from "./patterns";

/** Stack settings that let a config file ask for more than confinement (both default false). */
export interface RawLxcAllowances {
  /** `phoenix:allowRawLxc`: hooks, host files, capability widening, device wildcards, rw proc/sys/cgroup. */
  rawLxc?: boolean;
  /** `phoenix:allowHostPaths`: bind mounts of sensitive host paths and block devices. */
  hostPaths?: boolean;
}

export type Allowance = "allowRawLxc" | "allowHostPaths";

/** One finding about a line: `allowedBy` set means a stack allowance can accept it. */
export interface RawLxcFinding {
  message: string;
  allowedBy?: Allowance;
}

/** Keys Proxmox accepts verbatim (pve-container `$valid_lxc_conf_keys`, value 1). */
const PROXMOX_KEYS = new Set([
  "lxc.apparmor.profile", "lxc.apparmor.allow_incomplete", "lxc.apparmor.allow_nesting", "lxc.apparmor.raw",
  "lxc.selinux.context", "lxc.include", "lxc.arch", "lxc.uts.name", "lxc.signal.halt", "lxc.signal.reboot",
  "lxc.signal.stop", "lxc.init.cmd", "lxc.init.cwd", "lxc.init.uid", "lxc.init.gid", "lxc.init.groups",
  "lxc.pty.max", "lxc.console.logfile", "lxc.console.path", "lxc.tty.max", "lxc.devtty.dir", "lxc.hook.autodev",
  "lxc.autodev", "lxc.kmsg", "lxc.mount.fstab", "lxc.mount.entry", "lxc.mount.auto", "lxc.rootfs.mount",
  "lxc.cap.drop", "lxc.cap.keep", "lxc.seccomp.profile", "lxc.seccomp.notify.proxy", "lxc.seccomp.notify.cookie",
  "lxc.idmap", "lxc.hook.pre-start", "lxc.hook.pre-mount", "lxc.hook.mount", "lxc.hook.start", "lxc.hook.stop",
  "lxc.hook.post-stop", "lxc.hook.clone", "lxc.hook.destroy", "lxc.hook.version", "lxc.log.level", "lxc.log.file",
  "lxc.start.auto", "lxc.start.delay", "lxc.start.order", "lxc.group", "lxc.environment", "lxc.environment.runtime",
  "lxc.environment.hooks", "lxc.sysctl.fs.mqueue", "lxc.sysctl.kernel.msgmax", "lxc.sysctl.kernel.msgmnb",
  "lxc.sysctl.kernel.msgmni", "lxc.sysctl.kernel.sem", "lxc.sysctl.kernel.shmall", "lxc.sysctl.kernel.shmmax",
  "lxc.sysctl.kernel.shmmni", "lxc.sysctl.kernel.shm_rmid_forced",
]);

/** Keys Proxmox refuses with its own message (`$valid_lxc_conf_keys`, string values). */
const PROXMOX_REFUSED: Record<string, string> = {
  "lxc.rootfs.path": "Proxmox generates lxc.rootfs.path from rootfs; set storage_pool/storage_size_gb instead",
  "lxc.rootfs.options": "Proxmox does not support lxc.rootfs.options; use mount point options of the root disk instead",
};

/** Renamed keys (`$deprecated_lxc_conf_keys`, removed with LXC 3.0). */
const RENAMED: Record<string, string> = {
  "lxc.aa_profile": "lxc.apparmor.profile", "lxc.aa_allow_incomplete": "lxc.apparmor.allow_incomplete",
  "lxc.console": "lxc.console.path", "lxc.devttydir": "lxc.tty.dir", "lxc.haltsignal": "lxc.signal.halt",
  "lxc.rebootsignal": "lxc.signal.reboot", "lxc.stopsignal": "lxc.signal.stop", "lxc.id_map": "lxc.idmap (or id_maps)",
  "lxc.init_cmd": "lxc.init.cmd", "lxc.loglevel": "lxc.log.level", "lxc.logfile": "lxc.log.file",
  "lxc.mount": "lxc.mount.fstab", "lxc.pts": "lxc.pty.max", "lxc.se_context": "lxc.selinux.context",
  "lxc.seccomp": "lxc.seccomp.profile", "lxc.tty": "lxc.tty.max", "lxc.utsname": "lxc.uts.name",
};

/** cgroup v1 controller files and their cgroup v2 names (Proxmox VE 7+ boots cgroup v2 only). */
const CGROUP_V2: Record<string, string> = {
  "devices.allow": "lxc.cgroup2.devices.allow",
  "devices.deny": "lxc.cgroup2.devices.deny",
  "memory.limit_in_bytes": "lxc.cgroup2.memory.max (or memory_mb)",
  "memory.soft_limit_in_bytes": "lxc.cgroup2.memory.low",
  "memory.memsw.limit_in_bytes": "lxc.cgroup2.memory.swap.max (or swap_mb)",
  "cpuset.cpus": "lxc.cgroup2.cpuset.cpus",
  "cpuset.mems": "lxc.cgroup2.cpuset.mems",
  "cpu.shares": "lxc.cgroup2.cpu.weight (1-10000, not shares)",
  "cpu.cfs_quota_us": "lxc.cgroup2.cpu.max (or cores)",
  "pids.max": "lxc.cgroup2.pids.max",
};

/** Capability names, capabilities(7), lower case without `CAP_` (as LXC reads them). */
const CAPABILITIES = new Set([
  "chown", "dac_override", "dac_read_search", "fowner", "fsetid", "kill", "setgid", "setuid", "setpcap",
  "linux_immutable", "net_bind_service", "net_broadcast", "net_admin", "net_raw", "ipc_lock", "ipc_owner",
  "sys_module", "sys_rawio", "sys_chroot", "sys_ptrace", "sys_pacct", "sys_admin", "sys_boot", "sys_nice",
  "sys_resource", "sys_time", "sys_tty_config", "mknod", "lease", "audit_write", "audit_control", "setfcap",
  "mac_override", "mac_admin", "syslog", "wake_alarm", "block_suspend", "audit_read", "perfmon", "bpf",
  "checkpoint_restore",
]);
/** What LXC's common.conf drops for every Proxmox container: keeping one of these widens. */
const DEFAULT_DROPPED_CAPS = ["mac_admin", "mac_override", "sys_time", "sys_module", "sys_rawio"];

/** Host trees no container may bind-mount (with everything below them). */
export const SENSITIVE_HOST_TREES = [
  "/etc", "/root", "/home", "/boot", "/efi", "/proc", "/sys", "/run", "/usr", "/bin", "/sbin", "/lib", "/lib32",
  "/lib64", "/libx32", "/opt", "/snap", "/tmp", "/var", "/dev/shm", "/dev/mqueue", "/dev/mem", "/dev/kmem", "/dev/port",
];
/**
 * Data locations inside a sensitive tree that may be bind-mounted, shared or exported (their
 * subpaths too, never the location itself). Everything else under `/var` is the host's own:
 * package state (`/var/lib/dpkg`), cron spools, systemd state, logs, Proxmox's storage
 * (`/var/lib/vz`) and cluster file system (`/var/lib/pve-cluster`), Phoenix's records
 * (`/var/lib/phoenix`). `/var/www` holds sites' content and nothing the host runs on its own.
 */
export const HOST_DATA_LOCATIONS = ["/var/www"];
/** Host paths refused as a whole (their subpaths are data: `/srv/models`, `/mnt/pve/<storage>/...`, `/dev/fuse`). */
export const SENSITIVE_HOST_PATHS = ["/", "/dev", "/mnt", "/mnt/pve", "/media", "/srv"];

/** Character-device majors whose every minor a container may use (`c 195:* rwm`): NVIDIA, DRM. */
const WILDCARD_MINOR_MAJORS = new Set(["195", "226"]);

/** Block devices by name, every family the kernel names (disks, partitions, NVMe namespaces, device
 *  mapper, zvols, loop, md, RAM/zram disks, optical, network block devices) and the by-id links; the folders of links themselves (`/dev/disk`, `/dev/mapper`, `/dev/zvol`)
 *  hold every disk at once. */
const BLOCK_DEVICE = /^\/dev\/(?:sd[a-z]|hd[a-z]|vd[a-z]|xvd[a-z]|nvme\d+n|mmcblk\d|zd\d|loop\d|md\d|md\/|dm-\d|mapper(?:$|\/(?!control$))|(?:disk|zvol)(?:\/|$)|sr\d|scd\d|cdrom$|nbd\d|rbd\d|drbd\d|bcache\d|pmem\d|ram\d|zram\d|ublkb\d|nullb\d|fd\d|mtdblock\d|dasd[a-z]|etherd\/|cciss\/)/;

/**
 * `/dev` paths that reach what the plain path would need an allowance for: aliases of
 * `/proc/self` (`/dev/fd/N`, `/dev/stdin`, ...), aliases by device number (`/dev/block/8:0`,
 * `/dev/char/1:1` = /dev/mem), SCSI generic and NVMe admin nodes (raw commands to a host disk),
 * the ZFS and device-mapper control nodes (every pool's datasets, every volume) and the memory
 * nodes. Block-device families are BLOCK_DEVICE.
 */
const DEVICE_ALIASES: [RegExp, string][] = [
  [/^\/dev\/(?:fd(?:\/|$)|stdin$|stdout$|stderr$|core$)/, "is an alias of /proc/self (the mounting process's own files): the container would get the host's"],
  [/^\/dev\/(?:block|char)(?:\/|$)/, "names a host device by its number (a /dev/block or /dev/char alias): the container would get that device whatever it is"],
  [/^\/dev\/(?:sg\d|bsg(?:\/|$)|ng\d|nvme\d+$|sch\d|st\d|nst\d)/, "is a SCSI generic or NVMe admin node: the container could send raw commands to a host disk"],
  [/^\/dev\/(?:zfs|mapper\/control|loop-control|btrfs-control|vfio(?:\/|$)|kvm$|mem$|kmem$|port$|cpu(?:\/|$)|watchdog|nvram|ecryptfs|uinput|vhost-|vga_arbiter|rfkill)/, "is a host control device (ZFS, device mapper, loop, VFIO, KVM, memory, watchdog, ...): the container would control the host's"],
];

/** Why a `/dev` path gives the container more than the device it names (undefined when it does not). */
export function devicePathProblem(n: string): string | undefined {
  for (const [re, why] of DEVICE_ALIASES) if (re.test(n)) return why;
  // Volume groups' links (`/dev/pve/root`, `/dev/<vg>/<lv>`) are block devices too: any other
  // folder under /dev but the character-device families containers use.
  const m = /^\/dev\/([^/]+)\/./.exec(n);
  if (m && !CHARACTER_DEVICE_FOLDERS.has(m[1])) return `is under /dev/${m[1]}, which is not a character-device folder a container uses (LVM's /dev/<vg>/<lv> links are disks): name the device node itself`;
  return undefined;
}

/** `/dev` folders of character devices containers use: GPUs, input, sound, USB, serial, tun, pts. */
const CHARACTER_DEVICE_FOLDERS = new Set(["dri", "nvidia-caps", "net", "snd", "input", "bus", "serial", "pts", "usb", "hugepages", "v4l", "dvb", "infiniband", "vfio-user"]);

/**
 * A host path as the kernel resolves it, lexically: `//root` → `/root`, `/./etc` → `/etc`,
 * `/srv/../etc` → `/etc`, trailing `/` dropped. Relative paths are taken from `/` (LXC resolves
 * bind sources on the host from its root).
 */
export function normaliseHostPath(p: string): string {
  return path.posix.normalize(`/${p}`).replace(/(.)\/+$/, "$1");
}

/**
 * The sensitive host path `p` is, or lies under, after normalising (`/var/lib/dpkg/info` →
 * `/var`); undefined when it is fine: a path under a data location (`/var/www/site`), or any
 * other path outside SENSITIVE_HOST_TREES and not one of SENSITIVE_HOST_PATHS (`/srv/models`,
 * `/quickOS/shared`, `/mnt/pve/fastData/x`).
 */
export function sensitiveHostPath(p: string): string | undefined {
  const n = normaliseHostPath(p);
  if (SENSITIVE_HOST_PATHS.includes(n)) return n;
  if (HOST_DATA_LOCATIONS.some((d) => n.startsWith(`${d}/`))) return undefined;
  return SENSITIVE_HOST_TREES.find((t) => n === t || n.startsWith(`${t}/`));
}

/**
 * The sensitive host path an NFS export or Samba share of `p` would serve, after normalising:
 * as sensitiveHostPath, and all of `/dev` (a share serves files, never device nodes). The host
 * scripts refuse the same paths (features/hypervisor/lib/host_paths.sh, kept equal by
 * test/config/host-paths.test.ts).
 */
export function sensitiveSharePath(p: string): string | undefined {
  const n = normaliseHostPath(p);
  if (n === "/dev" || n.startsWith("/dev/")) return "/dev";
  return sensitiveHostPath(n);
}

/** Findings about a bind-mount source on the host (`mount_points[].host_path`, `lxc.mount.entry` sources). */
export function checkBindSource(source: string): RawLxcFinding[] {
  const n = normaliseHostPath(source);
  const shown = n === source ? source : `${source} (= ${n})`;
  if (BLOCK_DEVICE.test(n)) {
    return [{ message: `${shown} is a block device: the container would read and write the host's disk directly`, allowedBy: "allowHostPaths" }];
  }
  const device = devicePathProblem(n);
  if (device) return [{ message: `${shown} ${device}`, allowedBy: "allowHostPaths" }];
  const hit = sensitiveHostPath(n);
  if (hit) {
    return [{ message: `${shown} is${hit === n ? "" : " under"} the host's ${hit}: bind-mount a data directory instead`, allowedBy: "allowHostPaths" }];
  }
  return [];
}

const RAW_LINE = new RegExp(`^(${LXC_KEY})(?::|\\s*=)\\s*(.*?)\\s*$`);
/** Splits an `lxc.key=value` / `lxc.key: value` line as Proxmox does (`^(lxc\.[a-z0-9_\-\.]+)(:|\s*=)\s*(.*?)\s*$`). */
export function splitRawLxcLine(line: string): { key: string; value: string } | undefined {
  const m = RAW_LINE.exec(line.trim());
  return m ? { key: m[1], value: m[2] } : undefined;
}

function checkCaps(key: string, value: string): RawLxcFinding[] {
  const out: RawLxcFinding[] = [];
  const caps = value.split(/[\s,]+/).filter(Boolean);
  if (key === "lxc.cap.drop" && caps.length === 0) {
    return [{ message: "an empty lxc.cap.drop clears the capabilities Proxmox drops (sys_module, sys_rawio, ...): the container gains them", allowedBy: "allowRawLxc" }];
  }
  for (const cap of caps) {
    const name = cap.toLowerCase().replace(/^cap_/, "");
    if (key === "lxc.cap.keep" && name === "none") continue;
    if (!CAPABILITIES.has(name) && !/^\d+$/.test(name)) {
      out.push({ message: `unknown capability ${JSON.stringify(cap)} (LXC refuses to start); known: ${[...CAPABILITIES].join(" ")}` });
    } else if (key === "lxc.cap.keep" && DEFAULT_DROPPED_CAPS.includes(name)) {
      out.push({ message: `keeps ${name}, which Proxmox drops for every container (${DEFAULT_DROPPED_CAPS.join(" ")})`, allowedBy: "allowRawLxc" });
    }
  }
  return out;
}

/** lxc.container.conf(5) lxc.mount.auto tokens. */
const MOUNT_AUTO = /^(?:proc|sys|cgroup|cgroup-full)(?::(?:mixed|rw|ro|force))*$|^shmounts:/;

function checkMountAuto(value: string): RawLxcFinding[] {
  const out: RawLxcFinding[] = [];
  for (const token of value.split(/\s+/).filter(Boolean)) {
    if (!MOUNT_AUTO.test(token)) {
      out.push({ message: `unknown lxc.mount.auto token ${JSON.stringify(token)}; write proc:mixed, sys:mixed or cgroup:mixed` });
    } else if (token.startsWith("shmounts:")) {
      out.push({ message: `${token} shares a host directory with the container; use mount_points`, allowedBy: "allowHostPaths" });
    } else if (/:rw\b/.test(token) || /^cgroup(?:-full)?(?::force)?$/.test(token)) {
      // Plain `cgroup` is cgroup:rw when the container keeps CAP_SYS_ADMIN (lxc.container.conf(5)).
      const base = token.split(":")[0];
      out.push({ message: `${token} mounts the host's ${base === "sys" ? "/sys" : base === "proc" ? "/proc" : "cgroup tree"} writable; write ${base}:mixed`, allowedBy: "allowRawLxc" });
    }
  }
  return out;
}

function checkDevices(key: string, value: string): RawLxcFinding[] {
  if (key.endsWith(".deny")) return [];
  const v = value.trim();
  if (v === "a" || /^a\b/.test(v)) return [{ message: `${v} allows every host device; name each device like c 10:229 rwm`, allowedBy: "allowRawLxc" }];
  const m = /^([cb])\s+(\d+|\*):(\d+|\*)\s+([rwm]{1,3})$/.exec(v);
  if (!m) return [{ message: `${JSON.stringify(v)} is not a device rule like c 10:229 rwm` }];
  const [, type, major, minor] = m;
  if (type === "b") return [{ message: `b ${major}:${minor} gives the container a host block device`, allowedBy: "allowHostPaths" }];
  if (major === "*" || (minor === "*" && !WILDCARD_MINOR_MAJORS.has(major))) {
    return [{ message: `c ${major}:${minor} is a device wildcard; name each device (c ${major === "*" ? "MAJOR" : major}:MINOR rwm)`, allowedBy: "allowRawLxc" }];
  }
  return [];
}

/** Filesystems whose mount gives the container a view of the host kernel's state. */
const KERNEL_FS = new Set(["proc", "sysfs", "cgroup", "cgroup2", "debugfs", "securityfs", "tracefs", "efivarfs", "configfs", "bpf", "fusectl", "pstore", "binfmt_misc", "selinuxfs", "nfsd", "rpc_pipefs", "hugetlbfs"]);
/** Filesystems that are the host's device or kernel objects whatever the options: every host device node, the host's namespaces. */
const HOST_ONLY_FS = new Set(["devtmpfs", "nsfs"]);
/** Options of overlay and other stacked file systems whose value names a host directory (colon-separated lists). */
const PATH_OPTIONS = new Set(["lowerdir", "upperdir", "workdir", "datadir", "lowerdir+", "datadir+"]);

/**
 * Whether mount options leave the mount read-only, as mount(8) reads them: left to right, the
 * last of `ro`, `rw` and `defaults` (which includes rw) wins; so `ro,rw` is writable.
 */
export function mountsReadOnly(opts: string[]): boolean {
  let ro = false;
  for (const o of opts) {
    if (o === "ro") ro = true;
    else if (o === "rw" || o === "defaults") ro = false;
  }
  return ro;
}

function checkMountEntry(value: string): RawLxcFinding[] {
  const fields = value.trim().split(/\s+/);
  if (fields.length < 4) return [{ message: `${JSON.stringify(value)} is not an fstab line (source target fstype options [dump pass])` }];
  const [source, target, fstype, options] = fields;
  const opts = options.split(",");
  if (target.split("/").includes("..")) {
    return [{ message: `target ${target} climbs out of the container's root with ..; write the path inside the container`, allowedBy: "allowRawLxc" }];
  }
  // Options that name host directories (overlay's lowerdir/upperdir/workdir) are bind sources too.
  const optionPaths: RawLxcFinding[] = [];
  for (const o of opts) {
    const eq = o.indexOf("=");
    if (eq < 0 || !PATH_OPTIONS.has(o.slice(0, eq))) continue;
    for (const dir of o.slice(eq + 1).split(/(?<!\\):+/).filter(Boolean)) {
      for (const f of checkBindSource(dir)) optionPaths.push({ ...f, message: `${o.slice(0, eq)}: ${f.message}` });
    }
  }
  if (opts.includes("bind") || opts.includes("rbind") || fstype === "bind") return [...checkBindSource(source), ...optionPaths];
  if (HOST_ONLY_FS.has(fstype)) {
    return [{ message: `mounts ${fstype}, the host's ${fstype === "devtmpfs" ? "device nodes (every disk included)" : "namespaces"}, in the container`, allowedBy: "allowHostPaths" }];
  }
  if (KERNEL_FS.has(fstype) && !mountsReadOnly(opts)) {
    const conflicting = opts.includes("ro") ? ` (${options}: the last of ro/rw/defaults wins)` : "";
    return [{ message: `mounts ${fstype} writable in the container${conflicting}; end the options with ro or leave it to lxc.mount.auto`, allowedBy: "allowRawLxc" }];
  }
  if (fstype === "zfs" && !source.startsWith("/")) {
    return [{ message: `mounts the host's ZFS dataset ${source} directly; bind-mount the dataset's mount point with mount_points instead`, allowedBy: "allowHostPaths" }, ...optionPaths];
  }
  if (source.startsWith("/")) return [...checkBindSource(source), ...optionPaths];
  return optionPaths;
}

/**
 * Host ids that grant power over the host to whoever holds them, by Debian's fixed numbering
 * (base-passwd, as on Proxmox VE): uid/gid 0-3 own the system's files; the groups read every log
 * (adm), write terminals (tty, utmp), read and write disks (disk, tape), read memory (kmem), become
 * root (sudo), read password hashes (shadow) and write /usr/local (staff). Groups numbered at
 * install time (kvm, render, ...) are judged on the host (features/lxc/host/subids.sh).
 */
export const PRIVILEGED_HOST_IDS: Record<"uid" | "gid", Record<number, string>> = {
  uid: { 0: "root", 1: "daemon", 2: "bin", 3: "sys" },
  gid: { 0: "root", 1: "daemon", 2: "bin", 3: "sys", 4: "adm", 5: "tty", 6: "disk", 15: "kmem", 26: "tape", 27: "sudo", 37: "operator", 42: "shadow", 43: "utmp", 50: "staff" },
};
/** Debian's SYS_UID_MAX/SYS_GID_MAX (login.defs): ids 1-999 belong to the system's accounts. */
export const SYSTEM_ID_MAX = 999;

/**
 * The host ids, and why, when mapping `size` container ids onto host ids from `hostId` (type uid
 * or gid) grants the container host power (`host gid 6 (disk, ...)`); undefined when it does not. One service id mapped on purpose (gid 33,
 * www-data, to share a web root) is fine; a privileged id or a range over system ids is not.
 */
export function privilegedIdMap(type: "uid" | "gid", hostId: number, size: number): string | undefined {
  const end = hostId + size - 1;
  const hit = Object.entries(PRIVILEGED_HOST_IDS[type]).find(([id]) => Number(id) >= hostId && Number(id) <= end);
  if (hit) {
    const [id, name] = hit;
    return `host ${type} ${id} (${Number(id) === 0 ? "host root" : `${name}, which grants power over the host`})`;
  }
  if (size > 1 && hostId <= SYSTEM_ID_MAX && end >= 1) {
    return `host ${type}s ${hostId}-${end}, which covers the host's system ${type}s (1-${SYSTEM_ID_MAX}) wholesale: map each service id on its own (size 1) or use host ids from 100000`;
  }
  return undefined;
}

function checkIdmap(value: string): RawLxcFinding[] {
  const m = /^([ug])\s+(\d+)\s+(\d+)\s+(\d+)$/.exec(value.trim());
  if (!m) return [{ message: `${JSON.stringify(value)} is not an id map like u 0 100000 65536 (or use id_maps)` }];
  const problem = privilegedIdMap(m[1] === "u" ? "uid" : "gid", Number(m[3]), Number(m[4]));
  return problem ? [{ message: `maps container ids onto ${problem}`, allowedBy: "allowRawLxc" }] : [];
}

/** Keys that run host programs, read host files or weaken the LSM/seccomp confinement. */
function hostReach(key: string): string | undefined {
  if (key.startsWith("lxc.hook.") || key === "lxc.environment.hooks") return "runs a program on the host as root";
  if (key === "lxc.include" || key === "lxc.mount.fstab") return "reads a host file into the container's configuration";
  if (key === "lxc.log.file" || key === "lxc.console.logfile" || key === "lxc.console.path") return "writes a host file chosen by the config";
  if (key === "lxc.rootfs.mount") return "moves the container's root mount on the host";
  if (key.startsWith("lxc.seccomp.")) return "replaces the seccomp filter or hands syscalls to a host socket";
  if (key === "lxc.apparmor.raw" || key === "lxc.apparmor.allow_incomplete" || key === "lxc.selinux.context") return "weakens the container's LSM confinement";
  if (key.startsWith("lxc.net.")) return "attaches host network devices directly (use network_config)";
  return undefined;
}

/**
 * Every finding about one raw LXC line (`key`, `value` as split by `splitRawLxcLine`). Empty when the
 * line is fine as written. `lxc.apparmor.profile=unconfined` is left to the policy pack's per-CTID
 * `allowUnconfined` (real configs use it widely).
 */
export function checkRawLxcLine(key: string, value: string): RawLxcFinding[] {
  if (key in RENAMED) return [{ message: `${key} was removed with LXC 3.0 (Proxmox renames it); write ${RENAMED[key]}` }];
  if (key.startsWith("lxc.limit.")) return [{ message: `lxc.limit.* was renamed; write lxc.prlimit.${key.slice("lxc.limit.".length)}` }];
  if (key in PROXMOX_REFUSED) return [{ message: PROXMOX_REFUSED[key] }];
  if (key.startsWith("lxc.cgroup.")) {
    const rest = key.slice("lxc.cgroup.".length);
    const v2 = CGROUP_V2[rest] ?? `lxc.cgroup2.${rest} (check the cgroup v2 name of this controller file)`;
    const more = rest.startsWith("devices.") ? checkDevices(rest, value) : [];
    return [{ message: `cgroup v1 key: Proxmox VE 7+ hosts run cgroup v2 only and LXC ignores it; write ${v2}` }, ...more];
  }
  const known = PROXMOX_KEYS.has(key) || /^lxc\.(?:cgroup2|prlimit|net)\.[a-z0-9_.-]+$/.test(key);
  if (!known) {
    return [{ message: `Proxmox does not accept ${key} (not in pve-container's lxc.* whitelist; pct fails "unable to parse config")` }];
  }
  const reach = hostReach(key);
  if (reach) return [{ message: `${key} ${reach}`, allowedBy: "allowRawLxc" }];
  if (key === "lxc.cap.drop" || key === "lxc.cap.keep") return checkCaps(key, value);
  if (key === "lxc.mount.auto") return checkMountAuto(value);
  if (key === "lxc.mount.entry") return checkMountEntry(value);
  if (key === "lxc.cgroup2.devices.allow" || key === "lxc.cgroup2.devices.deny") return checkDevices(key, value);
  if (key === "lxc.idmap") return checkIdmap(value);
  return [];
}

/** Findings for a whole line (`lxc.key=value`); unparseable lines are one finding. */
export function checkRawLxcText(line: string): RawLxcFinding[] {
  const kv = splitRawLxcLine(line);
  if (!kv) return [{ message: `${JSON.stringify(line)} is not an LXC config line lxc.key=value` }];
  return checkRawLxcLine(kv.key, kv.value);
}

/** Whether the stack's allowances accept a finding. */
export function allowed(finding: RawLxcFinding, allow: RawLxcAllowances = {}): boolean {
  if (finding.allowedBy === "allowRawLxc") return allow.rawLxc === true;
  if (finding.allowedBy === "allowHostPaths") return allow.hostPaths === true;
  return false;
}

/** `…; set phoenix:allowRawLxc to accept it (flagged in prod)` for findings an allowance could accept. */
export function describe(finding: RawLxcFinding): string {
  return finding.allowedBy ? `${finding.message} (a stack that needs it sets phoenix:${finding.allowedBy}: true)` : finding.message;
}
