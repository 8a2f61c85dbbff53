// The test host: a real OpenSSH sshd on 127.0.0.1:<free port> whose sessions run inside a
// throwaway root. sshd is started in a private mount namespace (`unshare -m`) where /etc, /var,
// /root, /home, /usr/local, /opt, /srv, /mnt and /tmp are overlays on this machine's directories
// (upper dirs under `rootDir`) and /run is a fresh tmpfs. Host scripts may change /etc freely:
// nothing reaches this machine's real files, and `rootDir` shows exactly what they changed.
//
// Usage (vitest):
//   let host: TestHost;
//   beforeAll(async () => { host = await startTestHost(); });
//   afterAll(() => host?.stop());
//   ... openSession(host.target, host.secrets) ...
//   await host.installTool("pct", text)      // executable on the session PATH (/usr/local/sbin)
//   await host.exec("cat /etc/foo")          // runs locally INSIDE the namespace (assertions)
//   await host.startZfsFuse()                // zfs/zpool usable inside the namespace
//
// Several test files may start hosts in parallel: each has its own port, namespace and dirs.
// test-tier: host
import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync, writeFileSync, appendFileSync, existsSync, readdirSync, readlinkSync } from "node:fs";
import * as net from "node:net";
import * as path from "node:path";
import type { SshSecrets, SshTarget } from "../../providers/ssh/types";

export interface ExecResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface TestHost {
  /** root@127.0.0.1:<port> with the expected host key (known_hosts line). */
  target: SshTarget;
  /** The throwaway client key (unencrypted). */
  secrets: SshSecrets & { privateKey: string };
  /** `[127.0.0.1]:<port> ssh-ed25519 AAAA...` */
  hostKeyLine: string;
  /** `SHA256:...` as printed by ssh-keygen -l. */
  fingerprint: string;
  /** Overlay upper dirs: `${rootDir}/etc/foo` exists iff the host changed /etc/foo. */
  rootDir: string;
  /** Fixture directory (keys, sshd_config, overlays); removed by stop(). */
  baseDir: string;
  /** A non-root user with a password and NOPASSWD sudo (when started with passwordUser). */
  passwordUser?: { user: string; password: string };
  /** pid of the sshd listener (also the namespace's first process). */
  sshdPid: number;
  /** Runs `sh -c cmd` locally inside the throwaway namespace. */
  exec(cmd: string): Promise<ExecResult>;
  /** Installs an executable as /usr/local/sbin/<name> inside the throwaway root (on the session PATH). */
  installTool(name: string, content: string): Promise<void>;
  /** Lets `publicKeyLine` (an authorized_keys line) log in as `user`. */
  authorizeKey(user: string, publicKeyLine: string): void;
  /** Starts the zfs-fuse daemon inside the namespace and waits until `zpool list` answers. */
  startZfsFuse(): Promise<void>;
  /** pids of every process in the namespace (sshd, sessions, daemons). */
  processes(): number[];
  /** Kills every process of the namespace (the mounts go with it) and removes baseDir. */
  stop(): Promise<void>;
}

export interface TestHostOptions {
  /** sshd MaxStartups, e.g. "5:50:10" (default sshd's 10:30:100). */
  maxStartups?: string;
  /** Create user `phoenixpw` with a random password and NOPASSWD sudo. */
  passwordUser?: boolean;
  /** Extra sshd_config lines. */
  sshdConfig?: string[];
  /**
   * Real LXC containers may run in the test host (the pct emulator's EMU_LXC=real): the namespace
   * gets a private pure cgroup2 mount on /sys/fs/cgroup (this machine's mixed v1/v2 layout makes
   * LXC ignore lxc.cgroup2.* keys), and stop() stops the containers first (their processes live
   * in their own mount namespaces, out of reach of the namespace kill).
   */
  lxc?: boolean;
  /**
   * A directory of this machine bind-mounted at the host's /etc/pve (instead of the overlay's):
   * the nodes of a test cluster share one, as Proxmox's nodes share pmxcfs (test/host/cluster.ts).
   * Not removed by stop().
   */
  sharedPveDir?: string;
}

/** Where the pct emulator keeps its real LXC containers (EMU_STATE's default + /lxc-run[/<port>]). */
const LXC_RUN = "/var/lib/pve-emu/lxc-run";

const OVERLAID = ["etc", "var", "root", "home", "usr/local", "opt", "srv", "mnt", "tmp"];
const SESSION_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

function run(file: string, args: string[], input?: string): Promise<ExecResult> {
  return new Promise((resolve) => {
    const child = execFile(file, args, { maxBuffer: 64 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === "number" ? err.code : 1) : 0;
      resolve({ code, stdout: String(stdout), stderr: String(stderr) });
    });
    if (input !== undefined) child.stdin?.end(input);
  });
}

