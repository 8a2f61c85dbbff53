// LxcGuest: one container of phoenix_lxc_configs.json, the LXC orchestration flow (create or
// clone, configure, features, application, health checks, snapshot) as a component whose
// children run in this order:
//   ct-<ctid>                  the container (ContainerLegacy): created from the OS template, or a
//                              full clone of its parent template; cores, memory, swap, rootfs,
//                              network, unprivileged, pct_options features, startup, id maps,
//                              volumes on storages
//   ct-<ctid>-lxc-options      what only root@pam may set, over SSH: the whole raw-LXC-line set
//                              (lxc_options, apparmor_profile, bind mounts from shared_volumes and
//                              mount_points, GPU devices), feature flags beyond nesting, a clone's
//                              root disk and grown volumes resized, bind-mount source folders
//   ct-<ctid>-feature-<name>   each feature script, in the listed order, inside the container
//                              (GPU containers run `nvidia` first even when only their template lists it)
//   ct-<ctid>-app              the application script
//   ct-<ctid>-health           health_check (retries, interval) and tests.health_checks
//   ct-<ctid>-snapshot         templates: the snapshot; the template is then left stopped
// Templates: the proxmoxve provider clones without a snapshot name, so a template is left STOPPED
// after its snapshot: a full clone of the stopped template equals the snapshot. Templates are not
// converted to Proxmox templates (`template: true`) because re-running their steps needs them to
// start; re-running any step re-takes the snapshot (its trigger hashes every step).
import * as fs from "fs";
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import * as proxmox from "@muhlba91/pulumi-proxmoxve";
import { isBuiltinAppArmorProfile, type ContainerModel, type PhoenixModel } from "../config/model";
import { guestFirewallOn } from "../config/firewall";
import type { StackSettings } from "../settings";
import { LXC_FEATURES, findAppArmorProfile, findConfigScript, readScript, repoRoot, resolveFeatureScript, scriptFromFile, type FeatureScript } from "../../features/registry";
import { BASH_TRUSTED_CA_PATH } from "../config/normalise";
import type { SshTarget } from "../../providers/ssh/types";
import { COMPONENT_TYPES, containerNames, deploymentNodes, gpuFeatures, guestNode, hostOf, runnableChecks } from "../deployment/index";
import type { DeclaredResources } from "./declared";
import { featureFlags, formatFeatures } from "../config/lxc-features";

// The feature-flag functions live with the config model, the step list with the deployment model;
// re-exported for existing importers.
export { featureFlags, formatFeatures } from "../config/lxc-features";
export { gpuFeatures } from "../deployment/index";
import { stableJson } from "../../providers/base/index";
import { bindMountLine, gpuLines, LxcOptions, LxcSnapshot, LxcStep, LxcSubIds, lxcFile, sha256, stepEnv, type MountSource } from "../../providers/lxc/index";

export interface LxcGuestArgs {
  /** The container, from the configuration model. */
  container: ContainerModel;
  /** The whole model (its parent template, the host's timezone and NVIDIA driver, the stack folder). */
  model: PhoenixModel;
  /** The stack's settings (data protection). */
  settings: StackSettings;
  /** The SSH endpoint of the container's node: every step over SSH runs there. */
  connection: SshTarget;
  /** The deployment model's resources declared so far: which steps exist, their names and what
   *  they wait for (host setup, storages, the parent's snapshot, `dependencies`) come from it. */
  declared: DeclaredResources;
}

/**
 * Container inputs that only say how it was created (a full clone of its parent, or the OS
 * template and type): ignored after creation, so adopting an existing container never replaces
 * it. Whole top-level inputs on purpose: Pulumi refuses an ignored path whose parent exists on
 * one side only (an imported clone's state may hold `operatingSystem.type`, its program none).
 */
export const CREATION_ONLY_CONTAINER_INPUTS = ["clone", "operatingSystem"];

