// `phoenix plan --diff <git ref>`: what a change does to the stack, for a reviewer without the
// host's secrets. Both sides are planned offline under the mock monitor: the working tree in this
// process, the ref from a copy of its tree (`git archive`) run as its own `phoenix plan --json`
// (built with tsc first when its TypeScript differs from the working tree's, else run with this
// build). The two plans are compared per resource: create, update, replace (and why: the
// provider's replace rules, infra/deployment/replace-rules.ts) or delete, with each changed input
// old → new (secrets stay `[secret]`; multi-line scripts as a line diff).
import { spawnSync } from "child_process";
import { randomBytes } from "crypto";
import * as fs from "fs";
import * as os from "os";
import * as path from "path";
import { structuredPatch } from "diff";
import { repoRoot } from "../../features/registry";
import { replaceReasons } from "../deployment/replace-rules";
import { stackFilePath, usageError } from "./args";
import type { PlanResult } from "./plan";

/**
 * Environment variable holding a key that `plan --diff` picks at random for one comparison: with
 * it, a secret is shown as `[secret <8 hex>]`, an HMAC-SHA256 of its value under that key, so the
 * two sides of one diff tell a changed secret from an unchanged one while the value, and any
 * comparison across runs (the key is thrown away), stays hidden.
 */
export const SECRET_DIGEST_KEY_ENV = "PHOENIX_PLAN_SECRET_DIGEST_KEY";

/** One resource of a plan as `phoenix plan --json` shows it (inputs with secrets masked). */
export interface ShownResource {
  type: string;
  name: string;
  urn: string;
  parent?: string | null;
  aliases?: string[];
  inputs: Record<string, unknown>;
  /** Input paths the engine ignores after creation (`ignoreChanges`); known on the working tree's side. */
  ignoreChanges?: string[];
  protect?: boolean;
}

export type ChangeKind = "create" | "update" | "replace" | "delete";

/** One changed input: its path (dotted, list items `[n]`), old and new value, or a line diff. */
export interface InputChange {
  path: string;
  old?: unknown;
  new?: unknown;
  /** For multi-line text: the unified line diff (hunks only) instead of old/new. */
  lines?: string[];
}

export interface ResourceChange {
  kind: ChangeKind;
  type: string;
  name: string;
  urn: string;
  /** Changed inputs (update and replace). */
  changes: InputChange[];
  /** Why the engine replaces it (`path: rule`), for a replace. */
  replaceReasons: string[];
  /** The name in the base plan when the resource was renamed (matched through its aliases). */
  renamedFrom?: string;
  /** Changes of paths the resource's `ignoreChanges` names: the engine does not act on them. */
  ignored: string[];
  /** A protected resource: Pulumi refuses to replace it (the run fails in preview). */
  protect?: boolean;
}

export interface PlanDiff {
  changes: ResourceChange[];
  /** Resources the engine leaves as they are (including those whose only changes it ignores). */
  unchanged: number;
  /** Unchanged resources whose inputs changed only under their `ignoreChanges`: name → paths. */
  ignoredOnly?: { name: string; paths: string[] }[];
}

/** The inputs as leaf paths: objects as `a.b`, lists as `a[0]`; empty objects and lists are leaves. */
export function flattenInputs(value: unknown, prefix = "", out: Record<string, unknown> = {}): Record<string, unknown> {
  if (Array.isArray(value) && value.length) value.forEach((v, i) => flattenInputs(v, `${prefix}[${i}]`, out));
  else if (value && typeof value === "object" && !Array.isArray(value) && Object.keys(value).length)
    for (const [k, v] of Object.entries(value)) flattenInputs(v, prefix ? `${prefix}.${k}` : k, out);
  else if (prefix) out[prefix] = value;
  return out;
}

function isMultiline(v: unknown): v is string {
  return typeof v === "string" && v.includes("\n");
}

/** A unified diff of two texts, hunks only (`@@ … @@`, ` `, `-`, `+` lines). */
export function lineDiff(before: string, after: string): string[] {
  const patch = structuredPatch("a", "b", before, after, "", "", { context: 3 });
  return patch.hunks.flatMap((h) => [`@@ -${h.oldStart},${h.oldLines} +${h.newStart},${h.newLines} @@`, ...h.lines]);
}

