// Installs the Proxmox emulator into a test host (test/host/sshd.ts): lib.sh as
// /usr/local/lib/pve-emu/lib.sh, the tools (`pct`, `qm`, `pvesm`, read-only `pvesh`, `pveversion`, `pveam`) on the session PATH,
// the NVIDIA driver's `nvidia-modprobe` stand-in (unless `nvidia: false`), and an
// optional seed directory copied into every new container root filesystem (EMU_SEED_EXTRA, e.g.
// the stand-in apt-get/curl/systemctl of test/features/lxc/stubs as its /usr/local/bin).
// The emulator's call log is /var/log/pve-emu/calls.log inside the test host (each node of a test
// cluster keeps its own): readCalls() parses it.
import { readFileSync, readdirSync } from "node:fs";
import * as path from "node:path";
import type { TestHost } from "../sshd";

const here = __dirname;
export const EMU_LOG = "/var/log/pve-emu/calls.log";
export const EMU_SEED = "/usr/local/lib/pve-emu/seed";

function shq(s: string): string {
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

export async function installEmulator(
  host: TestHost,
  opts: {
    tools?: Array<"pct" | "qm" | "pvesm" | "pvesh" | "pveversion" | "pveam">;
    seed?: Record<string, { content: string; mode?: number }>;
    /** `pct start/exec` run real LXC containers (EMU_LXC=real; the host must be started with `lxc: true`). */
    realLxc?: boolean;
    /** The node's name (EMU_NODE; default `pve`, the name a single test host has). */
    node?: string;
    /**
     * The host is one node of a test cluster whose nodes share /etc/pve (test/host/cluster.ts):
     * /etc/pve/local points at this per-node path (in the host's private /run), which points at
     * /etc/pve/nodes/<node> (lib.sh emu_pve_layout).
     */
    localLink?: string;
    /**
     * The node's NVIDIA driver: the stand-in `nvidia-modprobe` (./nvidia-modprobe) with the
     * module of this version on disk and loadable, as on a host whose driver is installed and
     * running (default "580.76.05", the version the stacks declare); `false`: no driver at all.
     * Device nodes it creates, and those `pct` judges for devN entries, live under the host's
     * private /run/pve-emu-dev (EMU_DEV_ROOT), never this machine's /dev.
     */
    nvidia?: string | false;
  } = {},
): Promise<void> {
  const mustExec = async (cmd: string) => {
    const r = await host.exec(cmd);
    if (r.code !== 0) throw new Error(`installEmulator: ${cmd.slice(0, 80)} failed: ${r.stderr}`);
  };
  if (opts.node !== undefined && !/^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$/.test(opts.node)) throw new Error(`installEmulator: invalid node name ${opts.node}`);
  await mustExec("mkdir -p /usr/local/lib/pve-emu");
  await mustExec(`printf '%s' ${shq(readFileSync(path.join(here, "lib.sh"), "utf8"))} > /usr/local/lib/pve-emu/lib.sh`);
  if (opts.node) await mustExec(`printf 'EMU_NODE=%s\n' ${shq(opts.node)} >> /etc/pve-emu.conf`);
  if (opts.localLink) await mustExec(`printf 'EMU_PVE_LOCAL_LINK=%s\n' ${shq(opts.localLink)} >> /etc/pve-emu.conf`);
  // /etc/pve as pmxcfs shows it to this node: nodes/<node>/{lxc,qemu-server} and the local links.
  await mustExec("bash -c '. /usr/local/lib/pve-emu/lib.sh && emu_pve_layout'");
  await mustExec("mkdir -p /run/pve-emu-dev/dev && printf 'EMU_DEV_ROOT=/run/pve-emu-dev\n' >> /etc/pve-emu.conf");
  for (const tool of opts.tools ?? ["pct"]) await host.installTool(tool, readFileSync(path.join(here, tool), "utf8"));
  const nvidia = opts.nvidia ?? "580.76.05";
  if (nvidia !== false) {
    if (!/^[0-9]+(\.[0-9]+){1,3}$/.test(nvidia)) throw new Error(`installEmulator: invalid NVIDIA version ${nvidia}`);
    await host.installTool("nvidia-modprobe", readFileSync(path.join(here, "nvidia-modprobe"), "utf8"));
    await mustExec(`mkdir -p /var/lib/nvidia-stand-in && printf '%s\n' ${nvidia} > /var/lib/nvidia-stand-in/module-version`);
  }
  // Own lxc path per test host: LXC's abstract command sockets are named after it.
  if (opts.realLxc) await mustExec(`printf 'EMU_LXC=real\nEMU_LXC_PATH=/var/lib/pve-emu/lxc-run/${host.target.port}\n' >> /etc/pve-emu.conf`);
  for (const [rel, file] of Object.entries(opts.seed ?? {})) {
    const target = path.posix.join(EMU_SEED, rel);
    await mustExec(`mkdir -p ${shq(path.posix.dirname(target))} && printf '%s' ${shq(file.content)} > ${shq(target)} && chmod ${(file.mode ?? 0o644).toString(8)} ${shq(target)}`);
  }
}

/** Files of a local directory as a seed: `{ "usr/local/bin/apt-get": {content, mode: 0o755} }`. */
export function seedFromDir(dir: string, under: string, mode = 0o755): Record<string, { content: string; mode: number }> {
  const out: Record<string, { content: string; mode: number }> = {};
  for (const name of readdirSync(dir)) out[path.posix.join(under, name)] = { content: readFileSync(path.join(dir, name), "utf8"), mode };
  return out;
}

/** The emulator's calls so far, one array of words per call (`["pct", "create", "900", ...]`). */
export async function readCalls(host: TestHost): Promise<string[][]> {
  const r = await host.exec(`cat ${EMU_LOG} 2>/dev/null || true`);
  return r.stdout
    .split("\n")
    .filter(Boolean)
    .map((line) => line.match(/'(?:[^']|'\\'')*'|\S+/g)!.map((w) => (w.startsWith("'") ? w.slice(1, -1).replace(/'\\''/g, "'") : w)));
}

/**
 * The node's storages as Proxmox keeps them in /etc/pve/storage.cfg after the hypervisor setup
 * registered the config's datasets (`pvesm add <type> <pool>-<dataset> ...`, content as the
 * config says; a zfspool holds only images and rootdir): the installer's `local` and
 * `local-lvm`, then one section per registered dataset. For end-to-end runs that carry out the
 * guests but only declare the host setup. `storages` are the config model's storages.
 */
export function storageCfg(storages: Array<{ id: string; type: string; content: string[]; target: string; nodes?: string[] }>): string {
  const sections = [
    "dir: local\n\tpath /var/lib/vz\n\tcontent iso,vztmpl,backup\n",
    "lvmthin: local-lvm\n\tthinpool data\n\tvgname pve\n\tcontent rootdir,images\n",
  ];
  for (const s of storages) {
    const content = s.type === "zfspool" ? s.content.filter((c) => c === "images" || c === "rootdir") : s.content;
    // `nodes`: the storage exists on these cluster nodes only (pve-storage's `nodes` property).
    const nodes = s.nodes?.length ? `\tnodes ${s.nodes.join(",")}\n` : "";
    sections.push(`${s.type}: ${s.id}\n\tcontent ${content.join(",") || "none"}\n\t${s.type === "zfspool" ? `pool ${s.target}` : `path ${s.target}`}\n${nodes}`);
  }
  return sections.join("\n");
}

/** Writes storageCfg(storages) as the test host's /etc/pve/storage.cfg. */
export async function installStorageCfg(host: TestHost, storages: Parameters<typeof storageCfg>[0]): Promise<void> {
  const r = await host.exec(`mkdir -p /etc/pve && printf '%s' ${shq(storageCfg(storages))} > /etc/pve/storage.cfg`);
  if (r.code !== 0) throw new Error(`installStorageCfg: ${r.stderr}`);
}