/**
 * Container inputs the provider sets at creation and ct-<ctid>-lxc-options owns afterwards, as
 * root over SSH, so they are ignored on the provider after creation:
 *  - `features`: the provider reads every flag back (proxmoxtf/resource/container containerRead),
 *    including those set as root; diffing them against the API's flags would send a flag change an
 *    API token may not make (403, check_ct_modify_config_perm);
 *  - `disk.size`: read back as the disk is (containerRead: RootFS.Size), so a root disk grown on
 *    the host for models or caches would be smaller in the program, and the provider's
 *    CustomizeDiff replaces a container whose disk shrinks (ForceNewIf on `disk`), its data with
 *    it. lxc-options grows the root disk to its declared size and never shrinks it;
 *  - `mountPoints`: ForceNew as a whole list; lxc-options grows, adds and keeps volumes.
 */
export const HOST_OWNED_CONTAINER_INPUTS = ["features", "disk.size", "mountPoints"];

/**
 * Host UID/GID of container UID/GID `id`: as is for privileged containers; through the
 * container's `id_maps` (`lxc.idmap`), else Proxmox's default map (0 → 100000, 65536 IDs) for
 * unprivileged ones. Throws when the ID is not mapped.
 */
export function hostId(c: ContainerModel, type: "uid" | "gid", id: number): number {
  if (!c.unprivileged) return id;
  const maps = c.idMaps.filter((m) => m.type === type);
  if (maps.length === 0) {
    if (id < 65536) return 100000 + id;
  } else {
    const m = maps.find((x) => id >= x.containerId && id < x.containerId + x.size);
    if (m) return m.hostId + (id - m.containerId);
  }
  throw new Error(`container ${c.ctid}: ${type} ${id} is not mapped to the host (id_maps)`);
}

/** Bind-mount source folders, owned as declared (default: the container's root), in host IDs. */
export function mountSources(c: ContainerModel): MountSource[] {
  const seen = new Set<string>();
  const out: MountSource[] = [];
  for (const m of c.bindMounts) {
    if (seen.has(m.hostPath)) continue;
    seen.add(m.hostPath);
    out.push({
      path: m.hostPath,
      uid: hostId(c, "uid", m.ownerUid ?? 0),
      gid: hostId(c, "gid", m.ownerGid ?? m.ownerUid ?? 0),
      explicit: m.ownerUid !== undefined || m.ownerGid !== undefined,
    });
  }
  return out;
}

/**
 * Raw LXC lines: lxc_options as given, the AppArmor profile unless they already set it, the bind
 * mounts (shared_volumes, mount_points) as `lxc.mount.entry` lines, and the GPU device lines.
 */
export function lxcLines(c: ContainerModel): string[] {
  const lines = c.lxcOptions.map((o) => `${o.key}=${o.value}`);
  if (c.apparmorProfile) {
    const given = c.lxcOptions.find((o) => o.key === "lxc.apparmor.profile");
    if (given && given.value !== c.apparmorProfile) {
      throw new Error(`container ${c.ctid}: apparmor_profile ${c.apparmorProfile} contradicts lxc_options lxc.apparmor.profile=${given.value}`);
    }
    if (!given) lines.push(`lxc.apparmor.profile=${c.apparmorProfile}`);
    // apparmor_manages_nesting: what the Bash tool's apply_apparmor_profile appended.
    if (c.apparmorNesting) lines.push("lxc.apparmor.allow_nesting=1", "lxc.include=/usr/share/lxc/config/nesting.conf");
  }
  for (const m of c.bindMounts) lines.push(bindMountLine(m.hostPath, m.containerPath));
  lines.push(...gpuLines(c.gpus));
  return lines;
}

/**
 * A custom AppArmor profile to install and load on the host before the container (re)starts:
 * the stack folder's `apparmor/<name>` (validate checks it exists and declares that profile).
 * Undefined for none, `unconfined` and LXC's own profiles.
 */
export function appArmorProfileOf(c: ContainerModel, configDir: string): { name: string; text: string } | undefined {
  const name = c.apparmorProfile;
  if (name === undefined || isBuiltinAppArmorProfile(name)) return undefined;
  const found = findAppArmorProfile(configDir, name);
  if (!found.found) throw new Error(`container ${c.ctid}: AppArmor profile ${name} not found in ${found.lookedIn.join(", ")}`);
  return { name, text: fs.readFileSync(found.file, "utf8").replace(/\r\n/g, "\n") };
}

/** Which of a container's keys each feature receives (besides the ones it is given explicitly). */
const FEATURE_KEY_PREFIX: Record<string, string> = {
  vllm: "vllm_",
  ollama: "ollama_",
  portainer: "portainer_",
  python_api_service: "python_api_",
  trusted_ca: "trusted_ca_",
  step_cli: "step_cli_",
  step_ca: "step_ca_",
  traefik: "traefik_",
};

