// Per-property drift on the host, one table row per property a hypervisor kind's `apply` sets:
// the row's resource is created through the real provider (serialized and loaded as Pulumi's
// dynamic-provider host does, over the real sshd), the property is changed ON the host by hand,
// and then `read` (a refresh) must report `matches: false`, `diff` must ask for an apply, the
// apply must put the property back, and a second `read` must match. A `read` that stops comparing
// one property fails its row, even though every changed-input test still passes.
import { createHash } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator } from "../../host/emulator/lib";
import { captureProvider } from "../harness";
import { aptGet, recorder } from "../../features/hypervisor/stand-ins";
import type { HostScriptKind } from "../../../providers/base/index";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const hv = loadDist<typeof import("../../../providers/hypervisor/index")>("providers/hypervisor/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");

let host: TestHost;
const sh = async (cmd: string) => {
  const r = await host.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};

const RUNFILE = `#!/bin/sh\nprintf '#!/bin/sh\\necho 580.76.05\\n' > /usr/local/bin/nvidia-smi\nchmod 755 /usr/local/bin/nvidia-smi\n`;
const HASH = "$6$saltsalt$Fv0OijNxxkqvBmhLIYtXJdO2m0pHj7yrNbIuNBQzwdLvLc4JD2yF7q8nUH0SvF8XHwyjlWmKEVVJnGzqIVQ7e/";
const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3m0dH1lQm2k5p8r9s0t1u2v3w4x5y6z7A8B9C0D1E2 admin@dev";

interface Subject {
  kind: HostScriptKind;
  script: string;
  params: Record<string, string>;
  secretParams?: Record<string, string>;
  /** Host state the object needs before its first apply. */
  setup?: string;
}

/** One property set by `apply`, changed on the host by `drift`; `check` (optional) proves apply put it back. */
interface Row {
  property: string;
  subject: string;
  /** Overrides of the subject's params (and secret params) for this row. */
  params?: Record<string, string>;
  secretParams?: Record<string, string>;
  drift: string;
  /** A command that succeeds only once the property is back as declared. */
  restored?: string;
}

const SUBJECTS: Record<string, Subject> = {
  initialSetup: {
    kind: hv.initialSetupKind,
    script: "initial_setup",
    params: { timezone: "America/New_York", packages: "coreutils phoenix-drift-tool", arc_max_gb: "16", subscription: "0", codename: "bookworm" },
  },
  nvidia: {
    kind: hv.nvidiaDriverKind,
    script: "nvidia_driver",
    params: { version: "580.76.05", runfile_url: "file:///usr/local/sbin/nvidia-drift.run", runfile_sha256: createHash("sha256").update(RUNFILE).digest("hex"), headers_package: "proxmox-headers-test" },
  },
  admin: {
    kind: hv.adminUserKind,
    script: "admin_user",
    params: { username: "drift_admin", sudo: "1", ssh_public_keys: KEY, shell: "/bin/bash" },
    secretParams: { password_hash: HASH },
  },
  pool: {
    kind: hv.zfsPoolKind,
    script: "zfs_pool",
    params: { name: "drift", raid_level: "mirror", disks: "/srv/vdev/d1\n/srv/vdev/d2", mountpoint: "/mnt/drift" },
  },
  dataset: {
    kind: hv.zfsDatasetKind,
    script: "zfs_dataset",
    params: { pool: "drift", name: "data", properties: "recordsize=16K\ncompression=gzip\nquota=50M\natime=off" },
  },
  storage: {
    kind: hv.proxmoxStorageKind,
    script: "proxmox_storage",
    params: { id: "drift-data", type: "zfspool", content: "images,rootdir", target: "drift/data" },
  },
  dirStorage: {
    kind: hv.proxmoxStorageKind,
    script: "proxmox_storage",
    params: { id: "drift-dir", type: "dir", content: "iso,backup", target: "/mnt/drift/data" },
  },
  nfs: {
    kind: hv.nfsExportKind,
    script: "nfs_export",
    params: { path: "/srv/drift-nfs", clients: "10.0.0.0/24 10.9.0.7", options: "rw,sync,no_subtree_check" },
    setup: "mkdir -p /srv/drift-nfs /etc/exports.d",
  },
  share: {
    kind: hv.sambaShareKind,
    script: "samba_share",
    params: { name: "driftshare", path: "/srv/drift-smb", options: "browseable=yes\nwritable=yes", valid_users: "root" },
    setup: "mkdir -p /srv/drift-smb",
  },
  sambaUser: {
    kind: hv.sambaUserKind,
    script: "samba_user",
    params: { username: "driftsmb" },
    secretParams: { password: "drift-Samba-pw" },
    setup: "id driftsmb >/dev/null 2>&1 || useradd -M driftsmb",
  },
};

