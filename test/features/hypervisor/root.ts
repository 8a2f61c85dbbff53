// A throwaway root for running the hypervisor feature scripts directly (without SSH): a private
// mount namespace, held open by a sleeping process, in which /etc, /var, /run, /usr/local, /mnt,
// /srv, /root and /home are overlays on the real directories and /tmp is a tmpfs. Scripts run in
// it through `nsenter`, so they may change /etc freely; this machine's real files stay untouched.
// test-tier: host
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, readdirSync, readlinkSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import * as path from "node:path";
import { loadDist } from "../../load";
import type { Json } from "../../config/helpers";

// Scripts run as the host receives them: composed by the registry (includes replaced).
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");

const OVERLAID = ["etc", "var", "run", "usr/local", "mnt", "srv", "root", "home"];

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface ScriptResult extends ExecResult {
  /** The parsed `PHOENIX_RESULT {json}` line, if the script printed one. */
  result?: Record<string, Json>;
}

export interface ThrowawayRoot {
  /** Temp dir holding the overlays' upper dirs (`up/etc` ...): what the scripts changed. */
  dir: string;
  exec(command: string, opts?: { env?: Record<string, string>; stdin?: string }): Promise<ExecResult>;
  /** Runs features/hypervisor/<name>.sh (composed, as the host gets it) with PHOENIX_ACTION and PHOENIX_<UPPER> params. */
  script(name: string, action: "read" | "apply" | "delete", params: Record<string, string>, allowDestroy?: boolean): Promise<ScriptResult>;
  /** Installs an executable into /usr/local/sbin (first on PATH) inside the root. */
  installTool(name: string, content: string): Promise<void>;
  /** Starts the zfs-fuse daemon inside the namespace and waits until `zpool list` answers. */
  startZfsFuse(): Promise<void>;
  stop(): Promise<void>;
}

const PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

export function scriptEnv(action: string, params: Record<string, string>, allowDestroy = false): Record<string, string> {
  const env: Record<string, string> = { PHOENIX_ACTION: action, PHOENIX_ALLOW_DESTROY: allowDestroy ? "1" : "0" };
  for (const [k, v] of Object.entries(params)) env[`PHOENIX_${k.toUpperCase()}`] = v;
  return env;
}

export function parseResult(stdout: string): Record<string, Json> | undefined {
  const line = stdout.trimEnd().split("\n").reverse().find((l) => l.startsWith("PHOENIX_RESULT "));
  return line ? JSON.parse(line.slice("PHOENIX_RESULT ".length)) : undefined;
}

export async function startThrowawayRoot(): Promise<ThrowawayRoot> {
  const dir = mkdtempSync(path.join(tmpdir(), "phoenix-root-"));
  const mounts = OVERLAID.map((d) => {
    const n = d.replace("/", "_");
    return `mkdir -p ${dir}/up/${n} ${dir}/work/${n} && mount -t overlay overlay -o lowerdir=/${d},upperdir=${dir}/up/${n},workdir=${dir}/work/${n} /${d}`;
  });
  const setup = [...mounts, "mount -t tmpfs tmpfs /tmp", "mkdir -p /run/lock", "echo ready", "exec sleep infinity"].join(" && ");
  const holder: ChildProcess = spawn("unshare", ["-m", "--propagation", "private", "bash", "-c", setup], {
    stdio: ["ignore", "pipe", "pipe"],
  });
  await new Promise<void>((resolve, reject) => {
    let err = "";
    holder.stderr!.on("data", (d) => (err += d));
    holder.stdout!.on("data", (d) => String(d).includes("ready") && resolve());
    holder.on("exit", (code) => reject(new Error(`throwaway root failed (${code}): ${err}`)));
  });
  const pid = holder.pid!;
  const namespace = readlinkSync(`/proc/${pid}/ns/mnt`);
  /** Every process in the root's mount namespace (the holder, daemons such as zfs-fuse or smbd). */
  const processes = (): number[] =>
    readdirSync("/proc")
      .filter((n) => /^\d+$/.test(n))
      .map(Number)
      .filter((n) => {
        try {
          return readlinkSync(`/proc/${n}/ns/mnt`) === namespace;
        } catch {
          return false;
        }
      });

  const exec: ThrowawayRoot["exec"] = (command, opts = {}) =>
    new Promise((resolve) => {
      const child = spawn("nsenter", ["-t", String(pid), "-m", "--", "bash", "--norc", "--noprofile", "-c", command], {
        env: { PATH, HOME: "/root", LANG: "C.UTF-8", ...opts.env },
        stdio: ["pipe", "pipe", "pipe"],
      });
      let stdout = "";
      let stderr = "";
      child.stdout.on("data", (d) => (stdout += d));
      child.stderr.on("data", (d) => (stderr += d));
      child.on("close", (code) => resolve({ code: code ?? -1, stdout, stderr }));
      // A script that dies early (a refused value) stops reading its own text: not an error here.
      child.stdin.on("error", () => {});
      child.stdin.end(opts.stdin ?? "");
    });

  let zfsStarted = false;
  const root: ThrowawayRoot = {
    dir,
    exec,
    async script(name, action, params, allowDestroy = false) {
      const text: string = registry.featureScript("hypervisor", name).text;
      const r = await exec("bash --norc --noprofile -s", { env: scriptEnv(action, params, allowDestroy), stdin: text });
      return { ...r, result: parseResult(r.stdout) };
    },
    async installTool(name, content) {
      const r = await exec(`cat > /usr/local/sbin/${name} && chmod 755 /usr/local/sbin/${name}`, { stdin: content });
      if (r.code !== 0) throw new Error(`installTool ${name}: ${r.stderr}`);
    },
    async startZfsFuse() {
      const r = await exec(
        "mkdir -p /var/run/zfs && rm -f /var/run/zfs/zfs_socket && (setsid zfs-fuse --pidfile /run/zfs-fuse.pid </dev/null >/dev/null 2>&1 &) && " +
          "for i in $(seq 100); do zpool list >/dev/null 2>&1 && exit 0; sleep 0.1; done; echo 'zfs-fuse did not start' >&2; exit 1",
      );
      if (r.code !== 0) throw new Error(r.stderr);
      zfsStarted = true;
    },
    async stop() {
      // Export the pools so zfs-fuse unmounts cleanly, then end every process of the namespace
      // (zfs-fuse, smbd... and the holder); the mounts go with the namespace.
      if (zfsStarted) await exec("for p in $(zpool list -H -o name 2>/dev/null); do zpool export -f \"$p\" || true; done");
      for (const n of processes()) {
        try {
          process.kill(n, "SIGKILL");
        } catch {
          // already gone
        }
      }
      for (let i = 0; i < 50 && processes().length; i++) await new Promise((r) => setTimeout(r, 100));
      rmSync(dir, { recursive: true, force: true });
    },
  };
  return root;
}
