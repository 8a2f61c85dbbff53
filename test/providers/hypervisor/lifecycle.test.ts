// Every hypervisor resource kind through the lifecycle helper against the real sshd test host:
// providers serialized and loaded as Pulumi's dynamic-provider host does, each action running the
// real feature script over SSH on real zfs-fuse, exportfs, testparm, visudo and useradd (apt-get,
// update-initramfs and the NVIDIA runfile are stand-ins; `pvesm` is the Proxmox emulator).
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator } from "../../host/emulator/lib";
import { captureProvider, captureResources, loadProvider, type LoadedProvider } from "../harness";
import { runLifecycle } from "../lifecycle";
import { aptGet, CALL_LOG, recorder } from "../../features/hypervisor/stand-ins";
import type { HostScriptKind } from "../../../providers/base/index";
import type { PropertyBag } from "../../../infra/cli/plan";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const hv = loadDist<typeof import("../../../providers/hypervisor/index")>("providers/hypervisor/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");

let host: TestHost;
const sh = async (cmd: string) => {
  const r = await host.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};

interface Decl {
  params: Record<string, string>;
  secretParams?: Record<string, string>;
  allowDestroy?: boolean;
}

/** Declares one resource of `kind` under the mock monitor and returns its engine inputs (+ provider). */
function declare(kind: HostScriptKind, script: string, name: string, d: Decl) {
  return () =>
    new base.HostScriptResource(kind, name, {
      connection: host.target,
      script: registry.featureScript("hypervisor", script),
      params: d.params,
      secretParams: d.secretParams,
      allowDestroy: d.allowDestroy ?? false,
    });
}
async function inputsOf(kind: HostScriptKind, script: string, name: string, d: Decl) {
  const dynamic = (await captureResources(declare(kind, script, name, d))).filter((r) => r.provider);
  expect(dynamic).toHaveLength(1);
  return dynamic[0].inputs;
}
async function lifecycle(kind: HostScriptKind, script: string, name: string, first: Decl, second: Decl, verify?: Parameters<typeof runLifecycle>[0]["verify"]) {
  const { resource, provider } = await captureProvider(declare(kind, script, name, first), host.secrets);
  const changedInputs = await inputsOf(kind, script, name, second);
  return runLifecycle({ provider, inputs: resource.inputs, changedInputs, expect, verify });
}

function standInRunfile(version: string): string {
  return `#!/bin/sh\necho "runfile $*" >> ${CALL_LOG}\nprintf '#!/bin/sh\\necho ${version}\\n' > /usr/local/bin/nvidia-smi\nchmod 755 /usr/local/bin/nvidia-smi\n`;
}

beforeAll(async () => {
  host = await startTestHost();
  await host.startZfsFuse();
  await installEmulator(host, { tools: ["pvesm"] });
  await host.installTool("apt-get", aptGet);
  await host.installTool("update-initramfs", recorder("update-initramfs"));
  await host.installTool("nvidia-580.run", standInRunfile("580.76.05"));
  await host.installTool("nvidia-581.run", standInRunfile("581.10.01"));
  await sh("mkdir -p /srv/vdev && truncate -s 100M /srv/vdev/a /srv/vdev/b /srv/vdev/c && mkdir -p /etc/exports.d");
});
afterAll(() => host?.stop());

