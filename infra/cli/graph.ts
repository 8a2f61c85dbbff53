// `phoenix graph [--config-dir DIR] [--format mermaid|json] [--stats]`: the provisioning graph.
import { loadPhoenixConfig } from "../config/load";
import { buildGraph, graphStats, toJson, toMermaid } from "../graph";
import { parseCommandArgs, usageError } from "./args";

export const USAGE = `usage: phoenix graph [--config-dir DIR] [--format mermaid|json] [--stats]

Prints the provisioning graph of the Phoenix files in DIR (default stacks/dev): host setup steps,
templates and their snapshots, clones and dependencies.

options:
  --config-dir DIR   folder holding the three Phoenix JSON files (default stacks/dev)
  --format FORMAT    mermaid (default) or json
  --stats            add the resource count and the longest dependency chain
  -h, --help         show this help
`;

export const OPTIONS = {
  "config-dir": { type: "string" },
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
  const dir = parsed.values["config-dir"] ?? "stacks/dev";
  const result = loadPhoenixConfig(dir);
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!result.ok) {
    for (const e of result.errors) process.stderr.write(`${e}\n`);
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
        `%% resources: ${stats.resources} (host steps ${stats.hostSteps}, containers ${stats.containers}, VMs ${stats.vms}, snapshots ${stats.snapshots}, guest firewalls ${stats.firewalls})\n` +
          `%% longest chain (${stats.longestChain.length}): ${stats.longestChain.join(" -> ")}\n`,
      );
    }
  }
  return 0;
}
