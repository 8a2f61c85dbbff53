// `phoenix doctor [--stack NAME] [--json]`: a read-only preflight against the real host. Most ways
// a first `pulumi up` fails are facts about the host, not about the JSON files: an API token
// without a privilege, no storage taking `snippets`, a CTID taken by a guest Phoenix does not
// manage, a missing ZFS disk, an NVIDIA module of another version... Doctor connects with the
// stack's settings over the one SSH transport, gathers every fact with ONE read-only host script
// (providers/base/host-script.ts, no lock: it reads files and runs `pvesm status`, `pvesh get`,
// `zpool list`, `pveversion`...; it writes, locks, starts and stops nothing), then judges the facts
// against what the files plan, offline. One line per check:
//
//   ok|warn|fail  <check>: <what it found>  → <the fix>
//
// Exit 0 when nothing fails, 1 otherwise, 2 on usage errors; `--json` for the pipeline.
import { readFileSync } from "fs";
import * as path from "path";
import { loadPhoenixConfig } from "../config/load";
import { pveRuleLine } from "../config/firewall";
import type { ContainerModel, PhoenixModel, VmModel } from "../config/model";
import { stackSettingsFrom, type StackSettings } from "../settings";
import { openSession, secretsFromConfig, type SshSecrets, type SshSession } from "../../providers/ssh/index";
import { runHostScript } from "../../providers/base/host-script";
import { cloudImage } from "../components/cloud-init";
import { apiFeatureFlags, featureFlags } from "../config/lxc-features";
import { COLOR_OPTION, colorModeError, paletteFor } from "./color";
import type { Palette } from "./plan-diff";
import { imageStorage, snippetsStorage } from "../deployment/index";
import { readStackConfig } from "./plan";
import { parseCommandArgs, STACK_OPTIONS, stackUsageError, usageError, configOverrides } from "./args";
import { repoRoot } from "../../features/registry";
import { gpuChecks } from "./doctor-gpu";

/** `ok`: ready; `warn`: works, but look; `fail`: `pulumi up` would fail or do harm (exit 1). */
export type CheckStatus = "ok" | "warn" | "fail";

/** One line of the report. */
export interface CheckResult {
  status: CheckStatus;
  /** What was checked: `ssh`, `storage local`, `api token /vms/900`, ... */
  check: string;
  /** What doctor found on the host. */
  found: string;
  /** The exact command or edit that fixes it (absent when nothing is to be done). */
  fix?: string;
}

/** The whole report (what `--json` prints). */
export interface DoctorReport {
  stack: string;
  /** `user@host:port` doctor connected to. */
  target: string;
  checks: CheckResult[];
  /** True when no check failed (exit 0). */
  ok: boolean;
}

/** How the proxmoxve provider authenticates: an API token (its id, never the secret) or a user. */
export type ApiAuth = { kind: "token"; id: string } | { kind: "user"; id: string } | { kind: "unknown" };

/** What runDoctor needs: the stack's settings (connection, node), its model, SSH secrets, the API identity. */
export interface DoctorInput {
  settings: StackSettings;
  model: PhoenixModel;
  secrets: SshSecrets;
  auth: ApiAuth;
  /** Per-command timeout of the facts script (default 120 s). */
  timeoutMs?: number;
}

// ---------------------------------------------------------------------------------------------
// What the plan needs from the API (derived from the model)

/** Privileges the planned resources need on one ACL path, and why. */
export interface PrivilegeNeed {
  path: string;
  privs: string[];
  why: string;
  /** Also enough: these privileges on another path (the API's `or` checks). */
  alternative?: { path: string; privs: string[] };
  /** Only needed while these VMs' cloud images still have to be downloaded. */
  downloadFor?: number[];
}

/** Privileges of a guest's own /vms/<id> path (pve-container API2/LXC.pm create_vm and
 *  LXC.pm check_ct_modify_config_perm; qemu-server API2/Qemu.pm create_vm / check_vm_modify_config_perm). */
const CT_PRIVS = ["VM.Allocate", "VM.Audit", "VM.Config.CPU", "VM.Config.Memory", "VM.Config.Disk", "VM.Config.Network", "VM.Config.Options", "VM.PowerMgmt"];
const VM_PRIVS = [...CT_PRIVS, "VM.Config.HWType", "VM.Config.Cloudinit", "VM.Config.CDROM"];

/** The storages a container uses, with the content type each use needs. */
function containerStorageUses(c: ContainerModel): Array<{ storage: string; content: string }> {
  const uses = [{ storage: c.storagePool, content: "rootdir" }, ...c.volumes.map((v) => ({ storage: v.storage, content: "rootdir" }))];
  if (c.cloneFrom === undefined && c.osTemplate) uses.push({ storage: c.osTemplate.split(":")[0], content: "vztmpl" });
  return uses;
}

function vmStorageUses(vm: VmModel, model: PhoenixModel): Array<{ storage: string; content: string }> {
  const uses = [{ storage: vm.storagePool, content: "images" }, ...vm.volumes.map((v) => ({ storage: v.storage, content: "images" }))];
  if (vm.cloneFrom === undefined && vm.templateImage) {
    const image = imageStorage(model.host);
    uses.push({ storage: image.id, content: image.contentType });
  }
  return uses;
}

/**
 * Privileges the API token needs for the planned resources, by ACL path:
 * - `/vms/<id>` per guest: allocate and configure it (VMs also cloud-init, CD-ROM, hardware type);
 *   `/vms/<parent>` VM.Clone for clones;
 * - `/storage/<id>` Datastore.AllocateSpace for disks and volumes, Datastore.Audit to read OS
 *   templates (pve-storage check_volume_access), Datastore.AllocateTemplate where cloud images are
 *   downloaded, which also needs Sys.AccessNetwork on `/nodes/<node>` or, for older releases,
 *   Sys.Audit and Sys.Modify on `/` (pve-manager API2/Storage/Status.pm download_url);
 * - `/sdn/zones/localnetwork/<bridge>` SDN.Use per bridge (PVE 8 check_vnet_access);
 * - `/` Sys.Modify for privileged containers (create_vm: "For privileged containers, 'Sys.Modify'
 *   permissions on '/' are required"); `/nodes/<node>` Sys.Audit (the provider reads the node);
 * - PCI mappings: Mapping.Modify on `/mapping/pci`, Mapping.Use on `/mapping/pci/<name>` per VM device;
 * - the firewall (pve-firewall API2/Firewall: the cluster's options, rules, aliases and IP sets
 *   check Sys.Modify on `/`; a guest's options and rules VM.Config.Network on `/vms/<id>`, which
 *   the guest's own privileges above include).
 */
