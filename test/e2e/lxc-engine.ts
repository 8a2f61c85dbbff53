// A small stand-in for the Pulumi engine, for end-to-end tests of the containers: the real
// program runs under the SDK's mock monitor (the lead's planStack; dependencies ordered as the
// engine orders them: a resource registers only once everything it depends on has), and each
// container resource is carried out for real on a test host:
//   - dynamic resources: the serialized provider is loaded as Pulumi's dynamic-provider host does
//     and driven like the engine: check, then create, or diff against the last state and update
//     (or replace) only when diff reports a change;
//   - ContainerLegacy: what the proxmoxve provider does through the Proxmox API, done with the
//     emulator's `pct` over SSH (create or clone, set, resize, start).
// State persists across runs of one engine, so a second run shows what `pulumi up` would change.
import { loadDist, requireNode } from "../load";
import { loadProvider, type LoadedProvider } from "../providers/harness";
import type { TestHost } from "../host/sshd";
import { FIREWALL_TYPES, carryOutFirewall } from "./firewall-engine";

export interface EngineRecord {
  name: string;
  type: string;
  dependsOn: string[];
  inputs: Record<string, any>;
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
}

const CONTAINER = "proxmoxve:index/containerLegacy:ContainerLegacy";
/** What `up` carries out: containers and the container kinds (host setup and VMs are other issues'). */
const CARRIED_OUT = /^(proxmoxve:index\/containerLegacy:ContainerLegacy|pulumi-nodejs:dynamic\/phoenix:lxc-(options|step|snapshot|subids))$/;

function nameFromUrn(urn: string): string {
  return urn.slice(urn.lastIndexOf("::") + 2);
}

/** Declares every container of `model` as infra/index.ts does (parents' snapshots, `dependencies`). */
export function declareContainers(model: any, settings: any): Map<number, any> {
  const { LxcGuest } = loadDist("infra/components/lxc");
  const { topologicalOrder } = loadDist("infra/graph/index");
  const guests = new Map<number, any>();
  for (const g of topologicalOrder(model)) {
    if (g.kind !== "lxc") continue;
    const c = model.containers.find((x: any) => x.ctid === g.id);
    const parent = c.cloneFrom !== undefined ? guests.get(c.cloneFrom) : undefined;
    const dependsOn = c.dependencies.map((id: number) => guests.get(id)?.ready).filter(Boolean);
    guests.set(c.ctid, new LxcGuest(`ct-${c.ctid}`, { container: c, model, settings, parentSnapshot: parent?.snapshot, dependsOn }));
  }
  return guests;
}

