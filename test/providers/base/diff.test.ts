// The diff and check conventions every host-script-like provider shares (pure functions).
import { describe, expect, it } from "vitest";
import { loadDist } from "../../load";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const KEYS = ["params", "secretParams", "scriptHash", "connection", "allowDestroy"];
const conn = { host: "10.0.0.1", port: 22, user: "root", hostKey: "SHA256:abc" };
const olds = { connection: conn, scriptHash: "h1", params: { name: "tank", size: "1G" }, allowDestroy: false, __provider: "v1" };

describe("diffInputs", () => {
  it("ignores __provider and key order", () => {
    const news = { __provider: "v2", allowDestroy: false, params: { size: "1G", name: "tank" }, scriptHash: "h1", connection: { ...conn } };
    expect(base.diffInputs(olds, news, KEYS, ["name"])).toEqual({ changes: false, replaces: [], deleteBeforeReplace: false });
  });
  it("a changed script, parameter, secret or switch is an update", () => {
    for (const news of [
      { ...olds, scriptHash: "h2" },
      { ...olds, params: { ...olds.params, size: "2G" } },
      { ...olds, secretParams: { token: "t" } },
      { ...olds, allowDestroy: true },
      { ...olds, connection: { ...conn, port: 2222 } },
    ]) {
      expect(base.diffInputs(olds, news, KEYS, ["name"])).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    }
  });
  it("a replaceOn parameter replaces, deleting first; another machine (another pinned key) replaces, creating first", () => {
    expect(base.diffInputs(olds, { ...olds, params: { ...olds.params, name: "pool2" } }, KEYS, ["name"])).toEqual({ changes: true, replaces: ["params"], deleteBeforeReplace: true });
    expect(base.diffInputs(olds, { ...olds, connection: { ...conn, host: "10.0.0.2", hostKey: "SHA256:other" } }, KEYS, ["name"])).toEqual({ changes: true, replaces: ["connection"], deleteBeforeReplace: false });
  });
  it("another name of the same machine (the same pinned host key) updates in place; without a pinned key it is taken for another machine", () => {
    expect(base.diffInputs(olds, { ...olds, connection: { ...conn, host: "pve.example.internal" } }, KEYS, ["name"])).toEqual({ changes: true, replaces: [], deleteBeforeReplace: false });
    expect(base.diffInputs(olds, { ...olds, connection: { ...conn, host: "pve.example.internal", hostKey: " SHA256:abc " } }, KEYS, ["name"]).replaces).toEqual([]);
    const insecure = { ...olds, connection: { host: "10.0.0.1", port: 22, user: "root", insecureIgnoreHostKey: true } };
    expect(base.diffInputs(insecure, { ...insecure, connection: { ...insecure.connection, host: "pve.example.internal" } }, KEYS, []).replaces).toEqual(["connection"]);
    expect(base.anotherMachine(conn, { ...conn, host: "10.0.0.2" })).toBe(false);
    expect(base.anotherMachine(conn, conn)).toBe(false);
  });
  it("drift seen by a refresh (observed.matches false) asks for an apply", () => {
    expect(base.diffInputs({ ...olds, observed: { present: true, matches: false } }, olds, KEYS, []).changes).toBe(true);
    expect(base.diffInputs({ ...olds, observed: { present: true, matches: true } }, olds, KEYS, []).changes).toBe(false);
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