async function must(file: string, args: string[], input?: string): Promise<string> {
  const r = await run(file, args, input);
  if (r.code !== 0) throw new Error(`test host: ${file} ${args.join(" ")} failed (${r.code}): ${r.stderr}`);
  return r.stdout;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.once("error", reject);
    srv.listen(0, "127.0.0.1", () => {
      const port = (srv.address() as net.AddressInfo).port;
      srv.close(() => resolve(port));
    });
  });
}

/** Resolves once something on the port answers with an SSH banner. */
function waitForBanner(port: number, child: ChildProcess, deadlineMs: number): Promise<void> {
  const until = Date.now() + deadlineMs;
  return new Promise((resolve, reject) => {
    const attempt = () => {
      if (child.exitCode !== null || child.signalCode !== null) return reject(new Error(`sshd exited (${child.exitCode ?? child.signalCode})`));
      if (Date.now() > until) return reject(new Error(`sshd did not answer on port ${port}`));
      const sock = net.connect(port, "127.0.0.1");
      let data = "";
      sock.setTimeout(1000);
      sock.on("data", (d) => {
        data += d.toString();
        if (data.startsWith("SSH-2.0")) {
          sock.destroy();
          resolve();
        }
      });
      const retry = () => {
        sock.destroy();
        setTimeout(attempt, 50);
      };
      sock.on("error", retry);
      sock.on("timeout", retry);
    };
    attempt();
  });
}

function mountNamespaceOf(pid: number): string | undefined {
  try {
    return readlinkSync(`/proc/${pid}/ns/mnt`);
  } catch {
    return undefined;
  }
}

/** The shell that builds the throwaway root inside the new namespace, then becomes sshd. */
function namespaceSetup(baseDir: string, lxc = false, sharedPveDir?: string): string {
  const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ["set -eu", "mount --make-rprivate /"];
  for (const dir of OVERLAID) {
    const upper = path.join(baseDir, "upper", dir);
    const work = path.join(baseDir, "work", dir);
    lines.push(`mkdir -p ${q(upper)} ${q(work)} /${dir}`);
    lines.push(`mount -t overlay phoenix-testhost -o lowerdir=/${dir},upperdir=${q(upper)},workdir=${q(work)} /${dir}`);
  }
  lines.push("mount -t tmpfs -o mode=755 phoenix-testhost-run /run", "mkdir -p /run/sshd /run/lock /run/zfs", "chmod 1777 /run/lock");
  if (sharedPveDir) lines.push(`mkdir -p /etc/pve`, `mount --bind ${q(sharedPveDir)} /etc/pve`);
  if (lxc) lines.push("umount -l /sys/fs/cgroup 2>/dev/null || true", "mount -t cgroup2 phoenix-testhost-cgroup2 /sys/fs/cgroup");
  // A plain root shell like a fresh Proxmox host: this machine's ~/.bashrc (pyenv, cargo...) would
  // run on every SSH command (bash sources it for sshd sessions) and cost seconds each.
  lines.push("printf '# phoenix test host: plain root shell\\n' | tee /root/.bashrc /root/.profile > /dev/null");
  lines.push(`exec /usr/sbin/sshd -D -e -f ${q(path.join(baseDir, "sshd_config"))}`);
  return lines.join("\n");
}

