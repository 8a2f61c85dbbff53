// A small stand-in for the Pulumi engine, for end-to-end tests of the containers: the real
// program runs under the SDK's mock monitor (the lead's planStack; dependencies ordered as the
// engine orders them: a resource registers only once everything it depends on has), and each
// container resource is carried out for real on a test host:
//   - dynamic resources: the serialized provider is loaded as Pulumi's dynamic-provider host does
//     and driven like the engine: check, then create, or diff against the last state and update
//     (or replace) only when diff reports a change;
//   - ContainerLegacy: what the proxmoxve provider (bpg/terraform-provider-proxmox) does through
//     the Proxmox API, done with the emulator's `pct` over SSH, as the provider really does it:
//       * authenticated with the stack's API token (proxmoxve:apiToken), so Proxmox's
//         check_ct_modify_config_perm refuses with 403 what only root@pam may set: feature flags
//         other than nesting (any flag on a privileged container), bind/device mount points,
//         device passthrough;
//       * create = POST lxc with everything, then start;
//       * clone = POST clone (full, target storage, hostname, description; no snapshot name), then
//         ONE config update (cores, memory, features, network, hostname, mount points...), then
//         start; the root disk is not resized on clone, only a later update resizes it; an update
//         of a started container reboots it when what changed needs it (rebootRequired), else
//         what Proxmox does not hotplug stays pending in its config;
//       * a clone refused with a server error (the source "CT is locked (disk)" by another clone)
//         is retried: 3 attempts, 10 s then 20 s apart (retry.NewTaskOperation with a 10 s base
//         delay), ~30 s in all, then it fails (EngineOptions.lockRetryDelayMs shortens it);
//       * the state it stores is what it reads back (containerRead, provider-model.ts
//         readContainer) after create and update and on `refresh()`: the disk as it is now, every
//         feature flag, the volume ids, the MAC; not the clone source or the OS template file;
//       * changed inputs are diffed against that state (provider-model.ts diffContainer): ForceNew
//         fields (mount points, unprivileged, the disk's storage, the clone source, the node, the
//         template) and a disk smaller than the one read back (CustomizeDiff) replace the container:
//         shut down (force stop), DELETE without purge (Proxmox deletes its volumes with it),
//         create again; anything else is one config update with only what changed (and a resize
//         when the disk grew);
//       * `importContainer()` adopts an existing container as `pulumi import` does: the state is
//         what the provider reads, the inputs are taken from it.
//   - the resource options the engine itself honours, read from each registerResource request (the
//     mock monitor drops them): `ignoreChanges` (ignored paths keep their old inputs before check
//     and diff, as the engine's processIgnoreChanges does, and the bridge drops them from the
//     provider's diff) and `protect` (a replacement is refused
//     when both the old state and the program protect the resource, pulumi/pulumi#8810 and #8873;
//     the engine stand-in carries out no deletions of resources the program stops declaring).
// State persists across runs of one engine, so a second run shows what `pulumi up` would change.
//
// A cluster (new Engine(cluster), test/host/cluster.ts: one test host per Proxmox node, one shared
// /etc/pve): the API side carries out each guest on the node its `nodeName` input names, as the
// Proxmox API proxies /nodes/{node}/... to that node (pve-http-server's proxy_request): the
// container's `pct` calls go over SSH to that node's test host, so its config lands in
// /etc/pve/nodes/<node>/lxc and only that node's emulator log shows them. A node that is not in
// the cluster is refused as the API refuses it (PVE::Cluster::remote_node_ip falls back to a DNS
// lookup of the name, PVE::Network::get_ip_from_hostname). Guest firewall files are written
// through the guest's node (the API checks the guest there); cluster.fw through the first node.
// A single test host (new Engine(host)) takes every guest whatever its nodeName, as before.
import { loadDist, requireNode } from "../load";
import { loadProvider, type LoadedProvider } from "../providers/harness";
import type { TestHost } from "../host/sshd";
import { FIREWALL_TYPES, carryOutFirewall } from "./firewall-engine";
import type { PropertyBag } from "../../infra/cli/plan";
import type { SshSecrets, SshSession } from "../../providers/ssh/types";
import type { PhoenixModel } from "../../infra/config/model";
import type { StackSettings } from "../../infra/settings";
import type * as Pulumi from "@pulumi/pulumi";
import type { RecordableMonitor } from "../../infra/cli/plan";
import type { RegisterResourceRequest } from "@pulumi/pulumi/proto/resource_pb";
import type { LxcGuest as LxcGuestType } from "../../infra/components/lxc";
import { diffContainer, operationOf, parsePctConfig, readContainer, type ProviderChange } from "./provider-model";

export interface EngineRecord {
  name: string;
  type: string;
  dependsOn: string[];
  inputs: PropertyBag;
  /** Resources whose replacement replaces this one (`replaceWith`). */
  replaceWith: string[];
  deleteBeforeReplace: boolean;
  /** The resource whose deletion makes deleting this one unnecessary (`deletedWith`). */
  deletedWith: string;
}

