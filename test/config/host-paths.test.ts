// The host's system paths as bind-mount sources, NFS exports and Samba shares: validate refuses
// them (one error line with file and JSON path) unless the stack sets phoenix:allowHostPaths, and
// the hypervisor scripts refuse the same paths on the host (features/hypervisor/lib/host_paths.sh
// is checked here against infra/config/lxc-raw.ts's lists).
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { ERROR_LINE, Files, cleanTempDirs, mutatedDir } from "./helpers";

afterAll(cleanTempDirs);

const raw = loadDist<typeof import("../../infra/config/lxc-raw")>("infra/config/lxc-raw");
const loader = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
const ct = (f: Files, id: number) => f.lxc.lxc_configs[String(id)];

function errorsOf(mutate: (f: Files) => void, allow?: { hostPaths?: boolean }) {
  const r = loader.loadPhoenixConfig(mutatedDir(mutate), { allow });
  return { ok: r.ok, errors: r.ok ? [] : r.errors };
}

/** The host script's answer for each path: the sensitive path it names, or "" when fine. */
function scriptAnswers(paths: string[], fn = "sensitive_share_path"): string[] {
  const lib = path.join(repoRoot, "features/hypervisor/lib/host_paths.sh");
  const r = spawnSync("bash", ["-c", `source "$0"; for p in "$@"; do ${fn} "$p" || echo; done`, lib, ...paths], { encoding: "utf8" });
  expect(r.status, r.stderr).toBe(0);
  return r.stdout.split("\n").slice(0, paths.length);
}

const SYSTEM_PATHS = ["/", "/etc", "/root", "/var/lib/pve-cluster", "/var/lib/dpkg/info", "/var/spool/cron", "/opt", "/var/lib/systemd",
  "/var/log", "/usr/local/bin", "/boot/", "/home/admin", "/srv", "/var/lib/vz", "/var/lib/phoenix", "/var/www", "/mnt", "/tmp", "//etc/./pve"];
const DATA_PATHS = ["/srv/models", "/quickOS/shared-prod-data/ssl", "/fastData/shared-bulk-data/vllm_models", "/mnt/pve/fastData/x", "/var/www/site", "/tank/data"];

