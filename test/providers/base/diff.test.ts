// The diff and check conventions every host-script-like provider shares (pure functions).
// The diff is the real provider's (hostScriptProvider of a real kind), and the inputs are what a
// real HostScriptResource declares (captured under the mock monitor): no list of compared keys is
// restated here, so the product's list losing an entry fails "every declared input is compared".
import { describe, expect, it, vi } from "vitest";
import { loadDist } from "../../load";
import { captureResources } from "../harness";
import type { PropertyBag } from "../../../infra/cli/plan";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const hv = loadDist<typeof import("../../../providers/hypervisor/index")>("providers/hypervisor/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
const conn = { host: "10.0.0.1", port: 22, user: "root", hostKey: "SHA256:abc" };
// zfs-pool: replaceOn name (a pool is never renamed in place).
const provider = base.hostScriptProvider(hv.zfsPoolKind);
const diff = (olds: PropertyBag, news: PropertyBag) => provider.diff!("id", olds, news);

async function declared(): Promise<PropertyBag> {
  const all = await captureResources(
    () =>
        new base.HostScriptResource(hv.zfsPoolKind, "host-zfs-pool-tank", {
          connection: conn,
          script: registry.featureScript("hypervisor", "zfs_pool"),
          params: { name: "tank", raid_level: "mirror", disks: "/dev/sda\n/dev/sdb", mountpoint: "/tank" },
          secretParams: {},
          allowDestroy: false,
        }),
  );
  // Registration can finish after the mock monitor's RPC wait on a slow (instrumented) build.
  await vi.waitFor(() => expect(all.filter((c) => c.name === "host-zfs-pool-tank")).toHaveLength(1), { timeout: 30_000 });
  return all.find((c) => c.name === "host-zfs-pool-tank")!.inputs;
}

/** `value` changed the way a user's edit changes it (a string edited, a switch flipped, a field added). */
function changed(value: unknown): unknown {
  if (typeof value === "string") return `${value}x`;
  if (typeof value === "boolean") return !value;
  if (typeof value === "number") return value + 1;
  if (value && typeof value === "object") return { ...value, extra: "x" };
  return "x";
}

describe("the host-script provider's diff", () => {
  it("every input a HostScriptResource declares is compared, except __provider (an upgrade touches no host)", async () => {
    const olds = await declared();
    const keys = Object.keys(olds);
    for (const k of ["connection", "script", "scriptHash", "params", "secretParams", "allowDestroy"]) expect(keys, "the resource declares it").toContain(k);
    for (const key of keys.filter((k) => k !== "__provider")) {
      // The script text and its hash change together (check refuses one without the other).
      const news = key === "script" || key === "scriptHash" ? { ...olds, script: `${olds.script}\n# edited`, scriptHash: "h2" } : { ...olds, [key]: changed(olds[key]) };
      expect((await diff(olds, news)).changes, `a changed ${key} is a change`).toBe(true);
    }
    expect(await diff(olds, { ...olds, __provider: "a newer Phoenix" })).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });
  it("ignores key order", async () => {
    const olds = await declared();
    const news = Object.fromEntries(Object.entries(olds).reverse());
    news.params = Object.fromEntries(Object.entries(olds.params as Record<string, string>).reverse());
    expect(await diff(olds, news)).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });
  it("a changed parameter, secret, switch or port is an update", async () => {
    const olds = await declared();
    for (const news of [
      { ...olds, params: { ...olds.params, mountpoint: "/tank2" } },
      { ...olds, secretParams: { token: "t" } },
      { ...olds, allowDestroy: true },
      { ...olds, connection: { ...conn, port: 2222 } },
    ]) {
      expect(await diff(olds, news)).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    }
  });
  it("a replaceOn parameter replaces, deleting first; another machine (another pinned key) replaces, creating first", async () => {
    const olds = await declared();
    expect(hv.zfsPoolKind.replaceOn).toContain("name");
    expect(await diff(olds, { ...olds, params: { ...olds.params, name: "pool2" } })).toEqual({ changes: true, replaces: ["params"], deleteBeforeReplace: true });
    expect(await diff(olds, { ...olds, connection: { ...conn, host: "10.0.0.2", hostKey: "SHA256:other" } })).toEqual({ changes: true, replaces: ["connection"], deleteBeforeReplace: false });
  });
  it("another name of the same machine (the same pinned host key) updates in place; without a pinned key it is taken for another machine", async () => {
    const olds = await declared();
    expect(await diff(olds, { ...olds, connection: { ...conn, host: "pve.example.internal" } })).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect((await diff(olds, { ...olds, connection: { ...conn, host: "pve.example.internal", hostKey: " SHA256:abc " } })).replaces).toEqual([]);
    const insecure = { ...olds, connection: { host: "10.0.0.1", port: 22, user: "root", insecureIgnoreHostKey: true } };
    expect((await diff(insecure, { ...insecure, connection: { ...insecure.connection, host: "pve.example.internal" } })).replaces).toEqual(["connection"]);
    expect(base.anotherMachine(conn, { ...conn, host: "10.0.0.2" })).toBe(false);
    expect(base.anotherMachine(conn, conn)).toBe(false);
  });
  it("drift seen by a refresh (observed.matches false) asks for an apply", async () => {
    const olds = await declared();
    expect((await diff({ ...olds, observed: { present: true, matches: false } }, olds)).changes).toBe(true);
    expect((await diff({ ...olds, observed: { present: true, matches: true } }, olds)).changes).toBe(false);
  });
});

describe("checkConnection", () => {
  it("requires host keys (target and bastion) unless explicitly opted out, and sane endpoints", () => {
    expect(base.checkConnection(conn)).toEqual([]);
    expect(base.checkConnection({ ...conn, hostKey: undefined }).map((f) => f.property)).toEqual(["connection.hostKey"]);
    expect(base.checkConnection({ ...conn, hostKey: undefined, insecureIgnoreHostKey: true })).toEqual([]);
    expect(base.checkConnection({ ...conn, bastion: { host: "b", port: 22, user: "root" } }).map((f) => f.property)).toEqual(["connection.bastion.hostKey"]);
    expect(base.checkConnection({ ...conn, host: "a b", port: 0, user: "x;y" }).map((f) => f.property)).toEqual(["connection.host", "connection.port", "connection.user"]);
    expect(base.checkConnection(base.UNKNOWN)).toEqual([]);
    expect(base.checkConnection(undefined).map((f) => f.property)).toEqual(["connection"]);
  });
});
