// Checks of the `phoenix:` stack settings (stacks/Pulumi.<stack>.yaml), shared by `phoenix validate`
// (which reads the YAML file) and infra/settings.ts (which reads them through pulumi.Config), so a
// value the program would refuse (`sshPort: 70000`) is refused by validate first, with file and key.
import * as fs from "fs";
import { parse as parseYaml } from "yaml";
import { HOSTNAME, IPV4, NODE_NAME, USERNAME } from "./patterns";
import type { RawLxcAllowances } from "./lxc-raw";

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
};

/** Problems with `phoenix:` settings given as strings (key without namespace → value); unknown keys are not judged. */
export function stackSettingProblems(values: Record<string, string | undefined>): { key: string; message: string }[] {
  const out: { key: string; message: string }[] = [];
  for (const [key, value] of Object.entries(values)) {
    const spec = STACK_SETTINGS[key];
    if (!spec || value === undefined) continue;
    if (!spec.ok(value)) out.push({ key, message: `must be ${spec.what}; got ${JSON.stringify(value).slice(0, 80)}` });
  }
  return out;
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
  return { errors, values };
}

/**
 * A `Pulumi.<stack>.yaml` file's `config:` as strings (non-string values as JSON), every
 * namespace: `plain` holds the readable values, `secretKeys` the keys encrypted with the stack's
 * secrets provider (`{secure: ...}`, unreadable offline). Throws when the file cannot be read or
 * parsed. The one reader of stack files (`phoenix validate`, `plan`, `import`, `doctor`).
 */
export function readStackFile(file: string): { plain: Record<string, string>; secretKeys: string[] } {
  const doc = (parseYaml(fs.readFileSync(file, "utf8")) ?? {}) as { config?: Record<string, unknown> };
  const plain: Record<string, string> = {};
  const secretKeys: string[] = [];
  for (const [key, value] of Object.entries(doc.config ?? {})) {
    if (value && typeof value === "object" && "secure" in (value as object)) secretKeys.push(key);
    else plain[key] = typeof value === "string" ? value : JSON.stringify(value);
  }
  return { plain, secretKeys };
}
