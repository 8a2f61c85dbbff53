// The Phoenix policies: what a reviewer of a Proxmox change wants enforced before `pulumi up`.
// Pure functions over what the policy SDK hands a pack (resource type, inputs, options, URN), so
// each rule is unit-tested with the same argument shapes (policy/rules.test.ts).
//
// Per-stack exceptions live in the pack's config (`--policy-pack-config policy/config.<stack>.json`),
// reviewed like code: a privileged or AppArmor-unconfined container is allowed only by CTID.
import type {
  PolicyResource,
  ReportViolation,
  ResourceValidationArgs,
  ResourceValidationPolicy,
  StackValidationArgs,
  StackValidationPolicy,
} from "@pulumi/policy";
// The one judge of raw LXC lines and host paths, shared with `phoenix validate`.
import { checkRawLxcText, sensitiveHostPath as sensitivePath } from "../infra/config/lxc-raw";
import { PROXMOX_TYPES, containerNames, dynamicKindOf, dynamicType, guestOfName } from "../infra/deployment/names";

// Resource names and types come from the deployment model's vocabulary (infra/deployment/names.ts).
export const CONTAINER = PROXMOX_TYPES.container;
export const VM = PROXMOX_TYPES.vm;
/**
 * Phoenix's host-script resources (providers/base) are Pulumi dynamic resources, typed
 * `pulumi-nodejs:dynamic/phoenix:<kind>` (e.g. `…:lxc-options`); plain ones are `pulumi-nodejs:dynamic:Resource`.
 */
export const DYNAMIC = "pulumi-nodejs:dynamic:Resource";
export const LXC_OPTIONS = dynamicType("lxc-options");
export function isDynamic(type: string): boolean {
  return type === DYNAMIC || type.startsWith("pulumi-nodejs:dynamic/");
}
export const PROVIDER = "pulumi:providers:proxmoxve";
/** The proxmoxve provider's firewall resources (infra/components/firewall.ts). */
export const CLUSTER_FIREWALL = PROXMOX_TYPES.clusterFirewall;
export const FIREWALL_RULES = PROXMOX_TYPES.firewallRules;

/** Stacks where the production-only rules apply unless the pack config says otherwise. */
export const DEFAULT_PROD_STACKS = ["prod"];

type Props = Record<string, unknown>;

/** `urn:pulumi:<stack>::<project>::<type>::<name>` → stack. */
export function stackOf(urn: string): string {
  return urn.split("::")[0].replace(/^urn:pulumi:/, "");
}

function isProd(urn: string, config: { prodStacks?: string[] }): boolean {
  return (config.prodStacks ?? DEFAULT_PROD_STACKS).includes(stackOf(urn));
}

/** Every string anywhere inside a value (inputs are nested objects and arrays). */
function strings(value: unknown, out: string[] = []): string[] {
  if (typeof value === "string") out.push(value);
  else if (Array.isArray(value)) value.forEach((v) => strings(v, out));
  else if (value && typeof value === "object") Object.values(value).forEach((v) => strings(v, out));
  return out;
}

/** The guest ID a resource belongs to, from Phoenix's fixed names `ct-<id>`, `ct-<id>-<step>`, `vm-<id>...`. */
export function guestIdOf(name: string): number | undefined {
  return guestOfName(name)?.id;
}

function guestLabel(type: string, props: Props, name: string): string {
  return `${name}${typeof props.vmId === "number" ? ` (${type === VM ? "VMID" : "CTID"} ${props.vmId})` : ""}`;
}

/**
 * The raw LXC configuration a dynamic resource writes: the `options` lines of an lxc-options
 * resource; for other kinds every parameter except script text (feature scripts may mention
 * device paths in comments or checks without granting them).
 */
function rawLxcConfig(props: Props): string[] {
  const params = (props.params ?? {}) as Props;
  if (typeof params.options === "string") return [params.options];
  const { script: _script, library: _library, ...rest } = params;
  return strings(rest);
}

// ---------------------------------------------------------------------------------------------
// Resource rules

