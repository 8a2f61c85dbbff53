// From the parsed (schema-valid) JSON of the three files to the one PhoenixModel. Every quirk of
// real files is resolved here, once: users as object or list, DNS as string or list, `key=value`
// strings, GPU lists with spaces, OS templates given as host paths, `vm_defaults` fallbacks,
// clones inheriting their parent's sizes, non-volume entries in `shared_volumes`.
import * as path from "path";
import type {
  AdminUser,
  ContainerModel,
  ContainerNetwork,
  HostModel,
  NfsExport,
  ProxmoxStorage,
  SambaShare,
  SharedVolume,
  VmModel,
  ZfsDataset,
  ZfsPool,
} from "./model";
import { Findings, PathSegment, jsonPath } from "./errors";
import {
  ContainerEntry,
  HYPERVISOR_FILE,
  HypervisorFile,
  LXC_FILE,
  LxcFile,
  VM_FILE,
  VmEntry,
  VmFile,
  containerSchema,
  hypervisorFileSchema,
  sharedVolumeSchema,
  show,
  vmSchema,
} from "./schema";
import { ABSOLUTE_PATH, MIN_DISKS, STANDARD_STORAGES, SYSTEM_ACCOUNT } from "./patterns";
import { splitRawLxcLine } from "./lxc-raw";
import { inheritGuestFirewalls, readGuestFirewall, readHostFirewall, warnGuestFirewallsTurnedOn, warnInactiveGuestFirewalls, warnUnreachableServices } from "./firewall";
import { LXC_FEATURES, VM_FEATURES } from "../../features/registry";
import { cloudImage } from "../components/cloud-init";
import type { z } from "zod";
import { cudaDriverShortfall } from "./cuda";
import { distance as levenshtein } from "fastest-levenshtein";
import { readPciDevices } from "./pci";

/** Where each guest was written: for messages from the cross-file rules. */
export interface GuestOrigins {
  containers: Map<number, PathSegment[]>;
  vms: Map<number, PathSegment[]>;
}

// Keys the original format documents but Phoenix does not act on (yet): ignored without a warning.
const QUIET_HOST_KEYS = new Set([
  "firewall", "behavior", "tests", "core_paths", "docker", "dns_server", "step_ca", "portainer_api",
  "vm_defaults", "domain_name", "$schema",
]);
const QUIET_GUEST_KEYS = new Set([
  "ports", "firewall", "tests", "apparmor_manages_nesting", "enable_lifecycle_snapshots", "integration_tests",
  "run_integration_tests", "docker_stacks", "snapshots", "$schema", "description",
]);
/** Keys handed to features and application scripts as parameters (PHOENIX_<KEY> downstream): a known
 *  application prefix, or the name of a feature followed by `_` (`docker_compose_version`). */
const PARAM_KEY = /^(?:vllm|ollama|portainer|traefik|step|python|qdrant|llamacpp|docker|n8n|app|model|service)_[a-z0-9_]*$/;
const FEATURE_PREFIXES = [...new Set<string>([...LXC_FEATURES, ...VM_FEATURES])].map((f) => `${f}_`);
function isParamKey(key: string): boolean {
  return PARAM_KEY.test(key) || (/^[a-z][a-z0-9_]*$/.test(key) && FEATURE_PREFIXES.some((p) => key.startsWith(p)));
}

function schemaKeys(schema: z.ZodObject): Set<string> {
  return new Set(Object.keys(schema.shape));
}
const HOST_KEYS = schemaKeys(hypervisorFileSchema as unknown as z.ZodObject);
const CONTAINER_KEYS = schemaKeys(containerSchema as unknown as z.ZodObject);
const VM_KEYS = schemaKeys(vmSchema as unknown as z.ZodObject);

/** What the Bash tool did with keys Phoenix does not use, where Phoenix knows: named in the one warning per key. */
const BASH_KEY_NOTES: Record<string, string> = {
  trigger_sync_on_completion:
    "the Bash tool ran its `phoenix sync` after creating the guest; Phoenix has no separate sync step: each `pulumi up` converges what it manages (Docker stacks through Portainer are not among them)",
};

/** Keys neither known nor quiet nor parameters: collected, and warned once per key kind (Findings.flushUnused). */
function warnUnknownKeys(
  findings: Findings,
  file: string,
  base: PathSegment[],
  obj: Record<string, unknown>,
  known: Set<string>,
  quiet: Set<string>,
  isParam: (key: string) => boolean = () => false,
): void {
  for (const key of Object.keys(obj)) {
    if (known.has(key) || quiet.has(key) || isParam(key)) continue;
    const near = didYouMean(key, known);
    findings.unused(file, [...base, key], key, [near && `did you mean ${near}?`, BASH_KEY_NOTES[key]].filter(Boolean).join("; ") || undefined);
  }
}

/**
 * The known key a misspelt one most likely meant (`memmory_mb` → `memory_mb`): the closest by edit
 * distance, at most 2 edits and less than a third of its length; none when two are equally close.
 */
export function didYouMean(key: string, known: Iterable<string>): string | undefined {
  const lower = key.toLowerCase();
  const scored = [...known].map((k) => ({ k, d: levenshtein(lower, k.toLowerCase()) })).sort((a, b) => a.d - b.d);
  const best = scored[0];
  if (!best || best.d > 2 || best.d * 3 >= key.length || scored[1]?.d === best.d) return undefined;
  return best.k;
}

/** `recordsize=16K,compression=lz4` → map (the schema has checked the syntax). */
export function parseKeyValues(text: string | undefined, separator: RegExp): Record<string, string> {
  const out: Record<string, string> = {};
  if (!text) return out;
  for (const item of text.split(separator)) {
    if (!item) continue;
    const eq = item.indexOf("=");
    out[item.slice(0, eq).trim()] = item.slice(eq + 1).trim();
  }
  return out;
}

/** `"0, 1"` → [0, 1]; `"none"` / `""` → []. */
function parseGpus(text: string | undefined): number[] {
  if (!text || text === "none") return [];
  return [...new Set(text.split(",").map((s) => Number(s.trim())))].sort((a, b) => a - b);
}

function toList<T>(value: T | T[] | undefined): T[] {
  if (value === undefined) return [];
  return Array.isArray(value) ? value : [value];
}

function sshKeys(value: string | string[] | undefined): string[] {
  return toList(value).filter((k) => k !== "");
}

/** The container features `pct set --features` knows (pve-container's `features` format). */
export const PCT_FEATURE_KEYS = ["nesting", "keyctl", "fuse", "mknod", "mount"];

/** Where the Bash orchestrator's trusted_ca feature copied the root CA from (on the host), used
 *  when a container's trusted_ca feature names no certificate, URL or `trusted_ca_host_path`. */
