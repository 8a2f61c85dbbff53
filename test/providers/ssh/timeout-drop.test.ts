// Per-command timeouts really kill the remote command (its whole process group, even if it
// ignores SIGTERM), and a connection dropped mid-command is reported; rerunning the interrupted
// host script converges (the host lock serializes it behind the orphaned first run).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");

describe("ssh transport: timeouts and dropped connections", () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost();
  });
  afterAll(() => host?.stop());

  /** Processes (anywhere) whose command line contains the tag. */
  const alive = async (tag: string) => {
    const r = await host.exec(`pgrep -f -- '[${tag[0]}]${tag.slice(1)}' || true`);
    return r.stdout.trim().split("\n").filter(Boolean);
  };

  it("a command past its timeout is killed with its children and reported; the session stays usable", async () => {
    const tag = `phxto${process.pid}a`;
    await ssh.withSession(host.target, host.secrets, async (s) => {
      const cmd = `bash -c 'exec -a ${tag}-child sleep 300' & bash -c 'exec -a ${tag}-main sleep 300'; wait`;
      const started = Date.now();
      const err = await s.run(cmd, { timeoutMs: 1500, purpose: "wait for something slow" }).catch((e: Error) => e);
      expect(err).toBeInstanceOf(Error);
      expect((err as Error).message).toMatch(/^wait for something slow on root@127\.0\.0\.1:\d+: timed out after 2s and was killed/);
      expect(Date.now() - started).toBeLessThan(60_000);
      expect(await alive(tag)).toEqual([]);
      expect((await s.check("echo still here")).stdout).toBe("still here\n");
    });
  });

  it("a command ignoring SIGTERM is killed after the grace period", async () => {
    const tag = `phxto${process.pid}b`;
    const err = await ssh
      .withSession(host.target, host.secrets, (s) => s.run(`trap '' TERM; exec bash -c "trap '' TERM; exec -a ${tag} sleep 300"`, { timeoutMs: 1000, purpose: "stubborn" }))
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(/stubborn on root@127\.0\.0\.1:\d+: timed out after 1s and was killed/);
    expect(await alive(tag)).toEqual([]);
  });

  /** Kills sshd's processes serving connections (not the listener): the connection drops. */
  const dropConnections = async () => {
    let killed = 0;
    for (const pid of host.processes()) {
      if (pid === host.sshdPid) continue;
      let cmdline: string;
      try {
        cmdline = readFileSync(`/proc/${pid}/cmdline`, "utf8");
      } catch {
        continue;
      }
      if (/^sshd: root/.test(cmdline)) {
        process.kill(pid, "SIGKILL");
        killed++;
      }
    }
    return killed;
  };

  it("a connection dropped mid-command is reported, and a rerun of the host script converges", async () => {
    const script = [
      "mkdir -p /etc/phoenix-converge",
      'printf %s "$PHOENIX_VALUE" > /etc/phoenix-converge/part1',
      "if [ -e /etc/phoenix-converge/slow ]; then sleep 3; fi",
      'printf %s "$PHOENIX_VALUE" > /etc/phoenix-converge/part2',
      "echo 'PHOENIX_RESULT {\"present\":true}'",
    ].join("\n");
    const run = { script, action: "apply" as const, params: { value: "v2" }, lock: "converge-test", timeoutMs: 60_000, purpose: "apply converge-test" };
    await host.exec("mkdir -p /etc/phoenix-converge && touch /etc/phoenix-converge/slow && printf v1 > /etc/phoenix-converge/part2");

    const session = await ssh.openSession(host.target, host.secrets);
    const pending = base.runHostScript(session, run).catch((e: Error) => e);
    // Drop the connection once the script is inside its slow step.
    for (let i = 0; i < 200 && (await host.exec("cat /etc/phoenix-converge/part1 2>/dev/null")).stdout !== "v2"; i++) await new Promise((r) => setTimeout(r, 50));
    expect(await dropConnections()).toBeGreaterThan(0);
    const err = (await pending) as Error;
    session.close();
    expect(err).toBeInstanceOf(Error);
    expect(err.message).toMatch(/^apply converge-test on root@127\.0\.0\.1:\d+: connection lost while the command ran/);
    expect((await host.exec("cat /etc/phoenix-converge/part2")).stdout).toBe("v1"); // interrupted half-way

    // A later command on the dead session is refused clearly, not hung.
    await expect(session.run("true", { purpose: "after the drop" })).rejects.toThrow(/after the drop on root@127\.0\.0\.1:\d+: connection lost/);

    await host.exec("rm -f /etc/phoenix-converge/slow");
    const rerun = await ssh.withSession(host.target, host.secrets, (s) => base.runHostScript(s, run));
    expect(rerun.result).toEqual({ present: true });
    expect((await host.exec("cat /etc/phoenix-converge/part1 /etc/phoenix-converge/part2")).stdout).toBe("v2v2");
  });

  it("a host that stops answering mid-command ends at the command's timeout, not a keepalive minute later", async () => {
    const tag = `phxto${process.pid}c`;
    const session = await ssh.openSession(host.target, host.secrets);
    const sessionPids = () =>
      host.processes().filter((pid) => {
        if (pid === host.sshdPid) return false;
        try {
          return /^sshd: root/.test(readFileSync(`/proc/${pid}/cmdline`, "utf8"));
        } catch {
          return false;
        }
      });
    const started = Date.now();
    const pending = session.run(`bash -c 'exec -a ${tag} sleep 300'`, { timeoutMs: 2000, purpose: "wait on a frozen host" }).catch((e: Error) => e);
    for (let i = 0; i < 100 && (await alive(tag)).length === 0; i++) await new Promise((r) => setTimeout(r, 50));
    expect((await alive(tag)).length).toBeGreaterThan(0);
    // Freeze the host's side of the connection: the TCP connection stays up, nothing answers.
    const frozen = sessionPids();
    expect(frozen.length).toBeGreaterThan(0);
    for (const pid of frozen) process.kill(pid, "SIGSTOP");
    try {
      const err = (await pending) as Error;
      const elapsed = Date.now() - started;
      expect(err).toBeInstanceOf(Error);
      expect(err.message).toMatch(/^wait on a frozen host on root@127\.0\.0\.1:\d+: timed out after 2s and the host stopped answering/);
      // 2 s timeout + 5 s remote kill grace + 1 s: well before the keepalive's 60 s.
      expect(elapsed).toBeLessThan(15_000);
      await expect(session.run("true", { purpose: "after the freeze" })).rejects.toThrow(/connection lost/);
    } finally {
      for (const pid of frozen) {
        try {
          process.kill(pid, "SIGCONT");
        } catch {
          // gone
        }
      }
      session.close();
    }
  });
});
