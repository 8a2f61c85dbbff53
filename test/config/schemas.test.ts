// The committed JSON Schema files are exactly what the zod schemas generate, and editors can use
// their patterns (ECMA-262 with the `u` flag, as JSON Schema validators compile them).
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";

const { renderSchemas } = loadDist("infra/cli/schemas");

function patterns(node: unknown, out: string[] = []): string[] {
  if (Array.isArray(node)) node.forEach((n) => patterns(n, out));
  else if (node && typeof node === "object") {
    for (const [k, v] of Object.entries(node)) {
      if (k === "pattern" && typeof v === "string") out.push(v);
      else patterns(v, out);
    }
  }
  return out;
}

describe("JSON Schema files", () => {
  const rendered: Record<string, string> = renderSchemas();

  it("one per Phoenix file", () => {
    expect(Object.keys(rendered).sort()).toEqual([
      "phoenix_hypervisor_config.schema.json",
      "phoenix_lxc_configs.schema.json",
      "phoenix_vm_configs.schema.json",
    ]);
  });

  it.each(Object.keys(renderSchemas()))("schemas/%s matches the zod source (run `npm run schemas` after changing it)", (name) => {
    const committed = fs.readFileSync(path.join(repoRoot, "schemas", name), "utf8");
    expect(committed).toBe(rendered[name]);
  });

  it("every pattern compiles as a unicode regular expression and keeps shell syntax out", () => {
    for (const text of Object.values(rendered)) {
      const list = patterns(JSON.parse(text));
      expect(list.length).toBeGreaterThan(10);
      for (const p of list) {
        const re = new RegExp(p, "u");
        for (const hostile of ["a;b", "a`b`", "$(id)", "a\nb", "a'b", 'a"b']) expect(re.test(hostile), `${p} accepts ${JSON.stringify(hostile)}`).toBe(false);
      }
    }
  });

  it("the dev LXC file points editors at its schema", () => {
    const lxc = JSON.parse(fs.readFileSync(path.join(repoRoot, "stacks", "dev", "phoenix_lxc_configs.json"), "utf8"));
    expect(fs.existsSync(path.resolve(repoRoot, "stacks", "dev", lxc.$schema))).toBe(true);
  });
});
