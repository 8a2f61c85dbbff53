// The provider under Pulumi's REAL dynamic-provider host (the `pulumi-resource-pulumi-nodejs`
// plugin's code, spawned as its own process) driven over gRPC as the engine drives it:
// Configure (stack config with the SSH key as a secret), Check, Diff, Create, Read, Update,
// Delete. This checks what the harness emulates: config and secret unwrapping, the
// `__provider` round trip, and results that protobuf Structs accept.
// Issue 17: the serialized provider is a small loader; here it also runs from checkouts at
// other paths than the one that serialized it (the TypeScript sources without dist/, as
// `pulumi up` runs them from a clean checkout; and dist/), and stacks written by the old
// self-contained serialization (test/fixtures/provider-v0) still refresh, update and destroy.
import type * as providerPb from "@pulumi/pulumi/proto/provider_pb";
import type { PropertyBag } from "../../../infra/cli/plan";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist, repoRoot, requireNode } from "../../load";
import { captureResources } from "../harness";
import { etcFileKind, etcFileScript } from "./etc-file-kind";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const pulumi = requireNode("@pulumi/pulumi");
const grpc = requireNode("@grpc/grpc-js");
const provrpc = requireNode("@pulumi/pulumi/proto/provider_grpc_pb.js");
const provproto = requireNode("@pulumi/pulumi/proto/provider_pb.js");
const structproto = requireNode("google-protobuf/google/protobuf/struct_pb");

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";
const URN = "urn:pulumi:test::phoenix::pulumi-nodejs:dynamic/phoenix:etc-file::host-etc-file-real";
/** What a Phoenix version before issue 17 stored as `__provider` for the test kind (~40 KB, self-contained). */
const OLD_PROVIDER = fs.readFileSync(path.join(repoRoot, "test/fixtures/provider-v0/etc-file.js"), "utf8");

const struct = (o: unknown) => structproto.Struct.fromJavaScript(JSON.parse(JSON.stringify(o)));

/** The ResourceProvider gRPC replies the tests read, by method. */
interface Replies {
  configure: providerPb.ConfigureResponse;
  check: providerPb.CheckResponse;
  create: providerPb.CreateResponse;
  read: providerPb.ReadResponse;
  diff: providerPb.DiffResponse;
  update: providerPb.UpdateResponse;
  delete: unknown;
}

interface PluginHost {
  call<M extends keyof Replies>(method: M, req: unknown): Promise<Replies[M]>;
  stop(): void;
}

/**
 * Spawns the SDK's dynamic-provider host in `cwd` (as the engine does: the plugin's working
 * directory is the project), connects and sends Configure with the SSH key as a secret.
 * `trace` records every providers/base/{bootstrap,runtime} file the host loads.
 */
async function startPlugin(host: TestHost, opts: { cwd: string; env?: Record<string, string>; trace?: string }): Promise<PluginHost> {
  const env: Record<string, string | undefined> = { ...process.env, ...opts.env };
  if (!opts.env?.PULUMI_ROOT_DIRECTORY) delete env.PULUMI_ROOT_DIRECTORY;
  const preload = opts.trace ? ["-r", writeTracer(opts.trace)] : [];
  const plugin: ChildProcess = spawn(process.execPath, [...preload, path.join(repoRoot, "node_modules/@pulumi/pulumi/cmd/dynamic-provider/index.js"), "127.0.0.1:1"], {
    cwd: opts.cwd,
    env,
    stdio: ["ignore", "pipe", "pipe"],
  });
  let stderr = "";
  plugin.stderr!.on("data", (d) => (stderr += String(d)));
  const port = await new Promise<string>((resolve, reject) => {
    plugin.stdout!.once("data", (d) => resolve(String(d).trim()));
    plugin.once("exit", (code) => reject(new Error(`dynamic provider host exited ${code}: ${stderr}`)));
  });
  const client = new provrpc.ResourceProviderClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
  const call = <M extends keyof Replies>(method: M, req: unknown): Promise<Replies[M]> =>
    new Promise((resolve, reject) => client[method](req, (err: Error | null, res: Replies[M]) => (err ? reject(new Error(`${err.message}\nhost stderr: ${stderr.slice(-2000)}`)) : resolve(res))));
  // Configure: the stack config as the engine sends it, the key wrapped as a Pulumi secret.
  const conf = new provproto.ConfigureRequest();
  conf.setArgs(struct({ "phoenix:sshPrivateKey": { [SECRET_SIG_KEY]: SECRET_SIG, value: host.secrets.privateKey }, "phoenix:node": "pve" }));
  conf.setAcceptsecrets(true);
  const confResp = await call("configure", conf);
  expect(confResp.getAcceptsecrets()).toBe(false); // so the engine hands plain values to CRUD calls
  return {
    call,
    stop: () => {
      client.close();
      plugin.kill();
    },
  };
}