export interface RunReport {
  registered: EngineRecord[];
  /** name → what happened: create, update, replace, same. */
  actions: Map<string, "create" | "update" | "replace" | "same">;
  /** SSH sessions the engine itself opened for ContainerLegacy. */
  sessions: number;
  errors: string[];
  /** Containers updated or replaced: what the provider's diff found (provider-model.ts). */
  changes?: Map<string, ProviderChange[]>;
}

/** The resource options the engine honours, as the program sent them. */
interface RequestOptions {
  protect: boolean;
  ignoreChanges: string[];
}

/** Splits a Pulumi property path (`mountPoints[*].size`, `a.b[0]`, `a["k.x"]`): keys as strings, indices as numbers. */
export function propertyPath(path: string): (string | number)[] {
  const parts: (string | number)[] = [];
  const re = /([^.[\]]+)|\[(\*|\d+|"(?:[^"\\]|\\.)*")\]/g;
  for (let m = re.exec(path); m; m = re.exec(path)) {
    parts.push(m[1] ?? (m[2].startsWith('"') ? JSON.parse(m[2]) : m[2] === "*" ? "*" : Number(m[2])));
  }
  return parts;
}

const isObject = (v: unknown): v is PropertyBag => v !== null && typeof v === "object" && !Array.isArray(v);

/**
 * Pulumi's PropertyPath.Reset (sdk/go/common/resource/properties_path.go): resets what the path
 * locates in `news` to its value in `olds` (a leaf key absent from `olds` is removed), never
 * creating or removing array elements; false on a path error (e.g. `*` over arrays of different
 * lengths, an index only one side has).
 */
function resetPath(o: unknown, n: unknown, p: (string | number)[]): boolean {
  const [key, ...rest] = p;
  if (typeof key === "number") {
    if (!Array.isArray(o) || !Array.isArray(n)) return !Array.isArray(o) && !Array.isArray(n);
    if (!rest.length && key >= o.length && key >= n.length) return true;
    if (key >= o.length || key >= n.length) return false;
    if (!rest.length) {
      n[key] = structuredClone(o[key]);
      return true;
    }
    return resetPath(o[key], n[key], rest);
  }
  if (key === "*") {
    if (!rest.length) {
      if (isObject(n)) {
        if (isObject(o)) {
          for (const k of Object.keys(o)) n[k] = structuredClone(o[k]);
          for (const k of Object.keys(n)) if (!(k in o)) delete n[k];
        }
        return true;
      }
      if (Array.isArray(n)) {
        if (Array.isArray(o)) {
          if (o.length !== n.length) return false;
          o.forEach((v, i) => (n[i] = structuredClone(v)));
        }
        return true;
      }
      return false;
    }
    if (isObject(o) && isObject(n)) return Object.keys(o).every((k) => k in n && resetPath(o[k], n[k], rest));
    if (Array.isArray(o) && Array.isArray(n)) return o.length === n.length && o.every((v, i) => resetPath(v, n[i], rest));
    return false;
  }
  if (!rest.length) {
    if (isObject(o) && key in o) {
      if (!isObject(n)) return false;
      n[key] = structuredClone(o[key]);
    } else if (isObject(n)) {
      delete n[key];
    }
    return true;
  }
  if (!isObject(o) || !isObject(n)) return !isObject(o) && !isObject(n);
  if (key in o && !(key in n)) return false;
  if (!(key in o) && !(key in n)) return true;
  return resetPath(o[key], n[key], rest);
}

/**
 * The engine's processIgnoreChanges (pkg/resource/deploy/step_generator.go): the new inputs with
 * every ignored path reset to the old inputs' value. Throws the engine's error when a path cannot
 * be reset (an array under `*` changed length: e.g. a volume added to a container whose
 * `mountPoints[*].size` is ignored).
 */
export function applyIgnoreChanges(olds: PropertyBag, news: PropertyBag, paths: string[]): PropertyBag {
  const out = structuredClone(news);
  const invalid = paths.filter((p) => !resetPath(olds, out, propertyPath(p)));
  if (invalid.length) {
    throw new Error(`cannot ignore changes to the following properties because one or more elements of the path are missing: ${JSON.stringify(invalid.join(", "))}`);
  }
  return out;
}

/** Pulumi's refusal to replace a protected resource (step_generator.go). */
function protectedReplace(urn: string): string {
  return `unable to replace resource "${urn}"\nas it is currently marked for protection. To unprotect the resource, remove the \`protect\` flag from the resource in your Pulumi program and run \`pulumi up\``;
}

const CONTAINER = "proxmoxve:index/containerLegacy:ContainerLegacy";
/** What `up` carries out: containers and the container kinds (host setup and VMs are other issues'). */
const CARRIED_OUT = /^(proxmoxve:index\/containerLegacy:ContainerLegacy|pulumi-nodejs:dynamic\/phoenix:lxc-(options|step|snapshot|subids))$/;

