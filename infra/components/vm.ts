// VmGuest: one VM of phoenix_vm_configs.json (cloud image or clone, cloud-init, snapshot), as a component:
//   vm-<vmid>-image      the cloud image, downloaded to a storage that takes it (VMs built from an
//                        image: the master template)
//   vm-<vmid>            the VM (VmLegacy): imported cloud-image disk or a full clone of its parent,
//                        cores, memory, disk, bridge, cloud-init drive, QEMU guest agent enabled
//   vm-<vmid>-user-data  the `#cloud-config` snippet (user, guest agent, the feature scripts)
//   vm-<vmid>-cloud-init waits for the first boot to finish (guest agent, cloud-init done)
//   vm-<vmid>-snapshot   `qm snapshot` when template_snapshot_name is set
// A Proxmox template is never booted: it only carries the disk and hardware its clones copy, so it
// gets no user data, no wait and no snapshot (Proxmox refuses snapshots of templates).
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import type { PhoenixModel, VmModel } from "../config/model";
import { guestFirewallOn } from "../config/firewall";
import type { StackSettings } from "../settings";
import { featureScript, readScript, repoRoot, resolveFeatureScript } from "../../features/registry";
import { VmCloudInitWait, VmSnapshot } from "../../providers/vm/index";
import type { SshTarget } from "../../providers/ssh/types";
import { COMPONENT_TYPES, deploymentNodes, guestNode, hostOf, imageStorage, snippetsStorage, vmNames } from "../deployment/index";
import type { DeclaredResources } from "./declared";
import { sha256 } from "../hash";
import { buildUserData, cloudImage } from "./cloud-init";

export interface VmGuestArgs {
  /** The VM, from the configuration model. */
  vm: VmModel;
  /** The whole model (the host's timezone and NVIDIA driver, the stack folder, the VMs it clones from). */
  model: PhoenixModel;
  /** The stack's settings (the stack name in the description). */
  settings: StackSettings;
  /** The SSH endpoint of the VM's node (the first-boot wait and snapshots run there). */
  connection: SshTarget;
  /** The deployment model's resources declared so far: which resources exist, their names and
   *  what they wait for (host setup, storages, the parent template, `dependencies`) come from it. */
  declared: DeclaredResources;
}

/**
 * VM inputs that only say how the VM was made, ignored after creation: the provider reads none
 * of them back from Proxmox (bpg/terraform-provider-proxmox v0.111.1, proxmoxtf/resource/vm:
 * vmRead keeps `clone` from state, disk.GetDiskInfoWithFileID takes `file_id` and `import_from`
 * from state), yet `clone`, a disk's `file_id` and `initialization.user_data_file_id` are ForceNew:
 * an adopted VM (`pulumi import`) would be replaced on the first `up`, and a newer cloud image or
 * changed user data would rebuild a VM with its disks. Cloud-init runs the user data at the first
 * boot only, so a changed snippet reaches a rebuilt VM (`pulumi up --replace <urn>`), never a running one.
 */
export const VM_CREATION_ONLY_INPUTS = ["clone", "disks[0].fileId", "disks[0].importFrom", "initialization.userDataFileId"];

// Where images and snippets go, and which storages a VM waits for: the deployment model's.
export { imageStorage, snippetsStorage, vmStorageIds } from "../deployment/index";

/** Parameters every VM feature gets (as PHOENIX_<NAME>): identity, the host's timezone and NVIDIA driver, and
 *  the VM's own scalar keys named after one of its features (`docker_*`, `portainer_*`, ...). */
