// redact() for the forms the first tests left out (mutation testing showed them unguarded): one
// line of a multi-line secret (a private key shown line by line), a newline in printf %q form
// ($'\n'), and a secret inside a longer one (longest first, no fragments left).
import { describe, expect, it } from "vitest";
import { loadDist } from "../../load";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");

const KEY = [
  "-----BEGIN OPENSSH PRIVATE KEY-----",
  "b3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQAAAAAAAAABAAAAMwAAAAtzc2gtZW",
  "QyNTUxOQAAACBqH1nVRvQm5z8l6xY3i0Gm8m0y0bYyq9iKc1Gq8f7o2wAAAJgAAAAAAAAA",
  "-----END OPENSSH PRIVATE KEY-----",
].join("\n");

describe("redact: more forms of a secret", () => {
  it("hides each line (8 characters or more, trimmed) of a multi-line secret found alone", () => {
    const line = KEY.split("\n")[1];
    const out = ssh.redact(`error: unexpected data near "  ${line}  " in input`, [KEY]);
    expect(out).not.toContain(line);
    expect(out).toBe(`error: unexpected data near "  ***  " in input`);
    // Lines shorter than 8 characters are not hidden alone (they would blank ordinary words).
    expect(ssh.redact("value: abc", ["abc\nxyz-longer-line"])).toBe("value: abc");
    // A line indented in the secret is hidden as it appears trimmed in the text.
    expect(ssh.redact("near longline-here-xyz;", ["head\n   longline-here-xyz   \ntail"])).toBe("near ***;");
  });

  it("hides the printf %q form of a secret with a newline ($'\\n')", () => {
    const secret = "first line\nsecond";
    const q = "first\\ line$'\\n'second";
    const out = ssh.redact(`bash: ${q}: command not found`, [secret]);
    expect(out).toBe("bash: ***: command not found");
  });

  it("replaces the longest form first: no fragment of a longer secret stays", () => {
    const out = ssh.redact("token=abcd1234abcd1234-extra end", ["abcd1234", "abcd1234abcd1234-extra"]);
    expect(out).toBe("token=*** end");
  });

  it("boundaries: a line of exactly 8 characters is hidden alone; a secret of 4 is hidden inside words, one of 3 is not", () => {
    expect(ssh.redact("saw 8charsXX", ["8charsXX\nanother-line-of-key"])).toBe("saw ***");
    expect(ssh.redact("saw 12345678 and more", ["x\n12345678\ny"])).toBe("saw *** and more");
    expect(ssh.redact("prefixpw4xsuffix", ["pw4x"])).toBe("prefix***suffix");
    expect(ssh.redact("prefixpw3suffix pw3", ["pw3"])).toBe("prefixpw3suffix ***");
  });

  it("a short secret is hidden everywhere it stands alone, regex characters taken literally", () => {
    expect(ssh.redact("a.b then a.b and axb", ["a.b"])).toBe("*** then *** and axb");
    expect(ssh.redact("x1 x1 x1", ["x1"])).toBe("*** *** ***");
  });
});
