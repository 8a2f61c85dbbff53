// The day-two change matrix: every key of the three files and every stack setting, changed on a
// deployed stack, and the operation Pulumi would take for each resource. The stack runs as the
// real program twice (before and after the change, planStack under the mock monitor); what Pulumi
// then does is decided as the engine and the providers decide it after the first `up`:
//   - ContainerLegacy: the state is what the proxmoxve provider read back after the first `up`
//     (provider-model.ts readContainer over the config Proxmox holds then: flags and root disk as
//     ct-<ctid>-lxc-options left them, volume ids, MAC), the engine resets ignored paths
//     (applyIgnoreChanges), the provider diffs (diffContainer: ForceNew, disk shrink);
//   - VmLegacy: the same leaf diff with the VM's ForceNew list, `node_name` ForceNew unless
//     `migrate`, and a smaller disk refused by the provider's resize ("requested size lower than
//     current size");
//   - dynamic resources: their own serialized provider's diff; `replaceWith` replaces with them;
//   - other proxmoxve resources: a changed input updates (files and downloads replace);
//   - Pulumi's `protect`: a replacement or deletion of a protected resource is refused.
// Nothing here touches a host: the engine stand-in (lxc-engine.ts) checks the same rules against
// the pct emulator.
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadDist, repoRoot } from "../load";
import { loadProvider, type LoadedProvider } from "../providers/harness";
import type { PlanResult, PlannedResource, PropertyBag } from "../../infra/cli/plan";
import { applyIgnoreChanges } from "./lxc-engine";
import { VM_FORCE_NEW, diffContainer, ignoredBy, operationOf, parsePctConfig, readContainer, type ProviderChange } from "./provider-model";

const CONTAINER = "proxmoxve:index/containerLegacy:ContainerLegacy";
const VM = "proxmoxve:index/vmLegacy:VmLegacy";

export type Operation = "same" | "create" | "update" | "replace" | "delete" | "refused";

/** What happens to one resource. */
export interface ResourceOutcome {
  name: string;
  type: string;
  op: Operation;
  /** Why (the refusal, the replacing property). */
  why?: string;
  /** Whether it holds data: a guest (its disks), or a host object whose script keeps data unless allowed. */
  holdsData: boolean;
}

/** One cell: a change on one stack. */
export interface Cell {
  change: string;
  stack: string;
  /** The program or validate refused the change (the first error line). */
  refused?: string;
  outcomes: ResourceOutcome[];
}

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any -- the users' JSON files, any shape

/** The three files (and a cluster's per-node host files) of a stack, parsed. */
export interface StackFiles {
  hypervisor: Json;
  lxc: Json;
  vm: Json;
  nodes: Record<string, Json>;
}

/** What a change may do: edit the files, override stack settings, or change the state as the host changed it. */
export interface ChangeContext {
  files: StackFiles;
  config: Record<string, string>;
  /** The stack's settings file, as strings. */
  settings: Record<string, string>;
  /** Containers and VMs to change, chosen from the stack (see targetsOf). */
  t: Targets;
  /** Host-side events: change the state the provider read back (e.g. a root disk grown by hand). */
  hostSide: ((state: Map<string, PropertyBag>) => void)[];
  /** Guests adopted with `phoenix import` instead of created by Phoenix. */
  imported: boolean;
}

/** One row of the matrix. */
export interface Change {
  /** The key path (`lxc_configs.<leaf>.cores`) or setting (`phoenix:sshHost`) or event. */
  key: string;
  /** What is changed, for the table. */
  what: string;
  /** Stacks it applies to (default all). */
  stacks?: string[];
  apply(ctx: ChangeContext): void;
}

/** The containers and VMs a change acts on, in any stack. */
export interface Targets {
  /** A clone that nothing clones from, without volumes. */
  leaf: string;
  /** A container with volumes. */
  withVolumes: string;
  /** A container template something is cloned from. */
  template: string;
  /** A VM that is not a template, and the template VM. */
  vm: number;
  vmTemplate: number;
}

function targetsOf(files: StackFiles): Targets {
  const cts = files.lxc.lxc_configs as Record<string, Json>;
  const parents = new Set(Object.values(cts).map((c) => String(c.clone_from_ctid ?? "")));
  const needed = new Set(Object.values(cts).flatMap((c) => (c.dependencies ?? []).map(String)));
  const ids = Object.keys(cts);
  const leaf = ids.find((id) => cts[id].clone_from_ctid && !parents.has(id) && !needed.has(id) && !(cts[id].volumes ?? []).length && !cts[id].template_snapshot_name)!;
  const withVolumes = ids.find((id) => (cts[id].volumes ?? []).length)!;
  const template = ids.find((id) => parents.has(id))!;
  const vms = files.vm.vms as Json[];
  return { leaf, withVolumes, template, vm: vms.find((v) => !v.is_template)!.vmid, vmTemplate: vms.find((v) => v.is_template)!.vmid };
}

