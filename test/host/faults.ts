// Fault injection for host steps on the sshd test host: a host step runs under the transport's
// remote `timeout`, which leads its own process group (the wrapper, the script and everything it
// started); killing that group with SIGKILL is a power cut of the step at that moment (no traps,
// no cleanup). Only processes of the test host's own mount namespace are looked at.
import { readFileSync } from "node:fs";
import type { TestHost } from "./sshd";

/** Process groups of running host steps (the remote `timeout -k …` processes) on `host`. */
export function hostStepGroups(host: TestHost): number[] {
  const out: number[] = [];
  for (const pid of host.processes()) {
    let cmd: string;
    try {
      cmd = readFileSync(`/proc/${pid}/cmdline`, "utf8");
    } catch {
      continue;
    }
    if (cmd.startsWith("timeout\0-k\0")) out.push(pid);
  }
  return out;
}

/** SIGKILLs every running host step of `host` (each `timeout` process group); returns how many. */
export function killHostSteps(host: TestHost): number {
  let killed = 0;
  for (const pgid of hostStepGroups(host)) {
    try {
      process.kill(-pgid, "SIGKILL");
      killed++;
    } catch {
      // already gone
    }
  }
  return killed;
}

/** Polls `cmd` on the host until it exits 0 (default: every 25 ms, up to 20 s); throws on timeout. */
export async function waitOnHost(host: TestHost, cmd: string, timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    if ((await host.exec(cmd)).code === 0) return;
    if (Date.now() > until) throw new Error(`waitOnHost: ${cmd} did not succeed within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}

/** A `cp` stand-in for /usr/local/sbin that hangs while /run/phoenix-fault/slow-cp exists: holds a copy mid-way. */
export const SLOW_CP = `#!/bin/sh
# Test stand-in: hang (to be killed) while the fault marker exists, else the real cp.
if [ -e /run/phoenix-fault/slow-cp ]; then touch /run/phoenix-fault/cp-started; sleep 300; fi
exec /bin/cp "$@"
`;
