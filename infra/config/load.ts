// loadPhoenixConfig: the three Phoenix JSON files of a folder → one validated PhoenixModel, or
// every problem at once as `<file>: <json path>: <message>` lines. Never throws on bad input.
//
// Order: read and parse JSON → zod schemas (all issues of all files) → normalise the quirks →
// cross-file rules. When a file fails its schema, normalisation and the cross-file rules are
// skipped (they need well-typed input); the schema errors of all three files are still reported.
import * as fs from "fs";
import * as path from "path";
import type { NodeModel, PhoenixModel } from "./model";
import { Findings, PathSegment, duplicateKeys, lineColumn } from "./errors";
import { FILE_SCHEMAS, HYPERVISOR_FILE, HypervisorFile, LXC_FILE, LxcFile, PhoenixFileName, VM_FILE, VmFile } from "./schema";
import { DEFAULT_NODE, GuestOrigins, HostContext, normaliseContainers, normaliseHost, normaliseVms } from "./normalise";
import { duplicateVmids, runRules } from "./rules";
import { runHardeningChecks } from "./hardening";
import type { RawLxcAllowances } from "./lxc-raw";
import { NODE_NAME } from "./patterns";

export interface LoadOptions {
  /** The stack's Proxmox node: filled into guests that do not name their own `node`. */
  defaultNode?: string;
  /**
   * A cluster stack's node names, the primary node first (StackSettings `nodes`). Each node's host
   * config is `<dir>/nodes/<node>/phoenix_hypervisor_config.json` when that file exists, else the
   * stack's own file; guests must name one of these nodes. The primary node replaces `defaultNode`.
   * Absent: one node, `defaultNode` (default `pve`), and guests may name no other.
   */
  nodes?: string[];
  /** The stack's allowances (`phoenix:allowRawLxc`, `phoenix:allowHostPaths`); default: none. */
  allow?: RawLxcAllowances;
}

/** Deepest JSON nesting accepted (real files nest fewer than 10 levels). */
export const MAX_JSON_DEPTH = 256;
/** Largest config file accepted, in bytes. */
export const MAX_FILE_BYTES = 16 * 1024 * 1024;

/**
 * Where `text` nests arrays/objects deeper than `max`, as a character offset; -1 when it does not.
 * One linear pass that skips strings: it runs before JSON.parse and the duplicate-key scan, so a
 * file nested hundreds of thousands of levels deep ends with one error instead of quadratic work.
 */
export function tooDeep(text: string, max = MAX_JSON_DEPTH): number {
  let depth = 0;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 34 /* " */) {
      for (i++; i < text.length && text.charCodeAt(i) !== 34; i++) if (text.charCodeAt(i) === 92) i++;
    } else if (c === 123 || c === 91) {
      if (++depth > max) return i;
    } else if (c === 125 || c === 93) depth--;
  }
  return -1;
}

export type LoadResult =
  | { ok: true; model: PhoenixModel; warnings: string[] }
  | { ok: false; errors: string[]; warnings: string[] };

export { ConfigError, formatFinding, jsonPath } from "./errors";

/** Parses JSON text; a syntax error becomes one finding with line and column. */
export function parseJsonText(file: string, text: string, findings: Findings): unknown | undefined {
  try {
    return JSON.parse(text);
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err);
    const pos = /position (\d+)/.exec(message);
    let where = "";
    if (pos) {
      const { line, column } = lineColumn(text, Number(pos[1]));
      where = ` (line ${line}, column ${column})`;
    }
    const reason = message.replace(/^JSON\.parse: /, "").replace(/ in JSON at position \d+.*$/, "");
    findings.error(file, "$", `invalid JSON: ${reason}${where}`);
    return undefined;
  }
}

/** The same finding reached twice (e.g. a vm_defaults value used by every VM) is reported once. */
function unique(lines: string[]): string[] {
  return [...new Set(lines)];
}

