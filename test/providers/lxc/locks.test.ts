// The locks of host edits, each with a race made deterministic, so that dropping the lock fails:
//   - the raw-config edit of lxc_options.sh takes Proxmox's per-guest config lock
//     (/run/lock/lxc/pve-config-<ctid>.lock, the one pct and the API take: pve-guest-common
//     AbstractConfig lock_config): a writer that holds it, reads the config and writes it back
//     later (as `pct set` does) must not lose the apply's lines, nor the apply its edit;
//   - proxmox_storage.sh runs under the host lock "pve-storage": two applies of the same storage at
//     once (a run retried after a dropped SSH connection while the first still runs on the host)
//     must both succeed, the second adopting what the first registered.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { loadDist, repoRoot } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator, installStorageCfg, seedFromDir } from "../../host/emulator/lib";
import { captureProvider } from "../harness";

const lxc = loadDist<typeof import("../../../providers/lxc/index")>("providers/lxc/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const hv = loadDist<typeof import("../../../providers/hypervisor/index")>("providers/hypervisor/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

let host: TestHost;
const sh = async (cmd: string) => {
  const r = await host.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};

beforeAll(async () => {
  host = await startTestHost();
  await installEmulator(host, { tools: ["pct", "pvesm"], seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
  await installStorageCfg(host, []);
  await sh(`/usr/local/sbin/pct create 320 ${TEMPLATE} --hostname ct320 --rootfs local-lvm:4`);
});
afterAll(() => host?.stop());

describe("host edit locks", () => {
  it("lxc-options: the raw-config edit waits for Proxmox's config lock and keeps the holder's edit", async () => {
    const declare = (lines: string[]) => () => new lxc.LxcOptions("ct-320-lxc-options", { connection: host.target, ctid: 320, lines });
    const first = await captureProvider(declare(["lxc.apparmor.profile=unconfined"]), host.secrets);
    const created = await first.provider.create(first.resource.inputs);
    const second = await captureProvider(declare(["lxc.apparmor.profile=unconfined", "lxc.mount.entry=/dev/fuse dev/fuse none bind,create=file"]), host.secrets);

    // A writer as `pct set` is one: under the lock, reads the config, works, writes its copy back.
    await sh(
      "(flock /run/lock/lxc/pve-config-320.lock sh -c 'c=$(cat /etc/pve/lxc/320.conf); touch /tmp/held; sleep 4; " +
        "printf \"%s\\nmemory: 4096\\n\" \"$c\" > /etc/pve/lxc/320.conf.tmp && mv /etc/pve/lxc/320.conf.tmp /etc/pve/lxc/320.conf') >/dev/null 2>&1 &",
    );
    await sh("for i in $(seq 50); do [ -e /tmp/held ] && exit 0; sleep 0.1; done; exit 1");
    const updated = await second.provider.update!(created.id, created.outs, second.resource.inputs);
    expect(updated.outs.observed).toMatchObject({ matches: true, changed: true });
    const conf = await sh("cat /etc/pve/lxc/320.conf");
    expect(conf, "the holder's edit is kept").toMatch(/^memory: 4096$/m);
    expect(conf, "the apply's line is kept").toContain("lxc.mount.entry: /dev/fuse dev/fuse none bind,create=file\n");
    expect((await second.provider.read!(created.id, updated.outs)).props.observed).toMatchObject({ matches: true });
  });

  it("proxmox-storage: two applies of one storage at once both succeed (the second adopts)", async () => {
    // A dir storage is registered with is_mountpoint (its path is a dataset's mount point): Proxmox
    // refuses to activate one whose path is not mounted, so the test mounts one.
    await sh("mkdir -p /srv/locked-dir && (mountpoint -q /srv/locked-dir || mount -t tmpfs locked /srv/locked-dir)");
    // A slow `pvesm add` widens the window between "not registered yet" and the registration.
    const real = readFileSync(path.join(repoRoot, "test/host/emulator/pvesm"), "utf8");
    await host.installTool("pvesm-real", real);
    await host.installTool("pvesm", '#!/bin/sh\n[ "$1" = add ] && sleep 2\nexec /usr/local/sbin/pvesm-real "$@"\n');
    const declare = () =>
      new base.HostScriptResource(hv.proxmoxStorageKind, "host-proxmox-storage-locked", {
        connection: host.target,
        script: registry.featureScript("hypervisor", "proxmox_storage"),
        params: { id: "locked", type: "dir", content: "iso", target: "/srv/locked-dir" },
      });
    const a = await captureProvider(declare, host.secrets);
    const b = await captureProvider(declare, host.secrets);
    const results = await Promise.allSettled([a.provider.create(a.resource.inputs), b.provider.create(b.resource.inputs)]);
    expect(results.filter((r) => r.status === "rejected").map((r) => String((r as PromiseRejectedResult).reason).slice(0, 300))).toEqual([]);
    expect((await sh("grep -c '^dir: locked$' /etc/pve/storage.cfg")).trim()).toBe("1");
  });
});
