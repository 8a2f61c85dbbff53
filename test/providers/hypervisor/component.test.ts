// The Hypervisor component in the offline plan of the dev stack (the real program under the mock
// monitor): the host-* resources, their dependencies in the seed's order, protect and data
// switches, and every hypervisor provider serializing.
import { beforeAll, describe, expect, it } from "vitest";
import { byName, planStack, type PlanResult } from "../../program/plan";

let dev: PlanResult;
let unprotected: PlanResult;
beforeAll(async () => {
  dev = await planStack({ stack: "dev" });
  unprotected = await planStack({ stack: "dev", config: { "phoenix:protectPools": "false", "phoenix:allowDataDestruction": "true" } });
}, 300_000);

// The host's firewall (host-firewall*) is the Firewall component's, through the Proxmox API.
const hostResources = (plan: PlanResult) => plan.resources.filter((r) => r.name.startsWith("host-") && !r.name.startsWith("host-firewall"));
const deps = (plan: PlanResult, name: string) => byName(plan, name).dependsOn.filter((d) => d.startsWith("host-"));

describe("Hypervisor component (dev stack plan)", () => {
  it("declares every step of the dev host config under the component, by the fixed names", () => {
    expect(dev.errors).toEqual([]);
    const names = hostResources(dev).map((r) => r.name).sort();
    expect(names).toEqual(
      [
        "host-initial-setup",
        "host-nvidia",
        "host-admin-user-phoenix_admin",
        "host-zfs-pool-quickOS",
        "host-zfs-pool-fastData",
        ...["vm-disks", "lxc-disks", "shared-prod-data", "vm-persistent-data"].map((d) => `host-zfs-dataset-quickOS-${d}`),
        ...["shared-bulk-data", "shared-iso", "shared-backups"].map((d) => `host-zfs-dataset-fastData-${d}`),
        ...hostResources(dev).filter((r) => r.name.startsWith("host-proxmox-storage-")).map((r) => r.name),
        "host-nfs-export-quickOS_vm-persistent-data",
        "host-samba-user-phoenix_admin",
        "host-samba-share-shared-prod-data",
        "host-samba-share-shared-bulk-data",
      ].sort(),
    );
    expect(names.filter((n) => n.startsWith("host-proxmox-storage-"))).toHaveLength(7);
    for (const r of hostResources(dev)) {
      expect(r.parent, r.name).toBe("host");
      expect(r.type).toMatch(/^pulumi-nodejs:dynamic\/phoenix:host-/);
    }
    const component = byName(dev, "host");
    expect(component.type).toBe("phoenix:hypervisor:Hypervisor");
    // Stacks made before the type token matched the class keep their state through an alias.
    expect(component.aliases.join("\n")).toContain("phoenix:hypervisor:Host");
  });

  it("orders the steps as the seed does: initial setup → NVIDIA → admin user → pools → datasets → storage → NFS → Samba", () => {
    expect(deps(dev, "host-initial-setup")).toEqual([]);
    expect(deps(dev, "host-nvidia")).toEqual(["host-initial-setup"]);
    expect(deps(dev, "host-admin-user-phoenix_admin")).toEqual(["host-nvidia"]);
    for (const p of ["quickOS", "fastData"]) expect(deps(dev, `host-zfs-pool-${p}`)).toEqual(["host-admin-user-phoenix_admin"]);
    expect(deps(dev, "host-zfs-dataset-quickOS-lxc-disks")).toEqual(["host-zfs-pool-quickOS"]);
    expect(deps(dev, "host-zfs-dataset-fastData-shared-iso")).toEqual(["host-zfs-pool-fastData"]);
    const storage = hostResources(dev).filter((r) => r.name.startsWith("host-proxmox-storage-"));
    for (const s of storage) {
      const d = deps(dev, s.name);
      expect(d).toHaveLength(1);
      expect(d[0]).toMatch(/^host-zfs-dataset-/);
    }
    expect(deps(dev, "host-nfs-export-quickOS_vm-persistent-data").sort()).toEqual(storage.map((s) => s.name).sort());
    expect(deps(dev, "host-samba-user-phoenix_admin")).toEqual(["host-nfs-export-quickOS_vm-persistent-data"]);
    for (const share of ["shared-prod-data", "shared-bulk-data"]) expect(deps(dev, `host-samba-share-${share}`)).toEqual(["host-samba-user-phoenix_admin"]);
  });

  it("carries the config's values as parameters; the password hash only as a secret", () => {
    expect(byName(dev, "host-initial-setup").inputs.params).toMatchObject({ timezone: "America/New_York", arc_max_gb: "16" });
    expect(byName(dev, "host-nvidia").inputs.params).toMatchObject({ version: "580.76.05" });
    const user = byName(dev, "host-admin-user-phoenix_admin");
    expect(user.inputs.params).toMatchObject({ username: "phoenix_admin", sudo: "1" });
    expect(user.secretInputs).toContain("secretParams");
    expect(JSON.stringify(user.inputs.params)).not.toContain("$6$");
    expect(byName(dev, "host-zfs-pool-quickOS").inputs.params).toMatchObject({ raid_level: "mirror" });
    expect(byName(dev, "host-zfs-dataset-quickOS-lxc-disks").inputs.params.properties).toBe("recordsize=16K\ncompression=lz4\nsync=standard\nquota=600G");
    expect(byName(dev, "host-nfs-export-quickOS_vm-persistent-data").inputs.params).toEqual({
      path: "/quickOS/vm-persistent-data",
      clients: "10.0.0.101 10.0.0.0/24",
      options: "rw,sync,no_subtree_check,no_root_squash",
    });
    expect(byName(dev, "host-samba-user-phoenix_admin").secretInputs).toContain("secretParams");
    expect(byName(dev, "host-samba-share-shared-prod-data").inputs.params).toMatchObject({ options: "browseable=yes\nwritable=yes", valid_users: "phoenix_admin" });
  });

  it("names NFS exports by path (removing the first renames nothing) and keeps the index names as aliases", async () => {
    expect(byName(dev, "host-nfs-export-quickOS_vm-persistent-data").aliases).toContain("host-nfs-export-0");
    const fs = await import("node:fs");
    const os = await import("node:os");
    const path = await import("node:path");
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-nfs-"));
    try {
      for (const f of fs.readdirSync("stacks/dev")) fs.copyFileSync(path.join("stacks/dev", f), path.join(dir, f));
      const host = JSON.parse(fs.readFileSync(path.join(dir, "phoenix_hypervisor_config.json"), "utf8"));
      const keep = host.nfs.exports[0];
      host.nfs.exports = [{ ...keep, path: "/srv/a_b/c" }, { ...keep, path: "/srv/a/b_c" }, keep];
      fs.writeFileSync(path.join(dir, "phoenix_hypervisor_config.json"), JSON.stringify(host));
      const three = await planStack({ stack: "dev", configDir: dir });
      expect(three.errors).toEqual([]);
      const names = (p: PlanResult) => hostResources(p).filter((r) => r.name.startsWith("host-nfs-export-")).map((r) => r.name).sort();
      expect(names(three)).toEqual(["host-nfs-export-quickOS_vm-persistent-data", "host-nfs-export-srv_a%5Fb_c", "host-nfs-export-srv_a_b%5Fc"]);
      host.nfs.exports.shift();
      fs.writeFileSync(path.join(dir, "phoenix_hypervisor_config.json"), JSON.stringify(host));
      const two = await planStack({ stack: "dev", configDir: dir });
      expect(names(two)).toEqual(["host-nfs-export-quickOS_vm-persistent-data", "host-nfs-export-srv_a_b%5Fc"]);
      expect(byName(two, "host-nfs-export-srv_a_b%5Fc").inputs.params.path).toBe("/srv/a/b_c");
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  }, 300_000);

  it("protects pools and forbids data destruction by default; the stack switches change both", () => {
    expect(byName(dev, "host-zfs-pool-quickOS").protect).toBe(true);
    expect(byName(dev, "host-zfs-pool-quickOS").inputs.allowDestroy).toBe(false);
    expect(byName(dev, "host-zfs-dataset-quickOS-lxc-disks").inputs.allowDestroy).toBe(false);
    expect(byName(unprotected, "host-zfs-pool-quickOS").protect).toBe(false);
    expect(byName(unprotected, "host-zfs-dataset-quickOS-lxc-disks").inputs.allowDestroy).toBe(true);
  });

  it("makes guests wait for the storage they use (storageReady) and GPU guests for the driver", () => {
    const guests = dev.resources.filter((r) => /^(ct|vm)-\d+$/.test(r.name) && r.custom);
    expect(guests.length).toBeGreaterThan(0);
    for (const g of guests) {
      expect(g.dependsOn.some((d) => d.startsWith("host-proxmox-storage-") || d === "host-initial-setup"), g.name).toBe(true);
    }
    // 901 is the GPU template (gpu_assignment "0").
    expect(byName(dev, "ct-901").dependsOn).toContain("host-nvidia");
  });
});