function writeTracer(out: string): string {
  const file = path.join(path.dirname(out), "trace-loads.js");
  fs.writeFileSync(
    file,
    `const Module = require("module"), fs = require("fs");
const resolve = Module._resolveFilename;
Module._resolveFilename = function (...args) {
  const f = resolve.apply(this, args);
  if (/[\\\\/]providers[\\\\/]base[\\\\/](bootstrap|runtime)\\./.test(f)) fs.appendFileSync(${JSON.stringify(out)}, f + "\\n");
  return f;
};
`,
  );
  return file;
}

/**
 * A copy of this checkout at another path, as a user's clone would be: the sources, package
 * files and (with `dist`) the compiled code; node_modules linked (what `npm ci` installs).
 */
function copyCheckout(dir: string, withDist: boolean): string {
  fs.mkdirSync(dir, { recursive: true });
  for (const f of ["Pulumi.yaml", "package.json", "package-lock.json", "tsconfig.json"]) fs.copyFileSync(path.join(repoRoot, f), path.join(dir, f));
  for (const d of ["infra", "providers", "features", ...(withDist ? ["dist"] : [])]) fs.cpSync(path.join(repoRoot, d), path.join(dir, d), { recursive: true });
  fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(dir, "node_modules"));
  return dir;
}

/** Declares one etc-file resource and returns its inputs as the engine hands them over. */
async function declare(name: string, params: Record<string, string>, target: TestHost["target"]): Promise<PropertyBag> {
  const [res] = (
    await captureResources(() =>
      new base.HostScriptResource(etcFileKind, `host-etc-file-${name}`, {
        connection: target,
        script: etcFileScript,
        params: { name, mode: "644", ...params },
        secretParams: { token: `tok-${name}` },
      }),
    )
  ).filter((r) => r.provider);
  return res.inputs;
}

/** Serializes the test kind's loader the way `pulumi.dynamic.Resource` does, with a given spec. */
async function serializeLoader(source: "ts" | "js"): Promise<string> {
  const provider = base.loaderProvider(etcFileKind, { ...base.providerSpec(etcFileKind), source });
  return (await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true })).text;
}

/** Builds a request message: `fields` set through the message's `set<Field>` methods. */
const request = (Type: new () => object, fields: Record<string, unknown>) => {
  const r = new Type() as Record<string, (v: unknown) => void>;
  for (const [k, v] of Object.entries(fields)) r[`set${k[0].toUpperCase()}${k.slice(1)}`](v);
  return r;
};

