// Hypervisor: the Hypervisor Setup Flow of one Proxmox node as one component whose children run in
// this order (each stage depends on the one before it; within a stage, resources run in parallel;
// in a multi-node stack every name carries the node: `host-<node>-initial-setup`):
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
import type { HostModel } from "../config/model";
import type { StackSettings } from "../settings";
import type { SshTarget } from "../../providers/ssh/types";
import { featureScript } from "../../features/registry";
import { COMPONENT_TYPES, dynamicType, hostNames } from "../deployment/names";
import type { DeclaredResources } from "./declared";
import { HostScriptResource, type HostScriptKind } from "../../providers/base/index";
import {
  adminUserKind,
  initialSetupKind,
  nfsExportKind,
  nvidiaDriverKind,
  nvidiaRebootNotice,
  pciPassthroughKind,
  pciRebootNotice,
  proxmoxStorageKind,
  sambaShareKind,
  sambaUserKind,
  zfsDatasetKind,
  zfsPoolKind,
} from "../../providers/hypervisor/index";

export interface HypervisorArgs {
  /** The node's host model (its phoenix_hypervisor_config.json). */
  host: HostModel;
  /** The Proxmox node this component sets up. */
  node: string;
  /** The stack's settings (allowances, data protection, subscription). */
  settings: StackSettings;
  /** The SSH endpoint of the node: every step runs there. */
  connection: SshTarget;
  /** The deployment model's resources declared so far: names, order and dependencies come from it. */
  declared: DeclaredResources;
}

/** Packages the later steps need (NFS, Samba, sudo) plus the tools the Bash orchestrator's setup installed. */
export const BASE_PACKAGES = ["curl", "wget", "jq", "vim", "htop", "sudo", "nfs-kernel-server", "samba"];

/** `{recordsize: "16K"}` → `recordsize=16K`, one per line (the scripts' format). */
const keyValueLines = (values: Record<string, string>) =>
  Object.entries(values)
    .map(([k, v]) => `${k}=${v}`)
    .join("\n");

/**
 * One Proxmox node's host setup. Its resources, their names and the order between them come from
 * the deployment model (infra/deployment: hostNames); this component gives each its script and
 * parameters. Throws on a model value no host script would accept (`zfs.arc_max_gb` not whole).
 */
export class Hypervisor extends pulumi.ComponentResource {
  constructor(name: string, args: HypervisorArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.hypervisor, name, {}, { ...opts, aliases: [...(opts?.aliases ?? []), ...args.declared.aliases(name, true)] });
    const { host, settings, connection, declared } = args;
    declared.add(name, this);
    const H = hostNames(declared.deployment.multiNode ? args.node : undefined);

    const declare = (
      kind: HostScriptKind,
      resourceName: string,
      script: string,
      params: Record<string, string>,
      extra: { secretParams?: pulumi.Input<Record<string, pulumi.Input<string>>>; allowDestroy?: boolean; protect?: boolean } = {},
    ): pulumi.Resource =>
      declared.add(
        resourceName,
        new HostScriptResource(
          kind,
          resourceName,
          {
            connection,
            script: featureScript("hypervisor", script),
            params,
            secretParams: extra.secretParams,
            allowDestroy: extra.allowDestroy ?? false,
          },
          { parent: this, dependsOn: declared.dependsOn(resourceName), protect: extra.protect, aliases: declared.aliases(resourceName) },
        ),
      );

    // 1. Initial setup.
    const arcMaxGb = host.zfs.arcMaxGb;
    if (arcMaxGb !== undefined && !Number.isInteger(arcMaxGb)) {
      throw new Error(`zfs.arc_max_gb must be a whole number of GiB, got ${arcMaxGb}`);
    }
    declare(initialSetupKind, H.initialSetup, "initial_setup", {
      timezone: host.timezone ?? "",
      packages: BASE_PACKAGES.join(" "),
      arc_max_gb: arcMaxGb === undefined ? "" : String(arcMaxGb),
      subscription: settings.proxmoxSubscription ? "1" : "0",
      codename: "",
    });

    // 2. NVIDIA driver.
    if (host.nvidiaDriver) {
      const d = host.nvidiaDriver;
      const driver = declare(nvidiaDriverKind, H.nvidia, "nvidia_driver", {
        version: d.version,
        runfile_url: d.runfileUrl,
        runfile_sha256: d.runfileSha256 ?? "",
        headers_package: "",
      }) as HostScriptResource;
      // A driver that works only after a reboot (nouveau on a stock host) is said plainly, on
      // every run until the host rebooted.
      driver.observed.apply((o) => {
        const notice = nvidiaRebootNotice(o);
        if (notice) pulumi.log.warn(notice, driver);
      });
    }

    // 2b. PCI passthrough (host files with pci_devices): IOMMU and VFIO; a kernel that still
    // lacks them is said plainly on every run until the host rebooted.
    if (declared.has(H.pciPassthrough)) {
      const pci = declare(pciPassthroughKind, H.pciPassthrough, "pci_passthrough", {}) as HostScriptResource;
      pci.observed.apply((o) => {
        const notice = pciRebootNotice(o);
        if (notice) pulumi.log.warn(notice, pci);
      });
    }