export function requiredPrivileges(model: PhoenixModel, node: string): PrivilegeNeed[] {
  const needs = new Map<string, { privs: Set<string>; why: Set<string> }>();
  const need = (p: string, privs: string[], why: string) => {
    const n = needs.get(p) ?? { privs: new Set<string>(), why: new Set<string>() };
    privs.forEach((x) => n.privs.add(x));
    n.why.add(why);
    needs.set(p, n);
  };
  const nodes = new Set<string>();
  for (const c of model.containers) {
    need(`/vms/${c.ctid}`, CT_PRIVS, `container ${c.ctid}`);
    if (c.cloneFrom !== undefined) need(`/vms/${c.cloneFrom}`, ["VM.Clone"], `clones of ${c.cloneFrom}`);
    for (const u of containerStorageUses(c)) {
      need(`/storage/${u.storage}`, u.content === "vztmpl" ? ["Datastore.Audit"] : ["Datastore.AllocateSpace", "Datastore.Audit"], `container ${c.ctid}`);
    }
    need(`/sdn/zones/localnetwork/${c.network.bridge}`, ["SDN.Use"], `container ${c.ctid}`);
    if (!c.unprivileged) need("/", ["Sys.Modify"], `privileged container ${c.ctid}`);
    nodes.add(c.node ?? node);
  }
  for (const vm of model.vms) {
    need(`/vms/${vm.vmid}`, VM_PRIVS, `vm ${vm.vmid}`);
    if (vm.cloneFrom !== undefined) need(`/vms/${vm.cloneFrom}`, ["VM.Clone"], `clones of ${vm.cloneFrom}`);
    for (const u of vmStorageUses(vm, model)) {
      const privs = u.content === "import" || u.content === "iso" ? ["Datastore.AllocateTemplate", "Datastore.Audit"] : ["Datastore.AllocateSpace", "Datastore.Audit"];
      need(`/storage/${u.storage}`, privs, `vm ${vm.vmid}`);
    }
    if (!vm.isTemplate) need(`/storage/${snippetsStorage(model.host)}`, ["Datastore.AllocateSpace", "Datastore.Audit"], `vm ${vm.vmid} user data`);
    need(`/sdn/zones/localnetwork/${vm.networkBridge}`, ["SDN.Use"], `vm ${vm.vmid}`);
    nodes.add(vm.node ?? node);
  }
  if (model.host.firewall) need("/", ["Sys.Modify"], "the host firewall (cluster options, rules, aliases, IP sets)");
  // PCI mappings (pci_devices): creating one checks Mapping.Modify on /mapping/pci (pve-manager
  // API2/Cluster/Mapping/PCI.pm create); a VM's hostpci
  // naming it checks Mapping.Use on /mapping/pci/<name> (qemu-server API2/Qemu.pm check_hostpci_perm;
  // a bare host address is root@pam only, so Phoenix always goes through a mapping).
  const pciNames = new Set((model.nodes.length ? model.nodes.map((n) => n.host) : [model.host]).flatMap((h) => h.pciDevices.map((d) => d.name)));
  if (pciNames.size) need("/mapping/pci", ["Mapping.Modify"], `PCI mappings ${[...pciNames].sort().join(", ")}`);
  for (const vm of model.vms) for (const d of vm.pciDevices) need(`/mapping/pci/${d}`, ["Mapping.Use"], `vm ${vm.vmid}`);
  for (const n of nodes) need(`/nodes/${n}`, ["Sys.Audit"], "the provider reads the node");
  const out: PrivilegeNeed[] = [...needs.entries()]
    .map(([p, n]) => ({ path: p, privs: [...n.privs].sort(), why: [...n.why].join(", ") }))
    .sort((a, b) => a.path.localeCompare(b.path));
  const downloads = model.vms.filter((v) => v.cloneFrom === undefined && v.templateImage);
  for (const n of new Set(downloads.map((v) => v.node ?? node))) {
    out.push({
      path: `/nodes/${n}`,
      privs: ["Sys.AccessNetwork"],
      why: `${downloads.map((v) => `vm ${v.vmid}`).join(", ")} cloud image download`,
      alternative: { path: "/", privs: ["Sys.Audit", "Sys.Modify"] },
      downloadFor: downloads.filter((v) => (v.node ?? node) === n).map((v) => v.vmid),
    });
  }
  return out;
}

/**
 * What the proxmoxve provider would send through the API that Proxmox allows only to root@pam
 * (pve-container LXC.pm check_ct_modify_config_perm: feature flags are compared one by one with
 * the container's; a change of any but `nesting` is root@pam only, and any flag of a privileged
 * container). The provider gets only `apiFeatureFlags` (nesting, and a clone's inherited flags
 * unchanged); Phoenix sets the rest as root over SSH (`ct-<ctid>-lxc-options`), which the `root`
 * check covers. One reason per container that would still be refused.
 */
export function rootOnlyReasons(model: PhoenixModel): string[] {
  const out: string[] = [];
  const byId = new Map(model.containers.map((c) => [c.ctid, c]));
  for (const c of model.containers) {
    const parent = c.cloneFrom === undefined ? undefined : byId.get(c.cloneFrom);
    const sent = apiFeatureFlags(c, parent);
    // What the container has when the provider sets them: a new one none, a clone its parent's.
    const before = parent ? featureFlags(parent.pctOptions, parent.ctid) : {};
    if (!c.unprivileged) {
      if (Object.keys(sent).length) out.push(`container ${c.ctid}: feature flags (${Object.keys(sent).join(", ")}) of a privileged container through the API`);
      continue;
    }
    const changed = [...new Set([...Object.keys(before), ...Object.keys(sent)])].filter((f) => f !== "nesting" && before[f] !== sent[f]);
    if (changed.length) out.push(`container ${c.ctid}: feature flags other than nesting (${changed.join(", ")}) through the API`);
  }
  return out;
}

// ---------------------------------------------------------------------------------------------
// The facts script (read-only)

/**
 * The one host script doctor runs (infra/cli/doctor-facts.sh). Every command only reads: files
 * under /etc/pve, /sys, /proc, `pvesm status`, `pvesh get`, `zpool list`, `pveversion`, `modinfo`,
 * `nvidia-smi --query-gpu`, `pveam available`, `readlink`, `test`, `curl -I` (a HEAD request from the host). Each
 * fact is `"name": {"code": <exit code>, "out": "<stdout, base64>"}` in the PHOENIX_RESULT object.
 */
function factsScript(): string {
  return readFileSync(path.join(repoRoot(), "infra", "cli", "doctor-facts.sh"), "utf8");
}

/** One command's result from the facts script. */
export interface Fact {
  code: number;
  out: string;
}

/** What the facts script is asked about (each list becomes indexed facts). */
export interface FactQueries {
  token: string;
  node: string;
  permPaths: string[];
  /** `[storage, content type]` listings. */
  content: Array<[string, string]>;
  files: string[];
  urls: string[];
  disks: string[];
  templates: boolean;
}

const LINE_SAFE = /^[^\n\0]*$/;