export const privilegedContainerAllowed: ResourceValidationPolicy = {
  name: "privileged-container-needs-allow",
  description:
    "LXC containers run unprivileged; a privileged one is allowed only when its CTID is listed in the pack config (allowPrivileged).",
  enforcementLevel: "mandatory",
  configSchema: { properties: { allowPrivileged: { type: "array", items: { type: "number" }, default: [] } } },
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type !== CONTAINER) return;
    if (args.props.unprivileged === true) return;
    const { allowPrivileged = [] } = args.getConfig<{ allowPrivileged?: number[] }>();
    if (allowPrivileged.includes(args.props.vmId)) return;
    report(
      `${guestLabel(args.type, args.props, args.name)} is privileged (unprivileged is not true); ` +
        `set "unprivileged": true or add its CTID to allowPrivileged in the policy config`,
    );
  },
};

export const coresAndMemorySet: ResourceValidationPolicy = {
  name: "guest-sets-cores-and-memory",
  description: "Every container and VM sets its CPU cores and dedicated memory explicitly (no provider defaults).",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type !== CONTAINER && args.type !== VM) return;
    const cores = args.props.cpu?.cores;
    const memory = args.props.memory?.dedicated;
    const missing: string[] = [];
    if (!(typeof cores === "number" && cores > 0)) missing.push("cpu.cores");
    if (!(typeof memory === "number" && memory > 0)) missing.push("memory.dedicated");
    if (missing.length) report(`${guestLabel(args.type, args.props, args.name)} does not set ${missing.join(" and ")}`);
  },
};

export const zfsPoolsProtected: ResourceValidationPolicy = {
  name: "zfs-pool-protected",
  description: "ZFS pools (host-zfs-pool-*) carry Pulumi's protect option, so no update or destroy can remove one.",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (dynamicKindOf(args.type) !== "host-zfs-pool") return;
    if (!args.opts.protect) {
      report(`${args.name} is not protected; keep phoenix:protectPools true (pulumi state unprotect is the deliberate way out)`);
    }
  },
};

export const noHostKeyOptOutInProd: ResourceValidationPolicy = {
  name: "no-host-key-opt-out-in-prod",
  description:
    "In production stacks every SSH connection verifies the host key (phoenix:sshHostKey set, sshInsecureIgnoreHostKey off), and the Proxmox API verifies TLS.",
  enforcementLevel: "mandatory",
  configSchema: { properties: { prodStacks: { type: "array", items: { type: "string" }, default: DEFAULT_PROD_STACKS } } },
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    const config = args.getConfig<{ prodStacks?: string[] }>();
    if (!isProd(args.urn, config)) return;
    if (isDynamic(args.type)) {
      const c = args.props.connection as Props | undefined;
      if (!c) return;
      if (c.insecureIgnoreHostKey === true) report(`${args.name}: SSH host-key checking is switched off (phoenix:sshInsecureIgnoreHostKey) in ${stackOf(args.urn)}`);
      else if (!c.hostKey) report(`${args.name}: no SSH host key pinned (phoenix:sshHostKey) in ${stackOf(args.urn)}`);
      const bastion = c.bastion as Props | undefined;
      if (bastion && !bastion.hostKey) report(`${args.name}: no SSH host key pinned for the bastion (phoenix:sshBastionHostKey)`);
    }
  },
};

export const noInsecureApiInProd: StackValidationPolicy = {
  name: "no-insecure-proxmox-api-in-prod",
  description: "In production stacks the proxmoxve provider verifies the API's TLS certificate (proxmoxve:insecure is not true).",
  enforcementLevel: "mandatory",
  configSchema: { properties: { prodStacks: { type: "array", items: { type: "string" }, default: DEFAULT_PROD_STACKS } } },
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const config = args.getConfig<{ prodStacks?: string[] }>();
    const providers = new Map<string, { urn: string; props: Props }>();
    for (const r of args.resources) {
      if (r.type === PROVIDER) providers.set(r.urn, r);
      if (r.provider?.type === PROVIDER) providers.set(r.provider.urn, r.provider);
    }
    for (const p of providers.values()) {
      if (!isProd(p.urn, config)) continue;
      if (p.props.insecure === true || p.props.insecure === "true") {
        report(`the Proxmox API provider skips TLS verification (proxmoxve:insecure) in ${stackOf(p.urn)}`, p.urn);
      }
    }
  },
};

