// Mutation testing (StrykerJS), outside CI: `npm run mutation` plants small bugs in the product
// one at a time and runs the tests that cover them. The tests load dist/, so the sandbox is
// compiled after the mutants are planted (buildCommand) and vitest runs there.
//   PHOENIX_MUTATION_TARGET=infra/config/lxc-raw npm run mutation     one target of TARGETS below
// One target at a time, one test process: a whole folder takes hours on a shared 2-core machine
// (about 20-45 s per mutant there). Reports: reports/mutation/<target>.html and .json. The
// incremental file makes a rerun reuse earlier results, survivors included: after adding tests,
// run `npm run mutation -- --force`.
import process from "node:process";

// Each target: the sources mutated and the test files that cover them (unit tier: fast enough to
// run once per mutant; coverage analysis then runs only the tests that reach each mutant).
const TARGETS = {
  "infra/config/lxc-raw": {
    // The host-path and block-device checks and the id-map check (the whole file: drop the ranges).
    mutate: ["infra/config/lxc-raw.ts:118-172", "infra/config/lxc-raw.ts:250-256"],
    tests: ["test/config/alternatives.test.ts", "test/config/host-paths.test.ts", "test/config/hardening.test.ts"],
    // Their cases that plan the whole stack (validate ⊇ plan) are too slow here; those that spawn
    // the CLI from the repository do not run in the sandbox.
    skip: "plan|bad files",
  },
  "providers/ssh-redact": {
    // redact(): what keeps secrets out of error texts and logs.
    mutate: ["providers/ssh/index.ts:57-82"],
    tests: ["test/providers/ssh/redact.test.ts", "test/providers/ssh/redact-forms.test.ts"],
  },
  "infra/deployment": {
    // The whole folder: hours on a shared 2-core machine.
    mutate: ["infra/deployment/**/*.ts"],
    tests: ["test/graph/edges.test.ts", "test/graph/graph.test.ts", "test/graph/names.test.ts", "test/graph/firewall.test.ts", "test/program/declared.test.ts", "policy/rules.test.ts"],
  },
};
const target = process.env.PHOENIX_MUTATION_TARGET ?? "infra/deployment";
const chosen = TARGETS[target];
if (!chosen) throw new Error(`unknown mutation target ${target}: one of ${Object.keys(TARGETS).join(", ")}`);
process.env.PHOENIX_MUTATION_TESTS = chosen.tests.join(" ");
if (chosen.skip) process.env.PHOENIX_MUTATION_SKIP = chosen.skip;

/** @type {import("@stryker-mutator/api/core").PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.mts", related: false },
  mutate: chosen.mutate,
  buildCommand: "npx tsc -p tsconfig.json",
  disableTypeChecks: "{infra,providers,features,bench}/**/*.ts",
  coverageAnalysis: "perTest",
  concurrency: 1,
  ignoreStatic: true,
  incremental: true,
  incrementalFile: `reports/mutation/${target.replace(/\//g, "-")}.incremental.json`,
  reporters: ["clear-text", "progress-append-only", "html", "json"],
  htmlReporter: { fileName: `reports/mutation/${target.replace(/\//g, "-")}.html` },
  jsonReporter: { fileName: `reports/mutation/${target.replace(/\//g, "-")}.json` },
  tempDirName: ".stryker-tmp",
  timeoutMS: 60_000,
  // The first run (every covering test, with coverage) is slow on a shared 2-core machine.
  dryRunTimeoutMinutes: 40,
};
