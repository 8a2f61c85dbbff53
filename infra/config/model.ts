// The one typed, normalised picture of a Phoenix installation, built from the three JSON files
// by infra/config/load.ts. Pure data: no Pulumi, no SSH. Every quirk of the original files
// (string-or-array, host paths for OS templates, "key=value" strings, vm_defaults fallbacks) is
// resolved before a value lands here, so consumers never look at raw JSON again.
import type { GuestFirewall, HostFirewall } from "./firewall";

/** Where a value came from, for messages: `<file>: <json path>`. */
export interface Origin {
  /** File name as given by the user, e.g. `phoenix_lxc_configs.json`. */
  file: string;
  /** JSON path, e.g. `$.lxc_configs["950"].features[2]`. */
  path: string;
}

export interface PhoenixModel {
  /** Absolute paths of the three files that were read. */
  files: { hypervisor: string; lxc: string; vm: string };
  /** The primary node's host (`nodes[0].host`). */
  host: HostModel;
  /** The stack's Proxmox nodes, the primary node first (load option `nodes`; without it one node,
   *  `defaultNode` or `pve`, with `host`). */
  nodes: NodeModel[];
  /** Every container and container template, sorted by CTID. */
  containers: ContainerModel[];
  /** Every VM and VM template, sorted by VMID. */
  vms: VmModel[];
  /** Non-fatal findings (unknown keys skipped, non-volume entries in shared_volumes, ...). */
  warnings: string[];
}

/** One Proxmox node of the stack and its host configuration. */
export interface NodeModel {
  /** Proxmox node name. */
  name: string;
  /** From `<config dir>/nodes/<name>/phoenix_hypervisor_config.json` when that file exists, else
   *  the stack's own `phoenix_hypervisor_config.json`. */
  host: HostModel;
  /** Absolute path of the host file this node's `host` was read from. */
  files: { hypervisor: string };
}

export interface AdminUser {
  username: string;
  /** crypt(3) hash; null when the file says `NOT_SET` or omits it. A secret downstream. */
  passwordHash: string | null;
  sudo: boolean;
  sshPublicKeys: string[];
}

export type RaidLevel = "single" | "mirror" | "raidz1" | "raidz2" | "raidz3";

export interface ZfsPool {
  name: string;
  raidLevel: RaidLevel;
  disks: string[];
  /** Sector size exponent, fixed when the pool is created (`zpool create -o ashift=`); default 12. */
  ashift: number;
  /** Pool property `autotrim`; default on. */
  autotrim: "on" | "off";
  /** `compression` of the pool's root dataset (inherited by its datasets); default lz4. */
  compression: string;
  /** `atime` of the pool's root dataset; default off. */
  atime: "on" | "off";
  /**
   * The options the file sets itself. Defaults apply when Phoenix creates the pool; on a pool that
   * already exists only these are held (an adopted pool's own settings are the operator's).
   */
  declared: Array<"ashift" | "autotrim" | "compression" | "atime">;
}

export interface ZfsDataset {
  /** Name inside the pool, e.g. `shared-prod-data`. */
  name: string;
  pool: string;
  /** `pool/name`. */
  fullName: string;
  /** From the comma-separated `properties` string: `{recordsize: "16K", compression: "lz4"}`. */
  properties: Record<string, string>;
  /** Where the dataset is mounted on the host: its `mountpoint` property, else ZFS's default `/<pool>/<name>`. */
  mountPoint: string;
  /** Set when the dataset is registered as Proxmox storage. */
  storage?: ProxmoxStorage;
}

export interface ProxmoxStorage {
  /** The Proxmox storage id, what `storage_pool` values refer to: `<pool>-<name>` (e.g. `quickOS-lxc-disks`),
   *  or `proxmox_storage_ids["<pool>_<name with - as _>"]` when that alias is set (the original's rule). */
  id: string;
  type: "zfspool" | "dir";
  /** Content types, e.g. ["images", "rootdir"]. */
  content: string[];
  /** zfspool: `pool/name`; dir: the mount path on the host (the dataset's mountPoint). */
  target: string;
}

export interface NfsExport {
  path: string;
  clients: string[];
  options: string[];
}

export interface SambaShare {
  name: string;
  /** Absolute host path the share serves. */
  path: string;
  /** From the space-separated `options` string: `{browseable: "yes", writable: "yes"}`. */
  options: Record<string, string>;
  validUsers: string[];
}

export interface NvidiaDriver {
  version: string;
  runfileUrl: string;
  /** Optional `sha256` of the runfile (Phoenix extension `runfile_sha256`). */
  runfileSha256?: string;
  cudaVersion?: string;
  installVllmLibs: boolean;
}

