// redact(): secrets leave no trace in error texts, whatever their length or quoting.
import { describe, expect, it } from "vitest";
import { loadDist } from "../../load";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");

describe("redact", () => {
  it("hides secrets shorter than four characters where they stand alone, not inside words", () => {
    expect(ssh.redact("password pw1 rejected for user pw1x", ["pw1"])).toBe("password *** rejected for user pw1x");
    expect(ssh.redact("got 'x' from $ARG", ["x"])).toBe("got '***' from $ARG");
    expect(ssh.redact("exists: yes", ["yes"])).toBe("exists: ***");
  });

  it("hides the shell-quoted, printf %q and JSON-escaped forms of a secret", () => {
    const secret = `it's "a" pa$$ word`;
    const quoted = `'${secret.replace(/'/g, `'\\''`)}'`;
    const printfQ = secret.replace(/[^A-Za-z0-9_./,:@%+=-]/g, (c) => `\\${c}`);
    const json = JSON.stringify(secret).slice(1, -1);
    for (const form of [secret, quoted, printfQ, json]) {
      const out = ssh.redact(`bash: line 1: ${form}: command not found`, [secret]);
      expect(out, form).not.toContain("pa$$");
      expect(out, form).not.toContain("pa\\$\\$");
      expect(out, form).toMatch(/\*\*\*/);
    }
    // A short secret with a quote, shell-quoted on the way: 'a'\''b'
    expect(ssh.redact(`echo 'a'\\''b'`, ["a'b"])).not.toMatch(/a'\\''b/);
  });

  it("keeps ordinary text when there is nothing to hide", () => {
    expect(ssh.redact("all fine", [undefined, ""])).toBe("all fine");
  });
});