function nameFromUrn(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

/** Declares the whole stack of `model` as infra/index.ts does (infra/stack declareStack); returns the containers. */
export function declareContainers(model: PhoenixModel, settings: StackSettings): Map<number, LxcGuestType> {
  const { declareStack } = loadDist<typeof import("../../infra/stack")>("infra/stack");
  return declareStack(model, settings).containers;
}

/** Records each registration's name, type, explicit dependencies and inputs (the mock monitor drops them). */
function recordRegistrations(into: EngineRecord[]): void {
  const pulumi: typeof Pulumi = requireNode("@pulumi/pulumi");
  const monitor = pulumi.runtime.getMonitor() as unknown as RecordableMonitor;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req, callback) => {
    const deps = new Set<string>(req.getDependenciesList().map(nameFromUrn));
    into.push({
      name: req.getName(),
      type: req.getType(),
      dependsOn: [...deps].sort(),
      inputs: req.getObject()?.toJavaScript() ?? {},
      replaceWith: req.getReplaceWithList().map(nameFromUrn),
      deleteBeforeReplace: req.getDeletebeforereplace(),
      deletedWith: req.getDeletedwith() ? nameFromUrn(req.getDeletedwith()) : "",
    });
    register(req, callback);
  };
}

/** Declares the containers offline (nothing carried out) and returns what was registered. */
export async function planContainers(model: PhoenixModel, settings: StackSettings): Promise<EngineRecord[]> {
  const pulumi: typeof Pulumi = requireNode("@pulumi/pulumi");
  const registered: EngineRecord[] = [];
  await pulumi.runtime.setMocks(
    { newResource: (args: Pulumi.runtime.MockResourceArgs) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args: Pulumi.runtime.MockCallArgs) => args.inputs },
    "phoenix",
    settings.stack,
    true,
  );
  recordRegistrations(registered);
  declareContainers(model, settings);
  await (pulumi.runtime as { waitForRPCs?: () => Promise<void> }).waitForRPCs?.();
  return registered;
}

/**
 * A Proxmox cluster for the engine (test/host/cluster.ts TestCluster fits): each node's test host
 * by node name, the node names in order (the first one is where cluster-wide things are written
 * and the stack's default SSH endpoint), and a client key every node accepts.
 */
export interface EngineCluster {
  nodes: string[];
  hosts: Record<string, TestHost>;
  secrets: SshSecrets & { privateKey: string };
}

/** The Proxmox API's answer for a node that is not in the cluster (HTTP 500 from the proxy's lookup). */
export function unknownNodeRefusal(node: string): string {
  return `500 hostname lookup '${node}' failed - failed to get address info for: ${node}: Name or service not known`;
}

/** The Ubuntu template the engine tests create containers from (the emulator's pveam lists it). */
export const TEST_TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

/**
 * ContainerLegacy inputs for engine tests: an unprivileged, stopped container `ct<vmId>` on node
 * `pve`, storage `tank-lxc`, at 10.0.0.<vmId - 400>; `extra` overrides any top-level input.
 */
export function containerInputs(vmId: number, extra: PropertyBag = {}): PropertyBag {
  return {
    vmId,
    nodeName: "pve",
    description: `Managed by Phoenix: ct${vmId}`,
    cpu: { cores: 2 },
    memory: { dedicated: 1024, swap: 512 },
    disk: { datastoreId: "tank-lxc", size: 8 },
    initialization: { hostname: `ct${vmId}`, ipConfigs: [{ ipv4: { address: `10.0.0.${vmId - 400}/24`, gateway: "10.0.0.1" } }] },
    networkInterfaces: [{ name: "eth0", bridge: "vmbr0" }],
    unprivileged: true,
    startOnBoot: false,
    started: false,
    operatingSystem: { templateFileId: TEST_TEMPLATE, type: "ubuntu" },
    ...extra,
  };
}

/** How the engine stands in for the provider. */
export interface EngineOptions {
  /** `token` (default: the stacks authenticate with proxmoxve:apiToken) or `root@pam`. */
  auth?: "token" | "root@pam";
  /** Base delay of the provider's clone retry, in ms (default 10000: 10 s, then 20 s). */
  lockRetryDelayMs?: number;
}