export const BASH_TRUSTED_CA_PATH = "/mnt/pve/quickOS/lxc-persistent-data/103/ssl/phoenix_root_ca.crt";

/**
 * Checks a parameter value. Parameters are data: any string travels to features and scripts
 * single-quoted (containers) or base64-encoded (VM cloud-init), so `$`, quotes and spaces are
 * fine; only NUL (which no environment variable can hold) is refused. Object keys become JSON keys.
 */
function checkParam(findings: Findings, file: string, at: PathSegment[], value: unknown): void {
  if (typeof value === "string") {
    if (value.includes("\0")) findings.error(file, at, "must not contain a NUL character");
  } else if (Array.isArray(value)) {
    value.forEach((v, i) => checkParam(findings, file, [...at, i], v));
  } else if (value && typeof value === "object") {
    for (const [k, v] of Object.entries(value)) {
      if (!/^[A-Za-z0-9_.-]+$/.test(k)) findings.error(file, [...at, k], `key must be letters, digits, '_.-'; got ${show(k)}`);
      checkParam(findings, file, [...at, k], v);
    }
  }
}

// ---------------------------------------------------------------- host

/** The node guests land on when neither they nor the stack name one (Proxmox's installer default). */
export const DEFAULT_NODE = "pve";

export interface HostContext {
  host: HostModel;
  /** Resolves a storage reference (id, alias or standard storage) to a storage id; undefined if unknown. */
  resolveStorage(ref: string): string | undefined;
  /** Storage ids a reference may name, for messages. */
  knownStorages(): string[];
  /** Set for a cluster node's own host file (`nodes/<node>/phoenix_hypervisor_config.json`): named in messages. */
  file?: string;
}

/** Where a host context's storages are described, for messages: `the host config` or the node's file. */
function hostConfigName(ctx: HostContext): string {
  return ctx.file ? `the host config of its node (${ctx.file})` : "the host config";
}

