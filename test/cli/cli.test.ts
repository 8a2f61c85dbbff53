// The `phoenix` command as users run it: `node bin/phoenix.js ...` (compiled code in dist/).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { phoenixInProcess } from "./in-process";
import { CASES_DIR } from "../config/cases";
import { ERROR_LINE, HOST, LXC, VM, cleanTempDirs, mutatedDir, readFiles, writeFiles } from "../config/helpers";

afterAll(cleanTempDirs);

/** `node bin/phoenix.js ...args`, as a user runs it. */
function phoenixBin(...args: string[]) {
  const r = spawnSync(process.execPath, [path.join(repoRoot, "bin", "phoenix.js"), ...args], { cwd: repoRoot, encoding: "utf8" });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** The same command in this process (the CLI's main, output captured): no Node start per call. */
const phoenix = phoenixInProcess;

const lines = (text: string) => text.split("\n").filter((l) => l !== "");

describe("phoenix validate", () => {
  it.each(["stacks/dev", "stacks/prod"])("%s is valid", async (dir) => {
    const r = await phoenix("validate", "--config-dir", dir);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^${dir}: valid: \\d+ containers, \\d+ VMs`));
    for (const l of lines(r.stderr)) expect(l).toMatch(/^warning: /);
  });

  it("defaults to stacks/dev (run as a user runs it: node bin/phoenix.js)", () => {
    const r = phoenixBin("validate");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^stacks\/dev: valid: /);
  });

  it("the original-format fixture passes with warnings only, each line `warning:`", async () => {
    const r = await phoenix("validate", "--config-dir", "test/fixtures/original");
    expect(r.code).toBe(0);
    const w = lines(r.stderr);
    expect(w.length).toBeGreaterThan(0);
    for (const l of w) expect(l).toMatch(/^warning: phoenix_\w+\.json: \$\S*: /);
  });

  it.each([
    ["malformed JSON", () => writeFiles(readFiles(), { [VM]: '{"vms": [' }), `${VM}: $: invalid JSON`],
    ["a dangling parent", () => mutatedDir((f) => (f.lxc.lxc_configs["955"].clone_from_ctid = "999")), `${LXC}: $.lxc_configs["955"].clone_from_ctid: parent 999 does not exist`],
    ["a shell command in a name", () => mutatedDir((f) => (f.lxc.lxc_configs["952"].name = "q$(reboot)")), `${LXC}: $.lxc_configs["952"].name: must be a hostname`],
    ["a duplicate IP", () => mutatedDir((f) => (f.vm.vms[1].network_config.ip = "10.0.0.152/24")), `${VM}: $.vms[1].network_config.ip: IP 10.0.0.152 is already used by container 952`],
    ["an unknown feature", () => mutatedDir((f) => (f.lxc.lxc_configs["950"].features = ["sglang"])), `${LXC}: $.lxc_configs["950"].features[0]: unknown feature "sglang"; known: `],
    ["a cycle", () => mutatedDir((f) => (f.lxc.lxc_configs["950"].dependencies = ["952"])), `${LXC}: $.lxc_configs["950"].dependencies: cycle: 950 -> 952 -> 950`],
    ["a bad pool disk", () => mutatedDir((f) => (f.host.zfs.pools[0].disks[0] = "/dev/sda`id`")), `${HOST}: $.zfs.pools[0].disks[0]: `],
  ])("exits 1 on %s, naming file and path, without a stack trace", async (_name, make, expected) => {
    const r = await phoenix("validate", "--config-dir", make());
    expect(r.code).toBe(1);
    const errors = lines(r.stderr).filter((l) => !l.startsWith("warning: ") && !/: \d+ error\(s\)$/.test(l));
    expect(errors.some((l) => l.startsWith(expected)), r.stderr).toBe(true);
    for (const l of errors) expect(l).toMatch(ERROR_LINE);
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it("without --stack, applies the settings of the stack named by the folder: the firewall lock-out guard as plan does", async () => {
    const stacks = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-stacks-"));
    try {
      const dir = path.join(stacks, "qa");
      fs.mkdirSync(dir);
      // The dev files with the SSH rule gone: the host firewall (input DROP) would lock Phoenix out.
      const files = readFiles();
      const rules = files.host.shared_volumes.firewall.global_firewall_rules as { port?: string }[];
      files.host.shared_volumes.firewall.global_firewall_rules = rules.filter((r) => r.port !== "22");
      for (const [name, value] of [[HOST, files.host], [LXC, files.lxc], [VM, files.vm]] as const) fs.writeFileSync(path.join(dir, name), JSON.stringify(value));
      // Managed from outside the host's local network (10.0.0.0/24), which Proxmox's own rules would keep open.
      fs.writeFileSync(path.join(stacks, "Pulumi.qa.yaml"), fs.readFileSync(path.join(repoRoot, "stacks/Pulumi.dev.yaml"), "utf8").replace("phoenix:managementNetwork: 10.0.0.0/24", "phoenix:managementNetwork: 192.168.50.0/24"));
      const r = await phoenix("validate", "--config-dir", dir, "--quiet");
      expect(r.code, r.stderr).toBe(1);
      const errors = lines(r.stderr).filter((l) => !/: \d+ error\(s\)$/.test(l));
      expect(errors.length, r.stderr).toBeGreaterThan(0);
      expect(errors.join("\n")).toMatch(/\$\.shared_volumes\.firewall.*22/);
      for (const l of errors) expect(l).toMatch(ERROR_LINE);
      // The same folder without a settings file: valid, and one warning says the guard could not run.
      fs.rmSync(path.join(stacks, "Pulumi.qa.yaml"));
      const w = await phoenix("validate", "--config-dir", dir);
      expect(w.code, w.stderr).toBe(0);
      const guard = lines(w.stderr).filter((l) => /lock-out guard/.test(l));
      expect(guard).toHaveLength(1);
      expect(guard[0]).toMatch(/^warning: phoenix_hypervisor_config\.json: \$\.shared_volumes\.firewall: the host firewall drops input .*cannot know the SSH host/);
    } finally {
      fs.rmSync(stacks, { recursive: true, force: true });
    }
  });

  it("warns when a stack's settings (copied from another stack) keep that stack's phoenix:configDir", async () => {
    const stacks = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-stacks-"));
    try {
      const dir = path.join(stacks, "qa");
      fs.cpSync(path.join(repoRoot, "stacks/dev"), dir, { recursive: true });
      const copied = fs.readFileSync(path.join(repoRoot, "stacks/Pulumi.dev.yaml"), "utf8").replace("config:\n", "config:\n  phoenix:configDir: stacks/dev\n");
      fs.writeFileSync(path.join(stacks, "Pulumi.qa.yaml"), copied);
      const r = await phoenix("validate", "--config-dir", dir);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("phoenix:configDir: stacks/dev is stack dev's folder, not stack qa's (stacks/qa); remove the key to use stacks/qa");
      fs.writeFileSync(path.join(stacks, "Pulumi.qa.yaml"), copied.replace("  phoenix:configDir: stacks/dev\n", ""));
      expect((await phoenix("validate", "--config-dir", dir)).stderr).not.toContain("phoenix:configDir");
    } finally {
      fs.rmSync(stacks, { recursive: true, force: true });
    }
  });

  it("a missing folder exits 1", async () => {
    const r = await phoenix("validate", "--config-dir", "/nonexistent");
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("/nonexistent: $: not a directory");
  });

  it("usage errors exit 2; --help exits 0", async () => {
    expect((await phoenix("validate", "--nope")).code).toBe(2);
    const h = await phoenix("validate", "--help");
    expect(h.code).toBe(0);
    expect(h.stdout).toContain("usage: phoenix validate");
  });
});

describe("phoenix graph", () => {
  it("draws the dev hierarchy as Mermaid", async () => {
    const r = await phoenix("graph", "--config-dir", "stacks/dev");
    expect(r.code).toBe(0);
    for (const e of ["T900 -- Cloned to --> T901", "T900 -- Cloned to --> T902", "T901 -- Cloned to --> C950", "T901 -- Cloned to --> C955", "T902 -- Cloned to --> C952", "T8000 -- Cloned to --> VM8001"]) {
      expect(r.stdout).toContain(`    ${e}\n`);
    }
  });

  it("--format json --stats", async () => {
    const r = await phoenix("graph", "--format", "json", "--stats");
    expect(r.code).toBe(0);
    const doc = JSON.parse(r.stdout);
    // Every resource the program declares: components and the rest.
    expect(doc.stats.resources).toBe(doc.components.length + doc.nodes.length);
    expect(doc.stats.resources).toBe(66);
    expect(doc.stats.longestChain.at(-1)).toBe("ct-952-health");
  });

  it("--stats with Mermaid adds comment lines", async () => {
    const r = await phoenix("graph", "--stats");
    expect(r.stdout).toMatch(/^%% resources: \d+ /m);
    expect(r.stdout).toMatch(/^%% longest chain \(24\): host-initial-setup -> .* -> ct-952-health$/m);
  });

  it("--stack applies the stack's lock-out guard as plan does (the fw case's host firewall would shut out dev's SSH)", async () => {
    const r = await phoenix("graph", "--stack", "dev", "--config-dir", path.join(CASES_DIR, "fw"));
    expect(r.code).toBe(1);
    // Warnings (the fw case's guest firewall, which the Bash tool never turned on) aside.
    const errors = lines(r.stderr).filter((l) => !l.startsWith("warning: "));
    expect(errors.length).toBeGreaterThan(0);
    for (const l of errors) expect(l).toMatch(/^phoenix_hypervisor_config\.json: \$\.shared_volumes\.firewall: the host firewall drops input/);
    expect((await phoenix("graph", "--stack", "dev")).code).toBe(0);
  });

  it("without --stack, finds the stack by the folder's name as validate does: stacks/cluster draws its three nodes", async () => {
    const r = await phoenix("graph", "--config-dir", "stacks/cluster");
    expect(r.code, r.stderr).toBe(0);
    for (const n of ["pve1", "pve2", "pve3"]) expect(r.stdout).toContain(`subgraph node_${n} ["Node ${n}"]`);
  });

  it("rejects an unknown format and invalid files", async () => {
    expect((await phoenix("graph", "--format", "dot")).code).toBe(2);
    const bad = mutatedDir((f) => (f.lxc.lxc_configs["950"].clone_from_ctid = "999"));
    expect((await phoenix("graph", "--config-dir", bad)).code).toBe(1);
  });
});

describe("phoenix plan", () => {
  it("--config overrides a stack setting: the fw case plans once its lock-out is acknowledged", async () => {
    const fw = path.join(CASES_DIR, "fw");
    const refused = await phoenix("plan", "--stack", "dev", "--config-dir", fw);
    expect(refused.code).toBe(1);
    expect(refused.stderr).toContain("the host firewall would lock Phoenix out");
    const r = await phoenix("plan", "--stack", "dev", "--config-dir", fw, "--config", "phoenix:firewallLockoutAcknowledged=true");
    expect(r.code, r.stderr).toBe(0);
    for (const name of ["host-firewall-rules", "host-firewall", "ct-900-firewall"]) expect(r.stdout).toContain(`  ${name}\n`);
  });
});

describe("phoenix schemas", () => {
  it("writes the committed files", async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-schemas-"));
    try {
      const r = await phoenix("schemas", "--out", out);
      expect(r.code).toBe(0);
      const names = fs.readdirSync(out).sort();
      expect(names).toHaveLength(3);
      for (const n of names) expect(fs.readFileSync(path.join(out, n), "utf8")).toBe(fs.readFileSync(path.join(repoRoot, "schemas", n), "utf8"));
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });

  it("--check passes on the committed files and fails on a stale one", async () => {
    expect((await phoenix("schemas", "--check")).code).toBe(0);
    const out = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-schemas-"));
    try {
      await phoenix("schemas", "--out", out);
      fs.writeFileSync(path.join(out, "phoenix_vm_configs.schema.json"), "{}\n");
      const r = await phoenix("schemas", "--out", out, "--check");
      expect(r.code).toBe(1);
      expect(r.stderr).toContain("phoenix_vm_configs.schema.json: differs from the zod schemas");
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});

describe("phoenix", () => {
  it("lists the commands with --help and exits 2 without one", () => {
    const h = phoenixBin("--help");
    expect(h.code).toBe(0);
    for (const c of ["validate", "graph", "plan", "import", "schemas", "doctor"]) expect(h.stdout).toContain(`  ${c} `);
    expect(phoenixBin().code).toBe(2);
  });

  it("a command whose module is missing gives a clear message instead of a crash", () => {
    const { loadCommand } = loadDist<typeof import("../../infra/cli/main")>("infra/cli/main");
    expect(loadCommand("no-such-command")).toMatch(/^phoenix no-such-command: this command is not built \(no .*no-such-command\.js\); run `npm run build`$/);
    expect(typeof (loadCommand("validate") as { run?: unknown }).run).toBe("function");
  });

  it("an unknown command exits 2", () => {
    const r = phoenixBin("deploy");
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('unknown command "deploy"');
  });
});