export const noDataDestructionInProd: ResourceValidationPolicy = {
  name: "no-data-destruction-in-prod",
  description:
    "In production stacks no resource may destroy the data it manages (phoenix:allowDataDestruction stays false); turn it on in a dedicated, reviewed change.",
  enforcementLevel: "mandatory",
  configSchema: { properties: { prodStacks: { type: "array", items: { type: "string" }, default: DEFAULT_PROD_STACKS } } },
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (!isDynamic(args.type) || !isProd(args.urn, args.getConfig<{ prodStacks?: string[] }>())) return;
    if (args.props.allowDestroy === true) report(`${args.name} may destroy its data (phoenix:allowDataDestruction) in ${stackOf(args.urn)}`);
  },
};

/**
 * Host paths that must never be bind-mounted into a guest: the host's own system and secrets,
 * with everything under them. `/dev` only as a whole: single device nodes (`/dev/nvidia0`,
 * `/dev/fuse`) are device access, which the unconfined and GPU rules look at.
 */
function sensitiveHostPath(hostPath: string): string | undefined {
  // infra/config/lxc-raw: the list, after normalising the path (`/./etc`, `//root`, `/srv/../etc`).
  return sensitivePath(hostPath);
}

/** Host paths a container bind-mounts: API mount points with a host path, and raw `lxc.mount.entry` bind lines. */
function bindMountSources(type: string, props: Props): Array<{ host: string; target: string }> {
  if (type === CONTAINER) {
    return ((props.mountPoints ?? []) as Props[])
      // A bind mount's volume is a host path; a storage volume is `<storage>` or `<storage>:<volume>`.
      .filter((m) => typeof m?.volume === "string" && m.volume.startsWith("/"))
      .map((m) => ({ host: m.volume as string, target: String(m.path) }));
  }
  if (!isDynamic(type)) return [];
  const out: Array<{ host: string; target: string }> = [];
  for (const line of rawLxcConfig(props).flatMap((s) => s.split("\n"))) {
    // lxc.mount.entry = <source> <target> <fstype> <options> [dump pass]
    const m = /^lxc\.mount\.entry\s*[=:]\s*(\S+)\s+(\S+)\s+\S+\s+(\S+)/.exec(line.trim());
    if (m && m[1].startsWith("/") && /(^|,)r?bind(,|$)/.test(m[3])) out.push({ host: m[1], target: m[2] });
  }
  return out;
}

export const noSensitiveBindMounts: ResourceValidationPolicy = {
  name: "no-sensitive-host-bind-mounts",
  description:
    "Containers bind-mount data directories only, never the host's system paths (/, /dev, /etc incl. /etc/pve, /root, /home, /boot, /proc, /sys, /run, /usr, /opt, /tmp, all of /var but /var/www/*, /srv and /mnt as a whole).",
  enforcementLevel: "mandatory",
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    for (const { host, target } of bindMountSources(args.type, args.props)) {
      const hit = sensitiveHostPath(host);
      if (!hit) continue;
      const who = args.type === CONTAINER ? guestLabel(args.type, args.props, args.name) : args.name;
      report(`${who} bind-mounts the host's ${host}${hit !== host ? ` (under ${hit})` : ""} at ${target}`);
    }
  },
};

/** Raw LXC settings that take away the container's confinement. */
const UNCONFINED = [
  { pattern: /lxc\.apparmor\.profile\s*[=:]\s*unconfined\b/, what: "AppArmor unconfined" },
  { pattern: /lxc\.cgroup2?\.devices\.allow\s*[=:]\s*a\s*$/, what: "access to every host device" },
];

