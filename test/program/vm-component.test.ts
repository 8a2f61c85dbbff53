// VmGuest on its own under the mock monitor, for VM shapes the dev and prod files do not hold:
// a booted VM built straight from a cloud image, extra volumes, a MAC address, NFS mounts, the
// NVIDIA feature, and the errors for VMs that cannot be built.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadDist, repoRoot } from "../load";
import { captureResources } from "../providers/harness";
import type { StackSettings } from "../../infra/settings";

const { vmStorageIds } = loadDist<typeof import("../../infra/components/vm")>("infra/components/vm");
const { declareStack } = loadDist<typeof import("../../infra/stack")>("infra/stack");
const loaded = loadDist<typeof import("../../infra/config/load")>("infra/config/load").loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"));
if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
const model = loaded.model;
const settings: StackSettings = {
  stack: "dev",
  configDir: "",
  node: "pve",
  connection: { host: "pve.example", port: 22, user: "root", hostKey: "SHA256:abc" },
  nodes: [{ name: "pve", connection: { host: "pve.example", port: 22, user: "root", hostKey: "SHA256:abc" } }],
  allowDataDestruction: false,
  protectPools: true,
  proxmoxSubscription: false,
};
const template = model.vms.find((v) => v.vmid === 8000)!;

/** Declares the dev stack with these VMs and no containers (infra/stack, as the program does). */
function declareVms(...vms: (typeof template)[]) {
  return declareStack({ ...model, containers: [], vms }, settings);
}

function vm(overrides: Record<string, unknown>) {
  return { ...structuredClone(model.vms.find((v) => v.vmid === 8001)!), ...overrides } as typeof template;
}

describe("VmGuest (mock monitor)", () => {
  it("boots a VM built straight from a cloud image, with volumes, MAC, NFS mounts and the NVIDIA feature", async () => {
    const standalone = vm({
      vmid: 8100,
      name: "gpu-vm",
      cloneFrom: undefined,
      templateImage: "noble-server-cloudimg-amd64.img",
      macAddress: "52:54:00:AA:BB:CC",
      features: ["base_setup", "nvidia"],
      volumes: [{ name: "data", storage: "quickOS-vm-persistent-data", sizeGb: 20 }],
      nfsMounts: [{ name: "shared", server: "10.0.0.13", path: "/quickOS/shared-prod-data", mountPoint: "/mnt/shared" }],
      templateSnapshotName: "provisioned",
    });
    const resources = (await captureResources(() => declareVms(standalone))).filter((r) => r.name.startsWith("vm-"));
    const names = resources.map((r) => r.name).sort();
    expect(names).toEqual(["vm-8100", "vm-8100", "vm-8100-cloud-init", "vm-8100-image", "vm-8100-snapshot", "vm-8100-user-data"]);
    const machine = resources.find((r) => r.name === "vm-8100" && r.type === "proxmoxve:index/vmLegacy:VmLegacy")!.inputs;
    expect(machine.template).toBeUndefined();
    expect(machine.started).toBe(true);
    expect(machine.clone).toBeUndefined();
    expect(machine.disks).toEqual([
      expect.objectContaining({ interface: "scsi0", fileId: "vm-8100-image-id", size: standalone.diskSizeGb }),
      expect.objectContaining({ interface: "scsi1", datastoreId: "quickOS-vm-persistent-data", size: 20 }),
    ]);
    expect(machine.networkDevices[0].macAddress).toBe("52:54:00:AA:BB:CC");
    const userData = parse(resources.find((r) => r.name === "vm-8100-user-data")!.inputs.sourceRaw.data);
    expect(userData.mounts).toEqual([["10.0.0.13:/quickOS/shared-prod-data", "/mnt/shared", "nfs", "defaults,_netdev,nofail", "0", "0"]]);
    const env = Object.fromEntries(
      (userData.write_files.find((f: { path: string; content: string }) => f.path === "/etc/phoenix/features.env").content as string)
        .trim()
        .split("\n")
        .map((l) => [l.split("=")[0], Buffer.from(l.slice(l.indexOf("=") + 1), "base64").toString()]),
    );
    expect(env).toMatchObject({ VMID: "8100", VM_NAME: "gpu-vm", TIMEZONE: model.host.timezone, NVIDIA_DRIVER_VERSION: model.host.nvidiaDriver!.version });
    const snapshot = resources.find((r) => r.name === "vm-8100-snapshot")!;
    expect(snapshot.inputs.params).toMatchObject({ vmid: "8100", name: "provisioned" });
    expect(snapshot.inputs.params.after).toBe(resources.find((r) => r.name === "vm-8100-cloud-init")!.inputs.params.user_data_sha256);
    expect(vmStorageIds(standalone, model.host).sort()).toEqual(["fastData-shared-iso", "local", "quickOS-vm-disks", "quickOS-vm-persistent-data"]);
  });

  it("gives features only the NVIDIA parameters when they ask for the driver", async () => {
    const resources = await captureResources(() => declareVms(template, vm({})));
    const text: string = resources.find((r) => r.name === "vm-8001-user-data")!.inputs.sourceRaw.data;
    const env = parse(text).write_files.find((f: { path: string; content: string }) => f.path === "/etc/phoenix/features.env").content as string;
    expect(env).not.toMatch(/^NVIDIA_/m);
  });

  it("refuses VMs that cannot be built, naming the VM", () => {
    expect(() => declareVms(vm({ vmid: 8101, cloneFrom: undefined, templateImage: undefined }))).toThrow(/vm 8101: neither clone_from_vmid nor template_image/);
    // A clone whose template is not declared (validate refuses the dangling clone_from_vmid first).
    expect(() => declareVms(vm({ vmid: 8102 }))).toThrow(/vm-8000/);
  });
});