export async function startTestHost(opts: TestHostOptions = {}): Promise<TestHost> {
  // /dev/shm is outside every overlaid directory (an upper dir inside its own lower dir loops).
  const parent = process.env.PHOENIX_TESTHOST_DIR ?? (existsSync("/dev/shm") ? "/dev/shm" : "/var/tmp");
  const baseDir = mkdtempSync(path.join(parent, "phoenix-testhost-"));
  const rootDir = path.join(baseDir, "upper");
  const keysDir = path.join(baseDir, "authorized_keys");
  mkdirSync(keysDir, { recursive: true });
  let child: ChildProcess | undefined;
  const cleanupOnError = () => {
    if (child?.pid) killNamespace(child.pid);
    rmSync(baseDir, { recursive: true, force: true });
  };
  try {
    await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "phoenix-testhost", "-f", path.join(baseDir, "host_key")]);
    await must("ssh-keygen", ["-q", "-t", "ed25519", "-N", "", "-C", "phoenix-test-client", "-f", path.join(baseDir, "client_key")]);
    const hostPub = readFileSync(path.join(baseDir, "host_key.pub"), "utf8").trim().split(/\s+/).slice(0, 2).join(" ");
    const fingerprint = (await must("ssh-keygen", ["-l", "-E", "sha256", "-f", path.join(baseDir, "host_key.pub")])).split(/\s+/)[1];
    const privateKey = readFileSync(path.join(baseDir, "client_key"), "utf8");
    const clientPub = readFileSync(path.join(baseDir, "client_key.pub"), "utf8").trim();
    writeFileSync(path.join(keysDir, "root"), clientPub + "\n");

    const passwordUser = opts.passwordUser ? { user: "phoenixpw", password: `pw-${Math.random().toString(36).slice(2)}-x` } : undefined;
    if (passwordUser) writeFileSync(path.join(keysDir, passwordUser.user), clientPub + "\n");

    let lastErr: unknown;
    for (let attempt = 0; attempt < 5; attempt++) {
      const port = await freePort();
      const config = [
        `Port ${port}`,
        "ListenAddress 127.0.0.1",
        `HostKey ${path.join(baseDir, "host_key")}`,
        "PidFile none",
        "PermitRootLogin yes",
        "PubkeyAuthentication yes",
        `AuthorizedKeysFile ${keysDir}/%u`,
        `PasswordAuthentication ${passwordUser ? "yes" : "no"}`,
        "KbdInteractiveAuthentication no",
        "UsePAM no",
        "StrictModes no",
        "UseDNS no",
        "LogLevel VERBOSE",
        `SetEnv PATH=${SESSION_PATH}`,
        "MaxSessions 20",
        ...(opts.maxStartups ? [`MaxStartups ${opts.maxStartups}`] : []),
        "Subsystem sftp /usr/lib/openssh/sftp-server",
        ...(opts.sshdConfig ?? []),
      ];
      writeFileSync(path.join(baseDir, "sshd_config"), config.join("\n") + "\n");
      const logFile = path.join(baseDir, "sshd.log");
      child = spawn("unshare", ["-m", "--propagation", "private", "--", "/bin/sh", "-c", namespaceSetup(baseDir, opts.lxc, opts.sharedPveDir)], {
        stdio: ["ignore", "ignore", "pipe"],
        detached: false,
      });
      child.stderr?.on("data", (d) => appendFileSync(logFile, d));
      try {
        await waitForBanner(port, child, 15_000);
      } catch (err) {
        lastErr = new Error(`${(err as Error).message}; sshd log: ${existsSync(logFile) ? readFileSync(logFile, "utf8").slice(-2000) : ""}`);
        if (child.pid) killNamespace(child.pid);
        continue;
      }
      const sshdPid = child.pid!;
      const sshdChild = child;
      // Two fixtures may have picked the same free port: the banner must come from OUR sshd.
      if (!listensOn(sshdPid, port)) {
        lastErr = new Error(`port ${port} was taken by another process`);
        killNamespace(sshdPid);
        continue;
      }
      const ns = mountNamespaceOf(sshdPid);
      if (!ns || ns === mountNamespaceOf(process.pid)) throw new Error("test host: sshd is not in its own mount namespace");
      running.set(sshdPid, ns);
      const exec = (cmd: string) => run("nsenter", ["-t", String(sshdPid), "-m", "--", "/bin/sh", "-c", `cd / && ${cmd}`]);

      if (passwordUser) {
        const r = await exec(
          `useradd -m -s /bin/bash ${passwordUser.user} && printf '%s:%s\\n' ${passwordUser.user} '${passwordUser.password}' | chpasswd && ` +
            `printf '%s ALL=(ALL) NOPASSWD: ALL\\n' ${passwordUser.user} > /etc/sudoers.d/phoenixpw && chmod 440 /etc/sudoers.d/phoenixpw`,
        );
        if (r.code !== 0) throw new Error(`test host: creating ${passwordUser.user} failed: ${r.stderr}`);
      }

      const host: TestHost = {
        target: { host: "127.0.0.1", port, user: "root", hostKey: `[127.0.0.1]:${port} ${hostPub}` },
        secrets: { privateKey },
        hostKeyLine: `[127.0.0.1]:${port} ${hostPub}`,
        fingerprint,
        rootDir,
        baseDir,
        passwordUser,
        sshdPid,
        exec,
        async installTool(name, content) {
          if (!/^[A-Za-z0-9._-]+$/.test(name)) throw new Error(`installTool: invalid name ${name}`);
          const dir = path.join(rootDir, "usr/local/sbin");
          // Write through the namespace so the overlay sees it (writing the upper dir directly is undefined).
          const r = await run("nsenter", ["-t", String(sshdPid), "-m", "--", "/bin/sh", "-c", `mkdir -p /usr/local/sbin && cat > /usr/local/sbin/${name} && chmod 755 /usr/local/sbin/${name}`], content);
          if (r.code !== 0) throw new Error(`installTool ${name}: ${r.stderr} (${dir})`);
        },
        authorizeKey(user, publicKeyLine) {
          if (!/^[a-z_][a-z0-9_-]*$/.test(user)) throw new Error(`authorizeKey: invalid user ${user}`);
          appendFileSync(path.join(keysDir, user), publicKeyLine.trim() + "\n");
        },
        async startZfsFuse() {
          const r = await exec(
            "mkdir -p /var/run/zfs /etc/zfs /var/lock/zfs && " +
              "(zpool list >/dev/null 2>&1 || zfs-fuse --no-kstat-mount -p /run/zfs-fuse.pid) && " +
              "for i in $(seq 1 100); do zpool list >/dev/null 2>&1 && exit 0; sleep 0.1; done; echo 'zfs-fuse did not answer' >&2; exit 1",
          );
          if (r.code !== 0) throw new Error(`startZfsFuse: ${r.stderr}`);
        },
        processes: () => namespaceProcesses(ns),
        async stop() {
          if (opts.lxc) {
            await exec(
              `for p in ${LXC_RUN} ${LXC_RUN}/*; do [ -d "$p" ] || continue; for n in $(lxc-ls -P "$p" --running 2>/dev/null); do timeout 10 lxc-stop -P "$p" -n "$n" -k >/dev/null 2>&1 || true; done; done`,
            );
          }
          const members = namespaceProcesses(ns);
          killNamespace(sshdPid, ns);
          running.delete(sshdPid);
          // The overlays vanish with the namespace's last process: wait for every one to be gone.
          // An exiting process leaves the namespace before it dies, so also wait for each process
          // seen at the start to be dead (gone or a zombie).
          for (let i = 0; i < 100 && (namespaceProcesses(ns).length || members.some(isAlive)); i++) {
            killNamespace(sshdPid, ns);
            await new Promise((r) => setTimeout(r, 50));
          }
          // sshd's last stderr lines may still be in flight: stop logging before the log's folder goes.
          sshdChild.stderr?.removeAllListeners("data");
          sshdChild.stderr?.destroy();
          if (!process.env.PHOENIX_TESTHOST_KEEP) rmSync(baseDir, { recursive: true, force: true, maxRetries: 10, retryDelay: 100 });
        },
      };
      return host;
    }
    throw lastErr;
  } catch (err) {
    cleanupOnError();
    throw err;
  }
}

