// The `qm` emulator refuses what Proxmox refuses (qemu-server's API2/Qemu.pm, pve-guest-common's
// AbstractConfig.pm, pve-storage's volume_has_feature), with Proxmox's messages. It runs locally
// with its state in a temp dir (EMU_PVE_DIR, EMU_STATE), as the pct emulator's tests do.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../../load";

describe("qm emulator refuses what Proxmox refuses", () => {
  let dir: string;
  const qm = (args: string[], extra: Record<string, string> = {}) =>
    new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const env = { PATH: `${path.join(repoRoot, "test/host/emulator")}:/usr/sbin:/usr/bin:/sbin:/bin`, EMU_STATE: path.join(dir, "state"), EMU_PVE_DIR: path.join(dir, "pve"), EMU_LOG: path.join(dir, "calls.log"), ...extra };
      execFile("qm", args, { env }, (err, stdout, stderr) => resolve({ code: err ? ((err.code ?? 1) as number) : 0, stdout, stderr }));
    });
  const ok = async (...args: string[]) => {
    const r = await qm(args);
    expect(r.code, `qm ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const refused = async (message: string, ...args: string[]) => {
    const r = await qm(args);
    expect(r.code, `qm ${args.join(" ")} should fail`).toBe(255);
    expect(r.stderr).toContain(message);
  };
  const confPath = (vmid: number) => path.join(dir, "pve/qemu-server", `${vmid}.conf`);
  const conf = (vmid: number) => readFileSync(confPath(vmid), "utf8");
  const setLine = (vmid: number, line: string, on: boolean) => {
    const text = conf(vmid).replace(`${line}\n`, "");
    writeFileSync(confPath(vmid), on ? `${line}\n${text}` : text);
  };

  beforeAll(async () => {
    dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-qm-"));
    mkdirSync(path.join(dir, "pve"), { recursive: true });
    writeFileSync(
      path.join(dir, "pve/storage.cfg"),
      "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup,images\n\nlvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n\n" +
        "dir: isos\n\tpath /srv/isos\n\tcontent iso,vztmpl\n",
    );
    await ok("create", "800", "--name", "base", "--scsi0", "local-lvm:vm-800-disk-0,size=8G", "--ide2", "local:cloudinit,media=cdrom");
    await ok("create", "801", "--name", "raw-on-dir", "--scsi0", "local:801/vm-801-disk-0.raw,size=8G");
    await ok("create", "802", "--name", "qcow-on-dir", "--scsi0", "local:802/vm-802-disk-0.qcow2,size=8G");
  });
  afterAll(() => dir && rmSync(dir, { recursive: true, force: true }));

  it("allocates disks and the cloud-init drive only on storages that hold VM images", async () => {
    await refused("storage 'isos' does not support vm images", "create", "805", "--name", "no-images", "--scsi0", "isos:8");
    await refused("storage 'isos' does not support vm images", "create", "806", "--name", "no-images", "--ide2", "isos:cloudinit");
    expect(existsSync(confPath(805)) || existsSync(confPath(806))).toBe(false);
    await ok("create", "807", "--name", "images", "--scsi0", "local-lvm:8", "--ide2", "local:cloudinit");
    expect(conf(807)).toMatch(/^scsi0: local-lvm:vm-807-disk-0,size=8G$/m);
    await ok("destroy", "807");
  });

  it("a config's `lock:` refuses set, start, shutdown, snapshot, clone, destroy, template until unlocked", async () => {
    setLine(800, "lock: backup", true);
    for (const args of [["set", "800", "--cores", "2"], ["start", "800"], ["shutdown", "800"], ["snapshot", "800", "s1"], ["clone", "800", "810"], ["destroy", "800"], ["template", "800"]]) {
      await refused("VM is locked (backup)", ...args);
    }
    await ok("unlock", "800");
    await ok("set", "800", "--cores", "2");
  });

  it("snapshots: configid names, reserved current/pending, not of templates, not of raw disks on dir storages", async () => {
    await refused("invalid configuration ID 'a'", "snapshot", "800", "a");
    await refused("may only be 40 characters long", "snapshot", "800", "x".repeat(41));
    await refused("unable to use snapshot name 'current' (reserved name)", "snapshot", "800", "current");
    await refused("unable to use snapshot name 'pending' (reserved name)", "snapshot", "800", "Pending");
    await refused("snapshot feature is not available", "snapshot", "801", "s1");
    await ok("snapshot", "802", "s1");
    await ok("snapshot", "800", "s1", "--description", "phoenix:abc");
    expect(conf(800)).toMatch(/\[s1\]\n#phoenix%3Aabc\n/);
    // qm prints encode_text of the text, trailing whitespace stripped (parse_vm_config).
    expect(await ok("config", "800", "--snapshot", "s1")).toContain("description: phoenix%3Aabc\n");
    await ok("delsnapshot", "800", "s1");
    await ok("template", "800");
    await refused("you can't take a snapshot if it's a template", "snapshot", "800", "s2");
  });

  it("allocates disks on existing storages, imports images, makes base volumes of a template, resizes without shrinking", async () => {
    await refused("storage 'nowhere' does not exist", "create", "820", "--scsi0", "nowhere:8");
    await ok("create", "820", "--scsi0", "local-lvm:0,import-from=local:iso/cloud.img,size=10G", "--ide2", "local-lvm:cloudinit", "--scsi1", "local-lvm:4");
    expect(conf(820)).toMatch(/^scsi0: local-lvm:vm-820-disk-0,size=10G$/m);
    expect(conf(820)).toMatch(/^scsi1: local-lvm:vm-820-disk-1,size=4G$/m);
    expect(conf(820)).toMatch(/^ide2: local-lvm:vm-820-cloudinit,media=cdrom$/m);
    await ok("resize", "820", "scsi0", "+2G");
    await ok("resize", "820", "scsi1", "6G");
    expect(conf(820)).toMatch(/^scsi0: local-lvm:vm-820-disk-0,size=12G$/m);
    await refused("shrinking disks is not supported", "resize", "820", "scsi0", "8G");
    await refused("you can't resize a cdrom", "resize", "820", "ide2", "8G");
    await refused("disk 'scsi5' does not exist", "resize", "820", "scsi5", "8G");
    await ok("template", "820");
    expect(conf(820)).toMatch(/^scsi0: local-lvm:base-820-disk-0,size=12G$/m);
    await ok("clone", "820", "821");
    expect(conf(821)).toMatch(/^scsi0: local-lvm:vm-821-disk-0,size=12G$/m);
  });

  it("clones: the new config holds `lock: clone` while copying; clones of a template may overlap", async () => {
    const first = qm(["clone", "800", "811", "--name", "a"], { EMU_CLONE_SECONDS: "1" });
    for (let i = 0; i < 100 && !(existsSync(confPath(811)) && conf(811).includes("lock: clone")); i++) await new Promise((r) => setTimeout(r, 20));
    expect(conf(811)).toContain("lock: clone\n");
    await ok("clone", "800", "812");
    expect((await first).code).toBe(0);
    expect(conf(811)).not.toMatch(/lock:|template:/);
    expect(conf(812)).toContain("name: Copy-of-VM-base\n");
    await refused("parameter 'storage' not allowed for linked clones", "clone", "800", "813", "--full", "0", "--storage", "local-lvm");
    await refused("Linked clone feature is not supported for 'local-lvm:vm-811-disk-0' (scsi0)", "clone", "811", "813", "--full", "0");
  });

  it("the guest firewall file comes along on clone and goes with destroy (PVE::Firewall clone_vmfw_conf, remove_vmfw_conf)", async () => {
    const fw = (vmid: number) => path.join(dir, "pve/firewall", `${vmid}.fw`);
    mkdirSync(path.join(dir, "pve/firewall"), { recursive: true });
    writeFileSync(fw(800), "[OPTIONS]\nenable: 1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 22\n");
    writeFileSync(fw(830), "[OPTIONS]\nenable: 0\n");
    await ok("clone", "800", "830");
    expect(readFileSync(fw(830), "utf8")).toBe(readFileSync(fw(800), "utf8"));
    // No file on the source: a stale one of the new VMID is dropped.
    writeFileSync(fw(831), "[OPTIONS]\nenable: 0\n");
    await ok("clone", "801", "831");
    expect(existsSync(fw(831))).toBe(false);
    await ok("destroy", "830");
    expect(existsSync(fw(830))).toBe(false);
    expect(existsSync(fw(800))).toBe(true);
  });
});
