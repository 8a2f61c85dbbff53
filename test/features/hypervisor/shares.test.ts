// NFS exports and Samba shares, run directly in a throwaway root with the real exportfs and testparm.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startThrowawayRoot, type ThrowawayRoot } from "./root";

let root: ThrowawayRoot;
beforeAll(async () => {
  root = await startThrowawayRoot();
  await root.exec(
    "mkdir -p /srv/data /srv/other /etc/exports.d && echo '/srv/other 10.9.9.9(ro,sync,no_subtree_check)' > /etc/exports.d/admin.exports && exportfs -ra",
  );
});
afterAll(async () => root?.stop());

const nfs = { path: "/srv/data", clients: "10.0.0.101 10.0.0.0/24", options: "rw,sync,no_subtree_check,no_root_squash" };

describe("nfs_export.sh (real exportfs)", () => {
  it("writes its own file under /etc/exports.d and exports it; unmanaged exports untouched", async () => {
    const r = await root.script("nfs_export", "apply", nfs);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ present: true, matches: true, active: true, file: "/etc/exports.d/phoenix-srv_data.exports" });
    expect((await root.exec("cat /etc/exports.d/phoenix-srv_data.exports")).stdout).toContain(
      "/srv/data 10.0.0.101(rw,sync,no_subtree_check,no_root_squash) 10.0.0.0/24(rw,sync,no_subtree_check,no_root_squash)",
    );
    const table = (await root.exec("exportfs -v")).stdout;
    expect(table).toContain("/srv/data");
    expect(table).toContain("/srv/other");
    expect((await root.exec("cat /etc/exports.d/admin.exports")).stdout).toBe("/srv/other 10.9.9.9(ro,sync,no_subtree_check)\n");
  });

  it("an option exportfs rejects leaves the previous export in place and says why", async () => {
    const r = await root.script("nfs_export", "apply", { ...nfs, options: "rw,bogus_option" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("exportfs rejected the change");
    expect(r.stderr).toContain('unknown keyword "bogus_option"');
    expect((await root.exec("cat /etc/exports.d/phoenix-srv_data.exports")).stdout).toContain("no_root_squash");
    expect((await root.exec("exportfs -v")).stdout).toContain("/srv/data");
    expect((await root.script("nfs_export", "read", nfs)).result).toMatchObject({ matches: true });
  });

  it("values that would be code or extra lines are refused", async () => {
    for (const bad of [{ ...nfs, clients: "10.0.0.1\n/etc *(rw)" }, { ...nfs, options: "rw);touch /tmp/x;(" }, { ...nfs, path: "/srv/$(id)" }]) {
      const r = await root.script("nfs_export", "apply", bad);
      expect(r.code).not.toBe(0);
      expect(r.stderr).toMatch(/invalid/);
    }
  });

  it("a hand edit shows as drift; delete removes only its file", async () => {
    await root.exec("sed -i 's/rw,/ro,/g' /etc/exports.d/phoenix-srv_data.exports");
    expect((await root.script("nfs_export", "read", nfs)).result).toMatchObject({ matches: false });
    expect((await root.script("nfs_export", "delete", nfs)).result).toEqual({ present: false });
    expect((await root.exec("ls /etc/exports.d")).stdout).toBe("admin.exports\n");
    expect((await root.exec("exportfs -v")).stdout).not.toContain("/srv/data");
    expect((await root.script("nfs_export", "read", nfs)).result).toEqual({ present: false });
  });

  it("export file names cannot collide (/srv/a_b/c and /srv/a/b_c); files of the old naming are adopted", async () => {
    await root.exec("mkdir -p /srv/a_b/c /srv/a/b_c /srv/old_name");
    const one = { path: "/srv/a_b/c", clients: "10.0.0.1", options: "ro,sync,no_subtree_check" };
    const two = { path: "/srv/a/b_c", clients: "10.0.0.2", options: "ro,sync,no_subtree_check" };
    expect((await root.script("nfs_export", "apply", one)).result).toMatchObject({ file: "/etc/exports.d/phoenix-srv_a%5Fb_c.exports", matches: true });
    expect((await root.script("nfs_export", "apply", two)).result).toMatchObject({ file: "/etc/exports.d/phoenix-srv_a_b%5Fc.exports", matches: true });
    // Both still there, each as written.
    expect((await root.script("nfs_export", "read", one)).result).toMatchObject({ present: true, matches: true, active: true });
    expect((await root.script("nfs_export", "read", two)).result).toMatchObject({ present: true, matches: true, active: true });
    await root.script("nfs_export", "delete", one);
    expect((await root.script("nfs_export", "read", two)).result).toMatchObject({ present: true, matches: true });
    await root.script("nfs_export", "delete", two);

    // A file written by the earlier naming (phoenix-srv_old_name.exports) is this export's: read
    // sees it (no duplicate create), apply renames it, no second file appears.
    const old = { path: "/srv/old_name", clients: "10.0.0.3", options: "ro,sync,no_subtree_check" };
    await root.exec("printf '# Managed by Phoenix; edits are overwritten.\\n/srv/old_name 10.0.0.3(ro,sync,no_subtree_check)\\n' > /etc/exports.d/phoenix-srv_old_name.exports && exportfs -ra");
    expect((await root.script("nfs_export", "read", old)).result).toMatchObject({ present: true, matches: true });
    expect((await root.script("nfs_export", "apply", old)).result).toMatchObject({ file: "/etc/exports.d/phoenix-srv_old%5Fname.exports", matches: true });
    expect((await root.exec("ls /etc/exports.d")).stdout).toBe("admin.exports\nphoenix-srv_old%5Fname.exports\n");
    await root.script("nfs_export", "delete", old);
    // Paths that name one directory twice are refused (one directory, one file).
    for (const path of ["/srv//data", "/srv/data/", "/srv/./data"]) {
      expect((await root.script("nfs_export", "apply", { ...nfs, path })).code, path).not.toBe(0);
    }
  });
});

