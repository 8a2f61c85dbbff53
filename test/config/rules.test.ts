// Each cross-file rule on its own: one input it rejects (with file and path) and the nearby
// inputs it must accept, so a rule that rejects too much fails as well.
import { afterAll, describe, expect, it } from "vitest";
import { loadDist } from "../load";
import { Files, HOST, LXC, VM, cleanTempDirs, loadMutated, type Json } from "./helpers";

afterAll(cleanTempDirs);

const ct = (f: Files, id: number) => f.lxc.lxc_configs[String(id)];

type LoadOpts = { defaultNode?: string; nodes?: string[] };

function errorsOf(mutate: (f: Files) => void, opts?: LoadOpts): string[] {
  const r = loadMutated(mutate, undefined, opts);
  return r.ok ? [] : r.errors;
}

function accepts(mutate: (f: Files) => void, opts?: LoadOpts) {
  const r = loadMutated(mutate, undefined, opts);
  expect(r.ok ? [] : r.errors).toEqual([]);
  return r;
}

/** Every container (a whole clone chain) on `node`. */
const allOn = (f: Files, node: string) => {
  for (const c of Object.values<Json>(f.lxc.lxc_configs)) c.node = node;
};
/** A second node's host file: the dev host's, at another address. */
const nodeHost = (f: Files, patch: (h: Json) => void = () => {}) => {
  const h = structuredClone(f.host);
  h.network.interfaces.address = "10.0.0.14/24";
  patch(h);
  return h;
};
const CLUSTER: LoadOpts = { nodes: ["pve", "pve2"] };