export const unconfinedNeedsAllow: ResourceValidationPolicy = {
  name: "unconfined-container-needs-allow",
  description:
    "Raw LXC options that remove confinement (lxc.apparmor.profile=unconfined, lxc.cgroup2.devices.allow=a) need the CTID in allowUnconfined.",
  enforcementLevel: "mandatory",
  configSchema: { properties: { allowUnconfined: { type: "array", items: { type: "number" }, default: [] } } },
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (!isDynamic(args.type)) return;
    const ctid = guestIdOf(args.name);
    const { allowUnconfined = [] } = args.getConfig<{ allowUnconfined?: number[] }>();
    if (typeof ctid === "number" && allowUnconfined.includes(ctid)) return;
    const found = new Set<string>();
    for (const s of rawLxcConfig(args.props)) {
      for (const line of s.split("\n")) for (const u of UNCONFINED) if (u.pattern.test(line.trim())) found.add(u.what);
    }
    if (found.size) {
      report(`${args.name}${ctid !== undefined ? ` (CTID ${ctid})` : ""} asks for ${[...found].join(" and ")}; add the CTID to allowUnconfined to accept it`);
    }
  },
};

/**
 * Raw LXC lines that only a stack allowance (`phoenix:allowRawLxc`, `phoenix:allowHostPaths`) lets
 * through validate: hooks, host files, capability widening, device wildcards, writable proc/sys/cgroup,
 * block devices, sensitive bind sources. The allowance is a reviewable stack setting; in production
 * stacks every line it admits is a violation (the same judge as validate: infra/config/lxc-raw).
 */
export const rawLxcAllowanceInProd: ResourceValidationPolicy = {
  name: "no-raw-lxc-allowance-in-prod",
  description:
    "In production stacks no raw LXC line needs phoenix:allowRawLxc or phoenix:allowHostPaths (hooks, host files, capability widening, device wildcards, writable proc/sys/cgroup, block devices, sensitive bind sources).",
  enforcementLevel: "mandatory",
  configSchema: { properties: { prodStacks: { type: "array", items: { type: "string" }, default: DEFAULT_PROD_STACKS } } },
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type !== LXC_OPTIONS || !isProd(args.urn, args.getConfig<{ prodStacks?: string[] }>())) return;
    for (const line of rawLxcConfig(args.props).flatMap((s) => s.split("\n"))) {
      if (!line.trim()) continue;
      for (const f of checkRawLxcText(line)) {
        if (f.allowedBy) report(`${args.name}: ${line.trim()}: ${f.message} (admitted by phoenix:${f.allowedBy}, not in ${stackOf(args.urn)})`);
      }
    }
  },
};

/**
 * Risky values validate only warns about: in production stacks they are violations. A plain-http
 * driver download without a checksum (host-nvidia), an NFS export to `*` with no_root_squash
 * (host-nfs-export-*), a dataset mounted under a sensitive host path (host-zfs-dataset-*).
 */