describe("hypervisor kinds through the lifecycle helper (real sshd, throwaway root)", () => {
  it("host-initial-setup: timezone, repositories, packages, ARC limit; update changes them", async () => {
    const params = { timezone: "America/New_York", packages: "coreutils phoenix-test-tool", arc_max_gb: "16", subscription: "0", codename: "bookworm" };
    const report = await lifecycle(hv.initialSetupKind, "initial_setup", "host-initial-setup", { params }, { params: { ...params, timezone: "Europe/Berlin", arc_max_gb: "8" } }, {
      async afterCreate(outs) {
        expect(outs.observed).toMatchObject({ matches: true, timezone: "America/New_York", noSubscriptionRepo: true });
        expect(await sh("cat /etc/modprobe.d/zfs.conf")).toContain("zfs_arc_max=17179869184");
      },
      async afterUpdate() {
        expect(await sh("cat /etc/timezone")).toBe("Europe/Berlin\n");
        expect(await sh("cat /etc/modprobe.d/zfs.conf")).toContain("zfs_arc_max=8589934592");
      },
      async afterDelete() {
        // Settings stay; only the management ends.
        expect(await sh("cat /etc/timezone")).toBe("Europe/Berlin\n");
      },
    });
    expect(report.changePath).toBe("update");
  });

  it("host-nvidia-driver: installs via the runfile only when the version differs; delete leaves it installed", async () => {
    const runfile = standInRunfile("580.76.05");
    const params = {
      version: "580.76.05",
      runfile_url: "file:///usr/local/sbin/nvidia-580.run",
      runfile_sha256: createHash("sha256").update(runfile).digest("hex"),
      headers_package: "proxmox-headers-test",
    };
    const second = { ...params, version: "581.10.01", runfile_url: "file:///usr/local/sbin/nvidia-581.run", runfile_sha256: "" };
    await lifecycle(hv.nvidiaDriverKind, "nvidia_driver", "host-nvidia", { params }, { params: second }, {
      async afterCreate(outs) {
        expect(outs.observed).toMatchObject({ version: "580.76.05", rebootRequired: false });
        expect(await sh(`cat ${CALL_LOG}`)).toContain("runfile --silent --dkms");
      },
      async afterUpdate(outs) {
        expect(outs.observed).toMatchObject({ version: "581.10.01" });
      },
      async afterDelete() {
        expect((await sh("nvidia-smi")).trim()).toBe("581.10.01");
      },
    });
  });

  it("host-admin-user: user, visudo-checked drop-in, keys, secret password hash; the hash never shows in outputs' plain fields", async () => {
    const hash = "$6$saltsalt$Fv0OijNxxkqvBmhLIYtXJdO2m0pHj7yrNbIuNBQzwdLvLc4JD2yF7q8nUH0SvF8XHwyjlWmKEVVJnGzqIVQ7e/";
    const key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3m0dH1lQm2k5p8r9s0t1u2v3w4x5y6z7A8B9C0D1E2 admin@dev";
    const params = { username: "phoenix_admin", sudo: "1", ssh_public_keys: key, shell: "/bin/bash" };
    const { resource } = await captureProvider(declare(hv.adminUserKind, "admin_user", "host-admin-user-phoenix_admin", { params, secretParams: { password_hash: hash } }));
    expect(resource.secretInputs).toContain("secretParams");
    expect(resource.provider).not.toContain(hash);
    await lifecycle(
      hv.adminUserKind,
      "admin_user",
      "host-admin-user-phoenix_admin",
      { params, secretParams: { password_hash: hash } },
      { params: { ...params, sudo: "0" }, secretParams: { password_hash: "" } },
      {
        async afterCreate(outs) {
          expect(outs.observed).toMatchObject({ matches: true, sudo: true, password: "configured" });
          expect(JSON.stringify(outs.observed)).not.toContain(hash);
          expect((await sh("getent shadow phoenix_admin")).split(":")[1]).toBe(hash);
          expect(await sh("visudo -c -f /etc/sudoers.d/phoenix-phoenix_admin && echo ok")).toContain("ok");
        },
        async afterUpdate(outs) {
          expect(outs.observed).toMatchObject({ password: "locked" });
          expect((await host.exec("test -e /etc/sudoers.d/phoenix-phoenix_admin")).code).not.toBe(0);
        },
        async afterDelete() {
          expect((await host.exec("getent passwd phoenix_admin")).code).not.toBe(0);
        },
      },
    );
  });

  it("host-zfs-pool, host-zfs-dataset, host-proxmox-storage on real zfs-fuse", async () => {
    const pool = { name: "tank", raid_level: "mirror", disks: "/srv/vdev/a\n/srv/vdev/b", mountpoint: "/mnt/tank" };
    await lifecycle(hv.zfsPoolKind, "zfs_pool", "host-zfs-pool-tank", { params: pool }, { params: { ...pool, mountpoint: "/mnt/tank2" } }, {
      async afterUpdate() {
        expect(await sh("zfs get -H -o value mountpoint tank")).toBe("/mnt/tank2\n");
      },
      async afterDelete() {
        expect((await host.exec("zpool list tank")).code).not.toBe(0);
      },
    });

    // Datasets and storage need a pool that stays.
    const keep = await captureProvider(declare(hv.zfsPoolKind, "zfs_pool", "host-zfs-pool-tank", { params: pool }), host.secrets);
    await keep.provider.create(keep.resource.inputs);

    const ds = { pool: "tank", name: "disks", properties: "recordsize=16K\ncompression=gzip\nquota=50M" };
    await lifecycle(hv.zfsDatasetKind, "zfs_dataset", "host-zfs-dataset-tank-disks", { params: ds }, { params: { ...ds, properties: "recordsize=16K\ncompression=off\nquota=60M" } }, {
      async afterUpdate() {
        expect(await sh("zfs get -H -o value compression,quota tank/disks")).toBe("off\n60M\n");
      },
    });

    const dsKeep = await captureProvider(declare(hv.zfsDatasetKind, "zfs_dataset", "host-zfs-dataset-tank-disks", { params: ds }), host.secrets);
    await dsKeep.provider.create(dsKeep.resource.inputs);
    const storage = { id: "tank-disks", type: "zfspool", content: "images", target: "tank/disks" };
    await lifecycle(hv.proxmoxStorageKind, "proxmox_storage", "host-proxmox-storage-tank-disks", { params: storage }, { params: { ...storage, content: "images,rootdir" } }, {
      async afterCreate() {
        expect(await sh("cat /etc/pve/storage.cfg")).toContain("zfspool: tank-disks\n\tcontent images\n\tpool tank/disks\n");
      },
      async afterUpdate() {
        expect(await sh("pvesm status --storage tank-disks")).toMatch(/tank-disks\s+zfspool\s+active/);
      },
      async afterDelete() {
        expect(await sh("cat /etc/pve/storage.cfg")).not.toContain("tank-disks");
        expect(await sh("zfs list -H -o name tank/disks")).toBe("tank/disks\n");
      },
    });

    // A cluster's registration: restricted to the nodes whose files register it, following them.
    const clustered = { ...storage, content: "images,rootdir", nodes: "pve,pve2" };
    await lifecycle(hv.proxmoxStorageKind, "proxmox_storage", "host-proxmox-storage-tank-disks", { params: clustered }, { params: { ...clustered, nodes: "pve" } }, {
      async afterCreate() {
        expect(await sh("cat /etc/pve/storage.cfg")).toMatch(/zfspool: tank-disks\n(\t.*\n)*\tnodes pve,pve2\n/);
      },
      async afterUpdate() {
        expect(await sh("cat /etc/pve/storage.cfg")).toMatch(/zfspool: tank-disks\n(\t.*\n)*\tnodes pve\n/);
      },
      async afterDelete() {
        expect(await sh("cat /etc/pve/storage.cfg")).not.toContain("tank-disks");
      },
    });
    await expect(inputsOf(hv.proxmoxStorageKind, "proxmox_storage", "x", { params: { ...clustered, nodes: "pve,-bad" } })).rejects.toThrow();
  });

  it("dataset drift: refresh (read) shows it, diff asks for an update, update restores it", async () => {
    const ds = { pool: "tank", name: "disks", properties: "recordsize=16K\ncompression=gzip\nquota=50M" };
    const { resource, provider } = await captureProvider(declare(hv.zfsDatasetKind, "zfs_dataset", "host-zfs-dataset-tank-disks", { params: ds }), host.secrets);
    const created = await provider.create(resource.inputs);
    await sh("zfs set compression=off tank/disks");
    const refreshed = await provider.read!(created.id, created.outs);
    expect(refreshed.props.observed).toMatchObject({ matches: false, drift: ["compression"] });
    const diff = await provider.diff!(created.id, refreshed.props, resource.inputs);
    expect(diff.changes).toBe(true);
    const updated = await provider.update!(created.id, refreshed.props, resource.inputs);
    expect(updated.outs.observed).toMatchObject({ matches: true });
    expect(await sh("zfs get -H -o value compression tank/disks")).toBe("gzip\n");
  });

  it("a dataset holding data survives a delete of its resource unless destruction is allowed", async () => {
    const ds = { pool: "tank", name: "precious", properties: "" };
    const kept = await captureProvider(declare(hv.zfsDatasetKind, "zfs_dataset", "host-zfs-dataset-tank-precious", { params: ds }), host.secrets);
    const created = await kept.provider.create(kept.resource.inputs);
    await sh("echo data > /mnt/tank/precious/file");
    await expect(kept.provider.delete!(created.id, created.outs)).rejects.toThrow(/holds data/);
    expect(await sh("cat /mnt/tank/precious/file")).toBe("data\n");
    // The pool under it is refused too (on top of Pulumi's protect).
    const pool = { name: "tank", raid_level: "mirror", disks: "/srv/vdev/a\n/srv/vdev/b", mountpoint: "/mnt/tank2" };
    const p = await captureProvider(declare(hv.zfsPoolKind, "zfs_pool", "host-zfs-pool-tank", { params: pool }), host.secrets);
    await expect(p.provider.delete!("x", p.resource.inputs)).rejects.toThrow(/holds data/);

    const allowed = await captureProvider(declare(hv.zfsDatasetKind, "zfs_dataset", "host-zfs-dataset-tank-precious", { params: ds, allowDestroy: true }), host.secrets);
    await allowed.provider.delete!(created.id, allowed.resource.inputs);
    expect((await host.exec("zfs list tank/precious")).code).not.toBe(0);
  });

  it("host-nfs-export and host-samba-share", async () => {
    await sh("mkdir -p /srv/share0 /srv/share1");
    const nfs = { path: "/srv/share0", clients: "10.0.0.0/24", options: "rw,sync,no_subtree_check" };
    await lifecycle(hv.nfsExportKind, "nfs_export", "host-nfs-export-0", { params: nfs }, { params: { ...nfs, options: "ro,sync,no_subtree_check" } }, {
      async afterCreate() {
        expect(await sh("exportfs -v")).toContain("/srv/share0");
      },
      async afterUpdate() {
        expect(await sh("cat /etc/exports.d/phoenix-srv_share0.exports")).toContain("10.0.0.0/24(ro,sync,no_subtree_check)");
      },
    });
    const share = { name: "share0", path: "/srv/share0", options: "browseable=yes\nwritable=yes", valid_users: "root" };
    await lifecycle(hv.sambaShareKind, "samba_share", "host-samba-share-share0", { params: share }, { params: { ...share, options: "browseable=no" } }, {
      async afterCreate() {
        expect(await sh("testparm -s 2>/dev/null")).toContain("[share0]");
      },
      async afterUpdate() {
        expect(await sh("cat /etc/samba/phoenix-shares.conf")).toContain("browseable = no");
      },
    });
  });

  it("host-samba-user: a host user in Samba's password database, password as a secret", async () => {
    await sh("id sambauser >/dev/null 2>&1 || useradd -M sambauser");
    const secret = "Sm8a-pass-not-logged";
    const { resource } = await captureProvider(declare(hv.sambaUserKind, "samba_user", "host-samba-user-sambauser", { params: { username: "sambauser" }, secretParams: { password: secret } }));
    expect(resource.provider).not.toContain(secret);
    await lifecycle(
      hv.sambaUserKind,
      "samba_user",
      "host-samba-user-sambauser",
      { params: { username: "sambauser" }, secretParams: { password: secret } },
      { params: { username: "sambauser" }, secretParams: { password: "another-secret-pw" } },
      {
        async afterCreate(outs) {
          expect(await sh("pdbedit -L -u sambauser")).toContain("sambauser:");
          expect(JSON.stringify(outs.observed)).not.toContain(secret);
        },
        async afterDelete() {
          expect((await host.exec("pdbedit -L -u sambauser")).code).not.toBe(0);
          expect((await host.exec("getent passwd sambauser")).code).toBe(0);
        },
      },
    );
    const nobody = await captureProvider(declare(hv.sambaUserKind, "samba_user", "host-samba-user-ghost", { params: { username: "ghost" } }), host.secrets);
    await expect(nobody.provider.create(nobody.resource.inputs)).rejects.toThrow(/is not a host user/);
  });

  it("validation failures (testparm, exportfs) leave the previous configuration and say why", async () => {
    const share = { name: "keep", path: "/srv/share1", options: "browseable=yes", valid_users: "" };
    const ok = await captureProvider(declare(hv.sambaShareKind, "samba_share", "host-samba-share-keep", { params: share }), host.secrets);
    await ok.provider.create(ok.resource.inputs);
    const before = await sh("cat /etc/samba/phoenix-shares.conf");
    const bad = await captureProvider(declare(hv.sambaShareKind, "samba_share", "host-samba-share-keep", { params: { ...share, options: "browseable=perhaps" } }), host.secrets);
    await expect(bad.provider.update!("keep", ok.resource.inputs, bad.resource.inputs)).rejects.toThrow(/testparm rejected the change/);
    expect(await sh("cat /etc/samba/phoenix-shares.conf")).toBe(before);

    const nfs = { path: "/srv/share1", clients: "10.0.0.7", options: "rw,sync,no_subtree_check" };
    const good = await captureProvider(declare(hv.nfsExportKind, "nfs_export", "host-nfs-export-1", { params: nfs }), host.secrets);
    await good.provider.create(good.resource.inputs);
    const badNfs = await captureProvider(declare(hv.nfsExportKind, "nfs_export", "host-nfs-export-1", { params: { ...nfs, options: "rw,no_such_option" } }), host.secrets);
    await expect(badNfs.provider.update!("x", good.resource.inputs, badNfs.resource.inputs)).rejects.toThrow(/exportfs rejected the change.*unknown keyword/s);
    expect(await sh("cat /etc/exports.d/phoenix-srv_share1.exports")).toContain("10.0.0.7(rw,sync,no_subtree_check)");
    expect(await sh("exportfs -v")).toContain("/srv/share1");
  });

  it("20 Samba shares and 20 NFS exports created at once all end up present (host-side locks)", async () => {
    await sh("for i in $(seq 0 19); do mkdir -p /srv/many/$i; done");
    // Declared one after the other (the mock monitor is global), then created all at once.
    const shareInputs: PropertyBag[] = [];
    const exportInputs: PropertyBag[] = [];
    for (let i = 0; i < 20; i++) {
      shareInputs.push(await inputsOf(hv.sambaShareKind, "samba_share", `host-samba-share-many${i}`, { params: { name: `many${i}`, path: `/srv/many/${i}`, options: "browseable=yes", valid_users: "" } }));
      exportInputs.push(await inputsOf(hv.nfsExportKind, "nfs_export", `host-nfs-export-${i + 10}`, { params: { path: `/srv/many/${i}`, clients: `10.1.0.${i + 1}`, options: "rw,sync,no_subtree_check" } }));
    }
    const load = async (inputs: PropertyBag): Promise<LoadedProvider> => loadProvider(inputs.__provider, host.secrets);
    const shares = await load(shareInputs[0]);
    const exportsProvider = await load(exportInputs[0]);
    const results = await Promise.allSettled([...shareInputs.map((i) => shares.create(i)), ...exportInputs.map((i) => exportsProvider.create(i))]);
    const failed = results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason).slice(0, 300));
    expect(failed).toEqual([]);
    const dump = await sh("testparm -s 2>/dev/null");
    for (let i = 0; i < 20; i++) expect(dump).toContain(`[many${i}]`);
    const table = await sh("exportfs -v");
    for (let i = 0; i < 20; i++) expect(table).toMatch(new RegExp(`/srv/many/${i}\\s`));
    expect((await sh("ls /etc/exports.d | grep -c '^phoenix-srv_many_'")).trim()).toBe("20");
  });
});
