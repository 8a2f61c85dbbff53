// `phoenix plan`: runs the real Pulumi program (infra/index.ts, compiled) offline under the SDK's
// mock monitor and lists every resource it declares, with its parent and dependencies. No Pulumi
// CLI, credentials or network are needed. Dynamic providers are serialized exactly as during
// `pulumi up`, so a provider that cannot be serialized fails the plan.
import { createHmac } from "crypto";
import * as fs from "fs";
import { createRequire } from "module";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import type { RegisterResourceRequest, RegisterResourceResponse } from "@pulumi/pulumi/proto/resource_pb";
import { readStackFile } from "../config/stack-settings";
import { repoRoot } from "../../features/registry";
import { stackSettingsFrom } from "../settings";
import { loadPhoenixConfig } from "../config/load";
import { deploymentOf } from "../deployment/index";
import { normalizeDiffArg, runPlanDiff, SECRET_DIGEST_KEY_ENV } from "./plan-diff";
import { COLOR_OPTION, colorModeError, paletteFor } from "./color";
import { configOverrides, parseCommandArgs, STACK_OPTIONS, stackFilePath, stackUsageError, usageError } from "./args";

export interface PlannedResource {
  type: string;
  name: string;
  /** Logical name of the parent resource, or null at the top. */
  parent: string | null;
  /** The Proxmox node the resource acts on (the deployment model's), when the plan succeeded. */
  node?: string;
  /** Logical names of every resource this one depends on (explicit dependsOn and through inputs). */
  dependsOn: string[];
  custom: boolean;
  protect: boolean;
  /** Property paths whose changes the engine ignores after creation (`ignoreChanges`). */
  ignoreChanges: string[];
  /** The resource options the engine honours on later runs (what a change to it will do). */
  options: ResourceOptionsShown;
  /** Names, `<type>::<name>` pairs or URNs this resource was known by before (Pulumi `aliases`): its state is kept. */
  aliases: string[];
  urn: string;
  /** Inputs as the engine would see them (secrets unwrapped; see secretInputs). */
  inputs: PropertyBag;
  /** Names of top-level inputs that are Pulumi secrets. */
  secretInputs: string[];
  /**
   * Inputs as a reviewer may see them: every Pulumi secret (at any depth) as `[secret]`, values
   * not known before the update as `[unknown]`, and without `__provider` (the serialized provider
   * code of dynamic resources, not an input to the host).
   */
  shownInputs: PropertyBag;
}

/**
 * A resource's inputs as the engine holds them: any JSON-like value per property, shaped by the
 * resource type (the proxmoxve schema, a Phoenix provider's params). Readers (CLI, policy, tests)
 * walk deep paths of many resource types; there is no one type for them.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- free-form property bag of any resource type (see above)
export type PropertyBag = Record<string, any>;

/** A resource's Pulumi options as the program registered them (`plan --json` shows them). */
export interface ResourceOptionsShown {
  protect: boolean;
  ignoreChanges: string[];
  deleteBeforeReplace: boolean;
  retainOnDelete: boolean;
  replaceOnChanges: string[];
  /** Operation → duration (`30m`), only those the program set. */
  customTimeouts: { create?: string; update?: string; delete?: string };
}

/** The options of one registration request. */
function optionsOf(req: RegisterResourceRequest): ResourceOptionsShown {
  const t = req.getCustomtimeouts();
  const customTimeouts = Object.fromEntries(
    (["create", "update", "delete"] as const).map((k) => [k, t ? { create: t.getCreate(), update: t.getUpdate(), delete: t.getDelete() }[k] : ""]).filter(([, v]) => v),
  );
  return {
    protect: Boolean(req.getProtect()),
    ignoreChanges: req.getIgnorechangesList(),
    deleteBeforeReplace: Boolean(req.getDeletebeforereplace()),
    retainOnDelete: Boolean(req.getRetainondelete()),
    replaceOnChanges: req.getReplaceonchangesList(),
    customTimeouts,
  };
}

export interface PlanResult {
  stack: string;
  resources: PlannedResource[];
  /** Errors raised while the program ran (config errors, serialization failures). */
  errors: string[];
}