export const noRiskyValuesInProd: ResourceValidationPolicy = {
  name: "no-risky-host-values-in-prod",
  description:
    "In production stacks: no http:// download without a sha256, no NFS export to * with no_root_squash, no ZFS dataset mountpoint under a sensitive host path.",
  enforcementLevel: "mandatory",
  configSchema: { properties: { prodStacks: { type: "array", items: { type: "string" }, default: DEFAULT_PROD_STACKS } } },
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (!isDynamic(args.type) || !isProd(args.urn, args.getConfig<{ prodStacks?: string[] }>())) return;
    const p = (args.props.params ?? {}) as Props;
    const kind = dynamicKindOf(args.type);
    if (kind === "host-nvidia-driver" && typeof p.runfile_url === "string" && p.runfile_url.startsWith("http://") && !p.runfile_sha256) {
      report(`${args.name}: the driver is downloaded over plain http without runfile_sha256`);
    }
    if (kind === "host-nfs-export") {
      const clients = String(p.clients ?? "").split(/\s+/);
      const options = String(p.options ?? "").split(",");
      if (clients.includes("*") && options.includes("no_root_squash")) report(`${args.name}: ${p.path} is exported to every host (*) with no_root_squash`);
    }
    if (kind === "host-zfs-dataset") {
      const mp = /(?:^|\n)mountpoint=([^\n]*)/.exec(String(p.properties ?? ""));
      const hit = mp && mp[1].startsWith("/") ? sensitivePath(mp[1]) : undefined;
      if (hit) report(`${args.name}: mountpoint ${mp![1]} is under the host's ${hit}`);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Stack rules (relationships between resources)

interface Guest {
  resource: PolicyResource;
  id: number;
  cloneFrom?: number;
  gpu: boolean;
  template: boolean;
}

const GPU_DEVICE = /^\/dev\/(nvidia|dri\/)/;

/** Containers by CTID with their clone parent, GPU use and template role, as the stack declares them. */
export function containersOf(resources: PolicyResource[]): Map<number, Guest> {
  const guests = new Map<number, Guest>();
  for (const r of resources) {
    if (r.type !== CONTAINER || typeof r.props.vmId !== "number") continue;
    const passthrough = (r.props.devicePassthroughs ?? []) as Props[];
    const gpu = passthrough.some((d) => typeof d?.path === "string" && GPU_DEVICE.test(d.path));
    const cloneFrom = typeof r.props.clone?.vmId === "number" ? r.props.clone.vmId : undefined;
    guests.set(r.props.vmId, { resource: r, id: r.props.vmId, cloneFrom, gpu, template: r.props.template === true });
  }
  // Phoenix grants GPU devices as raw LXC lines of the container (ct-<ctid>-lxc-options; Proxmox
  // allows device passthrough only to root@pam): a bind mount of /dev/nvidia* or /dev/dri, or
  // access to the NVIDIA character devices (major 195).
  for (const r of resources) {
    if (!isDynamic(r.type)) continue;
    const id = guestIdOf(r.name);
    const g = id !== undefined ? guests.get(id) : undefined;
    if (!g || g.gpu) continue;
    const lines = rawLxcConfig(r.props).flatMap((s) => s.split("\n"));
    if (lines.some((l) => /^lxc\.mount\.entry\s*[=:]\s*\/dev\/(nvidia|dri)/.test(l.trim()) || /^lxc\.cgroup2?\.devices\.allow\s*[=:]\s*c\s+195:/.test(l.trim()))) {
      g.gpu = true;
    }
  }
  // Templates: what others clone from, and guests with a template snapshot (ct-<ctid>-snapshot).
  for (const g of guests.values()) if (g.cloneFrom !== undefined) {
    const parent = guests.get(g.cloneFrom);
    if (parent) parent.template = true;
  }
  for (const r of resources) {
    const owner = guestOfName(r.name);
    const g = owner?.kind === "lxc" && r.name === containerNames(owner.id).snapshot ? guests.get(owner.id) : undefined;
    if (g) g.template = true;
  }
  return guests;
}

export const gpuFromGpuTemplate: StackValidationPolicy = {
  name: "gpu-container-from-gpu-template",
  description:
    "A GPU container that is not itself a template is cloned (directly or through its chain) from a GPU template, so the driver user space matches the host.",
  enforcementLevel: "mandatory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const guests = containersOf(args.resources);
    for (const g of guests.values()) {
      if (!g.gpu || g.template) continue;
      const chain: number[] = [];
      let gpuAncestor = false;
      for (let p = g.cloneFrom; p !== undefined && !chain.includes(p); p = guests.get(p)?.cloneFrom) {
        chain.push(p);
        const parent = guests.get(p);
        if (parent?.gpu && parent.template) {
          gpuAncestor = true;
          break;
        }
        if (!parent) break;
      }
      if (!gpuAncestor) {
        const from = chain.length ? `its clone chain ${chain.join(" → ")} has no GPU template` : "it is not cloned from a template";
        report(`${g.resource.name} (CTID ${g.id}) uses a GPU but ${from}`, g.resource.urn);
      }
    }
  },
};

function uniqueValues(
  args: StackValidationArgs,
  report: ReportViolation,
  what: string,
  valuesOf: (r: PolicyResource) => string[],
): void {
  const owners = new Map<string, PolicyResource[]>();
  for (const r of args.resources) {
    if (r.type !== CONTAINER && r.type !== VM) continue;
    for (const v of new Set(valuesOf(r))) owners.set(v, [...(owners.get(v) ?? []), r]);
  }
  for (const [value, rs] of owners) {
    if (rs.length > 1) report(`${what} ${value} is used by ${rs.map((r) => r.name).join(", ")}`, rs[1].urn);
  }
}

export const uniqueMacAddresses: StackValidationPolicy = {
  name: "unique-mac-addresses",
  description: "No two guests share a MAC address (a clash breaks both on the bridge).",
  enforcementLevel: "mandatory",
  validateStack: (args, report) =>
    uniqueValues(args, report, "MAC address", (r) =>
      [...((r.props.networkInterfaces ?? []) as Props[]), ...((r.props.networkDevices ?? []) as Props[])]
        .map((n) => n?.macAddress)
        .filter((m): m is string => typeof m === "string" && m !== "")
        .map((m) => m.toUpperCase()),
    ),
};

export const uniqueStaticIps: StackValidationPolicy = {
  name: "unique-static-ips",
  description: "No two guests claim the same static IPv4 address.",
  enforcementLevel: "mandatory",
  validateStack: (args, report) =>
    uniqueValues(args, report, "IP address", (r) =>
      ((r.props.initialization?.ipConfigs ?? []) as Props[])
        .map((c) => (c?.ipv4 as Props | undefined)?.address)
        .filter((a): a is string => typeof a === "string" && a !== "" && a !== "dhcp")
        .map((a) => a.split("/")[0]),
    ),
};

export const startOnBoot: StackValidationPolicy = {
  name: "service-guest-starts-on-boot",
  description: "Guests that are not templates start when the host boots (start_at_boot), so a host reboot brings services back.",
  enforcementLevel: "advisory",
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const containers = containersOf(args.resources);
    const vmTemplates = new Set<number>();
    for (const r of args.resources) {
      if (r.type === VM && typeof r.props.clone?.vmId === "number") vmTemplates.add(r.props.clone.vmId);
    }
    for (const r of args.resources) {
      if (r.type === CONTAINER) {
        const g = containers.get(r.props.vmId);
        if (r.props.startOnBoot === true || g?.template) continue;
      } else if (r.type === VM) {
        if (r.props.onBoot === true || r.props.template === true || vmTemplates.has(r.props.vmId)) continue;
      } else continue;
      report(`${guestLabel(r.type, r.props, r.name)} does not start on boot`, r.urn);
    }
  },
};

