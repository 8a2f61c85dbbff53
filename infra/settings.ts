// Per-stack settings from stacks/Pulumi.<stack>.yaml (namespace `phoenix:`). Non-secret values
// only: the SSH private key, its passphrase and the SSH password are secrets that dynamic
// providers read themselves through `configure`, so they never appear in resource inputs.
import * as pulumi from "@pulumi/pulumi";
import * as path from "path";
import type { SshTarget } from "../providers/ssh/types";
import { repoRoot } from "../features/registry";
import { STACK_SETTINGS, allowancesOf, stackSettingProblems } from "./config/stack-settings";
import type { RawLxcAllowances } from "./config/lxc-raw";

export interface StackSettings {
  stack: string;
  /** Folder holding the stack's three Phoenix JSON files. */
  configDir: string;
  /** Proxmox node that guests without their own `node` land on. */
  node: string;
  /** SSH connection to the Proxmox host, used by every dynamic provider. */
  connection: SshTarget;
  /** Allow deleting ZFS datasets, pools, shares and exports that hold data (default false). */
  allowDataDestruction: boolean;
  /** Mark ZFS pools with Pulumi's `protect` (default true). */
  protectPools: boolean;
  /** The host has a Proxmox subscription: keep the enterprise repository (default false). */
  proxmoxSubscription: boolean;
  /** `phoenix:allowRawLxc` / `phoenix:allowHostPaths`: raw LXC lines and bind sources beyond confinement
   *  (default false; the policy pack flags them in prod). */
  allow: RawLxcAllowances;
}

export function readStackSettings(): StackSettings {
  const stack = pulumi.getStack();
  const cfg = new pulumi.Config("phoenix");
  // The same checks as `phoenix validate` (infra/config/stack-settings): a bad value stops here.
  const raw: Record<string, string | undefined> = {};
  for (const key of Object.keys(STACK_SETTINGS)) raw[key] = cfg.get(key);
  const problems = stackSettingProblems(raw);
  if (problems.length) {
    throw new pulumi.RunError(problems.map((p) => `Pulumi.${stack}.yaml: phoenix:${p.key}: ${p.message}`).join("\n"));
  }
  const configDir = path.resolve(repoRoot(), cfg.get("configDir") ?? path.join("stacks", stack));
  const user = cfg.get("sshUser") ?? "root";
  const connection: SshTarget = {
    host: cfg.get("sshHost") ?? "127.0.0.1",
    port: cfg.getNumber("sshPort") ?? 22,
    user,
    hostKey: cfg.get("sshHostKey"),
    insecureIgnoreHostKey: cfg.getBoolean("sshInsecureIgnoreHostKey") ?? false,
    sudo: cfg.getBoolean("sshSudo") ?? user !== "root",
  };
  const bastionHost = cfg.get("sshBastionHost");
  if (bastionHost) {
    connection.bastion = {
      host: bastionHost,
      port: cfg.getNumber("sshBastionPort") ?? 22,
      user: cfg.get("sshBastionUser") ?? user,
      hostKey: cfg.get("sshBastionHostKey"),
    };
  }
  return {
    stack,
    configDir,
    node: cfg.get("node") ?? "pve",
    connection,
    allowDataDestruction: cfg.getBoolean("allowDataDestruction") ?? false,
    protectPools: cfg.getBoolean("protectPools") ?? true,
    proxmoxSubscription: cfg.getBoolean("proxmoxSubscription") ?? false,
    allow: allowancesOf(raw),
  };
}
