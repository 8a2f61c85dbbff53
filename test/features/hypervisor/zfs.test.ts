import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../../load";
import { startThrowawayRoot, type ThrowawayRoot } from "./root";

let root: ThrowawayRoot;
beforeAll(async () => {
  root = await startThrowawayRoot();
  await root.startZfsFuse();
  await root.exec("mkdir -p /srv/vdev && truncate -s 100M /srv/vdev/a /srv/vdev/b /srv/vdev/c /srv/vdev/d /srv/vdev/e");
});
afterAll(async () => root?.stop());

const mirror = { name: "tank", raid_level: "mirror", disks: "/srv/vdev/a\n/srv/vdev/b", mountpoint: "/mnt/tank" };

describe("zfs_pool.sh (real zfs-fuse, file vdevs)", () => {
  it("creates a mirror, adopts it on a second apply, reports its layout", async () => {
    expect((await root.script("zfs_pool", "read", mirror)).result).toEqual({ present: false });
    const r = await root.script("zfs_pool", "apply", mirror);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ present: true, raid_level: "mirror", disks: mirror.disks, devices: ["/srv/vdev/a", "/srv/vdev/b"] });
    const again = await root.script("zfs_pool", "apply", mirror);
    expect(again.code, again.stderr).toBe(0);
    expect(again.stderr).not.toContain("created");
  });

  it("refuses to adopt a pool whose layout differs", async () => {
    const r = await root.script("zfs_pool", "apply", { ...mirror, raid_level: "single", disks: "/srv/vdev/a" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("different layout");
  });

  it("creates raidz1 and single pools", async () => {
    const rz = await root.script("zfs_pool", "apply", { name: "rz", raid_level: "raidz1", disks: "/srv/vdev/c\n/srv/vdev/d", mountpoint: "/mnt/rz" });
    expect(rz.result, rz.stderr).toMatchObject({ raid_level: "raidz1" });
    const single = await root.script("zfs_pool", "apply", { name: "one", raid_level: "single", disks: "/srv/vdev/e", mountpoint: "/mnt/one" });
    expect(single.result, single.stderr).toMatchObject({ raid_level: "single", devices: ["/srv/vdev/e"] });
    expect((await root.script("zfs_pool", "delete", { name: "rz", raid_level: "raidz1", disks: "/srv/vdev/c\n/srv/vdev/d" })).result).toEqual({ present: false });
    expect((await root.script("zfs_pool", "delete", { name: "one", raid_level: "single", disks: "/srv/vdev/e" })).code).toBe(0);
  });
});

const ds = { pool: "tank", name: "shared-data", properties: "recordsize=16K\ncompression=gzip\nquota=50M" };