/** Records each registration's name, type, explicit dependencies and inputs (the mock monitor drops them). */
function recordRegistrations(into: EngineRecord[]): void {
  const pulumi = requireNode("@pulumi/pulumi");
  const monitor = pulumi.runtime.getMonitor() as any;
  const register = monitor.registerResource.bind(monitor);
  monitor.registerResource = (req: any, callback: (err: any, res: any) => void) => {
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
export async function planContainers(model: any, settings: any): Promise<EngineRecord[]> {
  const pulumi = requireNode("@pulumi/pulumi");
  const registered: EngineRecord[] = [];
  await pulumi.runtime.setMocks(
    { newResource: (args: any) => ({ id: `${args.name}-id`, state: args.inputs }), call: (args: any) => args.inputs },
    "phoenix",
    settings.stack,
    true,
  );
  recordRegistrations(registered);
  declareContainers(model, settings);
  await (pulumi.runtime as any).waitForRPCs?.();
  return registered;
}

export class Engine {
  private state = new Map<string, { id: string; inputs: Record<string, any>; outs: Record<string, any> }>();
  private providers = new Map<string, Promise<LoadedProvider>>();
  private ssh = loadDist("providers/ssh/index");
  private stable = loadDist("providers/base/index").stableJson as (v: unknown) => string;

  constructor(private host: TestHost) {}

  /**
   * Runs the real program (infra/index.ts, through the lead's planStack) as an update against the
   * test host: the containers' resources are carried out, everything else (host setup, VMs) is
   * only declared.
   */
  async up(opts: { stack?: string; configDir?: string; config?: Record<string, string> } = {}): Promise<RunReport> {
    const report: RunReport = { registered: [], actions: new Map(), sessions: 0, errors: [] };
    const { planStack } = loadDist("infra/cli/plan");
    const t = this.host.target;
    const plan = await planStack({
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
      onNewResource: async (args: any) => {
        if (!CARRIED_OUT.test(args.type) && !FIREWALL_TYPES.test(args.type)) return undefined;
        try {
          return await this.carryOut(args, report);
        } catch (err) {
          report.errors.push(`${args.name}: ${(err as Error).message}`);
          throw err;
        }
      },
    });
    report.errors.push(...plan.errors);
    report.registered = plan.resources.map((r: any) => ({ name: r.name, type: r.type, dependsOn: r.dependsOn, inputs: r.inputs, replaceWith: [], deleteBeforeReplace: false, deletedWith: "" }));
    return report;
  }

  private provider(serialized: string): Promise<LoadedProvider> {
    let p = this.providers.get(serialized);
    if (!p) this.providers.set(serialized, (p = loadProvider(serialized, this.host.secrets)));
    return p;
  }

  private async carryOut(args: any, report: RunReport): Promise<{ id: string; state: Record<string, any> }> {
    if (!args.custom) return { id: args.name, state: {} };
    const prior = this.state.get(args.name);
    if (typeof args.inputs.__provider === "string") {
      const provider = await this.provider(args.inputs.__provider);
      const checked = await provider.check!(prior?.inputs ?? {}, args.inputs);
      if (checked.failures?.length) throw new Error(`check failed: ${JSON.stringify(checked.failures)}`);
      const inputs = checked.inputs ?? args.inputs;
      if (prior) {
        const d = await provider.diff!(prior.id, prior.outs, inputs);
        if (!d.changes) {
          report.actions.set(args.name, "same");
          return { id: prior.id, state: prior.outs };
        }
        if (d.replaces?.length) {
          await provider.delete!(prior.id, prior.outs);
          const created = await provider.create(inputs);
          this.state.set(args.name, { id: created.id, inputs, outs: created.outs });
          report.actions.set(args.name, "replace");
          return { id: created.id, state: created.outs };
        }
        const updated = await provider.update!(prior.id, prior.outs, inputs);
        this.state.set(args.name, { id: prior.id, inputs, outs: updated.outs });
        report.actions.set(args.name, "update");
        return { id: prior.id, state: updated.outs };
      }
      const created = await provider.create(inputs);
      this.state.set(args.name, { id: created.id, inputs, outs: created.outs });
      report.actions.set(args.name, "create");
      return { id: created.id, state: created.outs };
    }
    if (FIREWALL_TYPES.test(args.type)) return carryOutFirewall(this.host, this.state, args, report);
    if (args.type === CONTAINER) {
      if (prior) {
        if (this.stable(prior.inputs) !== this.stable(args.inputs)) throw new Error(`${args.name}: container inputs changed; this engine does not update containers`);
        report.actions.set(args.name, "same");
        return { id: prior.id, state: prior.outs };
      }
      report.sessions++;
      await this.ssh.withSession(this.host.target, this.host.secrets, (s: any) => this.createContainer(s, args.inputs));
      const id = String(args.inputs.vmId);
      this.state.set(args.name, { id, inputs: args.inputs, outs: args.inputs });
      report.actions.set(args.name, "create");
      return { id, state: args.inputs };
    }
    throw new Error(`${args.name}: the engine has no way to carry out ${args.type}`);
  }

  /** What the proxmoxve provider does for a ContainerLegacy, with `pct` (the Proxmox API's CLI twin). */
  private async createContainer(session: any, c: Record<string, any>): Promise<void> {
    const q = this.ssh.shellQuote as (s: string) => string;
    const pct = async (...words: string[]) => {
      await session.check(["pct", ...words].map(q).join(" "), { purpose: `pct ${words.slice(0, 2).join(" ")}` });
    };
    const id = String(c.vmId);
    const opts: string[] = [];
    opts.push("--cores", String(c.cpu.cores), "--memory", String(c.memory.dedicated), "--swap", String(c.memory.swap));
    const net = c.networkInterfaces[0];
    const ip = c.initialization.ipConfigs[0].ipv4;
    opts.push("--net0", [`name=${net.name}`, `bridge=${net.bridge}`, net.macAddress && `hwaddr=${net.macAddress}`, net.firewall && "firewall=1", `ip=${ip.address}`, ip.gateway && `gw=${ip.gateway}`].filter(Boolean).join(","));
    if (c.features) {
      const f = Object.entries(c.features).map(([k, v]) => (k === "mounts" ? `mount=${(v as string[]).join(";")}` : `${k}=${v ? 1 : 0}`));
      opts.push("--features", f.join(","));
    }
    opts.push("--onboot", c.startOnBoot ? "1" : "0");
    if (c.startup) opts.push("--startup", [c.startup.order !== undefined && `order=${c.startup.order}`, c.startup.upDelay !== undefined && `up=${c.startup.upDelay}`].filter(Boolean).join(","));
    (c.mountPoints ?? []).forEach((m: any, i: number) => {
      const volume = m.volume.startsWith("/") ? m.volume : `${m.volume}:${String(m.size).replace(/G$/, "")}`;
      opts.push(`--mp${i}`, `${volume},mp=${m.path}`);
    });
    (c.devicePassthroughs ?? []).forEach((d: any, i: number) => opts.push(`--dev${i}`, `${d.path}${d.mode ? `,mode=${d.mode}` : ""}`));
    if (c.clone) {
      await pct("clone", String(c.clone.vmId), id, "--full", "1", "--hostname", c.initialization.hostname, ...(c.clone.datastoreId ? ["--storage", c.clone.datastoreId] : []));
      await pct("set", id, ...opts);
      await pct("resize", id, "rootfs", `${c.disk.size}G`);
    } else {
      await pct("create", id, c.operatingSystem.templateFileId, "--hostname", c.initialization.hostname, "--ostype", c.operatingSystem.type,
        "--rootfs", `${c.disk.datastoreId}:${c.disk.size}`, "--unprivileged", c.unprivileged ? "1" : "0", ...opts);
    }
    if (c.started !== false) await pct("start", id);
  }
}