const ROWS: Row[] = [
  // initial setup: timezone, packages, repositories, ARC limit
  { subject: "initialSetup", property: "timezone", drift: "echo Europe/Paris > /etc/timezone", restored: "grep -qx America/New_York /etc/timezone" },
  { subject: "initialSetup", property: "packages", drift: "sed -i '/^Package: phoenix-drift-tool$/,/^$/d' /var/lib/dpkg/status", restored: "dpkg-query -W phoenix-drift-tool" },
  { subject: "initialSetup", property: "no-subscription repository", drift: "rm /etc/apt/sources.list.d/pve-no-subscription.list", restored: "grep -q pve-no-subscription /etc/apt/sources.list.d/pve-no-subscription.list" },
  {
    subject: "initialSetup",
    property: "enterprise repository off",
    drift: "echo 'deb https://enterprise.proxmox.com/debian/pve bookworm pve-enterprise' > /etc/apt/sources.list.d/pve-enterprise.list",
    restored: "! grep -qE '^deb ' /etc/apt/sources.list.d/pve-enterprise.list",
  },
  {
    subject: "initialSetup",
    property: "enterprise repository off (deb822)",
    drift: "printf 'Types: deb\\nURIs: https://enterprise.proxmox.com/debian/pve\\nSuites: bookworm\\nComponents: pve-enterprise\\n' > /etc/apt/sources.list.d/pve-enterprise.sources",
    restored: "grep -qx 'Enabled: no' /etc/apt/sources.list.d/pve-enterprise.sources",
  },
  { subject: "initialSetup", property: "arc_max_gb", drift: "sed -i 's/zfs_arc_max=[0-9]*/zfs_arc_max=1073741824/' /etc/modprobe.d/zfs.conf", restored: "grep -q zfs_arc_max=17179869184 /etc/modprobe.d/zfs.conf" },
  // NVIDIA driver: version, nouveau blacklist, modules to load, udev rules
  { subject: "nvidia", property: "version (major)", drift: "printf '#!/bin/sh\\necho 570.76.05\\n' > /usr/local/bin/nvidia-smi", restored: "[ \"$(nvidia-smi)\" = 580.76.05 ]" },
  { subject: "nvidia", property: "version (minor)", drift: "printf '#!/bin/sh\\necho 580.65.05\\n' > /usr/local/bin/nvidia-smi", restored: "[ \"$(nvidia-smi)\" = 580.76.05 ]" },
  { subject: "nvidia", property: "version (patch)", drift: "printf '#!/bin/sh\\necho 580.76.01\\n' > /usr/local/bin/nvidia-smi", restored: "[ \"$(nvidia-smi)\" = 580.76.05 ]" },
  { subject: "nvidia", property: "nouveau blacklist", drift: "sed -i '/^blacklist nouveau$/d' /etc/modprobe.d/blacklist-nouveau.conf", restored: "grep -qx 'blacklist nouveau' /etc/modprobe.d/blacklist-nouveau.conf" },
  { subject: "nvidia", property: "modules-load", drift: "rm /etc/modules-load.d/phoenix-nvidia.conf", restored: "grep -qx nvidia_uvm /etc/modules-load.d/phoenix-nvidia.conf" },
  { subject: "nvidia", property: "udev rules", drift: "echo '# edited' >> /etc/udev/rules.d/70-phoenix-nvidia.rules", restored: "! grep -q edited /etc/udev/rules.d/70-phoenix-nvidia.rules" },
  // admin user: login shell, password, sudoers drop-in, managed keys
  { subject: "admin", property: "shell", drift: "usermod --shell /bin/sh drift_admin", restored: "[ \"$(getent passwd drift_admin | cut -d: -f7)\" = /bin/bash ]" },
  { subject: "admin", property: "password hash", drift: "usermod --password '$6$other$abc' drift_admin", restored: `[ "$(getent shadow drift_admin | cut -d: -f2)" = '${HASH}' ]` },
  { subject: "admin", property: "password locked", secretParams: { password_hash: "" }, drift: "usermod --password '$6$other$abc' drift_admin", restored: "getent shadow drift_admin | cut -d: -f2 | grep -q '^!'" },
  { subject: "admin", property: "sudoers drop-in content", drift: "echo 'drift_admin ALL=(ALL) NOPASSWD: ALL' >> /etc/sudoers.d/phoenix-drift_admin", restored: "! grep -q 'ALL=(ALL) NOPASSWD' /etc/sudoers.d/phoenix-drift_admin" },
  { subject: "admin", property: "sudoers drop-in present", drift: "rm /etc/sudoers.d/phoenix-drift_admin", restored: "test -f /etc/sudoers.d/phoenix-drift_admin" },
  { subject: "admin", property: "sudoers drop-in absent (sudo 0)", params: { sudo: "0" }, drift: "echo 'drift_admin ALL=(ALL:ALL) ALL' > /etc/sudoers.d/phoenix-drift_admin", restored: "! test -e /etc/sudoers.d/phoenix-drift_admin" },
  { subject: "admin", property: "authorized_keys mode", drift: "chmod 666 /home/drift_admin/.ssh/authorized_keys", restored: "[ \"$(stat -c %a /home/drift_admin/.ssh/authorized_keys)\" = 600 ]" },
  { subject: "admin", property: "authorized_keys owner", drift: "chown root /home/drift_admin/.ssh/authorized_keys", restored: "[ \"$(stat -c %U /home/drift_admin/.ssh/authorized_keys)\" = drift_admin ]" },
  { subject: "admin", property: "managed SSH keys", drift: "sed -i '/admin@dev/d' /home/drift_admin/.ssh/authorized_keys", restored: "grep -q admin@dev /home/drift_admin/.ssh/authorized_keys" },
  // ZFS pool: mountpoint (the layout cannot be changed in place: refusals are in guards.test.ts)
  { subject: "pool", property: "mountpoint", drift: "zfs set mountpoint=/mnt/elsewhere drift", restored: "[ \"$(zfs get -H -o value mountpoint drift)\" = /mnt/drift ]" },
  // ZFS dataset: each declared property
  { subject: "dataset", property: "recordsize", drift: "zfs set recordsize=64K drift/data", restored: "[ \"$(zfs get -H -o value recordsize drift/data)\" = 16K ]" },
  { subject: "dataset", property: "compression", drift: "zfs set compression=off drift/data", restored: "[ \"$(zfs get -H -o value compression drift/data)\" = gzip ]" },
  { subject: "dataset", property: "quota", drift: "zfs set quota=80M drift/data", restored: "[ \"$(zfs get -H -o value quota drift/data)\" = 50M ]" },
  { subject: "dataset", property: "atime", drift: "zfs set atime=on drift/data", restored: "[ \"$(zfs get -H -o value atime drift/data)\" = off ]" },
  // Proxmox storage: content types, a cluster's node list, and no node list on a single node
  { subject: "storage", property: "content", drift: "pvesm set drift-data --content images", restored: "grep -qP '^\\tcontent images,rootdir$' /etc/pve/storage.cfg" },
  { subject: "storage", property: "nodes", params: { nodes: "pve,pve2" }, drift: "pvesm set drift-data --nodes pve", restored: "grep -qP '^\\tnodes pve,pve2$' /etc/pve/storage.cfg" },
  {
    subject: "dirStorage",
    property: "is_mountpoint (a dir storage offline while its path is not mounted)",
    drift: "sed -i '/^dir: drift-dir$/,/^$/{/is_mountpoint/d}' /etc/pve/storage.cfg",
    restored: "grep -qP '^\\tis_mountpoint (yes|1)$' /etc/pve/storage.cfg",
  },
  { subject: "storage", property: "nodes (every node)", drift: "pvesm set drift-data --nodes pve2", restored: "! grep -qP '^\\tnodes ' /etc/pve/storage.cfg" },
  // NFS export: options, clients, the export active in the kernel's table
  { subject: "nfs", property: "options", drift: "sed -i 's/(rw,/(ro,/g' /etc/exports.d/phoenix-srv_drift-nfs.exports && exportfs -ra", restored: "grep -q '10.0.0.0/24(rw,sync,no_subtree_check)' /etc/exports.d/phoenix-srv_drift-nfs.exports" },
  { subject: "nfs", property: "clients", drift: "sed -i 's# 10.9.0.7([^)]*)##' /etc/exports.d/phoenix-srv_drift-nfs.exports && exportfs -ra", restored: "grep -q '10.9.0.7(' /etc/exports.d/phoenix-srv_drift-nfs.exports" },
  { subject: "nfs", property: "exported (active)", drift: "exportfs -u 10.0.0.0/24:/srv/drift-nfs && exportfs -u 10.9.0.7:/srv/drift-nfs", restored: "exportfs -v | grep -q '^/srv/drift-nfs'" },
  // Samba share: path, valid users, options, the include in smb.conf
  { subject: "share", property: "path", drift: "sed -i 's#path = /srv/drift-smb#path = /srv#' /etc/samba/phoenix-shares.conf", restored: "grep -q 'path = /srv/drift-smb' /etc/samba/phoenix-shares.conf" },
  { subject: "share", property: "valid users", drift: "sed -i 's#valid users = root#valid users = nobody#' /etc/samba/phoenix-shares.conf", restored: "grep -q 'valid users = root' /etc/samba/phoenix-shares.conf" },
  { subject: "share", property: "options", drift: "sed -i 's#writable = yes#writable = no#' /etc/samba/phoenix-shares.conf", restored: "grep -q 'writable = yes' /etc/samba/phoenix-shares.conf" },
  { subject: "share", property: "include in smb.conf", drift: "sed -i '/phoenix-shares.conf/d' /etc/samba/smb.conf", restored: "grep -q 'include = /etc/samba/phoenix-shares.conf' /etc/samba/smb.conf" },
  // Samba user: enabled with a password, disabled without one
  { subject: "sambaUser", property: "enabled", drift: "smbpasswd -d driftsmb", restored: "! pdbedit -L -v -u driftsmb | grep -qE '^Account Flags:.*D'" },
  { subject: "sambaUser", property: "disabled (no password)", secretParams: { password: "" }, drift: "smbpasswd -e driftsmb", restored: "pdbedit -L -v -u driftsmb | grep -qE '^Account Flags:.*D'" },
];

