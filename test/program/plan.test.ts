// The whole program under the mock monitor: what `phoenix plan` shows a reviewer.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../load";
import { byName, planStack, type PlanResult } from "./plan";

let dev: PlanResult;

beforeAll(async () => {
  dev = await planStack({ stack: "dev" });
});

/** Every resource `name` depends on, directly or through other resources. */
function transitiveDeps(plan: PlanResult, name: string): Set<string> {
  const seen = new Set<string>();
  const stack = [...byName(plan, name).dependsOn];
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const r of plan.resources.filter((x) => x.name === n)) stack.push(...r.dependsOn);
  }
  return seen;
}

describe("phoenix plan of the dev stack", () => {
  it("runs without errors and declares the host, every container and every VM", () => {
    expect(dev.errors).toEqual([]);
    const names = new Set(dev.resources.map((r) => r.name));
    for (const n of ["host", "host-initial-setup", "ct-900", "ct-901", "ct-902", "ct-950", "ct-952", "ct-955", "vm-8000", "vm-8001"]) {
      expect(names, n).toContain(n);
    }
    for (const n of ["ct-900-snapshot", "ct-901-snapshot", "ct-902-snapshot"]) expect(names, n).toContain(n);
  });

  it("gives every logical name once per type (state identity)", () => {
    const keys = dev.resources.map((r) => `${r.type}::${r.name}`);
    expect(new Set(keys).size).toBe(keys.length);
  });

  it("serializes every dynamic provider, with no test-runner or secret material captured", () => {
    const dynamic = dev.resources.filter((r) => r.type.startsWith("pulumi-nodejs:dynamic"));
    expect(dynamic.length).toBeGreaterThan(10);
    for (const r of dynamic) {
      expect(typeof r.inputs.__provider, r.name).toBe("string");
      expect(r.inputs.__provider.length, r.name).toBeGreaterThan(100);
      expect(r.inputs.__provider, r.name).not.toMatch(/__vite_ssr|vitest/);
      expect(r.inputs.__provider, r.name).not.toMatch(/BEGIN OPENSSH PRIVATE KEY|BEGIN RSA PRIVATE KEY/);
    }
  });

  it("expresses the clone hierarchy 900 → 901 → 950 as dependencies on template snapshots", () => {
    expect(byName(dev, "ct-901").dependsOn).toContain("ct-900-snapshot");
    expect(byName(dev, "ct-950").dependsOn).toContain("ct-901-snapshot");
    expect(byName(dev, "ct-955").dependsOn).toContain("ct-901-snapshot");
    expect(byName(dev, "ct-952").dependsOn).toContain("ct-902-snapshot");
    expect(transitiveDeps(dev, "ct-950")).toContain("ct-900-snapshot");
  });

  it("adds no false dependencies between unrelated guests", () => {
    // 955 and 950 are siblings: 955's clone waits for 950's (Proxmox locks the source), never
    // for 950's steps; 902's line has nothing to do with 901's steps.
    expect([...transitiveDeps(dev, "ct-955")].filter((d) => d.startsWith("ct-950"))).toEqual(["ct-950"]);
    expect(transitiveDeps(dev, "ct-950")).not.toContain("ct-955");
    expect([...transitiveDeps(dev, "ct-902")].filter((d) => d.startsWith("ct-901"))).toEqual(["ct-901"]);
    expect(transitiveDeps(dev, "ct-901")).not.toContain("ct-902-snapshot");
    expect(transitiveDeps(dev, "vm-8001")).not.toContain("ct-950");
  });

  it("turns `dependencies` entries into dependencies on the named guest's last step", () => {
    // dev: 952 (qdrant) lists 950 in `dependencies`.
    const deps = transitiveDeps(dev, "ct-952");
    expect([...deps].some((d) => d === "ct-950" || d.startsWith("ct-950-"))).toBe(true);
  });

  it("makes every guest wait for the storage its disk lives on", () => {
    for (const name of ["ct-900", "vm-8000"]) {
      const deps = transitiveDeps(dev, name);
      expect([...deps].some((d) => d.startsWith("host-proxmox-storage-") || d.startsWith("host-zfs-dataset-")), name).toBe(true);
    }
  });

  it("parents every resource under a component named for its concept", () => {
    expect(byName(dev, "ct-950", "proxmoxve:index/containerLegacy:ContainerLegacy").parent).toBe("ct-950");
    expect(byName(dev, "host-initial-setup").parent).toBe("host");
    for (const r of dev.resources.filter((x) => x.custom)) expect(r.parent, r.name).not.toBeNull();
  });
});

