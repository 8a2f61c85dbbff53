// Cluster stacks (issue 16): `phoenix:nodes` in the stack settings, per-node host files
// (`nodes/<node>/phoenix_hypervisor_config.json`) in the loader, and the example stack `cluster`.
// The per-node cross-file rules (guestNodes, cloneSameNode, hostPathsOnNode, storages and GPUs per
// node) have their accepted and refused cases in rules.test.ts and below.
import { afterAll, describe, expect, it } from "vitest";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadDist, repoRoot } from "../load";
import { HOST, LXC, VM, cleanTempDirs, load, readFiles, writeFiles, type Files, type Json } from "./helpers";

const settingsMod = loadDist<typeof import("../../infra/settings")>("infra/settings");
const stackSettings = loadDist<typeof import("../../infra/config/stack-settings")>("infra/config/stack-settings");

afterAll(cleanTempDirs);

const CLUSTER_DIR = path.join(repoRoot, "stacks", "cluster");
const nodesJson = (v: unknown) => JSON.stringify(v);
const settingsOf = (values: Record<string, string>) => settingsMod.stackSettingsFrom("t", (k) => values[k]);
const problemsOf = (values: Record<string, string>) => stackSettings.stackSettingProblems(values).map((p) => `phoenix:${p.key}: ${p.message}`);

