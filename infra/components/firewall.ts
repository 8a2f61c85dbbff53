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
// The provider's rule list (bpg/terraform-provider-proxmox proxmoxtf/resource/firewall/rules.go, as
// @muhlba91/pulumi-proxmoxve 8.6.0 bridges it): RulesCreate refuses a target that already has rules
// ("Existing rules detected"), a changed list is updated in place (RulesUpdate: new rules created
// first, kept rules moved into place, the excess deleted last, so no rule both lists keep is ever
// missing in between), and RulesDelete deletes the positions it recorded. Where Proxmox already
// holds rules, a firewall_takeover.sh step goes first:
//   ct-<id>-firewall-inherited / vm-<id>-firewall-inherited   a clone's rules copied from its
//       template on clone are removed, so the clone gets exactly the rules it declares;
//   host-firewall-takeover   (phoenix:firewallTakeover) the rules cluster.fw holds move to the top
//       of every node's host.fw, which pve-firewall applies first, before they leave cluster.fw;
//   host-firewall-takeover-replaced   (replace) removes them once the declared rules are in place.
// A rule list is only replaced with its guest (deletedWith): it is then deleted first.
import * as pulumi from "@pulumi/pulumi";
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import type { FirewallRule, GuestFirewall, HostFirewall } from "../config/firewall";
import { HOST_FIREWALL_NAMES, containerNames, vmNames } from "../deployment/names";
import type { DeclaredResources } from "./declared";
import { HostScriptResource } from "../../providers/base/index";
import type { SshTarget } from "../../providers/ssh/types";
import { firewallTakeoverKind } from "../../providers/hypervisor/index";
import { featureScript } from "../../features/registry";

/** A model rule as the provider's `RulesLegacyRule` (absent fields stay absent). */
export function providerRule(rule: FirewallRule): proxmox.types.input.firewall.RulesLegacyRule {
  const out: Record<string, unknown> = { type: rule.type, action: rule.action, enabled: rule.enabled };
  for (const key of ["macro", "proto", "dport", "sport", "source", "dest", "iface", "log", "comment"] as const) {
    if (rule[key] !== undefined) out[key] = rule[key];
  }
  return out as proxmox.types.input.firewall.RulesLegacyRule;
}

/**
 * Declares the host firewall (the cluster's): aliases and IP sets, the cluster rules after them,
 * then the cluster options (enable and policies) after the rules. Names and order come from the
 * deployment model (infra/deployment: HOST_FIREWALL_NAMES).
 *
 * @param fw the model's host firewall
 * @param opts `parent` (the primary node's Hypervisor component), `declared` (the deployment
 *   model's resources declared so far), `connection` (the primary node's SSH target, for the
 *   takeover steps) and `takeover` (phoenix:firewallTakeover)
 */
