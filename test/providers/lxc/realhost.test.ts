// What a first `pulumi up` on a real Proxmox host needs from ct-<ctid>-lxc-options and
// ct-<ctid>-snapshot (issue 12 items 1, 3, 4, 5, 6; issue 13's restart-pending mark), against the
// `pct` emulator on the sshd test host, through the serialized providers:
//   - flags beyond nesting set as root (`pct set --features`), drift read back;
//   - a clone's root disk grown to its declared size before the first step;
//   - bind-mount sources created on the host, owned by the container's (shifted) root or as declared;
//     a folder that existed before is never chowned;
//   - the clone's whole raw-line set: lines inherited from the parent removed, strays read as drift;
//   - a run killed between writing the config and restarting restarts on the next run;
//   - snapshot descriptions compared as Proxmox prints them (percent-encoded, trailing newline).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { spawnSync } from "node:child_process";
import { loadDist, repoRoot } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator, installStorageCfg, readCalls, seedFromDir } from "../../host/emulator/lib";
import { captureProvider, type LoadedProvider } from "../harness";
import type { LxcOptionsArgs } from "../../../providers/lxc/index";
import type { PropertyBag } from "../../../infra/cli/plan";

const lxc = loadDist<typeof import("../../../providers/lxc/index")>("providers/lxc/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

describe("lxc-options and lxc-snapshot as a real host needs them", () => {
  let host: TestHost;
  const sh = async (cmd: string) => {
    const r = await host.exec(cmd);
    if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
    return r.stdout;
  };
  const conf = (ctid: number) => sh(`cat /etc/pve/lxc/${ctid}.conf`);
  /**
   * Detaches mount point `mp` for good, as an operator does on a running container: the deletion
   * waits for the next start (Proxmox keeps it pending), the restart keeps the volume as unused0,
   * and deleting unused0 frees it.
   */
  const detach = async (ctid: number, mp: string) => {
    await sh(`/usr/local/sbin/pct set ${ctid} --delete ${mp}`);
    if ((await sh(`/usr/local/sbin/pct status ${ctid}`)).includes("running")) await sh(`/usr/local/sbin/pct reboot ${ctid}`);
    await sh(`/usr/local/sbin/pct set ${ctid} --delete unused0`);
  };
  const pctCalls = async (ctid: number, verb: string) => (await readCalls(host)).filter((c) => c[0] === "pct" && c[1] === verb && c[2] === String(ctid));

  /** A provider and checked inputs for an LxcOptions resource. */
  const options = async (args: Omit<LxcOptionsArgs, "connection">): Promise<{ provider: LoadedProvider; inputs: PropertyBag }> => {
    const { resource, provider } = await captureProvider(() => new lxc.LxcOptions(`ct-${args.ctid}-lxc-options`, { connection: host.target, ...args }), host.secrets);
    const checked = await provider.check!({}, resource.inputs);
    expect(checked.failures ?? []).toEqual([]);
    return { provider, inputs: checked.inputs };
  };

  beforeAll(async () => {
    host = await startTestHost();
    await installEmulator(host, { tools: ["pct"], seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
    // Parent 400: a template-like container with raw lines (AppArmor, a GPU device) and keyctl,
    // as a template is after its lxc-options; stopped, so it can be fully cloned.
    await installStorageCfg(host, []);
    await sh(`/usr/local/sbin/pct create 400 ${TEMPLATE} --hostname parent --unprivileged 1 --rootfs local-lvm:4 --features keyctl=1,nesting=1`);
    await sh(
      "printf 'lxc.apparmor.profile: unconfined\\nlxc.cgroup2.devices.allow: c 195:* rwm\\nlxc.mount.entry: /dev/nvidia0 dev/nvidia0 none bind,optional,create=file\\n' >> /etc/pve/lxc/400.conf",
    );
    // ... and its GPU's nvidia-uvm passthrough entries, as lxc-options writes them for a GPU template.
    // Their nodes exist once nvidia_uvm is loaded and they are created (Proxmox refuses devN otherwise).
    await sh("/usr/local/sbin/nvidia-modprobe -u -c=0 && /usr/local/sbin/pct set 400 --dev0 /dev/nvidia-uvm --dev1 /dev/nvidia-uvm-tools");
    await sh("/usr/local/sbin/pct clone 400 401 --full 1 --hostname child && /usr/local/sbin/pct start 401");
  }, 300_000);
  afterAll(() => host?.stop());

  it("owns the clone's whole raw-line set: inherited lines go, a stray line is drift", async () => {
    expect(await conf(401)).toContain("lxc.cgroup2.devices.allow: c 195:* rwm\n");
    expect(await conf(401)).toContain("dev0: /dev/nvidia-uvm\n");
    const { provider, inputs } = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"] });
    const created = await provider.create(inputs);
    const text = await conf(401);
    expect(text.match(/^lxc\..*$/gm)).toEqual(["lxc.apparmor.profile: generated"]);
    // A non-GPU child of a GPU template has no GPU devices either.
    expect(text).not.toMatch(/^dev\d+:/m);
    expect(created.outs.observed).toMatchObject({ changed: true, restarted: true });
    expect((await provider.read!(created.id, created.outs)).props.observed).toMatchObject({ matches: true });

    // Someone adds a line by hand (or the parent's comes back): read reports it, update removes it.
    await sh("printf 'lxc.cap.drop: \\n' >> /etc/pve/lxc/401.conf");
    const read = await provider.read!(created.id, created.outs);
    expect(read.props.observed).toMatchObject({ matches: false, lines_match: false });
    expect(await provider.diff!(created.id, read.props, inputs)).toMatchObject({ changes: true });
    await provider.update!(created.id, read.props, inputs);
    expect((await conf(401)).match(/^lxc\..*$/gm)).toEqual(["lxc.apparmor.profile: generated"]);
  });

  it("reads the config and its record under Proxmox's config lock (issue 13)", async () => {
    const { provider, inputs } = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"] });
    const created = await provider.create(inputs);
    // A writer holds the lock (as pct does) and adds a stray line before releasing it: a read
    // started meanwhile waits for the lock and sees the finished edit.
    await sh("(flock /run/lock/lxc/pve-config-401.lock sh -c 'sleep 3; printf \"lxc.cap.drop: sys_time\\n\" >> /etc/pve/lxc/401.conf') >/dev/null 2>&1 &");
    await sh("sleep 0.5");
    const read = await provider.read!(created.id, created.outs);
    expect(read.props.observed).toMatchObject({ matches: false, lines_match: false });
    await provider.update!(created.id, read.props, inputs);
  });

  it("sets feature flags beyond nesting as root and reads their drift back", async () => {
    // The clone inherited keyctl=1,nesting=1; it declares fuse and nesting.
    const { provider, inputs } = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"], features: "fuse=1,nesting=1" });
    const created = await provider.create(inputs);
    expect(await conf(401)).toMatch(/^features: (fuse=1,nesting=1|nesting=1,fuse=1)$/m);
    expect((await pctCalls(401, "set")).at(-1)).toEqual(["pct", "set", "401", "--features", "fuse=1,nesting=1"]);
    expect(created.outs.observed).toMatchObject({ features_changed: true, restarted: true });
    expect((await provider.read!(created.id, created.outs)).props.observed).toMatchObject({ matches: true, features_match: true });

    await sh("/usr/local/sbin/pct set 401 --features nesting=1");
    const read = await provider.read!(created.id, created.outs);
    expect(read.props.observed).toMatchObject({ matches: false, features_match: false });
    await provider.update!(created.id, read.props, inputs);
    expect((await provider.read!(created.id, created.outs)).props.observed).toMatchObject({ matches: true });
  });

  it("a flag change waiting in [pve:pending] (the API's, on the running container) is drift that a restart applies", async () => {
    // Flags left to the API: lxc-options does not set them, but only a restart applies them.
    const { provider, inputs } = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"] });
    const created = await provider.create(inputs);
    await sh("/usr/local/sbin/pct set 401 --features fuse=1,mknod=1,nesting=1");
    expect(await conf(401)).toContain("[pve:pending]\nfeatures: fuse=1,mknod=1,nesting=1\n");
    const read = await provider.read!(created.id, created.outs);
    expect(read.props.observed).toMatchObject({ matches: false, restart_pending: true, features_match: true });
    const reboots = (await pctCalls(401, "reboot")).length;
    const updated = await provider.update!(created.id, read.props, inputs);
    expect(updated.outs.observed).toMatchObject({ restarted: true });
    expect((await pctCalls(401, "reboot")).length).toBe(reboots + 1);
    expect(await conf(401)).not.toContain("[pve:pending]");
    expect(await conf(401)).toMatch(/^features: fuse=1,mknod=1,nesting=1$/m);
    expect((await provider.read!(created.id, updated.outs)).props.observed).toMatchObject({ matches: true, restart_pending: false });
  });

  it("grows a clone's root disk to its declared size before anything runs in it", async () => {
    expect(await conf(401)).toMatch(/^rootfs: .*size=4G/m);
    const { provider, inputs } = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"], features: "fuse=1,nesting=1", rootfsGb: 12 });
    const before = (await pctCalls(401, "resize")).length;
    const created = await provider.create(inputs);
    expect(await conf(401)).toMatch(/^rootfs: .*size=12G/m);
    expect((await pctCalls(401, "resize")).slice(before)).toEqual([["pct", "resize", "401", "rootfs", "12G"]]);
    expect(created.outs.observed).toMatchObject({ resized: true });
    // Already at size: nothing to do.
    const again = await provider.update!(created.id, created.outs, inputs);
    expect(again.outs.observed).toMatchObject({ resized: false, changed: false, restarted: false });
    expect((await provider.read!(created.id, created.outs)).props.observed).toMatchObject({ matches: true, rootfs_match: true });
  });

  it("grows a volume in place (pct resize mp<N>) instead of letting the provider replace the container", async () => {
    await sh("/usr/local/sbin/pct set 401 --mp0 local-lvm:2,mp=/data");
    expect(await conf(401)).toMatch(/^mp0: .*size=2G/m);
    const { provider, inputs } = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"], features: "fuse=1,nesting=1", rootfsGb: 12, volumes: [{ sizeGb: 2, storage: "local-lvm", path: "/data" }] });
    const created = await provider.create(inputs);
    expect(created.outs.observed).toMatchObject({ resized: false });
    const grown = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"], features: "fuse=1,nesting=1", rootfsGb: 12, volumes: [{ sizeGb: 6, storage: "local-lvm", path: "/data" }] });
    expect(await provider.diff!(created.id, created.outs, grown.inputs)).toMatchObject({ changes: true, replaces: [] });
    const before = (await pctCalls(401, "resize")).length;
    const updated = await provider.update!(created.id, created.outs, grown.inputs);
    expect(updated.outs.observed).toMatchObject({ resized: true, restarted: false });
    expect((await pctCalls(401, "resize")).slice(before)).toEqual([["pct", "resize", "401", "mp0", "6G"]]);
    expect(await conf(401)).toMatch(/^mp0: .*size=6G/m);
    expect((await provider.read!(created.id, updated.outs)).props.observed).toMatchObject({ matches: true });
    await detach(401, "mp0");
  });

  it("owns the volume set after creation: a missing volume is drift and gets allocated, an undeclared one is kept and reported", async () => {
    const base = { ctid: 401, lines: ["lxc.apparmor.profile=generated"], features: "fuse=1,nesting=1", rootfsGb: 12 };
    const one = await options({ ...base, volumes: [{ sizeGb: 2, storage: "local-lvm", path: "/data" }] });
    const created = await one.provider.create(one.inputs);
    expect(created.outs.observed).toMatchObject({ added_volumes: ["mp0"], undeclared_volumes: [] });
    expect(await conf(401)).toMatch(/^mp0: local-lvm:vm-401-disk-1,size=2G,mp=\/data$/m);
    // Detached by hand from the running container (the deletion waits for its next start, as
    // Proxmox keeps it pending): read reports it missing (drift), update takes it back.
    await sh("/usr/local/sbin/pct set 401 --delete mp0");
    const read = await one.provider.read!(created.id, created.outs);
    expect(read.props.observed).toMatchObject({ matches: false, rootfs_match: false, missing_volumes: ["mp0"] });
    await one.provider.update!(created.id, read.props, one.inputs);
    expect((await one.provider.read!(created.id, created.outs)).props.observed).toMatchObject({ matches: true, missing_volumes: [], undeclared_volumes: [] });
    expect((await pctCalls(401, "set")).at(-1)).toEqual(["pct", "set", "401", "--revert", "mp0"]);
    expect(await conf(401)).not.toContain("[pve:pending]");
    // No longer declared: kept, reported, and not drift (an apply would change nothing).
    const none = await options({ ...base, volumes: [] });
    const before = (await pctCalls(401, "set")).length;
    const kept = await none.provider.update!(created.id, created.outs, none.inputs);
    expect(kept.outs.observed).toMatchObject({ undeclared_volumes: ["mp0"] });
    expect((await pctCalls(401, "set")).slice(before)).toEqual([]);
    expect(await conf(401)).toMatch(/^mp0: local-lvm:vm-401-disk-1,size=2G,mp=\/data$/m);
    expect((await none.provider.read!(created.id, kept.outs)).props.observed).toMatchObject({ matches: true, undeclared_volumes: ["mp0"] });
    // mp0 declared elsewhere (the JSON's list reordered): refused, nothing remapped.
    const moved = await options({ ...base, volumes: [{ sizeGb: 2, storage: "local-lvm", path: "/elsewhere" }] });
    await expect(moved.provider.update!(created.id, created.outs, moved.inputs)).rejects.toThrow(/mp0 of container 401 is local-lvm mounted at \/data, declared as local-lvm at \/elsewhere/);
    await detach(401, "mp0");
  });

  it("refuses a malformed volume line: in the resource, in check, and in the host script itself", async () => {
    const declare = (volume: { sizeGb: number; storage: string; path: string }) => () =>
      new lxc.LxcOptions("ct-401-lxc-options", { connection: host.target, ctid: 401, lines: [], volumes: [volume] });
    for (const bad of [{ sizeGb: 2, storage: "local-lvm", path: "/a/../etc" }, { sizeGb: 2, storage: "local;rm", path: "/a" }, { sizeGb: 0, storage: "local-lvm", path: "/a" }]) {
      expect(declare(bad), JSON.stringify(bad)).toThrow("volumes: lines `mp<N>=<GiB>:<storage>:<absolute container path>`");
    }
    const { resource, provider } = await captureProvider(declare({ sizeGb: 2, storage: "local-lvm", path: "/a" }), host.secrets);
    for (const volumes of ["mp0=2:local-lvm:/a,mp=/etc", "mp0=2:local-lvm:/a/..\nmp1=2:local-lvm:/b"]) {
      const checked = await provider.check!({}, { ...resource.inputs, params: { ...resource.inputs.params, volumes } });
      expect(checked.failures?.map((f) => f.property), volumes).toEqual(["params.volumes"]);
    }
    // The script refuses before it touches anything (run here: it exits at validation).
    // Composed as the host receives it (lib/result.sh's `invalid`: exit 2, one line).
    const script = registry.composeScript("features/lxc/host/lxc_options.sh");
    for (const line of ["mp0=2", "mp0=2:local-lvm:/a/./b", "mp0=2:local-lvm:/a b", "mp0=2:1bad:/a", "mp0=2:local-lvm:/a,mp=/etc", "mp0=2:local-lvm:relative"]) {
      const r = spawnSync("bash", ["-euo", "pipefail"], { input: script, env: { PATH: process.env.PATH, PHOENIX_CTID: "401", PHOENIX_ACTION: "read", PHOENIX_VOLUMES: line }, encoding: "utf8" });
      expect([r.status, r.stderr], line).toEqual([2, `lxc_options 401: invalid volume '${line}' (want mp<N>=<GiB>:<storage>:<absolute container path>)\n`]);
    }
    // A storage id Proxmox refuses (pve-storage-id ends with a letter or digit) is refused too.
    const storage = spawnSync("bash", ["-euo", "pipefail"], { input: script, env: { PATH: process.env.PATH, PHOENIX_CTID: "401", PHOENIX_ACTION: "read", PHOENIX_VOLUMES: "mp0=2:local-:/a" }, encoding: "utf8" });
    expect([storage.status, storage.stderr]).toEqual([2, "lxc_options 401: invalid volume 'mp0=2:local-:/a': storage id 'local-'\n"]);
  });

  it("creates bind-mount sources on the host before the restart, owned by the container's root or as declared", async () => {
    const models = "/srv/phoenix-ct-401/models";
    const shared = "/srv/phoenix-ct-401/shared data";
    const lines = ["lxc.apparmor.profile=generated", lxc.bindMountLine(models, "/models"), lxc.bindMountLine(shared, "/data")];
    const mountSources = [
      { path: models, uid: 100000, gid: 100000, explicit: false },
      { path: shared, uid: 101000, gid: 101000, explicit: true },
    ];
    const { provider, inputs } = await options({ ctid: 401, lines, features: "fuse=1,nesting=1", rootfsGb: 12, mountSources });
    // Without the sources the restart with the new mount lines fails (as lxc-start does).
    const created = await provider.create(inputs);
    expect(created.outs.observed).toMatchObject({ changed: true, restarted: true });
    expect(await sh(`stat -c '%u:%g %a' ${models} '${shared}'`)).toBe("100000:100000 755\n101000:101000 755\n");
    // Parents created on the way are traversable by the container's mapped root (not umask 077).
    expect(await sh("stat -c %a /srv/phoenix-ct-401")).toBe("755\n");
    expect(await sh("/usr/local/sbin/pct status 401")).toBe("status: running\n");

    // A declared owner is kept on the existing folder; a folder that went missing is drift.
    await sh(`chown 0:0 '${shared}' && rmdir ${models}`);
    const read = await provider.read!(created.id, created.outs);
    expect(read.props.observed).toMatchObject({ matches: false, sources_match: false });
    await provider.update!(created.id, read.props, inputs);
    expect(await sh(`stat -c '%u:%g' ${models} '${shared}'`)).toBe("100000:100000\n101000:101000\n");
  });

  it("never chowns a bind-mount source folder that existed before Phoenix (its owner is the operator's)", async () => {
    // As the reviewer's /var/lib/dpkg/info with owner_uid 0 (validate refuses that path; the host
    // keeps an existing folder's owner whatever path reaches it).
    const existing = "/srv/operator-owned/info";
    await sh(`mkdir -p ${existing} && chown 0:0 ${existing} && chmod 0700 ${existing} && touch ${existing}/postinst`);
    const lines = ["lxc.apparmor.profile=generated", lxc.bindMountLine(existing, "/data")];
    const mountSources = [{ path: existing, uid: 100000, gid: 100000, explicit: true }];
    const { provider, inputs } = await options({ ctid: 401, lines, features: "fuse=1,nesting=1", rootfsGb: 12, mountSources });
    const created = await provider.create(inputs);
    expect(await sh(`stat -c '%u:%g %a' ${existing} ${existing}/postinst`)).toBe("0:0 700\n0:0 644\n");
    expect(await sh("cat /var/lib/phoenix/lxc/bind-sources.created")).not.toContain(existing);
    // Not drift either: the declared owner applies only to folders Phoenix creates.
    expect((await provider.read!(created.id, created.outs)).props.observed).toMatchObject({ matches: true, sources_match: true });
    const again = await provider.update!(created.id, created.outs, inputs);
    expect(again.outs.observed).toMatchObject({ changed: false });
    expect(await sh(`stat -c '%u:%g' ${existing}`)).toBe("0:0\n");
  });

  it("never follows a symlink in a bind-mount source: resolved system paths are refused before any change, other links are not walked", async () => {
    // Container A's bind source is a folder its root writes; the guest plants links in it that a
    // second container's source (nested below) would walk through.
    await sh("mkdir -p /srv/guest-a /srv/elsewhere && ln -sfn /etc /srv/guest-a/etc-link && ln -sfn /srv/elsewhere /srv/guest-a/other-link");
    const confBefore = await conf(401);
    const hostile = [
      { source: "/srv/guest-a/etc-link/cron.d", message: /resolves to \/etc\/cron\.d, which is under the host's \/etc/ },
      { source: "/srv/guest-a/etc-link", message: /resolves to \/etc, which is the host's \/etc/ },
      { source: "/srv/guest-a/etc-link/pve/nodes", message: /resolves to \/etc\/pve\/nodes/ },
      { source: "/srv/guest-a/other-link/new", message: /\/srv\/guest-a\/other-link is a symlink; Phoenix never follows one/ },
    ];
    for (const h of hostile) {
      const lines = ["lxc.apparmor.profile=generated", "lxc.cap.drop=sys_time", lxc.bindMountLine(h.source, "/data")];
      const { provider, inputs } = await options({ ctid: 401, lines, mountSources: [{ path: h.source, uid: 100000, gid: 100000, explicit: true }] });
      await expect(provider.create(inputs), h.source).rejects.toThrow(h.message);
      // Nothing written: the config, /etc, the link's target.
      expect(await conf(401)).toBe(confBefore);
    }
    expect(await sh("stat -c '%u:%g' /etc/cron.d /etc /srv/elsewhere")).toBe("0:0\n0:0\n0:0\n");
    expect((await host.exec("test -e /srv/elsewhere/new")).code).not.toBe(0);
    // A folder Phoenix created, replaced by a link to someone else's folder: the declared owner is
    // never set through the link.
    const made = "/srv/guest-b/data";
    const { provider, inputs } = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"], mountSources: [{ path: made, uid: 101000, gid: 101000, explicit: true }] });
    const created = await provider.create(inputs);
    expect(await sh(`stat -c '%u:%g' ${made}`)).toBe("101000:101000\n");
    await sh(`mkdir -p /srv/precious && chown 0:0 /srv/precious && rm -rf ${made} && ln -s /srv/precious ${made}`);
    await expect(provider.update!(created.id, created.outs, inputs)).rejects.toThrow(/guest-b\/data is a symlink/);
    expect(await sh("stat -c '%u:%g' /srv/precious")).toBe("0:0\n");
    await sh(`rm -f ${made} /srv/guest-a/etc-link /srv/guest-a/other-link`);
  });

  it("restarts on the next run when a run was killed between writing the config and restarting", async () => {
    const { provider, inputs } = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated"] });
    const created = await provider.create(inputs);
    const changed = await options({ ctid: 401, lines: ["lxc.apparmor.profile=generated", "lxc.cap.drop=sys_time"] });
    // The restart fails the way a killed run stops: after the config is written, before the reboot.
    await sh("mv /usr/local/sbin/pct /usr/local/sbin/pct.real && printf '#!/bin/sh\\n[ \"$1\" = reboot ] && exit 137\\nexec /usr/local/sbin/pct.real \"$@\"\\n' > /usr/local/sbin/pct && chmod 755 /usr/local/sbin/pct");
    try {
      await expect(provider.update!(created.id, created.outs, changed.inputs)).rejects.toThrow();
    } finally {
      await sh("mv /usr/local/sbin/pct.real /usr/local/sbin/pct");
    }
    expect(await conf(401)).toContain("lxc.cap.drop: sys_time\n");
    // The engine kept the old state (the update failed); a refresh sees the pending restart.
    const read = await provider.read!(created.id, { ...created.outs, params: changed.inputs.params });
    expect(read.props.observed).toMatchObject({ matches: false, restart_pending: true, lines_match: true });
    const reboots = (await pctCalls(401, "reboot")).length;
    const done = await provider.update!(created.id, read.props, changed.inputs);
    expect(done.outs.observed).toMatchObject({ changed: false, restarted: true });
    expect((await pctCalls(401, "reboot")).length).toBe(reboots + 1);
    expect((await provider.read!(created.id, done.outs)).props.observed).toMatchObject({ matches: true, restart_pending: false });
  });

  it("compares the snapshot description in the form Proxmox prints it (percent-encoded, trailing newline)", async () => {
    await sh("/usr/local/sbin/pct stop 401");
    const { resource, provider } = await captureProvider(() => new lxc.LxcSnapshot("ct-401-snapshot", { connection: host.target, ctid: 401, snapname: "final-form", trigger: "abcd1234abcd1234" }), host.secrets);
    const created = await provider.create(resource.inputs);
    // Proxmox keeps the description as `#` comment lines and `pct config --snapshot` prints it
    // through encode_text: `description: phoenix%3Aabcd1234abcd1234%0A`.
    expect(await sh("/usr/local/sbin/pct config 401 --snapshot final-form")).toContain("description: phoenix%3Aabcd1234abcd1234%0A\n");
    const read = await provider.read!(created.id, created.outs);
    expect(read.props.observed).toMatchObject({ present: true, matches: true });
    expect(await provider.diff!(created.id, read.props, resource.inputs)).toMatchObject({ changes: false });
  });
});