/** The changed inputs of one resource (old and new inputs as a plan shows them). */
export function inputChanges(olds: Record<string, unknown>, news: Record<string, unknown>): InputChange[] {
  const a = flattenInputs(olds);
  const b = flattenInputs(news);
  const keys = [...new Set([...Object.keys(a), ...Object.keys(b)])].sort();
  const changes: InputChange[] = [];
  for (const k of keys) {
    if (JSON.stringify(a[k]) === JSON.stringify(b[k])) continue;
    if (isMultiline(a[k]) || isMultiline(b[k])) {
      changes.push({ path: k, lines: lineDiff(typeof a[k] === "string" ? (a[k] as string) : "", typeof b[k] === "string" ? (b[k] as string) : "") });
    } else {
      changes.push({ path: k, ...(k in a ? { old: a[k] } : {}), ...(k in b ? { new: b[k] } : {}) });
    }
  }
  // The hash of a script whose text is shown changed says nothing more.
  if (changes.some((c) => c.path === "script")) return changes.filter((c) => c.path !== "scriptHash");
  return changes;
}

function ignoredBy(patterns: string[], p: string): boolean {
  const shape = p.replace(/\[\d+\]/g, "[*]");
  return patterns.some((i) => shape === i || shape.startsWith(`${i}.`) || shape.startsWith(`${i}[`) || p === i || p.startsWith(`${i}.`) || p.startsWith(`${i}[`));
}

/** The name and (when given) type an alias as `phoenix plan` shows it refers to. */
function aliasTarget(alias: string): { name: string; type?: string } {
  const spec = alias.replace(/ \(parent .*\)$/, "");
  if (spec.startsWith("urn:pulumi:")) {
    const tail = spec.slice(spec.lastIndexOf("::") + 2);
    const typeChain = spec.split("::")[2] ?? "";
    return { name: tail, type: typeChain.slice(typeChain.lastIndexOf("$") + 1) };
  }
  const i = spec.lastIndexOf("::");
  return i < 0 ? { name: spec } : { name: spec.slice(i + 2), type: spec.slice(0, i) };
}

/** Compares two plans resource by resource (matched by URN, then by the new side's aliases). */
export function diffPlans(base: ShownResource[], head: ShownResource[]): PlanDiff {
  const byUrn = new Map(base.map((r) => [r.urn, r]));
  const matched = new Set<string>();
  const changes: ResourceChange[] = [];
  let unchanged = 0;
  const ignoredOnly: { name: string; paths: string[] }[] = [];
  const pairs: [ShownResource, ShownResource, string | undefined][] = [];
  const created: ShownResource[] = [];
  for (const h of head) {
    const b = byUrn.get(h.urn);
    if (b) {
      matched.add(b.urn);
      pairs.push([b, h, undefined]);
    } else created.push(h);
  }
  for (const h of [...created]) {
    const b = base.find(
      (r) =>
        !matched.has(r.urn) &&
        (h.aliases ?? []).some((a) => {
          const t = aliasTarget(a);
          return a === r.urn || (t.name === r.name && (t.type === undefined || t.type === r.type));
        }),
    );
    if (b) {
      matched.add(b.urn);
      created.splice(created.indexOf(h), 1);
      pairs.push([b, h, b.name]);
    }
  }
  for (const [b, h, renamedFrom] of pairs) {
    const all = inputChanges(b.inputs, h.inputs);
    const ignorePatterns = h.ignoreChanges ?? [];
    const ignored = all.filter((c) => ignoredBy(ignorePatterns, c.path)).map((c) => c.path);
    const acted = all.filter((c) => !ignored.includes(c.path));
    if (!acted.length && !ignored.length && renamedFrom === undefined && b.type === h.type) {
      unchanged++;
      continue;
    }
    const reasons = b.type !== h.type ? [`type ${b.type} → ${h.type}`] : replaceReasons(h.type, acted.map((c) => c.path), b.inputs, h.inputs);
    if (!acted.length && !reasons.length && renamedFrom === undefined) {
      unchanged++;
      if (ignored.length) ignoredOnly.push({ name: h.name, paths: ignored });
      continue;
    }
    changes.push({ kind: reasons.length ? "replace" : "update", type: h.type, name: h.name, urn: h.urn, changes: acted, replaceReasons: reasons, renamedFrom, ignored, ...(h.protect ? { protect: true } : {}) });
  }
  for (const h of created) changes.push({ kind: "create", type: h.type, name: h.name, urn: h.urn, changes: [], replaceReasons: [], ignored: [] });
  for (const b of base) if (!matched.has(b.urn)) changes.push({ kind: "delete", type: b.type, name: b.name, urn: b.urn, changes: [], replaceReasons: [], ignored: [] });
  const order: Record<ChangeKind, number> = { create: 0, replace: 1, update: 2, delete: 3 };
  changes.sort((x, y) => order[x.kind] - order[y.kind]);
  return { changes, unchanged, ...(ignoredOnly.length ? { ignoredOnly } : {}) };
}

