// The Proxmox firewall, through the proxmoxve provider's firewall resources (the Proxmox API; no
// hand-written .fw files). From the model's host and guest firewalls (infra/config/firewall.ts):
//   host-firewall-alias-<name>   cluster alias (firewall.AliasLegacy), Phoenix's `aliases` extension
//   host-firewall-ipset-<name>   cluster IP set (firewall.IpsetLegacy), Phoenix's `ipsets` extension
//   host-firewall-rules          the cluster rules, `global_firewall_rules` (firewall.RulesLegacy, no node/guest)
//   host-firewall                cluster options: enable, policy_in, policy_out (cluster.FirewallLegacy),
//                                after the rules, aliases and IP sets, so the policy never applies
//                                before the rules that keep access
//   ct-<id>-firewall-rules       a container's rules (firewall.RulesLegacy with containerId)
//   ct-<id>-firewall             its options: enable, policies (firewall.OptionsLegacy), after its rules
//   vm-<id>-firewall-rules, vm-<id>-firewall   the same for VMs (vmId)
// The guest's network interface carries `firewall: true` (containerArgs / the VM's networkDevices),
// without which Proxmox does not filter the guest's traffic at all.
//
// The provider's rule list is one ForceNew list whose rules it creates last-first at position 0
// and deletes by the positions it recorded (bpg/terraform-provider-proxmox
// proxmoxtf/resource/firewall/rules.go: RulesCreate, RulesDelete). Creating a replacement before
// deleting the old list would shift those positions and delete the new rules, so every rules
// resource is deleted before it is replaced.
import * as pulumi from "@pulumi/pulumi";
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import type { FirewallRule, GuestFirewall, HostFirewall } from "../config/firewall";

/** A model rule as the provider's `RulesLegacyRule` (absent fields stay absent). */
export function providerRule(rule: FirewallRule): proxmox.types.input.firewall.RulesLegacyRule {
  const out: Record<string, unknown> = { type: rule.type, action: rule.action, enabled: rule.enabled };
  for (const key of ["macro", "proto", "dport", "sport", "source", "dest", "iface", "log", "comment"] as const) {
    if (rule[key] !== undefined) out[key] = rule[key];
  }
  return out as proxmox.types.input.firewall.RulesLegacyRule;
}

/** The host firewall's resources; `ready` is what guests' rules that name aliases or IP sets wait for. */
export interface HostFirewallResources {
  /** `host-firewall`: the cluster options (enable, policies). */
  options: proxmox.cluster.FirewallLegacy;
  /** `host-firewall-rules`, when there are rules. */
  rules?: proxmox.firewall.RulesLegacy;
  /** Aliases and IP sets (guests' rules may refer to them). */
  references: pulumi.Resource[];
}

/**
 * Declares the host firewall: aliases and IP sets, the cluster rules after them, then the cluster
 * options (enable and policies) after the rules.
 *
 * @param fw the model's host firewall
 * @param opts `parent` (the Hypervisor component) and `dependsOn` (the host's initial setup)
 */
