// The deployment model: the one function that turns the configuration model into the list of
// resources the Pulumi program declares (name, type, parent, dependencies), per Proxmox node.
// The components (infra/components) declare exactly this list: each looks its resources up here
// for their names and dependencies (a resource the list does not hold cannot be declared, see
// ./registry.ts). `phoenix graph`, `phoenix import`, the docs' diagram and the policy pack's name
// lookups read the same list or its names (./names.ts); a test asserts graph = plan.
import type { ContainerModel, HostModel, PhoenixModel, VmModel } from "../config/model";
import {
  COMPONENT_TYPES,
  HOST_FIREWALL_NAMES,
  LEGACY_COMPONENT_TYPES,
  PROXMOX_TYPES,
  containerNames,
  dynamicType,
  hostNames,
  pciMappingName,
  vmNames,
} from "./names";

export * from "./names";

/**
 * Why a resource waits for another:
 * - `setup`: the host setup flow's order (a stage after the one before it);
 * - `storage`, `gpu`: a guest after the storage registration it uses / its node's NVIDIA driver;
 * - `clone`: a clone after its parent template is done; `dependency`: a guest after a guest it
 *   lists in `dependencies`;
 * - `clone-order`: siblings cloned from one LXC parent, one after the other. Proxmox locks the
 *   source container for the whole full clone (pve-container's clone_vm holds its config lock), so
 *   a second clone of the same parent at the same time fails with "CT is locked";
 * - `step`: a guest's steps in order (each after the one before it, all after the guest itself);
 * - `input`: one resource's input is another's output (a VM's disk from its downloaded image);
 * - `firewall`: firewall resources after their guest and the host's aliases and IP sets.
 */
export type DependencyKind = "setup" | "storage" | "gpu" | "pci" | "clone" | "dependency" | "clone-order" | "step" | "input" | "firewall";

/** What a resource is, for drawing and counting. */
export type ResourceKind = "component" | "host" | "host-firewall" | "lxc" | "lxc-step" | "lxc-snapshot" | "vm" | "vm-step" | "vm-snapshot" | "firewall";

export interface Dependency {
  /** The prerequisite's resource name. */
  name: string;
  kind: DependencyKind;
}

export interface DeploymentResource {
  /** Pulumi logical name (`host-zfs-pool-quickOS`, `ct-950`, `ct-950-feature-vllm`, `vm-8001-cloud-init`). */
  name: string;
  /** Pulumi type token (COMPONENT_TYPES, PROXMOX_TYPES or a Phoenix dynamic type). */
  type: string;
  /** The parent component's name; null for components (children of the stack). */
  parent: string | null;
  /** Every resource it waits for (explicitly or through an input), each once. */
  dependsOn: Dependency[];
  kind: ResourceKind;
  /** One line for people: `ZFS pool quickOS, mirror`, `950: vllm-qwen2.5-7b-awq`, `feature vllm`. */
  label: string;
  /** The Proxmox node it acts on (the cluster-wide host firewall: the primary node). */
  node: string;
  /** A cluster storage registration: the nodes it is restricted to (storage.cfg `nodes`), in node order. */
  nodes?: string[];
  /** The CTID or VMID of the guest it belongs to. */
  guestId?: number;
  /** Guests that are templates (what others clone from). */
  template?: boolean;
  /** Earlier names, type tokens and parents this resource's state is kept under (Pulumi `aliases`). */
  aliases?: DeploymentAlias[];
}

/**
 * An earlier identity of a resource: its `name` and/or `type`, and for a child its earlier
 * `parent` (a top-level component, by type token and name). Absent fields are the current ones.
 */
export interface DeploymentAlias {
  name?: string;
  type?: string;
  parent?: { type: string; name: string };
}

export interface Deployment {
  /** The stack's Proxmox nodes, primary first. */
  nodes: string[];
  /** More than one node: host resource names carry the node (names.ts hostNames). */
  multiNode: boolean;
  /** Every resource, in an order the program can declare them in (each after what it depends on). */
  resources: DeploymentResource[];
  /**
   * The resource named `name` (a component when `component` is true: a guest's component shares
   * its name with the guest's ContainerLegacy/VmLegacy). Throws when the deployment has none.
   */
  get(name: string, component?: boolean): DeploymentResource;
  has(name: string, component?: boolean): boolean;
  /** Guests in declaration order: clone parents and dependencies first, then by ID. */
  guestOrder: { kind: "lxc" | "vm"; id: number }[];
}