// ---------------------------------------------------------------------------------------------
// Firewall

export const hostFirewallDropsInputInProd: StackValidationPolicy = {
  name: "host-firewall-drops-input-in-prod",
  description:
    "In production stacks the host firewall (host-firewall, the cluster options) is declared, enabled, with input policy DROP (the files' shared_volumes.firewall).",
  enforcementLevel: "mandatory",
  configSchema: { properties: { prodStacks: { type: "array", items: { type: "string" }, default: DEFAULT_PROD_STACKS } } },
  validateStack: (args: StackValidationArgs, report: ReportViolation) => {
    const config = args.getConfig<{ prodStacks?: string[] }>();
    const stacks = new Set(args.resources.map((r) => stackOf(r.urn)));
    const prod = [...stacks].filter((st) => (config.prodStacks ?? DEFAULT_PROD_STACKS).includes(st));
    if (prod.length === 0) return;
    const firewalls = args.resources.filter((r) => r.type === CLUSTER_FIREWALL);
    if (firewalls.length === 0) {
      report(`no host firewall in ${prod.join(", ")}: declare shared_volumes.firewall with enabled true and default_input_policy DROP`);
      return;
    }
    for (const f of firewalls) {
      // The provider's default input policy is DROP; enabled defaults to off.
      const policy = f.props.inputPolicy ?? "DROP";
      if (f.props.enabled !== true) report(`${f.name}: the host firewall is not enabled in ${stackOf(f.urn)}`, f.urn);
      else if (policy !== "DROP") report(`${f.name}: the host firewall's input policy is ${policy}, not DROP, in ${stackOf(f.urn)}`, f.urn);
    }
  },
};