/** Rules with `opts` load as a stack with those nodes (loadPhoenixConfig's `nodes`). */
const CASES: Record<string, { opts?: LoadOpts; rejects: [string, (f: Files) => void, string][]; accepts: [string, (f: Files) => void][] }> = {
  guestNodes: {
    opts: CLUSTER,
    rejects: [
      ["a container on a node the stack does not have", (f) => allOn(f, "pve3"), `${LXC}: $.lxc_configs["900"].node: node pve3 is not a node of this stack; the stack's nodes are pve, pve2`],
      ["a VM on a node the stack does not have", (f) => { f.vm.vms[0].node = "pve9"; f.vm.vms[1].node = "pve9"; }, `${VM}: $.vms[0].node: node pve9 is not a node of this stack`],
    ],
    accepts: [["every guest on the second node", (f) => { allOn(f, "pve2"); f.vm.vms[0].node = "pve2"; f.vm.vms[1].node = "pve2"; }]],
  },
  cloneSameNode: {
    opts: CLUSTER,
    rejects: [
      ["a container clone on another node than its template", (f) => (ct(f, 955).node = "pve2"), `${LXC}: $.lxc_configs["955"].node: is on node pve2, but its parent 901 is on node pve: Proxmox clones to another node only from shared storage`],
      ["a VM clone on another node than its template", (f) => (f.vm.vms[1].node = "pve2"), `${VM}: $.vms[1].node: is on node pve2, but its parent 8000 is on node pve`],
      ["a template left on the primary node (no node of its own) under a clone chain on another", (f) => { ct(f, 901).node = "pve2"; ct(f, 950).node = "pve2"; ct(f, 955).node = "pve2"; }, `${LXC}: $.lxc_configs["901"].node: is on node pve2, but its parent 900 is on node pve`],
    ],
    accepts: [["a whole clone chain on the second node", (f) => { allOn(f, "pve2"); f.vm.vms[0].node = "pve2"; f.vm.vms[1].node = "pve2"; }]],
  },
  storagesOnGuestNode: {
    opts: CLUSTER,
    rejects: [
      ["a volume on a storage only the other node's file registers", (f) => {
        f.nodes = { pve2: nodeHost(f, (h) => { h.zfs.datasets.push({ name: "pve2-only", pool: "fastData", properties: "", proxmox_storage_type: "zfspool", proxmox_content_type: "rootdir" }); h.shared_volumes = {}; }) };
        ct(f, 952).volumes = [{ name: "x", pool: "fastData-pve2-only", mount_point: "/x", size_gb: 2 }];
      }, `${LXC}: $.lxc_configs["952"].volumes[0]: container 952's volume x is on node pve, but storage fastData-pve2-only is registered only on node pve2`],
    ],
    accepts: [
      ["the same volume once both nodes' files register the storage", (f) => {
        const dataset = { name: "pve2-only", pool: "fastData", properties: "", proxmox_storage_type: "zfspool", proxmox_content_type: "rootdir" };
        f.nodes = { pve2: nodeHost(f, (h) => { h.zfs.datasets.push(structuredClone(dataset)); h.shared_volumes = {}; }) };
        f.host.zfs.datasets.push(dataset);
        ct(f, 952).volumes = [{ name: "x", pool: "fastData-pve2-only", mount_point: "/x", size_gb: 2 }];
      }],
    ],
  },
  hostPathsOnNode: {
    opts: CLUSTER,
    rejects: [
      ["a shared volume in the stack's host file mounted into a container on a node with its own file", (f) => {
        allOn(f, "pve2");
        f.nodes = { pve2: nodeHost(f, (h) => delete h.shared_volumes.vllm_models) };
        // 950 stays in the stack file's vllm_models mounts while it runs on pve2.
      }, `${HOST}: $.shared_volumes.vllm_models.mounts["950"]: container 950 is on node pve2, which does not use this host file (pve do)`],
      ["a mount_points host path only another node's datasets hold", (f) => {
        f.nodes = { pve2: nodeHost(f, (h) => h.zfs.datasets.push({ name: "gpu-scratch", pool: "fastData", properties: "" })) };
        ct(f, 952).mount_points = [{ host_path: "/fastData/gpu-scratch/cache", container_path: "/cache" }];
      }, `${LXC}: $.lxc_configs["952"].mount_points[0].host_path: /fastData/gpu-scratch/cache is described by node pve2's host config, not by node pve's`],
    ],
    accepts: [
      ["a mount_points host path under the node's own dataset", (f) => (ct(f, 952).mount_points = [{ host_path: "/fastData/shared-bulk-data/cache", container_path: "/cache" }])],
      ["a host path no node describes (judged by bindSources only)", (f) => (ct(f, 952).mount_points = [{ host_path: "/srv/cache", container_path: "/cache" }])],
    ],
  },
  uniqueIds: {
    rejects: [["a VMID that is a CTID", (f) => (f.vm.vms[1].vmid = 952), `${VM}: $.vms[1].vmid: ID 952 is also container 952`]],
    accepts: [["a VMID next to the CTIDs", (f) => (f.vm.vms[1].vmid = 953)]],
  },
  cloneParents: {
    rejects: [
      ["a missing parent", (f) => (ct(f, 955).clone_from_ctid = "903"), `${LXC}: $.lxc_configs["955"].clone_from_ctid: parent 903 does not exist`],
      ["a parent without snapshot", (f) => delete ct(f, 902).template_snapshot_name, `${LXC}: $.lxc_configs["952"].clone_from_ctid: parent 902 is not a template`],
    ],
    accepts: [
      ["a clone of a clone template", (f) => { ct(f, 952).template_snapshot_name = "base"; ct(f, 955).clone_from_ctid = "952"; ct(f, 955).storage_size_gb = 64; }],
      ["a VM template marked only by template_snapshot_name", (f) => delete f.vm.vms[0].is_template],
    ],
  },
  dependenciesExist: {
    rejects: [["a dependency on nothing", (f) => (ct(f, 950).dependencies = ["404"]), `${LXC}: $.lxc_configs["950"].dependencies[0]: 404 is neither`]],
    accepts: [["a container depending on a VM, given as a number", (f) => (ct(f, 950).dependencies = [8001])]],
  },
  noCycles: {
    rejects: [["a three-guest cycle", (f) => { ct(f, 950).dependencies = ["955"]; ct(f, 955).dependencies = ["952"]; }, `${LXC}: $.lxc_configs["950"].dependencies: cycle: 950 -> 955 -> 952 -> 950`]],
    accepts: [["a diamond", (f) => { ct(f, 955).dependencies = ["950", "952"]; f.vm.vms[1].dependencies = [955, 950]; }]],
  },
  uniqueAddresses: {
    rejects: [
      ["a VM MAC equal to a container's", (f) => (f.vm.vms[1].mac_address = "52:54:00:aa:bb:00"), `${VM}: $.vms[1].mac_address: MAC 52:54:00:AA:BB:00 is already used by container 900`],
      // The container that took the default is reported, never the one that wrote the address (902 < 955).
      ["a default IP an explicit container already uses", (f) => {
        f.host.proxmox_defaults.lxc.network_config = "10.0.0.155/24,10.0.0.1";
        delete ct(f, 902).network_config;
      }, `${LXC}: $.lxc_configs["902"]: IP (from proxmox_defaults.lxc.network_config) 10.0.0.155 is already used by container 955`],
    ],
    accepts: [["many DHCP guests", (f) => { for (const c of Object.values<Json>(f.lxc.lxc_configs)) c.network_config.ip = "dhcp"; f.vm.vms[1].network_config.ip = "dhcp"; }]],
  },
  knownFeatures: {
    rejects: [["an unknown default feature", (f) => (f.host.proxmox_defaults.lxc.features = ["nesting=1", "gpu"]), `${HOST}: $.proxmox_defaults.lxc.features: unknown feature "gpu"`]],
    accepts: [["every known container feature", (f) => (ct(f, 952).features = ["base_setup", "docker", "portainer", "python_api_service", "trusted_ca", "step_cli", "step_ca", "traefik"])]],
  },
  gpuNeedsDriver: {
    rejects: [["GPU 1 without a driver", (f) => { f.host.nvidia_driver = { install: false }; }, `${LXC}: $.lxc_configs["950"].gpu_assignment: GPU 0 assigned`]],
    accepts: [["no driver and no GPU use", (f) => {
      f.host.nvidia_driver = { install: false };
      delete f.lxc.nvidia_driver_version;
      for (const c of Object.values<Json>(f.lxc.lxc_configs)) { c.gpu_assignment = "none"; c.features = c.features.filter((x: string) => x !== "nvidia"); }
    }]],
  },
  storageContent: {
    rejects: [
      ["a container on the VM disk storage", (f) => (ct(f, 955).storage_pool = "quickOS-vm-disks"), `${LXC}: $.lxc_configs["955"].storage_pool: storage quickOS-vm-disks does not take container disks (content images; needs rootdir)`],
      ["a VM on the ISO storage", (f) => (f.vm.vms[1].storage_pool = "fastData-shared-iso"), `${VM}: $.vms[1].storage_pool: storage fastData-shared-iso does not take VM disks (content iso,vztmpl; needs images)`],
      ["a container volume on the backup storage", (f) => (ct(f, 952).volumes[0].pool = "fastData-shared-backups"), `${LXC}: $.lxc_configs["952"].volumes[0]: storage fastData-shared-backups does not take container volumes`],
    ],
    accepts: [["a VM on a storage for both", (f) => (f.vm.vms[1].storage_pool = "quickOS-lxc-disks")]],
  },
  templateSnapshotStorage: {
    rejects: [["a template on a dir storage", (f) => (ct(f, 901).storage_pool = "quickOS-vm-persistent-data"), `${LXC}: $.lxc_configs["901"].template_snapshot_name: template 901 is snapshotted, but its storage_pool is on storage quickOS-vm-persistent-data (type dir)`]],
    accepts: [["a non-template on a dir storage", (f) => (ct(f, 955).storage_pool = "quickOS-vm-persistent-data")]],
  },
  snapshotNames: {
    // A one-letter name is refused by the schema already (patterns.ts SNAPSHOT_NAME); the rule adds the reserved names.
    rejects: [["a reserved snapshot name", (f) => (ct(f, 900).template_snapshot_name = "vzdump"), `${LXC}: $.lxc_configs["900"].template_snapshot_name: Proxmox reserves the snapshot name "vzdump"`]],
    accepts: [["a two-letter snapshot name", (f) => (ct(f, 900).template_snapshot_name = "ab")]],
  },
  cloneUnprivileged: {
    rejects: [["a privileged clone of an unprivileged template", (f) => (ct(f, 950).unprivileged = false), `${LXC}: $.lxc_configs["950"].unprivileged: is false, but parent 901 is true`]],
    accepts: [["a clone repeating its parent's setting", (f) => (ct(f, 950).unprivileged = true)]],
  },
  // The full cases are in test/config/pci-passthrough.test.ts.
  pciPassthrough: {
    rejects: [
      ["a VM naming a PCI device its host file does not declare", (f) => (f.vm.vms[1].pci_devices = ["gpu0"]), `${VM}: $.vms[1].pci_devices[0]: PCI device gpu0 is not in ${HOST}'s pci_devices`],
      [
        "a container's GPU given to a VM",
        (f) => ((f.host.pci_devices = { gpu0: { path: "0000:41:00.0", id: "10de:2204", gpu_index: 0 } }), (f.vm.vms[1].pci_devices = ["gpu0"])),
        `${VM}: $.vms[1].pci_devices[0]: PCI device gpu0 is GPU 0, which containers 901, 950, 955 also get`,
      ],
    ],
    accepts: [["a GPU no container uses", (f) => ((f.host.pci_devices = { gpu1: { path: "0000:42:00.0", id: "10de:2204", gpu_index: 1 } }), (f.vm.vms[1].pci_devices = ["gpu1"]))]],
  },
  // Warns only (the Bash tool never saw such mounts): see "shared volume mounts" below and migration case cb1.
  sharedVolumeTargets: {
    rejects: [],
    accepts: [
      ["two volumes into one container", (f) => (f.host.shared_volumes.ollama_models.mounts["950"] = "/ollama_models")],
      ["a bind mount into a VM (skipped)", (f) => (f.host.shared_volumes.ollama_models.mounts["8001"] = "/models")],
    ],
  },
  scriptsExist: {
    rejects: [
      ["a missing application script", (f) => (ct(f, 952).application_script = "nope.sh"), `${LXC}: $.lxc_configs["952"].application_script: script nope.sh not found; looked in `],
      ["a missing test script", (f) => (ct(f, 950).tests.health_checks[0].path = "vllm/nope.sh"), `${LXC}: $.lxc_configs["950"].tests.health_checks[0].path: script vllm/nope.sh not found`],
      [
        "a health-check script the stack folder does not hold",
        (f) => (ct(f, 952).health_check.command = "/usr/local/phoenix_hypervisor/bin/health_checks/check_qdrant.sh"),
        `${LXC}: $.lxc_configs["952"].health_check.command: health-check script check_qdrant.sh not found; looked in `,
      ],
    ],
    accepts: [["Phoenix's own application script", (f) => (ct(f, 952).application_script = "phoenix_hypervisor_lxc_vllm.sh")]],
  },
  vmTrustedCaSource: {
    rejects: [
      ["a VM trusted_ca without a source", (f) => (f.vm.vms[1].features = [...f.vm.vms[1].features, "trusted_ca"]), `${VM}: $.vms[1].features[`],
      ["a VM trusted_ca naming a host file", (f) => Object.assign(f.vm.vms[1], { features: ["trusted_ca"], trusted_ca_cert: "/mnt/pve/quickOS/lxc-persistent-data/103/ssl/phoenix_root_ca.crt" }), `${VM}: $.vms[1].features[0]: trusted_ca in VM`],
    ],
    accepts: [
      ["a VM trusted_ca with a URL", (f) => Object.assign(f.vm.vms[1], { features: ["trusted_ca"], trusted_ca_url: "https://ca.internal.example:9000/roots.pem" })],
      ["a VM trusted_ca with the PEM", (f) => Object.assign(f.vm.vms[1], { features: ["trusted_ca"], trusted_ca_cert: "-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----" })],
    ],
  },
  appArmorProfiles: {
    rejects: [
      [
        "a custom profile the stack folder does not hold",
        (f) => (ct(f, 952).apparmor_profile = "lxc-phoenix-v2"),
        `${LXC}: $.lxc_configs["952"].apparmor_profile: AppArmor profile lxc-phoenix-v2 not found; looked in `,
      ],
    ],
    accepts: [
      ["LXC's own profile (no file)", (f) => (ct(f, 952).apparmor_profile = "lxc-container-default-cgns")],
      ["unconfined", (f) => (ct(f, 952).apparmor_profile = "unconfined")],
    ],
  },
  healthCommandPaths: {
    rejects: [
      ["a host file in the Bash tool's folder", (f) => (ct(f, 952).health_check.command = "cat /usr/local/phoenix_hypervisor/etc/qdrant.yaml"), `${LXC}: $.lxc_configs["952"].health_check.command: names /usr/local/phoenix_hypervisor/etc/qdrant.yaml, a host path`],
      ["a health-check script's host-path argument", (f) => (ct(f, 952).health_check.command = "check_qdrant.sh /usr/local/phoenix_hypervisor/etc/qdrant.yaml"), `${LXC}: $.lxc_configs["952"].health_check.command: names /usr/local/phoenix_hypervisor/etc/qdrant.yaml, a host path`],
      ["a dataset path not mounted in", (f) => (ct(f, 952).health_check.command = "test -d /fastData/shared-bulk-data/x"), `${LXC}: $.lxc_configs["952"].health_check.command: names /fastData/shared-bulk-data/x`],
    ],
    accepts: [
      ["a path inside a bind mount", (f) => (ct(f, 950).health_check.command = "test -d /vllm_models")],
      ["a container path", (f) => (ct(f, 952).health_check.command = "test -x /usr/local/bin/qdrant")],
    ],
  },
};

