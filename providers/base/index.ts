// The dynamic-provider base: every Phoenix resource that changes a host is a HostScriptKind (a
// zod schema for its parameters plus a few switches) driven through hostScriptProvider, which
// implements Pulumi's dynamic ResourceProvider contract on top of runHostScript.
//
// Serialization: Pulumi captures the provider object by value into each resource's `__provider`
// (kept twice per resource in the stack's state). So the object a resource carries is a loader
// (`loaderProvider`, ~3 KB): the kind as plain data plus a function that, at run time in the
// dynamic-provider host, loads the implementation (`hostScriptProvider`, through ./bootstrap.js
// and ./runtime.ts) from the project the host runs in. It captures no absolute path: the project
// is Pulumi's root directory / the host's working directory (see `loadSpecProvider`). The zod schema is not captured (zod objects hold native bound
// functions): it is converted to JSON Schema here and rebuilt with zod's fromJSONSchema inside
// `check`. Refinements that JSON Schema cannot express run program-side only (HostScriptResource
// validates with the full schema). Secrets reach the provider only through `configure`, never
// through captured state.
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { nodeSecretsFromConfig, secretsFromConfig, withSession, type SshSecrets, type SshTarget } from "../ssh/index";
import type { FeatureScript } from "../../features/registry";
import { SSH_HOST, USERNAME } from "../../infra/config/patterns";
import { sha256 } from "../../infra/hash";
import type { HostScriptInputs, HostScriptOutputs } from "./types";
import { runHostScript, type HostScriptAction } from "./host-script";
import { progressRelay } from "./progress";
import { parseStepTimeouts } from "../../infra/config/step-timeouts";
import { isSshError, sshError } from "../ssh/index";

export * from "./types";
export * from "./host-script";

/** A dynamic resource kind: the parameters its script takes and how changes are applied. */
export interface HostScriptKind {
  /** Short kebab-case name; the Pulumi type is `pulumi-nodejs:dynamic/phoenix:<kind>`. */
  kind: string;
  /** zod schema of `params` (an object of strings). */
  params: z.ZodType;
  /** Parameter names whose change replaces the object instead of updating it in place. */
  replaceOn?: string[];
  /** Host-side lock name (`/run/lock/phoenix-<lock>.lock`) for scripts editing shared files. */
  lock?: string;
  /** Per-script timeout (default 10 min). */
  timeoutMs?: number;
}

/** What the serialized provider needs from a kind: plain data only. */
export interface SerializableKind {
  kind: string;
  paramsJsonSchema: Record<string, unknown>;
  replaceOn: string[];
  lock?: string;
  timeoutMs?: number;
}

function serializableKind(kind: HostScriptKind): SerializableKind {
  if (!/^[a-z][a-z0-9-]*$/.test(kind.kind)) throw new Error(`invalid kind name ${JSON.stringify(kind.kind)}`);
  return {
    kind: kind.kind,
    paramsJsonSchema: paramsJsonSchema(kind.params),
    replaceOn: [...(kind.replaceOn ?? [])],
    lock: kind.lock,
    timeoutMs: kind.timeoutMs,
  };
}

/** A params schema as JSON Schema (draft 2020-12, zod's fromJSONSchema default, so no `$schema`). */
function paramsJsonSchema(params: z.ZodType): Record<string, unknown> {
  // JSON round trip: zod adds a non-enumerable `~standard` object full of functions.
  const { $schema, ...schema } = JSON.parse(JSON.stringify(z.toJSONSchema(params, { target: "draft-2020-12", io: "input", unrepresentable: "any" })));
  if ($schema !== undefined && $schema !== "https://json-schema.org/draft/2020-12/schema") throw new Error(`unexpected JSON Schema dialect ${$schema}`);
  return schema;
}

// ---------------------------------------------------------------------------------------------
// Shared building blocks (also for kinds that need a custom provider, e.g. waits).

