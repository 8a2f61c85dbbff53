// The migration cases (test/config/cases.ts: the copy of ../shared/cases/migration) planned by the real program under the mock
// monitor: a file in the original format that validates also plans, and plans what the Bash
// orchestrator did with it (nameservers, completed id map, cap.keep, lifecycle snapshots, user
// features, the /tmp/phoenix_run application protocol, secrets).
import { createHash } from "node:crypto";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { CASES, CASES_DIR } from "../config/cases";
import { byName, planStack, type PlanResult } from "./plan";
import type { Files } from "../config/helpers";

const temp: string[] = [];
afterAll(() => {
  for (const d of temp.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** A writable copy of a case, changed by `edit` (JSON files by short name) and with extra files. */
function variant(name: string, edit: (f: Files) => void, files: Record<string, string> = {}): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `phoenix-plan-${name}-`));
  temp.push(dir);
  const read = (f: string) => JSON.parse(fs.readFileSync(path.join(CASES_DIR, name, f), "utf8"));
  const json = { host: read("phoenix_hypervisor_config.json"), lxc: read("phoenix_lxc_configs.json"), vm: read("phoenix_vm_configs.json") };
  edit(json);
  fs.writeFileSync(path.join(dir, "phoenix_hypervisor_config.json"), JSON.stringify(json.host));
  fs.writeFileSync(path.join(dir, "phoenix_lxc_configs.json"), JSON.stringify(json.lxc));
  fs.writeFileSync(path.join(dir, "phoenix_vm_configs.json"), JSON.stringify(json.vm));
  for (const [rel, text] of Object.entries(files)) {
    fs.mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    fs.writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}
// The fw case drops input with no rule keeping SSH and the API open from the dev stack's
// management network: the lock-out guard refuses it (test/program/firewall.test.ts) unless the
// stack says it knows, as a user migrating such a file would after reading the error.
const plan = (configDir: string) =>
  planStack({ stack: "dev", configDir, ...(path.basename(configDir) === "fw" ? { config: { "phoenix:firewallLockoutAcknowledged": "true" } } : {}) });
const sha256 = (t: string) => createHash("sha256").update(t).digest("hex");

describe("the migration cases plan", () => {
  const plans = new Map<string, PlanResult>();
  beforeAll(async () => {
    for (const name of CASES) if (name !== "x1" && name !== "cb5") plans.set(name, await plan(path.join(CASES_DIR, name)));
  }, 120_000);

  it("every case that validates plans without errors (plan never fails on what validate passed)", () => {
    for (const [name, p] of plans) expect(p.errors, name).toEqual([]);
    expect([...plans.keys()].length).toBe(CASES.length - 2);
  });

  it("s2: nameservers, the completed id map, cap.keep space-separated", () => {
    const s2 = plans.get("s2")!;
    const ct = byName(s2, "ct-900").inputs;
    expect(ct.initialization.dns).toEqual({ servers: ["192.0.2.53"] });
    expect(ct.idmaps).toEqual([
      { type: "uid", containerId: 0, hostId: 100000, size: 65536 },
      { type: "gid", containerId: 0, hostId: 100000, size: 33 },
      { type: "gid", containerId: 33, hostId: 33, size: 1 },
      { type: "gid", containerId: 34, hostId: 100034, size: 65502 },
    ]);
    expect(byName(s2, "ct-900-lxc-options").inputs.params.options.split("\n")).toEqual(["lxc.cap.keep=sys_admin mknod sys_chroot", "lxc.apparmor.profile=unconfined"]);
    // gid 33 → 33 is outside root's default delegation: /etc/subgid gets root:33:1 before the container.
    expect(byName(s2, "ct-900-subids").inputs.params).toMatchObject({ ctid: "900", entries: "gid 33 1" });
    expect(byName(s2, "ct-900").dependsOn).toContain("ct-900-subids");
    // The clone has its template's map (pct clone copies it) and needs the same delegation.
    expect(byName(s2, "ct-910").inputs.idmaps).toEqual(ct.idmaps);
    expect(byName(s2, "ct-910-subids").inputs.params.entries).toBe("gid 33 1");
  });

  it("s2: lifecycle snapshots pre-configured before the features and final-form after, taken without stopping", () => {
    const s2 = plans.get("s2")!;
    const pre = byName(s2, "ct-900-snapshot-pre-configured");
    const final = byName(s2, "ct-900-snapshot-final-form");
    expect(pre.inputs.params).toMatchObject({ snapname: "pre-configured", stop: "0" });
    expect(final.inputs.params).toMatchObject({ snapname: "final-form", stop: "0" });
    expect(pre.dependsOn).toContain("ct-900-lxc-options");
    expect(byName(s2, "ct-900-feature-base_setup").dependsOn).toContain("ct-900-snapshot-pre-configured");
    expect(final.dependsOn).toContain("ct-900-feature-trusted_ca");
    expect(byName(s2, "ct-900-snapshot").dependsOn).toContain("ct-900-snapshot-final-form");
    expect(byName(s2, "ct-900-snapshot").inputs.params.stop).toBeUndefined();
    // 910 does not ask for them.
    expect(s2.resources.some((r) => r.name.startsWith("ct-910-snapshot-"))).toBe(false);
  });

  it("s2: trusted_ca gets the Bash tool's host certificate file; vllm its engine config and no model", () => {
    const s2 = plans.get("s2")!;
    expect(byName(s2, "ct-900-feature-trusted_ca").inputs.params.host_file).toBe("/mnt/pve/quickOS/lxc-persistent-data/103/ssl/phoenix_root_ca.crt");
    const vllm = byName(s2, "ct-910-feature-vllm").inputs.params;
    expect(JSON.parse(vllm.env_vllm_engine_config)).toEqual({ ModelConfig: { model: "org/model" } });
    expect(vllm.env_vllm_model).toBeUndefined();
  });

  it("cb2 plans the disk and no bind mount; cb1 plans no bind mount", () => {
    const cb2 = plans.get("cb2")!;
    expect(byName(cb2, "ct-900").inputs.mountPoints).toEqual([{ volume: "tank-ct-disks", size: "50G", path: "/models" }]);
    // ct-900-lxc-options exists for the volume's size (grown in place, issue 12), with no bind mount.
    const options = byName(cb2, "ct-900-lxc-options").inputs.params;
    expect(options.options).not.toContain("lxc.mount.entry");
    expect(options.mount_sources).toBe("");
    expect(options.volumes).toBe("mp0=50:tank-ct-disks:/models");
    // cb1's ct-900-lxc-options owns only its flags: no lines, no sources, no volumes.
    expect(byName(plans.get("cb1")!, "ct-900-lxc-options").inputs.params).toMatchObject({ options: "", mount_sources: "", volumes: "" });
  });

  it("a template's snapshot trigger ignores the flags the API sets (a stack from before every container had lxc-options keeps its snapshot)", async () => {
    const template = (nesting: string) =>
      variant("cb1", (f) => Object.assign(f.lxc.lxc_configs["900"], { unprivileged: true, pct_options: [nesting], template_snapshot_name: "golden" }));
    const on = await plan(template("nesting=1"));
    const off = await plan(template("nesting=0"));
    expect(on.errors).toEqual([]);
    expect(byName(on, "ct-900-lxc-options").inputs.params.features).toBe("nesting=1");
    expect(byName(off, "ct-900-lxc-options").inputs.params.features).toBe("nesting=0");
    expect(byName(on, "ct-900-snapshot").inputs.params.trigger).toBe(byName(off, "ct-900-snapshot").inputs.params.trigger);
  }, 60_000);

  it("cb4: the `$` password reaches no plaintext input", () => {
    const cb4 = plans.get("cb4")!;
    for (const r of cb4.resources) {
      for (const [k, v] of Object.entries(r.inputs)) {
        if (r.secretInputs.includes(k)) continue;
        expect((JSON.stringify(v) ?? "").includes("p@ss$$word1"), `${r.name}.${k}`).toBe(false);
      }
    }
  });
});

describe("stack-provided scripts and secrets in the plan", () => {
  it("cb5: a feature the stack provides runs like Phoenix's own, hashed", async () => {
    const text = "#!/usr/bin/env bash\nset -euo pipefail\necho \"dns on ${PHOENIX_DNS_SERVER_ZONE:-none}\"\n";
    const dir = variant("cb5", (f) => (f.lxc.lxc_configs["900"].dns_server_zone = "lab.example"), { "features/lxc/dns_server.sh": text });
    const p = await plan(dir);
    expect(p.errors).toEqual([]);
    const step = byName(p, "ct-900-feature-dns_server");
    expect(step.inputs.params).toMatchObject({ script: text, step: "feature-dns_server", env_dns_server_zone: "lab.example" });
    expect(step.dependsOn).toContain("ct-900-feature-base_setup");
    // Phoenix's own feature of the same name is not overridden by a stack file.
    const own = variant("base", (f) => (f.lxc.lxc_configs["900"].features = ["base_setup"]), { "features/lxc/base_setup.sh": "echo mine\n" });
    const q = await plan(own);
    expect(byName(q, "ct-900-feature-base_setup").inputs.params.script).toBe(fs.readFileSync(path.join(repoRoot, "features/lxc/base_setup.sh"), "utf8"));
    expect(sha256(text)).toHaveLength(64);
  }, 60_000);

  it("an application script runs in the Bash protocol when the stack holds phoenix_hypervisor_common_utils.sh", async () => {
    const app = "#!/bin/bash\nsource \"$(dirname \"$0\")/phoenix_hypervisor_common_utils.sh\"\necho \"$1\"\n";
    const edit = (f: Files) => (f.lxc.lxc_configs["900"].application_script = "phoenix_hypervisor_lxc_900.sh");
    const bash = await plan(variant("base", edit, { "phoenix_hypervisor_lxc_900.sh": app, "phoenix_hypervisor_common_utils.sh": "util() { :; }\n" }));
    expect(bash.errors).toEqual([]);
    const step = byName(bash, "ct-900-app");
    const { lxcFile } = loadDist<typeof import("../../providers/lxc/index")>("providers/lxc/index");
    expect(step.inputs.params).toMatchObject({ script: lxcFile("steps/bash_app.sh").text, env_app_name: "phoenix_hypervisor_lxc_900.sh", env_app_ctid: "900", env_app_script: app, env_app_utils: "util() { :; }\n" });
    expect(step.secretInputs).toContain("secretParams");
    expect(Object.keys(step.inputs.secretParams).sort()).toEqual(["env_app_hypervisor_config", "env_app_lxc_configs", "env_app_vm_configs"]);
    expect(JSON.stringify(step.inputs.params)).not.toContain("admin1");
    // Without the utils file: Phoenix's own protocol (the script is the step).
    const own = await plan(variant("base", edit, { "phoenix_hypervisor_lxc_900.sh": app }));
    expect(byName(own, "ct-900-app").inputs.params.script).toBe(app);
  }, 60_000);

  it("VMs: a stack-provided feature lands in the user data; domain_name is the DNS search domain", async () => {
    const text = "#!/usr/bin/env bash\necho user-vm-feature-marker\n";
    const dir = variant(
      "cb3",
      (f) => {
        f.host.domain_name = "lab.example";
        f.vm.vms[1].features = ["base_setup", "hardening"];
      },
      { "features/vm/hardening.sh": text },
    );
    const p = await plan(dir);
    expect(p.errors).toEqual([]);
    const data = JSON.stringify(byName(p, "vm-1001-user-data").inputs.sourceRaw);
    const b64 = Buffer.from(text).toString("base64");
    expect(data.includes("user-vm-feature-marker") || data.includes(b64), "the user's feature is in the user data").toBe(true);
    expect(byName(p, "vm-1001").inputs.initialization.dns).toEqual({ domain: "lab.example" });
  }, 60_000);

  it("cb4 with the portainer feature: the `$` password travels to the VM, in secret user data only", async () => {
    const p = await plan(variant("cb4", (f) => (f.vm.vms[1].features = ["portainer"])));
    expect(p.errors).toEqual([]);
    const userData = byName(p, "vm-1001-user-data");
    expect(userData.secretInputs).toContain("sourceRaw");
    expect(JSON.stringify(userData.inputs.sourceRaw)).toContain(`PORTAINER_ADMIN_PASSWORD=${Buffer.from("p@ss$$word1").toString("base64")}`);
    for (const r of p.resources) {
      for (const [k, v] of Object.entries(r.inputs)) {
        if (r.secretInputs.includes(k)) continue;
        expect((JSON.stringify(v) ?? "").includes("p@ss$$word1"), `${r.name}.${k}`).toBe(false);
      }
    }
  }, 60_000);

  it("trusted_ca: a certificate given as a host path is the host file; trusted_ca_host_path names one", async () => {
    for (const key of ["trusted_ca_cert", "trusted_ca_host_path"]) {
      const p = await plan(variant("s2", (f) => (f.lxc.lxc_configs["900"][key] = "/srv/ssl/root_ca.crt")));
      expect(p.errors).toEqual([]);
      const params = byName(p, "ct-900-feature-trusted_ca").inputs.params;
      expect(params.host_file, key).toBe("/srv/ssl/root_ca.crt");
      expect(params.env_trusted_ca_cert, key).toBeUndefined();
    }
  }, 60_000);

  it("keys ending in _password, _token, _secret or _key travel as secrets", async () => {
    const p = await plan(variant("s2", (f) => (f.lxc.lxc_configs["910"].vllm_api_key = "sk-'$(x)\"")));
    expect(p.errors).toEqual([]);
    const step = byName(p, "ct-910-feature-vllm");
    expect(step.secretInputs).toContain("secretParams");
    expect(step.inputs.secretParams).toEqual({ env_vllm_api_key: "sk-'$(x)\"" });
    expect(step.inputs.params.env_vllm_api_key).toBeUndefined();
  }, 60_000);
});
