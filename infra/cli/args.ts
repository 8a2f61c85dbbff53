// Shared argument handling for the subcommands: node's util.parseArgs, with usage errors turned
// into one line on stderr and exit code 2 instead of a stack trace. Every subcommand parses its
// arguments here and reports its own usage errors (a bad --stack name, a bad --format) through
// `usageError`, so `phoenix <command> <bad arguments>` always exits 2 with one line.
import * as fs from "fs";
import * as path from "path";
import { parseArgs, ParseArgsConfig } from "util";
import { STACK_NAME } from "../config/patterns";
import { stackFilePath } from "../config/stack-settings";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ options: T; allowPositionals: false; strict: true }>>["values"];

/** Exit code of every usage error (unknown option, missing or malformed option value). */
const USAGE_EXIT = 2;

/**
 * Writes one usage-error line, `phoenix <command>: <message> (see phoenix <command> --help)`, to
 * stderr and returns USAGE_EXIT for the command to return.
 */
export function usageError(command: string, message: string): number {
  process.stderr.write(`phoenix ${command}: ${message.replace(/\s*\n\s*/g, " ")} (see phoenix ${command} --help)\n`);
  return USAGE_EXIT;
}

/**
 * Parses `argv` (the arguments after the command name; no positionals) against `options`.
 * `--help` (when `options` has `help`) prints `usage` to stdout and returns `{ exit: 0 }`; a usage
 * error prints one line (usageError) and returns `{ exit: 2 }`; otherwise `{ values }`.
 */
export function parseCommandArgs<T extends Options>(
  command: string,
  argv: string[],
  options: T,
  usage: string,
): { values: Parsed<T> } | { exit: number } {
  try {
    const { values } = parseArgs({ args: argv, options, allowPositionals: false, strict: true });
    if ((values as Record<string, unknown>).help) {
      process.stdout.write(usage);
      return { exit: 0 };
    }
    return { values: values as Parsed<T> };
  } catch (err) {
    return { exit: usageError(command, (err as Error).message) };
  }
}

// The settings file `--stack NAME` names lives with the stack-file reader.
export { stackFilePath };

/**
 * `--config KEY=VALUE` values (repeatable) as stack settings overrides: `namespace:key` → value.
 * Returns the usage error text for a malformed one (the command reports it with usageError).
 */
export function configOverrides(values: string[] | undefined): { config: Record<string, string> } | { error: string } {
  const config: Record<string, string> = {};
  for (const kv of values ?? []) {
    const i = kv.indexOf("=");
    if (i <= 0 || !/^[a-z][A-Za-z0-9]*:[A-Za-z][A-Za-z0-9]*$/.test(kv.slice(0, i))) return { error: `--config: expected namespace:key=value, got ${JSON.stringify(kv.slice(0, 40))}` };
    config[kv.slice(0, i)] = kv.slice(i + 1);
  }
  return { config };
}

/** Options of every command that works on one stack: `--stack NAME`, `--config-dir DIR`, `--help`. */
export const STACK_OPTIONS = {
  stack: { type: "string" },
  "config-dir": { type: "string" },
  help: { type: "boolean", short: "h", default: false },
} as const;

/**
 * Checks a `--stack` value: a STACK_NAME whose settings file exists. Returns undefined when it
 * does, else writes the usage error and returns its exit code (2).
 */
export function stackUsageError(command: string, stack: string): number | undefined {
  if (!STACK_NAME.test(stack)) return usageError(command, `--stack: invalid stack name ${JSON.stringify(stack)}`);
  const file = stackFilePath(stack);
  if (!fs.existsSync(file)) return usageError(command, `--stack ${stack}: no stack settings file ${path.relative(process.cwd(), file)}`);
  return undefined;
}
