// Per-stack settings from stacks/Pulumi.<stack>.yaml (namespace `phoenix:`). Non-secret values
// only: the SSH private key, its passphrase and the SSH password are secrets that dynamic
// providers read themselves through `configure`, so they never appear in resource inputs.
import * as pulumi from "@pulumi/pulumi";
import * as fs from "fs";
import * as path from "path";
import type { SshTarget } from "../providers/ssh/types";
import { repoRoot } from "../features/registry";
import { STACK_SETTINGS, allowancesOf, parseNodesSetting, readStackFile, stackFilePath, stackSettingProblems, type NodeSettingEntry } from "./config/stack-settings";
import type { RawLxcAllowances } from "./config/lxc-raw";
import { firewallLockout } from "./config/firewall";
import type { PhoenixModel } from "./config/model";

/** One Proxmox node of the stack and how Phoenix reaches it. */
export interface NodeSettings {
  /** Proxmox node name (`phoenix:nodes` key, or `phoenix:node` for a single-node stack). */
  name: string;
  /** SSH connection to this node; `secretsNode` is set when the node has its own SSH secrets. */
  connection: SshTarget;
}

/** A connection key a `phoenix:nodes` entry may override (stack-settings NODE_CONNECTION_KEYS). */
type NodeKey = keyof NodeSettingEntry["values"];

export interface StackSettings {
  stack: string;
  /** Folder holding the stack's three Phoenix JSON files. */
  configDir: string;
  /** The primary Proxmox node (`phoenix:node`, else the first of `phoenix:nodes`, else `pve`): where
   *  guests without their own `node` land; `nodes[0].name`. */
  node: string;
  /** SSH connection to the Proxmox host, used by every dynamic provider: the primary node's
   *  (`nodes[0].connection`). */
  connection: SshTarget;
  /**
   * Every node of the stack, the primary node (`node`) first, then `phoenix:nodes` in file order.
   * Without `phoenix:nodes`: exactly `[{ name: node, connection }]`.
   */
  nodes: NodeSettings[];
  /** Allow deleting ZFS datasets, pools, shares and exports that hold data (default false). */
  allowDataDestruction: boolean;
  /** Mark ZFS pools with Pulumi's `protect` (default true). */
  protectPools: boolean;
  /** The host has a Proxmox subscription: keep the enterprise repository (default false). */
  proxmoxSubscription: boolean;
  /** `phoenix:managementNetwork`: the CIDR Phoenix and the operators reach the host from. The host
   *  firewall's lock-out guard requires SSH and 8006 to stay open from it (infra/config/firewall.ts). */
  managementNetwork?: string;
  /** `phoenix:firewallLockoutAcknowledged`: plan a dropping host firewall even when its rules do not
   *  visibly keep SSH and the API open from the management network (absent: false). */
  firewallLockoutAcknowledged?: boolean;
  /** `phoenix:firewallTakeover`: what the first `up` does with rules cluster.fw already holds:
   *  `replace` them by the declared ones, or `keep` them (moved to each node's host.fw). Unset: the
   *  provider refuses to create the cluster rules over existing ones. */
  firewallTakeover?: "replace" | "keep";
  /** `phoenix:allowRawLxc` / `phoenix:allowHostPaths`: raw LXC lines and bind sources beyond confinement
   *  (absent: none; the policy pack flags them in prod). */
  allow?: RawLxcAllowances;
}

/** Reads the stack's settings inside a Pulumi program (the `phoenix` config namespace). */
export function readStackSettings(): StackSettings {
  const cfg = new pulumi.Config("phoenix");
  const settings = stackSettingsFrom(pulumi.getStack(), (key) => cfg.get(key));
  // A node's SSH secrets are encrypted leaves of phoenix:nodes (Pulumi then holds the whole key as
  // a secret); in plain text they would sit readable in the stack file: refused, as validate does.
  const nodes = cfg.get("nodes");
  // isConfigSecret is in the SDK's runtime (runtime/config.js), not in its typings.
  const isSecret = (pulumi.runtime as unknown as { isConfigSecret?: (k: string) => boolean }).isConfigSecret;
  if (nodes !== undefined && isSecret && !isSecret("phoenix:nodes")) {
    const plain = parseNodesSetting(nodes).nodes.flatMap((n) => n.secrets.map((field) => `phoenix:nodes.${n.name}.${field}`));
    if (plain.length) throw new Error(plain.map((at) => `${at}: is plain text; set it with pulumi config set --secret --path '${at}'`).join("\n"));
  }
  return settings;
}

/**
 * The settings of stack `stack` from its `phoenix:` keys, `get(key)` giving the value of
 * `phoenix:<key>` as text (or undefined). Shared by the program (readStackSettings) and commands
 * that run outside Pulumi (`phoenix doctor` reads stacks/Pulumi.<stack>.yaml). Booleans are
 * `true`/`false`, numbers decimal; anything else throws `phoenix:<key>: ...`.
 */
