// The provisioning graph: pure functions over the model (no Pulumi, no SSH). The program uses
// topologicalOrder to declare guests parents-first; `phoenix graph` draws the graph as Mermaid
// (in the style of the architecture guide) or JSON. All output is sorted, so it is deterministic.
import type { ContainerModel, PhoenixModel, VmModel } from "../config/model";

export type NodeKind = "host" | "lxc" | "lxc-snapshot" | "vm" | "vm-snapshot" | "firewall";
/**
 * `clone-order`: siblings cloned from one LXC parent, one after the other. Proxmox locks the
 * source container for the whole full clone (pve-container's clone_vm holds its config lock), so
 * a second clone of the same parent at the same time fails with "CT is locked".
 */
export type EdgeKind = "setup" | "storage" | "gpu" | "clone" | "dependency" | "snapshot" | "firewall" | "clone-order";

export interface GraphNode {
  /** The resource name the program gives this step: `host-zfs-pool-quickOS`, `ct-900`, `ct-900-snapshot`, `vm-8000`. */
  id: string;
  kind: NodeKind;
  label: string;
  /** CTID or VMID for guests and their snapshots. */
  guestId?: number;
  /** Guests that are templates (others clone from their snapshot). */
  template?: boolean;
}

export interface GraphEdge {
  /** The prerequisite. */
  from: string;
  /** What waits for it. */
  to: string;
  kind: EdgeKind;
}

