// End to end: the prod stack's containers (ten, with two GPUs, volumes, bind mounts, Docker
// templates) through the real program and the engine stand-in on the stricter pct emulator and real LXC, as
// the dev run does (lxc.test.ts): the first `pulumi up` succeeds and a second changes nothing.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { loadDist, repoRoot } from "../load";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator, installStorageCfg, readCalls, seedFromDir } from "../host/emulator/lib";
import { Engine, type RunReport } from "./lxc-engine";
import type { PhoenixModel } from "../../infra/config/model";
import type { Json } from "../config/helpers";

/** The prod files with bind-mount sources under the test host's /srv (lxc-options creates them). */
function prodCopy(): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-prod-"));
  for (const f of ["phoenix_lxc_configs.json", "phoenix_vm_configs.json"]) copyFileSync(path.join(repoRoot, "stacks/prod", f), path.join(dir, f));
  const hypervisor = JSON.parse(readFileSync(path.join(repoRoot, "stacks/prod/phoenix_hypervisor_config.json"), "utf8"));
  for (const v of Object.values(hypervisor.shared_volumes) as Json[]) if (typeof v.host_path === "string") v.host_path = `/srv${v.host_path}`;
  writeFileSync(path.join(dir, "phoenix_hypervisor_config.json"), JSON.stringify(hypervisor, null, 2));
  // No NVIDIA GPU in the test host: GPU containers see a loaded 580.76.05 module as a real host
  // shows it to them, /proc/driver/nvidia/version (bound over /proc/driver).
  const lxc = JSON.parse(readFileSync(path.join(dir, "phoenix_lxc_configs.json"), "utf8"));
  for (const c of Object.values(lxc.lxc_configs) as Json[]) {
    if ((c.gpu_assignment && c.gpu_assignment !== "none") || (c.features ?? []).includes("nvidia")) {
      c.lxc_options = [...(c.lxc_options ?? []), "lxc.mount.entry = /srv/nvidia-proc-driver proc/driver none bind,create=dir 0 0"];
    }
  }
  writeFileSync(path.join(dir, "phoenix_lxc_configs.json"), JSON.stringify(lxc, null, 2));
  return dir;
}

describe("prod stack containers, end to end through the pct emulator", () => {
  let host: TestHost;
  let engine: Engine;
  let first: RunReport;
  let configDir: string;
  let model: PhoenixModel;

  beforeAll(async () => {
    // Containers run for real (LXC in the test host); feature scripts keep their apt/curl stand-ins.
    host = await startTestHost({ lxc: true });
    await installEmulator(host, { tools: ["pct"], realLxc: true, seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
    configDir = prodCopy();
    await host.exec("mkdir -p /srv/nvidia-proc-driver/nvidia && printf 'NVRM version: NVIDIA UNIX x86_64 Kernel Module  580.76.05  Release Build\\n' > /srv/nvidia-proc-driver/nvidia/version");
    const loaded = loadDist<typeof import("../../infra/config/load")>("infra/config/load").loadPhoenixConfig(configDir);
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    model = loaded.model;
    await installStorageCfg(host, model.host.storages);
    engine = new Engine(host);
    first = await engine.up({ stack: "prod", configDir });
  }, 1_200_000);
  afterAll(() => host?.stop());

  it("provisions every container on the first run", async () => {
    expect(first.errors).toEqual([]);
    for (const c of model.containers) {
      expect(first.actions.get(`ct-${c.ctid}`), `ct-${c.ctid}`).toBe("create");
      const status = (await host.exec(`/usr/local/sbin/pct status ${c.ctid}`)).stdout;
      expect(status, `ct-${c.ctid}`).toBe(c.templateSnapshotName ? "status: stopped\n" : "status: running\n");
      const conf = (await host.exec(`cat /etc/pve/lxc/${c.ctid}.conf`)).stdout;
      expect(conf, `ct-${c.ctid}`).toContain(`size=${c.storageSizeGb}G`);
    }
  });

  it("a second run changes nothing", async () => {
    const callsBefore = await readCalls(host);
    const second = await engine.up({ stack: "prod", configDir });
    expect(second.errors).toEqual([]);
    for (const [name, action] of second.actions) expect(action, name).toBe("same");
    expect(second.sessions).toBe(0);
    expect(await readCalls(host)).toEqual(callsBefore);
  }, 600_000);
});
