// Every hypervisor feature script and the pvesm emulator are shellcheck-clean (all severities).
import { execFileSync } from "node:child_process";
import { readdirSync } from "node:fs";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { repoRoot } from "../../load";

const dir = path.join(repoRoot, "features/hypervisor");
const scripts = readdirSync(dir).filter((f) => f.endsWith(".sh"));

function shellcheck(cwd: string, files: string[]): string {
  try {
    execFileSync("shellcheck", ["-x", "--severity=style", ...files], { cwd, encoding: "utf8", stdio: "pipe" });
    return "";
  } catch (err: any) {
    return String(err.stdout || err.message);
  }
}

describe("shellcheck", () => {
  it("finds every step's script", () => {
    for (const s of ["initial_setup", "nvidia_driver", "admin_user", "zfs_pool", "zfs_dataset", "proxmox_storage", "nfs_export", "samba_user", "samba_share"]) {
      expect(scripts).toContain(`${s}.sh`);
    }
  });

  it("features/hypervisor/*.sh are clean", () => {
    expect(shellcheck(dir, scripts)).toBe("");
  });

  it("the pvesm emulator is clean", () => {
    expect(shellcheck(path.join(repoRoot, "test/host/emulator"), ["pvesm"])).toBe("");
  });
});