describe("nfs_export.sh and samba_share.sh refuse the host's system paths (lib/host_paths.sh)", () => {
  it("/, /etc, /root, /var/lib/pve-cluster are refused before anything changes, unless the stack allows host paths", async () => {
    const before = (await root.exec("ls -A /etc/exports.d; cat /etc/samba/smb.conf")).stdout;
    for (const p of ["/", "/etc", "/root", "/var/lib/pve-cluster"]) {
      const n = await root.script("nfs_export", "apply", { path: p, clients: "10.0.0.1", options: "rw,no_root_squash" });
      expect(n.code, p).not.toBe(0);
      expect(n.stderr, p).toMatch(/refusing to serve .*the host's \/.*phoenix:allowHostPaths/);
      const s = await root.script("samba_share", "apply", { name: "sys", path: p, options: "guestok=yes\nwritable=yes", valid_users: "" });
      expect(s.code, p).not.toBe(0);
      expect(s.stderr, p).toMatch(/refusing to serve .*the host's \//);
    }
    expect((await root.exec("ls -A /etc/exports.d; cat /etc/samba/smb.conf")).stdout).toBe(before);
    // The stack's allowance (allow_host_paths=1) lets the path through to exportfs.
    await root.exec("mkdir -p /opt/exported");
    const allowed = { path: "/opt/exported", clients: "10.0.0.1", options: "ro,sync,no_subtree_check" };
    expect((await root.script("nfs_export", "apply", allowed)).code).not.toBe(0);
    const r = await root.script("nfs_export", "apply", { ...allowed, allow_host_paths: "1" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ matches: true, active: true });
    // Read and delete never refuse: an export made before the rule can still be removed.
    expect((await root.script("nfs_export", "delete", allowed)).result).toEqual({ present: false });
  });
});

const share = { name: "shared-data", path: "/srv/data", options: "browseable=yes\nwritable=yes", valid_users: "alice bob" };

describe("samba_share.sh (real testparm)", () => {
  it("adds a section to the managed include file, includes it once from smb.conf, testparm accepts it", async () => {
    const before = (await root.exec("cat /etc/samba/smb.conf")).stdout;
    const r = await root.script("samba_share", "apply", share);
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ present: true, matches: true, included: true, pathExists: true });
    await root.script("samba_share", "apply", { ...share, name: "second", path: "/srv/other" });
    await root.script("samba_share", "apply", share);
    const conf = (await root.exec("cat /etc/samba/smb.conf")).stdout;
    expect(conf.startsWith(before)).toBe(true);
    expect(conf.split("include = /etc/samba/phoenix-shares.conf").length).toBe(2);
    const managed = (await root.exec("cat /etc/samba/phoenix-shares.conf")).stdout;
    expect(managed).toContain("[shared-data]\n   path = /srv/data\n   valid users = alice bob\n   browseable = yes\n   writable = yes\n");
    expect(managed).toContain("[second]\n");
    const dump = await root.exec("testparm -s /etc/samba/smb.conf 2>/dev/null");
    expect(dump.stdout).toContain("[shared-data]");
    expect(dump.stdout).toContain("[second]");
  });

  it("an option testparm rejects leaves the previous configuration in place and says why", async () => {
    const managedBefore = (await root.exec("cat /etc/samba/phoenix-shares.conf")).stdout;
    const r = await root.script("samba_share", "apply", { ...share, options: "browseable=maybe" });
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("testparm rejected the change");
    // A name that is not on the allow-list never reaches testparm.
    const unknown = await root.script("samba_share", "apply", { ...share, options: "no such parameter=1" });
    expect(unknown.code).not.toBe(0);
    expect(unknown.stderr).toContain("not on the share option allow-list");
    expect((await root.exec("cat /etc/samba/phoenix-shares.conf")).stdout).toBe(managedBefore);
    expect((await root.exec("ls /etc/samba")).stdout).not.toContain("phoenix-new");
  });

  it("refuses values that would add sections or run commands", async () => {
    for (const bad of [
      { ...share, options: "comment = x\n[evil]\npath = /" },
      { ...share, options: "comment=a]b" },
      { ...share, options: "root preexec=touch /tmp/x" },
      // Samba ignores spaces in names and knows synonyms: every spelling is refused.
      { ...share, options: "rootpreexec=/usr/bin/touch /tmp/pwned" },
      { ...share, options: "root  preexec=/usr/bin/touch /tmp/pwned" },
      { ...share, options: "exec=/usr/bin/touch /tmp/pwned" },
      { ...share, options: "dfree command=/usr/bin/touch /tmp/pwned" },
      { ...share, options: "force user=root" },
      { ...share, options: "wide links=yes" },
      { ...share, name: "global" },
      { ...share, valid_users: "alice;rm" },
    ]) {
      const r = await root.script("samba_share", "apply", bad);
      expect(r.code, JSON.stringify(bad)).not.toBe(0);
    }
    expect((await root.exec("test -e /tmp/pwned")).code).not.toBe(0);
  });

  it("an indented or re-spelled include line in smb.conf is recognised: no second include", async () => {
    await root.exec(
      "grep -v 'phoenix-shares.conf' /etc/samba/smb.conf > /tmp/smb && printf '   Include  =  /etc/samba/phoenix-shares.conf\\n' >> /tmp/smb && cat /tmp/smb > /etc/samba/smb.conf",
    );
    const r = await root.script("samba_share", "apply", { ...share, name: "indented" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ included: true, matches: true });
    const conf = (await root.exec("cat /etc/samba/smb.conf")).stdout;
    expect(conf.match(/phoenix-shares\.conf/g)?.length).toBe(1);
    await root.script("samba_share", "delete", { ...share, name: "indented" });
  });

  it("a running smbd reloads its configuration after a change", async () => {
    // A real smbd inside the throwaway root, on loopback and an unused port.
    await root.exec(
      "sed -i 's/^\\[global\\]/[global]\\n   smb ports = 44555\\n   bind interfaces only = yes\\n   interfaces = lo\\n   disable netbios = yes/' /etc/samba/smb.conf && mkdir -p /run/samba && smbd -D",
    );
    try {
      const r = await root.script("samba_share", "apply", { ...share, name: "reloaded" });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toContain("smbd reloaded");
    } finally {
      await root.exec("kill $(cat /run/samba/smbd.pid)");
    }
  });

  it("a hand edit shows as drift and apply restores; delete removes only its section", async () => {
    await root.exec("sed -i 's/writable = yes/writable = no/' /etc/samba/phoenix-shares.conf");
    expect((await root.script("samba_share", "read", share)).result).toMatchObject({ matches: false });
    expect((await root.script("samba_share", "apply", share)).result).toMatchObject({ matches: true });
    expect((await root.script("samba_share", "delete", share)).result).toEqual({ present: false });
    const managed = (await root.exec("cat /etc/samba/phoenix-shares.conf")).stdout;
    expect(managed).not.toContain("shared-data");
    expect(managed).toContain("[second]");
    expect((await root.script("samba_share", "read", share)).result).toEqual({ present: false });
  });
});

