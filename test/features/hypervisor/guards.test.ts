// The destructive guards of the ZFS scripts, one branch per row, each row varying ONE property of
// a baseline that the guard lets through, on real zfs-fuse in a throwaway root:
//   - zfs_holds_data (lib/zfs.sh): "cannot look inside, so it holds data" and "looked, found
//     something": the baseline is an empty, mounted dataset, which delete destroys;
//   - the pool-layout comparison of zfs_pool.sh: the baseline is the existing pool's own layout
//     (adopted); any one of raid level, a disk, the disk count differing is refused.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startThrowawayRoot, type ThrowawayRoot } from "./root";

let root: ThrowawayRoot;
const sh = async (cmd: string) => {
  const r = await root.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};
const exists = async (name: string) => (await root.exec(`zfs list -H -o name ${name}`)).code === 0;

// Faults zfs-fuse cannot produce for real, injected in front of the real `zfs` (first on PATH):
// /run/zfs-faults lines `mount <dataset>` (the mount fails) and `volume <dataset>` (`zfs get type`
// says volume: zfs-fuse has no volumes).
const FAULTY_ZFS = `#!/bin/bash
f=/run/zfs-faults
if [ -f $f ]; then
  last=\${!#}
  if [ "$1" = mount ] && grep -qx "mount $last" $f; then echo "cannot mount '$last': injected fault" >&2; exit 1; fi
  if [ "$1" = get ] && [[ " $* " == *" type "* ]] && grep -qx "volume $last" $f; then echo volume; exit 0; fi
fi
exec /usr/sbin/zfs "$@"
`;

beforeAll(async () => {
  root = await startThrowawayRoot();
  await root.startZfsFuse();
  await root.installTool("zfs", FAULTY_ZFS);
  await sh("mkdir -p /srv/vdev && truncate -s 100M /srv/vdev/a /srv/vdev/b /srv/vdev/c /srv/vdev/d");
  const r = await root.script("zfs_pool", "apply", { name: "guard", raid_level: "mirror", disks: "/srv/vdev/a\n/srv/vdev/b", mountpoint: "/mnt/guard" });
  expect(r.code, r.stderr).toBe(0);
});
afterAll(async () => root?.stop());

interface GuardRow {
  what: string;
  /** Run after the dataset was created empty and mounted at /mnt/guard/<name>. */
  vary: (ds: string, mp: string) => string;
  /** Whether delete (without allowDestroy) must refuse. */
  refused: boolean;
}

const ROWS: GuardRow[] = [
  { what: "baseline: empty and mounted", vary: () => "true", refused: false },
  { what: "a file in it", vary: (_ds, mp) => `echo data > ${mp}/file`, refused: true },
  { what: "a hidden file in it", vary: (_ds, mp) => `touch ${mp}/.hidden`, refused: true },
  { what: "an empty directory in it", vary: (_ds, mp) => `mkdir ${mp}/sub`, refused: true },
  { what: "a snapshot of it", vary: (ds) => `zfs snapshot ${ds}@keep`, refused: true },
  { what: "a child dataset", vary: (ds) => `zfs create ${ds}/child`, refused: true },
  { what: "unmounted, empty", vary: (ds) => `zfs unmount ${ds}`, refused: false },
  { what: "unmounted, a file in it", vary: (ds, mp) => `echo data > ${mp}/file && sync && zfs unmount ${ds}`, refused: true },
  { what: "mountpoint none", vary: (ds) => `zfs set mountpoint=none ${ds}`, refused: true },
  { what: "mountpoint legacy", vary: (ds) => `zfs set mountpoint=legacy ${ds}`, refused: true },
  { what: "unmounted, canmount off", vary: (ds) => `zfs unmount ${ds} && zfs set canmount=off ${ds}`, refused: true },
  { what: "unmounted, canmount noauto (mountable)", vary: (ds) => `zfs unmount ${ds} && zfs set canmount=noauto ${ds}`, refused: false },
  { what: "unmounted, the mount fails (its directory empty)", vary: (ds) => `zfs unmount ${ds} && echo "mount ${ds}" > /run/zfs-faults`, refused: true },
  { what: "unmounted, the mountpoint not a directory", vary: (ds, mp) => `zfs unmount ${ds} && rmdir ${mp} && echo blocker > ${mp}`, refused: true },
  { what: "a volume", vary: (ds) => `echo "volume ${ds}" > /run/zfs-faults`, refused: true },
];