const SYMBOL: Record<ChangeKind, string> = { create: "+", update: "~", replace: "+-", delete: "-" };

/** A type token short enough to read: a dynamic kind (`lxc-step`) or a class name (`ContainerLegacy`). */
function shortType(type: string): string {
  const dynamic = "pulumi-nodejs:dynamic/phoenix:";
  if (type.startsWith(dynamic)) return type.slice(dynamic.length);
  return type.slice(type.lastIndexOf(":") + 1);
}

function show(v: unknown): string {
  return v === undefined ? "(none)" : JSON.stringify(v);
}

/** Colours of the text output (identity functions without colour). */
export interface Palette {
  add(s: string): string;
  remove(s: string): string;
  change(s: string): string;
  dim(s: string): string;
}

export const NO_COLOR: Palette = { add: (s) => s, remove: (s) => s, change: (s) => s, dim: (s) => s };

/** The diff as text: one entry per changed resource, its changed inputs, then a summary line. */
export function formatPlanDiff(stack: string, baseLabel: string, diff: PlanDiff, palette: Palette = NO_COLOR): string {
  const lines = [`Plan diff for stack ${stack}: ${baseLabel} → working tree`];
  const paint = (kind: ChangeKind, s: string) => (kind === "create" ? palette.add(s) : kind === "delete" ? palette.remove(s) : palette.change(s));
  for (const c of diff.changes) {
    const renamed = c.renamedFrom !== undefined && c.renamedFrom !== c.name ? ` (renamed from ${c.renamedFrom})` : "";
    lines.push(paint(c.kind, `${SYMBOL[c.kind].padEnd(2)} ${c.kind.padEnd(7)} ${c.name}  ${shortType(c.type)}${renamed}`));
    for (const ch of c.changes) {
      if (ch.lines) {
        lines.push(`      ${ch.path}:`);
        for (const l of ch.lines) lines.push(`        ${l.startsWith("+") ? palette.add(l) : l.startsWith("-") ? palette.remove(l) : l.startsWith("@@") ? palette.dim(l) : l}`);
      } else lines.push(`      ${ch.path}: ${show(ch.old)} → ${show(ch.new)}`);
    }
    for (const r of c.replaceReasons) lines.push(`      replaces: ${r}`);
    if (c.kind === "replace" && c.protect) lines.push(`      protected: Pulumi refuses to replace it (the stack's allowances decide; see the README's Data protection)`);
    if (c.ignored.length) lines.push(palette.dim(`      ignored after creation (ignoreChanges): ${c.ignored.join(", ")}`));
  }
  const count = (k: ChangeKind) => diff.changes.filter((c) => c.kind === k).length;
  for (const i of diff.ignoredOnly ?? []) lines.push(palette.dim(`   unchanged ${i.name}: changes of ${i.paths.join(", ")} are ignored after creation (ignoreChanges)`));
  if (!diff.changes.length) lines.push("No changes.");
  lines.push(`${count("create")} to create, ${count("update")} to update, ${count("replace")} to replace, ${count("delete")} to delete, ${diff.unchanged} unchanged`);
  return lines.join("\n");
}

function git(cwd: string, args: string[]): { ok: boolean; out: string; err: string } {
  const r = spawnSync("git", args, { cwd, encoding: "utf8", maxBuffer: 256 * 1024 * 1024 });
  return { ok: r.status === 0, out: (r.stdout ?? "").trim(), err: (r.stderr ?? r.error?.message ?? "").trim() };
}

/**
 * The ref `--diff` compares with when none is given: in a pull request's CI run (GITHUB_BASE_REF)
 * the merge base with the target branch, else the merge base with origin/HEAD, origin/main or main.
 */