function readFile(dir: string, file: string, findings: Findings, optional: boolean): unknown | undefined {
  const full = path.join(dir, file);
  let text: string;
  let fd: number | undefined;
  try {
    // O_NONBLOCK: a FIFO in place of the file opens at once (and is refused below) instead of
    // waiting for a writer; fstat on the open file has no race with a swap of the path.
    fd = fs.openSync(full, fs.constants.O_RDONLY | fs.constants.O_NONBLOCK);
    const st = fs.fstatSync(fd);
    if (!st.isFile()) {
      const kind = st.isDirectory() ? "a directory" : st.isFIFO() ? "a FIFO" : st.isSocket() ? "a socket" : "not a regular file";
      findings.error(file, "$", `cannot read: ${kind}, not a regular file`);
      return undefined;
    }
    if (st.size > MAX_FILE_BYTES) {
      findings.error(file, "$", `cannot read: ${st.size} bytes, larger than ${MAX_FILE_BYTES} (a Phoenix file is a few KB)`);
      return undefined;
    }
    const bytes = fs.readFileSync(fd);
    try {
      // Node's "utf8" decoding would turn bytes that are not UTF-8 into U+FFFD without a word.
      text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
    } catch {
      const bad = firstInvalidUtf8(bytes);
      const before = bytes.subarray(0, bad).toString("utf8");
      const { line, column } = lineColumn(before, before.length);
      findings.error(file, "$", `byte 0x${bytes[bad].toString(16).padStart(2, "0")} at line ${line}, column ${column} is not UTF-8: save the file as UTF-8`);
      return undefined;
    }
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    const link = code === "ENOENT" ? danglingLink(full) : undefined;
    if (link !== undefined) {
      // A symlink to nothing is a broken file, not a missing one (an optional file would be skipped).
      findings.error(file, "$", `cannot read: a symlink to ${link}, which does not exist`);
      return undefined;
    }
    if (optional && code === "ENOENT") {
      findings.warn(file, "$", `not found in ${dir}; no VMs`);
      return { vms: [] };
    }
    const reason = code === "EISDIR" ? "a directory, not a regular file" : code === "EACCES" ? "permission denied (EACCES)" : (code ?? String(err));
    findings.error(file, "$", code === "ENOENT" ? `not found in ${dir}` : `cannot read: ${reason}`);
    return undefined;
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
  const clean = text.replace(/^\uFEFF/, "");
  const deep = tooDeep(clean);
  if (deep >= 0) {
    const { line, column } = lineColumn(clean, deep);
    findings.error(file, "$", `nested deeper than ${MAX_JSON_DEPTH} levels (line ${line}, column ${column})`);
    return undefined;
  }
  const data = parseJsonText(file, clean, findings);
  if (data !== undefined) {
    // `__proto__` (and its kin) as a key is an object's prototype to much JavaScript: never an id or a setting.
    const protoKey = (at: PathSegment[], key: string) => {
      if (PROTOTYPE_KEYS.has(key)) findings.error(file, [...at, key], `${key} is not a valid key (it names JavaScript's object prototype); rename it`);
    };
    for (const { path: at, key } of duplicateKeys(clean, protoKey)) {
      if (file === LXC_FILE && at.length === 1 && at[0] === "lxc_configs") {
        findings.error(file, [...at, key], `CTID ${key} is defined twice; only the last definition would be used`);
      } else if (at.length === 0 && GUEST_BLOCKS.has(key)) {
        // A second guest block replaces the first whole: every guest in it would be dropped. Other
        // repeated top-level keys keep jq's last-wins (a Bash tool revision repeats two, and ran).
        findings.error(file, [key], `appears twice at the top level; only the last ${key} block would be used and every guest in the first dropped: merge the two`);
      } else {
        findings.warn(file, [...at, key], "key appears twice in this object; the last value is used (as jq does)");
      }
    }
  }
  return data;
}

/** Top-level keys that hold the guests (the LXC file's `lxc_configs`, the VM file's `vms`). */
const GUEST_BLOCKS = new Set(["lxc_configs", "vms"]);

/** Keys that name JavaScript's object prototype machinery. */
const PROTOTYPE_KEYS = new Set(["__proto__", "constructor", "prototype"]);

/** Offset of the first byte of `bytes` that starts no valid UTF-8 sequence (RFC 3629: no overlong
 *  forms, no surrogates, nothing above U+10FFFF); bytes.length when all are valid. */
export function firstInvalidUtf8(bytes: Uint8Array): number {
  for (let i = 0; i < bytes.length;) {
    const c = bytes[i];
    const more = c < 0x80 ? 0 : c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : -1;
    if (more < 0) return i;
    // The second byte's range excludes overlong forms (E0, F0), surrogates (ED) and > U+10FFFF (F4).
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    for (let k = 1; k <= more; k++) {
      const d = bytes[i + k];
      if (d === undefined || d < (k === 1 ? lo : 0x80) || d > (k === 1 ? hi : 0xbf)) return i;
    }
    i += more + 1;
  }
  return bytes.length;
}

/** The target of `full` when it is a symlink to nothing; undefined otherwise. */
function danglingLink(full: string): string | undefined {
  try {
    if (!fs.lstatSync(full).isSymbolicLink()) return undefined;
    return fs.readlinkSync(full);
  } catch {
    return undefined;
  }
}

/** Where a cluster node's own host file lives, relative to the stack folder. */
export function nodeHostFile(node: string): string {
  return path.join("nodes", node, HYPERVISOR_FILE);
}

/** Findings whose `phoenix_hypervisor_config.json` lines name `file` instead (a node's own host file). */
function renamedHostFindings(findings: Findings, file: string): Findings {
  const rename = (f: string) => (f === HYPERVISOR_FILE ? file : f);
  return new Proxy(findings, {
    get(target, prop, receiver) {
      if (prop === "error" || prop === "warn") return (f: string, at: PathSegment[] | string, message: string) => target[prop](rename(f), at, message);
      if (prop === "unused") return (f: string, at: PathSegment[], key: string, note?: string) => target.unused(rename(f), at, key, note);
      return Reflect.get(target, prop, receiver) as unknown;
    },
  });
}

function checkSchema<T>(file: PhoenixFileName, data: unknown, findings: Findings, label: string = file): T | undefined {
  const result = FILE_SCHEMAS[file].safeParse(data);
  if (result.success) return result.data as T;
  for (const issue of result.error.issues) {
    const at = issue.path.filter((p): p is PathSegment => typeof p !== "symbol");
    findings.error(label, at, issue.message);
  }
  return undefined;
}

function loadUnsafe(dir: string, opts: LoadOptions): LoadResult {
  const findings = new Findings();
  const absDir = path.resolve(dir);
  if (!fs.existsSync(absDir) || !fs.statSync(absDir).isDirectory()) {
    return { ok: false, errors: [`${dir}: $: not a directory`], warnings: [] };
  }
  const rawHost = readFile(absDir, HYPERVISOR_FILE, findings, false);
  const rawLxc = readFile(absDir, LXC_FILE, findings, false);
  const rawVm = readFile(absDir, VM_FILE, findings, true);

  const hostFile = rawHost === undefined ? undefined : checkSchema<HypervisorFile>(HYPERVISOR_FILE, rawHost, findings);
  const lxcFile = rawLxc === undefined ? undefined : checkSchema<LxcFile>(LXC_FILE, rawLxc, findings);
  const vmFile = rawVm === undefined ? undefined : checkSchema<VmFile>(VM_FILE, rawVm, findings);
  // A cluster node's own host file (nodes/<node>/phoenix_hypervisor_config.json), read like the
  // stack's; its findings name that file.
  const nodeNames = opts.nodes?.length ? [...new Set(opts.nodes)] : [opts.defaultNode ?? DEFAULT_NODE];
  const nodeFiles = new Map<string, HypervisorFile | undefined>();
  if (opts.nodes?.length) {
    for (const node of nodeNames) {
      // Names come from checked settings; a name that is no node name never becomes a path.
      if (!NODE_NAME.test(node)) {
        findings.error(HYPERVISOR_FILE, "$", `node ${JSON.stringify(node).slice(0, 80)} is not a Proxmox node name; its host file cannot be looked up`);
        continue;
      }
      const file = nodeHostFile(node);
      if (!fs.existsSync(path.join(absDir, file))) continue;
      const raw = readFile(absDir, file, findings, false);
      nodeFiles.set(node, raw === undefined ? undefined : checkSchema<HypervisorFile>(HYPERVISOR_FILE, raw, findings, file));
    }
  }
  if (!hostFile || !lxcFile || !vmFile || [...nodeFiles.values()].some((f) => !f) || findings.errors.length > 0) {
    return { ok: false, errors: unique(findings.errors), warnings: unique(findings.warnings) };
  }

  const origins: GuestOrigins = { containers: new Map(), vms: new Map() };
  const stackCtx = normaliseHost(hostFile, findings);
  const ctxs = new Map<string, HostContext>();
  for (const [node, file] of nodeFiles) {
    const label = nodeHostFile(node);
    ctxs.set(node, { ...normaliseHost(file!, renamedHostFindings(findings, label)), file: label });
  }
  const ctxOf = (node: string) => ctxs.get(node) ?? stackCtx;
  const primary = nodeNames[0];
  const nodes: NodeModel[] = nodeNames.map((name) => ({
    name,
    host: ctxOf(name).host,
    files: { hypervisor: path.join(absDir, ctxs.has(name) ? nodeHostFile(name) : HYPERVISOR_FILE) },
  }));
  const ctx = ctxOf(primary);
  const containers = normaliseContainers(lxcFile, ctx, findings, origins, primary, ctxOf);
  const vms = normaliseVms(vmFile, ctx, findings, origins, primary, ctxOf);
  duplicateVmids((vmFile.vms ?? []).map((v) => v.vmid), findings);
  const ruleInput = {
    host: ctx.host,
    containers,
    vms,
    origins,
    lxcNvidiaVersion: lxcFile.nvidia_driver_version,
    configDir: absDir,
    // Known only with a stack (nodes or defaultNode): then guests must name one of them.
    nodes: opts.nodes?.length || opts.defaultNode !== undefined ? nodes.map((n) => ({ name: n.name, host: n.host, file: ctxs.has(n.name) ? nodeHostFile(n.name) : HYPERVISOR_FILE })) : undefined,
  };
  runRules(ruleInput, findings);
  // storage.cfg is the cluster's: a storage ID is one definition (type, target, content) for every
  // node that registers it (Phoenix restricts it to those nodes), so node files must agree.
  if ((ruleInput.nodes?.length ?? 0) > 1) {
    const first = new Map<string, { node: string; def: string }>();
    for (const n of ruleInput.nodes!) {
      n.host.zfs.datasets.forEach((d, i) => {
        if (!d.storage) return;
        const def = `${d.storage.type} ${d.storage.target}, content ${[...d.storage.content].sort().join(",")}`;
        const seen = first.get(d.storage.id);
        if (!seen) first.set(d.storage.id, { node: n.name, def });
        else if (seen.def !== def) {
          findings.error(n.file, `$.zfs.datasets[${i}]`, `storage ${d.storage.id} is ${def} here but ${seen.def} on node ${seen.node}: storage.cfg is the cluster's, one definition per storage ID`);
        }
      });
    }
  }
  // The host firewall is the cluster's (/etc/pve/firewall/cluster.fw): the program applies the
  // primary node's block once. Another node's own file saying something else would not be applied,
  // so it is refused rather than silently dropped.
  for (const n of ruleInput.nodes ?? []) {
    if (n.file === HYPERVISOR_FILE || n.name === primary) continue;
    if (n.host.firewall !== undefined && JSON.stringify(n.host.firewall) !== JSON.stringify(ctx.host.firewall ?? null)) {
      findings.error(
        n.file,
        "$.firewall",
        `the host firewall is the cluster's (cluster.fw), declared once from the primary node ${primary}'s file; leave the block out of the node files or make it the same`,
      );
    }
  }
  // The stack's own host file always gets the host-side checks (under its name), every guest the guest checks.
  runHardeningChecks({ ...ruleInput, host: stackCtx.host }, findings, opts.allow);
  // A node's own host file gets the host-side checks too, its findings naming that file.
  for (const n of ruleInput.nodes ?? []) {
    if (n.file === HYPERVISOR_FILE) continue;
    const onNode = { ...ruleInput, host: n.host, containers: containers.filter((c) => c.node === n.name), vms: vms.filter((v) => v.node === n.name) };
    runHardeningChecks(onNode, renamedHostFindings(findings, n.file), opts.allow);
  }
  findings.flushUnused();

  const warnings = unique(findings.warnings);
  if (findings.errors.length > 0) return { ok: false, errors: unique(findings.errors), warnings };
  const model: PhoenixModel = {
    files: {
      hypervisor: path.join(absDir, HYPERVISOR_FILE),
      lxc: path.join(absDir, LXC_FILE),
      vm: path.join(absDir, VM_FILE),
    },
    host: ctx.host,
    nodes,
    containers,
    vms,
    warnings,
  };
  return { ok: true, model, warnings };
}

/** Reads `phoenix_hypervisor_config.json`, `phoenix_lxc_configs.json` and `phoenix_vm_configs.json` from `dir`. */
export function loadPhoenixConfig(dir: string, opts: LoadOptions = {}): LoadResult {
  try {
    return loadUnsafe(dir, opts);
  } catch (err) {
    // A bug of ours, not bad input: still one line, still no stack trace for the user.
    const message = err instanceof Error ? err.message : String(err);
    return { ok: false, errors: [`${path.basename(dir)}: $: internal error while loading: ${message}`], warnings: [] };
  }
}
