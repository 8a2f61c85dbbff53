// The provider under Pulumi's REAL dynamic-provider host (the `pulumi-resource-pulumi-nodejs`
// plugin's code, spawned as its own process) driven over gRPC as the engine drives it:
// Configure (stack config with the SSH key as a secret), Check, Diff, Create, Read, Update,
// Delete. This checks what the harness emulates: config and secret unwrapping, the
// `__provider` round trip, and results that protobuf Structs accept.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist, repoRoot, requireNode } from "../../load";
import { captureResources } from "../harness";
import { etcFileKind, etcFileScript } from "./etc-file-kind";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const grpc = requireNode("@grpc/grpc-js");
const provrpc = requireNode("@pulumi/pulumi/proto/provider_grpc_pb.js");
const provproto = requireNode("@pulumi/pulumi/proto/provider_pb.js");
const structproto = requireNode("google-protobuf/google/protobuf/struct_pb");

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const URN = "urn:pulumi:test::phoenix::pulumi-nodejs:dynamic/phoenix:etc-file::host-etc-file-real";

describe("under Pulumi's real dynamic-provider host (gRPC)", () => {
  let host: TestHost;
  let plugin: ChildProcess;
  let client: any;

  beforeAll(async () => {
    host = await startTestHost();
    plugin = spawn(process.execPath, [path.join(repoRoot, "node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js"), "127.0.0.1:1"], {
      cwd: repoRoot,
      stdio: ["ignore", "pipe", "pipe"],
    });
    const port = await new Promise<string>((resolve, reject) => {
      plugin.stdout!.once("data", (d) => resolve(String(d).trim()));
      plugin.once("exit", (code) => reject(new Error(`dynamic provider host exited ${code}`)));
    });
    client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  });
  afterAll(async () => {
    client?.close();
    plugin?.kill();
    await host?.stop();
  });

  const call = <T = any>(method: string, req: unknown): Promise<T> =>
    new Promise((resolve, reject) => client[method](req, (err: Error | null, res: T) => (err ? reject(err) : resolve(res))));
  const struct = (o: unknown) => structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(o)));

  it("configure → check → create → read → diff → update → delete → read gone", async () => {
    const [res] = (
      await captureResources(() =>
        new base.HostScriptResource(etcFileKind as any, "host-etc-file-real", {
          connection: host.target,
          script: etcFileScript,
          params: { name: "real-host", content: "one\n", mode: "644" },
          secretParams: { token: "tok-real-host-1" },
        }),
      )
    ).filter((r) => r.provider);

    // Configure: the stack config as the engine sends it, the key wrapped as a Pulumi secret.
    const conf = new provproto.ConfigureRequest();
    conf.setArgs(struct({ "phoenix:sshPrivateKey": { [SECRET_SIG_KEY]: SECRET_SIG, value: host.secrets.privateKey }, "phoenix:node": "pve" }));
    conf.setAcceptsecrets(true);
    const confResp = await call("configure", conf);
    expect(confResp.getAcceptsecrets()).toBe(false); // so the engine hands plain values to CRUD calls

    // Check
    const check = new provproto.CheckRequest();
    check.setUrn(URN);
    check.setOlds(struct({}));
    check.setNews(struct(res.inputs));
    const checked = await call("check", check);
    expect(checked.getFailuresList()).toEqual([]);
    const inputs = checked.getInputs().toJavaScript();
    expect(inputs.__provider).toBe(res.provider);

    // Create
    const create = new provproto.CreateRequest();
    create.setUrn(URN);
    create.setProperties(struct(inputs));
    const created = await call("create", create);
    const id = created.getId();
    const outs = created.getProperties().toJavaScript();
    expect(id).toMatch(/^etc-file:127\.0\.0\.1:[0-9a-f]{16}$/);
    expect(outs.observed).toMatchObject({ present: true, matches: true });
    expect((await host.exec("cat /etc/phoenix-test/real-host")).stdout).toBe("one\n");

    // Read
    const read = new provproto.ReadRequest();
    read.setId(id);
    read.setUrn(URN);
    read.setProperties(struct(outs));
    const readResp = await call("read", read);
    expect(readResp.getId()).toBe(id);
    expect(readResp.getProperties().toJavaScript().observed).toMatchObject({ present: true, matches: true });

    // Diff: same inputs and a newer __provider → no change; changed content → change
    const diff = (news: Record<string, unknown>) => {
      const d = new provproto.DiffRequest();
      d.setId(id);
      d.setUrn(URN);
      d.setOlds(struct(outs));
      d.setNews(struct(news));
      return call("diff", d);
    };
    const same = await diff({ ...inputs, __provider: res.provider });
    expect(same.getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
    const changedInputs = { ...inputs, params: { ...inputs.params, content: "two\n" } };
    const changed = await diff(changedInputs);
    expect(changed.getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_SOME);
    expect(changed.getReplacesList()).toEqual([]);

    // Update
    const update = new provproto.UpdateRequest();
    update.setId(id);
    update.setUrn(URN);
    update.setOlds(struct(outs));
    update.setNews(struct(changedInputs));
    const updated = (await call("update", update)).getProperties().toJavaScript();
    expect(updated.params.content).toBe("two\n");
    expect((await host.exec("cat /etc/phoenix-test/real-host")).stdout).toBe("two\n");

    // Delete, then read reports it gone (empty id)
    const del = new provproto.DeleteRequest();
    del.setId(id);
    del.setUrn(URN);
    del.setProperties(struct(updated));
    await call("delete", del);
    expect((await host.exec("test -e /etc/phoenix-test/real-host")).code).not.toBe(0);
    const read2 = new provproto.ReadRequest();
    read2.setId(id);
    read2.setUrn(URN);
    read2.setProperties(struct(updated));
    expect((await call("read", read2)).getId()).toBe("");
  });

  it("a failing operation surfaces the uniform error, without secrets", async () => {
    const create = new provproto.CreateRequest();
    create.setUrn(URN);
    const [res] = (
      await captureResources(() =>
        new base.HostScriptResource(etcFileKind as any, "host-etc-file-real-bad", {
          connection: { ...host.target, hostKey: "SHA256:doesnotmatchdoesnotmatchdoesnotmatch00000" },
          script: etcFileScript,
          params: { name: "real-bad", content: "x", mode: "644" },
        }),
      )
    ).filter((r) => r.provider);
    create.setProperties(struct(res.inputs));
    const err = await call("create", create).catch((e: Error) => e);
    expect(String((err as Error).message)).toContain("does not match the expected host key");
    expect(String((err as Error).message)).not.toContain(host.secrets.privateKey.split("\n")[1]);
  });

});