/** The part of Pulumi's resource monitor client `planStack` (and the tests' engines) wrap to record each registration. */
export interface RecordableMonitor {
  registerResource(req: RegisterResourceRequest, callback: (err: Error | null, res?: RegisterResourceResponse) => void): void;
}

export interface NewResourceHook {
  (args: pulumi.runtime.MockResourceArgs): Promise<{ id?: string; state?: Record<string, unknown> } | undefined>;
}

export interface PlanOptions {
  stack: string;
  /** Plan another set of Phoenix files with the stack's settings. */
  configDir?: string;
  /** Extra or overriding stack config (`phoenix:node` style keys). */
  config?: Record<string, string>;
  /** Run as a preview (true, default) or as an update. */
  preview?: boolean;
  /** Lets end-to-end tests carry out resources (e.g. through the Proxmox emulator). */
  onNewResource?: NewResourceHook;
}

/** Reads `stacks/Pulumi.<stack>.yaml` into flat `namespace:key → string` config. */
export function readStackConfig(stack: string): { config: Record<string, string>; secretKeys: string[]; secretParents: string[] } {
  const file = stackFilePath(stack);
  if (!fs.existsSync(file)) throw new Error(`no stack settings file ${path.relative(process.cwd(), file)}`);
  const { plain, secretKeys, secretPaths } = readStackFile(file);
  // Keys holding encrypted leaves (`phoenix:nodes.pve2.sshPassword` → `phoenix:nodes`).
  const secretParents = [...new Set(secretPaths.map((p) => p.split(".")[0].replace(/\[.*$/, "")))];
  // Encrypted with the stack's secrets provider: offline we only know the key is set.
  const config: Record<string, string> = { ...plain, ...Object.fromEntries(secretKeys.map((k) => [k, "[secret]"])) };
  return { config, secretKeys, secretParents };
}

/** Sets each planned resource's `node` from the deployment model of the same settings and files. */
function annotateNodes(stack: string, config: Record<string, string>, resources: PlannedResource[]): void {
  const settings = stackSettingsFrom(stack, (key) => config[`phoenix:${key}`]);
  const loaded = loadPhoenixConfig(settings.configDir, { defaultNode: settings.node, nodes: settings.nodes.map((n) => n.name), allow: settings.allow });
  if (!loaded.ok) return;
  const deployment = deploymentOf(loaded.model, { node: settings.node, firewallTakeover: settings.firewallTakeover });
  for (const r of resources) {
    const component = !r.custom;
    if (deployment.has(r.name, component)) r.node = deployment.get(r.name, component).node;
  }
}

function nameFromUrn(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

let planning = false;

/** Runs the program under mocks and records what it declares. One plan at a time per process. */
export async function planStack(options: PlanOptions): Promise<PlanResult> {
  if (planning) throw new Error("planStack: a plan is already running in this process");
  planning = true;
  const errors: string[] = [];
  const onRejection = (reason: unknown) => errors.push(describe(reason));
  process.on("unhandledRejection", onRejection);
  try {
    const { config, secretKeys, secretParents } = readStackConfig(options.stack);
    if (options.configDir) config["phoenix:configDir"] = path.resolve(options.configDir);
    Object.assign(config, options.config ?? {});

    const recorded = new Map<string, PlannedResource>();
    const mocks: pulumi.runtime.Mocks = {
      async newResource(args) {
        const custom = await options.onNewResource?.(args);
        const id = custom?.id ?? (args.id || `${args.name}-id`);
        return { id, state: { ...args.inputs, ...(custom?.state ?? {}) } };
      },
      call(args) {
        return args.inputs;
      },
    };
    await pulumi.runtime.setMocks(mocks, "phoenix", options.stack, options.preview ?? true);
    // A structured value with encrypted leaves (phoenix:nodes) is a secret key, as Pulumi holds it.
    pulumi.runtime.setAllConfig(config, [...secretKeys, ...secretParents]);

    // The mock monitor drops parent and dependency information before calling newResource; the
    // request itself carries it, so record from the request.
    const monitor = pulumi.runtime.getMonitor() as unknown as RecordableMonitor;
    const register = monitor.registerResource.bind(monitor);
    monitor.registerResource = (req, callback) => {
      const deps = new Set<string>(req.getDependenciesList());
      req.getPropertydependenciesMap().forEach((v) => v.getUrnsList().forEach((u: string) => deps.add(u)));
      const parentUrn: string = req.getParent();
      const fields = req.getObject()?.toJavaScript() ?? {};
      const secretInputs = Object.keys(fields).filter((k) => isSecretValue(fields[k]));
      register(req, (err, res) => {
        if (!err && res) {
          const urn: string = res.getUrn();
          recorded.set(urn, {
            type: req.getType(),
            name: req.getName(),
            parent: parentUrn ? nameFromUrn(parentUrn) : null,
            dependsOn: [...deps].map(nameFromUrn).sort(),
            custom: req.getCustom(),
            protect: Boolean(req.getProtect()),
            ignoreChanges: req.getIgnorechangesList(),
            options: optionsOf(req),
            aliases: [
              ...req.getAliasurnsList(),
              // An alias spec: its name, with the type when it names one (`phoenix:hypervisor:Host::host`).
              ...req.getAliasesList().map((a) => {
                const spec = a.getSpec?.();
                if (!spec) return a.getUrn?.() || "";
                const name = spec.getName?.() || "";
                const type = spec.getType?.() || "";
                const parent = spec.getParenturn?.() || "";
                const shown = type ? `${type}::${name || req.getName()}` : name || req.getName();
                return parent && parent !== req.getParent() ? `${shown} (parent ${parent})` : shown;
              }),
            ].filter(Boolean),
            urn,
            inputs: unwrapSecrets(fields) as PropertyBag,
            secretInputs,
            shownInputs: showInputs(fields),
          });
        }
        callback(err, res);
      });
    };

    const program = path.join(repoRoot(), "dist", "infra", "index.js");
    // Node's require of this module: the program is compiled CommonJS, re-run on each plan.
    const requireProgram = createRequire(__filename);
    delete requireProgram.cache[requireProgram.resolve(program)];
    try {
      requireProgram(program);
    } catch (err) {
      errors.push(describe(err));
    }
    await (pulumi.runtime as { waitForRPCs?: () => Promise<void> }).waitForRPCs?.();
    // Let the last rejections (if any) surface.
    await new Promise((resolve) => setImmediate(resolve));
    const resources = [...recorded.values()];
    if (errors.length === 0) annotateNodes(options.stack, config, resources);
    return { stack: options.stack, resources, errors };
  } finally {
    process.off("unhandledRejection", onRejection);
    planning = false;
  }
}

const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

function isSecretValue(v: unknown): boolean {
  return !!v && typeof v === "object" && (v as Record<string, unknown>)["4dabf18193072939515e22adb298388d"] === SECRET_SIG;
}

function unwrapSecrets(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(unwrapSecrets);
  if (v && typeof v === "object") {
    if (isSecretValue(v)) return unwrapSecrets((v as { value?: unknown }).value);
    return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrapSecrets(x)]));
  }
  return v;
}

