// `phoenix plan --diff`: the comparison of two plans (create / update / replace and why / delete,
// inputs old → new, scripts as line diffs, ignoreChanges, renames through aliases), and the
// command as a reviewer runs it in a git repository of the project (a temporary copy here).
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";

const pd = loadDist<typeof import("../../infra/cli/plan-diff")>("infra/cli/plan-diff");
const rules = loadDist<typeof import("../../infra/deployment/replace-rules")>("infra/deployment/replace-rules");
type Shown = import("../../infra/cli/plan-diff").ShownResource;

const CT = "proxmoxve:index/containerLegacy:ContainerLegacy";
const VM = "proxmoxve:index/vmLegacy:VmLegacy";
const STEP = "pulumi-nodejs:dynamic/phoenix:lxc-step";

const res = (type: string, name: string, inputs: Record<string, unknown>, extra: Partial<Shown> = {}): Shown => ({
  type,
  name,
  urn: `urn:pulumi:dev::phoenix::${type}::${name}`,
  inputs,
  ...extra,
});
const container = (over: Record<string, unknown> = {}) => ({
  vmId: 950,
  nodeName: "pve",
  memory: { dedicated: 4096 },
  disk: { datastoreId: "local-zfs", size: 32 },
  operatingSystem: { templateFileId: "local:vztmpl/ubuntu-24.04.tar.zst", type: "ubuntu" },
  ...over,
});
const one = (before: Shown, after: Shown) => {
  const d = pd.diffPlans([before], [after]);
  return d.changes[0];
};

