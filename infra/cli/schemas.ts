// `phoenix schemas --out DIR`: writes the JSON Schema of each Phoenix file, generated from the zod
// schemas in infra/config/schema.ts (the files in schemas/ are committed; a test checks they match).
import * as fs from "fs";
import * as path from "path";
import { z } from "zod";
import { FILE_SCHEMAS } from "../config/schema";
import { parseCommandArgs } from "./args";

export const USAGE = `usage: phoenix schemas [--out DIR] [--check]

Writes <name>.schema.json for phoenix_hypervisor_config.json, phoenix_lxc_configs.json and
phoenix_vm_configs.json into DIR (default schemas).

options:
  --out DIR    output folder (default schemas)
  --check      write nothing; exit 1 if the files in DIR differ from the zod source
  -h, --help   show this help
`;

export const OPTIONS = {
  out: { type: "string" },
  check: { type: "boolean" },
  help: { type: "boolean", short: "h" },
} as const;

/** File name → JSON text of its schema (draft 2020-12), as committed in schemas/. */
export function renderSchemas(): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [file, schema] of Object.entries(FILE_SCHEMAS)) {
    const json = z.toJSONSchema(schema, { target: "draft-2020-12", unrepresentable: "any", io: "input" }) as Record<string, unknown>;
    const name = file.replace(/\.json$/, ".schema.json");
    const doc = { ...json, $id: `https://phoenix.invalid/schemas/${name}`, title: file };
    out[name] = JSON.stringify(doc, null, 2) + "\n";
  }
  return out;
}

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("schemas", argv, OPTIONS, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const dir = parsed.values.out ?? "schemas";
  const rendered = renderSchemas();
  if (parsed.values.check) {
    let stale = 0;
    for (const [name, text] of Object.entries(rendered)) {
      const file = path.join(dir, name);
      const current = fs.existsSync(file) ? fs.readFileSync(file, "utf8") : undefined;
      if (current !== text) {
        stale++;
        process.stderr.write(`${file}: ${current === undefined ? "missing" : "differs from the zod schemas"}; run \`phoenix schemas --out ${dir}\`\n`);
      }
    }
    return stale === 0 ? 0 : 1;
  }
  fs.mkdirSync(dir, { recursive: true });
  for (const [name, text] of Object.entries(rendered)) {
    fs.writeFileSync(path.join(dir, name), text);
    process.stdout.write(`wrote ${path.join(dir, name)}\n`);
  }
  return 0;
}
