// The policy pack as Pulumi runs it: policy/index.ts is started the way the CLI's policy runner does
// (ts-node with type checking, cwd policy/), and spoken to over its gRPC Analyzer protocol with the
// engine's own message types: GetAnalyzerInfo, Configure (policy/config.<stack>.json), Analyze per
// resource and AnalyzeStack. Resources come from the real program (`planStack`) for dev and prod.
import { spawn, type ChildProcess } from "node:child_process";
import * as fs from "node:fs";
import { createRequire } from "node:module";
import * as path from "node:path";
import type { AnalyzeResponse, AnalyzerInfo } from "@pulumi/pulumi/proto/analyzer_pb";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot, requireNode } from "../test/load";
import { planStack } from "../test/program/plan";
import { CONTAINER, LXC_OPTIONS, policies } from "./rules";

const ZFS_POOL = "pulumi-nodejs:dynamic/phoenix:host-zfs-pool";

const pulumiRequire = createRequire(requireNode.resolve("@pulumi/pulumi/proto/analyzer_pb"));
const grpc = pulumiRequire("@grpc/grpc-js");
const pb = pulumiRequire("./analyzer_pb");
const rpc = pulumiRequire("./analyzer_grpc_pb");
const { Struct } = pulumiRequire("google-protobuf/google/protobuf/struct_pb");
const { Empty } = pulumiRequire("google-protobuf/google/protobuf/empty_pb");

const LEVELS = ["advisory", "mandatory", "disabled", "remediate"];

interface Resource {
  type: string;
  name: string;
  urn: string;
  props: Record<string, unknown>;
  protect?: boolean;
  parent?: string;
  dependencies?: string[];
}

interface Diagnostic {
  policy: string;
  level: string;
  message: string;
  urn: string;
}

let pack: ChildProcess;
/** The Analyzer client's unary calls (grpc-js), by method name. */
type UnaryCall = (req: unknown, callback: (err: Error | null, res: unknown) => void) => void;
let client: { close(): void } & Record<string, UnaryCall>;

const call = <T>(method: string, req: unknown): Promise<T> =>
  new Promise((resolve, reject) => client[method](req, (err, res) => (err ? reject(err) : resolve(res as T))));

function struct(value: Record<string, unknown>) {
  // JSON round trip: the engine sends JSON-like values (no undefined).
  return Struct.fromJavaScript(JSON.parse(JSON.stringify(value)));
}

function analyzerResource(r: Resource) {
  const msg = new pb.AnalyzerResource();
  msg.setType(r.type);
  msg.setName(r.name);
  msg.setUrn(r.urn);
  msg.setProperties(struct(r.props));
  const opts = new pb.AnalyzerResourceOptions();
  opts.setProtect(Boolean(r.protect));
  msg.setOptions(opts);
  if (r.parent) msg.setParent(r.parent);
  msg.setDependenciesList(r.dependencies ?? []);
  return msg;
}

function diagnostics(res: AnalyzeResponse): Diagnostic[] {
  return res.getDiagnosticsList().map((d) => ({
    policy: d.getPolicyname(),
    level: LEVELS[d.getEnforcementlevel()],
    message: d.getMessage(),
    urn: d.getUrn(),
  }));
}

async function configure(config: Record<string, Record<string, unknown>>) {
  const req = new pb.ConfigureAnalyzerRequest();
  const map = req.getPolicyconfigMap();
  for (const [policy, props] of Object.entries(config)) {
    const pc = new pb.PolicyConfig();
    // The CLI sends each policy's level with its properties (the policy's own default here).
    const level = policies.find((p) => p.name === policy)?.enforcementLevel ?? "mandatory";
    pc.setEnforcementlevel(LEVELS.indexOf(level));
    pc.setProperties(struct(props));
    map.set(policy, pc);
  }
  await call("configure", req);
}

/** Every resource through Analyze (what `pulumi preview` does per resource), then AnalyzeStack. */
async function analyze(resources: Resource[]): Promise<Diagnostic[]> {
  const out: Diagnostic[] = [];
  for (const r of resources) {
    const req = new pb.AnalyzeRequest();
    req.setType(r.type);
    req.setName(r.name);
    req.setUrn(r.urn);
    req.setProperties(struct(r.props));
    const opts = new pb.AnalyzerResourceOptions();
    opts.setProtect(Boolean(r.protect));
    req.setOptions(opts);
    out.push(...diagnostics(await call("analyze", req)));
  }
  const stackReq = new pb.AnalyzeStackRequest();
  stackReq.setResourcesList(resources.map(analyzerResource));
  out.push(...diagnostics(await call("analyzeStack", stackReq)));
  return out;
}

function stackConfig(stack: string) {
  return JSON.parse(fs.readFileSync(path.join(repoRoot, "policy", `config.${stack}.json`), "utf8"));
}