describe("cross-file rules", () => {
  it("every rule has its cases here", () => {
    const { RULES } = loadDist<typeof import("../../infra/config/rules")>("infra/config/rules");
    expect(Object.keys(CASES).sort()).toEqual(Object.keys(RULES).sort());
  });

  for (const [rule, cases] of Object.entries(CASES)) {
    describe(rule, () => {
      for (const [name, mutate, expected] of cases.rejects) {
        it(`rejects ${name}`, () => {
          const errors = errorsOf(mutate, cases.opts);
          expect(errors.some((e) => e.startsWith(expected)), `no "${expected}" in:\n${errors.join("\n")}`).toBe(true);
        });
      }
      for (const [name, mutate] of cases.accepts) it(`accepts ${name}`, () => void accepts(mutate, cases.opts));
    });
  }
});

describe("shared volume mounts", () => {
  it("a mount naming no container is skipped with a warning", () => {
    const r = accepts((f) => (f.host.shared_volumes.ollama_models.mounts["8001"] = "/models"));
    expect(r.warnings).toContain(`${HOST}: $.shared_volumes.ollama_models.mounts["8001"]: skipped: container 8001 does not exist (it is a VM; bind mounts are for containers)`);
  });
});

describe("storage references", () => {
  it.each(["local-lvm", "local-zfs", "local", "quickos_lxc", "quickOS-shared-prod-data"])("accepts %s", (ref) => {
    const r = accepts((f) => (ct(f, 952).storage_pool = ref));
    if (r.ok) expect(r.model.containers.find((c) => c.ctid === 952)!.storagePool).toBe(ref === "quickos_lxc" ? "quickOS-lxc-disks" : ref);
  });

  it("an alias keyed <pool>_<dataset> renames the dataset's storage, as in the original", () => {
    const r = accepts((f) => {
      f.host.proxmox_storage_ids.quickOS_lxc_disks = "ct-disks";
      for (const c of Object.values<Json>(f.lxc.lxc_configs)) c.storage_pool = "ct-disks";
    });
    if (r.ok) expect(r.model.host.storages.map((s) => s.id)).toContain("ct-disks");
  });

  it("an OS template given as a volume id is kept", () => {
    const r = accepts((f) => (ct(f, 900).template = "local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst"));
    if (r.ok) expect(r.model.containers[0].osTemplate).toBe("local:vztmpl/debian-12-standard_12.7-1_amd64.tar.zst");
  });

  it("the node extension: own node wins over the stack's; every guest's node is resolved", () => {
    const r = accepts((f) => allOn(f, "pve2"), { defaultNode: "pve", nodes: ["pve", "pve2"] });
    if (r.ok) expect(r.model.containers.map((c) => c.node)).toEqual(["pve2", "pve2", "pve2", "pve2", "pve2", "pve2"]);
    if (r.ok) expect(r.model.vms.map((v) => v.node)).toEqual(["pve", "pve"]);
    const single = accepts(() => {});
    if (single.ok) expect([...single.model.containers, ...single.model.vms].map((g) => g.node)).toEqual(Array(8).fill("pve"));
  });
});

