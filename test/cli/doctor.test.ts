// `phoenix doctor` against the real sshd test host with the Proxmox stand-in (pvesm, pvesh, pveam,
// pveversion, pct/qm configs under /etc/pve): every check shows `ok` on a host that is ready and
// the `fail` it exists for on one that is not, and doctor changes nothing on the host (the
// emulator's call log holds only read commands; the throwaway root's files are unchanged).
//
// What no stand-in can make of this machine is set per test through small tools on the session
// PATH: `nvidia-smi`/`modinfo` (the loaded and the installed NVIDIA module), `stat` for
// /sys/fs/cgroup (this machine's layout is not the host's), `df` for the `local` storage's size.
import { spawnSync } from "node:child_process";
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { cleanTempDirs, mutatedDir, type Files, type Json } from "../config/helpers";
import { startTestHost, type TestHost } from "../host/sshd";
import { EMU_LOG, installEmulator, readCalls } from "../host/emulator/lib";

const doctor = loadDist<typeof import("../../infra/cli/doctor")>("infra/cli/doctor");
const { stackSettingsFrom } = loadDist<typeof import("../../infra/settings")>("infra/settings");
const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");

const TOKEN = "phoenix@pve!iac";
const TEMPLATE = "ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
const LOCAL_ALL = "iso,vztmpl,backup,snippets,images,rootdir";

let host: TestHost;

const sh = async (cmd: string) => {
  const r = await host.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};

/** The dev files on this host: every guest on `local`, 1 GiB disks, pool `tank`, the template in local. */
function baseFiles(f: Files): void {
  f.host.zfs.pools = [{ name: "tank", raid_level: "single", disks: ["/dev/disk/by-id/phoenix-test-tank"] }];
  f.host.zfs.datasets = [];
  f.host.proxmox_storage_ids = {};
  // The host firewall needs Sys.Modify on / (its own test below); these tests judge the rest.
  delete f.host.shared_volumes.firewall;
  for (const c of Object.values<Json>(f.lxc.lxc_configs)) {
    c.storage_pool = "local";
    c.storage_size_gb = 1;
    if (c.pct_options) c.pct_options = c.pct_options.filter((o: string) => o.startsWith("nesting"));
    for (const v of [...(c.volumes ?? []), ...(c.zfs_volumes ?? [])]) Object.assign(v, { pool: "local", size_gb: 1 });
  }
  f.lxc.lxc_configs["900"].template = `/var/lib/vz/template/cache/${TEMPLATE}`;
  f.vm.vm_defaults.storage_pool = "local";
  for (const vm of f.vm.vms) Object.assign(vm, { storage_pool: "local", disk_size_gb: 1 });
}

function settingsFor(configDir: string, extra: Record<string, string> = {}) {
  const t = host.target;
  const cfg: Record<string, string> = {
    configDir,
    sshHost: t.host,
    sshPort: String(t.port),
    sshUser: "root",
    sshHostKey: t.hostKey!,
    ...extra,
  };
  return stackSettingsFrom("doctor-test", (k) => cfg[k]);
}

type DoctorInput = Parameters<typeof doctor.runDoctor>[0];

async function runOn(mutate: (f: Files) => void = () => {}, opts: { settings?: Record<string, string>; auth?: DoctorInput["auth"]; secrets?: DoctorInput["secrets"] } = {}) {
  const dir = mutatedDir((f) => {
    baseFiles(f);
    mutate(f);
  });
  const loaded = loadPhoenixConfig(dir, { defaultNode: "pve" });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  return doctor.runDoctor({
    settings: settingsFor(dir, opts.settings),
    model: loaded.model,
    secrets: opts.secrets ?? host.secrets,
    auth: opts.auth ?? { kind: "token", id: TOKEN },
  });
}

type Report = Awaited<ReturnType<typeof runOn>>;
const lineOf = (r: Report, check: string) => {
  const c = r.checks.find((x) => x.check === check);
  expect(c, `no check ${check} in\n${doctor.formatReport(r)}`).toBeDefined();
  return c!;
};

/** A host ready for the files (what every test starts from and returns to). */
async function readyHost(): Promise<void> {
  await sh(
    [
      "mkdir -p /etc/pve/lxc /etc/pve/qemu-server /etc/phoenix-test /var/lib/vz/template/cache /var/lib/vz/template/iso",
      `printf 'dir: local\\n\\tpath /var/lib/vz\\n\\tcontent ${LOCAL_ALL}\\n' > /etc/pve/storage.cfg`,
      `printf 'user:phoenix@pve:1:0:::::\\ntoken:${TOKEN}:0:1::\\nacl:1:/:phoenix@pve,${TOKEN}:PVEAdmin:\\n' > /etc/pve/user.cfg`,
      `touch /var/lib/vz/template/cache/${TEMPLATE} /var/lib/vz/template/iso/noble-server-cloudimg-amd64.img`,
      "rm -f /etc/pve/lxc/*.conf /etc/pve/qemu-server/*.conf /etc/pve-emu.conf /var/run/reboot-required /var/lib/pve-manager/apl-info/phoenix-emu.list",
      "echo 580.76.05 > /etc/phoenix-test/nvidia-loaded && echo 580.76.05 > /etc/phoenix-test/nvidia-installed",
      "echo cgroup2fs > /etc/phoenix-test/cgroup && echo 104857600 > /etc/phoenix-test/local-free-kib",
    ].join(" && "),
  );
}

