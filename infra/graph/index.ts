// The provisioning graph: the deployment model (infra/deployment) as nodes and edges, with no
// Pulumi and no SSH. Every resource the program declares is a node, every dependency an edge, so
// `phoenix graph --format json` is the plan's resource graph (a test asserts graph = plan). The
// Mermaid drawing folds each guest's steps into the guest and groups by node. Output is sorted.
import type { PhoenixModel } from "../config/model";
import { deploymentOf, type DependencyKind, type DeploymentOptions, type ResourceKind } from "../deployment/index";

export type NodeKind = ResourceKind;
export type EdgeKind = DependencyKind;

export interface GraphNode {
  /** The resource's Pulumi name: `host-zfs-pool-quickOS`, `ct-900`, `ct-900-snapshot`, `vm-8000`. */
  id: string;
  kind: NodeKind;
  /** The Pulumi type token. */
  type: string;
  /** The parent component's name (null for components). */
  parent: string | null;
  label: string;
  /** The Proxmox node the resource acts on. */
  node: string;
  /** CTID or VMID of the guest the resource belongs to. */
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
  /** The stack's Proxmox nodes, primary first. */
  proxmoxNodes: string[];
  /** The component resources (one per node's host setup, one per guest): parents, never prerequisites.
   *  A guest's component shares its name with the guest's ContainerLegacy/VmLegacy, so they are kept apart. */
  components: GraphNode[];
  /** Every other resource the program declares. */
  nodes: GraphNode[];
  edges: GraphEdge[];
}

export interface GraphStats {
  /** Every resource the program declares (components included). */
  resources: number;
  /** Component resources (one per node's host setup and per guest). */
  components: number;
  /** Host setup resources of every node, the host firewall's included. */
  hostSteps: number;
  containers: number;
  vms: number;
  /** Template and lifecycle snapshots. */
  snapshots: number;
  /** Guests' steps (LXC options, features, apps, health checks, images, user data, first boot). */
  guestSteps: number;
  /** Guests' firewall resources (`ct-<id>-firewall(-rules)`, `vm-<id>-firewall(-rules)`). */
  firewalls: number;
  /** The longest chain of prerequisites, first to last (resource names). */
  longestChain: string[];
}

const order = (a: string, b: string) => (a < b ? -1 : a > b ? 1 : 0);

/**
 * The graph of every resource the program declares for `model` and the dependencies between them.
 *
 * @param model the loaded configuration
 * @param opts `node`: the primary node's name when the model holds no node list (default `pve`)
 */
export function buildGraph(model: PhoenixModel, opts: DeploymentOptions = {}): ProvisioningGraph {
  const d = deploymentOf(model, opts);
  const all: GraphNode[] = d.resources.map((r) => ({
    id: r.name,
    kind: r.kind,
    type: r.type,
    parent: r.parent,
    label: r.label,
    node: r.node,
    ...(r.guestId !== undefined ? { guestId: r.guestId } : {}),
    ...(r.template !== undefined ? { template: r.template } : {}),
  }));
  const edges: GraphEdge[] = d.resources.flatMap((r) => r.dependsOn.map((dep) => ({ from: dep.name, to: r.name, kind: dep.kind })));
  return {
    proxmoxNodes: d.nodes,
    components: all.filter((n) => n.kind === "component").sort((a, b) => order(a.id, b.id)),
    nodes: all.filter((n) => n.kind !== "component").sort((a, b) => order(a.id, b.id)),
    edges: edges.sort((a, b) => order(a.from, b.from) || order(a.to, b.to)),
  };
}

/** Kahn's algorithm over node ids; ties broken by id, so the order is stable. */
function topoSort(graph: { nodes: { id: string }[]; edges: GraphEdge[] }): string[] {
  const indegree = new Map(graph.nodes.map((n) => [n.id, 0]));
  const next = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (!indegree.has(e.from) || !indegree.has(e.to)) continue;
    indegree.set(e.to, indegree.get(e.to)! + 1);
    if (!next.has(e.from)) next.set(e.from, []);
    next.get(e.from)!.push(e.to);
  }
  const ready = [...indegree].filter(([, n]) => n === 0).map(([id]) => id).sort(order);
  const out: string[] = [];
  while (ready.length > 0) {
    const id = ready.shift()!;
    out.push(id);
    const released: string[] = [];
    for (const to of next.get(id) ?? []) {
      const n = indegree.get(to)! - 1;
      indegree.set(to, n);
      if (n === 0) released.push(to);
    }
    if (released.length) {
      ready.push(...released);
      ready.sort(order);
    }
  }
  if (out.length !== graph.nodes.length) {
    const done = new Set(out);
    throw new Error(`the provisioning graph has a cycle through ${graph.nodes.map((n) => n.id).filter((id) => !done.has(id)).join(", ")}`);
  }
  return out;
}