export function declareHostFirewall(
  fw: HostFirewall,
  opts: { parent: pulumi.Resource; dependsOn: pulumi.Resource[] },
): HostFirewallResources {
  const base = { parent: opts.parent, dependsOn: opts.dependsOn };
  const aliases = fw.aliases.map(
    (a) =>
      new proxmox.firewall.AliasLegacy(
        `host-firewall-alias-${a.name}`,
        { name: a.name, cidr: a.cidr, ...(a.comment ? { comment: a.comment } : {}) },
        { ...base, deleteBeforeReplace: true },
      ),
  );
  // IP set entries may name aliases: the sets come after them.
  const ipsets = fw.ipsets.map(
    (s) =>
      new proxmox.firewall.IpsetLegacy(
        `host-firewall-ipset-${s.name}`,
        { name: s.name, cidrs: s.entries.map((e) => ({ name: e.cidr, nomatch: e.nomatch })), ...(s.comment ? { comment: s.comment } : {}) },
        { ...base, dependsOn: [...opts.dependsOn, ...aliases], deleteBeforeReplace: true },
      ),
  );
  const references = [...aliases, ...ipsets];
  const rules =
    fw.rules.length > 0
      ? new proxmox.firewall.RulesLegacy(
          "host-firewall-rules",
          { rules: fw.rules.map(providerRule) },
          { ...base, dependsOn: [...opts.dependsOn, ...references], deleteBeforeReplace: true },
        )
      : undefined;
  // Enabling (and the DROP policy) only once the rules that keep access are in place. The provider
  // sends every option on each update, `ebtables` as false unless given
  // (proxmoxtf/resource/cluster/firewall/firewall.go setOptions): Proxmox's default (1) is kept.
  // Its delete only forgets the resource: removing the block leaves the host's options as they are.
  const options = new proxmox.cluster.FirewallLegacy(
    "host-firewall",
    { enabled: fw.enabled, inputPolicy: fw.inputPolicy, outputPolicy: fw.outputPolicy, ebtables: true },
    { ...base, dependsOn: [...opts.dependsOn, ...references, ...(rules ? [rules] : [])] },
  );
  return { options, rules, references };
}

/** A guest's firewall resources. */
export interface GuestFirewallResources {
  /** `<prefix>-firewall`: the guest's options (enable, policies). */
  options: proxmox.firewall.OptionsLegacy;
  /** `<prefix>-firewall-rules`, when there are rules. */
  rules?: proxmox.firewall.RulesLegacy;
}

/**
 * Declares a guest's firewall: its rules, then its options after them.
 *
 * @param kind `ct` (container) or `vm`
 * @param id CTID / VMID
 * @param nodeName the guest's Proxmox node
 * @param fw the guest's firewall from the model
 * @param opts `parent` (the guest's component), `guest` (the ContainerLegacy / VmLegacy: the
 *   firewall goes with it and is recreated with it, since Proxmox removes `<vmid>.fw` with the
 *   guest), `references` (the host's aliases and IP sets), `dhcp` (the guest takes its address by DHCP)
 */
export function declareGuestFirewall(
  kind: "ct" | "vm",
  id: number,
  nodeName: string,
  fw: GuestFirewall,
  opts: { parent: pulumi.Resource; guest: pulumi.CustomResource; references: pulumi.Resource[]; dhcp: boolean },
): GuestFirewallResources {
  const prefix = `${kind}-${id}`;
  const target = kind === "ct" ? { nodeName, containerId: id } : { nodeName, vmId: id };
  const child = (after: pulumi.Resource[]): pulumi.CustomResourceOptions => ({
    parent: opts.parent,
    dependsOn: [opts.guest, ...opts.references, ...after],
    replaceWith: [opts.guest],
    deleteBeforeReplace: true,
    deletedWith: opts.guest,
  });
  const rules =
    fw.rules.length > 0 ? new proxmox.firewall.RulesLegacy(`${prefix}-firewall-rules`, { ...target, rules: fw.rules.map(providerRule) }, child([])) : undefined;
  // The provider sends every option, with defaults of its own where Proxmox's differ (ndp off,
  // radv on: proxmoxtf/resource/firewall/options.go); Phoenix sends Proxmox's defaults
  // (pve-firewall Firewall.pm vm options: macfilter 1, ndp 1, radv off), except DHCP, which a guest
  // that takes its address by DHCP needs through an input policy of DROP.
  const options = new proxmox.firewall.OptionsLegacy(
    `${prefix}-firewall`,
    {
      ...target,
      enabled: fw.enabled,
      dhcp: opts.dhcp,
      macfilter: true,
      ndp: true,
      radv: false,
      ...(fw.inputPolicy ? { inputPolicy: fw.inputPolicy } : {}),
      ...(fw.outputPolicy ? { outputPolicy: fw.outputPolicy } : {}),
    },
    child(rules ? [rules] : []),
  );
  return { options, rules };
}