/** Runs the facts script over `session` (no lock) and decodes every fact. */
async function gatherFacts(session: SshSession, q: FactQueries, timeoutMs = 120_000): Promise<Record<string, Fact>> {
  for (const v of [q.token, q.node, ...q.permPaths, ...q.content.flat(), ...q.files, ...q.urls, ...q.disks]) {
    if (!LINE_SAFE.test(v)) throw new Error(`doctor: a value holds a newline: ${JSON.stringify(v)}`);
  }
  const { result } = await runHostScript(session, {
    script: factsScript(),
    action: "read",
    params: {
      token: q.token,
      node: q.node,
      perm_paths: q.permPaths.join("\n"),
      content: q.content.map(([s, c]) => `${s} ${c}`).join("\n"),
      files: q.files.join("\n"),
      urls: q.urls.join("\n"),
      disks: q.disks.join("\n"),
      templates: q.templates ? "1" : "",
    },
    purpose: "phoenix doctor: read host facts",
    timeoutMs,
    // Doctor changes nothing on the host: no run dir, no cleanup of other runs' leftovers.
    readOnly: true,
  });
  const facts: Record<string, Fact> = {};
  for (const [name, v] of Object.entries(result)) {
    const f = v as { code: number; out: string };
    facts[name] = { code: Number(f.code), out: Buffer.from(String(f.out), "base64").toString("utf8") };
  }
  return facts;
}

// ---------------------------------------------------------------------------------------------
// Judging the facts

interface HostStorage {
  id: string;
  type: string;
  content: string[];
  path?: string;
  pool?: string;
  disabled: boolean;
}

interface StorageStatus {
  status: string;
  totalKiB: number;
  availKiB: number;
}

function parseStorageCfg(f: Fact | undefined): Map<string, HostStorage> | undefined {
  if (!f || f.code !== 0) return undefined;
  try {
    const list = JSON.parse(f.out) as Array<Record<string, unknown>>;
    return new Map(
      list.map((s) => [
        String(s.storage),
        {
          id: String(s.storage),
          type: String(s.type),
          content: String(s.content ?? "").split(",").filter(Boolean),
          path: s.path === undefined ? undefined : String(s.path),
          pool: s.pool === undefined ? undefined : String(s.pool),
          disabled: String(s.disable ?? "0") === "1",
        },
      ]),
    );
  } catch {
    return undefined;
  }
}

/** `pvesm status` rows: Name Type Status Total Used Available % (sizes in KiB). */
function parseStorageStatus(f: Fact | undefined): Map<string, StorageStatus> {
  const out = new Map<string, StorageStatus>();
  if (!f || f.code !== 0) return out;
  for (const line of f.out.split("\n").slice(1)) {
    const w = line.trim().split(/\s+/);
    if (w.length < 6) continue;
    out.set(w[0], { status: w[2], totalKiB: Number(w[3]) || 0, availKiB: Number(w[5]) || 0 });
  }
  return out;
}

function parseGuests(f: Fact | undefined): Map<number, { kind: "ct" | "vm"; name: string }> {
  const out = new Map<number, { kind: "ct" | "vm"; name: string }>();
  for (const line of f?.out.split("\n") ?? []) {
    const [kind, id, name] = line.trim().split(/\s+/);
    if ((kind === "ct" || kind === "vm") && /^\d+$/.test(id ?? "")) out.set(Number(id), { kind, name: name ?? "" });
  }
  return out;
}

/** `1234` (bytes) or `95.5M` (zpool without -p) → bytes. */
function parseSize(text: string): number {
  const m = /^([\d.]+)([KMGTPE]?)$/.exec(text.trim());
  if (!m) return 0;
  return Math.floor(Number(m[1]) * 1024 ** " KMGTPE".indexOf(m[2] || " "));
}

