// End to end: the real program (infra/index.ts, run by the lead's planStack as an update under
// the mock monitor) for the dev stack, with every container resource carried out on the sshd test
// host: the container kinds' serialized providers executed for real, and every ContainerLegacy
// through the emulator's `pct` (lxc-engine.ts). Host setup and VMs are only declared here. The
// emulator's log must show the seed's step order per container and the clone chain
// 900 → 901 → 950; a second run must change nothing and open no SSH session.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../load";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator, installStorageCfg, readCalls, seedFromDir } from "../host/emulator/lib";
import { Engine, type RunReport } from "./lxc-engine";
import { loadProvider } from "../providers/harness";
import { loadModel, type Json } from "../config/helpers";

/**
 * A copy of the dev files whose bind-mount sources live under /srv (overlaid by the test host):
 * lxc-options creates them on the host, and /fastData on this machine is out of bounds.
 */
function devCopy(mutateHypervisor: (h: Json) => void = () => {}): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-dev-"));
  for (const f of ["phoenix_lxc_configs.json", "phoenix_vm_configs.json"]) copyFileSync(path.join(repoRoot, "stacks/dev", f), path.join(dir, f));
  const hypervisor = JSON.parse(readFileSync(path.join(repoRoot, "stacks/dev/phoenix_hypervisor_config.json"), "utf8"));
  for (const v of Object.values(hypervisor.shared_volumes) as Json[]) if (typeof v.host_path === "string") v.host_path = `/srv${v.host_path}`;
  mutateHypervisor(hypervisor);
  // The test host has no NVIDIA GPU: its GPU containers see a loaded 580.76.05 kernel module the
  // way a real host shows it to them, /proc/driver/nvidia/version (bound over /proc/driver).
  const lxc = JSON.parse(readFileSync(path.join(dir, "phoenix_lxc_configs.json"), "utf8"));
  for (const id of ["901", "950", "955"]) {
    const c = lxc.lxc_configs[id];
    c.lxc_options = [...(c.lxc_options ?? []), "lxc.mount.entry = /srv/nvidia-proc-driver proc/driver none bind,create=dir 0 0"];
  }
  writeFileSync(path.join(dir, "phoenix_lxc_configs.json"), JSON.stringify(lxc, null, 2));
  writeFileSync(path.join(dir, "phoenix_hypervisor_config.json"), JSON.stringify(hypervisor, null, 2));
  return dir;
}

