// What the proxmoxve provider does after the first run, for the engine stand-in (lxc-engine.ts)
// and the change matrix: what it reads back from Proxmox and stores, and when a diff is an
// update, a replacement or nothing. @muhlba91/pulumi-proxmoxve 8.6.0 bridges
// bpg/terraform-provider-proxmox v0.111.1 (its schema has v0.111.1's write-only
// `influx_token_wo`, which v0.111.0 lacks); everything below is read from that tag:
//   proxmoxtf/resource/container/container.go  Container() (schema, ForceNew, CustomizeDiff),
//                                               containerRead, containerUpdate, containerDelete
//   proxmoxtf/resource/vm/vm.go                 VM() (schema, CustomizeDiff: node_name without
//                                               migrate), vmRead
//   proxmoxtf/resource/vm/disk/schema.go, disk.go  `file_id` ForceNew, read from state
//                                               (GetDiskInfoWithFileID), resize refuses to shrink
// The engine's `ignoreChanges` reaches the provider too: the bridge drops ignored paths from the
// provider's diff, replacements included (a ForceNew attribute that is ignored replaces nothing).
import type { PropertyBag } from "../../infra/cli/plan";

/** The provider release the stand-in models. */
export const PROVIDER_VERSION = "bpg/terraform-provider-proxmox v0.111.1";

/**
 * ContainerLegacy inputs whose change replaces the container: ForceNew in Container() (`clone`
 * and its fields, `disk.datastore_id`, the whole `mount_point` list, `node_name` (containers have
 * no `migrate`), `operating_system` and its template, `pool_id`, `template`, `unprivileged`,
 * `initialization.user_account`) and `vm_id` (CustomizeDiff ForceNewIf). A smaller `disk.size`
 * replaces too (CustomizeDiff: "shrinking is not supported").
 */
export const CONTAINER_FORCE_NEW = ["vmId", "nodeName", "unprivileged", "template", "poolId", "clone", "operatingSystem", "disk.datastoreId", "mountPoints", "initialization.userAccount"];

/**
 * VmLegacy inputs whose change replaces the VM: ForceNew in VM() (`clone` and its fields, each
 * disk's `file_id`, `initialization.*_data_file_id`, `initialization.type`, `amd_sev`), `vm_id`,
 * and `node_name` unless `migrate` is set (CustomizeDiff ForceNewIf).
 */
export const VM_FORCE_NEW = ["vmId", "clone", "disks[].fileId", "initialization.userDataFileId", "initialization.vendorDataFileId", "initialization.networkDataFileId", "initialization.metaDataFileId", "initialization.type", "amdSev"];

/** The container disk size the provider assumes when none is set (dvDiskSize). */
const DEFAULT_DISK_SIZE = 4;

const isObject = (v: unknown): v is PropertyBag => v !== null && typeof v === "object" && !Array.isArray(v);

/** `pct config` output as key → value (raw `lxc.*` lines under `lxc`). */
export function parsePctConfig(text: string): Record<string, string> & { lxc?: string } {
  const out: Record<string, string> = {};
  const raw: string[] = [];
  for (const line of text.split("\n")) {
    if (line.startsWith("lxc.")) raw.push(line);
    const m = /^([a-z][a-z0-9_]*): (.*)$/.exec(line);
    if (m) out[m[1]] = m[2];
  }
  if (raw.length) out.lxc = raw.join("\n");
  return out;
}

/** `a=1,b=2` (the first part may be a bare volume: `tank:subvol-1-disk-0,size=8G`). */
function propertyString(v: string): { head: string; props: Record<string, string> } {
  const parts = v.split(",");
  const props: Record<string, string> = {};
  let head = "";
  parts.forEach((p, i) => {
    const eq = p.indexOf("=");
    if (eq < 0 && i === 0) head = p;
    else if (eq > 0) props[p.slice(0, eq)] = p.slice(eq + 1);
  });
  return { head, props };
}

/** Proxmox's size string (`8G`, `512M`, `1T`) in whole GiB, rounded up (RootFS.Size.InGigabytes). */
export function sizeInGigabytes(size: string | undefined): number {
  const m = /^(\d+(?:\.\d+)?)([KMGT]?)$/.exec(size ?? "");
  if (!m) return 0;
  const factor = { "": 1 / 1024 ** 3, K: 1 / 1024 ** 2, M: 1 / 1024, G: 1, T: 1024 }[m[2] as "" | "K" | "M" | "G" | "T"];
  return Math.ceil(Number(m[1]) * factor);
}