/** Pulumi's marker for values unknown during preview. */
export const UNKNOWN = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/**
 * Holds the SSH secrets of one provider instance. `configure` fills it from the stack config
 * (`phoenix:sshPrivateKey`...); before that (or without Pulumi) the environment is used.
 * `get(connection)` gives the secrets for a connection: with `secretsNode`, that node's own
 * (`phoenix:nodes.<node>.sshPrivateKey`...), each falling back to the flat ones.
 */
export function providerSecrets(): { configure(req: pulumi.dynamic.ConfigureRequest): Promise<void>; get(connection?: Pick<SshTarget, "secretsNode">): SshSecrets } {
  // An object, not a `let`: Pulumi serializes each closure's captured variables by value, so
  // only a shared object keeps configure's write visible to get. Only the secret keys are kept.
  const state: { secrets?: SshSecrets; nodes?: string } = {};
  const none = { get: () => undefined };
  return {
    configure: async (req) => {
      state.secrets = secretsFromConfig(req.config);
      const nodes: unknown = req.config.get("phoenix:nodes");
      state.nodes = nodes === undefined ? undefined : typeof nodes === "string" ? nodes : JSON.stringify(nodes);
    },
    get: (connection) => {
      const node = connection?.secretsNode;
      if (node === undefined) return state.secrets ?? secretsFromConfig(none);
      const own = nodeSecretsFromConfig({ get: (key) => (key === "phoenix:nodes" ? state.nodes : undefined) }, node);
      return { ...(state.secrets ?? secretsFromConfig(none)), ...own };
    },
  };
}

/** JSON with sorted keys, so equal objects compare equal whatever the key order. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : 1));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Checks an SshTarget input (host, port, user, host key...). Unknown values pass. */
export function checkConnection(connection: unknown): pulumi.dynamic.CheckFailure[] {
  const failures: pulumi.dynamic.CheckFailure[] = [];
  const c = connection as Partial<SshTarget> | undefined;
  if (c === (UNKNOWN as unknown)) return failures;
  if (!c || typeof c !== "object") return [{ property: "connection", reason: "connection is required" }];
  if (c.host !== UNKNOWN && (typeof c.host !== "string" || !SSH_HOST.test(c.host))) failures.push({ property: "connection.host", reason: `invalid host ${JSON.stringify(c.host)}` });
  if ((c.port as unknown) !== UNKNOWN && (!Number.isInteger(c.port) || (c.port as number) < 1 || (c.port as number) > 65535)) failures.push({ property: "connection.port", reason: `invalid port ${JSON.stringify(c.port)}` });
  if (c.user !== UNKNOWN && (typeof c.user !== "string" || !USERNAME.test(c.user))) failures.push({ property: "connection.user", reason: `invalid user ${JSON.stringify(c.user)}` });
  if (!c.hostKey && !c.insecureIgnoreHostKey) failures.push({ property: "connection.hostKey", reason: "an expected host key (known_hosts line or SHA256 fingerprint) is required unless insecureIgnoreHostKey is set" });
  if (c.bastion && !c.bastion.hostKey && !c.insecureIgnoreHostKey) failures.push({ property: "connection.bastion.hostKey", reason: "the bastion's expected host key is required unless insecureIgnoreHostKey is set" });
  return failures;
}

/** The inputs (or stored state) `diffInputs` compares: what it reads of them, the rest by key. */
export interface DiffedInputs {
  connection?: { host?: unknown; hostKey?: unknown };
  params?: Record<string, unknown>;
  /** What the last read reported (`matches: false` is drift). */
  observed?: unknown;
  [key: string]: unknown;
}

/**
 * Whether a connection change reaches another machine: a changed host whose pinned host key did
 * not stay the same. A new name or address of the same machine (same pinned key) is the same host:
 * the object is updated in place, never created there again and then deleted by its old name.
 * Without a pinned key on both sides Phoenix cannot tell, and takes it for another machine.
 */
export function anotherMachine(olds: DiffedInputs["connection"], news: DiffedInputs["connection"]): boolean {
  if (olds?.host === undefined || news?.host === olds.host) return false;
  const key = (k: unknown) => (typeof k === "string" && k.trim() !== "" ? k.trim() : undefined);
  const before = key(olds.hostKey);
  return before === undefined || before !== key(news?.hostKey);
}