describe("health_check naming a .sh script", () => {
  it("is found in the stack folder's health_checks/, run with its arguments, and its own path is not judged", async () => {
    const { readFiles, writeFiles, load } = await import("./helpers");
    const files = readFiles();
    ct(files, 952).health_check = { command: "/usr/local/phoenix_hypervisor/bin/health_checks/check_qdrant.sh --port 6333", retries: 4, interval: 2 };
    const dir = writeFiles(files);
    const missing = load(dir);
    expect(missing.ok ? [] : missing.errors).toEqual([
      `${LXC}: $.lxc_configs["952"].health_check.command: health-check script check_qdrant.sh not found; looked in ${dir}/health_checks/check_qdrant.sh (copy it there from the Bash tool's bin/health_checks/: it is pushed into the container and run there)`,
    ]);
    const fs = await import("node:fs");
    fs.mkdirSync(`${dir}/health_checks`);
    fs.writeFileSync(`${dir}/health_checks/check_qdrant.sh`, "#!/bin/sh\ncurl -fs http://localhost:$2\n");
    const r = load(dir);
    expect(r.ok ? [] : r.errors).toEqual([]);
    if (r.ok) expect(r.model.containers.find((c) => c.ctid === 952)!.healthCheck).toEqual({ command: "/usr/local/phoenix_hypervisor/bin/health_checks/check_qdrant.sh --port 6333", retries: 4, intervalSeconds: 2, script: { name: "check_qdrant.sh", args: ["--port", "6333"] } });
  });
});

