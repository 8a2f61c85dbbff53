// The committed JSON Schema files are exactly what the zod schemas generate, and editors can use
// their patterns (ECMA-262 with the `u` flag, as JSON Schema validators compile them).
import * as fs from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { CASES_DIR } from "./cases";

const { renderSchemas } = loadDist<typeof import("../../infra/cli/schemas")>("infra/cli/schemas");

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

/**
 * A small JSON Schema checker for exactly the keywords the generated files use (the test fails if
 * another keyword appears), so we can show that an editor using the committed schemas accepts the
 * stack files and rejects what the loader rejects. Returns the JSON paths of violations.
 */
const KEYWORDS = new Set(["$schema", "$id", "title", "description", "type", "properties", "required", "additionalProperties",
  "propertyNames", "items", "minItems", "anyOf", "const", "enum", "pattern", "minimum", "maximum", "exclusiveMinimum"]);

/** The JSON Schema keywords `check` reads (KEYWORDS). */
interface Schema {
  type?: string;
  const?: unknown;
  enum?: unknown[];
  pattern?: string;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  anyOf?: Schema[];
  minItems?: number;
  items?: Schema;
  required?: string[];
  propertyNames?: Schema;
  properties?: Record<string, Schema>;
  additionalProperties?: Schema | boolean;
}