describe("samba_user.sh (real pdbedit, smbpasswd)", () => {
  const flags = async () => (await root.exec("pdbedit -L -v -u sambauser | sed -n 's/^Account Flags:[[:space:]]*//p'")).stdout.trim();
  it("removing the password disables the account; setting one enables it again", async () => {
    await root.exec("useradd -M sambauser || true");
    const on = await root.script("samba_user", "apply", { username: "sambauser", password: "s3cret-pass" });
    expect(on.code, on.stderr).toBe(0);
    expect(on.result).toMatchObject({ present: true, matches: true, disabled: false });
    expect(await flags()).not.toMatch(/D/);
    // phoenix:sambaPassword removed: the stored password must stop working.
    expect((await root.script("samba_user", "read", { username: "sambauser", password: "" })).result).toMatchObject({ matches: false });
    const off = await root.script("samba_user", "apply", { username: "sambauser", password: "" });
    expect(off.code, off.stderr).toBe(0);
    expect(off.result).toMatchObject({ present: true, matches: true, disabled: true });
    expect(await flags()).toMatch(/\[[^\]]*D/);
    const again = await root.script("samba_user", "apply", { username: "sambauser", password: "n3w-pass" });
    expect(again.result).toMatchObject({ matches: true, disabled: false });
  });

  it("refuses a system account (root, www-data) before touching Samba's password database", async () => {
    for (const username of ["root", "www-data", "systemd-network"]) {
      const r = await root.script("samba_user", "apply", { username, password: "s3cret-pass" });
      expect(r.code, username).not.toBe(0);
      expect(r.stderr).toMatch(/refusing to give system account/);
      expect((await root.exec(`pdbedit -L -u ${username}`)).code, username).not.toBe(0);
    }
  });

  it("a new account without a password is created disabled, never with an empty password", async () => {
    await root.exec("useradd -M sambanew || true");
    const r = await root.script("samba_user", "apply", { username: "sambanew", password: "" });
    expect(r.code, r.stderr).toBe(0);
    expect(r.result).toMatchObject({ present: true, disabled: true, matches: true });
    expect((await root.exec("pdbedit -L -v -u sambanew")).stdout).not.toMatch(/Account Flags:.*N/);
  });
});
