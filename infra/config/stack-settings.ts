// Checks of the `phoenix:` stack settings (stacks/Pulumi.<stack>.yaml), shared by `phoenix validate`
// (which reads the YAML file) and infra/settings.ts (which reads them through pulumi.Config), so a
// value the program would refuse (`sshPort: 70000`) is refused by validate first, with file and key.
import * as fs from "fs";
import * as path from "path";
import { repoRoot } from "../../features/registry";
import { parse as parseYaml } from "yaml";
import { HOSTNAME, IPV4, NODE_NAME, USERNAME } from "./patterns";
import type { RawLxcAllowances } from "./lxc-raw";
import { parseStepTimeouts } from "./step-timeouts";

const BOOLEAN = /^(?:true|false)$/;
const PORT = (v: string) => /^[0-9]{1,5}$/.test(v) && Number(v) >= 1 && Number(v) <= 65535;
const HOST = (v: string) => HOSTNAME.test(v) || IPV4.test(v);

/** Each known non-secret `phoenix:` setting: a check and what it must be. */
export const STACK_SETTINGS: Record<string, { ok: (v: string) => boolean; what: string }> = {
  configDir: { ok: (v) => v.length > 0 && !/[\n\0]/.test(v), what: "a folder path" },
  node: { ok: (v) => NODE_NAME.test(v), what: "a Proxmox node name" },
  sshHost: { ok: HOST, what: "a host name or IPv4 address" },
  sshPort: { ok: PORT, what: "a TCP port 1-65535" },
  sshUser: { ok: (v) => USERNAME.test(v), what: "a Linux user name" },
  sshHostKey: { ok: (v) => v.length > 0 && !/[\n\0]/.test(v), what: "a host key line or SHA256 fingerprint" },
  sshInsecureIgnoreHostKey: { ok: (v) => BOOLEAN.test(v), what: "true or false" },
  sshSudo: { ok: (v) => BOOLEAN.test(v), what: "true or false" },
  sshBastionHost: { ok: HOST, what: "a host name or IPv4 address" },
  sshBastionPort: { ok: PORT, what: "a TCP port 1-65535" },
  sshBastionUser: { ok: (v) => USERNAME.test(v), what: "a Linux user name" },
  sshBastionHostKey: { ok: (v) => v.length > 0 && !/[\n\0]/.test(v), what: "a host key line or SHA256 fingerprint" },
  allowDataDestruction: { ok: (v) => BOOLEAN.test(v), what: "true or false" },
  protectPools: { ok: (v) => BOOLEAN.test(v), what: "true or false" },
  proxmoxSubscription: { ok: (v) => BOOLEAN.test(v), what: "true or false" },
  allowRawLxc: { ok: (v) => BOOLEAN.test(v), what: "true or false" },
  allowHostPaths: { ok: (v) => BOOLEAN.test(v), what: "true or false" },
  firewallLockoutAcknowledged: { ok: (v) => BOOLEAN.test(v), what: "true or false" },
  stepTimeouts: { ok: (v) => "timeouts" in parseStepTimeouts(v), what: 'a map of step kind → whole minutes 1-1440 (e.g. {"lxc-step": 120}; kinds: infra/config/step-timeouts.ts)' },
  firewallTakeover: { ok: (v) => v === "replace" || v === "keep", what: "replace or keep" },
};

/** Problems with `phoenix:` settings given as strings (key without namespace → value); unknown keys are not judged.
 *  `nodes` (a JSON object, see parseNodesSetting) yields `nodes.<node>.<field>` keys, and with it
 *  `node` must name one of the nodes. */
export function stackSettingProblems(values: Record<string, string | undefined>): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  for (const [key, value] of Object.entries(values)) {
    const spec = STACK_SETTINGS[key];
    if (!spec || value === undefined) continue;
    if (!spec.ok(value)) out.push({ key, message: `must be ${spec.what}; got ${JSON.stringify(value).slice(0, 80)}` });
  }
  if (values.nodes !== undefined) {
    const parsed = parseNodesSetting(values.nodes);
    out.push(...parsed.problems);
    const names = parsed.nodes.map((n) => n.name);
    if (values.node !== undefined && names.length > 0 && !names.includes(values.node)) {
      out.push({ key: "node", message: `must be one of phoenix:nodes (${names.join(", ")}); got ${JSON.stringify(values.node).slice(0, 80)}` });
    }
    // Every node is its own host with its own key: the flat phoenix:sshHostKey names one host, so
    // in a cluster a node must pin its own (or opt out of the check on purpose).
    if (parsed.nodes.length > 1) {
      for (const n of parsed.nodes) {
        const insecure = (n.values.sshInsecureIgnoreHostKey ?? values.sshInsecureIgnoreHostKey) === "true";
        if (n.values.sshHostKey === undefined && !insecure) {
          out.push({ key: `nodes.${n.name}.sshHostKey`, message: "is required in a stack of several nodes: each node has its own host key (ssh-keyscan -t ed25519 <node>); the flat phoenix:sshHostKey names one host" });
        }
      }
    }
  }
  return out;
}