describe("bind-mount sources: the host's system trees, /var as a whole but its data locations", () => {
  it("refuses the reviewer's reproduction (dpkg's maintainer scripts owned by the container) and its neighbours", () => {
    const mutate = (f: Files) => (ct(f, 955).mount_points = [{ host_path: "/var/lib/dpkg/info", container_path: "/data", owner_uid: 0 }]);
    const r = errorsOf(mutate);
    expect(r.ok).toBe(false);
    expect(r.errors).toContainEqual(expect.stringMatching(/^phoenix_lxc_configs\.json: \$\.lxc_configs\["955"\]\.mount_points\[0\]\.host_path: \/var\/lib\/dpkg\/info is under the host's \/var: .*phoenix:allowHostPaths/));
    expect(r.errors.every((e) => ERROR_LINE.test(e))).toBe(true);
    expect(errorsOf(mutate, { hostPaths: true }).ok).toBe(true);
    for (const p of SYSTEM_PATHS) expect(raw.sensitiveHostPath(p), p).toBeDefined();
  });

  it("keeps users' data locations working", () => {
    for (const p of DATA_PATHS) expect(raw.sensitiveHostPath(p), p).toBeUndefined();
    for (const p of DATA_PATHS) {
      const r = errorsOf((f) => (ct(f, 955).mount_points = [{ host_path: p, container_path: "/data" }]));
      expect(r.errors, p).toEqual([]);
    }
  });
});

describe("NFS exports and Samba shares of system paths", () => {
  const registry = loadDist<typeof import("../../features/registry")>("features/registry");
  for (const p of ["/", "/etc", "/root", "/var/lib/pve-cluster", "/var/lib/dpkg", "etc"]) {
    it(`refuses exporting and sharing ${p}`, () => {
      // NFS paths are absolute (the schema); Samba paths may be relative to / (dataset names).
      const nfs = (f: Files) => {
        f.host.nfs.exports[0].path = p.startsWith("/") ? p : `/${p}`;
        f.host.nfs.exports[0].options = ["rw", "no_root_squash"];
      };
      const r = errorsOf(nfs);
      expect(r.ok).toBe(false);
      const line = r.errors.find((e) => e.includes("$.nfs.exports[0].path: "));
      expect(line, r.errors.join("\n")).toMatch(/exports .*the host's \/(etc|root|var)?: serve a data directory instead/);
      expect(line).toMatch(ERROR_LINE);
      if (p.startsWith("/")) expect(errorsOf(nfs, { hostPaths: true }).ok, p).toBe(true);

      const samba = (f: Files) => (f.host.samba.shares[0] = { ...f.host.samba.shares[0], path: p, options: "guestok=yes writable=yes" });
      const s = errorsOf(samba);
      expect(s.ok).toBe(false);
      expect(s.errors.find((e) => e.includes("$.samba.shares[0].path: ")), s.errors.join("\n")).toMatch(/shares .*the host's \//);
      expect(errorsOf(samba, { hostPaths: true }).ok, p).toBe(true);
    });
  }

  it("plan refuses them too; with phoenix:allowHostPaths the host scripts are told (allow_host_paths), otherwise not", async () => {
    const { planStack } = await import("../program/plan");
    const dir = mutatedDir((f) => (f.host.nfs.exports[0].path = "/etc"));
    const refused = await planStack({ stack: "dev", configDir: dir });
    expect(refused.errors.join("\n")).toMatch(/\$\.nfs\.exports\[0\]\.path: exports \/etc, which is the host's \/etc/);
    const allowed = await planStack({ stack: "dev", configDir: dir, config: { "phoenix:allowHostPaths": "true" } });
    expect(allowed.errors).toEqual([]);
    const params = (p: typeof allowed, kind: string) => p.resources.filter((r) => r.name.startsWith(kind)).map((r) => r.inputs.params);
    expect(params(allowed, "host-nfs-export-etc")).toEqual([expect.objectContaining({ path: "/etc", allow_host_paths: "1" })]);
    for (const p of params(allowed, "host-samba-share-")) expect(p).toMatchObject({ allow_host_paths: "1" });
    const plain = await planStack({ stack: "dev", configDir: mutatedDir(() => undefined) });
    for (const p of [...params(plain, "host-nfs-export-"), ...params(plain, "host-samba-share-")]) expect(p).not.toHaveProperty("allow_host_paths");
    expect(params(plain, "host-nfs-export-").length).toBeGreaterThan(0);
  }, 120_000);

  it("the host scripts' check names the same paths as the TypeScript lists", () => {
    const lists = [...raw.SENSITIVE_HOST_PATHS, ...raw.SENSITIVE_HOST_TREES, ...raw.HOST_DATA_LOCATIONS];
    const probes = [...new Set([...lists, ...lists.map((p) => `${p}/x`), ...lists.map((p) => `${p}/x/y`), ...SYSTEM_PATHS, ...DATA_PATHS,
      "/dev/fuse", "/devices", "/etcetera", "/var2", "/srv/x/../../etc", "/./root", "/var/www/../lib/dpkg"])];
    expect(scriptAnswers(probes)).toEqual(probes.map((p) => raw.sensitiveSharePath(p) ?? ""));
    // Bind-mount sources (lxc_options.sh judges them resolved on the host): sensitiveHostPath.
    expect(scriptAnswers(probes, "sensitive_host_path")).toEqual(probes.map((p) => raw.sensitiveHostPath(p) ?? ""));
  });

  it("nfs_export.sh and samba_share.sh include the check (run in the throwaway root: test/features/hypervisor/shares.test.ts)", () => {
    for (const script of ["nfs_export", "samba_share"]) {
      const text = registry.composeScript(path.join(repoRoot, `features/hypervisor/${script}.sh`));
      expect(text, script).toContain("sensitive_share_path() {");
      expect(text, script).toMatch(/\[ "\$action" != apply \] \|\| refuse_sensitive_share_path "\$(export|share)_path"/);
    }
  });
});
