// Values that would give root on the host, risky values, and what `plan` would refuse: each is a
// validate error (or warning) with file and JSON path. See infra/config/hardening.ts, lxc-raw.ts,
// samba-options.ts, stack-settings.ts.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { ERROR_LINE, Files, HOST, LXC, VM, cleanTempDirs, load, mutatedDir, readFiles, writeFiles } from "./helpers";

afterAll(cleanTempDirs);

const raw = loadDist<typeof import("../../infra/config/lxc-raw")>("infra/config/lxc-raw");
const loader = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
const ct = (f: Files, id: number) => f.lxc.lxc_configs[String(id)];

function errorsOf(mutate: (f: Files) => void, allow?: { rawLxc?: boolean; hostPaths?: boolean }) {
  const r = loader.loadPhoenixConfig(mutatedDir(mutate), { allow });
  return { ok: r.ok, errors: r.ok ? [] : r.errors, warnings: r.warnings };
}

describe("raw LXC lines (one validator: infra/config/lxc-raw.ts)", () => {
  const refused: [string, RegExp, ("allowRawLxc" | "allowHostPaths" | undefined)][] = [
    ["lxc.hook.pre-start=/bin/sh", /runs a program on the host/, "allowRawLxc"],
    ["lxc.hook.start=/tmp/x", /runs a program on the host/, "allowRawLxc"],
    ["lxc.include=/etc/shadow", /reads a host file/, "allowRawLxc"],
    ["lxc.log.file=/etc/cron.d/x", /writes a host file/, "allowRawLxc"],
    ["lxc.cap.drop=", /empty lxc.cap.drop/, "allowRawLxc"],
    ["lxc.cap.keep=sys_admin sys_module", /keeps sys_module/, "allowRawLxc"],
    ["lxc.cap.keep=sys_adminn", /unknown capability "sys_adminn"/, undefined],
    ["lxc.mount.auto=proc:rw sys:mixed", /proc:rw .*writable; write proc:mixed/, "allowRawLxc"],
    ["lxc.mount.auto=sys:rw", /writable/, "allowRawLxc"],
    ["lxc.mount.auto=cgroup", /writable; write cgroup:mixed/, "allowRawLxc"],
    ["lxc.mount.auto=cgroup-full:rw", /writable/, "allowRawLxc"],
    ["lxc.mount.auto=procfs", /unknown lxc.mount.auto token/, undefined],
    ["lxc.cgroup2.devices.allow=a", /every host device/, "allowRawLxc"],
    ["lxc.cgroup2.devices.allow=c *:* rwm", /device wildcard/, "allowRawLxc"],
    ["lxc.cgroup2.devices.allow=c 10:* rwm", /device wildcard/, "allowRawLxc"],
    ["lxc.cgroup2.devices.allow=b 8:0 rwm", /block device/, "allowHostPaths"],
    ["lxc.mount.entry=/dev/sda dev/sda none bind,create=file", /block device/, "allowHostPaths"],
    ["lxc.mount.entry=/ host none rbind 0 0", /the host's \//, "allowHostPaths"],
    ["lxc.mount.entry=/./etc etc2 none bind 0 0", /\/\.\/etc \(= \/etc\)/, "allowHostPaths"],
    ["lxc.mount.entry=//root r none bind 0 0", /= \/root/, "allowHostPaths"],
    ["lxc.mount.entry=/srv/../var/lib/pve-cluster p none bind 0 0", /\/var\/lib\/pve-cluster/, "allowHostPaths"],
    ["lxc.mount.entry=/dev dev none rbind 0 0", /the host's \/dev/, "allowHostPaths"],
    ["lxc.mount.entry=proc proc2 proc rw 0 0", /mounts proc writable/, "allowRawLxc"],
    ["lxc.idmap=u 0 0 65536", /host uid 0/, "allowRawLxc"],
    ["lxc.mount.entry=/srv/data ../../etc none bind 0 0", /climbs out/, "allowRawLxc"],
    ["lxc.net.0.type=phys", /host network devices/, "allowRawLxc"],
    ["lxc.seccomp.profile=/dev/null", /seccomp/, "allowRawLxc"],
    // Proxmox drops or refuses (issue 12 item 7): name the key and what to write instead.
    ["lxc.cgroup.devices.allow=c 10:200 rwm", /cgroup v1 key.*write lxc\.cgroup2\.devices\.allow/, undefined],
    ["lxc.cgroup.memory.limit_in_bytes=1G", /write lxc\.cgroup2\.memory\.max/, undefined],
    ["lxc.aa_profile=unconfined", /write lxc\.apparmor\.profile/, undefined],
    ["lxc.limit.nofile=1024", /write lxc\.prlimit\.nofile/, undefined],
    ["lxc.rootfs.path=/x", /generates lxc\.rootfs\.path/, undefined],
    ["lxc.foo.bar=1", /not in pve-container's lxc\.\* whitelist/, undefined],
  ];
  for (const [line, message, allowance] of refused) {
    it(`refuses ${line}`, () => {
      const found = raw.checkRawLxcText(line);
      expect(found.length, line).toBeGreaterThan(0);
      expect(found.map((f) => f.message).join(" | ")).toMatch(message);
      expect(found.some((f) => f.allowedBy === allowance)).toBe(true);
    });
  }
  const fine = [
    "lxc.apparmor.profile=unconfined",
    "lxc.cap.keep=sys_admin,mknod,sys_chroot",
    "lxc.cap.drop=sys_admin",
    "lxc.mount.auto=proc:mixed sys:mixed cgroup:mixed",
    "lxc.cgroup2.devices.allow=c 195:* rwm",
    "lxc.cgroup2.devices.allow=c 10:229 rwm",
    "lxc.cgroup2.devices.deny=a",
    "lxc.mount.entry=/dev/fuse dev/fuse none bind,create=file",
    "lxc.mount.entry=/dev/nvidia0 dev/nvidia0 none bind,optional,create=file",
    "lxc.mount.entry=/fastData/shared-bulk-data/vllm_models vllm_models none bind,create=dir 0 0",
    "lxc.mount.entry=tmpfs tmp tmpfs rw,size=1G 0 0",
    "lxc.prlimit.nofile=65536",
    "lxc.idmap=u 0 100000 65536",
    "lxc.sysctl.kernel.shmmax=1024",
  ];
  for (const line of fine) it(`accepts ${line}`, () => expect(raw.checkRawLxcText(line)).toEqual([]));

  it("the validator's whitelist is Proxmox's (pve-container Config.pm $valid_lxc_conf_keys, value 1)", () => {
    // Every key Proxmox takes verbatim passes the key check (hooks then need the allowance).
    for (const key of ["lxc.apparmor.raw", "lxc.hook.autodev", "lxc.environment", "lxc.start.order", "lxc.init.cmd"]) {
      const f = raw.checkRawLxcLine(key, "x");
      expect(f.every((x) => !/whitelist/.test(x.message)), key).toBe(true);
    }
  });

  it("a config line is a validate error with file and JSON path; the stack allowance accepts it", () => {
    const mutate = (f: Files) => ct(f, 950).lxc_options.push("lxc.hook.pre-start=/bin/touch", "lxc.mount.auto=sys:rw");
    const r = errorsOf(mutate);
    expect(r.ok).toBe(false);
    expect(r.errors).toContainEqual(expect.stringMatching(/^phoenix_lxc_configs\.json: \$\.lxc_configs\["950"\]\.lxc_options\[1\]: lxc\.hook\.pre-start: .*phoenix:allowRawLxc/));
    expect(r.errors).toContainEqual(expect.stringMatching(/lxc_options\[2\]: lxc\.mount\.auto: sys:rw/));
    expect(errorsOf(mutate, { rawLxc: true }).ok).toBe(true);
    // An allowance never accepts what Proxmox or LXC refuse.
    expect(errorsOf((f) => ct(f, 950).lxc_options.push("lxc.cgroup.devices.allow=c 10:200 rwm"), { rawLxc: true, hostPaths: true }).ok).toBe(false);
  });

  it("id_maps onto host uid/gid 0 (a whole range) are refused unless phoenix:allowRawLxc; other host ids pass", () => {
    const onto = (host_id: number) => (f: Files) => (ct(f, 955).id_maps = [{ type: "uid", host_id, container_id: 0, size: 65536 }]);
    const r = errorsOf(onto(0));
    expect(r.errors).toContainEqual(expect.stringMatching(/\$\.lxc_configs\["955"\]\.id_maps\[0\]\.host_id: maps container uids 0-65535 onto host uid 0 \(host root\)/));
    expect(errorsOf(onto(0), { rawLxc: true }).errors.join("\n")).not.toMatch(/host root/);
    expect(errorsOf(onto(100000)).errors.join("\n")).not.toMatch(/host root/);
  });

  it("a line the stack allowance admits also plans (validate ⊇ plan holds with the allowance)", async () => {
    const { planStack } = await import("../program/plan");
    const dir = mutatedDir((f) => ct(f, 950).lxc_options.push("lxc.hook.pre-start=/usr/local/bin/prepare"));
    const refused = await planStack({ stack: "dev", configDir: dir });
    expect(refused.errors.join("\n")).toMatch(/lxc\.hook\.pre-start: .*phoenix:allowRawLxc/);
    const plan = await planStack({ stack: "dev", configDir: dir, config: { "phoenix:allowRawLxc": "true" } });
    expect(plan.errors).toEqual([]);
    const options = plan.resources.find((r) => r.name === "ct-950-lxc-options")!.inputs.params.options as string;
    expect(options).toContain("lxc.hook.pre-start=/usr/local/bin/prepare");
  }, 120_000);

  it("bind sources under sensitive host paths, after normalising, are refused unless phoenix:allowHostPaths", () => {
    for (const hostPath of ["/etc", "/etc/pve", "/root/.ssh", "/var/lib/pve-cluster", "/", "/dev", "/srv/x/../../etc", "/boot/"]) {
      const mutate = (f: Files) => (ct(f, 955).mount_points = [{ host_path: hostPath, container_path: "/data" }]);
      const r = errorsOf(mutate);
      // Paths with `..` are already refused by the schema; the rest by the hardening check.
      expect(r.ok, hostPath).toBe(false);
      expect(r.errors.join("\n"), hostPath).toMatch(/\$\.lxc_configs\["955"\]\.mount_points\[0\]\.host_path/);
      if (!hostPath.includes("..")) expect(errorsOf(mutate, { hostPaths: true }).ok, hostPath).toBe(true);
    }
    const sv = errorsOf((f) => (f.host.shared_volumes = { sys: { host_path: "/etc/pve", mounts: { "955": "/pve" } } }));
    expect(sv.errors).toContainEqual(expect.stringMatching(/^phoenix_hypervisor_config\.json: \$\.shared_volumes\.sys\.host_path: \/etc\/pve is under the host's \/etc/));
    expect(raw.normaliseHostPath("//root//x/./")).toBe("/root/x");
    expect(raw.normaliseHostPath("/srv/../etc")).toBe("/etc");
  });
});

describe("Samba share options: an allow-list, names normalised as Samba does", () => {
  const samba = loadDist<typeof import("../../infra/config/samba-options")>("infra/config/samba-options");
  const withOptions = (options: string) => errorsOf((f) => (f.host.samba.shares[0].options = options));

  it("refuses parameters that run programs or widen access, in any spelling the schema admits", () => {
    for (const opt of ["rootpreexec=/tmp/x", "preexec=/tmp/x", "exec=/tmp/x", "postexec=/x", "rootpostexec=/x", "magicscript=x.sh",
      "dfreecommand=/tmp/x", "printcommand=/x", "forceuser=root", "adminusers=phoenix_admin", "widelinks=yes", "vfsobjects=fruit",
      "include=/tmp/x", "copy=global", "path=/etc", "directory=/etc", "msdfsroot=yes"]) {
      const r = withOptions(`browseable=yes ${opt}`);
      expect(r.ok, opt).toBe(false);
      expect(r.errors.join("\n"), opt).toMatch(/\$\.samba\.shares\[0\]\.options: /);
    }
    // Samba ignores case and whitespace in names: the normalised lookup catches every spelling.
    for (const name of ["ROOT PREEXEC", "Root  Preexec", "rootpreexec", "root preexec", "EXEC"]) {
      expect(samba.sambaOptionProblem(name), name).toBeDefined();
    }
  });

  it("allows the usual share options and their synonyms", () => {
    expect(withOptions("browseable=yes writable=yes").ok).toBe(true);
    expect(withOptions("browsable=yes readonly=no guestok=no createmask=0664 directorymask=0775 hostsallow=10.0.0.0/24").ok).toBe(true);
    for (const name of ["Browseable", "read only", "READ ONLY", "write ok", "public"]) expect(samba.sambaOptionProblem(name), name).toBeUndefined();
    expect(samba.sambaOptionProblem("read_only")).toMatch(/write readonly/);
  });

  it("every allowed name and synonym is a share parameter of the installed Samba (testparm --show-all-parameters)", () => {
    const out = spawnSync("testparm", ["--show-all-parameters"], { encoding: "utf8" });
    expect(out.status).toBe(0);
    const local = out.stdout.split("[global]")[0];
    const names = new Map<string, string>();
    for (const line of local.split("\n")) {
      const m = /^([^=[]+)=(.*)$/.exec(line);
      if (m) names.set(samba.normaliseSambaName(m[1]), m[2]);
    }
    // `readonly` is `read only` with the space removed, which Samba's name comparison ignores.
    for (const n of samba.ALLOWED_SAMBA_NAMES.keys()) expect(names.has(n), n).toBe(true);
    for (const n of samba.ALLOWED_SAMBA_NAMES.keys()) expect(names.get(n), n).not.toMatch(/FLAG_DEPRECATED/);
  });

  it("features/hypervisor/samba_share.sh checks the same list on the host", () => {
    const script = fs.readFileSync(path.join(repoRoot, "features/hypervisor/samba_share.sh"), "utf8");
    const block = script.split("# samba-allow-list-begin")[1].split("# samba-allow-list-end")[0];
    const inScript = block.replace(/[\\\s]/g, "").replace(/\)\s*;;$/, "").replace(/\);;$/, "").split("|").sort();
    expect(inScript).toEqual([...samba.ALLOWED_SAMBA_NAMES.keys()].sort());
  });
});

describe("risky values: validate warnings (policy violations in prod)", () => {
  it("http:// driver download without a checksum", () => {
    const r = errorsOf((f) => {
      f.host.nvidia_driver.runfile_url = "http://example.com/580.76.05/NVIDIA-Linux-x86_64-580.76.05.run";
    });
    expect(r.ok).toBe(true);
    expect(r.warnings).toContainEqual(expect.stringMatching(/\$\.nvidia_driver\.runfile_url: plain http:\/\/ download without runfile_sha256/));
    const withSum = errorsOf((f) => {
      f.host.nvidia_driver.runfile_url = "http://example.com/580.76.05/x.run";
      f.host.nvidia_driver.runfile_sha256 = "a".repeat(64);
    });
    expect(withSum.warnings.join("\n")).not.toMatch(/plain http/);
  });
  it("NFS export to * with no_root_squash", () => {
    const r = errorsOf((f) => (f.host.nfs.exports[0].clients = ["*"]));
    expect(r.warnings).toContainEqual(expect.stringMatching(/\$\.nfs\.exports\[0\]: exports .* to every host \(\*\) with no_root_squash/));
  });
  it("dataset mountpoint under a sensitive host path", () => {
    const r = errorsOf((f) => (f.host.zfs.datasets[0].properties = "mountpoint=/etc/cron.d"));
    expect(r.warnings).toContainEqual(expect.stringMatching(/\$\.zfs\.datasets\[0\]\.properties: mountpoint \/etc\/cron\.d is under the host's \/etc/));
  });
});

describe("validate refuses what plan would refuse", () => {
  const cases: [string, (f: Files) => void, string, RegExp][] = [
    ["arc_max_gb 1.5", (f) => (f.host.zfs = { ...f.host.zfs, arc_max_gb: 1.5 }), "$.zfs.arc_max_gb", /whole number of GiB/],
    ['gpu_assignment "100"', (f) => (ct(f, 950).gpu_assignment = "100"), '$.lxc_configs["950"].gpu_assignment', /out of range/],
    ["unknown pct_options key", (f) => (ct(f, 952).pct_options = ["nesting=1", "bogus=1"]), '$.lxc_configs["952"].pct_options[1]', /bogus is not a Proxmox container feature/],
    ["arc_max_gb beyond what initial_setup.sh takes", (f) => (f.host.zfs = { ...f.host.zfs, arc_max_gb: 100000 }), "$.zfs.arc_max_gb", /at most 99999/],
    ["NFS export path with ',' (nfs_export.sh refuses it)", (f) => (f.host.nfs.exports[0].path = "/srv/a,b"), "$.nfs.exports[0].path", /may hold only/],
    ["Samba share path with '=' (samba_share.sh refuses it)", (f) => (f.host.samba.shares[0].path = "/srv/a=b"), "$.samba.shares[0].path", /may hold only/],
    ["pool disk with '@' (zfs_pool.sh refuses it)", (f) => (f.host.zfs.pools[0].disks[0] = "/dev/disk/by-id/a@b"), "$.zfs.pools[0].disks[0]", /may hold only/],
    ["a feature parameter over 100 KB", (f) => (ct(f, 950).vllm_model = "m".repeat(150_000)), '$.lxc_configs["950"].vllm_model', /150000 bytes; feature parameters must stay under 102400/],
    ["apparmor_profile contradicting a raw lxc.apparmor.profile line", (f) => (ct(f, 950).apparmor_profile = "lxc-container-default-cgns"), '$.lxc_configs["950"].apparmor_profile', /contradicts lxc_options lxc\.apparmor\.profile=unconfined/],
    ["a cloud image name the VM component cannot download", (f) => (f.vm.vms[0].template_image = "my-own.img"), "$.vms[0].template_image", /not a known cloud image name/],
    ["NFS server with shell characters", (f) => (f.vm.vms[0].volumes = [{ type: "nfs", name: "d", server: "x;reboot", path: "/d", mount_point: "/mnt/d" }]), "$.vms[0].volumes[0].server", /host name or IPv4/],
  ];
  for (const [name, mutate, at, message] of cases) {
    it(name, () => {
      const r = errorsOf(mutate);
      expect(r.ok).toBe(false);
      const line = r.errors.find((e) => e.includes(`: ${at}: `));
      expect(line, r.errors.join("\n")).toBeDefined();
      expect(line).toMatch(message);
      expect(line).toMatch(ERROR_LINE);
    });
  }

  it("sshPort 70000 in the stack settings is a validate error naming file and key", () => {
    const stacks = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-stack-"));
    try {
      const dir = path.join(stacks, "qa");
      fs.mkdirSync(dir);
      const files = readFiles();
      for (const [name, value] of [[HOST, files.host], [LXC, files.lxc], [VM, files.vm]] as const) fs.writeFileSync(path.join(dir, name), JSON.stringify(value));
      fs.writeFileSync(path.join(stacks, "Pulumi.qa.yaml"), "config:\n  phoenix:sshPort: 70000\n  phoenix:sshUser: root\n");
      const run = spawnSync(process.execPath, [path.join(repoRoot, "bin/phoenix.js"), "validate", "--config-dir", dir, "--quiet"], { encoding: "utf8" });
      expect(run.status).toBe(1);
      expect(run.stderr).toMatch(/Pulumi\.qa\.yaml: phoenix:sshPort: must be a TCP port 1-65535; got "70000"/);
      // The allowance in the stack file reaches the loader.
      // (managementNetwork: the dev files' host firewall drops input, and validate applies plan's lock-out guard.)
      fs.writeFileSync(path.join(stacks, "Pulumi.qa.yaml"), "config:\n  phoenix:allowRawLxc: \"true\"\n  phoenix:managementNetwork: 10.0.0.0/24\n");
      files.lxc.lxc_configs["950"].lxc_options.push("lxc.hook.start=/bin/true");
      fs.writeFileSync(path.join(dir, LXC), JSON.stringify(files.lxc));
      const ok = spawnSync(process.execPath, [path.join(repoRoot, "bin/phoenix.js"), "validate", "--config-dir", dir, "--quiet"], { encoding: "utf8" });
      expect(ok.stderr).toBe("");
      expect(ok.status).toBe(0);
    } finally {
      fs.rmSync(stacks, { recursive: true, force: true });
    }
  });
});

describe("bad files end cleanly", () => {
  it("JSON nested 300,000 levels deep: one line, fast, no crash", () => {
    const depth = 300_000;
    const text = `{"lxc_configs": ${"[".repeat(depth)}${"]".repeat(depth)}}`;
    const dir = writeFiles({ host: readFiles().host, vm: readFiles().vm }, { [LXC]: text });
    const started = process.hrtime.bigint();
    const r = load(dir);
    const ms = Number(process.hrtime.bigint() - started) / 1e6;
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toEqual([expect.stringMatching(/^phoenix_lxc_configs\.json: \$: nested deeper than 256 levels \(line 1, column \d+\)$/)]);
    // Not a timing assertion on the product's speed (that is `npm run bench`): a guard that the
    // pre-scan stops the quadratic path (minutes before), with a wide margin for a loaded machine.
    expect(ms).toBeLessThan(20_000);
  });

  it("a FIFO, a directory or a huge file in place of a config file is an error, not a hang", () => {
    const files = readFiles();
    const fifoDir = writeFiles({ host: files.host, vm: files.vm });
    expect(spawnSync("mkfifo", [path.join(fifoDir, LXC)]).status).toBe(0);
    const a = load(fifoDir);
    expect(a.ok).toBe(false);
    if (!a.ok) expect(a.errors).toContainEqual("phoenix_lxc_configs.json: $: cannot read: a FIFO, not a regular file");

    const dirDir = writeFiles({ host: files.host, vm: files.vm });
    fs.mkdirSync(path.join(dirDir, LXC));
    const b = load(dirDir);
    expect(b.ok).toBe(false);
    if (!b.ok) expect(b.errors).toContainEqual("phoenix_lxc_configs.json: $: cannot read: a directory, not a regular file");

    // Unreadable: root reads anything, so the loader runs as nobody.
    if (process.getuid?.() === 0) {
      const lockedDir = writeFiles({ host: files.host, lxc: files.lxc, vm: files.vm });
      fs.chmodSync(path.join(lockedDir, LXC), 0o000);
      fs.chmodSync(lockedDir, 0o755);
      const script = "const r = require(process.argv[1]).loadPhoenixConfig(process.argv[2]); process.stdout.write(JSON.stringify(r.errors));";
      const asNobody = spawnSync("runuser", ["-u", "nobody", "--", process.execPath, "-e", script, path.join(repoRoot, "dist/infra/config/load.js"), lockedDir], { encoding: "utf8", timeout: 30_000 });
      expect(asNobody.status, asNobody.stderr).toBe(0);
      expect(JSON.parse(asNobody.stdout)).toEqual(["phoenix_lxc_configs.json: $: cannot read: permission denied (EACCES)"]);
    }

    const bigDir = writeFiles({ host: files.host, vm: files.vm }, { [LXC]: " ".repeat(loader.MAX_FILE_BYTES + 1) });
    const c = load(bigDir);
    expect(c.ok).toBe(false);
    if (!c.ok) expect(c.errors[0]).toMatch(/^phoenix_lxc_configs\.json: \$: cannot read: \d+ bytes, larger than/);
  });
});