export function normaliseHost(raw: HypervisorFile, findings: Findings): HostContext {
  const F = HYPERVISOR_FILE;
  warnUnknownKeys(findings, F, [], raw as Record<string, unknown>, HOST_KEYS, QUIET_HOST_KEYS);

  const users: AdminUser[] = toList(raw.users).map((u) => ({
    username: u.username,
    passwordHash: !u.password_hash || u.password_hash === "NOT_SET" ? null : u.password_hash,
    sudo: u.sudo_access ?? false,
    sshPublicKeys: sshKeys(u.ssh_public_key),
  }));
  const seenUsers = new Set<string>();
  users.forEach((u, i) => {
    const at: PathSegment[] = Array.isArray(raw.users) ? ["users", i, "username"] : ["users", "username"];
    if (seenUsers.has(u.username)) findings.error(F, at, `user ${u.username} is listed twice`);
    seenUsers.add(u.username);
    if (SYSTEM_ACCOUNT.test(u.username)) findings.error(F, at, `${u.username} is a system account: Phoenix would set its password, keys and sudo; name a personal admin account instead`);
  });

  const interfaces = toList(raw.network?.interfaces);
  if (interfaces.length > 1) {
    findings.warn(F, ["network", "interfaces"], `${interfaces.length} interfaces given; only the first (${interfaces[0].name}) is used`);
  }
  const iface = interfaces[0];
  const dns = iface?.dns_nameservers;
  const network: HostModel["network"] = {
    interfaceName: iface?.name ?? "vmbr0",
    address: iface?.address,
    gateway: iface?.gateway,
    dnsNameservers: typeof dns === "string" ? dns.split(/[ ,]+/).filter(Boolean) : (dns ?? []),
    defaultSubnet: raw.network?.default_subnet,
    nfsServer: raw.network?.nfs_server,
  };

  // ZFS pools and datasets.
  // Creation options: explicit ashift (it cannot change later), and what the Bash tool created its
  // pools with (zpool create -o autotrim=on -O compression=lz4 -O atime=off), unless the pool says.
  const pools: ZfsPool[] = (raw.zfs?.pools ?? []).map((p) => ({
    name: p.name,
    raidLevel: p.raid_level,
    disks: p.disks,
    ashift: p.ashift ?? 12,
    autotrim: p.autotrim ?? "on",
    compression: p.compression ?? "lz4",
    atime: p.atime ?? "off",
    declared: (["ashift", "autotrim", "compression", "atime"] as const).filter((k) => p[k] !== undefined),
  }));
  const poolNames = new Set<string>();
  const diskOwner = new Map<string, string>();
  (raw.zfs?.pools ?? []).forEach((p, i) => {
    if (poolNames.has(p.name)) findings.error(F, ["zfs", "pools", i, "name"], `pool ${p.name} is declared twice`);
    poolNames.add(p.name);
    const minDisks = MIN_DISKS[p.raid_level];
    if (p.disks.length < minDisks) {
      findings.error(F, ["zfs", "pools", i, "disks"], `raid_level ${p.raid_level} needs at least ${minDisks} disks; got ${p.disks.length}`);
    }
    p.disks.forEach((d, j) => {
      const owner = diskOwner.get(d);
      if (owner !== undefined) findings.error(F, ["zfs", "pools", i, "disks", j], `disk ${d} is already used by pool ${owner}`);
      else diskOwner.set(d, p.name);
    });
  });

  const aliases: Record<string, string> = { ...(raw.proxmox_storage_ids ?? {}) };
  const storages: ProxmoxStorage[] = [];
  const datasets: ZfsDataset[] = [];
  const seenDatasets = new Set<string>();
  (raw.zfs?.datasets ?? []).forEach((d, i) => {
    const fullName = `${d.pool}/${d.name}`;
    if (seenDatasets.has(fullName)) findings.error(F, ["zfs", "datasets", i, "name"], `dataset ${fullName} is declared twice`);
    seenDatasets.add(fullName);
    if (!poolNames.has(d.pool)) {
      findings.warn(F, ["zfs", "datasets", i, "pool"], `pool ${d.pool} is not in zfs.pools; it must already exist on the host`);
    }
    const properties =
      typeof d.properties === "object" && d.properties !== null
        ? Object.fromEntries(Object.entries(d.properties).map(([k, v]) => [k, String(v)]))
        : parseKeyValues(d.properties, /,/);
    const dataset: ZfsDataset = {
      name: d.name,
      pool: d.pool,
      fullName,
      properties,
      mountPoint: properties.mountpoint && properties.mountpoint.startsWith("/") ? properties.mountpoint : `/${fullName}`,
    };
    if (d.proxmox_storage_type) {
      // The original orchestrator's rule: an alias keyed `<pool>_<name with - as _>` overrides the
      // default storage id `<pool>-<name>`.
      const id = aliases[`${d.pool}_${d.name.replace(/[-/]/g, "_")}`] ?? `${d.pool}-${d.name.replace(/\//g, "-")}`;
      const content = d.proxmox_content_type
        ? d.proxmox_content_type === "none" ? [] : d.proxmox_content_type.split(",")
        : ["images", "rootdir"];
      // pve-storage's ZFSPoolPlugin declares content { images, rootdir } only: `pvesm add zfspool`
      // refuses anything else (backups, ISOs and templates need a file system: a `dir` storage).
      const foreign = d.proxmox_storage_type === "zfspool" ? content.filter((c) => c !== "images" && c !== "rootdir") : [];
      if (foreign.length > 0) {
        findings.error(F, ["zfs", "datasets", i, "proxmox_content_type"], `a zfspool storage holds only images and rootdir, not ${foreign.join(",")} (use proxmox_storage_type dir for those)`);
      }
      const storage: ProxmoxStorage = {
        id,
        type: d.proxmox_storage_type,
        content,
        target: d.proxmox_storage_type === "zfspool" ? fullName : dataset.mountPoint,
      };
      if (storages.some((s) => s.id === id)) {
        findings.error(F, ["zfs", "datasets", i, "name"], `storage id ${id} is already registered by another dataset`);
      } else if ((STANDARD_STORAGES as readonly string[]).includes(id)) {
        findings.error(F, ["zfs", "datasets", i, "name"], `storage id ${id} clashes with a standard Proxmox storage`);
      } else {
        storages.push(storage);
        dataset.storage = storage;
      }
    }
    datasets.push(dataset);
  });

  const storageIds = new Set(storages.map((s) => s.id));
  for (const [alias, target] of Object.entries(aliases)) {
    if (!storageIds.has(target) && !(STANDARD_STORAGES as readonly string[]).includes(target)) {
      findings.warn(F, ["proxmox_storage_ids", alias], `alias points at ${target}, which no dataset registers`);
    }
  }

  const resolveStorage = (ref: string): string | undefined => {
    if (storageIds.has(ref) || (STANDARD_STORAGES as readonly string[]).includes(ref)) return ref;
    const target = aliases[ref];
    if (target !== undefined && (storageIds.has(target) || (STANDARD_STORAGES as readonly string[]).includes(target))) return target;
    return undefined;
  };
  const knownStorages = () => [...[...storageIds].sort(), ...STANDARD_STORAGES];

  const mountPointBase = raw.mount_point_base ?? "/mnt/pve";

  // NFS.
  const nfsExports: NfsExport[] = (raw.nfs?.exports ?? []).map((e) => ({
    path: e.path,
    clients: e.clients,
    options: e.options ?? ["rw", "sync", "no_subtree_check"],
  }));
  const seenExports = new Set<string>();
  nfsExports.forEach((e, i) => {
    if (seenExports.has(e.path)) findings.error(F, ["nfs", "exports", i, "path"], `path ${e.path} is exported twice`);
    seenExports.add(e.path);
    if (e.clients.length === 0) findings.error(F, ["nfs", "exports", i, "clients"], "must list at least one client");
  });

  // Samba: share paths are dataset paths relative to `/` (`quickOS/shared-prod-data`).
  let samba: HostModel["samba"];
  // Older files have no samba.user: the Samba user is the (first) admin user.
  const sambaUser = raw.samba ? (raw.samba.user ?? users[0]?.username) : undefined;
  if (raw.samba && sambaUser === undefined) {
    findings.error(F, ["samba", "user"], "is required when no admin user (users.username) is configured");
  }
  if (raw.samba && sambaUser !== undefined && SYSTEM_ACCOUNT.test(sambaUser) && raw.samba.user !== undefined) {
    findings.error(F, ["samba", "user"], `${sambaUser} is a system account: a Samba login for it reaches every share as ${sambaUser}; name a personal account instead`);
  }
  if (raw.samba && sambaUser !== undefined) {
    const shares: SambaShare[] = [];
    const seenShares = new Set<string>();
    (raw.samba.shares ?? []).forEach((s, i) => {
      const key = s.name.toLowerCase();
      if (seenShares.has(key)) findings.error(F, ["samba", "shares", i, "name"], `share ${s.name} is declared twice`);
      seenShares.add(key);
      if (key === "global" || key === "homes" || key === "printers") {
        findings.error(F, ["samba", "shares", i, "name"], `${s.name} is a reserved Samba section name`);
      }
      const dataset = datasets.find((d) => d.fullName === s.path.replace(/\/$/, ""));
      const sharePath = dataset ? dataset.mountPoint : s.path.startsWith("/") ? s.path : `/${s.path}`;
      if (!dataset && !s.path.startsWith("/")) {
        findings.warn(F, ["samba", "shares", i, "path"], `no dataset ${s.path} in zfs.datasets; serving ${sharePath} as it is`);
      }
      shares.push({
        name: s.name,
        path: sharePath.replace(/(.)\/$/, "$1"),
        options: parseKeyValues(s.options, / +/),
        validUsers: s.valid_users ?? [sambaUser],
      });
    });
    samba = { user: sambaUser, shares };
    if (!users.some((u) => u.username === sambaUser)) {
      // The Bash tool created its Samba user with a feature of its own (hypervisor_feature_create_heads_user.sh).
      findings.warn(
        F,
        ["samba", "user"],
        `${sambaUser} is not one of the admin users; it must already exist on the host (the Bash orchestrator created it; by hand: useradd -m -s /bin/bash ${sambaUser}), or add it to users for Phoenix to create it`,
      );
    }
  }

  // proxmox_defaults.lxc: `features` mixes Phoenix feature names and pct `key=value` options in real files.
  const d = raw.proxmox_defaults?.lxc;
  const defaultFeatureItems = toList(d?.features).flatMap((f) => f.split(",")).filter(Boolean);
  let defaultNetwork: ContainerNetwork | undefined;
  if (typeof d?.network_config === "string") {
    const [ip, gateway] = d.network_config.split(",");
    defaultNetwork = { name: "eth0", bridge: network.interfaceName, ip, gateway };
  } else if (d?.network_config) {
    defaultNetwork = { name: d.network_config.name, bridge: d.network_config.bridge, ip: d.network_config.ip, gateway: d.network_config.gw };
  }
  const lxcDefaults: HostModel["lxcDefaults"] = {
    cores: d?.cores,
    memoryMb: d?.memory_mb,
    network: defaultNetwork,
    features: defaultFeatureItems.filter((f) => !f.includes("=")),
    pctOptions: parseKeyValues(defaultFeatureItems.filter((f) => f.includes("=")).join(","), /,/),
    nesting: d?.nesting === undefined ? undefined : Boolean(d.nesting),
  };

  // NVIDIA driver.
  let nvidiaDriver: HostModel["nvidiaDriver"];
  const nv = raw.nvidia_driver;
  if (nv?.install) {
    if (!nv.version) {
      findings.error(F, ["nvidia_driver", "version"], "is required when install is true");
    } else {
      nvidiaDriver = {
        version: nv.version,
        runfileUrl:
          nv.runfile_url ?? `https://us.download.nvidia.com/XFree86/Linux-x86_64/${nv.version}/NVIDIA-Linux-x86_64-${nv.version}.run`,
        runfileSha256: nv.runfile_sha256,
        cudaVersion: nv.cuda_version,
        installVllmLibs: nv.install_vllm_libs ?? false,
      };
      const minimum = nv.cuda_version ? cudaDriverShortfall(nv.cuda_version, nv.version) : undefined;
      if (minimum) {
        findings.warn(F, ["nvidia_driver", "cuda_version"], `CUDA ${nv.cuda_version} needs NVIDIA driver ${minimum} or newer, but version is ${nv.version}: CUDA programs and CUDA images fail with "CUDA driver version is insufficient"`);
      }
      if (nv.runfile_url && !nv.runfile_url.includes(nv.version)) {
        findings.warn(F, ["nvidia_driver", "runfile_url"], `does not mention version ${nv.version}`);
      }
    }
  }

  // Shared volumes; real files keep other objects here too.
  const sharedVolumes: SharedVolume[] = [];
  for (const [name, entry] of Object.entries(raw.shared_volumes ?? {})) {
    const at: PathSegment[] = ["shared_volumes", name];
    const obj = entry as Record<string, unknown>;
    // The schema leaves `firewall` to readHostFirewall, whatever it holds (it reports a non-object).
    if (name === "firewall" && (obj === null || typeof obj !== "object" || Array.isArray(obj))) continue;
    if (!("host_path" in obj) && !("mounts" in obj)) {
      // `shared_volumes.firewall` is the host firewall (read by readHostFirewall).
      if (name !== "firewall") findings.warn(F, at, "not a volume (no host_path or mounts), skipped");
      continue;
    }
    if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) {
      findings.error(F, at, `volume names must be letters, digits, '_.-'; got ${show(name)}`);
    }
    const parsed = sharedVolumeSchema.safeParse(entry);
    if (!parsed.success) {
      for (const issue of parsed.error.issues) findings.error(F, [...at, ...(issue.path as PathSegment[])], issue.message);
      continue;
    }
    sharedVolumes.push({
      name,
      hostPath: parsed.data.host_path,
      mounts: Object.entries(parsed.data.mounts)
        .map(([ctid, containerPath]) => ({ ctid: Number(ctid), containerPath }))
        .sort((a, b) => a.ctid - b.ctid),
    });
  }

  // The ZFS module parameter takes bytes; Phoenix writes whole GiB (as the Bash tool's arithmetic did).
  if (raw.zfs?.arc_max_gb !== undefined && !Number.isInteger(raw.zfs.arc_max_gb)) {
    findings.error(F, ["zfs", "arc_max_gb"], `must be a whole number of GiB; got ${raw.zfs.arc_max_gb}`);
  }
  for (const key of Object.keys(lxcDefaults.pctOptions)) {
    if (!PCT_FEATURE_KEYS.includes(key)) {
      findings.error(F, ["proxmox_defaults", "lxc", "features"], `${key}=${lxcDefaults.pctOptions[key]} is not a Proxmox container feature (${PCT_FEATURE_KEYS.join(", ")})`);
    }
  }

  const host: HostModel = {
    timezone: raw.timezone,
    domainName: raw.domain_name,
    users,
    network,
    nfsExports,
    samba,
    zfs: { arcMaxGb: raw.zfs?.arc_max_gb, pools, datasets },
    storages,
    storageAliases: aliases,
    mountPointBase,
    lxcDefaults,
    nvidiaDriver,
    sharedVolumes,
    pciDevices: readPciDevices(raw, F, findings),
  };
  const firewall = readHostFirewall(raw as Record<string, unknown>, F, findings);
  if (firewall) host.firewall = firewall;
  warnUnreachableServices(host, F, findings);
  return { host, resolveStorage, knownStorages };
}