/** The options a deployment needs besides the model. */
/** The type of the firewall takeover steps (providers/hypervisor firewallTakeoverKind). */
const FIREWALL_TAKEOVER_TYPE = dynamicType("host-firewall-takeover");

export interface DeploymentOptions {
  /** The primary node (the stack's `phoenix:node`) when the model names no nodes of its own. Default `pve`. */
  node?: string;
  /** `phoenix:firewallTakeover`: take over the rules cluster.fw already holds (`replace` or `keep`). */
  firewallTakeover?: "replace" | "keep";
}

/** A node of the stack and its host model. */
export interface DeploymentNode {
  name: string;
  host: HostModel;
}

/**
 * The stack's nodes, primary first: the model's `nodes` (infra/config/load.ts fills them from the
 * stack's `phoenix:nodes`, else one node named `phoenix:node`); a hand-made model without any
 * gets one node `opts.node` (default `pve`) holding `model.host`.
 */
export function deploymentNodes(model: PhoenixModel, opts: DeploymentOptions = {}): DeploymentNode[] {
  return model.nodes && model.nodes.length > 0 ? model.nodes : [{ name: opts.node ?? "pve", host: model.host }];
}

/** The node a guest lives on: its own `node`, else the primary node. */
export function guestNode(guest: ContainerModel | VmModel, nodes: DeploymentNode[]): string {
  return guest.node ?? nodes[0].name;
}

/** The host model of node `name` (the primary node's for an unknown name: validate refuses those). */
export function hostOf(nodes: DeploymentNode[], name: string): HostModel {
  return (nodes.find((n) => n.name === name) ?? nodes[0]).host;
}

const isLxcTemplate = (c: ContainerModel) => c.templateSnapshotName !== undefined;
const isVmTemplate = (v: VmModel) => v.isTemplate || v.templateSnapshotName !== undefined;

/** Where a root VM template's cloud image goes: a storage with `import` content (disk imported with
 *  `importFrom`), else one with `iso` content (disk imported from the file with `fileId`), else Proxmox's `local`. */
export function imageStorage(host: HostModel): { id: string; contentType: "import" | "iso" } {
  const importing = host.storages.find((s) => s.content.includes("import"));
  if (importing) return { id: importing.id, contentType: "import" };
  const iso = host.storages.find((s) => s.content.includes("iso"));
  return { id: iso?.id ?? "local", contentType: "iso" };
}

/** Where user-data snippets go: a storage with `snippets` content, else `local` (which must then
 *  have `snippets` enabled: `pvesm set local --content iso,vztmpl,backup,snippets`). */
export function snippetsStorage(host: HostModel): string {
  return host.storages.find((s) => s.content.includes("snippets"))?.id ?? "local";
}

/** Every Proxmox storage a VM uses on its node (disk, volumes, image or snippets): what it must wait for. */
export function vmStorageIds(vm: VmModel, host: HostModel): string[] {
  const ids = [vm.storagePool, ...vm.volumes.map((v) => v.storage)];
  if (vm.cloneFrom === undefined) ids.push(imageStorage(host).id);
  if (!vm.isTemplate) ids.push(snippetsStorage(host));
  return [...new Set(ids)];
}

/**
 * The features a container runs, in order. A GPU container (gpu_assignment) runs the `nvidia`
 * step even when only its template lists it: the step's parameters carry the host driver
 * version, so changing the host driver re-installs the user space in every GPU container,
 * templates and their clones alike (a clone's copy of its template's driver would be stale).
 */
export function gpuFeatures(c: ContainerModel): string[] {
  if (c.gpus.length === 0 || c.features.includes("nvidia")) return c.features;
  return ["nvidia", ...c.features];
}

/** The `tests.health_checks` entries that run (only `script` checks do; others get a warning). */
export function runnableChecks(c: ContainerModel): ContainerModel["extraHealthChecks"] {
  return c.extraHealthChecks.filter((check) => check.type === "script");
}