/**
 * The diff every host-script-like resource uses: `__provider` is ignored (upgrading Phoenix never
 * touches hosts); listed keys are compared; a connection to another machine (anotherMachine) or
 * a changed replaceOn parameter is a replacement (deleted first: the new object usually has the
 * same identity on the host).
 */
export function diffInputs(olds: DiffedInputs, news: DiffedInputs, keys: string[], replaceOn: string[]): pulumi.dynamic.DiffResult {
  const changed = keys.filter((k) => stableJson(olds[k]) !== stableJson(news[k]));
  const replaces: string[] = [];
  if (anotherMachine(olds.connection, news.connection)) replaces.push("connection");
  const replacedParams = replaceOn.filter((p) => stableJson(olds.params?.[p]) !== stableJson(news.params?.[p]));
  if (replacedParams.length) replaces.push("params");
  // Drift seen by the last refresh (the script's read reported matches:false) needs an apply.
  const drifted = olds.observed && (olds.observed as Record<string, unknown>).matches === false;
  return {
    changes: changed.length > 0 || !!drifted,
    replaces,
    deleteBeforeReplace: replacedParams.length > 0,
  };
}

// ---------------------------------------------------------------------------------------------

const COMPARED = ["params", "secretParams", "scriptHash", "connection", "allowDestroy"];

/** A step's timeout when neither its kind nor the stack sets one. */
const DEFAULT_STEP_TIMEOUT_MS = 10 * 60_000;

/**
 * How a step is named in progress lines (`lxc-step 950 feature-vllm @pve1`) and its log on the
 * host (`lxc-step-950-feature-vllm`): the kind and the parameters that identify its object.
 */
export function stepIdentity(k: Pick<SerializableKind, "kind" | "replaceOn">, props: Pick<HostScriptInputs, "params" | "connection">): { tag: string; logName: string } {
  const ids = k.replaceOn.map((p) => String(props.params?.[p] ?? "")).filter(Boolean);
  const tag = [k.kind, ...ids].join(" ") + (props.connection?.host ? ` @${props.connection.host}` : "");
  let logName = [k.kind, ...ids].join("-").toLowerCase().replace(/[^a-z0-9._-]+/g, "_").replace(/^[^a-z0-9]+/, "");
  if (logName.length > 120) logName = `${logName.slice(0, 100)}-${sha256(logName).slice(0, 16)}`;
  return { tag, logName };
}

/**
 * The dynamic provider of one HostScriptKind: the implementation. Resources do not serialize it
 * (it pulls in the SSH transport, ~40 KB); their loader (`loaderProvider`) builds it at run time
 * through ./runtime.ts. Stacks written before the loader carry it serialized whole and keep working.
 */
