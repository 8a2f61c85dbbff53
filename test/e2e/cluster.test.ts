// End to end on a three-node cluster: the real program for the example `cluster` stack (pve1,
// pve2 with the GPU, pve3; stacks/Pulumi.cluster.yaml), run as an update by the engine stand-in
// against three sshd test hosts sharing one /etc/pve (test/host/cluster.ts), real LXC behind each
// node's pct emulator. Each container must be created on its node, and each node's emulator log
// must hold exactly the steps of its own guests; a second run changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, cpSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadDist, repoRoot } from "../load";
import { startTestCluster, type TestCluster } from "../host/cluster";
import { installStorageCfg, seedFromDir } from "../host/emulator/lib";
import { Engine, type RunReport } from "./lxc-engine";
import type { Json } from "../config/helpers";

const NODES = ["pve1", "pve2", "pve3"];
/** Where the example stack puts each container (stacks/cluster/phoenix_lxc_configs.json). */
const NODE_OF: Record<number, string> = { 900: "pve1", 902: "pve1", 920: "pve2", 921: "pve2", 950: "pve2", 955: "pve2", 930: "pve3", 932: "pve3", 952: "pve3" };

/**
 * A copy of the cluster files whose bind-mount sources live under /srv (overlaid by each test
 * host), and whose GPU containers see a loaded 580.76.05 NVIDIA module as a real host shows it.
 */
function clusterCopy(): string {
  const src = path.join(repoRoot, "stacks", "cluster");
  const dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-cluster-"));
  cpSync(src, dir, { recursive: true });
  for (const file of ["phoenix_hypervisor_config.json", ...["pve2", "pve3"].map((n) => `nodes/${n}/phoenix_hypervisor_config.json`)]) {
    const h = JSON.parse(readFileSync(path.join(dir, file), "utf8"));
    for (const v of Object.values(h.shared_volumes ?? {}) as Json[]) if (typeof v.host_path === "string") v.host_path = `/srv${v.host_path}`;
    writeFileSync(path.join(dir, file), JSON.stringify(h, null, 2));
  }
  const lxc = JSON.parse(readFileSync(path.join(dir, "phoenix_lxc_configs.json"), "utf8"));
  for (const id of ["921", "950", "955"]) {
    const c = lxc.lxc_configs[id];
    c.lxc_options = [...(c.lxc_options ?? []), "lxc.mount.entry = /srv/nvidia-proc-driver proc/driver none bind,create=dir 0 0"];
  }
  writeFileSync(path.join(dir, "phoenix_lxc_configs.json"), JSON.stringify(lxc, null, 2));
  copyFileSync(path.join(src, "phoenix_vm_configs.json"), path.join(dir, "phoenix_vm_configs.json"));
  return dir;
}

describe("the cluster stack end to end on three test hosts", () => {
  let cluster: TestCluster;
  let engine: Engine;
  let first: RunReport;
  let configDir: string;
  let nodesSetting: string;

  beforeAll(async () => {
    cluster = await startTestCluster(NODES, { lxc: true, emulator: { tools: ["pct"], seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") } });
    configDir = clusterCopy();
    await cluster.host("pve2").exec("mkdir -p /srv/nvidia-proc-driver/nvidia && printf 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.76.05  Release Build\\n' > /srv/nvidia-proc-driver/nvidia/version");
    // storage.cfg is the cluster's: each storage on the nodes whose host file registers it.
    const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
    const loaded = loadPhoenixConfig(configDir, { defaultNode: "pve1", nodes: NODES });
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    const storages = new Map<string, { id: string; type: string; content: string[]; target: string; nodes: string[] }>();
    for (const n of loaded.model.nodes) for (const s of n.host.storages) storages.set(s.id, { ...s, nodes: [...(storages.get(s.id)?.nodes ?? []), n.name] });
    await installStorageCfg(cluster.host("pve1"), [...storages.values()]);
    // Every node's endpoint, as a cluster stack's phoenix:nodes gives them.
    nodesSetting = JSON.stringify(
      Object.fromEntries(NODES.map((n) => [n, { sshHost: cluster.host(n).target.host, sshPort: String(cluster.host(n).target.port), sshHostKey: cluster.host(n).hostKeyLine }])),
    );
    engine = new Engine(cluster, { lockRetryDelayMs: 1000 });
    first = await engine.up({ stack: "cluster", configDir, config: { "phoenix:nodes": nodesSetting, "phoenix:node": "pve1" } });
  }, 1_800_000);
  afterAll(() => cluster?.stop());

  it("creates every container, each on its own node", async () => {
    expect(first.errors).toEqual([]);
    for (const id of Object.keys(NODE_OF)) expect(first.actions.get(`ct-${id}`), `ct-${id}`).toBe("create");
    const confs = (await cluster.host("pve1").exec("cd /etc/pve/nodes && ls */lxc/*.conf")).stdout.split("\n").filter(Boolean).sort();
    expect(confs).toEqual(Object.entries(NODE_OF).map(([id, n]) => `${n}/lxc/${id}.conf`).sort());
  });

  it("runs each guest's steps on its own node only: the emulator logs", async () => {
    for (const node of NODES) {
      const calls = (await cluster.calls(node)).filter((c) => c[0] === "pct" && /^\d+$/.test(c[2] ?? ""));
      const guests = [...new Set(calls.map((c) => Number(c[2])))].sort();
      expect(guests, node).toEqual(Object.entries(NODE_OF).filter(([, n]) => n === node).map(([id]) => Number(id)).sort());
      // Steps that only SSH carries out (raw LXC options, features, snapshots) happened there too.
      const verbs = new Set(calls.map((c) => c[1]));
      for (const v of ["exec", "snapshot"]) expect(verbs.has(v), `${node} ${v}`).toBe(true);
    }
    // pve2's GPU chain: the NVIDIA user space went into 921, 950 and 955 on pve2.
    const pve2 = await cluster.calls("pve2");
    for (const id of ["921", "950", "955"]) expect(pve2.some((c) => c[1] === "push" && c[2] === id && /nvidia/.test(c.join(" "))), id).toBe(true);
  });

  it("changes nothing on a second run", async () => {
    const before = await Promise.all(NODES.map((n) => cluster.calls(n)));
    const second = await engine.up({ stack: "cluster", configDir, config: { "phoenix:nodes": nodesSetting, "phoenix:node": "pve1" } });
    expect(second.errors).toEqual([]);
    expect([...second.actions.values()].every((a) => a === "same"), JSON.stringify([...second.actions])).toBe(true);
    const after = await Promise.all(NODES.map((n) => cluster.calls(n)));
    // Reading is allowed (refresh-free diffs open no session for Proxmox resources); nothing is changed.
    for (const [i, node] of NODES.entries()) {
      const added = after[i].slice(before[i].length).filter((c) => !["status", "config", "listsnapshot"].includes(c[1]));
      expect(added, node).toEqual([]);
    }
  });
});
