// The Phoenix Pulumi program: one stack = one Proxmox host (or cluster) described by three Phoenix
// JSON files. The host setup comes first, then every container and VM in dependency order, so
// that the template hierarchy (900 → 901 → 950 ...) is expressed as resource dependencies and
// unrelated guests stay independent (Pulumi provisions them in parallel).
import * as pulumi from "@pulumi/pulumi";
import { loadPhoenixConfig } from "./config/load";
import { declareStack } from "./stack";
import { readStackSettings, stackFirewallLockout } from "./settings";
import type { PhoenixModel } from "./config/model";

const settings = readStackSettings();
const loaded = loadPhoenixConfig(settings.configDir, { defaultNode: settings.node, nodes: settings.nodes.map((n) => n.name), allow: settings.allow });
if (!loaded.ok) {
  // A RunError prints its message without a stack trace: each line names file and JSON path.
  throw new pulumi.RunError(`invalid Phoenix configuration in ${settings.configDir}:\n${loaded.errors.join("\n")}`);
}
for (const warning of loaded.warnings) pulumi.log.warn(warning);
const model: PhoenixModel = loaded.model;

// Never lock the operator out: a dropping host firewall needs rules that keep SSH and the API open.
const lockout = stackFirewallLockout(model, settings);
if (lockout.length > 0) throw new pulumi.RunError(`the host firewall would lock Phoenix out:\n${lockout.join("\n")}`);

// Every node's host setup, the cluster's firewall, then every guest on its node, in the order and
// with the dependencies of the deployment model (infra/deployment).
const stack = declareStack(model, settings);

/** Stack outputs: what exists, by ID, for scripts and reviewers. */
export const containerIds = [...stack.containers.keys()];
export const vmIds = [...stack.vms.keys()];
export const node = settings.node;
