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
    expect(byName(s2, "ct-900-lxc-options").inputs.params.options.split("\n")).toEqual(["lxc.cap.keep=sys_admin mknod sys_chroot"]);
    // apparmor_profile unconfined without a raw line: no profile line, Proxmox's generated profile
    // stays in force (the Bash tool's apply_apparmor_profile removed the line for unconfined).
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
    // cb1's container has lxc-options only for its flags and root disk: no bind mount, no volume.
    const cb1 = byName(plans.get("cb1")!, "ct-900-lxc-options").inputs.params;
    expect(cb1.mount_sources).toBe("");
    expect(cb1.volumes).toBe("");
  });

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
    // The container's own slice of the files: its entry and the files' top-level keys.
    const lxc = JSON.parse(step.inputs.secretParams.env_app_lxc_configs);
    expect(Object.keys(lxc.lxc_configs)).toEqual(["900"]);
    expect(lxc.lxc_configs["900"].application_script).toBe("phoenix_hypervisor_lxc_900.sh");
    expect(JSON.parse(step.inputs.secretParams.env_app_hypervisor_config).users).toBeDefined();
    // Without the utils file: Phoenix's own protocol (the script is the step).
    const own = await plan(variant("base", edit, { "phoenix_hypervisor_lxc_900.sh": app }));
    expect(byName(own, "ct-900-app").inputs.params.script).toBe(app);
  }, 60_000);

  it("Bash-era application steps carry their own slice: another guest's edit leaves them unchanged, and they do not grow with the guests", async () => {
    const app = "#!/bin/bash\nsource \"$(dirname \"$0\")/phoenix_hypervisor_common_utils.sh\"\necho \"$1\"\n";
    const extra = { "phoenix_hypervisor_lxc_900.sh": app, "phoenix_hypervisor_common_utils.sh": "util() { :; }\n" };
    /** Base plus `n` more containers like 900, each with the same application script. */
    const stack = (n: number, edit: (f: Files) => void = () => {}) =>
      variant(
        "base",
        (f) => {
          const t = f.lxc.lxc_configs["900"];
          t.application_script = "phoenix_hypervisor_lxc_900.sh";
          for (let i = 0; i < n; i++) {
            f.lxc.lxc_configs[String(910 + i)] = { ...t, name: `app-${i}`, network_config: { ...t.network_config, ip: `192.0.2.${120 + i}/24` } };
          }
          edit(f);
        },
        extra,
      );
    const inputsOf = (p: PlanResult, name: string) => JSON.stringify(byName(p, name).inputs);
    const small = await plan(stack(2));
    const large = await plan(stack(12));
    expect(small.errors).toEqual([]);
    expect(large.errors).toEqual([]);
    // One app step's inputs are the same size with 3 or 13 containers (no other guest in them).
    expect(inputsOf(large, "ct-910-app").length).toBe(inputsOf(small, "ct-910-app").length);
    for (const r of large.resources.filter((x) => x.name.endsWith("-app"))) {
      const lxc = JSON.parse(r.inputs.secretParams.env_app_lxc_configs);
      expect(Object.keys(lxc.lxc_configs), r.name).toEqual([r.name.slice(3, 6)]);
    }
    // Editing container 911 changes 911's app step only.
    const edited = await plan(stack(12, (f) => (f.lxc.lxc_configs["911"].vllm_port = 8123)));
    for (const r of large.resources.filter((x) => x.name.endsWith("-app"))) {
      expect(inputsOf(edited, r.name) === inputsOf(large, r.name), r.name).toBe(r.name !== "ct-911-app");
    }
  }, 120_000);

  it("a health_check naming a .sh script: the stack's health_checks/<name> travels, hashed with the step", async () => {
    const check = "#!/bin/bash\nsystemctl is-active --quiet step-ca.service\n";
    const edit = (f: Files) => (f.lxc.lxc_configs["900"].health_check = { command: "/usr/local/phoenix_hypervisor/bin/health_checks/check_step_ca.sh --verbose", retries: 5, interval: 7 });
    const p = await plan(variant("base", edit, { "health_checks/check_step_ca.sh": check }));
    expect(p.errors).toEqual([]);
    const params = byName(p, "ct-900-health").inputs.params;
    expect(params).toMatchObject({ env_health_script_name: "check_step_ca.sh", env_health_script: check, env_health_args: "--verbose", env_health_retries: "5", env_health_interval: "7" });
    expect(params.env_health_command).toBeUndefined();
    // A changed script changes the step (it runs again).
    const q = await plan(variant("base", edit, { "health_checks/check_step_ca.sh": check + "echo ok\n" }));
    expect(byName(q, "ct-900-health").inputs.params.env_health_script).not.toBe(check);
  }, 60_000);

  it("a custom apparmor_profile: the stack's apparmor/<name> travels to lxc-options with the line and the nesting lines", async () => {
    const profile = "profile lxc-phoenix-v2 flags=(attach_disconnected) {\n}\n";
    const edit = (f: Files) => Object.assign(f.lxc.lxc_configs["900"], { apparmor_profile: "lxc-phoenix-v2", apparmor_manages_nesting: true });
    const p = await plan(variant("base", edit, { "apparmor/lxc-phoenix-v2": profile }));
    expect(p.errors).toEqual([]);
    const params = byName(p, "ct-900-lxc-options").inputs.params;
    expect(params.apparmor).toBe(`lxc-phoenix-v2\n${profile}`);
    expect(params.options.split("\n")).toEqual(["lxc.apparmor.profile=lxc-phoenix-v2", "lxc.apparmor.allow_nesting=1", "lxc.include=/usr/share/lxc/config/nesting.conf"]);
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

  it("trusted_ca: a certificate given as a host path is the host file; trusted_ca_host_path names one (in a folder the stack declares)", async () => {
    for (const key of ["trusted_ca_cert", "trusted_ca_host_path"]) {
      // /tank/iso: a dataset's mount point in s2.
      const p = await plan(variant("s2", (f) => (f.lxc.lxc_configs["900"][key] = "/tank/iso/ssl/root_ca.crt")));
      expect(p.errors).toEqual([]);
      const params = byName(p, "ct-900-feature-trusted_ca").inputs.params;
      expect(params.host_file, key).toBe("/tank/iso/ssl/root_ca.crt");
      expect(params.env_trusted_ca_cert, key).toBeUndefined();
      // A folder the stack does not declare as data is refused with the key the file used.
      const refused = await plan(variant("s2", (f) => (f.lxc.lxc_configs["900"][key] = "/srv/ssl/root_ca.crt")));
      expect(refused.errors.join("\n"), key).toMatch(new RegExp(`\\$\\.lxc_configs\\["900"\\]\\.${key}: /srv/ssl/root_ca\\.crt is copied into the guest`));
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