/** A Kahn topological order over guests (parents and dependencies first; ties by ID). */
function orderGuests(model: PhoenixModel): { kind: "lxc" | "vm"; id: number }[] {
  const kindOf = new Map<number, "lxc" | "vm">();
  const prereqs = new Map<number, number[]>();
  for (const c of model.containers) {
    kindOf.set(c.ctid, "lxc");
    prereqs.set(c.ctid, [...(c.cloneFrom !== undefined ? [c.cloneFrom] : []), ...c.dependencies]);
  }
  for (const v of model.vms) {
    if (kindOf.has(v.vmid)) continue;
    kindOf.set(v.vmid, "vm");
    prereqs.set(v.vmid, [...(v.cloneFrom !== undefined ? [v.cloneFrom] : []), ...v.dependencies]);
  }
  const indegree = new Map<number, number>();
  const next = new Map<number, number[]>();
  for (const [id, ps] of prereqs) {
    const known = [...new Set(ps)].filter((p) => kindOf.has(p) && p !== id);
    indegree.set(id, known.length);
    for (const p of known) next.set(p, [...(next.get(p) ?? []), id]);
  }
  const ready = new MinHeap<number>((a, b) => a - b);
  for (const [id, d] of indegree) if (d === 0) ready.push(id);
  const out: { kind: "lxc" | "vm"; id: number }[] = [];
  while (ready.size > 0) {
    const id = ready.pop()!;
    out.push({ kind: kindOf.get(id)!, id });
    for (const to of next.get(id) ?? []) {
      const d = indegree.get(to)! - 1;
      indegree.set(to, d);
      if (d === 0) ready.push(to);
    }
  }
  if (out.length !== kindOf.size) {
    const done = new Set(out.map((g) => g.id));
    const stuck = [...kindOf.keys()].filter((id) => !done.has(id)).sort((a, b) => a - b);
    throw new Error(`the guests' clone and dependency graph has a cycle through ${stuck.join(", ")}`);
  }
  return out;
}

/**
 * The sibling each LXC clone waits for before it is cloned (`clone-order`): CTID → CTID. Siblings
 * of one parent go one after the other in declaration order; clones without an earlier sibling
 * are absent. Unrelated guests stay parallel.
 */
export function cloneAfter(model: PhoenixModel): Map<number, number> {
  const out = new Map<number, number>();
  const lastClone = new Map<number, number>();
  const byId = new Map(model.containers.map((c) => [c.ctid, c]));
  for (const g of orderGuests(model)) {
    const c = g.kind === "lxc" ? byId.get(g.id) : undefined;
    if (c?.cloneFrom === undefined) continue;
    const previous = lastClone.get(c.cloneFrom);
    if (previous !== undefined) out.set(c.ctid, previous);
    lastClone.set(c.cloneFrom, c.ctid);
  }
  return out;
}

/**
 * The deployment of `model`: every resource the program declares, per node.
 *
 * @param model the loaded configuration (infra/config/load.ts)
 * @param opts `node`: the primary node when the model holds no node list (default `pve`)
 * @returns the resources in declaration order, with lookups; throws on a clone/dependency cycle
 *   (the config loader refuses those first)
 */
