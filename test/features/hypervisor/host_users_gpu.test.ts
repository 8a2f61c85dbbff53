// Admin user (real useradd, chpasswd, visudo) and NVIDIA driver (stand-in runfile over file://,
// stand-in nvidia-smi), run directly in a throwaway root.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startThrowawayRoot, type ThrowawayRoot } from "./root";
import { aptGet, CALL_LOG, nvidiaInstaller, recorder } from "./stand-ins";
import { loadDist } from "../../load";

const hypervisor = loadDist<typeof import("../../../providers/hypervisor/index")>("providers/hypervisor/index");

let root: ThrowawayRoot;
beforeAll(async () => {
  root = await startThrowawayRoot();
  await root.installTool("apt-get", aptGet);
  await root.installTool("update-initramfs", recorder("update-initramfs"));
});
afterAll(async () => root?.stop());

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3m0dH1lQm2k5p8r9s0t1u2v3w4x5y6z7A8B9C0D1E2 admin@test";
const HASH = "$6$saltsalt$Fv0OijNxxkqvBmhLIYtXJdO2m0pHj7yrNbIuNBQzwdLvLc4JD2yF7q8nUH0SvF8XHwyjlWmKEVVJnGzqIVQ7e/";
const user = { username: "phoenix_admin", sudo: "1", ssh_public_keys: KEY, password_hash: HASH };

describe("admin_user.sh (real useradd, chpasswd, visudo)", () => {
  it("creates user, group, password, validated sudoers drop-in and managed keys", async () => {
    await root.exec("mkdir -p /home && true");
    const r = await root.script("admin_user", "apply", user);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ present: true, matches: true, sudo: true, sshKeys: true, password: "configured", home: "/home/phoenix_admin" });
    expect((await root.exec("getent shadow phoenix_admin | cut -d: -f2")).stdout.trim()).toBe(HASH);
    expect((await root.exec("cat /etc/sudoers.d/phoenix-phoenix_admin")).stdout).toContain("phoenix_admin ALL=(ALL:ALL) ALL");
    expect((await root.exec("visudo -c")).code).toBe(0);
    expect((await root.exec("stat -c '%a %U' /home/phoenix_admin/.ssh /home/phoenix_admin/.ssh/authorized_keys")).stdout).toBe(
      "700 phoenix_admin\n600 phoenix_admin\n",
    );
  });

  it("refuses system accounts (root, www-data, _apt) and changes nothing", async () => {
    for (const username of ["root", "www-data", "_apt"]) {
      const before = (await root.exec(`getent shadow ${username} || true`)).stdout;
      const r = await root.script("admin_user", "apply", { ...user, username });
      expect(r.code, username).not.toBe(0);
      expect(r.stderr).toMatch(/refusing to manage system account/);
      expect((await root.exec(`getent shadow ${username} || true`)).stdout).toBe(before);
      expect((await root.exec(`test -e /etc/sudoers.d/phoenix-${username}`)).code).not.toBe(0);
    }
  });

  it("keeps keys added by hand, restores the managed block, adopts an existing user", async () => {
    await root.exec("echo 'ssh-rsa AAAAB3Nza manual@key' >> /home/phoenix_admin/.ssh/authorized_keys");
    await root.exec("sed -i '/admin@test/d' /home/phoenix_admin/.ssh/authorized_keys");
    expect((await root.script("admin_user", "read", user)).result).toMatchObject({ matches: false, sshKeys: false });
    const r = await root.script("admin_user", "apply", user);
    expect(r.result).toMatchObject({ matches: true });
    const keys = (await root.exec("cat /home/phoenix_admin/.ssh/authorized_keys")).stdout;
    expect(keys).toContain("manual@key");
    expect(keys).toContain("admin@test");
  });

  it("no password hash: the password is locked and sudo needs no password", async () => {
    const r = await root.script("admin_user", "apply", { ...user, password_hash: "" });
    expect(r.result).toMatchObject({ matches: true, password: "locked" });
    expect((await root.exec("cat /etc/sudoers.d/phoenix-phoenix_admin")).stdout).toContain("NOPASSWD: ALL");
  });

  it("refuses a malformed hash or key before changing anything", async () => {
    for (const bad of [{ ...user, password_hash: "plain:text" }, { ...user, ssh_public_keys: "ssh-ed25519 AAAA\nrm -rf /" }, { ...user, username: "root" }]) {
      const r = await root.script("admin_user", "apply", bad);
      expect(r.code).not.toBe(0);
    }
  });

  it("delete removes account and drop-in, keeps the home directory unless destruction is allowed", async () => {
    expect((await root.script("admin_user", "delete", user)).result).toEqual({ present: false });
    expect((await root.exec("getent passwd phoenix_admin")).code).not.toBe(0);
    expect((await root.exec("test -e /etc/sudoers.d/phoenix-phoenix_admin")).code).not.toBe(0);
    expect((await root.exec("test -d /home/phoenix_admin")).code).toBe(0);
    await root.script("admin_user", "apply", { ...user, username: "tmpadmin" });
    await root.script("admin_user", "delete", { ...user, username: "tmpadmin" }, true);
    expect((await root.exec("test -d /home/tmpadmin")).code).not.toBe(0);
  });
});