// ---------------------------------------------------------------- id maps

/** Proxmox's default map for unprivileged containers (pve-container `parse_id_maps`): container
 *  ids 0..65535 → host 100000..165535, for uids and gids alike; /etc/subuid and /etc/subgid give
 *  root exactly that range on a fresh host. */
const DEFAULT_ID_BASE = 100_000;
const DEFAULT_ID_COUNT = 65_536;

/**
 * Completes a partial `id_maps` list (e.g. only `gid 33 → 33`) into the full map an unprivileged
 * container needs, as the well-known recipe does (Proxmox wiki, "Unprivileged LXC containers"):
 * for each of uid and gid, the listed ranges as given and every hole in 0..65535 mapped to
 * 100000 + id; a type the file does not list gets the whole default range. Host ids outside
 * root's default range are returned as `subIds` (`root:<id>:<count>` in /etc/subuid|subgid).
 *
 * Refused as Proxmox/the kernel refuse them: ranges overlapping on the container side or on the
 * host side (the kernel's uid_map rejects both), and a map that leaves container root (id 0)
 * without a uid or a gid. Ranges beyond container id 65535 are kept as given (no filling there). `fail(message, index?)` receives each
 * problem (index: the offending `id_maps` entry). An empty list stays empty (Proxmox's default).
 */
