// The host scripts' own parameter checks (features/hypervisor/lib/checks.sh, which the lxc and vm
// host scripts include too) are bash spellings of infra/config/patterns.ts. Bash cannot import the
// TypeScript patterns, so this runs each check function over one shared sample set per pattern
// (values the pattern accepts and values it refuses) and asserts bash and TypeScript agree on
// every value, and that the minimum disk counts agree with MIN_DISKS (OpenZFS's own minimums).
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { HOST, cleanTempDirs, loadMutated } from "../config/helpers";

afterAll(cleanTempDirs);

const P = loadDist<typeof import("../../infra/config/patterns")>("infra/config/patterns");
const CHECKS = path.join(repoRoot, "features/hypervisor/lib/checks.sh");

const long = (n: number, c = "a") => c.repeat(n);
const HOSTILE = ["", " ", "a b", "a;b", "a$(id)", "a`id`", "a'b", 'a"b', "a\\b", "a\nb", "a\tb", "-a", "a|b", "a&b", "a*", "é", "a/../b"];

/** Check function → the TypeScript pattern it spells, and samples (each pattern gets both kinds). */
const CASES: { fn: string; ts: (v: string) => boolean; samples: string[] }[] = [
  {
    fn: "valid_user_name",
    ts: (v) => P.USERNAME.test(v),
    samples: ["root", "phoenix", "_svc", "a-b_c9", long(32), long(33), "Admin", "9lives", "a.b", "a$", "ab-", "-ab", ...HOSTILE],
  },
  {
    fn: "system_account",
    ts: (v) => P.SYSTEM_ACCOUNT.test(v),
    samples: ["root", "www-data", "nobody", "systemd-network", "_apt", "sshd", "phoenix", "heads", "phoenix_admin", "rooter", "xroot", "www", ...HOSTILE],
  },
  {
    fn: "valid_guest_id",
    ts: (v) => P.GUEST_ID_TEXT.test(v),
    samples: ["100", "900", "8000", "999999999", "1000000000", "99", "0100", "0", "1e3", "9001 ", "+900", ...HOSTILE],
  },
  {
    fn: "valid_snapshot_name",
    ts: (v) => P.SNAPSHOT_NAME.test(v),
    samples: ["base", "ab", "a", "pre-configured", "final_form", "A1", long(40), long(41), "1abc", "_abc", "a.b", "a:b", ...HOSTILE],
  },
  {
    fn: "valid_storage_id",
    ts: (v) => P.STORAGE_ID.test(v),
    samples: ["local", "local-lvm", "local-zfs", "tank.data", "a1", "a", "a-", "a.", "a_", "1local", "-local", "loc:al", ...HOSTILE],
  },
  {
    fn: "valid_node_name",
    ts: (v) => P.NODE_NAME.test(v),
    samples: ["pve", "pve1", "PVE-2", "a", "1node", long(63), long(64), "-pve", "pve-", "pve_2", "pve.example", "pve2,pve3", ...HOSTILE],
  },
  {
    fn: "valid_zfs_pool",
    ts: (v) => P.ZFS_POOL.test(v),
    samples: [
      "tank", "rpool", "quickOS-1", "a.b:c_d", "a", long(239), long(240), "mirror", "raidz", "raidz1", "raidz3", "draid", "draid2", "spare", "log", "cache", "special", "dedup",
      "mirrors", "raidzpool", "logs", "1tank", "_tank", "tank/data", ...HOSTILE,
    ],
  },
  {
    fn: "valid_zfs_dataset",
    ts: (v) => P.ZFS_DATASET.test(v),
    samples: ["data", "shared-prod-data", "apps/qdrant", "a/b/c", "1x", "x:y.z", "/data", "data/", "a//b", "_x", "a/.b", "a/-b", ...HOSTILE],
  },
  {
    fn: "valid_share_path",
    ts: (v) => P.SCRIPT_SHARE_PATH.test(v),
    samples: ["/", "/mnt/shared", "/srv/a@b+c", "/a/../b", "relative", "/a,b", "/a=b", "/a:b", ...HOSTILE],
  },
  {
    fn: "valid_dir_path",
    ts: (v) => P.SCRIPT_DIR_PATH.test(v),
    samples: ["/", "/bin/bash", "/mnt/iso", "/a.b_c-d", "/a@b", "/a+b", "/a:b", "relative", ...HOSTILE],
  },
  {
    fn: "valid_disk_path",
    ts: (v) => P.SCRIPT_DISK_PATH.test(v),
    samples: ["/dev/sda", "/dev/disk/by-id/nvme-X_1:2+3", "/srv/vdev/a", "/", "dev/sda", "/dev/sd a", "/dev/sda,b", ...HOSTILE],
  },
];