describe("phoenix:nodes in the stack settings", () => {
  it("a single-node stack keeps its settings: nodes is exactly [{ node, connection }]", () => {
    const s = settingsOf({ node: "pve-a", sshHost: "10.0.0.5", sshHostKey: "SHA256:abc" });
    expect(s.nodes).toEqual([{ name: "pve-a", connection: s.connection }]);
    expect(s.connection).toEqual({ host: "10.0.0.5", port: 22, user: "root", hostKey: "SHA256:abc", insecureIgnoreHostKey: false, sudo: false });
  });

  it("nodes: the primary first, each field falling back to the flat key, secretsNode only where a node has its own secrets", () => {
    const s = settingsOf({
      node: "pve2",
      sshUser: "phoenix",
      sshPort: "2222",
      sshHostKey: "SHA256:flat",
      sshBastionHost: "jump.example",
      sshBastionHostKey: "SHA256:jump",
      nodes: nodesJson({
        pve1: { sshHost: "pve1.example", sshHostKey: "SHA256:one" },
        pve2: { sshHost: "10.0.0.22", sshHostKey: "SHA256:two", sshPort: 22, sshSudo: false, sshPrivateKey: "[secret]" },
        pve3: { sshHost: "pve3.example", sshHostKey: "SHA256:three", sshUser: "root", sshBastionHost: "jump3.example" },
      }),
    });
    expect(s.nodes.map((n) => n.name)).toEqual(["pve2", "pve1", "pve3"]);
    expect(s.node).toBe("pve2");
    expect(s.connection).toBe(s.nodes[0].connection);
    const [pve2, pve1, pve3] = s.nodes.map((n) => n.connection);
    expect(pve2).toEqual({ host: "10.0.0.22", port: 22, user: "phoenix", hostKey: "SHA256:two", insecureIgnoreHostKey: false, sudo: false, bastion: { host: "jump.example", port: 22, user: "phoenix", hostKey: "SHA256:jump" }, secretsNode: "pve2" });
    expect(pve1).toEqual({ host: "pve1.example", port: 2222, user: "phoenix", hostKey: "SHA256:one", insecureIgnoreHostKey: false, sudo: true, bastion: { host: "jump.example", port: 22, user: "phoenix", hostKey: "SHA256:jump" } });
    expect(pve3).toMatchObject({ host: "pve3.example", user: "root", sudo: false, bastion: { host: "jump3.example", user: "root" } });
    expect(pve3.secretsNode).toBeUndefined();
  });

  it("in a stack of several nodes each node pins its own host key (the flat key names one host)", () => {
    const problems = problemsOf({ sshHostKey: "SHA256:flat", nodes: nodesJson({ a: { sshHost: "a.example", sshHostKey: "SHA256:a" }, b: { sshHost: "b.example" } }) });
    expect(problems).toEqual([expect.stringMatching(/^phoenix:nodes\.b\.sshHostKey: is required in a stack of several nodes/)]);
    // Opting out on purpose (warned on every run, refused by the policy pack in prod) is the user's call.
    expect(problemsOf({ nodes: nodesJson({ a: { sshHost: "a.example", sshHostKey: "SHA256:a" }, b: { sshHost: "b.example", sshInsecureIgnoreHostKey: "true" } }) })).toEqual([]);
    // One node: the flat key is that node's.
    expect(problemsOf({ sshHostKey: "SHA256:flat", nodes: nodesJson({ a: { sshHost: "a.example" } }) })).toEqual([]);
  });

  it("without phoenix:node the first node in file order is primary", () => {
    const s = settingsOf({ nodes: nodesJson({ b: { sshHost: "b.example", sshHostKey: "SHA256:b" }, a: { sshHost: "a.example", sshHostKey: "SHA256:a" } }) });
    expect(s.node).toBe("b");
    expect(s.nodes.map((n) => n.name)).toEqual(["b", "a"]);
    expect(s.connection.host).toBe("b.example");
  });

  it.each([
    ["a bad port", { pve2: { sshHost: "h", sshPort: 70000 } }, "phoenix:nodes.pve2.sshPort: must be a TCP port 1-65535; got 70000"],
    ["a bad host", { pve2: { sshHost: "h;rm -rf /" } }, "phoenix:nodes.pve2.sshHost: must be a host name or IPv4 address"],
    ["a bad boolean", { pve2: { sshHost: "h", sshSudo: "yes" } }, "phoenix:nodes.pve2.sshSudo: must be true or false"],
    ["a bad user", { pve2: { sshHost: "h", sshUser: "Robert'); DROP" } }, "phoenix:nodes.pve2.sshUser: must be a Linux user name"],
    ["a host key with a newline", { pve2: { sshHost: "h", sshHostKey: "a\nb" } }, "phoenix:nodes.pve2.sshHostKey: must be a host key line"],
    ["no sshHost", { pve2: { sshPort: 22 } }, "phoenix:nodes.pve2.sshHost: is required"],
    ["an unknown field", { pve2: { sshHost: "h", sshHots: "x" } }, "phoenix:nodes.pve2.sshHots: unknown key"],
    ["a bad node name", { "pve_2": { sshHost: "h" } }, "phoenix:nodes.pve_2: is not a Proxmox node name"],
    ["a name too long for a DNS label", { ["p".repeat(64)]: { sshHost: "h" } }, `phoenix:nodes.${"p".repeat(64)}: is not a Proxmox node name`],
    ["a node that is not a map", { pve2: "h" }, "phoenix:nodes.pve2: must be a map of SSH settings"],
    ["a list instead of a map", ["pve1"], "phoenix:nodes: must be a map of node name to its SSH settings"],
    ["no node at all", {}, "phoenix:nodes: names no node"],
  ])("refuses %s, one line naming phoenix:nodes.<node>.<field>", (_name, nodes, expected) => {
    const problems = problemsOf({ nodes: nodesJson(nodes) });
    expect(problems.some((p) => p.startsWith(expected)), problems.join("\n")).toBe(true);
    expect(() => settingsOf({ nodes: nodesJson(nodes) })).toThrow(expected);
  });

  it("accepts every node key with the flat keys' values; phoenix:node must be one of the nodes", () => {
    const good = { pve1: { sshHost: "10.0.0.21", sshPort: "22", sshUser: "phoenix", sshHostKey: "SHA256:x", sshInsecureIgnoreHostKey: "false", sshSudo: true, sshBastionHost: "jump", sshBastionPort: 2200, sshBastionUser: "jumper", sshBastionHostKey: "SHA256:y" } };
    expect(problemsOf({ node: "pve1", nodes: nodesJson(good) })).toEqual([]);
    expect(problemsOf({ node: "pve9", nodes: nodesJson(good) })).toEqual(["phoenix:node: must be one of phoenix:nodes (pve1); got \"pve9\""]);
  });
});