const gib = (kib: number) => `${(kib / 1024 / 1024).toFixed(1)} GiB`;
const q = (s: string) => (/^[A-Za-z0-9_@%+=:,./-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`);

/** Picks the smallest built-in role holding `privs` (pve-access-control create_roles). */
function roleFor(privs: string[]): string | undefined {
  const roles: Array<[string, string[]]> = [
    ["PVESDNUser", ["SDN.Use", "SDN.Audit"]],
    ["PVEAuditor", ["Sys.Audit", "VM.Audit", "Datastore.Audit", "SDN.Audit", "Pool.Audit"]],
    ["PVETemplateUser", ["VM.Clone", "VM.Audit"]],
    ["PVEDatastoreUser", ["Datastore.AllocateSpace", "Datastore.Audit"]],
    ["PVEDatastoreAdmin", ["Datastore.Allocate", "Datastore.AllocateTemplate", "Datastore.AllocateSpace", "Datastore.Audit"]],
    ["PVEVMAdmin", [...VM_PRIVS, "VM.Clone", "VM.Console", "VM.Backup", "VM.Migrate", "VM.Snapshot"]],
  ];
  return roles.find(([, has]) => privs.every((p) => has.includes(p)))?.[0];
}

/** The `root` check from `id -u` and `id -un` as the session runs commands (through sudo -n when set). */
function rootCheck(login: string, uid: string, user: string): CheckResult {
  if (uid === "0") return { status: "ok", check: "root", found: login === "root" ? "logged in as root" : `${login} runs commands as root through sudo -n` };
  return {
    status: "fail",
    check: "root",
    found: `commands run as uid ${uid || "?"} (${user || login}), not root: the other checks (and Phoenix) need root`,
    fix: `echo '${login} ALL=(root) NOPASSWD: ALL' > /etc/sudoers.d/phoenix && chmod 440 /etc/sudoers.d/phoenix (as root), and phoenix:sshSudo true`,
  };
}

/** Judges the facts against the plan. Pure: every check of the report, in order. */
export function evaluate(input: DoctorInput, facts: Record<string, Fact>, queries: FactQueries): CheckResult[] {
  const { model, settings, auth } = input;
  const out: CheckResult[] = [];
  const add = (status: CheckStatus, check: string, found: string, fix?: string) => out.push({ status, check, found, ...(fix ? { fix } : {}) });

  // The node, first: every other check judges this host as the node the stack names.
  const local = /(?:^|\/)nodes\/([A-Za-z0-9][A-Za-z0-9-]*)\/?$/.exec(facts.node_local?.code === 0 ? facts.node_local.out.trim() : "")?.[1];
  const uname = facts.nodename?.code === 0 ? facts.nodename.out.trim().split(".")[0] : "";
  const node = local ?? uname;
  if (!node) add("warn", "node", "cannot tell which node this host is (no /etc/pve/local, no hostname)", "run doctor against the Proxmox VE node (phoenix:sshHost)");
  else if (node !== settings.node) {
    add(
      "fail",
      "node",
      `this host is Proxmox node ${node}${local ? "" : " (its hostname; /etc/pve is not mounted)"}, but the stack names ${settings.node}: the checks of ${settings.node} (privileges on /nodes/${settings.node}, storages, templates, guests, space, ZFS, NVIDIA) would judge the wrong host and are skipped`,
      `point phoenix:sshHost (or phoenix:nodes.${settings.node}.sshHost) at node ${settings.node}, or set phoenix:node ${node} if the guests belong on this node`,
    );
    return out;
  } else add("ok", "node", `the host is Proxmox node ${node}, as the stack names it${local ? "" : " (its hostname; /etc/pve/local is missing)"}`);

  // Proxmox version.
  const pv = facts.pveversion;
  const m = /pve-manager\/(\d+)\.(\d+)(?:\.(\d+))?/.exec(pv?.out ?? "");
  if (!pv || pv.code !== 0 || !m) add("fail", "proxmox version", `pveversion ${pv?.code === 127 ? "not found: not a Proxmox VE host" : "failed"}`, "run doctor against the Proxmox VE node (phoenix:sshHost)");
  else if (Number(m[1]) < 8) add("warn", "proxmox version", `Proxmox VE ${m[0].slice(12)}: end of life; Phoenix is tested with 8.x and 9.x`, "upgrade: https://pve.proxmox.com/wiki/Upgrade_from_7_to_8 (pve7to8 --full)");
  else add("ok", "proxmox version", `Proxmox VE ${m[0].slice(12)}`);

  // Rules cluster.fw already holds: the provider creates the declared cluster rules only where there
  // are none ("Existing rules detected", bpg rules.go RulesCreate), so `pulumi up` would stop there.
  const fw = model.host.firewall;
  const cr = facts.cluster_rules;
  if (fw && fw.rules.length > 0 && cr && cr.code === 0) {
    const lines = cr.out.split("\n").filter((l) => l.trim() !== "");
    const existing = lines.filter((l) => !l.startsWith("#"));
    const squash = (l: string) => l.trim().replace(/\s+/g, " ");
    const declared = fw.rules.map(pveRuleLine);
    const same = existing.length === declared.length && existing.every((l, i) => squash(l) === squash(declared[i]));
    const check = "cluster firewall rules";
    if (existing.length === 0) add("ok", check, "cluster.fw holds no rules: host-firewall-rules can be created");
    else if (same) add("ok", check, `cluster.fw holds the ${declared.length} declared rule(s)`);
    else if (lines.includes("# taken over")) add("ok", check, `cluster.fw holds ${existing.length} rule(s); the takeover has run (the provider updates them in place)`);
    else if (settings.firewallTakeover) add("ok", check, `cluster.fw holds ${existing.length} rule(s): phoenix:firewallTakeover ${settings.firewallTakeover} takes them over on the next pulumi up`);
    else {
      add(
        "warn",
        check,
        `cluster.fw holds ${existing.length} rule(s) that are not the declared ones (the first: ${squash(existing[0])}); unless Phoenix created them in an earlier pulumi up, ` +
          `the provider refuses to create host-firewall-rules over them ("Existing rules detected") and pulumi up stops there`,
        "pulumi config set phoenix:firewallTakeover replace (the declared rules replace them) or keep (they move to each node's host.fw); docs/operations.md, \"Taking over an existing cluster.fw\"",
      );
    }
  }

  // cgroup2.
  const cg = facts.cgroup?.out.trim();
  if (cg === "cgroup2fs") add("ok", "cgroup2", "/sys/fs/cgroup is the unified cgroup v2 hierarchy");
  else
    add(
      "fail",
      "cgroup2",
      `/sys/fs/cgroup is ${cg || "unreadable"}, not cgroup2fs: the lxc.cgroup2.* lines of the files need the unified hierarchy`,
      "remove systemd.unified_cgroup_hierarchy=0 from the kernel command line (/etc/kernel/cmdline or GRUB_CMDLINE_LINUX in /etc/default/grub), proxmox-boot-tool refresh or update-grub, reboot",
    );

  // Cloud images already on their storage (no download, so no download privileges needed).
  const store = imageStorage(model.host);
  const imageListing = queries.content.findIndex(([sid, ct]) => sid === store.id && ct === store.contentType);
  const imageVolid = (vm: VmModel): string | undefined => {
    try {
      return `${store.id}:${store.contentType}/${cloudImage(vm.templateImage!, store.contentType).fileName}`;
    } catch {
      return undefined;
    }
  };
  const imagePresent = (vm: VmModel): boolean => {
    if (imageListing < 0) return false;
    try {
      return (JSON.parse(facts[`content_${imageListing}`]?.out ?? "[]") as Array<{ volid: string }>).some((v) => v.volid === imageVolid(vm));
    } catch {
      return false;
    }
  };

  // API privileges.
  const needs = requiredPrivileges(model, settings.node).filter(
    (n) => !n.downloadFor || n.downloadFor.some((id) => !imagePresent(model.vms.find((v) => v.vmid === id)!)),
  );
  const rootOnly = rootOnlyReasons(model);
  if (auth.kind === "user" && auth.id === "root@pam") {
    add("ok", "api privileges", "the provider logs in as root@pam: every privilege");
  } else if (auth.kind === "unknown") {
    add("warn", "api privileges", "not checked: no API token id known", "pass --api-token-id USER@REALM!NAME, or set PROXMOX_VE_API_TOKEN");
  } else {
    const who = auth.id;
    const flag = auth.kind === "token" ? "--tokens" : "--users";
    let missingAny = false;
    const vmsMissing: Array<{ id: string; missing: string[] }> = [];
    const held = (p: string): Record<string, unknown> | undefined => {
      const f = facts[`perm_${queries.permPaths.indexOf(p)}`];
      if (!f || f.code !== 0) return undefined;
      try {
        return (JSON.parse(f.out) as Record<string, Record<string, unknown>>)[p] ?? {};
      } catch {
        return undefined;
      }
    };
    // An ACL entry on a path REPLACES what the principal inherits from above (AccessControl.pm
    // `roles`: "overwrite previous settings"), so the granted role holds everything the plan
    // needs on that path, not only what is missing.
    const grant = (p: string) => {
      const all = [...new Set(needs.filter((n) => n.path === p).flatMap((n) => n.privs))].sort();
      const role = roleFor(all);
      const custom = `Phoenix${all.map((x) => x.replace(/\W/g, "")).join("")}`.slice(0, 60);
      const fix = role
        ? `pveum acl modify ${p} ${flag} ${q(who)} --roles ${role}`
        : `pveum role add ${custom} --privs ${q(all.join(","))} && pveum acl modify ${p} ${flag} ${q(who)} --roles ${custom} --propagate 0`;
      return `${fix}${auth.kind === "token" ? " (a privilege-separated token also needs its user to hold them: --users)" : ""}`;
    };
    for (const need of needs) {
      const have = held(need.path);
      if (!have) {
        missingAny = true;
        add("fail", `api privileges ${need.path}`, `pvesh get /access/permissions failed`, `pvesh get /access/permissions --userid ${q(who)} --path ${need.path}`);
        continue;
      }
      const missing = need.privs.filter((x) => !(x in have));
      if (!missing.length) continue;
      if (need.alternative) {
        const alt = held(need.alternative.path) ?? {};
        if (need.alternative.privs.every((x) => x in alt)) continue;
      }
      missingAny = true;
      if (/^\/vms\/\d+$/.test(need.path)) {
        vmsMissing.push({ id: need.path.slice(5), missing });
        continue;
      }
      const or = need.alternative ? ` (or ${need.alternative.privs.join(" and ")} on ${need.alternative.path})` : "";
      add("fail", `api privileges ${need.path}`, `${who} lacks ${missing.join(", ")}${or} (${need.why})`, grant(need.path));
    }
    // Guests: one line, granted once on /vms (inherited by every guest; a /vms/<id> entry of its
    // own would replace it for that guest).
    if (vmsMissing.length) {
      const privs = [...new Set(vmsMissing.flatMap((v) => v.missing))].sort();
      const all = [...new Set(needs.filter((n) => n.path.startsWith("/vms/")).flatMap((n) => n.privs))].sort();
      const role = roleFor(all) ?? "PVEVMAdmin";
      add(
        "fail",
        "api privileges /vms",
        `${who} lacks ${privs.join(", ")} on guests ${vmsMissing.map((v) => Number(v.id)).sort((a, b) => a - b).join(", ")}`,
        `pveum acl modify /vms ${flag} ${q(who)} --roles ${role}${auth.kind === "token" ? " (a privilege-separated token also needs its user to hold them: --users)" : ""}`,
      );
    }
    const paths = [...new Set(needs.map((n) => n.path))];
    if (paths.length && paths.every((p) => Object.keys(held(p) ?? { x: 1 }).length === 0)) {
      // Not one privilege anywhere: the token (or user) most likely does not exist.
      const user = who.split("!")[0];
      out.splice(out.length - out.filter((c) => c.check.startsWith("api privileges /")).length);
      add("fail", "api privileges", `${who} holds no privilege on any path the plan uses: does it exist?`, auth.kind === "token" ? `pveum user token list ${q(user)}; pveum user token add ${q(user)} ${q(who.split("!")[1])} --privsep 0` : `pveum user list`);
    } else if (!missingAny) add("ok", "api privileges", `${who} holds every privilege the plan needs on ${new Set(needs.map((n) => n.path)).size} paths`);
    if (rootOnly.length) {
      add(
        "fail",
        "api root@pam",
        `only root@pam may do this, never an API token: ${rootOnly.join("; ")}`,
        "authenticate the provider as root@pam (pulumi config set proxmoxve:username root@pam; pulumi config set --secret proxmoxve:password ...), or drop those pct_options",
      );
    }
  }

  // Storages.
  const hostStorages = parseStorageCfg(facts.storage_cfg);
  const status = parseStorageStatus(facts.storage_status);
  const fileStorages = new Map(model.host.storages.map((s) => [s.id, s]));
  const uses = new Map<string, Set<string>>();
  const use = (storage: string, content: string) => uses.set(storage, (uses.get(storage) ?? new Set()).add(content));
  for (const c of model.containers) containerStorageUses(c).forEach((u) => use(u.storage, u.content));
  for (const vm of model.vms) vmStorageUses(vm, model).forEach((u) => use(u.storage, u.content));
  if (!hostStorages) {
    add("fail", "storages", `pvesh get /storage failed (exit ${facts.storage_cfg?.code ?? "?"})`, "pvesh get /storage --output-format json");
  } else {
    for (const [id, contents] of [...uses.entries()].sort(([a], [b]) => a.localeCompare(b))) {
      const want = [...contents].sort();
      const onHost = hostStorages.get(id);
      const inFiles = fileStorages.get(id);
      if (!onHost && inFiles) {
        const lacking = want.filter((c) => !inFiles.content.includes(c));
        if (lacking.length) add("fail", `storage ${id}`, `the files register it with content ${inFiles.content.join(",")}, but use it for ${lacking.join(",")}`, `add ${lacking.join(",")} to its proxmox_content_type in phoenix_hypervisor_config.json`);
        else add("ok", `storage ${id}`, `not registered yet: pulumi up adds it (host-proxmox-storage-${id}) with content ${inFiles.content.join(",")}`);
        continue;
      }
      if (!onHost) {
        add("fail", `storage ${id}`, `does not exist on the host (used for ${want.join(",")})`, `pvesm status (name an existing storage in the files, or register it: pvesm add dir ${id} --path <dir> --content ${want.join(",")})`);
        continue;
      }
      const st = status.get(id);
      const content = inFiles ? inFiles.content : onHost.content;
      const lacking = want.filter((c) => !content.includes(c));
      if (onHost.disabled || !st || st.status !== "active") {
        add("fail", `storage ${id}`, `${onHost.type} storage is ${onHost.disabled ? "disabled" : (st?.status ?? "not in pvesm status")}`, onHost.disabled ? `pvesm set ${id} --disable 0` : `pvesm status --storage ${id} (mount its path / import its pool)`);
      } else if (lacking.length) {
        add(
          "fail",
          `storage ${id}`,
          `content ${onHost.content.join(",") || "(none)"} lacks ${lacking.join(",")}`,
          inFiles ? `add ${lacking.join(",")} to its proxmox_content_type in phoenix_hypervisor_config.json` : `pvesm set ${id} --content ${[...onHost.content, ...lacking].join(",")}`,
        );
      } else {
        add("ok", `storage ${id}`, `${onHost.type}, active, content ${content.join(",")}`);
      }
    }

    // A snippets storage for the VMs' cloud-init user data.
    if (model.vms.some((v) => !v.isTemplate)) {
      const id = snippetsStorage(model.host);
      const onHost = hostStorages.get(id);
      const inFiles = fileStorages.get(id);
      if (inFiles) add("ok", "snippets", `user data goes to ${id} (the files give it snippets content)`);
      else if (!onHost) add("fail", "snippets", `no storage takes snippets and ${id} does not exist`, `pvesm add dir snippets --path /var/lib/vz --content snippets (or give a dataset proxmox_content_type snippets)`);
      else if (!onHost.content.includes("snippets"))
        add("fail", "snippets", `no storage takes snippets: VMs' user data would go to ${id}, whose content is ${onHost.content.join(",")}`, `pvesm set ${id} --content ${[...onHost.content, "snippets"].join(",")}`);
      else add("ok", "snippets", `user data goes to ${id}`);
    }
  }

  // OS templates (root containers) and cloud images (root VM templates).
  const pveam = facts.pveam?.code === 0 ? facts.pveam.out : "";
  queries.content.forEach(([sid, ct], i) => {
    const listing = facts[`content_${i}`];
    let vols: string[];
    try {
      vols = listing?.code === 0 ? (JSON.parse(listing.out) as Array<{ volid: string }>).map((v) => v.volid) : [];
    } catch {
      vols = [];
    }
    if (ct === "vztmpl") {
      for (const c of model.containers.filter((x) => x.cloneFrom === undefined && x.osTemplate?.startsWith(`${sid}:`))) {
        const file = c.osTemplate!.slice(c.osTemplate!.indexOf("/") + 1);
        if (vols.includes(c.osTemplate!)) add("ok", `os template ${c.osTemplate}`, `on ${sid}`);
        else {
          const listed = pveam.split("\n").some((l) => l.trim().split(/\s+/)[1] === file);
          add("fail", `os template ${c.osTemplate}`, `not on storage ${sid} (container ${c.ctid})${listed ? "; pveam can download it" : ""}`, listed ? `pveam download ${sid} ${file}` : `copy ${file} into ${sid}'s template/cache directory (pveam available --section system lists what pveam can download)`);
        }
      }
    }
  });
  queries.files.forEach((f, i) => {
    const c = model.containers.find((x) => x.cloneFrom === undefined && x.osTemplate && f.endsWith(`/template/cache/${x.osTemplate.slice(x.osTemplate.indexOf("/") + 1)}`));
    if (!c) return;
    if (facts[`file_${i}`]?.code === 0) add("ok", `os template ${c.osTemplate}`, `${f} is there (its storage is registered by pulumi up)`);
    else add("fail", `os template ${c.osTemplate}`, `${f} does not exist (container ${c.ctid})`, `copy the template to ${f}, or pveam download <storage> ${path.posix.basename(f)} and point template at it`);
  });
  const images = model.vms.filter((v) => v.cloneFrom === undefined && v.templateImage);
  images.forEach((vm) => {
    let image: { url: string; fileName: string };
    try {
      image = cloudImage(vm.templateImage!, store.contentType);
    } catch (err) {
      add("fail", `cloud image vm ${vm.vmid}`, (err as Error).message, "fix template_image in phoenix_vm_configs.json");
      return;
    }
    const volid = imageVolid(vm)!;
    const present = imagePresent(vm);
    if (present) {
      add("ok", `cloud image ${image.fileName}`, `${volid} is there (vm ${vm.vmid})`);
      return;
    }
    const u = queries.urls.indexOf(image.url);
    const reach = u >= 0 ? facts[`url_${u}`] : undefined;
    if (reach?.code === 0) add("ok", `cloud image ${image.fileName}`, `not on ${store.id} yet; the host can download ${image.url} (vm-${vm.vmid}-image)`);
    else
      add(
        "fail",
        `cloud image ${image.fileName}`,
        `not on ${store.id} and the host cannot fetch ${image.url} (curl exit ${reach?.code ?? "?"}${reach?.code === 127 ? ": no curl" : ""})`,
        `curl -fsSI ${image.url} on the host (proxy, DNS, firewall), or place the file as ${volid}`,
      );
  });

  // Guest IDs taken by guests Phoenix does not manage.
  const guests = parseGuests(facts.guests);
  const declared: Array<{ id: number; kind: "ct" | "vm"; name: string }> = [
    ...model.containers.map((c) => ({ id: c.ctid, kind: "ct" as const, name: c.name })),
    ...model.vms.map((v) => ({ id: v.vmid, kind: "vm" as const, name: v.name })),
  ];
  let taken = 0;
  let existing = 0;
  for (const d of declared) {
    const g = guests.get(d.id);
    if (!g) continue;
    const what = (k: "ct" | "vm") => (k === "ct" ? "container" : "VM");
    if (g.kind !== d.kind || g.name !== d.name) {
      taken++;
      add(
        "fail",
        `guest id ${d.id}`,
        `taken by ${what(g.kind)} ${d.id} "${g.name}", not the files' ${what(d.kind)} "${d.name}": Phoenix does not manage it`,
        `${g.kind === "ct" ? "pct" : "qm"} config ${d.id} (look; then give the files' guest another id, or remove that guest on purpose)`,
      );
    } else existing++;
  }
  const others = [...guests.keys()].filter((id) => !declared.some((d) => d.id === id)).length;
  if (!taken)
    add(
      "ok",
      "guest ids",
      `${declared.length} ids free or held by the files' own guests (${existing} exist: adopt them with phoenix import if the stack does not hold them yet); ${others} other guests left alone`,
    );

  // Free space on each storage for the disks of guests that do not exist yet.
  const demand = new Map<string, number>();
  const addDemand = (s: string, gb: number) => demand.set(s, (demand.get(s) ?? 0) + gb);
  for (const c of model.containers) {
    if (guests.has(c.ctid)) continue;
    addDemand(c.storagePool, c.storageSizeGb);
    c.volumes.forEach((v) => addDemand(v.storage, v.sizeGb));
  }
  for (const v of model.vms) {
    if (guests.has(v.vmid)) continue;
    addDemand(v.storagePool, v.diskSizeGb);
    v.volumes.forEach((x) => addDemand(x.storage, x.sizeGb));
  }
  const pools = new Map<string, { freeBytes: number; health: string }>();
  if (facts.zpool?.code === 0) {
    for (const line of facts.zpool.out.split("\n")) {
      const [name, , free, health] = line.split("\t");
      if (name) pools.set(name, { freeBytes: parseSize(free ?? ""), health: (health ?? "").trim() });
    }
  }
  for (const [s, gb] of [...demand.entries()].sort(([a], [b]) => a.localeCompare(b))) {
    const needKiB = gb * 1024 * 1024;
    const st = status.get(s);
    let availKiB: number | undefined = st?.status === "active" ? st.availKiB : undefined;
    let where = `storage ${s}`;
    if (availKiB === undefined) {
      // Not registered yet: the pool its dataset lives on.
      const fs = fileStorages.get(s);
      const ds = fs && model.host.zfs.datasets.find((d) => d.storage?.id === s);
      const pool = ds ? pools.get(ds.pool) : undefined;
      if (pool) {
        availKiB = Math.floor(pool.freeBytes / 1024);
        where = `pool ${ds!.pool} (storage ${s} is not registered yet)`;
      }
    }
    if (availKiB === undefined) {
      if (hostStorages?.has(s) || fileStorages.has(s)) add("warn", `free space ${s}`, `${gb} GiB of new disks; free space unknown until the storage is active`, `pvesm status --storage ${s}`);
      continue;
    }
    if (needKiB > availKiB) add("fail", `free space ${s}`, `new disks need ${gb} GiB, ${where} has ${gib(availKiB)} free`, `free space on ${s} (pvesm list ${s}), or move guests to another storage_pool, or shrink storage_size_gb/disk_size_gb`);
    else add("ok", `free space ${s}`, `new disks need ${gb} GiB of ${gib(availKiB)} free on ${where}`);
  }

  // ZFS pools and their disks.
  const diskFacts = new Map(queries.disks.map((d, i) => [d, facts[`disk_${i}`]]));
  for (const p of model.host.zfs.pools) {
    const onHost = pools.get(p.name);
    if (onHost) {
      if (onHost.health === "ONLINE") add("ok", `zfs pool ${p.name}`, "imported, ONLINE");
      else add("warn", `zfs pool ${p.name}`, `health ${onHost.health}`, `zpool status -v ${p.name}`);
      continue;
    }
    const missing = p.disks.filter((d) => diskFacts.get(d)?.code !== 0);
    if (facts.zpool?.code === 127) add("fail", `zfs pool ${p.name}`, "zpool not found: ZFS is not installed", "apt install zfsutils-linux");
    else if (missing.length) add("fail", `zfs pool ${p.name}`, `not imported, and its disks ${missing.join(", ")} do not exist`, `ls -l /dev/disk/by-id/ (fix the disks of pool ${p.name} in phoenix_hypervisor_config.json), or zpool import ${p.name}`);
    else add("warn", `zfs pool ${p.name}`, `not imported: pulumi up creates it on ${p.disks.length} disks (${p.raidLevel}), which must hold nothing you need`, `zpool import (if it exists on these disks), wipefs -n ${p.disks.join(" ")} (look before creating)`);
  }

  // NVIDIA driver.
  const want = model.host.nvidiaDriver?.version;
  // The loaded module: nvidia-smi asks it; else /sys/module/nvidia/version; else the
  // "NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.76.05  ..." line of /proc/driver/nvidia/version.
  const procVersion = facts.nvidia_proc?.code === 0 ? (/Kernel Module\s+(\S+)/.exec(facts.nvidia_proc.out)?.[1] ?? "") : "";
  const loaded = (facts.nvidia_smi?.code === 0 ? facts.nvidia_smi.out : facts.nvidia_sys?.code === 0 ? facts.nvidia_sys.out : procVersion).trim().split("\n")[0].trim();
  const onDisk = facts.nvidia_modinfo?.code === 0 ? facts.nvidia_modinfo.out.trim() : "";
  const rebootFlag = facts.reboot_required?.code === 0;
  if (want) {
    if (!loaded && !onDisk) add("ok", "nvidia driver", `not installed: pulumi up installs ${want} (host-nvidia)`);
    else if (loaded === want && (!onDisk || onDisk === want)) add(rebootFlag ? "warn" : "ok", "nvidia driver", `module ${loaded} loaded, as the files declare${rebootFlag ? "; a reboot is pending (/var/run/reboot-required)" : ""}`, rebootFlag ? "reboot the host when its guests allow" : undefined);
    else if (onDisk === want && loaded !== want)
      add("fail", "nvidia driver", `${want} is installed but ${loaded ? `module ${loaded}` : "no module"} is loaded: reboot pending`, "reboot the host (GPU containers need the new module)");
    else
      add(
        "fail",
        "nvidia driver",
        `module ${loaded || "(none loaded)"}${onDisk && onDisk !== loaded ? `, ${onDisk} installed` : ""}, but nvidia_driver.version is ${want}: pulumi up would replace the host driver`,
        `set nvidia_driver.version (and nvidia_driver_version of phoenix_lxc_configs.json) to ${loaded || onDisk}, or let pulumi up install ${want} and reboot`,
      );
  } else if (loaded) add("ok", "nvidia driver", `module ${loaded} loaded; the files do not manage the driver (nvidia_driver.install false)`);
  out.push(...gpuChecks(model, facts, onDisk));
  return out;
}

