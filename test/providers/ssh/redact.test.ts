// redact(): secrets leave no trace in error texts, whatever their length or quoting.
import { describe, expect, it } from "vitest";
import { loadDist } from "../../load";
import { startTestHost } from "../../host/sshd";

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

  it("hides a secret cut at either end of the text (a stream cut off, the error tail)", () => {
    const secret = "hunter2-correct-horse";
    for (let n = 4; n < secret.length; n++) {
      const cutEnd = ssh.redact(`smbpasswd: bad password ${secret.slice(0, n)}`, [secret]);
      expect(cutEnd, `end ${n}`).toBe("smbpasswd: bad password ***");
      const cutStart = ssh.redact(`${secret.slice(secret.length - n)} rejected`, [secret]);
      expect(cutStart, `start ${n}`).toBe("*** rejected");
    }
  });

  it("hides the base64 forms of a secret, alone or inside a longer encoded stream, at every alignment", () => {
    const secret = "s3cret-Passw0rd!";
    for (const before of ["", "P", "PH", "PHOENIX_PASSWORD="]) {
      for (const after of ["", "\n", "\nPHOENIX_USER=admin\n"]) {
        for (const enc of ["base64", "base64url"] as const) {
          const blob = Buffer.from(`${before}${secret}${after}`).toString(enc);
          const out = ssh.redact(`stdin was ${blob} (exit 2)`, [secret]);
          expect(out, `${enc} ${JSON.stringify(before)} ${JSON.stringify(after)}`).toMatch(/\*\*\*/);
          // What is left of the blob no longer decodes to the secret or any 8 characters of it.
          const left = Buffer.from(out.replace(/^stdin was /, "").split(" ")[0].replace(/\*\*\*/g, ""), enc).toString("latin1");
          for (let i = 0; i + 8 <= secret.length; i++) expect(left).not.toContain(secret.slice(i, i + 8));
        }
      }
    }
  });

  it("the transport's error tail (the last 2000 characters of stderr) never ends a message with part of a secret", async () => {
    const host = await startTestHost();
    try {
      const secret = "tail-cut-Secr3t-value";
      // The cut falls 8 characters before the secret's end: the tail would start with "3t-value" cut.
      const filler = "x".repeat(2000 - 8);
      const err = await ssh
        .withSession(host.target, host.secrets, (s) => s.check(`printf '%s%s' '${secret}' '${filler}' >&2; exit 3`, { purpose: "probe", redact: [secret] }))
        .then(() => undefined, (e: unknown) => e as Error & { stderrTail?: string });
      expect(err).toBeInstanceOf(Error);
      const texts = [err!.message, err!.stderrTail ?? ""];
      for (const t of texts) for (let i = 0; i + 5 <= secret.length; i++) expect(t).not.toContain(secret.slice(i, i + 5));
      expect(err!.message).toMatch(/exit code 3/);
    } finally {
      await host.stop();
    }
  }, 60_000);

  it("keeps ordinary text when there is nothing to hide", () => {
    expect(ssh.redact("all fine", [undefined, ""])).toBe("all fine");
  });
});
