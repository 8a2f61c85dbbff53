// The container feature scripts, run for real inside emulated containers (chroot root
// filesystems of the `pct` emulator) through the host wrapper, with stand-in apt-get, curl,
// systemctl, pip, python3, docker that record their calls. Each feature: the first run does the
// expected work; a second run changes no file and makes no changing call. Plus shellcheck over
// every script of features/lxc, the emulator and the stand-ins.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, readlinkSync } from "node:fs";
import * as path from "node:path";
import { repoRoot } from "../../load";
import { changingCalls, emulated, putFile, type Emulated } from "./container";

function shellFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? shellFiles(path.join(dir, e.name)) : e.name.endsWith(".sh") ? [path.join(dir, e.name)] : [],
  );
}

describe("shellcheck", () => {
  it("passes on every features/lxc script, the pct emulator and the stand-in tools", () => {
    const files = [
      ...shellFiles(path.join(repoRoot, "features/lxc")),
      path.join(repoRoot, "test/host/emulator/pct"),
      path.join(repoRoot, "test/host/emulator/lib.sh"),
    ];
    expect(files.length).toBeGreaterThan(15);
    // Throws with shellcheck's report when a file has findings.
    execFileSync("shellcheck", ["-x", "-f", "gcc", ...files], { cwd: repoRoot, encoding: "utf8" });
    const stubs = path.join(repoRoot, "test/features/lxc/stubs");
    execFileSync("shellcheck", ["-s", "bash", "-e", "SC1091,SC2016,SC2059", ...readdirSync(stubs).map((f) => path.join(stubs, f))], { encoding: "utf8" });
  });
});