describe("plan diff: per resource", () => {
  it("nothing changed: no entries, every resource unchanged", () => {
    const d = pd.diffPlans([res(CT, "ct-950", container())], [res(CT, "ct-950", container())]);
    expect(d).toEqual({ changes: [], unchanged: 1 });
  });

  it("memory is an update in place with old → new", () => {
    const c = one(res(CT, "ct-950", container()), res(CT, "ct-950", container({ memory: { dedicated: 8192 } })));
    expect(c.kind).toBe("update");
    expect(c.changes).toEqual([{ path: "memory.dedicated", old: 4096, new: 8192 }]);
  });

  it("the OS template replaces the container and says which provider rule does it", () => {
    const c = one(res(CT, "ct-950", container()), res(CT, "ct-950", container({ operatingSystem: { templateFileId: "local:vztmpl/debian-12.tar.zst", type: "debian" } })));
    expect(c.kind).toBe("replace");
    expect(c.replaceReasons).toEqual(["operatingSystem: the provider's ForceNew (proxmoxtf/resource/container/container.go)"]);
  });

  it("a root disk that grows is an update; one that shrinks replaces (the provider's CustomizeDiff)", () => {
    expect(one(res(CT, "c", container()), res(CT, "c", container({ disk: { datastoreId: "local-zfs", size: 48 } }))).kind).toBe("update");
    const shrink = one(res(CT, "c", container()), res(CT, "c", container({ disk: { datastoreId: "local-zfs", size: 16 } })));
    expect(shrink.kind).toBe("replace");
    expect(shrink.replaceReasons[0]).toMatch(/^disk\.size: .*cannot shrink/);
  });

  it("a VM's node: replaced unless migrate is on; a disk's image (disks[].fileId) replaces", () => {
    const vm = (over: Record<string, unknown>) => res(VM, "vm-8000", { vmId: 8000, nodeName: "pve1", disks: [{ interface: "scsi0", fileId: "local:import/a.qcow2" }], ...over });
    expect(one(vm({}), vm({ nodeName: "pve2" })).kind).toBe("replace");
    expect(one(vm({ migrate: true }), vm({ nodeName: "pve2", migrate: true })).kind).toBe("update");
    const image = one(vm({}), vm({ disks: [{ interface: "scsi0", fileId: "local:import/b.qcow2" }] }));
    expect(image.kind).toBe("replace");
    expect(image.replaceReasons[0]).toMatch(/^disks\[\]\.fileId: /);
  });

  it("a Phoenix step: its replaceOn parameters and another host replace, other parameters update", () => {
    const step = (params: Record<string, string>, host = "pve.example") => res(STEP, "ct-950-app", { connection: { host, port: 22 }, params });
    expect(one(step({ ctid: "950", step: "app", env_port: "80" }), step({ ctid: "950", step: "app", env_port: "81" })).kind).toBe("update");
    const ctid = one(step({ ctid: "950", step: "app" }), step({ ctid: "951", step: "app" }));
    expect(ctid.kind).toBe("replace");
    expect(ctid.replaceReasons).toEqual(["params.ctid: Phoenix's provider (replaceOn)"]);
    expect(one(step({ ctid: "950", step: "app" }), step({ ctid: "950", step: "app" }, "pve2.example")).replaceReasons).toEqual(["connection.host: Phoenix's provider (replaceOn): another host"]);
  });

  it("every dynamic kind's replace rules are its provider's replaceOn", () => {
    const kinds = loadDist<typeof import("../../providers/index")>("providers/index").providerKinds;
    expect(kinds.length).toBeGreaterThan(10);
    for (const k of kinds) {
      expect(rules.replaceRules(`pulumi-nodejs:dynamic/phoenix:${k.kind}`).map((r) => r.path)).toEqual(["connection.host", ...(k.replaceOn ?? []).map((p) => `params.${p}`)]);
    }
  });

  it("a multi-line script is a line diff, not two walls of text; its hash is left out", () => {
    const before = "#!/bin/bash\nset -e\necho one\necho two\necho three\n";
    const after = "#!/bin/bash\nset -e\necho one\necho 2\necho three\n";
    const c = one(res(STEP, "s", { script: before, scriptHash: "aa" }), res(STEP, "s", { script: after, scriptHash: "bb" }));
    expect(c.changes).toEqual([{ path: "script", lines: ["@@ -1,5 +1,5 @@", " #!/bin/bash", " set -e", " echo one", "-echo two", "+echo 2", " echo three"] }]);
    const text = pd.formatPlanDiff("dev", "main", { changes: [c], unchanged: 0 });
    expect(text).toContain("        -echo two\n        +echo 2");
    expect(text).not.toContain("scriptHash");
  });

  it("secrets stay masked: an unchanged secret is no change, a new one shows only [secret]", () => {
    const a = res(STEP, "s", { params: { user: "ops" }, secretParams: "[secret]" });
    expect(pd.diffPlans([a], [a]).changes).toEqual([]);
    const c = one(res(STEP, "s", { params: { user: "ops" } }), res(STEP, "s", { params: { user: "ops" }, secretParams: "[secret]" }));
    expect(pd.formatPlanDiff("dev", "main", { changes: [c], unchanged: 0 })).toContain('secretParams: (none) → "[secret]"');
  });

  it("changes under ignoreChanges are no update: shown as ignored", () => {
    const before = res(CT, "c", container());
    const after = res(CT, "c", container({ operatingSystem: { templateFileId: "local:vztmpl/other.tar.zst", type: "ubuntu" } }), { ignoreChanges: ["operatingSystem"] });
    const only = pd.diffPlans([before], [after]);
    expect(only).toEqual({ changes: [], unchanged: 1, ignoredOnly: [{ name: "c", paths: ["operatingSystem.templateFileId"] }] });
    expect(pd.formatPlanDiff("dev", "main", only)).toContain("unchanged c: changes of operatingSystem.templateFileId are ignored after creation (ignoreChanges)\nNo changes.");
    const both = one(before, { ...after, inputs: { ...after.inputs, memory: { dedicated: 1024 } } });
    expect(both.kind).toBe("update");
    expect(both.changes).toEqual([{ path: "memory.dedicated", old: 4096, new: 1024 }]);
    expect(both.ignored).toEqual(["operatingSystem.templateFileId"]);
  });

  it("create, delete, and a rename through aliases (an update, not a delete and a create)", () => {
    const base = [res(CT, "ct-950", container()), res(CT, "ct-960", container({ vmId: 960 })), res(STEP, "host-initial-setup", { params: {} })];
    const head = [
      res(CT, "ct-950", container()),
      res(CT, "ct-970", container({ vmId: 970 })),
      res(STEP, "host-pve-initial-setup", { params: {} }, { aliases: [`host-initial-setup (parent urn:pulumi:dev::phoenix::phoenix:hypervisor:Hypervisor::host)`] }),
    ];
    const d = pd.diffPlans(base, head);
    expect(d.changes.map((c) => [c.kind, c.name, c.renamedFrom])).toEqual([
      ["create", "ct-970", undefined],
      ["update", "host-pve-initial-setup", "host-initial-setup"],
      ["delete", "ct-960", undefined],
    ]);
    expect(d.unchanged).toBe(1);
    expect(pd.formatPlanDiff("dev", "main", d)).toContain("~  update  host-pve-initial-setup  lxc-step (renamed from host-initial-setup)\n");
  });

  it("the text plan names former names (aliases) only with --verbose", () => {
    const { formatPlanText } = loadDist<typeof import("../../infra/cli/plan")>("infra/cli/plan");
    const r = { type: STEP, name: "host-initial-setup", parent: "host", dependsOn: [], custom: true, protect: false, ignoreChanges: [], options: { protect: false, ignoreChanges: [], deleteBeforeReplace: false, retainOnDelete: false, replaceOnChanges: [], customTimeouts: {} }, aliases: ["host-pve-initial-setup (parent urn:x)"], urn: "u", inputs: {}, secretInputs: [], shownInputs: {} };
    const plan = { stack: "dev", resources: [r], errors: [] };
    expect(formatPlanText(plan)).toBe(`Plan for stack dev: 1 resources\n  ${STEP}  host-initial-setup\n      parent: host`);
    expect(formatPlanText(plan, true)).toContain("\n      aliases: host-pve-initial-setup (parent urn:x)");
  });

  it("`--diff` without a value takes the default base; with one, that ref", () => {
    expect(pd.normalizeDiffArg(["--diff"])).toEqual(["--diff="]);
    expect(pd.normalizeDiffArg(["--diff", "--json"])).toEqual(["--diff=", "--json"]);
    expect(pd.normalizeDiffArg(["--diff", "origin/main", "--json"])).toEqual(["--diff", "origin/main", "--json"]);
  });
});