const UNKNOWN_VALUE = "04da6b54-80e4-46f7-96ec-b56ff0331ba9";

/** Inputs for display: secrets masked, unknowns marked, `__provider` left out. */
/** A secret as a reviewer sees it: `[secret]`, or `[secret <digest>]` under a diff's key. */
function showSecret(v: unknown): string {
  const key = process.env[SECRET_DIGEST_KEY_ENV];
  if (!key) return "[secret]";
  return `[secret ${createHmac("sha256", key).update(JSON.stringify(unwrapSecrets(v)) ?? "").digest("hex").slice(0, 8)}]`;
}

function showInputs(fields: Record<string, unknown>): Record<string, unknown> {
  const show = (v: unknown): unknown => {
    if (isSecretValue(v)) return showSecret(v);
    if (v === UNKNOWN_VALUE) return "[unknown]";
    if (Array.isArray(v)) return v.map(show);
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, show(x)]));
    return v;
  };
  return Object.fromEntries(Object.entries(fields).filter(([k]) => k !== "__provider").map(([k, v]) => [k, show(v)]));
}

function describe(err: unknown): string {
  if (err instanceof Error) {
    // RunError (bad config) carries a user-facing message; no stack trace for those.
    return err.message;
  }
  return String(err);
}

/**
 * The plan as text: one entry per resource (type, name, parent, node in a multi-node stack,
 * dependencies); `verbose` adds the names each resource was known by before (Pulumi aliases).
 */