/**
 * A host PCI device Phoenix declares as a Proxmox PCI resource mapping (host file `pci_devices`),
 * for VMs to get through `hostpci` (qemu-server binds its IOMMU group to vfio-pci at VM start).
 */
export interface PciDevice {
  /** The mapping's name (the `pci_devices` key), what VMs' `pci_devices` name. */
  name: string;
  /** PCI address, domain included (`0000:01:00.0`; `0000:01:00` is every function of the card). */
  path: string;
  /** vendor:device id, lower case (`10de:2204`). */
  id: string;
  subsystemId?: string;
  iommuGroup?: number;
  /** The card's GPU index on the host while the host's driver holds it (what containers'
   *  `gpu_assignment` counts); set for an NVIDIA card so validate can tell it from containers' GPUs. */
  gpuIndex?: number;
}

export interface SharedVolume {
  name: string;
  hostPath: string;
  mounts: { ctid: number; containerPath: string }[];
}

export interface HostModel {
  timezone?: string;
  users: AdminUser[];
  network: {
    interfaceName: string;
    /** CIDR, e.g. `10.0.0.13/24`. */
    address?: string;
    gateway?: string;
    dnsNameservers: string[];
    defaultSubnet?: string;
    nfsServer?: string;
  };
  nfsExports: NfsExport[];
  /** `user` defaults to the first admin user when the file's `samba` block has none. */
  samba?: { user: string; shares: SambaShare[] };
  /** `domain_name`: VMs' DNS search domain. */
  domainName?: string;
  zfs: { arcMaxGb?: number; pools: ZfsPool[]; datasets: ZfsDataset[] };
  /** Every Proxmox storage the host config registers (from datasets), by id. */
  storages: ProxmoxStorage[];
  /** `proxmox_storage_ids`: alias → storage id. */
  storageAliases: Record<string, string>;
  mountPointBase: string;
  lxcDefaults: {
    cores?: number;
    memoryMb?: number;
    network?: ContainerNetwork;
    features: string[];
    /** `key=value` items of `proxmox_defaults.lxc.features` (real files put `nesting=1` there). */
    pctOptions: Record<string, string>;
    nesting?: boolean;
  };
  /** Undefined when `nvidia_driver.install` is false or absent. */
  nvidiaDriver?: NvidiaDriver;
  sharedVolumes: SharedVolume[];
  /** `pci_devices`: PCI devices for VMs, sorted by name. */
  pciDevices: PciDevice[];
  /** The host firewall (`shared_volumes.firewall` or top-level `firewall`; see ./firewall.ts). */
  firewall?: HostFirewall;
}

export interface ContainerNetwork {
  name: string;
  bridge: string;
  /** `dhcp` or a CIDR address. */
  ip: "dhcp" | string;
  gateway?: string;
  /** `network_config.nameservers` (string or list), as `pct create --nameserver` took them; empty: the host's. */
  nameservers?: string[];
  /** `network_config.searchdomain`, else the host file's `domain_name` when nameservers are set. */
  searchDomain?: string;
}

export interface HealthCheck {
  command: string;
  retries: number;
  intervalSeconds: number;
  /**
   * When the command's first word names a `.sh` file (the Bash tool's
   * `/usr/local/phoenix_hypervisor/bin/health_checks/<name>.sh`): the script, taken from the
   * stack folder's `health_checks/<name>`, pushed into the container and run there with `args`.
   */
  script?: { name: string; args: string[] };
}

/** One `lxc.idmap` line: `u|g <container id> <host id> <count>`. */
export interface IdMapEntry {
  type: "uid" | "gid";
  containerId: number;
  hostId: number;
  size: number;
}

