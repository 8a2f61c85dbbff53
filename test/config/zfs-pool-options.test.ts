// ZFS pool creation options: an explicit ashift and the Bash tool's autotrim/compression/atime by
// default, each overridable per pool; values outside ZFS's vocabulary are one error line each.
import { afterAll, expect, it } from "vitest";
import { cleanTempDirs, ERROR_LINE, loadMutated, loadModel, DEV_DIR } from "../config/helpers";
import { planStack, byName } from "../program/plan";

afterAll(cleanTempDirs);

it("pools default to ashift 12, autotrim on, compression lz4, atime off (the Bash tool's zpool create, plus ashift)", () => {
  const model = loadModel(DEV_DIR);
  for (const p of model.host.zfs.pools) expect(p).toMatchObject({ ashift: 12, autotrim: "on", compression: "lz4", atime: "off", declared: [] });
});

it("each pool may say otherwise", () => {
  const r = loadMutated((f) => Object.assign(f.host.zfs.pools[1], { ashift: 13, autotrim: "off", compression: "zstd-3", atime: "on" }));
  if (!r.ok) throw new Error(r.errors.join("\n"));
  expect(r.model.host.zfs.pools[1]).toMatchObject({ name: "fastData", ashift: 13, autotrim: "off", compression: "zstd-3", atime: "on", declared: ["ashift", "autotrim", "compression", "atime"] });
  expect(r.model.host.zfs.pools[0]).toMatchObject({ ashift: 12, compression: "lz4" });
});

it("refuses values ZFS would refuse, one line naming file and path each", () => {
  const r = loadMutated((f) => Object.assign(f.host.zfs.pools[0], { ashift: 17, autotrim: "yes", compression: "lz5", atime: true }));
  expect(r.ok).toBe(false);
  if (r.ok) return;
  for (const e of r.errors) expect(e).toMatch(ERROR_LINE);
  expect(r.errors.join("\n")).toContain('phoenix_hypervisor_config.json: $.zfs.pools[0].ashift: must be at most 16; got 17');
  for (const key of ["autotrim", "compression", "atime"]) expect(r.errors.join("\n")).toContain(`$.zfs.pools[0].${key}: must be`);
});

it("the plan hands them to the pool step", async () => {
  const plan = await planStack({ stack: "dev" });
  const pool = byName(plan, "host-zfs-pool-quickOS");
  expect(pool.inputs.params).toMatchObject({ name: "quickOS", ashift: "12", autotrim: "on", compression: "lz4", atime: "off", enforce: "" });
}, 300_000);
