// Dialing: refused connections are retried with backoff until sshd answers; a server that
// accepts but never speaks SSH hits the per-dial timeout; attempts are bounded.
import { afterAll, describe, expect, it } from "vitest";
import * as net from "node:net";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");

function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = net.createServer().listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

describe("ssh transport: dialing", () => {
  const hosts: TestHost[] = [];
  afterAll(async () => {
    for (const h of hosts) await h.stop();
  });

  it("a refused connection is retried until the port opens", async () => {
    const host = await startTestHost();
    hosts.push(host);
    // A TCP relay to sshd on a port that refuses connections for the first second.
    const port = await freePort();
    let refusedUntilOpen = 0;
    const relay = net.createServer((client) => {
      const upstream = net.connect(host.target.port, "127.0.0.1");
      client.pipe(upstream).pipe(client);
      client.on("error", () => upstream.destroy());
      upstream.on("error", () => client.destroy());
    });
    const probe = setInterval(() => {
      const s = net.connect(port, "127.0.0.1");
      s.on("error", () => refusedUntilOpen++);
      s.on("connect", () => s.destroy());
    }, 100);
    setTimeout(() => relay.listen(port, "127.0.0.1"), 1000);
    try {
      const r = await ssh.withSession({ ...host.target, port }, host.secrets, (s) => s.check("echo through"));
      expect(r.stdout).toBe("through\n");
      expect(refusedUntilOpen).toBeGreaterThan(0); // the port really refused at first
    } finally {
      clearInterval(probe);
      relay.close();
    }
  });

  it("bounded: a port that stays closed fails after the configured attempts", async () => {
    const port = await freePort();
    const err = await ssh
      .withSession({ host: "127.0.0.1", port, user: "root", hostKey: "SHA256:AAAA", connectAttempts: 2 }, {}, (s) => s.check("true"))
      .catch((e: Error) => e);
    expect((err as Error).message).toMatch(new RegExp(`^cannot connect to root@127\\.0\\.0\\.1:${port}: .*ECONNREFUSED.*\\(after 2 attempts\\)$`));
  });

  it("retries bridge a server that is down for a moment", async () => {
    const host = await startTestHost();
    hosts.push(host);
    // Stop the listener's accepting for a while by pausing it (SIGSTOP): dials queue or fail,
    // then succeed once it continues.
    process.kill(host.sshdPid, "SIGSTOP");
    setTimeout(() => process.kill(host.sshdPid, "SIGCONT"), 1500);
    const r = await ssh.withSession({ ...host.target, connectTimeoutMs: 1000 }, host.secrets, (s) => s.check("echo up"));
    expect(r.stdout).toBe("up\n");
  });

  it("a server that never speaks SSH hits the per-dial timeout, a bounded number of times", async () => {
    let accepted = 0;
    const silent = net.createServer((sock) => {
      accepted++;
      sock.on("error", () => {});
    });
    await new Promise<void>((r) => silent.listen(0, "127.0.0.1", () => r()));
    const port = (silent.address() as net.AddressInfo).port;
    try {
      const err = await ssh
        .withSession({ host: "127.0.0.1", port, user: "root", hostKey: "SHA256:AAAA", connectTimeoutMs: 300, connectAttempts: 2 }, {}, (s) => s.check("true"))
        .catch((e: Error) => e);
      expect((err as Error).message).toBe(`cannot connect to root@127.0.0.1:${port}: Timed out while waiting for handshake (after 2 attempts)`);
      expect(accepted).toBe(2);
    } finally {
      silent.close();
    }
  });
});
