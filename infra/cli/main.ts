// The `phoenix` command: validate, graph, schemas, plan, import, doctor. Each subcommand lives in
// infra/cli/<name>.ts and exports `run(argv): Promise<number>` (the exit code). Modules are
// required lazily: `phoenix validate` does not load the Pulumi SDK, and a subcommand whose module
// is missing says so instead of failing the whole tool.
import { readFileSync } from "fs";
import { createRequire } from "module";
import * as path from "path";
import { repoRoot } from "../../features/registry";

interface Command {
  summary: string;
}

export const COMMANDS: Record<string, Command> = {
  validate: { summary: "check the three Phoenix JSON files of a folder (exit 1 on errors)" },
  graph: { summary: "draw the provisioning graph as Mermaid or JSON, optionally with stats" },
  plan: { summary: "run the Pulumi program offline and list every resource it declares" },
  import: { summary: "write a pulumi import file adopting existing containers and VMs (host setup adopts itself on create)" },
  schemas: { summary: "write the JSON Schema files of the three Phoenix files" },
  doctor: { summary: "read-only preflight of the stack's Proxmox host: privileges, storages, ids, space, ZFS, NVIDIA (exit 1 on a fail)" },
};

export const USAGE = `usage: phoenix <command> [options]

commands:
${Object.entries(COMMANDS)
  .map(([name, c]) => `  ${name.padEnd(9)} ${c.summary}`)
  .join("\n")}

Run \`phoenix help <command>\` (or \`phoenix <command> --help\`) for a command's options;
\`phoenix --version\` prints the version.
`;

/** `phoenix <version>` from the project's package.json. */
export function versionLine(): string {
  const pkg = JSON.parse(readFileSync(path.join(repoRoot(), "package.json"), "utf8")) as { version?: string };
  return `phoenix ${pkg.version ?? "unknown"}`;
}

interface CommandModule {
  run(argv: string[]): Promise<number>;
}

/** The command module, or a one-line message saying why it cannot be loaded. */
export function loadCommand(name: string): CommandModule | string {
  const file = path.join(__dirname, `${name}.js`);
  try {
    const mod = createRequire(__filename)(file) as Partial<CommandModule>;
    if (typeof mod.run !== "function") return `phoenix ${name}: ${file} does not export run(argv)`;
    return mod as CommandModule;
  } catch (err) {
    const e = err as NodeJS.ErrnoException;
    if (e.code === "MODULE_NOT_FOUND" && String(e.message).includes(file)) {
      return `phoenix ${name}: this command is not built (no ${path.relative(process.cwd(), file)}); run \`npm run build\``;
    }
    return `phoenix ${name}: cannot load the command: ${e.message.split("\n")[0]}`;
  }
}

export async function main(argv: string[]): Promise<number> {
  const [command, ...rest] = argv;
  if (command === "--version" || command === "-V" || command === "version") {
    process.stdout.write(`${versionLine()}\n`);
    return 0;
  }
  // `phoenix help <command>` is `phoenix <command> --help`.
  if (command === "help" && rest.length === 1 && !rest[0].startsWith("-")) return main([rest[0], "--help"]);
  if (command === undefined || command === "--help" || command === "-h" || command === "help") {
    if (command === "help" && rest.length > 1) {
      process.stderr.write(`phoenix help: expected one command name, got ${rest.length} (see phoenix --help)\n`);
      return 2;
    }
    (command === undefined ? process.stderr : process.stdout).write(USAGE);
    return command === undefined ? 2 : 0;
  }
  if (!Object.prototype.hasOwnProperty.call(COMMANDS, command)) {
    process.stderr.write(`phoenix: unknown command ${JSON.stringify(command)} (commands: ${Object.keys(COMMANDS).join(", ")}; see phoenix --help)\n`);
    return 2;
  }
  const mod = loadCommand(command);
  if (typeof mod === "string") {
    process.stderr.write(`${mod}\n`);
    return 2;
  }
  return mod.run(rest);
}
