// The provider base, the harness and the lifecycle helper, proven on a tiny real kind
// (a file in /etc of the throwaway root) against the real sshd.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, statSync } from "node:fs";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";
import { captureProvider, captureResources } from "../harness";
import { runLifecycle } from "../lifecycle";
import { etcFileKind, etcFileScript } from "./etc-file-kind";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");

describe("host-script provider lifecycle (etc-file kind)", () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost();
  });
  afterAll(() => host?.stop());

  const declare = (name: string, params: Record<string, string>) => () =>
    new base.HostScriptResource(etcFileKind, name, { connection: host.target, script: etcFileScript, params });

  it("passes create → read → diff → adopt → update → read → delete → gone", async () => {
    const params = { name: "motd-test", content: "hello; $(touch /tmp/x)\n", mode: "644" };
    const { resource, provider } = await captureProvider(declare("host-etc-file-motd", params), host.secrets);
    expect(resource.type).toBe("pulumi-nodejs:dynamic/phoenix:etc-file");
    const file = `${host.rootDir}/etc/phoenix-test/motd-test`;
    const report = await runLifecycle({
      provider,
      inputs: resource.inputs,
      changedInputs: { ...resource.inputs, params: { ...params, content: "changed\n", mode: "600" } },
      expect,
      verify: {
        afterCreate: () => expect(readFileSync(file, "utf8")).toBe(params.content),
        afterUpdate: () => {
          expect(readFileSync(file, "utf8")).toBe("changed\n");
          expect((statSync(file).mode & 0o777).toString(8)).toBe("600");
        },
        afterDelete: () => expect(existsSync(file)).toBe(false),
      },
    });
    expect(report.changePath).toBe("update");
    expect(existsSync("/etc/phoenix-test/motd-test")).toBe(false); // never this machine's /etc
  });

  it("a changed replaceOn parameter replaces (delete first)", async () => {
    const params = { name: "replace-a", content: "a", mode: "644" };
    const { resource, provider } = await captureProvider(declare("host-etc-file-a", params), host.secrets);
    const report = await runLifecycle({
      provider,
      inputs: resource.inputs,
      changedInputs: { ...resource.inputs, params: { ...params, name: "replace-b" } },
      expect,
    });
    expect(report.changePath).toBe("replace");
    expect(existsSync(`${host.rootDir}/etc/phoenix-test/replace-a`)).toBe(false);
  });

  it("refresh detects drift (read reports matches:false) and diff then asks for an apply", async () => {
    const params = { name: "drift", content: "desired", mode: "644" };
    const { resource, provider } = await captureProvider(declare("host-etc-file-drift", params), host.secrets);
    const created = await provider.create(resource.inputs);
    await host.exec("echo tampered > /etc/phoenix-test/drift");
    const refreshed = await provider.read!(created.id, created.outs);
    expect(refreshed.props.observed.matches).toBe(false);
    const d = await provider.diff!(created.id, refreshed.props, resource.inputs);
    expect(d.changes).toBe(true);
    const updated = await provider.update!(created.id, refreshed.props, resource.inputs);
    expect(updated.outs.observed.matches).toBe(true);
    expect((await host.exec("cat /etc/phoenix-test/drift")).stdout).toBe("desired");
    await provider.delete!(created.id, updated.outs);
  });

  it("delete honours allowDestroy", async () => {
    const params = { name: "precious", content: "data", mode: "644", protected: "1" };
    const { resource, provider } = await captureProvider(declare("host-etc-file-precious", params), host.secrets);
    const created = await provider.create(resource.inputs);
    await expect(provider.delete!(created.id, created.outs)).rejects.toThrow(/delete etc-file .*exit code 3.*refusing to delete protected/s);
    expect(existsSync(`${host.rootDir}/etc/phoenix-test/precious`)).toBe(true);
    await provider.delete!(created.id, { ...created.outs, allowDestroy: true });
    expect(existsSync(`${host.rootDir}/etc/phoenix-test/precious`)).toBe(false);
  });

  it("check rejects bad params with clear messages, and the program rejects them before any RPC", async () => {
    const { resource, provider } = await captureProvider(declare("host-etc-file-ok", { name: "ok", content: "", mode: "644" }), host.secrets);
    const r = await provider.check!({}, { ...resource.inputs, params: { name: "../../root", content: "x", mode: "7777", extra: "1" } });
    const props = r.failures!.map((f) => f.property).sort();
    expect(props).toEqual(["params", "params.mode", "params.name"]);
    expect(r.failures!.find((f) => f.property === "params.name")!.reason).toMatch(/etc-file: .*pattern/);
    const noKey = await provider.check!({}, { ...resource.inputs, connection: { host: "127.0.0.1", port: 22, user: "root" } });
    expect(noKey.failures!.map((f) => f.property)).toEqual(["connection.hostKey"]);
    expect(() => base.parseParams(etcFileKind, { name: "Bad Name", content: "", mode: "644" })).toThrow(/etc-file: invalid params: name: /);
    // the program fails at the resource's call site, before anything is registered
    await expect(captureResources(declare("host-etc-file-bad", { name: "Bad Name", content: "", mode: "644" }))).rejects.toThrow(/etc-file: invalid params: name: Invalid string/);
  });
});