/** What to ask the host for, from the plan. */
export function factQueries(input: DoctorInput): FactQueries {
  const { model, settings, auth } = input;
  const permPaths =
    auth.kind === "unknown" || (auth.kind === "user" && auth.id === "root@pam")
      ? []
      : [...new Set(requiredPrivileges(model, settings.node).flatMap((n) => [n.path, ...(n.alternative ? [n.alternative.path] : [])]))];
  const fileStorages = new Map(model.host.storages.map((s) => [s.id, s]));
  const content: Array<[string, string]> = [];
  const files: string[] = [];
  for (const c of model.containers) {
    if (c.cloneFrom !== undefined || !c.osTemplate) continue;
    const sid = c.osTemplate.split(":")[0];
    const file = c.osTemplate.slice(c.osTemplate.indexOf("/") + 1);
    const fs = fileStorages.get(sid);
    // A storage the files register may not exist yet: look for the file where it will be.
    if (fs?.type === "dir") files.push(path.posix.join(fs.target, "template", "cache", file));
    else if (!content.some(([s, t]) => s === sid && t === "vztmpl")) content.push([sid, "vztmpl"]);
  }
  const urls: string[] = [];
  const images = model.vms.filter((v) => v.cloneFrom === undefined && v.templateImage);
  if (images.length) {
    const store = imageStorage(model.host);
    content.push([store.id, store.contentType]);
    for (const vm of images) {
      try {
        urls.push(cloudImage(vm.templateImage!, store.contentType).url);
      } catch {
        /* reported by evaluate */
      }
    }
  }
  return {
    token: auth.kind === "unknown" ? "" : auth.id,
    node: settings.node,
    permPaths,
    content,
    files,
    urls: [...new Set(urls)],
    disks: [...new Set(model.host.zfs.pools.flatMap((p) => p.disks))],
    templates: content.some(([, t]) => t === "vztmpl"),
  };
}