export function completeIdMap(
  given: { type: "uid" | "gid"; containerId: number; hostId: number; size: number }[],
  fail: (message: string, index?: number) => void,
): { entries: { type: "uid" | "gid"; containerId: number; hostId: number; size: number }[]; subIds: { type: "uid" | "gid"; hostId: number; size: number }[] } {
  if (given.length === 0) return { entries: [], subIds: [] };
  const entries: { type: "uid" | "gid"; containerId: number; hostId: number; size: number }[] = [];
  const subIds: { type: "uid" | "gid"; hostId: number; size: number }[] = [];
  for (const type of ["uid", "gid"] as const) {
    const mine = given.map((m, index) => ({ ...m, index })).filter((m) => m.type === type).sort((a, b) => a.containerId - b.containerId);
    let ok = true;
    mine.forEach((m, k) => {
      const prev = mine[k - 1];
      if (prev && prev.containerId + prev.size > m.containerId) {
        fail(`${type} container ids ${m.containerId}-${m.containerId + m.size - 1} overlap ids ${prev.containerId}-${prev.containerId + prev.size - 1} of another entry (the kernel refuses overlapping maps)`, m.index);
        ok = false;
      }
    });
    if (!ok) continue;
    const full: { type: "uid" | "gid"; containerId: number; hostId: number; size: number }[] = [];
    let next = 0;
    // Holes are filled inside the default range 0..65535 only; ranges the file maps beyond it stay as given.
    const fill = (from: number, to: number) => {
      const end = Math.min(to, DEFAULT_ID_COUNT);
      if (end > from) full.push({ type, containerId: from, hostId: DEFAULT_ID_BASE + from, size: end - from });
    };
    for (const m of mine) {
      fill(next, m.containerId);
      full.push({ type, containerId: m.containerId, hostId: m.hostId, size: m.size });
      next = Math.max(next, m.containerId + m.size);
    }
    fill(next, DEFAULT_ID_COUNT);
    // Host side: no two ranges may share a host id.
    const byHost = [...full].sort((a, b) => a.hostId - b.hostId);
    byHost.forEach((m, k) => {
      const prev = byHost[k - 1];
      if (prev && prev.hostId + prev.size > m.hostId) {
        const culprit = mine.find((x) => x.containerId === m.containerId || x.containerId === prev.containerId);
        fail(`${type} host ids ${m.hostId}-${m.hostId + m.size - 1} (container ${m.containerId}) overlap host ids ${prev.hostId}-${prev.hostId + prev.size - 1} (container ${prev.containerId}); the kernel refuses overlapping maps`, culprit?.index);
        ok = false;
      }
    });
    if (!ok) continue;
    if (!full.some((m) => m.containerId === 0)) {
      fail(`container root (${type} 0) is not mapped; Proxmox needs both a uid and a gid for root`);
      continue;
    }
    entries.push(...full);
    for (const m of mine) {
      const inDefault = m.hostId >= DEFAULT_ID_BASE && m.hostId + m.size <= DEFAULT_ID_BASE + DEFAULT_ID_COUNT;
      if (!inDefault) subIds.push({ type, hostId: m.hostId, size: m.size });
    }
  }
  return { entries, subIds };
}

// ---------------------------------------------------------------- containers

/** Maps an OS template given as a host path to a volume id `<storage>:vztmpl/<file>`. */
function templateVolumeId(
  template: string,
  ctx: HostContext,
  findings: Findings,
  at: PathSegment[],
): string | undefined {
  if (!template.startsWith("/")) {
    const storage = template.slice(0, template.indexOf(":"));
    if (!ctx.resolveStorage(storage)) {
      findings.error(LXC_FILE, at, `storage ${storage} is not known; known: ${ctx.knownStorages().join(", ")}`);
      return undefined;
    }
    return `${ctx.resolveStorage(storage)}${template.slice(storage.length)}`;
  }
  const file = path.posix.basename(template);
  const dir = path.posix.dirname(template);
  if (dir === "/var/lib/vz/template/cache") return `local:vztmpl/${file}`;
  for (const s of ctx.host.storages) {
    if (s.type === "dir" && dir === `${s.target}/template/cache`) {
      if (!s.content.includes("vztmpl")) {
        findings.warn(LXC_FILE, at, `storage ${s.id} holds the template but its content types (${s.content.join(",")}) lack vztmpl`);
      }
      return `${s.id}:vztmpl/${file}`;
    }
  }
  const dirs = ctx.host.storages.filter((s) => s.type === "dir").map((s) => `${s.target}/template/cache`);
  findings.error(
    LXC_FILE,
    at,
    `cannot map ${template} to a Proxmox storage: put it in ${[...dirs, "/var/lib/vz/template/cache"].join(" or ")}, or give a volume id <storage>:vztmpl/<file>`,
  );
  return undefined;
}