beforeAll(async () => {
  host = await startTestHost({ passwordUser: true });
  await installEmulator(host, { tools: ["pct", "qm", "pvesm", "pvesh", "pveversion", "pveam"] });
  await host.startZfsFuse();
  await sh("mkdir -p /srv/vdev && truncate -s 100M /srv/vdev/tank && zpool create tank /srv/vdev/tank");
  await host.installTool("nvidia-smi", '#!/bin/sh\n[ -s /etc/phoenix-test/nvidia-loaded ] || { echo "NVIDIA-SMI has failed" >&2; exit 9; }\ncat /etc/phoenix-test/nvidia-loaded\n');
  await host.installTool("modinfo", '#!/bin/sh\n[ "$*" = "-F version nvidia" ] || exec /sbin/modinfo "$@"\n[ -s /etc/phoenix-test/nvidia-installed ] || { echo "modinfo: ERROR: Module nvidia not found." >&2; exit 1; }\ncat /etc/phoenix-test/nvidia-installed\n');
  await host.installTool("stat", '#!/bin/sh\n[ "$*" = "-fc %T /sys/fs/cgroup" ] || exec /usr/bin/stat "$@"\ncat /etc/phoenix-test/cgroup\n');
  await host.installTool(
    "df",
    '#!/bin/sh\n[ "$*" = "-Pk /var/lib/vz" ] || exec /bin/df "$@"\nfree=$(cat /etc/phoenix-test/local-free-kib)\necho "Filesystem 1024-blocks Used Available Capacity Mounted on"\necho "vz $((free + 1000)) 1000 $free 1% /var/lib/vz"\n',
  );
  await readyHost();
}, 120_000);

afterAll(async () => {
  await host?.stop();
  cleanTempDirs();
});

describe("phoenix doctor on a cluster stack", () => {
  it("checks every node over its own endpoint; each check names its node, and one unreachable node fails the report", async () => {
    const dir = mutatedDir(baseFiles);
    const t = host.target;
    const nodes = JSON.stringify({ pve: { sshHost: t.host, sshPort: String(t.port), sshHostKey: t.hostKey }, pve2: { sshHost: t.host, sshPort: "1", sshHostKey: t.hostKey } });
    const settings = settingsFor(dir, { node: "pve", nodes });
    const loaded = loadPhoenixConfig(dir, { defaultNode: "pve", nodes: ["pve", "pve2"] });
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    const r = await doctor.runDoctorOnNodes({ settings, model: loaded.model, secrets: host.secrets, auth: { kind: "token", id: TOKEN } });
    const text = doctor.formatReport(r);
    // pve: the ready host, every check ok (its guests are all the files' guests).
    const pve = r.checks.filter((c) => c.check.startsWith("pve: "));
    expect(pve.length, text).toBeGreaterThan(8);
    expect(pve.filter((c) => c.status !== "ok"), text).toEqual([]);
    // pve2: its own endpoint (port 1) refuses the connection; nothing else is checked there.
    expect(r.checks.filter((c) => c.check.startsWith("pve2: ")), text).toEqual([expect.objectContaining({ status: "fail", check: "pve2: ssh" })]);
    expect(r.ok).toBe(false);
    expect(r.target).toBe(`pve root@${t.host}:${t.port}, pve2 root@${t.host}:1`);
  });
});

describe("phoenix doctor on a ready host", () => {
  it("every check is ok, one line each, and the exit status says so", async () => {
    const r = await runOn();
    const text = doctor.formatReport(r);
    expect(r.checks.filter((c) => c.status !== "ok"), text).toEqual([]);
    expect(r.ok).toBe(true);
    for (const check of ["ssh", "root", "proxmox version", "cgroup2", "api privileges", "storage local", "snippets", `os template local:vztmpl/${TEMPLATE}`, "cloud image noble-server-cloudimg-amd64.img", "guest ids", "free space local", "zfs pool tank", "nvidia driver"]) {
      expect(lineOf(r, check).status).toBe("ok");
    }
    expect(lineOf(r, "ssh").found).toContain(`root@127.0.0.1:${host.target.port}`);
    expect(lineOf(r, "proxmox version").found).toBe("Proxmox VE 8.4.1");
    expect(lineOf(r, "free space local").found).toBe("new disks need 9 GiB of 100.0 GiB free on storage local");
    for (const l of text.trimEnd().split("\n").slice(0, -1)) expect(l).toMatch(/^(ok {2}|warn|fail) {2}[a-z0-9 :/@!._-]+: \S/);
    expect(text.trimEnd().split("\n").at(-1)).toBe(`phoenix doctor doctor-test (root@127.0.0.1:${host.target.port}): ${r.checks.length} ok, 0 warn, 0 fail`);
  });

  it("a non-root login with passwordless sudo is root enough", async () => {
    const r = await runOn(undefined, { settings: { sshUser: host.passwordUser!.user }, secrets: { password: host.passwordUser!.password } });
    expect(lineOf(r, "root")).toMatchObject({ status: "ok", found: "phoenixpw runs commands as root through sudo -n" });
  });
});