beforeAll(async () => {
  // As the CLI's policy runner does: ts-node with type checking, the pack's folder as cwd.
  const loader = [
    "const tsn = require('ts-node');",
    "tsn.register({ typeCheck: true, compilerOptions: { target: 'ES2020', module: 'nodenext', moduleResolution: 'nodenext' } });",
    "require('./index.ts');",
  ].join("\n");
  pack = spawn(process.execPath, ["-e", loader], { cwd: path.join(repoRoot, "policy"), stdio: ["ignore", "pipe", "pipe"] });
  let stderr = "";
  pack.stderr!.on("data", (d) => (stderr += d));
  const port = await new Promise<number>((resolve, reject) => {
    let stdout = "";
    pack.stdout!.on("data", (d) => {
      stdout += d;
      const m = /^(\d+)\n/.exec(stdout);
      if (m) resolve(Number(m[1]));
    });
    pack.on("exit", (code) => reject(new Error(`policy pack exited with ${code}: ${stderr}`)));
  });
  client = new rpc.AnalyzerClient(`127.0.0.1:${port}`, grpc.credentials.createInsecure());
});

afterAll(() => {
  client?.close();
  if (pack && pack.exitCode === null) pack.kill();
});

describe("the policy pack's package", () => {
  it("pins the same @pulumi/policy and @pulumi/pulumi as the project, and has the version PolicyPack reads", () => {
    const root = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));
    const pack = JSON.parse(fs.readFileSync(path.join(repoRoot, "policy", "package.json"), "utf8"));
    expect(pack.version).toMatch(/^\d+\.\d+\.\d+$/);
    expect(pack.dependencies["@pulumi/policy"]).toBe(root.devDependencies["@pulumi/policy"]);
    expect(pack.dependencies["@pulumi/pulumi"]).toBe(root.dependencies["@pulumi/pulumi"]);
  });
});

describe("the policy pack over the Analyzer protocol", () => {
  it("announces its name and every policy with its level", async () => {
    const info = await call<AnalyzerInfo>("getAnalyzerInfo", new Empty());
    expect(info.getName()).toBe("phoenix-proxmox");
    const announced = info.getPoliciesList().map((p) => [p.getName(), LEVELS[p.getEnforcementlevel()]]);
    expect(announced.sort()).toEqual(policies.map((p) => [p.name, p.enforcementLevel]).sort());
  });

  it("reports a mandatory violation, and honours the pack config", async () => {
    const urn = "urn:pulumi:prod::phoenix::phoenix:lxc:Container$" + CONTAINER + "::ct-960";
    const privileged: Resource = {
      type: CONTAINER,
      name: "ct-960",
      urn,
      props: { vmId: 960, unprivileged: false, cpu: { cores: 2 }, memory: { dedicated: 1024 }, startOnBoot: true },
    };
    await configure({});
    const before = await analyze([privileged]);
    // Per-resource diagnostics carry no URN: the engine attributes them to the resource it sent.
    expect(before).toContainEqual(
      expect.objectContaining({ policy: "privileged-container-needs-allow", level: "mandatory", message: expect.stringMatching(/ct-960 \(CTID 960\) is privileged/) }),
    );
    await configure({ "privileged-container-needs-allow": { allowPrivileged: [960] } });
    const after = await analyze([privileged]);
    expect(after.filter((d) => d.policy === "privileged-container-needs-allow")).toEqual([]);
  });

  it("sees protect on a ZFS pool through the resource options", async () => {
    await configure({});
    const pool = (protect: boolean): Resource => ({
      type: ZFS_POOL,
      name: "host-zfs-pool-tank",
      urn: `urn:pulumi:dev::phoenix::phoenix:hypervisor:Host$${ZFS_POOL}::host-zfs-pool-tank`,
      props: { params: { name: "tank" } },
      protect,
    });
    expect((await analyze([pool(false)])).map((d) => d.policy)).toContain("zfs-pool-protected");
    expect((await analyze([pool(true)])).map((d) => d.policy)).not.toContain("zfs-pool-protected");
  });
});

const planned = new Map<string, Promise<Resource[]>>();
/** The program's resources for a stack, planned once per test file. */
function plannedResources(stack: string): Promise<Resource[]> {
  if (!planned.has(stack)) planned.set(stack, planResources(stack));
  return planned.get(stack)!;
}

async function planResources(stack: string): Promise<Resource[]> {
  const plan = await planStack({ stack });
  expect(plan.errors).toEqual([]);
  const byName = new Map<string, string>(plan.resources.map((r) => [r.name, r.urn]));
  return plan.resources.map((r) => ({
    type: r.type,
    name: r.name,
    urn: r.urn,
    props: r.inputs,
    protect: r.protect,
    parent: r.parent ? byName.get(r.parent) : undefined,
    dependencies: r.dependsOn.map((n: string) => byName.get(n)).filter((u): u is string => Boolean(u)),
  }));
}

const mandatory = (ds: Diagnostic[]) => ds.filter((d) => d.level === "mandatory");

describe.each(["dev", "prod"])("the %s stack as the program declares it", (stack) => {
  it("passes every mandatory policy with its checked-in policy config", async () => {
    const resources = await plannedResources(stack);
    expect(resources.some((r) => r.type === CONTAINER)).toBe(true);
    await configure(stackConfig(stack));
    expect(mandatory(await analyze(resources))).toEqual([]);
  });
});