describe("phoenix:nodes in Pulumi.<stack>.yaml (validate)", () => {
  const stackFile = (yaml: string) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-stackfile-"));
    const file = path.join(dir, "Pulumi.t.yaml");
    fs.writeFileSync(file, yaml);
    return file;
  };
  const yaml = (pve2: string) => `config:\n  phoenix:node: pve1\n  phoenix:nodes:\n    pve1:\n      sshHost: pve1.example\n      sshHostKey: SHA256:one\n    pve2:\n      sshHostKey: SHA256:two\n${pve2}`;

  it("a secure leaf is a secret path, read offline as a placeholder; the structured value stays readable", () => {
    const file = stackFile(yaml("      sshHost: pve2.example\n      sshPort: 2222\n      sshPrivateKey:\n        secure: AAABAxyz\n"));
    const read = stackSettings.readStackFile(file);
    expect(read.secretPaths).toEqual(["phoenix:nodes.pve2.sshPrivateKey"]);
    expect(read.secretKeys).toEqual([]);
    expect(JSON.parse(read.plain["phoenix:nodes"])).toEqual({ pve1: { sshHost: "pve1.example", sshHostKey: "SHA256:one" }, pve2: { sshHostKey: "SHA256:two", sshHost: "pve2.example", sshPort: 2222, sshPrivateKey: stackSettings.SECRET_PLACEHOLDER } });
    expect(stackSettings.checkStackFile(file).errors).toEqual([]);
    const s = settingsMod.stackSettingsFrom("t", (k) => stackSettings.checkStackFile(file).values[k]);
    expect(s.nodes.map((n) => [n.name, n.connection.host, n.connection.port, n.connection.secretsNode])).toEqual([
      ["pve1", "pve1.example", 22, undefined],
      ["pve2", "pve2.example", 2222, "pve2"],
    ]);
  });

  it("refuses a node secret in plain text, and a bad field, each one line with file and key", () => {
    const file = stackFile(yaml("      sshHost: pve2.example\n      sshPort: 0\n      sshPassword: hunter2\n"));
    const { errors } = stackSettings.checkStackFile(file);
    expect(errors).toEqual([
      `${file}: phoenix:nodes.pve2.sshPort: must be a TCP port 1-65535; got 0`,
      `${file}: phoenix:nodes.pve2.sshPassword: is plain text; set it with pulumi config set --secret --path 'phoenix:nodes.pve2.sshPassword'`,
    ]);
    expect(errors.join("\n")).not.toContain("hunter2");
  });
});

/** A copy of the example cluster stack's files (node host files included), mutated, in a temp dir. */
function clusterDir(mutate: (f: Files) => void = () => {}): string {
  const files: Files = readFiles(CLUSTER_DIR);
  files.nodes = {};
  for (const node of fs.readdirSync(path.join(CLUSTER_DIR, "nodes"))) {
    files.nodes[node] = JSON.parse(fs.readFileSync(path.join(CLUSTER_DIR, "nodes", node, HOST), "utf8"));
  }
  mutate(files);
  return writeFiles(files);
}
const NODES = { defaultNode: "pve1", nodes: ["pve1", "pve2", "pve3"] };
const ct = (f: Files, id: number): Json => f.lxc.lxc_configs[String(id)];
const P2 = "nodes/pve2/phoenix_hypervisor_config.json";

