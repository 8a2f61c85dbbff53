// End to end: a feature flag changed in the JSON takes effect on the first `up`, for a running
// container that has nothing else only root may set (no raw lines, volumes, GPUs or clone).
// Through the provider it could not: an update sends every flag, false ones too (bpg
// proxmoxtf/resource/container/container.go containerGetFeaturesForUpdate), which Proxmox refuses
// an API token (pve-container LXC.pm check_ct_modify_config_perm); and a flag change of a running
// container waits pending until it restarts (LXC/Config.pm vmconfig_hotplug_pending), while the
// provider reboots only for other changes (containerUpdate: no rebootRequired for mkFeatures).
// So the container ignores its flags after creation and ct-<ctid>-lxc-options, which every
// container has, sets the whole set as root and restarts the running container to apply it.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../load";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator, installStorageCfg, readCalls } from "../host/emulator/lib";
import { Engine } from "./lxc-engine";
import { loadModel } from "../config/helpers";

const CTID = 961;

/** The dev files with one plain unprivileged container (no template, no steps) and these flags. */
function config(pctOptions: string[]): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-flags-"));
  for (const f of ["phoenix_hypervisor_config.json", "phoenix_vm_configs.json"]) copyFileSync(path.join(repoRoot, "stacks/dev", f), path.join(dir, f));
  const lxc = JSON.parse(readFileSync(path.join(repoRoot, "stacks/dev/phoenix_lxc_configs.json"), "utf8"));
  const base = lxc.lxc_configs["900"];
  lxc.lxc_configs = {
    [CTID]: {
      name: "flag-holder",
      memory_mb: 512,
      swap_mb: 0,
      cores: 1,
      template: base.template,
      storage_pool: base.storage_pool,
      storage_size_gb: 4,
      network_config: { name: "eth0", bridge: "vmbr0", ip: "10.0.0.161/24", gw: "10.0.0.1" },
      mac_address: "52:54:00:AA:BB:61",
      unprivileged: true,
      features: [],
      pct_options: pctOptions,
    },
  };
  writeFileSync(path.join(dir, "phoenix_lxc_configs.json"), JSON.stringify(lxc, null, 2));
  return dir;
}

describe("a flag change of a running container, end to end", () => {
  let host: TestHost;
  let engine: Engine;
  const pct = async (args: string) => (await host.exec(`/usr/local/sbin/pct ${args}`)).stdout;
  const callsSince = async (n: number) => (await readCalls(host)).slice(n).filter((c) => c[0] === "pct" && ["set", "reboot", "stop", "start", "destroy", "create"].includes(c[1]));

  beforeAll(async () => {
    host = await startTestHost();
    await installEmulator(host, { tools: ["pct"] });
    const dir = config([]);
    await installStorageCfg(host, loadModel(dir).host.storages);
    engine = new Engine(host);
    const first = await engine.up({ configDir: dir });
    expect(first.errors).toEqual([]);
    expect(first.actions.get(`ct-${CTID}`)).toBe("create");
    expect(await pct(`status ${CTID}`)).toBe("status: running\n");
  }, 600_000);
  afterAll(() => host?.stop());

  it("nesting turned on: lxc-options sets it (pending on the running container) and restarts the container once to apply it", async () => {
    const before = (await readCalls(host)).length;
    const on = await engine.up({ configDir: config(["nesting=1"]) });
    expect(on.errors).toEqual([]);
    // What the container runs with, and nothing left pending.
    expect(await pct(`config ${CTID} --current 1`)).toContain("features: nesting=1\n");
    expect(await pct(`pending ${CTID}`)).not.toMatch(/^(new|del) /m);
    expect(on.actions.get(`ct-${CTID}`)).toBe("same");
    expect(on.actions.get(`ct-${CTID}-lxc-options`)).toBe("update");
    expect((await callsSince(before)).filter((c) => c[1] === "reboot")).toEqual([["pct", "reboot", String(CTID)]]);
    expect(await pct(`status ${CTID}`)).toBe("status: running\n");
    const again = await engine.up({ configDir: config(["nesting=1"]) });
    expect(again.errors).toEqual([]);
    for (const [name, action] of again.actions) expect(action, name).toBe("same");
  }, 600_000);

  it("nesting turned off again: applied on the same run (lxc-options sets the whole flag set as root)", async () => {
    const before = (await readCalls(host)).length;
    const off = await engine.up({ configDir: config([]) });
    expect(off.errors).toEqual([]);
    expect(await pct(`config ${CTID} --current 1`)).not.toMatch(/^features: .*nesting=1/m);
    expect(await pct(`pending ${CTID}`)).not.toMatch(/^(new|del) /m);
    expect(off.actions.get(`ct-${CTID}-lxc-options`)).toBe("update");
    expect((await callsSince(before)).filter((c) => c[1] === "reboot")).toEqual([["pct", "reboot", String(CTID)]]);
  }, 600_000);
});
