// The container provider kinds (lxc-options, lxc-step, lxc-snapshot) through the lifecycle
// helper, against the real sshd test host with the `pct` emulator installed: providers are
// serialized and loaded as Pulumi's dynamic-provider host does, and every action runs the real
// host script over SSH.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { loadDist, repoRoot } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator, installStorageCfg, readCalls, seedFromDir } from "../../host/emulator/lib";
import { captureProvider, captureResources } from "../harness";
import { runLifecycle } from "../lifecycle";

const lxc = loadDist<typeof import("../../../providers/lxc/index")>("providers/lxc/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

describe("container provider kinds on the test host", () => {
  let host: TestHost;
  const sh = async (cmd: string) => {
    const r = await host.exec(cmd);
    if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
    return r.stdout;
  };
  const capture = async (declare: () => unknown) => {
    const dynamic = (await captureResources(declare)).filter((r) => r.provider);
    expect(dynamic).toHaveLength(1);
    return dynamic[0];
  };

  beforeAll(async () => {
    host = await startTestHost();
    await installEmulator(host, { tools: ["pct"], seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
    // The installer's storages: container root disks on local-lvm (snapshots work there).
    await installStorageCfg(host, []);
    for (const ctid of [300, 301]) await sh(`/usr/local/sbin/pct create ${ctid} ${TEMPLATE} --hostname ct${ctid} --rootfs local-lvm:4 && /usr/local/sbin/pct start ${ctid}`);
  });
  afterAll(() => host?.stop());

  it("lxc-options: lines land in the config under the lock; restart only when a line changed", async () => {
    const declare = (lines: string[], gpus: number[]) => () => new lxc.LxcOptions("ct-300-lxc-options", { connection: host.target, ctid: 300, lines, gpus });
    const first = ["lxc.apparmor.profile=unconfined", "lxc.cgroup2.devices.allow=c 10:229 rwm"];
    const second = ["lxc.apparmor.profile=unconfined", "lxc.mount.entry=/dev/fuse dev/fuse none bind,create=file"];
    const { resource, provider } = await captureProvider(declare(first, []), host.secrets);
    const changed = await capture(declare([...second, ...lxc.gpuLines([0, 1])], [0, 1]));
    const conf = () => sh("cat /etc/pve/lxc/300.conf");
    const restarts = async () => (await readCalls(host)).filter((c) => c[0] === "pct" && c[1] === "reboot" && c[2] === "300").length;
    const before = await restarts();

    const report = await runLifecycle({
      provider,
      inputs: resource.inputs,
      changedInputs: changed.inputs,
      expect,
      verify: {
        async afterCreate(outs) {
          expect(await conf()).toContain("lxc.apparmor.profile: unconfined\nlxc.cgroup2.devices.allow: c 10:229 rwm\n");
          expect(outs.observed).toMatchObject({ changed: true, restarted: true });
        },
        async afterUpdate(outs) {
          const text = await conf();
          expect(text).not.toContain("c 10:229 rwm");
          expect(text).toContain("lxc.apparmor.profile: unconfined\nlxc.mount.entry: /dev/fuse dev/fuse none bind,create=file\n");
          // GPUs 0 and 1: their nodes and the driver's shared ones, optional bind mounts; major 195 allowed.
          for (const node of ["nvidia0", "nvidia1", "nvidiactl"]) {
            expect(text).toContain(`lxc.mount.entry: /dev/${node} dev/${node} none bind,optional,create=file\n`);
          }
          expect(text).toContain("lxc.mount.entry: /dev/nvidia-caps dev/nvidia-caps none bind,optional,create=dir\n");
          expect(text).toContain("lxc.cgroup2.devices.allow: c 195:* rwm\n");
          // nvidia-uvm's major comes with the module load: Proxmox passthrough, resolved at each start.
          expect(text).toMatch(/^dev0: \/dev\/nvidia-uvm\ndev1: \/dev\/nvidia-uvm-tools\n/m);
          expect(outs.observed).toMatchObject({ changed: true, restarted: true });
        },
        async afterDelete() {
          expect(await conf()).not.toMatch(/^lxc\./m);
          expect(await conf()).not.toMatch(/^dev\d+:/m);
          expect(await conf()).toContain("hostname: ct300");
        },
      },
    });
    expect(report.changePath).toBe("update");
    // create, update and delete changed lines; reads and the adopting create did not restart.
    expect((await restarts()) - before).toBe(3);
    expect(await sh("/usr/local/sbin/pct status 300")).toBe("status: running\n");
  });

  it("lxc-options with GPUs: the nvidia-uvm nodes are made (nvidia-modprobe -u -c=0) before devN; a module that cannot load stops first, saying what to do", async () => {
    // Proxmox refuses `pct set --devN` for a node that does not exist (the emulator's
    // check_device); the nodes exist only once nvidia_uvm is loaded and they are created.
    const declare = () => new lxc.LxcOptions("ct-301-lxc-options", { connection: host.target, ctid: 301, lines: lxc.gpuLines([0]), gpus: [0] });
    const { resource, provider } = await captureProvider(declare, host.secrets);
    const conf = () => sh("cat /etc/pve/lxc/301.conf");
    await sh("rm -f /run/pve-emu-dev/dev/nvidia-uvm /run/pve-emu-dev/dev/nvidia-uvm-tools");
    // The GPU is not usable (the module's probe fails): nothing is changed, the error says why.
    await sh("touch /var/lib/nvidia-stand-in/no-gpu");
    await expect(provider.create!(resource.inputs)).rejects.toThrow(/\/dev\/nvidia-uvm could not be created \(nvidia-modprobe -u -c=0 failed/);
    // nouveau still drives it (a driver installed, the reboot pending): reboot, then up again.
    await sh("rm /var/lib/nvidia-stand-in/no-gpu && mount -t tmpfs phoenix-sysmodule /sys/module && mkdir /sys/module/nouveau");
    try {
      await expect(provider.create!(resource.inputs)).rejects.toThrow(/while nouveau drives the GPU: reboot the host/);
    } finally {
      await sh("umount /sys/module");
    }
    expect(await conf()).not.toMatch(/^(dev\d+|lxc\.)/m);
    // No driver at all: nvidia-modprobe is missing.
    await sh("mv /usr/local/sbin/nvidia-modprobe /usr/local/sbin/nvidia-modprobe.off");
    try {
      await expect(provider.create!(resource.inputs)).rejects.toThrow(/nvidia-modprobe is not installed: the host has no NVIDIA driver/);
    } finally {
      await sh("mv /usr/local/sbin/nvidia-modprobe.off /usr/local/sbin/nvidia-modprobe");
    }
    const created = await provider.create!(resource.inputs);
    expect(created.outs.observed).toMatchObject({ matches: true });
    expect(await conf()).toMatch(/^dev0: \/dev\/nvidia-uvm\ndev1: \/dev\/nvidia-uvm-tools\n/m);
    expect(await sh("stat -c '%F %t' /run/pve-emu-dev/dev/nvidia-uvm /run/pve-emu-dev/dev/nvidia-uvm-tools")).toBe("character special file 1fe\ncharacter special file 1fe\n");
    const calls = (await readCalls(host)).map((c) => c.join(" "));
    const made = calls.lastIndexOf("nvidia-modprobe -u -c=0");
    expect(made).toBeGreaterThanOrEqual(0);
    expect(calls.findIndex((c, i) => i > made && c.startsWith("pct set 301 --dev0 /dev/nvidia-uvm"))).toBeGreaterThan(made);
    await provider.delete!(created.id, created.outs);
    expect(await conf()).not.toMatch(/^dev\d+:/m);
  });

  it("lxc-options: a custom AppArmor profile is compiled, written to /etc/apparmor.d and loaded before the line names it", async () => {
    // apparmor_parser on the test host: records its arguments; refuses a profile saying BROKEN.
    await sh(
      "mkdir -p /usr/local/bin && printf '%s\\n' '#!/bin/sh' 'echo \"$*\" >> /var/log/apparmor_parser.calls' 'for a; do f=$a; done' 'if grep -q BROKEN \"$f\"; then echo \"syntax error\" >&2; exit 1; fi' > /usr/local/bin/apparmor_parser && chmod 755 /usr/local/bin/apparmor_parser",
    );
    const profile = "#include <tunables/global>\nprofile lxc-phoenix-v2 flags=(attach_disconnected) {\n  #include <abstractions/lxc/container-base>\n}\n";
    const declare = (text: string) => () =>
      new lxc.LxcOptions("ct-301-lxc-options", { connection: host.target, ctid: 301, lines: ["lxc.apparmor.profile=lxc-phoenix-v2"], apparmor: { name: "lxc-phoenix-v2", text } });
    const { resource, provider } = await captureProvider(declare(profile), host.secrets);
    const created = await provider.create!(resource.inputs);
    expect(await sh("cat /etc/apparmor.d/lxc-phoenix-v2")).toBe(profile + "\n");
    expect(await sh("cat /etc/pve/lxc/301.conf")).toContain("lxc.apparmor.profile: lxc-phoenix-v2\n");
    const calls = (await sh("cat /var/log/apparmor_parser.calls")).trim().split("\n");
    expect(calls).toHaveLength(2);
    expect(calls[0]).toMatch(/^-Q -K \/etc\/apparmor\.d\/lxc-phoenix-v2\.phoenix\.\w+$/);
    expect(calls[1]).toBe("-r /etc/apparmor.d/lxc-phoenix-v2");
    expect((await provider.read!(created.id, created.outs)).props?.observed).toMatchObject({ matches: true, profile_match: true });
    // Edited on the host: drift; a broken new version never replaces the loaded one.
    await sh("echo '# edited' >> /etc/apparmor.d/lxc-phoenix-v2");
    expect((await provider.read!(created.id, created.outs)).props?.observed).toMatchObject({ matches: false, profile_match: false });
    const broken = await capture(declare(profile.replace("}", "BROKEN\n}")));
    await expect(provider.update!(created.id, created.outs, broken.inputs)).rejects.toThrow(/does not compile/);
    expect(await sh("cat /etc/apparmor.d/lxc-phoenix-v2")).toContain("# edited");
    expect(await sh("ls /etc/apparmor.d | grep -c '^lxc-phoenix-v2' || true")).toBe("1\n");
  });

  it("lxc-options: check rejects a line that is not lxc.<key>=<value>", async () => {
    const r = await capture(() => new lxc.LxcOptions("ct-300-lxc-options", { connection: host.target, ctid: 300, lines: ["lxc.ok=1"] }));
    const { provider } = await captureProvider(() => new lxc.LxcOptions("ct-300-lxc-options", { connection: host.target, ctid: 300, lines: ["lxc.ok=1"] }), host.secrets);
    const checked = await provider.check!({}, { ...r.inputs, params: { ctid: "300", options: "lxc.ok=1\nrm -rf /", gpus: "" } });
    expect(checked.failures?.map((f) => f.property)).toEqual(["params.options"]);
  });

  it("lxc-step: a feature runs in the container with pct push/exec; a changed parameter re-runs it", async () => {
    const declare = (timezone: string) => () =>
      new lxc.LxcStep("ct-300-feature-base_setup", {
        connection: host.target,
        ctid: 300,
        step: "feature-base_setup",
        script: registry.featureScript("lxc", "base_setup"),
        env: { env_timezone: timezone },
      });
    const { resource, provider } = await captureProvider(declare("UTC"), host.secrets);
    const changed = await capture(declare("Europe/Berlin"));
    const rootfs = "/var/lib/pve-emu/lxc/300/rootfs";
    const report = await runLifecycle({
      provider,
      inputs: resource.inputs,
      changedInputs: changed.inputs,
      expect,
      verify: {
        async afterCreate(outs) {
          expect(await sh(`cat ${rootfs}/etc/timezone`)).toBe("UTC\n");
          expect(outs.observed).toMatchObject({ present: true, step: "feature-base_setup", matches: true });
        },
        async afterUpdate() {
          expect(await sh(`cat ${rootfs}/etc/timezone`)).toBe("Europe/Berlin\n");
        },
        async afterDelete() {
          expect((await host.exec("test -e /var/lib/phoenix/lxc/300/feature-base_setup.sha256")).code).not.toBe(0);
        },
      },
    });
    expect(report.changePath).toBe("update");
    const calls = (await readCalls(host)).map((c) => c.slice(0, 3).join(" "));
    expect(calls).toContain("pct push 300");
    expect(calls).toContain("pct exec 300");
  });

  it("lxc-step: parameters are named env_<name>; anything else is refused before it reaches the host", async () => {
    await expect(
      captureResources(() => new lxc.LxcStep("ct-300-feature-x", { connection: host.target, ctid: 300, step: "feature-x", script: registry.featureScript("lxc", "docker"), env: { PATH: "/evil" } })),
    ).rejects.toThrow(/env_<lower_snake>/);
  });

  it("lxc-snapshot: takes the snapshot with its trigger, leaves the template stopped, re-takes it on a new trigger", async () => {
    const declare = (trigger: string) => () => new lxc.LxcSnapshot("ct-301-snapshot", { connection: host.target, ctid: 301, snapname: "final-form", trigger });
    const { resource, provider } = await captureProvider(declare("aaaa1111aaaa1111"), host.secrets);
    const changed = await capture(declare("bbbb2222bbbb2222"));
    const snapshots = async () => (await sh("/usr/local/sbin/pct listsnapshot 301")).split("\n").map((l) => l.trim().split(/\s+/)[1]).filter(Boolean);
    const description = () => sh("/usr/local/sbin/pct config 301 --snapshot final-form | sed -n 's/^description: //p'");
    const report = await runLifecycle({
      provider,
      inputs: resource.inputs,
      changedInputs: changed.inputs,
      expect,
      verify: {
        async afterCreate(outs) {
          expect(await sh("/usr/local/sbin/pct status 301")).toBe("status: stopped\n");
          expect(await snapshots()).toEqual(["final-form", "current"]);
          expect(await description()).toBe("phoenix%3Aaaaa1111aaaa1111%0A\n");
          expect(outs.observed).toMatchObject({ taken: true });
        },
        async afterUpdate(outs) {
          expect(await description()).toBe("phoenix%3Abbbb2222bbbb2222%0A\n");
          expect(outs.observed).toMatchObject({ taken: true });
        },
        async afterDelete() {
          expect(await snapshots()).toEqual(["current"]);
        },
      },
    });
    expect(report.changePath).toBe("update");
    const snapCalls = (await readCalls(host)).filter((c) => c[1] === "snapshot" || c[1] === "delsnapshot").map((c) => c.slice(0, 4).join(" "));
    // One snapshot for create (the adopting create found it), delete + snapshot for the update, delete.
    expect(snapCalls).toEqual([
      "pct snapshot 301 final-form",
      "pct delsnapshot 301 final-form",
      "pct snapshot 301 final-form",
      "pct delsnapshot 301 final-form",
    ]);
  });
});