/** Runs `fn value` for each pair in one bash (checks.sh sourced); true where the function returned 0. */
function bashVerdicts(pairs: [string, string][]): boolean[] {
  const input = pairs.map(([fn, v]) => `${fn}\0${v}\0`).join("");
  const script = `. "$1"\nwhile IFS= read -r -d '' fn && IFS= read -r -d '' v; do if "$fn" "$v"; then echo 1; else echo 0; fi; done`;
  const r = spawnSync("bash", ["-euo", "pipefail", "-c", script, "checks", CHECKS], { input, encoding: "utf8", env: { PATH: process.env.PATH, LC_ALL: "C" } });
  expect(r.status, r.stderr).toBe(0);
  const out = r.stdout.split("\n").filter((l) => l !== "");
  expect(out).toHaveLength(pairs.length);
  return out.map((l) => l === "1");
}

describe("host-script checks agree with infra/config/patterns.ts", () => {
  it.each(CASES)("$fn accepts exactly what its pattern accepts", ({ fn, ts, samples }) => {
    const expected = samples.map(ts);
    // A sample set that the pattern wholly accepts or wholly refuses would prove nothing.
    expect(expected.filter(Boolean).length, "accepted samples").toBeGreaterThanOrEqual(3);
    expect(expected.filter((x) => !x).length, "refused samples").toBeGreaterThanOrEqual(3);
    const got = bashVerdicts(samples.map((v) => [fn, v]));
    const disagree = samples.flatMap((v, i) => (got[i] === expected[i] ? [] : [`${JSON.stringify(v)}: patterns.ts ${expected[i]}, ${fn} ${got[i]}`]));
    expect(disagree).toEqual([]);
  });

  it("raid_min_disks matches MIN_DISKS for every level and refuses others", () => {
    const levels = [...P.RAID_LEVELS, "raidz", "raidz4", "raid5", "", "mirror "];
    const script = `. "$1"\nfor l in "\${@:2}"; do raid_min_disks "$l" || echo none; done`;
    const r = spawnSync("bash", ["-euo", "pipefail", "-c", script, "checks", CHECKS, ...levels], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const want = levels.map((l) => (Object.prototype.hasOwnProperty.call(P.MIN_DISKS, l) ? String(P.MIN_DISKS[l as keyof typeof P.MIN_DISKS]) : "none"));
    expect(r.stdout.trim().split("\n")).toEqual(want);
    // OpenZFS (cmd/zpool/zpool_vdev.c is_grouping): a mirror takes 2 devices, raidzN takes N+1.
    expect(P.MIN_DISKS).toEqual({ single: 1, mirror: 2, raidz1: 2, raidz2: 3, raidz3: 4 });
  });

  it.each(P.RAID_LEVELS)("the config layer takes %s with MIN_DISKS disks and refuses one fewer", (level) => {
    const min = P.MIN_DISKS[level];
    const disks = (n: number) => Array.from({ length: n }, (_, i) => `/dev/disk/by-id/test-disk-${i}`);
    const withPool = (n: number) =>
      loadMutated((f) => {
        f.host.zfs.pools[0].raid_level = level;
        f.host.zfs.pools[0].disks = disks(n);
      });
    const ok = withPool(min);
    expect(ok.ok, ok.ok ? "" : ok.errors.join("\n")).toBe(true);
    const short = withPool(min - 1);
    expect(short.ok).toBe(false);
    if (!short.ok) expect(short.errors.join("\n")).toContain(`${HOST}: $.zfs.pools[0].disks`);
  });
});