/** Proxmox's 403 for what an API token may not set on a container (PVE::LXC::check_ct_modify_config_perm). */
export function tokenRefusal(c: PropertyBag, old?: PropertyBag): string | undefined {
  const perm = (what: string) => `403 Permission check failed (${what})`;
  for (const m of c.mountPoints ?? []) {
    if (String(m.volume).startsWith("/")) return perm(`mount point type ${String(m.volume).startsWith("/dev/") ? "device" : "bind"} is only allowed for root@pam`);
  }
  if ((c.devicePassthroughs ?? []).length) return perm("configuring device passthrough is only allowed for root@pam");
  const flags = (f: Record<string, unknown> | undefined): Record<string, string> =>
    Object.fromEntries(Object.entries(f ?? {}).map(([k, v]) => [k, Array.isArray(v) ? v.join(";") : v ? "1" : "0"]));
  const next = flags(c.features);
  if (Object.keys(next).length) {
    if (!c.unprivileged) return perm("changing feature flags for privileged container is only allowed for root@pam");
    const before = flags(old?.features);
    const changed = [...new Set([...Object.keys(before), ...Object.keys(next)])].filter((k) => before[k] !== next[k]);
    if (changed.some((k) => k !== "nesting")) return perm("changing feature flags (except nesting) is only allowed for root@pam");
  }
  return undefined;
}

/** Inputs whose change makes the provider reboot a started container after its update (rebootRequired in resourceContainerUpdate). */
const REBOOT_REQUIRED = ["console", "disk.mountOptions", "environmentVariables", "initialization.dns", "initialization.hostname", "initialization.ipConfigs", "memory", "devicePassthroughs", "mountPoints", "networkInterfaces", "operatingSystem"];

/** One resource in the engine's state: its id, type, last inputs, stored outputs (a container's:
 *  what the provider read back) and whether it was protected. */
export interface StateEntry {
  id: string;
  type?: string;
  inputs: PropertyBag;
  outs: PropertyBag;
  protect?: boolean;
}

export class Engine {
  private state = new Map<string, StateEntry>();

  /** What the engine holds for resource `name` after its last run (id, inputs, outputs), if any. */
  stateOf(name: string): StateEntry | undefined {
    return this.state.get(name);
  }
  /** `type name` → the options of its registerResource request in the current run. */
  private requests = new Map<string, RequestOptions & { urn: string }>();
  private providers = new Map<string, Promise<LoadedProvider>>();
  private ssh = loadDist<typeof import("../../providers/ssh/index")>("providers/ssh/index");
  private stable = loadDist<typeof import("../../providers/base/index")>("providers/base/index").stableJson as (v: unknown) => string;

  /** The single test host, or the cluster's first node. */
  private host: TestHost;
  /** Cluster nodes by name (undefined for a single test host). */
  private cluster?: EngineCluster;
  /** The SSH key the engine (and the dynamic providers) log in with. */
  private secrets: SshSecrets & { privateKey: string };

  /**
   * `target`: one test host (every guest is carried out there, whatever its nodeName), or a
   * cluster (each guest on its nodeName's host; an unknown node is refused, unknownNodeRefusal).
   */
  constructor(
    target: TestHost | EngineCluster,
    private options: EngineOptions = {},
  ) {
    if ("hosts" in target) {
      if (!target.nodes.length || target.nodes.some((n) => !Object.hasOwn(target.hosts, n))) throw new Error("Engine: every cluster node needs its test host");
      this.cluster = target;
      this.host = target.hosts[target.nodes[0]];
      this.secrets = target.secrets;
    } else {
      this.host = target;
      this.secrets = target.secrets;
    }
  }

  /** The test host the Proxmox API would proxy a request for node `node` to. */
  private hostFor(node: unknown): TestHost {
    if (!this.cluster) return this.host;
    const name = String(node ?? "");
    if (!Object.hasOwn(this.cluster.hosts, name)) throw new Error(unknownNodeRefusal(name));
    return this.cluster.hosts[name];
  }