describe("apparmor_profile", () => {
  it("a custom profile is the stack's apparmor/<name>, declaring exactly that profile", async () => {
    const { readFiles, writeFiles, load } = await import("./helpers");
    const fs = await import("node:fs");
    const files = readFiles();
    ct(files, 952).apparmor_profile = "lxc-phoenix-v2";
    const dir = writeFiles(files);
    fs.mkdirSync(`${dir}/apparmor`);
    fs.writeFileSync(`${dir}/apparmor/lxc-phoenix-v2`, "#include <tunables/global>\nprofile lxc_phoenix_v2 flags=(attach_disconnected) {\n}\n");
    const wrong = load(dir);
    expect(wrong.ok ? [] : wrong.errors).toEqual([
      `${LXC}: $.lxc_configs["952"].apparmor_profile: ${dir}/apparmor/lxc-phoenix-v2 must declare exactly profile lxc-phoenix-v2; it declares lxc_phoenix_v2 (rename the profile in the file, or the file and apparmor_profile, so they match)`,
    ]);
    // A second profile in the file (here LXC's default) would replace it for every container.
    fs.writeFileSync(`${dir}/apparmor/lxc-phoenix-v2`, "profile lxc-phoenix-v2 {\n}\nprofile lxc-container-default-cgns {\n}\n");
    const two = load(dir);
    expect(two.ok ? [] : two.errors).toHaveLength(1);
    fs.writeFileSync(`${dir}/apparmor/lxc-phoenix-v2`, "# lxc-phoenix-v2\nprofile lxc-phoenix-v2 flags=(attach_disconnected) {\n}\n");
    const r = load(dir);
    expect(r.ok ? [] : r.errors).toEqual([]);
    // The Bash tool's underscore names: lxc_phoenix_v2 is the file lxc-phoenix-v2 declaring it.
    ct(files, 952).apparmor_profile = "lxc_phoenix_v2";
    const under = writeFiles(files);
    fs.mkdirSync(`${under}/apparmor`);
    fs.writeFileSync(`${under}/apparmor/lxc-phoenix-v2`, "profile lxc_phoenix_v2 flags=(attach_disconnected) {\n}\n");
    const u = load(under);
    expect(u.ok ? [] : u.errors).toEqual([]);
    if (u.ok) {
      const { appArmorProfileOf } = loadDist<typeof import("../../infra/components/lxc")>("infra/components/lxc");
      expect(appArmorProfileOf(u.model.containers.find((c) => c.ctid === 952)!, under)).toEqual({ name: "lxc_phoenix_v2", text: "profile lxc_phoenix_v2 flags=(attach_disconnected) {\n}\n" });
    }
  });

  it("unconfined adds no profile line (Proxmox's generated profile stays, as with the Bash tool); a custom one with nesting adds LXC's nesting lines", async () => {
    const { readFiles, writeFiles, loadModel } = await import("./helpers");
    const { lxcLines } = loadDist<typeof import("../../infra/components/lxc")>("infra/components/lxc");
    const fs = await import("node:fs");
    const files = readFiles();
    ct(files, 950).apparmor_profile = "lxc-phoenix-v2";
    ct(files, 950).apparmor_manages_nesting = true;
    ct(files, 950).lxc_options = ct(files, 950).lxc_options.filter((o: string) => !o.startsWith("lxc.apparmor.profile"));
    const dir = writeFiles(files);
    fs.mkdirSync(`${dir}/apparmor`);
    fs.writeFileSync(`${dir}/apparmor/lxc-phoenix-v2`, "profile lxc-phoenix-v2 {\n}\n");
    const model = loadModel(dir);
    const byId = (id: number) => model.containers.find((c) => c.ctid === id)!;
    // 952: apparmor_profile unconfined and no raw profile line.
    expect(lxcLines(byId(952)).filter((l) => l.startsWith("lxc.apparmor"))).toEqual([]);
    // 900: unconfined through its own raw line, which stays.
    expect(lxcLines(byId(900))).toContain("lxc.apparmor.profile=unconfined");
    expect(lxcLines(byId(950)).filter((l) => /apparmor|nesting/.test(l))).toEqual([
      "lxc.apparmor.profile=lxc-phoenix-v2",
      "lxc.apparmor.allow_nesting=1",
      "lxc.include=/usr/share/lxc/config/nesting.conf",
    ]);
  });
});

