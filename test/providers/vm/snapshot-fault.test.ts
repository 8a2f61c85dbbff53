// An interrupted `qm snapshot` (what a kill between Proxmox's prepare and commit leaves: the
// section marked `snapstate: prepare`, the VM `lock: snapshot`) is detected by read and re-taken
// by apply, not accepted because its description already matches.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";
import { installQm, qm } from "./emulator";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const vm = loadDist<typeof import("../../../providers/vm/index")>("providers/vm/index");

describe("vm-snapshot after an interrupted qm snapshot", () => {
  let host: TestHost;
  let session: import("../../../providers/ssh/types").SshSession;
  beforeAll(async () => {
    host = await startTestHost();
    await installQm(host);
    await qm(host, "create 8120 --name snapfault");
    session = await ssh.openSession(host.target, host.secrets);
  });
  afterAll(async () => {
    session?.close();
    await host?.stop();
  });

  const run = (action: "read" | "apply") =>
    base.runHostScript(session, { script: vm.vmHostScript("snapshot").text, action, params: { vmid: "8120", name: "base", after: "abc123" }, purpose: `${action} vm snapshot` });
  const conf = async () => (await host.exec("cat /etc/pve/qemu-server/8120.conf")).stdout;

  it("read reports it as not matching; apply unlocks, removes and re-takes it; the rerun is a no-op", async () => {
    expect((await run("apply")).result).toMatchObject({ present: true, matches: true });
    // The state a kill between prepare and commit leaves behind (pve-guest-common AbstractConfig).
    const r = await host.exec(
      "f=/etc/pve/qemu-server/8120.conf && awk '/^\\[base\\]$/ { print; print \"snapstate: prepare\"; next } { print }' $f > $f.t && mv $f.t $f && " +
        "sed -i '1i lock: snapshot' $f",
    );
    expect(r.code, r.stderr).toBe(0);
    // Proxmox itself refuses to touch a locked VM's snapshots.
    const refused = await host.exec("/usr/local/sbin/qm delsnapshot 8120 base");
    expect(refused.code).toBe(255);
    expect(refused.stderr).toContain("VM is locked (snapshot)");
    expect((await run("read")).result).toMatchObject({ present: true, matches: false });
    const fixed = await run("apply");
    expect(fixed.result).toMatchObject({ present: true, matches: true });
    expect(fixed.stdout).toContain("incomplete (interrupted)");
    const text = await conf();
    expect(text).not.toMatch(/^snapstate:/m);
    expect(text).not.toMatch(/^lock:/m);
    expect(text.match(/^\[base\]$/gm)).toHaveLength(1);
    expect((await run("read")).result).toMatchObject({ matches: true });
    expect((await run("apply")).stdout).toContain("is up to date");
  });
});
