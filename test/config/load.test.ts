// The good inputs: the dev and prod stacks and the original-format fixture load into the model
// that the components read, with every quirk of the original files normalised.
import { afterAll, describe, expect, it } from "vitest";
import { DEV_DIR, ERROR_LINE, HOST, LXC, ORIGINAL_DIR, PROD_DIR, VM, cleanTempDirs, load, loadMutated, readFiles, writeFiles } from "./helpers";

afterAll(cleanTempDirs);

function model(dir: string, opts?: { defaultNode?: string }) {
  const r = load(dir, opts);
  if (!r.ok) throw new Error(`expected ${dir} to load:\n${r.errors.join("\n")}`);
  return r.model;
}

describe("undeclared storages", () => {
  it("a VM volume on a storage the host file does not declare loads with a warning, as for containers", () => {
    const r = loadMutated((f) => (f.vm.vms[1].volumes = [{ name: "data", pool: "old-disks", size_gb: 10 }]));
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.warnings.some((w) => w.startsWith(`${VM}: $.vms[1].volumes[0].pool: storage old-disks is not in the host config; it must already exist on the host`))).toBe(true);
    if (r.ok) expect(r.model.vms.find((v) => v.vmid === 8001)!.volumes).toEqual([{ name: "data", storage: "old-disks", sizeGb: 10, mountPoint: undefined }]);
  });
});

describe("keys Phoenix does not use", () => {
  it("are warned once per key kind, with the count of places and what the Bash tool did with them", () => {
    const r = loadMutated((f) => {
      for (const id of ["950", "952", "955"]) f.lxc.lxc_configs[id].trigger_sync_on_completion = true;
      f.lxc.lxc_configs["950"].custom_flag = 1;
    });
    expect(r.ok).toBe(true);
    const sync = r.warnings.filter((w) => w.includes("trigger_sync_on_completion"));
    expect(sync).toEqual([
      `${LXC}: $.lxc_configs["950"].trigger_sync_on_completion: unknown key, ignored (also at 2 more places: $.lxc_configs["952"].trigger_sync_on_completion, $.lxc_configs["955"].trigger_sync_on_completion); the Bash tool ran its \`phoenix sync\` after creating the guest; Phoenix has no separate sync step: each \`pulumi up\` converges what it manages (Docker stacks through Portainer are not among them)`,
    ]);
    expect(r.warnings).toContain(`${LXC}: $.lxc_configs["950"].custom_flag: unknown key, ignored`);
  });
});