  /**
   * Runs the real program (infra/index.ts, through the lead's planStack) as an update against the
   * test host: the containers' resources are carried out, everything else (host setup, VMs) is
   * only declared.
   */
  async up(opts: { stack?: string; configDir?: string; config?: Record<string, string> } = {}): Promise<RunReport> {
    const report: RunReport = { registered: [], actions: new Map(), sessions: 0, errors: [], changes: new Map() };
    const { planStack } = loadDist<typeof import("../../infra/cli/plan")>("infra/cli/plan");
    const t = this.host.target;
    // A failed resource leaves its dependents waiting forever under the mock monitor: once one
    // fails, the run ends as `pulumi up` does, when nothing else is being carried out.
    let inFlight = 0;
    let failed: (() => void) | undefined;
    const stopped = new Promise<void>((resolve) => (failed = resolve));
    const settle = async () => {
      for (let quiet = 0; quiet < 4; quiet = inFlight ? 0 : quiet + 1) await new Promise((r) => setTimeout(r, 250));
      failed!();
    };
    // The options the mock monitor drops: read from each request before it is carried out.
    const { MockMonitor } = requireNode("@pulumi/pulumi/runtime/mocks");
    const original = MockMonitor.prototype.registerResource;
    const requests = this.requests;
    requests.clear();
    MockMonitor.prototype.registerResource = function (this: { newUrn(parent: string, type: string, name: string): string }, req: RegisterResourceRequest, callback: unknown) {
      requests.set(`${req.getType()} ${req.getName()}`, {
        urn: this.newUrn(req.getParent(), req.getType(), req.getName()),
        protect: Boolean(req.getProtect()),
        ignoreChanges: req.getIgnorechangesList(),
      });
      return original.call(this, req, callback);
    };
    const planning = planStack({
      stack: opts.stack ?? "dev",
      preview: false,
      configDir: opts.configDir,
      config: {
        "phoenix:sshHost": t.host, "phoenix:sshPort": String(t.port), "phoenix:sshUser": t.user, "phoenix:sshHostKey": this.host.hostKeyLine,
        // The test sshd's random port is not the one the stacks' firewall rules keep open (the
        // lock-out guard itself is tested in test/program/firewall.test.ts).
        "phoenix:firewallLockoutAcknowledged": "true",
        ...opts.config,
      },
      onNewResource: async (args: Pulumi.runtime.MockResourceArgs) => {
        if (!CARRIED_OUT.test(args.type) && !FIREWALL_TYPES.test(args.type)) return undefined;
        if (report.errors.length) throw new Error(`${args.name}: not carried out (an earlier resource failed)`);
        inFlight++;
        try {
          return await this.carryOut(args, report);
        } catch (err) {
          report.errors.push(`${args.name}: ${(err as Error).message}`);
          if (report.errors.length === 1) void settle();
          throw err;
        } finally {
          inFlight--;
        }
      },
    });
    const plan = await Promise.race([planning, stopped.then(() => undefined)]).finally(() => (MockMonitor.prototype.registerResource = original));
    if (!plan) return report;
    report.errors.push(...plan.errors);
    report.registered = plan.resources.map((r) => ({ name: r.name, type: r.type, dependsOn: r.dependsOn, inputs: r.inputs, replaceWith: [], deleteBeforeReplace: false, deletedWith: "" }));
    return report;
  }

  private provider(serialized: string): Promise<LoadedProvider> {
    let p = this.providers.get(serialized);
    if (!p) this.providers.set(serialized, (p = loadProvider(serialized, this.secrets)));
    return p;
  }

  private async carryOut(args: Pulumi.runtime.MockResourceArgs, report: RunReport): Promise<{ id: string; state: PropertyBag }> {
    if (!args.custom) return { id: args.name, state: {} };
    const prior = this.state.get(args.name);
    const request = this.requests.get(`${args.type} ${args.name}`) ?? { urn: args.name, protect: false, ignoreChanges: [] };
    // Ignored paths keep the old inputs (before check and diff); the state records them so.
    if (prior && request.ignoreChanges.length) args = { ...args, inputs: applyIgnoreChanges(prior.inputs, args.inputs, request.ignoreChanges) };
    const protect = request.protect;
    const mayReplace = () => {
      if (prior?.protect && protect) throw new Error(protectedReplace(request.urn));
    };
    if (typeof args.inputs.__provider === "string") {
      const provider = await this.provider(args.inputs.__provider);
      const checked = await provider.check!(prior?.inputs ?? {}, args.inputs);
      if (checked.failures?.length) throw new Error(`check failed: ${JSON.stringify(checked.failures)}`);
      const inputs = checked.inputs ?? args.inputs;
      if (prior) {
        const d = await provider.diff!(prior.id, prior.outs, inputs);
        if (!d.changes) {
          this.state.set(args.name, { ...prior, protect });
          report.actions.set(args.name, "same");
          return { id: prior.id, state: prior.outs };
        }
        if (d.replaces?.length) {
          mayReplace();
          await provider.delete!(prior.id, prior.outs);
          const created = await provider.create(inputs);
          this.state.set(args.name, { id: created.id, type: args.type, inputs, outs: created.outs, protect });
          report.actions.set(args.name, "replace");
          return { id: created.id, state: created.outs };
        }
        const updated = await provider.update!(prior.id, prior.outs, inputs);
        this.state.set(args.name, { id: prior.id, type: args.type, inputs, outs: updated.outs, protect });
        report.actions.set(args.name, "update");
        return { id: prior.id, state: updated.outs };
      }
      const created = await provider.create(inputs);
      this.state.set(args.name, { id: created.id, type: args.type, inputs, outs: created.outs, protect });
      report.actions.set(args.name, "create");
      return { id: created.id, state: created.outs };
    }
    if (FIREWALL_TYPES.test(args.type)) {
      // A guest's firewall goes through the guest's node; cluster.fw is the same file on every node.
      const guest = typeof args.inputs.containerId === "number" || typeof args.inputs.vmId === "number";
      const host = guest ? this.hostFor(args.inputs.nodeName) : this.host;
      return carryOutFirewall({ target: host.target, secrets: this.secrets }, this.state, args, report);
    }
    if (args.type === CONTAINER) {
      if (prior) {
        // The provider diffs the stored state (what it read back), not the last inputs; ignored
        // paths are dropped from its diff (provider-model.ts diffContainer).
        const changes = diffContainer(prior.outs, args.inputs, request.ignoreChanges);
        const op = operationOf(changes);
        if (op === "same") {
          // A same step records the new inputs and a changed `protect` without touching the container.
          this.state.set(args.name, { ...prior, inputs: args.inputs, protect });
          report.actions.set(args.name, "same");
          return { id: prior.id, state: prior.outs };
        }
        const replace = op === "replace";
        if (replace) mayReplace();
        // nodeName is ForceNew: a replaced container is deleted on its old node, created on its new one.
        const oldHost = this.hostFor(prior.outs.nodeName ?? prior.inputs.nodeName);
        const newHost = this.hostFor(args.inputs.nodeName);
        let outs: PropertyBag;
        if (replace && oldHost !== newHost) {
          report.sessions += 2;
          await this.ssh.withSession(oldHost.target, this.secrets, (s) => this.deleteContainer(s, prior.outs));
          outs = await this.ssh.withSession(newHost.target, this.secrets, (s) => this.createContainer(s, args.inputs));
        } else {
          report.sessions++;
          outs = await this.ssh.withSession(newHost.target, this.secrets, async (s) => {
            if (!replace) return this.updateContainer(s, prior.outs, args.inputs, changes);
            await this.deleteContainer(s, prior.outs);
            return this.createContainer(s, args.inputs);
          });
        }
        this.state.set(args.name, { id: String(args.inputs.vmId), type: args.type, inputs: args.inputs, outs, protect });
        report.actions.set(args.name, replace ? "replace" : "update");
        report.changes?.set(args.name, changes);
        return { id: String(args.inputs.vmId), state: outs };
      }
      const host = this.hostFor(args.inputs.nodeName);
      report.sessions++;
      const outs = await this.ssh.withSession(host.target, this.secrets, (s) => this.createContainer(s, args.inputs));
      const id = String(args.inputs.vmId);
      this.state.set(args.name, { id, type: args.type, inputs: args.inputs, outs, protect });
      report.actions.set(args.name, "create");
      return { id, state: outs };
    }
    throw new Error(`${args.name}: the engine has no way to carry out ${args.type}`);
  }

