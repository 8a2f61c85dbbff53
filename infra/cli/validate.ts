// `phoenix validate [--config-dir DIR]`: exit 0 when the Phoenix files are valid (warnings on
// stderr, each line `warning: ...`), exit 1 with every error on stderr, one per line.
import * as fs from "fs";
import * as path from "path";
import { loadPhoenixConfig } from "../config/load";
import { allowancesOf, checkStackFile, parseNodesSetting } from "../config/stack-settings";
import { NODE_NAME } from "../config/patterns";
import { stackFirewallLockout, stackSettingsFrom } from "../settings";
import { parseCommandArgs, stackFilePath, usageError } from "./args";
import { STACK_NAME } from "../config/patterns";
import { repoRoot } from "../../features/registry";

export const USAGE = `usage: phoenix validate [--config-dir DIR] [--stack NAME] [--quiet] [--strict] [--json]

Checks phoenix_hypervisor_config.json, phoenix_lxc_configs.json and phoenix_vm_configs.json in DIR
(default: the stack's phoenix:configDir with --stack, else stacks/dev), and for a cluster stack each
node's nodes/<node>/phoenix_hypervisor_config.json, and the stack's phoenix: settings in stacks/Pulumi.<NAME>.yaml (NAME defaults
to the folder's name when Pulumi.<folder name>.yaml exists next to the folder; its
allowRawLxc/allowHostPaths apply, and the host firewall must keep SSH and the API open from
phoenix:managementNetwork, as \`phoenix plan\` requires). Without a settings file the firewall check
cannot run: a warning says so when the host firewall drops input. Errors print as
\`<file>: <json path>: <message>\`, all at once.

options:
  --config-dir DIR   folder holding the three Phoenix JSON files (default: the stack's
                     phoenix:configDir with --stack, else stacks/dev)
  --stack NAME       the stack whose settings apply (stacks/Pulumi.NAME.yaml; default: the folder's
                     name when that file exists next to it)
  --quiet            do not print warnings or the summary line
  --strict           a key Phoenix does not know is an error, not a warning
  --json             print the result as JSON on stdout: valid, errors and warnings (each with
                     file, path, message and the text line), the containers and VMs counted
  -h, --help         show this help
`;

export const OPTIONS = {
  "config-dir": { type: "string" },
  stack: { type: "string" },
  quiet: { type: "boolean" },
  json: { type: "boolean" },
  strict: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** A warning about a key Phoenix does not use (an error with --strict). */
const UNKNOWN_KEY = /: unknown key\b/;

/** One error or warning of `validate --json`: the line as the text output prints it, and its parts. */
export interface Problem {
  file?: string;
  /** The JSON path (`$.lxc_configs["950"].memory_mb`) or stack setting (`phoenix:sshPort`). */
  path?: string;
  message: string;
  line: string;
}

/** Splits a `<file>: <path>: <message>` line (a line of another shape is all message). */
export function problemOf(line: string): Problem {
  const m = /^(.+?): (\$\S*|[a-z][A-Za-z0-9]*:[A-Za-z0-9_.[\]"-]+): ([\s\S]*)$/.exec(line);
  return m ? { file: m[1], path: m[2], message: m[3], line } : { message: line, line };
}

/** The node names a stack file gives (primary first) even when other settings are wrong; {} without phoenix:nodes. */
function nodesOf(values: Record<string, string>): { defaultNode?: string; nodes?: string[] } {
  if (values.nodes === undefined) return NODE_NAME.test(values.node ?? "") ? { defaultNode: values.node } : {};
  const names = parseNodesSetting(values.nodes).nodes.map((n) => n.name);
  if (names.length === 0) return {};
  const primary = values.node !== undefined && names.includes(values.node) ? values.node : names[0];
  return { defaultNode: primary, nodes: [primary, ...names.filter((n) => n !== primary)] };
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("validate", argv, OPTIONS, USAGE);
  if ("exit" in parsed) return parsed.exit;
  let dir = parsed.values["config-dir"] ?? "stacks/dev";
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
  // With settings: the stack's nodes (phoenix:nodes, else phoenix:node), as the program loads them.
  const settings = fs.existsSync(stackFile) && stackErrors.length === 0 ? stackSettingsFrom(stack, (k) => stackValues[k]) : undefined;
  // `--stack NAME` alone: the folder the stack's program reads (phoenix:configDir, default stacks/NAME).
  // A stack file with errors still says where its files are (phoenix:configDir, else stacks/NAME).
  if (parsed.values["config-dir"] === undefined && parsed.values.stack !== undefined) {
    const configDir = settings?.configDir ?? path.resolve(repoRoot(), stackValues.configDir ?? path.join("stacks", stack));
    dir = path.relative(process.cwd(), configDir) || ".";
  }
  // A stack file with errors elsewhere still names its nodes: the per-node files are checked too.
  const nodes = settings ? { defaultNode: settings.node, nodes: settings.nodes.map((n) => n.name) } : nodesOf(stackValues);
  let result = loadPhoenixConfig(dir, { allow: allowancesOf(stackValues), ...nodes });
  // A settings file copied from another stack keeps that stack's phoenix:configDir: say so.
  if (settings && stackValues.configDir !== undefined) {
    const other = path.basename(settings.configDir);
    if (other !== stack && path.dirname(settings.configDir) === path.join(repoRoot(), "stacks") && fs.existsSync(stackFilePath(other))) {
      result.warnings.push(`${path.relative(process.cwd(), stackFile)}: phoenix:configDir: ${stackValues.configDir} is stack ${other}'s folder, not stack ${stack}'s (stacks/${stack}); remove the key to use stacks/${stack}`);
    }
  }
  if (result.ok && stackErrors.length === 0) {
    const fw = result.model.host.firewall;
    if (fs.existsSync(stackFile)) {
      // The lock-out guard `phoenix plan` applies (infra/index.ts), from the same settings reader
      // and defaults, whether the stack was named or found by the folder's name.
      const lockout = stackFirewallLockout(result.model, settings!);
      if (lockout.length > 0) result = { ok: false, errors: lockout, warnings: result.warnings };
    } else if (fw && fw.enabled && fw.inputPolicy !== "ACCEPT") {
      result.warnings.push(
        `${fw.origin}: the host firewall drops input (default_input_policy ${fw.inputPolicy}), but without stack settings ` +
          `(${path.relative(process.cwd(), stackFile)}) the lock-out guard cannot know the SSH host and management network: run with --stack NAME`,
      );
    }
  }
  // --strict: a key Phoenix does not know is an error (a misspelt key silently leaves a default).
  if (parsed.values.strict) {
    const unknown = result.warnings.filter((w) => UNKNOWN_KEY.test(w));
    if (unknown.length) {
      const warnings = result.warnings.filter((w) => !UNKNOWN_KEY.test(w));
      result = { ok: false, errors: [...(result.ok ? [] : result.errors), ...unknown.map((w) => `${w} (--strict)`)], warnings };
    }
  }
  if (parsed.values.json) {
    const errors = [...stackErrors, ...(result.ok ? [] : result.errors)];
    const doc = {
      dir,
      valid: errors.length === 0,
      errors: errors.map(problemOf),
      warnings: result.warnings.map(problemOf),
      ...(result.ok && errors.length === 0 ? { containers: result.model.containers.length, vms: result.model.vms.length } : {}),
    };
    await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(doc, null, 2)}\n`, () => resolve()));
    return errors.length ? 1 : 0;
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
