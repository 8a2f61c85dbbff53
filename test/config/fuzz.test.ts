// Random damage to the dev files (seeded, so failures reproduce): whatever the input, the loader
// returns a result — never throws, never reports an internal error — and every error line has
// the `<file>: <json path>: <message>` shape.
import { afterAll, describe, expect, it } from "vitest";
import { ERROR_LINE, Files, cleanTempDirs, load, mutatedDir, prng, slots } from "./helpers";

afterAll(cleanTempDirs);


const REPLACEMENTS: unknown[] = [
  null, 0, -1, 1.5, 1e12, "", " ", "x;reboot", "$(id)", "`id`", "a\nb", "none", "dhcp", "0, 1", "900", "999",
  true, false, [], {}, ["x"], { a: 1 }, "/etc/passwd", "../x", "10.0.0.150/24", "52:54:00:67:89:B0", "local-lvm",
];


function damage(f: Files, rnd: () => number): void {
  const docs = [f.host, f.lxc, f.vm];
  const edits = 1 + Math.floor(rnd() * 4);
  for (let i = 0; i < edits; i++) {
    const all = slots(docs[Math.floor(rnd() * docs.length)]);
    if (all.length === 0) continue;
    const [holder, key] = all[Math.floor(rnd() * all.length)];
    const r = rnd();
    if (r < 0.15 && !Array.isArray(holder)) delete holder[key];
    else if (r < 0.25 && !Array.isArray(holder)) holder[`${String(key)}_copy`] = holder[key];
    else holder[key] = structuredClone(REPLACEMENTS[Math.floor(rnd() * REPLACEMENTS.length)]);
  }
}

describe("random damage", () => {
  it("never throws and always reports one-line findings (250 seeded cases)", () => {
    let rejected = 0;
    for (let seed = 1; seed <= 250; seed++) {
      const rnd = prng(seed);
      const dir = mutatedDir((f) => damage(f, rnd));
      const r = load(dir);
      if (!r.ok) {
        rejected++;
        expect(r.errors.length, `seed ${seed}`).toBeGreaterThan(0);
        for (const e of r.errors) {
          expect(e, `seed ${seed}`).toMatch(ERROR_LINE);
          expect(e, `seed ${seed}`).not.toMatch(/internal error/);
        }
      }
      for (const w of r.warnings) expect(w, `seed ${seed}`).toMatch(ERROR_LINE);
      if (seed % 50 === 0) cleanTempDirs();
    }
    // Most damage is caught; some (e.g. a deleted optional key) is legitimately still valid.
    expect(rejected).toBeGreaterThan(125);
  });
});
