// doctor's API token check covers PCI passthrough: creating the cluster's PCI mappings needs
// Mapping.Modify on /mapping/pci (pve-manager API2/Cluster/Mapping/PCI.pm create), a VM's hostpci
// naming one Mapping.Use on /mapping/pci/<name> (qemu-server API2/Qemu.pm check_hostpci_perm).
import { afterAll, expect, it } from "vitest";
import { loadDist } from "../load";
import { cleanTempDirs, DEV_DIR, loadModel, loadMutated } from "../config/helpers";

const doctor = loadDist<typeof import("../../infra/cli/doctor")>("infra/cli/doctor");
const gpu = loadDist<typeof import("../../infra/cli/doctor-gpu")>("infra/cli/doctor-gpu");
afterAll(cleanTempDirs);

it("asks for Mapping.Modify and Mapping.Use only when the files pass PCI devices to VMs", () => {
  const r = loadMutated((f) => {
    f.host.pci_devices = { gpu1: { path: "0000:42:00", id: "10de:2204", gpu_index: 1 }, nic1: { path: "0000:02:00.0", id: "8086:1533" } };
    f.vm.vms[1].pci_devices = ["gpu1"];
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  const needs = doctor.requiredPrivileges(r.model, "pve").filter((n) => n.path.startsWith("/mapping"));
  expect(needs).toEqual([
    { path: "/mapping/pci", privs: ["Mapping.Modify"], why: "PCI mappings gpu1, nic1" },
    { path: "/mapping/pci/gpu1", privs: ["Mapping.Use"], why: "vm 8001" },
  ]);
  expect(doctor.requiredPrivileges(loadModel(DEV_DIR), "pve").some((n) => n.path.startsWith("/mapping"))).toBe(false);
});

it("an IOMMU that is off is a warning when VMs get PCI devices (a reboot follows the first up), fine otherwise", () => {
  const r = loadMutated((f) => {
    f.host.pci_devices = { nic1: { path: "0000:02:00.0", id: "8086:1533" } };
    f.vm.vms[1].pci_devices = ["nic1"];
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  const off = { iommu_groups: { code: 0, out: "" } };
  expect(gpu.gpuChecks(r.model, off, "").find((c) => c.check === "iommu")).toMatchObject({ status: "warn", found: expect.stringContaining("VM 8001 get PCI devices") });
  expect(gpu.gpuChecks(loadModel(DEV_DIR), off, "").find((c) => c.check === "iommu")).toMatchObject({ status: "ok" });
  expect(gpu.gpuChecks(r.model, { iommu_groups: { code: 0, out: "0\n1\n" } }, "").find((c) => c.check === "iommu")).toMatchObject({ status: "ok", found: "on (2 IOMMU groups): PCI devices can be given to VMs" });
});
