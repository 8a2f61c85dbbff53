// Puts the Proxmox emulator's `qm` (and the library it shares with `pct`) on a test host's PATH,
// and runs it inside the throwaway root for test setup and assertions.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../../load";
import type { TestHost } from "../../host/sshd";

const emulator = path.join(repoRoot, "test", "host", "emulator");

export async function installQm(host: TestHost): Promise<void> {
  // qm sources lib.sh from its own directory (/usr/local/sbin inside the throwaway root).
  await host.installTool("lib.sh", readFileSync(path.join(emulator, "lib.sh"), "utf8"));
  await host.installTool("qm", readFileSync(path.join(emulator, "qm"), "utf8"));
}

/** Runs `qm ARGS` inside the throwaway root; rejects on a non-zero exit. */
export async function qm(host: TestHost, args: string): Promise<string> {
  const r = await host.exec(`/usr/local/sbin/qm ${args}`);
  if (r.code !== 0) throw new Error(`qm ${args}: exit ${r.code}: ${r.stderr}`);
  return r.stdout;
}

/** Sets what the emulated guest's cloud-init reports (`done`, `error`, `running`, `running N`). */
export async function setCloudInit(host: TestHost, vmid: number, state: string, longReport?: string): Promise<void> {
  const dir = `/var/lib/pve-emu/qemu/${vmid}`;
  const report = longReport === undefined ? "" : ` && printf '%s\\n' '${longReport.replace(/'/g, "")}' > ${dir}/cloud-init.log`;
  const r = await host.exec(`mkdir -p ${dir} && printf '%s\\n' '${state}' > ${dir}/cloud-init${report}`);
  if (r.code !== 0) throw new Error(`setCloudInit: ${r.stderr}`);
}