/** The parameters of feature `name` for container `c` (as `env_<key>` step parameters). */
export function featureEnv(name: string, c: ContainerModel, model: PhoenixModel): Record<string, string> {
  const values: Record<string, unknown> = {};
  // Features the stack provides get their `<name>_*` keys, like Phoenix's own get theirs.
  const own = (LXC_FEATURES as readonly string[]).includes(name);
  const prefix = FEATURE_KEY_PREFIX[name] ?? (own ? undefined : `${name}_`);
  if (prefix) for (const [k, v] of Object.entries(c.params)) if (k.startsWith(prefix)) values[k] = v;
  // The container's node's host file: its timezone and NVIDIA driver.
  const nodes = deploymentNodes(model);
  const host = hostOf(nodes, guestNode(c, nodes));
  if (name === "base_setup" && host.timezone) values.timezone = host.timezone;
  // Docker in a GPU container gets the NVIDIA Container Toolkit; an unprivileged container's
  // device cgroups are LXC's, so the toolkit's cgroup handling is off.
  if (name === "docker" && c.gpus.length > 0) {
    values.docker_gpus = "1";
    values.docker_no_cgroups = c.unprivileged ? "1" : "0";
  }
  if (name === "nvidia") {
    const driver = host.nvidiaDriver;
    if (!driver) throw new Error(`container ${c.ctid} has the nvidia feature but the host installs no NVIDIA driver (nvidia_driver.install)`);
    values.nvidia_version = driver.version;
    values.nvidia_runfile_url = driver.runfileUrl;
    if (driver.runfileSha256) values.nvidia_runfile_sha256 = driver.runfileSha256;
  }
  return stepEnv(values);
}

/**
 * The host file a feature receives ($PHOENIX_HOST_FILE), if any: for `trusted_ca`, the CA
 * certificate at `trusted_ca_host_path`, or, when the container gives no certificate, URL or
 * path, the file the Bash orchestrator copied (BASH_TRUSTED_CA_PATH; validate warns about it).
 */
export function featureHostFile(name: string, c: ContainerModel): string | undefined {
  if (name !== "trusted_ca") return undefined;
  const p = c.params;
  if (typeof p.trusted_ca_host_path === "string") return p.trusted_ca_host_path;
  return p.trusted_ca_cert === undefined && p.trusted_ca_url === undefined ? BASH_TRUSTED_CA_PATH : undefined;
}

/** The file that marks a stack folder copied from the Bash orchestrator: its scripts source it. */
export const BASH_UTILS = "phoenix_hypervisor_common_utils.sh";

/**
 * The application step in the Bash orchestrator's protocol (features/lxc/steps/bash_app.sh): the
 * script, phoenix_hypervisor_common_utils.sh and the three JSON files in /tmp/phoenix_run/, run
 * as `/tmp/phoenix_run/<script> <CTID>`. Used when the stack folder holds the utils file.
 *
 * The JSON files are the container's own slice of them (bashConfigSlice), not the whole files: the
 * Bash tool's scripts read their own entry and the files' top-level keys (common utils
 * jq_get_value: `.lxc_configs[$ctid] | <query>`, falling back to the file's root; get_global_config_value
 * on the host file), so they run unchanged, while an edit to another guest leaves this step as it
 * is and the step's inputs do not grow with the number of guests. They travel as secrets (they
 * hold password hashes and `*_password` keys).
 */
export function bashAppStep(c: ContainerModel, model: PhoenixModel, app: FeatureScript): { env: Record<string, string>; secretEnv: Record<string, string> } {
  const dir = path.dirname(model.files.lxc);
  const slices = bashConfigSlice(c.ctid, model);
  return {
    env: {
      ...stepEnv(c.params),
      env_app_name: path.posix.basename(c.applicationScript!),
      env_app_ctid: String(c.ctid),
      env_app_script: app.text,
      // A shell script: read as every script is (CRLF checkouts included).
      env_app_utils: fs.existsSync(path.join(dir, BASH_UTILS)) ? readScript(path.join(dir, BASH_UTILS)) : "",
    },
    secretEnv: {
      env_app_hypervisor_config: slices.hypervisor,
      env_app_lxc_configs: slices.lxc,
      env_app_vm_configs: slices.vm,
    },
  };
}

