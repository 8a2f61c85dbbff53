// A Proxmox VE cluster of test hosts: one sshd test host (test/host/sshd.ts startTestHost) per
// node, each in its own mount namespace with its own host key, port, /var, /run and emulator call
// log, all sharing ONE /etc/pve: a directory of this machine bind-mounted at every host's /etc/pve,
// so the emulators see one cluster filesystem as Proxmox's nodes see pmxcfs
// (pve-cluster src/pmxcfs). Each host's emulator knows its own node name (EMU_NODE), so:
//   - a guest's config lives in /etc/pve/nodes/<node>/{lxc,qemu-server}/<vmid>.conf, and each
//     host's /etc/pve/lxc and /etc/pve/qemu-server lead to its own node's folder (pmxcfs's local
//     links; here through /etc/pve/local -> /run/pve-emu/local -> /etc/pve/nodes/<node>, since the
//     shared folder cannot hold a different link per node: lib.sh emu_pve_layout);
//   - VMIDs are unique cluster-wide, `pct`/`qm` refuse a guest that is not on their node with
//     Proxmox's "Configuration file 'nodes/<node>/lxc/<vmid>.conf' does not exist";
//   - storage.cfg, user.cfg and the firewall's cluster.fw and <vmid>.fw are cluster-wide.
// /etc/pve/corosync.conf lists the nodes as a real cluster's does.
//
// Usage (vitest):
//   let cluster: TestCluster;
//   beforeAll(async () => { cluster = await startTestCluster(["pve1", "pve2", "pve3"]); });
//   afterAll(() => cluster?.stop());
//   cluster.hosts.pve2.exec("pct config 100")   // the node's own shell (assertions)
//   await cluster.calls("pve1")                 // pve1's emulator log, one array of words per call
// Every node accepts `cluster.secrets` (one client key), besides its own host's key.
// test-tier: host
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { startTestHost, type TestHost, type TestHostOptions } from "./sshd";
import { installEmulator, readCalls } from "./emulator/lib";
import type { SshSecrets } from "../../providers/ssh/types";

/** Where each node's /etc/pve/local points (its private /run): see lib.sh emu_pve_layout. */
export const LOCAL_LINK = "/run/pve-emu/local";

export interface TestCluster {
  /** Node names, in the order given. */
  nodes: string[];
  /** The test host of each node, by node name. */
  hosts: Record<string, TestHost>;
  /** The shared /etc/pve on this machine (what every node sees as /etc/pve). */
  pveDir: string;
  /** A client key every node accepts for root (the first node's own client key). */
  secrets: SshSecrets & { privateKey: string };
  /** The test host of `node`; throws for a node that is not in the cluster. */
  host(node: string): TestHost;
  /** `node`'s emulator calls so far (its own /var/log/pve-emu/calls.log), as emulator/lib readCalls. */
  calls(node: string): Promise<string[][]>;
  /** Stops every node, then removes the shared /etc/pve. */
  stop(): Promise<void>;
}

export interface TestClusterOptions extends Omit<TestHostOptions, "sharedPveDir"> {
  /**
   * What installEmulator installs on every node (default: its defaults, `pct` only). With `lxc`,
   * each node runs real LXC containers (EMU_LXC=real), in its own lxc path; the nodes share the
   * machine's cgroup2 hierarchy, where LXC names each container's cgroup after its VMID, unique
   * in a cluster.
   */
  emulator?: Omit<NonNullable<Parameters<typeof installEmulator>[1]>, "node" | "localLink" | "realLxc">;
}

const NODE_NAME = /^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/;

/** corosync.conf as `pvecm create`/`pvecm add` leave it (one ring, one vote per node). */
function corosyncConf(nodes: string[]): string {
  const entries = nodes.map((n, i) => `  node {\n    name: ${n}\n    nodeid: ${i + 1}\n    quorum_votes: 1\n    ring0_addr: 127.0.0.1\n  }\n`);
  return (
    `logging {\n  debug: off\n  to_syslog: yes\n}\n\nnodelist {\n${entries.join("")}}\n\n` +
    `quorum {\n  provider: corosync_votequorum\n}\n\ntotem {\n  cluster_name: phoenix-test\n  config_version: ${nodes.length}\n` +
    `  interface {\n    linknumber: 0\n  }\n  ip_version: ipv4-6\n  link_mode: passive\n  secauth: on\n  version: 2\n}\n`
  );
}

/**
 * Starts one test host per node (in parallel), sharing one /etc/pve, each with the Proxmox
 * emulator installed as node `nodes[i]`. `nodes`: distinct Proxmox node names (at least one).
 * Throws (after stopping what started) when a node name is invalid or a host fails to start.
 */
export async function startTestCluster(nodes: string[], opts: TestClusterOptions = {}): Promise<TestCluster> {
  if (!nodes.length) throw new Error("startTestCluster: no nodes");
  for (const n of nodes) if (!NODE_NAME.test(n)) throw new Error(`startTestCluster: invalid node name ${n}`);
  if (new Set(nodes).size !== nodes.length) throw new Error(`startTestCluster: duplicate node names in ${nodes.join(", ")}`);
  const parent = process.env.PHOENIX_TESTHOST_DIR ?? (existsSync("/dev/shm") ? "/dev/shm" : "/var/tmp");
  const baseDir = mkdtempSync(path.join(parent, "phoenix-testcluster-"));
  const pveDir = path.join(baseDir, "pve");
  mkdirSync(pveDir, { recursive: true });
  for (const n of nodes) for (const d of ["lxc", "qemu-server"]) mkdirSync(path.join(pveDir, "nodes", n, d), { recursive: true });
  writeFileSync(path.join(pveDir, "corosync.conf"), corosyncConf(nodes));

  const { emulator, ...hostOpts } = opts;
  const started = await Promise.allSettled(nodes.map((n) => startTestHost({ ...hostOpts, sharedPveDir: pveDir }).then((h) => [n, h] as const)));
  const hosts: Record<string, TestHost> = {};
  for (const r of started) if (r.status === "fulfilled") hosts[r.value[0]] = r.value[1];
  const stop = async () => {
    await Promise.all(Object.values(hosts).map((h) => h.stop()));
    if (!process.env.PHOENIX_TESTHOST_KEEP) rmSync(baseDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
  };
  try {
    const failed = started.find((r): r is PromiseRejectedResult => r.status === "rejected");
    if (failed) throw failed.reason;
    const first = hosts[nodes[0]];
    const clientPub = readFileSync(path.join(first.baseDir, "client_key.pub"), "utf8").trim();
    for (const n of nodes.slice(1)) hosts[n].authorizeKey("root", clientPub);
    await Promise.all(nodes.map((n) => installEmulator(hosts[n], { ...emulator, node: n, localLink: LOCAL_LINK, realLxc: opts.lxc })));
  } catch (err) {
    await stop();
    throw err;
  }
  const host = (node: string) => {
    const h = Object.hasOwn(hosts, node) ? hosts[node] : undefined;
    if (!h) throw new Error(`test cluster: no node '${node}' (nodes: ${nodes.join(", ")})`);
    return h;
  };
  return {
    nodes: [...nodes],
    hosts,
    pveDir,
    secrets: hosts[nodes[0]].secrets,
    host,
    calls: async (node) => readCalls(host(node)),
    stop,
  };
}