describe("phoenix plan from the command line", () => {
  const bin = path.join(repoRoot, "bin", "phoenix.js");

  it("prints the documented JSON shape", () => {
    const out = execFileSync(process.execPath, [bin, "plan", "--json", "--stack", "dev"], { cwd: repoRoot, encoding: "utf8" });
    const doc = JSON.parse(out);
    expect(doc.stack).toBe("dev");
    expect(doc.resources.length).toBe(dev.resources.length);
    for (const r of doc.resources) {
      expect(Object.keys(r).sort()).toEqual(["aliases", "dependsOn", "inputs", "name", "node", "options", "parent", "type", "urn"]);
      expect(Array.isArray(r.dependsOn)).toBe(true);
      expect(Object.keys(r.options).sort()).toEqual(["customTimeouts", "deleteBeforeReplace", "ignoreChanges", "protect", "replaceOnChanges", "retainOnDelete"]);
    }
    // The options as the program registered them: what a later change to the resource will do.
    const find = (name: string) => doc.resources.find((r: { name: string; type: string }) => r.name === name && r.type !== "phoenix:lxc:LxcGuest");
    expect(find("ct-950").options).toEqual({
      protect: true,
      ignoreChanges: ["clone", "operatingSystem", "features", "disk.size", "mountPoints"],
      deleteBeforeReplace: true,
      retainOnDelete: false,
      replaceOnChanges: [],
      customTimeouts: {},
    });
    expect(find("ct-950-lxc-options").options).toMatchObject({ protect: false, deleteBeforeReplace: true, ignoreChanges: [] });
  });

  it("shows each resource's inputs, secrets as [secret], without the serialized provider", () => {
    const out = execFileSync(process.execPath, [bin, "plan", "--json", "--stack", "dev"], { cwd: repoRoot, encoding: "utf8" });
    const doc = JSON.parse(out);
    const find = (name: string, type?: string) => doc.resources.find((r: { name: string; type: string }) => r.name === name && (!type || r.type === type));
    // What goes to the API...
    const ct = find("ct-902", "proxmoxve:index/containerLegacy:ContainerLegacy");
    expect(ct.inputs).toMatchObject({ vmId: 902, clone: { vmId: 900, full: true }, disk: { size: 32 } });
    expect(ct.inputs.features).toBeUndefined();
    // ... and to each host step.
    expect(find("ct-902-lxc-options").inputs.params).toMatchObject({ ctid: "902", features: "keyctl=1,nesting=1", rootfs_gb: "32" });
    for (const r of doc.resources) expect(r.inputs.__provider, r.name).toBeUndefined();
    // Secrets: masked, and their values nowhere in the output.
    const withSecrets = dev.resources.filter((r) => r.secretInputs.length > 0);
    expect(withSecrets.map((r) => r.name)).toContain("host-admin-user-phoenix_admin");
    const secretValues: string[] = [];
    for (const r of withSecrets) {
      for (const key of r.secretInputs) {
        expect(find(r.name, r.type).inputs[key], `${r.name}.${key}`).toBe("[secret]");
        const v = r.inputs[key];
        for (const x of typeof v === "object" && v ? Object.values(v) : [v]) if (typeof x === "string" && x.length >= 8) secretValues.push(x);
      }
    }
    // The admin user's password hash, at least.
    expect(secretValues.some((v) => v.startsWith("$6$"))).toBe(true);
    for (const v of secretValues) expect(out).not.toContain(JSON.stringify(v).slice(1, -1));
  });

  it("fails with file and JSON path, and no stack trace, on a bad config", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-plan-bad-"));
    for (const f of fs.readdirSync(path.join(repoRoot, "stacks", "dev"))) {
      fs.copyFileSync(path.join(repoRoot, "stacks", "dev", f), path.join(dir, f));
    }
    const lxcFile = path.join(dir, "phoenix_lxc_configs.json");
    const lxc = JSON.parse(fs.readFileSync(lxcFile, "utf8"));
    lxc.lxc_configs["950"].clone_from_ctid = "999";
    fs.writeFileSync(lxcFile, JSON.stringify(lxc));
    const res = spawnSync(process.execPath, [bin, "plan", "--stack", "dev", "--config-dir", dir], { cwd: repoRoot, encoding: "utf8" });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/phoenix_lxc_configs\.json: \$\.lxc_configs\["950"\]\.clone_from_ctid: /);
    expect(res.stderr).not.toMatch(/\n\s+at .*\.js:\d+/);
    fs.rmSync(dir, { recursive: true, force: true });
  });
});
