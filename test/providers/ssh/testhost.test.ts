// The test-host fixture itself: real sshd, throwaway root, cleanup.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync } from "node:fs";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");

describe("test host (real sshd in a throwaway root)", () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost();
  });
  afterAll(() => host?.stop());

  it("changes to /etc over SSH stay in the throwaway root (canary)", async () => {
    const canary = `/etc/phoenix-canary-${process.pid}-${Date.now()}`;
    await ssh.withSession(host.target, host.secrets, async (s) => {
      await s.check(`echo hello > ${canary}`, { purpose: "write canary" });
      expect((await s.check(`cat ${canary}`)).stdout).toBe("hello\n");
    });
    expect(existsSync(canary)).toBe(false); // this machine's real /etc is untouched
    expect(existsSync(`${host.rootDir}${canary}`)).toBe(true); // the overlay upper dir has it
    expect((await host.exec(`cat ${canary}`)).stdout).toBe("hello\n");
  });

  it("installTool puts an executable on the session PATH", async () => {
    await host.installTool("phoenix-hello", "#!/bin/sh\necho hello from $0\n");
    const r = await ssh.withSession(host.target, host.secrets, (s) => s.check("phoenix-hello"));
    expect(r.stdout).toBe("hello from /usr/local/sbin/phoenix-hello\n");
    expect(existsSync("/usr/local/sbin/phoenix-hello")).toBe(false);
  });

  it("the fingerprint is ssh-keygen's and matches what the transport computes", () => {
    const blob = Buffer.from(host.hostKeyLine.split(" ")[2], "base64");
    expect(ssh.fingerprintOf(blob)).toBe(host.fingerprint);
  });

  it("startZfsFuse gives a working zpool inside the namespace only", async () => {
    await host.startZfsFuse();
    await ssh.withSession(host.target, host.secrets, async (s) => {
      await s.check("truncate -s 128M /var/tmp/phoenix-vdev0 && zpool create -m /mnt/phoenixtest phoenixtest /var/tmp/phoenix-vdev0", { purpose: "create pool" });
      expect((await s.check("zpool list -H -o name")).stdout).toContain("phoenixtest");
      await s.check("zpool destroy phoenixtest");
    });
    expect(existsSync("/var/tmp/phoenix-vdev0")).toBe(false);
  });

  it("several hosts started at once get their own port, namespace and root", async () => {
    const hosts = await Promise.all([startTestHost(), startTestHost(), startTestHost()]);
    try {
      expect(new Set(hosts.map((h) => h.target.port)).size).toBe(3);
      await Promise.all(hosts.map((h, i) => ssh.withSession(h.target, h.secrets, (s) => s.check(`echo ${i} > /etc/phoenix-which`))));
      for (const [i, h] of hosts.entries()) expect((await h.exec("cat /etc/phoenix-which")).stdout).toBe(`${i}\n`);
    } finally {
      await Promise.all(hosts.map((h) => h.stop()));
    }
  });

  it("stop kills every process of the namespace and removes the fixture", async () => {
    const other = await startTestHost();
    await ssh.withSession(other.target, other.secrets, (s) => s.check("true"));
    const pids = other.processes();
    expect(pids).toContain(other.sshdPid);
    await other.stop();
    for (const p of pids) expect(existsSync(`/proc/${p}`) && !readFileSync(`/proc/${p}/stat`, "utf8").includes(") Z ")).toBe(false);
    expect(existsSync(other.baseDir)).toBe(false);
  });
});