/** A private /sys/module in the root's namespace: the stand-in kernel's loaded modules. */
const privateSysModule = (r: ThrowawayRoot) => r.exec("mount -t tmpfs phoenix-sysmodule /sys/module");

describe("nvidia_driver.sh (stand-in runfile via file://, stand-in nvidia-smi)", () => {
  const runfile = nvidiaInstaller("580.76.05");
  const params = {
    version: "580.76.05",
    runfile_url: "file:///srv/NVIDIA-Linux-x86_64-580.76.05.run",
    runfile_sha256: createHash("sha256").update(runfile).digest("hex"),
    headers_package: "proxmox-headers-6.8.12-4-pve",
  };

  beforeAll(async () => {
    await privateSysModule(root);
    await root.exec("cat > /srv/NVIDIA-Linux-x86_64-580.76.05.run", { stdin: runfile });
  });

  it("a wrong checksum stops before the installer runs", async () => {
    const r = await root.script("nvidia_driver", "apply", { ...params, runfile_sha256: "0".repeat(64) });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("checksum mismatch");
    expect((await root.exec(`grep -c '^runfile' ${CALL_LOG} || true`)).stdout.trim()).toBe("0");
  });

  it("installs headers, blacklists nouveau (initramfs rebuilt), runs the runfile with DKMS, writes udev rules", async () => {
    expect((await root.script("nvidia_driver", "read", params)).result).toEqual({ present: false, installedVersion: "" });
    const r = await root.script("nvidia_driver", "apply", params);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ present: true, matches: true, version: "580.76.05", rebootRequired: false });
    const calls = (await root.exec(`cat ${CALL_LOG}`)).stdout;
    expect(calls).toContain("runfile --silent --dkms --no-questions --ui=none\n");
    expect(calls).toMatch(/apt-get install .*proxmox-headers-6.8.12-4-pve/);
    expect(calls).toContain("update-initramfs -u");
    expect((await root.exec("cat /etc/modprobe.d/blacklist-nouveau.conf")).stdout).toContain("blacklist nouveau");
    // nvidia_uvm's nodes (Proxmox needs them for the devN entries) are made when the module is added, never on its removal.
    expect((await root.exec("cat /etc/udev/rules.d/70-phoenix-nvidia.rules")).stdout).toContain(
      `ACTION=="add", SUBSYSTEM=="module", KERNEL=="nvidia_uvm", RUN+="/bin/sh -c '/usr/bin/nvidia-modprobe -c0 -u && /bin/chmod 0666 /dev/nvidia-uvm*'"`,
    );
  });

  it("the same version again installs nothing; a different version reinstalls", async () => {
    await root.exec(`: > ${CALL_LOG}`);
    expect((await root.script("nvidia_driver", "apply", params)).code).toBe(0);
    expect((await root.exec(`cat ${CALL_LOG}`)).stdout).toBe("");
    const newer = nvidiaInstaller("580.82.07");
    await root.exec("cat > /srv/new.run", { stdin: newer });
    const r = await root.script("nvidia_driver", "apply", { ...params, version: "580.82.07", runfile_url: "file:///srv/new.run", runfile_sha256: "" });
    expect(r.result).toMatchObject({ version: "580.82.07", matches: true });
    expect((await root.exec(`cat ${CALL_LOG}`)).stdout).toContain("runfile --silent --dkms");
  });

  it("reports rebootRequired while the loaded module is older than the installed one", async () => {
    // modinfo (the module on disk) says 580.82.07; the running module still reports the old version.
    await root.installTool("modinfo", "#!/bin/sh\necho 580.82.07\n");
    await root.exec("printf '#!/bin/sh\\necho 580.76.05\\n' > /usr/local/bin/nvidia-smi");
    const r = await root.script("nvidia_driver", "read", { ...params, version: "580.82.07" });
    expect(r.result).toMatchObject({ version: "580.82.07", loadedVersion: "580.76.05", rebootRequired: true, matches: true });
    await root.exec("rm /usr/local/sbin/modinfo && printf '#!/bin/sh\\necho 580.82.07\\n' > /usr/local/bin/nvidia-smi");
  });

  it("delete leaves the driver installed and says so", async () => {
    const r = await root.script("nvidia_driver", "delete", params);
    expect(r.result).toEqual({ present: false, leftInstalled: true });
    expect(r.stderr).toContain("stays installed");
    expect((await root.script("nvidia_driver", "read", params)).result).toEqual({ present: false, installedVersion: "580.82.07" });
    expect((await root.exec("nvidia-smi")).stdout.trim()).toBe("580.82.07");
  });
});