export function stackSettingsFrom(stack: string, get: (key: string) => string | undefined): StackSettings {
  // The same checks as `phoenix validate` (infra/config/stack-settings): a bad value stops here.
  const raw: Record<string, string | undefined> = {};
  for (const key of [...Object.keys(STACK_SETTINGS), "nodes"]) raw[key] = get(key);
  const problems = stackSettingProblems(raw);
  if (problems.length) throw new Error(problems.map((p) => `phoenix:${p.key}: ${p.message}`).join("\n"));
  const bool = (key: string): boolean | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (v === "true" || v === "false") return v === "true";
    throw new Error(`phoenix:${key}: expected true or false, got ${JSON.stringify(v)}`);
  };
  const num = (key: string): number | undefined => {
    const v = get(key);
    if (v === undefined) return undefined;
    if (!/^\d+$/.test(v.trim())) throw new Error(`phoenix:${key}: expected a number, got ${JSON.stringify(v)}`);
    return Number(v);
  };
  const configDir = path.resolve(repoRoot(), get("configDir") ?? path.join("stacks", stack));
  /** The connection from flat keys, each overridden by `node`'s own value when it sets one. */
  const connectionOf = (node?: NodeSettingEntry): SshTarget => {
    const pick = (key: NodeKey) => node?.values[key] ?? get(key);
    const user = pick("sshUser") ?? "root";
    const flag = (key: NodeKey) => (node?.values[key] !== undefined ? node.values[key] === "true" : bool(key));
    const port = (key: NodeKey) => (node?.values[key] !== undefined ? Number(node.values[key]) : num(key));
    const connection: SshTarget = {
      host: pick("sshHost") ?? "127.0.0.1",
      port: port("sshPort") ?? 22,
      user,
      hostKey: pick("sshHostKey"),
      insecureIgnoreHostKey: flag("sshInsecureIgnoreHostKey") ?? false,
      sudo: flag("sshSudo") ?? user !== "root",
    };
    const bastionHost = pick("sshBastionHost");
    if (bastionHost) {
      connection.bastion = {
        host: bastionHost,
        port: port("sshBastionPort") ?? 22,
        user: pick("sshBastionUser") ?? user,
        hostKey: pick("sshBastionHostKey"),
      };
    }
    // Secrets stay in the stack config; the provider reads this node's from `phoenix:nodes`.
    if (node && node.secrets.length > 0) connection.secretsNode = node.name;
    return connection;
  };
  const declared = raw.nodes === undefined ? [] : parseNodesSetting(raw.nodes).nodes;
  const node = get("node") ?? declared[0]?.name ?? "pve";
  const primary = declared.find((n) => n.name === node);
  const nodes: NodeSettings[] = declared.length
    ? [primary!, ...declared.filter((n) => n !== primary)].map((n) => ({ name: n.name, connection: connectionOf(n) }))
    : [{ name: node, connection: connectionOf() }];
  const connection = nodes[0].connection;
  return {
    stack,
    configDir,
    node,
    connection,
    nodes,
    allowDataDestruction: bool("allowDataDestruction") ?? false,
    protectPools: bool("protectPools") ?? true,
    proxmoxSubscription: bool("proxmoxSubscription") ?? false,
    managementNetwork: get("managementNetwork") || undefined,
    firewallLockoutAcknowledged: bool("firewallLockoutAcknowledged") ?? false,
    ...(get("firewallTakeover") === "replace" || get("firewallTakeover") === "keep" ? { firewallTakeover: get("firewallTakeover") as "replace" | "keep" } : {}),
    allow: allowancesOf(raw),
  };
}

/**
 * The settings of stack `stack` read from `stacks/Pulumi.<stack>.yaml`, for commands that run
 * outside Pulumi (`phoenix graph`, `phoenix import`): its plain `phoenix:` keys (encrypted ones are
 * unknown offline; their defaults apply), then `overrides` (`phoenix:<key>` → value). Throws when
 * the file is missing or a value is bad (stackSettingsFrom's messages).
 */
export function stackSettingsOf(stack: string, overrides: Record<string, string> = {}, file: string = stackFilePath(stack)): StackSettings {
  if (!fs.existsSync(file)) throw new Error(`no stack settings file ${path.relative(process.cwd(), file)}`);
  const config = { ...readStackFile(file).plain, ...overrides };
  return stackSettingsFrom(stack, (key) => config[`phoenix:${key}`]);
}

/**
 * The firewall lock-out guard for a stack: `firewallLockout` (infra/config/firewall.ts) with the
 * access the stack's settings describe (SSH host and port, bastion, management network,
 * acknowledgement), for every node: each node's host firewall against that node's connection.
 * `phoenix plan` (infra/index.ts) and `phoenix validate` both call this one. Returns one error
 * line per port a host firewall would leave unreachable (empty when fine).
 */
export function stackFirewallLockout(model: PhoenixModel, settings: StackSettings): string[] {
  const nodes = model.nodes?.length ? model.nodes : [{ name: settings.node, host: model.host }];
  const out = new Set<string>();
  for (const node of nodes) {
    const connection = settings.nodes?.find((n) => n.name === node.name)?.connection ?? settings.connection;
    for (const line of firewallLockout(node.host.firewall, node.host.network.address, {
      sshHost: connection.host,
      sshPort: connection.port,
      managementNetwork: settings.managementNetwork,
      bastionHost: connection.bastion?.host,
      acknowledged: settings.firewallLockoutAcknowledged === true,
    })) out.add(line);
  }
  return [...out];
}
