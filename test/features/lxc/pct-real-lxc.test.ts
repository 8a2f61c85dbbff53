// Real LXC behind the pct emulator (EMU_LXC=real): `pct start` runs a real container from the
// config as Proxmox builds it, in the test host's private pure-cgroup2 namespace, and LXC itself
// refuses what it refuses on a real Proxmox host: a comma-separated lxc.cap.keep, a missing bind
// mount source, an idmap that leaves the container's root unmapped, a malformed idmap,
// overlapping id maps.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator, installStorageCfg } from "../../host/emulator/lib";

const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

describe("pct emulator with real LXC", () => {
  let host: TestHost;
  const pct = (args: string) => host.exec(`/usr/local/sbin/pct ${args}`);
  const ok = async (args: string) => {
    const r = await pct(args);
    expect(r.code, `pct ${args}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  /** Starting with the raw line(s) added fails with LXC's error, and the container stays stopped. */
  const refusedToStart = async (lines: string[], lxcError: RegExp) => {
    await host.exec(`printf '%s\\n' ${lines.map((l) => `'${l}'`).join(" ")} >> /etc/pve/lxc/700.conf`);
    const r = await pct("start 700");
    expect(r.code).toBe(255);
    expect(r.stderr).toMatch(lxcError);
    expect(r.stderr).toContain("startup for container '700' failed");
    expect(await ok("status 700")).toBe("status: stopped\n");
    await host.exec(`for i in ${lines.map(() => "x").join(" ")}; do sed -i '$d' /etc/pve/lxc/700.conf; done`);
  };

  beforeAll(async () => {
    host = await startTestHost({ lxc: true });
    await installEmulator(host, { tools: ["pct"], realLxc: true });
    await installStorageCfg(host, [{ id: "tank-lxc", type: "zfspool", content: ["images", "rootdir"], target: "tank/lxc" }]);
    await ok(`create 700 ${TEMPLATE} --rootfs tank-lxc:4 --unprivileged 1 --hostname real-ct`);
  }, 60_000);
  afterAll(() => host?.stop());

  it("runs an unprivileged container in real namespaces: Proxmox's default idmap, its hostname, pushed files as its root", async () => {
    await ok("start 700");
    expect(await ok("status 700")).toBe("status: running\n");
    expect(await ok("exec 700 -- cat /proc/self/uid_map")).toMatch(/^\s*0\s+100000\s+65536\s*$/);
    expect(await ok("exec 700 -- hostname")).toBe("real-ct\n");
    await host.exec("printf 'echo from-step\\n' > /tmp/step.sh");
    await ok("push 700 /tmp/step.sh /root/step.sh --perms 0700");
    expect(await ok("exec 700 -- /root/step.sh")).toBe("from-step\n");
    // The container's root writes its own files (the rootfs belongs to the mapped ids).
    expect(await ok("exec 700 -- sh -c 'echo x > /etc/written && cat /etc/written'")).toBe("x\n");
    await ok("shutdown 700");
    expect(await ok("status 700")).toBe("status: stopped\n");
  });

  it("a running container's non-hotplugged change waits in [pve:pending]; a reboot applies it to the real container", async () => {
    await ok("start 700");
    await ok("set 700 --timezone Europe/Paris --hostname renamed");
    // hostname is hotplugged (fast-plug); timezone waits for the next start.
    expect(await ok("config 700 --current 1")).toContain("hostname: renamed\n");
    expect(await ok("config 700 --current 1")).not.toContain("timezone");
    expect(await ok("config 700")).toContain("timezone: Europe/Paris\n");
    await ok("reboot 700");
    expect(await ok("status 700")).toBe("status: running\n");
    expect(await ok("exec 700 -- hostname")).toBe("renamed\n");
    expect(await host.exec("cat /etc/pve/lxc/700.conf").then((r) => r.stdout)).not.toContain("[pve:pending]");
    expect(await ok("config 700 --current 1")).toContain("timezone: Europe/Paris\n");
    await ok("set 700 --hostname real-ct --delete timezone");
    await ok("stop 700");
  });

  it("LXC refuses a comma-separated lxc.cap.keep", async () => {
    await refusedToStart(["lxc.cap.keep: sys_admin,net_admin"], /Invalid capability specified|Failed to parse config file/);
  });

  it("LXC refuses a bind mount whose source is missing", async () => {
    await refusedToStart(["lxc.mount.entry: /fastData/missing data none bind,create=dir 0 0"], /Failed to mount "\/fastData\/missing"/);
  });

  it("LXC refuses an idmap that leaves the container's root group unmapped, and a malformed idmap", async () => {
    await refusedToStart(["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 1 100001 65535"], /failed to start|ABORTING|chown/i);
    await refusedToStart(["lxc.idmap: u 0 100000"], /Failed to parse config file|Invalid argument/);
  });

  it("LXC refuses overlapping id maps (the kernel refuses the map), as the chroot mode does", async () => {
    await refusedToStart(["lxc.idmap: u 0 100000 65536", "lxc.idmap: g 0 100000 65536", "lxc.idmap: u 1000 1000 1"], /Failed to write uid mapping[^]*Failed to set up id mapping/);
  });

  it("optional GPU mount entries and cgroup2 device rules pass when the devices are absent", async () => {
    await host.exec("printf '%s\\n' 'lxc.cgroup2.devices.allow: c 195:* rwm' 'lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file' >> /etc/pve/lxc/700.conf");
    await ok("start 700");
    await ok("stop 700");
  });
});
