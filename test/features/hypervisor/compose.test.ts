// The registry composes a feature script with the libraries it includes: the host receives one
// self-contained text, and its sha256 changes when a library does.
import { createHash } from "node:crypto";
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../../load";

const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
const dir = path.join(repoRoot, "features/hypervisor");
const tmp = mkdtempSync(path.join(tmpdir(), "phoenix-compose-"));
afterAll(() => rmSync(tmp, { recursive: true, force: true }));

function script(name: string, text: string): string {
  const file = path.join(tmp, name);
  writeFileSync(file, text);
  return file;
}

describe("composeScript", () => {
  mkdirSync(path.join(tmp, "lib"));
  writeFileSync(path.join(tmp, "lib", "a.sh"), "# shellcheck shell=bash\nhello() { echo hi; }\n");

  it("replaces an include line by the library's text, in place", () => {
    const f = script("ok.sh", "#!/usr/bin/env bash\n# phoenix-include: lib/a.sh\nhello\n");
    expect(registry.composeScript(f)).toBe("#!/usr/bin/env bash\n# shellcheck shell=bash\nhello() { echo hi; }\nhello\n");
  });

  it("refuses paths that leave the folder, missing files, malformed lines and nested includes", () => {
    expect(() => registry.composeScript(script("up.sh", "# phoenix-include: ../x.sh\n"))).toThrow(/inside the script's folder/);
    expect(() => registry.composeScript(script("abs.sh", "# phoenix-include: /etc/passwd\n"))).toThrow(/inside the script's folder/);
    expect(() => registry.composeScript(script("missing.sh", "# phoenix-include: lib/none.sh\n"))).toThrow(/does not exist/);
    expect(() => registry.composeScript(script("odd.sh", "#phoenix-include lib/a.sh\n"))).toThrow(/reads exactly/);
    writeFileSync(path.join(tmp, "lib", "nest.sh"), "# phoenix-include: lib/a.sh\n");
    expect(() => registry.composeScript(script("nest.sh", "# phoenix-include: lib/nest.sh\n"))).toThrow(/do not nest/);
  });

  it("every hypervisor script reaches the host self-contained, hashed as composed", () => {
    const lib = readFileSync(path.join(dir, "lib/result.sh"), "utf8");
    for (const f of readdirSync(dir).filter((n) => n.endsWith(".sh"))) {
      const s = registry.featureScript("hypervisor", f.replace(/\.sh$/, ""));
      expect(s.text, f).not.toMatch(/^#\s*phoenix-include/m);
      expect(s.sha256).toBe(createHash("sha256").update(s.text).digest("hex"));
      if (readFileSync(path.join(dir, f), "utf8").includes("# phoenix-include: lib/result.sh")) {
        expect(s.text, f).toContain(lib.trimEnd());
        expect(s.text.match(/^json_str\(\) \{/gm), f).toHaveLength(1);
      }
    }
  });
});
