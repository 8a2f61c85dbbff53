// Cross-file checks that keep a config file from granting more than it says, and that make
// `validate` refuse what `plan` or a host script would refuse later. Run by the loader after the
// rules in ./rules (one call); each check is a function of its own with its own test
// (test/config/hardening.test.ts).
//
// - raw LXC lines and bind-mount sources: ./lxc-raw (one validator, shared with the policy pack);
// - Samba share options: ./samba-options (allow-list, names normalised as Samba does);
// - risky values (plain-http downloads without a checksum, NFS `*` with no_root_squash, dataset
//   mount points under sensitive host paths): warnings here, policy violations in prod;
// - what components and providers throw on: arc_max_gb not whole, GPU index out of range,
//   unknown pct_options features, VM NFS mounts with invalid server or paths.
import type { ContainerModel } from "./model";
import { Findings, PathSegment } from "./errors";
import type { RuleInput } from "./rules";
import { HYPERVISOR_FILE, LXC_FILE, VM_FILE } from "./schema";
import { RawLxcAllowances, allowed, checkBindSource, checkRawLxcLine, describe, normaliseHostPath, privilegedIdMap, sensitiveHostPath, sensitiveSharePath } from "./lxc-raw";
import { normaliseSambaName, sambaOptionProblem } from "./samba-options";
import { ABSOLUTE_PATH, HOSTNAME, IPV4, SCRIPT_DIR_PATH, SCRIPT_DISK_PATH, SCRIPT_SHARE_PATH, STORAGE_ID } from "./patterns";
import { cloudImage } from "../components/cloud-init";

type Check = (input: RuleInput, findings: Findings, allow: RawLxcAllowances) => void;

function ctBase(input: RuleInput, ctid: number): PathSegment[] {
  return input.origins.containers.get(ctid) ?? ["lxc_configs", String(ctid)];
}

/** Index of the raw `lxc_options` entry a parsed line came from (same order, one per entry). */
function rawIndex(c: ContainerModel, i: number): number {
  return Array.isArray(c.raw.lxc_options) ? Math.min(i, c.raw.lxc_options.length - 1) : i;
}

/** Raw LXC lines: Proxmox's whitelist, cgroup v2 names, known capabilities, no widening without an allowance. */
const rawLxcLines: Check = (input, findings, allow) => {
  for (const c of input.containers) {
    c.lxcOptions.forEach((o, i) => {
      for (const f of checkRawLxcLine(o.key, o.value)) {
        if (!allowed(f, allow)) findings.error(LXC_FILE, [...ctBase(input, c.ctid), "lxc_options", rawIndex(c, i)], `${o.key}: ${describe(f)}`);
      }
    });
  }
};

/** Bind-mount sources (`mount_points`, `shared_volumes`) outside sensitive host paths, after normalising. */
const bindSources: Check = (input, findings, allow) => {
  for (const c of input.containers) {
    const raw = Array.isArray(c.raw.mount_points) ? (c.raw.mount_points as { host_path?: unknown }[]) : [];
    raw.forEach((m, i) => {
      if (typeof m?.host_path !== "string") return;
      for (const f of checkBindSource(m.host_path)) {
        if (!allowed(f, allow)) findings.error(LXC_FILE, [...ctBase(input, c.ctid), "mount_points", i, "host_path"], describe(f));
      }
    });
  }
  for (const sv of input.host.sharedVolumes) {
    for (const f of checkBindSource(sv.hostPath)) {
      if (!allowed(f, allow)) findings.error(HYPERVISOR_FILE, ["shared_volumes", sv.name, "host_path"], describe(f));
    }
  }
};

/** NFS export and Samba share paths outside the host's system paths (sensitiveSharePath, after
 *  normalising) unless phoenix:allowHostPaths; nfs_export.sh and samba_share.sh refuse the same. */
const sharePaths: Check = (input, findings, allow) => {
  if (allow.hostPaths) return;
  const refuse = (what: string, p: string, at: PathSegment[]) => {
    const hit = sensitiveSharePath(p);
    if (!hit) return;
    const n = normaliseHostPath(p);
    findings.error(HYPERVISOR_FILE, at, `${what} ${p}${n === p ? "" : ` (= ${n})`}, which is${hit === n ? "" : " under"} the host's ${hit}: serve a data directory instead (a stack that needs it sets phoenix:allowHostPaths: true)`);
  };
  input.host.nfsExports.forEach((e, i) => refuse("exports", e.path, ["nfs", "exports", i, "path"]));
  (input.host.samba?.shares ?? []).forEach((s, i) => refuse("shares", s.path, ["samba", "shares", i, "path"]));
};

