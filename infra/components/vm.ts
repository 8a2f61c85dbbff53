// VmGuest: one VM of phoenix_vm_configs.json (architecture guide §2.3), as a component:
//   vm-<vmid>-image      the cloud image, downloaded to a storage that takes it (VMs built from an
//                        image: the master template)
//   vm-<vmid>            the VM (VmLegacy): imported cloud-image disk or a full clone of its parent,
//                        cores, memory, disk, bridge, cloud-init drive, QEMU guest agent enabled
//   vm-<vmid>-user-data  the `#cloud-config` snippet (user, guest agent, the feature scripts)
//   vm-<vmid>-cloud-init waits for the first boot to finish (guest agent, cloud-init done)
//   vm-<vmid>-snapshot   `qm snapshot` when template_snapshot_name is set
// A Proxmox template is never booted: it only carries the disk and hardware its clones copy, so it
// gets no user data, no wait and no snapshot (Proxmox refuses snapshots of templates).
import { createHash } from "crypto";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import type { PhoenixModel, VmModel } from "../config/model";
import { guestFirewallOn } from "../config/firewall";
import type { StackSettings } from "../settings";
import { featureScript, readScript, repoRoot, resolveFeatureScript } from "../../features/registry";
import { VmCloudInitWait, VmSnapshot } from "../../providers/vm/index";
import { buildUserData, cloudImage } from "./cloud-init";

export interface VmGuestArgs {
  vm: VmModel;
  model: PhoenixModel;
  settings: StackSettings;
  /** The VM this one is cloned from (its `ready` step is awaited). */
  parentTemplate?: VmGuest;
  /** Storage, host setup, and `dependencies` guests' `ready` resources. */
  dependsOn: pulumi.Resource[];
}

/** Where the cloud image goes: a storage with `import` content (disk imported with `importFrom`),
 *  else one with `iso` content (disk imported from the file with `fileId`), else Proxmox's `local`. */
export function imageStorage(model: PhoenixModel): { id: string; contentType: "import" | "iso" } {
  const importing = model.host.storages.find((s) => s.content.includes("import"));
  if (importing) return { id: importing.id, contentType: "import" };
  const iso = model.host.storages.find((s) => s.content.includes("iso"));
  return { id: iso?.id ?? "local", contentType: "iso" };
}

/** Where user-data snippets go: a storage with `snippets` content, else `local` (which must then
 *  have `snippets` enabled: `pvesm set local --content iso,vztmpl,backup,snippets`). */
export function snippetsStorage(model: PhoenixModel): string {
  return model.host.storages.find((s) => s.content.includes("snippets"))?.id ?? "local";
}

/** Every Proxmox storage a VM uses (disk, volumes, image or snippets): what it must wait for. */
export function vmStorageIds(vm: VmModel, model: PhoenixModel): string[] {
  const ids = [vm.storagePool, ...vm.volumes.map((v) => v.storage)];
  if (vm.cloneFrom === undefined) ids.push(imageStorage(model).id);
  if (!vm.isTemplate) ids.push(snippetsStorage(model));
  return [...new Set(ids)];
}

/** Parameters every VM feature gets (as PHOENIX_<NAME>): identity, the host's timezone and NVIDIA driver, and
 *  the VM's own scalar keys named after one of its features (`docker_*`, `portainer_*`, ...). */
export function vmFeatureParams(vm: VmModel, model: PhoenixModel): Record<string, string> {
  const params: Record<string, string> = { VMID: String(vm.vmid), VM_NAME: vm.name };
  if (model.host.timezone) params.TIMEZONE = model.host.timezone;
  const nvidia = model.host.nvidiaDriver;
  if (nvidia && vm.features.includes("nvidia")) {
    params.NVIDIA_DRIVER_VERSION = nvidia.version;
    params.NVIDIA_RUNFILE_URL = nvidia.runfileUrl;
    if (nvidia.runfileSha256) params.NVIDIA_RUNFILE_SHA256 = nvidia.runfileSha256;
  }
  for (const [key, value] of Object.entries(vm.raw)) {
    if (!vm.features.some((f) => key.startsWith(`${f}_`))) continue;
    if (!["string", "number", "boolean"].includes(typeof value)) continue;
    if (!/^[a-z][a-z0-9_]*$/.test(key) || String(value).includes("\0")) continue;
    params[key.toUpperCase()] = String(value);
  }
  return params;
}

/** The VM's `#cloud-config` user data (holds the password hash: a secret wherever it goes). */
export function vmUserData(vm: VmModel, model: PhoenixModel): string {
  return buildUserData({
    hostname: vm.name,
    user: vm.user,
    // Phoenix's own features, or the stack folder's features/vm/<name>.sh.
    features: vm.features.map((name) => resolveFeatureScript(path.dirname(model.files.vm), "vm", name)),
    runner: featureScript("vm", "first_boot").text,
    // The same helpers the container features use: VM and container features share their code.
    library: sharedFeatureLibrary(),
    params: vmFeatureParams(vm, model),
    nfsMounts: vm.nfsMounts,
  });
}