/**
 * Container `ctid`'s slice of the three JSON files, as the Bash-era application protocol hands them
 * to its script: the LXC file with every top-level key and only this container's `lxc_configs`
 * entry; the host file with `shared_volumes.<name>.mounts` cut to this container's mount; the VM
 * file's top-level keys (`vm_defaults`...) with no VM entries. Nothing in a slice names another
 * guest, so its size does not grow with the guests and another guest's edit does not change it.
 * A file that does not parse travels as it is (validate refused it before).
 */
export function bashConfigSlice(ctid: number, model: PhoenixModel): { hypervisor: string; lxc: string; vm: string } {
  const read = (file: string) => (fs.existsSync(file) ? fs.readFileSync(file, "utf8") : "");
  const reshape = (text: string, cut: (doc: Record<string, unknown>) => Record<string, unknown>) => {
    try {
      const doc = JSON.parse(text) as unknown;
      return doc && typeof doc === "object" && !Array.isArray(doc) ? JSON.stringify(cut(doc as Record<string, unknown>), null, 2) + "\n" : text;
    } catch {
      return text;
    }
  };
  const key = String(ctid);
  const isObject = (v: unknown): v is Record<string, unknown> => typeof v === "object" && v !== null && !Array.isArray(v);
  const lxc = reshape(read(model.files.lxc), (doc) => {
    const all = isObject(doc.lxc_configs) ? doc.lxc_configs : {};
    return { ...doc, lxc_configs: key in all ? { [key]: all[key] } : {} };
  });
  // The host file of the container's node (a cluster stack's nodes/<node>/ file), as the Bash tool
  // ran on the host the container lives on.
  const container = model.containers.find((x) => x.ctid === ctid);
  const node = container?.node !== undefined ? model.nodes?.find((n) => n.name === container.node) : undefined;
  const hypervisor = reshape(read(node?.files.hypervisor ?? model.files.hypervisor), (doc) => {
    if (!isObject(doc.shared_volumes)) return doc;
    const volumes = Object.fromEntries(
      Object.entries(doc.shared_volumes).map(([name, v]) => {
        if (!isObject(v) || !isObject(v.mounts)) return [name, v];
        return [name, { ...v, mounts: key in v.mounts ? { [key]: v.mounts[key] } : {} }];
      }),
    );
    return { ...doc, shared_volumes: volumes };
  });
  const vm = reshape(read(model.files.vm), (doc) => ("vms" in doc ? { ...doc, vms: [] } : doc));
  return { hypervisor, lxc, vm };
}

/** A script named by the configuration: from the stack's folder first, then Phoenix's own
 *  (features/registry findConfigScript, the lookup validate checks). */
export function configScript(configDir: string, kind: "apps" | "tests" | "health_checks", name: string, ctid: number): FeatureScript {
  const found = findConfigScript(configDir, kind, name);
  if (!found.found) {
    throw new Error(found.lookedIn.length ? `container ${ctid}: script ${name} not found in ${found.lookedIn.join(", ")}` : `container ${ctid}: invalid script name ${JSON.stringify(name)}`);
  }
  const ownDir = path.join(repoRoot(), "features", "lxc") + path.sep;
  if (found.file.startsWith(ownDir)) return lxcFile(path.relative(ownDir, found.file).split(path.sep).join("/"));
  return scriptFromFile("lxc", name, found.file);
}

/** The OS type Proxmox sets up the container for, from the template file name. */
function osType(templateFileId: string): string {
  const file = templateFileId.split("/").pop() ?? "";
  const distro = file.split(/[-_]/)[0];
  return ["alpine", "archlinux", "centos", "debian", "devuan", "fedora", "gentoo", "nixos", "opensuse", "ubuntu"].includes(distro) ? distro : "unmanaged";
}

/**
 * The container's ContainerLegacy arguments, straight from the model. `node` is the Proxmox node it
 * lives on. Throws when the container has neither an OS template nor a parent (validate refuses it).
 */