export function defaultBaseRef(cwd: string, env: NodeJS.ProcessEnv = process.env): { ref: string } | { error: string } {
  const candidates = [...(env.GITHUB_BASE_REF ? [`origin/${env.GITHUB_BASE_REF}`, env.GITHUB_BASE_REF] : []), "origin/HEAD", "origin/main", "main"];
  for (const c of candidates) {
    const mb = git(cwd, ["merge-base", "HEAD", c]);
    if (mb.ok && mb.out) return { ref: mb.out };
  }
  return { error: `--diff: no merge base with ${candidates.join(", ")}; name the ref to compare with (--diff REF)` };
}

/** Options for planning the ref's side. */
export interface BaseOptions {
  stack: string;
  /** `--config-dir` as given (a folder inside the project is read from the ref's tree). */
  configDir?: string;
  /** `--config KEY=VALUE` overrides, passed on. */
  config?: Record<string, string>;
  /** Progress lines (building the ref) go here. */
  log?: (line: string) => void;
}

/**
 * Plans the stack as it is at `ref`: the project's tree at that commit in a temporary folder,
 * built when its TypeScript differs from the working tree's, planned by its own `phoenix plan --json`.
 * A stack without settings at the ref plans as empty (everything is new).
 */
export function planAtRef(ref: string, options: BaseOptions): { resources: ShownResource[]; commit: string } | { error: string } {
  const project = repoRoot();
  const commit = git(project, ["rev-parse", "--verify", "--quiet", `${ref}^{commit}`]);
  if (!commit.ok) return { error: `--diff ${ref}: not a commit of this repository${commit.err ? ` (${commit.err.split("\n")[0]})` : ""}` };
  const prefix = git(project, ["rev-parse", "--show-prefix"]).out;
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-plan-base-"));
  try {
    const tree = path.join(tmp, "tree");
    fs.mkdirSync(tree);
    const tar = path.join(tmp, "tree.tar");
    const archived = git(project, ["archive", "--format=tar", "-o", tar, prefix ? `${commit.out}:${prefix}` : commit.out]);
    if (!archived.ok) return { error: `--diff ${ref}: git archive failed: ${archived.err}` };
    const untar = spawnSync("tar", ["-xf", tar, "-C", tree], { encoding: "utf8" });
    if (untar.status !== 0) return { error: `--diff ${ref}: cannot unpack the tree: ${untar.stderr}` };
    if (!fs.existsSync(path.join(tree, path.relative(project, stackFilePath(options.stack))))) return { resources: [], commit: commit.out };
    fs.symlinkSync(path.join(project, "node_modules"), path.join(tree, "node_modules"), "dir");
    // The program is the same as this build's when no TypeScript file the build compiles differs.
    const sameProgram = git(project, ["diff", "--quiet", commit.out, "--", "*.ts", "tsconfig.json", "package.json", ":!test", ":!policy"]).ok;
    if (sameProgram) fs.cpSync(path.join(project, "dist"), path.join(tree, "dist"), { recursive: true });
    else {
      options.log?.(`building the program at ${ref} (its TypeScript differs from the working tree's)`);
      const tsc = spawnSync(process.execPath, [path.join(project, "node_modules", "typescript", "bin", "tsc"), "-p", path.join(tree, "tsconfig.json")], { cwd: tree, encoding: "utf8", maxBuffer: 64 * 1024 * 1024 });
      if (tsc.status !== 0) return { error: `--diff ${ref}: the program at ${ref} does not build: ${(tsc.stdout + tsc.stderr).trim().split("\n").slice(0, 5).join("; ")}` };
    }
    const args = [path.join(tree, "bin", "phoenix.js"), "plan", "--stack", options.stack, "--json"];
    if (options.configDir !== undefined) {
      const abs = path.resolve(options.configDir);
      const inside = path.relative(project, abs);
      args.push("--config-dir", inside.startsWith("..") || path.isAbsolute(inside) ? abs : path.join(tree, inside));
    }
    for (const [k, v] of Object.entries(options.config ?? {})) args.push("--config", `${k}=${v}`);
    const run = spawnSync(process.execPath, args, { cwd: tree, encoding: "utf8", maxBuffer: 512 * 1024 * 1024 });
    if (run.status !== 0) {
      const why = (run.stderr || run.stdout || "").split("\n").filter((l) => l && !l.startsWith("warning:")).slice(0, 10).join("\n  ");
      return { error: `the plan at ${ref} failed:\n  ${why}` };
    }
    const doc = JSON.parse(run.stdout) as { resources: ShownResource[] };
    return { resources: doc.resources, commit: commit.out };
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

/** Exit code of `plan --diff` when the plans differ ("changes pending"); 0 when they do not. */
export const CHANGES_PENDING_EXIT = 3;

/**
 * `--diff` takes an optional value: without one (last argument, or followed by another option)
 * it compares with the default base (defaultBaseRef). Returns argv with `--diff=` made explicit.
 */
export function normalizeDiffArg(argv: string[]): string[] {
  const out: string[] = [];
  for (let i = 0; i < argv.length; i++) {
    if (argv[i] === "--diff" && (i + 1 >= argv.length || argv[i + 1].startsWith("-"))) out.push("--diff=");
    else out.push(argv[i]);
  }
  return out;
}

/** What `runPlanDiff` needs besides the ref: the base options, output form, and the working tree's plan. */
export interface PlanDiffRun extends BaseOptions {
  json: boolean;
  palette?: Palette;
  /** Plans the working tree (in this process). */
  head(): Promise<PlanResult>;
}

/**
 * `phoenix plan --diff [REF]`: prints the diff (text or JSON) and returns the exit code: 0 no
 * changes, 1 a side failed to plan, 2 a bad ref, CHANGES_PENDING_EXIT when resources change.
 */
export async function runPlanDiff(ref: string, run: PlanDiffRun): Promise<number> {
  let base = ref;
  if (base === "") {
    const d = defaultBaseRef(repoRoot());
    if ("error" in d) return usageError("plan", d.error);
    base = d.ref;
  }
  const resolved = git(repoRoot(), ["rev-parse", "--verify", "--quiet", `${base}^{commit}`]);
  if (!resolved.ok) return usageError("plan", `--diff ${base}: not a commit of this repository`);
  // One random key for both sides: a secret shows as `[secret <digest>]`, equal only when unchanged.
  // Set for this comparison only (the ref's plan inherits it); thrown away after.
  const hadKey = process.env[SECRET_DIGEST_KEY_ENV];
  process.env[SECRET_DIGEST_KEY_ENV] = randomBytes(32).toString("hex");
  let head: PlanResult;
  let before: ReturnType<typeof planAtRef>;
  try {
    head = await run.head();
    if (head.errors.length) {
      for (const e of head.errors) process.stderr.write(`${e}\n`);
      return 1;
    }
    before = planAtRef(base, run);
  } finally {
    if (hadKey === undefined) delete process.env[SECRET_DIGEST_KEY_ENV];
    else process.env[SECRET_DIGEST_KEY_ENV] = hadKey;
  }
  if ("error" in before) {
    process.stderr.write(`phoenix plan: ${before.error}\n`);
    return before.error.startsWith("--diff") ? 2 : 1;
  }
  // A ref from before secret digests shows `[secret]`: compare the head's as plain `[secret]` then.
  const digests = JSON.stringify(before.resources).includes('"[secret ');
  const headShown: ShownResource[] = head.resources.map((r) => ({ type: r.type, name: r.name, urn: r.urn, parent: r.parent, aliases: r.aliases, inputs: digests ? r.shownInputs : withoutDigests(r.shownInputs) as Record<string, unknown>, ignoreChanges: r.ignoreChanges, protect: r.protect }));
  const diff = diffPlans(before.resources, headShown);
  const label = base === before.commit ? before.commit.slice(0, 12) : `${base} (${before.commit.slice(0, 12)})`;
  const text = run.json ? `${JSON.stringify({ stack: run.stack, base: { ref: base, commit: before.commit }, ...diff }, null, 2)}\n` : `${formatPlanDiff(run.stack, label, diff, run.palette)}\n`;
  await new Promise<void>((resolve) => process.stdout.write(text, () => resolve()));
  return diff.changes.length ? CHANGES_PENDING_EXIT : 0;
}

/** `value` with every `[secret <digest>]` shown as `[secret]`. */
function withoutDigests(value: unknown): unknown {
  if (typeof value === "string") return /^\[secret [0-9a-f]{8}\]$/.test(value) ? "[secret]" : value;
  if (Array.isArray(value)) return value.map(withoutDigests);
  if (value && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, withoutDigests(v)]));
  return value;
}
