// Plan of the dev stack's containers (offline, mock monitor, compiled components): the template
// hierarchy as dependencies on snapshot resources, the seed's step chain inside each container,
// no false dependencies, and container inputs exactly as the configuration says.
import { beforeAll, describe, expect, it } from "vitest";
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { loadDist, repoRoot } from "../load";
import { loadProvider } from "../providers/harness";
import { planContainers, type EngineRecord } from "./lxc-engine";
import type { PhoenixModel } from "../../infra/config/model";

const COMPONENT = "phoenix:lxc:LxcGuest";
/** The containers' layer of a plan: their resources and the dependencies among them (the host
 *  setup's place in the graph is tested against the plan in test/graph/graph-equals-plan.test.ts). */
const containersOnly = (records: EngineRecord[]) =>
  records.filter((r) => r.name.startsWith("ct-")).map((r) => ({ ...r, dependsOn: r.dependsOn.filter((d) => d.startsWith("ct-")) }));
/** The hash of a script as the plan carries it: composed with the libraries it includes (features/registry). */
const sha = (file: string) =>
  createHash("sha256").update(loadDist<typeof import("../../features/registry")>("features/registry").composeScript(path.join(repoRoot, file))).digest("hex");

describe("plan of the dev stack's containers", () => {
  let plan: EngineRecord[];
  let model: PhoenixModel;
  const byName = (name: string) => {
    const hits = plan.filter((r) => r.name === name && r.type !== COMPONENT);
    expect(hits, name).toHaveLength(1);
    return hits[0];
  };
  /** Every resource `name` waits for, directly or through others. */
  const upstream = (name: string): Set<string> => {
    const seen = new Set<string>();
    const walk = (n: string) => {
      for (const d of plan.find((r) => r.name === n && r.type !== COMPONENT)?.dependsOn ?? []) {
        if (!seen.has(d)) {
          seen.add(d);
          walk(d);
        }
      }
    };
    walk(name);
    return seen;
  };

  beforeAll(async () => {
    const loaded = loadDist<typeof import("../../infra/config/load")>("infra/config/load").loadPhoenixConfig(path.join(repoRoot, "stacks/dev"));
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    model = loaded.model;
    const connection = { host: "pve-dev.example.internal", port: 22, user: "root", hostKey: "SHA256:abc" };
    plan = containersOnly(await planContainers(model, { stack: "dev", configDir: path.join(repoRoot, "stacks/dev"), node: "pve", connection, nodes: [{ name: "pve", connection }], allowDataDestruction: false, protectPools: true, proxmoxSubscription: false }));
  });

  it("declares each container's steps under its component, with the fixed names", () => {
    const names = plan.filter((r) => r.type !== COMPONENT).map((r) => r.name).sort();
    expect(names).toEqual(
      [
        ...["ct-900", "ct-900-lxc-options", "ct-900-feature-base_setup", "ct-900-snapshot"],
        ...["ct-901", "ct-901-lxc-options", "ct-901-feature-nvidia", "ct-901-snapshot"],
        ...["ct-902", "ct-902-lxc-options", "ct-902-feature-docker", "ct-902-snapshot"],
        ...["ct-950", "ct-950-lxc-options", "ct-950-feature-nvidia", "ct-950-feature-vllm", "ct-950-app", "ct-950-health"],
        ...["ct-952", "ct-952-lxc-options", "ct-952-app", "ct-952-health"],
        ...["ct-955", "ct-955-lxc-options", "ct-955-feature-nvidia", "ct-955-feature-ollama", "ct-955-health"],
      ].sort(),
    );
  });

  it("clones depend on their parent template's snapshot, and siblings of one parent clone one after the other", () => {
    expect(byName("ct-901").dependsOn).toEqual(["ct-900-snapshot"]);
    // Proxmox locks the source for a whole full clone: 902 waits for 901's clone, 955 for 950's.
    expect(byName("ct-902").dependsOn).toEqual(["ct-900-snapshot", "ct-901"]);
    expect(byName("ct-950").dependsOn).toEqual(["ct-901-snapshot"]);
    expect(byName("ct-955").dependsOn).toEqual(["ct-901-snapshot", "ct-950"]);
    // 952: its parent's snapshot and, from `dependencies`, 950's last step; its only sibling-free parent.
    expect(byName("ct-952").dependsOn).toEqual(["ct-902-snapshot", "ct-950-health"]);
    expect(byName("ct-900").dependsOn).toEqual([]);
  });

  it("orders clone siblings in the graph, keeping unrelated guests parallel (no retry loops)", () => {
    const { buildGraph } = loadDist<typeof import("../../infra/graph/index")>("infra/graph/index");
    const { cloneAfter } = loadDist<typeof import("../../infra/deployment/index")>("infra/deployment/index");
    const order = buildGraph(model).edges.filter((e) => e.kind === "clone-order").map((e) => `${e.from}->${e.to}`);
    expect(order).toEqual(["ct-901->ct-902", "ct-950->ct-955"]);
    expect([...cloneAfter(model)].sort()).toEqual([[902, 901], [955, 950]]);
    // Only the sibling's container, not its steps: 902 does not wait for 901's NVIDIA install.
    expect(upstream("ct-902")).not.toContain("ct-901-feature-nvidia");
    expect(upstream("ct-955")).not.toContain("ct-950-feature-vllm");
  });

  it("chains the seed's steps inside a container: options, features in order, app, health, snapshot", () => {
    // Each step waits for the one before it (and names its container, through replaceWith).
    expect(byName("ct-950-lxc-options").dependsOn).toEqual(["ct-950"]);
    expect(byName("ct-950-feature-nvidia").dependsOn).toEqual(["ct-950", "ct-950-lxc-options"]);
    expect(byName("ct-950-feature-vllm").dependsOn).toEqual(["ct-950", "ct-950-feature-nvidia"]);
    expect(byName("ct-950-app").dependsOn).toEqual(["ct-950", "ct-950-feature-vllm"]);
    expect(byName("ct-950-health").dependsOn).toEqual(["ct-950", "ct-950-app"]);
    expect(byName("ct-900-feature-base_setup").dependsOn).toEqual(["ct-900", "ct-900-lxc-options"]);
    expect(byName("ct-900-snapshot").dependsOn).toEqual(["ct-900", "ct-900-feature-base_setup"]);
  });

  it("replaces every step of a container when the container is replaced, deleting first; deletes them with it", () => {
    for (const name of ["ct-950-lxc-options", "ct-950-feature-vllm", "ct-950-app", "ct-950-health", "ct-900-snapshot"]) {
      const container = name.replace(/^(ct-\d+).*$/, "$1");
      expect(byName(name).replaceWith, name).toEqual([container]);
      expect(byName(name).deleteBeforeReplace, name).toBe(true);
      expect(byName(name).deletedWith, name).toBe(container);
    }
    expect(byName("ct-950").deleteBeforeReplace).toBe(true);
    expect(byName("ct-950").replaceWith).toEqual([]);
  });

  it("adds no false dependencies between unrelated containers", () => {
    // 955 waits for 950's clone (same parent), never for 950's steps.
    expect([...upstream("ct-955")].filter((n) => n.startsWith("ct-950") || n.startsWith("ct-902"))).toEqual(["ct-950"]);
    expect([...upstream("ct-950")].filter((n) => n.startsWith("ct-955") || n.startsWith("ct-902"))).toEqual([]);
    expect([...upstream("ct-902")].filter((n) => n.startsWith("ct-901"))).toEqual(["ct-901"]);
    expect([...upstream("ct-901")].filter((n) => n.startsWith("ct-902"))).toEqual([]);
    expect(upstream("ct-950")).toContain("ct-900-snapshot");
  });

  it("gives the containers the configuration's values", () => {
    const root = byName("ct-900").inputs;
    expect(root).toMatchObject({
      vmId: 900,
      nodeName: "pve",
      operatingSystem: { templateFileId: model.containers[0].osTemplate, type: "ubuntu" },
      cpu: { cores: 2 },
      memory: { dedicated: 2048, swap: 512 },
      disk: { datastoreId: "quickOS-lxc-disks", size: 16 },
      initialization: { hostname: "Template-Base", ipConfigs: [{ ipv4: { address: "10.0.0.200/24", gateway: "10.0.0.1" } }] },
      networkInterfaces: [{ name: "eth0", bridge: "vmbr0", macAddress: "52:54:00:AA:BB:00" }],
      unprivileged: true,
      startOnBoot: false,
      startup: { order: 0, upDelay: 0 },
      started: false,
    });
    expect(root.clone).toBeUndefined();

    const vllm = byName("ct-950").inputs;
    expect(vllm).toMatchObject({
      vmId: 950,
      clone: { vmId: 901, full: true, datastoreId: "quickOS-lxc-disks" },
      cpu: { cores: 6 },
      memory: { dedicated: 32768, swap: 512 },
      disk: { datastoreId: "quickOS-lxc-disks", size: 64 },
      initialization: { hostname: "vllm-qwen2.5-7b-awq", ipConfigs: [{ ipv4: { address: "10.0.0.150/24", gateway: "10.0.0.1" } }] },
      networkInterfaces: [{ name: "eth0", bridge: "vmbr0", macAddress: "52:54:00:67:89:B0" }],
      startOnBoot: true,
      startup: { order: 3, upDelay: 5 },
      started: true,
      // Bind mounts and GPU devices are raw LXC lines (an API token may not set host paths or devices).
      mountPoints: [],
    });
    expect(vllm.operatingSystem).toBeUndefined();
    expect(vllm.devicePassthroughs).toBeUndefined();
    // An API token may set only nesting (900 has no flags, so 902 gets keyctl as root over SSH);
    // 952 inherits 902's keyctl: sent unchanged (no change, no 403). lxc-options owns every
    // container's whole flag set, those the API sets too (it applies their pending change).
    expect(byName("ct-902").inputs.features).toEqual({ nesting: true });
    expect(byName("ct-902-lxc-options").inputs.params.features).toBe("keyctl=1,nesting=1");
    expect(byName("ct-952").inputs.features).toEqual({ nesting: true, keyctl: true });
    expect(byName("ct-952-lxc-options").inputs.params.features).toBe("keyctl=1,nesting=1");
    // proxmox_defaults.lxc.features "nesting=1" applies to 900, which omits pct_options.
    expect(byName("ct-900").inputs.features).toEqual({ nesting: true });
    expect(byName("ct-902").inputs.started).toBe(false);
    expect(byName("ct-952").inputs.mountPoints).toEqual([{ volume: "quickOS-shared-prod-data", size: "20G", path: "/qdrant/storage" }]);
    expect(byName("ct-952").inputs.devicePassthroughs).toBeUndefined();
  });

  it("gives every GPU container, template or clone, an nvidia step carrying the host driver version", async () => {
    for (const name of ["ct-901-feature-nvidia", "ct-950-feature-nvidia", "ct-955-feature-nvidia"]) {
      expect(byName(name).inputs.params, name).toMatchObject({ env_nvidia_version: "580.76.05", script: readFileSync(path.join(repoRoot, "features/lxc/nvidia.sh"), "utf8") });
    }
    // A changed host driver changes all three steps (so each re-installs its user space), nothing else.
    const changed = structuredClone(model);
    changed.host.nvidiaDriver!.version = "580.95.05";
    const connection = { host: "pve-dev.example.internal", port: 22, user: "root", hostKey: "SHA256:abc" };
    const again: EngineRecord[] = await planContainers(changed, { stack: "dev", configDir: path.join(repoRoot, "stacks/dev"), node: "pve", connection, nodes: [{ name: "pve", connection }], allowDataDestruction: false, protectPools: true, proxmoxSubscription: false });
    const stable = loadDist<typeof import("../../providers/base/index")>("providers/base/index").stableJson;
    const differs = plan
      .filter((r) => r.type !== COMPONENT && r.inputs.params)
      .filter((r) => stable(again.find((x) => x.name === r.name && x.type === r.type)!.inputs.params) !== stable(r.inputs.params))
      .map((r) => r.name)
      .sort();
    // The templates' snapshots follow their changed steps (their trigger hashes them).
    expect(differs).toEqual(["ct-901-feature-nvidia", "ct-901-snapshot", "ct-950-feature-nvidia", "ct-955-feature-nvidia"]);
  });

  it("hands features their keys and scripts, with hashes, and takes raw LXC lines from the config", async () => {
    const vllm = byName("ct-950-feature-vllm").inputs;
    expect(vllm.scriptHash).toBe(sha("features/lxc/host/run_in_container.sh"));
    expect(vllm.params).toMatchObject({
      ctid: "950",
      step: "feature-vllm",
      script: readFileSync(path.join(repoRoot, "features/lxc/vllm.sh"), "utf8"),
      env_vllm_model: "Qwen/Qwen2.5-7B-Instruct-AWQ",
      env_vllm_port: "8000",
      env_vllm_trust_remote_code: "true",
      env_vllm_args: "--quantization\nawq\n--max-model-len\n4096\n--served-model-name\nqwen2.5-7b-awq",
    });
    expect(Object.keys(vllm.params).filter((k) => k.startsWith("env_")).every((k) => k.startsWith("env_vllm_"))).toBe(true);
    expect(byName("ct-901-feature-nvidia").inputs.params).toMatchObject({ env_nvidia_version: "580.76.05" });
    expect(byName("ct-900-feature-base_setup").inputs.params).toMatchObject({ env_timezone: "America/New_York" });
    expect(byName("ct-950-lxc-options").inputs.params).toEqual({
      ctid: "950",
      options: [
        "lxc.apparmor.profile=unconfined",
        "lxc.mount.entry=/fastData/shared-bulk-data/vllm_models vllm_models none bind,create=dir 0 0",
        "lxc.mount.entry=/dev/nvidia0 dev/nvidia0 none bind,optional,create=file",
        "lxc.mount.entry=/dev/nvidiactl dev/nvidiactl none bind,optional,create=file",
        "lxc.mount.entry=/dev/nvidia-caps dev/nvidia-caps none bind,optional,create=dir",
        "lxc.cgroup2.devices.allow=c 195:* rwm",
      ].join("\n"),
      gpus: "0",
      features: "nesting=1",
      // A clone's root disk grows to its declared size before its first step.
      rootfs_gb: "64",
      // Owned by the container's root: host UID/GID 100000 through the default unprivileged map.
      mount_sources: "100000:100000:0:/fastData/shared-bulk-data/vllm_models",
      volumes: "",
    });
    expect(byName("ct-902-lxc-options").inputs.params).toEqual({
      ctid: "902",
      options: "lxc.apparmor.profile=unconfined",
      gpus: "",
      features: "keyctl=1,nesting=1",
      rootfs_gb: "32",
      mount_sources: "",
      volumes: "",
    });
    // A root template's disk is created at its size by the API: not managed here.
    expect(byName("ct-900-lxc-options").inputs.params.rootfs_gb).toBe("");
    expect(byName("ct-950-health").inputs.params).toMatchObject({
      env_health_command: "curl -s --fail http://localhost:8000/health",
      env_health_retries: "10",
      env_health_interval: "15",
      env_check_1_name: "vLLM models endpoint",
      env_check_1_script: readFileSync(path.join(repoRoot, "features/lxc/tests/vllm/check_models.sh"), "utf8"),
    });
    expect(byName("ct-900-snapshot").inputs.params).toMatchObject({ ctid: "900", snapname: "final-form" });

    // A changed feature script is an in-place update of its step (what `pulumi preview` shows).
    const step = byName("ct-950-feature-vllm").inputs;
    const provider = await loadProvider(step.__provider);
    const changedScript = { ...step, params: { ...step.params, script: step.params.script + "\n# changed\n" } };
    expect(await provider.diff!("id", step, changedScript)).toMatchObject({ changes: true, replaces: [] });
    expect(await provider.diff!("id", step, step)).toMatchObject({ changes: false });
  });
});
