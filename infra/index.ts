// The Phoenix Pulumi program: one stack = one Proxmox host (or cluster) described by three Phoenix
// JSON files. The host setup comes first, then every container and VM in dependency order, so
// that the template hierarchy (900 → 901 → 950 ...) is expressed as resource dependencies and
// unrelated guests stay independent (Pulumi provisions them in parallel).
import * as pulumi from "@pulumi/pulumi";
import { loadPhoenixConfig } from "./config/load";
import { cloneAfter, topologicalOrder } from "./graph";
import { Hypervisor } from "./components/hypervisor";
import { LxcGuest } from "./components/lxc";
import { VmGuest, vmStorageIds } from "./components/vm";
import { readStackSettings, stackFirewallLockout } from "./settings";
import { declareGuestFirewall, declareHostFirewall } from "./components/firewall";
import type { PhoenixModel } from "./config/model";

const settings = readStackSettings();
const loaded = loadPhoenixConfig(settings.configDir, { defaultNode: settings.node, allow: settings.allow });
if (!loaded.ok) {
  // A RunError prints its message without a stack trace: each line names file and JSON path.
  throw new pulumi.RunError(`invalid Phoenix configuration in ${settings.configDir}:\n${loaded.errors.join("\n")}`);
}
for (const warning of loaded.warnings) pulumi.log.warn(warning);
const model: PhoenixModel = loaded.model;

// Never lock the operator out: a dropping host firewall needs rules that keep SSH and the API open.
const lockout = stackFirewallLockout(model, settings);
if (lockout.length > 0) throw new pulumi.RunError(`the host firewall would lock Phoenix out:\n${lockout.join("\n")}`);

const host = new Hypervisor("host", { model, settings });
const hostFirewall = model.host.firewall ? declareHostFirewall(model.host.firewall, { parent: host, dependsOn: host.setupReady }) : undefined;
const firewallReferences = hostFirewall?.references ?? [];

/** Each guest's last step, by ID: what `dependencies` entries wait for. */
const readyById = new Map<number, pulumi.Resource>();
const containers = new Map<number, LxcGuest>();
const vms = new Map<number, VmGuest>();

function unique(resources: pulumi.Resource[]): pulumi.Resource[] {
  return [...new Set(resources)];
}

function guestDependencies(ids: number[]): pulumi.Resource[] {
  return ids.map((id) => {
    const ready = readyById.get(id);
    // topologicalOrder puts dependencies first; the config loader has rejected dangling IDs.
    if (!ready) throw new pulumi.RunError(`internal: guest ${id} is not declared before its dependents`);
    return ready;
  });
}

/** Clones of one parent one after the other: Proxmox locks the source for a whole full clone. */
const previousSibling = cloneAfter(model);

for (const guest of topologicalOrder(model)) {
  if (guest.kind === "lxc") {
    const container = model.containers.find((c) => c.ctid === guest.id)!;
    const storages = [container.storagePool, ...container.volumes.map((v) => v.storage)];
    const dependsOn = unique([
      ...host.setupReady,
      ...storages.flatMap((s) => host.storageReady(s)),
      // GPU containers and those installing the NVIDIA user space wait for the host driver.
      ...(container.gpus.length > 0 || container.features.includes("nvidia") ? host.gpuReady : []),
      ...guestDependencies(container.dependencies),
      ...(previousSibling.has(container.ctid) ? [containers.get(previousSibling.get(container.ctid)!)!.container] : []),
    ]);
    const parent = container.cloneFrom !== undefined ? containers.get(container.cloneFrom) : undefined;
    const lxc = new LxcGuest(`ct-${container.ctid}`, {
      container,
      model,
      settings,
      parentSnapshot: parent?.snapshot,
      dependsOn,
    });
    containers.set(container.ctid, lxc);
    // An inherited firewall is already there: Proxmox copies the template's .fw file on clone.
    if (container.firewall && container.firewall.inheritedFrom === undefined) {
      declareGuestFirewall("ct", container.ctid, container.node ?? settings.node, container.firewall, { parent: lxc, guest: lxc.container, references: firewallReferences, dhcp: container.network.ip === "dhcp" });
    }
    readyById.set(container.ctid, lxc.ready);
  } else {
    const vm = model.vms.find((v) => v.vmid === guest.id)!;
    // Disk and volumes, plus where its cloud image or user-data snippet goes.
    const storages = vmStorageIds(vm, model);
    const dependsOn = unique([
      ...host.setupReady,
      ...storages.flatMap((s) => host.storageReady(s)),
      ...guestDependencies(vm.dependencies),
    ]);
    const parentTemplate = vm.cloneFrom !== undefined ? vms.get(vm.cloneFrom) : undefined;
    const vmGuest = new VmGuest(`vm-${vm.vmid}`, { vm, model, settings, parentTemplate, dependsOn });
    vms.set(vm.vmid, vmGuest);
    if (vm.firewall && vm.firewall.inheritedFrom === undefined) {
      declareGuestFirewall("vm", vm.vmid, vmGuest.nodeName, vm.firewall, { parent: vmGuest, guest: vmGuest.vm, references: firewallReferences, dhcp: vm.network.ip === "dhcp" });
    }
    readyById.set(vm.vmid, vmGuest.ready);
  }
}

/** Stack outputs: what exists, by ID, for scripts and reviewers. */
export const containerIds = [...containers.keys()];
export const vmIds = [...vms.keys()];
export const node = settings.node;
