// Colour: on a terminal by default, never with NO_COLOR, TERM=dumb or a pipe (the pipeline's PR
// comments); `--color always|never` decides over that. Doctor colours the status, plan --diff the
// changes.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";

const color = loadDist<typeof import("../../infra/cli/color")>("infra/cli/color");
const pd = loadDist<typeof import("../../infra/cli/plan-diff")>("infra/cli/plan-diff");
const ESC = "\x1b[";

describe("when to colour", () => {
  it.each([
    ["auto", true, {}, true],
    ["auto", false, {}, false],
    ["auto", true, { NO_COLOR: "1" }, false],
    ["auto", true, { NO_COLOR: "" }, true],
    ["auto", true, { TERM: "dumb" }, false],
    ["never", true, {}, false],
    ["always", false, { NO_COLOR: "1" }, true],
  ] as const)("--color %s, a terminal: %s, env %j → %s", (mode, tty, env, want) => {
    expect(color.useColor(mode, { isTTY: tty }, env as NodeJS.ProcessEnv)).toBe(want);
  });

  it("a bad --color value is a usage error naming the values", () => {
    expect(color.colorModeError("sometimes")).toBe('--color must be auto, always, never; got "sometimes"');
    expect(color.colorModeError("never")).toBeUndefined();
  });

  it("plan --diff paints creates green, deletes red, changes yellow, and script lines by their sign", () => {
    const diff = {
      changes: [
        { kind: "create" as const, type: "t:x:A", name: "a", urn: "a", changes: [], replaceReasons: [], ignored: [] },
        { kind: "update" as const, type: "t:x:B", name: "b", urn: "b", changes: [{ path: "script", lines: ["@@ -1 +1 @@", "-old", "+new"] }], replaceReasons: [], ignored: [] },
        { kind: "delete" as const, type: "t:x:C", name: "c", urn: "c", changes: [], replaceReasons: [], ignored: [] },
      ],
      unchanged: 0,
    };
    const text = pd.formatPlanDiff("dev", "main", diff, color.ANSI);
    expect(text).toContain(`${ESC}32m+  create  a  A${ESC}0m`);
    expect(text).toContain(`${ESC}33m~  update  b  B${ESC}0m`);
    expect(text).toContain(`${ESC}31m-  delete  c  C${ESC}0m`);
    expect(text).toContain(`        ${ESC}31m-old${ESC}0m\n        ${ESC}32m+new${ESC}0m`);
    expect(pd.formatPlanDiff("dev", "main", diff)).not.toContain(ESC);
  });
});

describe("phoenix doctor --color", () => {
  const doctor = (args: string[], env: Record<string, string> = {}) =>
    spawnSync(process.execPath, [path.join(repoRoot, "bin", "phoenix.js"), "doctor", "--stack", "dev", ...args], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, NO_COLOR: "", ...env } });

  it("always: the status is coloured; never, or a pipe under auto: plain text", () => {
    expect(doctor(["--color", "always"]).stdout.startsWith(`${ESC}31mfail${ESC}0m  ssh: `)).toBe(true);
    expect(doctor(["--color", "never"]).stdout).toMatch(/^fail {2}ssh: /);
    expect(doctor([]).stdout).toMatch(/^fail {2}ssh: /);
    const bad = doctor(["--color", "sometimes"]);
    expect(bad.status).toBe(2);
    expect(bad.stderr).toBe('phoenix doctor: --color must be auto, always, never; got "sometimes" (see phoenix doctor --help)\n');
  });
});