export interface ProvisioningGraph {
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface GuestRef {
  kind: "lxc" | "vm";
  id: number;
}

export interface GraphStats {
  /** Every node: host steps, guests and template snapshots. */
  resources: number;
  hostSteps: number;
  containers: number;
  vms: number;
  snapshots: number;
  /** Guests' firewalls (`ct-<id>-firewall`, `vm-<id>-firewall`); the host's are host steps. */
  firewalls: number;
  /** The longest chain of prerequisites, first to last (node ids). */
  longestChain: string[];
}

const isLxcTemplate = (c: ContainerModel) => c.templateSnapshotName !== undefined;
const isVmTemplate = (v: VmModel) => v.isTemplate || v.templateSnapshotName !== undefined;

/**
 * An NFS export path as a name, one-to-one (features/hypervisor/nfs_export.sh names its file the
 * same way): `_` → `%5F`, then `/` → `_`, without the leading `/` (`/` itself is `_`).
 * `/quickOS/vm-data` → `quickOS_vm-data`; `/srv/a_b/c` → `srv_a%5Fb_c`; `/srv/a/b_c` → `srv_a_b%5Fc`.
 */
export function nfsExportSlug(exportPath: string): string {
  return exportPath.replace(/(.)\/+$/, "$1").replace(/^\//, "").replace(/_/g, "%5F").replace(/\//g, "_") || "_";
}

export const hostStepIds = {
  initialSetup: "host-initial-setup",
  nvidia: "host-nvidia",
  adminUser: (name: string) => `host-admin-user-${name}`,
  zfsPool: (name: string) => `host-zfs-pool-${name}`,
  zfsDataset: (pool: string, name: string) => `host-zfs-dataset-${pool}-${name.replace(/\//g, "-")}`,
  storage: (id: string) => `host-storage-${id}`,
  /** By path, not list position: removing one export never renames the others. */
  nfsExport: (exportPath: string) => `host-nfs-export-${nfsExportSlug(exportPath)}`,
  sambaShare: (name: string) => `host-samba-share-${name}`,
  firewallAlias: (name: string) => `host-firewall-alias-${name}`,
  firewallIpset: (name: string) => `host-firewall-ipset-${name}`,
  firewallRules: "host-firewall-rules",
  firewall: "host-firewall",
};

/** For each guest ID, the node that stands for "guest is done": its snapshot for templates, else the guest. */
function readyNodes(model: PhoenixModel): Map<number, string> {
  const out = new Map<number, string>();
  for (const c of model.containers) out.set(c.ctid, isLxcTemplate(c) ? `ct-${c.ctid}-snapshot` : `ct-${c.ctid}`);
  for (const v of model.vms) if (!out.has(v.vmid)) out.set(v.vmid, isVmTemplate(v) ? `vm-${v.vmid}-snapshot` : `vm-${v.vmid}`);
  return out;
}

export function buildGraph(model: PhoenixModel): ProvisioningGraph {
  const nodes = new Map<string, GraphNode>();
  const edges = new Map<string, GraphEdge>();
  const node = (n: GraphNode) => nodes.set(n.id, n);
  const edge = (from: string | undefined, to: string, kind: EdgeKind) => {
    if (from === undefined || from === to) return;
    edges.set(`${from}\u0000${to}`, { from, to, kind });
  };
  const host = model.host;
  const H = hostStepIds;
  const ready = readyNodes(model);

  // Host setup, in the order of the original hypervisor setup flow.
  node({ id: H.initialSetup, kind: "host", label: "initial setup" });
  if (host.nvidiaDriver) {
    node({ id: H.nvidia, kind: "host", label: `NVIDIA driver ${host.nvidiaDriver.version}` });
    edge(H.initialSetup, H.nvidia, "setup");
  }
  for (const u of host.users) {
    node({ id: H.adminUser(u.username), kind: "host", label: `admin user ${u.username}` });
    edge(H.initialSetup, H.adminUser(u.username), "setup");
  }
  for (const p of host.zfs.pools) {
    node({ id: H.zfsPool(p.name), kind: "host", label: `ZFS pool ${p.name}, ${p.raidLevel}` });
    edge(H.initialSetup, H.zfsPool(p.name), "setup");
  }
  for (const d of host.zfs.datasets) {
    const id = H.zfsDataset(d.pool, d.name);
    node({ id, kind: "host", label: `dataset ${d.fullName}` });
    edge(host.zfs.pools.some((p) => p.name === d.pool) ? H.zfsPool(d.pool) : H.initialSetup, id, "setup");
    if (d.storage) {
      node({ id: H.storage(d.storage.id), kind: "host", label: `storage ${d.storage.id}, ${d.storage.type}` });
      edge(id, H.storage(d.storage.id), "setup");
    }
  }
  /** The dataset whose mount point holds `p` (longest match), as a node id. */
  const datasetFor = (p: string): string | undefined => {
    const hits = host.zfs.datasets
      .filter((d) => p === d.mountPoint || p.startsWith(`${d.mountPoint}/`))
      .sort((a, b) => b.mountPoint.length - a.mountPoint.length);
    return hits[0] ? H.zfsDataset(hits[0].pool, hits[0].name) : undefined;
  };
  host.nfsExports.forEach((e) => {
    node({ id: H.nfsExport(e.path), kind: "host", label: `NFS export ${e.path}` });
    edge(datasetFor(e.path) ?? H.initialSetup, H.nfsExport(e.path), "setup");
  });
  for (const s of host.samba?.shares ?? []) {
    const id = H.sambaShare(s.name);
    node({ id, kind: "host", label: `Samba share ${s.name}` });
    edge(datasetFor(s.path) ?? H.initialSetup, id, "setup");
    for (const u of host.users) if (s.validUsers.includes(u.username) || host.samba?.user === u.username) edge(H.adminUser(u.username), id, "setup");
  }

  // The host firewall (infra/components/firewall.ts): aliases and IP sets, the rules, then enabling.
  const fw = host.firewall;
  const firewallRefs: string[] = [];
  if (fw) {
    for (const a of fw.aliases) {
      node({ id: H.firewallAlias(a.name), kind: "host", label: `firewall alias ${a.name} ${a.cidr}` });
      edge(H.initialSetup, H.firewallAlias(a.name), "setup");
      firewallRefs.push(H.firewallAlias(a.name));
    }
    for (const set of fw.ipsets) {
      node({ id: H.firewallIpset(set.name), kind: "host", label: `firewall IP set ${set.name}` });
      edge(H.initialSetup, H.firewallIpset(set.name), "setup");
      for (const a of fw.aliases) edge(H.firewallAlias(a.name), H.firewallIpset(set.name), "setup");
      firewallRefs.push(H.firewallIpset(set.name));
    }
    const before = firewallRefs.length ? [...firewallRefs] : [H.initialSetup];
    let last = before;
    if (fw.rules.length > 0) {
      node({ id: H.firewallRules, kind: "host", label: `firewall rules (${fw.rules.length})` });
      for (const b of before) edge(b, H.firewallRules, "setup");
      last = [H.firewallRules];
    }
    const state = fw.enabled ? `on, in ${fw.inputPolicy}, out ${fw.outputPolicy}` : "off";
    node({ id: H.firewall, kind: "host", label: `firewall ${state}` });
    for (const b of last) edge(b, H.firewall, "setup");
  }
  /** A guest's firewall node, after the guest (and the host's aliases and IP sets it may name). */
  const guestFirewall = (guest: string, guestId: number, f: NonNullable<ContainerModel["firewall"]>) => {
    const id = `${guest}-firewall`;
    node({ id, kind: "firewall", label: `firewall ${f.enabled ? "on" : "off"}, ${f.rules.length} rule${f.rules.length === 1 ? "" : "s"}`, guestId });
    edge(guest, id, "firewall");
    for (const r of firewallRefs) edge(r, id, "firewall");
  };

  const storageNode = (id: string) => (host.storages.some((s) => s.id === id) ? H.storage(id) : H.initialSetup);

  for (const c of model.containers) {
    const id = `ct-${c.ctid}`;
    node({ id, kind: "lxc", label: c.name, guestId: c.ctid, template: isLxcTemplate(c) });
    for (const s of new Set([c.storagePool, ...c.volumes.map((v) => v.storage)])) edge(storageNode(s), id, "storage");
    if (c.gpus.length > 0 || c.features.includes("nvidia")) edge(host.nvidiaDriver ? H.nvidia : undefined, id, "gpu");
    if (c.cloneFrom !== undefined) edge(`ct-${c.cloneFrom}-snapshot`, id, "clone");
    for (const d of c.dependencies) edge(ready.get(d), id, "dependency");
    if (c.firewall && c.firewall.inheritedFrom === undefined) guestFirewall(id, c.ctid, c.firewall);
    if (isLxcTemplate(c)) {
      node({ id: `${id}-snapshot`, kind: "lxc-snapshot", label: `${c.ctid} snapshot ${c.templateSnapshotName}`, guestId: c.ctid });
      edge(id, `${id}-snapshot`, "snapshot");
    }
  }
  for (const v of model.vms) {
    const id = `vm-${v.vmid}`;
    node({ id, kind: "vm", label: v.name, guestId: v.vmid, template: isVmTemplate(v) });
    for (const s of new Set([v.storagePool, ...v.volumes.map((x) => x.storage)])) edge(storageNode(s), id, "storage");
    if (v.features.includes("nvidia")) edge(host.nvidiaDriver ? H.nvidia : undefined, id, "gpu");
    if (v.cloneFrom !== undefined) edge(ready.get(v.cloneFrom), id, "clone");
    for (const d of v.dependencies) edge(ready.get(d), id, "dependency");
    if (v.firewall && v.firewall.inheritedFrom === undefined) guestFirewall(id, v.vmid, v.firewall);
    if (isVmTemplate(v)) {
      node({ id: `${id}-snapshot`, kind: "vm-snapshot", label: `${v.vmid} snapshot ${v.templateSnapshotName ?? "template"}`, guestId: v.vmid });
      edge(id, `${id}-snapshot`, "snapshot");
    }
  }

  // Siblings of one LXC parent clone one after the other, in the order the rest of the graph
  // allows (then by CTID): each waits for the previous sibling's container (its clone is done).
  // Unrelated guests stay parallel.
  const withoutOrder: ProvisioningGraph = { nodes: [...nodes.values()], edges: [...edges.values()] };
  const position = new Map(topoSort(withoutOrder, (id) => nodes.get(id)?.guestId ?? 0).map((id, i) => [id, i]));
  const siblings = new Map<number, string[]>();
  for (const c of model.containers) {
    if (c.cloneFrom === undefined) continue;
    const list = siblings.get(c.cloneFrom) ?? [];
    list.push(`ct-${c.ctid}`);
    siblings.set(c.cloneFrom, list);
  }
  for (const list of siblings.values()) {
    list.sort((a, b) => position.get(a)! - position.get(b)!);
    for (let i = 1; i < list.length; i++) edge(list[i - 1], list[i], "clone-order");
  }

  const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);
  return {
    nodes: [...nodes.values()].sort((a, b) => order(a.id, b.id)),
    edges: [...edges.values()].sort((a, b) => order(a.from, b.from) || order(a.to, b.to)),
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

/** Kahn's algorithm over node ids; ties broken by `rank` then id, so the order is stable. */
function topoSort(graph: ProvisioningGraph, rank: (id: string) => number = () => 0): string[] {
  const indegree = new Map(graph.nodes.map((n) => [n.id, 0]));
  const next = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (!indegree.has(e.from) || !indegree.has(e.to)) continue;
    indegree.set(e.to, indegree.get(e.to)! + 1);
    if (!next.has(e.from)) next.set(e.from, []);
    next.get(e.from)!.push(e.to);
  }
  const cmp = (a: string, b: string) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0);
  const ready = new MinHeap<string>(cmp);
  for (const [id, d] of indegree) if (d === 0) ready.push(id);
  const out: string[] = [];
  while (ready.size > 0) {
    const id = ready.pop()!;
    out.push(id);
    for (const to of next.get(id) ?? []) {
      const d = indegree.get(to)! - 1;
      indegree.set(to, d);
      if (d === 0) ready.push(to);
    }
  }
  if (out.length !== graph.nodes.length) {
    const done = new Set(out);
    const stuck = graph.nodes.map((n) => n.id).filter((id) => !done.has(id));
    throw new Error(`the provisioning graph has a cycle through ${stuck.join(", ")}`);
  }
  return out;
}

/**
 * The sibling each LXC clone waits for before it is cloned (`clone-order` edges): CTID → CTID.
 * Clones without an earlier sibling are absent.
 */
export function cloneAfter(model: PhoenixModel): Map<number, number> {
  const out = new Map<number, number>();
  for (const e of buildGraph(model).edges) {
    if (e.kind === "clone-order") out.set(Number(e.to.slice(3)), Number(e.from.slice(3)));
  }
  return out;
}

/** Guests in the order the program declares them: clone parents and dependencies first, then by ID. */
export function topologicalOrder(model: PhoenixModel): GuestRef[] {
  const graph = buildGraph(model);
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const rank = (id: string) => byId.get(id)?.guestId ?? 0;
  const out: GuestRef[] = [];
  for (const id of topoSort(graph, rank)) {
    const n = byId.get(id)!;
    if (n.kind === "lxc" || n.kind === "vm") out.push({ kind: n.kind, id: n.guestId! });
  }
  return out;
}

/** Resource count and the longest chain of prerequisites (ties: the lexically smallest chain). */
export function graphStats(model: PhoenixModel): GraphStats {
  const graph = buildGraph(model);
  const order = topoSort(graph);
  const preds = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (!preds.has(e.to)) preds.set(e.to, []);
    preds.get(e.to)!.push(e.from);
  }
  const best = new Map<string, string[]>();
  const better = (a: string[], b: string[]) => a.length > b.length || (a.length === b.length && a.join("\u0000") < b.join("\u0000"));
  for (const id of order) {
    let chain: string[] = [id];
    for (const p of (preds.get(id) ?? []).sort()) {
      const candidate = [...best.get(p)!, id];
      if (better(candidate, chain)) chain = candidate;
    }
    best.set(id, chain);
  }
  let longest: string[] = [];
  for (const chain of best.values()) if (better(chain, longest)) longest = chain;
  const count = (k: NodeKind) => graph.nodes.filter((n) => n.kind === k).length;
  return {
    resources: graph.nodes.length,
    hostSteps: count("host"),
    containers: count("lxc"),
    vms: count("vm"),
    snapshots: count("lxc-snapshot") + count("vm-snapshot"),
    firewalls: count("firewall"),
    longestChain: longest,
  };
}