describe("the policies bite on what the program declares (dev)", () => {
  let resources: Resource[];
  beforeAll(async () => {
    resources = await plannedResources("dev");
  });
  const edit = (name: string, type: string, change: (r: Resource) => Resource) =>
    resources.map((r) => (r.name === name && r.type === type ? change(structuredClone(r)) : r));

  it("without the reviewed exceptions, every unconfined container is reported", async () => {
    await configure({});
    const found = mandatory(await analyze(resources)).map((d) => /CTID (\d+)/.exec(d.message)?.[1]);
    // 902 and 952 say apparmor_profile unconfined without a raw line: they keep Proxmox's profile.
    expect(found.sort()).toEqual(["900", "901", "950", "955"]);
  });

  it("a GPU template without GPU devices breaks its GPU clones' lineage", async () => {
    await configure(stackConfig("dev"));
    // The GPU devices are raw LXC lines of ct-901-lxc-options (bind mounts of /dev/nvidia*, major 195).
    const broken = edit("ct-901-lxc-options", LXC_OPTIONS, (r) => {
      const params = (r.props as { params: { options: string } }).params;
      const options = params.options.split("\n").filter((l: string) => !/\/dev\/nvidia|c 195:/.test(l)).join("\n");
      return { ...r, props: { ...r.props, params: { ...params, options } } };
    });
    const found = mandatory(await analyze(broken));
    expect(found.map((d) => d.policy)).toEqual(["gpu-container-from-gpu-template", "gpu-container-from-gpu-template"]);
    expect(found.map((d) => /^(ct-\d+)/m.exec(d.message.split("\n").pop()!)?.[1]).sort()).toEqual(["ct-950", "ct-955"]);
  });

  it("an unprotected pool, a privileged container and a reused MAC are reported", async () => {
    await configure(stackConfig("dev"));
    const pool = resources.find((r) => r.name.startsWith("host-zfs-pool-"))!;
    expect(pool.protect).toBe(true);
    let broken = edit(pool.name, pool.type, (r) => ({ ...r, protect: false }));
    const nics = (r: Resource) => (r.props as { networkInterfaces: Array<{ macAddress?: string }> }).networkInterfaces;
    const mac = nics(resources.find((r) => r.name === "ct-950" && r.type === CONTAINER)!)[0].macAddress;
    broken = broken.map((r) =>
      r.name === "ct-952" && r.type === CONTAINER
        ? { ...r, props: { ...r.props, unprivileged: false, networkInterfaces: [{ ...nics(r)[0], macAddress: mac }] } }
        : r,
    );
    const policiesHit = mandatory(await analyze(broken)).map((d) => d.policy).sort();
    expect(policiesHit).toEqual(["privileged-container-needs-allow", "unique-mac-addresses", "zfs-pool-protected"]);
  });
});

describe("the production rules bite on what the program declares (prod)", () => {
  it("a host-key opt-out or a data-destruction opt-in in prod is reported", async () => {
    const resources = await plannedResources("prod");
    await configure(stackConfig("prod"));
    const setup = resources.find((r) => r.name === "host-initial-setup")!;
    const connection = (setup.props as { connection: Record<string, unknown> }).connection;
    expect(connection.hostKey).toBeTruthy();
    const dataset = resources.find((r) => r.name.startsWith("host-zfs-dataset-"))!;
    expect(dataset.props.allowDestroy).toBe(false);
    const broken = resources.map((r) => {
      if (r === setup) return { ...r, props: { ...r.props, connection: { ...connection, insecureIgnoreHostKey: true } } };
      if (r === dataset) return { ...r, props: { ...r.props, allowDestroy: true } };
      return r;
    });
    const hit = mandatory(await analyze(broken)).map((d) => d.policy).sort();
    expect(hit).toEqual(["no-data-destruction-in-prod", "no-host-key-opt-out-in-prod"]);
  });
  it("a host firewall that accepts input in prod, and a guest rule opening SSH to anywhere, are reported", async () => {
    const resources = await plannedResources("prod");
    await configure(stackConfig("prod"));
    const fw = resources.find((r) => r.name === "host-firewall")!;
    expect(fw.props).toMatchObject({ enabled: true, inputPolicy: "DROP" });
    const guestRules: Resource = {
      type: "proxmoxve:firewall/rulesLegacy:RulesLegacy",
      name: "ct-950-firewall-rules",
      urn: "urn:pulumi:prod::phoenix::proxmoxve:firewall/rulesLegacy:RulesLegacy::ct-950-firewall-rules",
      props: { nodeName: "pve", containerId: 950, rules: [{ type: "in", action: "ACCEPT", proto: "tcp", dport: "22", enabled: true }] },
    };
    const broken = [...resources.map((r) => (r === fw ? { ...r, props: { ...r.props, inputPolicy: "ACCEPT" } } : r)), guestRules];
    const hit = mandatory(await analyze(broken)).map((d) => d.policy).sort();
    expect(hit).toEqual(["host-firewall-drops-input-in-prod", "no-guest-admin-port-from-anywhere"]);
  });
});