function check(schema: Schema, value: unknown, at = "$"): string[] {
  for (const k of Object.keys(schema)) if (!KEYWORDS.has(k)) throw new Error(`unsupported keyword ${k} at ${at}`);
  const out: string[] = [];
  const t = schema.type;
  const isObj = value !== null && typeof value === "object" && !Array.isArray(value);
  if (t === "object" && !isObj) return [`${at}: not an object`];
  if (t === "array" && !Array.isArray(value)) return [`${at}: not an array`];
  if (t === "string" && typeof value !== "string") return [`${at}: not a string`];
  if (t === "number" && typeof value !== "number") return [`${at}: not a number`];
  if (t === "integer" && !Number.isInteger(value)) return [`${at}: not an integer`];
  if (t === "boolean" && typeof value !== "boolean") return [`${at}: not a boolean`];
  if ("const" in schema && value !== schema.const) return [`${at}: not ${JSON.stringify(schema.const)}`];
  if (schema.enum && !schema.enum.includes(value)) return [`${at}: not in enum`];
  if (schema.pattern && typeof value === "string" && !new RegExp(schema.pattern, "u").test(value)) out.push(`${at}: pattern`);
  if (typeof value === "number") {
    if (schema.minimum !== undefined && value < schema.minimum) out.push(`${at}: minimum`);
    if (schema.maximum !== undefined && value > schema.maximum) out.push(`${at}: maximum`);
    if (schema.exclusiveMinimum !== undefined && value <= schema.exclusiveMinimum) out.push(`${at}: exclusiveMinimum`);
  }
  if (schema.anyOf && !schema.anyOf.some((s) => check(s, value, at).length === 0)) out.push(`${at}: no anyOf branch`);
  if (Array.isArray(value)) {
    if (schema.minItems !== undefined && value.length < schema.minItems) out.push(`${at}: minItems`);
    const items = schema.items;
    if (items) value.forEach((v, i) => out.push(...check(items, v, `${at}[${i}]`)));
  }
  if (isObj) {
    const obj = value as Record<string, unknown>;
    for (const r of schema.required ?? []) if (!(r in obj)) out.push(`${at}.${r}: required`);
    for (const [k, v] of Object.entries(obj)) {
      if (schema.propertyNames) out.push(...check(schema.propertyNames, k, `${at}[${JSON.stringify(k)}] (name)`));
      const sub = schema.properties?.[k] ?? (typeof schema.additionalProperties === "object" ? schema.additionalProperties : undefined);
      if (sub) out.push(...check(sub, v, `${at}.${k}`));
      else if (schema.additionalProperties === false) out.push(`${at}.${k}: not allowed`);
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

  it.each(["dev", "prod"])("every %s stack file points editors at its schema", (stack) => {
    for (const name of ["phoenix_hypervisor_config", "phoenix_lxc_configs", "phoenix_vm_configs"]) {
      const doc = JSON.parse(fs.readFileSync(path.join(repoRoot, "stacks", stack, `${name}.json`), "utf8"));
      expect(path.resolve(repoRoot, "stacks", stack, doc.$schema)).toBe(path.join(repoRoot, "schemas", `${name}.schema.json`));
    }
  });

  it.each(["stacks/dev", "stacks/prod", "test/fixtures/original"])("an editor using the schemas accepts %s", (dir) => {
    for (const name of ["phoenix_hypervisor_config", "phoenix_lxc_configs", "phoenix_vm_configs"]) {
      const schema = JSON.parse(rendered[`${name}.schema.json`]);
      const doc = JSON.parse(fs.readFileSync(path.join(repoRoot, dir, `${name}.json`), "utf8"));
      expect(check(schema, doc), name).toEqual([]);
    }
  });

  it("an editor using the schemas flags what the loader rejects in a file", () => {
    const schema = JSON.parse(rendered["phoenix_lxc_configs.schema.json"]);
    const doc = JSON.parse(fs.readFileSync(path.join(repoRoot, "stacks", "dev", "phoenix_lxc_configs.json"), "utf8"));
    doc.lxc_configs["950"].name = "vllm;reboot";
    doc.lxc_configs["950"].cores = "6";
    doc.lxc_configs["955"].pct_options = ["nesting=1;x"];
    doc.lxc_configs.web = doc.lxc_configs["955"];
    const problems = check(schema, doc);
    expect(problems).toEqual(expect.arrayContaining([
      "$.lxc_configs.950.name: pattern",
      "$.lxc_configs.950.cores: not an integer",
      "$.lxc_configs.955.pct_options[0]: pattern",
      '$.lxc_configs["web"] (name): pattern',
    ]));
  });

  it("describes the firewall blocks: an editor accepts the migration case's, and flags a misspelt key, a bad action or policy", () => {
    const cases = CASES_DIR;
    for (const c of ["fw", "s2"]) {
      for (const name of ["phoenix_hypervisor_config", "phoenix_lxc_configs", "phoenix_vm_configs"]) {
        const doc = JSON.parse(fs.readFileSync(path.join(cases, c, `${name}.json`), "utf8"));
        expect(check(JSON.parse(rendered[`${name}.schema.json`]), doc), `${c}/${name}`).toEqual([]);
      }
    }
    const host = JSON.parse(rendered["phoenix_hypervisor_config.schema.json"]);
    const doc = JSON.parse(fs.readFileSync(path.join(repoRoot, "stacks", "dev", "phoenix_hypervisor_config.json"), "utf8"));
    const fw = doc.shared_volumes.firewall;
    fw.global_firewall_rules.push({ type: "in", action: "accept", proto: "tcp", port: "22", sorce: "10.0.0.0/24" });
    fw.default_input_policy = "BLOCK";
    doc.firewall = { enabled: "yes", global_firewall_rules: [{ type: "inbound", action: "DROP", source: "$(id)" }] };
    const n = fw.global_firewall_rules.length - 1;
    expect(check(host, doc).sort()).toEqual([
      "$.firewall.enabled: no anyOf branch",
      "$.firewall.global_firewall_rules[0].source: pattern",
      "$.firewall.global_firewall_rules[0].type: pattern",
      `$.shared_volumes.firewall.default_input_policy: not in enum`,
      `$.shared_volumes.firewall.global_firewall_rules[${n}].action: not in enum`,
      `$.shared_volumes.firewall.global_firewall_rules[${n}].sorce: not allowed`,
    ].sort());
    const lxc = JSON.parse(rendered["phoenix_lxc_configs.schema.json"]);
    const guests = JSON.parse(fs.readFileSync(path.join(repoRoot, "stacks", "dev", "phoenix_lxc_configs.json"), "utf8"));
    guests.lxc_configs["950"].firewall = { enabled: true, rules: [{ type: "in", action: "ACCEPT", proto: "tcp", dport: 8000, iface: "net0", log: "nolog" }, { type: "out" }] };
    expect(check(lxc, guests)).toEqual(['$.lxc_configs.950.firewall.rules[1].action: required']);
  });
});
