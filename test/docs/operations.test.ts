// docs/operations.md stays true: its Mermaid graph is what `phoenix graph` draws for the dev stack
// (PHOENIX_UPDATE_DOCS=1 rewrites it), and the commands, files and policies it names exist.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../load";
import { policies } from "../../policy/rules";
import { planStack } from "../program/plan";
import { phoenixInProcess } from "../cli/in-process";

const docPath = path.join(repoRoot, "docs", "operations.md");
const BEGIN = /<!-- BEGIN phoenix graph --config-dir stacks\/dev[^>]*-->\n```mermaid\n/;
const END = "```\n<!-- END phoenix graph -->";
/** `phoenix ...args` in this process (the CLI's main, output captured; test/cli/in-process.ts). */
const phoenix = phoenixInProcess;

function graphBlock(doc: string): { start: number; end: number; text: string } {
  const begin = BEGIN.exec(doc);
  if (!begin) throw new Error("docs/operations.md: no BEGIN phoenix graph marker");
  const start = begin.index + begin[0].length;
  const end = doc.indexOf(END, start);
  if (end < 0) throw new Error("docs/operations.md: no END phoenix graph marker");
  return { start, end, text: doc.slice(start, end) };
}

describe("docs/operations.md", () => {
  it("holds the graph `phoenix graph --config-dir stacks/dev` draws", async () => {
    const r = await phoenix("graph", "--config-dir", "stacks/dev");
    expect(r.code, r.stderr).toBe(0);
    const drawn = r.stdout.trimEnd() + "\n";
    expect(drawn).toMatch(/^graph TD\n/);
    let doc = fs.readFileSync(docPath, "utf8");
    if (process.env.PHOENIX_UPDATE_DOCS === "1") {
      const { start, end } = graphBlock(doc);
      doc = doc.slice(0, start) + drawn + doc.slice(end);
      fs.writeFileSync(docPath, doc);
    }
    expect(graphBlock(doc).text, "stale graph: PHOENIX_UPDATE_DOCS=1 npx vitest run test/docs").toBe(drawn);
  });

  it("would notice a change to the dev files (the comparison is live)", async () => {
    // The same files with container 952 renamed draw a different graph than the one checked in.
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-docs-"));
    for (const f of fs.readdirSync(path.join(repoRoot, "stacks", "dev"))) {
      fs.copyFileSync(path.join(repoRoot, "stacks", "dev", f), path.join(dir, f));
    }
    const lxcFile = path.join(dir, "phoenix_lxc_configs.json");
    const lxc = JSON.parse(fs.readFileSync(lxcFile, "utf8"));
    lxc.lxc_configs["952"].name = "qdrant-renamed";
    fs.writeFileSync(lxcFile, JSON.stringify(lxc));
    const r = await phoenix("graph", "--config-dir", dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trimEnd() + "\n").not.toBe(graphBlock(fs.readFileSync(docPath, "utf8")).text);
  });

  const doc = fs.readFileSync(docPath, "utf8");

  it("names only phoenix subcommands and npm scripts that exist", async () => {
    const subcommands = new Set([...doc.matchAll(/npx phoenix ([a-z-]+)/g)].map((m) => m[1]));
    expect([...subcommands].sort()).toEqual(["doctor", "graph", "import", "plan", "validate"]);
    for (const cmd of subcommands) expect((await phoenix(cmd, "--help")).code, `phoenix ${cmd}`).toBe(0);
    const scripts = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")).scripts;
    for (const m of doc.matchAll(/npm run ([\w:-]+)/g)) expect(scripts[m[1]], `npm run ${m[1]}`).toBeDefined();
  });

  it("names only files that exist", () => {
    const files = new Set([...doc.matchAll(/`((?:\.github|policy|infra|providers|features|stacks)\/[\w./-]+\.(?:yml|sh|ts|json|yaml))`/g)].map((m) => m[1]));
    expect(files.size).toBeGreaterThanOrEqual(4);
    for (const f of files) {
      if (f.includes("<")) continue;
      expect(fs.existsSync(path.join(repoRoot, f)), f).toBe(true);
    }
  });

  it("lists every policy of the pack, and no other", () => {
    const table = doc.slice(doc.indexOf("## The policy pack"), doc.indexOf("## Preview and update"));
    const listed = new Set([...table.matchAll(/^\| `([a-z0-9-]+)`(?:, `([a-z0-9-]+)`)? \|/gm)].flatMap((m) => [m[1], m[2]].filter(Boolean)));
    expect([...listed].sort()).toEqual(policies.map((p) => p.name).sort());
  });

  it("names the resources the program declares for the dev stack, and only those", async () => {
    const arch = doc.slice(doc.indexOf("## Architecture"), doc.indexOf("The provisioning graph"));
    // `ct-<ctid>-feature-<feature>` → /^ct-\d+-feature-[^\s]+$/ ...
    const patterns = [...new Set([...arch.matchAll(/\b(?:host|ct|vm)(?:-[<>a-z0-9]+)*\b>?/g)].map((m) => m[0]))]
      .filter((p) => p.includes("-"))
      .map((p) => {
        // IDs are numbers (so `ct-<ctid>` does not also match `ct-950-app`); names may hold dashes.
        const source = p
          .replace(/<(ctid|vmid|n)>/g, "\u0001")
          .replace(/<[a-z]+>/g, "\u0000")
          .replace(/[.*+?^${}()|[\]\\]/g, "\\$&")
          .replaceAll("\u0001", "\\d+")
          .replaceAll("\u0000", "[^\\s]+");
        return { p, re: new RegExp(`^${source}$`) };
      });
    expect(patterns.length).toBeGreaterThan(15);
    const plan = await planStack({ stack: "dev" });
    expect(plan.errors).toEqual([]);
    const names = [...new Set(plan.resources.map((r) => r.name))].filter((n) => n !== "host");
    for (const n of names) expect(patterns.some(({ re }) => re.test(n)), `${n} is described`).toBe(true);
    for (const { p, re } of patterns) expect(names.some((n) => re.test(n)), `${p} is declared`).toBe(true);
    // The URNs quoted for targeted updates are the program's.
    const urns = new Set(plan.resources.map((r) => r.urn));
    const quoted = [...doc.matchAll(/urn:pulumi:dev::phoenix::[^\s']+/g)].map((m) => m[0]);
    expect(quoted.length).toBeGreaterThanOrEqual(3);
    for (const u of quoted) expect(urns.has(u), u).toBe(true);
  });

  it("describes the import file phoenix import writes", async () => {
    const r = await phoenix("import", "--stack", "dev");
    expect(r.code, r.stderr).toBe(0);
    const file = JSON.parse(r.stdout);
    expect(file.resources).toContainEqual(expect.objectContaining({ name: "ct-950", id: "pve/950" }));
    expect(doc).toContain("`pve/950`");
    expect(doc).toContain("pulumi import --stack <stack> --file import.json");
  });
});
