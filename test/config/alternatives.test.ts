// Validators with many alternatives, one row per alternative, each with an accepted neighbour: a
// validator that loses one alternative (a block-device family, an id-map spelling, a firewall
// field's check) fails its own row. Field lists come from the product (the rule schema, the log
// levels), so a new field without rows fails "every field has rows".
import { afterAll, describe, expect, it } from "vitest";
import { loadDist } from "../load";
import { cleanTempDirs, mutatedDir, type Files } from "./helpers";

const raw = loadDist<typeof import("../../infra/config/lxc-raw")>("infra/config/lxc-raw");
const fw = loadDist<typeof import("../../infra/config/firewall")>("infra/config/firewall");
const schema = loadDist<typeof import("../../infra/config/schema")>("infra/config/schema");
const errors = loadDist<typeof import("../../infra/config/errors")>("infra/config/errors");
const loader = loadDist<typeof import("../../infra/config/load")>("infra/config/load");

afterAll(cleanTempDirs);

describe("block devices as bind-mount sources: every family refused, its neighbours accepted", () => {
  // [family, refused device paths, accepted neighbours (character devices and look-alikes)]
  const FAMILIES: [string, string[], string[]][] = [
    ["SCSI/SATA disks", ["/dev/sda", "/dev/sdb1", "/dev/sdaa"], ["/dev/snd", "/dev/sg0"]],
    ["IDE disks", ["/dev/hda", "/dev/hdb2"], ["/dev/hidraw0", "/dev/hwrng"]],
    ["virtio disks", ["/dev/vda", "/dev/vdb1"], ["/dev/vhost-net", "/dev/vfio/vfio"]],
    ["Xen disks", ["/dev/xvda", "/dev/xvdb1"], ["/dev/xen"]],
    // /dev/nvme0 is the controller (a character device): refused as an NVMe admin node, not here.
    ["NVMe", ["/dev/nvme0n1", "/dev/nvme1n1p2"], ["/dev/nvme0", "/dev/nvme-fabrics", "/dev/nvidia0", "/dev/nvidia-uvm"]],
    ["MMC/SD", ["/dev/mmcblk0", "/dev/mmcblk0p1"], ["/dev/mmc"]],
    ["ZFS volumes", ["/dev/zd0", "/dev/zd16p1", "/dev/zvol/tank/vm-100-disk-0", "/dev/zvol"], ["/dev/zero", "/dev/zfs"]],
    ["loop devices", ["/dev/loop0", "/dev/loop12"], ["/dev/loop-control"]],
    ["software RAID", ["/dev/md0", "/dev/md127"], ["/dev/mcelog"]],
    ["device mapper", ["/dev/dm-0", "/dev/mapper/pve-root", "/dev/mapper"], ["/dev/dma_heap", "/dev/dri/renderD128"]],
    ["by-id/by-path links", ["/dev/disk/by-id/nvme-X_1", "/dev/disk/by-uuid/abc", "/dev/disk"], ["/dev/dsp"]],
    ["optical drives", ["/dev/sr0"], ["/dev/serial/by-id/usb-x"]],
    ["network block devices", ["/dev/nbd0", "/dev/rbd0", "/dev/drbd0"], ["/dev/net/tun"]],
    ["cache and persistent memory", ["/dev/bcache0", "/dev/pmem0"], ["/dev/ptmx"]],
  ];
  it.each(FAMILIES)("%s", (_family, refused, accepted) => {
    for (const p of refused) {
      const found = raw.checkBindSource(p);
      expect(found.map((f) => f.message).join(), `${p} is refused as a block device`).toMatch(/is a block device/);
      expect(found[0].allowedBy).toBe("allowHostPaths");
      // Spelled another way, the kernel resolves it to the same device.
      expect(raw.checkBindSource(p.replace("/dev/", "/dev//./")).map((f) => f.message).join(), `${p} spelled with //./`).toMatch(/is a block device/);
    }
    // A neighbour is not taken for a block device (another rule may still refuse it: /dev/sg0 is
    // SCSI generic, /dev/zfs and /dev/loop-control are control nodes).
    for (const p of accepted) expect(raw.checkBindSource(p).map((f) => f.message).join(), `${p} is not a block device`).not.toMatch(/is a block device/);
  });
  it("a device name below another folder is not a device (the match starts at /dev)", () => {
    for (const p of ["/srv/dev/sda", "/data/dev/nvme0n1", "/mnt/tank/dev/disk", "/var/www/dev/mapper/x"]) expect(raw.checkBindSource(p), p).toEqual([]);
  });
  it("the raw mount line refuses the same families (lxc.mount.entry bind sources)", () => {
    for (const [, refused] of FAMILIES) {
      for (const p of refused) {
        const found = raw.checkRawLxcLine("lxc.mount.entry", `${p} mnt/x none bind,create=file 0 0`);
        expect(found.map((f) => f.message).join(), p).toMatch(/is a block device/);
      }
    }
  });
});

