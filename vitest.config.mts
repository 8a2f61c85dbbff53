import { defineConfig } from "vitest/config";

// Tests load the tsc-compiled program from dist/ (see test/load.ts): vitest's own module
// transform breaks Pulumi's closure serialization of dynamic providers.
export default defineConfig({
  test: {
    include: ["test/**/*.test.ts", "policy/**/*.test.ts"],
    testTimeout: 120_000,
    hookTimeout: 180_000,
    pool: "forks",
    reporters: ["default"],
  },
});