describe("each check fails for what it exists for", () => {
  it("ssh: a host key other than the pinned one", async () => {
    const other = "[127.0.0.1]:1 ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl";
    const r = await runOn(undefined, { settings: { sshHostKey: other } });
    expect(r.checks).toHaveLength(1);
    expect(lineOf(r, "ssh")).toMatchObject({ status: "fail" });
    expect(lineOf(r, "ssh").found).toMatch(/host key SHA256:\S+ does not match the expected host key/);
    expect(lineOf(r, "ssh").fix).toContain("phoenix:sshHostKey");
    expect(r.ok).toBe(false);
  });

  it("node: first, the host must be the node the stack names; otherwise its node-scoped checks are skipped", async () => {
    const ready = await runOn();
    expect(ready.checks.findIndex((c) => c.check === "node")).toBe(2); // after ssh and root
    expect(lineOf(ready, "node")).toEqual({ status: "ok", check: "node", found: "the host is Proxmox node pve, as the stack names it" });
    const other = await runOn(() => {}, { settings: { node: "pve2" } });
    expect(other.ok).toBe(false);
    expect(other.checks.map((c) => `${c.status} ${c.check}`)).toEqual(["ok ssh", "ok root", "fail node"]);
    expect(lineOf(other, "node").found).toMatch(/^this host is Proxmox node pve, but the stack names pve2: the checks of pve2 .* are skipped$/);
    expect(lineOf(other, "node").fix).toMatch(/^point phoenix:sshHost \(or phoenix:nodes\.pve2\.sshHost\) at node pve2, or set phoenix:node pve/);
  });

  it("root: a login that is not root and does not use sudo", async () => {
    const r = await runOn(undefined, { settings: { sshUser: host.passwordUser!.user, sshSudo: "false" }, secrets: { password: host.passwordUser!.password } });
    expect(lineOf(r, "root")).toMatchObject({ status: "fail" });
    expect(lineOf(r, "root").found).toMatch(/^commands run as uid [1-9]\d* \(phoenixpw\), not root: /);
    // Nothing else is checked without root.
    expect(r.checks.map((c) => c.check)).toEqual(["ssh", "root"]);
    expect(lineOf(r, "root").fix).toContain("NOPASSWD");
  });

  it("root: sudo that wants a password", async () => {
    await sh("printf 'phoenixpw ALL=(ALL) ALL\\n' > /etc/sudoers.d/phoenixpw");
    try {
      const r = await runOn(undefined, { settings: { sshUser: host.passwordUser!.user }, secrets: { password: host.passwordUser!.password } });
      expect(lineOf(r, "root").status).toBe("fail");
      expect(lineOf(r, "root").found).toMatch(/^commands run as uid \? \(sudo: .*password.*\), not root: /);
      expect(lineOf(r, "root").fix).toContain("NOPASSWD");
    } finally {
      await sh("printf 'phoenixpw ALL=(ALL) NOPASSWD: ALL\\n' > /etc/sudoers.d/phoenixpw");
    }
  });

  it("proxmox version: no pveversion (not a Proxmox host), and an old release warns", async () => {
    await sh("mv /usr/local/sbin/pveversion /usr/local/sbin/pveversion.off");
    try {
      expect(lineOf(await runOn(), "proxmox version")).toMatchObject({ status: "fail", found: "pveversion not found: not a Proxmox VE host" });
    } finally {
      await sh("mv /usr/local/sbin/pveversion.off /usr/local/sbin/pveversion");
    }
    await sh("echo EMU_PVE_VERSION=7.4.3 > /etc/pve-emu.conf");
    try {
      expect(lineOf(await runOn(), "proxmox version")).toMatchObject({ status: "warn", found: expect.stringContaining("Proxmox VE 7.4.3: end of life") });
    } finally {
      await readyHost();
    }
  });

  it("cgroup2: a host on the legacy/hybrid layout", async () => {
    await sh("echo tmpfs > /etc/phoenix-test/cgroup");
    try {
      const line = lineOf(await runOn(), "cgroup2");
      expect(line).toMatchObject({ status: "fail" });
      expect(line.found).toContain("/sys/fs/cgroup is tmpfs, not cgroup2fs");
      expect(line.fix).toContain("systemd.unified_cgroup_hierarchy=0");
    } finally {
      await readyHost();
    }
  });

  it("api privileges: a token without Datastore privileges on the storage, with the exact pveum fix", async () => {
    await sh(
      `printf 'user:phoenix@pve:1:0:::::\\ntoken:${TOKEN}:0:1::\\n` +
        `acl:1:/vms:phoenix@pve,${TOKEN}:PVEVMAdmin:\\nacl:1:/sdn:phoenix@pve,${TOKEN}:PVESDNUser:\\nacl:1:/nodes:phoenix@pve,${TOKEN}:PVEAuditor:\\n` +
        `acl:1:/storage:phoenix@pve:PVEDatastoreAdmin:\\n' > /etc/pve/user.cfg`,
    );
    try {
      const r = await runOn();
      const bad = r.checks.filter((c) => c.check.startsWith("api privileges"));
      expect(bad).toHaveLength(1);
      expect(bad[0]).toMatchObject({ status: "fail", check: "api privileges /storage/local" });
      // The user has them, the privilege-separated token does not.
      expect(bad[0].found).toBe(`${TOKEN} lacks Datastore.AllocateSpace, Datastore.AllocateTemplate, Datastore.Audit (container 900, container 901, container 902, container 950, container 952, container 955, vm 8000, vm 8001, vm 8001 user data)`);
      expect(bad[0].fix).toMatch(/^pveum acl modify \/storage\/local --tokens 'phoenix@pve!iac' --roles PVEDatastoreAdmin/);
    } finally {
      await readyHost();
    }
  });

  it("api privileges: downloading a missing cloud image needs Sys.AccessNetwork on the node (or Sys.Modify on /), which PVEAdmin lacks", async () => {
    await sh("rm /var/lib/vz/template/iso/noble-server-cloudimg-amd64.img");
    try {
      const r = await runOn();
      const line = lineOf(r, "api privileges /nodes/pve");
      expect(line).toMatchObject({ status: "fail", found: `${TOKEN} lacks Sys.AccessNetwork (or Sys.Audit and Sys.Modify on /) (vm 8000 cloud image download)` });
      // The role holds all the plan needs there: an ACL on /nodes/pve replaces what / gives.
      const role = "PhoenixSysAccessNetworkSysAudit";
      expect(line.fix).toMatch(new RegExp(`^pveum role add ${role} --privs Sys.AccessNetwork,Sys.Audit && pveum acl modify /nodes/pve --tokens 'phoenix@pve!iac' --roles ${role} --propagate 0`));
      // Granted as the fix says (a custom role in user.cfg), the line goes away.
      await sh(`printf 'role:${role}:Sys.AccessNetwork,Sys.Audit:\\nacl:0:/nodes/pve:phoenix@pve,${TOKEN}:${role}:\\n' >> /etc/pve/user.cfg`);
      const granted = await runOn();
      expect(granted.checks.filter((c) => c.check.startsWith("api privileges")).map((c) => c.status)).toEqual(["ok"]);
    } finally {
      await readyHost();
    }
  });

  it("api privileges: a token without VM privileges is one line for every guest, granted once on /vms", async () => {
    const others = `acl:1:/storage:phoenix@pve,${TOKEN}:PVEDatastoreAdmin:\\nacl:1:/sdn:phoenix@pve,${TOKEN}:PVESDNUser:\\nacl:1:/nodes:phoenix@pve,${TOKEN}:PVEAuditor:\\n`;
    await sh(`printf 'user:phoenix@pve:1:0:::::\\ntoken:${TOKEN}:0:1::\\n${others}' > /etc/pve/user.cfg`);
    try {
      const r = await runOn();
      const bad = r.checks.filter((c) => c.status !== "ok");
      expect(bad).toEqual([
        {
          status: "fail",
          check: "api privileges /vms",
          found: `${TOKEN} lacks VM.Allocate, VM.Audit, VM.Clone, VM.Config.CDROM, VM.Config.CPU, VM.Config.Cloudinit, VM.Config.Disk, VM.Config.HWType, VM.Config.Memory, VM.Config.Network, VM.Config.Options, VM.PowerMgmt on guests 900, 901, 902, 950, 952, 955, 8000, 8001`,
          fix: `pveum acl modify /vms --tokens '${TOKEN}' --roles PVEVMAdmin (a privilege-separated token also needs its user to hold them: --users)`,
        },
      ]);
      // Granted as the fix says, to the token and its user: nothing fails.
      await sh(`printf 'acl:1:/vms:phoenix@pve,${TOKEN}:PVEVMAdmin:\\n' >> /etc/pve/user.cfg`);
      expect((await runOn()).ok).toBe(true);
    } finally {
      await readyHost();
    }
  });

  it("api privileges: a token that does not exist is one line, not one per path", async () => {
    const r = await runOn(undefined, { auth: { kind: "token", id: "phoenix@pve!nosuch" } });
    const lines = r.checks.filter((c) => c.check.startsWith("api privileges"));
    expect(lines).toEqual([
      {
        status: "fail",
        check: "api privileges",
        found: "phoenix@pve!nosuch holds no privilege on any path the plan uses: does it exist?",
        fix: "pveum user token list phoenix@pve; pveum user token add phoenix@pve nosuch --privsep 0",
      },
    ]);
  });

  it("api root@pam: feature flags Phoenix sets as root over SSH are no failure of the token", async () => {
    // keyctl goes through `pct set --features` over SSH (ct-952-lxc-options), never the API.
    const r = await runOn((f) => (f.lxc.lxc_configs["952"].pct_options = ["nesting=1", "keyctl=1"]));
    expect(r.checks.some((c) => c.check === "api root@pam")).toBe(false);
    expect(lineOf(r, "api privileges").status).toBe("ok");
  });

  it("storage: one the files name does not exist; one lacks a content type; one is disabled", async () => {
    const missing = await runOn((f) => (f.lxc.lxc_configs["955"].storage_pool = "local-zfs"));
    expect(lineOf(missing, "storage local-zfs")).toMatchObject({ status: "fail", found: "does not exist on the host (used for rootdir)" });
    await sh("printf 'dir: local\\n\\tpath /var/lib/vz\\n\\tcontent iso,vztmpl,backup,snippets,images\\n' > /etc/pve/storage.cfg");
    try {
      const line = lineOf(await runOn(), "storage local");
      expect(line).toMatchObject({ status: "fail", found: "content iso,vztmpl,backup,snippets,images lacks rootdir" });
      expect(line.fix).toBe("pvesm set local --content iso,vztmpl,backup,snippets,images,rootdir");
    } finally {
      await readyHost();
    }
    await sh(`printf 'dir: local\\n\\tpath /var/lib/vz\\n\\tcontent ${LOCAL_ALL}\\n\\tdisable\\n' > /etc/pve/storage.cfg`);
    try {
      expect(lineOf(await runOn(), "storage local")).toMatchObject({ status: "fail", found: "dir storage is disabled", fix: "pvesm set local --disable 0" });
    } finally {
      await readyHost();
    }
  });

  it("snippets: no storage takes snippets, so the VMs' user data has nowhere to go", async () => {
    await sh("printf 'dir: local\\n\\tpath /var/lib/vz\\n\\tcontent iso,vztmpl,backup,images,rootdir\\n' > /etc/pve/storage.cfg");
    try {
      const line = lineOf(await runOn(), "snippets");
      expect(line.status).toBe("fail");
      expect(line.fix).toBe("pvesm set local --content iso,vztmpl,backup,images,rootdir,snippets");
    } finally {
      await readyHost();
    }
  });

  it("os template: the vztmpl file is not on its storage", async () => {
    await sh(`rm /var/lib/vz/template/cache/${TEMPLATE}`);
    try {
      const line = lineOf(await runOn(), `os template local:vztmpl/${TEMPLATE}`);
      expect(line).toMatchObject({ status: "fail", found: "not on storage local (container 900)" });
      expect(line.fix).toContain(TEMPLATE);
      // In the appliance index (`pveam available`): the fix is the download.
      await sh(`mkdir -p /var/lib/pve-manager/apl-info && printf 'system debian-12-standard_12.7-1_amd64.tar.zst\\nsystem ${TEMPLATE}\\n' > /var/lib/pve-manager/apl-info/phoenix-emu.list`);
      const listed = lineOf(await runOn(), `os template local:vztmpl/${TEMPLATE}`);
      expect(listed).toMatchObject({ status: "fail", found: "not on storage local (container 900); pveam can download it", fix: `pveam download local ${TEMPLATE}` });
    } finally {
      await readyHost();
    }
  });

  it("cloud image: not on the host, and the host cannot fetch it", async () => {
    // The host resolves the image server to a port where nothing listens (real curl, no network needed).
    await sh("rm /var/lib/vz/template/iso/noble-server-cloudimg-amd64.img && echo '127.0.0.1 cloud-images.ubuntu.com' >> /etc/hosts");
    try {
      const line = lineOf(await runOn(), "cloud image noble-server-cloudimg-amd64.img");
      expect(line.status).toBe("fail");
      expect(line.found).toBe("not on local and the host cannot fetch https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img (curl exit 7)");
      expect(line.fix).toContain("place the file as local:iso/noble-server-cloudimg-amd64.img");
    } finally {
      await sh("sed -i '/cloud-images.ubuntu.com/d' /etc/hosts");
      await readyHost();
    }
  });

  it("cloud image: not on the host but downloadable is ok (the judgement, from facts)", () => {
    const dir = mutatedDir(baseFiles);
    const loaded = loadPhoenixConfig(dir, { defaultNode: "pve" });
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    const input = { settings: settingsFor(dir), model: loaded.model, secrets: {}, auth: { kind: "unknown" as const } };
    const queries = doctor.factQueries(input);
    expect(queries.urls).toEqual(["https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img"]);
    const checks = doctor.evaluate(input, { url_0: { code: 0, out: "" } }, queries);
    expect(checks.find((c) => c.check === "cloud image noble-server-cloudimg-amd64.img")).toMatchObject({ status: "ok", found: expect.stringContaining("the host can download") });
    expect(doctor.evaluate(input, { url_0: { code: 6, out: "" } }, queries).find((c) => c.check.startsWith("cloud image"))!.status).toBe("fail");
  });

  it("guest ids: a CTID taken by a container the files do not describe, and a VMID taken by a container", async () => {
    await sh("printf 'hostname: someone-elses\\nmemory: 512\\n' > /etc/pve/lxc/950.conf && printf 'hostname: docker-vm\\n' > /etc/pve/lxc/8001.conf && printf 'hostname: Template-Base\\n' > /etc/pve/lxc/900.conf");
    try {
      const r = await runOn();
      expect(lineOf(r, "guest id 950")).toMatchObject({ status: "fail", found: 'taken by container 950 "someone-elses", not the files\' container "vllm-qwen2.5-7b-awq": Phoenix does not manage it', fix: expect.stringMatching(/^pct config 950 /) });
      expect(lineOf(r, "guest id 8001").found).toContain('taken by container 8001 "docker-vm", not the files\' VM "docker-vm"');
      // 900 is the files' own container (adopted, not taken).
      expect(r.checks.some((c) => c.check === "guest id 900")).toBe(false);
      expect(r.checks.some((c) => c.check === "guest ids")).toBe(false);
    } finally {
      await readyHost();
    }
  });

  it("free space: the new disks do not fit on their storage (existing guests are not counted)", async () => {
    await sh("echo 5242880 > /etc/phoenix-test/local-free-kib && printf 'hostname: Template-Base\\n' > /etc/pve/lxc/900.conf");
    try {
      const line = lineOf(await runOn(), "free space local");
      expect(line).toMatchObject({ status: "fail", found: "new disks need 8 GiB, storage local has 5.0 GiB free" });
    } finally {
      await readyHost();
    }
  });

  it("zfs pool: not imported and its disk does not exist; not imported on disks that exist warns", async () => {
    const r = await runOn((f) => (f.host.zfs.pools[0].name = "absent"));
    expect(lineOf(r, "zfs pool absent")).toMatchObject({ status: "fail", found: "not imported, and its disks /dev/disk/by-id/phoenix-test-tank do not exist" });
    const w = await runOn((f) => (f.host.zfs.pools[0] = { name: "fresh", raid_level: "single", disks: ["/dev/null"] }));
    expect(lineOf(w, "zfs pool fresh").status).toBe("warn");
  });

  it("nvidia driver: a module of another version than the files declare, and a reboot pending", async () => {
    await sh("echo 570.144 > /etc/phoenix-test/nvidia-loaded && echo 570.144 > /etc/phoenix-test/nvidia-installed");
    try {
      const line = lineOf(await runOn(), "nvidia driver");
      expect(line).toMatchObject({ status: "fail", found: "module 570.144, but nvidia_driver.version is 580.76.05: pulumi up would replace the host driver" });
      expect(line.fix).toContain("570.144");
      await sh("echo 580.76.05 > /etc/phoenix-test/nvidia-installed");
      expect(lineOf(await runOn(), "nvidia driver")).toMatchObject({ status: "fail", found: "580.76.05 is installed but module 570.144 is loaded: reboot pending" });
    } finally {
      await readyHost();
    }
  });
});

