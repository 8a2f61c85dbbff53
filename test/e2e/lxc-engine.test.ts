// The engine's stand-in for the proxmoxve provider does what the provider really does
// (bpg/terraform-provider-proxmox: containerCreateClone, CloneContainer's retry, ForceNew fields)
// and meets what Proxmox really refuses an API token (pve-container's check_ct_modify_config_perm).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator, installStorageCfg, readCalls } from "../host/emulator/lib";
import { Engine, applyIgnoreChanges, propertyPath, tokenRefusal, containerInputs, TEST_TEMPLATE } from "./lxc-engine";
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
    await carry(engine, "ct-501", grown);
    await carry(engine, "ct-501", { ...grown, disk: { datastoreId: "tank-lxc", size: 20 } });
    expect(await verbs(mid)).toEqual(["set 501", "set 501", "resize 501"]);
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