/** Ports an administrator reaches a system on: SSH, Telnet, RDP, VNC, the Proxmox API and SPICE proxy, Webmin, Portainer. */
export const DEFAULT_ADMIN_PORTS = ["22", "23", "3389", "5900:5999", "8006", "3128", "10000", "9443"];
/** Proxmox macros (pve-firewall Firewall.pm `$pve_fw_macros`) that open admin ports: macro → tcp ports. */
const ADMIN_MACROS: Record<string, string> = {
  ssh: "22", telnet: "23", rdp: "3389", vnc: "5900:5999", pmg: "8006", spiceproxy: "3128", squid: "3128", webmin: "10000",
};

function portRanges(list: string): Array<[number, number]> {
  return list.split(",").flatMap((item) => {
    const m = /^(\d+)(?::(\d+))?$/.exec(item.trim());
    return m ? [[Number(m[1]), Number(m[2] ?? m[1])] as [number, number]] : [];
  });
}

/** "From anywhere": no source, or the whole IPv4 / IPv6 space. */
function fromAnywhere(source: unknown): boolean {
  return source === undefined || source === "" || source === "0.0.0.0/0" || source === "::/0";
}

export const noGuestAdminPortFromAnywhere: ResourceValidationPolicy = {
  name: "no-guest-admin-port-from-anywhere",
  description:
    "No guest firewall rule accepts traffic from anywhere (no source, 0.0.0.0/0, ::/0) on an admin port (SSH 22, Telnet, RDP, VNC, 8006, SPICE proxy, Webmin, Portainer 9443); restrict the source.",
  enforcementLevel: "mandatory",
  configSchema: { properties: { adminPorts: { type: "array", items: { type: "string" }, default: DEFAULT_ADMIN_PORTS } } },
  validateResource: (args: ResourceValidationArgs, report: ReportViolation) => {
    if (args.type !== FIREWALL_RULES) return;
    const guest = args.props.containerId ?? args.props.vmId;
    if (typeof guest !== "number") return;
    const admin = (args.getConfig<{ adminPorts?: string[] }>().adminPorts ?? DEFAULT_ADMIN_PORTS).flatMap(portRanges);
    ((args.props.rules ?? []) as Props[]).forEach((rule, i) => {
      if (rule.enabled === false || rule.type !== "in" || rule.action !== "ACCEPT" || !fromAnywhere(rule.source)) return;
      const macroPorts = typeof rule.macro === "string" ? ADMIN_MACROS[rule.macro.toLowerCase()] : undefined;
      let ports: Array<[number, number]>;
      if (typeof rule.dport === "string" && rule.dport !== "") ports = portRanges(rule.dport);
      else if (macroPorts) ports = portRanges(macroPorts);
      else if (rule.macro || (rule.proto !== undefined && !["tcp", "6", "udp", "17"].includes(rule.proto as string))) return;
      else ports = [[0, 65535]];
      const hit = admin.filter(([lo, hi]) => ports.some(([a, b]) => a <= hi && lo <= b));
      if (hit.length === 0) return;
      const what = hit.map(([lo, hi]) => (lo === hi ? `${lo}` : `${lo}:${hi}`)).join(", ");
      report(`${args.name} rule ${i} accepts ${rule.dport || rule.macro || "every port"} from anywhere, including admin port ${what}; give it a source`);
    });
  },
};

export const policies: Array<ResourceValidationPolicy | StackValidationPolicy> = [
  privilegedContainerAllowed,
  coresAndMemorySet,
  zfsPoolsProtected,
  noHostKeyOptOutInProd,
  noInsecureApiInProd,
  noDataDestructionInProd,
  unconfinedNeedsAllow,
  noSensitiveBindMounts,
  rawLxcAllowanceInProd,
  noRiskyValuesInProd,
  startOnBoot,
  gpuFromGpuTemplate,
  uniqueMacAddresses,
  uniqueStaticIps,
  hostFirewallDropsInputInProd,
  noGuestAdminPortFromAnywhere,
];
