// The `pct` emulator behaves as pct(1) and pct.conf(5) describe, for what Phoenix relies on:
// config format with snapshot sections, clone from a snapshot, the rules about running
// containers, errors with Proxmox's messages and exit code 255, and the call log.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { emulated, type Emulated } from "./container";
import { repoRoot } from "../../load";

/** A node's storage.cfg: the installer's storages plus a ZFS pool storage and a directory storage. */
const NODE_STORAGE_CFG =
  "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n\nlvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n\n" +
  "zfspool: tank-disks\n\tpool tank/disks\n\tcontent images,rootdir\n\ndir: slow\n\tpath /srv/slow\n\tcontent images,rootdir\n";

const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

/** `pct ARGS` in the emulated host `e()`, and `ok(ARGS)`: the same, expected to succeed (its stdout). */
function pctOf(e: () => Emulated) {
  const pct = (...args: string[]) => e().run("pct", args);
  const ok = async (...args: string[]) => {
    const r = await pct(...args);
    expect(r.code, `pct ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  return { pct, ok };
}

describe("pct emulator", () => {
  let e: Emulated;
  const { pct, ok } = pctOf(() => e);
  const conf = (ctid: number) => readFileSync(path.join(e.dir, "pve/lxc", `${ctid}.conf`), "utf8");

  beforeAll(() => {
    e = emulated();
    // A node with the installer's storages plus a ZFS pool storage and a directory storage.
    mkdirSync(path.join(e.dir, "pve"), { recursive: true });
    writeFileSync(path.join(e.dir, "pve/storage.cfg"), NODE_STORAGE_CFG);
  });
  afterAll(() => e?.cleanup());

  it("create writes pct.conf: sorted keys, allocated rootfs, defaults, raw lxc keys last", async () => {
    await ok("create", "400", TEMPLATE, "--hostname", "base", "--cores", "2", "--memory", "2048", "--rootfs", "local-lvm:8",
      "--net0", "name=eth0,bridge=vmbr0,ip=dhcp", "--features", "nesting=1,keyctl=1", "--unprivileged", "1", "--mp0", "local-lvm:4,mp=/data");
    const text = conf(400);
    expect(text).toMatch(/^arch: amd64\ncores: 2\nfeatures: nesting=1,keyctl=1\nhostname: base\nmemory: 2048\nmp0: local-lvm:vm-400-disk-1,size=4G,mp=\/data\nnet0: name=eth0,bridge=vmbr0,ip=dhcp,hwaddr=BC:24:11:[0-9A-F:]{8},type=veth\nostype: ubuntu\nrootfs: local-lvm:vm-400-disk-0,size=8G\nswap: 512\nunprivileged: 1\n$/);
    expect(await ok("status", "400")).toBe("status: stopped\n");
    const again = await pct("create", "400", TEMPLATE);
    expect(again.code).toBe(255);
    expect(again.stderr).toContain("CT 400 already exists");
    const bad = await pct("set", "400", "--bogus", "1");
    expect(bad.code).toBe(255);
    expect(bad.stderr).toContain("Unknown option: bogus");
    expect((await pct("create", "401", "local:iso/not-a-template.iso")).stderr).toContain("invalid template volume");
  });

  it("pct set --mpN <storage>:<GiB>,mp=<path> allocates a new volume on a storage holding rootdir, under a free name", async () => {
    // pve-container: mpN "Use the special syntax STORAGE_ID:SIZE_IN_GiB to allocate a new volume".
    await ok("set", "400", "--mp1", "tank-disks:2,mp=/extra");
    expect(conf(400)).toMatch(/^mp1: tank-disks:subvol-400-disk-2,size=2G,mp=\/extra$/m);
    // `local` holds no container directories: refused as at creation.
    const noRootdir = await pct("set", "400", "--mp2", "local:1,mp=/other");
    expect(noRootdir.code).toBe(255);
    // update_pct_config's check_content_type, before anything is allocated.
    expect(noRootdir.stderr).toContain("storage 'local' does not allow content type 'rootdir' (Container)");
    await ok("set", "400", "--delete", "mp1");
    expect(conf(400)).not.toMatch(/^mp1:/m);
    // A name the container already references is never handed out again (mp0 replaced: its
    // volume stays the container's until Proxmox frees it).
    await ok("create", "402", TEMPLATE, "--rootfs", "local-lvm:1", "--mp0", "local-lvm:1,mp=/a");
    await ok("set", "402", "--mp0", "local-lvm:1,mp=/b");
    expect(conf(402)).toMatch(/^mp0: local-lvm:vm-402-disk-2,size=1G,mp=\/b$/m);
    await ok("destroy", "402");
  });

  it("start/stop/exec/push follow the running state; exec runs inside the container's root", async () => {
    expect((await pct("exec", "400", "--", "true")).stderr).toContain("CT 400 not running");
    await ok("start", "400");
    expect((await pct("start", "400")).stderr).toContain("CT 400 already running");
    writeFileSync(path.join(e.dir, "payload"), "hello\n");
    await ok("push", "400", path.join(e.dir, "payload"), "/root/payload", "--perms", "0600");
    expect(await ok("exec", "400", "--", "cat", "/root/payload")).toBe("hello\n");
    // pct exec keeps the caller's environment (lxc-attach --keep-env, pct's default) unless --keep-env 0.
    expect(await ok("exec", "400", "--", "sh", "-c", "echo ${EMU_STATE:-unset}")).toBe(`${e.env.EMU_STATE}\n`);
    expect(await ok("exec", "400", "--keep-env", "0", "--", "sh", "-c", "echo ${EMU_STATE:-unset}")).toBe("unset\n");
    expect(existsSync(path.join(e.rootfs(400), "root/payload"))).toBe(true);
    const destroy = await pct("destroy", "400");
    expect(destroy.stderr).toContain("CT 400 is running - destroy failed");
  });

  it("refuses a full clone of a running container without a snapshot", async () => {
    const r = await pct("clone", "400", "402", "--full", "1");
    expect(r.code).toBe(255);
    expect(r.stderr).toContain("Full clone of a running container is only possible from a snapshot");
    // The refused clone left no lock behind on the source.
    expect(conf(400)).not.toContain("lock:");
  });

  it("snapshot/listsnapshot/config --snapshot/delsnapshot keep Proxmox's config sections", async () => {
    await ok("snapshot", "400", "final-form", "--description", "phoenix:abc");
    const text = conf(400);
    expect(text).toContain("\nparent: final-form\n");
    // Proxmox keeps the comment as percent-encoded `#` lines heading the snapshot's section.
    expect(text).toMatch(/\n\n\[final-form\]\n#phoenix%3Aabc\n(.+\n)*snaptime: \d+\n/);
    expect((await pct("snapshot", "400", "final-form")).stderr).toContain("snapshot name 'final-form' already used");
    expect((await ok("listsnapshot", "400")).split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/)[1])).toEqual(["final-form", "current"]);
    // Printed as pct prints it: encode_text of the text, whose `#` line ends with a newline.
    expect(await ok("config", "400", "--snapshot", "final-form")).toContain("description: phoenix%3Aabc%0A\n");
    expect(await ok("config", "400")).not.toContain("snaptime");

    // Changes after the snapshot are not in a clone taken from it.
    writeFileSync(path.join(e.rootfs(400), "root/after-snapshot"), "x");
    await ok("clone", "400", "403", "--snapname", "final-form", "--hostname", "child", "--full", "1");
    expect(existsSync(path.join(e.rootfs(403), "root/payload"))).toBe(true);
    expect(existsSync(path.join(e.rootfs(403), "root/after-snapshot"))).toBe(false);
    const child = conf(403);
    expect(child).toContain("hostname: child\n");
    expect(child).toContain("rootfs: local-lvm:vm-403-disk-0,size=8G\n");
    expect(child).not.toMatch(/parent:|snaptime:|lock:|\[/);
    // clone_vm copies everything of the snapshot's section, its comment included.
    expect(child).toMatch(/^#phoenix%3Aabc\n/);

    expect((await pct("delsnapshot", "400", "nope")).stderr).toContain("snapshot 'nope' does not exist");
    await ok("delsnapshot", "400", "final-form");
    expect(conf(400)).not.toMatch(/parent:|\[final-form\]/);
  });

  it("a stopped container clones without a snapshot; resize only grows", async () => {
    await ok("stop", "400");
    expect((await pct("stop", "400")).stderr).toContain("CT 400 not running");
    await ok("clone", "400", "404", "--full", "1", "--storage", "tank-disks");
    expect(conf(404)).toContain("rootfs: tank-disks:subvol-404-disk-0,size=8G\n");
    await ok("resize", "404", "rootfs", "16G");
    expect(conf(404)).toContain("rootfs: tank-disks:subvol-404-disk-0,size=16G\n");
    expect((await pct("resize", "404", "rootfs", "4G")).stderr).toContain("unable to shrink disk size");
    await ok("destroy", "404");
    expect(existsSync(path.join(e.dir, "pve/lxc/404.conf"))).toBe(false);
    expect((await pct("status", "404")).stderr).toContain("Configuration file 'nodes/pve/lxc/404.conf' does not exist");
  });

  it("the guest firewall file comes along on clone and goes with destroy (PVE::Firewall clone_vmfw_conf, remove_vmfw_conf)", async () => {
    const fw = (ctid: number) => path.join(e.dir, "pve/firewall", `${ctid}.fw`);
    mkdirSync(path.join(e.dir, "pve/firewall"), { recursive: true });
    writeFileSync(fw(400), "[OPTIONS]\nenable: 1\n\n[RULES]\n\nIN ACCEPT -p tcp -dport 22\n");
    // A stale file of the new CTID is replaced by the source's.
    writeFileSync(fw(405), "[OPTIONS]\nenable: 0\n");
    await ok("clone", "400", "405", "--full", "1");
    expect(readFileSync(fw(405), "utf8")).toBe(readFileSync(fw(400), "utf8"));
    // A source without a file leaves the clone without one (a stale one is dropped).
    await ok("clone", "405", "406", "--full", "1");
    rmSync(fw(405));
    writeFileSync(fw(407), "[OPTIONS]\nenable: 0\n");
    await ok("clone", "405", "407", "--full", "1");
    expect(existsSync(fw(407))).toBe(false);
    await ok("destroy", "406");
    expect(existsSync(fw(406))).toBe(false);
    expect(existsSync(fw(400))).toBe(true);
    await ok("destroy", "405");
    await ok("destroy", "407");
  });

    it("logs every call, one line each, quoting what needs quoting", () => {
    const log = readFileSync(path.join(e.dir, "calls.log"), "utf8").split("\n");
    expect(log[0]).toMatch(/^pct create 400 local:vztmpl\/ubuntu-24\.04-standard_24\.04-2_amd64\.tar\.zst --hostname base /);
    expect(log).toContain("pct snapshot 400 final-form --description phoenix:abc");
    expect(log).toContain("pct exec 400 -- sh -c 'echo ${EMU_STATE:-unset}'");
  });
});