export function normaliseContainers(
  raw: LxcFile,
  stackCtx: HostContext,
  findings: Findings,
  origins: GuestOrigins,
  defaultNode: string | undefined,
  ctxOf?: (node: string) => HostContext,
): ContainerModel[] {
  const F = LXC_FILE;
  warnUnknownKeys(findings, F, [], raw as Record<string, unknown>, new Set(["$schema", "nvidia_driver_version", "nvidia_repo_url", "nvidia_runfile_url", "lxc_configs"]), new Set());
  const entries = raw.lxc_configs;

  /** A value from the container or, for clones, the nearest ancestor that sets it. */
  function inherited<K extends keyof ContainerEntry>(key: string, entry: ContainerEntry, field: K): ContainerEntry[K] | undefined {
    const seen = new Set<string>([key]);
    let current: ContainerEntry | undefined = entry;
    while (current) {
      if (current[field] !== undefined) return current[field];
      const parent: string | undefined = current.clone_from_ctid === undefined ? undefined : String(current.clone_from_ctid);
      if (parent === undefined || seen.has(parent)) return undefined;
      seen.add(parent);
      current = entries[parent];
    }
    return undefined;
  }

  /**
   * The disk size of a container whose chain sets no `storage_size_gb`: Proxmox's 8 GB, unless a
   * clone below it asks for less explicitly. A default never makes an explicit value invalid
   * ("smaller than the parent"); the template is sized so its explicitly sized clones fit.
   */
  function implicitRootSize(key: string): number {
    let size = 8;
    const seen = new Set<string>([key]);
    const queue = [key];
    while (queue.length > 0) {
      const parent = queue.shift()!;
      for (const [childKey, child] of Object.entries(entries)) {
        if (child.clone_from_ctid === undefined || String(child.clone_from_ctid) !== parent || seen.has(childKey)) continue;
        seen.add(childKey);
        if (child.storage_size_gb !== undefined) size = Math.min(size, child.storage_size_gb);
        else queue.push(childKey);
      }
    }
    return size;
  }

  const containers: ContainerModel[] = [];
  for (const key of Object.keys(entries).sort((a, b) => Number(a) - Number(b))) {
    const e = entries[key];
    const ctid = Number(key);
    const base: PathSegment[] = ["lxc_configs", key];
    origins.containers.set(ctid, base);
    // The guest's node (its own `node`, else the stack's primary node) and that node's host config:
    // storages, defaults and shared volumes come from there (cluster stacks, issue 16).
    const node = e.node ?? defaultNode ?? DEFAULT_NODE;
    const ctx = ctxOf?.(node) ?? stackCtx;
    const host = ctx.host;
    // `<feature>_*` keys are parameters for the container's features, the stack's own ones too.
    const isParam = (k: string) => isParamKey(k) || (/^[a-z][a-z0-9_]*$/.test(k) && (e.features ?? []).some((f) => k.startsWith(`${f}_`)));
    warnUnknownKeys(findings, F, base, e as Record<string, unknown>, CONTAINER_KEYS, QUIET_GUEST_KEYS, isParam);

    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) {
      if (isParam(k) && !CONTAINER_KEYS.has(k)) {
        params[k] = v;
        checkParam(findings, F, [...base, k], v);
        // A file on the host handed to a feature (trusted_ca_host_path): pushed by the host runner.
        if (k.endsWith("_host_path") && (typeof v !== "string" || !ABSOLUTE_PATH.test(v) || v.endsWith("/"))) {
          findings.error(F, [...base, k], `must be an absolute host path without spaces or shell characters; got ${show(v)}`);
        }
      }
    }
    // A certificate "given" as a host path (the Bash tool's files name the shared SSL folder's file)
    // is a host file, not PEM text.
    if (typeof params.trusted_ca_cert === "string" && ABSOLUTE_PATH.test(params.trusted_ca_cert) && params.trusted_ca_host_path === undefined) {
      params.trusted_ca_host_path = params.trusted_ca_cert;
      delete params.trusted_ca_cert;
    }
    if ((e.features ?? []).includes("trusted_ca") && !["trusted_ca_cert", "trusted_ca_url", "trusted_ca_host_path"].some((k) => k in params)) {
      findings.warn(F, [...base, "features", (e.features ?? []).indexOf("trusted_ca")], `trusted_ca names no trusted_ca_cert, trusted_ca_url or trusted_ca_host_path: the root CA is copied from ${BASH_TRUSTED_CA_PATH} on the host, as the Bash orchestrator did (it must exist there)`);
    }

    let osTemplate: string | undefined;
    if (e.clone_from_ctid === undefined) {
      if (e.template === undefined) findings.error(F, base, "needs either template (an OS template) or clone_from_ctid");
      else osTemplate = templateVolumeId(e.template, ctx, findings, [...base, "template"]);
    } else if (e.template !== undefined) {
      findings.warn(F, [...base, "template"], "ignored: the container is cloned from clone_from_ctid");
    }

    const storageRef = inherited(key, e, "storage_pool");
    let storagePool = "";
    if (storageRef === undefined) {
      findings.error(F, [...base, "storage_pool"], "is required (on the container or a template it is cloned from)");
    } else {
      const resolved = ctx.resolveStorage(storageRef);
      if (!resolved) {
        const at = e.storage_pool !== undefined ? [...base, "storage_pool"] : base;
        findings.error(F, at, `storage ${storageRef} is not in ${hostConfigName(ctx)}; known: ${ctx.knownStorages().join(", ")}`);
      } else storagePool = resolved;
    }

    let network: ContainerNetwork;
    const nc = e.network_config;
    if (nc) {
      const ns = nc.nameservers;
      const nameservers = typeof ns === "string" ? ns.split(/[ ,]+/).filter(Boolean) : (ns ?? []);
      network = { name: nc.name, bridge: nc.bridge, ip: nc.ip, gateway: nc.gw };
      if (nameservers.length > 0) network.nameservers = nameservers;
      const searchDomain = nc.searchdomain ?? (nameservers.length > 0 ? host.domainName : undefined);
      if (searchDomain) network.searchDomain = searchDomain;
    }
    else if (host.lxcDefaults.network) network = { ...host.lxcDefaults.network };
    else {
      findings.error(F, [...base, "network_config"], "is required (no proxmox_defaults.lxc.network_config to fall back to)");
      network = { name: "eth0", bridge: host.network.interfaceName, ip: "dhcp" };
    }

    const volumes: ContainerModel["volumes"] = [];
    for (const field of ["volumes", "zfs_volumes"] as const) {
      (e[field] ?? []).forEach((v, i) => {
        const at: PathSegment[] = [...base, field, i];
        const ref = v.storage ?? v.pool;
        if (ref === undefined) return findings.error(F, at, "needs pool (a Proxmox storage id)");
        if (v.size_gb === undefined) return findings.error(F, [...at, "size_gb"], "is required");
        if (v.mount_point === undefined) return findings.error(F, [...at, "mount_point"], "is required");
        // The Bash tool used whatever storage a volume names; as for undeclared pools, an undeclared
        // storage must already exist on the host (Proxmox refuses the volume otherwise).
        let storage = ctx.resolveStorage(ref);
        if (!storage) {
          findings.warn(F, [...at, v.storage ? "storage" : "pool"], `storage ${ref} is not in ${hostConfigName(ctx)}; it must already exist on the host (known here: ${ctx.knownStorages().join(", ")})`);
          storage = ref;
        }
        volumes.push({ name: v.name, storage, sizeGb: v.size_gb, mountPoint: v.mount_point });
      });
    }

    const bindMounts: ContainerModel["bindMounts"] = [];
    const norm = (p: string) => p.replace(/(.)\/+$/, "$1");
    const diskTargets = new Set(volumes.map((v) => norm(v.mountPoint)));
    // A disk (volumes/zfs_volumes) and a shared_volumes bind mount on one path: the Bash tool's
    // disk step ran after the shared volumes and won; keep the disk, skip the bind mount.
    for (const sv of host.sharedVolumes) {
      for (const m of sv.mounts) {
        if (m.ctid !== ctid) continue;
        if (diskTargets.has(norm(m.containerPath))) {
          findings.warn(HYPERVISOR_FILE, ["shared_volumes", sv.name, "mounts", String(ctid)], `skipped: container ${ctid} has a disk on ${m.containerPath} (${F} ${jsonPath(base)}), which is kept`);
          continue;
        }
        bindMounts.push({ hostPath: sv.hostPath, containerPath: m.containerPath });
      }
    }
    for (const m of e.mount_points ?? []) {
      bindMounts.push({ hostPath: m.host_path, containerPath: m.container_path, ownerUid: m.owner_uid, ownerGid: m.owner_gid });
    }
    const mountTargets = new Map<string, number>();
    for (const m of [...bindMounts.map((b) => b.containerPath), ...volumes.map((v) => v.mountPoint)]) {
      mountTargets.set(norm(m), (mountTargets.get(norm(m)) ?? 0) + 1);
    }
    for (const [target, count] of mountTargets) {
      if (count > 1) findings.error(F, base, `${count} mounts target ${target} in the container`);
    }

    const lxcOptions = (e.lxc_options ?? []).map((line) => {
      // The schema admitted only lines Proxmox can split (patterns.ts LXC_LINE).
      const { key, value: raw } = splitRawLxcLine(line)!;
      // LXC reads capability lists space-separated and rejects `sys_admin,mknod`; the Bash tool's
      // files use commas. Same capabilities, LXC's spelling.
      const value = key === "lxc.cap.keep" || key === "lxc.cap.drop" ? raw.split(/[\s,]+/).filter(Boolean).join(" ") : raw;
      return { key, value };
    });

    const idMap = completeIdMap(
      // A clone has its template's map (`pct clone` copies lxc.idmap) unless it gives its own.
      (inherited(key, e, "id_maps") ?? []).map((m) => ({ type: m.type.startsWith("u") ? "uid" : "gid", hostId: m.host_id, containerId: m.container_id, size: m.size })),
      (msg, i) => findings.error(F, i === undefined ? [...base, "id_maps"] : [...base, "id_maps", i], msg),
    );
    if (idMap.entries.length > 0 && !(inherited(key, e, "unprivileged") ?? true)) {
      findings.error(F, [...base, "id_maps"], "id maps apply to unprivileged containers only (unprivileged is false)");
    }

    // pct_options: the container's, else its parent's (a clone carries its parent's flags), else
    // proxmox_defaults.lxc (`features` key=value items and `nesting`). Phoenix features from
    // the defaults go to root containers that omit `features` (a clone has its template's).
    const ownPct = inherited(key, e, "pct_options");
    const pctOptions =
      ownPct !== undefined
        ? parseKeyValues(ownPct.join(","), /,(?=[a-z][a-z0-9_]*=)/)
        : {
            ...(host.lxcDefaults.nesting !== undefined ? { nesting: host.lxcDefaults.nesting ? "1" : "0" } : {}),
            ...host.lxcDefaults.pctOptions,
          };
    const features = e.features ?? (e.clone_from_ctid === undefined ? [...host.lxcDefaults.features] : []);
    const runsDocker = (() => {
      const seen = new Set<string>();
      for (let cur: ContainerEntry | undefined = e, k = key; cur && !seen.has(k); ) {
        seen.add(k);
        if ((k === key ? features : cur.features ?? [])?.includes("docker")) return true;
        if (cur.clone_from_ctid === undefined) break;
        k = String(cur.clone_from_ctid);
        cur = entries[k];
      }
      return false;
    })();
    if (runsDocker && !["1", "true"].includes(pctOptions.nesting ?? "")) {
      findings.warn(F, [...base, "pct_options"], "runs Docker (the docker feature, here or in its template) without nesting=1: Docker in an LXC container needs nesting (and keyctl when unprivileged)");
    }
    // Flags the container gives itself must be container features (inherited ones were checked
    // on their parent, defaults on proxmox_defaults).
    const ownFlags = parseKeyValues((e.pct_options ?? []).join(","), /,(?=[a-z][a-z0-9_]*=)/);
    for (const k of Object.keys(ownFlags)) {
      if (!PCT_FEATURE_KEYS.includes(k)) {
        findings.error(F, [...base, "pct_options", (e.pct_options ?? []).findIndex((o) => o.startsWith(`${k}=`))], `${k} is not a Proxmox container feature (${PCT_FEATURE_KEYS.join(", ")})`);
      }
    }
    const givenProfile = lxcOptions.find((o) => o.key === "lxc.apparmor.profile");
    // `unconfined` adds no line (see ContainerModel.apparmorProfile): it contradicts no raw line.
    if (e.apparmor_profile && e.apparmor_profile !== "unconfined" && givenProfile && givenProfile.value !== e.apparmor_profile) {
      findings.error(F, [...base, "apparmor_profile"], `${e.apparmor_profile} contradicts lxc_options lxc.apparmor.profile=${givenProfile.value}`);
    }

    const hc = e.health_check;
    containers.push({
      ctid,
      name: e.name,
      node,
      osTemplate,
      cloneFrom: e.clone_from_ctid === undefined ? undefined : Number(e.clone_from_ctid),
      templateSnapshotName: e.template_snapshot_name,
      memoryMb: inherited(key, e, "memory_mb") ?? host.lxcDefaults.memoryMb ?? 512,
      swapMb: inherited(key, e, "swap_mb") ?? 512,
      cores: inherited(key, e, "cores") ?? host.lxcDefaults.cores ?? 1,
      storagePool,
      storageSizeGb: inherited(key, e, "storage_size_gb") ?? implicitRootSize(key),
      network,
      macAddress: e.mac_address?.toUpperCase(),
      unprivileged: inherited(key, e, "unprivileged") ?? true,
      gpus: parseGpus(e.gpu_assignment),
      features,
      applicationScript: e.application_script,
      healthCheck: hc ? { command: hc.command, retries: hc.retries ?? 3, intervalSeconds: hc.interval ?? 10, ...healthScript(hc.command) } : undefined,
      extraHealthChecks: (e.tests?.health_checks ?? []).map((t) => ({ name: t.name, type: t.type, path: t.path })),
      pctOptions,
      lxcOptions,
      apparmorProfile: e.apparmor_profile === "unconfined" ? undefined : e.apparmor_profile,
      apparmorNesting: e.apparmor_profile !== undefined && e.apparmor_profile !== "unconfined" && e.apparmor_manages_nesting === true,
      startAtBoot: e.start_at_boot ?? false,
      bootOrder: e.boot_order,
      bootDelay: e.boot_delay,
      dependencies: [...new Set((e.dependencies ?? []).map(Number))],
      bindMounts,
      volumes,
      idMaps: idMap.entries,
      subIds: idMap.subIds,
      lifecycleSnapshots: e.enable_lifecycle_snapshots ?? false,
      params,
      firewall: readGuestFirewall((e as Record<string, unknown>).firewall, F, [...base, "firewall"], findings, host.firewall),
      raw: e as Record<string, unknown>,
    });
  }
  inheritGuestFirewalls(containers, (c) => c.ctid, findings);
  warnInactiveGuestFirewalls(stackCtx.host.firewall, containers, findings);
  warnGuestFirewallsTurnedOn(stackCtx.host.firewall, containers, findings);
  return containers;
}

