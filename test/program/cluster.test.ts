// The cluster stack (stacks/Pulumi.cluster.yaml: pve1, pve2 with the GPU, pve3) under the mock
// monitor: each node gets its own host setup (`host-<node>-...`) over its own SSH endpoint, every
// SSH step of a guest goes to its node's endpoint, a guest waits only for its own node's storage and
// GPU setup, and a stack that grows from one node to several keeps the first node's state (aliases).
import { beforeAll, describe, expect, it } from "vitest";
import { loadDist } from "../load";
import { planStack, type PlanResult, type PlannedResource } from "./plan";

let cluster: PlanResult;
beforeAll(async () => {
  cluster = await planStack({ stack: "cluster" });
});

const NODE_OF_GUEST: Record<string, string> = {
  "ct-900": "pve1", "ct-902": "pve1", "vm-8000": "pve1", "vm-8001": "pve1",
  "ct-920": "pve2", "ct-921": "pve2", "ct-950": "pve2", "ct-955": "pve2",
  "ct-930": "pve3", "ct-932": "pve3", "ct-952": "pve3",
};
const guestOf = (r: PlannedResource) => /^(ct|vm)-\d+/.exec(r.name)?.[0];

describe("the cluster stack", () => {
  it("plans without errors, with one host component per node", () => {
    expect(cluster.errors).toEqual([]);
    const hosts = cluster.resources.filter((r) => r.type === "phoenix:hypervisor:Hypervisor").map((r) => r.name).sort();
    expect(hosts).toEqual(["host-pve1", "host-pve2", "host-pve3"]);
    // Only pve2 installs the NVIDIA driver (its own nodes/pve2/phoenix_hypervisor_config.json).
    expect(cluster.resources.filter((r) => r.name.startsWith("host-") && r.name.endsWith("-nvidia")).map((r) => r.name)).toEqual(["host-pve2-nvidia"]);
  });

  it("runs each node's host setup over that node's SSH endpoint", () => {
    for (const node of ["pve1", "pve2", "pve3"]) {
      const steps = cluster.resources.filter((r) => r.parent === `host-${node}` && r.inputs.connection);
      expect(steps.length, node).toBeGreaterThan(5);
      for (const s of steps) expect(s.inputs.connection.host, s.name).toBe(`${node}.example.internal`);
    }
  });

  it("sends every SSH step of a guest to its node, and creates the guest on that node", () => {
    let steps = 0;
    for (const r of cluster.resources) {
      const guest = guestOf(r);
      if (!guest || !r.custom) continue;
      const node = NODE_OF_GUEST[guest];
      expect(node, guest).toBeDefined();
      if (r.inputs.connection) {
        expect(r.inputs.connection.host, r.name).toBe(`${node}.example.internal`);
        steps++;
      }
      if (r.type.startsWith("proxmoxve:index/") && r.inputs.nodeName) expect(r.inputs.nodeName, r.name).toBe(node);
    }
    expect(steps).toBeGreaterThan(20);
  });

  it("shows each resource's node in the plan", () => {
    const node = (name: string, custom = true) => cluster.resources.find((r) => r.name === name && r.custom === custom)?.node;
    expect([node("ct-950"), node("ct-950", false), node("ct-950-feature-vllm"), node("host-pve3-initial-setup"), node("host-firewall"), node("vm-8001-cloud-init")]).toEqual([
      "pve2", "pve2", "pve2", "pve3", "pve1", "pve1",
    ]);
    const text = loadDist<typeof import("../../infra/cli/plan")>("infra/cli/plan").formatPlanText(cluster);
    expect(text.split("\n")[0]).toBe(`Plan for stack cluster: ${cluster.resources.length} resources on 3 nodes (pve1, pve2, pve3)`);
    expect(text).toContain("  pulumi-nodejs:dynamic/phoenix:lxc-step  ct-950-app\n      parent: ct-950\n      node: pve2\n");
  });

  it("makes a guest wait for its own node's storage and GPU setup only", () => {
    for (const r of cluster.resources) {
      const guest = guestOf(r);
      if (!guest || !r.custom) continue;
      const hostDeps = r.dependsOn.filter((d) => d.startsWith("host-") && !d.startsWith("host-firewall"));
      for (const d of hostDeps) {
        // A storage registration is the cluster's (storage.cfg): it must include the guest's node.
        const storage = cluster.resources.find((x) => x.name === d && x.name.startsWith("host-proxmox-storage-"));
        if (storage) expect(storage.inputs.params.nodes.split(","), `${r.name} <- ${d}`).toContain(NODE_OF_GUEST[guest]);
        else expect(d.startsWith(`host-${NODE_OF_GUEST[guest]}-`), `${r.name} <- ${d}`).toBe(true);
      }
    }
    const vllm = cluster.resources.find((r) => r.name === "ct-950" && r.custom)!;
    expect(vllm.dependsOn).toEqual(expect.arrayContaining(["host-pve2-nvidia", "host-proxmox-storage-quickOS-lxc-disks", "ct-921-snapshot"]));
  });

  it("registers each storage once for the cluster, restricted to the nodes whose files register it, after their datasets", () => {
    const storages = cluster.resources.filter((r) => r.type === "pulumi-nodejs:dynamic/phoenix:host-proxmox-storage");
    const ids = storages.map((s) => s.inputs.params.id);
    expect(new Set(ids).size).toBe(ids.length);
    const lxcDisks = storages.find((s) => s.inputs.params.id === "quickOS-lxc-disks")!;
    expect(lxcDisks.inputs.params.nodes).toBe("pve1,pve2,pve3");
    expect(lxcDisks.dependsOn).toEqual(["host-pve1-zfs-dataset-quickOS-lxc-disks", "host-pve2-zfs-dataset-quickOS-lxc-disks", "host-pve3-zfs-dataset-quickOS-lxc-disks"]);
    expect(storages.find((s) => s.inputs.params.id === "quickOS-vm-disks")!.inputs.params.nodes).toBe("pve1");
    // Run on the first node that has it, over that node's endpoint.
    for (const s of storages) expect(s.inputs.connection.host, s.name).toBe(`${s.inputs.params.nodes.split(",")[0]}.example.internal`);
  });
});

