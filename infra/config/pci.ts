// PCI passthrough to VMs: the host file's `pci_devices` (name → PCI device, one Proxmox PCI
// resource mapping each) and the VMs' `pci_devices` (which of them a VM gets). What Proxmox
// refuses is refused here first, with the file and JSON path: qemu-server PCI.pm `parse_hostpci`
// ("PCI device mapping not found for '<name>'"), `parse_hostpci_devices` ("q35 machine model is not
// enabled", "device '<id>' assigned more than once"). A device can serve one running VM at a time
// (`prepare_pci_device` binds its IOMMU group to vfio-pci, away from the host's driver), so it is
// refused for two VMs, and for a VM and a container's `gpu_assignment` at once.
import type { ContainerModel, HostModel, PciDevice, VmModel } from "./model";
import type { Findings, PathSegment } from "./errors";
import type { HypervisorFile } from "./schema";

/** The PCI vendor id of NVIDIA: such a card may be a GPU containers count. */
export const NVIDIA_VENDOR = "10de";

/** A PCI address with its domain, lower case: `01:00.0` → `0000:01:00.0`. */
export function fullPciPath(path: string): string {
  const p = path.toLowerCase();
  return /^[0-9a-f]{4}:/.test(p) && p.split(":").length === 3 ? p : `0000:${p}`;
}

/** Whether two PCI paths share a function (`0000:01:00` is every function of the card). */
export function pciOverlap(a: string, b: string): boolean {
  const [x, y] = [fullPciPath(a), fullPciPath(b)];
  return x === y || (!x.includes(".") && y.startsWith(`${x}.`)) || (!y.includes(".") && x.startsWith(`${y}.`));
}

/** The host file's `pci_devices`, normalised and sorted by name; one address under two names is refused. */
export function readPciDevices(raw: HypervisorFile, file: string, findings: Findings): PciDevice[] {
  const devices: PciDevice[] = [];
  for (const [name, d] of Object.entries(raw.pci_devices ?? {})) {
    const at: PathSegment[] = ["pci_devices", name, "path"];
    const other = devices.find((o) => pciOverlap(o.path, d.path));
    if (other) {
      findings.error(file, at, `${d.path} is already pci_devices.${other.name} (${other.path}): one device, one mapping`);
      continue;
    }
    devices.push({
      name,
      path: fullPciPath(d.path),
      id: d.id.toLowerCase(),
      ...(d.subsystem_id ? { subsystemId: d.subsystem_id.toLowerCase() } : {}),
      ...(d.iommu_group !== undefined ? { iommuGroup: d.iommu_group } : {}),
      ...(d.gpu_index !== undefined ? { gpuIndex: d.gpu_index } : {}),
    });
  }
  const indexes = new Map<number, string>();
  for (const d of devices) {
    if (d.gpuIndex === undefined) continue;
    const other = indexes.get(d.gpuIndex);
    if (other) findings.error(file, ["pci_devices", d.name, "gpu_index"], `GPU index ${d.gpuIndex} is already pci_devices.${other}'s`);
    else indexes.set(d.gpuIndex, d.name);
  }
  return devices.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** What the PCI rule reads of the configuration (a subset of the cross-file rules' input). */
export interface PciRuleInput {
  containers: ContainerModel[];
  vms: VmModel[];
  /** The host file of a node: its model and its file name for messages. */
  nodeOf(node: string): { host: HostModel; file: string };
  /** Where a VM / a container was written (JSON path of its entry). */
  vmPath(vmid: number, ...rest: PathSegment[]): PathSegment[];
  ctPath(ctid: number, ...rest: PathSegment[]): PathSegment[];
  vmFile: string;
}

/**
 * VMs' `pci_devices`: each names a device of its node's host file, once; a device goes to one VM
 * that runs (templates never start: their clones' claims are the ones that count); and a GPU a VM
 * gets is not also a container's `gpu_assignment` on that node. When the host file cannot tell
 * (an NVIDIA device without `gpu_index` while containers there use GPUs), the VM is refused with
 * the key to set.
 */
export function checkPciPassthrough(input: PciRuleInput, findings: Findings): void {
  const claimed = new Map<string, number>();
  for (const v of input.vms) {
    const { host, file } = input.nodeOf(v.node);
    const seen = new Set<string>();
    if (v.pcie && v.pciDevices.length === 0) findings.warn(input.vmFile, input.vmPath(v.vmid, "pcie"), "no pci_devices: it only sets the q35 machine type");
    v.pciDevices.forEach((name, j) => {
      const at = input.vmPath(v.vmid, "pci_devices", j);
      const device = host.pciDevices.find((d) => d.name === name);
      if (!device) {
        const known = host.pciDevices.map((d) => d.name);
        findings.error(input.vmFile, at, `PCI device ${name} is not in ${file}'s pci_devices (node ${v.node}); ${known.length ? `known: ${known.join(", ")}` : "declare it there: \"pci_devices\": {\"" + name + "\": {\"path\": \"0000:01:00.0\", \"id\": \"10de:2204\"}}"}`);
        return;
      }
      if (seen.has(name)) {
        findings.error(input.vmFile, at, `PCI device ${name} is listed twice (Proxmox: "device assigned more than once")`);
        return;
      }
      seen.add(name);
      if (!v.isTemplate) {
        const key = `${v.node}\u0000${name}`;
        const holder = claimed.get(key);
        if (holder !== undefined) {
          findings.error(input.vmFile, at, `PCI device ${name} is already given to VM ${holder}: a passed-through device serves one running VM`);
          return;
        }
        claimed.set(key, v.vmid);
      }
      const gpuContainers = input.containers.filter((c) => c.node === v.node && c.gpus.length > 0);
      if (device.gpuIndex !== undefined) {
        const both = gpuContainers.filter((c) => c.gpus.includes(device.gpuIndex!));
        if (both.length > 0) {
          findings.error(input.vmFile, at, `PCI device ${name} is GPU ${device.gpuIndex}, which container${both.length > 1 ? "s" : ""} ${both.map((c) => c.ctid).join(", ")} also get${both.length > 1 ? "" : "s"} (gpu_assignment): a GPU given to a VM leaves the host; give it to one of them`);
        }
      } else if (device.id.startsWith(`${NVIDIA_VENDOR}:`) && gpuContainers.length > 0) {
        const c = gpuContainers[0];
        findings.error(input.vmFile, at, `PCI device ${name} is an NVIDIA card, and container ${c.ctid} uses GPU ${c.gpus.join(",")} on node ${v.node}: set pci_devices.${name}.gpu_index in ${file} (the card's index in nvidia-smi) so a GPU is not given to a container and a VM at once`);
      }
    });
  }
}