describe("the dev stack", () => {
  const m = model(DEV_DIR, { defaultNode: "pve-dev" });

  it("holds the architecture guide's hierarchy", () => {
    const tree = m.containers.map((c) => [c.ctid, c.name, c.cloneFrom ?? null, c.templateSnapshotName ?? null, c.features]);
    expect(tree).toEqual([
      [900, "Template-Base", null, "final-form", ["base_setup"]],
      [901, "Template-GPU", 900, "final-form", ["nvidia"]],
      [902, "Template-Docker", 900, "final-form", ["docker"]],
      [950, "vllm-qwen2.5-7b-awq", 901, null, ["vllm"]],
      [952, "qdrant", 902, null, []],
      [955, "ollama", 901, null, ["ollama"]],
    ]);
    expect(m.vms.map((v) => [v.vmid, v.isTemplate, v.cloneFrom ?? null, v.features])).toEqual([
      [8000, true, null, []],
      [8001, false, 8000, ["base_setup", "docker"]],
    ]);
  });

  it("maps the OS template host path to a volume id on the dir storage holding it", () => {
    expect(m.containers[0].osTemplate).toBe("fastData-shared-iso:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst");
    expect(m.containers.filter((c) => c.osTemplate).map((c) => c.ctid)).toEqual([900]);
  });

  it("fills node, storage, network, GPU and application fields", () => {
    const c950 = m.containers.find((c) => c.ctid === 950)!;
    expect(c950).toMatchObject({
      node: "pve-dev",
      storagePool: "quickOS-lxc-disks",
      storageSizeGb: 64,
      network: { name: "eth0", bridge: "vmbr0", ip: "10.0.0.150/24", gateway: "10.0.0.1" },
      macAddress: "52:54:00:67:89:B0",
      gpus: [0],
      applicationScript: "phoenix_hypervisor_lxc_vllm.sh",
      healthCheck: { command: "curl -s --fail http://localhost:8000/health", retries: 10, intervalSeconds: 15 },
      bindMounts: [{ hostPath: "/fastData/shared-bulk-data/vllm_models", containerPath: "/vllm_models" }],
      extraHealthChecks: [{ name: "vLLM models endpoint", type: "script", path: "vllm/check_models.sh" }],
    });
    expect(c950.params).toMatchObject({ vllm_model: "Qwen/Qwen2.5-7B-Instruct-AWQ", vllm_port: 8000 });
    const c902 = m.containers.find((c) => c.ctid === 902)!;
    expect(c902.pctOptions).toEqual({ nesting: "1", keyctl: "1" });
    const c952 = m.containers.find((c) => c.ctid === 952)!;
    expect(c952.volumes).toEqual([{ name: "qdrant_data", storage: "quickOS-shared-prod-data", sizeGb: 20, mountPoint: "/qdrant/storage" }]);
    expect(c952.dependencies).toEqual([950]);
  });

  it("fills the host: users, network, pools, datasets, storages, NFS, Samba, driver, shared volumes", () => {
    const h = m.host;
    expect(h.timezone).toBe("America/New_York");
    expect(h.users).toHaveLength(1);
    expect(h.users[0]).toMatchObject({ username: "phoenix_admin", sudo: true });
    expect(h.users[0].passwordHash).toMatch(/^\$6\$/);
    expect(h.users[0].sshPublicKeys).toHaveLength(1);
    expect(h.network).toEqual({
      interfaceName: "vmbr0", address: "10.0.0.13/24", gateway: "10.0.0.1", dnsNameservers: ["10.0.0.1", "8.8.8.8"],
      defaultSubnet: "10.0.0.0/24", nfsServer: "10.0.0.13",
    });
    expect(h.zfs.pools.map((p) => [p.name, p.raidLevel, p.disks.length])).toEqual([["quickOS", "mirror", 2], ["fastData", "single", 1]]);
    expect(h.zfs.arcMaxGb).toBe(16);
    const lxcDisks = h.zfs.datasets.find((d) => d.fullName === "quickOS/lxc-disks")!;
    expect(lxcDisks.properties).toEqual({ recordsize: "16K", compression: "lz4", sync: "standard", quota: "600G" });
    expect(lxcDisks.mountPoint).toBe("/quickOS/lxc-disks");
    expect(lxcDisks.storage).toEqual({ id: "quickOS-lxc-disks", type: "zfspool", content: ["images", "rootdir"], target: "quickOS/lxc-disks" });
    expect(h.storages.find((s) => s.id === "fastData-shared-iso")).toEqual({ id: "fastData-shared-iso", type: "dir", content: ["iso", "vztmpl"], target: "/fastData/shared-iso" });
    expect(h.nfsExports).toEqual([{ path: "/quickOS/vm-persistent-data", clients: ["10.0.0.101", "10.0.0.0/24"], options: ["rw", "sync", "no_subtree_check", "no_root_squash"] }]);
    expect(h.samba?.shares[0]).toEqual({ name: "shared-prod-data", path: "/quickOS/shared-prod-data", options: { browseable: "yes", writable: "yes" }, validUsers: ["phoenix_admin"] });
    expect(h.nvidiaDriver).toMatchObject({ version: "580.76.05", cudaVersion: "12.8", installVllmLibs: true });
    expect(h.nvidiaDriver?.runfileUrl).toContain("NVIDIA-Linux-x86_64-580.76.05.run");
    expect(h.sharedVolumes.map((s) => s.name)).toEqual(["vllm_models", "ollama_models"]);
    expect(h.mountPointBase).toBe("/mnt/pve");
    expect(h.storageAliases.quickos_lxc).toBe("quickOS-lxc-disks");
  });

  it("fills the VMs with vm_defaults fallbacks", () => {
    const [t, d] = m.vms;
    expect(t).toMatchObject({ templateImage: "noble-server-cloudimg-amd64.img", cores: 2, memoryMb: 4096, diskSizeGb: 50, storagePool: "quickOS-vm-disks", networkBridge: "vmbr0", network: { ip: "dhcp", nameservers: [] } });
    expect(d).toMatchObject({ cores: 4, memoryMb: 8192, diskSizeGb: 100, storagePool: "quickOS-vm-disks", network: { ip: "10.0.0.101/24", gateway: "10.0.0.1", nameservers: ["10.0.0.1", "8.8.8.8"] } });
    expect(d.user?.username).toBe("phoenix_user");
    expect(d.params).toEqual({});
    expect(d.user?.passwordHash).toMatch(/^\$6\$/);
  });

  it("loads without warnings: shared_volumes.firewall is the host firewall, not a volume", () => {
    const r = load(DEV_DIR);
    expect(r.warnings).toEqual([]);
    expect(model(DEV_DIR).host.firewall).toMatchObject({ enabled: true, inputPolicy: "DROP", outputPolicy: "ACCEPT" });
  });
});