describe("zfs_holds_data: one row per branch, one property varied from an empty mounted dataset", () => {
  it.each(ROWS.map((r, i) => [r.what, r, i] as const))("%s", async (_what, row, i) => {
    const params = { pool: "guard", name: `g${i}`, properties: "" };
    const ds = `guard/g${i}`;
    const mp = `/mnt/guard/g${i}`;
    await root.exec("rm -f /run/zfs-faults");
    const created = await root.script("zfs_dataset", "apply", params);
    expect(created.code, created.stderr).toBe(0);
    expect((await sh(`zfs get -H -o value mounted ${ds}`)).trim()).toBe("yes");
    await sh(row.vary(ds, mp));
    const r = await root.script("zfs_dataset", "delete", params);
    if (row.refused) {
      expect(r.code, `delete of a dataset with ${row.what} is refused`).not.toBe(0);
      expect(r.stderr).toContain("holds data");
      expect(await exists(ds), "the dataset is still there").toBe(true);
      // The same dataset goes when destruction is allowed (the refusal is the guard, not a failure).
      await root.exec(`rm -f /run/zfs-faults ${mp} 2>/dev/null; zfs set mountpoint=${mp} ${ds} 2>/dev/null; true`);
      const allowed = await root.script("zfs_dataset", "delete", params, true);
      expect(allowed.code, allowed.stderr).toBe(0);
    } else {
      expect(r.code, `delete of a dataset ${row.what}: ${r.stderr}`).toBe(0);
    }
    expect(await exists(ds)).toBe(false);
  });

  it("a pool's root dataset: a file refuses the pool's delete; an empty pool goes", async () => {
    const pool = { name: "guard2", raid_level: "single", disks: "/srv/vdev/c", mountpoint: "/mnt/guard2" };
    expect((await root.script("zfs_pool", "apply", pool)).code).toBe(0);
    await sh("echo data > /mnt/guard2/file");
    const refused = await root.script("zfs_pool", "delete", pool);
    expect(refused.code).not.toBe(0);
    expect(refused.stderr).toContain("holds data");
    await sh("rm /mnt/guard2/file");
    const gone = await root.script("zfs_pool", "delete", pool);
    expect(gone.code, gone.stderr).toBe(0);
    expect((await root.exec("zpool list guard2")).code).not.toBe(0);
  });
});

describe("zfs_pool layout comparison: the existing pool's layout is adopted; one property differing is refused", () => {
  const pool = { name: "guard", raid_level: "mirror", disks: "/srv/vdev/a\n/srv/vdev/b", mountpoint: "/mnt/guard" };
  const rows: [string, Record<string, string>, boolean][] = [
    ["the same layout", {}, true],
    ["the same disks in another order", { disks: "/srv/vdev/b\n/srv/vdev/a" }, true],
    ["the same disks spelled with blank lines", { disks: "/srv/vdev/a\n\n/srv/vdev/b\n" }, true],
    ["another raid level (raidz1)", { raid_level: "raidz1" }, false],
    ["another raid level (single: a stripe)", { raid_level: "single" }, false],
    ["one disk replaced", { disks: "/srv/vdev/a\n/srv/vdev/d" }, false],
    ["one disk more", { disks: "/srv/vdev/a\n/srv/vdev/b\n/srv/vdev/d" }, false],
    ["one disk fewer", { raid_level: "single", disks: "/srv/vdev/a" }, false],
  ];
  it.each(rows)("%s", async (_what, over, adopted) => {
    const params = { ...pool, ...over };
    const read = await root.script("zfs_pool", "read", params);
    expect(read.result?.matches, "read agrees with apply").toBe(adopted);
    const r = await root.script("zfs_pool", "apply", params);
    if (adopted) {
      expect(r.code, r.stderr).toBe(0);
    } else {
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("different layout");
    }
    expect((await sh("zpool status guard")).match(/mirror/g)?.length, "the pool is untouched").toBe(1);
  });
});