// Where Proxmox refuses, the emulator refuses too, with Proxmox's message (pve-container's
// API2/LXC.pm clone_vm, LXC/Config.pm, pve-guest-common's AbstractConfig.pm, pve-storage).
describe("pct emulator refuses what Proxmox refuses", () => {
  let e: Emulated;
  const { pct, ok } = pctOf(() => e);
  const refused = async (message: string, ...args: string[]) => {
    const r = await pct(...args);
    expect(r.code, `pct ${args.join(" ")} should fail`).toBe(255);
    expect(r.stderr).toContain(message);
  };
  const confPath = (ctid: number) => path.join(e.dir, "pve/lxc", `${ctid}.conf`);
  const conf = (ctid: number) => readFileSync(confPath(ctid), "utf8");
  /** Edits the current section as an admin (or a crashed task) would. */
  const addLine = (ctid: number, line: string) => {
    const text = conf(ctid);
    const cut = text.indexOf("\n[");
    writeFileSync(confPath(ctid), cut < 0 ? `${text}${line}\n` : `${text.slice(0, cut)}\n${line}${text.slice(cut)}`);
  };
  const dropLine = (ctid: number, line: string) => writeFileSync(confPath(ctid), conf(ctid).replace(`${line}\n`, ""));

  beforeAll(async () => {
    e = emulated();
    mkdirSync(path.join(e.dir, "pve"), { recursive: true });
    writeFileSync(path.join(e.dir, "pve/storage.cfg"), NODE_STORAGE_CFG);
    await ok("create", "500", TEMPLATE, "--hostname", "src", "--rootfs", "tank-disks:8");
  });
  afterAll(() => e?.cleanup());

  it("a clone holds `lock: disk` on its source for the whole copy: a second clone meanwhile is refused", async () => {
    const first = e.run("pct", ["clone", "500", "501", "--full", "1"], { EMU_CLONE_SECONDS: "1" });
    const copying = () => conf(500).includes("lock: disk\n") && existsSync(confPath(501)) && conf(501).includes("lock: create\n");
    for (let i = 0; i < 100 && !copying(); i++) await new Promise((r) => setTimeout(r, 50));
    expect(conf(500)).toContain("lock: disk\n");
    expect(conf(501)).toContain("lock: create\n");
    await refused("CT is locked (disk)", "clone", "500", "502", "--full", "1");
    expect((await first).code).toBe(0);
    expect(conf(500)).not.toContain("lock:");
    expect(conf(501)).not.toContain("lock:");
    expect(existsSync(confPath(502))).toBe(false);
  });

  it("a config's `lock:` refuses start, set, snapshot, clone, shutdown, resize, destroy until unlocked", async () => {
    await ok("start", "501");
    addLine(501, "lock: backup");
    await refused("CT is locked (backup)", "shutdown", "501");
    await refused("CT is locked (backup)", "stop", "501");
    await ok("stop", "501", "--skiplock", "1");
    await refused("CT is locked (backup)", "start", "501");
    await refused("CT is locked (backup)", "set", "501", "--cores", "2");
    await refused("CT is locked (backup)", "snapshot", "501", "s1");
    await refused("CT is locked (backup)", "clone", "501", "503", "--full", "1");
    await refused("CT is locked (backup)", "resize", "501", "rootfs", "9G");
    await refused("CT is locked (backup)", "destroy", "501");
    await ok("unlock", "501");
    await ok("set", "501", "--cores", "2");
    // A `mounted` lock (pct mount) does not keep a container from starting.
    addLine(501, "lock: mounted");
    await ok("start", "501");
    await ok("unlock", "501");
    await ok("stop", "501");
  });

  it("snapshots: not of templates, not on storages without snapshots, not with bind mounts, configid names only", async () => {
    for (const name of ["1st", "a", "has.dot", "x".repeat(41)]) {
      const r = await pct("snapshot", "500", name);
      expect(r.code, name).toBe(255);
      expect(r.stderr, name).toMatch(/invalid configuration ID|may only be 40 characters long/);
    }
    await refused("unable to use snapshot name 'current' (reserved name)", "snapshot", "500", "current");
    await refused("unable to use snapshot name 'vzdump' (reserved name)", "snapshot", "500", "vzdump");
    await ok("snapshot", "500", "x".repeat(40));
    await ok("create", "510", TEMPLATE, "--rootfs", "slow:4");
    await refused("snapshot feature is not available", "snapshot", "510", "s1");
    expect(conf(510)).not.toContain("lock:");
    await ok("create", "511", TEMPLATE, "--rootfs", "tank-disks:4", "--mp0", `${e.dir},mp=/data`);
    await refused("snapshot feature is not available", "snapshot", "511", "s1");
    addLine(500, "template: 1");
    await refused("you can't take a snapshot if it's a template", "snapshot", "500", "s2");
    dropLine(500, "template: 1");
  });

  it("descriptions are kept as `#` lines and printed percent-encoded with LXC's trailing newline", async () => {
    await ok("set", "500", "--description", "Managed: by Phoenix\n100% sure");
    expect(conf(500)).toMatch(/^#Managed%3A by Phoenix\n#100%25 sure\n/);
    expect(await ok("config", "500")).toContain("description: Managed%3A by Phoenix%0A100%25 sure%0A\n");
  });

  it("a rewrite keeps only the raw lxc.* keys Proxmox keeps, in their order", async () => {
    for (const line of ["lxc.cgroup2.devices.allow: c 195:* rwm", "lxc.bogus.key: 1", "lxc.mount.entry: /a a none bind,optional,create=dir 0 0", "lxc.rootfs.path: /tmp/x", "lxc.prlimit.nofile: 1024"]) addLine(500, line);
    const r = await pct("set", "500", "--cores", "3");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("vm 500 - unable to parse config: lxc.bogus.key: 1");
    const text = conf(500);
    expect(text).toContain("lxc.cgroup2.devices.allow: c 195:* rwm\nlxc.mount.entry: /a a none bind,optional,create=dir 0 0\nlxc.prlimit.nofile: 1024\n");
    expect(text).not.toMatch(/lxc\.bogus|lxc\.rootfs\.path/);
  });

  it("clone options: no --storage for linked clones, linked only from templates, no bind mounts", async () => {
    await refused("parameter 'storage' not allowed for linked clones", "clone", "500", "520", "--full", "0", "--storage", "tank-disks");
    await refused("Linked clone feature for 'tank-disks:subvol-500-disk-0' is not available", "clone", "500", "520", "--full", "0");
    await refused("unable to clone mountpoint 'mp0' (type bind)", "clone", "511", "520");
    await refused("storage 'nowhere' does not exist", "clone", "500", "520", "--storage", "nowhere");
    expect(conf(500)).not.toContain("lock:");
    addLine(500, "template: 1");
    await ok("clone", "500", "520");
    expect(conf(520)).toContain("rootfs: tank-disks:subvol-520-disk-0,size=8G\n");
    expect(conf(520)).not.toMatch(/template:|lock:/);
  });

  it("creates volumes only on storages that exist and hold container directories", async () => {
    await refused("storage 'local' does not support container directories", "create", "530", TEMPLATE, "--rootfs", "local:4");
    await refused("storage 'nowhere' does not exist", "create", "530", TEMPLATE, "--rootfs", "nowhere:4");
  });

  it("devN: pct set and start refuse a device node that does not exist or is not a device (get_device_mode_and_rdev)", async () => {
    // pve-container Config.pm update_pct_config and LXC.pm update_lxc_config stat the node: a GPU
    // container's /dev/nvidia-uvm exists only after something loaded nvidia_uvm and created it.
    await ok("create", "470", TEMPLATE, "--hostname", "gpu", "--rootfs", "local-lvm:4");
    const missing = await pct("set", "470", "--dev0", "/dev/nvidia-uvm");
    expect(missing.code).toBe(255);
    expect(missing.stderr).toContain("Device /dev/nvidia-uvm does not exist");
    expect(conf(470)).not.toContain("dev0:");
    const devroot = path.join(e.dir, "devroot/dev");
    mkdirSync(devroot, { recursive: true });
    writeFileSync(path.join(devroot, "nvidia-uvm"), "");
    expect((await pct("set", "470", "--dev0", "/dev/nvidia-uvm")).stderr).toContain("/dev/nvidia-uvm is not a device");
    rmSync(path.join(devroot, "nvidia-uvm"));
    expect((await pct("set", "470", "--dev0", "/dev/../etc/passwd")).stderr).toContain("is not a valid device path");
    expect((await pct("set", "470", "--dev0", "mode=0666")).stderr).toContain("Path has to be defined");
    // The stand-in nvidia-modprobe makes the nodes as NVIDIA's tool does (-u -c=0: uvm and uvm-tools).
    const nvidia = (args: string[], extra: Record<string, string> = {}) =>
      e.run(path.join(repoRoot, "test/host/emulator/nvidia-modprobe"), args, { EMU_DEV_ROOT: path.join(e.dir, "devroot"), ...extra });
    mkdirSync(path.join(e.dir, "var-lib/up/nvidia-stand-in"), { recursive: true });
    expect((await nvidia(["-u", "-c=0"])).stderr).toContain("Module nvidia-uvm not found");
    writeFileSync(path.join(e.dir, "var-lib/up/nvidia-stand-in/module-version"), "580.76.05\n");
    const made = await nvidia(["-u", "-c=0"]);
    expect(made.code, made.stderr).toBe(0);
    expect(statSync(path.join(devroot, "nvidia-uvm")).isCharacterDevice()).toBe(true);
    expect(statSync(path.join(devroot, "nvidia-uvm-tools")).rdev).toBe(statSync(path.join(devroot, "nvidia-uvm")).rdev + 1);
    await ok("set", "470", "--dev0", "/dev/nvidia-uvm", "--dev1", "path=/dev/nvidia-uvm-tools,mode=0666");
    expect(conf(470)).toContain("dev0: /dev/nvidia-uvm\ndev1: path=/dev/nvidia-uvm-tools,mode=0666\n");
    await ok("start", "470");
    // The module unloaded (a host rebooted without the driver): the nodes are gone and the
    // container does not start again; a reboot leaves it stopped.
    rmSync(path.join(devroot, "nvidia-uvm-tools"));
    const reboot = await pct("reboot", "470");
    expect(reboot.code).toBe(255);
    expect(reboot.stderr).toContain("Device /dev/nvidia-uvm-tools does not exist");
    expect(await ok("status", "470")).toBe("status: stopped\n");
    expect((await pct("start", "470")).stderr).toContain("Device /dev/nvidia-uvm-tools does not exist");
    await ok("destroy", "470");
  });

  it("pvesm: a zfspool storage keeps only images and rootdir content", async () => {
    const set = await e.run("pvesm", ["set", "tank-disks", "--content", "images,rootdir,iso"]);
    expect(set.code, set.stderr).toBe(0);
    expect(set.stderr).toContain("storage does not support content type 'iso'");
    expect(readFileSync(path.join(e.dir, "pve/storage.cfg"), "utf8")).toContain("zfspool: tank-disks\n\tcontent images,rootdir\n");
    const none = await e.run("pvesm", ["set", "tank-disks", "--content", "iso,vztmpl"]);
    expect(none.code).toBe(255);
    expect(none.stderr).toContain("storage does not support content type 'none'");
  });
});

// What Proxmox applies later, keeps and checks on the host (pve-container LXC/Config.pm
// update_pct_config, vmconfig_hotplug_pending, vmconfig_apply_pending, apply_pending_mountpoint;
// LXC.pm vm_start, validate_id_maps; pve-storage Storage.pm storage_check_enabled,
// activate_storage, DirPlugin.pm activate_storage; API2/Storage/Config.pm create).
describe("pct emulator: pending changes, kept volumes, read-only options, host checks", () => {
  let e: Emulated;
  const { pct, ok } = pctOf(() => e);
  const refused = async (message: string, ...args: string[]) => {
    const r = await pct(...args);
    expect(r.code, `pct ${args.join(" ")} should fail`).toBe(255);
    expect(r.stderr).toContain(message);
    return r;
  };
  const confPath = (ctid: number) => path.join(e.dir, "pve/lxc", `${ctid}.conf`);
  const conf = (ctid: number) => readFileSync(confPath(ctid), "utf8");
  const line = (text: string, key: string) => text.split("\n").find((l) => l.startsWith(`${key}: `));

  beforeAll(async () => {
    e = emulated();
    mkdirSync(path.join(e.dir, "pve"), { recursive: true });
    writeFileSync(
      path.join(e.dir, "pve/storage.cfg"),
      NODE_STORAGE_CFG +
        // A dataset's directory that is not mounted, one whose is_mountpoint names a mounted path,
        // and a disabled storage.
        `\ndir: unmounted\n\tpath ${e.dir}/unmounted\n\tcontent images,rootdir\n\tis_mountpoint yes\n` +
        `\ndir: mounted\n\tpath ${e.dir}/mounted\n\tcontent images,rootdir\n\tis_mountpoint /proc\n` +
        "\nzfspool: parked\n\tpool tank/parked\n\tcontent images,rootdir\n",
    );
    mkdirSync(path.join(e.dir, "unmounted"));
    mkdirSync(path.join(e.dir, "mounted"));
    await ok("create", "600", TEMPLATE, "--hostname", "run", "--rootfs", "tank-disks:8", "--mp0", "tank-disks:2,mp=/data", "--unprivileged", "1", "--features", "nesting=1");
  });
  afterAll(() => e?.cleanup());

  it("a running container takes hotplugged options at once and keeps the rest in [pve:pending] until it starts again", async () => {
    await ok("start", "600");
    await ok("set", "600", "--cores", "4", "--memory", "1024", "--features", "nesting=1,keyctl=1", "--mp1", "tank-disks:1,mp=/new", "--mp0", "tank-disks:3,mp=/data", "--delete", "swap", "--timezone", "UTC");
    const text = conf(600);
    const [current, pending] = text.split("\n[pve:pending]\n");
    // Hotplugged (vmconfig_hotplug_pending): cores (fast-plug), memory, a swap deletion, a NEW mount point.
    expect(line(current, "cores")).toBe("cores: 4");
    expect(line(current, "memory")).toBe("memory: 1024");
    expect(current).not.toMatch(/^swap:/m);
    expect(line(current, "mp1")).toBe("mp1: tank-disks:subvol-600-disk-2,size=1G,mp=/new");
    // Not hotplugged: features, timezone and a mount point over an existing one stay pending, as written by write_pct_config.
    expect(line(current, "features")).toBe("features: nesting=1");
    expect(line(current, "mp0")).toBe("mp0: tank-disks:subvol-600-disk-1,size=2G,mp=/data");
    expect(pending).toBe("features: nesting=1,keyctl=1\nmp0: tank-disks:3,mp=/data\ntimezone: UTC\n");
    // `pct config` shows the pending values, `--current` what runs.
    expect(await ok("config", "600")).toContain("features: nesting=1,keyctl=1\n");
    expect(await ok("config", "600", "--current", "1")).toContain("features: nesting=1\n");
    expect(await ok("config", "600", "--current", "1")).not.toContain("timezone");
    expect(await ok("pending", "600")).toContain("cur features: nesting=1\nnew features: nesting=1,keyctl=1\n");
    // A deletion Proxmox cannot hotplug waits as `delete:`; --revert drops a pending value.
    await ok("set", "600", "--delete", "mp1", "--revert", "timezone");
    expect(conf(600)).toMatch(/\[pve:pending\]\ndelete: mp1\nfeatures: nesting=1,keyctl=1\nmp0: tank-disks:3,mp=\/data\n$/);
    expect(await ok("config", "600")).not.toMatch(/^mp1:/m);
    expect(await ok("config", "600", "--current", "1")).toMatch(/^mp1:/m);
    // A value equal to the current one replaces a pending value, which then goes (cleanup_pending).
    await ok("set", "600", "--features", "nesting=1");
    expect(conf(600)).not.toMatch(/\[pve:pending\][^]*features:/);
    await ok("set", "600", "--features", "nesting=1,keyctl=1");
    // A reboot is a stop and a start: the start applies everything pending.
    await ok("reboot", "600");
    const after = conf(600);
    expect(after).not.toContain("[pve:pending]");
    expect(line(after, "features")).toBe("features: nesting=1,keyctl=1");
    expect(line(after, "mp0")).toBe("mp0: tank-disks:subvol-600-disk-3,size=3G,mp=/data");
    expect(after).not.toMatch(/^mp1:/m);
  });

  it("a removed or replaced mount point's volume stays the container's as unusedN; deleting unusedN frees it", async () => {
    // The reboot above kept both volumes the pending changes let go of (deletions first, then
    // the replaced mp0), each under the lowest free unusedN.
    expect(conf(600)).toContain("unused0: tank-disks:subvol-600-disk-2\nunused1: tank-disks:subvol-600-disk-1\n");
    await ok("stop", "600");
    // Stopped: applied at once (vmconfig_apply_pending), the volume kept all the same.
    await ok("set", "600", "--delete", "mp0");
    expect(conf(600)).toContain("unused2: tank-disks:subvol-600-disk-3\n");
    // A volume mounted again is no longer unused (write_pct_config).
    await ok("set", "600", "--mp0", "tank-disks:subvol-600-disk-1,mp=/back");
    expect(conf(600)).not.toContain("unused1:");
    expect(line(conf(600), "mp0")).toBe("mp0: tank-disks:subvol-600-disk-1,mp=/back");
    // Deleting unusedN frees the volume: its name is free again for a new volume.
    await ok("set", "600", "--delete", "unused0");
    expect(conf(600)).not.toContain("subvol-600-disk-2");
    await ok("set", "600", "--mp1", "tank-disks:1,mp=/fresh");
    expect(line(conf(600), "mp1")).toBe("mp1: tank-disks:subvol-600-disk-2,size=1G,mp=/fresh");
    // Snapshots do not carry unused volumes (__snapshot_copy_config).
    await ok("snapshot", "600", "s1");
    expect(conf(600).split("[s1]")[1]).not.toContain("unused");
    await ok("delsnapshot", "600", "s1");
  });

  it("unprivileged is read-only after create; memory, rootfs and ostype cannot be deleted", async () => {
    await refused("unable to modify read-only option: 'unprivileged'", "set", "600", "--unprivileged", "0");
    await refused("unable to delete read-only option: 'unprivileged'", "set", "600", "--delete", "unprivileged");
    for (const key of ["memory", "rootfs", "ostype"]) await refused(`unable to delete required option '${key}'`, "set", "600", "--delete", key);
    expect(line(conf(600), "unprivileged")).toBe("unprivileged: 1");
    // Deleting what is not set is a warning, not an error.
    const r = await pct("set", "600", "--delete", "hookscript");
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("cannot delete 'hookscript' - not set in current configuration!");
  });

  it("a protected container keeps its drives and is not destroyed; quotas need a privileged container", async () => {
    await ok("create", "640", TEMPLATE, "--rootfs", "tank-disks:1", "--mp0", "tank-disks:1,mp=/d", "--protection", "1");
    await refused("can't remove CT 640 drive 'mp0' - protection mode enabled", "set", "640", "--delete", "mp0");
    await refused("can't update CT 640 drive 'mp0' - protection mode enabled", "set", "640", "--mp0", "tank-disks:2,mp=/d");
    await refused("can't remove CT 640 - protection mode enabled", "destroy", "640");
    await ok("set", "640", "--protection", "0");
    await ok("destroy", "640");
    await ok("create", "641", TEMPLATE, "--rootfs", "tank-disks:1,quota=1", "--unprivileged", "1");
    await refused("Quotas are not supported by unprivileged containers.", "start", "641");
  });

  it("a container whose storage is disabled, or an is_mountpoint dir storage that is not mounted, does not start or clone", async () => {
    await ok("create", "610", TEMPLATE, "--rootfs", "parked:2");
    await ok("create", "611", TEMPLATE, "--rootfs", "mounted:2");
    await ok("start", "611");
    await ok("stop", "611");
    const cfgPath = path.join(e.dir, "pve/storage.cfg");
    const cfg = readFileSync(cfgPath, "utf8");
    writeFileSync(cfgPath, cfg.replace("zfspool: parked\n", "zfspool: parked\n\tdisable\n").replace("is_mountpoint /proc", "is_mountpoint yes"));
    await refused("storage 'parked' is disabled", "start", "610");
    await refused(`unable to activate storage 'mounted' - directory is expected to be a mount point but is not mounted: '${e.dir}/mounted'`, "start", "611");
    expect(await ok("status", "611")).toBe("status: stopped\n");
    await refused("clone failed: unable to activate storage 'mounted'", "clone", "611", "612");
    expect(existsSync(confPath(612))).toBe(false);
    expect(conf(611)).not.toContain("lock:");
    // Nothing new is allocated there either.
    await refused("storage 'parked' is disabled", "set", "600", "--mp2", "parked:1,mp=/p");
    await refused("unable to activate storage 'unmounted'", "create", "613", TEMPLATE, "--rootfs", "unmounted:1");
    writeFileSync(cfgPath, cfg);
    await ok("start", "610");
    await ok("stop", "610");
  });

  it("pvesm add refuses an is_mountpoint dir storage whose path is not mounted; status shows it inactive", async () => {
    const add = await e.run("pvesm", ["add", "dir", "late", "--path", `${e.dir}/unmounted`, "--content", "backup", "--is_mountpoint", "yes"]);
    expect(add.code).toBe(255);
    expect(add.stderr).toContain(`create storage failed: unable to activate storage 'late' - directory is expected to be a mount point but is not mounted: '${e.dir}/unmounted'`);
    expect(readFileSync(path.join(e.dir, "pve/storage.cfg"), "utf8")).not.toContain("late");
    // A disabled one is not activated (storage_check_enabled with noerr), so it registers.
    const disabled = await e.run("pvesm", ["add", "dir", "later", "--path", `${e.dir}/unmounted`, "--content", "backup", "--is_mountpoint", "yes", "--disable", "1"]);
    expect(disabled.code, disabled.stderr).toBe(0);
    const status = await e.run("pvesm", ["status"]);
    expect(status.stdout).toMatch(/\nunmounted\s+dir\s+inactive/);
    expect(status.stdout).toMatch(/\nmounted\s+dir\s+active/);
  });

  it("id maps are judged in the chroot mode as the kernel and LXC judge them at start", async () => {
    await ok("create", "620", TEMPLATE, "--rootfs", "tank-disks:1", "--unprivileged", "1");
    const base = conf(620);
    const startWith = async (maps: string[]) => {
      writeFileSync(confPath(620), base + maps.map((m) => `lxc.idmap: ${m}\n`).join(""));
      const r = await pct("start", "620");
      if (r.code === 0) await ok("stop", "620");
      return r;
    };
    // Proxmox's default map, and a passthrough map carved out of it, start.
    expect((await startWith([])).code).toBe(0);
    const carved = await startWith(["u 0 100000 1000", "u 1000 1000 1", "u 1001 101001 64535", "g 0 100000 65536"]);
    expect(carved.code, carved.stderr).toBe(0);
    // Overlapping ranges: the kernel refuses the map; Proxmox's validate_id_maps names the entries.
    const overlap = await startWith(["u 0 100000 65536", "g 0 100000 65536", "u 1000 1000 1"]);
    expect(overlap.code).toBe(255);
    expect(overlap.stderr).toContain("invalid map entry 'u 1000 1000 1': container uid 1000 is also mapped by entry 'u 0 100000 65536'");
    // The same refusal as real LXC's (pct-real-lxc.test.ts).
    expect(overlap.stderr).toMatch(/Failed to write uid mapping[^]*Failed to set up id mapping[^]*startup for container '620' failed/);
    const hostOverlap = await startWith(["u 0 100000 65536", "g 0 100000 65536", "g 70000 100005 1"]);
    expect(hostOverlap.stderr).toContain("host gid 100005 is also mapped by entry 'g 0 100000 65536'");
    // Incomplete: the container's root group is not mapped.
    expect((await startWith(["u 0 100000 65536"])).stderr).toContain("No gid mapping for container root");
    expect((await startWith(["u 0 100000 65536", "g 1 100001 65535"])).stderr).toContain("No gid mapping for container root");
    expect((await startWith(["u 0 100000", "g 0 100000 65536"])).stderr).toContain("failed to parse idmap: u 0 100000");
    expect((await startWith(["u 0 100000 0", "g 0 100000 65536"])).code).toBe(255);
    expect(await ok("status", "620")).toBe("status: stopped\n");
    writeFileSync(confPath(620), base);
  });

  it("two clones of one source started together always collide on the source's `lock: disk`", async () => {
    await ok("create", "630", TEMPLATE, "--rootfs", "tank-disks:1");
    // The second request arrives a little later, as two API calls of one run do (a copy in the
    // stand-in takes milliseconds: without a held lock the second would find the source free).
    for (let round = 0; round < 3; round++) {
      const first = pct("clone", "630", String(631 + 2 * round), "--full", "1");
      await new Promise((r) => setTimeout(r, 500));
      const [a, b] = await Promise.all([first, pct("clone", "630", String(632 + 2 * round), "--full", "1")]);
      const codes = [a.code, b.code].sort();
      expect(codes, `round ${round}: ${a.stderr} ${b.stderr}`).toEqual([0, 255]);
      expect(a.stderr + b.stderr).toContain("CT is locked (disk)");
      expect(conf(630)).not.toContain("lock:");
    }
  });
});