/** Connects, gathers the facts and judges them. SSH problems are the `ssh` check's fail, never a throw. */
export async function runDoctor(input: DoctorInput): Promise<DoctorReport> {
  const t = input.settings.connection;
  const target = `${t.user}@${t.host}:${t.port}`;
  const report = (checks: CheckResult[]): DoctorReport => ({ stack: input.settings.stack, target, checks, ok: !checks.some((c) => c.status === "fail") });
  let session: SshSession;
  try {
    session = await openSession({ ...t, connectAttempts: t.connectAttempts ?? 2 }, input.secrets);
  } catch (err) {
    const msg = (err as Error).message;
    let fix = `ssh -p ${t.port} ${t.user}@${t.host} true`;
    if (/host key .* does not match|no expected host key|host key:/.test(msg)) {
      fix = `verify the host's key on its console (ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub), then set phoenix:sshHostKey to it (ssh-keyscan -p ${t.port} -t ed25519 ${t.host})`;
    } else if (/authentication/.test(msg)) {
      fix = `authorise the key of phoenix:sshPrivateKey (or PHOENIX_SSH_PRIVATE_KEY) for ${t.user} on the host`;
    }
    return report([{ status: "fail", check: "ssh", found: msg, fix }]);
  }
  try {
    const pinned = t.hostKey ? "host key matches the pinned key" : "host key NOT verified (sshInsecureIgnoreHostKey)";
    const ssh: CheckResult = t.hostKey
      ? { status: "ok", check: "ssh", found: `${target}, ${pinned}` }
      : { status: "warn", check: "ssh", found: `${target}, ${pinned}`, fix: `set phoenix:sshHostKey (ssh-keyscan -p ${t.port} -t ed25519 ${t.host}, verified on the console)` };
    const id = await session.run("id -u; id -un", { purpose: "phoenix doctor: who runs the commands", timeoutMs: 30_000 });
    const [uid = "", user = ""] = id.stdout.trim().split("\n");
    const root = rootCheck(t.user, id.code === 0 ? uid.trim() : "", user.trim() || id.stderr.trim().split("\n")[0]);
    if (root.status !== "ok") return report([ssh, root]);
    const queries = factQueries(input);
    let facts: Record<string, Fact>;
    try {
      facts = await gatherFacts(session, queries, input.timeoutMs);
    } catch (err) {
      return report([
        ssh,
        root,
        { status: "fail", check: "facts", found: (err as Error).message, fix: "run the failing command by hand on the host" },
      ]);
    }
    return report([ssh, root, ...evaluate(input, facts, queries)]);
  } finally {
    session.close();
  }
}