describe("the prod stack", () => {
  it("loads, larger than dev", () => {
    const m = model(PROD_DIR);
    expect(m.containers.length).toBeGreaterThan(6);
    expect(m.vms.length).toBeGreaterThan(2);
    expect(m.host.users.map((u) => u.username)).toEqual(["phoenix_admin", "ops"]);
    expect(m.containers.find((c) => c.ctid === 951)!.gpus).toEqual([0, 1]);
    expect(m.vms.find((v) => v.vmid === 8002)!.network.nameservers).toEqual(["10.0.0.1"]);
  });
});

describe("a config in the original format, as found in the wild", () => {
  const r = load(ORIGINAL_DIR);

  it("validates with warnings only", () => {
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.warnings.length).toBeGreaterThan(0);
    for (const w of r.warnings) expect(w).toMatch(ERROR_LINE);
    expect(r.warnings).toContain(`${HOST}: $.legacy_orchestrator_flags: unknown key, ignored`);
    // Its host firewall drops input: the NFS clients and Samba are cut off, and the guests' own
    // firewalls, which the Bash tool never turned on, would now drop what their rules do not accept.
    expect(r.warnings.filter((w) => w.includes("firewall")).map((w) => w.split(": ").slice(0, 2).join(": "))).toEqual([
      `${HOST}: $.nfs.exports[0].clients[0]`,
      `${HOST}: $.nfs.exports[0].clients[1]`,
      `${HOST}: $.nfs.exports[0].clients[2]`,
      `${HOST}: $.samba.shares`,
      `${LXC}: $.lxc_configs["101"].firewall`,
      `${LXC}: $.lxc_configs["950"].firewall`,
    ]);
    expect(r.warnings).toContain(`${LXC}: $.lxc_configs["950"].vllm: unknown key, ignored`);
    expect(r.warnings).toContain(`${VM}: $.vms[1].qm_options: unknown key, ignored`);
  });

  it("normalises the quirks", () => {
    if (!r.ok) throw new Error(r.errors.join("\n"));
    const m = r.model;
    // users as one object, NOT_SET password, empty ssh key
    expect(m.host.users).toEqual([{ username: "phoenix_admin", passwordHash: null, sudo: true, sshPublicKeys: [] }]);
    // DNS as a space-separated string
    expect(m.host.network.dnsNameservers).toEqual(["10.0.0.153", "8.8.8.8"]);
    // "0, 1" GPU list
    expect(m.containers.find((c) => c.ctid === 901)!.gpus).toEqual([0, 1]);
    // storage alias resolved; clone inherits storage and memory; default network string
    const c955 = m.containers.find((c) => c.ctid === 955)!;
    expect(c955.storagePool).toBe("quickOS-lxc-disks");
    expect(m.containers.find((c) => c.ctid === 901)!.storagePool).toBe("quickOS-lxc-disks");
    expect(c955.memoryMb).toBe(2048);
    expect(c955.network).toEqual({ name: "eth0", bridge: "vmbr0", ip: "10.0.0.110/24", gateway: "10.0.0.1" });
    expect(c955.lxcOptions).toEqual([
      { key: "lxc.cgroup2.devices.allow", value: "c 195:* rwm" },
      { key: "lxc.mount.entry", value: "/dev/fuse dev/fuse none bind,create=file" },
    ]);
    // A uid-only map is completed with the default gid range (Proxmox needs a gid for root too).
    expect(c955.idMaps).toEqual([
      { type: "uid", hostId: 100000, containerId: 0, size: 65536 },
      { type: "gid", hostId: 100000, containerId: 0, size: 65536 },
    ]);
    expect(c955.subIds).toEqual([]);
    // lowercase MAC normalised; numeric dependency accepted like a string one
    expect(m.containers.find((c) => c.ctid === 900)!.macAddress).toBe("52:54:00:AA:BB:CC");
    expect(m.containers.find((c) => c.ctid === 951)!.dependencies).toEqual([101]);
    // proxmox_defaults.lxc: "nesting=1" is a pct option, nesting 1 a boolean
    expect(m.host.lxcDefaults).toMatchObject({ cores: 2, memoryMb: 2048, features: [], pctOptions: { nesting: "1" }, nesting: true });
    // zfs_volumes on a storage; shared volumes into 950 and 951
    const c950 = m.containers.find((c) => c.ctid === 950)!;
    expect(c950.volumes).toEqual([{ name: "vllm_cache", storage: "fastData-shared-bulk-data", sizeGb: 50, mountPoint: "/vllm_cache" }]);
    expect(c950.bindMounts).toEqual([{ hostPath: "/mnt/pve/fastData/shared-bulk-data/vllm_models", containerPath: "/vllm_models" }]);
    expect(c950.params.vllm_engine_config).toEqual({ ModelConfig: { model: "Qwen/Qwen2.5-7B-Instruct-AWQ", dtype: "auto" }, CacheConfig: { gpu_memory_utilization: 0.5 } });
    // vm_defaults fallbacks, singular nameserver, NOT_SET VM password, NFS volume
    const vm = m.vms.find((v) => v.vmid === 8001)!;
    expect(vm).toMatchObject({ storagePool: "quickOS-vm-disks", networkBridge: "vmbr0", network: { nameservers: ["10.0.0.153"] } });
    expect(vm.user).toEqual({ username: "phoenix_user", passwordHash: undefined, sshPublicKey: undefined });
    expect(vm.nfsMounts).toEqual([{ name: "persistent-storage", server: "10.0.0.13", path: "/quickOS/vm-persistent-data/8001", mountPoint: "/persistent-storage" }]);
    // the template's quota "1.4T" stays a string
    expect(m.host.zfs.datasets.find((d) => d.name === "shared-bulk-data")!.properties.quota).toBe("1.4T");
  });
});