describe("nvidia_driver.sh on a stock host where nouveau drives the GPU", () => {
  let stock: ThrowawayRoot;
  const runfile = nvidiaInstaller("580.76.05");
  const params = { version: "580.76.05", runfile_url: "file:///srv/NVIDIA-Linux-x86_64-580.76.05.run", runfile_sha256: "", headers_package: "proxmox-headers-6.8.12-4-pve" };
  beforeAll(async () => {
    stock = await startThrowawayRoot();
    await stock.installTool("apt-get", aptGet);
    await stock.installTool("update-initramfs", recorder("update-initramfs"));
    await privateSysModule(stock);
    await stock.exec("mkdir /sys/module/nouveau && cat > /srv/NVIDIA-Linux-x86_64-580.76.05.run", { stdin: runfile });
  });
  afterAll(async () => stock?.stop());

  it("the stand-in installer aborts as NVIDIA's does while nouveau is loaded (the installer's own check and its test load)", async () => {
    const plain = await stock.exec("sh /srv/NVIDIA-Linux-x86_64-580.76.05.run --silent --dkms --disable-nouveau");
    expect(plain.code).toBe(1);
    expect(plain.stderr).toContain("The Nouveau kernel driver is currently in use");
    expect((await stock.exec("cat /etc/modprobe.d/nvidia-installer-disable-nouveau.conf")).stdout).toContain("blacklist nouveau");
    const noCheck = await stock.exec("sh /srv/NVIDIA-Linux-x86_64-580.76.05.run --silent --dkms --no-nouveau-check");
    expect(noCheck.stderr).toContain("Unable to load the kernel module 'nvidia.ko'");
    expect((await stock.exec("test -e /var/lib/nvidia-stand-in/module-version")).code).not.toBe(0);
    await stock.exec(`rm -f /etc/modprobe.d/nvidia-installer-disable-nouveau.conf && : > ${CALL_LOG}`);
  });

  it("the first apply installs the driver without the nouveau check or module load, blacklists nouveau and reports the reboot", async () => {
    const r = await stock.script("nvidia_driver", "apply", params);
    expect(r.code, r.stderr).toBe(0);
    expect((await stock.exec(`grep '^runfile' ${CALL_LOG}`)).stdout).toBe("runfile --silent --dkms --no-questions --ui=none --no-nouveau-check --skip-module-load\n");
    expect(r.stderr).toContain("nouveau is loaded: installing NVIDIA driver 580.76.05 without loading it");
    expect(r.result).toMatchObject({ present: true, matches: true, version: "580.76.05", loadedVersion: "", rebootRequired: true });
    expect(r.result?.rebootReason).toMatch(/^nouveau still drives the GPU/);
    // What pulumi up prints for it (a warning on the host-nvidia resource).
    const notice = hypervisor.nvidiaRebootNotice(r.result);
    expect(notice).toMatch(/^REBOOT REQUIRED: the NVIDIA driver 580\.76\.05 is installed, but nouveau still drives the GPU/);
    expect(notice).toContain("everything without a GPU works");
    expect(notice).toContain("then run `pulumi up` again");
    expect((await stock.exec("cat /etc/modprobe.d/blacklist-nouveau.conf")).stdout).toBe("# Managed by Phoenix: the NVIDIA driver replaces nouveau\nblacklist nouveau\noptions nouveau modeset=0\n");
    expect((await stock.exec(`grep -c 'update-initramfs -u' ${CALL_LOG}`)).stdout.trim()).toBe("1");
    // A second run changes nothing and still says why the host must reboot.
    await stock.exec(`: > ${CALL_LOG}`);
    const again = await stock.script("nvidia_driver", "apply", params);
    expect(again.result).toMatchObject({ matches: true, rebootRequired: true });
    expect((await stock.exec(`cat ${CALL_LOG}`)).stdout).toBe("");
  });

  it("after the reboot (nouveau gone, the NVIDIA module loaded at boot) nothing is pending", async () => {
    await stock.exec("rmdir /sys/module/nouveau && mkdir -p /sys/module/nvidia && echo 580.76.05 > /sys/module/nvidia/version");
    const r = await stock.script("nvidia_driver", "read", params);
    expect(r.result).toMatchObject({ present: true, matches: true, loadedVersion: "580.76.05", rebootRequired: false, rebootReason: "" });
    expect(hypervisor.nvidiaRebootNotice(r.result)).toBeUndefined();
  });
});