/** The helper library container and VM features share (sourced through $PHOENIX_LIB). */
export function sharedFeatureLibrary(): string {
  return readScript(path.join(repoRoot(), "features", "lxc", "lib", "common.sh"));
}

function secretIf<T>(secret: boolean, value: T): pulumi.Input<T> {
  return secret ? (pulumi.secret(value) as pulumi.Output<T>) : value;
}

function sha256(text: string): string {
  return createHash("sha256").update(text).digest("hex");
}

export class VmGuest extends pulumi.ComponentResource {
  /** `vm-<vmid>`. */
  readonly vm: proxmox.VmLegacy;
  /** `vm-<vmid>-image`: VMs built from a cloud image. */
  readonly image?: proxmox.download.FileLegacy;
  /** `vm-<vmid>-user-data`: booted VMs. */
  readonly userData?: proxmox.FileLegacy;
  /** `vm-<vmid>-cloud-init`: booted VMs. */
  readonly cloudInit?: VmCloudInitWait;
  /** `vm-<vmid>-snapshot`: booted VMs with template_snapshot_name. */
  readonly snapshot?: pulumi.Resource;
  /** The last step: what clones and `dependencies` wait for. */
  readonly ready: pulumi.Resource;
  readonly vmid: number;
  /** The Proxmox node the VM lives on (clones of it on another node name it as their source). */
  readonly nodeName: string;