function baseMermaidId(n: GraphNode): string {
  if (n.kind === "firewall") return `FW${n.guestId}`;
  if (n.kind === "host") return `H_${n.id.replace(/^host-/, "").replace(/[^A-Za-z0-9]/g, "_")}`;
  if (n.template) return `T${n.guestId}`;
  return n.kind === "vm" ? `VM${n.guestId}` : `C${n.guestId}`;
}

/** Mermaid ids per node: readable, and unique even when two host step names differ only in `-` vs `_`. */
function mermaidIds(nodes: GraphNode[]): Map<string, string> {
  const out = new Map<string, string>();
  const used = new Set<string>();
  for (const n of nodes) {
    let id = baseMermaidId(n);
    for (let i = 2; used.has(id); i++) id = `${baseMermaidId(n)}_${i}`;
    used.add(id);
    out.set(n.id, id);
  }
  return out;
}

/** Mermaid flowchart in the style of the architecture guide. */
export function toMermaid(graph: ProvisioningGraph): string {
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const ids = mermaidIds(graph.nodes);
  const mermaidId = (n: GraphNode) => ids.get(n.id)!;
  const guests = graph.nodes.filter((n) => n.kind === "lxc" || n.kind === "vm");
  const byGuestId = (a: GraphNode, b: GraphNode) => a.guestId! - b.guestId!;
  // Host labels hold paths and commas: quoted. Guest labels keep the guide's `T900[900: Template-Base]` form
  // (names are hostnames, so nothing in them means anything to Mermaid).
  const label = (n: GraphNode) =>
    n.kind === "host" || n.kind === "firewall" ? `${mermaidId(n)}["${n.kind === "firewall" ? `${n.guestId} ` : ""}${n.label}"]` : `${mermaidId(n)}[${n.guestId}: ${n.label}]`;
  const lines = ["graph TD"];
  const group = (title: string, members: GraphNode[]) => {
    if (members.length === 0) return;
    lines.push(`    subgraph "${title}"`);
    for (const n of members) lines.push(`        ${label(n)}`);
    lines.push("    end");
    lines.push("");
  };
  const hostNodes = graph.nodes.filter((n) => n.kind === "host");
  const hostIndex = new Map(topoSort({ nodes: hostNodes, edges: graph.edges }).map((id, i) => [id, i]));
  group("Host Setup", [...hostNodes].sort((a, b) => hostIndex.get(a.id)! - hostIndex.get(b.id)!));
  group("Base VM Templates", guests.filter((n) => n.kind === "vm" && n.template).sort(byGuestId));
  group("Base LXC Templates", guests.filter((n) => n.kind === "lxc" && n.template).sort(byGuestId));
  group("Application VMs & Containers", guests.filter((n) => !n.template).sort((a, b) => (a.kind === b.kind ? byGuestId(a, b) : a.kind === "vm" ? -1 : 1)));
  group("Guest Firewalls", graph.nodes.filter((n) => n.kind === "firewall").sort(byGuestId));

  // A snapshot stands for its guest in the drawing: `T900 -- Cloned to --> T901`.
  const shown = (id: string): GraphNode | undefined => {
    const n = byId.get(id);
    if (!n) return undefined;
    if (n.kind === "lxc-snapshot") return byId.get(`ct-${n.guestId}`);
    if (n.kind === "vm-snapshot") return byId.get(`vm-${n.guestId}`);
    return n;
  };
  const guestNode = (id: string) => byId.get(id);
  const parentOf = new Map<string, string>();
  for (const e of graph.edges) if (e.kind === "clone") parentOf.set(e.to, shown(e.from)!.id);
  const edgeSet = new Set(graph.edges.map((e) => `${e.from}\u0000${e.to}`));
  const drawn = new Set<string>();
  const out: string[] = [];
  for (const e of graph.edges) {
    const from = shown(e.from);
    const to = guestNode(e.to);
    if (!from || !to || e.kind === "snapshot" || e.kind === "clone-order") continue;
    let text: string;
    if (e.kind === "setup") text = `${mermaidId(from)} --> ${mermaidId(to)}`;
    else if (e.kind === "firewall") text = `${mermaidId(from)} -. firewall .-> ${mermaidId(to)}`;
    else if (e.kind === "clone") text = `${mermaidId(from)} -- Cloned to --> ${mermaidId(to)}`;
    else if (e.kind === "dependency") text = `${mermaidId(from)} -. needed by .-> ${mermaidId(to)}`;
    else {
      // Storage and GPU edges only where the guest does not get them through its template already.
      const parent = parentOf.get(to.id);
      if (parent && edgeSet.has(`${e.from}\u0000${parent}`)) continue;
      text = `${mermaidId(from)} -. ${e.kind === "gpu" ? "GPU" : "disk"} .-> ${mermaidId(to)}`;
    }
    if (!drawn.has(text)) {
      drawn.add(text);
      out.push(`    ${text}`);
    }
  }
  const rank = (t: string) => (t.includes("Cloned to") ? 1 : t.includes("needed by") ? 2 : t.includes(" -. firewall ") ? 4 : t.includes(" -. ") ? 3 : 0);
  out.sort((a, b) => rank(a) - rank(b) || (a < b ? -1 : a > b ? 1 : 0));
  return [...lines, ...out, ""].join("\n");
}

/** The graph as JSON text (sorted; stable across runs). */
export function toJson(graph: ProvisioningGraph): string {
  return JSON.stringify(graph, null, 2) + "\n";
}
