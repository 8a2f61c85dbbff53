// Values that would grant a container, or a pull request, more than the file says: each class of
// hostile value is refused by validate with file and JSON path (unless the stack sets the
// allowance that the plain value would need), and its legitimate neighbours keep validating
// without any allowance. The counts (hostile values tried, refused) are printed per class.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { ERROR_LINE, Files, HOST, LXC, cleanTempDirs, mutatedDir } from "./helpers";

const loader = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
const ct = (f: Files, id: number) => f.lxc.lxc_configs[String(id)];

type Allow = { rawLxc?: boolean; hostPaths?: boolean };
function run(mutate: (f: Files) => void, allow?: Allow) {
  const r = loader.loadPhoenixConfig(mutatedDir(mutate), { allow });
  return { ok: r.ok, errors: r.ok ? [] : r.errors, warnings: r.warnings };
}

const tally = new Map<string, { tried: number; refused: number }>();
function count(cls: string, refused: boolean) {
  const t = tally.get(cls) ?? { tried: 0, refused: 0 };
  t.tried++;
  if (refused) t.refused++;
  tally.set(cls, t);
}
afterAll(() => {
  cleanTempDirs();
  console.log(`hostile values per class: ${[...tally].map(([c, t]) => `${c} ${t.refused}/${t.tried} refused`).join("; ")}`);
});

/**
 * Refused without the allowance, with one error line at `at` matching `message`; accepted with it
 * (when `allowance` is given: the class is an allowance's, not a blanket refusal).
 */
function expectRefused(cls: string, mutate: (f: Files) => void, at: string, message: RegExp, allowance?: keyof Allow) {
  const r = run(mutate);
  const line = r.errors.find((e) => e.includes(at));
  count(cls, line !== undefined && message.test(line));
  expect(line, r.errors.join("\n") || "validated").toMatch(message);
  expect(line).toMatch(ERROR_LINE);
  // The schema refuses some values first (`..`, `:` in a bind source): refused all the same, by
  // no allowance.
  if (allowance && !line!.startsWith(`${at}must be`)) {
    const allowed = run(mutate, { [allowance]: true });
    expect(allowed.errors.filter((e) => e.includes(at)), allowance).toEqual([]);
    expect(line).toContain(`phoenix:${allowance === "rawLxc" ? "allowRawLxc" : "allowHostPaths"}: true`);
  }
}

function expectAccepted(mutate: (f: Files) => void) {
  const r = run(mutate);
  expect(r.errors).toEqual([]);
  return r;
}

const MP = `${LXC}: $.lxc_configs["955"].mount_points[0].host_path: `;
const OPT = `${LXC}: $.lxc_configs["955"].lxc_options[1]: `;
const bind = (p: string) => (f: Files) => (ct(f, 955).mount_points = [{ host_path: p, container_path: "/data" }]);
const line = (l: string) => (f: Files) => (ct(f, 955).lxc_options = ["lxc.apparmor.profile=unconfined", l]);