export function vmFeatureParams(vm: VmModel, model: PhoenixModel): Record<string, string> {
  const params: Record<string, string> = { VMID: String(vm.vmid), VM_NAME: vm.name };
  // The VM's node's host file: its timezone and NVIDIA driver.
  const nodes = deploymentNodes(model);
  const host = hostOf(nodes, guestNode(vm, nodes));
  if (host.timezone) params.TIMEZONE = host.timezone;
  const nvidia = host.nvidiaDriver;
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
    super(COMPONENT_TYPES.vm, name, {}, { ...opts, aliases: [...(opts?.aliases ?? []), ...args.declared.aliases(name, true)] });
    const { vm, model, settings, connection, declared } = args;
    declared.add(name, this);
    const id = vm.vmid;
    const N = vmNames(id);
    const nodeName = declared.entry(N.vm).node;
    const host = hostOf(deploymentNodes(model), nodeName);
    this.vmid = id;
    this.nodeName = nodeName;
    const child = { parent: this };
    // What the VM waits for (host setup, storages, its parent, its image and user data), once they are declared.
    const vmDependsOn = () => declared.dependsOn(N.vm);

    if (vm.cloneFrom === undefined && !vm.templateImage) {
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
      // A changed node moves the VM (POST migrate) instead of re-creating it on the new node.
      migrate: true,
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
      // Host PCI devices by their cluster mapping (`pci_devices`); PCIe needs the q35 machine type
      // (qemu-server PCI.pm `parse_hostpci_devices`: "q35 machine model is not enabled").
      ...(vm.pciDevices.length > 0
        ? { hostpcis: vm.pciDevices.map((mapping, i) => ({ device: `hostpci${i}`, mapping, ...(vm.pcie ? { pcie: true } : {}) })) }
        : {}),
      ...(vm.pcie ? { machine: "q35" } : {}),
      onBoot: vm.startAtBoot,
      ...(vm.bootOrder !== undefined || vm.bootDelay !== undefined
        ? { startup: { ...(vm.bootOrder !== undefined ? { order: vm.bootOrder } : {}), ...(vm.bootDelay !== undefined ? { upDelay: vm.bootDelay } : {}) } }
        : {}),
    };

    let image: proxmox.download.FileLegacy | undefined;
    let rootDisk: proxmox.types.input.VmLegacyDisk;
    if (vm.cloneFrom === undefined) {
      const store = imageStorage(host);
      const source = cloudImage(vm.templateImage!, store.contentType);
      image = declared.add(N.image, new proxmox.download.FileLegacy(
        N.image,
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
        { ...child, dependsOn: declared.dependsOn(N.image), deleteBeforeReplace: true },
      ));
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
      this.vm = declared.add(N.vm, new proxmox.VmLegacy(
        N.vm,
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
        { ...child, dependsOn: vmDependsOn(), deleteBeforeReplace: true, ignoreChanges: VM_CREATION_ONLY_INPUTS, protect: !settings.allowDataDestruction },
      ));
      this.image = image;
      this.ready = this.vm;
      this.registerOutputs({ vmId: this.vm.vmId });
      return;
    }

    const userData = vmUserData(vm, model);
    const userDataSha256 = sha256(userData);
    this.userData = declared.add(N.userData, new proxmox.FileLegacy(
      N.userData,
      {
        nodeName,
        datastoreId: snippetsStorage(host),
        contentType: "snippets",
        // The user data holds the user's password hash and SSH key: a secret in state and logs.
        // Named by content. Snippets are immutable for the provider and a VM's user-data file is
        // fixed at creation (cloud-init runs the first boot once): changed user data (features,
        // user) is a new file, never new content under an old name. The VM keeps naming the file it
        // was created with (`userDataFileId` is creation-only), and Proxmox reads that snippet at
        // every start (qemu-server vm_start → apply_cloudinit_config), so the old file is kept
        // (retainOnDelete): deleting it would leave the VM unable to start. A rebuilt VM
        // (`pulumi up --replace`) boots from the new one.
        sourceRaw: pulumi.secret({ data: userData, fileName: `phoenix-vm-${id}-${userDataSha256.slice(0, 12)}.yaml` }),
        overwrite: true,
      },
      { ...child, dependsOn: declared.dependsOn(N.userData), retainOnDelete: true },
    ));

    const parentNode = vm.cloneFrom !== undefined ? declared.entry(vmNames(vm.cloneFrom).vm).node : nodeName;
    this.vm = declared.add(N.vm, new proxmox.VmLegacy(
      N.vm,
      {
        ...hardware,
        ...(vm.cloneFrom !== undefined
          ? {
              clone: {
                vmId: vm.cloneFrom,
                full: true,
                datastoreId: vm.storagePool,
                ...(parentNode !== nodeName ? { nodeName: parentNode } : {}),
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
      // A replacement keeps the VMID: the old VM must go first. What only says how the VM was made
      // is ignored after creation (VM_CREATION_ONLY_INPUTS); replacing or deleting it destroys its
      // disks: refused unless the stack allows data destruction.
      { ...child, dependsOn: vmDependsOn(), deleteBeforeReplace: true, ignoreChanges: VM_CREATION_ONLY_INPUTS, protect: !settings.allowDataDestruction },
    ));

    this.cloudInit = declared.add(N.cloudInit, new VmCloudInitWait(
      N.cloudInit,
      { connection, vmid: id, userDataSha256 },
      // A recreated VM boots afresh: wait for its first boot again (the host's record describes
      // the old VM), and forget the old one before the new VM exists.
      { ...child, dependsOn: declared.dependsOn(N.cloudInit), replaceWith: [this.vm], deleteBeforeReplace: true },
    ));
    let ready: pulumi.Resource = this.cloudInit;
    if (declared.has(N.snapshot)) {
      this.snapshot = declared.add(N.snapshot, new VmSnapshot(
        N.snapshot,
        { connection, vmid: id, snapshotName: vm.templateSnapshotName!, after: userDataSha256 },
        { ...child, dependsOn: declared.dependsOn(N.snapshot), replaceWith: [this.vm], deleteBeforeReplace: true },
      ));
      ready = this.snapshot;
    }
    this.image = image;
    this.ready = ready;
    this.registerOutputs({ vmId: this.vm.vmId });
  }
}
