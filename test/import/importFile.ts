// The documented shape of a Pulumi import file (`pulumi import --file`, Pulumi CLI docs "Bulk
// import operations"), with the checks the CLI applies when it reads one, and the URN it derives
// for each entry. Written from the documentation; used to test `phoenix import` output.
export interface ImportEntry {
  type: string;
  name: string;
  id?: string;
  parent?: string;
  provider?: string;
  version?: string;
  pluginDownloadUrl?: string;
  properties?: string[];
  component?: boolean;
  remote?: boolean;
  logicalName?: string;
}

const FILE_KEYS = new Set(["nameTable", "resources", "providerInputs"]);
const ENTRY_KEYS = new Set([
  "type", "name", "id", "parent", "provider", "version", "pluginDownloadUrl",
  "properties", "component", "remote", "logicalName",
]);
const TYPE_TOKEN = /^[A-Za-z0-9_.-]+:[A-Za-z0-9_./-]*:[A-Za-z0-9_]+$/;

/** Problems the Pulumi CLI would report reading this import file (empty: accepted). */
export function importFileProblems(file: unknown): string[] {
  const problems: string[] = [];
  if (!file || typeof file !== "object" || Array.isArray(file)) return ["import file is not a JSON object"];
  const f = file as Record<string, unknown>;
  for (const k of Object.keys(f)) if (!FILE_KEYS.has(k)) problems.push(`unknown top-level key ${k}`);
  const nameTable = (f.nameTable ?? {}) as Record<string, unknown>;
  if (typeof nameTable !== "object" || Array.isArray(nameTable)) problems.push("nameTable is not an object");
  for (const [k, v] of Object.entries(nameTable)) {
    if (typeof v !== "string" || !v.startsWith("urn:pulumi:")) problems.push(`nameTable.${k} is not a URN`);
  }
  if (!Array.isArray(f.resources)) return [...problems, "resources is not an array"];
  const entries = f.resources as ImportEntry[];
  const count = new Map<string, number>();
  for (const e of entries) count.set(e.name, (count.get(e.name) ?? 0) + 1);
  entries.forEach((e, i) => {
    const what = `resources[${i}] (${e?.name})`;
    if (!e || typeof e !== "object") return problems.push(`${what} is not an object`);
    for (const k of Object.keys(e)) if (!ENTRY_KEYS.has(k)) problems.push(`${what}: unknown key ${k}`);
    for (const k of ["type", "name", "id", "parent", "provider", "version", "pluginDownloadUrl", "logicalName"] as const) {
      if (e[k] !== undefined && typeof e[k] !== "string") problems.push(`${what}: ${k} is not a string`);
    }
    if (!e.type || !TYPE_TOKEN.test(e.type)) problems.push(`${what}: bad type token ${e.type}`);
    if (!e.name && !e.logicalName) problems.push(`${what}: has no name`);
    if (!e.component && !e.id) problems.push(`${what}: has no ID`);
    if (e.component && e.id) problems.push(`${what}: has an ID, but is marked as a component`);
    if (e.remote && !e.component) problems.push(`${what}: is remote but not a component`);
    if (e.parent !== undefined) {
      if ((count.get(e.parent) ?? 0) > 1) problems.push(`${what}: ambiguous parent ${e.parent}`);
      if (!count.has(e.parent) && !(e.parent in nameTable)) problems.push(`${what}: parent ${e.parent} has no entry`);
    }
    if (e.provider !== undefined && !(e.provider in nameTable)) problems.push(`${what}: provider ${e.provider} not in nameTable`);
  });
  // URNs can only be derived once every parent resolves (the CLI stops at this point too).
  if (problems.length) return problems;
  const urns = importUrns(f as { resources: ImportEntry[]; nameTable?: Record<string, string> }, "stack", "project");
  const seen = new Set<string>();
  for (const u of urns.values()) {
    if (seen.has(u)) problems.push(`ambiguous URN ${u}`);
    seen.add(u);
  }
  return problems;
}

/** The URN each entry gets (by entry name), derived as the CLI does: parent type chain + type + logical name. */
export function importUrns(
  file: { resources: ImportEntry[]; nameTable?: Record<string, string> },
  stack: string,
  project: string,
): Map<string, string> {
  const byName = new Map(file.resources.map((e) => [e.name || e.logicalName!, e]));
  const urns = new Map<string, string>();
  const qualifiedType = (urn: string) => urn.split("::")[2];
  const urnOf = (name: string, depth = 0): string => {
    const known = urns.get(name) ?? file.nameTable?.[name];
    if (known) return known;
    const e = byName.get(name);
    if (!e || depth > 50) throw new Error(`cannot resolve ${name}`);
    const parentType = e.parent ? `${qualifiedType(urnOf(e.parent, depth + 1))}$` : "";
    const urn = `urn:pulumi:${stack}::${project}::${parentType}${e.type}::${e.logicalName || e.name}`;
    urns.set(name, urn);
    return urn;
  };
  for (const e of file.resources) urnOf(e.name || e.logicalName!);
  return urns;
}
