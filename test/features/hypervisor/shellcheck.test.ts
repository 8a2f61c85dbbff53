// Every hypervisor feature script, its shared libraries, the lxc and vm host scripts and the pvesm
// emulator are shellcheck-clean (all severities), both as files (the include line is a comment)
// and as the composed text the host runs.
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../../load";

const registry = loadDist<typeof import("../../../features/registry")>("features/registry");
const dir = path.join(repoRoot, "features/hypervisor");
const scripts = readdirSync(dir).filter((f) => f.endsWith(".sh"));
const libraries = readdirSync(path.join(dir, "lib"))
  .filter((f) => f.endsWith(".sh"))
  .map((f) => `lib/${f}`);

function shellcheck(cwd: string, files: string[], stdin?: string): string {
  try {
    execFileSync("shellcheck", ["-x", "--severity=style", ...files], { cwd, encoding: "utf8", stdio: "pipe", input: stdin });
    return "";
  } catch (err) {
    const e = err as { stdout?: string; message?: string };
    return String(e.stdout || e.message);
  }
}

describe("shellcheck", () => {
  it("finds every step's script and the shared library", () => {
    for (const s of ["initial_setup", "nvidia_driver", "admin_user", "zfs_pool", "zfs_dataset", "proxmox_storage", "nfs_export", "samba_user", "samba_share", "pci_passthrough"]) {
      expect(scripts).toContain(`${s}.sh`);
    }
    expect(libraries).toContain("lib/result.sh");
  });

  it("features/hypervisor/*.sh and lib/*.sh are clean", () => {
    expect(shellcheck(dir, [...scripts, ...libraries])).toBe("");
  });

  it("the composed scripts are clean", () => {
    for (const f of scripts) {
      const text: string = registry.featureScript("hypervisor", f.replace(/\.sh$/, "")).text;
      expect(shellcheck(dir, ["-"], text), f).toBe("");
    }
  });

  it("the composed lxc and vm host scripts are clean (they include the same lib/result.sh and lib/checks.sh)", () => {
    for (const room of ["lxc", "vm"]) {
      const hostDir = path.join(repoRoot, "features", room, "host");
      const files = readdirSync(hostDir).filter((f) => f.endsWith(".sh"));
      expect(files.length).toBeGreaterThanOrEqual(2);
      for (const f of files) {
        const text = registry.composeScript(path.join("features", room, "host", f));
        expect(text, f).toContain("invalid() {");
        expect(shellcheck(hostDir, ["-s", "bash", "-"], text), `${room}/host/${f}`).toBe("");
      }
    }
  });

  it("the pvesm emulator and the nvidia-modprobe stand-in are clean", () => {
    expect(shellcheck(path.join(repoRoot, "test/host/emulator"), ["pvesm", "nvidia-modprobe"])).toBe("");
  });
});