    // 3. Admin users.
    for (const u of host.users) {
      declare(adminUserKind, H.adminUser(u.username), "admin_user", {
        username: u.username,
        sudo: u.sudo ? "1" : "0",
        ssh_public_keys: u.sshPublicKeys.join("\n"),
        shell: "/bin/bash",
      }, { secretParams: { password_hash: u.passwordHash ?? "" }, allowDestroy: settings.allowDataDestruction });
    }

    // 4. ZFS: pools, then each dataset after its pool, then each registration after its dataset.
    for (const p of host.zfs.pools) {
      declare(zfsPoolKind, H.zfsPool(p.name), "zfs_pool", {
        name: p.name,
        raid_level: p.raidLevel,
        disks: p.disks.join("\n"),
        mountpoint: "",
        ashift: String(p.ashift),
        autotrim: p.autotrim,
        compression: p.compression,
        atime: p.atime,
        enforce: p.declared.join(" "),
      }, { allowDestroy: settings.allowDataDestruction, protect: settings.protectPools });
    }
    for (const d of host.zfs.datasets) {
      declare(zfsDatasetKind, H.zfsDataset(d.pool, d.name), "zfs_dataset", {
        pool: d.pool,
        name: d.name,
        properties: keyValueLines(d.properties),
      }, { allowDestroy: settings.allowDataDestruction });
      // Single-node stacks register each storage here; a cluster's registrations are the
      // cluster's (declareClusterStorages), and the deployment model holds no per-node one.
      if (d.storage && declared.has(H.proxmoxStorage(d.storage.id))) {
        const s = d.storage;
        declare(proxmoxStorageKind, H.proxmoxStorage(s.id), "proxmox_storage", {
          id: s.id,
          type: s.type,
          content: s.content.join(","),
          target: s.target,
        });
      }
    }

    // 5. NFS exports, named by path (removing one never renames the others); single-node stacks
    // alias the earlier index names (`host-nfs-export-<n>`).
    for (const e of host.nfsExports) {
      const exportPath = e.path.replace(/(.)\/+$/, "$1");
      declare(nfsExportKind, H.nfsExport(exportPath), "nfs_export", {
        path: exportPath,
        clients: e.clients.join(" "),
        options: e.options.join(","),
        // The host script refuses system paths unless the stack allows them (absent otherwise:
        // existing states keep their inputs).
        ...(settings.allow?.hostPaths ? { allow_host_paths: "1" } : {}),
      });
    }

    // 6. Samba: the user, then the shares.
    if (host.samba?.user) {
      const password = new pulumi.Config("phoenix").getSecret("sambaPassword");
      declare(sambaUserKind, H.sambaUser(host.samba.user), "samba_user", { username: host.samba.user }, {
        secretParams: pulumi.output(password).apply((p) => ({ password: p ?? "" })),
      });
    }
    for (const s of host.samba?.shares ?? []) {
      declare(sambaShareKind, H.sambaShare(s.name), "samba_share", {
        name: s.name,
        path: s.path,
        options: keyValueLines(s.options),
        valid_users: s.validUsers.join(" "),
        ...(settings.allow?.hostPaths ? { allow_host_paths: "1" } : {}),
      });
    }
    this.registerOutputs({});
  }
}

/**
 * A multi-node stack's Proxmox storage registrations: storage.cfg is one file for the whole
 * cluster, so each storage ID is one resource (`host-proxmox-storage-<id>`) of the deployment
 * model, restricted with `nodes` to the nodes whose host files register it, declared under the
 * first of them and run over its SSH endpoint, after every one of their datasets. The definition
 * comes from that node's file (validate refuses files that define one ID differently).
 *
 * @param args `nodes` (the model's, primary first), `hosts` (each node's Hypervisor component),
 *   `connection` (a node's SSH endpoint), `declared` (the deployment model's resources so far)
 */
export function declareClusterStorages(args: {
  nodes: { name: string; host: HostModel }[];
  hosts: Map<string, Hypervisor>;
  connection: (node: string) => SshTarget;
  declared: DeclaredResources;
}): void {
  const { declared } = args;
  for (const entry of declared.deployment.resources) {
    if (entry.type !== dynamicType(proxmoxStorageKind.kind) || !entry.nodes) continue;
    const host = args.nodes.find((n) => n.name === entry.node)!.host;
    const s = host.zfs.datasets.map((d) => d.storage).find((x) => x !== undefined && hostNames().proxmoxStorage(x.id) === entry.name)!;
    declared.add(
      entry.name,
      new HostScriptResource(
        proxmoxStorageKind,
        entry.name,
        {
          connection: args.connection(entry.node),
          script: featureScript("hypervisor", "proxmox_storage"),
          params: { id: s.id, type: s.type, content: s.content.join(","), target: s.target, nodes: entry.nodes.join(",") },
          allowDestroy: false,
        },
        { parent: args.hosts.get(entry.node)!, dependsOn: declared.dependsOn(entry.name), aliases: declared.aliases(entry.name) },
      ),
    );
  }
}