describe("zfs_dataset.sh (real zfs-fuse)", () => {
  it("creates a dataset with its properties", async () => {
    const r = await root.script("zfs_dataset", "apply", ds);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ present: true, properties: ds.properties, drift: [], mountpoint: "/mnt/tank/shared-data" });
    expect((await root.exec("zfs get -H -o value recordsize,compression,quota tank/shared-data")).stdout).toBe("16K\ngzip\n50M\n");
  });

  it("refuses sharenfs/sharesmb before creating anything; sharenfs=off is a plain property", async () => {
    for (const p of ["sharenfs=on", "sharesmb=on", "compression=lz4\nsharenfs=rw"]) {
      const r = await root.script("zfs_dataset", "apply", { pool: "tank", name: "shared-elsewhere", properties: p });
      expect(r.code, p).not.toBe(0);
      expect(r.stderr).toMatch(/exports and shares go through nfs_export and samba_share/);
      expect((await root.exec("zfs list tank/shared-elsewhere")).code, p).not.toBe(0);
    }
  });

  it("equivalent spellings of sizes are no drift (16k = 16K = 16384)", async () => {
    const r = await root.script("zfs_dataset", "read", { ...ds, properties: "recordsize=16k\nquota=52428800" });
    expect(r.result!.drift).toEqual([]);
  });

  it("drift made by hand shows on read and apply restores it", async () => {
    await root.exec("zfs set compression=off tank/shared-data && zfs set quota=80M tank/shared-data");
    const r = await root.script("zfs_dataset", "read", ds);
    expect(r.result!.drift).toEqual(["compression", "quota"]);
    expect(r.result!.properties).toBe("recordsize=16K\ncompression=off\nquota=80M");
    const fixed = await root.script("zfs_dataset", "apply", ds);
    expect(fixed.result!.drift).toEqual([]);
    expect((await root.exec("zfs get -H -o value compression tank/shared-data")).stdout).toBe("gzip\n");
  });

  it("a dataset holding data survives delete unless destruction is allowed", async () => {
    await root.exec("echo precious > /mnt/tank/shared-data/file");
    const refused = await root.script("zfs_dataset", "delete", ds);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("holds data");
    expect((await root.exec("cat /mnt/tank/shared-data/file")).stdout).toBe("precious\n");
    // The pool holding it is refused too.
    const pool = await root.script("zfs_pool", "delete", mirror);
    expect(pool.code).not.toBe(0);
    expect(pool.stderr).toContain("holds data");
    const allowed = await root.script("zfs_dataset", "delete", ds, true);
    expect(allowed.code, allowed.stderr).toBe(0);
    expect((await root.script("zfs_dataset", "read", ds)).result).toEqual({ present: false });
  });

  it("an unmounted dataset holding one small file counts as holding data; an unmounted empty one does not", async () => {
    const small = { pool: "tank", name: "unmounted-small", properties: "" };
    expect((await root.script("zfs_dataset", "apply", small)).code).toBe(0);
    await root.exec("echo tiny > /mnt/tank/unmounted-small/note && sync && zfs unmount tank/unmounted-small");
    expect((await root.exec("zfs get -H -o value mounted tank/unmounted-small")).stdout).toBe("no\n");
    const refused = await root.script("zfs_dataset", "delete", small);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("holds data");
    // Looked into, left as found (unmounted), the file intact.
    expect((await root.exec("zfs get -H -o value mounted tank/unmounted-small")).stdout).toBe("no\n");
    await root.exec("zfs mount tank/unmounted-small");
    expect((await root.exec("cat /mnt/tank/unmounted-small/note")).stdout).toBe("tiny\n");

    // mountpoint=none: nobody can look inside, so it counts as holding data.
    await root.exec("zfs set mountpoint=none tank/unmounted-small");
    expect((await root.script("zfs_dataset", "delete", small)).code).not.toBe(0);
    expect((await root.exec("zfs list -H -o name tank/unmounted-small")).code).toBe(0);

    const empty = { pool: "tank", name: "unmounted-empty", properties: "" };
    await root.script("zfs_dataset", "apply", empty);
    await root.exec("zfs unmount tank/unmounted-empty");
    const gone = await root.script("zfs_dataset", "delete", empty);
    expect(gone.code, gone.stderr).toBe(0);
    expect((await root.exec("zfs list -H -o name tank/unmounted-empty")).code).not.toBe(0);
  });

  it("an empty dataset is deleted without the switch; rejects bad property syntax", async () => {
    await root.script("zfs_dataset", "apply", { pool: "tank", name: "empty", properties: "" });
    expect((await root.script("zfs_dataset", "delete", { pool: "tank", name: "empty", properties: "" })).code).toBe(0);
    const bad = await root.script("zfs_dataset", "apply", { ...ds, properties: "quota=1G;touch /tmp/x" });
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("invalid property");
  });
});