export function declareHostFirewall(
  fw: HostFirewall,
  opts: { parent: pulumi.Resource; declared: DeclaredResources; connection: SshTarget; takeover?: "replace" | "keep" },
): void {
  const F = HOST_FIREWALL_NAMES;
  const { declared } = opts;
  const options = (name: string, extra: pulumi.CustomResourceOptions = {}): pulumi.CustomResourceOptions => ({
    parent: opts.parent,
    dependsOn: declared.dependsOn(name),
    aliases: declared.aliases(name),
    ...extra,
  });
  for (const a of fw.aliases) {
    const name = F.alias(a.name);
    declared.add(name, new proxmox.firewall.AliasLegacy(name, { name: a.name, cidr: a.cidr, ...(a.comment ? { comment: a.comment } : {}) }, options(name, { deleteBeforeReplace: true })));
  }
  // IP set entries may name aliases: the sets come after them.
  for (const s of fw.ipsets) {
    const name = F.ipset(s.name);
    declared.add(
      name,
      new proxmox.firewall.IpsetLegacy(
        name,
        { name: s.name, cidrs: s.entries.map((e) => ({ name: e.cidr, nomatch: e.nomatch })), ...(s.comment ? { comment: s.comment } : {}) },
        options(name, { deleteBeforeReplace: true }),
      ),
    );
  }
  const takeover = (name: string, phase: "park" | "unpark") =>
    declared.add(name, new HostScriptResource(firewallTakeoverKind, name, { connection: opts.connection, script: featureScript("hypervisor", "firewall_takeover"), params: { target: "cluster", template: "", phase } }, options(name)));
  if (fw.rules.length > 0 && opts.takeover) takeover(F.takeover, "park");
  if (fw.rules.length > 0) {
    // Removing the firewall block (or its last rule) leaves the rules on the host, as the cluster
    // options stay (their delete only forgets them): the host keeps the firewall it had, never a
    // DROP policy without the rules that kept it reachable.
    declared.add(F.rules, new proxmox.firewall.RulesLegacy(F.rules, { rules: fw.rules.map(providerRule) }, options(F.rules, { retainOnDelete: true })));
  }
  if (fw.rules.length > 0 && opts.takeover === "replace") takeover(F.takeoverReplaced, "unpark");
  // Enabling (and the DROP policy) only once the rules that keep access are in place. The provider
  // sends every option on each update, `ebtables` as false unless given
  // (proxmoxtf/resource/cluster/firewall/firewall.go setOptions): Proxmox's default (1) is kept.
  // Its delete only forgets the resource: removing the block leaves the host's options as they are.
  declared.add(
    F.options,
    new proxmox.cluster.FirewallLegacy(F.options, { enabled: fw.enabled, inputPolicy: fw.inputPolicy, outputPolicy: fw.outputPolicy, ebtables: true }, options(F.options)),
  );
}

/**
 * Declares a guest's firewall: its rules, then its options after them (names and dependencies:
 * the deployment model).
 *
 * @param kind `ct` (container) or `vm`
 * @param id CTID / VMID
 * @param nodeName the guest's Proxmox node
 * @param fw the guest's firewall from the model
 * @param opts `parent` (the guest's component), `guest` (the ContainerLegacy / VmLegacy: the
 *   firewall goes with it and is recreated with it, since Proxmox removes `<vmid>.fw` with the
 *   guest), `declared` (the deployment model's resources declared so far), `dhcp` (the guest takes
 *   its address by DHCP), `connection` (the guest's node), `template` (the VMID it is cloned from)
 */
export function declareGuestFirewall(
  kind: "ct" | "vm",
  id: number,
  nodeName: string,
  fw: GuestFirewall,
  opts: { parent: pulumi.Resource; guest: pulumi.CustomResource; declared: DeclaredResources; dhcp: boolean; connection: SshTarget; template?: number },
): void {
  const names = kind === "ct" ? containerNames(id) : vmNames(id);
  const target = kind === "ct" ? { nodeName, containerId: id } : { nodeName, vmId: id };
  const { declared } = opts;
  const child = (name: string): pulumi.CustomResourceOptions => ({
    parent: opts.parent,
    dependsOn: declared.dependsOn(name),
    replaceWith: [opts.guest],
    deleteBeforeReplace: true,
    deletedWith: opts.guest,
  });
  // Declared by the deployment model when the template has rules Proxmox copied to the clone.
  if (declared.has(names.firewallInherited)) {
    declared.add(
      names.firewallInherited,
      new HostScriptResource(
        firewallTakeoverKind,
        names.firewallInherited,
        { connection: opts.connection, script: featureScript("hypervisor", "firewall_takeover"), params: { target: String(id), template: String(opts.template), phase: "" } },
        child(names.firewallInherited),
      ),
    );
  }
  if (fw.rules.length > 0) {
    declared.add(names.firewallRules, new proxmox.firewall.RulesLegacy(names.firewallRules, { ...target, rules: fw.rules.map(providerRule) }, child(names.firewallRules)));
  }
  // The provider sends every option, with defaults of its own where Proxmox's differ (ndp off,
  // radv on: proxmoxtf/resource/firewall/options.go); Phoenix sends Proxmox's defaults
  // (pve-firewall Firewall.pm vm options: macfilter 1, ndp 1, radv off), except DHCP, which a guest
  // that takes its address by DHCP needs through an input policy of DROP.
  declared.add(
    names.firewall,
    new proxmox.firewall.OptionsLegacy(
      names.firewall,
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
      child(names.firewall),
    ),
  );
}
