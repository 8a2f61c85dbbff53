// The whole hypervisor setup flow, end to end: the real Pulumi program (infra/index.ts, offline
// under the mock monitor, not a preview) reads a Phoenix host config, and every host-* resource it
// registers is carried out by its serialized provider against the sshd test host, in the order
// the engine releases them. Proves the component's wiring (names, parameters, secrets,
// dependencies) converges a host: pool adopted, datasets, storages, user, NFS, Samba.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator } from "../../host/emulator/lib";
import { loadProvider } from "../harness";
import { planStack } from "../../program/plan";
import { aptGet, CALL_LOG, recorder } from "../../features/hypervisor/stand-ins";
import type * as pulumi from "@pulumi/pulumi";
import type { PropertyBag } from "../../../infra/cli/plan";

const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const unwrap = (v: unknown): unknown =>
  Array.isArray(v) ? v.map(unwrap) : v && typeof v === "object" ? ((v as Record<string, unknown>)[SECRET_SIG_KEY] ? unwrap((v as { value?: unknown }).value) : Object.fromEntries(Object.entries(v).map(([k, x]) => [k, unwrap(x)]))) : v;

const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3m0dH1lQm2k5p8r9s0t1u2v3w4x5y6z7A8B9C0D1E2 admin@e2e";

function hostConfig(disks: string[]) {
  return {
    timezone: "Europe/Berlin",
    users: { username: "phoenix_admin", password_hash: "NOT_SET", sudo_access: true, ssh_public_key: KEY },
    network: { interfaces: { name: "vmbr0", address: "10.0.0.13/24", gateway: "10.0.0.1", dns_nameservers: "10.0.0.1" } },
    nfs: { exports: [{ path: "/mnt/tank/shared", clients: ["10.0.0.0/24"], options: ["rw", "sync", "no_subtree_check"] }] },
    samba: { user: "phoenix_admin", shares: [{ name: "shared", path: "tank/shared", options: "browseable=yes writable=yes", valid_users: ["phoenix_admin"] }] },
    zfs: {
      arc_max_gb: 2,
      pools: [{ name: "tank", raid_level: "mirror", disks }],
      datasets: [
        { name: "shared", pool: "tank", properties: "recordsize=128K,compression=gzip,mountpoint=/mnt/tank/shared", proxmox_storage_type: "dir", proxmox_content_type: "backup" },
        { name: "disks", pool: "tank", properties: "recordsize=16K,compression=on,quota=50M", proxmox_storage_type: "zfspool", proxmox_content_type: "images,rootdir" },
      ],
    },
    mount_point_base: "/mnt/pve",
    nvidia_driver: { install: false },
  };
}

let host: TestHost;
let configDir: string;
let vdevs: string[];
const sh = async (cmd: string) => {
  const r = await host.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};

beforeAll(async () => {
  host = await startTestHost();
  await host.startZfsFuse();
  await installEmulator(host, { tools: ["pvesm"] });
  await host.installTool("apt-get", aptGet);
  await host.installTool("update-initramfs", recorder("update-initramfs"));
  // The config wants device paths: file vdevs in the fixture's own directory, which lives on
  // /dev/shm (removed by stop()). The pool exists already, mounted under /mnt (the root
  // filesystem is not a throwaway, so no /tank): Phoenix must adopt it.
  expect(host.baseDir.startsWith("/dev/")).toBe(true);
  vdevs = ["a", "b"].map((n) => path.join(host.baseDir, `vdev-${n}`));
  await sh(`truncate -s 80M ${vdevs.join(" ")} && zpool create -m /mnt/tank tank mirror ${vdevs.join(" ")}`);
  configDir = mkdtempSync(path.join(tmpdir(), "phoenix-e2e-host-"));
  writeFileSync(path.join(configDir, "phoenix_hypervisor_config.json"), JSON.stringify(hostConfig(vdevs), null, 2));
  writeFileSync(path.join(configDir, "phoenix_lxc_configs.json"), JSON.stringify({ lxc_configs: {} }));
  writeFileSync(path.join(configDir, "phoenix_vm_configs.json"), JSON.stringify({ vms: [] }));
});
afterAll(async () => {
  await host?.stop();
  if (configDir) rmSync(configDir, { recursive: true, force: true });
});