/**
 * Doctor for every node of the stack: runDoctor once per node, in parallel, each over the node's
 * own SSH endpoint and against the node's own host file and guests (the IDs taken anywhere in the
 * cluster are still seen: /etc/pve is shared). A single-node stack's report is runDoctor's; a
 * cluster's checks carry their node (`pve2: storage local`) and it is ok when every node is.
 */
export async function runDoctorOnNodes(input: DoctorInput): Promise<DoctorReport> {
  const { settings, model } = input;
  if (settings.nodes.length <= 1) return runDoctor(input);
  const reports = await Promise.all(
    settings.nodes.map((n) => {
      const node = model.nodes.find((m) => m.name === n.name);
      const onNode: PhoenixModel = {
        ...model,
        host: node?.host ?? model.host,
        nodes: node ? [node] : model.nodes,
        containers: model.containers.filter((c) => c.node === n.name),
        vms: model.vms.filter((v) => v.node === n.name),
      };
      return runDoctor({ ...input, settings: { ...settings, node: n.name, connection: n.connection, nodes: [n] }, model: onNode }).then((r) => ({ node: n.name, r }));
    }),
  );
  const checks = reports.flatMap(({ node, r }) => r.checks.map((c) => ({ ...c, check: `${node}: ${c.check}` })));
  return { stack: settings.stack, target: reports.map(({ node, r }) => `${node} ${r.target}`).join(", "), checks, ok: reports.every(({ r }) => r.ok) };
}

