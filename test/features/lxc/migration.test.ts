// Scripts written for the Bash orchestrator, and the migration behaviours of Phoenix's own
// features, run for real in emulated containers through the host runner (run_in_container.sh):
// the application-script protocol (/tmp/phoenix_run), vllm without a model, trusted_ca from a
// host file, and tests.health_checks failures as warnings.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { repoRoot } from "../../load";
import { emulated, type Emulated } from "./container";

describe("migration: Bash-era scripts and features in emulated containers", () => {
  let e: Emulated;
  let next = 600;
  let tmp: string;
  beforeAll(() => {
    e = emulated();
    tmp = mkdtempSync(path.join(os.tmpdir(), "phoenix-migration-"));
  });
  afterAll(() => {
    e?.cleanup();
    if (tmp) rmSync(tmp, { recursive: true, force: true });
  });

  /** Runs `scriptFile` as step `step` through the host runner; `raw` adds host-side variables (PHOENIX_HOST_FILE). */
  async function step(ctid: number, name: string, scriptFile: string, env: Record<string, string>, raw: Record<string, string> = {}) {
    const extra: Record<string, string> = {
      PHOENIX_ACTION: "apply",
      PHOENIX_CTID: String(ctid),
      PHOENIX_STEP: name,
      PHOENIX_SCRIPT: readFileSync(path.join(repoRoot, scriptFile), "utf8"),
      PHOENIX_LIBRARY: readFileSync(path.join(repoRoot, "features/lxc/lib/common.sh"), "utf8"),
      ...raw,
    };
    for (const [k, v] of Object.entries(env)) extra[`PHOENIX_ENV_${k.toUpperCase()}`] = v;
    const r = await e.run("bash", ["-euo", "pipefail", e.runner], extra);
    const line = r.stdout.split("\n").reverse().find((l) => l.startsWith("PHOENIX_RESULT "));
    return { ...r, result: line ? JSON.parse(line.slice("PHOENIX_RESULT ".length)) : undefined };
  }
  async function fresh() {
    const ctid = next++;
    await e.container(ctid);
    return ctid;
  }

  it("an application script runs as /tmp/phoenix_run/<script> <CTID> beside the utils and the three JSON files", async () => {
    const ctid = await fresh();
    const app = [
      "#!/bin/bash",
      "set -e",
      'source "$(dirname "$0")/phoenix_hypervisor_common_utils.sh"',
      'grep -q "\\"lxc_configs\\"" "$(dirname "$0")/phoenix_lxc_configs.json"',
      'grep -q "\\"users\\"" phoenix_hypervisor_config.json',
      'echo "ctid=$1 pwd=$(pwd) util=$(util_hello) args=$#" > /root/app-ran',
    ].join("\n");
    const r = await step(ctid, "app", "features/lxc/steps/bash_app.sh", {
      app_name: "phoenix_hypervisor_lxc_900.sh",
      app_ctid: String(ctid),
      app_script: app,
      app_utils: "util_hello() { echo hi; }\n",
      app_hypervisor_config: '{"users": {"username": "a"}}',
      app_lxc_configs: '{"lxc_configs": {}}',
      app_vm_configs: '{"vms": []}',
    });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(e.rootfs(ctid), "root/app-ran"), "utf8")).toBe(`ctid=${ctid} pwd=/tmp/phoenix_run util=hi args=1\n`);
    for (const f of ["phoenix_hypervisor_lxc_900.sh", "phoenix_hypervisor_common_utils.sh", "phoenix_hypervisor_config.json", "phoenix_lxc_configs.json", "phoenix_vm_configs.json"]) {
      expect(existsSync(path.join(e.rootfs(ctid), "tmp/phoenix_run", f)), f).toBe(true);
    }
  });

  it("parameters are data: `$`, quotes, backticks and spaces reach a stack feature exactly", async () => {
    const ctid = await fresh();
    const hostile = "p@ss$$word1 'a' \"b\" $(touch /pwned) `touch /pwned2` ${HOME}";
    const feature = path.join(tmp, "dns_server.sh");
    writeFileSync(feature, '#!/usr/bin/env bash\nset -euo pipefail\nprintf \'%s\' "$PHOENIX_DNS_SERVER_ADMIN_PASSWORD" > /root/param\n');
    const extra: Record<string, string> = {
      PHOENIX_ACTION: "apply",
      PHOENIX_CTID: String(ctid),
      PHOENIX_STEP: "feature-dns_server",
      PHOENIX_SCRIPT: readFileSync(feature, "utf8"),
      PHOENIX_LIBRARY: readFileSync(path.join(repoRoot, "features/lxc/lib/common.sh"), "utf8"),
      PHOENIX_ENV_DNS_SERVER_ADMIN_PASSWORD: hostile,
    };
    const r = await e.run("bash", ["-euo", "pipefail", e.runner], extra);
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(e.rootfs(ctid), "root/param"), "utf8")).toBe(hostile);
    expect(existsSync(path.join(e.rootfs(ctid), "pwned")) || existsSync(path.join(e.rootfs(ctid), "pwned2"))).toBe(false);
  });

  it("a failing application script fails the step", async () => {
    const ctid = await fresh();
    const r = await step(ctid, "app", "features/lxc/steps/bash_app.sh", { app_name: "x.sh", app_ctid: String(ctid), app_script: "#!/bin/bash\nexit 3\n", app_utils: "#\n" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("step app in CT");
  });

  it("vllm with vllm_engine_config and no vllm_model installs vLLM and serves nothing", async () => {
    const ctid = await fresh();
    const config = JSON.stringify({ ModelConfig: { model: "org/model" } });
    const r = await step(ctid, "feature-vllm", "features/lxc/vllm.sh", { vllm_engine_config: config });
    expect(r.code, r.stderr).toBe(0);
    expect(e.calls(ctid)).toContain("pip install --quiet vllm");
    expect(readFileSync(path.join(e.rootfs(ctid), "etc/vllm/engine_config.json"), "utf8")).toBe(config + "\n");
    expect(existsSync(path.join(e.rootfs(ctid), "etc/systemd/system/vllm.service"))).toBe(false);
  });

  /** A real self-signed certificate (PEM) and its private key, made by openssl. */
  const certificate = (name: string) => {
    const key = path.join(tmp, `${name}.key`);
    const crt = path.join(tmp, `${name}.crt`);
    const r = spawnSync("openssl", ["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", crt, "-subj", `/CN=${name}`, "-days", "2"], { encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    return { pem: readFileSync(crt, "utf8"), key: readFileSync(key, "utf8") };
  };

  it("trusted_ca takes the certificate from a file on the host; a changed file changes the step's hash", async () => {
    const ctid = await fresh();
    const { pem } = certificate("phoenix-root");
    const file = path.join(tmp, "phoenix_root_ca.crt");
    writeFileSync(file, pem);
    const r = await step(ctid, "feature-trusted_ca", "features/lxc/trusted_ca.sh", {}, { PHOENIX_HOST_FILE: file });
    expect(r.code, r.stderr).toBe(0);
    expect(readFileSync(path.join(e.rootfs(ctid), "usr/local/share/ca-certificates/phoenix-root-ca.crt"), "utf8")).toBe(pem);
    writeFileSync(file, certificate("phoenix-root-2").pem);
    const read = await step(ctid, "feature-trusted_ca", "features/lxc/trusted_ca.sh", {}, { PHOENIX_HOST_FILE: file, PHOENIX_ACTION: "read" });
    expect(read.result).toMatchObject({ present: true, matches: false });
  });

  it("a host file is copied into a guest only when it is PEM certificates: a key, a bundle with a key, /etc/shadow-like text or a symlink are refused on the host", async () => {
    const ctid = await fresh();
    const { pem, key } = certificate("hostile");
    const bad: [string, string | { link: string }][] = [
      ["key.pem", key],
      ["bundle.pem", pem + key],
      ["shadow.crt", "root:$6$salt$hash:19000:0:99999:7:::\n"],
      ["fake.crt", "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----\n"],
      ["trailing.crt", pem + "ssh-ed25519 AAAAC3Nza secret@host\n"],
      ["link.crt", { link: path.join(tmp, "hostile.key") }],
    ];
    let refused = 0;
    for (const [name, content] of bad) {
      const file = path.join(tmp, name);
      if (typeof content === "string") writeFileSync(file, content);
      else symlinkSync(content.link, file);
      const r = await step(ctid, "feature-trusted_ca", "features/lxc/trusted_ca.sh", {}, { PHOENIX_HOST_FILE: file });
      if (r.code !== 0 && /host file .* is not (PEM certificates only|a regular file)/.test(r.stderr)) refused++;
      expect(r.code, name).not.toBe(0);
      expect(r.stderr, name).toMatch(/host file .* is not (PEM certificates only|a regular file)/);
      expect(existsSync(path.join(e.rootfs(ctid), "usr/local/share/ca-certificates/phoenix-root-ca.crt")), name).toBe(false);
    }
    console.log(`host files into guests: ${refused}/${bad.length} hostile files refused on the host`);
    // A chain of two certificates is fine.
    const chain = path.join(tmp, "chain.crt");
    writeFileSync(chain, pem + "\n" + certificate("intermediate").pem);
    const ok = await step(ctid, "feature-trusted_ca", "features/lxc/trusted_ca.sh", {}, { PHOENIX_HOST_FILE: chain });
    expect(ok.code, ok.stderr).toBe(0);
  });

  it("trusted_ca with a host file that does not exist fails with the path", async () => {
    const ctid = await fresh();
    const r = await step(ctid, "feature-trusted_ca", "features/lxc/trusted_ca.sh", {}, { PHOENIX_HOST_FILE: path.join(tmp, "missing.crt") });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain(`host file ${path.join(tmp, "missing.crt")} does not exist`);
  });

  it("a failing tests.health_checks script is a warning with its output; a failing health_check fails the step", async () => {
    const ctid = await fresh();
    const warned = await step(ctid, "health", "features/lxc/steps/health.sh", {
      check_1_name: "models endpoint",
      check_1_script: "echo 'no models loaded'\nexit 1\n",
      check_2_name: "ok",
      check_2_script: "exit 0\n",
    });
    expect(warned.code, warned.stderr).toBe(0);
    expect(Buffer.from(warned.result.warnings, "base64").toString("utf8")).toBe(
      "health check 'models endpoint' failed (tests.health_checks): no models loaded\n",
    );
    const failed = await step(ctid, "health2", "features/lxc/steps/health.sh", { health_command: "false", health_retries: "2", health_interval: "0" });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain("health check 'false' failed after 2 attempts");
  });

  it("a health_check naming a .sh script runs the stack's script inside the container with its arguments, retried", async () => {
    const ctid = await fresh();
    // Fails on the first attempt, passes on the second: the block's retries apply to the script.
    const script = [
      "#!/bin/bash",
      "n=$(cat /root/hc-count 2>/dev/null || echo 0); n=$((n + 1)); echo $n > /root/hc-count",
      'echo "args=$* self=$0" > /root/hc-ran',
      '[ "$n" -ge 2 ] || { echo "not yet"; exit 10; }',
    ].join("\n");
    const env = { health_script_name: "check_step_ca.sh", health_script: script, health_args: "--port 9000", health_retries: "3", health_interval: "0" };
    const ok = await step(ctid, "health", "features/lxc/steps/health.sh", env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(readFileSync(path.join(e.rootfs(ctid), "root/hc-count"), "utf8")).toBe("2\n");
    const ran = readFileSync(path.join(e.rootfs(ctid), "root/hc-ran"), "utf8");
    expect(ran).toMatch(/^args=--port 9000 self=\/tmp\/[^ ]+\/check_step_ca\.sh\n$/);
    // The pushed copy is gone after the run.
    const self = ran.trim().split("self=")[1];
    expect(existsSync(path.join(e.rootfs(ctid), self))).toBe(false);
    // Out of retries: the step fails naming the script.
    const failed = await step(ctid, "health2", "features/lxc/steps/health.sh", { ...env, health_script: "#!/bin/sh\necho broken\nexit 3\n", health_retries: "2" });
    expect(failed.code).not.toBe(0);
    expect(failed.stderr).toContain("broken");
    expect(failed.stderr).toContain("health check 'check_step_ca.sh --port 9000' failed after 2 attempts");
  });
});
