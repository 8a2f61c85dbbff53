// The hypervisor setup flow's dynamic resource kinds, one per step of the host's setup
// (infra/components/hypervisor.ts), each driving an idempotent script from features/hypervisor/ over the
// one SSH transport (providers/base):
//   host-initial-setup    timezone, Proxmox apt repositories, base packages, ZFS ARC limit
//   host-nvidia-driver    the NVIDIA driver (installed only when the version differs)
//   host-pci-passthrough  IOMMU on the kernel command line and the VFIO modules (pci_devices)
//   host-admin-user       an administrator account (password hash as a secret parameter)
//   host-zfs-pool         a pool from whole disks (never destroyed while it holds data)
//   host-zfs-dataset      a dataset and its properties (drift restored; data protected)
//   host-proxmox-storage  registration of a dataset or directory as Proxmox storage (pvesm)
//   host-nfs-export       one export in a Phoenix-managed file under /etc/exports.d
//   host-samba-user       the Samba user (a host user added to Samba's password database)
//   host-samba-share      one share in the Phoenix-managed Samba include file
//   host-firewall-takeover  room for the provider's firewall rule lists where Proxmox already holds
//                         rules (a clone's copied .fw, an existing cluster.fw): firewall_takeover.sh
// The zod schemas are the first line of validation (program side, and in `check`); every script
// validates its parameters again before any value reaches a command.
import { z } from "zod";
import type { HostScriptKind } from "../base/index";
import { ABSOLUTE_PATH, ZFS_COMPRESSION, NFS_CLIENT, NODE_NAME, NFS_OPTION, RAID_LEVELS, SSH_PUBLIC_KEY, STORAGE_ID, SYSTEM_ACCOUNT, TIMEZONE, USERNAME, ZFS_DATASET, ZFS_POOL } from "../../infra/config/patterns";

const name = (what: string, re: RegExp) => z.string().regex(re, what);
/** A patterns.ts pattern without its anchors, to build lists and optional values from. */
const inner = (re: RegExp) => re.source.slice(1, -1);
/** The pattern, or empty. */
const orEmpty = (re: RegExp) => new RegExp(`^(?:${inner(re)})?$`);
/** Values of the pattern joined by `sep`, at least one. */
const joined = (re: RegExp, sep: string) => new RegExp(`^${inner(re)}(?:${sep}${inner(re)})*$`);
const flag = z.enum(["0", "1"]);
const absPath = name("an absolute path (letters, digits, _ . @ + , = / -; no . or .. parts)", ABSOLUTE_PATH);
const poolName = name("a ZFS pool name", ZFS_POOL);
const datasetName = name("a ZFS dataset name", ZFS_DATASET);
/** Lines, none empty, each matching `line`. */
const lines = (what: string, line: string) => z.string().regex(new RegExp(`^(${line})(\\n(${line}))*$`), what);
const optionalLines = (what: string, line: string) => z.string().regex(new RegExp(`^((${line})(\\n(${line}))*)?$`), what);

export const initialSetupKind: HostScriptKind = {
  kind: "host-initial-setup",
  params: z.object({
    timezone: name("an IANA timezone such as America/New_York, or empty", orEmpty(TIMEZONE)),
    packages: name("space-separated Debian package names", /^([a-z0-9][a-z0-9.+-]+( [a-z0-9][a-z0-9.+-]+)*)?$/),
    arc_max_gb: name("whole GiB", /^([0-9]{1,5})?$/),
    subscription: flag,
    codename: name("a Debian codename", /^([a-z]+)?$/),
  }),
  // apt and dpkg take their own lock; this keeps Phoenix's apt users (and their errors) in turn.
  lock: "apt",
  timeoutMs: 30 * 60_000,
};