/** `id_maps` never map container ids onto privileged host ids (root, disk, shadow, ..., or system
 *  ids wholesale: lxc-raw privilegedIdMap) unless phoenix:allowRawLxc; one service id is fine. */
const idMapsOntoRoot: Check = (input, findings, allow) => {
  if (allow.rawLxc) return;
  for (const c of input.containers) {
    const raw = Array.isArray(c.raw.id_maps) ? (c.raw.id_maps as { type?: unknown; host_id?: unknown; container_id?: unknown; size?: unknown }[]) : [];
    raw.forEach((m, i) => {
      if (typeof m?.host_id !== "number") return;
      const type = String(m.type).startsWith("u") ? "uid" : "gid";
      const size = typeof m.size === "number" && m.size > 0 ? m.size : 1;
      const problem = privilegedIdMap(type, m.host_id, size);
      if (!problem) return;
      const ids = size > 1 && typeof m.container_id === "number" ? `${type}s ${m.container_id}-${m.container_id + size - 1}` : `${type} ${String(m.container_id)}`;
      findings.error(LXC_FILE, [...ctBase(input, c.ctid), "id_maps", i, "host_id"], `maps container ${ids} onto ${problem} (a stack that needs it sets phoenix:allowRawLxc: true)`);
    });
  }
};

/** ZFS properties that share or export a dataset themselves (`sharenfs`, `sharesmb`): exports and
 *  shares go through nfs.exports and samba.shares, whose paths and options are checked. */
const shareProperties: Check = (input, findings) => {
  input.host.zfs.datasets.forEach((d, i) => {
    for (const key of ["sharenfs", "sharesmb"]) {
      const v = d.properties[key];
      if (v !== undefined && v !== "off") {
        findings.error(HYPERVISOR_FILE, ["zfs", "datasets", i, "properties"], `${key}=${v} makes ZFS ${key === "sharenfs" ? "export" : "share"} the dataset outside Phoenix's checked ${key === "sharenfs" ? "NFS exports" : "Samba shares"}: remove it and declare the ${key === "sharenfs" ? "export in nfs.exports" : "share in samba.shares"}`);
      }
    }
  });
};

/** Shares that let anyone write without logging in (guest ok and writable): a warning. */
const anonymousWrite: Check = (input, findings) => {
  (input.host.samba?.shares ?? []).forEach((s, i) => {
    const opt = (names: string[]) => {
      let v: string | undefined;
      for (const [k, value] of Object.entries(s.options)) if (names.includes(normaliseSambaName(k))) v = value.toLowerCase();
      return v;
    };
    const yes = (v: string | undefined) => v !== undefined && ["yes", "true", "1", "on"].includes(v);
    const guest = yes(opt(["guestok", "public"]));
    const readOnly = opt(["readonly"]);
    const writable = opt(["writable", "writeable", "writeok"]);
    const writes = writable !== undefined ? yes(writable) : readOnly !== undefined && !yes(readOnly);
    if (guest && writes) findings.warn(HYPERVISOR_FILE, ["samba", "shares", i, "options"], `share ${s.name} is writable by guests (guest ok and writable): anyone on the network can change or fill ${s.path} without logging in`);
  });
};

/**
 * Host files handed to a feature (`*_host_path` parameters, e.g. trusted_ca_host_path, or a
 * trusted_ca_cert given as a path) are copied into the guest: only from a folder the stack
 * declares as data (a shared volume, a bind-mount source, a dataset's mount point), never from
 * the host's system paths. The host copies PEM certificates only (run_in_container.sh).
 */
