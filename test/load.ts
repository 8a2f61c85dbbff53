// Tests load the tsc-compiled program from dist/ through Node's own require: vitest's module
// transform would otherwise be captured by Pulumi's closure serialization of dynamic providers.
// `npm test` runs `tsc` first; a test run on its own needs `npm run build`.
import { createRequire } from "node:module";
import * as path from "node:path";

export const repoRoot = path.resolve(__dirname, "..");
export const distRoot = path.join(repoRoot, "dist");

const nodeRequire = createRequire(path.join(repoRoot, "package.json"));

/**
 * Loads a compiled module by its source path, typed as its source:
 * `loadDist<typeof import("../infra/config/load")>("infra/config/load")` (the `import` is a type
 * only: nothing loads through vitest's transform).
 */
export function loadDist<T>(sourcePath: string): T {
  return nodeRequire(path.join(distRoot, sourcePath.replace(/\.ts$/, "")));
}

/** Node's own require (for node_modules packages that must not pass through vitest). */
export const requireNode = nodeRequire;