describe("container features in emulated containers", () => {
  let e: Emulated;
  let next = 200;
  beforeAll(() => {
    e = emulated();
  });
  afterAll(() => e?.cleanup());

  /**
   * Runs feature `name` twice in a fresh container; returns the first run's calls. The second
   * run must succeed, change no file and make no changing call.
   */
  async function twice(name: string, env: Record<string, string>, setup?: (ctid: number) => void) {
    const ctid = next++;
    await e.container(ctid);
    setup?.(ctid);
    const first = await e.step(ctid, "apply", `feature-${name}`, `features/lxc/${name}.sh`, env);
    expect(first.code, first.stderr).toBe(0);
    expect(first.result).toMatchObject({ present: true, ctid: String(ctid), step: `feature-${name}`, matches: true });
    const calls = e.calls(ctid);
    const files = e.snapshot(ctid);
    const second = await e.step(ctid, "apply", `feature-${name}`, `features/lxc/${name}.sh`, env);
    expect(second.code, second.stderr).toBe(0);
    const newCalls = e.calls(ctid).slice(calls.length);
    expect(changingCalls(newCalls), `second run of ${name} makes no changing call`).toEqual([]);
    expect(e.snapshot(ctid), `second run of ${name} changes no file`).toEqual(files);
    return { ctid, calls, first };
  }

  it("base_setup installs the base packages and sets the timezone", async () => {
    const { ctid, calls } = await twice("base_setup", { timezone: "America/New_York" });
    expect(calls).toContain("apt-get update -qq");
    expect(calls).toContain("apt-get install -y -qq --no-install-recommends ca-certificates curl gnupg locales");
    expect(readlinkSync(path.join(e.rootfs(ctid), "etc/localtime"))).toBe("/usr/share/zoneinfo/America/New_York");
    expect(readFileSync(path.join(e.rootfs(ctid), "etc/timezone"), "utf8")).toBe("America/New_York\n");
  });

  it("nvidia installs the host's driver version in user space only (--no-kernel-module)", async () => {
    const version = "580.76.05";
    const runfile = `#!/bin/sh\necho "runfile $*" >>/var/log/stub-calls.log\nprintf '#!/bin/sh\\necho ${version}\\n' >/usr/bin/nvidia-smi\nchmod 755 /usr/bin/nvidia-smi\n`;
    const { ctid, calls } = await twice(
      "nvidia",
      { nvidia_version: version, nvidia_runfile_url: `https://us.download.nvidia.com/XFree86/Linux-x86_64/${version}/NVIDIA-Linux-x86_64-${version}.run` },
      (id) => {
        putFile(e, id, `var/lib/stubs/curl-files/NVIDIA-Linux-x86_64-${version}.run`, runfile);
        // The host's loaded kernel module, as the container sees it (the host kernel's sysfs).
        putFile(e, id, "sys/module/nvidia/version", `${version}\n`);
      },
    );
    expect(calls.some((c) => c.startsWith("curl ") && c.includes(`NVIDIA-Linux-x86_64-${version}.run`))).toBe(true);
    const run = calls.find((c) => c.startsWith("runfile "));
    expect(run).toContain("--no-kernel-module");
    expect(run).toContain("--silent");
    expect(readFileSync(path.join(e.rootfs(ctid), "var/lib/phoenix/nvidia-userspace-version"), "utf8")).toBe(`${version}\n`);
  });

  it("nvidia refuses user space that does not match the host's loaded kernel module: the host must reboot first", async () => {
    const version = "580.76.05";
    const env = { nvidia_version: version, nvidia_runfile_url: `https://us.download.nvidia.com/XFree86/Linux-x86_64/${version}/NVIDIA-Linux-x86_64-${version}.run` };
    // The host installed 580.76.05 but still runs 570.86.16 until it reboots.
    const stale = next++;
    await e.container(stale);
    putFile(e, stale, "sys/module/nvidia/version", "570.86.16\n");
    const r = await e.step(stale, "apply", "feature-nvidia", "features/lxc/nvidia.sh", env);
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("the host runs NVIDIA kernel module 570.86.16, not 580.76.05: reboot the host first");
    expect(e.calls(stale).filter((c) => c.startsWith("curl ") || c.startsWith("runfile "))).toEqual([]);
    // No module loaded at all (driver installed, host not rebooted yet).
    const none = next++;
    await e.container(none);
    const r2 = await e.step(none, "apply", "feature-nvidia", "features/lxc/nvidia.sh", env);
    expect(r2.code).not.toBe(0);
    expect(r2.stderr).toContain("the host has no NVIDIA kernel module loaded");
  });

  it("docker installs docker.io and enables the service", async () => {
    const { ctid, calls } = await twice("docker", {});
    expect(calls).toContain("apt-get install -y -qq --no-install-recommends docker.io");
    expect(calls).toContain("systemctl enable docker.service");
    expect(calls).toContain("systemctl start docker.service");
    // No GPU: no NVIDIA toolkit.
    expect(calls.filter((c) => /nvidia/.test(c))).toEqual([]);
    expect(existsSync(path.join(e.rootfs(ctid), "etc/docker/daemon.json"))).toBe(false);
  });

  it("docker in an unprivileged GPU container: the NVIDIA Container Toolkit from NVIDIA's repository, Docker's default runtime, no-cgroups", async () => {
    const { ctid, calls } = await twice("docker", { docker_gpus: "1", docker_no_cgroups: "1" });
    const file = (rel: string) => readFileSync(path.join(e.rootfs(ctid), rel), "utf8");
    expect(calls).toContain("curl -fsSL --retry 3 -o /usr/share/keyrings/nvidia-container-toolkit-keyring.asc.part https://nvidia.github.io/libnvidia-container/gpgkey");
    expect(file("etc/apt/sources.list.d/nvidia-container-toolkit.list")).toBe(
      "deb [signed-by=/usr/share/keyrings/nvidia-container-toolkit-keyring.asc] https://nvidia.github.io/libnvidia-container/stable/deb/$(ARCH) /\n",
    );
    // The list is new: apt-get update again before the toolkit is installed.
    const toolkit = calls.indexOf("apt-get install -y -qq --no-install-recommends nvidia-container-toolkit");
    expect(toolkit).toBeGreaterThan(0);
    expect(calls.slice(0, toolkit).lastIndexOf("apt-get update -qq")).toBeGreaterThan(calls.indexOf("apt-get install -y -qq --no-install-recommends docker.io"));
    expect(calls).toContain("nvidia-ctk runtime configure --runtime=docker --set-as-default");
    expect(calls).toContain("nvidia-ctk config --set nvidia-container-cli.no-cgroups=true --in-place");
    expect(JSON.parse(file("etc/docker/daemon.json"))).toEqual({ "default-runtime": "nvidia", runtimes: { nvidia: { args: [], path: "nvidia-container-runtime" } } });
    expect(file("etc/nvidia-container-runtime/config.toml")).toMatch(/^\[nvidia-container-cli\]\n(?:[^[\n].*\n)*no-cgroups = true\n/m);
    expect(calls).toContain("systemctl start docker.service");
  });

  it("docker in a privileged GPU container keeps the toolkit's cgroup handling; a changed setting restarts Docker", async () => {
    const { ctid, calls } = await twice("docker", { docker_gpus: "1", docker_no_cgroups: "0" });
    expect(calls).toContain("nvidia-ctk runtime configure --runtime=docker --set-as-default");
    expect(calls.filter((c) => c.startsWith("nvidia-ctk config"))).toEqual([]);
    // The container turns unprivileged (a changed setting): no-cgroups goes on and Docker restarts.
    const before = e.calls(ctid).length;
    const again = await e.step(ctid, "apply", "feature-docker", "features/lxc/docker.sh", { docker_gpus: "1", docker_no_cgroups: "1" });
    expect(again.code, again.stderr).toBe(0);
    const after = e.calls(ctid).slice(before);
    expect(after).toContain("nvidia-ctk config --set nvidia-container-cli.no-cgroups=true --in-place");
    expect(after).toContain("systemctl restart docker.service");
  });

  it("vllm builds its systemd service from the vllm_* keys; a changed key restarts it", async () => {
    const env = {
      vllm_model: "Qwen/Qwen2.5-7B-Instruct-AWQ",
      vllm_served_model_name: "qwen2.5-7b-awq",
      vllm_quantization: "awq",
      vllm_max_model_len: "4096",
      vllm_gpu_memory_utilization: "0.9",
      vllm_tensor_parallel_size: "1",
      vllm_trust_remote_code: "true",
      vllm_port: "8000",
      vllm_args: "--quantization\nawq\n--max-model-len\n4096\n--served-model-name\nqwen2.5-7b-awq",
    };
    const { ctid, calls } = await twice("vllm", env);
    expect(calls).toContain("python3 -m venv /opt/vllm");
    expect(calls).toContain("pip install --quiet vllm");
    expect(calls).toContain("systemctl enable vllm.service");
    const unit = readFileSync(path.join(e.rootfs(ctid), "etc/systemd/system/vllm.service"), "utf8");
    // Keys already given in vllm_args are not repeated.
    expect(unit).toContain(
      'ExecStart=/opt/vllm/bin/vllm "serve" "Qwen/Qwen2.5-7B-Instruct-AWQ" "--host" "0.0.0.0" "--port" "8000" "--gpu-memory-utilization" "0.9" "--tensor-parallel-size" "1" "--trust-remote-code" "--quantization" "awq" "--max-model-len" "4096" "--served-model-name" "qwen2.5-7b-awq"\n',
    );
    const before = e.calls(ctid).length;
    const changed = await e.step(ctid, "apply", "feature-vllm", "features/lxc/vllm.sh", { ...env, vllm_port: "8001" });
    expect(changed.code, changed.stderr).toBe(0);
    const after = changingCalls(e.calls(ctid).slice(before));
    expect(after).toEqual(["systemctl daemon-reload", "systemctl restart vllm.service"]);
  });

  it("vllm keeps hostile values as data: quotes, $(), backticks and % land in the unit literally", async () => {
    const ctid = next++;
    await e.container(ctid);
    const hostile = `x'; touch /pwned1; '$(touch /pwned2)\`touch /pwned3\`"%h`;
    const r = await e.step(ctid, "apply", "feature-vllm", "features/lxc/vllm.sh", { vllm_model: "m", vllm_served_model_name: hostile });
    expect(r.code, r.stderr).toBe(0);
    for (const f of ["pwned1", "pwned2", "pwned3"]) expect(existsSync(path.join(e.rootfs(ctid), f))).toBe(false);
    const unit = readFileSync(path.join(e.rootfs(ctid), "etc/systemd/system/vllm.service"), "utf8");
    expect(unit).toContain(`"--served-model-name" "x'; touch /pwned1; '$$(touch /pwned2)\`touch /pwned3\`\\"%%h"`);
  });

  it("vllm refuses a value with a line break instead of letting it add a unit directive", async () => {
    const ctid = next++;
    await e.container(ctid);
    const r = await e.step(ctid, "apply", "feature-vllm", "features/lxc/vllm.sh", { vllm_model: "m", vllm_served_model_name: "x\nExecStartPre=/bin/touch /pwned" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("contains a line break");
    expect(existsSync(path.join(e.rootfs(ctid), "etc/systemd/system/vllm.service"))).toBe(false);
  });

  it("refuses values that tools would read as options (pip, curl, ollama, vllm)", async () => {
    const ctid = next++;
    await e.container(ctid);
    const cases: Array<[string, Record<string, string>, string]> = [
      ["python_api_service", { python_api_packages: "fastapi\n--index-url=http://evil.example/simple" }, "invalid package '--index-url=http://evil.example/simple'"],
      ["trusted_ca", { trusted_ca_url: "-o/etc/passwd" }, "not an http(s) URL"],
      ["ollama", { ollama_models: "--insecure" }, "invalid model name"],
      ["vllm", { vllm_model: "--trust-remote-code" }, "invalid vllm_model"],
      ["nvidia", { nvidia_version: "580.76.05", nvidia_runfile_url: "--output=/etc/shadow" }, "not an http(s) URL"],
    ];
    for (const [feature, env, message] of cases) {
      const r = await e.step(ctid, "apply", `feature-${feature}`, `features/lxc/${feature}.sh`, env);
      expect(r.code, feature).not.toBe(0);
      expect(r.stderr, feature).toContain(message);
    }
    expect(e.calls(ctid).filter((c) => /evil|shadow|passwd|--insecure|--trust-remote-code/.test(c))).toEqual([]);
  });

  it("ollama runs the official installer once, listens on all interfaces and pulls models", async () => {
    const ollama = `#!/bin/bash\necho "ollama $*" >>/var/log/stub-calls.log\nmkdir -p /var/lib/stubs/ollama\ncase $1 in pull) touch "/var/lib/stubs/ollama/$2";; list) echo "NAME ID SIZE"; ls /var/lib/stubs/ollama;; esac\n`;
    const installer = `#!/bin/sh\necho "ollama-installer OLLAMA_VERSION=$OLLAMA_VERSION" >>/var/log/stub-calls.log\nprintf '%s' '${ollama.replace(/'/g, `'\\''`)}' >/usr/local/bin/ollama\nchmod 755 /usr/local/bin/ollama\n`;
    const { ctid, calls } = await twice("ollama", { ollama_port: "11434", ollama_models: "llama3.1:8b" }, (id) => putFile(e, id, "var/lib/stubs/curl-files/install.sh", installer));
    expect(calls).toContain("ollama-installer OLLAMA_VERSION=");
    expect(calls).toContain("systemctl enable ollama.service");
    expect(calls).toContain("ollama pull llama3.1:8b");
    expect(readFileSync(path.join(e.rootfs(ctid), "etc/systemd/system/ollama.service.d/phoenix.conf"), "utf8")).toContain('Environment="OLLAMA_HOST=0.0.0.0:11434"');
  });

  it("portainer runs the server container once; role none does nothing", async () => {
    const { calls } = await twice("portainer", { portainer_role: "server" });
    expect(calls.find((c) => c.startsWith("docker run"))).toBe(
      "docker run -d --name portainer --restart=always -p 9443:9443 -p 8000:8000 -v /var/run/docker.sock:/var/run/docker.sock -v portainer_data:/data portainer/portainer-ce:lts",
    );
    const none = await twice("portainer", { portainer_role: "none" });
    expect(none.calls).toEqual([]);
  });

  it("python_api_service prepares a virtualenv with fastapi and uvicorn", async () => {
    const { calls } = await twice("python_api_service", {});
    expect(calls).toContain("python3 -m venv /opt/python-api");
    expect(calls).toContain("pip install --quiet fastapi");
    expect(calls).toContain("pip install --quiet uvicorn");
  });

  it("trusted_ca installs the root certificate and updates the trust store once", async () => {
    const pem = "-----BEGIN CERTIFICATE-----\nMIIBfake\n-----END CERTIFICATE-----";
    const { ctid, calls } = await twice("trusted_ca", { trusted_ca_cert: pem });
    expect(calls.filter((c) => c.startsWith("update-ca-certificates"))).toHaveLength(1);
    expect(readFileSync(path.join(e.rootfs(ctid), "usr/local/share/ca-certificates/phoenix-root-ca.crt"), "utf8")).toBe(pem + "\n");
  });

  it("step_cli installs the release package of the wanted version", async () => {
    const { calls } = await twice("step_cli", { step_cli_version: "0.28.6" });
    expect(calls).toContain("apt-get install -y -qq /var/cache/phoenix/step-cli_0.28.6_amd64.deb");
  });

  it("step_ca installs step-ca and its unit, and waits for `step ca init` before starting", async () => {
    const { ctid, calls } = await twice("step_ca", { step_ca_version: "0.28.3" }, (id) => putFile(e, id, "usr/bin/step", "#!/bin/sh\n", 0o755));
    expect(calls).toContain("apt-get install -y -qq /var/cache/phoenix/step-ca_0.28.3_amd64.deb");
    expect(calls.some((c) => c.startsWith("systemctl start"))).toBe(false);
    expect(existsSync(path.join(e.rootfs(ctid), "etc/systemd/system/step-ca.service"))).toBe(true);
    // The step CLI was there: not installed again.
    expect(calls.some((c) => c.includes("step-cli"))).toBe(false);
  });

  it("step_ca alone installs the step CLI it needs, once", async () => {
    const { calls } = await twice("step_ca", { step_ca_version: "0.28.3" });
    expect(calls).toContain("apt-get install -y -qq /var/cache/phoenix/step-cli_0.28.6_amd64.deb");
    expect(calls).toContain("apt-get install -y -qq /var/cache/phoenix/step-ca_0.28.3_amd64.deb");
    expect(calls.indexOf("apt-get install -y -qq /var/cache/phoenix/step-cli_0.28.6_amd64.deb")).toBeLessThan(calls.indexOf("apt-get install -y -qq /var/cache/phoenix/step-ca_0.28.3_amd64.deb"));
  });

  it("traefik installs the release binary, its configuration and service", async () => {
    const version = "3.3.4";
    const { ctid, calls } = await twice("traefik", { traefik_version: version }, (id) => {
      const work = path.join(e.dir, `traefik-${id}`);
      execFileSync("sh", ["-c", `mkdir -p ${work} && printf '#!/bin/sh\\necho traefik ${version}\\n' > ${work}/traefik && chmod 755 ${work}/traefik && tar -czf ${work}/t.tgz -C ${work} traefik`]);
      putFile(e, id, `var/lib/stubs/curl-files/traefik_v${version}_linux_amd64.tar.gz`, readFileSync(`${work}/t.tgz`));
    });
    expect(calls).toContain("systemctl enable traefik.service");
    expect(existsSync(path.join(e.rootfs(ctid), "usr/local/bin/traefik"))).toBe(true);
    expect(readFileSync(path.join(e.rootfs(ctid), "etc/traefik/traefik.yml"), "utf8")).toContain("directory: /etc/traefik/dynamic");
  });

  it("the health step retries the command, runs the extra checks, and fails with the output", async () => {
    const ctid = next++;
    await e.container(ctid);
    const check = readFileSync(path.join(repoRoot, "features/lxc/tests/vllm/check_models.sh"), "utf8");
    const env = { health_command: "curl -s --fail http://localhost:8000/health", health_retries: "3", health_interval: "0", check_1_name: "vLLM models endpoint", check_1_script: check, vllm_port: "8000" };
    const ok = await e.step(ctid, "apply", "health", "features/lxc/steps/health.sh", env);
    expect(ok.code, ok.stderr).toBe(0);
    expect(ok.stderr).toContain("health check 'vLLM models endpoint' passed");
    expect(e.calls(ctid)).toEqual(["curl -s --fail http://localhost:8000/health", "curl -fsS http://localhost:8000/v1/models"]);
    const read = await e.step(ctid, "read", "health", "features/lxc/steps/health.sh", env);
    expect(read.result).toMatchObject({ present: true, matches: true });

    putFile(e, ctid, "var/lib/stubs/curl-fail", "");
    const bad = await e.step(ctid, "apply", "health", "features/lxc/steps/health.sh", env);
    expect(bad.code).not.toBe(0);
    expect(bad.stderr).toContain("The requested URL returned error: 503");
    expect(bad.stderr).toContain("failed after 3 attempts");
    expect(e.calls(ctid).slice(2)).toEqual(Array(3).fill("curl -s --fail http://localhost:8000/health"));
  });

  it("a failing feature fails the step with its output; read then reports the step absent", async () => {
    const ctid = next++;
    await e.container(ctid);
    // (vllm without vllm_model installs vLLM only: see migration.test.ts; trusted_ca needs a source.)
    const r = await e.step(ctid, "apply", "feature-trusted_ca", "features/lxc/trusted_ca.sh", {});
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("trusted_ca needs trusted_ca_cert, trusted_ca_url or trusted_ca_host_path");
    expect(r.stderr).toContain(`step feature-trusted_ca in CT ${ctid} failed`);
    expect((await e.step(ctid, "read", "feature-trusted_ca", "features/lxc/trusted_ca.sh", {})).result).toEqual({ present: false });
  });

  it("a stopped container (a template after its snapshot) is started to run a step", async () => {
    const ctid = next++;
    await e.container(ctid);
    expect((await e.run("pct", ["stop", String(ctid)])).code).toBe(0);
    const r = await e.step(ctid, "apply", "feature-docker", "features/lxc/docker.sh", {});
    expect(r.code, r.stderr).toBe(0);
    expect((await e.run("pct", ["status", String(ctid)])).stdout).toBe("status: running\n");
  });
});