describe("dev stack containers, end to end through the pct emulator and real LXC", () => {
  let host: TestHost;
  let engine: Engine;
  let first: RunReport;
  let calls: string[][];
  let configDir: string;
  const accepted = () => (readFileSync(path.join(host.baseDir, "sshd.log"), "utf8").match(/Accepted publickey/g) ?? []).length;

  beforeAll(async () => {
    // Containers run for real (LXC in the test host); feature scripts keep their apt/curl stand-ins.
    host = await startTestHost({ lxc: true });
    await installEmulator(host, { tools: ["pct"], realLxc: true, seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
    // Bind mount sources (the host's shared volumes) do not exist yet: lxc-options creates them
    // under the throwaway /srv (devCopy), before the containers restart with the mounts.
    configDir = devCopy();
    await host.exec("mkdir -p /srv/nvidia-proc-driver/nvidia && printf 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.76.05  Release Build\\n' > /srv/nvidia-proc-driver/nvidia/version");
    expect((await host.exec("test -e /srv/fastData")).code).not.toBe(0);
    // The storages the (only declared) hypervisor setup registers: containers' volumes live there.
    await installStorageCfg(host, loadModel(configDir).host.storages);
    // The provider waits 10 s, then 20 s for a locked clone source; 1 s, then 2 s keeps the run short.
    engine = new Engine(host, { lockRetryDelayMs: 1000 });
    first = await engine.up({ configDir });
    calls = await readCalls(host);
  }, 1_200_000);
  afterAll(() => host?.stop());

  /** The pct calls about container `ctid`, as "verb detail" strings. */
  const stepsOf = (ctid: number) =>
    calls
      .filter((c) => c[0] === "pct" && c[2] === String(ctid) && !["status", "config", "listsnapshot", "clone"].includes(c[1]))
      .filter((c) => !(c[1] === "exec" && c[4] === "true") && !(c[1] === "exec" && c[4] === "mkdir"))
      .filter((c) => !(c[1] === "push" && !c[4].endsWith(".sh")) && !(c[1] === "push" && c[4].endsWith("/common.sh")))
      .map((c) => (c[1] === "push" ? `push ${path.basename(c[4], ".sh")}` : c[1] === "exec" ? `exec ${path.basename(c.at(-1)!, ".sh")}` : c[1]));

  it("provisions every container without errors", () => {
    expect(first.errors).toEqual([]);
    for (const ctid of [900, 901, 902, 950, 952, 955]) expect(first.actions.get(`ct-${ctid}`), `ct-${ctid}`).toBe("create");
    expect([...first.actions.values()].every((a) => a === "create")).toBe(true);
  });

  it("follows the seed's step order in each container", () => {
    // Root template: created, raw options and its flags (nesting) set as root while stopped, started
    // by its first step, snapshot stopped. Clones: POST clone, then one config update; the provider
    // never resizes on clone and sends no flags (lxc-options owns them).
    expect(stepsOf(900)).toEqual(["create", "set", "start", "push feature-base_setup", "exec feature-base_setup", "shutdown", "snapshot"]);
    // 901 (GPU template): grown to 32 GB, its nvidia-uvm passthrough entries set as root.
    expect(stepsOf(901)).toEqual(["set", "resize", "set", "start", "push feature-nvidia", "exec feature-nvidia", "shutdown", "snapshot"]);
    // 902: keyctl set as root (an API token may set only nesting) before docker is installed.
    expect(stepsOf(902)).toEqual(["set", "resize", "set", "start", "push feature-docker", "exec feature-docker", "shutdown", "snapshot"]);
    // 950 and 955: started by the provider (the clone's disk is the parent's), grown to their
    // declared size and restarted once by lxc-options (their bind mount line is new; the GPU lines
    // came with the clone), all before their first step. GPU clones run the nvidia step too (it
    // carries the host driver version; a no-op here). 952 keeps its parent's 32 GB.
    expect(stepsOf(950)).toEqual(["set", "start", "resize", "reboot", "push feature-nvidia", "exec feature-nvidia", "push feature-vllm", "exec feature-vllm", "push app", "exec app", "push health", "exec health"]);
    expect(stepsOf(955)).toEqual(["set", "start", "resize", "reboot", "push feature-nvidia", "exec feature-nvidia", "push feature-ollama", "exec feature-ollama", "push health", "exec health"]);
    expect(stepsOf(952)).toEqual(["set", "start", "push app", "exec app", "push health", "exec health"]);
  });

  it("clones along the chain 900 → 901 → 950, each from a stopped, snapshotted template", () => {
    const index = (pred: (c: string[]) => boolean) => calls.findIndex(pred);
    const snap = (ctid: number) => index((c) => c[1] === "snapshot" && c[2] === String(ctid));
    const clone = (from: number, to: number) => index((c) => c[1] === "clone" && c[2] === String(from) && c[3] === String(to));
    expect(snap(900)).toBeGreaterThanOrEqual(0);
    expect(clone(900, 901)).toBeGreaterThan(snap(900));
    expect(clone(900, 902)).toBeGreaterThan(snap(900));
    expect(clone(901, 950)).toBeGreaterThan(snap(901));
    expect(clone(901, 955)).toBeGreaterThan(snap(901));
    expect(clone(902, 952)).toBeGreaterThan(snap(902));
    // Siblings of one parent clone one after the other (Proxmox locks the source for a full clone):
    // each clone is asked for once, none is refused and retried.
    expect(calls.filter((c) => c[0] === "pct" && c[1] === "clone").map((c) => `${c[2]}->${c[3]}`).sort()).toEqual(["900->901", "900->902", "901->950", "901->955", "902->952"]);
    const created = (ctid: number) => index((c) => c[1] === "set" && c[2] === String(ctid));
    expect(clone(900, 902)).toBeGreaterThan(created(901));
    expect(clone(901, 955)).toBeGreaterThan(created(950));
    // 952 lists 950 in `dependencies`: it waits for 950's last step.
    expect(clone(902, 952)).toBeGreaterThan(index((c) => c[1] === "exec" && c[2] === "950" && c.at(-1)!.endsWith("/health.sh")));
  });

  it("leaves templates stopped with their snapshot, and the other containers running", async () => {
    for (const ctid of [900, 901, 902]) {
      expect((await host.exec(`/usr/local/sbin/pct status ${ctid}`)).stdout).toBe("status: stopped\n");
      expect((await host.exec(`/usr/local/sbin/pct config ${ctid} --snapshot final-form`)).stdout).toMatch(/^description: phoenix%3A[0-9a-f]{64}%0A$/m);
    }
    for (const ctid of [950, 952, 955]) expect((await host.exec(`/usr/local/sbin/pct status ${ctid}`)).stdout).toBe("status: running\n");
    // Really running: real LXC containers in their own user namespace (Proxmox's default idmap).
    expect((await host.exec("/usr/local/sbin/pct exec 950 -- cat /proc/self/uid_map")).stdout).toMatch(/^\s*0\s+100000\s+65536\s*$/);
    expect((await host.exec("/usr/local/sbin/pct exec 950 -- ls /vllm_models")).code).toBe(0);
  });

  it("configures containers as the config says (emulator state)", async () => {
    const conf = (await host.exec("cat /etc/pve/lxc/950.conf")).stdout;
    expect(conf).toContain("cores: 6\n");
    expect(conf).toContain("memory: 32768\n");
    expect(conf).toContain("net0: name=eth0,bridge=vmbr0,hwaddr=52:54:00:67:89:B0,ip=10.0.0.150/24,gw=10.0.0.1,type=veth\n");
    expect(conf).toContain("lxc.apparmor.profile: unconfined\n");
    expect(conf).toContain("lxc.mount.entry: /srv/fastData/shared-bulk-data/vllm_models vllm_models none bind,create=dir 0 0\n");
    // The source was created on the host, owned by the container's root (host UID 100000).
    expect((await host.exec("stat -c %u:%g /srv/fastData/shared-bulk-data/vllm_models")).stdout).toBe("100000:100000\n");
    expect(conf).toContain("lxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\n");
    expect(conf).toContain("lxc.cgroup2.devices.allow: c 195:* rwm\n");
    // No bind or device mount points through the API; the nvidia-uvm nodes are Proxmox
    // passthrough entries (their major changes with the module load; Proxmox resolves it at start).
    expect(conf).not.toMatch(/^mp\d+:/m);
    expect(conf.match(/^dev\d+: .*$/gm)).toEqual(["dev0: /dev/nvidia-uvm", "dev1: /dev/nvidia-uvm-tools"]);
    expect(conf).toContain("rootfs: quickOS-lxc-disks:subvol-950-disk-0,size=64G\n");
    // 902 (Template-Docker) builds with keyctl, set over SSH as root; 952 inherits it.
    for (const ctid of [902, 952]) expect((await host.exec(`cat /etc/pve/lxc/${ctid}.conf`)).stdout).toMatch(/^features: keyctl=1,nesting=1$/m);
    // The vllm service inside 950 was built from its vllm_* keys.
    const unit = (await host.exec("cat /var/lib/pve-emu/lxc/950/rootfs/etc/systemd/system/vllm.service")).stdout;
    expect(unit).toContain('"serve" "Qwen/Qwen2.5-7B-Instruct-AWQ" "--host" "0.0.0.0" "--port" "8000"');
    // 950 inherited 901's user-space driver and 900's base packages through the clone chain.
    expect((await host.exec("cat /var/lib/pve-emu/lxc/950/rootfs/var/lib/phoenix/nvidia-userspace-version")).stdout).toBe("580.76.05\n");
    expect((await host.exec("cat /var/lib/pve-emu/lxc/950/rootfs/etc/timezone")).stdout).toBe("America/New_York\n");
  });

  it("a second run changes nothing and opens no SSH session", async () => {
    const sessionsBefore = accepted();
    const callsBefore = await readCalls(host);
    const second = await engine.up({ configDir });
    expect(second.errors).toEqual([]);
    expect(second.actions.size).toBe(first.actions.size);
    for (const [name, action] of second.actions) expect(action, name).toBe("same");
    expect(second.sessions).toBe(0);
    expect(accepted()).toBe(sessionsBefore);
    expect(await readCalls(host)).toEqual(callsBefore);
  }, 600_000);

  it("a refresh of the unchanged stack reports no drift (snapshot descriptions as Proxmox prints them, raw lines, flags, disks, sources)", async () => {
    const state = engine["state"];
    const dynamic = [...state].filter(([, s]) => typeof s.inputs.__provider === "string");
    expect(dynamic.length).toBeGreaterThan(20);
    const drifted: string[] = [];
    for (const [name, s] of dynamic) {
      const provider = await loadProvider(s.inputs.__provider, host.secrets);
      const read = await provider.read!(s.id, s.outs);
      if (read.props?.observed?.matches === false || (await provider.diff!(s.id, read.props, s.inputs)).changes) drifted.push(`${name}: ${JSON.stringify(read.props?.observed)}`);
    }
    expect(drifted).toEqual([]);
  }, 600_000);

  it("a changed feature parameter updates that step and re-takes the template's snapshot, nothing else", async () => {
    const before = (await readCalls(host)).length;
    // The dev files with another host timezone (which base_setup hands to the Template-Base).
    const dir = devCopy((h) => (h.timezone = "Europe/Berlin"));
    const third = await engine.up({ configDir: dir });
    expect(third.errors).toEqual([]);
    const updated = [...third.actions].filter(([, a]) => a !== "same").map(([n, a]) => `${n}: ${a}`);
    expect(updated.sort()).toEqual(["ct-900-feature-base_setup: update", "ct-900-snapshot: update"]);
    const newCalls = (await readCalls(host)).slice(before).filter((c) => !["status", "config", "listsnapshot"].includes(c[1]));
    const verbs = newCalls.filter((c) => !(c[1] === "exec" && c[4] !== "env") && !(c[1] === "push" && !c[4].endsWith("feature-base_setup.sh"))).map((c) => `${c[1]} ${c[2]}`);
    expect(verbs).toEqual(["start 900", "push 900", "exec 900", "shutdown 900", "delsnapshot 900", "snapshot 900"]);
    expect((await host.exec("cat /var/lib/pve-emu/lxc/900/snapshots/final-form/etc/timezone")).stdout).toBe("Europe/Berlin\n");
    expect((await host.exec("/usr/local/sbin/pct status 900")).stdout).toBe("status: stopped\n");
  }, 600_000);
});