it("a privileged container needs Sys.Modify on /, and any feature flag of it needs root@pam (from the plan)", () => {
  const dir = mutatedDir((f) => {
    baseFiles(f);
    // Created from the OS template: a clone keeps its parent's unprivileged (validate refuses).
    delete f.lxc.lxc_configs["950"].clone_from_ctid;
    f.lxc.lxc_configs["950"].template = f.lxc.lxc_configs["900"].template;
    f.lxc.lxc_configs["950"].unprivileged = false;
    f.lxc.lxc_configs["950"].pct_options = ["nesting=1"];
  });
  const loaded = loadPhoenixConfig(dir, { defaultNode: "pve" });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  expect(doctor.requiredPrivileges(loaded.model, "pve").find((n) => n.path === "/")).toEqual({ path: "/", privs: ["Sys.Modify"], why: "privileged container 950" });
  // Its flags go over SSH as root (the provider gets none): nothing through the API needs root@pam.
  expect(doctor.rootOnlyReasons(loaded.model)).toEqual([]);
});

it.each(["dev", "prod", "cluster"])("the shipped %s stack asks nothing of the API that only root@pam may do, though its containers set keyctl/fuse/mknod", (stack) => {
  const dir = path.join(repoRoot, "stacks", stack);
  const loaded = loadPhoenixConfig(dir, { defaultNode: stack === "cluster" ? "pve1" : "pve", nodes: stack === "cluster" ? ["pve1", "pve2", "pve3"] : undefined });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  expect(loaded.model.containers.some((c) => Object.keys(c.pctOptions).some((f) => f !== "nesting"))).toBe(true);
  expect(doctor.rootOnlyReasons(loaded.model)).toEqual([]);
});

