// Hypervisor: the seed's Hypervisor Setup Flow as one component whose children run in the seed's
// order (each stage depends on the one before it; within a stage, resources run in parallel):
//   host-initial-setup                  timezone, apt repositories, base packages, ZFS ARC limit
//   host-nvidia                         the NVIDIA driver (only when nvidia_driver.install is true)
//   host-admin-user-<name>              each admin user
//   host-zfs-pool-<name>                each pool (Pulumi `protect` unless protectPools is false)
//   host-zfs-dataset-<pool>-<name>      each dataset, after its pool
//   host-proxmox-storage-<id>           each storage registration, after its dataset
//   host-nfs-export-<path slug>         each NFS export, after the ZFS stage (nfsExportSlug)
//   host-samba-user-<name>              the Samba user (password: secret phoenix:sambaPassword), after the NFS stage
//   host-samba-share-<name>             each Samba share, after the Samba user
// Everything comes from phoenix_hypervisor_config.json (the model's `host`); the shell lives in
// features/hypervisor/, the resource kinds in providers/hypervisor/.
import * as pulumi from "@pulumi/pulumi";
import type { PhoenixModel } from "../config/model";
import type { StackSettings } from "../settings";
import { featureScript } from "../../features/registry";
import { nfsExportSlug } from "../graph/index";
import { HostScriptResource, type HostScriptKind } from "../../providers/base/index";
import {
  adminUserKind,
  initialSetupKind,
  nfsExportKind,
  nvidiaDriverKind,
  proxmoxStorageKind,
  sambaShareKind,
  sambaUserKind,
  zfsDatasetKind,
  zfsPoolKind,
} from "../../providers/hypervisor/index";

export interface HypervisorArgs {
  model: PhoenixModel;
  settings: StackSettings;
}

/** Packages the later steps need (NFS, Samba, sudo) plus the tools the seed's setup installs. */
export const BASE_PACKAGES = ["curl", "wget", "jq", "vim", "htop", "sudo", "nfs-kernel-server", "samba"];

/** `{recordsize: "16K"}` → `recordsize=16K`, one per line (the scripts' format). */
const keyValueLines = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");

export class Hypervisor extends pulumi.ComponentResource {
  /** The resources a guest needs before it can use the host at all. */
  readonly setupReady: pulumi.Resource[];
  /** What GPU guests wait for: the NVIDIA driver (empty when the host installs none). */
  readonly gpuReady: pulumi.Resource[];
  /** Every host-* resource by name, in declaration (= seed) order. */
  readonly steps = new Map<string, pulumi.Resource>();
  private readonly storages = new Map<string, pulumi.Resource>();
  private readonly aliases: Record<string, string>;

