// Every `phoenix` command parses its arguments the same way (infra/cli/args.ts): a usage error
// exits 2 with exactly one line on stderr naming the command, and `--help` lists every option the
// command accepts.
import { describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { loadDist, repoRoot } from "../load";
import { phoenixInProcess as phoenix } from "./in-process";

const COMMANDS = ["validate", "graph", "plan", "import", "schemas", "doctor"] as const;

interface CommandModule {
  USAGE: string;
  OPTIONS: Record<string, { type: string; short?: string }>;
}

describe("phoenix usage errors and help", () => {
  it("the command list is the one main dispatches", async () => {
    const { COMMANDS: listed } = loadDist<typeof import("../../infra/cli/main")>("infra/cli/main");
    expect(Object.keys(listed).sort()).toEqual([...COMMANDS].sort());
  });

  it.each(COMMANDS)("phoenix %s --help lists every option it parses", async (command) => {
    const mod = loadDist<CommandModule>(`infra/cli/${command}`);
    const options = Object.entries(mod.OPTIONS);
    expect(options.length).toBeGreaterThan(1);
    const r = await phoenix(command, "--help");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toBe(mod.USAGE);
    const listing = r.stdout.slice(r.stdout.indexOf("\noptions:\n"));
    expect(listing.length, `${command}: no options section`).toBeGreaterThan(10);
    for (const [name, o] of options) {
      expect(listing, `${command} --help lacks --${name}`).toMatch(new RegExp(`^  ${o.short ? `-${o.short}, ` : ""}--${name}\\b`, "m"));
    }
  });

  const bad: [string, string[], RegExp][] = [
    ...COMMANDS.map((c): [string, string[], RegExp] => [c, ["--no-such-option"], /Unknown option '--no-such-option'/]),
    ["validate", ["--config-dir"], /--config-dir/],
    ["validate", ["--stack", "../etc"], /--stack: invalid stack name/],
    ["graph", ["--format", "dot"], /--format must be mermaid or json/],
    ["graph", ["stacks/dev"], /positional/i],
    ["plan", ["--stack", "a/b"], /--stack: invalid stack name/],
    ["plan", ["--stack", "nosuchstack"], /--stack nosuchstack: no stack settings file/],
    ["import", [], /--stack NAME is required/],
    ["import", ["--stack", "dev", "--only", "9x"], /--only takes guest IDs/],
    ["import", ["--stack", "nosuchstack"], /no stack settings file/],
    ["doctor", ["--stack", "nosuchstack"], /no stack settings file/],
    ["doctor", ["--api-token-id", "nobody"], /--api-token-id: expected USER@REALM!NAME/],
    ["doctor", ["--config", "sshHost"], /--config: expected namespace:key=value/],
    ["plan", ["--config", "nope"], /--config: expected namespace:key=value/],
    ["schemas", ["--check", "extra"], /positional/i],
  ];
  it.each(bad)("phoenix %s %j exits 2 with one line", async (command, args, message) => {
    const r = await phoenix(command, ...args);
    expect(r.code, r.stderr).toBe(2);
    expect(r.stdout).toBe("");
    const lines = r.stderr.split("\n").filter((l) => l !== "");
    expect(lines, r.stderr).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^phoenix ${command}: `));
    expect(lines[0]).toMatch(message);
    expect(lines[0]).toContain(`(see phoenix ${command} --help)`);
  });

  it("phoenix --version prints the package's version; phoenix help <command> is <command> --help", async () => {
    const { version } = JSON.parse(readFileSync(path.join(repoRoot, "package.json"), "utf8"));
    for (const flag of ["--version", "-V", "version"]) {
      const r = await phoenix(flag);
      expect(r).toEqual({ code: 0, stdout: `phoenix ${version}\n`, stderr: "" });
    }
    for (const command of COMMANDS) {
      const mod = loadDist<CommandModule>(`infra/cli/${command}`);
      expect(await phoenix("help", command)).toEqual({ code: 0, stdout: mod.USAGE, stderr: "" });
    }
    const unknown = await phoenix("help", "deploy");
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/^phoenix: unknown command "deploy"/);
    expect((await phoenix("help", "plan", "graph")).code).toBe(2);
    expect((await phoenix("help")).stdout).toContain("phoenix help <command>");
  });

  it("an unknown command is one line naming the commands, exit 2", async () => {
    const r = await phoenix("deploy");
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('phoenix: unknown command "deploy" (commands: validate, graph, plan, import, schemas, doctor; see phoenix --help)\n');
  });

  it("phoenix import --config-dir plans another folder with the stack's settings", async () => {
    const r = await phoenix("import", "--stack", "dev", "--config-dir", "/nonexistent-phoenix-dir");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent-phoenix-dir");
  });
});
