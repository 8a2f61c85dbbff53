// The resource types the deployment model names are the ones the SDKs register: the proxmoxve
// classes' own type tokens and the Phoenix dynamic kinds' (a renamed class or kind fails here).
import { describe, expect, it } from "vitest";
import { loadDist, requireNode } from "../load";

const names = loadDist<typeof import("../../infra/deployment/names")>("infra/deployment/names");
const kinds = loadDist<typeof import("../../providers/index")>("providers/index");

describe("deployment model type tokens", () => {
  it("PROXMOX_TYPES are the proxmoxve classes' __pulumiType", () => {
    const p = requireNode("@muhlba91/pulumi-proxmoxve");
    const token = (cls: unknown) => (cls as { __pulumiType: string }).__pulumiType;
    expect(names.PROXMOX_TYPES).toEqual({
      container: token(p.ContainerLegacy),
      vm: token(p.VmLegacy),
      snippet: token(p.FileLegacy),
      download: token(p.download.FileLegacy),
      firewallRules: token(p.firewall.RulesLegacy),
      firewallOptions: token(p.firewall.OptionsLegacy),
      firewallAlias: token(p.firewall.AliasLegacy),
      firewallIpset: token(p.firewall.IpsetLegacy),
      clusterFirewall: token(p.cluster.FirewallLegacy),
      pciMapping: token(p.hardware.mapping.PciLegacy),
    });
  });

  it("every dynamic kind round-trips through dynamicType / dynamicKindOf", () => {
    expect(kinds.providerKinds.length).toBeGreaterThan(10);
    for (const k of kinds.providerKinds) expect(names.dynamicKindOf(names.dynamicType(k.kind))).toBe(k.kind);
    expect(names.dynamicKindOf("proxmoxve:index/vmLegacy:VmLegacy")).toBeUndefined();
  });

  it("host names carry the node only in multi-node stacks, and start with their component's name", () => {
    expect(names.hostNames().zfsPool("tank")).toBe("host-zfs-pool-tank");
    const pve2 = names.hostNames("pve2");
    expect(pve2.zfsPool("tank")).toBe("host-pve2-zfs-pool-tank");
    for (const n of [pve2.initialSetup, pve2.nvidia, pve2.adminUser("a"), pve2.zfsDataset("p", "d/e"), pve2.proxmoxStorage("s"), pve2.nfsExport("/x"), pve2.sambaUser("u"), pve2.sambaShare("s")]) {
      expect(n.startsWith(`${pve2.component}-`), n).toBe(true);
    }
    expect(names.guestOfName("ct-950-feature-vllm")).toEqual({ kind: "lxc", id: 950 });
    expect(names.guestOfName("vm-8001")).toEqual({ kind: "vm", id: 8001 });
    expect(names.guestOfName("host-zfs-pool-ct-1")).toBeUndefined();
  });
});