it("a host firewall needs Sys.Modify on / (pve-firewall's cluster options and rules), from the plan", () => {
  const loaded = loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"), { defaultNode: "pve" });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  expect(loaded.model.host.firewall).toBeDefined();
  expect(doctor.requiredPrivileges(loaded.model, "pve").find((n) => n.path === "/")).toEqual({
    path: "/",
    privs: ["Sys.Modify"],
    why: "the host firewall (cluster options, rules, aliases, IP sets)",
  });
  const without = { ...loaded.model, host: { ...loaded.model.host, firewall: undefined } };
  expect(doctor.requiredPrivileges(without, "pve").find((n) => n.path === "/")).toBeUndefined();
});

it("nvidia driver: without nvidia-smi the loaded version comes from /proc/driver/nvidia/version (the judgement, from facts)", () => {
  const dir = mutatedDir(baseFiles);
  const loaded = loadPhoenixConfig(dir, { defaultNode: "pve" });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const input = { settings: stackSettingsFrom("t", () => undefined), model: loaded.model, secrets: {}, auth: { kind: "unknown" as const } };
  const proc = "NVRM version: NVIDIA UNIX x86_64 Kernel Module  570.144  Thu Apr 10 20:33:29 UTC 2025\nGCC version:  gcc version 12.2.0 (Debian 12.2.0-14)\n";
  const checks = doctor.evaluate(input, { nvidia_smi: { code: 127, out: "" }, nvidia_sys: { code: 1, out: "" }, nvidia_proc: { code: 0, out: proc }, nvidia_modinfo: { code: 0, out: "570.144\n" } }, doctor.factQueries(input));
  expect(checks.find((c) => c.check === "nvidia driver")!.found).toBe("module 570.144, but nvidia_driver.version is 580.76.05: pulumi up would replace the host driver");
});