export function deploymentOf(model: PhoenixModel, opts: DeploymentOptions = {}): Deployment {
  const nodes = deploymentNodes(model, opts);
  const multiNode = nodes.length > 1;
  const resources: DeploymentResource[] = [];
  const byName = new Map<string, DeploymentResource>();
  const key = (name: string, component: boolean) => `${component ? "component" : "resource"}\u0000${name}`;
  const add = (r: Omit<DeploymentResource, "dependsOn"> & { dependsOn?: Dependency[] }): DeploymentResource => {
    const k = key(r.name, r.kind === "component");
    if (byName.has(k)) throw new Error(`internal: two resources named ${r.name}`);
    const seen = new Set<string>();
    const dependsOn = (r.dependsOn ?? []).filter((d) => d.name !== r.name && !seen.has(d.name) && seen.add(d.name));
    const full: DeploymentResource = { ...r, dependsOn };
    resources.push(full);
    byName.set(k, full);
    return full;
  };
  const deps = (kind: DependencyKind, names: string[]): Dependency[] => names.map((name) => ({ name, kind }));

  // Per node: the host setup flow, in the Bash orchestrator's order (each stage after the one before it).
  const setupOf = new Map<string, string>();
  const nvidiaOf = new Map<string, string>();
  const pciSetupOf = new Map<string, string>();
  const storageOf = new Map<string, Map<string, string>>();
  /** Multi-node: each storage ID's registering nodes (in node order) and the datasets behind it. */
  const clusterStorages = new Map<string, { nodes: string[]; datasets: string[]; label: string }>();
  for (const [index, n] of nodes.entries()) {
    const host = n.host;
    const H = hostNames(multiNode ? n.name : undefined);
    const parent = H.component;
    // The first node of a stack that grew from one node keeps its host resources' state: each was
    // `host-<step>` under `host` (before the type tokens matched the classes: phoenix:hypervisor:Host).
    const firstNodeOfGrownStack = multiNode && index === 0;
    // And a stack that shrank back to one node keeps the state of the node it kept: each of its
    // resources was `host-<node>-<step>` under `host-<node>`.
    const asNode = hostNames(n.name).component;
    const grownAliases = (name: string): DeploymentAlias[] =>
      firstNodeOfGrownStack
        ? [COMPONENT_TYPES.hypervisor, LEGACY_COMPONENT_TYPES.hypervisor].map((type) => ({ name: hostNames().component + name.slice(parent.length), parent: { type, name: hostNames().component } }))
        : !multiNode
          ? [{ name: asNode + name.slice(parent.length), parent: { type: COMPONENT_TYPES.hypervisor, name: asNode } }]
          : [];
    const step = (name: string, kind: string, label: string, after: string[], kindOfDep: DependencyKind = "setup") =>
      add({ name, type: dynamicType(kind), parent, dependsOn: deps(kindOfDep, after), kind: "host", label, node: n.name, aliases: grownAliases(name) });
    const aliases: DeploymentAlias[] = [{ type: LEGACY_COMPONENT_TYPES.hypervisor }, ...(multiNode ? [] : [{ name: asNode }])];
    // The first node of a stack that grew from one node keeps its state: `host` → `host-<node>`.
    if (multiNode && index === 0) aliases.push({ name: hostNames().component }, { name: hostNames().component, type: LEGACY_COMPONENT_TYPES.hypervisor });
    add({ name: parent, type: COMPONENT_TYPES.hypervisor, parent: null, kind: "component", label: multiNode ? `node ${n.name}` : "host", node: n.name, aliases });

    const initial = step(H.initialSetup, "host-initial-setup", "initial setup", []).name;
    setupOf.set(n.name, initial);
    let stage = [initial];
    if (host.nvidiaDriver) {
      const nvidia = step(H.nvidia, "host-nvidia-driver", `NVIDIA driver ${host.nvidiaDriver.version}`, stage).name;
      nvidiaOf.set(n.name, nvidia);
      stage = [nvidia];
    }
    // PCI passthrough: the IOMMU and VFIO, which the node's PCI mappings wait for (not a stage:
    // nothing else on the host needs it).
    if (host.pciDevices.length > 0) pciSetupOf.set(n.name, step(H.pciPassthrough, "host-pci-passthrough", "IOMMU and VFIO for PCI passthrough", stage).name);
    const users = host.users.map((u) => step(H.adminUser(u.username), "host-admin-user", `admin user ${u.username}`, stage).name);
    if (users.length) stage = users;
    const pools = new Map(host.zfs.pools.map((p) => [p.name, step(H.zfsPool(p.name), "host-zfs-pool", `ZFS pool ${p.name}, ${p.raidLevel}`, stage).name]));
    const poolStage = pools.size ? [...pools.values()] : stage;
    const zfsStage: string[] = [];
    const storages = new Map<string, string>();
    for (const d of host.zfs.datasets) {
      const pool = pools.get(d.pool);
      const dataset = step(H.zfsDataset(d.pool, d.name), "host-zfs-dataset", `dataset ${d.fullName}`, pool ? [pool] : poolStage).name;
      if (d.storage && multiNode) {
        // storage.cfg is the cluster's: one registration per storage ID, declared after every node's datasets.
        const s = clusterStorages.get(d.storage.id) ?? { nodes: [], datasets: [], label: `storage ${d.storage.id}, ${d.storage.type}` };
        if (!s.nodes.includes(n.name)) s.nodes.push(n.name);
        s.datasets.push(dataset);
        clusterStorages.set(d.storage.id, s);
        storages.set(d.storage.id, hostNames().proxmoxStorage(d.storage.id));
        zfsStage.push(dataset);
      } else if (d.storage) {
        const registration = step(H.proxmoxStorage(d.storage.id), "host-proxmox-storage", `storage ${d.storage.id}, ${d.storage.type}`, [dataset]);
        // As a cluster's, it had the same name, under the node's component.
        registration.aliases = [{ parent: { type: COMPONENT_TYPES.hypervisor, name: asNode } }];
        storages.set(d.storage.id, registration.name);
        zfsStage.push(registration.name);
      } else {
        zfsStage.push(dataset);
      }
    }
    // Storages the host file names under other IDs (storage_pools aliases) wait for the same registration.
    for (const [alias, id] of Object.entries(host.storageAliases)) if (!storages.has(alias) && storages.has(id)) storages.set(alias, storages.get(id)!);
    storageOf.set(n.name, storages);
    if (zfsStage.length) stage = zfsStage;
    else if (pools.size) stage = poolStage;
    const exports = host.nfsExports.map((e, i) => {
      const exportPath = e.path.replace(/(.)\/+$/, "$1");
      const r = step(H.nfsExport(exportPath), "host-nfs-export", `NFS export ${exportPath}`, stage);
      if (!multiNode) r.aliases!.push({ name: H.nfsExportByIndex(i) });
      else if (firstNodeOfGrownStack) r.aliases!.push(...grownAliases(H.nfsExportByIndex(i)));
      return r.name;
    });
    if (exports.length) stage = exports;
    if (host.samba?.user) stage = [step(H.sambaUser(host.samba.user), "host-samba-user", `Samba user ${host.samba.user}`, stage).name];
    for (const s of host.samba?.shares ?? []) step(H.sambaShare(s.name), "host-samba-share", `Samba share ${s.name}`, stage);
  }

  // Multi-node: each storage ID registered once (storage.cfg is the cluster's, `nodes` restricts it
  // to the nodes whose files register it), under the first of those nodes, after their datasets.
  // Its name is the single-node one, so a stack that grew keeps it (its old parent as an alias).
  const movedFromHost: DeploymentAlias[] = multiNode
    ? [COMPONENT_TYPES.hypervisor, LEGACY_COMPONENT_TYPES.hypervisor].map((type) => ({ parent: { type, name: hostNames().component } }))
    : // A stack that shrank to one node: the cluster's resources were under that node's component.
      [{ parent: { type: COMPONENT_TYPES.hypervisor, name: hostNames(nodes[0].name).component } }];
  for (const [id, s] of clusterStorages) {
    add({
      name: hostNames().proxmoxStorage(id),
      type: dynamicType("host-proxmox-storage"),
      parent: hostNames(s.nodes[0]).component,
      dependsOn: deps("setup", s.datasets),
      kind: "host",
      label: `${s.label} (${s.nodes.join(", ")})`,
      node: s.nodes[0],
      nodes: s.nodes,
      aliases: movedFromHost,
    });
  }

  // PCI resource mappings are the cluster's (/etc/pve/mapping/pci.cfg): one per `pci_devices` name,
  // with a map for every node whose host file declares it, under the first of those nodes, after
  // their PCI passthrough step.
  const pciMappings = new Map<string, string[]>();
  for (const n of nodes) for (const d of n.host.pciDevices) pciMappings.set(d.name, [...(pciMappings.get(d.name) ?? []), n.name]);
  for (const [name, on] of [...pciMappings].sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
    add({
      name: pciMappingName(name),
      type: PROXMOX_TYPES.pciMapping,
      parent: hostNames(multiNode ? on[0] : undefined).component,
      dependsOn: deps("setup", on.map((node) => pciSetupOf.get(node)!)),
      kind: "host",
      label: `PCI mapping ${name} (${on.map((node) => `${node} ${nodes.find((x) => x.name === node)!.host.pciDevices.find((d) => d.name === name)!.path}`).join(", ")})`,
      node: on[0],
      ...(multiNode ? { nodes: on } : {}),
    });
  }

  // The host firewall is the cluster's (/etc/pve/firewall/cluster.fw): declared once, from the
  // primary node's file, under the primary node's component.
  const primary = nodes[0];
  const firewallRefs: string[] = [];
  const fw = primary.host.firewall;
  if (fw) {
    const F = HOST_FIREWALL_NAMES;
    const parent = hostNames(multiNode ? primary.name : undefined).component;
    const initial = setupOf.get(primary.name)!;
    // In a stack that grew from one node, the firewall moves from `host` to the first node's component.
    const moved = movedFromHost;
    const fwResource = (name: string, type: string, label: string, after: string[]) =>
      add({ name, type, parent, dependsOn: deps("setup", after), kind: "host-firewall", label, node: primary.name, aliases: moved });
    const aliases = fw.aliases.map((a) => fwResource(F.alias(a.name), PROXMOX_TYPES.firewallAlias, `firewall alias ${a.name} ${a.cidr}`, [initial]).name);
    const ipsets = fw.ipsets.map((set) => fwResource(F.ipset(set.name), PROXMOX_TYPES.firewallIpset, `firewall IP set ${set.name}`, [initial, ...aliases]).name);
    firewallRefs.push(...aliases, ...ipsets);
    // Rules cluster.fw already holds would make the provider refuse to create the declared ones:
    // with phoenix:firewallTakeover they move to the nodes' host.fw first (kept there, or removed
    // once the declared rules are in place).
    const mode = opts.firewallTakeover;
    const takeover = mode && fw.rules.length > 0
      ? [fwResource(F.takeover, FIREWALL_TAKEOVER_TYPE, `firewall takeover (${mode}): existing cluster rules move to each node's host.fw`, [initial, ...firewallRefs]).name]
      : [];
    const rules = fw.rules.length > 0 ? [fwResource(F.rules, PROXMOX_TYPES.firewallRules, `firewall rules (${fw.rules.length})`, [initial, ...firewallRefs, ...takeover]).name] : [];
    const replaced = mode === "replace" && takeover.length > 0
      ? [fwResource(F.takeoverReplaced, FIREWALL_TAKEOVER_TYPE, "firewall takeover (replace): the moved rules are removed", [initial, ...rules]).name]
      : [];
    const state = fw.enabled ? `on, in ${fw.inputPolicy}, out ${fw.outputPolicy}` : "off";
    fwResource(F.options, PROXMOX_TYPES.clusterFirewall, `firewall ${state}`, [initial, ...firewallRefs, ...rules, ...replaced]);
  }

  /** What a guest on `node` using these storages and GPUs waits for before it is created. */
  const hostPrereqs = (node: string, storageIds: string[], gpu: boolean): Dependency[] => {
    const initial = setupOf.get(node) ?? setupOf.get(primary.name)!;
    const registered = storageOf.get(node) ?? new Map<string, string>();
    const nvidia = nvidiaOf.get(node);
    return [
      { name: initial, kind: "setup" },
      ...storageIds.map((s) => ({ name: registered.get(s) ?? initial, kind: "storage" as const })),
      ...(gpu && nvidia ? [{ name: nvidia, kind: "gpu" as const }] : []),
    ];
  };
  /** A guest's firewall: its rules, then its options, after the guest and the host's aliases and IP sets. */
  const guestFirewall = (
    prefix: { firewallRules: string; firewallInherited: string; firewall: string; component: string },
    guestResource: string,
    f: NonNullable<ContainerModel["firewall"]>,
    node: string,
    guestId: number,
    template?: { id: number; firewall?: ContainerModel["firewall"] },
  ) => {
    const after = [{ name: guestResource, kind: "firewall" as const }, ...deps("firewall", firewallRefs)];
    // A clone of a template with rules has a copy of them (Proxmox copies <vmid>.fw on clone): they
    // go first, so the provider can create the clone's own.
    const copied = f.rules.length > 0 && template?.firewall && template.firewall.rules.length > 0
      ? [add({ name: prefix.firewallInherited, type: FIREWALL_TAKEOVER_TYPE, parent: prefix.component, dependsOn: after, kind: "firewall", label: `firewall rules copied from ${template.id} removed`, node, guestId }).name]
      : [];
    const rules = f.rules.length > 0
      ? [add({ name: prefix.firewallRules, type: PROXMOX_TYPES.firewallRules, parent: prefix.component, dependsOn: [...after, ...deps("firewall", copied)], kind: "firewall", label: `firewall rules (${f.rules.length})`, node, guestId }).name]
      : [];
    add({
      name: prefix.firewall,
      type: PROXMOX_TYPES.firewallOptions,
      parent: prefix.component,
      dependsOn: [...after, ...deps("firewall", rules)],
      kind: "firewall",
      label: `firewall ${f.enabled ? "on" : "off"}, ${f.rules.length} rule${f.rules.length === 1 ? "" : "s"}`,
      node,
      guestId,
    });
  };

  const guestOrder = orderGuests(model);
  const ready = new Map<number, string>();
  const siblings = cloneAfter(model);
  const containers = new Map(model.containers.map((c) => [c.ctid, c]));
  const vms = new Map(model.vms.map((v) => [v.vmid, v]));
  const guestDeps = (ids: number[]) => ids.filter((id) => ready.has(id)).map((id) => ({ name: ready.get(id)!, kind: "dependency" as const }));

  for (const g of guestOrder) {
    if (g.kind === "lxc") {
      const c = containers.get(g.id)!;
      const node = guestNode(c, nodes);
      const N = containerNames(c.ctid);
      const parentModel = c.cloneFrom !== undefined ? containers.get(c.cloneFrom) : undefined;
      const template = isLxcTemplate(c);
      add({ name: N.component, type: COMPONENT_TYPES.lxc, parent: null, kind: "component", label: `${c.ctid}: ${c.name}`, node, guestId: c.ctid, template, aliases: [{ type: LEGACY_COMPONENT_TYPES.lxc }] });
      const before: Dependency[] = [
        ...hostPrereqs(node, [c.storagePool, ...c.volumes.map((v) => v.storage)], c.gpus.length > 0 || c.features.includes("nvidia")),
        ...guestDeps(c.dependencies),
        ...(siblings.has(c.ctid) ? [{ name: containerNames(siblings.get(c.ctid)!).container, kind: "clone-order" as const }] : []),
      ];
      const child = (name: string, kind: string, resourceKind: ResourceKind, label: string, dependsOn: Dependency[]) =>
        add({ name, type: dynamicType(kind), parent: N.component, dependsOn, kind: resourceKind, label, node, guestId: c.ctid });
      const subIds = c.subIds.length > 0 ? [child(N.subIds, "lxc-subids", "lxc-step", "sub-ID delegation", before).name] : [];
      add({
        name: N.container,
        type: PROXMOX_TYPES.container,
        parent: N.component,
        dependsOn: [...before, ...deps("step", subIds), ...(parentModel ? [{ name: ready.get(parentModel.ctid)!, kind: "clone" as const }] : [])],
        kind: "lxc",
        label: c.name,
        node,
        guestId: c.ctid,
        template,
      });
      let last = N.container;
      const chain = (name: string, kind: string, resourceKind: ResourceKind, label: string) => {
        last = child(name, kind, resourceKind, label, deps("step", [N.container, last])).name;
      };
      // Every container has a `ct-<ctid>-lxc-options` step: besides raw LXC lines, bind mounts, GPU
      // devices and volumes, it owns the feature flags and the root disk's size after creation
      // (infra/components/lxc HOST_OWNED_CONTAINER_INPUTS): the provider reads both back from the
      // host, so neither may be left to it once Phoenix or the operator changed them as root.
      chain(N.lxcOptions, "lxc-options", "lxc-step", "LXC options");
      if (c.lifecycleSnapshots && c.templateSnapshotName !== "pre-configured") chain(N.lifecycleSnapshot("pre-configured"), "lxc-snapshot", "lxc-snapshot", "snapshot pre-configured");
      for (const f of gpuFeatures(c)) chain(N.feature(f), "lxc-step", "lxc-step", `feature ${f}`);
      if (c.applicationScript) chain(N.app, "lxc-step", "lxc-step", `application ${c.applicationScript}`);
      if (c.healthCheck || runnableChecks(c).length > 0) chain(N.health, "lxc-step", "lxc-step", "health checks");
      if (c.lifecycleSnapshots && c.templateSnapshotName !== "final-form") chain(N.lifecycleSnapshot("final-form"), "lxc-snapshot", "lxc-snapshot", "snapshot final-form");
      if (template) chain(N.snapshot, "lxc-snapshot", "lxc-snapshot", `snapshot ${c.templateSnapshotName}`);
      ready.set(c.ctid, last);
      // An inherited firewall is already there: Proxmox copies the template's .fw file on clone.
      if (c.firewall && c.firewall.inheritedFrom === undefined) guestFirewall(N, N.container, c.firewall, node, c.ctid, c.cloneFrom === undefined ? undefined : { id: c.cloneFrom, firewall: model.containers.find((t) => t.ctid === c.cloneFrom)?.firewall });
    } else {
      const v = vms.get(g.id)!;
      const node = guestNode(v, nodes);
      const host = hostOf(nodes, node);
      const N = vmNames(v.vmid);
      const template = isVmTemplate(v);
      add({ name: N.component, type: COMPONENT_TYPES.vm, parent: null, kind: "component", label: `${v.vmid}: ${v.name}`, node, guestId: v.vmid, template, aliases: [{ type: LEGACY_COMPONENT_TYPES.vm }] });
      // Its PCI devices' mappings (validate refuses names its node's host file does not declare).
      const pci = [...new Set(v.pciDevices)].filter((d) => pciMappings.get(d)?.includes(node)).map((d) => ({ name: pciMappingName(d), kind: "pci" as const }));
      const before = [...hostPrereqs(node, vmStorageIds(v, host), v.features.includes("nvidia")), ...guestDeps(v.dependencies)];
      const parentReady = v.cloneFrom !== undefined && ready.has(v.cloneFrom) ? [{ name: ready.get(v.cloneFrom)!, kind: "clone" as const }] : [];
      const child = (name: string, type: string, kind: ResourceKind, label: string, dependsOn: Dependency[]) =>
        add({ name, type, parent: N.component, dependsOn, kind, label, node, guestId: v.vmid, ...(kind === "vm" ? { template } : {}) }).name;
      const image = v.cloneFrom === undefined ? [child(N.image, PROXMOX_TYPES.download, "vm-step", "cloud image", before)] : [];
      if (v.isTemplate) {
        ready.set(v.vmid, child(N.vm, PROXMOX_TYPES.vm, "vm", v.name, [...before, ...pci, ...parentReady, ...deps("input", image)]));
      } else {
        const userData = child(N.userData, PROXMOX_TYPES.snippet, "vm-step", "cloud-init user data", before);
        const vm = child(N.vm, PROXMOX_TYPES.vm, "vm", v.name, [...before, ...pci, ...parentReady, ...deps("input", [...image, userData])]);
        let last = child(N.cloudInit, dynamicType("vm-cloud-init"), "vm-step", "first boot (cloud-init)", deps("step", [vm]));
        if (v.templateSnapshotName) last = child(N.snapshot, dynamicType("vm-snapshot"), "vm-snapshot", `snapshot ${v.templateSnapshotName}`, deps("step", [last, vm]));
        ready.set(v.vmid, last);
      }
      if (v.firewall && v.firewall.inheritedFrom === undefined) guestFirewall(N, N.vm, v.firewall, node, v.vmid, v.cloneFrom === undefined ? undefined : { id: v.cloneFrom, firewall: model.vms.find((t) => t.vmid === v.cloneFrom)?.firewall });
    }
  }

  return {
    nodes: nodes.map((n) => n.name),
    multiNode,
    resources,
    get(name, component = false) {
      const r = byName.get(key(name, component));
      if (!r) throw new Error(`internal: the deployment model has no ${component ? "component" : "resource"} ${name}`);
      return r;
    },
    has: (name, component = false) => byName.has(key(name, component)),
    guestOrder,
  };
}

/** A binary heap: the ready queue of the topological sort stays O(log n) per step for large stacks. */
class MinHeap<T> {
  private items: T[] = [];
  constructor(private readonly cmp: (a: T, b: T) => number) {}
  get size(): number {
    return this.items.length;
  }
  push(item: T): void {
    const a = this.items;
    a.push(item);
    let i = a.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (this.cmp(a[i], a[parent]) >= 0) break;
      [a[i], a[parent]] = [a[parent], a[i]];
      i = parent;
    }
  }
  pop(): T | undefined {
    const a = this.items;
    if (a.length === 0) return undefined;
    const top = a[0];
    const last = a.pop()!;
    if (a.length > 0) {
      a[0] = last;
      let i = 0;
      for (;;) {
        const l = 2 * i + 1;
        const r = l + 1;
        let m = i;
        if (l < a.length && this.cmp(a[l], a[m]) < 0) m = l;
        if (r < a.length && this.cmp(a[r], a[m]) < 0) m = r;
        if (m === i) break;
        [a[i], a[m]] = [a[m], a[i]];
        i = m;
      }
    }
    return top;
  }
}
