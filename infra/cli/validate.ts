// `phoenix validate [--config-dir DIR]`: exit 0 when the Phoenix files are valid (warnings on
// stderr, each line `warning: ...`), exit 1 with every error on stderr, one per line.
import { loadPhoenixConfig } from "../config/load";
import { firewallLockout } from "../config/firewall";
import { parseCommandArgs } from "./args";

export const USAGE = `usage: phoenix validate [--config-dir DIR] [--stack NAME] [--quiet]

Checks phoenix_hypervisor_config.json, phoenix_lxc_configs.json and phoenix_vm_configs.json in DIR
(default: stacks/dev). Errors print as \`<file>: <json path>: <message>\`, all at once.

options:
  --config-dir DIR   folder holding the three Phoenix JSON files (default stacks/dev)
  --stack NAME       also check what depends on the stack's settings (stacks/Pulumi.NAME.yaml):
                     the host firewall must keep SSH and the API open from phoenix:managementNetwork
  --quiet            do not print warnings or the summary line
  -h, --help         show this help
`;

const OPTIONS = {
  "config-dir": { type: "string" },
  stack: { type: "string" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("validate", argv, OPTIONS, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const dir = parsed.values["config-dir"] ?? "stacks/dev";
  let result = loadPhoenixConfig(dir);
  const stack = parsed.values.stack;
  if (stack !== undefined && result.ok) {
    // The same lock-out guard `phoenix plan` applies (infra/index.ts), from the same settings.
    let config: Record<string, string>;
    try {
      // Loaded only here: plan.ts pulls in the Pulumi SDK, which plain `validate` does not need.
      const { readStackConfig } = await import("./plan");
      config = readStackConfig(stack).config;
    } catch (err) {
      process.stderr.write(`${(err as Error).message}\n`);
      return 1;
    }
    const lockout = firewallLockout(result.model.host.firewall, result.model.host.network.address, {
      sshHost: config["phoenix:sshHost"] ?? "127.0.0.1",
      sshPort: Number(config["phoenix:sshPort"] ?? 22),
      managementNetwork: config["phoenix:managementNetwork"] || undefined,
      bastionHost: config["phoenix:sshBastionHost"] || undefined,
      acknowledged: config["phoenix:firewallLockoutAcknowledged"] === "true",
    });
    if (lockout.length > 0) result = { ok: false, errors: lockout, warnings: result.warnings };
  }
  if (!parsed.values.quiet) for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!result.ok) {
    for (const e of result.errors) process.stderr.write(`${e}\n`);
    process.stderr.write(`${dir}: ${result.errors.length} error(s)\n`);
    return 1;
  }
  if (!parsed.values.quiet) {
    const m = result.model;
    process.stdout.write(
      `${dir}: valid: ${m.containers.length} containers, ${m.vms.length} VMs, ${result.warnings.length} warning(s)\n`,
    );
  }
  return 0;
}
