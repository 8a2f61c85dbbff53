// Per-property drift on the host for the container kinds, one row per property an `apply` sets:
// the resource is created through the real provider (serialized, loaded as Pulumi's
// dynamic-provider host does, over the real sshd, with the `pct` emulator), the property is
// changed ON the host, and then `read` must report `matches: false`, `diff` must ask for an
// apply, the apply must put it back, and the next `read` must match.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { loadDist, repoRoot } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { installEmulator, installStorageCfg, seedFromDir } from "../../host/emulator/lib";
import { captureProvider } from "../harness";

const lxc = loadDist<typeof import("../../../providers/lxc/index")>("providers/lxc/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";
const CONF = "/etc/pve/lxc/310.conf";
const PCT = "/usr/local/sbin/pct";

let host: TestHost;
const sh = async (cmd: string) => {
  const r = await host.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};

interface Row {
  /** The kind's name (`lxc-options`...), one of lxcProviderKinds. */
  kind: string;
  property: string;
  declare: () => unknown;
  /** The change made on the host by hand. */
  drift: string;
  /** Succeeds only once apply has put the property back. */
  restored: string;
}

const options = (over: Partial<ConstructorParameters<typeof lxc.LxcOptions>[1]> = {}) => () =>
  new lxc.LxcOptions("ct-310-lxc-options", {
    connection: host.target,
    ctid: 310,
    lines: ["lxc.apparmor.profile=unconfined", "lxc.cgroup2.devices.allow=c 10:229 rwm"],
    gpus: [0],
    features: "keyctl=1,nesting=1",
    rootfsGb: 6,
    mountSources: [{ uid: 100000, gid: 100000, explicit: true, path: "/srv/drift-bind" }],
    volumes: [{ sizeGb: 2, storage: "local-lvm", path: "/data" }],
    ...over,
  });
const snapshot = (stop: boolean) => () => new lxc.LxcSnapshot("ct-311-snapshot", { connection: host.target, ctid: 311, snapname: "final-form", trigger: "aaaa1111aaaa1111", stop });
const subids = () => () => new lxc.LxcSubIds("ct-310-subids", { connection: host.target, ctid: 310, entries: [{ type: "uid", hostId: 1000, size: 1 }, { type: "gid", hostId: 1000, size: 1 }] });
const step = () => () =>
  new lxc.LxcStep("ct-310-feature-drift", { connection: host.target, ctid: 310, step: "feature-drift", script: registry.featureScript("lxc", "base_setup"), env: { env_timezone: "UTC" } });

const ROWS: Row[] = [
  // lxc-options: raw lines, flags, GPU device entries, disks, bind-mount sources, a pending restart
  { kind: "lxc-options", property: "a raw line changed", declare: options(), drift: `sed -i 's/^lxc.apparmor.profile: .*/lxc.apparmor.profile: generated/' ${CONF}`, restored: `grep -qx 'lxc.apparmor.profile: unconfined' ${CONF}` },
  { kind: "lxc-options", property: "a raw line removed", declare: options(), drift: `sed -i '/^lxc.cgroup2.devices.allow: c 10:229 rwm$/d' ${CONF}`, restored: `grep -qx 'lxc.cgroup2.devices.allow: c 10:229 rwm' ${CONF}` },
  { kind: "lxc-options", property: "an undeclared raw line", declare: options(), drift: `sed -i '0,/^lxc\\./s//lxc.cap.drop: sys_admin\\nlxc./' ${CONF}`, restored: `! grep -q '^lxc.cap.drop' ${CONF}` },
  { kind: "lxc-options", property: "feature flags", declare: options(), drift: `sed -i 's/^features: .*/features: nesting=1/' ${CONF}`, restored: `grep -qx 'features: keyctl=1,nesting=1' ${CONF}` },
  { kind: "lxc-options", property: "GPU device entries", declare: options(), drift: `sed -i '/^dev1: /d' ${CONF}`, restored: `grep -q '^dev1: /dev/nvidia-uvm-tools' ${CONF}` },
  { kind: "lxc-options", property: "root disk size", declare: options(), drift: `sed -i '/^rootfs: /s/size=[0-9]*G/size=4G/' ${CONF}`, restored: `grep -q '^rootfs: .*size=6G' ${CONF}` },
  { kind: "lxc-options", property: "volume size", declare: options(), drift: `sed -i '/^mp0: /s/size=[0-9]*G/size=1G/' ${CONF}`, restored: `grep -q '^mp0: .*size=2G' ${CONF}` },
  { kind: "lxc-options", property: "a declared volume missing", declare: options(), drift: `sed -i '/^mp0: /d' ${CONF}`, restored: `grep -q '^mp0: local-lvm:.*mp=/data' ${CONF}` },
  { kind: "lxc-options", property: "bind-mount source missing", declare: options(), drift: "rmdir /srv/drift-bind", restored: "test -d /srv/drift-bind" },
  { kind: "lxc-options", property: "bind-mount source owner", declare: options(), drift: "chown 0:0 /srv/drift-bind", restored: "[ \"$(stat -c %u:%g /srv/drift-bind)\" = 100000:100000 ]" },
  { kind: "lxc-options", property: "restart pending", declare: options(), drift: "touch /var/lib/phoenix/lxc/310.restart-pending", restored: "! test -e /var/lib/phoenix/lxc/310.restart-pending" },
  // lxc-snapshot: the snapshot's trigger, its completeness, the template stopped
  { kind: "lxc-snapshot", property: "trigger (description)", declare: snapshot(true), drift: "sed -i 's/aaaa1111aaaa1111/bbbb2222bbbb2222/' /etc/pve/lxc/311.conf", restored: `${PCT} config 311 --snapshot final-form | grep -qx 'description: phoenix%3Aaaaa1111aaaa1111%0A'` },
  { kind: "lxc-snapshot", property: "complete", declare: snapshot(true), drift: "sed -i '/^\\[final-form\\]$/a snapstate: prepare' /etc/pve/lxc/311.conf", restored: "! grep -q '^snapstate' /etc/pve/lxc/311.conf" },
  { kind: "lxc-snapshot", property: "template stopped", declare: snapshot(true), drift: `${PCT} start 311`, restored: `${PCT} status 311 | grep -q stopped` },
  // sub-id delegation: each line in /etc/subuid and /etc/subgid
  { kind: "lxc-subids", property: "subuid line", declare: subids(), drift: "sed -i '/^root:1000:1$/d' /etc/subuid", restored: "grep -qx root:1000:1 /etc/subuid" },
  { kind: "lxc-subids", property: "subgid line", declare: subids(), drift: "sed -i '/^root:1000:1$/d' /etc/subgid", restored: "grep -qx root:1000:1 /etc/subgid" },
  // a step run in the container: the stamp of what last succeeded
  { kind: "lxc-step", property: "step stamp", declare: step(), drift: "echo 0000 > /var/lib/phoenix/lxc/310/feature-drift.sha256", restored: "! grep -qx 0000 /var/lib/phoenix/lxc/310/feature-drift.sha256" },
];

beforeAll(async () => {
  host = await startTestHost();
  await installEmulator(host, { tools: ["pct"], seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
  await installStorageCfg(host, []);
  for (const ctid of [310, 311]) await sh(`${PCT} create ${ctid} ${TEMPLATE} --hostname ct${ctid} --rootfs local-lvm:4 && ${PCT} start ${ctid}`);
});
afterAll(() => host?.stop());

describe("container kinds: drift on the host, one row per property apply sets", () => {
  it("every container kind has rows", () => {
    const covered = new Set(ROWS.map((r) => r.kind));
    expect(lxc.lxcProviderKinds.map((k) => k.kind).filter((k) => !covered.has(k))).toEqual([]);
  });

  it.each(ROWS.map((r) => [`${r.kind}: ${r.property}`, r] as const))("%s", async (_name, row) => {
    const { resource, provider } = await captureProvider(row.declare, host.secrets);
    const created = await provider.create(resource.inputs);
    const fresh = await provider.read!(created.id, created.outs);
    expect(fresh.props.observed, "read right after apply matches").toMatchObject({ present: true, matches: true });

    await sh(row.drift);
    const refreshed = await provider.read!(created.id, created.outs);
    expect(refreshed.id, "the object is still there").toBe(created.id);
    expect(refreshed.props.observed, `read after changing ${row.property} on the host`).toMatchObject({ present: true, matches: false });
    const diff = await provider.diff!(created.id, refreshed.props, resource.inputs);
    expect(diff.changes, "diff asks for an apply").toBe(true);
    expect(diff.replaces ?? [], "drift is fixed in place").toEqual([]);

    const updated = await provider.update!(created.id, refreshed.props, resource.inputs);
    expect(updated.outs.observed, "apply converges").toMatchObject({ matches: true });
    expect((await host.exec(row.restored)).code, `${row.property} restored on the host`).toBe(0);
    const after = await provider.read!(created.id, updated.outs);
    expect(after.props.observed, "read after the apply matches").toMatchObject({ present: true, matches: true });
  });
});