  private pctRunner(session: SshSession) {
    const q = this.ssh.shellQuote as (s: string) => string;
    return async (...words: string[]) => {
      await session.check(["pct", ...words].map(q).join(" "), { purpose: `pct ${words.slice(0, 2).join(" ")}` });
    };
  }

  /** With an API token, Proxmox refuses (403) what only root@pam may set. */
  private checkPermissions(c: PropertyBag, old?: PropertyBag): void {
    if ((this.options.auth ?? "token") !== "token") return;
    const refusal = tokenRefusal(c, old);
    if (refusal) throw new Error(refusal);
  }

  /** The `pct create/set` options the provider sends for the container's settings (not the disk). */
  private settings(c: PropertyBag, old?: PropertyBag): string[] {
    const opts: string[] = [];
    opts.push("--cores", String(c.cpu.cores), "--memory", String(c.memory.dedicated), "--swap", String(c.memory.swap));
    const net = c.networkInterfaces[0];
    const ip = c.initialization.ipConfigs[0].ipv4;
    opts.push("--net0", [`name=${net.name}`, `bridge=${net.bridge}`, net.macAddress && `hwaddr=${net.macAddress}`, net.firewall && "firewall=1", `ip=${ip.address}`, ip.gateway && `gw=${ip.gateway}`].filter(Boolean).join(","));
    if (old && this.stable(old.features ?? null) !== this.stable(c.features ?? null)) {
      // An update (containerUpdate → containerGetFeaturesForUpdate, emitFalseBools): every bool
      // flag, false ones too, and the mount types when there are any (CustomFeatures.EncodeValues).
      const f = c.features ?? {};
      const mounts = (f.mounts ?? []) as string[];
      opts.push("--features", [`fuse=${f.fuse ? 1 : 0}`, `keyctl=${f.keyctl ? 1 : 0}`, ...(mounts.length ? [`mount=${mounts.join(";")}`] : []), `nesting=${f.nesting ? 1 : 0}`, `mknod=${f.mknod ? 1 : 0}`].join(","));
    } else if (!old && c.features) {
      const f = Object.entries(c.features).map(([k, v]) => (k === "mounts" ? `mount=${(v as string[]).join(";")}` : `${k}=${v ? 1 : 0}`));
      opts.push("--features", f.join(","));
    }
    opts.push("--onboot", c.startOnBoot ? "1" : "0");
    if (c.startup) opts.push("--startup", [c.startup.order !== undefined && `order=${c.startup.order}`, c.startup.upDelay !== undefined && `up=${c.startup.upDelay}`].filter(Boolean).join(","));
    (c.devicePassthroughs ?? []).forEach((d: { path: string; mode?: string }, i: number) => opts.push(`--dev${i}`, `${d.path}${d.mode ? `,mode=${d.mode}` : ""}`));
    return opts;
  }

