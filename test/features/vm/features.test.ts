// VM feature scripts and first boot: shellcheck, code shared with the containers, and the user
// data's first-boot runner really run (in a throwaway root, with the containers' stand-in apt-get,
// systemctl, dpkg-query... recording their calls), from the user data Phoenix builds.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { execFileSync, spawnSync } from "node:child_process";
import { lstatSync, readdirSync, readFileSync, realpathSync } from "node:fs";
import * as path from "node:path";
import { parse } from "yaml";
import { loadDist, repoRoot } from "../../load";
import { startThrowawayRoot, type ThrowawayRoot } from "../hypervisor/root";

const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
const cloudInit = loadDist<typeof import("../../../infra/components/cloud-init")>("infra/components/cloud-init");
const vmComponent = loadDist<typeof import("../../../infra/components/vm")>("infra/components/vm");
const config = loadDist<typeof import("../../../infra/config/load")>("infra/config/load");

const vmDir = path.join(repoRoot, "features", "vm");

function vmScripts(): string[] {
  const top = readdirSync(vmDir).filter((f) => f.endsWith(".sh")).map((f) => path.join(vmDir, f));
  const shell = (dir: string) => readdirSync(path.join(vmDir, dir)).filter((f) => f.endsWith(".sh")).map((f) => path.join(vmDir, dir, f));
  return [...top, ...shell("host"), ...shell("host/lib")];
}

describe("features/vm scripts", () => {
  it("are shellcheck-clean (shared scripts checked where they live, so their sources resolve)", () => {
    const files = [...new Set(vmScripts().map((f) => realpathSync(f)))];
    expect(files.length).toBeGreaterThanOrEqual(9);
    // The Proxmox emulator's qm (test code, but shell all the same).
    files.push(path.join(repoRoot, "test", "host", "emulator", "qm"));
    const r = spawnSync("shellcheck", ["-x", ...files], { encoding: "utf8" });
    expect(r.stdout + r.stderr).toBe("");
    expect(r.status).toBe(0);
  });

  it("cover every VM feature, sharing the container script wherever the logic is the same", () => {
    for (const name of registry.VM_FEATURES) {
      const file = path.join(vmDir, `${name}.sh`);
      const container = path.join(repoRoot, "features", "lxc", `${name}.sh`);
      if (name === "nvidia") {
        // A VM runs its own kernel: the driver's kernel module is built there (DKMS); a container
        // installs user space only. Different logic, so a script of its own.
        expect(lstatSync(file).isSymbolicLink()).toBe(false);
        expect(readFileSync(file, "utf8")).toContain("--dkms");
      } else {
        expect(lstatSync(file).isSymbolicLink(), `${name}.sh links to the container feature`).toBe(true);
        expect(realpathSync(file)).toBe(realpathSync(container));
      }
      expect(registry.featureScript("vm", name).text.length).toBeGreaterThan(0);
    }
  });
});