  constructor(name: string, args: HypervisorArgs, opts?: pulumi.ComponentResourceOptions) {
    super("phoenix:hypervisor:Host", name, {}, opts);
    const { model, settings } = args;
    const host = model.host;
    const connection = settings.connection;
    this.aliases = host.storageAliases;

    const declare = (
      kind: HostScriptKind,
      resourceName: string,
      script: string,
      params: Record<string, string>,
      dependsOn: pulumi.Resource[],
      extra: { secretParams?: pulumi.Input<Record<string, pulumi.Input<string>>>; allowDestroy?: boolean; protect?: boolean; aliases?: pulumi.Input<pulumi.Alias>[] } = {},
    ): pulumi.Resource => {
      const resource = new HostScriptResource(
        kind,
        resourceName,
        {
          connection,
          script: featureScript("hypervisor", script),
          params,
          secretParams: extra.secretParams,
          allowDestroy: extra.allowDestroy ?? false,
        },
        { parent: this, dependsOn, protect: extra.protect, aliases: extra.aliases },
      );
      this.steps.set(resourceName, resource);
      return resource;
    };

    // 1. Initial setup.
    const arcMaxGb = host.zfs.arcMaxGb;
    if (arcMaxGb !== undefined && !Number.isInteger(arcMaxGb)) {
      throw new Error(`zfs.arc_max_gb must be a whole number of GiB, got ${arcMaxGb}`);
    }
    const initial = declare(initialSetupKind, "host-initial-setup", "initial_setup", {
      timezone: host.timezone ?? "",
      packages: BASE_PACKAGES.join(" "),
      arc_max_gb: arcMaxGb === undefined ? "" : String(arcMaxGb),
      subscription: settings.proxmoxSubscription ? "1" : "0",
      codename: "",
    }, []);
    let stage: pulumi.Resource[] = [initial];

    // 2. NVIDIA driver.
    let nvidia: pulumi.Resource | undefined;
    if (host.nvidiaDriver) {
      const d = host.nvidiaDriver;
      nvidia = declare(nvidiaDriverKind, "host-nvidia", "nvidia_driver", {
        version: d.version,
        runfile_url: d.runfileUrl,
        runfile_sha256: d.runfileSha256 ?? "",
        headers_package: "",
      }, stage);
      stage = [nvidia];
    }

    // 3. Admin users.
    const users = host.users.map((u) =>
      declare(adminUserKind, `host-admin-user-${u.username}`, "admin_user", {
        username: u.username,
        sudo: u.sudo ? "1" : "0",
        ssh_public_keys: u.sshPublicKeys.join("\n"),
        shell: "/bin/bash",
      }, stage, { secretParams: { password_hash: u.passwordHash ?? "" }, allowDestroy: settings.allowDataDestruction }),
    );
    if (users.length) stage = users;

    // 4. ZFS: pools, then each dataset after its pool, then each registration after its dataset.
    const pools = new Map<string, pulumi.Resource>();
    for (const p of host.zfs.pools) {
      pools.set(p.name, declare(zfsPoolKind, `host-zfs-pool-${p.name}`, "zfs_pool", {
        name: p.name,
        raid_level: p.raidLevel,
        disks: p.disks.join("\n"),
        mountpoint: "",
      }, stage, { allowDestroy: settings.allowDataDestruction, protect: settings.protectPools }));
    }
    const poolStage = pools.size ? [...pools.values()] : stage;
    const zfsStage: pulumi.Resource[] = [];
    for (const d of host.zfs.datasets) {
      const pool = pools.get(d.pool);
      const dataset = declare(zfsDatasetKind, `host-zfs-dataset-${d.pool}-${d.name.replace(/\//g, "-")}`, "zfs_dataset", {
        pool: d.pool,
        name: d.name,
        properties: keyValueLines(d.properties),
      }, pool ? [pool] : poolStage, { allowDestroy: settings.allowDataDestruction });
      if (d.storage) {
        const s = d.storage;
        const registration = declare(proxmoxStorageKind, `host-proxmox-storage-${s.id}`, "proxmox_storage", {
          id: s.id,
          type: s.type,
          content: s.content.join(","),
          target: s.target,
        }, [dataset]);
        this.storages.set(s.id, registration);
        zfsStage.push(registration);
      } else {
        zfsStage.push(dataset);
      }
    }
    if (zfsStage.length) stage = zfsStage;
    else if (pools.size) stage = poolStage;

    // 5. NFS exports, named by path (removing one never renames the others); the alias keeps the
    // state of the earlier index names (`host-nfs-export-<n>`).
    const nfsExports = host.nfsExports.map((e, n) => {
      const exportPath = e.path.replace(/(.)\/+$/, "$1");
      return declare(nfsExportKind, `host-nfs-export-${nfsExportSlug(exportPath)}`, "nfs_export", {
        path: exportPath,
        clients: e.clients.join(" "),
        options: e.options.join(","),
        // The host script refuses system paths unless the stack allows them (absent otherwise:
        // existing states keep their inputs).
        ...(settings.allow?.hostPaths ? { allow_host_paths: "1" } : {}),
      }, stage, { aliases: [{ name: `host-nfs-export-${n}` }] });
    });
    if (nfsExports.length) stage = nfsExports;

    // 6. Samba: the user, then the shares.
    if (host.samba?.user) {
      const password = new pulumi.Config("phoenix").getSecret("sambaPassword");
      stage = [
        declare(sambaUserKind, `host-samba-user-${host.samba.user}`, "samba_user", { username: host.samba.user }, stage, {
          secretParams: pulumi.output(password).apply((p) => ({ password: p ?? "" })),
        }),
      ];
    }
    for (const s of host.samba?.shares ?? []) {
      declare(sambaShareKind, `host-samba-share-${s.name}`, "samba_share", {
        name: s.name,
        path: s.path,
        options: keyValueLines(s.options),
        valid_users: s.validUsers.join(" "),
        ...(settings.allow?.hostPaths ? { allow_host_paths: "1" } : {}),
      }, stage);
    }

    this.setupReady = [initial];
    this.gpuReady = nvidia ? [nvidia] : [];
    this.registerOutputs({});
  }

  /**
   * What a guest whose disk lives on storage `storageId` (or an alias of it) must wait for: the
   * storage's registration resource (which waits for its dataset and pool), or the initial setup
   * for storages Phoenix does not register (local, local-lvm, ...).
   */
  storageReady(storageId: string): pulumi.Resource[] {
    const id = this.storages.has(storageId) ? storageId : (this.aliases[storageId] ?? storageId);
    const registration = this.storages.get(id);
    return registration ? [registration] : this.setupReady;
  }
}
