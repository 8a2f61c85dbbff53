// PCI passthrough keys: the host file declares devices by name (one Proxmox PCI mapping each), a VM
// names which it gets. Validate refuses what Proxmox would refuse at VM start (qemu-server PCI.pm
// parse_hostpci / parse_hostpci_devices) and a GPU given to a container and a VM at once.
import { afterAll, expect, it } from "vitest";
import { cleanTempDirs, ERROR_LINE, loadMutated, type Files } from "../config/helpers";

afterAll(cleanTempDirs);

type Json = Record<string, unknown>;
const gpu = { path: "0000:41:00", id: "10DE:2204", subsystem_id: "1462:3881", iommu_group: 27 };
const nic = { path: "02:00.0", id: "8086:1533" };

function withPci(devices: Json, vms: Record<number, Json>, lxc?: (l: Json) => void) {
  return (f: Files) => {
    (f.host as Json).pci_devices = devices;
    const list = (f.vm as { vms: Json[] }).vms;
    for (const [vmid, keys] of Object.entries(vms)) Object.assign(list.find((v) => v.vmid === Number(vmid))!, keys);
    lxc?.((f.lxc as { lxc_configs: Json }).lxc_configs);
  };
}
/** The dev stack's GPU containers (901, 950, 955 use GPU 0) without a GPU. */
const noContainerGpus = (l: Json) => {
  for (const c of Object.values(l)) (c as Json).gpu_assignment = "none";
};
function errors(r: ReturnType<typeof loadMutated>): string[] {
  expect(r.ok).toBe(false);
  if (r.ok) return [];
  for (const e of r.errors) expect(e).toMatch(ERROR_LINE);
  return r.errors;
}

it("normalises the host's devices and the VM's claim into the model", () => {
  const r = loadMutated(withPci({ gpu0: { ...gpu, gpu_index: 1 }, nic1: nic }, { 8001: { pci_devices: ["gpu0", "nic1"], pcie: true } }));
  if (!r.ok) throw new Error(r.errors.join("\n"));
  expect(r.model.host.pciDevices).toEqual([
    { name: "gpu0", path: "0000:41:00", id: "10de:2204", subsystemId: "1462:3881", iommuGroup: 27, gpuIndex: 1 },
    { name: "nic1", path: "0000:02:00.0", id: "8086:1533" },
  ]);
  const vm = r.model.vms.find((v) => v.vmid === 8001)!;
  expect(vm).toMatchObject({ pciDevices: ["gpu0", "nic1"], pcie: true });
  expect(r.model.vms.find((v) => v.vmid === 8000)).toMatchObject({ pciDevices: [], pcie: false });
});

it("refuses malformed devices, one line with file and path each", () => {
  const e = errors(loadMutated(withPci({ "0bad": nic, gpu0: { path: "41:00.8", id: "10de", gpu_index: -1 } }, {}))).join("\n");
  expect(e).toContain("phoenix_hypervisor_config.json: $.pci_devices[\"0bad\"]: \"0bad\" is not a mapping name");
  expect(e).toContain("phoenix_hypervisor_config.json: $.pci_devices.gpu0.path: must be a PCI address");
  expect(e).toContain("phoenix_hypervisor_config.json: $.pci_devices.gpu0.id: must be the vendor:device id");
  expect(e).toContain("phoenix_hypervisor_config.json: $.pci_devices.gpu0.gpu_index: must be at least 0");
});

it("refuses one device under two names (a function of a whole card too) and one GPU index twice", () => {
  const e = errors(loadMutated(withPci({ ga: { path: "0000:41:00.0", id: "10de:2204", gpu_index: 0 }, gb: { ...gpu, gpu_index: 0 }, nc: { path: "0000:02:00.0", id: "8086:1533" }, nd: { path: "02:00.0", id: "8086:1533" } }, {}))).join("\n");
  expect(e).toContain("phoenix_hypervisor_config.json: $.pci_devices.gb.path: 0000:41:00 is already pci_devices.ga (0000:41:00.0)");
  expect(e).toContain("phoenix_hypervisor_config.json: $.pci_devices.nd.path: 02:00.0 is already pci_devices.nc");
  const g = errors(loadMutated(withPci({ ga: { path: "0000:41:00.0", id: "10de:2204", gpu_index: 0 }, gb: { path: "0000:42:00.0", id: "10de:2204", gpu_index: 0 } }, {}))).join("\n");
  expect(g).toContain("$.pci_devices.gb.gpu_index: GPU index 0 is already pci_devices.ga's");
  // Proxmox's configid needs two characters at least.
  expect(errors(loadMutated(withPci({ g: nic }, {})))[0]).toContain('$.pci_devices.g: "g" is not a mapping name');
});