describe("id maps: every kind", () => {
  it.each([
    ["u", "uid"],
    ["g", "gid"],
  ])("lxc.idmap %s: onto host %s 0 refused, other host ids accepted, malformed refused", (kind, name) => {
    expect(raw.checkRawLxcLine("lxc.idmap", `${kind} 0 0 65536`).map((f) => f.message)).toEqual([`maps container ids onto host ${name} 0 (host root)`]);
    expect(raw.checkRawLxcLine("lxc.idmap", `${kind} 0 0 65536`)[0].allowedBy).toBe("allowRawLxc");
    expect(raw.checkRawLxcLine("lxc.idmap", `${kind} 0 100000 65536`)).toEqual([]);
    expect(raw.checkRawLxcLine("lxc.idmap", `${kind} 1005 1005 1`)).toEqual([]);
    expect(raw.checkRawLxcLine("lxc.idmap", `${kind} 0 100000`).map((f) => f.message).join()).toMatch(/is not an id map/);
    expect(raw.checkRawLxcLine("lxc.idmap", `${kind} 0 -1 65536`).map((f) => f.message).join()).toMatch(/is not an id map/);
  });
  it("lxc.idmap: other kinds than u and g are refused", () => {
    // LXC reads the line with whitespace-separated fields (several spaces or tabs are one separator).
    expect(raw.checkRawLxcLine("lxc.idmap", "u  0\t100000   65536")).toEqual([]);
    expect(raw.checkRawLxcLine("lxc.idmap", "g 0  0 65536").map((f) => f.message)).toEqual(["maps container ids onto host gid 0 (host root)"]);
    for (const v of ["b 0 100000 65536", "x 0 100000 65536", "U 0 100000 65536", "uid 0 100000 65536", "", "bu 0 100000 65536", "u 0 100000 65536x", "u 0 100000 65536 1"]) {
      expect(raw.checkRawLxcLine("lxc.idmap", v).map((f) => f.message).join(), JSON.stringify(v)).toMatch(/is not an id map/);
    }
  });
  it("id_maps type: every spelling the schema accepts, and its refused neighbours", () => {
    const idMap = (type: unknown) => ({ type, container_id: 0, host_id: 100000, size: 65536 });
    const parse = (type: unknown) => schema.containerSchema.safeParse({ id_maps: [idMap(type)] });
    const problemAt = (type: unknown) => {
      const r = parse(type);
      return r.success ? [] : r.error.issues.filter((i) => i.path.join(".") === "id_maps.0.type").map((i) => i.message);
    };
    for (const ok of ["uid", "gid", "u", "g"]) expect(problemAt(ok), ok).toEqual([]);
    for (const bad of ["UID", "user", "group", "ugid", "", 0]) expect(problemAt(bad), JSON.stringify(bad)).not.toEqual([]);
  });
  it.each([
    ["uid", "uid"],
    ["u", "uid"],
    ["gid", "gid"],
    ["g", "gid"],
  ])("id_maps type %s onto host root: refused naming host %s 0; onto 100000 accepted", (type, name) => {
    const onto = (host_id: number) => (f: Files) => (f.lxc.lxc_configs["955"].id_maps = [{ type, host_id, container_id: 0, size: 65536 }]);
    const refused = loader.loadPhoenixConfig(mutatedDir(onto(0)));
    expect(refused.ok ? [] : refused.errors).toContainEqual(
      expect.stringContaining(`$.lxc_configs["955"].id_maps[0].host_id: maps container ${name}s 0-65535 onto host ${name} 0 (host root)`),
    );
    const fine = loader.loadPhoenixConfig(mutatedDir(onto(100000)));
    expect((fine.ok ? [] : fine.errors).join("\n")).not.toMatch(/host root/);
  });
});