export const nvidiaDriverKind: HostScriptKind = {
  kind: "host-nvidia-driver",
  params: z.object({
    version: name("a driver version such as 580.76.05", /^[0-9]+(\.[0-9]+){1,3}$/),
    runfile_url: name("an https://, http:// or file:// URL", /^(https?|file):\/\/[A-Za-z0-9._~:/?#@!&+,;=%-]+$/),
    runfile_sha256: name("a sha256 (64 hex digits) or empty", /^([0-9a-f]{64})?$/),
    headers_package: name("a Debian package name or empty", /^([a-z0-9][a-z0-9.+-]+)?$/),
  }),
  lock: "apt",
  // Download plus DKMS build.
  timeoutMs: 60 * 60_000,
};

/**
 * What the user must hear after the driver step when the host needs a reboot (the script's
 * `rebootRequired` and `rebootReason`), or undefined when it does not: why, what works until
 * then, and what to do. A stock host with nouveau gets here on its first `pulumi up`.
 */
export function nvidiaRebootNotice(observed: unknown): string | undefined {
  const o = (observed ?? {}) as Record<string, unknown>;
  if (o.rebootRequired !== true) return undefined;
  const reason = typeof o.rebootReason === "string" && o.rebootReason ? o.rebootReason : "the NVIDIA module on disk is not the one loaded";
  const version = typeof o.version === "string" && o.version ? ` ${o.version}` : "";
  return (
    `REBOOT REQUIRED: the NVIDIA driver${version} is installed, but ${reason}. ` +
    "Until the host reboots, everything without a GPU works (storage, shares, containers and VMs without GPUs); " +
    "GPU containers cannot get their devices and their lxc-options step fails saying so. " +
    "Reboot the host when its guests allow (`reboot`), then run `pulumi up` again."
  );
}

export const pciPassthroughKind: HostScriptKind = {
  kind: "host-pci-passthrough",
  params: z.object({}),
  // It rebuilds the initramfs, as the driver step does.
  lock: "apt",
  timeoutMs: 15 * 60_000,
};

/**
 * What the user must hear after the PCI passthrough step when the running kernel lacks the IOMMU
 * (the script's `rebootRequired` and `rebootReason`), or undefined when it has it.
 */
export function pciRebootNotice(observed: unknown): string | undefined {
  const o = (observed ?? {}) as Record<string, unknown>;
  if (o.rebootRequired !== true) return undefined;
  const reason = typeof o.rebootReason === "string" && o.rebootReason ? o.rebootReason : "the IOMMU is not active";
  return (
    `REBOOT REQUIRED for PCI passthrough: ${reason}. ` +
    "Until the host reboots, everything else works; VMs with pci_devices fail to start (Proxmox: \"cannot prepare PCI pass-through, IOMMU not present\"). " +
    "Reboot the host when its guests allow (`reboot`), then run `pulumi up` again."
  );
}

export const adminUserKind: HostScriptKind = {
  kind: "host-admin-user",
  params: z.object({
    username: name("a user name (lower case, digits, _ and -)", USERNAME).refine((u) => !SYSTEM_ACCOUNT.test(u), "a system account cannot be managed as an admin user"),
    sudo: flag,
    ssh_public_keys: optionalLines("OpenSSH public keys, one per line", inner(SSH_PUBLIC_KEY)),
    shell: absPath,
  }),
  // The password hash travels in secretParams (password_hash), never in params.
  replaceOn: ["username"],
  lock: "users",
};

/** firewall_takeover.sh: room for the provider's rule lists where Proxmox already holds rules. */
export const firewallTakeoverKind: HostScriptKind = {
  kind: "host-firewall-takeover",
  params: z.object({
    target: name("cluster or a VMID", /^(cluster|[1-9][0-9]{2,8})$/),
    template: name("a VMID or empty", /^([1-9][0-9]{2,8})?$/),
    phase: name("park, unpark or empty", /^(park|unpark)?$/),
  }),
  lock: "firewall",
};

export const zfsPoolKind: HostScriptKind = {
  kind: "host-zfs-pool",
  params: z.object({
    name: poolName,
    raid_level: z.enum(RAID_LEVELS),
    disks: lines("disk paths, one per line", "/[A-Za-z0-9_./:+-]+"),
    mountpoint: name("an absolute path or empty", orEmpty(ABSOLUTE_PATH)),
    // Creation options; empty or absent: not set by Phoenix (the pool keeps ZFS's default).
    ashift: name("9-16 or empty", /^((9|1[0-6]))?$/).optional(),
    autotrim: z.enum(["on", "off", ""]).optional(),
    compression: name("a ZFS compression or empty", orEmpty(ZFS_COMPRESSION)).optional(),
    atime: z.enum(["on", "off", ""]).optional(),
    // The options held on a pool that already exists (the file sets them); the others apply at creation only.
    enforce: name("space-separated option names", /^((ashift|autotrim|compression|atime)( (ashift|autotrim|compression|atime))*)?$/).optional(),
  }),
  // A pool cannot be reshaped: another layout is another pool (and destroying this one is
  // refused while it holds data, on top of Pulumi's protect).
  replaceOn: ["name", "raid_level", "disks"],
  timeoutMs: 15 * 60_000,
};

export const zfsDatasetKind: HostScriptKind = {
  kind: "host-zfs-dataset",
  params: z.object({
    pool: poolName,
    name: datasetName,
    properties: optionalLines("ZFS properties, one key=value per line", "[a-z][a-z0-9_:.]*=[A-Za-z0-9_./:@+-]+"),
  }),
  replaceOn: ["pool", "name"],
  timeoutMs: 10 * 60_000,
};

export const proxmoxStorageKind: HostScriptKind = {
  kind: "host-proxmox-storage",
  params: z
    .object({
      id: name("a Proxmox storage id", STORAGE_ID),
      type: z.enum(["zfspool", "dir"]),
      content: name("comma-separated content types", /^(images|rootdir|vztmpl|iso|backup|snippets|import)(,(images|rootdir|vztmpl|iso|backup|snippets|import))*$/),
      target: z.string().min(1),
      /** A cluster's registration: the nodes it is restricted to (storage.cfg `nodes`); absent: every node. */
      nodes: name("comma-separated Proxmox node names", new RegExp(`^${NODE_NAME.source.slice(1, -1)}(,${NODE_NAME.source.slice(1, -1)})*$`)).optional(),
    })
    .superRefine((p, ctx) => {
      const [pool, ...dataset] = p.target.split("/");
      const ok = p.type === "dir" ? ABSOLUTE_PATH.test(p.target) : ZFS_POOL.test(pool) && (dataset.length === 0 || ZFS_DATASET.test(dataset.join("/")));
      if (!ok) ctx.addIssue({ code: "custom", path: ["target"], message: p.type === "dir" ? "an absolute path" : "a ZFS dataset pool/name" });
      if (p.type === "zfspool" && p.content.split(",").some((c) => c !== "images" && c !== "rootdir")) {
        ctx.addIssue({ code: "custom", path: ["content"], message: "a zfspool storage holds only images and rootdir" });
      }
    }),
  replaceOn: ["id", "type", "target"],
  // storage.cfg is one file: registrations go one at a time (pvesm locks too).
  lock: "pve-storage",
};

export const nfsExportKind: HostScriptKind = {
  kind: "host-nfs-export",
  params: z.object({
    path: absPath,
    clients: name("space-separated clients (IPs, CIDRs, host names, *)", joined(NFS_CLIENT, " ")),
    options: name("comma-separated export options", orEmpty(joined(NFS_OPTION, ","))),
    /** "1": the stack sets phoenix:allowHostPaths, so the script exports system paths too (absent: it refuses them). */
    allow_host_paths: z.literal("1").optional(),
  }),
  replaceOn: ["path"],
  // exportfs -ra applies the whole table: one export change at a time.
  lock: "nfs",
};

export const sambaShareKind: HostScriptKind = {
  kind: "host-samba-share",
  params: z.object({
    name: name("a share name", /^[A-Za-z0-9][A-Za-z0-9_.-]{0,79}$/).refine(
      (n) => !["global", "homes", "printers", "print$"].includes(n.toLowerCase()),
      "a reserved Samba section name",
    ),
    path: absPath,
    options: optionalLines("Samba options, one key=value per line", "[a-z][a-z0-9 _:]*[a-z0-9] *= *[^\\n\\[\\]=\\\\]*"),
    valid_users: name("space-separated user names", /^([@+&]?[A-Za-z0-9_][A-Za-z0-9_.-]*\$?( [@+&]?[A-Za-z0-9_][A-Za-z0-9_.-]*\$?)*)?$/),
    /** "1": the stack sets phoenix:allowHostPaths, so the script shares system paths too (absent: it refuses them). */
    allow_host_paths: z.literal("1").optional(),
  }),
  replaceOn: ["name"],
  // One managed include file for every share.
  lock: "samba",
};

export const sambaUserKind: HostScriptKind = {
  kind: "host-samba-user",
  params: z.object({
    username: name("a user name (lower case, digits, _ and -)", USERNAME).refine((u) => !SYSTEM_ACCOUNT.test(u), "a system account cannot be the Samba user"),
  }),
  // The password travels in secretParams (password), never in params.
  replaceOn: ["username"],
  lock: "samba",
};

export const hypervisorProviderKinds: HostScriptKind[] = [
  initialSetupKind,
  nvidiaDriverKind,
  pciPassthroughKind,
  adminUserKind,
  zfsPoolKind,
  zfsDatasetKind,
  proxmoxStorageKind,
  nfsExportKind,
  sambaUserKind,
  sambaShareKind,
];