describe("a node's SSH secrets", () => {
  it("in plain text in phoenix:nodes, the program refuses them as validate does (never a readable key in the stack file)", async () => {
    const plan = await planStack({
      stack: "dev",
      config: { "phoenix:nodes": JSON.stringify({ pve: { sshHost: "a.example", sshHostKey: "SHA256:a" }, pve2: { sshHost: "b.example", sshHostKey: "SHA256:b", sshPassword: "hunter2-plain" } }) },
    });
    expect(plan.errors.join("\n")).toContain("phoenix:nodes.pve2.sshPassword: is plain text; set it with pulumi config set --secret --path 'phoenix:nodes.pve2.sshPassword'");
    expect(plan.errors.join("\n")).not.toContain("hunter2-plain");
  });
});

describe("growing from one node to several", () => {
  it("keeps the first node's host resources and the firewall under their single-node URNs (aliases)", async () => {
    const one = await planStack({ stack: "dev" });
    const two = await planStack({
      stack: "dev",
      config: { "phoenix:nodes": JSON.stringify({ pve: { sshHost: "pve-dev.example.internal", sshHostKey: "SHA256:a" }, pve2: { sshHost: "pve2.example.internal", sshHostKey: "SHA256:b" } }) },
    });
    expect(one.errors).toEqual([]);
    expect(two.errors).toEqual([]);
    /** The URN an alias `name (parent <urn>)` stands for: the child's type under the parent's type chain. */
    const aliasUrn = (alias: string, type: string) => {
      const m = /^(\S+) \(parent (urn:pulumi:[^:]+::[^:]+::)(.+)::([^:]+)\)$/.exec(alias);
      return m ? `${m[2]}${m[3]}$${type}::${m[1]}` : undefined;
    };
    const oldHost = one.resources.filter((r) => r.custom && (r.parent === "host"));
    expect(oldHost.length).toBeGreaterThan(20);
    for (const old of oldHost) {
      // The cluster's own resources (firewall, storage registrations) keep their names; a node's steps carry the node.
      const renamed = /^host-(firewall|proxmox-storage-)/.test(old.name) ? old.name : old.name.replace(/^host-/, "host-pve-");
      const now = two.resources.find((r) => r.name === renamed && r.type === old.type);
      expect(now, renamed).toBeDefined();
      expect(now!.parent).toBe("host-pve");
      expect(now!.aliases.map((a) => aliasUrn(a, old.type)), renamed).toContain(old.urn);
    }
    // And back: a stack that shrinks to the node it kept keeps that node's state.
    const kept = two.resources.filter((r) => r.custom && r.parent === "host-pve");
    expect(kept.length).toBeGreaterThan(20);
    for (const old of kept) {
      const renamed = /^host-(firewall|proxmox-storage-)/.test(old.name) ? old.name : old.name.replace(/^host-pve-/, "host-");
      const now = one.resources.find((r) => r.name === renamed && r.type === old.type);
      expect(now, renamed).toBeDefined();
      expect(now!.aliases.map((a) => aliasUrn(a, old.type)), `${renamed} <- ${old.urn}`).toContain(old.urn);
    }
    // The second node's host setup is new; the guests keep their names and parents.
    expect(two.resources.some((r) => r.name === "host-pve2-initial-setup")).toBe(true);
    const guests = (p: PlanResult) => p.resources.filter((r) => guestOf(r)).map((r) => r.urn).sort();
    expect(guests(two)).toEqual(guests(one));
  });
});
