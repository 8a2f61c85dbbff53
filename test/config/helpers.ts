// Builds bad inputs by mutating a copy of the dev stack's Phoenix files in a temp dir.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadDist, repoRoot } from "../load";
import type { PhoenixModel } from "../../infra/config/model";

export const DEV_DIR = path.join(repoRoot, "stacks", "dev");
export const PROD_DIR = path.join(repoRoot, "stacks", "prod");
export const ORIGINAL_DIR = path.join(repoRoot, "test", "fixtures", "original");

export const HOST = "phoenix_hypervisor_config.json";
export const LXC = "phoenix_lxc_configs.json";
export const VM = "phoenix_vm_configs.json";

/**
 * A value of the users' JSON files as tests edit it: any path, and on purpose any type (bad-input
 * tests write what the schemas refuse), so neither the config model nor `unknown` fits. Also a
 * parsed document (a workflow, cloud-init user data) that tests read at paths they assert on.
 */
// eslint-disable-next-line @typescript-eslint/no-explicit-any -- see above: tests write wrong types into the files on purpose
export type Json = any;
export interface Files {
  host: Json;
  lxc: Json;
  vm: Json;
  /** A cluster stack's own host files: node name → `nodes/<node>/phoenix_hypervisor_config.json`. */
  nodes?: Record<string, Json>;
}

const loader = () => loadDist<typeof import("../../infra/config/load")>("infra/config/load");

export function readFiles(dir = DEV_DIR): Files {
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  return { host: read(HOST), lxc: read(LXC), vm: read(VM) };
}

const tempDirs: string[] = [];

/** Writes files (objects as JSON, strings as given) to a fresh temp dir and returns it. */
export function writeFiles(files: { host?: Json; lxc?: Json; vm?: Json; nodes?: Record<string, Json> }, raw: Partial<Record<string, string>> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-config-"));
  tempDirs.push(dir);
  const put = (name: string, value: Json) => {
    if (value === undefined) return;
    fs.writeFileSync(path.join(dir, name), typeof value === "string" ? value : JSON.stringify(value, null, 4));
  };
  put(HOST, files.host);
  put(LXC, files.lxc);
  put(VM, files.vm);
  for (const [node, host] of Object.entries(files.nodes ?? {})) {
    fs.mkdirSync(path.join(dir, "nodes", node), { recursive: true });
    put(path.join("nodes", node, HOST), host);
  }
  for (const [name, text] of Object.entries(raw)) fs.writeFileSync(path.join(dir, name), text!);
  return dir;
}

export function cleanTempDirs(): void {
  for (const d of tempDirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
}

/** A copy of the dev files after `mutate`, written to a temp dir. */
export function mutatedDir(mutate: (f: Files) => void, base = DEV_DIR): string {
  const files = readFiles(base);
  mutate(files);
  return writeFiles(files);
}

export function load(dir: string, opts?: { defaultNode?: string; nodes?: string[] }) {
  return loader().loadPhoenixConfig(dir, opts);
}

/** The configuration model of the Phoenix files in `dir`; throws with the loader's errors. */
export function loadModel(dir: string): PhoenixModel {
  const r = load(dir);
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.model;
}

export function loadMutated(mutate: (f: Files) => void, base = DEV_DIR, opts?: { defaultNode?: string; nodes?: string[] }) {
  return load(mutatedDir(mutate, base), opts);
}

/** Every error must be one line `<file>: <json path>: <message>`, never a stack trace. */
export const ERROR_LINE =
  /^(phoenix_(?:hypervisor_config|lxc_configs|vm_configs)\.json): (\$(?:\.[A-Za-z_$][\w$]*|\[\d+\]|\["(?:[^"\\]|\\.)*"\])*): (\S.*)$/;

/** mulberry32: a small deterministic PRNG; `prng(seed)()` is a number in [0, 1). Seeded tests repeat exactly. */
export function prng(seed: number) {
  return () => {
    seed |= 0;
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Every [holder, key] slot in a JSON value (objects and arrays, depth first): where a fuzz test may put a value. */
export function slots(value: Json, out: [Json, string | number][] = []): [Json, string | number][] {
  if (Array.isArray(value)) value.forEach((v, i) => { out.push([value, i]); slots(v, out); });
  else if (value && typeof value === "object") for (const k of Object.keys(value)) { out.push([value, k]); slots(value[k], out); }
  return out;
}