/** Resource counts and the longest chain of prerequisites (ties: the lexically smallest chain). */
export function graphStats(model: PhoenixModel, opts: DeploymentOptions = {}): GraphStats {
  const graph = buildGraph(model, opts);
  const preds = new Map<string, string[]>();
  for (const e of graph.edges) {
    if (!preds.has(e.to)) preds.set(e.to, []);
    preds.get(e.to)!.push(e.from);
  }
  const best = new Map<string, string[]>();
  const better = (a: string[], b: string[]) => a.length > b.length || (a.length === b.length && a.join("\u0000") < b.join("\u0000"));
  for (const id of topoSort(graph)) {
    let chain: string[] = [id];
    for (const p of (preds.get(id) ?? []).sort()) {
      const candidate = [...best.get(p)!, id];
      if (better(candidate, chain)) chain = candidate;
    }
    best.set(id, chain);
  }
  let longest: string[] = [];
  for (const chain of best.values()) if (better(chain, longest)) longest = chain;
  const count = (...kinds: NodeKind[]) => graph.nodes.filter((n) => kinds.includes(n.kind)).length;
  return {
    resources: graph.components.length + graph.nodes.length,
    components: graph.components.length,
    hostSteps: count("host", "host-firewall"),
    containers: count("lxc"),
    vms: count("vm"),
    snapshots: count("lxc-snapshot", "vm-snapshot"),
    guestSteps: count("lxc-step", "vm-step"),
    firewalls: count("firewall"),
    longestChain: longest,
  };
}

/** What the Mermaid drawing shows a resource as: host steps as themselves, a guest's resources as the guest, its firewall as one node. */
interface Shown {
  id: string;
  kind: "host" | "lxc" | "vm" | "firewall";
  label: string;
  node: string;
  guestId?: number;
  template?: boolean;
}

function shownNodes(graph: ProvisioningGraph): Map<string, Shown> {
  const out = new Map<string, Shown>();
  const byId = new Map(graph.nodes.map((n) => [n.id, n]));
  const components = new Map(graph.components.map((n) => [n.id, n]));
  for (const n of graph.nodes) {
    if (n.kind === "host" || n.kind === "host-firewall") {
      out.set(n.id, { id: n.id, kind: "host", label: n.label, node: n.node });
    } else if (n.kind === "firewall") {
      const options = byId.get(`${n.id.replace(/-rules$/, "")}`)!;
      out.set(n.id, { id: `${n.id.replace(/-firewall(-rules)?$/, "")}-firewall`, kind: "firewall", label: options.label, node: n.node, guestId: n.guestId });
    } else {
      const lxc = n.kind.startsWith("lxc");
      const guest = components.get(`${lxc ? "ct" : "vm"}-${n.guestId}`)!;
      const main = byId.get(guest.id) ?? guest;
      out.set(n.id, { id: guest.id, kind: lxc ? "lxc" : "vm", label: main.label, node: n.node, guestId: n.guestId, template: guest.template });
    }
  }
  return out;
}

function baseMermaidId(n: Shown): string {
  if (n.kind === "firewall") return `FW${n.guestId}`;
  if (n.kind === "host") return `H_${n.id.replace(/^host-/, "").replace(/[^A-Za-z0-9]/g, "_")}`;
  if (n.template) return `T${n.guestId}`;
  return n.kind === "vm" ? `VM${n.guestId}` : `C${n.guestId}`;
}