  /** The inputs with the flags as an update sends them (see settings), for the permission check. */
  private featuresSent(c: PropertyBag, old: PropertyBag): PropertyBag {
    if (this.stable(old.features ?? null) === this.stable(c.features ?? null)) return c;
    const f = c.features ?? {};
    const mounts = (f.mounts ?? []) as string[];
    return { ...c, features: { fuse: !!f.fuse, keyctl: !!f.keyctl, nesting: !!f.nesting, mknod: !!f.mknod, ...(mounts.length ? { mounts } : {}) } };
  }

  private mountPointOpts(c: PropertyBag): string[] {
    const opts: string[] = [];
    (c.mountPoints ?? []).forEach((m: { volume: string; size?: string; path: string }, i: number) => {
      const volume = m.volume.startsWith("/") ? m.volume : `${m.volume}:${String(m.size).replace(/G$/, "")}`;
      opts.push(`--mp${i}`, `${volume},mp=${m.path}`);
    });
    return opts;
  }

  /** What the proxmoxve provider does for a new ContainerLegacy, with `pct` (the Proxmox API's CLI
   *  twin); returns the state it stores: containerCreate ends with containerRead. */
  private async createContainer(session: SshSession, c: PropertyBag): Promise<PropertyBag> {
    const pct = this.pctRunner(session);
    const id = String(c.vmId);
    if (c.clone) {
      // POST clone: the source's config (raw lxc.* lines included) comes along.
      const cloneArgs = ["clone", String(c.clone.vmId), id, "--full", "1", "--hostname", c.initialization.hostname];
      if (c.clone.datastoreId) cloneArgs.push("--storage", c.clone.datastoreId);
      if (c.description) cloneArgs.push("--description", c.description);
      await this.cloneWithRetry(pct, cloneArgs);
      // One update with the rest (the provider's containerCreateClone); no resize.
      const cloned = await this.currentConfig(session, id);
      this.checkPermissions(c, { features: cloned.features, unprivileged: c.unprivileged });
      await pct("set", id, ...this.settings(c), ...this.mountPointOpts(c));
    } else {
      this.checkPermissions(c);
      await pct("create", id, c.operatingSystem.templateFileId, "--hostname", c.initialization.hostname, "--ostype", c.operatingSystem.type,
        "--rootfs", `${c.disk.datastoreId}:${c.disk.size}`, "--unprivileged", c.unprivileged ? "1" : "0",
        ...(c.description ? ["--description", c.description] : []), ...this.settings(c), ...this.mountPointOpts(c));
    }
    // containerSetIDMaps: the API takes no lxc[n] keys, so the provider writes the id maps into
    // the new container's config over SSH, before it first starts.
    if ((c.idmaps ?? []).length) {
      const lines = (c.idmaps as { type: string; containerId: number; hostId: number; size: number }[])
        .map((m) => `lxc.idmap: ${m.type === "uid" ? "u" : "g"} ${Number(m.containerId)} ${Number(m.hostId)} ${Number(m.size)}`).join("\n");
      await session.check(`printf '%s\\n' '${lines.replace(/\n/g, "' '")}' >> /etc/pve/lxc/${Number(id)}.conf`, { purpose: "write lxc.idmap lines" });
    }
    if (c.started !== false) await pct("start", id);
    return this.readBack(session, c);
  }

  /** containerRead against the container's config now (provider-model.ts readContainer). */
  private async readBack(session: SshSession, prior: PropertyBag): Promise<PropertyBag> {
    const r = await session.check(`pct config ${Number(prior.vmId)}`, { purpose: "pct config" });
    return readContainer(parsePctConfig(String(r.stdout)), prior);
  }

  /**
   * containerUpdate: one config update with only what changed against the stored state (so flags
   * set as root and left alone are never sent), then a resize when the disk grew (a shrink never
   * gets here: the provider's CustomizeDiff replaces the container instead). Returns the state read back.
   */
  private async updateContainer(session: SshSession, state: PropertyBag, c: PropertyBag, changes: ProviderChange[]): Promise<PropertyBag> {
    const pct = this.pctRunner(session);
    const id = String(c.vmId);
    const changed = (prefix: string) => changes.some((x) => x.path === prefix || x.path.startsWith(`${prefix}.`) || x.path.startsWith(`${prefix}[`));
    // An update sends the flags as containerUpdate does (every flag, false ones too: settings).
    const all = this.settings(c, state);
    const pick = (flag: string) => {
      const i = all.indexOf(flag);
      return i >= 0 ? [flag, all[i + 1]] : [];
    };
    const opts: string[] = [];
    if (changed("cpu")) opts.push(...pick("--cores"));
    if (changed("memory")) opts.push(...pick("--memory"), ...pick("--swap"));
    if (changed("networkInterfaces") || changed("initialization.ipConfigs")) opts.push(...pick("--net0"));
    if (changed("initialization.hostname")) opts.push("--hostname", c.initialization.hostname);
    if (changed("features")) {
      this.checkPermissions({ ...this.featuresSent(c, state), mountPoints: [], devicePassthroughs: [] }, { features: state.features });
      opts.push(...pick("--features"));
    }
    if (changed("startOnBoot")) opts.push(...pick("--onboot"));
    if (changed("startup")) opts.push(...pick("--startup"));
    if (changed("description")) opts.push("--description", c.description ?? "");
    if (opts.length) await pct("set", id, ...opts);
    if (changed("disk.size") && Number(c.disk.size) > Number(state.disk?.size)) await pct("resize", id, "rootfs", `${c.disk.size}G`);
    // resourceContainerUpdate's rebootRequired: a started container is rebooted (applying what
    // Proxmox kept pending) when one of these changed; a change of anything else, feature flags
    // included, waits in the config's pending section until the container restarts.
    const rebootRequired = REBOOT_REQUIRED.some(changed);
    if (rebootRequired && c.started !== false && String((await session.run(`pct status ${id}`)).stdout).includes("running")) await pct("reboot", id);
    return this.readBack(session, c);
  }

