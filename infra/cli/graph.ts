// `phoenix graph [--config-dir DIR] [--format mermaid|json] [--stats]`: the provisioning graph.
import * as fs from "fs";
import * as path from "path";
import { loadPhoenixConfig } from "../config/load";
import { buildGraph, graphStats, toJson, toMermaid } from "../graph";
import { parseCommandArgs, usageError } from "./args";
import { stackFirewallLockout, stackSettingsOf, type StackSettings } from "../settings";
import type { LoadOptions } from "../config/load";

export const USAGE = `usage: phoenix graph [--config-dir DIR] [--stack NAME] [--format mermaid|json] [--stats]

Prints the provisioning graph of the Phoenix files in DIR (default stacks/dev): every resource the
program declares (host setup steps, guests and their steps, snapshots, firewalls) and every
dependency between them. The JSON format holds them all (it equals the plan's resource graph);
the Mermaid drawing folds each guest's steps into the guest.

options:
  --config-dir DIR   folder holding the three Phoenix JSON files (default: the stack's
                     phoenix:configDir with --stack, else stacks/dev)
  --stack NAME       read stacks/Pulumi.NAME.yaml: its nodes (phoenix:nodes, phoenix:node) and
                     folder; a cluster stack draws one group per node
  --format FORMAT    mermaid (default) or json
  --stats            add the resource count and the longest dependency chain
  -h, --help         show this help
`;

export const OPTIONS = {
  "config-dir": { type: "string" },
  stack: { type: "string" },
  format: { type: "string" },
  stats: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("graph", argv, OPTIONS, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const format = parsed.values.format ?? "mermaid";
  if (format !== "mermaid" && format !== "json") {
    return usageError("graph", `--format must be mermaid or json; got ${JSON.stringify(format)}`);
  }
  let dir = parsed.values["config-dir"] ?? "stacks/dev";
  let load: LoadOptions = {};
  let settings: StackSettings | undefined;
  if (parsed.values.stack !== undefined) {
    // The stack's nodes decide the resource names and where each guest's prerequisites are.
    try {
      settings = stackSettingsOf(parsed.values.stack);
      dir = parsed.values["config-dir"] ?? settings.configDir;
      load = { defaultNode: settings.node, nodes: settings.nodes.map((n) => n.name), allow: settings.allow };
    } catch (err) {
      return usageError("graph", (err as Error).message);
    }
  } else {
    // Without --stack, as validate: the settings file beside the folder (Pulumi.<folder>.yaml), when
    // there is one, names the stack's nodes (a cluster's node files are read then).
    const name = path.basename(path.resolve(dir));
    const beside = path.join(path.dirname(path.resolve(dir)), `Pulumi.${name}.yaml`);
    if (fs.existsSync(beside)) {
      try {
        const s = stackSettingsOf(name, { "phoenix:configDir": path.resolve(dir) }, beside);
        load = { defaultNode: s.node, nodes: s.nodes.map((n) => n.name), allow: s.allow };
      } catch (err) {
        return usageError("graph", (err as Error).message);
      }
    }
  }
  const result = loadPhoenixConfig(dir, load);
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!result.ok) {
    for (const e of result.errors) process.stderr.write(`${e}\n`);
    return 1;
  }
  // With the stack's settings, the same refusal plan makes: a host firewall that locks Phoenix out.
  const lockout = settings ? stackFirewallLockout(result.model, settings) : [];
  if (lockout.length > 0) {
    for (const e of lockout) process.stderr.write(`${e}\n`);
    return 1;
  }
  const graph = buildGraph(result.model);
  const stats = parsed.values.stats ? graphStats(result.model) : undefined;
  if (format === "json") {
    const doc = stats ? { ...graph, stats } : graph;
    process.stdout.write(toJson(doc as typeof graph));
  } else {
    process.stdout.write(toMermaid(graph));
    if (stats) {
      process.stdout.write(
        `%% resources: ${stats.resources} (components ${stats.components}, host steps ${stats.hostSteps}, containers ${stats.containers}, VMs ${stats.vms}, ` +
          `snapshots ${stats.snapshots}, guest steps ${stats.guestSteps}, guest firewalls ${stats.firewalls})\n` +
          `%% longest chain (${stats.longestChain.length}): ${stats.longestChain.join(" -> ")}\n`,
      );
    }
  }
  return 0;
}
