// `phoenix validate [--config-dir DIR]`: exit 0 when the Phoenix files are valid (warnings on
// stderr, each line `warning: ...`), exit 1 with every error on stderr, one per line.
import * as fs from "fs";
import * as path from "path";
import { loadPhoenixConfig } from "../config/load";
import { allowancesOf, checkStackFile } from "../config/stack-settings";
import { stackFirewallLockout, stackSettingsFrom } from "../settings";
import { parseCommandArgs, stackFilePath, usageError } from "./args";
import { STACK_NAME } from "../config/patterns";

export const USAGE = `usage: phoenix validate [--config-dir DIR] [--stack NAME] [--quiet]

Checks phoenix_hypervisor_config.json, phoenix_lxc_configs.json and phoenix_vm_configs.json in DIR
(default: stacks/dev), and the stack's phoenix: settings in stacks/Pulumi.<NAME>.yaml (NAME defaults
to the folder's name when Pulumi.<folder name>.yaml exists next to the folder; its
allowRawLxc/allowHostPaths apply, and the host firewall must keep SSH and the API open from
phoenix:managementNetwork, as \`phoenix plan\` requires). Without a settings file the firewall check
cannot run: a warning says so when the host firewall drops input. Errors print as
\`<file>: <json path>: <message>\`, all at once.

options:
  --config-dir DIR   folder holding the three Phoenix JSON files (default stacks/dev)
  --stack NAME       the stack whose settings apply (stacks/Pulumi.NAME.yaml; default: the folder's
                     name when that file exists next to it)
  --quiet            do not print warnings or the summary line
  -h, --help         show this help
`;

export const OPTIONS = {
  "config-dir": { type: "string" },
  stack: { type: "string" },
  quiet: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("validate", argv, OPTIONS, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const dir = parsed.values["config-dir"] ?? "stacks/dev";
  // The stack's settings file: --stack NAME is stacks/Pulumi.NAME.yaml; without it,
  // Pulumi.<folder name>.yaml next to the folder, when there is one. Either way its settings and
  // the checks that depend on them (allowances, the firewall lock-out guard) apply.
  if (parsed.values.stack !== undefined && !STACK_NAME.test(parsed.values.stack)) return usageError("validate", `--stack: invalid stack name ${JSON.stringify(parsed.values.stack)}`);
  const stack = parsed.values.stack ?? path.basename(path.resolve(dir));
  const stackFile =
    parsed.values.stack !== undefined
      ? stackFilePath(stack)
      : path.join(path.dirname(path.resolve(dir)), `Pulumi.${stack}.yaml`);
  let stackErrors: string[] = [];
  let stackValues: Record<string, string> = {};
  if (fs.existsSync(stackFile)) {
    const checked = checkStackFile(stackFile);
    stackErrors = checked.errors.map((e) => path.relative(process.cwd(), stackFile) + e.slice(stackFile.length));
    stackValues = checked.values;
  } else if (parsed.values.stack !== undefined) {
    stackErrors = [`${path.relative(process.cwd(), stackFile)}: $: not found (--stack ${stack})`];
  }
  let result = loadPhoenixConfig(dir, { allow: allowancesOf(stackValues) });
  if (result.ok && stackErrors.length === 0) {
    const fw = result.model.host.firewall;
    if (fs.existsSync(stackFile)) {
      // The lock-out guard `phoenix plan` applies (infra/index.ts), from the same settings reader
      // and defaults, whether the stack was named or found by the folder's name.
      const lockout = stackFirewallLockout(result.model, stackSettingsFrom(stack, (k) => stackValues[k]));
      if (lockout.length > 0) result = { ok: false, errors: lockout, warnings: result.warnings };
    } else if (fw && fw.enabled && fw.inputPolicy !== "ACCEPT") {
      result.warnings.push(
        `${fw.origin}: the host firewall drops input (default_input_policy ${fw.inputPolicy}), but without stack settings ` +
          `(${path.relative(process.cwd(), stackFile)}) the lock-out guard cannot know the SSH host and management network: run with --stack NAME`,
      );
    }
  }
  if (!parsed.values.quiet) for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!result.ok || stackErrors.length) {
    const errors = [...stackErrors, ...(result.ok ? [] : result.errors)];
    for (const e of errors) process.stderr.write(`${e}\n`);
    process.stderr.write(`${dir}: ${errors.length} error(s)\n`);
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
