// Every Pulumi resource name and type token Phoenix uses, in one place. The deployment model
// (./index.ts) builds its resource list with these; the components declare exactly that list; the
// policy pack, `phoenix import` and the graph read names and types from here. Light on purpose (no
// Pulumi SDK, no provider packages): the policy pack and the CLI import it.

/**
 * The component resources' type tokens (`<package>:<module>:<class>`): each names the class that
 * declares it. Stacks created before these tokens used `LEGACY_COMPONENT_TYPES`; the components
 * carry those as `aliases`, so existing state is kept.
 */
export const COMPONENT_TYPES = {
  hypervisor: "phoenix:hypervisor:Hypervisor",
  lxc: "phoenix:lxc:LxcGuest",
  vm: "phoenix:vm:VmGuest",
} as const;

/** The component type tokens of stacks made before COMPONENT_TYPES (aliases of the current ones). */
export const LEGACY_COMPONENT_TYPES = {
  hypervisor: "phoenix:hypervisor:Host",
  lxc: "phoenix:lxc:Container",
  vm: "phoenix:vm:Vm",
} as const;

/** The proxmoxve provider's resource types Phoenix declares (`<Class>.__pulumiType`; a test checks them). */
export const PROXMOX_TYPES = {
  container: "proxmoxve:index/containerLegacy:ContainerLegacy",
  vm: "proxmoxve:index/vmLegacy:VmLegacy",
  snippet: "proxmoxve:index/fileLegacy:FileLegacy",
  download: "proxmoxve:download/fileLegacy:FileLegacy",
  firewallRules: "proxmoxve:firewall/rulesLegacy:RulesLegacy",
  firewallOptions: "proxmoxve:firewall/optionsLegacy:OptionsLegacy",
  firewallAlias: "proxmoxve:firewall/aliasLegacy:AliasLegacy",
  firewallIpset: "proxmoxve:firewall/ipsetLegacy:IpsetLegacy",
  clusterFirewall: "proxmoxve:cluster/firewallLegacy:FirewallLegacy",
  pciMapping: "proxmoxve:hardware/mapping/pciLegacy:PciLegacy",
} as const;

/** The type token of a Phoenix dynamic resource of kind `kind` (providers/*: `host-zfs-pool`, `lxc-step`...). */
export function dynamicType(kind: string): string {
  return `pulumi-nodejs:dynamic/phoenix:${kind}`;
}

/** The kind of a Phoenix dynamic resource type (`pulumi-nodejs:dynamic/phoenix:host-zfs-pool` → `host-zfs-pool`), else undefined. */
export function dynamicKindOf(type: string): string | undefined {
  const prefix = "pulumi-nodejs:dynamic/phoenix:";
  return type.startsWith(prefix) ? type.slice(prefix.length) : undefined;
}

/**
 * An NFS export path as a name, one-to-one (features/hypervisor/nfs_export.sh names its file the
 * same way): `_` → `%5F`, then `/` → `_`, without the leading `/` (`/` itself is `_`).
 * `/quickOS/vm-data` → `quickOS_vm-data`; `/srv/a_b/c` → `srv_a%5Fb_c`; `/srv/a/b_c` → `srv_a_b%5Fc`.
 */