export interface ContainerModel {
  ctid: number;
  name: string;
  /** Proxmox node: the container's own `node` (Phoenix extension), else the stack's primary node. */
  node: string;
  /** Root templates: the OS template as a Proxmox volume id `<storage>:vztmpl/<file>`. */
  osTemplate?: string;
  /** Parent template CTID this container is cloned from. */
  cloneFrom?: number;
  /** Set on templates: the snapshot taken after provisioning. */
  templateSnapshotName?: string;
  memoryMb: number;
  swapMb: number;
  cores: number;
  storagePool: string;
  storageSizeGb: number;
  network: ContainerNetwork;
  macAddress?: string;
  unprivileged: boolean;
  /** GPU indexes from `gpu_assignment` ("0, 1" → [0, 1]; "none" → []). */
  gpus: number[];
  features: string[];
  applicationScript?: string;
  healthCheck?: HealthCheck;
  /** `tests.health_checks` entries. */
  extraHealthChecks: { name: string; type: string; path: string }[];
  /** `pct_options` as container features: `nesting=1` → `{nesting: "1"}`. */
  pctOptions: Record<string, string>;
  /** Raw LXC config lines, in order. */
  lxcOptions: { key: string; value: string }[];
  /**
   * `apparmor_profile` other than `unconfined`: the `lxc.apparmor.profile` line. A profile that is
   * not one of LXC's own (`lxc-container-default*`, see isBuiltinAppArmorProfile) is the stack
   * folder's `apparmor/<name>`, installed and loaded on the host. `unconfined` is no line at all:
   * the Bash tool's apply_apparmor_profile removed the profile line for it, leaving Proxmox's
   * generated profile in force (a raw `lxc.apparmor.profile` line in lxc_options still applies).
   */
  apparmorProfile?: string;
  /** `apparmor_manages_nesting` with a custom profile: `lxc.apparmor.allow_nesting` and LXC's nesting.conf. */
  apparmorNesting: boolean;
  startAtBoot: boolean;
  bootOrder?: number;
  bootDelay?: number;
  /** IDs (LXC or VM) that must be provisioned first. */
  dependencies: number[];
  /** Bind mounts from host `shared_volumes` and the container's `mount_points`. */
  bindMounts: { hostPath: string; containerPath: string; ownerUid?: number; ownerGid?: number }[];
  /** `volumes` and `zfs_volumes`: mount points allocated on a storage. */
  volumes: { name: string; storage: string; sizeGb: number; mountPoint: string }[];
  /** The complete id map Proxmox writes as `lxc.idmap` lines: the file's partial entries with the
   *  default unprivileged range (container 0.. → host 100000..) around them (see normalise.ts,
   *  `completeIdMap`); empty when the file gives none. */
  idMaps: IdMapEntry[];
  /** Host ids the map hands to the container beyond root's default range: `root:<id>:<count>` lines
   *  /etc/subuid and /etc/subgid must hold (the well-known idmap recipe). */
  subIds: { type: "uid" | "gid"; hostId: number; size: number }[];
  /** `enable_lifecycle_snapshots`: the `pre-configured` snapshot before features, `final-form` after. */
  lifecycleSnapshots: boolean;
  /** Feature and application parameters (`vllm_*`, `ollama_*`, `portainer_role`, `<feature>_*`), as given;
   *  parameters are data: any string but NUL (quoted or base64-encoded on the way to scripts); keys ending in
   *  `_password`, `_token`, `_secret` or `_key` travel as Pulumi secrets (providers/lxc SECRET_ENV). */
  params: Record<string, unknown>;
  /** The container's `firewall` block (or its template's, which Proxmox copies on clone). */
  firewall?: GuestFirewall;
  /** The container's JSON object exactly as read, for tools that need the original. */
  raw: Record<string, unknown>;
}

export interface VmModel {
  vmid: number;
  name: string;
  /** Proxmox node: the VM's own `node` (Phoenix extension), else the stack's primary node. */
  node: string;
  isTemplate: boolean;
  /** Template VMs: the cloud image file name. */
  templateImage?: string;
  cloneFrom?: number;
  templateSnapshotName?: string;
  cores: number;
  memoryMb: number;
  diskSizeGb: number;
  storagePool: string;
  networkBridge: string;
  macAddress?: string;
  /** `searchDomain`: the host file's `domain_name` (the Bash tool's VM DNS search domain). */
  network: { ip: "dhcp" | string; gateway?: string; nameservers: string[]; searchDomain?: string };
  user?: { username: string; passwordHash?: string; sshPublicKey?: string };
  features: string[];
  startAtBoot: boolean;
  bootOrder?: number;
  bootDelay?: number;
  dependencies: number[];
  volumes: { name: string; storage: string; sizeGb: number; mountPoint?: string }[];
  /** `volumes` entries of `type: "nfs"`: NFS exports mounted inside the VM. */
  nfsMounts: { name: string; server: string; path: string; mountPoint: string }[];
  /** `pci_devices`: names of its node's PCI devices passed through to the VM (`hostpci0`, `hostpci1`... in order). */
  pciDevices: string[];
  /** `pcie`: the devices attach as PCIe, on the q35 machine type. */
  pcie: boolean;
  /** Feature parameters (`docker_*`, `portainer_*`, ...), as given; every string in them is checked plain text. */
  params: Record<string, unknown>;
  /** The VM's `firewall` block (or its template's, which Proxmox copies on clone). */
  firewall?: GuestFirewall;
  raw: Record<string, unknown>;
}

/** LXC's own AppArmor profiles (lxc-pve ships them; Proxmox generates `lxc-container-default-cgns`): no file to install. */
export function isBuiltinAppArmorProfile(name: string): boolean {
  return name === "unconfined" || /^lxc-container-default(?:-[A-Za-z0-9_.-]+)?$/.test(name);
}