describe("a stack feature written for the Bash tool's contract", () => {
  it("is refused with what to change; a feature written to run inside the container is accepted", async () => {
    const { readFiles, writeFiles, load } = await import("./helpers");
    const fs = await import("node:fs");
    const files = readFiles();
    ct(files, 952).features = [...ct(files, 952).features, "dns_server"];
    const dir = writeFiles(files);
    fs.mkdirSync(`${dir}/features/lxc`, { recursive: true });
    // The shape of the Bash tool's lxc_setup/phoenix_hypervisor_feature_install_dns_server.sh.
    const bash = '#!/bin/bash\nsource "${PHOENIX_BASE_DIR}/bin/phoenix_hypervisor_common_utils.sh"\nmain() {\n  local CTID="$1"\n  pct push "$CTID" /tmp/dnsmasq.conf /etc/dnsmasq.conf\n}\nmain "$@"\n';
    fs.writeFileSync(`${dir}/features/lxc/dns_server.sh`, bash);
    const refused = load(dir);
    const at = ct(files, 952).features.length - 1;
    expect(refused.ok ? [] : refused.errors).toEqual([
      `${LXC}: $.lxc_configs["952"].features[${at}]: ${dir}/features/lxc/dns_server.sh is written for the Bash orchestrator's feature contract (run on the host with the CTID as $1, acting through pct exec/pct push); Phoenix runs a feature script inside the container, where pct does not exist: rewrite it to run inside the container (the commands it hands to pct exec)`,
    ]);
    // Mentioning pct in a comment is not acting through it.
    fs.writeFileSync(`${dir}/features/lxc/dns_server.sh`, "#!/bin/bash\n# formerly: pct exec $CTID -- apt-get install dnsmasq\napt-get install -y dnsmasq\n");
    const r = load(dir);
    expect(r.ok ? [] : r.errors).toEqual([]);
  });
});

