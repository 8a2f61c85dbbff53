// `npm run bench`: how long `phoenix plan` takes (program evaluation plus dynamic-provider
// serialization) for the dev stack and for a generated stack of 300 containers in a four-level
// template tree, and their ratio; the state weight of both (bytes of `__provider` per dynamic
// resource, projected state size: bench/state.ts); then provider serialization time and size per kind.
// A script, not a timed test: it prints figures and never fails on them.
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { planStack, type PlannedResource } from "../infra/cli/plan";
import { repoRoot } from "../features/registry";
import { formatStateWeight, stateWeight } from "./state";

/** A JSON object read from the Phoenix configuration files (edited here, not interpreted). */
type JsonObject = Record<string, unknown>;

/**
 * Writes a copy of the dev files whose LXC file holds `count` containers in a 4-level tree, or,
 * with `nodes`, one such tree per Proxmox node (`count` spread evenly; clones stay on their
 * template's node). Returns the folder.
 */
function generateLargeConfig(count: number, nodes: string[] = []): string {
  const dev = path.join(repoRoot(), "stacks", "dev");
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-bench-"));
  fs.copyFileSync(path.join(dev, "phoenix_vm_configs.json"), path.join(dir, "phoenix_vm_configs.json"));
  // Shared volumes mount into dev's CTIDs, which the generated tree does not have.
  const hypervisor = JSON.parse(fs.readFileSync(path.join(dev, "phoenix_hypervisor_config.json"), "utf8"));
  for (const volume of Object.values<unknown>(hypervisor.shared_volumes ?? {})) {
    if (volume && typeof volume === "object" && "mounts" in volume) volume.mounts = {};
  }
  fs.writeFileSync(path.join(dir, "phoenix_hypervisor_config.json"), JSON.stringify(hypervisor, null, 2));
  const lxc = JSON.parse(fs.readFileSync(path.join(dev, "phoenix_lxc_configs.json"), "utf8"));
  const devConfigs: Record<string, JsonObject> = lxc.lxc_configs;
  const root = devConfigs["900"];
  const leafModel = devConfigs["955"] ?? Object.values(devConfigs).find((c) => !c.template_snapshot_name);
  const configs: Record<string, JsonObject> = {};
  let next = 1000;
  let host = 10;
  const mk = (base: JsonObject, name: string, parent: number | undefined, template: boolean, node?: string) => {
    const id = next++;
    const c: JsonObject = JSON.parse(JSON.stringify(base));
    c.name = name;
    if (node) c.node = node;
    else delete c.node;
    delete c.dependencies;
    delete c.mac_address;
    if (parent === undefined) delete c.clone_from_ctid;
    else {
      c.clone_from_ctid = String(parent);
      delete c.template;
    }
    if (template) c.template_snapshot_name = "phoenix-template";
    else delete c.template_snapshot_name;
    c.gpu_assignment = "none";
    c.features = parent === undefined ? ["base_setup"] : template ? ["docker"] : [];
    const third = Math.floor(host / 250);
    c.network_config = { ...(c.network_config as JsonObject), ip: `10.${20 + third}.0.${(host % 250) + 2}/16`, gw: "10.20.0.1" };
    host++;
    configs[String(id)] = c;
    return id;
  };
  // Four levels per tree: 1 root, 3 templates, 9 templates, the rest leaves spread over the 9.
  const trees = nodes.length ? nodes : [undefined];
  trees.forEach((node, t) => {
    const until = Math.round((count * (t + 1)) / trees.length);
    const tag = node ? `${node}-` : "";
    const rootId = mk(root, `bench-${tag}root`, undefined, true, node);
    const level2 = [0, 1, 2].map((i) => mk(leafModel, `bench-${tag}t2-${i}`, rootId, true, node));
    const level3 = level2.flatMap((p, i) => [0, 1, 2].map((j) => mk(leafModel, `bench-${tag}t3-${i}-${j}`, p, true, node)));
    for (let i = 0; next - 1000 < until; i++) mk(leafModel, `bench-${tag}leaf-${i}`, level3[i % level3.length], false, node);
  });
  lxc.lxc_configs = configs;
  fs.writeFileSync(path.join(dir, "phoenix_lxc_configs.json"), JSON.stringify(lxc, null, 2));
  return dir;
}

/** `phoenix:nodes` for a bench cluster of these nodes (placeholder endpoints: nothing connects). */
function nodesSetting(nodes: string[]): Record<string, string> {
  return { "phoenix:node": nodes[0], "phoenix:nodes": JSON.stringify(Object.fromEntries(nodes.map((n) => [n, { sshHost: `${n}.example.internal`, sshHostKey: `SHA256:placeholder-${n}` }]))) };
}