describe("proxmox_storage.sh through the pvesm emulator", () => {
  const zfspool = { id: "tank-disks", type: "zfspool", content: "images,rootdir", target: "tank/disks" };
  const dir = { id: "tank-iso", type: "dir", content: "iso,vztmpl", target: "/mnt/tank/iso" };

  beforeAll(async () => {
    await root.exec("mkdir -p /usr/local/lib/pve-emu");
    await root.installTool("pvesm", readFileSync(path.join(repoRoot, "test/host/emulator/pvesm"), "utf8"));
    const lib = readFileSync(path.join(repoRoot, "test/host/emulator/lib.sh"), "utf8");
    await root.exec("cat > /usr/local/lib/pve-emu/lib.sh", { stdin: lib });
    await root.script("zfs_dataset", "apply", { pool: "tank", name: "disks", properties: "" });
    await root.script("zfs_dataset", "apply", { pool: "tank", name: "iso", properties: "" });
  });

  it("registers zfspool and dir storages in storage.cfg's format; a second apply adopts", async () => {
    for (const s of [zfspool, dir]) {
      const r = await root.script("proxmox_storage", "apply", s);
      expect(r.code, r.stderr).toBe(0);
      expect(r.result).toMatchObject({ present: true, matches: true, type: s.type, target: s.target });
      expect((await root.script("proxmox_storage", "apply", s)).stderr).not.toContain("registered");
    }
    const cfg = (await root.exec("cat /etc/pve/storage.cfg")).stdout;
    expect(cfg).toContain("zfspool: tank-disks\n\tcontent images,rootdir\n\tpool tank/disks\n");
    expect(cfg).toContain("dir: tank-iso\n\tcontent iso,vztmpl\n\tis_mountpoint yes\n\tpath /mnt/tank/iso\n");
    expect(cfg).toMatch(/^dir: local\n/);
    const status = (await root.exec("pvesm status")).stdout;
    expect(status).toMatch(/tank-disks\s+zfspool\s+active/);
    expect(status).toMatch(/tank-iso\s+dir\s+active/);
  });

  it("content changed by hand shows on read and apply restores it with pvesm set", async () => {
    await root.exec("pvesm set tank-disks --content images");
    expect((await root.script("proxmox_storage", "read", zfspool)).result).toMatchObject({ matches: false, content: "images" });
    const r = await root.script("proxmox_storage", "apply", zfspool);
    expect(r.result).toMatchObject({ matches: true, content: "images,rootdir" });
  });

  it("refuses a dataset that does not exist and a changed target; delete unregisters and keeps data", async () => {
    const missing = await root.script("proxmox_storage", "apply", { ...zfspool, id: "nope", target: "tank/nope" });
    expect(missing.code).not.toBe(0);
    expect(missing.stderr).toContain("does not exist");
    const moved = await root.script("proxmox_storage", "apply", { ...dir, target: "/mnt/elsewhere" });
    expect(moved.code).not.toBe(0);
    expect(moved.stderr).toContain("is registered as dir /mnt/tank/iso");
    const del = await root.script("proxmox_storage", "delete", dir);
    expect(del.result).toEqual({ present: false });
    expect((await root.exec("cat /etc/pve/storage.cfg")).stdout).not.toContain("tank-iso");
    expect((await root.exec("zfs list -H -o name tank/iso")).code).toBe(0);
    expect((await root.script("proxmox_storage", "read", dir)).result).toEqual({ present: false });
  });
});

