// The whole stack as Pulumi resources: the deployment model (infra/deployment) declared, node by
// node and guest by guest, each on its own node's SSH endpoint. The Pulumi program (infra/index.ts)
// and the end-to-end engines of the tests call this one function.
import type { PhoenixModel } from "./config/model";
import type { StackSettings } from "./settings";
import type { SshTarget } from "../providers/ssh/types";
import { deploymentNodes, deploymentOf, hostNames } from "./deployment/index";
import { DeclaredResources } from "./components/declared";
import { Hypervisor, declareClusterStorages } from "./components/hypervisor";
import { LxcGuest } from "./components/lxc";
import { VmGuest } from "./components/vm";
import { declareGuestFirewall, declareHostFirewall } from "./components/firewall";
import { declarePciMappings } from "./components/pci";

/** The guests declareStack declared, by CTID and VMID (stack outputs, the tests' engines). */
export interface DeclaredStack {
  containers: Map<number, LxcGuest>;
  vms: Map<number, VmGuest>;
}

/**
 * The SSH endpoint of Proxmox node `node`: its entry in `phoenix:nodes`, else (single-node
 * stacks) the stack's connection. Throws for a node the settings do not name (validate refuses
 * guests on such nodes first).
 */
export function nodeConnection(settings: StackSettings, node: string): SshTarget {
  const nodes = settings.nodes;
  if (!nodes || nodes.length === 0) return settings.connection;
  const found = nodes.find((n) => n.name === node);
  if (!found) throw new Error(`node ${node} is not one of the stack's nodes (phoenix:nodes: ${nodes.map((n) => n.name).join(", ")})`);
  return found.connection;
}

/**
 * Declares every resource of the deployment model of `model`: each node's host setup, the
 * cluster's host firewall, then every container and VM in dependency order, each on its node.
 *
 * @param model the loaded configuration
 * @param settings the stack's settings (nodes and their SSH endpoints, allowances)
 * @returns what was declared; throws (internal errors) when a component strays from the model
 */
export function declareStack(model: PhoenixModel, settings: StackSettings): DeclaredStack {
  const deployment = deploymentOf(model, { node: settings.node, firewallTakeover: settings.firewallTakeover });
  const declared = new DeclaredResources(deployment);
  const nodes = deploymentNodes(model, { node: settings.node });
  const hosts = new Map<string, Hypervisor>();
  for (const n of nodes) {
    const name = hostNames(deployment.multiNode ? n.name : undefined).component;
    hosts.set(n.name, new Hypervisor(name, { host: n.host, node: n.name, settings, connection: nodeConnection(settings, n.name), declared }));
  }
  // A cluster's storage registrations (storage.cfg is one file), after every node's datasets.
  if (deployment.multiNode) declareClusterStorages({ nodes, hosts, connection: (node) => nodeConnection(settings, node), declared });
  // The cluster's PCI mappings (pci.cfg is one file), after their nodes' initial setup.
  declarePciMappings({ nodes, hosts, declared });
  // The cluster's firewall, from the primary node's file, under the primary node's component.
  const primary = nodes[0];
  if (primary.host.firewall) declareHostFirewall(primary.host.firewall, { parent: hosts.get(primary.name)!, declared, connection: nodeConnection(settings, primary.name), takeover: settings.firewallTakeover });

  const containers = new Map<number, LxcGuest>();
  const vms = new Map<number, VmGuest>();
  const byCtid = new Map(model.containers.map((c) => [c.ctid, c]));
  const byVmid = new Map(model.vms.map((v) => [v.vmid, v]));
  for (const g of deployment.guestOrder) {
    if (g.kind === "lxc") {
      const c = byCtid.get(g.id)!;
      const name = `ct-${c.ctid}`;
      const node = declared.entry(name).node;
      const lxc = new LxcGuest(name, { container: c, model, settings, connection: nodeConnection(settings, node), declared });
      containers.set(c.ctid, lxc);
      if (c.firewall && c.firewall.inheritedFrom === undefined) {
        declareGuestFirewall("ct", c.ctid, node, c.firewall, { parent: lxc, guest: lxc.container, declared, dhcp: c.network.ip === "dhcp", connection: nodeConnection(settings, node), template: c.cloneFrom });
      }
    } else {
      const v = byVmid.get(g.id)!;
      const name = `vm-${v.vmid}`;
      const node = declared.entry(name).node;
      const vm = new VmGuest(name, { vm: v, model, settings, connection: nodeConnection(settings, node), declared });
      vms.set(v.vmid, vm);
      if (v.firewall && v.firewall.inheritedFrom === undefined) {
        declareGuestFirewall("vm", v.vmid, node, v.firewall, { parent: vm, guest: vm.vm, declared, dhcp: v.network.ip === "dhcp", connection: nodeConnection(settings, node), template: v.cloneFrom });
      }
    }
  }
  return { containers, vms };
}
