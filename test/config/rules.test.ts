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
    ],
    accepts: [["Phoenix's own application script", (f) => (ct(f, 952).application_script = "phoenix_hypervisor_lxc_vllm.sh")]],
  },
  healthCommandPaths: {
    rejects: [
      ["a check script in the Bash tool's host folder", (f) => (ct(f, 952).health_check.command = "/usr/local/phoenix_hypervisor/bin/health_checks/check_qdrant.sh"), `${LXC}: $.lxc_configs["952"].health_check.command: names /usr/local/phoenix_hypervisor/bin/health_checks/check_qdrant.sh, a host path`],
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