describe("reporting", () => {
  it("reports the errors of all three files at once", () => {
    const r = loadMutated((f) => {
      f.host.timezone = "Mars Base";
      f.lxc.lxc_configs["950"].cores = "six";
      f.vm.vms[1].name = "bad name";
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors.map((e) => e.split(": ")[0]).sort()).toEqual([HOST, LXC, VM]);
  });

  it("reports every cross-file error at once", () => {
    const r = loadMutated((f) => {
      f.lxc.lxc_configs["950"].clone_from_ctid = "999";
      f.lxc.lxc_configs["955"].network_config.ip = "10.0.0.152/24";
      f.vm.vms[1].features = ["nope"];
    });
    expect(r.ok).toBe(false);
    if (r.ok) return;
    expect(r.errors).toHaveLength(3);
  });

  it.each([
    ["null", "null"],
    ["a number", "42"],
    ["a string", '"x"'],
    ["deeply wrong types", JSON.stringify({ lxc_configs: { "900": { name: 5, features: [1, null], network_config: "x" } } })],
  ])("never throws: LXC file is %s", (_n, text) => {
    const r = load(writeFiles(readFiles(), { [LXC]: text }));
    expect(r.ok).toBe(false);
    if (r.ok) return;
    for (const e of r.errors) expect(e).toMatch(ERROR_LINE);
  });

  it("a key repeated elsewhere is a warning, the last value wins", () => {
    const files = readFiles();
    const text = JSON.stringify(files.host, null, 2).replace('"timezone": "America/New_York"', '"timezone": "UTC", "timezone": "America/New_York"');
    const r = load(writeFiles(files, { [HOST]: text }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.model.host.timezone).toBe("America/New_York");
    expect(r.warnings).toContain(`${HOST}: $.timezone: key appears twice in this object; the last value is used (as jq does)`);
  });

  it("a missing folder is one error", () => {
    const r = load("/nonexistent/phoenix");
    expect(r).toEqual({ ok: false, errors: ["/nonexistent/phoenix: $: not a directory"], warnings: [] });
  });

  it("a missing VM file means no VMs, with a warning", () => {
    const files = readFiles();
    const r = load(writeFiles({ host: files.host, lxc: files.lxc }));
    expect(r.ok).toBe(true);
    if (!r.ok) return;
    expect(r.model.vms).toEqual([]);
    expect(r.warnings.some((w) => w.startsWith(`${VM}: $: not found`))).toBe(true);
  });
});