// ---------------------------------------------------------------------------------------------
// Output

/** The report as text: one line per check, `status  check: found  → fix`, then a summary line; the status coloured with `palette`. */
export function formatReport(r: DoctorReport, palette?: Palette): string {
  const color = (s: CheckStatus) => (palette ? (s === "ok" ? palette.add : s === "fail" ? palette.remove : palette.change) : (x: string) => x);
  const lines = r.checks.map((c) => `${color(c.status)(c.status.padEnd(4))}  ${c.check}: ${c.found}${c.fix ? `  → ${c.fix}` : ""}`);
  const n = (s: CheckStatus) => r.checks.filter((c) => c.status === s).length;
  lines.push(`phoenix doctor ${r.stack} (${r.target}): ${n("ok")} ok, ${n("warn")} warn, ${n("fail")} fail`);
  return lines.join("\n") + "\n";
}

/** The API identity the proxmoxve provider uses: `--api-token-id`, the stack's non-secret
 *  `proxmoxve:username`, or the id part (before `=`) of PROXMOX_VE_API_TOKEN. */
function apiAuth(option: string | undefined, config: Record<string, string>, env: NodeJS.ProcessEnv): ApiAuth {
  const tokenId = option ?? (env.PROXMOX_VE_API_TOKEN ? env.PROXMOX_VE_API_TOKEN.split("=")[0] : undefined);
  if (tokenId) return { kind: "token", id: tokenId };
  const user = config["proxmoxve:username"] ?? env.PROXMOX_VE_USERNAME;
  if (user) return { kind: "user", id: user };
  return { kind: "unknown" };
}

const TOKEN_ID = /^[^\s:/!]+@[A-Za-z][A-Za-z0-9._-]*![A-Za-z][A-Za-z0-9._-]*$/;

export const USAGE = `usage: phoenix doctor [--stack NAME] [--config-dir DIR] [--config KEY=VALUE ...] [--api-token-id USER@REALM!NAME] [--json]
                     [--color auto|always|never]

Read-only preflight of the stack's Proxmox host (every node of a cluster stack, each over its own
SSH endpoint; each check then names its node): SSH and its pinned host key, root or sudo, that the
host is the node the stack names, the Proxmox version, the API token's privileges, storages, templates, cloud images, guest ids, free
space, ZFS pools and disks, the NVIDIA module, cgroup2, rules cluster.fw already holds. Changes nothing on the host.
One line per check: \`ok|warn|fail  <check>: <found>  → <fix>\`. Exit 0 when nothing fails, 1 otherwise.
The SSH key comes from PHOENIX_SSH_PRIVATE_KEY (or the agent).

options:
  --stack NAME                  the stack whose settings apply (stacks/Pulumi.NAME.yaml; default dev)
  --config-dir DIR              folder holding the three Phoenix JSON files (default: the stack's
                                phoenix:configDir, else stacks/NAME)
  --config KEY=VALUE            override a stack setting, repeatable, e.g.
                                --config phoenix:sshHost=10.0.0.13 --config 'phoenix:sshHostKey=SHA256:...'
  --api-token-id USER@REALM!NAME  the API token whose privileges are checked (default: the part
                                before \`=\` of PROXMOX_VE_API_TOKEN, else proxmoxve:username)
  --json                        print the report as JSON
  --color WHEN                  colour the status: auto (on a terminal, unless NO_COLOR is set),
                                always, never
  -h, --help                    show this help
`;

export const OPTIONS = {
  ...STACK_OPTIONS,
  config: { type: "string", multiple: true },
  "api-token-id": { type: "string" },
  json: { type: "boolean", default: false },
  ...COLOR_OPTION,
} as const;

/** `phoenix doctor` (argv without the command name): prints the report; returns 0 when no check
 *  fails, 1 when one does (or the files are invalid), 2 on usage errors. */
export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("doctor", argv, OPTIONS, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  const usage = (msg: string) => usageError("doctor", msg);
  const stackName = values.stack ?? "dev";
  const bad = stackUsageError("doctor", stackName);
  if (bad !== undefined) return bad;
  const badColor = colorModeError(values.color);
  if (badColor) return usage(badColor);
  const tokenOpt = values["api-token-id"];
  if (tokenOpt !== undefined && !TOKEN_ID.test(tokenOpt)) return usage(`--api-token-id: expected USER@REALM!NAME, got ${JSON.stringify(tokenOpt)}`);
  // The stack's plain settings: keys held encrypted (secure:) are not known offline and are left
  // out, so their defaults or the environment apply.
  let config: Record<string, string>;
  try {
    const stack = readStackConfig(stackName);
    config = Object.fromEntries(Object.entries(stack.config).filter(([k]) => !stack.secretKeys.includes(k)));
  } catch (err) {
    return usage(`--stack ${stackName}: ${(err as Error).message}`);
  }
  const overrides = configOverrides(values.config);
  if ("error" in overrides) return usage(overrides.error);
  Object.assign(config, overrides.config);
  if (values["config-dir"]) config["phoenix:configDir"] = path.resolve(values["config-dir"]);
  let settings: StackSettings;
  try {
    settings = stackSettingsFrom(stackName, (key) => config[`phoenix:${key}`]);
  } catch (err) {
    return usage((err as Error).message);
  }
  // The stack's allowances (phoenix:allowRawLxc, allowHostPaths) apply as in validate and plan.
  const loaded = loadPhoenixConfig(settings.configDir, { defaultNode: settings.node, nodes: settings.nodes.map((n) => n.name), allow: settings.allow });
  if (!loaded.ok) {
    process.stderr.write(`phoenix doctor: invalid Phoenix configuration in ${settings.configDir}:\n${loaded.errors.join("\n")}\n`);
    return 1;
  }
  // Secrets from the environment only: the stack file holds them encrypted.
  const secrets = secretsFromConfig({ get: () => undefined });
  const report = await runDoctorOnNodes({ settings, model: loaded.model, secrets, auth: apiAuth(tokenOpt, config, process.env) });
  process.stdout.write(values.json ? `${JSON.stringify(report, null, 2)}\n` : formatReport(report, paletteFor(values.color, process.stdout)));
  return report.ok ? 0 : 1;
}