/** Connection keys a `phoenix:nodes.<node>` entry may set: the flat keys of the same name, for that
 *  node (a key it leaves out falls back to the flat `phoenix:<key>`). */
export const NODE_CONNECTION_KEYS = [
  "sshHost",
  "sshPort",
  "sshUser",
  "sshHostKey",
  "sshInsecureIgnoreHostKey",
  "sshSudo",
  "sshBastionHost",
  "sshBastionPort",
  "sshBastionUser",
  "sshBastionHostKey",
] as const;

/** Secret keys a `phoenix:nodes.<node>` entry may set (`pulumi config set --secret --path
 *  'phoenix:nodes.<node>.sshPrivateKey'`); absent ones fall back to the flat secrets. */
export const NODE_SECRET_KEYS = ["sshPrivateKey", "sshPrivateKeyPassphrase", "sshPassword"] as const;

/** One `phoenix:nodes` entry: its connection keys as strings and the secret keys it sets. */
export interface NodeSettingEntry {
  name: string;
  values: Partial<Record<(typeof NODE_CONNECTION_KEYS)[number], string>>;
  /** Secret keys this node sets (values never kept here). */
  secrets: (typeof NODE_SECRET_KEYS)[number][];
}

/**
 * Parses `phoenix:nodes` as Pulumi hands a structured value to a program (JSON text of the YAML
 * map): node name → `{ sshHost, sshPort?, ... }`, in file order. Node names are Proxmox node
 * names: a DNS label, letters, digits and inner `-`, at most 63 characters (pve-common
 * JSONSchema.pm `pve_verify_node_name`, `^[a-zA-Z0-9]([a-zA-Z0-9\-]*[a-zA-Z0-9])?$`; pve-cluster
 * takes the node name from the host name, a DNS label). Each field gets the flat key's check;
 * `sshHost` is required; unknown fields are refused (a misspelt key would silently fall back).
 * Problems are `{ key: "nodes.<node>.<field>", message }`; never throws.
 */
export function parseNodesSetting(text: string): { nodes: NodeSettingEntry[]; problems: { key: string; message: string }[] } {
  const problems: { key: string; message: string }[] = [];
  const nodes: NodeSettingEntry[] = [];
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch {
    return { nodes, problems: [{ key: "nodes", message: "must be a map of node name to its SSH settings (YAML map in the stack file)" }] };
  }
  if (!doc || typeof doc !== "object" || Array.isArray(doc)) {
    return { nodes, problems: [{ key: "nodes", message: `must be a map of node name to its SSH settings; got ${JSON.stringify(doc).slice(0, 80)}` }] };
  }
  if (Object.keys(doc).length === 0) problems.push({ key: "nodes", message: "names no node; leave it out for a single-node stack" });
  const secretKeys: readonly string[] = NODE_SECRET_KEYS;
  const connectionKeys: readonly string[] = NODE_CONNECTION_KEYS;
  for (const [name, entry] of Object.entries(doc as Record<string, unknown>)) {
    if (!NODE_NAME.test(name)) {
      problems.push({ key: `nodes.${name}`, message: "is not a Proxmox node name (letters, digits and inner '-', at most 63 characters)" });
      continue;
    }
    if (!entry || typeof entry !== "object" || Array.isArray(entry)) {
      problems.push({ key: `nodes.${name}`, message: "must be a map of SSH settings (at least sshHost)" });
      continue;
    }
    const node: NodeSettingEntry = { name, values: {}, secrets: [] };
    for (const [field, value] of Object.entries(entry as Record<string, unknown>)) {
      const key = `nodes.${name}.${field}`;
      if (secretKeys.includes(field)) {
        if (typeof value !== "string" || value === "") problems.push({ key, message: "must be a secret text (pulumi config set --secret --path)" });
        else node.secrets.push(field as NodeSettingEntry["secrets"][number]);
        continue;
      }
      if (!connectionKeys.includes(field)) {
        problems.push({ key, message: `unknown key; a node takes ${[...NODE_CONNECTION_KEYS, ...NODE_SECRET_KEYS].join(", ")}` });
        continue;
      }
      const spec = STACK_SETTINGS[field];
      const text = typeof value === "string" ? value : typeof value === "number" || typeof value === "boolean" ? String(value) : undefined;
      if (text === undefined || !spec.ok(text)) {
        problems.push({ key, message: `must be ${spec.what}; got ${JSON.stringify(value ?? null).slice(0, 80)}` });
        continue;
      }
      node.values[field as keyof NodeSettingEntry["values"]] = text;
    }
    if (!("sshHost" in (entry as object))) problems.push({ key: `nodes.${name}.sshHost`, message: "is required (the node's SSH host name or IPv4 address)" });
    nodes.push(node);
  }
  return { nodes, problems };
}

