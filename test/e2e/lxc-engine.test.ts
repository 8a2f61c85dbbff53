// The engine's stand-in for the proxmoxve provider does what the provider really does
// (bpg/terraform-provider-proxmox v0.111.1: containerCreateClone, CloneContainer's retry, ForceNew
// fields, containerRead's read-back, the disk-shrink CustomizeDiff, containerDelete)
// and meets what Proxmox really refuses an API token (pve-container's check_ct_modify_config_perm).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator, installStorageCfg, readCalls } from "../host/emulator/lib";
import { Engine, applyIgnoreChanges, propertyPath, tokenRefusal, containerInputs, TEST_TEMPLATE } from "./lxc-engine";
import { diffContainer, operationOf, readContainer, parsePctConfig, sizeInGigabytes } from "./provider-model";
import { loadDist } from "../load";
import type { PropertyBag } from "../../infra/cli/plan";

const CONTAINER = "proxmoxve:index/containerLegacy:ContainerLegacy";

/** An engine test container (lxc-engine.ts containerInputs). */
const container = containerInputs;

describe("ignoreChanges, as the engine applies it before check and diff", () => {
  it("parses property paths and resets ignored paths to the old inputs (a leaf the old inputs lack is removed)", () => {
    expect(propertyPath("mountPoints[*].size")).toEqual(["mountPoints", "*", "size"]);
    expect(propertyPath('a.b[0]["c.d"]')).toEqual(["a", "b", 0, "c.d"]);
    const olds = { mountPoints: [{ volume: "s", size: "2G", path: "/a" }], cores: 1 };
    const news = { mountPoints: [{ volume: "s", size: "5G", path: "/a" }], cores: 2, tags: ["x"] };
    expect(applyIgnoreChanges(olds, news, ["mountPoints[*].size", "tags"])).toEqual({ mountPoints: [{ volume: "s", size: "2G", path: "/a" }], cores: 2 });
    expect(news.mountPoints[0].size).toBe("5G");
  });

  it("fails as the engine does when a wildcard meets arrays of different lengths (a volume added or removed)", () => {
    const olds = { mountPoints: [{ volume: "s", size: "2G", path: "/a" }] };
    const news = { mountPoints: [{ volume: "s", size: "2G", path: "/a" }, { volume: "s", size: "1G", path: "/b" }] };
    expect(() => applyIgnoreChanges(olds, news, ["mountPoints[*].size"])).toThrow(
      'cannot ignore changes to the following properties because one or more elements of the path are missing: "mountPoints[*].size"',
    );
    expect(applyIgnoreChanges({ mountPoints: [] }, { mountPoints: [] }, ["mountPoints[*].size"])).toEqual({ mountPoints: [] });
  });
});

describe("containers adopted with pulumi import (the provider reads neither clone nor the OS template back)", () => {
  const { CREATION_ONLY_CONTAINER_INPUTS } = loadDist<typeof import("../../infra/components/lxc")>("infra/components/lxc");
  const ignore = [...CREATION_ONLY_CONTAINER_INPUTS, "mountPoints"];
  it("an imported clone (state with operatingSystem.type, no clone) reaches no diff on its creation inputs", () => {
    const olds = { vmId: 901, operatingSystem: { type: "ubuntu" }, mountPoints: [], cores: 2 };
    const news = { vmId: 901, clone: { vmId: 900, datastoreId: "tank" }, mountPoints: [], cores: 2 };
    expect(applyIgnoreChanges(olds, news, ignore)).toEqual(olds);
  });
  it("an imported container made from an OS template (state without the template file) reaches no diff either", () => {
    const olds = { vmId: 900, mountPoints: [], cores: 2 };
    const news = { vmId: 900, operatingSystem: { templateFileId: "local:vztmpl/ubuntu.tar.zst", type: "ubuntu" }, mountPoints: [], cores: 2 };
    expect(applyIgnoreChanges(olds, news, ignore)).toEqual(olds);
  });
  it("a volume added to or removed from the JSON keeps the container's mount points as created (lxc-options owns the set)", () => {
    const one = { vmId: 960, mountPoints: [{ volume: "s", size: "2G", path: "/a" }] };
    const two = { vmId: 960, mountPoints: [{ volume: "s", size: "5G", path: "/a" }, { volume: "s", size: "1G", path: "/b" }] };
    expect(applyIgnoreChanges(one, two, ignore)).toEqual(one);
    expect(applyIgnoreChanges(two, one, ignore)).toEqual(two);
  });
});