// ---------------------------------------------------------------- VMs

export function normaliseVms(
  raw: VmFile,
  stackCtx: HostContext,
  findings: Findings,
  origins: GuestOrigins,
  defaultNode: string | undefined,
  ctxOf?: (node: string) => HostContext,
): VmModel[] {
  const F = VM_FILE;
  warnUnknownKeys(findings, F, [], raw as Record<string, unknown>, new Set(["$schema", "vm_defaults", "vms"]), new Set());
  const defaults = raw.vm_defaults ?? {};
  const vms: VmModel[] = [];
  const entries = raw.vms ?? [];
  const defaultDisk = defaults.disk_size_gb ?? 32;
  /**
   * A VM's disk: its own `disk_size_gb`; else, for a clone, the larger of its parent's and
   * `vm_defaults.disk_size_gb` (a disk cannot shrink); else, for a template or root VM, the default
   * unless an explicitly sized clone below it asks for less. A default never makes an explicit
   * value invalid ("smaller than the parent").
   */
  /** `vm_defaults.disk_size_gb`, lowered to the smallest explicit size among the VM's clones (through implicit ones). */
  const subtreeSize = (vmid: number): number => {
    let size = defaultDisk;
    const queue = [vmid];
    const visited = new Set<number>([vmid]);
    while (queue.length > 0) {
      const id = queue.shift()!;
      for (const c of entries) {
        if (c.clone_from_vmid === undefined || Number(c.clone_from_vmid) !== id || visited.has(c.vmid)) continue;
        visited.add(c.vmid);
        if (c.disk_size_gb !== undefined) size = Math.min(size, c.disk_size_gb);
        else queue.push(c.vmid);
      }
    }
    return size;
  };
  const vmDiskSize = (e: VmEntry, seen = new Set<number>()): number => {
    if (e.disk_size_gb !== undefined) return e.disk_size_gb;
    seen.add(e.vmid);
    const parent = e.clone_from_vmid === undefined ? undefined : entries.find((p) => p.vmid === Number(e.clone_from_vmid));
    if (!parent || seen.has(parent.vmid)) return subtreeSize(e.vmid);
    return Math.max(vmDiskSize(parent, seen), subtreeSize(e.vmid));
  };
  (raw.vms ?? []).forEach((e: VmEntry, i) => {
    const base: PathSegment[] = ["vms", i];
    if (!origins.vms.has(e.vmid)) origins.vms.set(e.vmid, base);
    const node = e.node ?? defaultNode ?? DEFAULT_NODE;
    const ctx = ctxOf?.(node) ?? stackCtx;
    const isParam = (k: string) => isParamKey(k) || (/^[a-z][a-z0-9_]*$/.test(k) && (e.features ?? []).some((f) => k.startsWith(`${f}_`)));
    warnUnknownKeys(findings, F, base, e as Record<string, unknown>, VM_KEYS, QUIET_GUEST_KEYS, isParam);
    const params: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(e)) {
      if (isParam(k) && !VM_KEYS.has(k)) {
        params[k] = v;
        checkParam(findings, F, [...base, k], v);
      }
    }

    const isTemplate = e.is_template ?? false;
    if (e.clone_from_vmid === undefined && e.template_image === undefined) {
      findings.error(F, base, "needs either template_image (a cloud image) or clone_from_vmid");
    }
    if (e.clone_from_vmid === undefined && e.template_image !== undefined) {
      try {
        cloudImage(e.template_image, "iso");
      } catch (err) {
        findings.error(F, [...base, "template_image"], (err as Error).message.replace(/^template_image "[^"]*": /, ""));
      }
    }
    if (e.clone_from_vmid !== undefined && e.template_image !== undefined) {
      findings.warn(F, [...base, "template_image"], "ignored: the VM is cloned from clone_from_vmid");
    }

    const storageRef = e.storage_pool ?? defaults.storage_pool;
    let storagePool = "";
    if (storageRef === undefined) findings.error(F, [...base, "storage_pool"], "is required (here or in vm_defaults)");
    else {
      const resolved = ctx.resolveStorage(storageRef);
      if (!resolved) {
        const at: PathSegment[] = e.storage_pool !== undefined ? [...base, "storage_pool"] : ["vm_defaults", "storage_pool"];
        findings.error(F, at, `storage ${storageRef} is not in ${hostConfigName(ctx)}; known: ${ctx.knownStorages().join(", ")}`);
      } else storagePool = resolved;
    }

    const volumes: VmModel["volumes"] = [];
    const nfsMounts: VmModel["nfsMounts"] = [];
    (e.volumes ?? []).forEach((v, j) => {
      const at: PathSegment[] = [...base, "volumes", j];
      if ("type" in v && v.type === "nfs") {
        const n = v as { name: string; server: string; path: string; mount_point: string };
        nfsMounts.push({ name: n.name, server: n.server, path: n.path, mountPoint: n.mount_point });
        return;
      }
      const g = v as { name: string; pool?: string; storage?: string; size_gb?: number; mount_point?: string };
      const ref = g.storage ?? g.pool;
      if (ref === undefined) return findings.error(F, at, "needs pool (a Proxmox storage id) or type nfs");
      if (g.size_gb === undefined) return findings.error(F, [...at, "size_gb"], "is required");
      // As for containers: an undeclared storage must already exist on the host.
      let storage = ctx.resolveStorage(ref);
      if (!storage) {
        findings.warn(F, [...at, g.storage ? "storage" : "pool"], `storage ${ref} is not in ${hostConfigName(ctx)}; it must already exist on the host (known here: ${ctx.knownStorages().join(", ")})`);
        storage = ref;
      }
      volumes.push({ name: g.name, storage, sizeGb: g.size_gb, mountPoint: g.mount_point });
    });

    const nc = e.network_config ?? {};
    const uc = e.user_config;
    vms.push({
      vmid: e.vmid,
      name: e.name,
      node,
      isTemplate,
      templateImage: e.clone_from_vmid === undefined ? e.template_image : undefined,
      cloneFrom: e.clone_from_vmid === undefined ? undefined : Number(e.clone_from_vmid),
      templateSnapshotName: e.template_snapshot_name,
      cores: e.cores ?? defaults.cores ?? 1,
      memoryMb: e.memory_mb ?? defaults.memory_mb ?? 2048,
      diskSizeGb: vmDiskSize(e),
      storagePool,
      networkBridge: e.network_bridge ?? defaults.network_bridge ?? ctx.host.network.interfaceName,
      macAddress: e.mac_address?.toUpperCase(),
      network: {
        ip: nc.ip ?? "dhcp",
        gateway: nc.gw,
        nameservers: [...toList(nc.nameservers), ...toList(nc.nameserver)],
        // The Bash tool set the VM's DNS search domain from the host file's domain_name.
        ...(ctx.host.domainName ? { searchDomain: ctx.host.domainName } : {}),
      },
      user: uc
        ? {
            username: uc.username,
            passwordHash: !uc.password_hash || uc.password_hash === "NOT_SET" ? undefined : uc.password_hash,
            sshPublicKey: uc.ssh_public_key || undefined,
          }
        : undefined,
      features: e.features ?? [],
      startAtBoot: e.start_at_boot ?? false,
      bootOrder: e.boot_order,
      bootDelay: e.boot_delay,
      dependencies: [...new Set((e.dependencies ?? []).map(Number))],
      volumes,
      nfsMounts,
      pciDevices: e.pci_devices ?? [],
      pcie: e.pcie ?? false,
      params,
      firewall: readGuestFirewall((e as Record<string, unknown>).firewall, F, [...base, "firewall"], findings, ctx.host.firewall),
      raw: e as Record<string, unknown>,
    });
  });
  inheritGuestFirewalls(vms, (v) => v.vmid, findings);
  warnInactiveGuestFirewalls(stackCtx.host.firewall, vms, findings);
  warnGuestFirewallsTurnedOn(stackCtx.host.firewall, vms, findings);
  return vms.sort((a, b) => a.vmid - b.vmid);
}


/**
 * A health command whose first word names a `.sh` file is a script (the Bash tool's
 * lxc-manager.sh run_health_check, in the revisions that read the key: a host `.sh` file was
 * pushed to /tmp/<name> in the container, made executable and run there with the block's retries
 * and interval). Phoenix takes it from the stack folder's `health_checks/<name>`.
 */
export function healthScript(command: string): { script?: { name: string; args: string[] } } {
  const [first, ...args] = command.split(" ");
  return /\.sh$/.test(first) ? { script: { name: first.slice(first.lastIndexOf("/") + 1), args } } : {};
}