export function containerArgs(c: ContainerModel, node: string): proxmox.ContainerLegacyArgs {
  const isTemplate = c.templateSnapshotName !== undefined;
  const source: Partial<proxmox.ContainerLegacyArgs> =
    c.cloneFrom !== undefined
      ? { clone: { vmId: c.cloneFrom, full: true, datastoreId: c.storagePool } }
      : { operatingSystem: { templateFileId: c.osTemplate!, type: osType(c.osTemplate!) } };
  if (c.cloneFrom === undefined && !c.osTemplate) throw new Error(`container ${c.ctid}: neither an OS template nor a parent to clone`);
  const ipv4 = c.network.ip === "dhcp" ? { address: "dhcp" } : { address: c.network.ip, ...(c.network.gateway ? { gateway: c.network.gateway } : {}) };
  const startup =
    c.bootOrder !== undefined || c.bootDelay !== undefined
      ? { ...(c.bootOrder !== undefined ? { order: c.bootOrder } : {}), ...(c.bootDelay !== undefined ? { upDelay: c.bootDelay } : {}) }
      : undefined;
  return {
    vmId: c.ctid,
    nodeName: node,
    description: `Managed by Phoenix: ${c.name}${isTemplate ? ` (template, snapshot ${c.templateSnapshotName})` : ""}`,
    ...source,
    cpu: { cores: c.cores },
    memory: { dedicated: c.memoryMb, swap: c.swapMb },
    disk: { datastoreId: c.storagePool, size: c.storageSizeGb },
    initialization: {
      hostname: c.name,
      ipConfigs: [{ ipv4 }],
      // `network_config.nameservers` (the Bash tool's `pct create --nameserver`); else the host's.
      ...(c.network.nameservers?.length || c.network.searchDomain
        ? { dns: { ...(c.network.nameservers?.length ? { servers: c.network.nameservers } : {}), ...(c.network.searchDomain ? { domain: c.network.searchDomain } : {}) } }
        : {}),
    },
    // `firewall: true` (Proxmox `firewall=1` on net0) when the container has a firewall (infra/components/firewall.ts).
    networkInterfaces: [{ name: c.network.name, bridge: c.network.bridge, ...(c.macAddress ? { macAddress: c.macAddress } : {}), ...(guestFirewallOn(c.firewall) ? { firewall: true } : {}) }],
    unprivileged: c.unprivileged,
    // No feature flags through the API: ct-<ctid>-lxc-options sets the whole set as root
    // (HOST_OWNED_CONTAINER_INPUTS). A clone keeps its parent's flags until then. Sent at creation,
    // ignored flags would come back on a replacement (the engine keeps ignored inputs), and an API
    // token may set no flag at all on a privileged container.
    startOnBoot: c.startAtBoot,
    ...(startup ? { startup } : {}),
    // Templates stay stopped (see the header); their steps start them when they need to.
    started: !isTemplate,
    // Volumes on storages only: bind mounts and GPU devices are raw LXC lines (ct-<ctid>-lxc-options),
    // because Proxmox lets only root@pam, never an API token, set host paths or devices.
    mountPoints: c.volumes.map((v) => ({ volume: v.storage, size: `${v.sizeGb}G`, path: v.mountPoint })),
    idmaps: c.idMaps.map((m) => ({ type: m.type, hostId: m.hostId, containerId: m.containerId, size: m.size })),
  };
}

/**
 * One container and its steps. Which steps exist, their names and what each waits for come from
 * the deployment model (infra/deployment: containerNames); this component gives each its inputs.
 * Throws on model values no host would accept (validate refuses them first).
 */
export class LxcGuest extends pulumi.ComponentResource {
  readonly container: proxmox.ContainerLegacy;
  /** `ct-<ctid>-snapshot` for templates. */
  readonly snapshot?: pulumi.Resource;
  /** The last step (snapshot, health check, app, features, options or the container). */
  readonly ready: pulumi.Resource;

