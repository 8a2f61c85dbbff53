// Every provider kind in the registry serializes the way Pulumi's dynamic resources do, loads
// back through require-from-string exactly as the dynamic-provider host does, and carries no
// vitest transform and no path of this machine. Issue 17: what is serialized is a small loader
// (≤ 4 KB: the kind's data, no implementation code); the implementation loads at run time.
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot, requireNode } from "../../load";
import { etcFileKind } from "./etc-file-kind";

const { providerKinds } = loadDist<typeof import("../../../providers/index")>("providers/index");
const bench = loadDist<typeof import("../../../bench/providers")>("bench/providers");
const requireFromString = requireNode("require-from-string");

describe("every provider serializes", () => {
  const kinds = [...providerKinds, etcFileKind];

  it("the registry is not empty and kind names are unique", () => {
    expect(providerKinds.length).toBeGreaterThan(0);
    const names = kinds.map((k) => k.kind);
    expect(new Set(names).size).toBe(names.length);
  });

  for (const kind of kinds) {
    it(`${kind.kind}: serializes, is self-contained and loads as the dynamic-provider host loads it`, async () => {
      const s = await bench.serializeKind(kind);
      expect(s.bytes).toBeGreaterThan(1000);
      expect(s.bytes).toBeLessThanOrEqual(4096);
      // the kind's data travels; the implementation (SSH transport, runner) does not
      expect(s.text).toContain(`\\"kind\\":\\"${kind.kind}\\"`);
      expect(s.text).not.toMatch(/runHostScript|withSession|ssh2|hostScriptWrapper/);
      expect(s.text).not.toMatch(/__vite_ssr|vitest/);
      expect(s.text).not.toContain(repoRoot);
      expect(s.text).not.toContain("/dev/shm");
      const provider = requireFromString(s.text).handler();
      for (const m of ["configure", "check", "diff", "create", "read", "update", "delete"]) expect(typeof provider[m], m).toBe("function");
      // check runs inside the loaded copy (zod rebuilt from JSON Schema) and reports, never throws
      const r = await provider.check({}, { params: {} });
      expect(r.failures.map((f: { property: string }) => f.property)).toContain("connection");
      // diff ignores __provider: a new Phoenix version alone never touches the host
      const same = { connection: { host: "h", port: 22, user: "root", hostKey: "SHA256:x" }, scriptHash: "a", params: { a: "1" } };
      expect(await provider.diff("id", { ...same, __provider: "old" }, { ...same, __provider: "new" })).toMatchObject({ changes: false, replaces: [] });
    });
  }

  it("benchProviders reports time and size for every registered kind", async () => {
    const rows = await bench.benchProviders(providerKinds, 1);
    expect(rows.map((r) => r.kind)).toEqual(providerKinds.map((k) => k.kind));
    for (const r of rows) {
      expect(r.bytes).toBeGreaterThan(1000);
      expect(r.bytes).toBeLessThanOrEqual(4096);
      expect(r.ms).toBeGreaterThan(0);
    }
  });
});