/** One `pulumi up` of the program against the test host: every host-* create runs for real. */
async function up() {
  const created: string[] = [];
  const failures: string[] = [];
  const plan = await planStack({
    stack: "dev",
    configDir,
    preview: false,
    config: {
      "phoenix:sshHost": "127.0.0.1",
      "phoenix:sshPort": String(host.target.port),
      "phoenix:sshUser": "root",
      "phoenix:sshHostKey": host.hostKeyLine,
    },
    async onNewResource(args: pulumi.runtime.MockResourceArgs) {
      if (!String(args.type).startsWith("pulumi-nodejs:dynamic/phoenix:host-")) return undefined;
      const inputs = unwrap(args.inputs) as PropertyBag;
      try {
        const provider = await loadProvider(inputs.__provider, host.secrets);
        const checked = await provider.check!({}, inputs);
        if (checked.failures?.length) throw new Error(JSON.stringify(checked.failures));
        const r = await provider.create(checked.inputs);
        created.push(args.name);
        return { id: r.id, state: r.outs };
      } catch (err) {
        // Recorded, not thrown: a failed registration would leave its dependents waiting forever.
        failures.push(`${args.name}: ${String((err as Error).message).slice(0, 400)}`);
        return { id: `${args.name}-failed` };
      }
    },
  });
  return { created, failures, plan };
}

describe("hypervisor setup flow, end to end through the program", () => {
  it("converges the host in the seed's order", async () => {
    const { created, failures, plan } = await up();
    expect(failures).toEqual([]);
    expect(plan.errors).toEqual([]);
    const at = (n: string) => created.indexOf(n);
    expect(created).toHaveLength(10);
    expect(at("host-initial-setup")).toBe(0);
    expect(at("host-admin-user-phoenix_admin")).toBeGreaterThan(at("host-initial-setup"));
    expect(at("host-zfs-pool-tank")).toBeGreaterThan(at("host-admin-user-phoenix_admin"));
    for (const d of ["shared", "disks"]) {
      expect(at(`host-zfs-dataset-tank-${d}`)).toBeGreaterThan(at("host-zfs-pool-tank"));
      expect(at(`host-proxmox-storage-tank-${d}`)).toBeGreaterThan(at(`host-zfs-dataset-tank-${d}`));
      expect(at("host-nfs-export-mnt_tank_shared")).toBeGreaterThan(at(`host-proxmox-storage-tank-${d}`));
    }
    expect(at("host-samba-user-phoenix_admin")).toBeGreaterThan(at("host-nfs-export-mnt_tank_shared"));
    expect(at("host-samba-share-shared")).toBeGreaterThan(at("host-samba-user-phoenix_admin"));

    // The host as the config describes it.
    expect(await sh("cat /etc/timezone")).toBe("Europe/Berlin\n");
    expect(await sh("zfs get -H -o value compression,mountpoint tank/shared")).toBe("gzip\n/mnt/tank/shared\n");
    expect(await sh("zfs get -H -o value recordsize,quota tank/disks")).toBe("16K\n50M\n");
    const cfg = await sh("cat /etc/pve/storage.cfg");
    expect(cfg).toContain("dir: tank-shared\n\tcontent backup\n\tis_mountpoint yes\n\tpath /mnt/tank/shared\n");
    expect(cfg).toContain("zfspool: tank-disks\n\tcontent images,rootdir\n\tpool tank/disks\n");
    expect(await sh("exportfs -v")).toContain("/mnt/tank/shared");
    const samba = (await sh("testparm -s 2>/dev/null")).split("[shared]")[1] ?? "";
    for (const line of ["path = /mnt/tank/shared", "valid users = phoenix_admin", "read only = No"]) expect(samba).toContain(line);
    expect(await sh("pdbedit -L -u phoenix_admin")).toContain("phoenix_admin:");
    expect(await sh("cat /etc/sudoers.d/phoenix-phoenix_admin")).toContain("NOPASSWD: ALL");
    expect(await sh(`cat ${CALL_LOG}`)).toContain("apt-get install");
  }, 600_000);

  it("a second run adopts everything and changes nothing", async () => {
    const before = await sh("cat /etc/pve/storage.cfg /etc/samba/phoenix-shares.conf /etc/exports.d/*.exports /etc/sudoers.d/phoenix-phoenix_admin");
    await sh(`: > ${CALL_LOG}`);
    const { created, failures } = await up();
    expect(failures).toEqual([]);
    expect(created).toHaveLength(10);
    expect(await sh(`cat ${CALL_LOG}`)).toBe("");
    expect(await sh("cat /etc/pve/storage.cfg /etc/samba/phoenix-shares.conf /etc/exports.d/*.exports /etc/sudoers.d/phoenix-phoenix_admin")).toBe(before);
  }, 600_000);
});