  constructor(name: string, args: VmGuestArgs, opts?: pulumi.ComponentResourceOptions) {
    super("phoenix:vm:Vm", name, {}, opts);
    const { vm, model, settings } = args;
    const id = vm.vmid;
    const nodeName = vm.node ?? settings.node;
    this.vmid = id;
    this.nodeName = nodeName;
    const child = { parent: this };
    const dependsOn = [...args.dependsOn];

    if (vm.cloneFrom !== undefined) {
      if (!args.parentTemplate || args.parentTemplate.vmid !== vm.cloneFrom) {
        throw new Error(`vm ${id}: clone_from_vmid ${vm.cloneFrom} needs VmGuest vm-${vm.cloneFrom} as parentTemplate`);
      }
      dependsOn.push(args.parentTemplate.ready);
    } else if (!vm.templateImage) {
      throw new Error(`vm ${id}: neither clone_from_vmid nor template_image is set: nothing to build the VM from`);
    }

    const ipv4 =
      vm.network.ip === "dhcp"
        ? { address: "dhcp" }
        : { address: vm.network.ip, ...(vm.network.gateway ? { gateway: vm.network.gateway } : {}) };
    // Nameservers from network_config; the search domain from the host file's domain_name (as the Bash tool set it).
    const dns =
      vm.network.nameservers.length > 0 || vm.network.searchDomain
        ? { ...(vm.network.nameservers.length > 0 ? { servers: vm.network.nameservers } : {}), ...(vm.network.searchDomain ? { domain: vm.network.searchDomain } : {}) }
        : undefined;
    const extraDisks = vm.volumes.map((v, i) => ({
      interface: `scsi${i + 1}`,
      datastoreId: v.storage,
      size: v.sizeGb,
      discard: "on",
      iothread: true,
    }));
    const hardware = {
      nodeName,
      vmId: id,
      name: vm.name,
      description: `Managed by Phoenix (Pulumi stack ${settings.stack}).`,
      tags: ["phoenix"],
      agent: { enabled: true, trim: true, type: "virtio" },
      cpu: { cores: vm.cores, type: "x86-64-v2-AES" },
      memory: { dedicated: vm.memoryMb },
      scsiHardware: "virtio-scsi-single",
      // `firewall: true` when the VM has a firewall (infra/components/firewall.ts).
      networkDevices: [{ bridge: vm.networkBridge, model: "virtio", ...(vm.macAddress ? { macAddress: vm.macAddress } : {}), ...(guestFirewallOn(vm.firewall) ? { firewall: true } : {}) }],
      // Proxmox's Cloud-Init guide: many cloud images expect a serial console (an OpenStack requirement).
      serialDevices: [{ device: "socket" }],
      operatingSystem: { type: "l26" },
      onBoot: vm.startAtBoot,
      ...(vm.bootOrder !== undefined || vm.bootDelay !== undefined
        ? { startup: { ...(vm.bootOrder !== undefined ? { order: vm.bootOrder } : {}), ...(vm.bootDelay !== undefined ? { upDelay: vm.bootDelay } : {}) } }
        : {}),
    };

    let image: proxmox.download.FileLegacy | undefined;
    let rootDisk: proxmox.types.input.VmLegacyDisk;
    if (vm.cloneFrom === undefined) {
      const store = imageStorage(model);
      const source = cloudImage(vm.templateImage!, store.contentType);
      image = new proxmox.download.FileLegacy(
        `vm-${id}-image`,
        {
          nodeName,
          datastoreId: store.id,
          contentType: store.contentType,
          url: source.url,
          fileName: source.fileName,
          // A newer upstream build must not replace the image templates were made from.
          overwrite: false,
          uploadTimeout: 1800,
        },
        // Same file name for the new download: the old one must go first.
        { ...child, dependsOn, deleteBeforeReplace: true },
      );
      rootDisk = {
        interface: "scsi0",
        datastoreId: vm.storagePool,
        ...(store.contentType === "import" ? { importFrom: image.id } : { fileId: image.id }),
        size: vm.diskSizeGb,
        discard: "on",
        iothread: true,
      };
    } else {
      // A full clone copies the parent's disk; a larger disk_size_gb grows it.
      rootDisk = { interface: "scsi0", datastoreId: vm.storagePool, size: vm.diskSizeGb, discard: "on", iothread: true };
    }

    if (vm.isTemplate) {
      if (vm.templateSnapshotName) {
        pulumi.log.warn(
          `vm ${id}: template_snapshot_name "${vm.templateSnapshotName}" is not taken: Proxmox cannot snapshot a template ` +
            "(\"you can't take a snapshot if it's a template\"); the never-booted template is itself the clean state its clones copy",
          this,
        );
      }
      // The template's cloud-init drive carries defaults its clones inherit and override.
      const keys = vm.user?.sshPublicKey ? [vm.user.sshPublicKey] : undefined;
      this.vm = new proxmox.VmLegacy(
        `vm-${id}`,
        {
          ...hardware,
          template: true,
          started: false,
          disks: [rootDisk, ...extraDisks],
          // Holds the user's password hash and SSH key when set: a secret in state and logs.
          initialization: secretIf(!!(vm.user?.passwordHash || vm.user?.sshPublicKey), {
            datastoreId: vm.storagePool,
            interface: "ide2",
            ipConfigs: [{ ipv4 }],
            ...(dns ? { dns } : {}),
            ...(vm.user
              ? {
                  userAccount: {
                    username: vm.user.username,
                    ...(keys ? { keys } : {}),
                    ...(vm.user.passwordHash ? { password: vm.user.passwordHash } : {}),
                  },
                }
              : {}),
          }),
        },
        // A replacement keeps the VMID: the old VM must go first.
        { ...child, dependsOn, deleteBeforeReplace: true },
      );
      this.image = image;
      this.ready = this.vm;
      this.registerOutputs({ vmId: this.vm.vmId });
      return;
    }

    const userData = vmUserData(vm, model);
    const userDataSha256 = sha256(userData);
    this.userData = new proxmox.FileLegacy(
      `vm-${id}-user-data`,
      {
        nodeName,
        datastoreId: snippetsStorage(model),
        contentType: "snippets",
        // The user data holds the user's password hash and SSH key: a secret in state and logs.
        // Named by content. Snippets are immutable for the provider and a VM's user-data file is
        // fixed at creation (cloud-init runs the first boot once): changed user data (features,
        // user) is a new file and a new VM cloned afresh, never new content under an old name.
        sourceRaw: pulumi.secret({ data: userData, fileName: `phoenix-vm-${id}-${userDataSha256.slice(0, 12)}.yaml` }),
        overwrite: true,
      },
      { ...child, dependsOn: args.dependsOn },
    );

    this.vm = new proxmox.VmLegacy(
      `vm-${id}`,
      {
        ...hardware,
        ...(vm.cloneFrom !== undefined
          ? {
              clone: {
                vmId: vm.cloneFrom,
                full: true,
                datastoreId: vm.storagePool,
                ...(args.parentTemplate!.nodeName !== nodeName ? { nodeName: args.parentTemplate!.nodeName } : {}),
              },
            }
          : {}),
        started: true,
        disks: [rootDisk, ...extraDisks],
        initialization: {
          datastoreId: vm.storagePool,
          interface: "ide2",
          ipConfigs: [{ ipv4 }],
          ...(dns ? { dns } : {}),
          userDataFileId: this.userData.id,
        },
      },
      // A replacement keeps the VMID: the old VM must go first. `clone` says how the VM was made:
      // the provider does not read it back, so an adopted VM (`pulumi import`) would be replaced
      // on the first `up` (bpg/terraform-provider-proxmox #1988); rebuild with `--replace`.
      { ...child, dependsOn, deleteBeforeReplace: true, ignoreChanges: ["clone"] },
    );

    this.cloudInit = new VmCloudInitWait(
      `vm-${id}-cloud-init`,
      { connection: settings.connection, vmid: id, userDataSha256 },
      // A recreated VM boots afresh: wait for its first boot again (the host's record describes
      // the old VM), and forget the old one before the new VM exists.
      { ...child, dependsOn: [this.vm], replaceWith: [this.vm], deleteBeforeReplace: true },
    );
    let ready: pulumi.Resource = this.cloudInit;
    if (vm.templateSnapshotName) {
      this.snapshot = new VmSnapshot(
        `vm-${id}-snapshot`,
        { connection: settings.connection, vmid: id, snapshotName: vm.templateSnapshotName, after: userDataSha256 },
        { ...child, dependsOn: [this.cloudInit], replaceWith: [this.vm], deleteBeforeReplace: true },
      );
      ready = this.snapshot;
    }
    this.image = image;
    this.ready = ready;
    this.registerOutputs({ vmId: this.vm.vmId });
  }
}
