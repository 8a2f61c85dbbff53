// The README's migration steps work as written: the copy commands of "Bringing existing Phoenix
// files over" run against a host folder laid out as the Bash tool's (/usr/local/phoenix_hypervisor:
// etc/ with the three files, their schemas and the stacks file, bin/ with the application scripts
// and the utils, bin/health_checks/, etc/apparmor/), and the stack folder they make validates and
// plans with the dev stack's settings, in one pass.
import { execFileSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { ORIGINAL_DIR } from "../config/helpers";
import { byName, planStack } from "../program/plan";

const temp: string[] = [];
afterAll(() => {
  for (const d of temp.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

/** The first ```bash block of the README's "Bringing existing Phoenix files over" section. */
function migrationCommands(): string {
  const readme = fs.readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const section = readme.slice(readme.indexOf("## Bringing existing Phoenix files over"));
  const m = /```bash\n([\s\S]*?)```/.exec(section);
  if (!m) throw new Error("README: no bash block in the migration section");
  return m[1];
}

describe("README: bringing existing Phoenix files over", () => {
  it("the copy commands take the three files and the scripts, not the schemas or the stacks file; the folder validates and plans", async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-readme-migration-"));
    temp.push(root);
    const P = path.join(root, "usr/local/phoenix_hypervisor");
    const S = path.join(root, "stacks/mig");
    for (const d of ["etc/apparmor", "bin/health_checks", "bin/lxc_setup"]) fs.mkdirSync(path.join(P, d), { recursive: true });
    // The sample of the Bash tool's files, with a health check script and a custom profile as later revisions have them.
    const lxc = JSON.parse(fs.readFileSync(path.join(ORIGINAL_DIR, "phoenix_lxc_configs.json"), "utf8"));
    lxc.lxc_configs["952"].health_check = { command: "/usr/local/phoenix_hypervisor/bin/health_checks/check_qdrant.sh", retries: 5, interval: 5 };
    lxc.lxc_configs["951"].apparmor_profile = "lxc-phoenix-v2";
    fs.writeFileSync(path.join(P, "etc/phoenix_lxc_configs.json"), JSON.stringify(lxc, null, 4));
    for (const f of ["phoenix_hypervisor_config.json", "phoenix_vm_configs.json"]) fs.copyFileSync(path.join(ORIGINAL_DIR, f), path.join(P, "etc", f));
    for (const f of ["phoenix_lxc_configs.schema.json", "phoenix_stacks_config.json"]) fs.writeFileSync(path.join(P, "etc", f), "{}\n");
    for (const f of ["phoenix_hypervisor_lxc_101.sh", "phoenix_hypervisor_lxc_955.sh"]) fs.copyFileSync(path.join(ORIGINAL_DIR, f), path.join(P, "bin", f));
    fs.writeFileSync(path.join(P, "bin/phoenix_hypervisor_common_utils.sh"), "log_info() { echo \"$*\"; }\n");
    fs.writeFileSync(path.join(P, "bin/health_checks/check_qdrant.sh"), "#!/bin/bash\ncurl -fs http://localhost:6333\n");
    fs.cpSync(path.join(ORIGINAL_DIR, "tests"), path.join(P, "bin/tests"), { recursive: true });
    fs.writeFileSync(path.join(P, "bin/lxc_setup/phoenix_hypervisor_feature_install_docker.sh"), "#!/bin/bash\npct exec \"$1\" -- true\n");
    fs.writeFileSync(path.join(P, "etc/apparmor/lxc-phoenix-v2"), "#include <tunables/global>\nprofile lxc-phoenix-v2 flags=(attach_disconnected) {\n}\n");

    execFileSync("bash", ["-euo", "pipefail", "-c", migrationCommands()], { cwd: root, env: { ...process.env, P, S } });
    const copied = (dir: string) => fs.readdirSync(dir, { recursive: true }).map(String).sort();
    expect(copied(S)).toEqual([
      "apparmor",
      "apparmor/lxc-phoenix-v2",
      "health_checks",
      "health_checks/check_qdrant.sh",
      "phoenix_hypervisor_common_utils.sh",
      "phoenix_hypervisor_config.json",
      "phoenix_hypervisor_lxc_101.sh",
      "phoenix_hypervisor_lxc_955.sh",
      "phoenix_lxc_configs.json",
      "phoenix_vm_configs.json",
      "tests",
      "tests/health_checks",
      "tests/health_checks/dummy_pass.sh",
    ]);

    const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
    const loaded = loadPhoenixConfig(S);
    expect(loaded.ok ? [] : loaded.errors).toEqual([]);
    // Step 3's settings for what the first validate names: this sample's host firewall drops input
    // without rules for SSH and 8006 from the management network.
    const plan = await planStack({ stack: "dev", configDir: S, config: { "phoenix:firewallLockoutAcknowledged": "true" } });
    expect(plan.errors).toEqual([]);
    expect(byName(plan, "ct-952-health").inputs.params.env_health_script_name).toBe("check_qdrant.sh");
    expect(byName(plan, "ct-951-lxc-options").inputs.params.apparmor.split("\n")[0]).toBe("lxc-phoenix-v2");
    // With the utils beside them, application scripts run in the Bash tool's protocol.
    expect(byName(plan, "ct-101-app").inputs.params.env_app_name).toBe("phoenix_hypervisor_lxc_101.sh");
  }, 120_000);
});
