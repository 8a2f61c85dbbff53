// Fault test: the template snapshot step killed at several points (a power cut of the host step:
// SIGKILL to its process group) and run again. The rerun must converge: one complete snapshot
// (no `snapstate`, no `lock` left), holding the container's files, and nothing duplicated.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { loadDist, repoRoot } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator, installStorageCfg, seedFromDir } from "../../host/emulator/lib";
import { SLOW_CP, hostStepGroups, killHostSteps, waitOnHost } from "../../host/faults";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const lxc = loadDist<typeof import("../../../providers/lxc/index")>("providers/lxc/index");
const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
const CTID = 320;

describe("lxc-snapshot killed mid-way converges on the rerun", () => {
  let host: TestHost;
  let session: import("../../../providers/ssh/types").SshSession;
  beforeAll(async () => {
    host = await startTestHost();
    await installEmulator(host, { tools: ["pct"], seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
    await host.installTool("cp", SLOW_CP);
    // The installer's storages: the root disk on local-lvm (`local` holds no container disks).
    await installStorageCfg(host, []);
    const r = await host.exec(`mkdir -p /run/phoenix-fault && /usr/local/sbin/pct create ${CTID} ${TEMPLATE} --hostname snapfault --rootfs local-lvm:4`);
    expect(r.code, r.stderr).toBe(0);
    session = await ssh.openSession(host.target, host.secrets);
  });
  afterAll(async () => {
    session?.close();
    await host?.stop();
  });

  const script = () => lxc.lxcFile("host/snapshot.sh").text as string;
  const apply = (trigger: string) =>
    base.runHostScript(session, { script: script(), action: "apply", params: { ctid: String(CTID), snapname: "final-form", trigger }, purpose: "apply snapshot", timeoutMs: 120_000 });
  const read = (trigger: string) =>
    base.runHostScript(session, { script: script(), action: "read", params: { ctid: String(CTID), snapname: "final-form", trigger }, purpose: "read snapshot" });
  const conf = async () => (await host.exec(`cat /etc/pve/lxc/${CTID}.conf`)).stdout;

  /** Starts apply, waits for `point` to hold on the host, kills the step, returns the failed run. */
  async function killAt(trigger: string, point: string, slowCopy: boolean) {
    await host.exec(slowCopy ? "touch /run/phoenix-fault/slow-cp" : "rm -f /run/phoenix-fault/slow-cp");
    await host.exec("rm -f /run/phoenix-fault/cp-started");
    const other = await ssh.openSession(host.target, host.secrets);
    const pending = base
      .runHostScript(other, { script: script(), action: "apply", params: { ctid: String(CTID), snapname: "final-form", trigger }, purpose: "apply snapshot", timeoutMs: 120_000 })
      .catch((e: Error) => e);
    if (point === "started") {
      for (let i = 0; i < 800 && hostStepGroups(host).length === 0; i++) await new Promise((r) => setTimeout(r, 5));
    } else await waitOnHost(host, point);
    expect(killHostSteps(host)).toBeGreaterThan(0);
    const outcome = await pending;
    other.close();
    await host.exec("rm -f /run/phoenix-fault/slow-cp");
    return outcome;
  }

  async function expectConverged(trigger: string, marker: string) {
    const again = await apply(trigger);
    expect(again.result).toMatchObject({ present: true, matches: true, complete: true });
    expect((await read(trigger)).result).toMatchObject({ present: true, matches: true, complete: true });
    const text = await conf();
    expect(text).not.toMatch(/^snapstate:/m);
    expect(text).not.toMatch(/^lock:/m);
    expect(text.match(/^\[final-form\]$/gm)).toHaveLength(1);
    // Proxmox keeps a snapshot description as `#` comment lines, percent-encoded (`:` is %3A).
    expect(text).toContain(`#phoenix%3A${trigger}\n`);
    // The snapshot holds the container's files as they were when it was taken.
    const copy = await host.exec(`cat /var/lib/pve-emu/lxc/${CTID}/snapshots/final-form/root/marker`);
    expect(copy.stdout).toBe(`${marker}\n`);
  }

  const points: { name: string; trigger: string; point: string; slow: boolean }[] = [
    { name: "as the step starts (before any pct call)", trigger: "aaaa0001aaaa0001", point: "started", slow: false },
    { name: "mid-copy of the first snapshot (lock: snapshot, snapstate: prepare)", trigger: "aaaa0001aaaa0001", point: "test -e /run/phoenix-fault/cp-started", slow: true },
    { name: "mid-copy of a re-take (old snapshot deleted, new one half made)", trigger: "bbbb0002bbbb0002", point: "test -e /run/phoenix-fault/cp-started", slow: true },
  ];
  for (const [i, p] of points.entries()) {
    it(`killed ${p.name}: the rerun re-takes a complete snapshot`, async () => {
      const marker = `state-${i}`;
      await host.exec(`mkdir -p /var/lib/pve-emu/lxc/${CTID}/rootfs/root && echo ${marker} > /var/lib/pve-emu/lxc/${CTID}/rootfs/root/marker`);
      if (i === 1) await host.exec(`/usr/local/sbin/pct delsnapshot ${CTID} final-form`); // the first snapshot, from nothing
      if (i === 2) expect((await apply("aaaa0001aaaa0001")).result).toMatchObject({ matches: true }); // a good snapshot to re-take
      const killed = await killAt(p.trigger, p.point, p.slow);
      expect(killed).toBeInstanceOf(Error);
      if (p.slow) {
        // What a power cut leaves: Proxmox's marks of an unfinished snapshot, which read reports.
        expect(await conf()).toMatch(/^snapstate: prepare$/m);
        expect((await read(p.trigger)).result).toMatchObject({ present: true, matches: false, complete: false });
      }
      await expectConverged(p.trigger, marker);
    }, 120_000);
  }

  it("lxc-options removes temp files a killed run left in /etc/pve/lxc (under the config lock)", async () => {
    await host.exec(`printf 'half-written\\n' > /etc/pve/lxc/${CTID}.conf.phoenix.Ab12Cd && printf 'x\\n' > /etc/pve/lxc/${CTID}.conf.phoenix.Zz99Yy`);
    const r = await base.runHostScript(session, {
      script: lxc.lxcFile("host/lxc_options.sh").text,
      action: "apply",
      params: { ctid: String(CTID), options: "lxc.apparmor.profile=unconfined", gpus: "" },
      purpose: "apply lxc-options",
    });
    expect(r.result).toMatchObject({ present: true, matches: true });
    expect((await host.exec("ls /etc/pve/lxc")).stdout).toBe(`${CTID}.conf\n`);
  });
});
