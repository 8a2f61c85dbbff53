// The engine's API side on a Proxmox cluster (three test hosts sharing /etc/pve, test/host/cluster.ts):
// each container is carried out on the node its nodeName names (its config in that node's folder,
// its calls in that node's emulator log only), a node outside the cluster is refused as the API's
// proxy refuses it, a VMID taken on another node is refused by Proxmox itself, and a guest's
// firewall goes through the guest's node.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestCluster, type TestCluster } from "../host/cluster";
import { installStorageCfg } from "../host/emulator/lib";
import { Engine, unknownNodeRefusal, type RunReport, containerInputs } from "./lxc-engine";
import type { PropertyBag } from "../../infra/cli/plan";

const CONTAINER = "proxmoxve:index/containerLegacy:ContainerLegacy";
const OPTIONS = "proxmoxve:firewall/optionsLegacy:OptionsLegacy";

/** An engine test container on `nodeName`, started (lxc-engine.ts containerInputs). */
const container = (vmId: number, nodeName: string, extra: PropertyBag = {}): PropertyBag => containerInputs(vmId, { nodeName, started: true, ...extra });

describe("the engine on a three-node cluster: each guest on its own node", () => {
  let cluster: TestCluster;
  let engine: Engine;
  const report = (): RunReport => ({ registered: [], actions: new Map(), sessions: 0, errors: [] });
  const carry = (name: string, type: string, inputs: PropertyBag, r = report()) => engine["carryOut"]({ custom: true, type, name, inputs }, r);
  /** The calls about guest `id` in `node`'s emulator log, as "verb" strings. */
  const verbsOn = async (node: string, id: number) => (await cluster.calls(node)).filter((c) => c[2] === String(id)).map((c) => c[1]);
  const confs = async () => (await cluster.host("pve1").exec("cd /etc/pve/nodes && ls */lxc/*.conf 2>/dev/null || true")).stdout.split("\n").filter(Boolean);

  beforeAll(async () => {
    cluster = await startTestCluster(["pve1", "pve2", "pve3"]);
    // storage.cfg is cluster-wide: written once, every node has the storage.
    await installStorageCfg(cluster.host("pve1"), [{ id: "tank-lxc", type: "zfspool", content: ["images", "rootdir"], target: "tank/lxc" }]);
    engine = new Engine(cluster, { lockRetryDelayMs: 50 });
  }, 120_000);
  afterAll(() => cluster?.stop());

  it("creates a container on the node its nodeName names, through that node only", async () => {
    const r = report();
    await carry("ct-610", CONTAINER, container(610, "pve2"), r);
    expect(r.actions.get("ct-610")).toBe("create");
    expect(await confs()).toEqual(["pve2/lxc/610.conf"]);
    expect((await cluster.host("pve2").exec("pct status 610")).stdout).toBe("status: running\n");
    // `config`: the provider reads the container back after creating it (containerRead).
    expect(await verbsOn("pve2", 610)).toEqual(["create", "start", "config", "status"]);
    for (const n of ["pve1", "pve3"]) expect(await verbsOn(n, 610), n).toEqual([]);
    await carry("ct-620", CONTAINER, container(620, "pve3"));
    expect(await confs()).toEqual(["pve2/lxc/610.conf", "pve3/lxc/620.conf"]);
    expect(await verbsOn("pve3", 620)).toEqual(["create", "start", "config"]);
  });

  it("refuses a node that is not in the cluster, as the API does, and touches no node", async () => {
    const before = await Promise.all(cluster.nodes.map((n) => cluster.calls(n)));
    await expect(carry("ct-611", CONTAINER, container(611, "pve9"))).rejects.toThrow(unknownNodeRefusal("pve9"));
    expect(unknownNodeRefusal("pve9")).toBe("500 hostname lookup 'pve9' failed - failed to get address info for: pve9: Name or service not known");
    expect(await Promise.all(cluster.nodes.map((n) => cluster.calls(n)))).toEqual(before);
    expect(engine.stateOf("ct-611")).toBeUndefined();
    // Moving a container to an unknown node is refused before the old one is destroyed.
    await expect(carry("ct-620", CONTAINER, container(620, "pve9"))).rejects.toThrow(unknownNodeRefusal("pve9"));
    expect(await confs()).toContain("pve3/lxc/620.conf");
  });

  it("a VMID taken on another node is refused by Proxmox (check_vmid_unused)", async () => {
    await expect(carry("ct-610-again", CONTAINER, container(610, "pve1"))).rejects.toThrow("CT 610 already exists on node 'pve2'");
    expect(await confs()).toEqual(["pve2/lxc/610.conf", "pve3/lxc/620.conf"]);
  });

  it("a changed nodeName replaces the container: destroyed on its old node, created on its new one", async () => {
    const r = report();
    await carry("ct-620", CONTAINER, container(620, "pve1"), r);
    expect(r.actions.get("ct-620")).toBe("replace");
    expect(r.sessions).toBe(2);
    expect(await confs()).toEqual(["pve1/lxc/620.conf", "pve2/lxc/610.conf"]);
    // containerDelete: a running container is shut down (force stop), then deleted.
    expect((await verbsOn("pve3", 620)).slice(-3)).toEqual(["status", "shutdown", "destroy"]);
    expect(await verbsOn("pve1", 620)).toEqual(["create", "start", "config"]);
  });

  it("a guest's firewall goes through the guest's node: its config must be there", async () => {
    await carry("fw-610", OPTIONS, { nodeName: "pve2", containerId: 610, enabled: true });
    expect((await cluster.host("pve3").exec("cat /etc/pve/firewall/610.fw")).stdout).toContain("enable: 1\n");
    await expect(carry("fw-610-wrong", OPTIONS, { nodeName: "pve1", containerId: 610, enabled: true })).rejects.toThrow(
      "500 Configuration file 'nodes/pve1/lxc/610.conf' does not exist",
    );
    await expect(carry("fw-611", OPTIONS, { nodeName: "pve9", containerId: 611, enabled: true })).rejects.toThrow(unknownNodeRefusal("pve9"));
  });
});
