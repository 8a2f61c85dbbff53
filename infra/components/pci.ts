// The cluster's PCI resource mappings (hardware.mapping.PciLegacy, /etc/pve/mapping/pci.cfg): one
// per name of the host files' `pci_devices`, with the device's address and id on every node that
// declares it, so a VM's `hostpci` names the mapping rather than a bare address (Proxmox checks at
// VM start that the node's device still has that id: qemu-server PCI.pm `parse_hostpci`).
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import type { HostModel } from "../config/model";
import type { DeclaredResources } from "./declared";
import type { Hypervisor } from "./hypervisor";
import { PROXMOX_TYPES } from "../deployment/index";

/**
 * Declares every PCI mapping of the deployment model, under the component of the first node that
 * declares it.
 *
 * @param args `nodes` (the model's, primary first), `hosts` (each node's Hypervisor component),
 *   `declared` (the deployment model's resources so far)
 */
export function declarePciMappings(args: { nodes: { name: string; host: HostModel }[]; hosts: Map<string, Hypervisor>; declared: DeclaredResources }): void {
  const { declared } = args;
  for (const entry of declared.deployment.resources) {
    if (entry.type !== PROXMOX_TYPES.pciMapping) continue;
    const on = entry.nodes ?? [entry.node];
    // The deployment model names the mapping after the device: find it in each node's file.
    const name = entry.name.replace(/^host-pci-mapping-/, "");
    const maps = on.map((node) => {
      const d = args.nodes.find((n) => n.name === node)!.host.pciDevices.find((x) => x.name === name)!;
      return {
        node,
        path: d.path,
        id: d.id,
        ...(d.subsystemId ? { subsystemId: d.subsystemId } : {}),
        ...(d.iommuGroup !== undefined ? { iommuGroup: d.iommuGroup } : {}),
      };
    });
    declared.add(
      entry.name,
      new proxmox.hardware.mapping.PciLegacy(
        entry.name,
        { name, comment: "Managed by Phoenix (pci_devices)", maps },
        { parent: args.hosts.get(entry.node)!, dependsOn: declared.dependsOn(entry.name), aliases: declared.aliases(entry.name) },
      ),
    );
  }
}