/** Mermaid ids per node: readable, and unique even when two host step names differ only in `-` vs `_`. */
function mermaidIds(nodes: Shown[]): Map<string, string> {
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

/**
 * The graph as a Mermaid flowchart: host steps per node, templates, applications and guest
 * firewalls in groups (one group per Proxmox node in a multi-node stack), each guest's steps
 * folded into the guest, and the edges between what is drawn.
 */
export function toMermaid(graph: ProvisioningGraph): string {
  const shownOf = shownNodes(graph);
  const drawnNodes = new Map<string, Shown>();
  for (const s of shownOf.values()) if (!drawnNodes.has(s.id)) drawnNodes.set(s.id, s);
  const all = [...drawnNodes.values()].sort((a, b) => order(a.id, b.id));
  const ids = mermaidIds(all);
  const mermaidId = (n: Shown) => ids.get(n.id)!;
  const byGuestId = (a: Shown, b: Shown) => a.guestId! - b.guestId!;
  // Host labels hold paths and commas: quoted. Guest labels keep the `T900[900: Template-Base]` form
  // (names are hostnames, so nothing in them means anything to Mermaid).
  const label = (n: Shown) =>
    n.kind === "host" || n.kind === "firewall" ? `${mermaidId(n)}["${n.kind === "firewall" ? `${n.guestId} ` : ""}${n.label}"]` : `${mermaidId(n)}[${n.guestId}: ${n.label}]`;
  const lines = ["graph TD"];
  const multi = graph.proxmoxNodes.length > 1;
  const hostOrder = new Map(topoSort({ nodes: graph.nodes, edges: graph.edges }).map((id, i) => [id, i]));
  const group = (title: string, members: Shown[], indent: string, key: string) => {
    if (members.length === 0) return;
    lines.push(multi ? `${indent}subgraph ${key} ["${title}"]` : `${indent}subgraph "${title}"`);
    for (const n of members) lines.push(`${indent}    ${label(n)}`);
    lines.push(`${indent}end`);
    if (!multi) lines.push("");
  };
  for (const node of graph.proxmoxNodes) {
    const on = all.filter((n) => multi ? n.node === node : true);
    const indent = multi ? "        " : "    ";
    const key = `node_${node.replace(/[^A-Za-z0-9]/g, "_")}`;
    if (multi) lines.push(`    subgraph ${key} ["Node ${node}"]`);
    const guests = on.filter((n) => n.kind === "lxc" || n.kind === "vm");
    group("Host Setup", on.filter((n) => n.kind === "host").sort((a, b) => hostOrder.get(a.id)! - hostOrder.get(b.id)!), indent, `${key}_host`);
    group("Base VM Templates", guests.filter((n) => n.kind === "vm" && n.template).sort(byGuestId), indent, `${key}_vm_templates`);
    group("Base LXC Templates", guests.filter((n) => n.kind === "lxc" && n.template).sort(byGuestId), indent, `${key}_lxc_templates`);
    group("Application VMs & Containers", guests.filter((n) => !n.template).sort((a, b) => (a.kind === b.kind ? byGuestId(a, b) : a.kind === "vm" ? -1 : 1)), indent, `${key}_apps`);
    group("Guest Firewalls", on.filter((n) => n.kind === "firewall").sort(byGuestId), indent, `${key}_firewalls`);
    if (multi) {
      lines.push("    end");
      lines.push("");
    }
    if (!multi) break;
  }

  // The guest each clone copies (drawn ids): storage and GPU edges are drawn only where a guest
  // does not get them through its template already.
  const parentOf = new Map<string, string>();
  for (const e of graph.edges) if (e.kind === "clone") parentOf.set(shownOf.get(e.to)!.id, shownOf.get(e.from)!.id);
  const edgeSet = new Set(graph.edges.map((e) => `${shownOf.get(e.from)?.id}\u0000${shownOf.get(e.to)?.id}\u0000${e.kind}`));
  const drawn = new Set<string>();
  const out: string[] = [];
  for (const e of graph.edges) {
    const from = shownOf.get(e.from);
    const to = shownOf.get(e.to);
    if (!from || !to || from.id === to.id || e.kind === "clone-order" || e.kind === "step" || e.kind === "input") continue;
    let text: string;
    if (e.kind === "setup") {
      // A guest waits for its node's initial setup like every guest: not drawn.
      if (to.kind !== "host") continue;
      text = `${mermaidId(from)} --> ${mermaidId(to)}`;
    } else if (e.kind === "firewall") {
      if (from.kind === "host") continue;
      text = `${mermaidId(from)} -. firewall .-> ${mermaidId(to)}`;
    } else if (e.kind === "clone") text = `${mermaidId(from)} -- Cloned to --> ${mermaidId(to)}`;
    else if (e.kind === "dependency") text = `${mermaidId(from)} -. needed by .-> ${mermaidId(to)}`;
    else {
      const parent = parentOf.get(to.id);
      if (parent && edgeSet.has(`${from.id}\u0000${parent}\u0000${e.kind}`)) continue;
      // Storages Phoenix does not register stand for the initial setup: not drawn.
      if (from.id.endsWith("-initial-setup")) continue;
      text = `${mermaidId(from)} -. ${e.kind === "gpu" ? "GPU" : e.kind === "pci" ? "PCI" : "disk"} .-> ${mermaidId(to)}`;
    }
    if (!drawn.has(text)) {
      drawn.add(text);
      out.push(`    ${text}`);
    }
  }
  const rank = (t: string) => (t.includes("Cloned to") ? 1 : t.includes("needed by") ? 2 : t.includes(" -. firewall ") ? 4 : t.includes(" -. ") ? 3 : 0);
  out.sort((a, b) => rank(a) - rank(b) || order(a, b));
  return [...lines, ...out, ""].join("\n");
}

/** The graph as JSON text (sorted; stable across runs). */
export function toJson(graph: ProvisioningGraph): string {
  return JSON.stringify(graph, null, 2) + "\n";
}
