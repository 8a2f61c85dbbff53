import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startThrowawayRoot, type ThrowawayRoot } from "./root";
import { aptGet, CALL_LOG } from "./stand-ins";

let root: ThrowawayRoot;
beforeAll(async () => {
  root = await startThrowawayRoot();
  await root.installTool("apt-get", aptGet);
  // An enterprise repository as a fresh Proxmox install has it.
  await root.exec(
    "mkdir -p /etc/apt/sources.list.d && echo 'deb https://enterprise.proxmox.com/debian/pve bookworm pve-enterprise' > /etc/apt/sources.list.d/pve-enterprise.list",
  );
});
afterAll(async () => root?.stop());

const params = {
  timezone: "America/New_York",
  packages: "coreutils phoenix-test-tool",
  arc_max_gb: "16",
  subscription: "0",
  codename: "bookworm",
};

describe("initial_setup.sh", () => {
  it("read before the first apply: not managed yet", async () => {
    const r = await root.script("initial_setup", "read", params);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toEqual({ present: false });
  });

  it("apply converges: timezone, repositories, packages, ARC limit; then read shows no drift", async () => {
    const r = await root.script("initial_setup", "apply", params);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result!.drift).toEqual([]);
    expect(r.result!.matches).toBe(true);
    expect(r.result!.enterpriseRepo).toBe(false);
    expect(r.result!.timezone).toBe("America/New_York");
    expect((await root.exec("readlink /etc/localtime; cat /etc/timezone")).stdout).toBe(
      "/usr/share/zoneinfo/America/New_York\nAmerica/New_York\n",
    );
    expect((await root.exec("cat /etc/modprobe.d/zfs.conf")).stdout).toContain("options zfs zfs_arc_max=17179869184");
    expect((await root.exec("cat /etc/apt/sources.list.d/pve-no-subscription.list")).stdout).toContain(
      "deb http://download.proxmox.com/debian/pve bookworm pve-no-subscription",
    );
    expect((await root.exec("cat /etc/apt/sources.list.d/pve-enterprise.list")).stdout).toMatch(/^# disabled by Phoenix/);
    const calls = (await root.exec(`cat ${CALL_LOG}`)).stdout;
    expect(calls).toContain("install -y -q --no-install-recommends phoenix-test-tool");
    expect(calls).not.toMatch(/install.*coreutils/);
  });

  it("a second apply changes nothing (no apt-get call)", async () => {
    await root.exec(`: > ${CALL_LOG}`);
    const r = await root.script("initial_setup", "apply", params);
    expect(r.code, r.stderr).toBe(0);
    expect((await root.exec(`cat ${CALL_LOG}`)).stdout).toBe("");
  });

  it("read reports drift made by hand, apply restores it", async () => {
    await root.exec("echo 'options zfs zfs_arc_max=1' > /etc/modprobe.d/zfs.conf && echo Europe/Paris > /etc/timezone");
    const r = await root.script("initial_setup", "read", params);
    expect(r.result!.drift).toEqual(["timezone", "arc_max_gb"]);
    expect(r.result!.matches).toBe(false);
    expect(r.result!.timezone).toBe("Europe/Paris");
    const fixed = await root.script("initial_setup", "apply", params);
    expect(fixed.result!.drift).toEqual([]);
  });

  it("delete leaves the settings in place and ends the management", async () => {
    const r = await root.script("initial_setup", "delete", params);
    expect(r.result).toEqual({ present: false, leftInPlace: true });
    expect((await root.script("initial_setup", "read", params)).result).toEqual({ present: false });
    expect((await root.exec("cat /etc/timezone")).stdout).toBe("America/New_York\n");
  });

  it("Proxmox 9 deb822 sources: the enterprise repository gets Enabled: no; with a subscription it stays on", async () => {
    await root.exec(
      "printf 'Types: deb\\nURIs: https://enterprise.proxmox.com/debian/pve\\nSuites: trixie\\nComponents: pve-enterprise\\n' > /etc/apt/sources.list.d/pve-enterprise.sources",
    );
    const subscribed = await root.script("initial_setup", "apply", { ...params, subscription: "1" });
    expect(subscribed.result).toMatchObject({ enterpriseRepo: true, matches: true });
    expect((await root.exec("cat /etc/apt/sources.list.d/pve-enterprise.sources")).stdout).not.toContain("Enabled");
    const r = await root.script("initial_setup", "apply", params);
    expect(r.result).toMatchObject({ enterpriseRepo: false, matches: true });
    expect((await root.exec("cat /etc/apt/sources.list.d/pve-enterprise.sources")).stdout).toContain("Enabled: no\n");
  });

  it("rejects an invalid timezone before touching anything", async () => {
    const r = await root.script("initial_setup", "apply", { ...params, timezone: "Mars/$(touch /tmp/pwned)" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("invalid timezone");
    expect((await root.exec("test -e /tmp/pwned")).code).not.toBe(0);
  });
});