describe("shared_volumes mounts in a stack copied from the Bash tool", () => {
  it("are applied, and one warning names them and what the Bash tool's later versions did", async () => {
    const { readFiles, writeFiles, load } = await import("./helpers");
    const files = readFiles();
    const native = load(writeFiles(files));
    expect(native.warnings.filter((w) => w.includes("$.shared_volumes:"))).toEqual([]);
    const copied = load(writeFiles(files, { "phoenix_hypervisor_common_utils.sh": "log_info() { :; }\n" }));
    expect(copied.ok).toBe(true);
    const w = copied.warnings.filter((x) => x.startsWith(`${HOST}: $.shared_volumes:`));
    expect(w).toHaveLength(1);
    expect(w[0]).toMatch(/bind mount\(s\) are applied \(.*950:\/vllm_models.*\); the Bash orchestrator stopped applying shared_volumes mounts after its September 2025 versions/);
    if (copied.ok) expect(copied.model.containers.find((c) => c.ctid === 950)!.bindMounts.map((b) => b.containerPath)).toContain("/vllm_models");
  });
});

describe("a Samba user that is not an admin user", () => {
  it("is warned about with how to create it", () => {
    const r = loadMutated((f) => (f.host.samba.user = "heads"));
    expect(r.warnings).toContain(
      `${HOST}: $.samba.user: heads is not one of the admin users; it must already exist on the host (the Bash orchestrator created it; by hand: useradd -m -s /bin/bash heads), or add it to users for Phoenix to create it`,
    );
  });
});
