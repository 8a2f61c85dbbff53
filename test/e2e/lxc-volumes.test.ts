// End to end (issue 12 item 9): a container holding a volume, the real program under the engine
// stand-in (which honours `ignoreChanges` and `protect` as the Pulumi engine does) and the pct
// emulator with real LXC (the volume's data is a directory bind-mounted into the container).
//   - growing `size_gb` updates in place: ContainerLegacy's mount point size is ignored after
//     creation, ct-<ctid>-lxc-options runs `pct resize <ctid> mp0 <N>G`, the container is not
//     replaced and the data in the volume survives;
//   - a second volume added to the JSON is allocated in place (`pct set <ctid> --mp1
//     <storage>:<GiB>,mp=<path>` by lxc-options; ContainerLegacy ignores its mountPoints after
//     creation), writable in the restarted container; removed from the JSON again it stays with
//     its data and is reported (undeclared_volumes, a warning naming `pct set --delete`);
//   - a change that replaces the container (`unprivileged`) is refused while it holds volumes
//     (Pulumi `protect`) unless phoenix:allowDataDestruction, and then goes through.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { mkdtempSync, readFileSync, writeFileSync, copyFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot, requireNode } from "../load";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator, installStorageCfg, readCalls, seedFromDir } from "../host/emulator/lib";
import { Engine } from "./lxc-engine";
import { loadModel } from "../config/helpers";

const CTID = 960;

/** The dev files with one container (no template, no steps) holding one volume. */
function config(volume: { sizeGb: number; extraGb?: number }, unprivileged = true): string {
  const dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-volumes-"));
  for (const f of ["phoenix_hypervisor_config.json", "phoenix_vm_configs.json"]) copyFileSync(path.join(repoRoot, "stacks/dev", f), path.join(dir, f));
  const lxc = JSON.parse(readFileSync(path.join(repoRoot, "stacks/dev/phoenix_lxc_configs.json"), "utf8"));
  const base = lxc.lxc_configs["900"];
  lxc.lxc_configs = {
    [CTID]: {
      name: "volume-holder",
      memory_mb: 512,
      swap_mb: 0,
      cores: 1,
      template: base.template,
      storage_pool: base.storage_pool,
      storage_size_gb: 4,
      network_config: { name: "eth0", bridge: "vmbr0", ip: "10.0.0.160/24", gw: "10.0.0.1" },
      mac_address: "52:54:00:AA:BB:60",
      unprivileged,
      features: [],
      volumes: [
        { name: "data", pool: "quickOS-shared-prod-data", size_gb: volume.sizeGb, mount_point: "/data" },
        ...(volume.extraGb ? [{ name: "extra", pool: "quickOS-shared-prod-data", size_gb: volume.extraGb, mount_point: "/extra" }] : []),
      ],
    },
  };
  writeFileSync(path.join(dir, "phoenix_lxc_configs.json"), JSON.stringify(lxc, null, 2));
  return dir;
}