describe("doctor changes nothing", () => {
  /** sha256 over every path, mode and file content under the throwaway root's upper dirs. */
  function snapshot(): Map<string, string> {
    const out = new Map<string, string>();
    const walk = (dir: string) => {
      for (const name of fs.readdirSync(dir).sort()) {
        const p = path.join(dir, name);
        const rel = path.relative(host.rootDir, p);
        // The emulator's own call log (asserted below) and sshd's login records are not doctor's.
        if (rel.startsWith("var/log/pve-emu") || /^var\/log\/(wtmp|btmp|lastlog)$/.test(rel)) continue;
        // The test pool's file vdevs are written by the ZFS daemon itself (zfs-fuse commits a
        // transaction group for atime and its own housekeeping whenever it runs); what doctor may
        // run against ZFS is asserted on the emulator's call log below (read commands only).
        if (rel.startsWith("srv/vdev/")) continue;
        const st = fs.lstatSync(p);
        if (st.isDirectory()) {
          out.set(rel + "/", st.mode.toString(8));
          walk(p);
        } else {
          out.set(rel, `${st.mode.toString(8)} ${st.isFile() ? createHash("sha256").update(fs.readFileSync(p)).digest("hex") : "special"}`);
        }
      }
    };
    walk(host.rootDir);
    return out;
  }

  it("only read commands reach the stand-in, and no file of the host changes", async () => {
    await readyHost();
    await sh(`: > ${EMU_LOG}`);
    // A killed run's leftover (an unlocked run dir, older than a minute) is not doctor's to remove.
    await sh("d=/tmp/phoenix-run.deadbeef && mkdir -p $d && : > $d/.alive && : > $d/script.sh && touch -d '-2 minutes' $d");
    // /tmp and /var/tmp are overlays (their upper dir's times change with any entry made or
    // removed, even one that is gone again), /run a tmpfs of the test host.
    const temps = () => sh("stat -c '%n %y' /tmp /var/tmp /run /run/lock; ls -A /run | sort");
    await sh("sleep 1");
    const tempsBefore = await temps();
    const before = snapshot();
    const locksBefore = await sh("ls -A /run/lock");
    const r = await runOn();
    expect(r.ok, doctor.formatReport(r)).toBe(true);
    // Nothing made or removed under /tmp, /var/tmp or /run (not even a run dir), the leftover kept.
    expect(await temps()).toBe(tempsBefore);
    expect(await sh("ls -A /tmp/phoenix-run.deadbeef | sort")).toBe(".alive\nscript.sh\n");
    const after = snapshot();
    expect([...after.entries()].filter(([k, v]) => before.get(k) !== v).map(([k, v]) => `${k} ${before.get(k)} -> ${v}`)).toEqual([]);
    expect([...before.keys()].filter((k) => !after.has(k))).toEqual([]);
    const calls = await readCalls(host);
    expect(calls.length).toBeGreaterThan(5);
    for (const c of calls) {
      const verb = c[0] === "pveversion" ? "pveversion" : `${c[0]} ${c[1]}`;
      expect(["pveversion", "pvesm status", "pvesh get", "pveam available"], c.join(" ")).toContain(verb);
    }
    expect(calls.some((c) => c[0] === "pvesh" && c[2] === "/access/permissions")).toBe(true);
    // No lock file was taken: /run is the host's tmpfs, outside the overlays.
    expect(await sh("ls -A /run/lock")).toBe(locksBefore);
    await sh("rm -rf /tmp/phoenix-run.deadbeef");
  });
});

