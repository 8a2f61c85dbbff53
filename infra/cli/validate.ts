// `phoenix validate [--config-dir DIR]`: exit 0 when the Phoenix files are valid (warnings on
// stderr, each line `warning: ...`), exit 1 with every error on stderr, one per line.
import * as fs from "fs";
import * as path from "path";
import { loadPhoenixConfig } from "../config/load";
import { allowancesOf, checkStackFile } from "../config/stack-settings";
import { parseCommandArgs } from "./args";

export const USAGE = `usage: phoenix validate [--config-dir DIR] [--stack NAME] [--quiet]

Checks phoenix_hypervisor_config.json, phoenix_lxc_configs.json and phoenix_vm_configs.json in DIR
(default: stacks/dev), and the stack's phoenix: settings in stacks/Pulumi.<NAME>.yaml (NAME defaults
to the folder's name when that file exists; its allowRawLxc/allowHostPaths apply). Errors print as
\`<file>: <json path>: <message>\`, all at once.

options:
  --config-dir DIR   folder holding the three Phoenix JSON files (default stacks/dev)
  --stack NAME       also check stacks/Pulumi.NAME.yaml (default: the folder's name, if that file exists)
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
  // The stack's settings file: given by --stack, or stacks/Pulumi.<folder name>.yaml next to the folder.
  const stack = parsed.values.stack ?? path.basename(path.resolve(dir));
  const stackFile = path.join(path.dirname(path.resolve(dir)), `Pulumi.${stack}.yaml`);
  let stackErrors: string[] = [];
  let stackValues: Record<string, string> = {};
  if (fs.existsSync(stackFile)) {
    const checked = checkStackFile(stackFile);
    stackErrors = checked.errors.map((e) => path.relative(process.cwd(), stackFile) + e.slice(stackFile.length));
    stackValues = checked.values;
  } else if (parsed.values.stack !== undefined) {
    stackErrors = [`${path.relative(process.cwd(), stackFile)}: $: not found (--stack ${stack})`];
  }
  const result = loadPhoenixConfig(dir, { allow: allowancesOf(stackValues) });
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
