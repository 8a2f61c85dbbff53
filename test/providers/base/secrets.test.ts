// Secrets (SSH private key, passphrase, password, secret script parameters) never appear in the
// serialized provider, in plaintext inputs, in errors, in logs, or in the host's process list.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { createHash } from "node:crypto";
import { readdirSync } from "node:fs";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";
import { captureResources, loadProvider } from "../harness";
import { etcFileKind, etcFileScript } from "./etc-file-kind";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");

const TOKEN = "tok-Zq81-secret-VALUE-93";
const PASSWORD = "pw-Hx02-secret-VALUE-77";
const PASSPHRASE = "pp-Lm55-secret-VALUE-31";

/** Everything written to the console or stdout/stderr while fn runs. */
async function captureOutput<T>(fn: () => Promise<T>): Promise<{ value: T | Error; output: string }> {
  const chunks: string[] = [];
  const spies = [
    ...(["log", "info", "warn", "error", "debug"] as const).map((m) => vi.spyOn(console, m).mockImplementation((...a: unknown[]) => void chunks.push(a.map(String).join(" ")))),
    vi.spyOn(process.stdout, "write").mockImplementation((c) => (chunks.push(String(c)), true)),
    vi.spyOn(process.stderr, "write").mockImplementation((c) => (chunks.push(String(c)), true)),
  ];
  try {
    const value = await fn().catch((e: Error) => e);
    return { value, output: chunks.join("\n") };
  } finally {
    for (const s of spies) s.mockRestore();
  }
}

describe("secrets stay secret", () => {
  let host: TestHost;
  let secretsList: string[];
  beforeAll(async () => {
    host = await startTestHost();
    secretsList = [TOKEN, PASSWORD, PASSPHRASE, ...host.secrets.privateKey.split("\n").filter((l) => l.length > 20)];
  });
  afterAll(() => host?.stop());

  const expectClean = (text: string, where: string) => {
    for (const s of secretsList) expect(text.includes(s), `${where} contains a secret`).toBe(false);
  };

  const failingScript = [
    'echo "token is $PHOENIX_TOKEN" >&2',
    'echo "stdout token $PHOENIX_TOKEN"',
    'if [ "$PHOENIX_ACTION" = apply ]; then exit 7; fi',
    "echo 'PHOENIX_RESULT {\"present\":false}'",
  ].join("\n");

  it("the serialized provider and the plaintext inputs hold no secret, even with secrets in the stack config", async () => {
    process.env.PHOENIX_SSH_PASSWORD = PASSWORD;
    try {
      const resources = await captureResources(
        () =>
          new base.HostScriptResource(etcFileKind, "host-etc-file-secret", {
            connection: host.target,
            script: etcFileScript,
            params: { name: "secret", content: "x", mode: "600" },
            secretParams: { token: TOKEN },
          }),
        { config: { "phoenix:sshPrivateKey": host.secrets.privateKey, "phoenix:sshPrivateKeyPassphrase": PASSPHRASE, "phoenix:sshPassword": PASSWORD } },
      );
      const [r] = resources.filter((x) => x.provider);
      expectClean(r.provider!, "serialized provider");
      expect(r.secretInputs).toEqual(["secretParams"]);
      expect(r.inputs.secretParams).toEqual({ token: TOKEN }); // present, but as a Pulumi secret
      const { secretParams: _s, ...plain } = r.inputs;
      expectClean(JSON.stringify(plain), "plaintext inputs");
    } finally {
      delete process.env.PHOENIX_SSH_PASSWORD;
    }
  });

  it("a failing script that prints secrets yields an error and logs without them", async () => {
    const leaky = { ...etcFileScript, text: failingScript, sha256: createHash("sha256").update(failingScript).digest("hex") };
    const [captured] = (
      await captureResources(
        () =>
          new base.HostScriptResource(etcFileKind, "host-etc-file-leaky", {
            connection: host.target,
            script: leaky,
            params: { name: "leaky", content: "x", mode: "600" },
            secretParams: { token: TOKEN },
          }),
      )
    ).filter((x) => x.provider);
    const provider = await loadProvider(captured.provider!, host.secrets);
    const inputs = captured.inputs;
    const { value, output } = await captureOutput(() => provider.create(inputs));
    expect(value).toBeInstanceOf(Error);
    const err = value as Error & { stderrTail?: string };
    expect(err.message).toMatch(/create etc-file \(.*name="leaky".*\) on root@127\.0\.0\.1:\d+ failed with exit code 7: token is \*\*\*/);
    expectClean(err.message, "error message");
    expectClean(String(err.stderrTail), "error stderr tail");
    expectClean(String(err.stack), "error stack");
    expectClean(output, "console output");
  });

  it("outputs, timeouts and connection errors are redacted too", async () => {
    await ssh.withSession(host.target, host.secrets, async (s) => {
      const ok = await base.runHostScript(s, { script: failingScript, action: "read", params: {}, secretParams: { token: TOKEN }, purpose: "read leaky" });
      expect(ok.stdout).toContain("stdout token ***");
      expect(ok.stderr).toContain("token is ***");
      const slow = await base
        .runHostScript(s, { script: 'echo "$PHOENIX_TOKEN" >&2; sleep 30', action: "read", params: {}, secretParams: { token: TOKEN }, timeoutMs: 1000, purpose: "slow leaky" })
        .catch((e: Error) => e);
      expect((slow as Error).message).toMatch(/slow leaky on .*timed out after 1s and was killed; stderr: \*\*\*/);
      expectClean((slow as Error).message, "timeout error");
    });
    // a broken key (one body line missing) whose other lines would show up if an error echoed it
    const lines = host.secrets.privateKey.split("\n");
    const broken = [...lines.slice(0, 2), ...lines.slice(3)].join("\n");
    const e1 = await ssh.withSession(host.target, { privateKey: broken, passphrase: PASSPHRASE, password: PASSWORD }, (s) => s.check("true")).catch((e: Error) => e);
    expect(e1).toBeInstanceOf(Error);
    for (const line of broken.split("\n").filter((l) => l.length > 20)) expect((e1 as Error).message).not.toContain(line);
    expectClean((e1 as Error).message, "connect error");
  });

  it("secret parameters never show in the host's process list and leave no file behind", async () => {
    await ssh.withSession(host.target, host.secrets, async (s) => {
      const running = base.runHostScript(s, {
        script: 'touch /etc/phoenix-secret-running; sleep 2; echo "PHOENIX_RESULT {}"',
        action: "apply",
        params: { visible: "plain" },
        secretParams: { token: TOKEN },
        purpose: "secret in flight",
      });
      for (let i = 0; i < 100 && (await host.exec("test -e /etc/phoenix-secret-running")).code !== 0; i++) await new Promise((r) => setTimeout(r, 50));
      const ps = (await host.exec("ps -eo args")).stdout;
      expect(ps).toContain("sleep 2");
      expect(ps).not.toContain(TOKEN);
      await running;
    });
    // nothing left in the throwaway /tmp (its overlay upper dir holds only what the host wrote)
    expect(readdirSync(`${host.rootDir}/tmp`).filter((f) => f.startsWith("phoenix-run"))).toEqual([]);
  });
});