  /** containerDelete: shut down (force stop) unless stopped, then DELETE without purge (Proxmox
   *  removes the container's volumes with it). */
  private async deleteContainer(session: SshSession, c: PropertyBag): Promise<void> {
    const pct = this.pctRunner(session);
    const id = String(c.vmId);
    const status = await session.run(`pct status ${id}`);
    if (String(status.stdout).includes("running")) await pct("shutdown", id, "--forceStop", "1", "--timeout", "1795");
    await pct("destroy", id);
  }

  /**
   * `pulumi refresh`: every resource in the state read again. Containers: containerRead (gone:
   * dropped from the state, as d.SetId("") does); dynamic resources: their provider's read. The
   * inputs stay as they were.
   */
  async refresh(): Promise<Map<string, "same" | "drift" | "gone">> {
    const seen = new Map<string, "same" | "drift" | "gone">();
    for (const [name, entry] of [...this.state]) {
      let outs: PropertyBag | undefined;
      if (entry.type === CONTAINER) {
        const host = this.hostFor(entry.outs.nodeName ?? entry.inputs.nodeName);
        outs = await this.ssh.withSession(host.target, this.secrets, async (s) => {
          const r = await s.run(`pct config ${Number(entry.id)}`);
          return r.code === 0 ? readContainer(parsePctConfig(String(r.stdout)), entry.outs) : undefined;
        });
      } else if (typeof entry.inputs.__provider === "string") {
        const provider = await this.provider(entry.inputs.__provider);
        const read = await provider.read!(entry.id, entry.outs);
        outs = read.id ? (read.props as PropertyBag) : undefined;
      } else {
        continue;
      }
      if (!outs) {
        this.state.delete(name);
        seen.set(name, "gone");
        continue;
      }
      seen.set(name, this.stable(outs) === this.stable(entry.outs) ? "same" : "drift");
      this.state.set(name, { ...entry, outs });
    }
    return seen;
  }

  /**
   * `pulumi import` of a container the provider does not manage yet (`<node>/<vmid>`): the state is
   * what containerRead stores, and the inputs are taken from it (the bridge's inputs from outputs).
   */
  async importContainer(name: string, node: string, vmId: number): Promise<PropertyBag> {
    const host = this.hostFor(node);
    const outs = await this.ssh.withSession(host.target, this.secrets, (s) => this.readBack(s, { vmId, nodeName: node }));
    this.state.set(name, { id: String(vmId), type: CONTAINER, inputs: structuredClone(outs), outs, protect: false });
    return outs;
  }

  private async currentConfig(session: SshSession, id: string): Promise<PropertyBag> {
    const r = await session.check(`pct config ${id}`, { purpose: `pct config ${id}` });
    const out: Record<string, string> = {};
    for (const line of String(r.stdout).split("\n")) {
      const m = /^([a-z][a-z0-9_]*): (.*)$/.exec(line);
      if (m) out[m[1]] = m[2];
    }
    const features = out.features ? Object.fromEntries(out.features.split(",").map((kv) => kv.split("="))) : undefined;
    return { ...out, features };
  }

  /** retry.NewTaskOperation("container clone", WithBaseDelay(10s), RetryIf(IsTransientAPIError)): 3 attempts, backoff. */
  private async cloneWithRetry(pct: (...w: string[]) => Promise<void>, args: string[]): Promise<void> {
    const base = this.options.lockRetryDelayMs ?? 10_000;
    for (let attempt = 1; ; attempt++) {
      try {
        await pct(...args);
        return;
      } catch (err) {
        const message = (err as Error).message;
        // 4xx (parameter/permission errors) are not retried; server errors (a locked source) are.
        const transient = !/\b(400|403) /.test(message);
        if (!transient || attempt >= 3) throw err;
        await new Promise((r) => setTimeout(r, base * 2 ** (attempt - 1)));
      }
    }
  }
}
