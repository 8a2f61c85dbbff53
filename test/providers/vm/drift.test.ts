// Per-property drift on the host for the VM kinds, one row per property an `apply` sets: created
// through the real provider over the real sshd with the emulator's `qm`, changed ON the host,
// then `read` must report `matches: false`, `diff` must ask for an apply, the apply must put it
// back, and the next `read` must match.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";
import { captureProvider } from "../harness";
import { installQm, qm, setCloudInit } from "./emulator";

const vmProviders = loadDist<typeof import("../../../providers/vm/index")>("providers/vm/index");
const HASH = "c".repeat(64);

let host: TestHost;
const sh = async (cmd: string) => {
  const r = await host.exec(cmd);
  if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
  return r.stdout;
};

interface Row {
  kind: string;
  property: string;
  declare: () => unknown;
  drift: string;
  restored: string;
}

const ROWS: Row[] = [
  {
    kind: "vm-snapshot",
    property: "what the snapshot captured (description)",
    declare: () => new vmProviders.VmSnapshot("vm-8301-snapshot", { connection: host.target, vmid: 8301, snapshotName: "golden", after: HASH }),
    drift: `sed -i 's/${HASH}/${"d".repeat(64)}/' /etc/pve/qemu-server/8301.conf`,
    restored: `grep -q 'taken after ${HASH}' /etc/pve/qemu-server/8301.conf`,
  },
  {
    kind: "vm-snapshot",
    property: "complete",
    declare: () => new vmProviders.VmSnapshot("vm-8301-snapshot", { connection: host.target, vmid: 8301, snapshotName: "golden", after: HASH }),
    drift: "sed -i '/^\\[golden\\]$/a snapstate: prepare' /etc/pve/qemu-server/8301.conf",
    restored: "! grep -q '^snapstate' /etc/pve/qemu-server/8301.conf",
  },
  {
    kind: "vm-cloud-init",
    property: "the user data whose first boot finished",
    declare: () => new vmProviders.VmCloudInitWait("vm-8302-cloud-init", { connection: host.target, vmid: 8302, userDataSha256: HASH, timeoutSeconds: 60 }),
    drift: `sed -i 's/^${HASH}/${"e".repeat(64)}/' /var/lib/phoenix/vm/8302/cloud-init`,
    restored: `grep -q '^${HASH}' /var/lib/phoenix/vm/8302/cloud-init`,
  },
];

beforeAll(async () => {
  host = await startTestHost();
  await installQm(host);
  await qm(host, "create 8301 --name drift-snap --agent enabled=1");
  await qm(host, "create 8302 --name drift-ci --agent enabled=1");
  await qm(host, "start 8302");
  await setCloudInit(host, 8302, "done");
});
afterAll(() => host?.stop());

describe("VM kinds: drift on the host, one row per property apply sets", () => {
  it("every VM kind has rows", () => {
    const covered = new Set(ROWS.map((r) => r.kind));
    expect(vmProviders.vmProviderKinds.map((k) => k.kind).filter((k) => !covered.has(k))).toEqual([]);
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
