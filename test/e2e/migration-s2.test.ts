// End to end, the migration case s2 (../shared/cases/migration/s2, see test/config/cases.ts): a
// configuration in the original format that validates also plans, and its containers start and
// are provisioned through the engine stand-in (lxc-engine.ts) and the pct emulator on the sshd
// test host: the completed id map's /etc/subgid delegation, cap.keep as LXC reads it, the
// lifecycle snapshots around the features, trusted_ca from the Bash tool's host file, and vllm
// configured by vllm_engine_config without a model.
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../load";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator, installStorageCfg, readCalls, seedFromDir } from "../host/emulator/lib";
import { CASES_DIR } from "../config/cases";
import { Engine, type RunReport } from "./lxc-engine";
import { loadModel } from "../config/helpers";

const CA = "/mnt/pve/quickOS/lxc-persistent-data/103/ssl/phoenix_root_ca.crt";
// A real certificate: the host runner copies PEM certificates only, each parsed by openssl.
const PEM = spawnSync("sh", ["-c", "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout /dev/null -subj /CN=phoenix-s2 -days 2 2>/dev/null"], { encoding: "utf8" }).stdout;

describe("migration case s2, end to end through the pct emulator", () => {
  let host: TestHost;
  let engine: Engine;
  let run: RunReport;
  let calls: string[][];
  const sh = async (cmd: string) => (await host.exec(cmd)).stdout;

  beforeAll(async () => {
    // Containers run for real (LXC in the test host); feature scripts keep their apt/curl stand-ins.
    host = await startTestHost({ lxc: true });
    await installEmulator(host, { tools: ["pct"], realLxc: true, seed: seedFromDir(path.join(repoRoot, "test/features/lxc/stubs"), "usr/local/bin") });
    // The storages the (only declared) hypervisor setup registers: the containers' disks live there.
    await installStorageCfg(host, loadModel(path.join(CASES_DIR, "s2")).host.storages);
    // The Bash tool's shared SSL folder on the host, where trusted_ca finds the root CA.
    const r = await host.exec(`mkdir -p ${path.posix.dirname(CA)} && printf '%s' '${PEM}' > ${CA} && printf 'root:100000:65536\\n' > /etc/subgid`);
    expect(r.code, r.stderr).toBe(0);
    engine = new Engine(host);
    run = await engine.up({ configDir: path.join(CASES_DIR, "s2") });
    calls = await readCalls(host);
  }, 900_000);
  afterAll(() => host?.stop());

  it("plans and carries out every container resource without errors", () => {
    expect(run.errors).toEqual([]);
    for (const name of ["ct-900-subids", "ct-900", "ct-900-lxc-options", "ct-900-snapshot-pre-configured", "ct-900-feature-base_setup", "ct-900-feature-trusted_ca", "ct-900-snapshot-final-form", "ct-900-snapshot", "ct-910", "ct-910-feature-vllm", "ct-910-snapshot"]) {
      expect(run.actions.get(name), name).toBe("create");
    }
  });

  it("both containers started for their steps, and were left stopped as snapshotted templates", async () => {
    for (const ctid of ["900", "910"]) {
      expect(calls.some((c) => c[0] === "pct" && c[1] === "start" && c[2] === ctid), `pct start ${ctid}`).toBe(true);
      expect(await sh(`/usr/local/sbin/pct status ${ctid}`)).toBe("status: stopped\n");
    }
    expect((await sh("/usr/local/sbin/pct listsnapshot 900")).split("\n").map((l) => l.trim().split(/\s+/)[1]).filter(Boolean)).toEqual(
      expect.arrayContaining(["pre-configured", "final-form", "base-snap"]),
    );
  });

  it("takes pre-configured before the features and final-form after them, without stopping in between", () => {
    const idx = (pred: (c: string[]) => boolean) => calls.findIndex(pred);
    const snap = (name: string) => idx((c) => c[1] === "snapshot" && c[2] === "900" && c[3] === name);
    const exec = (step: string) => idx((c) => c[1] === "exec" && c[2] === "900" && c.at(-1)!.endsWith(`/${step}.sh`));
    expect(snap("pre-configured")).toBeGreaterThanOrEqual(0);
    expect(snap("pre-configured")).toBeLessThan(exec("feature-base_setup"));
    expect(snap("final-form")).toBeGreaterThan(exec("feature-trusted_ca"));
    expect(snap("base-snap")).toBeGreaterThan(snap("final-form"));
    const shutdowns = calls.map((c, i) => (c[1] === "shutdown" && c[2] === "900" ? i : -1)).filter((i) => i >= 0);
    expect(shutdowns.every((i) => i > snap("final-form")), "900 is shut down only for its template snapshot").toBe(true);
  });

  it("writes cap.keep space-separated, delegates gid 33 to root, and installs the host's CA and vLLM without a model", async () => {
    expect(await sh("cat /etc/pve/lxc/900.conf")).toContain("lxc.cap.keep: sys_admin mknod sys_chroot\n");
    expect(await sh("cat /etc/subgid")).toBe("root:100000:65536\nroot:33:1\n");
    expect(await sh("cat /var/lib/pve-emu/lxc/900/rootfs/usr/local/share/ca-certificates/phoenix-root-ca.crt")).toBe(PEM);
    expect(await sh("cat /var/lib/pve-emu/lxc/910/rootfs/etc/vllm/engine_config.json")).toBe('{"ModelConfig":{"model":"org/model"}}\n');
    expect(await sh("test -e /var/lib/pve-emu/lxc/910/rootfs/etc/systemd/system/vllm.service && echo unit || echo none")).toBe("none\n");
  });

  it("a second run changes nothing (subids, lifecycle snapshots and steps read back as they are)", async () => {
    const before = await readCalls(host);
    const second = await engine.up({ configDir: path.join(CASES_DIR, "s2") });
    expect(second.errors).toEqual([]);
    for (const [name, action] of second.actions) expect(action, `${name} ${JSON.stringify(second.changes?.get(name) ?? [])}`).toBe("same");
    expect(second.actions.size).toBe(run.actions.size);
    const changing = (await readCalls(host)).slice(before.length).filter((c) => !["status", "config", "listsnapshot"].includes(c[1]));
    expect(changing).toEqual([]);
  }, 600_000);
});