describe("phoenix doctor, the command", () => {
  const bin = path.join(repoRoot, "bin", "phoenix.js");
  const cli = (args: string[], env: Record<string, string> = {}) => spawnSync(process.execPath, [bin, "doctor", ...args], { cwd: repoRoot, encoding: "utf8", env: { ...process.env, ...env } });

  it("usage errors exit 2, --help 0", () => {
    expect(cli(["--nope"]).status).toBe(2);
    expect(cli(["--stack", "no-such-stack"]).status).toBe(2);
    expect(cli(["--api-token-id", "not a token"]).status).toBe(2);
    expect(cli(["--config", "nonsense"]).status).toBe(2);
    const h = cli(["--help"]);
    expect(h.status).toBe(0);
    expect(h.stdout).toContain("usage: phoenix doctor");
  });

  it("honours the stack's allowances as validate and plan do (phoenix:allowRawLxc)", () => {
    const dir = mutatedDir((f) => (f.lxc.lxc_configs["900"].lxc_options = ["lxc.hook.pre-start=/usr/local/bin/prepare-900"]));
    const refused = cli(["--stack", "dev", "--config-dir", dir]);
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/^phoenix doctor: invalid Phoenix configuration in .*runs a program on the host/s);
    // Allowed: doctor goes on to the host (the dev stack's placeholder key fails its ssh check).
    const allowed = cli(["--stack", "dev", "--config-dir", dir, "--config", "phoenix:allowRawLxc=true"]);
    expect(allowed.stderr).toBe("");
    expect(allowed.stdout).toMatch(/^fail {2}ssh: /);
  });

  it("the dev stack's placeholder host key fails the ssh check: exit 1, no stack trace", () => {
    const r = cli(["--stack", "dev"]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/^fail {2}ssh: host key: expected an OpenSSH known_hosts line/);
    expect(r.stderr).toBe("");
  });

  it("against the test host: exit 0 on a ready host, 1 with a fail; --json for the pipeline", async () => {
    await readyHost();
    const dir = mutatedDir(baseFiles);
    const t = host.target;
    const args = ["--stack", "dev", "--config-dir", dir, "--config", `phoenix:sshHost=${t.host}`, "--config", `phoenix:sshPort=${t.port}`, "--config", `phoenix:sshHostKey=${t.hostKey}`, "--config", "phoenix:sshUser=root"];
    const env = { PHOENIX_SSH_PRIVATE_KEY: host.secrets.privateKey, PROXMOX_VE_API_TOKEN: `${TOKEN}=00000000-0000-0000-0000-000000000000`, SSH_AUTH_SOCK: "" };
    // The CLI runs in another process: spawnSync would block this one's event loop, which the
    // test host's helpers do not need, so it is fine here.
    const ok = cli(args, env);
    expect(ok.status, ok.stdout + ok.stderr).toBe(0);
    expect(ok.stdout).toMatch(/^ok {4}ssh: root@127\.0\.0\.1:\d+, host key matches the pinned key$/m);
    expect(ok.stdout).not.toContain("00000000-0000");
    await sh("printf 'dir: local\\n\\tpath /var/lib/vz\\n\\tcontent iso,vztmpl,backup,images,rootdir\\n' > /etc/pve/storage.cfg");
    try {
      const bad = cli([...args, "--json"], env);
      expect(bad.status).toBe(1);
      const report = JSON.parse(bad.stdout) as { ok: boolean; checks: Array<{ check: string }> };
      expect(report.ok).toBe(false);
      expect(report.checks.find((c) => c.check === "snippets")).toMatchObject({ status: "fail", fix: "pvesm set local --content iso,vztmpl,backup,images,rootdir,snippets" });
    } finally {
      await readyHost();
    }
  });
});