describe("user data and first boot (throwaway root)", () => {
  let root: ThrowawayRoot;
  beforeAll(async () => {
    root = await startThrowawayRoot();
    // The containers' stand-ins record every call in /var/log/stub-calls.log.
    const stubs = path.join(repoRoot, "test", "features", "lxc", "stubs");
    for (const name of readdirSync(stubs)) {
      const r = await root.exec(`cat > /usr/local/bin/${name} && chmod 755 /usr/local/bin/${name}`, { stdin: readFileSync(path.join(stubs, name), "utf8") });
      expect(r.code).toBe(0);
    }
  });
  afterAll(() => root?.stop());

  /** Writes the user data's write_files under /tmp/<guest> and returns the runner's environment. */
  async function materialize(userData: string, guest: string): Promise<Record<string, string>> {
    expect(userData.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(userData);
    for (const f of doc.write_files as Array<{ path: string; content: string; permissions: string }>) {
      const target = `/tmp/${guest}${f.path}`;
      const r = await root.exec(`mkdir -p "$(dirname "$T")" && cat > "$T" && chmod "$M" "$T"`, { env: { T: target, M: f.permissions }, stdin: f.content });
      expect(r.code).toBe(0);
    }
    return {
      PHOENIX_FEATURE_DIR: `/tmp/${guest}${cloudInit.GUEST_FEATURE_DIR}`,
      PHOENIX_FEATURE_LIST: `/tmp/${guest}${cloudInit.GUEST_FEATURE_LIST}`,
      PHOENIX_FEATURE_ENV: `/tmp/${guest}${cloudInit.GUEST_FEATURE_ENV}`,
      PHOENIX_STATE_DIR: `/var/lib/${guest}/features`,
      PHOENIX_LOG_FILE: `/var/log/${guest}/first_boot.log`,
    };
  }

  // runcmd runs the runner by its path in the guest; here the same file, moved under /tmp/<guest>.
  const runFirstBoot = (env: Record<string, string>) => root.exec(`"$PHOENIX_FEATURE_DIR/first_boot.sh"`, { env });

  const recorder = (name: string) => ({
    name,
    text: [
      "#!/usr/bin/env bash",
      "set -euo pipefail",
      '. "$PHOENIX_LIB"',
      `printf '%s|%s|%s|%s\\n' "${name}" "$PHOENIX_STEP" "$PHOENIX_TRICKY" "$PHOENIX_VM_NAME" >> /var/log/recorded.log`,
      '[ ! -e "/tmp/fail-$PHOENIX_STEP" ] || die "asked to fail"',
      "",
    ].join("\n"),
  });

  it("applies the features in order with their parameters as data, then does nothing on a second run", async () => {
    const tricky = `a'b "c" $(touch /tmp/canary) \`touch /tmp/canary\`; x=$HOME\n-----BEGIN CERTIFICATE-----\nline`;
    const userData = cloudInit.buildUserData({
      hostname: "order-vm",
      features: [recorder("alpha"), recorder("beta")],
      runner: registry.featureScript("vm", "first_boot").text,
      library: vmComponent.sharedFeatureLibrary(),
      params: { TRICKY: tricky, VM_NAME: "order-vm" },
    });
    const env = await materialize(userData, "guest1");
    const first = await runFirstBoot(env);
    expect(first.stderr + first.stdout).toContain("all features applied");
    expect(first.code).toBe(0);
    const recorded = (await root.exec("cat /var/log/recorded.log")).stdout;
    // The multi-line value arrives whole; each record line starts with the feature name.
    expect(recorded).toBe(`alpha|feature-alpha|${tricky}|order-vm\nbeta|feature-beta|${tricky}|order-vm\n`);
    expect((await root.exec("test -e /tmp/canary")).code).not.toBe(0);

    const second = await runFirstBoot(env);
    expect(second.code).toBe(0);
    expect(second.stdout).toMatch(/feature alpha: already applied[\s\S]*feature beta: already applied/);
    expect((await root.exec("cat /var/log/recorded.log")).stdout).toBe(recorded);
  });

  it("stops at a failing feature with a non-zero exit (cloud-init: status error), and a rerun resumes there", async () => {
    await root.exec("rm -f /var/log/recorded.log && touch /tmp/fail-feature-beta");
    const userData = cloudInit.buildUserData({
      hostname: "fail-vm",
      features: [recorder("alpha"), recorder("beta"), recorder("gamma")],
      runner: registry.featureScript("vm", "first_boot").text,
      library: vmComponent.sharedFeatureLibrary(),
      params: { TRICKY: "t", VM_NAME: "fail-vm" },
    });
    const env = await materialize(userData, "guest2");
    const failed = await runFirstBoot(env);
    expect(failed.code).not.toBe(0);
    expect(failed.stdout + failed.stderr).toMatch(/asked to fail[\s\S]*feature beta: FAILED/);
    expect((await root.exec("cut -d'|' -f1 /var/log/recorded.log")).stdout).toBe("alpha\nbeta\n");

    await root.exec("rm -f /tmp/fail-feature-beta");
    const rerun = await runFirstBoot(env);
    expect(rerun.code).toBe(0);
    expect((await root.exec("cut -d'|' -f1 /var/log/recorded.log")).stdout).toBe("alpha\nbeta\nbeta\ngamma\n");
  });

  it("runs the dev stack's docker-vm features (the containers' own base_setup and docker) from its real user data", async () => {
    const loaded = config.loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"));
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    const vm = loaded.model.vms.find((v) => v.vmid === 8001)!;
    expect(vm.features).toEqual(["base_setup", "docker"]);
    const userData = vmComponent.vmUserData(vm, loaded.model);
    const doc = parse(userData);
    const files = Object.fromEntries((doc.write_files as Array<{ path: string; content: string }>).map((f) => [f.path, f.content]));
    expect(files["/opt/phoenix/features/docker.sh"]).toBe(readFileSync(path.join(repoRoot, "features/lxc/docker.sh"), "utf8"));
    expect(files["/opt/phoenix/features/common.sh"]).toBe(readFileSync(path.join(repoRoot, "features/lxc/lib/common.sh"), "utf8"));

    await root.exec("rm -f /var/log/stub-calls.log");
    const env = await materialize(userData, "guest3");
    const first = await runFirstBoot(env);
    expect(first.stdout + first.stderr).toContain("all features applied");
    expect(first.code).toBe(0);
    const calls = (await root.exec("cat /var/log/stub-calls.log")).stdout;
    expect(calls).toMatch(/apt-get install -y -qq --no-install-recommends .*ca-certificates/);
    expect(calls).toMatch(/apt-get install -y -qq --no-install-recommends docker\.io/);
    expect(calls).toMatch(/systemctl (enable|start) docker\.service/);
    // The host's timezone reached base_setup (a parameter from the hypervisor file).
    expect((await root.exec("readlink /etc/localtime")).stdout.trim()).toBe(`/usr/share/zoneinfo/${loaded.model.host.timezone}`);

    const before = calls;
    const second = await runFirstBoot(env);
    expect(second.code).toBe(0);
    expect((await root.exec("cat /var/log/stub-calls.log")).stdout).toBe(before);
  });

  it("nothing reached this machine's real files", () => {
    expect(execFileSync("sh", ["-c", "ls /var/log/recorded.log /tmp/guest1 2>/dev/null || true"], { encoding: "utf8" })).toBe("");
  });
});
