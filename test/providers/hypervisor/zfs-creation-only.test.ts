// ZFS creation-only properties on an existing dataset (issue 12 item 12), on real zfs-fuse over
// the sshd test host: `casesensitivity`, `normalization`, `utf8only`, ... can only be set when a
// dataset is created. A changed one must not fail every run: the settable properties are still
// applied, apply and read report `needsRecreation` with one clear message, and the dataset (and
// its data) stays.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { captureProvider } from "../harness";

const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const hv = loadDist<typeof import("../../../providers/hypervisor/index")>("providers/hypervisor/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");

describe("host-zfs-dataset with creation-only properties", () => {
  let host: TestHost;
  const sh = async (cmd: string) => {
    const r = await host.exec(cmd);
    if (r.code !== 0) throw new Error(`${cmd}: ${r.stderr}`);
    return r.stdout;
  };
  const dataset = (properties: string) => async () => {
    const { resource, provider } = await captureProvider(
      () => new base.HostScriptResource(hv.zfsDatasetKind, "host-zfs-dataset-tank-share", {
        connection: host.target,
        script: registry.featureScript("hypervisor", "zfs_dataset"),
        params: { pool: "tank", name: "share", properties },
      }),
      host.secrets,
    );
    const checked = await provider.check!({}, resource.inputs);
    expect(checked.failures ?? []).toEqual([]);
    return { provider, inputs: checked.inputs };
  };

  beforeAll(async () => {
    host = await startTestHost();
    await host.startZfsFuse();
    await sh("mkdir -p /srv/vdev && truncate -s 100M /srv/vdev/z && zpool create -m /mnt/tank tank /srv/vdev/z");
  }, 120_000);
  afterAll(() => host?.stop());

  it("applies the settable properties, reports needs re-creation once, and does not fail or loop", async () => {
    const first = await dataset("casesensitivity=sensitive\ncompression=off")();
    const created = await first.provider.create(first.inputs);
    expect(await sh("zfs get -H -o value casesensitivity,compression tank/share")).toBe("sensitive\noff\n");
    await sh("echo keep > /mnt/tank/share/data.txt");

    // The config now asks for case-insensitive names and compression.
    const second = await dataset("casesensitivity=insensitive\ncompression=gzip")();
    expect(await first.provider.diff!(created.id, created.outs, second.inputs)).toMatchObject({ changes: true, replaces: [] });
    const updated = await first.provider.update!(created.id, created.outs, second.inputs);
    // Settable: applied. Creation-only: reported, not attempted.
    expect(await sh("zfs get -H -o value casesensitivity,compression tank/share")).toBe("sensitive\ngzip\n");
    expect(updated.outs.observed).toMatchObject({ present: true, matches: true, drift: [], needsRecreation: ["casesensitivity"] });
    expect(updated.outs.observed.message).toBe(
      "dataset tank/share needs re-creation: casesensitivity=insensitive (is sensitive) can only be set when a dataset is created; move its data to a new dataset created with them (Phoenix never destroys it for that)",
    );
    // A refresh reports the same, and the next `pulumi up` has nothing to do (no failing apply per run).
    const read = await first.provider.read!(created.id, updated.outs);
    expect(read.props.observed).toMatchObject({ matches: true, needsRecreation: ["casesensitivity"] });
    expect(await first.provider.diff!(created.id, read.props, second.inputs)).toMatchObject({ changes: false });
    expect(await sh("cat /mnt/tank/share/data.txt")).toBe("keep\n");
  });
});