/** The allowances a stack grants (`phoenix:allowRawLxc`, `phoenix:allowHostPaths`). */
export function allowancesOf(values: Record<string, string | undefined>): RawLxcAllowances {
  return { rawLxc: values.allowRawLxc === "true", hostPaths: values.allowHostPaths === "true" };
}

/**
 * Reads a `Pulumi.<stack>.yaml` file's `phoenix:` settings as strings (secure values are skipped).
 * Findings are `<file>: phoenix:<key>: <message>` lines.
 */
export function checkStackFile(file: string): { errors: string[]; values: Record<string, string> } {
  const values: Record<string, string> = {};
  let read: ReturnType<typeof readStackFile>;
  try {
    read = readStackFile(file);
  } catch (err) {
    return { errors: [`${file}: $: cannot read stack settings: ${(err as Error).message.split("\n")[0]}`], values };
  }
  for (const [key, value] of Object.entries(read.plain)) if (key.startsWith("phoenix:")) values[key.slice("phoenix:".length)] = value;
  const errors = stackSettingProblems(values).map((p) => `${file}: phoenix:${p.key}: ${p.message}`);
  // A node's SSH secrets sit in the file encrypted (`{secure: ...}`), never as plain text.
  if (values.nodes !== undefined) {
    for (const node of parseNodesSetting(values.nodes).nodes) {
      for (const field of node.secrets) {
        const at = `phoenix:nodes.${node.name}.${field}`;
        if (!read.secretPaths.includes(at)) errors.push(`${file}: ${at}: is plain text; set it with pulumi config set --secret --path '${at}'`);
      }
    }
  }
  return { errors, values };
}

/** The settings file of stack `stack`: `stacks/Pulumi.<stack>.yaml` under the repository root. */
export function stackFilePath(stack: string): string {
  return path.join(repoRoot(), "stacks", `Pulumi.${stack}.yaml`);
}

/** What an encrypted leaf of a structured value reads as offline (`readStackFile`). */
export const SECRET_PLACEHOLDER = "[secret]";

/**
 * A `Pulumi.<stack>.yaml` file's `config:` as strings (non-string values as JSON), every
 * namespace: `plain` holds the readable values, `secretKeys` the keys encrypted with the stack's
 * secrets provider (`{secure: ...}`, unreadable offline). A structured value (`phoenix:nodes`)
 * may hold encrypted leaves (`pulumi config set --secret --path`): it stays in `plain` with each
 * such leaf read as SECRET_PLACEHOLDER, and `secretPaths` lists them (`phoenix:nodes.pve2.sshPassword`).
 * Throws when the file cannot be read or parsed. The one reader of stack files (`phoenix
 * validate`, `plan`, `import`, `doctor`).
 */
export function readStackFile(file: string): { plain: Record<string, string>; secretKeys: string[]; secretPaths: string[] } {
  const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const plain: Record<string, string> = {};
  const secretKeys: string[] = [];
  const secretPaths: string[] = [];
  const isSecure = (v: unknown) => !!v && typeof v === "object" && !Array.isArray(v) && "secure" in (v as object);
  const strip = (v: unknown, at: string): unknown => {
    if (isSecure(v)) {
      secretPaths.push(at);
      return SECRET_PLACEHOLDER;
    }
    if (Array.isArray(v)) return v.map((x, i) => strip(x, `${at}[${i}]`));
    if (v && typeof v === "object") return Object.fromEntries(Object.entries(v).map(([k, x]) => [k, strip(x, `${at}.${k}`)]));
    return v;
  };
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (isSecure(value)) secretKeys.push(key);
    else plain[key] = typeof value === "string" ? value : JSON.stringify(strip(value, key));
  }
  return { plain, secretKeys, secretPaths };
}
