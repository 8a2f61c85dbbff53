// Values with `;`, `$()`, backticks, quotes and newlines reach the host as data, never as
// code: through shellQuote, host-script parameters (plain and secret), uploads (content and
// path) and a whole provider create. Every payload would create the canary if it ran.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";
import { captureProvider } from "../harness";
import { etcFileKind, etcFileScript } from "../base/etc-file-kind";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");

const CANARY = "/etc/phoenix-injection-canary";
const PAYLOADS = [
  `; touch ${CANARY}`,
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `'; touch ${CANARY}; echo '`,
  `"; touch ${CANARY}; echo "`,
  `'"'"'$(touch ${CANARY})'"'"'`,
  `line one\ntouch ${CANARY}\nline three\n`,
  `\\'; touch ${CANARY} #`,
  `&& touch ${CANARY} || touch ${CANARY} | touch ${CANARY} > ${CANARY}`,
  `\${IFS}touch\${IFS}${CANARY}`,
  `$((1+1)) * ? [a] ~ -rf --help`,
  `\r\n\t trailing spaces   `,
  `ünïcödé ✓ 🚀`,
  "",
];

describe("values reach the host as data, never as code", () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost();
  });
  afterAll(() => host?.stop());

  const canaryAbsent = () => {
    expect(existsSync(`${host.rootDir}${CANARY}`), "canary in the throwaway root").toBe(false);
    expect(existsSync(CANARY), "canary on this machine").toBe(false);
  };

  it("shellQuote round-trips every payload through a real sh", () => {
    for (const p of PAYLOADS) {
      expect(execFileSync("sh", ["-c", `printf %s ${ssh.shellQuote(p)}`], { encoding: "utf8" })).toBe(p);
    }
    expect(() => ssh.shellQuote("a\0b")).toThrow(/NUL/);
    canaryAbsent();
  });

  it("host-script params and secret params arrive byte for byte", async () => {
    const params = Object.fromEntries(PAYLOADS.map((p, i) => [`v${i}`, p]));
    const secretParams = { token: PAYLOADS[1] + PAYLOADS[6] };
    const script = [
      "mkdir -p /etc/phoenix-inj",
      'for name in $(env | sed -n "s/^PHOENIX_\\(V[0-9]*\\)=.*/\\1/p"); do printenv "PHOENIX_$name" > "/etc/phoenix-inj/$name" || true; done',
      'printf %s "$PHOENIX_TOKEN" > /etc/phoenix-inj/token',
      'printf %s "$PHOENIX_V0" > /etc/phoenix-inj/v0.exact',
      "echo 'PHOENIX_RESULT {\"ok\":true}'",
    ].join("\n");
    const r = await ssh.withSession(host.target, host.secrets, (s) =>
      base.runHostScript(s, { script, action: "apply", params, secretParams, purpose: "injection test" }),
    );
    expect(r.result).toEqual({ ok: true });
    for (let i = 0; i < PAYLOADS.length; i++) {
      // printenv adds one newline; a value's own newlines are kept
      const got = readFileSync(`${host.rootDir}/etc/phoenix-inj/V${i}`, "utf8");
      expect(got, `payload ${i}`).toBe(PAYLOADS[i] + "\n");
    }
    expect(readFileSync(`${host.rootDir}/etc/phoenix-inj/v0.exact`, "utf8")).toBe(PAYLOADS[0]);
    expect(readFileSync(`${host.rootDir}/etc/phoenix-inj/token`, "utf8")).toBe(secretParams.token);
    canaryAbsent();
  });

  it("invalid parameter names, lock names and NUL bytes are refused before anything runs", async () => {
    await ssh.withSession(host.target, host.secrets, async (s) => {
      const run = (over: Record<string, unknown>) =>
        base.runHostScript(s, { script: `touch ${CANARY}`, action: "apply", params: {}, purpose: "bad input", ...over } as Parameters<typeof base.runHostScript>[1]);
      await expect(run({ params: { "a;touch": "x" } })).rejects.toThrow(/invalid parameter name "a;touch"/);
      await expect(run({ params: { Name: "x" } })).rejects.toThrow(/invalid parameter name "Name"/);
      await expect(run({ params: { action: "delete" } })).rejects.toThrow(/invalid parameter name "action"/);
      await expect(run({ params: { ok: "a\0b" } })).rejects.toThrow(/params\.ok: contains a NUL byte/);
      await expect(run({ secretParams: { ok: 5 } })).rejects.toThrow(/secretParams\.ok: expected a string/);
      await expect(run({ lock: "../x; touch" })).rejects.toThrow(/invalid lock name/);
      await expect(run({ action: "apply; touch" })).rejects.toThrow(/invalid host script action/);
    });
    canaryAbsent();
  });

  it("upload writes any content atomically, with its mode, at a path full of shell syntax", async () => {
    const dir = "/etc/phoenix upload $(touch x) `y` 'z'";
    await host.exec(`mkdir -p ${ssh.shellQuote(dir)}`);
    const file = `${dir}/a;b && c`;
    const content = PAYLOADS.join("\u0000\n");
    await ssh.withSession(host.target, host.secrets, (s) => s.upload(file, content, 0o640));
    expect(readFileSync(`${host.rootDir}${file}`, "utf8")).toBe(content);
    expect((await host.exec(`stat -c %a ${ssh.shellQuote(file)}`)).stdout.trim()).toBe("640");
    // no temp file is left behind next to it
    expect((await host.exec(`ls -A ${ssh.shellQuote(dir)}`)).stdout.trim().split("\n")).toEqual(["a;b && c"]);
    await ssh.withSession(host.target, host.secrets, async (s) => {
      await expect(s.upload("relative/path", "x")).rejects.toThrow(/invalid remote path/);
      await expect(s.upload("/etc/../root/x", "x")).rejects.toThrow(/invalid remote path/);
      await expect(s.upload("/etc/x", "x", 0o17777)).rejects.toThrow(/invalid mode/);
    });
    canaryAbsent();
  });

  it("a provider create with hostile params writes them as file content", async () => {
    const content = PAYLOADS.join("|");
    const { resource, provider } = await captureProvider(
      () => new base.HostScriptResource(etcFileKind, "host-etc-file-inj", { connection: host.target, script: etcFileScript, params: { name: "inj", content, mode: "600" } }),
      host.secrets,
    );
    const created = await provider.create((await provider.check!({}, resource.inputs)).inputs);
    expect(created.outs.observed.matches).toBe(true);
    expect(readFileSync(`${host.rootDir}/etc/phoenix-test/inj`, "utf8")).toBe(content);
    canaryAbsent();
  });
});