async function timePlan(label: string, configDir?: string, config?: Record<string, string>): Promise<{ ms: number; resources: number; planned: PlannedResource[] }> {
  const start = process.hrtime.bigint();
  const plan = await planStack({ stack: "dev", configDir, config });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  if (plan.errors.length) throw new Error(`${label}: plan failed:\n${plan.errors.join("\n")}`);
  return { ms, resources: plan.resources.length, planned: plan.resources };
}

async function main(): Promise<void> {
  // Warm-up: module loading and the first closure serialization are one-off costs.
  const cold = await timePlan("first run");
  const runs = 3;
  const dev: number[] = [];
  let devResources = 0;
  let devPlanned: PlannedResource[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await timePlan("dev");
    dev.push(r.ms);
    devResources = r.resources;
    devPlanned = r.planned;
  }
  const largeDir = generateLargeConfig(300);
  const large: number[] = [];
  let largeResources = 0;
  let largePlanned: PlannedResource[] = [];
  for (let i = 0; i < runs; i++) {
    const r = await timePlan("300 containers", largeDir);
    large.push(r.ms);
    largeResources = r.resources;
    largePlanned = r.planned;
  }
  fs.rmSync(largeDir, { recursive: true, force: true });
  // A three-node cluster stack: each node its own host setup and its own template tree.
  const clusterNodes = ["pve1", "pve2", "pve3"];
  const clusterDir = generateLargeConfig(300, clusterNodes);
  const cluster: number[] = [];
  let clusterResources = 0;
  for (let i = 0; i < runs; i++) {
    const r = await timePlan("3 nodes, 300 containers", clusterDir, nodesSetting(clusterNodes));
    cluster.push(r.ms);
    clusterResources = r.resources;
  }
  fs.rmSync(clusterDir, { recursive: true, force: true });
  const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  const devMs = median(dev);
  const largeMs = median(large);
  console.log("phoenix plan");
  console.log(`  dev stack, first plan in this process (module loading, first serialization): ${cold.ms.toFixed(0)} ms`);
  console.log("  then the median of 3 runs:");
  console.log(`  dev stack:        ${devMs.toFixed(0)} ms, ${devResources} resources (${(devMs / devResources).toFixed(2)} ms/resource)`);
  console.log(`  300 containers:   ${largeMs.toFixed(0)} ms, ${largeResources} resources (${(largeMs / largeResources).toFixed(2)} ms/resource)`);
  console.log(`  ratio 300/dev:    ${(largeMs / devMs).toFixed(2)}x time for ${(largeResources / devResources).toFixed(2)}x resources`);
  const clusterMs = median(cluster);
  console.log(`  3 nodes, 300 containers: ${clusterMs.toFixed(0)} ms, ${clusterResources} resources (${(clusterMs / clusterResources).toFixed(2)} ms/resource)`);
  console.log("\nstate weight (what every step of `pulumi up` / `refresh` rewrites and uploads)");
  console.log(formatStateWeight("dev stack:", stateWeight(devPlanned)));
  console.log(formatStateWeight("300 containers:", stateWeight(largePlanned)));
  try {
    // The same stacks with each resource's provider serialized whole, as before issue 17.
    const selfContained = await selfContainedProviders();
    const before = (r: PlannedResource) => selfContained.get(r.type.replace(/^pulumi-nodejs:dynamic\/phoenix:/, ""));
    console.log("  with the self-contained providers of before issue 17 (implementation serialized into each resource):");
    console.log(formatStateWeight("dev stack:", stateWeight(devPlanned, before)));
    console.log(formatStateWeight("300 containers:", stateWeight(largePlanned, before)));
  } catch (err) {
    console.log(`  (self-contained comparison unavailable: ${(err as Error).message})`);
  }

  try {
    const { benchProviders } = await import("./providers");
    const rows: Array<{ kind: string; ms: number; bytes: number }> = await benchProviders();
    console.log("\ndynamic provider serialization (per kind)");
    for (const r of rows) console.log(`  ${r.kind.padEnd(28)} ${r.ms.toFixed(1).padStart(8)} ms ${String(r.bytes).padStart(9)} bytes`);
  } catch (err) {
    console.log(`\nprovider serialization bench unavailable: ${(err as Error).message}`);
  }
}

/** Kind name → the kind's implementation serialized whole (`hostScriptProvider`), as resources carried it before issue 17. */
async function selfContainedProviders(): Promise<Map<string, string>> {
  const pulumi = await import("@pulumi/pulumi");
  const { providerKinds } = await import("../providers/index");
  const { hostScriptProvider } = await import("../providers/base/index");
  const out = new Map<string, string>();
  for (const kind of providerKinds) {
    const provider = hostScriptProvider(kind);
    out.set(kind.kind, (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text);
  }
  return out;
}

if (require.main === module) {
  main().then(
    () => process.exit(0),
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
