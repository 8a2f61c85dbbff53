// Fault tests for the host steps that edit shared host state: each step is killed outright
// (SIGKILL to its process group, a power cut of the step) at several points of its run, then run
// again. The rerun must converge: the step reports matches:true, nothing is lost (other shares,
// exports, data, the Samba account) or duplicated (smb.conf include, sections, export files), and
// no temp file is left behind. Kill points are spread over the step's measured run time; only
// kills that landed while the step ran are counted (the total is printed for the report).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist } from "../../load";
import { startTestHost, type TestHost } from "../../host/sshd";
import { killHostSteps } from "../../host/faults";

const ssh = loadDist<typeof import("../../../providers/ssh/index")>("providers/ssh/index");
const base = loadDist<typeof import("../../../providers/base/index")>("providers/base/index");
const registry = loadDist<typeof import("../../../features/registry")>("features/registry");

const POINTS = 6;
let landed = 0;

describe("host steps killed mid-run converge on the rerun", () => {
  let host: TestHost;
  let session: import("../../../providers/ssh/types").SshSession;
  beforeAll(async () => {
    host = await startTestHost();
    await host.startZfsFuse();
    const r = await host.exec(
      "mkdir -p /srv/share-a /srv/share-b /srv/export-a /srv/export-b /srv/vdev /etc/exports.d && truncate -s 100M /srv/vdev/a && " +
        "zpool create -f -m /mnt/ftank ftank /srv/vdev/a && useradd -M fuser",
    );
    expect(r.code, r.stderr).toBe(0);
    session = await ssh.openSession(host.target, host.secrets);
  });
  afterAll(async () => {
    session?.close();
    await host?.stop();
    console.log(`fault tests: ${landed} kill points landed mid-step`);
  });

  type Params = Record<string, string>;
  const script = (name: string) => registry.featureScript("hypervisor", name).text as string;
  const run = (name: string, action: "read" | "apply" | "delete", params: Params, secretParams?: Params, s = session) =>
    base.runHostScript(s, { script: script(name), action, params, secretParams, purpose: `${action} ${name}`, timeoutMs: 60_000, lock: name.startsWith("samba") ? "samba" : name === "nfs_export" ? "nfs" : undefined });

  /** Runs the step POINTS times, each killed at a fraction of its measured duration; after each, `converge`. */
  async function killAtPoints(name: string, action: "apply" | "delete", params: Params, converge: () => Promise<void>, setup: () => Promise<void> = async () => {}, secretParams?: Params) {
    await setup();
    const started = Date.now();
    await run(name, action, params, secretParams);
    const duration = Math.max(40, Date.now() - started);
    await converge();
    for (let k = 1; k <= POINTS; k++) {
      await setup();
      const other = await ssh.openSession(host.target, host.secrets);
      const pending = run(name, action, params, secretParams, other).catch((e: Error) => e);
      await new Promise((r) => setTimeout(r, (duration * k) / (POINTS + 1)));
      if (killHostSteps(host) > 0) landed++;
      await pending;
      other.close();
      await converge();
    }
  }


  it("samba_share apply: one include, both sections, testparm-valid", async () => {
    const a = { name: "share-a", path: "/srv/share-a", options: "browseable=yes\nwritable=yes", valid_users: "fuser" };
    const b = { name: "share-b", path: "/srv/share-b", options: "browseable=yes\nwritable=no", valid_users: "" };
    expect((await run("samba_share", "apply", a)).result).toMatchObject({ matches: true });
    await killAtPoints("samba_share", "apply", b, async () => {
      expect((await run("samba_share", "apply", b)).result).toMatchObject({ matches: true, included: true });
      expect((await run("samba_share", "read", a)).result).toMatchObject({ matches: true });
      const conf = (await host.exec("cat /etc/samba/smb.conf")).stdout;
      expect(conf.match(/phoenix-shares\.conf/g)).toHaveLength(1);
      const managed = (await host.exec("cat /etc/samba/phoenix-shares.conf")).stdout;
      expect(managed.match(/^\[share-a\]$/gm)).toHaveLength(1);
      expect(managed.match(/^\[share-b\]$/gm)).toHaveLength(1);
      expect((await host.exec("testparm -s /etc/samba/smb.conf >/dev/null 2>&1")).code).toBe(0);
    }, async () => {
      // Start each round from the share being absent, so apply has work to do.
      await run("samba_share", "delete", b);
    });
  }, 180_000);

  it("samba_share delete: the other share stays", async () => {
    const a = { name: "share-a", path: "/srv/share-a", options: "browseable=yes\nwritable=yes", valid_users: "fuser" };
    const b = { name: "share-b", path: "/srv/share-b", options: "browseable=yes\nwritable=no", valid_users: "" };
    await killAtPoints("samba_share", "delete", b, async () => {
      expect((await run("samba_share", "delete", b)).result).toEqual({ present: false });
      expect((await run("samba_share", "read", a)).result).toMatchObject({ matches: true, included: true });
    }, async () => {
      await run("samba_share", "apply", b);
    });
  }, 180_000);

  it("nfs_export apply: one file per export, both active, the table valid", async () => {
    const a = { path: "/srv/export-a", clients: "10.0.0.0/24", options: "rw,sync,no_subtree_check" };
    const b = { path: "/srv/export-b", clients: "10.0.0.5", options: "ro,sync,no_subtree_check" };
    expect((await run("nfs_export", "apply", a)).result).toMatchObject({ matches: true });
    await killAtPoints("nfs_export", "apply", b, async () => {
      expect((await run("nfs_export", "apply", b)).result).toMatchObject({ matches: true, active: true });
      expect((await run("nfs_export", "read", a)).result).toMatchObject({ matches: true, active: true });
      const files = (await host.exec("ls -A /etc/exports.d")).stdout.split("\n").filter(Boolean).sort();
      expect(files).toEqual(["phoenix-srv_export-a.exports", "phoenix-srv_export-b.exports"]);
    }, async () => {
      await run("nfs_export", "delete", b);
    });
  }, 180_000);

  it("nfs_export delete: killed anywhere (also between removing its file and exportfs -ra), the rerun unexports; the other export stays", async () => {
    const a = { path: "/srv/export-a", clients: "10.0.0.0/24", options: "rw,sync,no_subtree_check" };
    const b = { path: "/srv/export-b", clients: "10.0.0.5", options: "ro,sync,no_subtree_check" };
    const exported = async () => (await host.exec("exportfs -v | awk '{print $1}' | sort -u")).stdout.split("\n").filter(Boolean);
    const converge = async () => {
      expect((await run("nfs_export", "delete", b)).result).toEqual({ present: false });
      expect(await exported()).toEqual(["/srv/export-a"]);
      expect((await run("nfs_export", "read", a)).result).toMatchObject({ matches: true, active: true });
      expect((await host.exec("ls -A /etc/exports.d")).stdout).toBe("phoenix-srv_export-a.exports\n");
    };
    expect((await run("nfs_export", "apply", a)).result).toMatchObject({ matches: true });
    // The window a timed kill rarely hits: the file gone, the kernel table not yet re-read.
    await run("nfs_export", "apply", b);
    await host.exec("rm /etc/exports.d/phoenix-srv_export-b.exports && cp /etc/exports.d/phoenix-srv_export-a.exports /etc/exports.d/.phoenix-srv_export-b.backup");
    expect(await exported()).toContain("/srv/export-b");
    await converge();
    await killAtPoints("nfs_export", "delete", b, converge, async () => {
      await run("nfs_export", "apply", b);
    });
  }, 180_000);

  it("zfs_dataset apply: the dataset exists once with its properties; data in the pool survives", async () => {
    await host.exec("echo keep > /mnt/ftank/keep");
    const ds = { pool: "ftank", name: "data", properties: "compression=gzip\nrecordsize=16K" };
    await killAtPoints("zfs_dataset", "apply", ds, async () => {
      expect((await run("zfs_dataset", "apply", ds)).result).toMatchObject({ present: true, matches: true });
      expect((await host.exec("zfs get -H -o value compression ftank/data")).stdout).toBe("gzip\n");
      expect((await host.exec("cat /mnt/ftank/keep")).stdout).toBe("keep\n");
    }, async () => {
      await host.exec("zfs destroy ftank/data 2>/dev/null || true");
    });
  }, 180_000);

  it("samba_user apply with a new password, and without one: the account ends as declared", async () => {
    await killAtPoints("samba_user", "apply", { username: "fuser" }, async () => {
      const r = await run("samba_user", "apply", { username: "fuser" }, { password: "n3w-secret" });
      expect(r.result).toMatchObject({ present: true, matches: true, disabled: false });
    }, async () => {}, { password: "n3w-secret" });
    await killAtPoints("samba_user", "apply", { username: "fuser" }, async () => {
      const r = await run("samba_user", "apply", { username: "fuser" }, { password: "" });
      expect(r.result).toMatchObject({ present: true, matches: true, disabled: true });
    }, async () => {
      await run("samba_user", "apply", { username: "fuser" }, { password: "n3w-secret" });
    }, { password: "" });
  }, 240_000);

  it("admin_user apply: the user, one managed key block, a sudoers drop-in visudo accepts", async () => {
    const KEY = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIJ3m0dH1lQm2k5p8r9s0t1u2v3w4x5y6z7A8B9C0D1E2 admin@fault";
    const HASH = "$6$saltsalt$Fv0OijNxxkqvBmhLIYtXJdO2m0pHj7yrNbIuNBQzwdLvLc4JD2yF7q8nUH0SvF8XHwyjlWmKEVVJnGzqIVQ7e/";
    const user = { username: "fadmin", sudo: "1", ssh_public_keys: KEY, shell: "/bin/bash" };
    await killAtPoints("admin_user", "apply", user, async () => {
      const r = await run("admin_user", "apply", user, { password_hash: HASH });
      expect(r.result).toMatchObject({ present: true, matches: true, sudo: true, sshKeys: true });
      expect((await host.exec("visudo -c")).code).toBe(0);
      const keys = (await host.exec("cat /home/fadmin/.ssh/authorized_keys")).stdout;
      expect(keys.split(KEY).length - 1).toBe(1);
      expect((await host.exec("ls -A /etc/sudoers.d /home/fadmin/.ssh | grep -c phoenix-new || true")).stdout.trim()).toBe("0");
    }, async () => {
      // Each round starts with the key and sudo rights gone, so apply rewrites both.
      await host.exec("rm -f /etc/sudoers.d/phoenix-fadmin; [ -f /home/fadmin/.ssh/authorized_keys ] && sed -i '/admin@fault/d' /home/fadmin/.ssh/authorized_keys || true");
    }, { password_hash: HASH });
  }, 180_000);

  it("no run dirs or candidate files are left after the reruns", async () => {
    await run("samba_share", "read", { name: "share-a", path: "/srv/share-a", options: "", valid_users: "" });
    // A run killed before it locked its dir (between mktemp and the .alive rename) leaves an empty
    // dir, which the next run removes once it is a minute old (host-script.ts); none holds a
    // script, parameters or anything else a killed run wrote.
    expect((await host.exec("find /tmp/phoenix-run.* -mindepth 1 ! -name .locking 2>/dev/null || true")).stdout).toBe("");
    expect((await host.exec("ls -A /etc/samba /etc/exports.d | grep -E 'phoenix-new|backup|\\.new$' || true")).stdout).toBe("");
    expect(landed).toBeGreaterThanOrEqual(10);
  });
});