// ------------------------------------------------------------------------------------------------
// The command in a git repository: a copy of the project (its files as they are now, this build's
// dist/, node_modules linked), committed, then changed the way a pull request changes it.

const git = (cwd: string, ...args: string[]) => {
  const r = spawnSync("git", ["-c", "user.email=t@example.invalid", "-c", "user.name=t", ...args], { cwd, encoding: "utf8" });
  if (r.status !== 0) throw new Error(`git ${args.join(" ")}: ${r.stderr}`);
  return r.stdout.trim();
};

describe("phoenix plan --diff in a repository", () => {
  let repo: string;
  const phoenix = (args: string[], env: Record<string, string> = {}) => {
    const r = spawnSync(process.execPath, [path.join(repo, "bin", "phoenix.js"), "plan", ...args], { cwd: repo, encoding: "utf8", env: { ...process.env, GITHUB_BASE_REF: "", ...env } });
    return { code: r.status, stdout: r.stdout, stderr: r.stderr };
  };
  const edit = (file: string, from: string, to: string) => {
    const p = path.join(repo, file);
    const text = fs.readFileSync(p, "utf8");
    expect(text).toContain(from);
    fs.writeFileSync(p, text.replace(from, to));
  };

  beforeAll(() => {
    repo = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-diff-repo-"));
    const files = spawnSync("git", ["ls-files", "-z", "--cached", "--others", "--exclude-standard"], { cwd: repoRoot, encoding: "utf8" }).stdout.split("\0").filter(Boolean);
    for (const f of files) {
      if (!fs.existsSync(path.join(repoRoot, f))) continue;
      fs.mkdirSync(path.dirname(path.join(repo, f)), { recursive: true });
      fs.copyFileSync(path.join(repoRoot, f), path.join(repo, f));
    }
    fs.cpSync(path.join(repoRoot, "dist"), path.join(repo, "dist"), { recursive: true });
    fs.symlinkSync(path.join(repoRoot, "node_modules"), path.join(repo, "node_modules"), "dir");
    fs.writeFileSync(path.join(repo, ".gitignore"), "node_modules\ndist\n");
    git(repo, "init", "-q", "-b", "main");
    git(repo, "add", "-A");
    git(repo, "commit", "-q", "-m", "base");
  });
  afterAll(() => fs.rmSync(repo, { recursive: true, force: true }));

  it("no change: `No changes.`, exit 0", () => {
    const r = phoenix(["--diff", "HEAD"]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^Plan diff for stack dev: HEAD \([0-9a-f]{12}\) → working tree\nNo changes\.\n0 to create, 0 to update, 0 to replace, 0 to delete, \d+ unchanged\n$/);
  });

  it("one container's memory and a feature script: the changed inputs and the script's lines, exit 3", () => {
    edit("stacks/dev/phoenix_lxc_configs.json", '"memory_mb": 4096,', '"memory_mb": 8192,');
    edit("features/lxc/ollama.sh", "apt_install ca-certificates curl\n", 'apt_install ca-certificates curl\necho "ollama: installing"\n');
    try {
      const r = phoenix(["--diff", "HEAD"]);
      expect(r.code, r.stderr).toBe(pd.CHANGES_PENDING_EXIT);
      expect(r.stdout).toContain("~  update  ct-901  ContainerLegacy\n      memory.dedicated: 4096 → 8192\n");
      expect(r.stdout).toMatch(/~ {2}update {2}ct-955-feature-ollama {2}lxc-step\n {6}params\.script:\n {8}@@ [^\n]+\n(?: {9}[^\n]*\n)+ {8}\+echo "ollama: installing"\n/);
      expect(r.stdout).toMatch(/\n0 to create, 2 to update, 0 to replace, 0 to delete, \d+ unchanged\n$/);
    } finally {
      git(repo, "checkout", "-q", "--", ".");
    }
  });

  it("a change only to a secret input shows (both sides digest secrets under one key: never the value)", () => {
    // The VM's SSH key is in its user data, a Pulumi secret: masked alike, a change would vanish.
    edit("stacks/dev/phoenix_vm_configs.json", "phoenix_user@dev\"\n            }", "phoenix_user@laptop\"\n            }");
    try {
      const r = phoenix(["--diff", "HEAD"]);
      expect(r.code, r.stderr).toBe(pd.CHANGES_PENDING_EXIT);
      const change = /[~+-]+ +\w+ +vm-8001-user-data +FileLegacy\n {6}sourceRaw: "\[secret ([0-9a-f]{8})\]" → "\[secret ([0-9a-f]{8})\]"\n/.exec(r.stdout);
      expect(change, r.stdout).not.toBeNull();
      expect(change![1]).not.toBe(change![2]);
      expect(r.stdout).not.toContain("laptop");
    } finally {
      git(repo, "checkout", "-q", "--", ".");
    }
    // Unchanged again: equal digests, nothing shows.
    expect(phoenix(["--diff", "HEAD"]).code).toBe(0);
  });

  it("in CI (GITHUB_BASE_REF) `--diff` compares with the merge base of the target branch", () => {
    git(repo, "checkout", "-q", "-b", "feature");
    edit("stacks/dev/phoenix_lxc_configs.json", '"storage_size_gb": 32,', '"storage_size_gb": 24,');
    git(repo, "commit", "-q", "-am", "shrink 901");
    try {
      const r = phoenix(["--diff", "--json"], { GITHUB_BASE_REF: "main" });
      expect(r.code, r.stderr).toBe(pd.CHANGES_PENDING_EXIT);
      const doc = JSON.parse(r.stdout);
      expect(doc.base.commit).toBe(git(repo, "rev-parse", "main"));
      const shown = pd.formatPlanDiff("dev", "main", doc);
      // The provider ignores the root disk's size after creation (a disk grown on the host is not
      // drift); ct-901-lxc-options grows it and never shrinks it.
      expect(shown).toContain('~  update  ct-901-lxc-options  lxc-options\n      params.rootfs_gb: "32" → "24"\n   unchanged ct-901: changes of disk.size are ignored after creation (ignoreChanges)\n');
      expect(doc.changes.map((c: { kind: string; name: string }) => `${c.kind} ${c.name}`)).toEqual(["update ct-901-lxc-options"]);
    } finally {
      git(repo, "checkout", "-q", "main");
    }
  });

  it("a ref that is not a commit is a usage error (exit 2, one line)", () => {
    const r = phoenix(["--diff", "no-such-ref"]);
    expect(r.code).toBe(2);
    expect(r.stderr.trim().split("\n").filter((l) => !l.startsWith("warning:"))).toEqual([expect.stringMatching(/^phoenix plan: --diff no-such-ref: not a commit of this repository/)]);
  });

  it("when the program's TypeScript differs, the ref's program is built and planned", () => {
    edit("infra/stack.ts", "\n", "\n// a comment only the working tree has\n");
    try {
      const r = phoenix(["--diff", "HEAD"]);
      expect(r.stderr).toContain("building the program at HEAD (its TypeScript differs from the working tree's)");
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout).toContain("No changes.");
    } finally {
      git(repo, "checkout", "-q", "--", ".");
    }
  });
});