export function hostScriptProvider(kind: HostScriptKind | SerializableKind): pulumi.dynamic.ResourceProvider {
  const k: SerializableKind = "params" in kind ? serializableKind(kind) : kind;
  const secrets = providerSecrets();
  // `phoenix:stepTimeouts` (minutes per kind), read at configure: the stack's setting, else the kind's default.
  const settings: { timeoutMs?: number } = {};

  const runAction = async (action: HostScriptAction, props: HostScriptInputs, what: string) => {
    const timeoutMs = settings.timeoutMs ?? k.timeoutMs ?? DEFAULT_STEP_TIMEOUT_MS;
    const { tag, logName } = stepIdentity(k, props);
    // Reads are quick and many (refresh): only changes show progress.
    const relay = action === "read" ? undefined : progressRelay(`phoenix ${tag}`, (l) => process.stderr.write(`${l}\n`));
    const ticker = relay ? setInterval(() => relay.tick(), 1_000) : undefined;
    ticker?.unref();
    try {
      return await withSession(props.connection, secrets.get(props.connection), (session) =>
        runHostScript(session, {
          script: props.script,
          action,
          params: props.params ?? {},
          secretParams: props.secretParams,
          allowDestroy: !!props.allowDestroy,
          lock: k.lock,
          timeoutMs,
          purpose: `${what} ${k.kind} (${Object.entries(props.params ?? {})
            .map(([n, v]) => `${n}=${JSON.stringify(v).slice(0, 80)}`)
            .join(" ")})`,
          ...(action === "read" ? {} : { logName, onProgress: (l: string) => relay?.line(l) }),
        }),
      );
    } catch (err) {
      if (isSshError(err) && /timed out after/.test(err.message) && settings.timeoutMs === undefined) {
        throw sshError(`${err.message} (the default for ${k.kind}; a stack may allow more: phoenix:stepTimeouts {"${k.kind}": <minutes>})`, err.purpose, err.code, err.stderrTail, err.transient);
      }
      throw err;
    } finally {
      if (ticker) clearInterval(ticker);
      relay?.end();
    }
  };

  const outputs = (inputs: HostScriptInputs, observed: Record<string, unknown>): HostScriptOutputs => ({
    connection: inputs.connection,
    script: inputs.script,
    scriptHash: inputs.scriptHash,
    params: inputs.params ?? {},
    ...(inputs.secretParams ? { secretParams: inputs.secretParams } : {}),
    allowDestroy: !!inputs.allowDestroy,
    observed,
  });

  const idOf = (inputs: HostScriptInputs, observed: Record<string, unknown>): string => {
    if (typeof observed.id === "string" && observed.id) return observed.id;
    const identity = k.replaceOn.length ? Object.fromEntries(k.replaceOn.map((p) => [p, inputs.params?.[p]])) : inputs.params;
    return `${k.kind}:${inputs.connection.host}:${sha256(stableJson(identity)).slice(0, 16)}`;
  };

  return {
    configure: async (req) => {
      await secrets.configure(req);
      const parsed = parseStepTimeouts(req.config.get("phoenix:stepTimeouts"));
      if ("problem" in parsed) throw new Error(`phoenix:stepTimeouts: ${parsed.problem}`);
      settings.timeoutMs = parsed.timeouts[k.kind];
    },

    async check(_olds: unknown, news: Record<string, unknown>): Promise<pulumi.dynamic.CheckResult> {
      const failures = checkConnection(news.connection);
      if (typeof news.script !== "string" || !news.script.trim()) failures.push({ property: "script", reason: "script text is required" });
      else if (news.scriptHash !== UNKNOWN && news.scriptHash !== sha256(news.script)) failures.push({ property: "scriptHash", reason: "scriptHash is not the sha256 of script" });
      if (news.allowDestroy !== undefined && typeof news.allowDestroy !== "boolean") failures.push({ property: "allowDestroy", reason: "must be a boolean" });
      let params = news.params;
      const hasUnknown = (o: unknown) => o === UNKNOWN || (!!o && typeof o === "object" && Object.values(o).includes(UNKNOWN));
      if (!hasUnknown(news.params)) {
        // Required here, not captured: Pulumi cannot serialize zod's namespace object by value.
        // eslint-disable-next-line @typescript-eslint/no-require-imports -- see above: a run-time require in a serialized closure
        const zod: typeof z = require("zod").z;
        const parsed = zod.fromJSONSchema(k.paramsJsonSchema as z.core.JSONSchema.JSONSchema).safeParse(news.params ?? {});
        if (!parsed.success) {
          for (const issue of parsed.error.issues) {
            failures.push({ property: ["params", ...issue.path.map(String)].join("."), reason: `${k.kind}: ${issue.message}` });
          }
        } else {
          params = parsed.data;
          for (const [n, v] of Object.entries(params as Record<string, unknown>)) {
            if (typeof v !== "string") failures.push({ property: `params.${n}`, reason: `${k.kind}: parameter values must be strings` });
          }
        }
      }
      if (news.secretParams !== undefined && !hasUnknown(news.secretParams)) {
        if (!news.secretParams || typeof news.secretParams !== "object") failures.push({ property: "secretParams", reason: "must be an object of strings" });
        else for (const [n, v] of Object.entries(news.secretParams)) if (typeof v !== "string") failures.push({ property: `secretParams.${n}`, reason: "must be a string" });
      }
      return { inputs: { ...news, params }, failures };
    },

    async diff(_id: string, olds: DiffedInputs, news: DiffedInputs): Promise<pulumi.dynamic.DiffResult> {
      return diffInputs(olds, news, COMPARED, k.replaceOn);
    },

    async create(inputs: HostScriptInputs): Promise<pulumi.dynamic.CreateResult> {
      const { result } = await runAction("apply", inputs, "create");
      return { id: idOf(inputs, result), outs: outputs(inputs, result) };
    },

    async read(id: string, props?: HostScriptInputs): Promise<pulumi.dynamic.ReadResult> {
      if (!props || !props.connection || !props.script) {
        throw new Error(`read ${k.kind} ${id}: the resource's properties (connection, script, params) are needed to read it`);
      }
      const { result } = await runAction("read", props, "read");
      if (result.present === false) return { id: "", props: {} };
      return { id, props: outputs(props, result) };
    },

    async update(_id: string, _olds: unknown, news: HostScriptInputs): Promise<pulumi.dynamic.UpdateResult> {
      const { result } = await runAction("apply", news, "update");
      return { outs: outputs(news, result) };
    },

    async delete(_id: string, props: HostScriptInputs): Promise<void> {
      await runAction("delete", props, "delete");
    },
  };
}

