import { existsSync, readdirSync, readFileSync } from "node:fs";
import * as path from "node:path";
import { defineConfig } from "vitest/config";

// Tests load the tsc-compiled program from dist/ (see test/load.ts): vitest's own module
// transform breaks Pulumi's closure serialization of dynamic providers.
//
// Two tiers, one list of test files:
//   - `host`: files that start a test host (real sshd, a throwaway root, the Proxmox emulator).
//     A module that starts one carries the line `// test-tier: host`; a test file is in this tier
//     when it, or any test module it imports (transitively), carries it.
//   - `unit`: everything else (config, graph, program under the mock monitor, CLI, policy):
//     `npm run test:unit`, the fast tier.
// `npm test` runs both.
const INCLUDE = ["test", "policy"];

function testFiles(dir: string): string[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true, recursive: true })
    .filter((e) => e.isFile() && e.name.endsWith(".test.ts") && !e.parentPath.includes("node_modules"))
    .map((e) => path.join(e.parentPath, e.name));
}

/** Whether `file` or a relative `.ts` import it reaches carries the host-tier marker. */
function startsHost(file: string, seen = new Set<string>()): boolean {
  if (seen.has(file) || !existsSync(file)) return false;
  seen.add(file);
  const text = readFileSync(file, "utf8");
  if (/^\/\/ test-tier: host$/m.test(text)) return true;
  for (const m of text.matchAll(/^(?:import|export)[^;]*?from\s+"(\.{1,2}\/[^"]+)"/gm)) {
    const target = path.resolve(path.dirname(file), m[1]);
    if (startsHost(target.endsWith(".ts") ? target : `${target}.ts`, seen)) return true;
  }
  return false;
}

const root = path.dirname(new URL(import.meta.url).pathname);
const all = INCLUDE.flatMap((d) => testFiles(path.join(root, d))).map((f) => path.relative(root, f));
const host = all.filter((f) => startsHost(path.join(root, f)));
const unit = all.filter((f) => !host.includes(f));

const common = { testTimeout: 120_000, hookTimeout: 180_000, pool: "forks" as const };

export default defineConfig({
  test: {
    reporters: ["default"],
    projects: [
      // Unit files start no host: two at a time on the 2-core CI machine (vitest's default there is
      // one). Projects with different maxWorkers run as separate groups: unit first, then host.
      { test: { ...common, name: "unit", include: unit, maxWorkers: 2, sequence: { groupOrder: 0 } } },
      { test: { ...common, name: "host", include: host, sequence: { groupOrder: 1 } } },
    ],
  },
});