it("the facts script and the pvesh/pveversion stand-ins are shellcheck-clean (all severities)", () => {
  const sc = (cwd: string, files: string[]) => spawnSync("shellcheck", ["-x", "--severity=style", ...files], { cwd, encoding: "utf8" });
  const facts = sc(path.join(repoRoot, "infra", "cli"), ["doctor-facts.sh"]);
  expect(facts.stdout + facts.stderr).toBe("");
  const emu = sc(path.join(repoRoot, "test", "host", "emulator"), ["pvesh", "pveversion", "pveam"]);
  expect(emu.stdout + emu.stderr).toBe("");
  expect(emu.status).toBe(0);
});

it("cluster firewall rules: rules cluster.fw already holds are named, with phoenix:firewallTakeover as the fix (the judgement, from facts)", () => {
  const loaded = loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"), { defaultNode: "pve" });
  if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
  const { pveRuleLine } = loadDist<typeof import("../../infra/config/firewall")>("infra/config/firewall");
  const judge = (out: string, extra: Record<string, string> = {}) => {
    const input = { settings: stackSettingsFrom("t", (k: string) => extra[k]), model: loaded.model, secrets: {}, auth: { kind: "unknown" as const } };
    return doctor.evaluate(input, { cluster_rules: { code: 0, out } }, doctor.factQueries(input)).find((c) => c.check === "cluster firewall rules")!;
  };
  // What the Bash tool's hypervisor_feature_setup_firewall.sh leaves: the global and the guests' rules.
  const bash = "IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22\nIN ACCEPT -source 10.0.0.153 -p tcp -dport 8000\n";
  const found = judge(bash);
  expect(found.status).toBe("warn");
  expect(found.found).toBe(
    `cluster.fw holds 2 rule(s) that are not the declared ones (the first: IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22); unless Phoenix created them in an earlier pulumi up, ` +
      `the provider refuses to create host-firewall-rules over them ("Existing rules detected") and pulumi up stops there`,
  );
  expect(found.fix).toMatch(/^pulumi config set phoenix:firewallTakeover replace/);
  expect(judge(bash, { firewallTakeover: "replace" })).toMatchObject({ status: "ok", found: "cluster.fw holds 2 rule(s): phoenix:firewallTakeover replace takes them over on the next pulumi up" });
  expect(judge(`# taken over\n${bash}`).status).toBe("ok");
  expect(judge("").status).toBe("ok");
  // After Phoenix's own up: the declared rules, as pve-firewall writes them (format_rules).
  const declared = loaded.model.host.firewall!.rules.map(pveRuleLine);
  expect(declared[0]).toBe("IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22 # SSH from the management network (phoenix:managementNetwork)");
  expect(judge(`${declared.join("\n")}\n`)).toMatchObject({ status: "ok", found: "cluster.fw holds the 4 declared rule(s)" });
});