// ---------------------------------------------------------------------------------------------

export interface HostScriptResourceArgs {
  connection: pulumi.Input<SshTarget>;
  script: FeatureScript;
  params: pulumi.Input<Record<string, pulumi.Input<string>>>;
  /** Stored as Pulumi secrets and kept out of logs and errors. */
  secretParams?: pulumi.Input<Record<string, pulumi.Input<string>>>;
  allowDestroy?: pulumi.Input<boolean>;
}

// ---------------------------------------------------------------------------------------------
// The serialized provider: a loader of the implementation (~3 KB instead of ~40 KB).

/** What a serialized provider carries (as JSON text): the kind's plain data and how to run it. */
export interface ProviderSpec {
  /** Format of the call into ./runtime.ts (`providerFromState(format, kind)`). */
  format: 1;
  /**
   * How the program that serialized it ran: `ts` (the TypeScript sources under ts-node, as
   * `pulumi up` runs them) or `js` (compiled, from dist/). ./bootstrap.js loads the same form
   * first and falls back to the other.
   */
  source: "ts" | "js";
  kind: SerializableKind;
}

/** The spec this program writes for a kind (`source` from how this module was loaded). */
export function providerSpec(kind: HostScriptKind | SerializableKind): ProviderSpec {
  return { format: 1, source: __filename.endsWith(".ts") ? "ts" : "js", kind: "params" in kind ? serializableKind(kind) : kind };
}

/**
 * Builds a serialized provider's implementation in the dynamic-provider host through the
 * project's ./bootstrap.js, found in Pulumi's root directory (PULUMI_ROOT_DIRECTORY, the folder
 * of Pulumi.yaml) or else the working directory, which Pulumi sets to the project for plugins
 * (its `pulumi-resource-pulumi-nodejs` launcher and the serialized code's own `require`s resolve
 * from there). `spec` is a ProviderSpec as JSON. Serialized by value into every `__provider`, so
 * it uses nothing but `require`, `process` and its argument, and stays short.
 */
export function loadSpecProvider(spec: string): pulumi.dynamic.ResourceProvider {
  const root = process.env.PULUMI_ROOT_DIRECTORY || process.cwd();
  // eslint-disable-next-line @typescript-eslint/no-require-imports -- serialized by value: `require` is all it may use (see above)
  return require(require("path").join(root, "providers/base/bootstrap.js")).providerFromSpec(spec);
}

/**
 * The provider object a HostScriptResource serializes (~3 KB): a ProviderSpec as JSON text (one
 * string literal; a captured object would become one statement per nested value) and methods
 * forwarding to the implementation built on first use by `loadSpecProvider`. `spec` defaults to
 * this program's (`providerSpec(kind)`). One implementation per loaded provider, so
 * `configure`'s secrets reach the CRUD calls.
 */