describe("a container holding a volume, end to end", () => {
  let host: TestHost;
  let engine: Engine;
  const pct = (args: string) => host.exec(`/usr/local/sbin/pct ${args}`);
  const callsSince = async (n: number) => (await readCalls(host)).slice(n).filter((c) => c[0] === "pct" && !["status", "config", "listsnapshot", "exec", "push"].includes(c[1]));

  beforeAll(async () => {
    host = await startTestHost({ lxc: true });
    await installEmulator(host, { tools: ["pct"], realLxc: true, seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
    const dir = config({ sizeGb: 2 });
    await installStorageCfg(host, loadModel(dir).host.storages);
    engine = new Engine(host);
    const first = await engine.up({ configDir: dir });
    expect(first.errors).toEqual([]);
    expect(first.actions.get(`ct-${CTID}`)).toBe("create");
  }, 600_000);
  afterAll(() => host?.stop());

  it("creates the volume and mounts it in the running container", async () => {
    expect((await host.exec(`cat /etc/pve/lxc/${CTID}.conf`)).stdout).toMatch(/^mp0: quickOS-shared-prod-data:subvol-960-disk-1,size=2G,mp=\/data$/m);
    expect((await pct(`status ${CTID}`)).stdout).toBe("status: running\n");
    const w = await pct(`exec ${CTID} -- sh -c 'echo kept > /data/marker'`);
    expect(w.code, w.stderr).toBe(0);
    // In the volume (the emulator keeps its data beside the container's state), not the root disk.
    expect((await host.exec(`cat /var/lib/pve-emu/lxc/${CTID}/volumes/quickOS-shared-prod-data_subvol-${CTID}-disk-1/marker`)).stdout).toBe("kept\n");
    expect((await host.exec(`test -e /var/lib/pve-emu/lxc/${CTID}/rootfs/data/marker`)).code).not.toBe(0);
  });

  it("grows the volume in place: pct resize, no replacement, the data survives", async () => {
    const before = (await readCalls(host)).length;
    const grown = await engine.up({ configDir: config({ sizeGb: 5 }) });
    expect(grown.errors).toEqual([]);
    expect(grown.actions.get(`ct-${CTID}`)).toBe("same");
    expect(grown.actions.get(`ct-${CTID}-lxc-options`)).toBe("update");
    const calls = await callsSince(before);
    expect(calls.filter((c) => c[1] === "resize")).toEqual([["pct", "resize", String(CTID), "mp0", "5G"]]);
    expect(calls.filter((c) => ["destroy", "create"].includes(c[1]))).toEqual([]);
    expect((await host.exec(`cat /etc/pve/lxc/${CTID}.conf`)).stdout).toMatch(/^mp0: quickOS-shared-prod-data:subvol-960-disk-1,size=5G,mp=\/data$/m);
    expect((await pct(`exec ${CTID} -- cat /data/marker`)).stdout).toBe("kept\n");
    // The engine keeps the ignored size as created; a second run changes nothing.
    const again = await engine.up({ configDir: config({ sizeGb: 5 }) });
    expect(again.errors).toEqual([]);
    for (const [name, action] of again.actions) expect(action, name).toBe("same");
  }, 600_000);

  it("adds a second volume in place: allocated by pct set, mounted and writable, no replacement", async () => {
    const before = (await readCalls(host)).length;
    const added = await engine.up({ configDir: config({ sizeGb: 5, extraGb: 1 }) });
    expect(added.errors).toEqual([]);
    expect(added.actions.get(`ct-${CTID}`)).toBe("same");
    expect(added.actions.get(`ct-${CTID}-lxc-options`)).toBe("update");
    const calls = await callsSince(before);
    expect(calls.filter((c) => c[1] === "set")).toEqual([["pct", "set", String(CTID), "--mp1", "quickOS-shared-prod-data:1,mp=/extra"]]);
    expect(calls.filter((c) => ["destroy", "create"].includes(c[1]))).toEqual([]);
    // The emulator does not hotplug: the mount is not visible until the container restarts.
    expect(calls.filter((c) => c[1] === "reboot")).toEqual([["pct", "reboot", String(CTID)]]);
    const conf = (await host.exec(`cat /etc/pve/lxc/${CTID}.conf`)).stdout;
    expect(conf).toMatch(/^mp1: quickOS-shared-prod-data:subvol-960-disk-2,size=1G,mp=\/extra$/m);
    expect(conf).toMatch(/^mp0: quickOS-shared-prod-data:subvol-960-disk-1,size=5G,mp=\/data$/m);
    const w = await pct(`exec ${CTID} -- sh -c 'echo extra > /extra/marker'`);
    expect(w.code, w.stderr).toBe(0);
    expect((await host.exec(`cat /var/lib/pve-emu/lxc/${CTID}/volumes/quickOS-shared-prod-data_subvol-${CTID}-disk-2/marker`)).stdout).toBe("extra\n");
    expect((await pct(`exec ${CTID} -- cat /data/marker`)).stdout).toBe("kept\n");
    const again = await engine.up({ configDir: config({ sizeGb: 5, extraGb: 1 }) });
    expect(again.errors).toEqual([]);
    for (const [name, action] of again.actions) expect(action, name).toBe("same");
  }, 600_000);

  it("keeps a volume removed from the JSON, with its data, and reports it", async () => {
    const pulumi = requireNode("@pulumi/pulumi");
    const warnings: string[] = [];
    const warn = pulumi.log.warn;
    pulumi.log.warn = (msg: string, ...rest: unknown[]) => {
      warnings.push(msg);
      return warn.call(pulumi.log, msg, ...rest);
    };
    try {
      const before = (await readCalls(host)).length;
      const removed = await engine.up({ configDir: config({ sizeGb: 5 }) });
      expect(removed.errors).toEqual([]);
      expect(removed.actions.get(`ct-${CTID}`)).toBe("same");
      expect(removed.actions.get(`ct-${CTID}-lxc-options`)).toBe("update");
      // Nothing detached, deleted or restarted.
      expect((await callsSince(before)).filter((c) => ["set", "destroy", "create", "reboot", "stop"].includes(c[1]))).toEqual([]);
      expect((await host.exec(`cat /etc/pve/lxc/${CTID}.conf`)).stdout).toMatch(/^mp1: quickOS-shared-prod-data:subvol-960-disk-2,size=1G,mp=\/extra$/m);
      expect((await pct(`exec ${CTID} -- cat /extra/marker`)).stdout).toBe("extra\n");
      expect(engine.stateOf(`ct-${CTID}-lxc-options`)?.outs.observed).toMatchObject({ undeclared_volumes: ["mp1"] });
      expect(warnings).toContain(`container ${CTID}: mp1 is no longer declared in its volumes; kept with its data (detach it with \`pct set ${CTID} --delete mp1\`, the volume then shows as unused)`);
      // A rerun changes nothing, and still warns.
      warnings.length = 0;
      const again = await engine.up({ configDir: config({ sizeGb: 5 }) });
      expect(again.errors).toEqual([]);
      for (const [name, action] of again.actions) expect(action, name).toBe("same");
      expect(warnings.some((w) => w.includes("mp1 is no longer declared"))).toBe(true);
      expect((await callsSince(before)).filter((c) => ["set", "destroy", "create", "reboot", "stop"].includes(c[1]))).toEqual([]);
    } finally {
      pulumi.log.warn = warn;
    }
  }, 600_000);

  it("refuses a replacement while the container holds volumes, unless the stack allows data destruction", async () => {
    const before = (await readCalls(host)).length;
    const privileged = config({ sizeGb: 5 }, false);
    const refused = await engine.up({ configDir: privileged });
    const refusal =
      `unable to replace resource "urn:pulumi:dev::phoenix::phoenix:lxc:LxcGuest$proxmoxve:index/containerLegacy:ContainerLegacy::ct-${CTID}"\n` +
      "as it is currently marked for protection. To unprotect the resource, remove the `protect` flag from the resource in your Pulumi program and run `pulumi up`";
    // The first error is the engine's; the program's own (dependents of the failed resource) repeat it.
    expect(refused.errors[0]).toBe(`ct-${CTID}: ${refusal}`);
    for (const e of refused.errors) expect(e).toContain(refusal);
    expect(await callsSince(before)).toEqual([]);
    expect((await pct(`exec ${CTID} -- cat /data/marker`)).stdout).toBe("kept\n");

    const allowed = await engine.up({ configDir: privileged, config: { "phoenix:allowDataDestruction": "true" } });
    expect(allowed.errors).toEqual([]);
    expect(allowed.actions.get(`ct-${CTID}`)).toBe("replace");
    expect((await callsSince(before)).map((c) => c[1])).toEqual(expect.arrayContaining(["destroy", "create"]));
    expect((await host.exec(`cat /etc/pve/lxc/${CTID}.conf`)).stdout).toMatch(/^unprivileged: 0$/m);
    // A new, empty volume: the old one went with the old container.
    expect((await pct(`exec ${CTID} -- ls -A /data`)).stdout).toBe("");
  }, 600_000);
});
