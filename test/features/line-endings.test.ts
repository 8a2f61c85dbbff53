// Scripts checked out with CRLF line ends (a Windows checkout) still run and hash the same
// (issue 12 item 13): .gitattributes keeps scripts LF in a checkout, and the script readers strip
// `\r` before hashing and sending, for checkouts made without the attributes.
import { describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readFileSync, readdirSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadDist, repoRoot } from "../load";

const registry = loadDist<typeof import("../../features/registry")>("features/registry");
const lxcComponent = loadDist<typeof import("../../infra/components/lxc")>("infra/components/lxc");

/** Every file under `dir`, recursively, rewritten with CRLF line ends. */
function toCrlf(dir: string): void {
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) toCrlf(p);
    else writeFileSync(p, readFileSync(p, "utf8").replace(/\n/g, "\r\n"));
  }
}

describe("scripts with CRLF line ends", () => {
  it("compose to the same text and hash as the LF originals (includes too)", () => {
    const copy = mkdtempSync(path.join(os.tmpdir(), "phoenix-crlf-"));
    cpSync(path.join(repoRoot, "features", "hypervisor"), copy, { recursive: true });
    toCrlf(copy);
    const scripts = readdirSync(copy).filter((f) => f.endsWith(".sh"));
    expect(scripts.length).toBeGreaterThan(3);
    for (const f of scripts) {
      const crlf = registry.composeScript(path.join(copy, f));
      expect(crlf, f).toBe(registry.composeScript(`features/hypervisor/${f}`));
      expect(crlf, f).not.toContain("\r");
    }
  });

  it("an application script from the stack's folder reaches the container without \\r and hashes as with LF", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-crlf-app-"));
    const lf = "#!/bin/bash\nset -e\necho ok\n";
    writeFileSync(path.join(dir, "app.sh"), lf.replace(/\n/g, "\r\n"));
    const s = lxcComponent.configScript(dir, "apps", "app.sh", 950);
    expect(s.text).toBe(lf);
    expect(s.sha256).toBe(loadDist<typeof import("../../providers/lxc/index")>("providers/lxc/index").sha256(lf));
    expect(registry.scriptText("\uFEFFa\r\nb\r\n")).toBe("a\nb\n");
  });

  it(".gitattributes checks scripts out with LF on every platform", () => {
    const files = ["features/lxc/host/lxc_options.sh", "features/lxc/tests/vllm/check_models.sh", "bin/phoenix.js", "test/host/emulator/pct", "test/features/lxc/stubs/apt-get"];
    const out = execFileSync("git", ["check-attr", "eol", "--", ...files], { cwd: repoRoot, encoding: "utf8" });
    for (const f of files) expect(out).toContain(`${f}: eol: lf`);
  });
});
