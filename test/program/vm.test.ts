// VMs in the plan of the dev stack (the whole program under the mock monitor): the template built
// from the cloud image, the clone and its cloud-init steps, dependencies, inputs that match
// phoenix_vm_configs.json, user data that is valid #cloud-config carrying the features, and the
// user's password hash and SSH key only ever inside secrets.
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import { repoRoot } from "../load";
import { byName, planStack, type PlanResult } from "./plan";

const vmFile = JSON.parse(readFileSync(path.join(repoRoot, "stacks/dev/phoenix_vm_configs.json"), "utf8"));
const raw8000 = vmFile.vms.find((v: { vmid: number }) => v.vmid === 8000);
const raw8001 = vmFile.vms.find((v: { vmid: number }) => v.vmid === 8001);
const defaults = vmFile.vm_defaults;

let dev: PlanResult;
beforeAll(async () => {
  dev = await planStack({ stack: "dev" });
});

describe("VMs in the plan of the dev stack", () => {
  it("declares each VM as a component with its steps, named vm-<vmid>[-<step>]", () => {
    expect(dev.errors).toEqual([]);
    expect(byName(dev, "vm-8000", "phoenix:vm:VmGuest").parent).toBe(null);
    for (const [name, type] of [
      ["vm-8000-image", "proxmoxve:download/fileLegacy:FileLegacy"],
      ["vm-8000", "proxmoxve:index/vmLegacy:VmLegacy"],
      ["vm-8001-user-data", "proxmoxve:index/fileLegacy:FileLegacy"],
      ["vm-8001", "proxmoxve:index/vmLegacy:VmLegacy"],
      ["vm-8001-cloud-init", "pulumi-nodejs:dynamic/phoenix:vm-cloud-init"],
    ]) {
      const r = byName(dev, name, type);
      expect(r.parent, name).toBe(name.split("-").slice(0, 2).join("-"));
    }
    // Proxmox refuses snapshots of templates: 8000's template_snapshot_name gives no snapshot step.
    expect(dev.resources.some((r) => r.name === "vm-8000-snapshot")).toBe(false);
    expect(dev.resources.some((r) => r.name === "vm-8001-snapshot")).toBe(false);
  });

  it("makes vm-8001 depend on vm-8000, and its first-boot wait on vm-8001", () => {
    const clone = byName(dev, "vm-8001", "proxmoxve:index/vmLegacy:VmLegacy");
    expect(clone.dependsOn).toContain("vm-8000");
    expect(clone.dependsOn).toContain("vm-8001-user-data");
    expect(byName(dev, "vm-8001-cloud-init").dependsOn).toContain("vm-8001");
    expect(byName(dev, "vm-8000", "proxmoxve:index/vmLegacy:VmLegacy").dependsOn).toContain("vm-8000-image");
  });

  it("makes every VM wait for the storage its disk lives on", () => {
    const host = dev.resources.filter((r) => r.name.startsWith("host-"));
    const storageSteps = host.filter((r) => /quickOS-vm-disks|vm-disks/.test(r.name)).map((r) => r.name);
    expect(storageSteps.length).toBeGreaterThan(0);
    for (const vm of ["vm-8000", "vm-8001"]) {
      const deps = byName(dev, vm, "proxmoxve:index/vmLegacy:VmLegacy").dependsOn;
      expect(deps.some((d) => storageSteps.includes(d)), `${vm} depends on one of ${storageSteps}`).toBe(true);
    }
    // The cloud image lands on the ISO storage: it is downloaded only once that storage is registered.
    expect(byName(dev, "vm-8000-image").dependsOn).toContain("host-proxmox-storage-fastData-shared-iso");
  });

  it("builds the template from the cloud image: imported disk, cloud-init drive, guest agent, template", () => {
    const image = byName(dev, "vm-8000-image").inputs;
    expect(image.url).toBe(`https://cloud-images.ubuntu.com/noble/current/${raw8000.template_image}`);
    expect(["iso", "import"]).toContain(image.contentType);
    const t = byName(dev, "vm-8000", "proxmoxve:index/vmLegacy:VmLegacy").inputs;
    expect(t).toMatchObject({
      vmId: 8000,
      name: raw8000.name,
      template: true,
      started: false,
      agent: { enabled: true },
      cpu: { cores: defaults.cores },
      memory: { dedicated: defaults.memory_mb },
      networkDevices: [{ bridge: defaults.network_bridge }],
    });
    expect(t.disks[0]).toMatchObject({ interface: "scsi0", datastoreId: defaults.storage_pool, size: defaults.disk_size_gb });
    expect(t.disks[0].fileId ?? t.disks[0].importFrom).toBe("vm-8000-image-id");
    expect(t.initialization).toMatchObject({ datastoreId: defaults.storage_pool, ipConfigs: [{ ipv4: { address: "dhcp" } }] });
  });

  it("clones vm-8001 in full with the resources, network and user data of its config", () => {
    const c = byName(dev, "vm-8001", "proxmoxve:index/vmLegacy:VmLegacy").inputs;
    expect(c).toMatchObject({
      vmId: 8001,
      name: raw8001.name,
      clone: { vmId: 8000, full: true },
      started: true,
      onBoot: raw8001.start_at_boot,
      startup: { order: raw8001.boot_order, upDelay: raw8001.boot_delay },
      agent: { enabled: true },
      cpu: { cores: raw8001.cores },
      memory: { dedicated: raw8001.memory_mb },
      networkDevices: [{ bridge: defaults.network_bridge }],
    });
    expect(c.disks[0]).toMatchObject({ interface: "scsi0", size: raw8001.disk_size_gb, datastoreId: defaults.storage_pool });
    expect(c.initialization).toMatchObject({
      ipConfigs: [{ ipv4: { address: raw8001.network_config.ip, gateway: raw8001.network_config.gw } }],
      dns: { servers: raw8001.network_config.nameservers },
      userDataFileId: "vm-8001-user-data-id",
    });
    expect(byName(dev, "vm-8001-cloud-init").inputs.params).toMatchObject({ vmid: "8001" });
  });

  it("uploads valid #cloud-config user data as a snippet, carrying the user and the features", () => {
    const snippet = byName(dev, "vm-8001-user-data").inputs;
    expect(snippet.contentType).toBe("snippets");
    const text: string = snippet.sourceRaw.data;
    expect(text.split("\n")[0]).toBe("#cloud-config");
    const doc = parse(text);
    expect(doc.hostname).toBe(raw8001.name);
    expect(doc.users).toEqual([
      expect.objectContaining({
        name: raw8001.user_config.username,
        passwd: raw8001.user_config.password_hash,
        ssh_authorized_keys: [raw8001.user_config.ssh_public_key],
        lock_passwd: false,
      }),
    ]);
    expect(doc.packages).toContain("qemu-guest-agent");
    const files = Object.fromEntries(doc.write_files.map((f: { path: string; content: string }) => [f.path, f.content]));
    for (const feature of raw8001.features) {
      expect(files[`/opt/phoenix/features/${feature}.sh`], feature).toBe(readFileSync(path.join(repoRoot, "features/vm", `${feature}.sh`), "utf8"));
    }
    expect(files["/etc/phoenix/features.list"]).toBe(raw8001.features.map((f: string) => `${f}\n`).join(""));
    expect(doc.runcmd).toContainEqual(["/opt/phoenix/features/first_boot.sh"]);
    // The wait records which user data it saw complete.
    const sha = createHash("sha256").update(text).digest("hex");
    expect(byName(dev, "vm-8001-cloud-init").inputs.params.user_data_sha256).toBe(sha);
    // Named by content, so changed user data reaches the VM as a new cloud-init drive.
    expect(snippet.sourceRaw.fileName).toBe(`phoenix-vm-8001-${sha.slice(0, 12)}.yaml`);
  });

  it("keeps the password hash and the SSH key in secrets only", () => {
    expect(byName(dev, "vm-8001-user-data").secretInputs).toContain("sourceRaw");
    const hash = raw8001.user_config.password_hash;
    const key = raw8001.user_config.ssh_public_key.split(" ")[1];
    for (const r of dev.resources) {
      for (const [k, v] of Object.entries(r.inputs)) {
        if (r.secretInputs.includes(k)) continue;
        const text = JSON.stringify(v) ?? "";
        expect(text.includes(hash), `${r.name}.${k} holds the password hash in plaintext`).toBe(false);
        expect(text.includes(key), `${r.name}.${k} holds the SSH key in plaintext`).toBe(false);
      }
    }
  });
});

describe("VM dependencies in the plan of the prod stack", () => {
  it("turns `dependencies` into dependsOn on the named guest's last step", async () => {
    const prod = await planStack({ stack: "prod" });
    expect(prod.errors).toEqual([]);
    const vm8002 = byName(prod, "vm-8002", "proxmoxve:index/vmLegacy:VmLegacy");
    expect(vm8002.dependsOn).toContain("vm-8001-cloud-init"); // dependencies: [8001]
    expect(vm8002.dependsOn).toContain("vm-8000"); // clone_from_vmid: 8000
    // `nameserver` (a string, in the original files) is a list of one.
    // The search domain is the host file's domain_name, as the Bash tool set it.
    expect(vm8002.inputs.initialization.dns).toEqual({ servers: ["10.0.0.1"], domain: "prod.phoenix.internal" });
  });
});