export function nfsExportSlug(exportPath: string): string {
  return exportPath.replace(/(.)\/+$/, "$1").replace(/^\//, "").replace(/_/g, "%5F").replace(/\//g, "_") || "_";
}

/**
 * The names of one Proxmox node's host resources. `node` is undefined in a single-node stack
 * (names `host`, `host-initial-setup`, ...) and the node's name in a multi-node stack (`host-pve2`,
 * `host-pve2-initial-setup`, ...). Every step's name starts with its component's name, so when a
 * single-node stack grows, Pulumi's child-alias rule carries the first node's state over
 * (`host-pve1-zfs-pool-tank` is found under its old name `host-zfs-pool-tank`).
 */
export function hostNames(node?: string) {
  const p = node === undefined ? "host" : `host-${node}`;
  return {
    component: p,
    initialSetup: `${p}-initial-setup`,
    nvidia: `${p}-nvidia`,
    pciPassthrough: `${p}-pci-passthrough`,
    adminUser: (name: string) => `${p}-admin-user-${name}`,
    zfsPool: (name: string) => `${p}-zfs-pool-${name}`,
    zfsDataset: (pool: string, name: string) => `${p}-zfs-dataset-${pool}-${name.replace(/\//g, "-")}`,
    proxmoxStorage: (id: string) => `${p}-proxmox-storage-${id}`,
    /** By path, not list position: removing one export never renames the others. */
    nfsExport: (exportPath: string) => `${p}-nfs-export-${nfsExportSlug(exportPath)}`,
    /** The name NFS exports had before they were named by path (single-node stacks only). */
    nfsExportByIndex: (n: number) => `${p}-nfs-export-${n}`,
    sambaUser: (name: string) => `${p}-samba-user-${name}`,
    sambaShare: (name: string) => `${p}-samba-share-${name}`,
  };
}

/** The cluster-wide host firewall's names (Proxmox keeps it in /etc/pve/firewall/cluster.fw). */
export const HOST_FIREWALL_NAMES = {
  alias: (name: string) => `host-firewall-alias-${name}`,
  ipset: (name: string) => `host-firewall-ipset-${name}`,
  rules: "host-firewall-rules",
  options: "host-firewall",
  /** Moves the rules cluster.fw already holds out of the way before the rules are created (phoenix:firewallTakeover). */
  takeover: "host-firewall-takeover",
  /** Removes those moved rules once the declared ones are in place (phoenix:firewallTakeover replace). */
  takeoverReplaced: "host-firewall-takeover-replaced",
};

/** A cluster PCI resource mapping's name (Proxmox keeps them in /etc/pve/mapping/pci.cfg, one per
 *  `pci_devices` name across the nodes whose host files declare it). */
export function pciMappingName(name: string): string {
  return `host-pci-mapping-${name}`;
}

/** The names of one container's resources (`ct-<ctid>...`): CTIDs are unique cluster-wide, so names never carry the node. */
export function containerNames(ctid: number) {
  const p = `ct-${ctid}`;
  return {
    component: p,
    container: p,
    subIds: `${p}-subids`,
    lxcOptions: `${p}-lxc-options`,
    feature: (name: string) => `${p}-feature-${name}`,
    app: `${p}-app`,
    health: `${p}-health`,
    lifecycleSnapshot: (snapname: string) => `${p}-snapshot-${snapname}`,
    snapshot: `${p}-snapshot`,
    firewallRules: `${p}-firewall-rules`,
    /** Removes the rules Proxmox copied from the template on clone, before the clone's own are created. */
    firewallInherited: `${p}-firewall-inherited`,
    firewall: `${p}-firewall`,
  };
}

/** The names of one VM's resources (`vm-<vmid>...`). */
export function vmNames(vmid: number) {
  const p = `vm-${vmid}`;
  return {
    component: p,
    vm: p,
    image: `${p}-image`,
    userData: `${p}-user-data`,
    cloudInit: `${p}-cloud-init`,
    snapshot: `${p}-snapshot`,
    firewallRules: `${p}-firewall-rules`,
    /** Removes the rules Proxmox copied from the template on clone, before the clone's own are created. */
    firewallInherited: `${p}-firewall-inherited`,
    firewall: `${p}-firewall`,
  };
}

/** The guest a resource name belongs to (`ct-950-app` → `{kind: "lxc", id: 950}`), else undefined. */
export function guestOfName(name: string): { kind: "lxc" | "vm"; id: number } | undefined {
  const m = /^(ct|vm)-(\d+)(?:-|$)/.exec(name);
  return m ? { kind: m[1] === "ct" ? "lxc" : "vm", id: Number(m[2]) } : undefined;
}