describe("zfs_pool.sh creation options (real zfs-fuse)", () => {
  // zfs-fuse (pool version 23) knows ashift, compression gzip/lzjb and atime, not autotrim or lz4
  // (OpenZFS on Proxmox has all): here autotrim is left to ZFS (empty) and compression is gzip.
  const opts = { name: "opts", raid_level: "single", disks: "/srv/vdev/f", mountpoint: "/mnt/opts", ashift: "12", autotrim: "", compression: "gzip", atime: "off", enforce: "ashift compression atime" };
  beforeAll(async () => {
    await root.exec("truncate -s 100M /srv/vdev/f /srv/vdev/g");
  });

  it("creates the pool with an explicit ashift, compression and atime; read reports them", async () => {
    const r = await root.script("zfs_pool", "apply", opts);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toContain("-o ashift=12 -O compression=gzip -O atime=off");
    expect(r.result).toMatchObject({ present: true, matches: true, ashift: "12", compression: "gzip", atime: "off" });
    expect((await root.exec("zpool get ashift opts | awk 'NR == 2 { print $3 }' && zfs get -H -o value compression,atime opts")).stdout).toBe("12\ngzip\noff\n");
  });

  it("compression or atime changed by hand is drift; apply sets them again (a changed declaration too)", async () => {
    await root.exec("zfs set compression=off opts && zfs set atime=on opts");
    expect((await root.script("zfs_pool", "read", opts)).result).toMatchObject({ matches: false, compression: "off", atime: "on" });
    const fixed = await root.script("zfs_pool", "apply", opts);
    expect(fixed.result).toMatchObject({ matches: true, compression: "gzip", atime: "off" });
    const lzjb = await root.script("zfs_pool", "apply", { ...opts, compression: "lzjb" });
    expect(lzjb.result).toMatchObject({ matches: true, compression: "lzjb" });
  });

  it("ashift cannot change: another explicit ashift is refused with what to write; a pool ZFS sized (ashift 0) is adopted", async () => {
    const other = await root.script("zfs_pool", "apply", { ...opts, ashift: "13", compression: "lzjb" });
    expect(other.code).toBe(1);
    expect(other.stderr).toContain("has ashift 12, declared 13: ashift is fixed when a pool is created; set ashift to 12");
    // A pool made without -o ashift (as the Bash tool made them): its ashift property is 0.
    await root.exec("zpool create -m /mnt/auto auto /srv/vdev/g");
    const adopted = await root.script("zfs_pool", "apply", { ...opts, name: "auto", disks: "/srv/vdev/g", mountpoint: "/mnt/auto" });
    expect(adopted.code, adopted.stderr).toBe(0);
    expect(adopted.result).toMatchObject({ matches: true, ashift: "0", compression: "gzip", atime: "off" });
  });

  it("on a pool that exists, options the file does not set itself (defaults) are left as they are", async () => {
    await root.exec("zfs set compression=lzjb auto && zfs set atime=on auto");
    // The defaults (not enforced) apply at creation only: the operator's settings stay, no drift.
    const defaults = { ...opts, name: "auto", disks: "/srv/vdev/g", mountpoint: "/mnt/auto", ashift: "13", enforce: "" };
    expect((await root.script("zfs_pool", "read", defaults)).result).toMatchObject({ matches: true, compression: "lzjb", atime: "on" });
    const kept = await root.script("zfs_pool", "apply", defaults);
    expect(kept.code, kept.stderr).toBe(0);
    expect((await root.exec("zfs get -H -o value compression,atime auto")).stdout).toBe("lzjb\non\n");
    // Declared atime only: atime is held, compression stays the operator's.
    const atimeOnly = await root.script("zfs_pool", "apply", { ...defaults, enforce: "atime" });
    expect(atimeOnly.result).toMatchObject({ matches: true, compression: "lzjb", atime: "off" });
  });

  it("values outside ZFS's vocabulary are refused before any command; the real zpool judges what it does not know", async () => {
    for (const bad of [{ ashift: "8" }, { compression: "lz5" }, { atime: "relatime" }, { autotrim: "yes" }, { enforce: "ashift;rm" }]) {
      const r = await root.script("zfs_pool", "apply", { ...opts, name: "bad", disks: "/srv/vdev/g", ...bad });
      expect(r.code, JSON.stringify(bad)).toBe(2);
    }
    // zfs-fuse has no autotrim: the real tool refuses it (OpenZFS on Proxmox takes it).
    await root.exec("zpool destroy auto");
    const trim = await root.script("zfs_pool", "apply", { ...opts, name: "trim", disks: "/srv/vdev/g", mountpoint: "/mnt/trim", autotrim: "on" });
    expect(trim.code).not.toBe(0);
    expect(trim.stderr).toContain("autotrim");
    for (const p of ["opts"]) await root.script("zfs_pool", "delete", { ...opts, name: p });
  });
});