/** The description as the provider stores it (the schema's StateFunc: trimmed, one newline). */
export function descriptionState(v: unknown): string {
  const s = typeof v === "string" ? v : "";
  return s === "" ? "" : `${s.trim().replace(/\r\n/g, "\n")}\n`;
}

const decodeText = (s: string) => s.replace(/%([0-9A-Fa-f]{2})/g, (_, h: string) => String.fromCharCode(parseInt(h, 16)));

/**
 * containerRead: the state the provider stores for a container, from its Proxmox config and the
 * state it had. What it cannot read back stays as it was: `clone`, the OS template file, the node
 * (the API path), `started`, timeouts. What it reads overwrites the state: description, cores,
 * memory, the root disk (storage and its size as it is now, except a clone's default size),
 * every feature flag (with their defaults), hostname, net0, DNS, on boot, startup, unprivileged,
 * mount points (their volume ids as Proxmox names them), id maps.
 */
export function readContainer(conf: Record<string, string>, prior: PropertyBag): PropertyBag {
  const s: PropertyBag = structuredClone(prior);
  const cloned = isObject(prior.clone);
  if (!cloned || descriptionState(prior.description) !== "") s.description = descriptionState(conf.description ? decodeText(conf.description) : "");
  s.cpu = { ...(isObject(prior.cpu) ? prior.cpu : {}), cores: conf.cores !== undefined ? Number(conf.cores) : 1 };
  s.memory = { dedicated: conf.memory !== undefined ? Number(conf.memory) : 512, swap: conf.swap !== undefined ? Number(conf.swap) : 0 };
  if (conf.rootfs) {
    const r = propertyString(conf.rootfs);
    let size = sizeInGigabytes(r.props.size);
    // "do not override the rootfs size if it was not changed during the clone operation"
    if (cloned && isObject(prior.disk) && prior.disk.size === DEFAULT_DISK_SIZE) size = DEFAULT_DISK_SIZE;
    s.disk = { ...(isObject(prior.disk) ? prior.disk : {}), datastoreId: r.head.split(":")[0], size };
  }
  const f = conf.features ? propertyString(conf.features).props : {};
  const flag = (k: string) => f[k] === "1";
  const features = { nesting: flag("nesting"), keyctl: flag("keyctl"), fuse: flag("fuse"), mknod: flag("mknod"), mounts: f.mount ? f.mount.split(";") : [] };
  if (isObject(prior.features) || Object.values(features).some((v) => (Array.isArray(v) ? v.length > 0 : v))) s.features = features;
  else delete s.features;
  const init: PropertyBag = isObject(prior.initialization) ? structuredClone(prior.initialization) : {};
  init.hostname = conf.hostname ?? "";
  if (conf.net0) {
    const n = propertyString(conf.net0).props;
    init.ipConfigs = [{ ipv4: { address: n.ip ?? "", ...(n.gw ? { gateway: n.gw } : {}) } }];
    const prev = Array.isArray(prior.networkInterfaces) && isObject(prior.networkInterfaces[0]) ? prior.networkInterfaces[0] : {};
    s.networkInterfaces = [{ ...prev, name: n.name, bridge: n.bridge ?? "", macAddress: n.hwaddr ?? "", firewall: n.firewall === "1" }];
  }
  if (conf.nameserver || conf.searchdomain) {
    init.dns = { ...(conf.searchdomain ? { domain: conf.searchdomain } : {}), ...(conf.nameserver ? { servers: conf.nameserver.split(" ") } : {}) };
  }
  s.initialization = init;
  s.startOnBoot = conf.onboot === "1";
  if (conf.startup) {
    const st = propertyString(conf.startup).props;
    s.startup = { ...(st.order !== undefined ? { order: Number(st.order) } : {}), ...(st.up !== undefined ? { upDelay: Number(st.up) } : {}) };
  }
  if (!cloned || prior.unprivileged) s.unprivileged = conf.unprivileged === "1";
  if (conf.ostype && (!cloned || isObject(prior.operatingSystem))) s.operatingSystem = { ...(isObject(prior.operatingSystem) ? prior.operatingSystem : {}), type: conf.ostype };
  const mps = Object.keys(conf).filter((k) => /^mp\d+$/.test(k)).sort((a, b) => Number(a.slice(2)) - Number(b.slice(2)));
  if (mps.length || Array.isArray(prior.mountPoints)) {
    s.mountPoints = mps.map((k) => {
      const m = propertyString(conf[k]);
      return { volume: m.head, size: m.props.size ?? "", path: m.props.mp ?? "" };
    });
  }
  const idmaps = (conf.lxc ?? "").split("\n").map((l) => /^lxc\.idmap\s*[:=]\s*([ug])\s+(\d+)\s+(\d+)\s+(\d+)/.exec(l)).filter((m): m is RegExpExecArray => !!m);
  s.idmaps = idmaps.map((m) => ({ type: m[1] === "u" ? "uid" : "gid", containerId: Number(m[2]), hostId: Number(m[3]), size: Number(m[4]) }));
  return s;
}

