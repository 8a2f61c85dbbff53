// 50 concurrent operations against an sshd with `MaxStartups 5:50:10` (sshd drops new
// unauthenticated connections early with rising probability) all succeed through retries.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");

describe("ssh transport: throttling", () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost({ maxStartups: "5:50:10" });
  });
  afterAll(() => host?.stop());

  it("50 concurrent host-script operations all succeed through retries", async () => {
    const script = 'mkdir -p /etc/phoenix-many && printf %s "$PHOENIX_N" > "/etc/phoenix-many/$PHOENIX_N" && echo "PHOENIX_RESULT {\\"n\\":\\"$PHOENIX_N\\"}"';
    const results = await Promise.all(
      Array.from({ length: 50 }, (_, i) =>
        ssh.withSession(host.target, host.secrets, (s) =>
          base.runHostScript(s, { script, action: "apply", params: { n: String(i) }, lock: "many", purpose: `apply many ${i}`, timeoutMs: 120_000 }),
        ),
      ),
    );
    expect(results.map((r) => r.result.n)).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    const files = (await host.exec("ls /etc/phoenix-many | sort -n")).stdout.trim().split("\n");
    expect(files).toEqual(Array.from({ length: 50 }, (_, i) => String(i)));
    // The throttle really fired: sshd logged dropped connections that the retries absorbed.
    const log = readFileSync(path.join(host.baseDir, "sshd.log"), "utf8");
    const drops = (log.match(/drop connection #\d+/g) ?? []).length;
    console.log(`MaxStartups 5:50:10: sshd dropped ${drops} connection attempts; all 50 operations succeeded`);
    expect(drops).toBeGreaterThan(0);
  });

  it("without retries the same burst fails, so the retries are what made it pass", async () => {
    const outcomes = await Promise.allSettled(
      Array.from({ length: 50 }, () => ssh.withSession({ ...host.target, connectAttempts: 1 }, host.secrets, (s) => s.check("true"))),
    );
    const failed = outcomes.filter((o) => o.status === "rejected") as PromiseRejectedResult[];
    expect(failed.length).toBeGreaterThan(0);
    expect(failed[0].reason.message).toMatch(/cannot connect to root@127\.0\.0\.1:\d+: .*\(after 1 attempts\)/);
  });
});
