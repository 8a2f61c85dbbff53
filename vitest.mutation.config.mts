import { defineConfig } from "vitest/config";

// The vitest configuration `npm run mutation` (StrykerJS) runs: the test files in
// PHOENIX_MUTATION_TESTS (space-separated), one worker, forks as `npm test` uses. Tests load the
// compiled program from dist/, which Stryker's buildCommand compiles from the mutated sources in
// its sandbox, so the mutants are what the tests run.
const include = (process.env.PHOENIX_MUTATION_TESTS ?? "").split(/\s+/).filter(Boolean);
if (include.length === 0) throw new Error("PHOENIX_MUTATION_TESTS names no test file (see stryker.config.mjs)");

// Tests that plan a whole stack take minutes under instrumentation on a loaded machine: a target
// may leave them out by name (PHOENIX_MUTATION_SKIP, a regular expression; stryker.config.mjs).
const skip = process.env.PHOENIX_MUTATION_SKIP;

export default defineConfig({
  test: {
    include,
    ...(skip ? { testNamePattern: new RegExp(`^(?!.*(?:${skip})).*$`) } : {}),
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: "forks",
    maxWorkers: 1,
    reporters: ["default"],
  },
});
