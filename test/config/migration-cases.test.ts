// Every case of the shared migration set (test/config/cases.ts: the repository's copy of
// `../shared/cases/migration`) with the behaviour its README names. A missing case folder fails
// the suite: these are the promise that users' files load unchanged.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { CASES, CASES_DIR, SHARED_CASES_DIR } from "./cases";
import { ERROR_LINE, HOST, LXC, load } from "./helpers";

const temp: string[] = [];
afterAll(() => {
  for (const d of temp.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A writable copy of case `name` (to add a user's script next to the JSON files). */
function copyCase(name: string): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `phoenix-case-${name}-`));
  temp.push(dir);
  fs.cpSync(path.join(CASES_DIR, name), dir, { recursive: true });
  for (const f of fs.readdirSync(dir)) fs.chmodSync(path.join(dir, f), 0o644);
  return dir;
}

function loaded(dir: string) {
  const r = load(dir, { defaultNode: "pve" });
  if (!r.ok) throw new Error(`expected ${dir} to load:\n${r.errors.join("\n")}`);
  for (const w of r.warnings) expect(w).toMatch(ERROR_LINE);
  return r;
}
const caseDir = (name: string) => path.join(CASES_DIR, name);

/** Every file under `dir`, relative, with its content. */
function tree(dir: string): Map<string, string> {
  const files = fs.readdirSync(dir, { recursive: true, withFileTypes: true }).filter((e) => e.isFile());
  return new Map(files.map((e) => [path.relative(dir, path.join(e.parentPath, e.name)), fs.readFileSync(path.join(e.parentPath, e.name), "utf8")]));
}

describe("the migration cases", () => {
  // Where the project's shared folder is checked out (its own CI), the copy must be the source.
  it.skipIf(!fs.existsSync(SHARED_CASES_DIR))("the repository's copy equals ../shared/cases/migration (refresh test/fixtures/migration-cases when it changes)", () => {
    expect(tree(CASES_DIR)).toEqual(tree(SHARED_CASES_DIR));
  });

  it("are all there (the suite fails rather than skips without them)", () => {
    expect(fs.existsSync(path.join(CASES_DIR, "README.md")), `${CASES_DIR} is missing`).toBe(true);
    const readme = fs.readFileSync(path.join(CASES_DIR, "README.md"), "utf8");
    for (const name of CASES) {
      expect(fs.existsSync(path.join(CASES_DIR, name, "phoenix_lxc_configs.json")), name).toBe(true);
      if (name !== "base") expect(readme).toContain(`| \`${name}\` |`);
    }
    // A case added to the README must be added here too.
    const listed = [...readme.matchAll(/^\| `([a-z0-9]+)` \|/gm)].map((m) => m[1]);
    expect(listed.filter((n) => !(CASES as readonly string[]).includes(n))).toEqual([]);
  });

  it("base loads without warnings", () => {
    expect(loaded(caseDir("base")).warnings).toEqual([]);
  });

  it("cb1: a shared volume mount naming a container not in the file is skipped with a warning", () => {
    const r = loaded(caseDir("cb1"));
    expect(r.warnings).toEqual([`${HOST}: $.shared_volumes.models.mounts["950"]: skipped: container 950 does not exist`]);
    expect(r.model.containers.flatMap((c) => c.bindMounts)).toEqual([]);
  });

  it("cb2: a disk and a bind mount on one path keep the disk and skip the bind mount with a warning", () => {
    const r = loaded(caseDir("cb2"));
    const c = r.model.containers[0];
    expect(c.volumes).toEqual([{ name: "models", storage: "tank-ct-disks", sizeGb: 50, mountPoint: "/models" }]);
    expect(c.bindMounts).toEqual([]);
    expect(r.warnings).toEqual([expect.stringMatching(/^phoenix_hypervisor_config\.json: \$\.shared_volumes\.models\.mounts\["900"\]: skipped: container 900 has a disk on \/models/)]);
  });

  it("cb3: vm_defaults.disk_size_gb never makes an explicitly sized clone smaller than its template", () => {
    const r = loaded(caseDir("cb3"));
    const [tmpl, app] = r.model.vms;
    expect(app.diskSizeGb).toBe(32);
    expect(tmpl.diskSizeGb).toBeLessThanOrEqual(32);
    expect(r.warnings).toEqual([]);
  });

  it("cb4: a parameter holding `$` is data and loads as written", () => {
    const r = loaded(caseDir("cb4"));
    expect(r.model.vms.find((v) => v.vmid === 1001)!.params).toEqual({ portainer_admin_password: "p@ss$$word1" });
  });

  it("cb5: a feature Phoenix does not ship is one error naming where it was looked for, valid when the stack provides it", () => {
    const dir = copyCase("cb5");
    const r = load(dir);
    expect(r.ok).toBe(false);
    if (r.ok) return;
    const script = path.join(dir, "features", "lxc", "dns_server.sh");
    expect(r.errors).toHaveLength(1);
    expect(r.errors[0]).toMatch(/^phoenix_lxc_configs\.json: \$\.lxc_configs\["900"\]\.features\[1\]: unknown feature "dns_server"; known: base_setup, /);
    expect(r.errors[0].endsWith(`; not in the stack folder either (looked for ${script})`)).toBe(true);
    fs.mkdirSync(path.dirname(script), { recursive: true });
    fs.writeFileSync(script, "#!/usr/bin/env bash\nset -euo pipefail\necho dns\n");
    expect(loaded(dir).model.containers[0].features).toEqual(["base_setup", "dns_server"]);
  });

  it("cb6: dataset properties as an object mean the same as the k=v string", () => {
    const r = loaded(caseDir("cb6"));
    expect(r.model.host.zfs.datasets[0].properties).toEqual({ recordsize: "16K", compression: "lz4" });
  });

  it("cb7: a samba block without user uses the admin user", () => {
    const r = loaded(caseDir("cb7"));
    expect(r.model.host.samba).toEqual({ user: "admin1", shares: [] });
  });

  it("c1: a volume on an undeclared storage loads with a warning that it must already exist", () => {
    const r = loaded(caseDir("c1"));
    expect(r.model.containers[0].volumes).toEqual([{ name: "data", storage: "tank-old-volumes", sizeGb: 10, mountPoint: "/data" }]);
    expect(r.warnings).toEqual([expect.stringMatching(/^phoenix_lxc_configs\.json: \$\.lxc_configs\["900"\]\.volumes\[0\]\.pool: storage tank-old-volumes is not in the host config; it must already exist on the host/)]);
  });

  it("x1: a zfspool storage with content backup is an error (zfspool holds images and rootdir only)", () => {
    const r = load(caseDir("x1"));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([`${HOST}: $.zfs.datasets[3].proxmox_content_type: a zfspool storage holds only images and rootdir, not backup (use proxmox_storage_type dir for those)`]);
  });

  it("s1: lxc.cap.keep with commas is written space-separated, as LXC reads it", () => {
    const r = loaded(caseDir("s1"));
    expect(r.model.containers[0].lxcOptions).toEqual([{ key: "lxc.cap.keep", value: "sys_admin mknod sys_chroot" }]);
  });

  it("s2: nameservers, the completed id map, cap.keep, lifecycle snapshots, firewall block and vllm_engine_config all load", () => {
    const r = loaded(caseDir("s2"));
    const [c900, c910] = r.model.containers;
    expect(c900.network.nameservers).toEqual(["192.0.2.53"]);
    expect(c900.lxcOptions).toEqual([{ key: "lxc.cap.keep", value: "sys_admin mknod sys_chroot" }]);
    // `unconfined` is no profile line: Proxmox's generated profile, as the Bash tool left it.
    expect(c900.apparmorProfile).toBeUndefined();
    expect(c900.lifecycleSnapshots).toBe(true);
    // The well-known recipe: the hole for gid 33, the rest of 0..65535 at 100000 + id, uids whole.
    expect(c900.idMaps).toEqual([
      { type: "uid", containerId: 0, hostId: 100000, size: 65536 },
      { type: "gid", containerId: 0, hostId: 100000, size: 33 },
      { type: "gid", containerId: 33, hostId: 33, size: 1 },
      { type: "gid", containerId: 34, hostId: 100034, size: 65502 },
    ]);
    expect(c900.subIds).toEqual([{ type: "gid", hostId: 33, size: 1 }]);
    expect(c910.features).toEqual(["vllm"]);
    expect(c910.params).toEqual({ vllm_engine_config: { ModelConfig: { model: "org/model" } } });
    // trusted_ca without a certificate, URL or host path: the Bash tool's host file, said once.
    expect(r.warnings).toEqual([
      `${LXC}: $.lxc_configs["900"].features[1]: trusted_ca names no trusted_ca_cert, trusted_ca_url or trusted_ca_host_path: the root CA is copied from /mnt/pve/quickOS/lxc-persistent-data/103/ssl/phoenix_root_ca.crt on the host, as the Bash orchestrator did (it must exist there)`,
      // s2 declares a guest firewall while the host firewall is off (base): Proxmox filters nothing.
      `${LXC}: $.lxc_configs["900"].firewall: has no effect while the host firewall is off: Proxmox filters guests only when the cluster firewall is enabled (shared_volumes.firewall.enabled)`,
    ]);
  });

  it("fw: the firewall blocks load without errors (the firewall itself is planned by the firewall component)", () => {
    loaded(caseDir("fw"));
  });

  it("every case but x1 and cb5 (which needs the stack's script) validates; each finding is one line", () => {
    for (const name of CASES) {
      const r = load(caseDir(name));
      for (const line of [...r.warnings, ...(r.ok ? [] : r.errors)]) expect(line, name).toMatch(ERROR_LINE);
      expect(r.ok, `${name}: ${r.ok ? "" : r.errors.join("; ")}`).toBe(name !== "x1" && name !== "cb5");
    }
  });
});