describe("firewall rules: every field, accepted and refused values", () => {
  const base = { type: "in", action: "ACCEPT" };
  // [field, rules accepted, rules refused (with the field's error)]
  const FIELDS: Record<string, { ok: Record<string, unknown>[]; bad: Record<string, unknown>[] }> = {
    type: { ok: [{ type: "in" }, { type: "out" }, { type: "IN" }], bad: [{ type: "forward" }, { type: "inout" }, { type: 1 }] },
    action: { ok: schema.FIREWALL_POLICIES.map((action) => ({ action })), bad: [{ action: "accept" }, { action: "ALLOW" }, { action: "Drop" }] },
    macro: { ok: [{ macro: "SSH" }, { macro: "https" }, { macro: "Ping" }], bad: [{ macro: "NoSuchMacro" }, { macro: "SSH2" }] },
    proto: { ok: [{ proto: "tcp" }, { proto: "udp" }, { proto: "icmp" }, { proto: "icmpv6" }, { proto: "6" }, { proto: 17 }], bad: [{ proto: "tpc" }, { proto: "999" }] },
    dport: {
      ok: [{ proto: "tcp", dport: "22" }, { proto: "udp", dport: "1000:2000" }, { proto: "tcp", dport: "80,443" }, { proto: "tcp", dport: 8080 }],
      bad: [{ proto: "tcp", dport: "70000" }, { proto: "tcp", dport: "2000:1000x" }, { proto: "gre", dport: "22" }],
    },
    port: { ok: [{ proto: "tcp", port: "443" }], bad: [{ proto: "tcp", port: "65536" }, { proto: "tcp", port: "22", dport: "22" }] },
    sport: { ok: [{ proto: "tcp", sport: "1024:65535" }], bad: [{ proto: "tcp", sport: "99999" }, { proto: "gre", sport: "1" }] },
    source: { ok: [{ source: "192.0.2.0/24" }, { source: "192.0.2.7" }, { source: "2001:db8::/32" }], bad: [{ source: "192.0.2.0/33" }, { source: "+nosuchset" }, { source: "999.1.1.1" }] },
    dest: { ok: [{ dest: "10.0.0.1" }, { dest: "10.0.0.0/8" }], bad: [{ dest: "10.0.0.0/40" }, { dest: "nosuchalias" }] },
    iface: { ok: [{ iface: "vmbr0" }, { iface: "eth0.10" }, { iface: "bond0:1" }], bad: [{ iface: "0eth" }, { iface: "a" }, { iface: "vmbr0;x" }] },
    log: { ok: schema.FIREWALL_LOG_LEVELS.map((log) => ({ log })), bad: [{ log: "verbose" }, { log: "INFO" }] },
    comment: { ok: [{ comment: "SSH from the office" }], bad: [{ comment: "two\nlines" }, { comment: "x".repeat(513) }, { comment: 5 }] },
    enabled: { ok: [{ enabled: true }, { enabled: false }, { enabled: 0 }, { enabled: 1 }], bad: [{ enabled: "yes" }, { enabled: 2 }] },
  };

  const read = (rule: Record<string, unknown>) => {
    const findings = new errors.Findings();
    const host = fw.readHostFirewall({ firewall: { enabled: true, global_firewall_rules: [rule] } }, "hypervisor.json", findings);
    return { rules: host?.rules ?? [], errors: findings.errors };
  };

  it("every field of the product's rule schema has rows", () => {
    expect(Object.keys(schema.firewallRuleSchema.shape).sort()).toEqual(Object.keys(FIELDS).sort());
  });

  it.each(Object.entries(FIELDS))("%s", (field, { ok, bad }) => {
    for (const r of ok) {
      const got = read({ ...base, ...r });
      expect(got.errors, JSON.stringify(r)).toEqual([]);
      expect(got.rules, JSON.stringify(r)).toHaveLength(1);
    }
    for (const r of bad) {
      const got = read({ ...base, ...r });
      expect(got.rules, `${JSON.stringify(r)} is refused`).toEqual([]);
      expect(got.errors.join("\n"), `${JSON.stringify(r)}: the error names the rule's field`).toMatch(new RegExp(`global_firewall_rules\\[0\\](\\.(${field}|proto|dport))?: `));
    }
  });
});
