// The VM dynamic resource kinds (vm-snapshot, vm-cloud-init) against the real sshd test host with
// the Proxmox emulator's `qm`, through providers loaded exactly as Pulumi's dynamic-provider host
// loads them: the lifecycle every kind must pass, and the failure reports of the cloud-init wait.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../../host/sshd";
import { loadDist } from "../../load";
import { captureProvider } from "../harness";
import { runLifecycle } from "../lifecycle";
import { installQm, qm, setCloudInit } from "./emulator";

const vmProviders = loadDist<typeof import("../../../providers/vm/index")>("providers/vm/index");
const HASH_A = "a".repeat(64);
const HASH_B = "b".repeat(64);

describe("VM dynamic resources on the test host", () => {
  let host: TestHost;
  beforeAll(async () => {
    host = await startTestHost();
    await installQm(host);
  });
  afterAll(() => host?.stop());

  const snapshot = (vmid: number, snapshotName: string, after: string) => () =>
    new vmProviders.VmSnapshot(`vm-${vmid}-snapshot`, { connection: host.target, vmid, snapshotName, after });
  const cloudInit = (vmid: number, userDataSha256: string, timeoutSeconds?: number) => () =>
    new vmProviders.VmCloudInitWait(`vm-${vmid}-cloud-init`, { connection: host.target, vmid, userDataSha256, timeoutSeconds });

  describe("vm-snapshot", () => {
    it("passes the lifecycle: qm snapshot, listsnapshot, re-taken when what it captures changed, delsnapshot", async () => {
      await qm(host, "create 8101 --name snap-vm --agent enabled=1");
      const { resource, provider } = await captureProvider(snapshot(8101, "golden", HASH_A), host.secrets);
      expect(resource.type).toBe("pulumi-nodejs:dynamic/phoenix:vm-snapshot");
      expect(resource.inputs.params).toEqual({ vmid: "8101", name: "golden", after: HASH_A });
      const conf = () => host.exec("cat /etc/pve/qemu-server/8101.conf").then((r) => r.stdout);
      const report = await runLifecycle({
        provider,
        inputs: resource.inputs,
        changedInputs: { ...resource.inputs, params: { ...resource.inputs.params, after: HASH_B } },
        expect,
        verify: {
          afterCreate: async () => {
            expect(await qm(host, "listsnapshot 8101")).toMatch(/`-> golden\s/);
            // Proxmox stores a description as `#` comment lines, percent-encoded (PVE::Tools::encode_text).
            expect(await conf()).toContain(`#phoenix%3A taken after ${HASH_A}`);
          },
          afterUpdate: async () => {
            const text = await conf();
            expect(text).toContain(`#phoenix%3A taken after ${HASH_B}`);
            expect(text).not.toContain(HASH_A);
            expect(text.match(/^\[golden\]$/gm)).toHaveLength(1);
          },
          afterDelete: async () => {
            expect(await qm(host, "listsnapshot 8101")).not.toContain("golden");
            expect(await conf()).not.toContain("[golden]");
          },
        },
      });
      expect(report.changePath).toBe("update");
      const calls = (await host.exec("cat /var/log/pve-emu/calls.log")).stdout;
      expect(calls).toMatch(/qm snapshot 8101 golden --description/);
      expect(calls).toMatch(/qm delsnapshot 8101 golden/);
    });

    it("a new snapshot name replaces the snapshot (the old one is deleted first)", async () => {
      await qm(host, "create 8102 --name snap-rename");
      const { resource, provider } = await captureProvider(snapshot(8102, "first", HASH_A), host.secrets);
      const report = await runLifecycle({
        provider,
        inputs: resource.inputs,
        changedInputs: { ...resource.inputs, params: { ...resource.inputs.params, name: "second" } },
        expect,
      });
      expect(report.changePath).toBe("replace");
    });

    it("refuses to snapshot a template with Proxmox's own message", async () => {
      await qm(host, "create 8103 --name tmpl --template 1");
      const { resource, provider } = await captureProvider(snapshot(8103, "clean", HASH_A), host.secrets);
      await expect(provider.create(resource.inputs)).rejects.toThrow(/you can't take a snapshot if it's a template/);
    });

    it("reads a missing VM as gone", async () => {
      const { resource, provider } = await captureProvider(snapshot(8199, "none", HASH_A), host.secrets);
      const r = await provider.read!("8199/none", { ...resource.inputs, observed: {} });
      expect(r.id ?? "").toBe("");
    });
  });

  describe("vm-cloud-init", () => {
    it("passes the lifecycle: waits through a running cloud-init until done, records it, forgets it on delete", async () => {
      await qm(host, "create 8201 --name ci-vm --agent enabled=1");
      await qm(host, "start 8201");
      // The first two status polls report running: the wait must keep polling, not give up.
      await setCloudInit(host, 8201, "running 2");
      const { resource, provider } = await captureProvider(cloudInit(8201, HASH_A, 60), host.secrets);
      expect(resource.type).toBe("pulumi-nodejs:dynamic/phoenix:vm-cloud-init");
      const record = () => host.exec("cat /var/lib/phoenix/vm/8201/cloud-init").then((r) => r.stdout.trim());
      const report = await runLifecycle({
        provider,
        inputs: resource.inputs,
        changedInputs: { ...resource.inputs, params: { ...resource.inputs.params, user_data_sha256: HASH_B } },
        expect,
        verify: {
          afterCreate: async (outs) => {
            expect(outs.observed).toMatchObject({ present: true, status: "done", user_data_sha256: HASH_A });
            expect(await record()).toBe(`${HASH_A} done`);
          },
          afterUpdate: async () => expect(await record()).toBe(`${HASH_B} done`),
          afterDelete: async () => expect((await host.exec("test -e /var/lib/phoenix/vm/8201/cloud-init")).code).not.toBe(0),
        },
      });
      expect(report.changePath).toBe("update");
      const calls = (await host.exec("grep -c 'qm guest exec 8201 --timeout [0-9]* -- cloud-init status --wait' /var/log/pve-emu/calls.log")).stdout.trim();
      expect(Number(calls)).toBeGreaterThanOrEqual(3); // two "still running" answers, then done
    });

    it("fails with cloud-init's own report when cloud-init ended in error", async () => {
      await qm(host, "create 8202 --name ci-error --agent 1");
      await qm(host, "start 8202");
      await setCloudInit(host, 8202, "error", "scripts_user: runcmd failed: /opt/phoenix/features/first_boot.sh exit 1");
      const { resource, provider } = await captureProvider(cloudInit(8202, HASH_A, 60), host.secrets);
      const err = await provider.create(resource.inputs).then(
        () => undefined,
        (e: Error) => e,
      );
      expect(err?.message).toMatch(/cloud-init failed \(exit 1\)/);
      expect(err?.message).toMatch(/status: error/);
      expect(err?.message).toMatch(/scripts_user: runcmd failed/);
      expect((await host.exec("test -e /var/lib/phoenix/vm/8202/cloud-init")).code).not.toBe(0);
    });

    it("accepts a first boot that finished with recoverable errors, and says so", async () => {
      await qm(host, "create 8203 --name ci-degraded --agent 1");
      await qm(host, "start 8203");
      await setCloudInit(host, 8203, "degraded", "deprecated key in user data");
      const { resource, provider } = await captureProvider(cloudInit(8203, HASH_A, 60), host.secrets);
      const created = await provider.create(resource.inputs);
      expect(created.outs.observed).toMatchObject({ present: true, status: "degraded" });
    });

    it("fails at its deadline when cloud-init is still running, with the current report", async () => {
      await qm(host, "create 8204 --name ci-slow --agent 1");
      await qm(host, "start 8204");
      await setCloudInit(host, 8204, "running", "modules:final still running");
      const { resource, provider } = await captureProvider(cloudInit(8204, HASH_A, 3), host.secrets);
      await expect(provider.create(resource.inputs)).rejects.toThrow(/cloud-init still running after 3s[\s\S]*status: running/);
    });

    it("fails when the guest agent never answers (no agent configured), with qm's reason", async () => {
      await qm(host, "create 8205 --name ci-noagent");
      await qm(host, "start 8205");
      const { resource, provider } = await captureProvider(cloudInit(8205, HASH_A, 2), host.secrets);
      await expect(provider.create(resource.inputs)).rejects.toThrow(/guest agent did not answer within 2s[\s\S]*No QEMU guest agent configured/);
    });

    it("reads a destroyed VM as gone, so a refresh drops the record", async () => {
      await qm(host, "create 8206 --name ci-gone --agent 1");
      await qm(host, "start 8206");
      const { resource, provider } = await captureProvider(cloudInit(8206, HASH_A, 60), host.secrets);
      const created = await provider.create(resource.inputs);
      await qm(host, "stop 8206");
      await qm(host, "destroy 8206");
      const r = await provider.read!(created.id, created.outs);
      expect(r.id ?? "").toBe("");
    });

    it("rejects parameters the host script must never see", async () => {
      const { resource, provider } = await captureProvider(cloudInit(8207, HASH_A, 60), host.secrets);
      const bad = await provider.check!({}, { ...resource.inputs, params: { ...resource.inputs.params, vmid: "8207; touch /tmp/pwned", user_data_sha256: "$(reboot)" } });
      expect(bad.failures?.map((f) => f.property).sort()).toEqual(["params.user_data_sha256", "params.vmid"]);
      const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
      // Refinements JSON Schema cannot carry are enforced program-side, before anything is sent.
      expect(() => base.parseParams(vmProviders.vmCloudInitKind, { vmid: "8207", timeout_seconds: "99999", user_data_sha256: HASH_A })).toThrow(/at most 3600 seconds/);
    });
  });
});