describe("API token permissions (Proxmox's 403s)", () => {
  it("refuses feature flags other than nesting, any flag on a privileged container, bind/device mounts and passthrough", () => {
    expect(tokenRefusal(container(500, { features: { nesting: true } }))).toBeUndefined();
    expect(tokenRefusal(container(500, { features: { nesting: true, keyctl: true } }))).toBe(
      "403 Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)",
    );
    expect(tokenRefusal(container(500, { unprivileged: false, features: { nesting: true } }))).toBe(
      "403 Permission check failed (changing feature flags for privileged container is only allowed for root@pam)",
    );
    expect(tokenRefusal(container(500, { mountPoints: [{ volume: "/srv/data", size: "0G", path: "/data" }] }))).toBe(
      "403 Permission check failed (mount point type bind is only allowed for root@pam)",
    );
    expect(tokenRefusal(container(500, { devicePassthroughs: [{ path: "/dev/nvidia0" }] }))).toBe(
      "403 Permission check failed (configuring device passthrough is only allowed for root@pam)",
    );
    // Flags that came with a clone and do not change are no change.
    expect(tokenRefusal(container(500, { features: { nesting: true, keyctl: true } }), { features: { nesting: "1", keyctl: "1" } })).toBeUndefined();
  });
});

describe("the provider's container lifecycle, through the pct emulator", () => {
  let host: TestHost;
  const pct = async (cmd: string) => {
    const r = await host.exec(`/usr/local/sbin/pct ${cmd}`);
    expect(r.code, `pct ${cmd}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const carry = (engine: Engine, name: string, inputs: PropertyBag) =>
    engine["carryOut"]({ custom: true, type: CONTAINER, name, inputs }, { registered: [], actions: new Map(), sessions: 0, errors: [] });
  const verbs = async (from: number) => (await readCalls(host)).slice(from).filter((c) => !["status", "config"].includes(c[1])).map((c) => `${c[1]} ${c[2]}`);

  beforeAll(async () => {
    host = await startTestHost();
    await installEmulator(host, { tools: ["pct"] });
    await installStorageCfg(host, [{ id: "tank-lxc", type: "zfspool", content: ["images", "rootdir"], target: "tank/lxc" }]);
    await pct(`create 500 ${TEST_TEMPLATE} --rootfs tank-lxc:8 --unprivileged 1 --features nesting=1,keyctl=1`);
  }, 60_000);
  afterAll(() => host?.stop());

  it("retries a clone of a locked source about three times (10 s, 20 s), then fails", async () => {
    await host.exec("printf 'lock: disk\\n' >> /etc/pve/lxc/500.conf");
    const engine = new Engine(host, { lockRetryDelayMs: 50 });
    const before = (await readCalls(host)).length;
    const started = Date.now();
    await expect(carry(engine, "ct-501", container(501, { clone: { vmId: 500 } }))).rejects.toThrow(/CT is locked \(disk\)/);
    expect(Date.now() - started).toBeGreaterThanOrEqual(150);
    expect(await verbs(before)).toEqual(["clone 500", "clone 500", "clone 500"]);
    await pct("unlock 500");
  });

  it("clones without a snapshot name, then one config update; no resize on clone, a resize on a later update", async () => {
    const engine = new Engine(host, { lockRetryDelayMs: 50 });
    const before = (await readCalls(host)).length;
    await carry(engine, "ct-501", container(501, { clone: { vmId: 500 }, disk: { datastoreId: "tank-lxc", size: 16 }, features: { nesting: true, keyctl: true } }));
    const calls = (await readCalls(host)).slice(before);
    expect(calls.find((c) => c[1] === "clone")).not.toContain("--snapname");
    expect(await verbs(before)).toEqual(["clone 500", "set 501"]);
    expect(await pct("config 501")).toContain("rootfs: tank-lxc:subvol-501-disk-0,size=8G\n");
    const grown = container(501, { clone: { vmId: 500 }, disk: { datastoreId: "tank-lxc", size: 16 }, features: { nesting: true, keyctl: true }, cpu: { cores: 4 } });
    const mid = (await readCalls(host)).length;
    // The stored state holds the clone's disk as read back (8G): the next update sends the cores
    // and grows the disk to 16G; then only the disk changed, so only a resize.
    expect(engine.stateOf("ct-501")!.outs.disk).toMatchObject({ size: 8 });
    await carry(engine, "ct-501", grown);
    await carry(engine, "ct-501", { ...grown, disk: { datastoreId: "tank-lxc", size: 20 } });
    expect(await verbs(mid)).toEqual(["set 501", "resize 501", "resize 501"]);
    expect(await pct("config 501")).toContain("rootfs: tank-lxc:subvol-501-disk-0,size=20G\n");
  });

  it("a changed mount point replaces the container: destroyed with its volumes, created again", async () => {
    const engine = new Engine(host, { lockRetryDelayMs: 50 });
    await carry(engine, "ct-502", container(502));
    await host.exec("touch /var/lib/pve-emu/lxc/502/rootfs/root/data");
    const before = (await readCalls(host)).length;
    const report = { registered: [], actions: new Map(), sessions: 0, errors: [] };
    await engine["carryOut"]({ custom: true, type: CONTAINER, name: "ct-502", inputs: container(502, { mountPoints: [{ volume: "tank-lxc", size: "4G", path: "/data" }] }) }, report);
    expect(report.actions.get("ct-502")).toBe("replace");
    expect(await verbs(before)).toEqual(["destroy 502", "create 502"]);
    expect((await host.exec("test -e /var/lib/pve-emu/lxc/502/rootfs/root/data")).code).not.toBe(0);
  });

  it("with an API token, an update of an existing container's flags is refused: the provider sends every flag, false ones too", async () => {
    const engine = new Engine(host, { lockRetryDelayMs: 50 });
    const base = container(505, { started: true, features: { nesting: true } });
    await carry(engine, "ct-505", base);
    // containerGetFeaturesForUpdate sends fuse=0,keyctl=0,...: keyctl '' → '0' is a change of a
    // flag other than nesting for check_ct_modify_config_perm.
    await expect(carry(engine, "ct-505", { ...base, features: { nesting: false } })).rejects.toThrow(
      "403 Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)",
    );
    expect(await pct("config 505")).toContain("features: nesting=1\n");
  });

  it("an update of a started container: a flag change waits in [pve:pending]; a memory change reboots it, applying both", async () => {
    const engine = new Engine(host, { lockRetryDelayMs: 50, auth: "root@pam" });
    const base = container(504, { started: true, features: { nesting: true } });
    await carry(engine, "ct-504", base);
    const before = (await readCalls(host)).length;
    await carry(engine, "ct-504", { ...base, features: { nesting: false } });
    expect(await verbs(before)).toEqual(["set 504"]);
    expect(await pct("config 504 --current 1")).toContain("features: nesting=1\n");
    expect(await pct("config 504")).toMatch(/^features: .*nesting=0/m);
    const mid = (await readCalls(host)).length;
    await carry(engine, "ct-504", { ...base, features: { nesting: false }, memory: { dedicated: 2048, swap: 512 } });
    expect(await verbs(mid)).toEqual(["set 504", "reboot 504"]);
    expect(await pct("config 504 --current 1")).toMatch(/features: .*nesting=0.*\n(.*\n)*memory: 2048\n/);
    expect(await pct("pending 504")).not.toMatch(/^(new|del) /m);
  });

  it("with an API token, a new container with keyctl is refused with Proxmox's 403", async () => {
    const engine = new Engine(host);
    await expect(carry(engine, "ct-503", container(503, { features: { nesting: true, keyctl: true } }))).rejects.toThrow(
      "403 Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)",
    );
    await carry(new Engine(host, { auth: "root@pam" }), "ct-503", container(503, { features: { nesting: true, keyctl: true } }));
  });
});

describe("the provider's diff against what it read back (provider-model.ts)", () => {
  const created = (extra: PropertyBag = {}) => readContainer(
    parsePctConfig([
      "cores: 2", "description: Managed%20by%20Phoenix%3A ct500%0A", "features: keyctl=1,nesting=1", "hostname: ct500", "memory: 1024",
      "mp0: tank-lxc:subvol-500-disk-1,mp=/data,size=4G", "net0: name=eth0,bridge=vmbr0,hwaddr=BC:24:11:00:00:01,ip=10.0.0.100/24,gw=10.0.0.1",
      "onboot: 0", "ostype: ubuntu", "rootfs: tank-lxc:subvol-500-disk-0,size=12G", "swap: 512", "unprivileged: 1",
    ].join("\n")),
    container(500, { features: { nesting: true }, mountPoints: [{ volume: "tank-lxc", size: "4G", path: "/data" }], ...extra }),
  );

  it("reads the disk as it is, every flag, the volume ids and the MAC; keeps what it cannot read (the OS template, clone)", () => {
    const s = created({ clone: { vmId: 900 } });
    expect(s.disk).toEqual({ datastoreId: "tank-lxc", size: 12 });
    expect(s.features).toEqual({ nesting: true, keyctl: true, fuse: false, mknod: false, mounts: [] });
    expect(s.mountPoints).toEqual([{ volume: "tank-lxc:subvol-500-disk-1", size: "4G", path: "/data" }]);
    expect(s.networkInterfaces[0].macAddress).toBe("BC:24:11:00:00:01");
    expect(s.clone).toEqual({ vmId: 900 });
    expect(s.operatingSystem.templateFileId).toBe(TEST_TEMPLATE);
    expect(sizeInGigabytes("512M")).toBe(1);
    expect(sizeInGigabytes("1T")).toBe(1024);
  });

  it("a smaller disk than the one read back replaces the container (CustomizeDiff); a larger one updates", () => {
    const s = created();
    const smaller = diffContainer(s, container(500, { disk: { datastoreId: "tank-lxc", size: 8 }, features: s.features, mountPoints: s.mountPoints }));
    expect(smaller).toEqual([{ path: "disk.size", from: 12, to: 8, replaces: true }]);
    expect(operationOf(smaller)).toBe("replace");
    expect(operationOf(diffContainer(s, container(500, { disk: { datastoreId: "tank-lxc", size: 16 }, features: s.features, mountPoints: s.mountPoints })))).toBe("update");
    // Ignored, the shrink is no change at all (the bridge drops ignored paths, ForceNew included).
    expect(diffContainer(s, container(500, { disk: { datastoreId: "tank-lxc", size: 8 }, features: s.features, mountPoints: s.mountPoints }), ["disk.size"])).toEqual([]);
  });

  it("a flag set as root is a diff of the provider's features (sent, it is a flag change): none once ignored", () => {
    const s = created();
    const d = diffContainer(s, container(500, { disk: { datastoreId: "tank-lxc", size: 12 }, features: { nesting: true }, mountPoints: s.mountPoints }));
    expect(d).toEqual([{ path: "features.keyctl", from: true, to: false, replaces: false }]);
    expect(diffContainer(s, container(500, { disk: { datastoreId: "tank-lxc", size: 12 }, features: { nesting: true }, mountPoints: s.mountPoints }), ["features"])).toEqual([]);
  });

  it("suppresses what the schema suppresses: a volume given by its storage, an unset MAC, the description's newline", () => {
    const s = created();
    expect(diffContainer(s, container(500, { disk: { datastoreId: "tank-lxc", size: 12 }, features: s.features, mountPoints: [{ volume: "tank-lxc", size: "4G", path: "/data" }] }))).toEqual([]);
    const moved = diffContainer(s, container(500, { disk: { datastoreId: "tank-lxc", size: 12 }, features: s.features, mountPoints: [{ volume: "other", size: "4G", path: "/data" }] }));
    expect(operationOf(moved)).toBe("replace");
  });

  it("ForceNew inputs replace: node, unprivileged, the root disk's storage, clone, the template file", () => {
    const base = { disk: { datastoreId: "tank-lxc", size: 12 }, features: created().features, mountPoints: created().mountPoints };
    for (const extra of [{ nodeName: "pve2" }, { unprivileged: false }, { disk: { datastoreId: "local-lvm", size: 12 } }, { clone: { vmId: 901 } }, { operatingSystem: { templateFileId: "local:vztmpl/debian-12.tar.zst", type: "ubuntu" } }]) {
      expect(operationOf(diffContainer(created(), container(500, { ...base, ...extra }))), JSON.stringify(extra)).toBe("replace");
    }
    expect(operationOf(diffContainer(created(), container(500, { ...base, cpu: { cores: 4 } })))).toBe("update");
  });
});

describe("the stand-in after the first run: refresh, host-side changes, import, delete", () => {
  let host: TestHost;
  const report = () => ({ registered: [], actions: new Map(), sessions: 0, errors: [] });
  const carry = (engine: Engine, name: string, inputs: PropertyBag) => {
    const r = report();
    return engine["carryOut"]({ custom: true, type: CONTAINER, name, inputs }, r).then(() => r.actions.get(name));
  };
  /** Carries out with the engine's ignoreChanges for `name`, as the program's request would set it. */
  const withIgnore = (engine: Engine, name: string, ignoreChanges: string[]) =>
    engine["requests"].set(`${CONTAINER} ${name}`, { urn: name, protect: false, ignoreChanges });

  beforeAll(async () => {
    host = await startTestHost();
    await installEmulator(host, { tools: ["pct"] });
    await installStorageCfg(host, [{ id: "tank-lxc", type: "zfspool", content: ["images", "rootdir"], target: "tank/lxc" }]);
  }, 60_000);
  afterAll(() => host?.stop());

  it("a second run and a refresh right after create change nothing", async () => {
    const engine = new Engine(host);
    const inputs = container(510, { features: { nesting: true }, description: "Managed by Phoenix: ct510" });
    expect(await carry(engine, "ct-510", inputs)).toBe("create");
    expect([...(await engine.refresh()).values()]).toEqual(["same"]);
    expect(await carry(engine, "ct-510", inputs)).toBe("same");
  });

  it("a root disk grown on the host: refresh reads it back; without ignoreChanges the next run replaces the container (the provider's shrink rule), with it nothing happens", async () => {
    const engine = new Engine(host);
    const inputs = container(511);
    await carry(engine, "ct-511", inputs);
    await host.exec("/usr/local/sbin/pct resize 511 rootfs 20G && touch /var/lib/pve-emu/lxc/511/rootfs/root/model.bin");
    expect((await engine.refresh()).get("ct-511")).toBe("drift");
    expect(engine.stateOf("ct-511")!.outs.disk.size).toBe(20);
    withIgnore(engine, "ct-511", ["disk.size"]);
    expect(await carry(engine, "ct-511", inputs)).toBe("same");
    withIgnore(engine, "ct-511", []);
    expect(await carry(engine, "ct-511", inputs)).toBe("replace");
    expect((await host.exec("test -e /var/lib/pve-emu/lxc/511/rootfs/root/model.bin")).code).not.toBe(0);
  });

  it("flags set as root over SSH: refresh reads them; without ignoreChanges the token's update is refused (403), with it nothing is sent", async () => {
    const engine = new Engine(host);
    const inputs = container(512, { features: { nesting: true } });
    await carry(engine, "ct-512", inputs);
    await host.exec("/usr/local/sbin/pct set 512 --features keyctl=1,nesting=1");
    await engine.refresh();
    expect(engine.stateOf("ct-512")!.outs.features).toMatchObject({ nesting: true, keyctl: true });
    withIgnore(engine, "ct-512", ["features"]);
    expect(await carry(engine, "ct-512", { ...inputs, cpu: { cores: 3 } })).toBe("update");
    expect(await host.exec("/usr/local/sbin/pct config 512").then((r) => r.stdout)).toContain("features: keyctl=1,nesting=1");
    withIgnore(engine, "ct-512", []);
    await expect(carry(engine, "ct-512", { ...inputs, cpu: { cores: 3 } })).rejects.toThrow("403 Permission check failed (changing feature flags (except nesting) is only allowed for root@pam)");
  });

  it("an imported container: the state is what the provider reads (no clone, no template file); ignoring what it cannot read, the program's inputs replace nothing", async () => {
    await host.exec(`/usr/local/sbin/pct create 513 ${TEST_TEMPLATE} --rootfs tank-lxc:10 --unprivileged 1 --hostname ct513 --cores 2 --memory 1024 --swap 512 --net0 name=eth0,bridge=vmbr0,ip=10.0.0.113/24,gw=10.0.0.1 --features nesting=1,keyctl=1 --onboot 0`);
    const program = container(513, { clone: { vmId: 900, full: true, datastoreId: "tank-lxc" }, features: { nesting: true, keyctl: true }, disk: { datastoreId: "tank-lxc", size: 8 } });
    delete program.operatingSystem;
    const { CREATION_ONLY_CONTAINER_INPUTS, HOST_OWNED_CONTAINER_INPUTS } = loadDist<typeof import("../../infra/components/lxc")>("infra/components/lxc");
    const ignore = [...CREATION_ONLY_CONTAINER_INPUTS, ...HOST_OWNED_CONTAINER_INPUTS];
    const engine = new Engine(host, { lockRetryDelayMs: 50 });
    const state = await engine.importContainer("ct-513", "pve", 513);
    expect(state.clone).toBeUndefined();
    expect(state.operatingSystem).toEqual({ type: "ubuntu" });
    withIgnore(engine, "ct-513", ignore);
    // What the engine does first: ignored paths keep the imported inputs.
    expect(await carry(engine, "ct-513", applyIgnoreChanges(engine.stateOf("ct-513")!.inputs, program, ignore))).toBe("update");
    expect(await host.exec("/usr/local/sbin/pct config 513").then((x) => x.stdout)).toContain("rootfs: tank-lxc:subvol-513-disk-0,size=10G");
    // Without them the clone the provider cannot read back replaces the container (its source does
    // not even exist here: the container is gone and not made again).
    const bare = new Engine(host, { lockRetryDelayMs: 50 });
    await bare.importContainer("ct-513", "pve", 513);
    withIgnore(bare, "ct-513", []);
    await expect(carry(bare, "ct-513", program)).rejects.toThrow();
    expect((await host.exec("/usr/local/sbin/pct config 513")).code).not.toBe(0);
  });

  it("delete: a running container is shut down (force stop), then destroyed without purge", async () => {
    const engine = new Engine(host, { auth: "root@pam" });
    await carry(engine, "ct-514", container(514, { started: true }));
    const before = (await readCalls(host)).length;
    expect(await carry(engine, "ct-514", container(514, { started: true, unprivileged: false }))).toBe("replace");
    const calls = (await readCalls(host)).slice(before).filter((c) => ["shutdown", "destroy", "stop"].includes(c[1]));
    expect(calls.map((c) => c.slice(1).join(" "))).toEqual(["shutdown 514 --forceStop 1 --timeout 1795", "destroy 514"]);
  });
});
