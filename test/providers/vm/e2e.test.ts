// End to end: the dev stack's VMs (compiled VmGuest components) under the mock monitor, each
// registered resource carried out for real on the sshd test host. Dynamic resources (the
// cloud-init wait, the snapshot) run through their serialized providers exactly as Pulumi's
// dynamic-provider host runs them; what the proxmoxve provider would do through the Proxmox API
// (download the image, upload the snippet, create/clone/configure/start the VM) is done with the
// emulator's `qm` and file writes over SSH. State persists across runs, so a second run shows what
// `pulumi up` would change.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { parse } from "yaml";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist, repoRoot, requireNode } from "../../load";
import { loadProvider, unwrapSecrets, type LoadedProvider } from "../harness";
import { installQm } from "./emulator";
import { installStorageCfg } from "../../host/emulator/lib";
import type * as Pulumi from "@pulumi/pulumi";
import type { RegisterResourceRequest } from "@pulumi/pulumi/proto/resource_pb";
import type { PropertyBag } from "../../../infra/cli/plan";
import type { PhoenixModel } from "../../../infra/config/model";
import type { VmGuestArgs } from "../../../infra/components/vm";
import type { SshSession } from "../../../providers/ssh/types";

type Action = "create" | "update" | "same";
interface RunReport {
  actions: Map<string, Action>;
  /** Per registered resource: the resources whose replacement replaces it, and delete-first. */
  options: Map<string, { replaceWith: string[]; deleteBeforeReplace: boolean }>;
  /** SSH sessions opened for proxmoxve resources (dynamic providers open their own). */
  sessions: number;
  errors: string[];
}

const STORAGE = "/var/lib/pve-emu/storage";

class VmEngine {
  private state = new Map<string, { id: string; inputs: PropertyBag; outs: PropertyBag }>();
  private providers = new Map<string, Promise<LoadedProvider>>();
  private ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
  private stable = loadDist<typeof import("../../../providers/base/index")>("providers/base/index").stableJson as (v: unknown) => string;
  constructor(private host: TestHost) {}