const ct = (ctx: ChangeContext, id: string): Json => ctx.files.lxc.lxc_configs[id];
const vmOf = (ctx: ChangeContext, id: number): Json => (ctx.files.vm.vms as Json[]).find((v) => v.vmid === id)!;
/** Another address in the container's subnet, free in the stack (`.2xx`). */
const nextIp = (ip: string, last: number) => ip.replace(/\.\d+\//, `.${last}/`);

/** The rows: every key of the three files, every stack setting, and the host-side events. */
export const CHANGES: Change[] = [
  { key: "(none)", what: "a second `up` right after the first", apply: () => {} },
  { key: "(refresh)", what: "`refresh` right after `up`, then `up`", apply: () => {} },
  { key: "(host) root disk", what: "a container's root disk grown on the host (`pct resize`)", apply: (c) => c.hostSide.push((s) => grow(s, `ct-${c.t.leaf}`, 20)) },
  { key: "(host) VM disk", what: "a VM's disk grown on the host (`qm resize`)", apply: (c) => c.hostSide.push((s) => growVm(s, `vm-${c.t.vm}`, 20)) },
  { key: "(import)", what: "guests adopted with `phoenix import`, first `up`", apply: (c) => (c.imported = true) },
  // phoenix_lxc_configs.json
  { key: "lxc_configs.<ctid>.name", what: "hostname", apply: (c) => (ct(c, c.t.leaf).name = `${ct(c, c.t.leaf).name}-b`) },
  { key: "lxc_configs.<ctid>.cores", what: "cores + 2", apply: (c) => (ct(c, c.t.leaf).cores = (ct(c, c.t.leaf).cores ?? 2) + 2) },
  { key: "lxc_configs.<ctid>.memory_mb", what: "memory doubled", apply: (c) => (ct(c, c.t.leaf).memory_mb = (ct(c, c.t.leaf).memory_mb ?? 2048) * 2) },
  { key: "lxc_configs.<ctid>.swap_mb", what: "swap 1024", apply: (c) => (ct(c, c.t.leaf).swap_mb = 1024) },
  { key: "lxc_configs.<ctid>.storage_size_gb (grow)", what: "root disk + 16 GB", apply: (c) => (ct(c, c.t.leaf).storage_size_gb += 16) },
  { key: "lxc_configs.<ctid>.storage_size_gb (shrink)", what: "root disk − 8 GB", apply: (c) => (ct(c, c.t.leaf).storage_size_gb -= 8) },
  { key: "lxc_configs.<ctid>.storage_pool", what: "another storage", apply: (c) => (ct(c, c.t.leaf).storage_pool = otherStorage(c, ct(c, c.t.leaf).storage_pool)) },
  { key: "lxc_configs.<ctid>.network_config.ip", what: "another address", apply: (c) => (ct(c, c.t.leaf).network_config.ip = nextIp(ct(c, c.t.leaf).network_config.ip, 231)) },
  { key: "lxc_configs.<ctid>.network_config.gw", what: "another gateway", apply: (c) => (ct(c, c.t.leaf).network_config.gw = ct(c, c.t.leaf).network_config.ip.replace(/\.\d+\/\d+$/, ".254")) },
  { key: "lxc_configs.<ctid>.mac_address", what: "another MAC", apply: (c) => (ct(c, c.t.leaf).mac_address = "52:54:00:12:34:99") },
  { key: "lxc_configs.<ctid>.unprivileged", what: "privileged", apply: (c) => (ct(c, c.t.leaf).unprivileged = false) },
  { key: "lxc_configs.<ctid>.clone_from_ctid", what: "another parent template", apply: (c) => (ct(c, c.t.leaf).clone_from_ctid = otherTemplate(c)) },
  { key: "lxc_configs.<ctid>.template_snapshot_name", what: "a template's snapshot renamed", apply: (c) => (ct(c, c.t.template).template_snapshot_name = "renamed-snapshot") },
  { key: "lxc_configs.<ctid>.template", what: "a root template's OS template", apply: (c) => (ct(c, rootTemplate(c)).template = String(ct(c, rootTemplate(c)).template).replace("ubuntu-24.04-standard_24.04-2", "ubuntu-24.04-standard_24.04-3")) },
  { key: "lxc_configs.<ctid>.features", what: "a feature added", apply: (c) => (ct(c, c.t.leaf).features = [...(ct(c, c.t.leaf).features ?? []), "trusted_ca"]) },
  { key: "lxc_configs.<ctid>.pct_options", what: "a flag added (fuse=1)", apply: (c) => (ct(c, c.t.leaf).pct_options = [...(ct(c, c.t.leaf).pct_options ?? []), "fuse=1"]) },
  { key: "lxc_configs.<ctid>.lxc_options", what: "a raw line added", apply: (c) => (ct(c, c.t.leaf).lxc_options = [...(ct(c, c.t.leaf).lxc_options ?? []), "lxc.cgroup2.devices.allow=c 10:200 rwm"]) },
  { key: "lxc_configs.<ctid>.apparmor_profile", what: "the AppArmor profile removed", apply: (c) => { delete ct(c, c.t.leaf).apparmor_profile; ct(c, c.t.leaf).lxc_options = (ct(c, c.t.leaf).lxc_options ?? []).filter((l: string) => !/apparmor/.test(l)); } },
  { key: "lxc_configs.<ctid>.start_at_boot", what: "flipped", apply: (c) => (ct(c, c.t.leaf).start_at_boot = !ct(c, c.t.leaf).start_at_boot) },
  { key: "lxc_configs.<ctid>.boot_order", what: "boot order + 1", apply: (c) => (ct(c, c.t.leaf).boot_order = (ct(c, c.t.leaf).boot_order ?? 1) + 1) },
  { key: "lxc_configs.<ctid>.boot_delay", what: "boot delay + 5", apply: (c) => (ct(c, c.t.leaf).boot_delay = (ct(c, c.t.leaf).boot_delay ?? 0) + 5) },
  { key: "lxc_configs.<ctid>.gpu_assignment", what: "its GPU taken away", apply: (c) => (ct(c, c.t.leaf).gpu_assignment = "none") },
  { key: "lxc_configs.<ctid>.health_check", what: "more retries", apply: (c) => (ct(c, c.t.leaf).health_check = { command: "true", retries: 7, interval: 5 }) },
  { key: "lxc_configs.<ctid>.dependencies", what: "a dependency added", apply: (c) => (ct(c, c.t.leaf).dependencies = [...(ct(c, c.t.leaf).dependencies ?? []), rootTemplate(c)]) },
  { key: "lxc_configs.<ctid>.volumes (grow)", what: "a volume + 10 GB", apply: (c) => (ct(c, c.t.withVolumes).volumes[0].size_gb += 10) },
  { key: "lxc_configs.<ctid>.volumes (add)", what: "a volume added", apply: (c) => ct(c, c.t.withVolumes).volumes.push({ ...ct(c, c.t.withVolumes).volumes[0], name: "extra", size_gb: 5, mount_point: "/extra" }) },
  { key: "lxc_configs.<ctid>.volumes (remove)", what: "a volume removed", apply: (c) => (ct(c, c.t.withVolumes).volumes = []) },
  { key: "lxc_configs.<ctid>.mount_points", what: "a bind mount added", apply: (c) => (ct(c, c.t.leaf).mount_points = [...(ct(c, c.t.leaf).mount_points ?? []), { host_path: "/srv/extra-data", container_path: "/data" }]) },
  { key: "lxc_configs.<ctid>.firewall", what: "a guest firewall with one rule", apply: (c) => (ct(c, c.t.leaf).firewall = { enabled: true, rules: [{ type: "in", action: "ACCEPT", proto: "tcp", port: "22", source: "10.0.0.0/24" }] }) },
  { key: "lxc_configs.<ctid>.<app parameter>", what: "an application parameter (`vllm_max_model_len`...)", apply: (c) => changeAppParameter(ct(c, c.t.leaf)) },
  { key: "lxc_configs.<ctid>.node", what: "moved to another node", stacks: ["cluster"], apply: (c) => (ct(c, c.t.leaf).node = otherNode(c, ct(c, c.t.leaf).node)) },
  { key: "lxc_configs.<new ctid>", what: "a container added", apply: (c) => (c.files.lxc.lxc_configs["990"] = { ...structuredClone(ct(c, c.t.leaf)), name: "added-ct", network_config: { ...ct(c, c.t.leaf).network_config, ip: nextIp(ct(c, c.t.leaf).network_config.ip, 247) }, mac_address: "52:54:00:12:34:98" }) },
  { key: "lxc_configs.<ctid> (removed)", what: "a container removed", apply: (c) => delete c.files.lxc.lxc_configs[c.t.leaf] },
  // phoenix_vm_configs.json
  { key: "vms[].cores", what: "cores + 2", apply: (c) => (vmOf(c, c.t.vm).cores = (vmOf(c, c.t.vm).cores ?? 2) + 2) },
  { key: "vms[].memory_mb", what: "memory doubled", apply: (c) => (vmOf(c, c.t.vm).memory_mb = (vmOf(c, c.t.vm).memory_mb ?? 4096) * 2) },
  { key: "vms[].disk_size_gb (grow)", what: "disk + 20 GB", apply: (c) => (vmOf(c, c.t.vm).disk_size_gb = (vmOf(c, c.t.vm).disk_size_gb ?? 50) + 20) },
  { key: "vms[].disk_size_gb (shrink)", what: "disk − 10 GB", apply: (c) => (vmOf(c, c.t.vm).disk_size_gb = (vmOf(c, c.t.vm).disk_size_gb ?? 50) - 10) },
  { key: "vms[].network_config.ip", what: "another address", apply: (c) => (vmOf(c, c.t.vm).network_config.ip = nextIp(vmOf(c, c.t.vm).network_config.ip, 233)) },
  { key: "vms[].user_config.ssh_public_key", what: "another SSH key (user data)", apply: (c) => (vmOf(c, c.t.vm).user_config.ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMatrixMatrixMatrixMatrixMatrixMatrixMatrix0 matrix@test") },
  { key: "vms[].features", what: "a feature added (user data)", apply: (c) => (vmOf(c, c.t.vm).features = [...(vmOf(c, c.t.vm).features ?? []), "portainer"]) },
  { key: "vms[].clone_from_vmid", what: "cloned from nothing else (removed, template image given)", apply: (c) => { delete vmOf(c, c.t.vm).clone_from_vmid; vmOf(c, c.t.vm).template_image = vmOf(c, c.t.vmTemplate).template_image; } },
  { key: "vms[].template_image", what: "a newer cloud image for the template", apply: (c) => (vmOf(c, c.t.vmTemplate).template_image = "plucky-server-cloudimg-amd64.img") },
  { key: "vms[].start_at_boot", what: "flipped", apply: (c) => (vmOf(c, c.t.vm).start_at_boot = !vmOf(c, c.t.vm).start_at_boot) },
  { key: "vms[].node", what: "moved to another node", stacks: ["cluster"], apply: (c) => (vmOf(c, c.t.vm).node = otherNode(c, vmOf(c, c.t.vm).node)) },
  { key: "vms[] (removed)", what: "a VM removed", apply: (c) => (c.files.vm.vms = (c.files.vm.vms as Json[]).filter((v) => v.vmid !== c.t.vm)) },
  { key: "vm_defaults.cores", what: "default cores + 1", apply: (c) => (c.files.vm.vm_defaults.cores = (c.files.vm.vm_defaults.cores ?? 2) + 1) },
  // phoenix_hypervisor_config.json
  { key: "timezone", what: "another timezone", apply: (c) => (c.files.hypervisor.timezone = "Europe/Berlin") },
  { key: "users[].ssh_public_key", what: "the admin's key", apply: (c) => (firstUser(c).ssh_public_key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMatrixMatrixMatrixMatrixMatrixMatrixMatrix1 admin@test") },
  { key: "users[].username", what: "the admin renamed", apply: (c) => (firstUser(c).username = "phoenix_admin2") },
  { key: "nfs.exports[].clients", what: "a client added", apply: (c) => c.files.hypervisor.nfs.exports[0].clients.push("10.0.0.77") },
  { key: "samba.shares[].options", what: "read-only", apply: (c) => (c.files.hypervisor.samba.shares[0].options = "browseable=yes writable=no") },
  { key: "zfs.arc_max_gb", what: "ARC + 4 GB", apply: (c) => (c.files.hypervisor.zfs.arc_max_gb += 4) },
  { key: "zfs.pools[].raid_level", what: "another RAID level", apply: (c) => (c.files.hypervisor.zfs.pools[0].raid_level = c.files.hypervisor.zfs.pools[0].raid_level === "mirror" ? "raidz1" : "mirror") },
  { key: "zfs.datasets[].properties", what: "compression zstd", apply: (c) => (c.files.hypervisor.zfs.datasets[0].properties = String(c.files.hypervisor.zfs.datasets[0].properties).replace("compression=lz4", "compression=zstd")) },
  { key: "zfs.datasets[] (added)", what: "a dataset added", apply: (c) => c.files.hypervisor.zfs.datasets.push({ name: "matrix-data", pool: c.files.hypervisor.zfs.pools[0].name, properties: "compression=lz4" }) },
  { key: "proxmox_defaults.lxc.cores", what: "default cores + 1", apply: (c) => (c.files.hypervisor.proxmox_defaults.lxc.cores = (c.files.hypervisor.proxmox_defaults.lxc.cores ?? 2) + 1) },
  { key: "nvidia_driver.version", what: "another driver version", apply: (c) => setDriver(c, "580.95.05") },
  { key: "shared_volumes.<name>.mounts", what: "mounted into one more container", apply: (c) => addSharedMount(c) },
  { key: "domain_name", what: "another search domain", apply: (c) => (c.files.hypervisor.domain_name = "matrix.example.internal") },
  // Stack settings
  { key: "phoenix:sshHost", what: "another name of the same machine (same pinned key)", apply: (c) => renameHost(c, "same") },
  { key: "phoenix:sshHostKey", what: "another machine (another pinned key)", apply: (c) => renameHost(c, "other") },
  { key: "phoenix:sshPort", what: "2222", apply: (c) => (c.config["phoenix:sshPort"] = "2222") },
  { key: "phoenix:sshUser", what: "another user (with sudo)", apply: (c) => Object.assign(c.config, { "phoenix:sshUser": "deploy", "phoenix:sshSudo": "true" }) },
  { key: "phoenix:node", what: "the primary node renamed (single node: every guest's node)", stacks: ["dev", "prod"], apply: (c) => (c.config["phoenix:node"] = "pve-new") },
  { key: "phoenix:allowDataDestruction", what: "true", apply: (c) => (c.config["phoenix:allowDataDestruction"] = "true") },
  { key: "phoenix:protectPools", what: "false", apply: (c) => (c.config["phoenix:protectPools"] = "false") },
  { key: "phoenix:proxmoxSubscription", what: "true", apply: (c) => (c.config["phoenix:proxmoxSubscription"] = "true") },
  { key: "phoenix:managementNetwork", what: "another network", apply: (c) => (c.config["phoenix:managementNetwork"] = "10.0.9.0/24") },
  { key: "phoenix:allowRawLxc", what: "true", apply: (c) => (c.config["phoenix:allowRawLxc"] = "true") },
  { key: "phoenix:allowHostPaths", what: "true", apply: (c) => (c.config["phoenix:allowHostPaths"] = "true") },
  { key: "phoenix:sshInsecureIgnoreHostKey", what: "true", apply: (c) => (c.config["phoenix:sshInsecureIgnoreHostKey"] = "true") },
];

function changeAppParameter(c: Json): void {
  const key = Object.keys(c).find((k) => /^(vllm|ollama|portainer)_/.test(k) && (typeof c[k] === "number" || typeof c[k] === "string"));
  if (key) c[key] = typeof c[key] === "number" ? c[key] + 1 : `${c[key]}-b`;
}

function growVm(state: Map<string, PropertyBag>, name: string, gb: number): void {
  const s = state.get(name);
  if (s?.disks?.[0]) s.disks[0] = { ...s.disks[0], size: Number(s.disks[0].size) + gb };
}

function grow(state: Map<string, PropertyBag>, name: string, gb: number): void {
  const s = state.get(name);
  if (s) s.disk = { ...s.disk, size: Number(s.disk.size) + gb };
}

function otherStorage(c: ChangeContext, current: string): string {
  const ids = Object.values(c.files.hypervisor.proxmox_storage_ids ?? {}) as string[];
  return ids.find((id) => id !== current && /disks/i.test(id)) ?? ids.find((id) => id !== current) ?? "local-lvm";
}

function rootTemplate(c: ChangeContext): string {
  return Object.keys(c.files.lxc.lxc_configs).find((id) => ct(c, id).template && !ct(c, id).clone_from_ctid)!;
}

function otherTemplate(c: ChangeContext): string {
  const leaf = ct(c, c.t.leaf);
  const node = leaf.node;
  const templates = Object.keys(c.files.lxc.lxc_configs).filter((id) => ct(c, id).template_snapshot_name && id !== String(leaf.clone_from_ctid) && ct(c, id).node === node);
  return templates[0] ?? String(leaf.clone_from_ctid);
}

function otherNode(c: ChangeContext, current: string | undefined): string {
  const nodes = Object.keys(JSON.parse(c.settings["phoenix:nodes"] ?? "{}"));
  return nodes.find((n) => n !== (current ?? c.settings["phoenix:node"])) ?? "pve2";
}

function firstUser(c: ChangeContext): Json {
  const u = c.files.hypervisor.users;
  return Array.isArray(u) ? u[0] : u;
}

function setDriver(c: ChangeContext, version: string): void {
  for (const h of [c.files.hypervisor, ...Object.values(c.files.nodes)]) if (h.nvidia_driver) h.nvidia_driver.version = version;
  if (c.files.lxc.nvidia_driver_version) c.files.lxc.nvidia_driver_version = version;
}

function addSharedMount(c: ChangeContext): void {
  const volumes = c.files.hypervisor.shared_volumes as Record<string, Json>;
  const name = Object.keys(volumes).find((k) => volumes[k].host_path && volumes[k].mounts);
  if (name) volumes[name].mounts[c.t.leaf] = "/mnt/matrix";
}

/** sshHost (or, in a cluster, the primary node's sshHost) renamed: same machine or another one. */
function renameHost(c: ChangeContext, machine: "same" | "other"): void {
  if (c.settings["phoenix:nodes"]) {
    const nodes = JSON.parse(c.settings["phoenix:nodes"]);
    const first = Object.keys(nodes)[0];
    nodes[first] = { ...nodes[first], sshHost: "10.0.0.21", ...(machine === "other" ? { sshHostKey: "SHA256:ANOTHER-MACHINE" } : {}) };
    c.config["phoenix:nodes"] = JSON.stringify(nodes);
  } else {
    c.config["phoenix:sshHost"] = "10.0.0.2";
    if (machine === "other") c.config["phoenix:sshHostKey"] = "SHA256:ANOTHER-MACHINE";
  }
}

/** The stack's files, as committed (stacks/<stack>, nodes/ included). */
export function stackFiles(stack: string): StackFiles {
  const dir = path.join(repoRoot, "stacks", stack);
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(dir, f), "utf8"));
  const nodes: Record<string, Json> = {};
  const nodesDir = path.join(dir, "nodes");
  if (fs.existsSync(nodesDir)) for (const n of fs.readdirSync(nodesDir)) nodes[n] = JSON.parse(fs.readFileSync(path.join(nodesDir, n, "phoenix_hypervisor_config.json"), "utf8"));
  return { hypervisor: read("phoenix_hypervisor_config.json"), lxc: read("phoenix_lxc_configs.json"), vm: read("phoenix_vm_configs.json"), nodes };
}

function writeStack(files: StackFiles): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-matrix-"));
  const put = (f: string, v: Json) => fs.writeFileSync(path.join(dir, f), JSON.stringify(v, null, 4));
  put("phoenix_hypervisor_config.json", files.hypervisor);
  put("phoenix_lxc_configs.json", files.lxc);
  put("phoenix_vm_configs.json", files.vm);
  for (const [n, h] of Object.entries(files.nodes)) {
    fs.mkdirSync(path.join(dir, "nodes", n), { recursive: true });
    fs.writeFileSync(path.join(dir, "nodes", n, "phoenix_hypervisor_config.json"), JSON.stringify(h, null, 4));
  }
  return dir;
}

/**
 * What Proxmox holds for a container after the first `up` (its `pct config`): the API's settings,
 * then what ct-<ctid>-lxc-options set as root (the whole flag set, the root disk grown to size),
 * volumes as Proxmox names them, a MAC Proxmox chose when none was given.
 */
function configAfterUp(c: PropertyBag, options: PropertyBag | undefined): string {
  const lines: string[] = [];
  const p = options?.params ?? {};
  lines.push(`cores: ${c.cpu?.cores ?? 1}`, `memory: ${c.memory?.dedicated ?? 512}`, `swap: ${c.memory?.swap ?? 0}`);
  if (c.description) lines.push(`description: ${c.description}`);
  lines.push(`hostname: ${c.initialization?.hostname ?? ""}`);
  const api = Object.entries(c.features ?? {}).map(([k, v]) => (k === "mounts" ? `mount=${(v as string[]).join(";")}` : `${k}=${v ? 1 : 0}`)).join(",");
  const features = p.features && p.features !== "nesting=0" ? p.features : p.features === "nesting=0" ? "" : api;
  if (features) lines.push(`features: ${features}`);
  const net = c.networkInterfaces?.[0] ?? {};
  const ip = c.initialization?.ipConfigs?.[0]?.ipv4 ?? {};
  lines.push(`net0: ${[`name=${net.name}`, `bridge=${net.bridge}`, `hwaddr=${net.macAddress ?? "BC:24:11:AA:BB:CC"}`, net.firewall && "firewall=1", `ip=${ip.address}`, ip.gateway && `gw=${ip.gateway}`].filter(Boolean).join(",")}`);
  if (c.initialization?.dns?.servers) lines.push(`nameserver: ${c.initialization.dns.servers.join(" ")}`);
  if (c.initialization?.dns?.domain) lines.push(`searchdomain: ${c.initialization.dns.domain}`);
  lines.push(`onboot: ${c.startOnBoot ? 1 : 0}`);
  if (c.startup) lines.push(`startup: ${[c.startup.order !== undefined && `order=${c.startup.order}`, c.startup.upDelay !== undefined && `up=${c.startup.upDelay}`].filter(Boolean).join(",")}`);
  if (c.operatingSystem?.type) lines.push(`ostype: ${c.operatingSystem.type}`);
  const size = Math.max(Number(c.disk?.size ?? 4), Number(p.rootfs_gb || 0));
  lines.push(`rootfs: ${c.disk?.datastoreId}:subvol-${c.vmId}-disk-0,size=${size}G`);
  (c.mountPoints ?? []).forEach((m: PropertyBag, i: number) => lines.push(`mp${i}: ${m.volume}:subvol-${c.vmId}-disk-${i + 1},mp=${m.path},size=${m.size}`));
  lines.push(`unprivileged: ${c.unprivileged ? 1 : 0}`);
  for (const m of c.idmaps ?? []) lines.push(`lxc.idmap: ${m.type === "uid" ? "u" : "g"} ${m.containerId} ${m.hostId} ${m.size}`);
  return lines.join("\n");
}

/** What `phoenix import` stores for a container the Bash tool built: what the provider reads, no
 *  clone or template file, the Bash tool's description, the inputs taken from it. */
function importedState(c: PropertyBag, options: PropertyBag | undefined): PropertyBag {
  const bash = { ...c, description: "Bash orchestrator container" };
  return readContainer(parsePctConfig(configAfterUp(bash, options)), { vmId: c.vmId, nodeName: c.nodeName });
}

const VM_DEFAULTS: Record<string, unknown> = { migrate: false };

/** The provider's diff of a VM against its last inputs (what vmRead stores for what Phoenix sets). */
function diffVm(state: PropertyBag, inputs: PropertyBag, ignoreChanges: string[]): ProviderChange[] {
  const changes: ProviderChange[] = [];
  const bare = (p: string) => p.replace(/\[\d+\]/g, "[]");
  const forceNew = (p: string) => VM_FORCE_NEW.some((f) => bare(p) === f || bare(p).startsWith(`${f}.`)) || p.startsWith("clone");
  const walk = (o: unknown, n: unknown, p: string) => {
    if (n && typeof n === "object" && !Array.isArray(n)) {
      for (const k of new Set([...Object.keys(n), ...(o && typeof o === "object" && !Array.isArray(o) ? Object.keys(o) : [])])) walk((o as PropertyBag | undefined)?.[k], (n as PropertyBag)[k], p ? `${p}.${k}` : k);
      return;
    }
    if (Array.isArray(n) && n.some((x) => x && typeof x === "object")) {
      const olds = Array.isArray(o) ? o : [];
      if (olds.length !== n.length) changes.push({ path: p, from: o, to: n, replaces: forceNew(p) });
      else n.forEach((x, i) => walk(olds[i], x, `${p}[${i}]`));
      return;
    }
    const next = n === undefined ? VM_DEFAULTS[p] : n;
    if (next === undefined || JSON.stringify(o ?? VM_DEFAULTS[p]) === JSON.stringify(next)) return;
    const replaces = forceNew(p) || (p === "nodeName" && !inputs.migrate);
    changes.push({ path: p, from: o, to: next, replaces });
  };
  walk(state, inputs, "");
  return changes.filter((c) => !ignoreChanges.some((i) => ignoredBy(c.path, i)));
}

/** Every data holder: guests, and host objects whose scripts keep data unless allowed (`allowDestroy`). */
function holdsData(r: PlannedResource): boolean {
  return r.type === CONTAINER || r.type === VM || (r.inputs && "allowDestroy" in r.inputs && /zfs-pool|zfs-dataset|nfs|samba|admin-user/.test(r.name));
}

/**
 * The operation Pulumi takes for each resource between two runs of the program: `before` is
 * what the first `up` deployed (and `state` what the providers stored for it), `after` the
 * program with the change.
 */
export async function operations(before: PlanResult, after: PlanResult, opts: { hostSide?: ChangeContext["hostSide"]; imported?: boolean } = {}): Promise<ResourceOutcome[]> {
  const old = new Map(before.resources.filter((r) => r.custom).map((r) => [r.urn, r]));
  const byName = (plan: PlanResult, name: string) => plan.resources.find((r) => r.name === name && r.type.endsWith("lxc-options"));
  const state = new Map<string, PropertyBag>();
  for (const r of before.resources.filter((x) => x.type === CONTAINER)) {
    const options = byName(before, `${r.name}-lxc-options`);
    state.set(r.name, opts.imported ? importedState(r.inputs, options?.inputs) : readContainer(parsePctConfig(configAfterUp(r.inputs, options?.inputs)), r.inputs));
  }
  // vmRead stores what Phoenix sets as Proxmox has it: the last inputs, until the host changes.
  for (const r of before.resources.filter((x) => x.type === VM)) state.set(r.name, structuredClone(r.inputs));
  for (const f of opts.hostSide ?? []) f(state);
  const out: ResourceOutcome[] = [];
  const replaced = new Set<string>();
  const seen = new Set<string>();
  const refuseProtected = (o: ResourceOutcome, prior: PlannedResource, now: PlannedResource | undefined) => {
    if ((o.op === "replace" || o.op === "delete") && prior.protect && (!now || now.protect)) {
      o.why = `${o.op === "replace" ? "replacing" : "deleting"} it is refused: it is protected (${o.why ?? "Pulumi protect"}); set phoenix:allowDataDestruction to allow it`;
      o.op = "refused";
    }
  };
  for (const r of after.resources.filter((x) => x.custom)) {
    const prior = old.get(r.urn) ?? [...old.values()].find((p) => r.aliases.some((a) => a === p.urn || a.endsWith(`::${p.name}`)) && p.type === r.type);
    const o: ResourceOutcome = { name: r.name, type: r.type, op: "same", holdsData: holdsData(r) };
    out.push(o);
    if (!prior) {
      o.op = "create";
      continue;
    }
    seen.add(prior.urn);
    try {
      if (r.type === CONTAINER) {
        const priorState = state.get(prior.name)!;
        const priorInputs = opts.imported ? structuredClone(priorState) : prior.inputs;
        const news = applyIgnoreChanges(priorInputs, r.inputs, r.ignoreChanges);
        const changes = diffContainer(priorState, news, r.ignoreChanges);
        o.op = operationOf(changes);
        if (o.op !== "same") o.why = changes.map((c) => c.path).join(", ");
      } else if (r.type === VM) {
        const news = applyIgnoreChanges(prior.inputs, r.inputs, r.ignoreChanges);
        const changes = diffVm(state.get(prior.name) ?? prior.inputs, news, r.ignoreChanges);
        o.op = operationOf(changes);
        if (o.op !== "same") o.why = changes.map((c) => c.path).join(", ");
        const shrunk = changes.find((c) => /^disks\[\d+\]\.size$/.test(c.path) && Number(c.to) < Number(c.from));
        if (shrunk && o.op === "update") {
          o.op = "refused";
          o.why = `the provider refuses: disk resize failure: requested size (${String(shrunk.to)}G) is lower than current size (${String(shrunk.from)}G)`;
        }
      } else if (typeof r.inputs.__provider === "string") {
        const provider = await dynamicProvider(r.inputs.__provider);
        const news = applyIgnoreChanges(prior.inputs, r.inputs, r.ignoreChanges);
        const d = await provider.diff!(`${r.name}-id`, prior.inputs, news);
        o.op = !d.changes ? "same" : d.replaces?.length ? "replace" : "update";
        if (d.replaces?.length) o.why = d.replaces.join(", ");
      } else {
        const same = JSON.stringify(sortKeys(prior.inputs)) === JSON.stringify(sortKeys(applyIgnoreChanges(prior.inputs, r.inputs, r.ignoreChanges)));
        o.op = same ? "same" : /FileLegacy$|download\/fileLegacy/.test(r.type) ? "replace" : "update";
      }
    } catch (err) {
      o.op = "refused";
      o.why = (err as Error).message.split("\n")[0];
    }
    refuseProtected(o, prior, r);
    if (o.op === "replace") replaced.add(r.name);
  }
  // replaceWith: a step replaced with the resource it names.
  for (const o of out) {
    const r = after.resources.find((x) => x.custom && x.name === o.name && x.type === o.type)!;
    const withs = (r.inputs && r.dependsOn ? r.dependsOn : []).filter((d) => replaced.has(d));
    if ((o.op === "same" || o.op === "update") && withs.length && r.name.startsWith(withs[0]) && r.name !== withs[0]) o.op = "replace";
  }
  for (const prior of old.values()) {
    if (seen.has(prior.urn)) continue;
    const o: ResourceOutcome = { name: prior.name, type: prior.type, op: "delete", holdsData: holdsData(prior) };
    refuseProtected(o, prior, undefined);
    out.push(o);
  }
  return out;
}

function sortKeys(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(sortKeys);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, sortKeys((v as PropertyBag)[k])]));
  return v;
}

