// PCI passthrough in the program (under the mock monitor): one hardware.mapping.PciLegacy per
// `pci_devices` name with a map per declaring node, and the VM's hostpci entries naming the
// mappings, PCIe on the q35 machine type when the VM says `pcie`.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, expect, it } from "vitest";
import { cleanTempDirs, mutatedDir, readFiles, writeFiles, HOST } from "../config/helpers";
import { repoRoot, requireNode } from "../load";
import { planStack, byName } from "./plan";

afterAll(cleanTempDirs);

const MAPPING = "proxmoxve:hardware/mapping/pciLegacy:PciLegacy";

it("declares the host's devices as mappings and gives the VM its devices by mapping, PCIe on q35", async () => {
  const dir = mutatedDir((f) => {
    f.host.pci_devices = {
      gpu1: { path: "42:00", id: "10DE:2204", subsystem_id: "1462:3881", iommu_group: 27, gpu_index: 1 },
      nic1: { path: "0000:02:00.0", id: "8086:1533" },
    };
    f.vm.vms[1].pci_devices = ["gpu1", "nic1"];
    f.vm.vms[1].pcie = true;
  });
  const plan = await planStack({ stack: "dev", configDir: dir });
  expect(plan.errors).toEqual([]);
  const gpu = byName(plan, "host-pci-mapping-gpu1", MAPPING);
  expect(gpu.inputs).toMatchObject({
    name: "gpu1",
    maps: [{ node: "pve", path: "0000:42:00", id: "10de:2204", subsystemId: "1462:3881", iommuGroup: 27 }],
  });
  // After the host's IOMMU/VFIO step, which only hosts with pci_devices get.
  expect(gpu.dependsOn).toEqual(["host-pci-passthrough"]);
  expect(byName(plan, "host-pci-passthrough").type).toBe("pulumi-nodejs:dynamic/phoenix:host-pci-passthrough");
  expect(byName(plan, "host-pci-mapping-nic1", MAPPING).inputs.maps).toEqual([{ node: "pve", path: "0000:02:00.0", id: "8086:1533" }]);
  const vm = byName(plan, "vm-8001", "proxmoxve:index/vmLegacy:VmLegacy");
  expect(vm.inputs.hostpcis).toEqual([
    { device: "hostpci0", mapping: "gpu1", pcie: true },
    { device: "hostpci1", mapping: "nic1", pcie: true },
  ]);
  expect(vm.inputs.machine).toBe("q35");
  expect(vm.dependsOn).toEqual(expect.arrayContaining(["host-pci-mapping-gpu1", "host-pci-mapping-nic1"]));
  // The template asks for nothing: no hostpci, the default machine type.
  const template = byName(plan, "vm-8000", "proxmoxve:index/vmLegacy:VmLegacy");
  expect(template.inputs.hostpcis).toBeUndefined();
  expect(template.inputs.machine).toBeUndefined();
}, 300_000);

it("without pcie: plain PCI, default machine type", async () => {
  const dir = mutatedDir((f) => {
    f.host.pci_devices = { nic1: { path: "0000:02:00.0", id: "8086:1533" } };
    f.vm.vms[1].pci_devices = ["nic1"];
  });
  const plan = await planStack({ stack: "dev", configDir: dir });
  expect(plan.errors).toEqual([]);
  const vm = byName(plan, "vm-8001", "proxmoxve:index/vmLegacy:VmLegacy");
  expect(vm.inputs.hostpcis).toEqual([{ device: "hostpci0", mapping: "nic1" }]);
  expect(vm.inputs.machine).toBeUndefined();
}, 300_000);

it("a cluster: one mapping per name, a map for each node that declares it, under the first of them", async () => {
  const base = path.join(repoRoot, "stacks", "cluster");
  const files = readFiles(base);
  const nodes = Object.fromEntries(["pve2", "pve3"].map((n) => [n, JSON.parse(fs.readFileSync(path.join(base, "nodes", n, HOST), "utf8"))]));
  files.host.pci_devices = { gpu0: { path: "0000:41:00", id: "10de:2204" } };
  nodes.pve3.pci_devices = { gpu0: { path: "0000:81:00", id: "10de:2204" } };
  files.vm.vms[1].pci_devices = ["gpu0"];
  const dir = writeFiles({ ...files, nodes });
  const plan = await planStack({ stack: "cluster", configDir: dir, config: { "phoenix:firewallLockoutAcknowledged": "true" } });
  expect(plan.errors).toEqual([]);
  const mapping = byName(plan, "host-pci-mapping-gpu0", MAPPING);
  expect(mapping.parent).toBe("host-pve1");
  expect(mapping.dependsOn.sort()).toEqual(["host-pve1-pci-passthrough", "host-pve3-pci-passthrough"]);
  expect(plan.resources.some((r) => r.name === "host-pve2-pci-passthrough")).toBe(false);
  expect(mapping.inputs.maps).toEqual([
    { node: "pve1", path: "0000:41:00", id: "10de:2204" },
    { node: "pve3", path: "0000:81:00", id: "10de:2204" },
  ]);
}, 300_000);

it("pulumi up warns REBOOT REQUIRED on host-pci-passthrough while the running kernel lacks the IOMMU, and not after", async () => {
  const dir = mutatedDir((f) => {
    f.host.pci_devices = { nic1: { path: "0000:02:00.0", id: "8086:1533" } };
    f.vm.vms[1].pci_devices = ["nic1"];
  });
  const warningsWith = async (observed: Record<string, unknown>) => {
    const pulumi = requireNode("@pulumi/pulumi");
    const warnings: string[] = [];
    const warn = pulumi.log.warn;
    pulumi.log.warn = (msg: string, ...rest: unknown[]) => {
      warnings.push(msg);
      return warn.call(pulumi.log, msg, ...rest);
    };
    try {
      const plan = await planStack({
        stack: "dev",
        configDir: dir,
        preview: false,
        async onNewResource(args) {
          if (args.name !== "host-pci-passthrough") return undefined;
          return { id: "host-pci-passthrough", state: { ...args.inputs, observed } };
        },
      });
      expect(plan.errors).toEqual([]);
    } finally {
      pulumi.log.warn = warn;
    }
    return warnings.filter((w) => w.includes("REBOOT REQUIRED for PCI passthrough"));
  };
  expect(await warningsWith({ present: true, matches: true, rebootRequired: true, rebootReason: "the running kernel was booted without intel_iommu=on" })).toEqual([
    'REBOOT REQUIRED for PCI passthrough: the running kernel was booted without intel_iommu=on. Until the host reboots, everything else works; VMs with pci_devices fail to start (Proxmox: "cannot prepare PCI pass-through, IOMMU not present"). Reboot the host when its guests allow (`reboot`), then run `pulumi up` again.',
  ]);
  expect(await warningsWith({ present: true, matches: true, rebootRequired: false, rebootReason: "" })).toEqual([]);
}, 300_000);