  constructor(name: string, args: LxcGuestArgs, opts?: pulumi.ComponentResourceOptions) {
    super(COMPONENT_TYPES.lxc, name, {}, { ...opts, aliases: [...(opts?.aliases ?? []), ...args.declared.aliases(name, true)] });
    const { container: c, model, settings, connection, declared } = args;
    declared.add(name, this);
    const N = containerNames(c.ctid);
    const node = declared.entry(N.container).node;
    // Host ids the completed id map hands out beyond root's default range: delegated to root in
    // /etc/subuid|subgid before the container exists (it cannot start without them).
    if (declared.has(N.subIds)) {
      declared.add(N.subIds, new LxcSubIds(N.subIds, { connection, ctid: c.ctid, entries: c.subIds, allowRawLxc: settings.allow?.rawLxc }, { parent: this, dependsOn: declared.dependsOn(N.subIds) }));
    }
    this.container = declared.add(N.container, new proxmox.ContainerLegacy(N.container, containerArgs(c, node), {
      parent: this,
      dependsOn: declared.dependsOn(N.container),
      // The CTID is fixed: the old container must be gone before its replacement is created.
      deleteBeforeReplace: true,
      // The provider replaces a container whose mount points changed (ForceNew), volumes and data
      // with it: it creates them with the container, then ct-<ctid>-lxc-options owns the set (a
      // grown volume resized, a new one allocated, a removed one kept). Ignored as a whole
      // top-level key: Pulumi refuses `mountPoints[*].size` once the list's length changes.
      // `clone` and the OS template are how the container was made, not what it is: the provider
      // does not read them back, so a container adopted with `pulumi import` (the Bash tool's
      // guests) would otherwise be replaced on the first `up` (bpg/terraform-provider-proxmox
      // #1988, #658). Rebuilding from a new parent or template is `pulumi up --replace <urn>`.
      ignoreChanges: [...CREATION_ONLY_CONTAINER_INPUTS, ...HOST_OWNED_CONTAINER_INPUTS],
      // Replacing or deleting a container destroys its root disk (models, caches) and volumes:
      // refused (preview fails naming the replacement) unless the stack allows data destruction,
      // like ZFS pools and datasets. A changed node is such a replacement: the provider has no
      // migration for containers (`node_name` is ForceNew).
      protect: !settings.allowDataDestruction,
    }));
    // Every step runs again in a recreated container (its records on the host describe the old
    // one), and goes before its replacement runs, so it never removes the new one's record. When
    // the container itself goes, undoing its steps first (a reboot for removed LXC lines...) is
    // pointless: they go with it.
    const child = (resourceName: string): pulumi.CustomResourceOptions => ({
      parent: this,
      dependsOn: declared.dependsOn(resourceName),
      replaceWith: [this.container],
      deleteBeforeReplace: true,
      deletedWith: this.container,
    });
    let last: pulumi.Resource = this.container;
    const configDir = path.dirname(model.files.lxc);
    /** Everything provisioned into the container, for the snapshot's trigger. */
    const provisioned: unknown[] = [];

    // What only root@pam may set, before any step: raw lines (a clone's whole set, so inherited
    // lines go), flags beyond nesting, a clone's root disk grown to its size, bind-mount sources.
    const lines = lxcLines(c);
    // The whole flag set and the root disk's size (HOST_OWNED_CONTAINER_INPUTS).
    const features = formatFeatures(featureFlags(c.pctOptions, c.ctid));
    const sources = mountSources(c);
    const rootfsGb = c.storageSizeGb;
    const volumes = c.volumes.map((v) => ({ sizeGb: v.sizeGb, storage: v.storage, path: v.mountPoint }));
    if (declared.has(N.lxcOptions)) {
      const apparmor = appArmorProfileOf(c, configDir);
      const options = declared.add(N.lxcOptions, new LxcOptions(N.lxcOptions, { connection, ctid: c.ctid, lines, gpus: c.gpus, features, rootfsGb, mountSources: sources, volumes, ...(apparmor ? { apparmor } : {}) }, child(N.lxcOptions)));
      // Volumes no longer declared stay (their data): the operator detaches them.
      options.observed.apply((o) => {
        const undeclared = o && Array.isArray(o.undeclared_volumes) ? (o.undeclared_volumes as string[]) : [];
        for (const mp of undeclared) {
          pulumi.log.warn(`container ${c.ctid}: ${mp} is no longer declared in its volumes; kept with its data (detach it with \`pct set ${c.ctid} --delete ${mp}\`, the volume then shows as unused)`, options);
        }
      });
      last = options;
      provisioned.push({ lines, gpus: c.gpus, features, apparmor: apparmor ? sha256(apparmor.text) : undefined });
    }

    const step = (resourceName: string, stepName: string, script: FeatureScript, env: Record<string, string>, extra: { secretEnv?: Record<string, string>; hostFile?: string } = {}) => {
      const s = declared.add(resourceName, new LxcStep(resourceName, { connection, ctid: c.ctid, step: stepName, script, env, ...extra }, child(resourceName)));
      last = s;
      // Secrets enter the snapshot trigger only as a hash.
      provisioned.push({ step: stepName, script: script.sha256, env, ...(extra.secretEnv ? { secrets: sha256(stableJson(extra.secretEnv)) } : {}), hostFile: extra.hostFile });
      // Warnings a step reports (failed tests.health_checks, with their output) reach the user.
      s.observed.apply((o) => {
        const w = o && typeof o.warnings === "string" ? Buffer.from(o.warnings, "base64").toString("utf8").trim() : "";
        for (const line of w ? w.split("\n") : []) pulumi.log.warn(`container ${c.ctid}: ${line}`, s);
      });
    };
    /** `enable_lifecycle_snapshots`: a snapshot taken as the container is, as a resource. */
    const lifecycleSnapshot = (snapname: "pre-configured" | "final-form") => {
      const resourceName = N.lifecycleSnapshot(snapname);
      if (!declared.has(resourceName)) return;
      last = declared.add(resourceName, new LxcSnapshot(resourceName, { connection, ctid: c.ctid, snapname, trigger: sha256(stableJson(provisioned)), stop: false }, child(resourceName)));
      provisioned.push({ snapshot: snapname });
    };
    lifecycleSnapshot("pre-configured");
    for (const feature of gpuFeatures(c)) {
      const hostFile = featureHostFile(feature, c);
      step(N.feature(feature), `feature-${feature}`, resolveFeatureScript(configDir, "lxc", feature), featureEnv(feature, c, model), hostFile ? { hostFile } : {});
    }
    // The application script and the checks see all of the container's keys (ports, versions...).
    const allKeys = stepEnv(c.params);
    if (c.applicationScript) {
      const app = configScript(configDir, "apps", c.applicationScript, c.ctid);
      if (fs.existsSync(path.join(configDir, BASH_UTILS))) {
        const { env, secretEnv } = bashAppStep(c, model, app);
        step(N.app, "app", lxcFile("steps/bash_app.sh"), env, { secretEnv });
      } else {
        step(N.app, "app", app, allKeys);
      }
    }
    for (const check of c.extraHealthChecks) {
      if (check.type !== "script") pulumi.log.warn(`container ${c.ctid}: tests.health_checks "${check.name}" has type ${check.type}; only "script" checks run`, this);
    }
    const checks = runnableChecks(c);
    if (declared.has(N.health)) {
      const env: Record<string, string> = { ...allKeys };
      if (c.healthCheck?.script) {
        // The stack's script travels as text (hashed with the step: an edit re-runs the check).
        const script = configScript(configDir, "health_checks", c.healthCheck.script.name, c.ctid);
        env.env_health_script_name = c.healthCheck.script.name;
        env.env_health_script = script.text;
        env.env_health_args = c.healthCheck.script.args.join(" ");
        env.env_health_retries = String(c.healthCheck.retries);
        env.env_health_interval = String(c.healthCheck.intervalSeconds);
      } else if (c.healthCheck) {
        env.env_health_command = c.healthCheck.command;
        env.env_health_retries = String(c.healthCheck.retries);
        env.env_health_interval = String(c.healthCheck.intervalSeconds);
      }
      checks.forEach((check, i) => {
        const script = configScript(path.dirname(model.files.lxc), "tests", check.path, c.ctid);
        env[`env_check_${i + 1}_name`] = check.name;
        env[`env_check_${i + 1}_script`] = script.text;
      });
      step(N.health, "health", lxcFile("steps/health.sh"), env);
    }
    lifecycleSnapshot("final-form");

    if (c.templateSnapshotName !== undefined) {
      this.snapshot = declared.add(N.snapshot, new LxcSnapshot(
        N.snapshot,
        { connection, ctid: c.ctid, snapname: c.templateSnapshotName, trigger: sha256(stableJson(provisioned)) },
        child(N.snapshot),
      ));
      last = this.snapshot;
    }
    this.ready = last;
    this.registerOutputs({ ctid: c.ctid });
  }
}