const hostFiles: Check = (input, findings) => {
  const declared = [
    ...input.host.sharedVolumes.map((v) => v.hostPath),
    ...input.containers.flatMap((c) => c.bindMounts.map((b) => b.hostPath)),
    ...input.host.zfs.datasets.map((d) => d.mountPoint),
  ].map(normaliseHostPath).filter((d) => d !== "/");
  for (const c of input.containers) {
    for (const [key, value] of Object.entries(c.params)) {
      if (!key.endsWith("_host_path") || typeof value !== "string") continue;
      const rawKey = key in c.raw ? key : key === "trusted_ca_host_path" && "trusted_ca_cert" in c.raw ? "trusted_ca_cert" : key;
      const n = normaliseHostPath(value);
      const hit = sensitiveHostPath(n);
      const inside = declared.some((d) => n.startsWith(`${d}/`));
      if (hit || !inside) {
        findings.error(LXC_FILE, [...ctBase(input, c.ctid), rawKey], `${value} is copied into the guest, so it must be a certificate in a folder the stack declares as data (a shared volume, a mount_points host_path or a dataset's mount point)${hit ? `, not under the host's ${hit}` : ""}: put the certificate there and name it`);
      }
    }
  }
};

/** Samba share options: allow-listed parameters only. */
const sambaOptions: Check = (input, findings) => {
  (input.host.samba?.shares ?? []).forEach((s, i) => {
    for (const key of Object.keys(s.options)) {
      const problem = sambaOptionProblem(key);
      if (problem) findings.error(HYPERVISOR_FILE, ["samba", "shares", i, "options"], problem);
    }
  });
};

/** Values of the container features Phoenix sets (`pct set --features`); unknown keys are refused
 *  by normalise.ts (PCT_FEATURE_KEYS). */
export const pctOptions: Check = (input, findings) => {
  const check = (file: string, at: PathSegment[], options: Record<string, string>) => {
    for (const [key, value] of Object.entries(options)) {
      if (["nesting", "keyctl", "fuse", "mknod"].includes(key)) {
        if (!/^(?:0|1|true|false)$/.test(value)) findings.error(file, at, `${key}=${value}: must be 0 or 1`);
      } else if (key === "mount") {
        if (!/^[a-z0-9]+(?:;[a-z0-9]+)*$/.test(value)) findings.error(file, at, `mount=${value}: must be file system types like nfs;cifs`);
      }
    }
  };
  for (const c of input.containers) check(LXC_FILE, [...ctBase(input, c.ctid), "pct_options"], c.pctOptions);
  check(HYPERVISOR_FILE, ["proxmox_defaults", "lxc", "features"], input.host.lxcDefaults.pctOptions);
};

/** Values components would throw on during `plan`. */
const planRefusals: Check = (input, findings) => {
  const arc = input.host.zfs.arcMaxGb;
  if (arc !== undefined && !Number.isInteger(arc)) {
    findings.error(HYPERVISOR_FILE, ["zfs", "arc_max_gb"], `must be a whole number of GiB; got ${arc}`);
  }
  for (const v of input.vms) {
    // infra/components/cloud-init.ts cloudImage: the image must be one it knows how to download.
    if (!v.templateImage) continue;
    try {
      cloudImage(v.templateImage, "import");
    } catch (err) {
      const message = (err as Error).message.replace(/^template_image "[^"]*": /, "");
      findings.error(VM_FILE, [...(input.origins.vms.get(v.vmid) ?? ["vms"]), "template_image"], message);
    }
  }
  for (const c of input.containers) {
    // providers/lxc accepts GPU indexes 0-99 (/dev/nvidia<N>).
    const bad = c.gpus.filter((g) => !(Number.isInteger(g) && g >= 0 && g <= 99));
    if (bad.length) findings.error(LXC_FILE, [...ctBase(input, c.ctid), "gpu_assignment"], `GPU index ${bad.join(",")} out of range (0-99)`);
  }
  // Feature parameters reach a guest as environment variables of its steps; Linux refuses an exec
  // whose single environment string passes 128 KiB ("Argument list too long"). 100 KB per guest
  // keeps every step well below that.
  const PARAMS_LIMIT = 100 * 1024;
  const paramsTooLarge = (file: string, at: PathSegment[], params: Record<string, unknown>) => {
    for (const [key, value] of Object.entries(params)) {
      const size = Buffer.byteLength(typeof value === "string" ? value : JSON.stringify(value) ?? "", "utf8");
      if (size > PARAMS_LIMIT) findings.error(file, [...at, key], `is ${size} bytes; feature parameters must stay under ${PARAMS_LIMIT} bytes (put large data in a file the feature downloads)`);
    }
  };
  for (const c of input.containers) paramsTooLarge(LXC_FILE, ctBase(input, c.ctid), c.params);
  for (const v of input.vms) paramsTooLarge(VM_FILE, input.origins.vms.get(v.vmid) ?? ["vms"], v.params);
  for (const v of input.vms) {
    const rawVolumes = Array.isArray(v.raw.volumes) ? (v.raw.volumes as Record<string, unknown>[]) : [];
    rawVolumes.forEach((r, j) => {
      if (r?.type !== "nfs") return;
      const at: PathSegment[] = [...(input.origins.vms.get(v.vmid) ?? ["vms"]), "volumes", j];
      const server = r.server;
      if (typeof server !== "string" || !(HOSTNAME.test(server) || IPV4.test(server))) {
        findings.error(VM_FILE, [...at, "server"], `must be a host name or IPv4 address; got ${JSON.stringify(server)}`);
      }
      for (const key of ["path", "mount_point"]) {
        const p = r[key];
        if (typeof p !== "string" || !ABSOLUTE_PATH.test(p)) findings.error(VM_FILE, [...at, key], `must be an absolute path without spaces or shell characters; got ${JSON.stringify(p)}`);
      }
    });
  }
};

/** Host-side checks of features/hypervisor/*.sh that are stricter than the schema's patterns:
 *  validate refuses first, naming the field (the scripts' regexes are quoted in each message). */
const hostScriptRefusals: Check = (input, findings) => {
  // The scripts' checks (features/hypervisor/lib/checks.sh), spelled in patterns.ts.
  const [HOST_PATH, DIR_TARGET, STORAGE, DISK] = [SCRIPT_SHARE_PATH, SCRIPT_DIR_PATH, STORAGE_ID, SCRIPT_DISK_PATH];
  const arc = input.host.zfs.arcMaxGb;
  if (arc !== undefined && Number.isInteger(arc) && arc > 99_999) {
    findings.error(HYPERVISOR_FILE, ["zfs", "arc_max_gb"], `must be at most 99999 GiB; got ${arc}`);
  }
  (input.host.samba?.shares ?? []).forEach((sh, i) => {
    if (sh.name.length > 80) findings.error(HYPERVISOR_FILE, ["samba", "shares", i, "name"], `must be at most 80 characters; got ${sh.name.length}`);
    if (!HOST_PATH.test(sh.path)) findings.error(HYPERVISOR_FILE, ["samba", "shares", i, "path"], `serves ${sh.path}: a share path may hold only letters, digits and _ . @ + - /`);
  });
  input.host.nfsExports.forEach((e, i) => {
    if (!HOST_PATH.test(e.path)) findings.error(HYPERVISOR_FILE, ["nfs", "exports", i, "path"], `an export path may hold only letters, digits and _ . @ + - /; got ${e.path}`);
  });
  input.host.zfs.pools.forEach((p, i) => {
    p.disks.forEach((d, j) => {
      if (!DISK.test(d)) findings.error(HYPERVISOR_FILE, ["zfs", "pools", i, "disks", j], `a disk path may hold only letters, digits and _ . / : + -; got ${d}`);
    });
  });
  input.host.zfs.datasets.forEach((d, i) => {
    if (!d.storage) return;
    if (!STORAGE.test(d.storage.id)) {
      findings.error(HYPERVISOR_FILE, ["zfs", "datasets", i, "name"], `storage id ${d.storage.id} must start with a letter and end with a letter or digit (pvesm)`);
    }
    if (d.storage.type === "dir" && !DIR_TARGET.test(d.storage.target)) {
      findings.error(HYPERVISOR_FILE, ["zfs", "datasets", i, "properties"], `a dir storage path may hold only letters, digits and _ . / -; got ${d.storage.target}`);
    }
  });
};

/** Risky but legal values: warnings (the policy pack turns them into violations in prod). */
const riskyValues: Check = (input, findings) => {
  const nv = input.host.nvidiaDriver;
  if (nv && nv.runfileUrl.startsWith("http://") && !nv.runfileSha256) {
    findings.warn(HYPERVISOR_FILE, ["nvidia_driver", "runfile_url"], "plain http:// download without runfile_sha256: anyone on the path can replace the driver (use https or set runfile_sha256)");
  }
  input.host.nfsExports.forEach((e, i) => {
    if (e.clients.includes("*") && e.options.includes("no_root_squash")) {
      findings.warn(HYPERVISOR_FILE, ["nfs", "exports", i], `exports ${e.path} to every host (*) with no_root_squash: any client's root owns the files`);
    }
  });
  input.host.zfs.datasets.forEach((d, i) => {
    const mp = d.properties.mountpoint;
    if (mp && mp.startsWith("/") && sensitiveHostPath(mp)) {
      findings.warn(HYPERVISOR_FILE, ["zfs", "datasets", i, "properties"], `mountpoint ${mp} is under the host's ${sensitiveHostPath(mp)}: the dataset would shadow system files`);
    }
  });
};

const HARDENING_CHECKS: Record<string, Check> = { rawLxcLines, bindSources, sharePaths, idMapsOntoRoot, shareProperties, anonymousWrite, hostFiles, sambaOptions, pctOptions, planRefusals, hostScriptRefusals, riskyValues };

/** Runs every hardening check; `allow` are the stack's allowances (`phoenix:allowRawLxc`, `phoenix:allowHostPaths`). */
export function runHardeningChecks(input: RuleInput, findings: Findings, allow: RawLxcAllowances = {}): void {
  for (const check of Object.values(HARDENING_CHECKS)) check(input, findings, allow);
}
