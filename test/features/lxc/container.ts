// A throwaway emulated container for feature-script tests, without SSH: the `pct` emulator runs
// locally with its state (configs, root filesystems, call log) in a temp dir, so every file a
// feature writes lands in the container's chroot under that dir, never on this machine. Steps
// run through the real host wrapper features/lxc/host/run_in_container.sh (pct push + pct exec),
// composed as the host receives it.
// The root filesystem gets the stand-in tools of ./stubs as /usr/local/bin.
// test-tier: host
import { execFile } from "node:child_process";
import { existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, lstatSync, readlinkSync, writeFileSync, copyFileSync, chmodSync } from "node:fs";
import { createHash } from "node:crypto";
import * as os from "node:os";
import * as path from "node:path";
import { loadDist, repoRoot } from "../../load";
import type { Json } from "../../config/helpers";

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

export interface Emulated {
  dir: string;
  /** features/lxc/host/run_in_container.sh as the host receives it (composed: libraries inlined), in `dir`. */
  runner: string;
  env: NodeJS.ProcessEnv;
  /** Runs a command with the emulator on PATH and its state in `dir`. */
  run(file: string, args: string[], extraEnv?: Record<string, string>): Promise<RunResult>;
  /** The root filesystem of container `ctid`. */
  rootfs(ctid: number): string;
  /** Creates and starts a container from the Ubuntu template. */
  container(ctid: number): Promise<void>;
  /** Runs a step (apply/read/delete) through the host wrapper. */
  step(ctid: number, action: "apply" | "read" | "delete", step: string, scriptFile: string, env?: Record<string, string>): Promise<RunResult & { result?: Record<string, Json> }>;
  /** The stand-in tools' calls in container `ctid`. */
  calls(ctid: number): string[];
  /** path → sha256 of every file in the container (except logs and the pushed step files). */
  snapshot(ctid: number): Map<string, string>;
  cleanup(): void;
}

export function emulated(): Emulated {
  const dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-lxc-"));
  const seed = path.join(dir, "seed");
  mkdirSync(path.join(seed, "usr/local/bin"), { recursive: true });
  const stubs = path.join(repoRoot, "test/features/lxc/stubs");
  for (const name of readdirSync(stubs)) {
    copyFileSync(path.join(stubs, name), path.join(seed, "usr/local/bin", name));
    chmodSync(path.join(seed, "usr/local/bin", name), 0o755);
  }
  const env: NodeJS.ProcessEnv = {
    PATH: `${path.join(repoRoot, "test/host/emulator")}:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin`,
    EMU_STATE: path.join(dir, "state"),
    EMU_PVE_DIR: path.join(dir, "pve"),
    EMU_LOG: path.join(dir, "calls.log"),
    EMU_SEED_EXTRA: seed,
    // The node's /dev for devN entries (tests make device nodes there, never in this machine's /dev).
    EMU_DEV_ROOT: path.join(dir, "devroot"),
  };
  // The host side (run_in_container.sh's stamps, lxc_options.sh's records) writes under
  // /var/lib/phoenix: each command runs in a private mount namespace whose /var/lib is an overlay
  // with its upper dir in `dir`, so what one command writes the next one sees, and nothing
  // reaches this machine's /var/lib.
  for (const d of ["var-lib/up", "var-lib/work"]) mkdirSync(path.join(dir, d), { recursive: true });
  const overlay = `mount -t overlay overlay -o lowerdir=/var/lib,upperdir=${dir}/var-lib/up,workdir=${dir}/var-lib/work /var/lib && exec "$@"`;
  const run = (file: string, args: string[], extraEnv: Record<string, string> = {}) =>
    new Promise<RunResult>((resolve) => {
      const argv = ["-m", "--propagation", "private", "--", "bash", "-c", overlay, "bash", file, ...args];
      execFile("unshare", argv, { env: { ...env, ...extraEnv }, maxBuffer: 32 * 1024 * 1024 }, (err, stdout, stderr) => {
        resolve({ code: err ? (typeof err.code === "number" ? err.code : 1) : 0, stdout: String(stdout), stderr: String(stderr) });
      });
    });
  const rootfs = (ctid: number) => path.join(dir, "state/lxc", String(ctid), "rootfs");
  const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
  const runner = path.join(dir, "run_in_container.sh");
  writeFileSync(runner, registry.composeScript("features/lxc/host/run_in_container.sh"));
  return {
    dir,
    runner,
    env,
    run,
    rootfs,
    async container(ctid) {
      for (const args of [["create", String(ctid), "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst", "--hostname", `ct${ctid}`, "--rootfs", "local-lvm:4"], ["start", String(ctid)]]) {
        const r = await run("pct", args);
        if (r.code !== 0) throw new Error(`pct ${args.join(" ")}: ${r.stderr}`);
      }
    },
    async step(ctid, action, step, scriptFile, stepEnv = {}) {
      const extra: Record<string, string> = {
        PHOENIX_ACTION: action,
        PHOENIX_CTID: String(ctid),
        PHOENIX_STEP: step,
        PHOENIX_SCRIPT: readFileSync(path.join(repoRoot, scriptFile), "utf8"),
        PHOENIX_LIBRARY: readFileSync(path.join(repoRoot, "features/lxc/lib/common.sh"), "utf8"),
      };
      for (const [k, v] of Object.entries(stepEnv)) extra[`PHOENIX_ENV_${k.toUpperCase()}`] = v;
      const r = await run("bash", ["-euo", "pipefail", runner], extra);
      const line = r.stdout.split("\n").reverse().find((l) => l.startsWith("PHOENIX_RESULT "));
      return { ...r, result: line ? JSON.parse(line.slice("PHOENIX_RESULT ".length)) : undefined };
    },
    calls(ctid) {
      const log = path.join(rootfs(ctid), "var/log/stub-calls.log");
      return existsSync(log) ? readFileSync(log, "utf8").split("\n").filter(Boolean) : [];
    },
    snapshot(ctid) {
      const root = rootfs(ctid);
      const out = new Map<string, string>();
      const walk = (d: string) => {
        for (const name of readdirSync(d)) {
          const p = path.join(d, name);
          const rel = path.relative(root, p);
          if (rel === "var/log/stub-calls.log" || rel.startsWith("var/lib/phoenix/run") || rel === "dev" || rel === "proc") continue;
          const st = lstatSync(p);
          if (st.isSymbolicLink()) {
            out.set(rel, `-> ${readlinkSync(p)}`);
          } else if (st.isDirectory()) {
            out.set(rel + "/", "dir");
            walk(p);
          } else {
            out.set(rel, createHash("sha256").update(readFileSync(p)).digest("hex") + ` ${st.mode.toString(8)}`);
          }
        }
      };
      walk(root);
      return out;
    },
    cleanup() {
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Calls that change something (queries such as `systemctl is-active` are left out). */
export function changingCalls(calls: string[]): string[] {
  return calls.filter((c) => !/^(systemctl is-(enabled|active)|pip show|docker inspect|ollama list)\b/.test(c));
}

/** Puts a file into container `ctid`'s root filesystem (test setup). */
export function putFile(e: Emulated, ctid: number, rel: string, content: string | Buffer, mode = 0o644): void {
  const p = path.join(e.rootfs(ctid), rel);
  mkdirSync(path.dirname(p), { recursive: true });
  writeFileSync(p, content);
  chmodSync(p, mode);
}