describe("per-node host files", () => {
  it("the example stack: each node's host from its own file or the stack's, guests' nodes resolved", () => {
    const r = load(clusterDir(), NODES);
    if (!r.ok) throw new Error(r.errors.join("\n"));
    const m = r.model;
    expect(m.nodes.map((n) => n.name)).toEqual(["pve1", "pve2", "pve3"]);
    expect(m.host).toBe(m.nodes[0].host);
    expect(m.nodes.map((n) => path.relative(path.dirname(m.files.hypervisor), n.files.hypervisor))).toEqual([HOST, P2, "nodes/pve3/phoenix_hypervisor_config.json"]);
    expect(m.nodes.map((n) => n.host.network.address)).toEqual(["10.0.0.21/24", "10.0.0.22/24", "10.0.0.23/24"]);
    expect(m.nodes.map((n) => !!n.host.nvidiaDriver)).toEqual([false, true, false]);
    expect(Object.fromEntries(m.containers.map((c) => [c.ctid, c.node]))).toEqual({ 900: "pve1", 902: "pve1", 920: "pve2", 921: "pve2", 930: "pve3", 932: "pve3", 950: "pve2", 952: "pve3", 955: "pve2" });
    // Shared volumes come from the guest's node's file: pve2's model volumes into vLLM.
    expect(m.containers.find((c) => c.ctid === 950)!.bindMounts.map((b) => b.hostPath)).toEqual(["/fastData/shared-bulk-data/vllm_models"]);
  });

  it("without nodes: one node, defaultNode or pve, with the stack's host", () => {
    const r = load(path.join(repoRoot, "stacks", "dev"));
    if (!r.ok) throw new Error(r.errors.join("\n"));
    expect(r.model.nodes).toEqual([{ name: "pve", host: r.model.host, files: { hypervisor: r.model.files.hypervisor } }]);
    const named = load(path.join(repoRoot, "stacks", "dev"), { defaultNode: "pve-a" });
    if (named.ok) expect(named.model.nodes.map((n) => n.name)).toEqual(["pve-a"]);
    expect(named.ok && named.model.containers.every((c) => c.node === "pve-a")).toBe(true);
  });

  it("a node's host file is checked like the stack's: errors name that file", () => {
    const r = load(clusterDir((f) => (f.nodes!.pve2.zfs.pools[0].raid_level = "raid7")), NODES);
    expect(r.ok).toBe(false);
    if (!r.ok) expect(r.errors.some((e) => e.startsWith(`${P2}: $.zfs.pools[0].raid_level:`)), r.errors.join("\n")).toBe(true);
    const bad = load(clusterDir((f) => (f.nodes!.pve2.zfs.arc_max_gb = -1)), NODES);
    if (!bad.ok) expect(bad.errors.every((e) => !e.startsWith(`${HOST}:`)), bad.errors.join("\n")).toBe(true);
  });

  it("refuses a volume on a storage only another node registers (Proxmox: not available on this node)", () => {
    const r = load(clusterDir((f) => (ct(f, 920).volumes = [{ name: "x", pool: "quickOS-vm-persistent-data", mount_point: "/x", size_gb: 2 }])), NODES);
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.errors).toContainEqual(expect.stringMatching(/^phoenix_lxc_configs\.json: \$\.lxc_configs\["920"\]\.volumes\[0\]: container 920's volume x is on node pve2, but storage quickOS-vm-persistent-data is registered only on node pve1/));
    }
  });

  it("the host firewall is the cluster's: a node file's different block is refused, the same block or none accepted", () => {
    const differs = load(clusterDir((f) => (f.nodes!.pve2.shared_volumes.firewall.default_input_policy = "ACCEPT")), NODES);
    expect(differs.ok).toBe(false);
    if (!differs.ok) expect(differs.errors).toEqual([expect.stringMatching(new RegExp(`^${P2}: \\$\\.firewall: the host firewall is the cluster's`))]);
    expect(load(clusterDir(), NODES).ok).toBe(true);
    expect(load(clusterDir((f) => delete f.nodes!.pve2.shared_volumes.firewall), NODES).ok).toBe(true);
  });

  it("a node name that is no Proxmox node name never becomes a path", () => {
    const r = load(clusterDir(), { nodes: ["pve1", "../pve2"] });
    expect(r.ok ? [] : r.errors).toEqual([`${HOST}: $: node "../pve2" is not a Proxmox node name; its host file cannot be looked up`]);
  });

  it("a node's file that is not JSON names that file", () => {
    const dir = clusterDir();
    fs.writeFileSync(path.join(dir, P2), "{ nope");
    const r = load(dir, NODES);
    expect(r.ok ? [] : r.errors[0]).toMatch(/^nodes\/pve2\/phoenix_hypervisor_config\.json: \$: invalid JSON/);
  });

  it("refuses a guest's storage its node does not have, naming the node's file; accepts it where the node has it", () => {
    // quickOS-vm-disks is registered on pve1 only.
    const r = load(clusterDir((f) => (ct(f, 920).storage_pool = "quickOS-vm-disks")), NODES);
    expect(r.ok ? [] : r.errors).toContainEqual(expect.stringMatching(new RegExp(`^${LXC}: \\$\\.lxc_configs\\["920"\\]\\.storage_pool: storage quickOS-vm-disks is not in the host config of its node \\(${P2.replace(/\//g, "\\/")}\\)`)));
    const vm = load(clusterDir((f) => { for (const v of f.vm.vms) v.node = "pve2"; }), NODES);
    expect(vm.ok ? [] : vm.errors).toContainEqual(expect.stringMatching(/^phoenix_vm_configs\.json: \$\.vm_defaults\.storage_pool|^phoenix_vm_configs\.json: \$\.vms\[0\]/));
    const ok = load(clusterDir((f) => (ct(f, 950).storage_pool = "fastData-shared-bulk-data")), NODES);
    expect(ok.ok ? [] : ok.errors).toEqual([]);
  });

  it("refuses a GPU on a node without the NVIDIA driver, naming the node", () => {
    const r = load(clusterDir((f) => { ct(f, 952).gpu_assignment = "0"; }), NODES);
    expect(r.ok ? [] : r.errors).toContainEqual(`${LXC}: $.lxc_configs["952"].gpu_assignment: GPU 0 assigned, but node pve3's nodes/pve3/${HOST} does not install the NVIDIA driver (nvidia_driver.install)`);
    const moved = load(clusterDir((f) => { f.nodes!.pve2.nvidia_driver = { install: false }; f.nodes!.pve3.nvidia_driver = structuredClone(readFiles(CLUSTER_DIR).host.nvidia_driver); }), NODES);
    expect(moved.ok ? [] : moved.errors).toContainEqual(expect.stringMatching(/^phoenix_lxc_configs\.json: \$\.lxc_configs\["921"\]\.gpu_assignment: GPU 0 assigned, but node pve2's nodes\/pve2\/phoenix_hypervisor_config\.json does not install/));
  });

  it("refuses a node driver version the containers' user-space driver does not match", () => {
    const r = load(clusterDir((f) => (f.nodes!.pve2.nvidia_driver.version = "570.1.1")), NODES);
    expect(r.ok ? [] : r.errors).toContainEqual(`${LXC}: $.nvidia_driver_version: 580.76.05 differs from the host driver 570.1.1 of node pve2 (containers must match the host)`);
  });

  it("refuses two nodes at one address, and a guest at a node's address", () => {
    const r = load(clusterDir((f) => (f.nodes!.pve3.network.interfaces.address = "10.0.0.22/24")), NODES);
    expect(r.ok ? [] : r.errors).toContainEqual(`nodes/pve3/phoenix_hypervisor_config.json: $.network.interfaces.address: IP 10.0.0.22 is already used by node pve2 (${P2} network.interfaces.address)`);
    const g = load(clusterDir((f) => (ct(f, 952).network_config.ip = "10.0.0.23/24")), NODES);
    expect(g.ok ? [] : g.errors).toContainEqual(`${LXC}: $.lxc_configs["952"].network_config.ip: IP 10.0.0.23 is already used by node pve3 (nodes/pve3/phoenix_hypervisor_config.json network.interfaces.address)`);
  });

  it("IDs are unique cluster-wide: a VMID equal to a CTID on another node is refused", () => {
    const r = load(clusterDir((f) => (f.vm.vms[1].vmid = 952)), NODES);
    expect(r.ok ? [] : r.errors).toContainEqual(expect.stringMatching(/^phoenix_vm_configs\.json: \$\.vms\[1\]\.vmid: ID 952 is also container 952/));
  });

  it("a node without its own file uses the stack's, and a guest there is judged against it", () => {
    const r = load(clusterDir((f) => delete f.nodes!.pve3), NODES);
    // pve3's guests fall back to the stack file (pve1's), which has quickOS-shared-prod-data too.
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (r.ok) expect(r.model.nodes[2].host).toBe(r.model.nodes[0].host);
  });
});

describe("the example stack cluster", () => {
  it("validates with its settings (phoenix validate --stack cluster)", async () => {
    const validate = loadDist<typeof import("../../infra/cli/validate")>("infra/cli/validate");
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((c: string) => (writes.push(String(c)), true)) as typeof process.stderr.write;
    try {
      expect(await validate.run(["--stack", "cluster", "--quiet"])).toBe(0);
    } finally {
      process.stderr.write = orig;
    }
    expect(writes.join("")).toBe("");
  });

  it("its settings name three nodes, pve1 primary, each with its own host key placeholder", () => {
    const { values, errors } = stackSettings.checkStackFile(path.join(repoRoot, "stacks", "Pulumi.cluster.yaml"));
    expect(errors).toEqual([]);
    const s = settingsMod.stackSettingsFrom("cluster", (k) => values[k]);
    expect(s.nodes.map((n) => [n.name, n.connection.host])).toEqual([
      ["pve1", "pve1.example.internal"],
      ["pve2", "pve2.example.internal"],
      ["pve3", "pve3.example.internal"],
    ]);
    expect(new Set(s.nodes.map((n) => n.connection.hostKey)).size).toBe(3);
  });

  it("validate reports a node file's error and a settings error together (the nodes still known)", async () => {
    const validate = loadDist<typeof import("../../infra/cli/validate")>("infra/cli/validate");
    const dir = clusterDir((f) => (f.nodes!.pve2.zfs.pools[0].raid_level = "raid9"));
    const yaml = fs.readFileSync(path.join(repoRoot, "stacks", "Pulumi.cluster.yaml"), "utf8").replace("      sshHost: pve3.example.internal\n", "      sshHost: pve3.example.internal\n      sshPort: 99999\n");
    fs.writeFileSync(path.join(path.dirname(dir), `Pulumi.${path.basename(dir)}.yaml`), yaml);
    const writes: string[] = [];
    const orig = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((c: string) => (writes.push(String(c)), true)) as typeof process.stderr.write;
    try {
      expect(await validate.run(["--config-dir", dir, "--quiet"])).toBe(1);
    } finally {
      process.stderr.write = orig;
      fs.rmSync(path.join(path.dirname(dir), `Pulumi.${path.basename(dir)}.yaml`));
    }
    const lines = writes.join("").trim().split("\n");
    expect(lines[0]).toMatch(/Pulumi\.phoenix-config-\w+\.yaml: phoenix:nodes\.pve3\.sshPort: must be a TCP port 1-65535; got 99999$/);
    expect(lines[1]).toBe(`${P2}: $.zfs.pools[0].raid_level: must be one of single, mirror, raidz1, raidz2, raidz3; got "raid9"`);
    expect(lines).toHaveLength(3);
  });

  it("the firewall lock-out guard judges each node's firewall (its own file) against that node's SSH endpoint", () => {
    const { values } = stackSettings.checkStackFile(path.join(repoRoot, "stacks", "Pulumi.cluster.yaml"));
    const settings = settingsMod.stackSettingsFrom("cluster", (k) => values[k]);
    const ok = load(clusterDir(), NODES);
    if (!ok.ok) throw new Error(ok.errors.join("\n"));
    expect(settingsMod.stackFirewallLockout(ok.model, settings)).toEqual([]);
    // pve3 keeps SSH open on port 22 only, but its endpoint is port 2222.
    const moved = settingsMod.stackSettingsFrom("cluster", (k) => (k === "nodes" ? JSON.stringify({ ...JSON.parse(values.nodes), pve3: { sshHost: "pve3.example.internal", sshHostKey: "SHA256:x", sshPort: 2222 } }) : values[k]));
    const lines = settingsMod.stackFirewallLockout(ok.model, moved);
    expect(lines.length).toBeGreaterThan(0);
    expect(lines.join("\n")).toContain("2222");
  });

  it("validate refuses a guest on a node the stack does not list", async () => {
    const dir = clusterDir((f) => (f.vm.vms[0].node = "pve4"));
    const r = load(dir, NODES);
    expect(r.ok ? [] : r.errors).toContainEqual(`${VM}: $.vms[0].node: node pve4 is not a node of this stack; the stack's nodes are pve1, pve2, pve3 (phoenix:nodes)`);
  });
});