function declare(s: Subject, row: Row) {
  return () =>
    new base.HostScriptResource(s.kind, `drift-${s.script}`, {
      connection: host.target,
      script: registry.featureScript("hypervisor", s.script),
      params: { ...s.params, ...row.params },
      secretParams: s.secretParams && { ...s.secretParams, ...row.secretParams },
    });
}

beforeAll(async () => {
  host = await startTestHost();
  await host.startZfsFuse();
  await installEmulator(host, { tools: ["pvesm"] });
  await host.installTool("apt-get", aptGet);
  await host.installTool("update-initramfs", recorder("update-initramfs"));
  await host.installTool("nvidia-drift.run", RUNFILE);
  await sh("mkdir -p /srv/vdev && truncate -s 100M /srv/vdev/d1 /srv/vdev/d2");
});
afterAll(() => host?.stop());

describe("drift on the host, one row per property apply sets: read reports it, apply restores it", () => {
  it("every hypervisor kind has rows", () => {
    const covered = new Set(ROWS.map((r) => SUBJECTS[r.subject].kind.kind));
    const kinds = Object.values(hv).filter((v): v is HostScriptKind => !!v && typeof v === "object" && "kind" in v && "params" in v);
    expect(kinds.length).toBeGreaterThan(0);
    // Kinds whose drift is tested beside their own stand-ins, not in this table (they need a faked
    // CPU vendor and boot loader, or a cluster.fw to take over): host-pci-passthrough's kernel
    // command line changed by hand (test/features/hypervisor/pci_passthrough.test.ts) and
    // host-firewall-takeover, a one-shot move whose read reports its record (test/e2e/firewall-rules.test.ts).
    const ELSEWHERE = new Set([hv.pciPassthroughKind.kind, hv.firewallTakeoverKind.kind]);
    expect(kinds.map((k) => k.kind).filter((k) => !covered.has(k) && !ELSEWHERE.has(k))).toEqual([]);
  });

  // Rows run in order: the pool row leaves the pool for the dataset rows, the dataset for storage.
  it.each(ROWS.map((r) => [`${r.subject}: ${r.property}`, r] as const))("%s", async (_name, row) => {
    const s = SUBJECTS[row.subject];
    if (s.setup) await sh(s.setup);
    const { resource, provider } = await captureProvider(declare(s, row), host.secrets);
    const created = await provider.create(resource.inputs);
    const fresh = await provider.read!(created.id, created.outs);
    expect(fresh.props.observed, "read right after apply matches").toMatchObject({ present: true, matches: true });
    expect((await provider.diff!(created.id, fresh.props, resource.inputs)).changes, "no drift: no change").toBe(false);

    await sh(row.drift);
    const refreshed = await provider.read!(created.id, created.outs);
    expect(refreshed.id, "the object is still there").toBe(created.id);
    expect(refreshed.props.observed, `read after changing ${row.property} on the host`).toMatchObject({ present: true, matches: false });
    const diff = await provider.diff!(created.id, refreshed.props, resource.inputs);
    expect(diff.changes, "diff asks for an apply").toBe(true);
    expect(diff.replaces ?? [], "drift is fixed in place").toEqual([]);

    const updated = await provider.update!(created.id, refreshed.props, resource.inputs);
    expect(updated.outs.observed ?? {}, "apply converges").not.toMatchObject({ matches: false });
    if (row.restored) expect((await host.exec(row.restored)).code, `${row.property} restored on the host`).toBe(0);
    const after = await provider.read!(created.id, updated.outs);
    expect(after.props.observed, "read after the apply matches").toMatchObject({ present: true, matches: true });
  });
});
