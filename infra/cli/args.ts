// Shared argument handling for the subcommands: node's util.parseArgs, with usage errors turned
// into one line and exit code 2 instead of a stack trace.
import { parseArgs, ParseArgsConfig } from "util";

export type Options = NonNullable<ParseArgsConfig["options"]>;

export type Parsed<T extends Options> = ReturnType<typeof parseArgs<{ options: T; allowPositionals: false; strict: true }>>["values"];

/** Parses `argv`; on a usage error prints it with the usage text and returns the exit code 2. */
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
    process.stderr.write(`phoenix ${command}: ${(err as Error).message}\n\n${usage}`);
    return { exit: 2 };
  }
}
