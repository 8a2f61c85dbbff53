// A three-node test cluster (cluster.ts) refuses what a Proxmox cluster refuses: the nodes share
// one /etc/pve (pmxcfs), a guest's config lives in its node's folder and only that node's `pct`/`qm`
// find it (AbstractConfig load_config), VMIDs are unique cluster-wide (PVE::Cluster::check_vmid_unused),
// a storage restricted to some nodes is refused elsewhere (PVE::Storage::storage_check_node), and
// each node's emulator log holds that node's calls only.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCluster, type TestCluster } from "./cluster";

const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

describe("a three-node test cluster", () => {
  let cluster: TestCluster;
  /** What each node was asked to run, as `tool verb id` (the emulator logs are compared with it). */
  const issued: Record<string, string[]> = { pve1: [], pve2: [], pve3: [] };
  /** Runs an emulator tool on `node`, remembering the call. */
  const on = async (node: string, tool: string, ...args: string[]) => {
    issued[node].push([tool, ...args.slice(0, 2)].join(" "));
    return cluster.host(node).exec([tool, ...args].map((a) => `'${a.replace(/'/g, `'\\''`)}'`).join(" "));
  };
  const ok = async (node: string, tool: string, ...args: string[]) => {
    const r = await on(node, tool, ...args);
    expect(r.code, `${node}: ${tool} ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const refused = async (message: string, node: string, tool: string, ...args: string[]) => {
    const r = await on(node, tool, ...args);
    expect(r.code, `${node}: ${tool} ${args.join(" ")} should fail`).toBe(255);
    expect(r.stderr.trim()).toBe(message);
  };
  const sh = async (node: string, cmd: string) => (await cluster.host(node).exec(cmd)).stdout;

  beforeAll(async () => {
    cluster = await startTestCluster(["pve1", "pve2", "pve3"], { emulator: { tools: ["pct", "qm", "pvesm"] } });
  }, 120_000);
  afterAll(() => cluster?.stop());

  it("the nodes share one /etc/pve, each with its own host key, root and local links", async () => {
    const { pve1, pve2, pve3 } = cluster.hosts;
    expect(new Set([pve1, pve2, pve3].map((h) => h.fingerprint)).size).toBe(3);
    expect(new Set([pve1, pve2, pve3].map((h) => h.target.port)).size).toBe(3);
    await pve1.exec("echo shared > /etc/pve/probe && echo private > /etc/probe");
    expect(await sh("pve3", "cat /etc/pve/probe")).toBe("shared\n");
    expect((await pve2.exec("test -e /etc/probe")).code).not.toBe(0);
    for (const n of cluster.nodes) {
      expect(await sh(n, "readlink -f /etc/pve/lxc /etc/pve/qemu-server /etc/pve/local")).toBe(
        `/etc/pve/nodes/${n}/lxc\n/etc/pve/nodes/${n}/qemu-server\n/etc/pve/nodes/${n}\n`,
      );
    }
    // The nodes set up their links concurrently: none may have landed inside a node's folder.
    expect(await sh("pve1", "find /etc/pve/nodes -mindepth 1 ! -type d")).toBe("");
    expect((await sh("pve2", "grep -o 'name: pve[0-9]' /etc/pve/corosync.conf")).split("\n").filter(Boolean)).toEqual(["name: pve1", "name: pve2", "name: pve3"]);
  });

  it("a CT created on pve1 lives in nodes/pve1/lxc: every node sees it there, only pve1 through /etc/pve/lxc", async () => {
    await ok("pve1", "pct", "create", "100", TEMPLATE, "--hostname", "one", "--rootfs", "local-lvm:4");
    expect(await sh("pve1", "ls /etc/pve/lxc")).toBe("100.conf\n");
    for (const n of ["pve2", "pve3"]) {
      expect(await sh(n, "grep '^hostname:' /etc/pve/nodes/pve1/lxc/100.conf")).toBe("hostname: one\n");
      expect(await sh(n, "ls -A /etc/pve/lxc")).toBe("");
    }
    expect(await sh("pve1", "ls /etc/pve/nodes/pve1/lxc")).toBe("100.conf\n");
  });

  it("pct on a node that does not hold the CT fails with Proxmox's message (load_config on that node)", async () => {
    for (const verb of ["config", "start", "status", "set"]) {
      const args = verb === "set" ? ["set", "100", "--cores", "2"] : [verb, "100"];
      await refused("Configuration file 'nodes/pve2/lxc/100.conf' does not exist", "pve2", "pct", ...args);
    }
    await refused("Configuration file 'nodes/pve3/lxc/100.conf' does not exist", "pve3", "pct", "destroy", "100");
    expect(await ok("pve2", "pct", "list")).not.toContain("100");
    expect(await ok("pve1", "pct", "config", "100")).toContain("hostname: one\n");
    expect(await ok("pve1", "pct", "list")).toMatch(/^100 +stopped/m);
  });

  it("an ID used on one node is refused on every other node, for CTs and VMs alike (check_vmid_unused)", async () => {
    await refused("CT 100 already exists on node 'pve1'", "pve3", "pct", "create", "100", TEMPLATE);
    await refused("unable to create VM 100 - CT 100 already exists on node 'pve1'", "pve3", "qm", "create", "100", "--name", "dup");
    expect(await sh("pve3", "ls -A /etc/pve/nodes/pve3/lxc /etc/pve/nodes/pve3/qemu-server")).not.toContain("100.conf");
    await ok("pve2", "qm", "create", "200", "--name", "vm-two");
    expect(await sh("pve1", "ls /etc/pve/nodes/pve2/qemu-server")).toBe("200.conf\n");
    await refused("VM 200 already exists on node 'pve2'", "pve1", "pct", "create", "200", TEMPLATE);
    await refused("unable to create VM 200 - VM 200 already exists on node 'pve2'", "pve2", "qm", "create", "200");
    // A clone onto a taken ID: clone_vm dies with create_and_lock_config's error, the source unlocked.
    await refused("VM 200 already exists on node 'pve2'", "pve1", "pct", "clone", "100", "200");
    expect(await ok("pve1", "pct", "config", "100")).not.toMatch(/^lock:/m);
    // The VM is pve2's: pve3's qm does not find it.
    await refused("Configuration file 'nodes/pve3/qemu-server/200.conf' does not exist", "pve3", "qm", "config", "200");
    // qm clone writes its temporary config with file_set_contents: pmxcfs refuses an ID of another node.
    await ok("pve3", "qm", "create", "300", "--name", "vm-three");
    await refused("close (rename) atomic file '/etc/pve/nodes/pve3/qemu-server/100.conf' failed: File exists", "pve3", "qm", "clone", "300", "100");
    await refused("close (rename) atomic file '/etc/pve/nodes/pve3/qemu-server/200.conf' failed: File exists", "pve3", "qm", "clone", "300", "200");
    expect(await sh("pve1", "ls /etc/pve/nodes/pve3/qemu-server")).toBe("300.conf\n");
  });

  it("storage.cfg and the guest firewall files are cluster-wide; a storage restricted to nodes is refused elsewhere", async () => {
    await ok("pve1", "pvesm", "add", "dir", "only-pve1", "--path", "/srv/only-pve1", "--content", "rootdir,images", "--nodes", "pve1");
    expect(await sh("pve3", "cat /etc/pve/storage.cfg")).toContain("dir: only-pve1\n\tcontent rootdir,images\n\tnodes pve1\n");
    await refused("storage 'only-pve1' is not available on node 'pve2'", "pve2", "pct", "create", "101", TEMPLATE, "--rootfs", "only-pve1:4");
    await refused("storage 'only-pve1' is not available on node 'pve3'", "pve3", "qm", "create", "102", "--scsi0", "only-pve1:8");
    expect(await sh("pve1", "ls -A /etc/pve/nodes/pve2/lxc /etc/pve/nodes/pve3/qemu-server")).not.toMatch(/10[12]\.conf/);
    await ok("pve1", "pct", "create", "101", TEMPLATE, "--rootfs", "only-pve1:4");
    expect(await sh("pve1", "grep '^rootfs:' /etc/pve/lxc/101.conf")).toBe("rootfs: only-pve1:vm-101-disk-0,size=4G\n");
    // A firewall file written through pve2 comes along with a clone on pve1 (clone_vmfw_conf).
    await cluster.host("pve2").exec("mkdir -p /etc/pve/firewall && printf '[OPTIONS]\\nenable: 1\\n' > /etc/pve/firewall/100.fw");
    await ok("pve1", "pct", "clone", "100", "103", "--hostname", "three");
    expect(await sh("pve3", "cat /etc/pve/firewall/103.fw")).toBe("[OPTIONS]\nenable: 1\n");
    await ok("pve1", "pct", "destroy", "103");
    expect((await cluster.host("pve2").exec("test -e /etc/pve/firewall/103.fw")).code).not.toBe(0);
  });

  it("storage.cfg edits from several nodes at once all land (pvesm takes the cluster-wide storage.cfg lock)", async () => {
    const ids = (n: string) => Array.from({ length: 8 }, (_, i) => `par-${n}-${i}`);
    await Promise.all(
      cluster.nodes.map(async (n) => {
        issued[n].push(...ids(n).map(() => "pvesm add dir"));
        const r = await cluster.host(n).exec(ids(n).map((id) => `pvesm add dir ${id} --path /srv/${id} --content images`).join(" && "));
        expect(r.code, `${n}: ${r.stderr}`).toBe(0);
      }),
    );
    const cfg = await sh("pve2", "cat /etc/pve/storage.cfg");
    for (const n of cluster.nodes) for (const id of ids(n)) expect(cfg, id).toContain(`dir: ${id}\n`);
  });

  it("each node's emulator log holds exactly the calls made on that node", async () => {
    for (const n of cluster.nodes) {
      const calls = (await cluster.calls(n)).map((c) => c.slice(0, 3).join(" "));
      expect(calls, n).toEqual(issued[n]);
    }
    expect(issued.pve1.length && issued.pve2.length && issued.pve3.length).toBeGreaterThan(0);
    await expect(cluster.calls("pve4")).rejects.toThrow("test cluster: no node 'pve4' (nodes: pve1, pve2, pve3)");
  });
});

describe("a test cluster with real LXC on every node", () => {
  let cluster: TestCluster;
  const ok = async (node: string, args: string) => {
    const r = await cluster.host(node).exec(`pct ${args}`);
    expect(r.code, `${node}: pct ${args}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };

  beforeAll(async () => {
    cluster = await startTestCluster(["pve1", "pve2"], { lxc: true });
  }, 120_000);
  afterAll(() => cluster?.stop());

  it("each node runs its own containers in real namespaces; a node cannot reach another node's container", async () => {
    await ok("pve1", `create 710 ${TEMPLATE} --rootfs local-lvm:4 --unprivileged 1 --hostname on-one`);
    await ok("pve2", `create 711 ${TEMPLATE} --rootfs local-lvm:4 --unprivileged 1 --hostname on-two`);
    await ok("pve1", "start 710");
    await ok("pve2", "start 711");
    expect(await ok("pve1", "exec 710 -- hostname")).toBe("on-one\n");
    expect(await ok("pve2", "exec 711 -- hostname")).toBe("on-two\n");
    expect(await ok("pve2", "exec 711 -- cat /proc/self/uid_map")).toMatch(/^\s*0\s+100000\s+65536\s*$/);
    const r = await cluster.host("pve2").exec("pct exec 710 -- hostname");
    expect(r.code).toBe(255);
    expect(r.stderr.trim()).toBe("Configuration file 'nodes/pve2/lxc/710.conf' does not exist");
    // Each node's LXC sees only its own container.
    expect((await cluster.host("pve1").exec("lxc-ls -P /var/lib/pve-emu/lxc-run/$(ls /var/lib/pve-emu/lxc-run) --running")).stdout.trim()).toBe("710");
  });
});
