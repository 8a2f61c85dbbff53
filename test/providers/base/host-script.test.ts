// The host script runner against the real sshd: strict bash mode, the PHOENIX_RESULT protocol,
// the host lock, and clear errors.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");

describe("runHostScript", () => {
  let host: TestHost;
  let session: import("../../../providers/ssh/types").SshSession;
  beforeAll(async () => {
    host = await startTestHost();
    session = await ssh.openSession(host.target, host.secrets);
  });
  afterAll(async () => {
    session?.close();
    await host?.stop();
  });

  const run = (script: string, over: Record<string, unknown> = {}) =>
    base.runHostScript(session, { script, action: "read", params: {}, purpose: "read test-kind", ...over } as Parameters<typeof base.runHostScript>[1]);

  it("passes the action, allowDestroy and params as PHOENIX_* and parses the last result line", async () => {
    const r = await run(
      ['echo "PHOENIX_RESULT {\\"early\\":true}"', 'echo "noise"', 'printf \'PHOENIX_RESULT {"action":"%s","allow":"%s","size":"%s"}\\n\' "$PHOENIX_ACTION" "$PHOENIX_ALLOW_DESTROY" "$PHOENIX_POOL_SIZE"'].join("\n"),
      { action: "delete", allowDestroy: true, params: { pool_size: "10G" } },
    );
    expect(r.result).toEqual({ action: "delete", allow: "1", size: "10G" });
    expect(r.stdout).toContain("noise");
  });

  it("parameters too large for an environment string (200 KB, 1 MB) arrive whole; programs the script starts still run", async () => {
    for (const size of [200_000, 1_000_000]) {
      const big = "ab'c$(x)\n".repeat(size / 10);
      const r = await run(
        [
          // an exec after the big value is set: fails with "Argument list too long" if it were exported
          "/bin/true",
          'sum=$(printf %s "$PHOENIX_BIG" | sha256sum | cut -d" " -f1)',
          'printf \'PHOENIX_RESULT {"length":%s,"sum":"%s","small":"%s"}\\n\' "${#PHOENIX_BIG}" "$sum" "$PHOENIX_SMALL"',
        ].join("\n"),
        { params: { big, small: "s" } },
      );
      const { createHash } = await import("node:crypto");
      expect(r.result).toEqual({ length: big.length, sum: createHash("sha256").update(big).digest("hex"), small: "s" });
    }
    // A secret that large is refused before anything runs (secrets never go to a file).
    await expect(run("echo 'PHOENIX_RESULT {}'", { secretParams: { token: "x".repeat(40_000) } })).rejects.toThrow(/secretParams\.token: 40000 bytes/);
  });

  it("runs under set -euo pipefail: a failing command, an unset variable or a failing pipe stops the script", async () => {
    for (const [script, pattern] of [
      ["false\necho 'PHOENIX_RESULT {}'", /failed with exit code 1/],
      ['echo "$PHOENIX_NOT_GIVEN"\necho \'PHOENIX_RESULT {}\'', /failed with exit code 1: .*PHOENIX_NOT_GIVEN: unbound variable/],
      ["false | cat\necho 'PHOENIX_RESULT {}'", /failed with exit code 1/],
    ] as const) {
      await expect(run(script)).rejects.toThrow(pattern);
    }
  });

  it("errors name the purpose, the exit code and the stderr tail", async () => {
    const err = (await run('for i in $(seq 1 3000); do echo "line $i" >&2; done; exit 42').catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/^read test-kind on root@127\.0\.0\.1:\d+ failed with exit code 42: …/);
    expect(err.message).toContain("line 3000");
    expect(err.message).not.toContain("line 1\n");
    expect((err as { code?: unknown }).code).toBe(42);
    await expect(run("echo no result")).rejects.toThrow(/read test-kind: the script exited 0 but printed no PHOENIX_RESULT line/);
    await expect(run("echo 'PHOENIX_RESULT [1]'")).rejects.toThrow(/invalid PHOENIX_RESULT line: PHOENIX_RESULT is not a JSON object/);
    await expect(run("echo 'PHOENIX_RESULT {oops'")).rejects.toThrow(/invalid PHOENIX_RESULT line/);
  });

  it("exit 2 (lib/result.sh's invalid: a refused parameter) is reported as a validation bug; exit 1 is not", async () => {
    const lib = registry.composeScript("features/hypervisor/lib/result.sh");
    const refused = (await run(`what="test-kind x"\n${lib}\ninvalid "pool name 'a b'"`).catch((e: Error) => e)) as Error & { code?: number };
    expect(refused.code).toBe(2);
    expect(refused.message).toMatch(/failed with exit code 2: test-kind x: invalid pool name 'a b'.*\[the host script refused a parameter Phoenix's validation accepted: a Phoenix bug\]$/s);
    const failed = (await run(`what="test-kind x"\n${lib}\ndie "holds data; not destroyed"`).catch((e: Error) => e)) as Error & { code?: number };
    expect(failed.code).toBe(1);
    expect(failed.message).toMatch(/failed with exit code 1: test-kind x: holds data; not destroyed$/);
    expect(failed.message).not.toContain("Phoenix bug");
    const unknown = (await run(`${lib}\nrun_action bogus`).catch((e: Error) => e)) as Error & { code?: number };
    expect(unknown.code).toBe(2);
  });

  it("the script's stdin is /dev/null (a command reading stdin cannot eat anything)", async () => {
    const r = await run('got=$(cat); printf \'PHOENIX_RESULT {"stdin":"%s"}\\n\' "$got"');
    expect(r.result).toEqual({ stdin: "" });
  });

  it("the host lock serializes runs of scripts that edit the same file", async () => {
    const script = 'echo "start $PHOENIX_N" >> /etc/phoenix-lock-test; sleep 0.3; echo "end $PHOENIX_N" >> /etc/phoenix-lock-test; echo "PHOENIX_RESULT {}"';
    await Promise.all(
      [1, 2, 3, 4].map((n) =>
        ssh.withSession(host.target, host.secrets, (s) => base.runHostScript(s, { script, action: "apply", params: { n: String(n) }, lock: "lock-test", purpose: `apply ${n}` })),
      ),
    );
    const lines = (await host.exec("cat /etc/phoenix-lock-test")).stdout.trim().split("\n");
    expect(lines).toHaveLength(8);
    for (let i = 0; i < 8; i += 2) {
      expect(lines[i]).toMatch(/^start \d$/);
      expect(lines[i + 1]).toBe(lines[i].replace("start", "end")); // never interleaved
    }
    expect((await host.exec("test -e /run/lock/phoenix-lock-test.lock")).code).toBe(0);
  });

  it("a run killed outright leaves its /tmp/phoenix-run.* dir; the next run removes it, never a live run's", async () => {
    const { killHostSteps, waitOnHost } = await import("../../host/faults");
    const runDirs = async () => (await host.exec("ls -d /tmp/phoenix-run.* 2>/dev/null || true")).stdout.split("\n").filter(Boolean);
    expect(await runDirs()).toEqual([]);
    // A power cut of a running step: SIGKILL to its whole process group, no trap runs.
    const other = await ssh.openSession(host.target, host.secrets);
    const killed = base.runHostScript(other, { script: "touch /run/phoenix-killme; sleep 60", action: "apply", params: {}, purpose: "to be killed" }).catch((e: Error) => e);
    await waitOnHost(host, "test -e /run/phoenix-killme");
    expect(killHostSteps(host)).toBe(1);
    expect(await killed).toBeInstanceOf(Error);
    other.close();
    const left = await runDirs();
    expect(left).toHaveLength(1);
    // A live run in parallel keeps its dir while the next run sweeps.
    const live = await ssh.openSession(host.target, host.secrets);
    const running = base.runHostScript(live, { script: "touch /run/phoenix-live; sleep 2; echo 'PHOENIX_RESULT {}'", action: "read", params: {}, purpose: "live" });
    await waitOnHost(host, "test -e /run/phoenix-live");
    const liveDir = (await runDirs()).find((d) => !left.includes(d))!;
    expect((await run("ls -d /tmp/phoenix-run.* | tr '\\n' ' ' | sed 's/^/PHOENIX_RESULT {\"dirs\":\"/; s/$/\"}/'")).result?.dirs).not.toContain(left[0]);
    expect(await runDirs()).toContain(liveDir);
    await running;
    live.close();
    await host.exec("rm -f /run/phoenix-killme /run/phoenix-live");
    expect(await runDirs()).toEqual([]);
  });

  it("a script cut off on the way never runs (size and sha256 checked first); an upload cut off replaces nothing", async () => {
    const script = "touch /run/phoenix-cut-canary\nrm -rf /run/phoenix-cut-victim/keep\necho 'PHOENIX_RESULT {}'\n";
    await host.exec("mkdir -p /run/phoenix-cut-victim/keep && rm -f /run/phoenix-cut-canary");
    const { env } = base.hostScriptInputs({ action: "apply", params: {} });
    const full = base.hostScriptStdin(env, script);
    // Cut inside the second line: `rm -rf /run/phoenix-cut-victim/` would run on its own.
    const cut = full.subarray(0, full.indexOf("/keep"));
    for (const stdin of [cut, full.subarray(0, full.indexOf("touch")), Buffer.concat([cut, Buffer.from("\nexit 0\n")])]) {
      const r = await session.run(base.hostScriptWrapper(undefined, 5), { stdin, purpose: "cut script" });
      expect(r.code).toBe(74);
      expect(r.stderr).toMatch(/phoenix: the script arrived incomplete or altered .*: not run/);
    }
    expect((await host.exec("test -e /run/phoenix-cut-canary")).code).not.toBe(0);
    expect((await host.exec("test -d /run/phoenix-cut-victim/keep")).code).toBe(0);
    // The whole script runs.
    expect((await session.run(base.hostScriptWrapper(undefined, 5), { stdin: full, purpose: "whole script" })).code).toBe(0);
    expect((await host.exec("test -e /run/phoenix-cut-canary")).code).toBe(0);

    // An upload whose bytes stop short keeps the old file.
    await host.exec("printf 'old\\n' > /etc/phoenix-upload-cut");
    const { createHash } = await import("node:crypto");
    const content = Buffer.from("new contents of the file\n");
    const upload = ssh.uploadScript("/etc/phoenix-upload-cut", 0o644, content.length, createHash("sha256").update(content).digest("hex"));
    const r = await session.run(upload, { stdin: content.subarray(0, 10), purpose: "cut upload" });
    expect(r.code).toBe(74);
    expect((await host.exec("cat /etc/phoenix-upload-cut; ls -a /etc | grep -c phoenix-upload-cut.phoenix- || true")).stdout).toBe("old\n0\n");
    await session.upload("/etc/phoenix-upload-cut", content);
    expect((await host.exec("cat /etc/phoenix-upload-cut")).stdout).toBe(content.toString());
  });

  it("a read-only run (doctor) writes no run dir and removes no leftover; a cut script does not run", async () => {
    await host.exec("d=/tmp/phoenix-run.c0ffee00 && mkdir -p $d && : > $d/.alive && touch -d '-2 minutes' $d");
    const before = (await host.exec("stat -c '%y' /tmp; ls -d /tmp/phoenix-run.*")).stdout;
    const r = await run("printf 'PHOENIX_RESULT {\"pwd\":\"%s\",\"tmp\":\"%s\"}\\n' \"$PWD\" \"${TMPDIR:-}\"\n", { readOnly: true });
    expect(r.result).toEqual({ pwd: "/", tmp: "" });
    expect((await host.exec("stat -c '%y' /tmp; ls -d /tmp/phoenix-run.*")).stdout).toBe(before);
    const { env } = base.hostScriptInputs({ action: "read", params: {} });
    const full = base.hostScriptStdin(env, "touch /run/phoenix-ro-canary\necho 'PHOENIX_RESULT {}'\n");
    const cut = await session.run(base.readOnlyHostScriptWrapper(), { stdin: full.subarray(0, full.length - 10), purpose: "cut read-only" });
    expect(cut.code).toBe(74);
    expect((await host.exec("test -e /run/phoenix-ro-canary")).code).not.toBe(0);
    await host.exec("rm -rf /tmp/phoenix-run.c0ffee00");
  });

  it("a busy lock is reported after waiting, not hung on", async () => {
    const holder = host.exec("flock /run/lock/phoenix-busy.lock sleep 6");
    await new Promise((r) => setTimeout(r, 500));
    const err = (await run("echo 'PHOENIX_RESULT {}'", { lock: "busy", timeoutMs: 2000 }).catch((e: Error) => e)) as Error;
    expect(err.message).toMatch(/failed with exit code 75: phoenix: host lock \/run\/lock\/phoenix-busy\.lock is busy \(waited 1s\)/);
    await holder;
  });

  it("the wrapper and the upload script are shellcheck-clean", () => {
    const dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-shellcheck-"));
    try {
      const files = {
        "wrapper-lock.sh": base.hostScriptWrapper("zfs", 30),
        "wrapper.sh": base.hostScriptWrapper(undefined, 30),
        "wrapper-log.sh": base.hostScriptWrapper("zfs", 30, { name: "lxc-step-950-app", secretNames: ["password"], header: "create lxc-step (it's \"950\")" }),
        "wrapper-read-only.sh": base.readOnlyHostScriptWrapper(),
        "upload.sh": ssh.uploadScript("/etc/pve/it's here/x.conf", 0o640, 12, "0".repeat(64)),
      };
      for (const [name, text] of Object.entries(files)) writeFileSync(path.join(dir, name), `#!/bin/sh\n${text}\n`);
      const r = spawnSync("shellcheck", ["-s", "sh", ...Object.keys(files).map((f) => path.join(dir, f))], { encoding: "utf8" });
      expect(r.stdout + r.stderr).toBe("");
      expect(r.status).toBe(0);
      // The step log's filter is bash, run with `bash -c`: checked as bash.
      const filter = /bash --norc --noprofile -c '((?:[^']|'\\'')*)'/.exec(files["wrapper-log.sh"])![1].replace(/'\\''/g, "'");
      writeFileSync(path.join(dir, "filter.sh"), `#!/bin/bash\n${filter}\n`);
      const f = spawnSync("shellcheck", ["-s", "bash", path.join(dir, "filter.sh")], { encoding: "utf8" });
      expect(f.stdout + f.stderr).toBe("");
      expect(filter).toContain("secrets+=");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("upload works through sudo for a non-root user", async () => {
    const other = await startTestHost({ passwordUser: true });
    try {
      const target = { ...other.target, user: other.passwordUser!.user };
      await ssh.withSession(target, { password: other.passwordUser!.password }, (s) => s.upload("/etc/phoenix-sudo-upload", "via sudo\n", 0o600));
      expect((await other.exec("stat -c '%U %a' /etc/phoenix-sudo-upload && cat /etc/phoenix-sudo-upload")).stdout).toBe("root 600\nvia sudo\n");
    } finally {
      await other.stop();
    }
  });
});