/** True if process `pid` holds the socket listening on 127.0.0.1:`port`. */
function listensOn(pid: number, port: number): boolean {
  const want = `0100007F:${port.toString(16).toUpperCase().padStart(4, "0")}`;
  const inodes = readFileSync("/proc/net/tcp", "utf8")
    .split("\n")
    .slice(1)
    .map((l) => l.trim().split(/\s+/))
    .filter((f) => f[1] === want && f[3] === "0A")
    .map((f) => `socket:[${f[9]}]`);
  if (!inodes.length) return false;
  try {
    return readdirSync(`/proc/${pid}/fd`).some((fd) => {
      try {
        return inodes.includes(readlinkSync(`/proc/${pid}/fd/${fd}`));
      } catch {
        return false;
      }
    });
  } catch {
    return false;
  }
}

/** Hosts not stopped yet: killed when this process exits, even if a test forgot stop(). */
const running = new Map<number, string | undefined>();
process.once("exit", () => {
  for (const [pid, ns] of running) killNamespace(pid, ns);
});

/** pids living in mount namespace `ns` (never this process or its namespace). */
/** True while process `pid` exists and is not a zombie. */
function isAlive(pid: number): boolean {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    return !/\) [ZX] /.test(stat);
  } catch {
    return false;
  }
}

function namespaceProcesses(ns: string | undefined): number[] {
  if (!ns || ns === mountNamespaceOf(process.pid)) return [];
  const out: number[] = [];
  for (const entry of readdirSync("/proc")) {
    if (!/^\d+$/.test(entry)) continue;
    const p = Number(entry);
    if (p !== process.pid && mountNamespaceOf(p) === ns) out.push(p);
  }
  return out;
}

/** SIGKILLs every process in sshd's namespace, repeating until none is left. */
function killNamespace(sshdPid: number, ns = mountNamespaceOf(sshdPid)): void {
  for (let round = 0; round < 20; round++) {
    const pids = namespaceProcesses(ns);
    if (!pids.length) break;
    for (const p of pids) {
      try {
        process.kill(p, "SIGKILL");
      } catch {
        /* already gone */
      }
    }
  }
  try {
    process.kill(sshdPid, "SIGKILL");
  } catch {
    /* already gone */
  }
}