export function loaderProvider(kind: HostScriptKind | SerializableKind, spec: ProviderSpec = providerSpec(kind)): pulumi.dynamic.ResourceProvider {
  const specJson = JSON.stringify(spec);
  // An object, not a `let`: every method closure must see the one implementation.
  const loaded: { impl?: Required<pulumi.dynamic.ResourceProvider> } = {};
  const impl = () => (loaded.impl ??= loadSpecProvider(specJson) as Required<pulumi.dynamic.ResourceProvider>);
  return {
    configure: async (...a) => impl().configure(...a),
    check: async (...a) => impl().check(...a),
    diff: async (...a) => impl().diff(...a),
    create: async (...a) => impl().create(...a),
    read: async (...a) => impl().read(...a),
    update: async (...a) => impl().update(...a),
    delete: async (...a) => impl().delete(...a),
  };
}

const providers = new WeakMap<HostScriptKind, pulumi.dynamic.ResourceProvider>();

/** One (loader) provider object per kind, so Pulumi serializes it once per program run. */
function providerFor(kind: HostScriptKind): pulumi.dynamic.ResourceProvider {
  let p = providers.get(kind);
  if (!p) providers.set(kind, (p = loaderProvider(kind)));
  return p;
}

/** Validates params with the kind's full zod schema (refinements included). */
export function parseParams(kind: HostScriptKind, params: Record<string, string>): Record<string, string> {
  const r = kind.params.safeParse(params);
  if (!r.success) {
    throw new Error(`${kind.kind}: invalid params: ${r.error.issues.map((i) => `${i.path.join(".") || "(root)"}: ${i.message}`).join("; ")}`);
  }
  return r.data as Record<string, string>;
}

/** Hosts already warned about in this program run (program side, never serialized). */
const warnedInsecure: string[] = [];

/** `pulumi preview/up` shows this on every run while a stack opts out of host-key checking. */
function warnIfInsecure(connection: pulumi.Input<SshTarget>): void {
  pulumi.output(connection).apply((c) => {
    const where = `${c.user}@${c.host}:${c.port}`;
    if (c.insecureIgnoreHostKey && !warnedInsecure.includes(where)) {
      warnedInsecure.push(where);
      pulumi.log.warn(`SSH host key of ${where} is NOT verified (phoenix:sshInsecureIgnoreHostKey): anyone on the path can impersonate the host. Set phoenix:sshHostKey.`);
    }
  });
}

function isPlainStrings(value: unknown): value is Record<string, string> {
  return !!value && typeof value === "object" && !pulumi.Output.isInstance(value) && Object.values(value).every((v) => typeof v === "string");
}

/** A resource managed by a feature script on the host. */
export class HostScriptResource extends pulumi.dynamic.Resource {
  /** The last PHOENIX_RESULT the script reported (apply, or read on refresh). */
  declare readonly observed: pulumi.Output<Record<string, unknown>>;

  constructor(kind: HostScriptKind, name: string, args: HostScriptResourceArgs, opts?: pulumi.CustomResourceOptions) {
    const props: Record<string, pulumi.Input<unknown>> = {
      connection: args.connection,
      script: args.script.text,
      scriptHash: args.script.sha256,
      // Plain values (the usual case: straight from the config model) fail right here, at the
      // call site; values that are Outputs are validated once they resolve.
      params: isPlainStrings(args.params)
        ? parseParams(kind, args.params)
        : pulumi.output(args.params).apply((p) => parseParams(kind, p as Record<string, string>)),
      allowDestroy: args.allowDestroy ?? false,
      observed: undefined,
    };
    if (args.secretParams !== undefined) props.secretParams = pulumi.secret(args.secretParams);
    warnIfInsecure(args.connection);
    super(
      providerFor(kind),
      name,
      props,
      { ...opts, additionalSecretOutputs: [...(opts?.additionalSecretOutputs ?? []), "secretParams"] },
      "phoenix",
      kind.kind,
    );
  }
}

export { isSshError, sshError, type SshError } from "../ssh/index";