/** Splits a diff path (`disks[0].size`, `features.keyctl`) into keys and indices. */
function pathParts(path: string): (string | number)[] {
  return path.split(/\.|\[(\d+|\*)\]/).filter((p) => p !== undefined && p !== "").map((p) => (/^\d+$/.test(p) ? Number(p) : p));
}

/** Whether diff path `path` lies under ignoreChanges path `ignored` (`a[*].b`, `a[0]`, `a.b`). */
export function ignoredBy(path: string, ignored: string): boolean {
  const p = pathParts(path);
  const q = pathParts(ignored);
  if (q.length > p.length) return false;
  return q.every((k, i) => k === "*" || k === p[i]);
}

/** Default values the schema gives leaves a program leaves out, by diff path without indices. */
const CONTAINER_DEFAULTS: Record<string, unknown> = {
  "features.nesting": false,
  "features.keyctl": false,
  "features.fuse": false,
  "features.mknod": false,
  "features.mounts": [],
  "networkInterfaces.firewall": false,
  "startOnBoot": true,
  "unprivileged": false,
};

/** One property the provider would change, and whether it replaces the resource. */
export interface ProviderChange {
  path: string;
  from: unknown;
  to: unknown;
  replaces: boolean;
}

/**
 * The provider's diff of a container: every leaf the program sets (and every flag the state holds
 * under `features`) against the stored state, with the schema's suppressions (a volume given as
 * its storage matches the volume id Proxmox made, an unset MAC matches the one Proxmox chose, the
 * description's StateFunc), ForceNew, and the CustomizeDiff disk-shrink rule. Paths under
 * `ignoreChanges` are dropped (as the bridge drops them).
 */
export function diffContainer(state: PropertyBag, inputs: PropertyBag, ignoreChanges: string[] = []): ProviderChange[] {
  const changes: ProviderChange[] = [];
  const forceNew = (path: string) => CONTAINER_FORCE_NEW.some((f) => path === f || path.startsWith(`${f}.`) || path.startsWith(`${f}[`));
  const walk = (o: unknown, n: unknown, path: string, bare: string) => {
    if (isObject(n)) {
      const keys = new Set(Object.keys(n));
      if (bare === "features" && isObject(o)) for (const k of Object.keys(o)) keys.add(k);
      for (const k of keys) walk(isObject(o) ? o[k] : undefined, n[k], path ? `${path}.${k}` : k, bare ? `${bare}.${k}` : k);
      return;
    }
    if (Array.isArray(n) && !(bare === "features.mounts" || bare.endsWith("servers"))) {
      const olds = Array.isArray(o) ? o : [];
      if (olds.length !== n.length) {
        changes.push({ path, from: o, to: n, replaces: forceNew(path) });
        return;
      }
      n.forEach((x, i) => walk(olds[i], x, `${path}[${i}]`, bare));
      return;
    }
    let next = n === undefined ? CONTAINER_DEFAULTS[bare] : n;
    let old = o === undefined ? CONTAINER_DEFAULTS[bare] : o;
    if (bare === "description") [old, next] = [descriptionState(old), descriptionState(next)];
    if (bare === "mountPoints.volume" && typeof old === "string" && typeof next === "string" && old.startsWith(`${next.split(":")[0]}:`)) return;
    if (bare === "networkInterfaces.macAddress" && (next === undefined || next === "")) return;
    if (next === undefined) return;
    if (JSON.stringify(old) === JSON.stringify(next)) return;
    changes.push({ path, from: old, to: next, replaces: forceNew(path) || (bare === "disk.size" && Number(old) > Number(next)) });
  };
  walk(state, inputs, "", "");
  return changes.filter((c) => !ignoreChanges.some((i) => ignoredBy(c.path, i)));
}

/** What the engine does with a provider diff: nothing, an update in place, or a replacement. */
export function operationOf(changes: ProviderChange[]): "same" | "update" | "replace" {
  if (!changes.length) return "same";
  return changes.some((c) => c.replaces) ? "replace" : "update";
}
