// Authentication and host-key trust against the real sshd: key (plain and with passphrase),
// ssh-agent and password work; a wrong key, an unknown host key and a mismatched host key are
// refused with a clear message before any command runs.
import { afterAll, beforeAll, describe, expect, it, vi } from "vitest";
import { execFileSync, spawn, type ChildProcess } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";
import { captureResources } from "../harness";
import { etcFileKind, etcFileScript } from "../base/etc-file-kind";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");

function newKey(dir: string, name: string, passphrase = ""): { privateKey: string; publicKey: string; file: string } {
  const file = path.join(dir, name);
  execFileSync("ssh-keygen", ["-q", "-t", "ed25519", "-N", passphrase, "-C", name, "-f", file]);
  return { privateKey: readFileSync(file, "utf8"), publicKey: readFileSync(`${file}.pub`, "utf8").trim(), file };
}

/** Number of successful logins sshd has logged so far. */
function acceptedLogins(host: TestHost): number {
  return (readFileSync(path.join(host.baseDir, "sshd.log"), "utf8").match(/Accepted (publickey|password)/g) ?? []).length;
}

describe("ssh transport: authentication and host keys", () => {
  let host: TestHost;
  let keys: string;
  beforeAll(async () => {
    host = await startTestHost({ passwordUser: true });
    keys = mkdtempSync(path.join(os.tmpdir(), "phoenix-auth-test-"));
  });
  afterAll(async () => {
    await host?.stop();
    rmSync(keys, { recursive: true, force: true });
  });

  const whoami = (target: Parameters<typeof ssh.withSession>[0], secrets: Parameters<typeof ssh.withSession>[1]) => ssh.withSession(target, secrets, (s) => s.check("id -un", { purpose: "whoami" }));

  it("private key auth works with a known_hosts line and with a SHA256 fingerprint", async () => {
    expect((await whoami(host.target, host.secrets)).stdout).toBe("root\n");
    expect((await whoami({ ...host.target, hostKey: host.fingerprint }, host.secrets)).stdout).toBe("root\n");
  });

  it("an encrypted private key works with its passphrase and fails cleanly without it", async () => {
    const k = newKey(keys, "encrypted", "correct horse battery");
    host.authorizeKey("root", k.publicKey);
    expect((await whoami(host.target, { privateKey: k.privateKey, passphrase: "correct horse battery" })).stdout).toBe("root\n");
    const err = await whoami(host.target, { privateKey: k.privateKey, passphrase: "wrong passphrase" }).catch((e) => e);
    expect(err).toBeInstanceOf(Error);
    expect(err.message).not.toContain("wrong passphrase");
    expect(err.message).not.toContain(k.privateKey.split("\n")[1]);
  });

  it("ssh-agent auth works (key only in the agent)", async () => {
    const k = newKey(keys, "agent-key");
    host.authorizeKey("root", k.publicKey);
    const sock = path.join(keys, "agent.sock");
    const agent: ChildProcess = spawn("ssh-agent", ["-D", "-a", sock], { stdio: "ignore" });
    try {
      for (let i = 0; i < 100 && !existsSync(sock); i++) await new Promise((r) => setTimeout(r, 50));
      execFileSync("ssh-add", [k.file], { env: { ...process.env, SSH_AUTH_SOCK: sock }, stdio: "ignore" });
      expect((await whoami(host.target, { agentSocket: sock })).stdout).toBe("root\n");
      // secretsFromConfig picks the agent up from SSH_AUTH_SOCK
      const saved = process.env.SSH_AUTH_SOCK;
      process.env.SSH_AUTH_SOCK = sock;
      try {
        const secrets = ssh.secretsFromConfig({ get: () => undefined });
        expect(secrets.agentSocket).toBe(sock);
        expect((await whoami(host.target, secrets)).stdout).toBe("root\n");
      } finally {
        if (saved === undefined) delete process.env.SSH_AUTH_SOCK;
        else process.env.SSH_AUTH_SOCK = saved;
      }
    } finally {
      agent.kill();
    }
  });

  it("password auth works for a non-root user, whose commands go through sudo -n", async () => {
    const pw = host.passwordUser!;
    const target = { ...host.target, user: pw.user };
    expect((await whoami(target, { password: pw.password })).stdout).toBe("root\n"); // sudo by default
    expect((await whoami({ ...target, sudo: false }, { password: pw.password })).stdout).toBe(`${pw.user}\n`);
    // without NOPASSWD, sudo -n fails fast with a hint instead of hanging on a prompt
    await host.exec("rm -f /etc/sudoers.d/phoenixpw");
    const err = await whoami(target, { password: pw.password }).catch((e) => e);
    expect(err.message).toMatch(/whoami on phoenixpw@127\.0\.0\.1:\d+ failed with exit code 1 \(sudo -n needs NOPASSWD for this user\): sudo: a password is required/);
    expect(err.message).not.toContain(pw.password);
    const wrong = await whoami({ ...target, sudo: false }, { password: "not-the-password" }).catch((e) => e);
    expect(wrong.message).toMatch(/authentication to phoenixpw@127\.0\.0\.1:\d+ failed/);
    expect(wrong.message).not.toContain("not-the-password");
  });

  it("a wrong key is refused and no command runs", async () => {
    const k = newKey(keys, "stranger");
    const before = acceptedLogins(host);
    const err = await ssh
      .withSession(host.target, { privateKey: k.privateKey }, (s) => s.check("touch /etc/phoenix-wrong-key-canary"))
      .catch((e) => e);
    expect(err.message).toMatch(/^authentication to root@127\.0\.0\.1:\d+ failed: All configured authentication methods failed/);
    expect(acceptedLogins(host)).toBe(before);
    expect(existsSync(`${host.rootDir}/etc/phoenix-wrong-key-canary`)).toBe(false);
  });

  it("an unknown host key (none configured) is refused before connecting", async () => {
    const before = acceptedLogins(host);
    const err = await ssh
      .withSession({ ...host.target, hostKey: undefined }, host.secrets, (s) => s.check("touch /etc/phoenix-unknown-key-canary"))
      .catch((e) => e);
    expect(err.message).toMatch(/refusing to connect to root@127\.0\.0\.1:\d+: no expected host key is configured/);
    expect(acceptedLogins(host)).toBe(before);
    expect(existsSync(`${host.rootDir}/etc/phoenix-unknown-key-canary`)).toBe(false);
  });

  it("a mismatched host key (line or fingerprint) is refused before authenticating", async () => {
    const other = newKey(keys, "other-host").publicKey.split(" ").slice(0, 2).join(" ");
    const otherFp = execFileSync("ssh-keygen", ["-l", "-E", "sha256", "-f", path.join(keys, "other-host.pub")], { encoding: "utf8" }).split(" ")[1];
    const before = acceptedLogins(host);
    for (const hostKey of [`[127.0.0.1]:${host.target.port} ${other}`, otherFp]) {
      const err = await ssh
        .withSession({ ...host.target, hostKey }, host.secrets, (s) => s.check("touch /etc/phoenix-mismatch-canary"))
        .catch((e) => e);
      expect(err.message).toBe(`refusing root@127.0.0.1:${host.target.port}: its host key ${host.fingerprint} does not match the expected host key`);
    }
    expect(acceptedLogins(host)).toBe(before);
    expect(existsSync(`${host.rootDir}/etc/phoenix-mismatch-canary`)).toBe(false);
  });

  it("the explicit opt-out connects and warns on every run", async () => {
    const warn = vi.spyOn(console, "warn").mockImplementation(() => {});
    try {
      const target = { ...host.target, hostKey: undefined, insecureIgnoreHostKey: true };
      await whoami(target, host.secrets);
      await whoami(target, host.secrets);
      const warnings = warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes("NOT verified"));
      expect(warnings).toHaveLength(2);
      expect(warnings[0]).toContain(host.fingerprint);
      // ...and the program says so in every preview/up (once per host)
      warn.mockClear();
      await captureResources(() => {
        for (const n of ["a", "b"]) {
          new base.HostScriptResource(etcFileKind, `host-etc-file-${n}`, { connection: target, script: etcFileScript, params: { name: n, content: "", mode: "644" } });
        }
      });
      const programWarnings = warn.mock.calls.map((c) => String(c[0])).filter((m) => m.includes("NOT verified"));
      expect(programWarnings).toEqual([expect.stringMatching(/^warning: \[runtime\] SSH host key of root@127\.0\.0\.1:\d+ is NOT verified/)]);
    } finally {
      warn.mockRestore();
    }
  });

  it("a bastion (jump host) carries the connection; both host keys are checked", async () => {
    const bastion = { host: "127.0.0.1", port: host.target.port, user: "root", hostKey: host.fingerprint };
    expect((await whoami({ ...host.target, bastion }, host.secrets)).stdout).toBe("root\n");
    const other = newKey(keys, "other-bastion").publicKey.split(" ").slice(0, 2).join(" ");
    const err = await whoami({ ...host.target, bastion: { ...bastion, hostKey: other } }, host.secrets).catch((e) => e);
    expect(err.message).toMatch(/refusing root@127\.0\.0\.1:\d+: its host key SHA256:\S+ does not match/);
  });

  it("host key specs are parsed strictly", () => {
    expect(() => ssh.parseHostKey("not a key")).toThrow(/known_hosts line/);
    expect(() => ssh.parseHostKey("@cert-authority * ssh-ed25519 AAAA")).toThrow(/not supported/);
    expect(ssh.parseHostKey(host.hostKeyLine).algorithms).toEqual(["ssh-ed25519"]);
    expect(ssh.parseHostKey(`# comment\n${host.fingerprint}`).fingerprints).toEqual([host.fingerprint]);
  });
});