const providers = new Map<string, Promise<LoadedProvider>>();
function dynamicProvider(serialized: string): Promise<LoadedProvider> {
  let p = providers.get(serialized);
  if (!p) providers.set(serialized, (p = loadProvider(serialized)));
  return p;
}

/** Runs one change on one stack: the program before and after, and what Pulumi would do. */
export async function runCell(stack: string, change: Change, base?: PlanResult): Promise<Cell> {
  const { planStack } = loadDist<typeof import("../../infra/cli/plan")>("infra/cli/plan");
  const { readStackFile, stackFilePath } = loadDist<typeof import("../../infra/config/stack-settings")>("infra/config/stack-settings");
  const settings = readStackFile(stackFilePath(stack)).plain;
  const files = stackFiles(stack);
  const ctx: ChangeContext = { files: structuredClone(files), config: {}, settings, t: targetsOf(files), hostSide: [], imported: false };
  const before = base ?? (await planStack({ stack, configDir: writeStack(files) }));
  change.apply(ctx);
  const dir = writeStack(ctx.files);
  try {
    const after = await planStack({ stack, configDir: dir, config: ctx.config });
    if (after.errors.length) return { change: change.key, stack, refused: firstReason(after.errors[0], dir), outcomes: [] };
    return { change: change.key, stack, outcomes: await operations(before, after, { hostSide: ctx.hostSide, imported: ctx.imported }) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** The first line of a refusal that says why (not the "invalid configuration in <dir>:" header), without the temp folder. */
function firstReason(error: string, dir: string): string {
  const lines = error.split("\n").map((l) => l.split(dir + path.sep).join("").split(dir).join("<dir>").trim()).filter(Boolean);
  return (lines[0].endsWith(":") && lines[1] ? lines[1] : lines[0]).replace(/\s+/g, " ");
}

/** The first `up`'s program for a stack, for runCell. */
export async function basePlan(stack: string): Promise<PlanResult> {
  const { planStack } = loadDist<typeof import("../../infra/cli/plan")>("infra/cli/plan");
  const dir = writeStack(stackFiles(stack));
  try {
    return await planStack({ stack, configDir: dir });
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

/** Whether a cell destroys data: a data holder replaced or deleted, not refused, while the stack does not allow it. */
export function destroysData(cell: Cell, allowed: boolean): ResourceOutcome[] {
  if (allowed) return [];
  return cell.outcomes.filter((o) => o.holdsData && (o.type === CONTAINER || o.type === VM) && (o.op === "replace" || o.op === "delete"));
}

/** A cell in words, for the table: the strongest operation and on what. */
export function summarise(cell: Cell): string {
  if (cell.refused) return `refused by validate/plan: ${cell.refused.replace(/\|/g, "\\|")}`;
  // Pulumi refuses a protected replacement or deletion when it plans it: the update stops there.
  const refused = cell.outcomes.filter((o) => o.op === "refused");
  const reason = (o: ResourceOutcome) => {
    const prop = /it is protected \(([^)]*)\)/.exec(o.why ?? "");
    return prop ? `protected${prop[1] && prop[1] !== "Pulumi protect" ? `; changed: ${prop[1]}` : ""}` : (o.why ?? "");
  };
  if (refused.length) return `refused: ${refused.map((o) => `${o.name} (${reason(o)})`).join(", ")}; the update stops there`;
  const order: Operation[] = ["replace", "delete", "create", "update"];
  const parts: string[] = [];
  for (const op of order) {
    const hit = cell.outcomes.filter((o) => o.op === op);
    if (!hit.length) continue;
    const guests = hit.filter((o) => o.type === CONTAINER || o.type === VM).map((o) => o.name);
    const other = hit.length - guests.length;
    parts.push(`${op}: ${[...guests, ...(other ? [`${other} step${other > 1 ? "s" : ""}`] : [])].join(", ")}`);
  }
  return parts.length ? parts.join("; ") : "no change";
}
