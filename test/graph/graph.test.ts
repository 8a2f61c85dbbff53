// The provisioning graph over the dev stack: the architecture guide's template hierarchy, parents
// and dependencies before their dependents, stable output.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";

const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
const G = loadDist<typeof import("../../infra/graph")>("infra/graph");
const { deploymentOf } = loadDist<typeof import("../../infra/deployment/index")>("infra/deployment/index");
/** Guests in the order the program declares them (infra/stack.ts walks this list). */
const guestOrder = (m: Parameters<typeof deploymentOf>[0]) => deploymentOf(m).guestOrder;

function devModel() {
  const r = loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"));
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.model;
}

/** The edges of the architecture guide's "Hierarchical Templating Diagram". */
const GUIDE_EDGES = [
  "T8000 -- Cloned to --> VM8001",
  "T900 -- Cloned to --> T901",
  "T900 -- Cloned to --> T902",
  "T901 -- Cloned to --> C955",
  "T902 -- Cloned to --> C952",
  "T901 -- Cloned to --> C950",
];

describe("Mermaid", () => {
  const text: string = G.toMermaid(G.buildGraph(devModel()));

  it("draws the architecture guide's clone edges, and no others", () => {
    const clones = text.split("\n").map((l) => l.trim()).filter((l) => l.includes("Cloned to"));
    expect(clones.sort()).toEqual([...GUIDE_EDGES].sort());
  });

  it("labels and groups the guests like the guide", () => {
    expect(text.startsWith("graph TD\n")).toBe(true);
    const block = (title: string) => {
      const start = text.indexOf(`subgraph "${title}"`);
      expect(start, title).toBeGreaterThanOrEqual(0);
      return text.slice(start, text.indexOf("end", start));
    };
    expect(block("Base VM Templates")).toContain("T8000[8000: ubuntu-2404-cloud-template]");
    const lxcTemplates = block("Base LXC Templates");
    for (const l of ["T900[900: Template-Base]", "T901[901: Template-GPU]", "T902[902: Template-Docker]"]) expect(lxcTemplates).toContain(l);
    const apps = block("Application VMs & Containers");
    for (const l of ["VM8001[8001: docker-vm]", "C950[950: vllm-qwen2.5-7b-awq]", "C952[952: qdrant]", "C955[955: ollama]"]) expect(apps).toContain(l);
    const host = block("Host Setup");
    expect(host).toContain('H_initial_setup["initial setup"]');
    expect(host).toContain('H_zfs_pool_quickOS["ZFS pool quickOS, mirror"]');
  });

  it("shows dependencies and the host steps guests wait for", () => {
    expect(text).toContain("C950 -. needed by .-> C952");
    expect(text).toContain("H_nvidia -. GPU .-> T901");
    expect(text).toContain("H_proxmox_storage_quickOS_lxc_disks -. disk .-> T900");
    expect(text).toContain("H_zfs_pool_quickOS --> H_zfs_dataset_quickOS_lxc_disks");
    // 950 and 955 get GPU and disk through template 901: no repeated edges.
    expect(text).not.toContain("-. GPU .-> C950");
  });

  it("is the same on every run", () => {
    expect(G.toMermaid(G.buildGraph(devModel()))).toBe(text);
  });
});

describe("graph structure", () => {
  const graph = G.buildGraph(devModel());
  const has = (from: string, to: string, kind: string) => graph.edges.some((e) => e.from === from && e.to === to && e.kind === kind);

  it("names nodes by their resource names, and holds every resource the program declares", () => {
    const ids = graph.nodes.map((n) => n.id);
    for (const id of ["host-initial-setup", "host-nvidia", "host-admin-user-phoenix_admin", "host-zfs-pool-quickOS", "host-zfs-dataset-quickOS-lxc-disks",
      "host-proxmox-storage-quickOS-lxc-disks", "host-samba-user-phoenix_admin", "host-nfs-export-quickOS_vm-persistent-data", "host-samba-share-shared-prod-data",
      "ct-900", "ct-900-lxc-options", "ct-900-feature-base_setup", "ct-900-snapshot", "ct-950-app", "ct-950-health", "vm-8000", "vm-8000-image", "vm-8001", "vm-8001-user-data", "vm-8001-cloud-init"]) {
      expect(ids).toContain(id);
    }
    // A Proxmox template cannot be snapshotted: 8000 has no snapshot resource; 950 is no template.
    expect(ids).not.toContain("vm-8000-snapshot");
    expect(ids).not.toContain("ct-950-snapshot");
    expect(graph.components.map((c) => c.id).sort()).toEqual(["ct-900", "ct-901", "ct-902", "ct-950", "ct-952", "ct-955", "host", "vm-8000", "vm-8001"]);
  });

  it("clones wait for the parent's snapshot, snapshots for their guest", () => {
    expect(has("ct-900-snapshot", "ct-901", "clone")).toBe(true);
    expect(has("ct-901-snapshot", "ct-950", "clone")).toBe(true);
    expect(has("ct-900-feature-base_setup", "ct-900-snapshot", "step")).toBe(true);
    expect(has("ct-900", "ct-900-snapshot", "step")).toBe(true);
    // A VM template is done once it exists (its clones copy it, never booted).
    expect(has("vm-8000", "vm-8001", "clone")).toBe(true);
    expect(has("vm-8000-image", "vm-8000", "input")).toBe(true);
    expect(has("host-proxmox-storage-quickOS-lxc-disks", "ct-900", "storage")).toBe(true);
    expect(has("host-nvidia", "ct-950", "gpu")).toBe(true);
    // `dependencies` wait for the named guest's last step.
    expect(has("ct-950-health", "ct-952", "dependency")).toBe(true);
  });

  it("JSON output is sorted and parseable", () => {
    const json = JSON.parse(G.toJson(graph));
    const ids = json.nodes.map((n: { id: string }) => n.id);
    expect(ids).toEqual([...ids].sort());
    expect(json.edges.length).toBe(graph.edges.length);
  });
});

