// `phoenix validate --json`: the same verdict and lines as the text output, as one JSON document on
// stdout (nothing on stderr), for editors and pipelines.
import { afterAll, describe, expect, it } from "vitest";
import { phoenixInProcess as phoenix } from "./in-process";
import { cleanTempDirs, mutatedDir } from "../config/helpers";

afterAll(cleanTempDirs);

describe("phoenix validate --json", () => {
  it("a valid folder: valid, its counts and warnings, exit 0, the text output's verdict", async () => {
    const text = await phoenix("validate", "--config-dir", "test/fixtures/original");
    const r = await phoenix("validate", "--json", "--config-dir", "test/fixtures/original");
    expect(r.code).toBe(0);
    expect(r.stderr).toBe("");
    const doc = JSON.parse(r.stdout);
    expect(doc).toMatchObject({ dir: "test/fixtures/original", valid: true, errors: [] });
    expect(text.stdout).toBe(`test/fixtures/original: valid: ${doc.containers} containers, ${doc.vms} VMs, ${doc.warnings.length} warning(s)\n`);
    expect(doc.warnings.map((w: { line: string }) => `warning: ${w.line}\n`).join("")).toBe(text.stderr);
    expect(doc.warnings[0]).toEqual({ file: "phoenix_hypervisor_config.json", path: expect.stringMatching(/^\$\./), message: expect.any(String), line: expect.any(String) });
  });

  it("errors: every one with file, JSON path and message, exit 1", async () => {
    const dir = mutatedDir((f) => {
      f.lxc.lxc_configs["950"].memory_mb = "lots";
      f.vm.vms[0].vmid = -1;
    });
    const text = await phoenix("validate", "--config-dir", dir);
    const r = await phoenix("validate", "--json", "--config-dir", dir);
    expect(r.code).toBe(1);
    expect(r.stderr).toBe("");
    const doc = JSON.parse(r.stdout);
    expect(doc.valid).toBe(false);
    expect(doc.containers).toBeUndefined();
    expect(doc.errors.length).toBeGreaterThanOrEqual(2);
    expect(doc.errors.map((e: { line: string }) => e.line)).toEqual(text.stderr.trim().split("\n").filter((l) => !l.startsWith("warning: ")).slice(0, -1));
    expect(doc.errors).toContainEqual(expect.objectContaining({ file: "phoenix_lxc_configs.json", path: '$.lxc_configs["950"].memory_mb' }));
    expect(doc.errors).toContainEqual(expect.objectContaining({ file: "phoenix_vm_configs.json", path: expect.stringMatching(/^\$\.vms\[0\]\.vmid/) }));
  });
});
