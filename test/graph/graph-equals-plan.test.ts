// graph = plan: `phoenix graph` (the deployment model, infra/deployment) holds exactly the
// resources the Pulumi program declares (name, type, parent) and exactly the dependencies each
// one is registered with (explicit and through inputs), for the dev and prod stacks and every
// field case that plans.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { CASES_DIR } from "../config/cases";
import { planStack } from "../program/plan";
import { cleanTempDirs, mutatedDir } from "../config/helpers";

const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
const G = loadDist<typeof import("../../infra/graph")>("infra/graph");

/** The plan's and the graph's resources as `name | type | parent` lines and `name <- dependency` lines. */
async function compare(stack: string, configDir: string, load: { defaultNode?: string; nodes?: string[] } = {}) {
  const plan = await planStack({ stack, configDir, config: { "phoenix:firewallLockoutAcknowledged": "true" } });
  expect(plan.errors, configDir).toEqual([]);
  const loaded = loadPhoenixConfig(configDir, load);
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const graph = G.buildGraph(loaded.model);
  const resources = (list: { name: string; type: string; parent: string | null }[]) => list.map((r) => `${r.name} | ${r.type} | ${r.parent}`).sort();
  const planDeps = plan.resources.flatMap((r) => r.dependsOn.map((d) => `${r.name} <- ${d}`)).sort();
  const graphDeps = graph.edges.map((e) => `${e.to} <- ${e.from}`).sort();
  return {
    plan: { resources: resources(plan.resources), deps: planDeps },
    graph: { resources: resources([...graph.components, ...graph.nodes].map((n) => ({ name: n.id, type: n.type, parent: n.parent }))), deps: graphDeps },
  };
}

describe("graph = plan", () => {
  for (const stack of ["dev", "prod"]) {
    it(`${stack}: every resource and every dependency`, async () => {
      const { plan, graph } = await compare(stack, path.join(repoRoot, "stacks", stack));
      expect(graph.resources).toEqual(plan.resources);
      expect(graph.deps).toEqual(plan.deps);
      expect(plan.resources.length).toBeGreaterThan(60);
    });
  }

  it("cluster: every resource and every dependency, node by node", async () => {
    const { config } = loadDist<typeof import("../../infra/cli/plan")>("infra/cli/plan").readStackConfig("cluster");
    const settings = loadDist<typeof import("../../infra/settings")>("infra/settings").stackSettingsFrom("cluster", (k) => config[`phoenix:${k}`]);
    const nodes = settings.nodes.map((n) => n.name);
    expect(nodes).toEqual(["pve1", "pve2", "pve3"]);
    const { plan, graph } = await compare("cluster", settings.configDir, { defaultNode: settings.node, nodes });
    expect(graph.resources).toEqual(plan.resources);
    expect(graph.deps).toEqual(plan.deps);
    for (const n of nodes) expect(plan.resources.some((r) => r.startsWith(`host-${n}-initial-setup |`)), n).toBe(true);
  });

  it("PCI passthrough: the mappings and the VMs that wait for them", async () => {
    const dir = mutatedDir((f) => {
      f.host.pci_devices = { gpu1: { path: "0000:42:00", id: "10de:2204", gpu_index: 1 }, nic1: { path: "0000:02:00.0", id: "8086:1533" } };
      f.vm.vms[1].pci_devices = ["gpu1", "nic1"];
      f.vm.vms[1].pcie = true;
    });
    const { plan, graph } = await compare("dev", dir);
    expect(graph.resources).toEqual(plan.resources);
    expect(graph.deps).toEqual(plan.deps);
    expect(plan.resources).toContain("host-pci-mapping-gpu1 | proxmoxve:hardware/mapping/pciLegacy:PciLegacy | host");
    expect(plan.deps).toContain("vm-8001 <- host-pci-mapping-nic1");
  });
  afterAll(cleanTempDirs);

  it("every field case that validates", async () => {
    const cases = fs.readdirSync(CASES_DIR).filter((c) => fs.existsSync(path.join(CASES_DIR, c, "phoenix_lxc_configs.json")));
    let compared = 0;
    for (const c of cases) {
      const dir = path.join(CASES_DIR, c);
      if (!loadPhoenixConfig(dir).ok) continue;
      const { plan, graph } = await compare("dev", dir);
      expect(graph.resources, c).toEqual(plan.resources);
      expect(graph.deps, c).toEqual(plan.deps);
      compared++;
    }
    expect(compared).toBeGreaterThan(3);
  });
});