/** check → create → read → diff (none for a new __provider, some for new content) → update → delete → read gone. */
async function lifecycle(plugin: PluginHost, host: TestHost, inputs0: PropertyBag): Promise<void> {
  const file = `/etc/phoenix-test/${inputs0.params.name}`;
  const checked = await plugin.call("check", request(provproto.CheckRequest, { urn: URN, olds: struct({}), news: struct(inputs0) }));
  expect(checked.getFailuresList()).toEqual([]);
  const inputs = checked.getInputs()!.toJavaScript() as PropertyBag;
  expect(inputs.__provider).toBe(inputs0.__provider);

  const created = await plugin.call("create", request(provproto.CreateRequest, { urn: URN, properties: struct(inputs) }));
  const id = created.getId();
  const outs = created.getProperties()!.toJavaScript();
  expect(id).toMatch(/^etc-file:127\.0\.0\.1:[0-9a-f]{16}$/);
  expect(outs.observed).toMatchObject({ present: true, matches: true });
  expect(outs.__provider).toBe(inputs0.__provider);
  expect((await host.exec(`cat ${file}`)).stdout).toBe(inputs0.params.content);

  const readResp = await plugin.call("read", request(provproto.ReadRequest, { id, urn: URN, properties: struct(outs) }));
  expect(readResp.getId()).toBe(id);
  expect(readResp.getProperties()!.toJavaScript().observed).toMatchObject({ present: true, matches: true });

  const diff = (news: Record<string, unknown>) => plugin.call("diff", request(provproto.DiffRequest, { id, urn: URN, olds: struct(outs), news: struct(news) }));
  expect((await diff({ ...inputs, __provider: `${inputs.__provider}\n// a newer Phoenix` })).getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
  const changedInputs = { ...inputs, params: { ...inputs.params, content: "two\n" } };
  const changed = await diff(changedInputs);
  expect(changed.getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_SOME);
  expect(changed.getReplacesList()).toEqual([]);

  const update = request(provproto.UpdateRequest, { id, urn: URN, olds: struct(outs), news: struct(changedInputs) });
  const updated = (await plugin.call("update", update)).getProperties()!.toJavaScript() as PropertyBag;
  expect(updated.params.content).toBe("two\n");
  expect((await host.exec(`cat ${file}`)).stdout).toBe("two\n");

  await plugin.call("delete", request(provproto.DeleteRequest, { id, urn: URN, properties: struct(updated) }));
  expect((await host.exec(`test -e ${file}`)).code).not.toBe(0);
  expect((await plugin.call("read", request(provproto.ReadRequest, { id, urn: URN, properties: struct(updated) }))).getId()).toBe("");
}

describe("under Pulumi's real dynamic-provider host (gRPC)", () => {
  let host: TestHost;
  let plugin: PluginHost;

  beforeAll(async () => {
    host = await startTestHost();
    plugin = await startPlugin(host, { cwd: repoRoot });
  });
  afterAll(async () => {
    plugin?.stop();
    await host?.stop();
  });

  it("configure → check → create → read → diff → update → delete → read gone", async () => {
    const inputs = await declare("real-host", { content: "one\n" }, host.target);
    expect(Buffer.byteLength(inputs.__provider)).toBeLessThanOrEqual(4096);
    await lifecycle(plugin, host, inputs);
  });

  it("a failing operation surfaces the uniform error, without secrets", async () => {
    const inputs = await declare("real-bad", { content: "x" }, { ...host.target, hostKey: "SHA256:doesnotmatchdoesnotmatchdoesnotmatch00000" });
    const err = await plugin.call("create", request(provproto.CreateRequest, { urn: URN, properties: struct(inputs) })).catch((e: Error) => e);
    expect(String((err as Error).message)).toContain("does not match the expected host key");
    expect(String((err as Error).message)).not.toContain(host.secrets.privateKey.split("\n")[1]);
  });

  it("a stack written by the old self-contained serialization refreshes, shows no diff on upgrade, updates and destroys", async () => {
    expect(Buffer.byteLength(OLD_PROVIDER)).toBeGreaterThan(30_000);
    const fresh = await declare("old-state", { content: "old\n" }, host.target);
    // What the old Phoenix created: inputs and outputs carry the old provider.
    const oldInputs = { ...fresh, __provider: OLD_PROVIDER };
    const create = (props: Record<string, unknown>) => plugin.call("create", request(provproto.CreateRequest, { urn: URN, properties: struct(props) }));
    const created = await create(oldInputs);
    const id = created.getId();
    const oldOuts = created.getProperties()!.toJavaScript();
    expect(oldOuts.__provider).toBe(OLD_PROVIDER);

    // refresh reads with the state's (old) provider
    const read = await plugin.call("read", request(provproto.ReadRequest, { id, urn: URN, properties: struct(oldOuts) }));
    expect(read.getProperties()!.toJavaScript().observed).toMatchObject({ present: true, matches: true });
    // the upgraded program: same inputs, the new small provider → no change
    const diff = await plugin.call("diff", request(provproto.DiffRequest, { id, urn: URN, olds: struct(oldOuts), news: struct(fresh) }));
    expect(diff.getChanges()).toBe(provproto.DiffResponse.DiffChanges.DIFF_NONE);
    // a real change runs with the new provider (the engine uses the news' __provider for update)
    const news = { ...fresh, params: { ...fresh.params, content: "new\n" } };
    const updated = (await plugin.call("update", request(provproto.UpdateRequest, { id, urn: URN, olds: struct(oldOuts), news: struct(news) }))).getProperties()!.toJavaScript();
    expect(updated.__provider).toBe(fresh.__provider);
    expect((await host.exec("cat /etc/phoenix-test/old-state")).stdout).toBe("new\n");
    await plugin.call("delete", request(provproto.DeleteRequest, { id, urn: URN, properties: struct(updated) }));
    expect((await host.exec("test -e /etc/phoenix-test/old-state")).code).not.toBe(0);

    // destroy straight from the old state (the engine deletes with the state's __provider)
    const again = await create(oldInputs);
    await plugin.call("delete", request(provproto.DeleteRequest, { id: again.getId(), urn: URN, properties: struct(again.getProperties()!.toJavaScript()) }));
    expect((await host.exec("test -e /etc/phoenix-test/old-state")).code).not.toBe(0);
  });
});

describe("the small provider from a checkout at another path than the one that serialized it", () => {
  let host: TestHost;
  let tmp: string;
  const plugins: PluginHost[] = [];

  beforeAll(async () => {
    host = await startTestHost();
    tmp = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-elsewhere-"));
  });
  afterAll(async () => {
    for (const p of plugins) p.stop();
    await host?.stop();
    if (tmp) fs.rmSync(tmp, { recursive: true, force: true });
  });

  const loaded = (trace: string) => (fs.existsSync(trace) ? fs.readFileSync(trace, "utf8").split("\n").filter(Boolean) : []);

  it("TypeScript sources, no dist/ (pulumi up from a clean checkout): the host compiles them with ts-node", async () => {
    const checkout = copyCheckout(path.join(tmp, "clone-ts", "phoenix"), false);
    const trace = path.join(tmp, "trace-ts.txt");
    const inputs = { ...(await declare("elsewhere-ts", { content: "one\n" }, host.target)), __provider: await serializeLoader("ts") };
    expect(inputs.__provider).not.toContain(repoRoot);
    const plugin = await startPlugin(host, { cwd: checkout, trace });
    plugins.push(plugin);
    await lifecycle(plugin, host, inputs);
    const files = loaded(trace);
    expect(files).toContain(path.join(checkout, "providers/base/runtime.ts"));
    expect(files.filter((f) => !f.startsWith(checkout + path.sep))).toEqual([]);
  });

  it("compiled dist/, project found through PULUMI_ROOT_DIRECTORY (working directory elsewhere)", async () => {
    const checkout = copyCheckout(path.join(tmp, "clone-js", "phoenix"), true);
    const trace = path.join(tmp, "trace-js.txt");
    const inputs = await declare("elsewhere-js", { content: "one\n" }, host.target);
    expect(inputs.__provider).not.toContain(repoRoot);
    const cwd = fs.mkdtempSync(path.join(tmp, "cwd-"));
    const plugin = await startPlugin(host, { cwd, env: { PULUMI_ROOT_DIRECTORY: checkout }, trace });
    plugins.push(plugin);
    await lifecycle(plugin, host, inputs);
    const files = loaded(trace);
    expect(files).toContain(path.join(checkout, "dist/providers/base/runtime.js"));
    expect(files.filter((f) => !f.startsWith(checkout + path.sep))).toEqual([]);
  });

  it("outside any project the loader fails with a message naming what it looked for", async () => {
    const cwd = fs.mkdtempSync(path.join(tmp, "nowhere-"));
    const plugin = await startPlugin(host, { cwd });
    plugins.push(plugin);
    const inputs = await declare("nowhere", { content: "x" }, host.target);
    const err = await plugin.call("check", request(provproto.CheckRequest, { urn: URN, olds: struct({}), news: struct(inputs) })).catch((e: Error) => e);
    expect(err).toBeInstanceOf(Error);
    expect(String((err as Error).message)).toContain(path.join(cwd, "providers/base/bootstrap.js"));
  });
});