describe("the deployment model's guest order", () => {
  it("puts parents and dependencies first in the dev stack", () => {
    expect(guestOrder(devModel())).toEqual([
      { kind: "lxc", id: 900 }, { kind: "lxc", id: 901 }, { kind: "lxc", id: 902 }, { kind: "lxc", id: 950 },
      { kind: "lxc", id: 952 }, { kind: "lxc", id: 955 }, { kind: "vm", id: 8000 }, { kind: "vm", id: 8001 },
    ]);
  });

  it("orders a dependency on a higher ID before its dependent", () => {
    const m = devModel();
    m.containers.find((c) => c.ctid === 950)!.dependencies = [8001];
    const order = guestOrder(m).map((g) => g.id);
    expect(order.indexOf(8001)).toBeLessThan(order.indexOf(950));
    expect(order.indexOf(8000)).toBeLessThan(order.indexOf(8001));
    expect(order.indexOf(901)).toBeLessThan(order.indexOf(950));
  });

  it("holds for a 300-container four-level template tree", () => {
    const m = devModel();
    const base = m.containers.find((c) => c.ctid === 950)!;
    const containers: typeof m.containers = [];
    // levels: 1 root, 4 templates, 16 templates, then leaves; IDs assigned backwards to defeat ID order.
    let id = 2000;
    const make = (parent: number | undefined, template: boolean) => {
      const c = { ...base, ctid: id--, cloneFrom: parent, templateSnapshotName: template ? "s" : undefined, dependencies: [] as number[] };
      containers.push(c);
      return c.ctid;
    };
    const root = make(undefined, true);
    const l2 = [0, 1, 2, 3].map(() => make(root, true));
    const l3 = l2.flatMap((p) => [0, 1, 2, 3].map(() => make(p, true)));
    while (containers.length < 300) make(l3[containers.length % l3.length], false);
    containers[299].dependencies = [containers[298].ctid];
    m.containers = containers;
    m.vms = [];
    const order = guestOrder(m).map((g) => g.id);
    expect(order).toHaveLength(300);
    const pos = new Map<number, number>(order.map((x: number, i: number) => [x, i]));
    for (const c of containers) {
      if (c.cloneFrom !== undefined) expect(pos.get(c.cloneFrom)).toBeLessThan(pos.get(c.ctid)!);
      for (const d of c.dependencies) expect(pos.get(d)).toBeLessThan(pos.get(c.ctid)!);
    }
  });

  it("refuses a cycle that slipped past the loader", () => {
    const m = devModel();
    m.containers.find((c) => c.ctid === 900)!.dependencies = [955];
    expect(() => guestOrder(m)).toThrow(/cycle/);
  });
});

describe("graphStats", () => {
  it("counts resources and finds the longest chain", () => {
    const s = G.graphStats(devModel());
    expect(s).toMatchObject({ resources: 66, components: 9, containers: 6, vms: 2, snapshots: 3 });
    expect(s.resources).toBe(s.components + s.hostSteps + s.containers + s.vms + s.snapshots + s.guestSteps + s.firewalls);
    expect(s.longestChain).toEqual([
      "host-initial-setup", "host-nvidia", "host-admin-user-phoenix_admin", "host-zfs-pool-quickOS", "host-zfs-dataset-quickOS-lxc-disks", "host-proxmox-storage-quickOS-lxc-disks",
      "ct-900", "ct-900-lxc-options", "ct-900-feature-base_setup", "ct-900-snapshot",
      "ct-901", "ct-901-lxc-options", "ct-901-feature-nvidia", "ct-901-snapshot",
      "ct-950", "ct-950-lxc-options", "ct-950-feature-nvidia", "ct-950-feature-vllm", "ct-950-app", "ct-950-health",
      "ct-952", "ct-952-lxc-options", "ct-952-app", "ct-952-health",
    ]);
  });
});