describe("paths are judged as the kernel resolves them", () => {
  // Each reaches what the plain path needs phoenix:allowHostPaths for.
  const HOSTILE_SOURCES = [
    "/srv/../etc", "/dev/fd/3", "/dev/stdin", "/dev/core", "/proc/self/root", "/proc/thread-self/cwd", "/proc/1/root/etc",
    "/dev/block/8:0", "/dev/char/1:1", "/dev/disk/by-id/nvme-x", "/dev/sg0", "/dev/bsg/0:0:0:0", "/dev/nvme0", "/dev/ng0n1", "/dev/zfs",
    "/dev/mapper/control", "/dev/pve/root", "/dev/vg0/data", "/dev/nvme0n1p1", "/dev/ram0", "/dev/zram0", "/dev/md/root", "/dev/sr0", "/dev/nbd0",
    "/dev/dm-3", "/dev/zd16", "/dev/loop7", "/dev/mem", "/dev/kvm", "/dev/vfio/vfio", "/dev/cdrom", "/tank/../dev/./sda",
  ];
  for (const p of HOSTILE_SOURCES) {
    it(`refuses bind source ${p} without phoenix:allowHostPaths`, () => expectRefused("paths", bind(p), MP, /block device|alias|SCSI generic|control device|host's \/|character-device folder|must be an absolute path without spaces or shell characters/, "hostPaths"));
  }
  const HOSTILE_ENTRIES: [string, RegExp, keyof Allow][] = [
    ["lxc.mount.entry=/dev/fd/0 mnt/x none bind,create=file 0 0", /alias of \/proc\/self/, "hostPaths"],
    ["lxc.mount.entry=/dev/block/259:0 dev/x none bind,create=file 0 0", /by its number/, "hostPaths"],
    ["lxc.mount.entry=/dev/sg1 dev/sg1 none bind,create=file 0 0", /SCSI generic/, "hostPaths"],
    ["lxc.mount.entry=/dev/zfs dev/zfs none bind,create=file 0 0", /control device/, "hostPaths"],
    ["lxc.mount.entry=overlay mnt/o overlay lowerdir=/etc,upperdir=/srv/u,workdir=/srv/w 0 0", /lowerdir: \/etc is the host's \/etc/, "hostPaths"],
    ["lxc.mount.entry=overlay mnt/o overlay lowerdir=/srv/a:/root,upperdir=/srv/u,workdir=/srv/w 0 0", /lowerdir: \/root/, "hostPaths"],
    ["lxc.mount.entry=overlay mnt/o overlay lowerdir=/srv/a,upperdir=/var/lib/pve-cluster,workdir=/srv/w 0 0", /upperdir: .*\/var/, "hostPaths"],
    ["lxc.mount.entry=proc mnt/p proc ro,rw 0 0", /proc writable .*ro,rw: the last of ro\/rw\/defaults wins/, "rawLxc"],
    ["lxc.mount.entry=sysfs mnt/s sysfs ro,defaults 0 0", /sysfs writable/, "rawLxc"],
    ["lxc.mount.entry=binfmt_misc mnt/b binfmt_misc rw 0 0", /binfmt_misc writable/, "rawLxc"],
    ["lxc.mount.entry=devtmpfs mnt/d devtmpfs ro 0 0", /devtmpfs/, "hostPaths"],
    ["lxc.mount.entry=rpool/ROOT/pve-1 mnt/r zfs defaults 0 0", /ZFS dataset rpool\/ROOT\/pve-1/, "hostPaths"],
    ["lxc.mount.entry=/dev/nvme0n1 mnt/d ext4 defaults 0 0", /block device/, "hostPaths"],
  ];
  for (const [l, message, allowance] of HOSTILE_ENTRIES) {
    it(`refuses ${l}`, () => expectRefused("paths", line(l), OPT, message, allowance));
  }

  it("keeps the neighbours: a declared dataset's mount point, the NVIDIA device rules, /dev/fuse, a read-only proc, a harmless overlay", () => {
    expectAccepted(bind("/quickOS/shared-prod-data/models"));
    expectAccepted(bind("/mnt/pve/fastData/models"));
    for (const l of [
      "lxc.cgroup2.devices.allow=c 195:* rwm",
      "lxc.cgroup2.devices.allow=c 226:128 rwm",
      "lxc.mount.entry=/dev/nvidia0 dev/nvidia0 none bind,optional,create=file",
      "lxc.mount.entry=/dev/nvidiactl dev/nvidiactl none bind,optional,create=file",
      "lxc.mount.entry=/dev/nvidia-caps/nvidia-cap1 dev/nvidia-caps/nvidia-cap1 none bind,optional,create=file",
      "lxc.mount.entry=/dev/dri/renderD128 dev/dri/renderD128 none bind,optional,create=file",
      "lxc.mount.entry=/dev/fuse dev/fuse none bind,create=file",
      "lxc.mount.entry=/dev/net/tun dev/net/tun none bind,create=file",
      "lxc.mount.entry=proc mnt/p proc rw,ro 0 0",
      "lxc.mount.entry=overlay mnt/o overlay lowerdir=/srv/a:/srv/b,upperdir=/srv/u,workdir=/srv/w 0 0",
      "lxc.mount.entry=tmpfs tmp tmpfs size=1g 0 0",
    ]) {
      const r = run(line(l));
      expect(r.errors, l).toEqual([]);
    }
  });
});

describe("id maps onto privileged host ids need phoenix:allowRawLxc", () => {
  const ID_MAPS: [string, number, number, number][] = [
    ["uid", 0, 0, 1], ["gid", 0, 0, 1], ["gid", 6, 6, 1], ["gid", 42, 42, 1], ["gid", 27, 27, 1], ["gid", 4, 4, 1], ["gid", 15, 15, 1],
    ["gid", 50, 50, 1], ["uid", 1, 1, 1], ["gid", 100, 30, 5], ["uid", 0, 1, 999], ["gid", 1000, 5, 2],
  ];
  for (const [type, containerId, hostId, size] of ID_MAPS) {
    it(`refuses id_maps ${type} ${containerId} -> host ${hostId} (size ${size})`, () =>
      expectRefused("id maps", (f) => (ct(f, 955).id_maps = [{ type, container_id: containerId, host_id: hostId, size }]), `${LXC}: $.lxc_configs["955"].id_maps[0].host_id: `, /onto host [ug]ids? \d+.*(grants power|host root|wholesale)/, "rawLxc"));
  }
  for (const l of ["lxc.idmap=u 0 0 65536", "lxc.idmap=g 6 6 1", "lxc.idmap=g 0 42 1", "lxc.idmap=g 0 1 999", "lxc.idmap=u 0 2 1", "lxc.idmap=g 20 20 40"]) {
    it(`refuses ${l}`, () => expectRefused("id maps", line(l), OPT, /onto host [ug]ids? \d+/, "rawLxc"));
  }

  it("keeps the neighbours: the migration case's www-data gid 33, a user id, the default recipe", () => {
    const r = expectAccepted((f) => (ct(f, 955).id_maps = [{ type: "gid", container_id: 33, host_id: 33, size: 1 }]));
    expect(r.ok).toBe(true);
    expectAccepted((f) => (ct(f, 955).id_maps = [{ type: "uid", container_id: 1005, host_id: 1005, size: 1 }, { type: "gid", container_id: 1005, host_id: 1005, size: 1 }]));
    expectAccepted(line("lxc.idmap=u 0 100000 65536"));
  });
});

describe("accounts", () => {
  for (const name of ["root", "daemon", "www-data", "nobody", "sshd", "systemd-network", "_apt", "backup"]) {
    it(`refuses ${name} as the admin user and as the Samba user, with file and path`, () => {
      expectRefused("accounts", (f) => (f.host.users = { ...f.host.users, username: name }), `${HOST}: $.users.username: `, /is a system account/);
      expectRefused("accounts", (f) => (f.host.users = [f.host.users, { ...f.host.users, username: name }]), `${HOST}: $.users[1].username: `, /is a system account/);
      expectRefused("accounts", (f) => (f.host.samba.user = name), `${HOST}: $.samba.user: `, /is a system account/);
    });
  }

  it("keeps personal accounts, and warns about a share guests can write", () => {
    expectAccepted((f) => (f.host.samba.user = "heads"));
    const guestWrite = ["guestok=yes writable=yes", "public=yes readonly=no", "guestok=true writeable=1"];
    for (const o of guestWrite) {
      const r = expectAccepted((f) => (f.host.samba.shares[0].options = o));
      count("anonymous write (warning)", r.warnings.some((w) => w.includes("$.samba.shares[0].options: ") && /writable by guests/.test(w)));
      expect(r.warnings.join("\n"), o).toMatch(/\$\.samba\.shares\[0\]\.options: share shared-prod-data is writable by guests/);
    }
    for (const o of ["guestok=yes writable=no", "guestok=yes", "browseable=yes writable=yes", "guestok=no writable=yes"]) {
      const r = expectAccepted((f) => (f.host.samba.shares[0].options = o));
      expect(r.warnings.join("\n"), o).not.toMatch(/writable by guests/);
    }
  });
});

describe("ZFS properties that share or export", () => {
  for (const props of ["sharenfs=on", "sharenfs=rw", "sharesmb=on", "compression=lz4,sharesmb=on"]) {
    it(`refuses ${props}`, () =>
      expectRefused("zfs share properties", (f) => (f.host.zfs.datasets[0].properties = props), `${HOST}: $.zfs.datasets[0].properties: `, /share(nfs|smb)=.* outside Phoenix's checked/));
  }
  it("refuses the object spelling too, and keeps plain properties and sharenfs=off", () => {
    expectRefused("zfs share properties", (f) => (f.host.zfs.datasets[0].properties = { recordsize: "16K", sharenfs: "on" }), `${HOST}: $.zfs.datasets[0].properties: `, /sharenfs=on/);
    expectAccepted((f) => (f.host.zfs.datasets[0].properties = "recordsize=16K,compression=lz4,atime=off"));
    expectAccepted((f) => (f.host.zfs.datasets[0].properties = "sharenfs=off,sharesmb=off"));
  });
});

describe("host files copied into guests come from folders the stack declares", () => {
  const HOSTILE = ["/etc/shadow", "/root/.ssh/id_ed25519", "/etc/pve/priv/authkey.key", "/var/lib/pve-cluster/config.db", "/srv/ssl/root_ca.crt", "/home/admin/ca.crt", "/quickOS/../etc/ssl/private/x.pem"];
  for (const p of HOSTILE) {
    // A trusted_ca_cert that is no plain absolute path is PEM text, never a host file.
    for (const key of p.includes("..") ? ["trusted_ca_host_path"] : ["trusted_ca_host_path", "trusted_ca_cert"]) {
      it(`refuses ${key} ${p}`, () =>
        expectRefused("host files into guests", (f) => (ct(f, 955)[key] = p, ct(f, 955).features = ["trusted_ca"]), `${LXC}: $.lxc_configs["955"].${key}: `, /is copied into the guest|must be an absolute host path/));
    }
  }
  it("keeps a certificate in a declared data folder (a dataset's mount point, a bind source)", () => {
    expectAccepted((f) => {
      ct(f, 955).features = ["trusted_ca"];
      ct(f, 955).trusted_ca_host_path = "/quickOS/shared-prod-data/ssl/root_ca.crt";
    });
    expectAccepted((f) => {
      ct(f, 955).features = ["trusted_ca"];
      ct(f, 955).mount_points = [{ host_path: "/srv/certs", container_path: "/certs" }];
      ct(f, 955).trusted_ca_cert = "/srv/certs/root_ca.crt";
    });
  });
});

describe("the README's allowance table lists what each allowance permits", () => {
  const raw = loadDist<typeof import("../../infra/config/lxc-raw")>("infra/config/lxc-raw");
  const readme = readFileSync(path.join(repoRoot, "README.md"), "utf8");
  const row = (name: string) => readme.split("\n").find((l) => l.startsWith(`| \`phoenix:${name}\` |`)) ?? "";

  it("allowHostPaths names every system path the judge refuses", () => {
    const r = row("allowHostPaths");
    for (const p of [...raw.SENSITIVE_HOST_PATHS, ...raw.SENSITIVE_HOST_TREES, ...raw.HOST_DATA_LOCATIONS]) {
      expect(r, p).toContain(/^\/lib/.test(p) ? "`/lib*`" : `\`${p}\``);
    }
  });

  it("allowRawLxc names every privileged host id", () => {
    const r = row("allowRawLxc");
    const gids = Object.keys(raw.PRIVILEGED_HOST_IDS.gid).map(Number).filter((g) => g > 0);
    // Written as ranges and lists: `gid 1-6, 15, 26, ...`.
    const listed = new Set<number>();
    for (const m of (/gid 1-6, ([\d, ]+)\(/.exec(r)?.[1] ?? "").matchAll(/\d+/g)) listed.add(Number(m[0]));
    for (let g = 1; g <= 6; g++) listed.add(g);
    expect([...listed].sort((a, b) => a - b)).toEqual(gids.sort((a, b) => a - b));
    for (const name of Object.values(raw.PRIVILEGED_HOST_IDS.gid)) expect(r, name).toContain(name);
  });
});