  async run(model: PhoenixModel, settings: VmGuestArgs["settings"]): Promise<RunReport> {
    const pulumi: typeof Pulumi = requireNode("@pulumi/pulumi");
    const report: RunReport = { actions: new Map(), options: new Map(), sessions: 0, errors: [] };
    const onRejection = (reason: unknown) => report.errors.push(String((reason as Error)?.message ?? reason));
    process.on("unhandledRejection", onRejection);
    // A failed resource leaves its dependents waiting forever under the mock monitor: once one
    // fails, the run ends (as `pulumi up` does) when nothing else is being carried out.
    let inFlight = 0;
    let stop: (() => void) | undefined;
    const stopped = new Promise<void>((resolve) => (stop = resolve));
    const settle = async () => {
      for (let quiet = 0; quiet < 4; quiet = inFlight ? 0 : quiet + 1) await new Promise((r) => setTimeout(r, 250));
      stop!();
    };
    try {
      await pulumi.runtime.setMocks(
        {
          newResource: async (args: Pulumi.runtime.MockResourceArgs) => {
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
          call: (args: Pulumi.runtime.MockCallArgs) => args.inputs,
        },
        "phoenix",
        settings.stack,
        false,
      );
      const monitor = pulumi.runtime.getMonitor() as unknown as { registerResource(req: RegisterResourceRequest, callback: unknown): void };
      const register = monitor.registerResource.bind(monitor);
      monitor.registerResource = (req, callback) => {
        const replaceWith = req.getReplaceWithList().map((u: string) => u.slice(u.lastIndexOf("::") + 2));
        report.options.set(req.getName(), { replaceWith, deleteBeforeReplace: req.getDeletebeforereplace() });
        register(req, callback);
      };
      // As infra/index.ts declares them (infra/stack declareStack): the host setup (only declared
      // here: carryOut skips it), templates first, clones with their parent.
      const { declareStack } = loadDist<typeof import("../../../infra/stack")>("infra/stack");
      declareStack({ ...model, containers: [] }, settings);
      await Promise.race([(pulumi.runtime as { waitForRPCs?: () => Promise<void> }).waitForRPCs?.(), stopped]);
      await new Promise((resolve) => setImmediate(resolve));
      return report;
    } finally {
      process.off("unhandledRejection", onRejection);
    }
  }

  private async carryOut(args: Pulumi.runtime.MockResourceArgs, report: RunReport): Promise<{ id: string; state: PropertyBag }> {
    if (!args.custom) return { id: args.name, state: {} };
    // The host's resources (setup steps, the cluster firewall) are declared, not carried out: this
    // engine proves the VMs' resources.
    if (/^pulumi-nodejs:dynamic\/phoenix:host-/.test(args.type) || args.name.startsWith("host-firewall")) return { id: `${args.name}-id`, state: args.inputs };
    const prior = this.state.get(args.name);
    if (typeof args.inputs.__provider === "string") {
      let p = this.providers.get(args.inputs.__provider);
      if (!p) this.providers.set(args.inputs.__provider, (p = loadProvider(args.inputs.__provider, this.host.secrets)));
      const provider = await p;
      const checked = await provider.check!(prior?.inputs ?? {}, args.inputs);
      if (checked.failures?.length) throw new Error(`check failed: ${JSON.stringify(checked.failures)}`);
      const inputs = checked.inputs ?? args.inputs;
      if (prior) {
        const d = await provider.diff!(prior.id, prior.outs, inputs);
        if (!d.changes) return this.keep(args.name, prior, report);
        const updated = await provider.update!(prior.id, prior.outs, inputs);
        return this.record(args.name, prior.id, inputs, updated.outs, "update", report);
      }
      const created = await provider.create(inputs);
      return this.record(args.name, created.id, inputs, created.outs, "create", report);
    }
    if (prior) {
      if (this.stable(prior.inputs) !== this.stable(args.inputs)) throw new Error(`${args.name}: inputs changed; this engine does not update ${args.type}`);
      return this.keep(args.name, prior, report);
    }
    report.sessions++;
    // The provider receives secrets (the snippet's content) in the clear.
    const plain = unwrapSecrets(args.inputs) as PropertyBag;
    const id = await this.ssh.withSession(this.host.target, this.host.secrets, (s) => this.proxmoxApi(s, args.type, plain));
    return this.record(args.name, id, args.inputs, args.inputs, "create", report);
  }

  private keep(name: string, prior: { id: string; outs: PropertyBag }, report: RunReport) {
    report.actions.set(name, "same");
    return { id: prior.id, state: prior.outs };
  }

  private record(name: string, id: string, inputs: PropertyBag, outs: PropertyBag, action: Action, report: RunReport) {
    this.state.set(name, { id, inputs, outs });
    report.actions.set(name, action);
    return { id, state: outs };
  }

  /** What the proxmoxve provider does through the Proxmox API, with `qm` and files on the host. */
  private async proxmoxApi(session: SshSession, type: string, r: PropertyBag): Promise<string> {
    const q = this.ssh.shellQuote as (s: string) => string;
    const qm = (...words: string[]) => session.check(["qm", ...words].map(q).join(" "), { purpose: `qm ${words[0]}` });
    switch (type) {
      case "proxmoxve:download/fileLegacy:FileLegacy": {
        // The node downloads the image; offline, a placeholder file stands in for it.
        await session.check(`mkdir -p ${q(`${STORAGE}/${r.datastoreId}/${r.contentType}`)}`);
        await session.upload(`${STORAGE}/${r.datastoreId}/${r.contentType}/${r.fileName}`, `image from ${r.url}\n`);
        return `${r.datastoreId}:${r.contentType}/${r.fileName}`;
      }
      case "proxmoxve:index/fileLegacy:FileLegacy": {
        await session.check(`mkdir -p ${q(`${STORAGE}/${r.datastoreId}/${r.contentType}`)}`);
        await session.upload(`${STORAGE}/${r.datastoreId}/${r.contentType}/${r.sourceRaw.fileName}`, r.sourceRaw.data, 0o600);
        return `${r.datastoreId}:${r.contentType}/${r.sourceRaw.fileName}`;
      }
      case "proxmoxve:index/vmLegacy:VmLegacy": {
        const id = String(r.vmId);
        const ip = r.initialization.ipConfigs[0].ipv4;
        const settings = [
          "--cores", String(r.cpu.cores), "--memory", String(r.memory.dedicated),
          "--net0", `virtio,bridge=${r.networkDevices[0].bridge}`,
          "--agent", r.agent.enabled ? "enabled=1" : "0",
          "--onboot", r.onBoot ? "1" : "0",
          "--ipconfig0", ip.address === "dhcp" ? "ip=dhcp" : `ip=${ip.address}${ip.gateway ? `,gw=${ip.gateway}` : ""}`,
          // The provider's initialization.dns: servers → nameserver, domain → searchdomain (each optional).
          ...(r.initialization.dns?.servers?.length ? ["--nameserver", r.initialization.dns.servers.join(" ")] : []),
          ...(r.initialization.dns?.domain ? ["--searchdomain", r.initialization.dns.domain] : []),
          ...(r.initialization.userDataFileId ? ["--cicustom", `user=${r.initialization.userDataFileId}`] : []),
          ...(r.startup ? ["--startup", `order=${r.startup.order},up=${r.startup.upDelay}`] : []),
        ];
        if (r.clone) {
          await qm("clone", String(r.clone.vmId), id, "--name", r.name, "--full", r.clone.full ? "1" : "0");
          // The provider's clone flow: POST clone, one config update, then the disks resized to
          // the planned size (disk.UpdateClone); Proxmox never shrinks a disk.
          await qm("set", id, ...settings);
          await qm("resize", id, "scsi0", `${r.disks[0].size}G`);
        } else {
          const disk = r.disks[0];
          await qm("create", id, "--name", r.name, ...settings, "--scsi0", `${disk.datastoreId}:0,import-from=${disk.importFrom ?? disk.fileId},size=${disk.size}G`,
            "--ide2", `${r.initialization.datastoreId}:cloudinit`, "--serial0", "socket", ...(r.template ? ["--template", "1"] : []));
        }
        if (r.started) await qm("start", id);
        return id;
      }
      default:
        throw new Error(`the engine has no way to carry out ${type}`);
    }
  }
}

describe("dev stack VMs end to end (qm emulator on the sshd test host)", () => {
  let host: TestHost;
  let engine: VmEngine;
  let model: PhoenixModel;
  let settings: VmGuestArgs["settings"];
  let first: RunReport;
  const calls = async () => (await host.exec("cat /var/log/pve-emu/calls.log")).stdout.split("\n").filter(Boolean);

  beforeAll(async () => {
    host = await startTestHost();
    await installQm(host);
    const loaded = loadDist<typeof import("../../../infra/config/load")>("infra/config/load").loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"));
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    model = loaded.model;
    // The storages the (only declared) hypervisor setup registers: guests' volumes live there.
    await installStorageCfg(host, model.host.storages);
    // Take a snapshot of the provisioned clone too, to see it come after the first boot.
    model.vms.find((v) => v.vmid === 8001)!.templateSnapshotName = "golden";
    settings = { stack: "dev", node: "pve", connection: host.target, nodes: [{ name: "pve", connection: host.target }], configDir: "", allowDataDestruction: false, protectPools: true, proxmoxSubscription: false };
    engine = new VmEngine(host);
    first = await engine.run(model, settings);
  });
  afterAll(() => host?.stop());

  it("creates the template from the image, clones, boots, waits for cloud-init, then snapshots", async () => {
    expect(first.errors).toEqual([]);
    expect(Object.fromEntries(first.actions)).toEqual({
      "vm-8000-image": "create",
      "vm-8000": "create",
      "vm-8001-user-data": "create",
      "vm-8001": "create",
      "vm-8001-cloud-init": "create",
      "vm-8001-snapshot": "create",
    });
    const log = await calls();
    const at = (re: RegExp) => {
      const i = log.findIndex((l) => re.test(l));
      expect(i, `${re} in the qm log:\n${log.join("\n")}`).toBeGreaterThanOrEqual(0);
      return i;
    };
    const order = [
      at(/^qm create 8000 .*--template 1/),
      at(/^qm clone 8000 8001 --name docker-vm --full 1$/),
      at(/^qm start 8001$/),
      at(/^qm guest cmd 8001 ping$/),
      at(/^qm guest exec 8001 --timeout \d+ -- cloud-init status --wait$/),
      at(/^qm snapshot 8001 golden --description/),
    ];
    expect([...order].sort((a, b) => a - b)).toEqual(order);
  });

  it("replaces the first-boot wait and the snapshot with their VM, and deletes before recreating (fixed VMID)", () => {
    for (const name of ["vm-8001-cloud-init", "vm-8001-snapshot"]) {
      expect(first.options.get(name), name).toEqual({ replaceWith: ["vm-8001"], deleteBeforeReplace: true });
    }
    expect(first.options.get("vm-8001")?.deleteBeforeReplace).toBe(true);
  });

  it("leaves the VMs configured as the config says, booted with the user data snippet", async () => {
    const template = (await host.exec("/usr/local/sbin/qm config 8000")).stdout;
    expect(template).toMatch(/^template: 1$/m);
    // The image is imported into a volume of the VM's storage (`--template 1` at create only flags it).
    expect(template).toMatch(/^scsi0: quickOS-vm-disks:vm-8000-disk-0,size=50G$/m);
    expect((await host.exec("/usr/local/sbin/qm config 8001")).stdout).toMatch(/^scsi0: quickOS-vm-disks:vm-8001-disk-0,size=100G$/m);
    const clone = (await host.exec("/usr/local/sbin/qm config 8001")).stdout;
    expect(clone).toMatch(/^cores: 4$/m);
    expect(clone).toMatch(/^memory: 8192$/m);
    expect(clone).toMatch(/^agent: enabled=1$/m);
    expect(clone).toMatch(/^ipconfig0: ip=10\.0\.0\.101\/24,gw=10\.0\.0\.1$/m);
    const snippet = /^cicustom: user=local:snippets\/(phoenix-vm-8001-[0-9a-f]{12}\.yaml)$/m.exec(clone);
    expect(snippet).not.toBeNull();
    expect((await host.exec("/usr/local/sbin/qm status 8001")).stdout.trim()).toBe("status: running");
    const userData = (await host.exec(`cat ${STORAGE}/local/snippets/${snippet![1]}`)).stdout;
    const doc = parse(userData);
    expect(doc.write_files.map((f: { path: string }) => f.path)).toEqual(expect.arrayContaining(["/opt/phoenix/features/base_setup.sh", "/opt/phoenix/features/docker.sh"]));
    expect((await host.exec(`stat -c %a ${STORAGE}/local/snippets/${snippet![1]}`)).stdout.trim()).toBe("600");
    expect((await host.exec("cat /var/lib/phoenix/vm/8001/cloud-init")).stdout).toMatch(/^[0-9a-f]{64} done$/m);
  });

  it("changes nothing on a second run: every diff is empty and no SSH session is opened for Proxmox resources", async () => {
    const before = (await calls()).length;
    const second = await engine.run(model, settings);
    expect(second.errors).toEqual([]);
    expect([...second.actions.values()].every((a) => a === "same"), JSON.stringify([...second.actions])).toBe(true);
    expect(second.actions.size).toBe(6);
    expect(second.sessions).toBe(0);
    expect((await calls()).length).toBe(before);
  });
});
