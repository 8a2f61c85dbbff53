// The dependency edges a host needs, asserted one by one on the deployment model of the dev stack
// (infra/deployment: the one list the program, the graph, import and policy read). Until now some
// were guarded only by the graph drawn in docs/operations.md, which `PHOENIX_UPDATE_DOCS=1`
// rewrites without a second look. Each expectation names why the order matters on a host.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";

const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
const { deploymentOf } = loadDist<typeof import("../../infra/deployment/index")>("infra/deployment/index");

const loaded = loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"));
if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
const model = loaded.model;
const deployment = deploymentOf(model);
const hostResources = deployment.resources.filter((r) => r.kind === "host" || r.kind === "host-firewall");
const byName = (name: string) => {
  const r = deployment.resources.find((x) => x.name === name && x.kind !== "component");
  if (!r) throw new Error(`no resource ${name}`);
  return r;
};
/** Names `name` waits for, directly or through others. */
function after(name: string): Set<string> {
  const seen = new Set<string>();
  const stack = byName(name).dependsOn.map((d) => d.name);
  while (stack.length) {
    const n = stack.pop()!;
    if (seen.has(n)) continue;
    seen.add(n);
    for (const r of deployment.resources.filter((x) => x.name === n)) stack.push(...r.dependsOn.map((d) => d.name));
  }
  return seen;
}
const direct = (name: string, kind?: string) => byName(name).dependsOn.filter((d) => !kind || d.kind === kind).map((d) => d.name);
const named = (prefix: string) => hostResources.filter((r) => r.name.startsWith(prefix)).map((r) => r.name);
/** The dataset resources whose mountpoint holds `p`. */
const datasetsHolding = (p: string) =>
  model.host.zfs.datasets.filter((d) => p === d.mountPoint || p.startsWith(`${d.mountPoint}/`)).map((d) => `host-zfs-dataset-${d.pool}-${d.name.replace(/\//g, "-")}`);

describe("host dependency edges of the dev stack", () => {
  it("the stack has what the edges below are about", () => {
    expect(model.host.zfs.datasets.length).toBeGreaterThan(0);
    expect(model.host.storages.length).toBeGreaterThan(0);
    expect(model.host.nfsExports.length).toBeGreaterThan(0);
    expect(model.host.samba?.shares.length).toBeGreaterThan(0);
    expect(model.containers.some((c) => c.gpus.length > 0)).toBe(true);
    expect(model.containers.some((c) => c.cloneFrom !== undefined)).toBe(true);
  });

  it("a dataset waits for its pool (zfs create needs the pool)", () => {
    for (const d of model.host.zfs.datasets) {
      expect(direct(`host-zfs-dataset-${d.pool}-${d.name.replace(/\//g, "-")}`), d.fullName).toContain(`host-zfs-pool-${d.pool}`);
    }
  });

  it("a zfspool storage waits for its dataset (proxmox_storage.sh refuses a missing dataset)", () => {
    for (const s of model.host.storages.filter((x) => x.type === "zfspool")) {
      const ds = model.host.zfs.datasets.find((d) => d.fullName === s.target)!;
      expect(ds, s.id).toBeDefined();
      expect(direct(`host-proxmox-storage-${s.id}`), s.id).toContain(`host-zfs-dataset-${ds.pool}-${ds.name.replace(/\//g, "-")}`);
    }
  });

  it("an NFS export and a Samba share wait for the dataset holding their path (the directory must exist)", () => {
    const exports = named("host-nfs-export-");
    expect(exports).toHaveLength(model.host.nfsExports.length);
    model.host.nfsExports.forEach((e, i) => {
      const holding = datasetsHolding(e.path);
      expect(holding.length, e.path).toBeGreaterThan(0);
      for (const d of holding) expect([...after(exports[i])], `${exports[i]} after ${d}`).toContain(d);
    });
    for (const s of model.host.samba!.shares) {
      const name = `host-samba-share-${s.name}`;
      for (const d of datasetsHolding(s.path)) expect([...after(name)], `${name} after ${d}`).toContain(d);
    }
  });

  it("the Samba user waits for the host user it is (samba_user.sh: 'is not a host user'); shares wait for it", () => {
    const user = `host-samba-user-${model.host.samba!.user}`;
    expect([...after(user)]).toContain(`host-admin-user-${model.host.samba!.user}`);
    for (const s of model.host.samba!.shares) expect(direct(`host-samba-share-${s.name}`)).toContain(user);
  });

  it("the NVIDIA driver waits for the initial setup (its repositories and headers); the firewall for its rules", () => {
    expect([...after("host-nvidia")]).toContain("host-initial-setup");
    expect(direct("host-firewall")).toContain("host-firewall-rules");
    expect([...after("host-firewall-rules")]).toContain("host-initial-setup");
  });

  it("every guest waits for the initial setup, its disk's storage, its node's NVIDIA driver (GPU) and its parent (clone)", () => {
    for (const c of model.containers) {
      const name = `ct-${c.ctid}`;
      expect(direct(name, "setup"), name).toContain("host-initial-setup");
      const storage = model.host.storages.find((s) => s.id === c.storagePool);
      if (storage) expect(direct(name, "storage"), name).toContain(`host-proxmox-storage-${storage.id}`);
      if (c.gpus.length > 0) expect(direct(name, "gpu"), name).toContain("host-nvidia");
      else expect(direct(name, "gpu"), name).toEqual([]);
      if (c.cloneFrom !== undefined) expect(direct(name, "clone").join(), name).toMatch(new RegExp(`^ct-${c.cloneFrom}-`));
    }
    for (const v of model.vms) {
      const name = `vm-${v.vmid}`;
      expect(direct(name, "setup"), name).toContain("host-initial-setup");
      if (v.cloneFrom !== undefined) expect(direct(name, "clone").join(), name).toMatch(new RegExp(`^vm-${v.cloneFrom}`));
    }
  });
});