export function formatPlanText(plan: PlanResult, verbose = false): string {
  const nodes = new Set(plan.resources.map((r) => r.node).filter((n): n is string => Boolean(n)).sort());
  const lines = [`Plan for stack ${plan.stack}: ${plan.resources.length} resources${nodes.size > 1 ? ` on ${nodes.size} nodes (${[...nodes].join(", ")})` : ""}`];
  for (const r of plan.resources) {
    lines.push(`  ${r.type}  ${r.name}`);
    if (r.parent) lines.push(`      parent: ${r.parent}`);
    if (nodes.size > 1 && r.node) lines.push(`      node: ${r.node}`);
    if (verbose && r.aliases.length) lines.push(`      aliases: ${r.aliases.join("; ")}`);
    if (r.dependsOn.length) lines.push(`      depends on: ${r.dependsOn.join(", ")}`);
  }
  return lines.join("\n");
}

export const USAGE = `usage: phoenix plan [--stack NAME] [--config-dir DIR] [--config KEY=VALUE ...] [--json] [--verbose]
                   [--diff [REF]] [--color auto|always|never]

Runs the Pulumi program offline under the SDK's mock monitor and lists every resource it declares,
with its parent and dependencies. Exit 1 when the program refuses the configuration.

With --diff, plans the stack also as it is at the git ref REF (default: the merge base with the
pull request's target branch in CI, else with origin/HEAD or main) and shows what the change does,
per resource: create, update, replace (and which replace rule) or delete, each changed input
old → new (secrets as [secret], multi-line scripts as a line diff). Exit 0 when nothing changes,
3 when changes are pending, 1 when a side does not plan, 2 for a bad ref.

options:
  --stack NAME       the stack whose settings apply (stacks/Pulumi.NAME.yaml; default dev)
  --config-dir DIR   folder holding the three Phoenix JSON files (default: the stack's
                     phoenix:configDir, else stacks/NAME)
  --config KEY=VALUE override a stack setting, repeatable, e.g.
                     --config phoenix:firewallLockoutAcknowledged=true
  --json             print JSON with each resource's inputs (what goes to the API and to each host
                     step; secrets as [secret]) and options (protect, ignoreChanges,
                     deleteBeforeReplace, retainOnDelete, replaceOnChanges, customTimeouts);
                     with --diff, the diff as JSON
  --verbose          also list each resource's former names (Pulumi aliases)
  --diff [REF]       compare with the plan at git ref REF (see above)
  --color WHEN       colour the diff: auto (on a terminal, unless NO_COLOR is set), always, never
  -h, --help         show this help
`;

export const OPTIONS = {
  ...STACK_OPTIONS,
  config: { type: "string", multiple: true },
  json: { type: "boolean", default: false },
  verbose: { type: "boolean", default: false },
  diff: { type: "string" },
  ...COLOR_OPTION,
} as const;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("plan", normalizeDiffArg(argv), OPTIONS, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  const stack = values.stack ?? "dev";
  const bad = stackUsageError("plan", stack);
  if (bad !== undefined) return bad;
  const overrides = configOverrides(values.config);
  if ("error" in overrides) return usageError("plan", overrides.error);
  const planOptions = { stack, configDir: values["config-dir"], config: overrides.config };
  const badColor = colorModeError(values.color);
  if (badColor) return usageError("plan", badColor);
  if (values.diff !== undefined) {
    const palette = paletteFor(values.color, process.stdout);
    return runPlanDiff(values.diff, { ...planOptions, json: values.json, palette, head: () => planStack(planOptions), log: (l) => process.stderr.write(`${l}\n`) });
  }
  const plan = await planStack(planOptions);
  if (plan.errors.length) {
    for (const e of plan.errors) process.stderr.write(`${e}\n`);
    return 1;
  }
  if (values.json) {
    const out = {
      stack: plan.stack,
      resources: plan.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, parent: r.parent, node: r.node, dependsOn: r.dependsOn, aliases: r.aliases, options: r.options, inputs: r.shownInputs })),
    };
    // With inputs the document is large: wait until it is written (the caller exits right after,
    // which would cut a piped stdout short).
    await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(out, null, 2)}\n`, () => resolve()));
  } else {
    process.stdout.write(`${formatPlanText(plan, values.verbose)}\n`);
  }
  return 0;
}
