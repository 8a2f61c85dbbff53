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

describe("unknown keys: a did-you-mean, and --strict", () => {
  it("a misspelt key names the key it most likely meant; an unrelated one does not guess", async () => {
    const dir = mutatedDir((f) => {
      const c = f.lxc.lxc_configs["950"];
      c.memmory_mb = c.memory_mb;
      delete c.memory_mb;
      c.favourite_colour = "blue";
    });
    const r = await phoenix("validate", "--config-dir", dir);
    expect(r.code).toBe(0);
    expect(r.stderr).toContain('warning: phoenix_lxc_configs.json: $.lxc_configs["950"].memmory_mb: unknown key, ignored; did you mean memory_mb?\n');
    expect(r.stderr).toContain('warning: phoenix_lxc_configs.json: $.lxc_configs["950"].favourite_colour: unknown key, ignored\n');
  });

  it("--strict makes every unknown key an error (exit 1), in text and JSON; other warnings stay warnings", async () => {
    const loose = await phoenix("validate", "--json", "--config-dir", "test/fixtures/original");
    const unknown = JSON.parse(loose.stdout).warnings.filter((w: { message: string }) => w.message.startsWith("unknown key"));
    expect(unknown.length).toBeGreaterThan(0);
    const strict = await phoenix("validate", "--strict", "--json", "--config-dir", "test/fixtures/original");
    expect(strict.code).toBe(1);
    const doc = JSON.parse(strict.stdout);
    expect(doc.errors.map((e: { line: string }) => e.line)).toEqual(unknown.map((w: { line: string }) => `${w.line} (--strict)`));
    expect(doc.warnings.length).toBe(JSON.parse(loose.stdout).warnings.length - unknown.length);
    const text = await phoenix("validate", "--strict", "--config-dir", "test/fixtures/original");
    expect(text.code).toBe(1);
    expect(text.stderr).toMatch(new RegExp(`test/fixtures/original: ${unknown.length} error\\(s\\)\\n$`));
    expect((await phoenix("validate", "--strict", "--config-dir", "stacks/dev")).code).toBe(0);
  });
});