it("refuses an unknown name, saying what the host file declares", () => {
  const e = errors(loadMutated(withPci({ gpu0: gpu }, { 8001: { pci_devices: ["gpu1"] } }, noContainerGpus)));
  expect(e).toEqual(["phoenix_vm_configs.json: $.vms[1].pci_devices[0]: PCI device gpu1 is not in phoenix_hypervisor_config.json's pci_devices (node pve); known: gpu0"]);
  const many = errors(loadMutated(withPci({ gpu0: gpu }, { 8001: { pci_devices: Array.from({ length: 17 }, (_, i) => `d${i}x`) } })));
  expect(many).toContain("phoenix_vm_configs.json: $.vms[1].pci_devices: at most 16 devices (Proxmox's hostpci0 to hostpci15)");
  const none = errors(loadMutated(withPci({}, { 8001: { pci_devices: ["gpu1"] } })));
  expect(none[0]).toMatch(/\$\.vms\[1\]\.pci_devices\[0\]: PCI device gpu1 is not in .* declare it there/);
});

it("refuses a device listed twice, and a device given to two VMs that run (a template's claim does not count)", () => {
  const twice = errors(loadMutated(withPci({ gpu0: gpu }, { 8001: { pci_devices: ["gpu0", "gpu0"] } }, noContainerGpus)));
  expect(twice).toEqual(['phoenix_vm_configs.json: $.vms[1].pci_devices[1]: PCI device gpu0 is listed twice (Proxmox: "device assigned more than once")']);
  const two = errors(
    loadMutated((f) => {
      withPci({ gpu0: gpu }, { 8001: { pci_devices: ["gpu0"] } }, noContainerGpus)(f);
      const vms = (f.vm as { vms: Json[] }).vms;
      vms.push({ ...vms[1], vmid: 8002, name: "second-gpu-vm", mac_address: undefined, network_config: { ip: "dhcp" } });
    }),
  );
  expect(two).toEqual(["phoenix_vm_configs.json: $.vms[2].pci_devices[0]: PCI device gpu0 is already given to VM 8001: a passed-through device serves one running VM"]);
  const template = loadMutated(withPci({ gpu0: gpu }, { 8000: { pci_devices: ["gpu0"] }, 8001: { pci_devices: ["gpu0"] } }, noContainerGpus));
  if (!template.ok) throw new Error(template.errors.join("\n"));
});

it("refuses a GPU given to a container and a VM at once, by the card's gpu_index", () => {
  // The dev stack's containers 901, 950 and 955 use GPU 0.
  const e = errors(loadMutated(withPci({ gpu0: { ...gpu, gpu_index: 0 } }, { 8001: { pci_devices: ["gpu0"] } })));
  expect(e).toEqual(["phoenix_vm_configs.json: $.vms[1].pci_devices[0]: PCI device gpu0 is GPU 0, which containers 901, 950, 955 also get (gpu_assignment): a GPU given to a VM leaves the host; give it to one of them"]);
  const other = loadMutated(withPci({ gpu1: { ...gpu, gpu_index: 1 } }, { 8001: { pci_devices: ["gpu1"] } }));
  if (!other.ok) throw new Error(other.errors.join("\n"));
});

it("refuses an NVIDIA card without gpu_index while containers use GPUs (the file cannot tell which card they use)", () => {
  const e = errors(loadMutated(withPci({ gpu0: gpu }, { 8001: { pci_devices: ["gpu0"] } })));
  expect(e).toEqual(["phoenix_vm_configs.json: $.vms[1].pci_devices[0]: PCI device gpu0 is an NVIDIA card, and container 901 uses GPU 0 on node pve: set pci_devices.gpu0.gpu_index in phoenix_hypervisor_config.json (the card's index in nvidia-smi) so a GPU is not given to a container and a VM at once"]);
  // Not an NVIDIA card: nothing containers count.
  const nicOnly = loadMutated(withPci({ nic1: nic }, { 8001: { pci_devices: ["nic1"] } }));
  if (!nicOnly.ok) throw new Error(nicOnly.errors.join("\n"));
});

it("pcie without devices only warns (it sets the q35 machine type)", () => {
  const r = loadMutated(withPci({}, { 8001: { pcie: true } }));
  if (!r.ok) throw new Error(r.errors.join("\n"));
  expect(r.warnings).toContain("phoenix_vm_configs.json: $.vms[1].pcie: no pci_devices: it only sets the q35 machine type");
});
