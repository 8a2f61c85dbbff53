// Cross-file rules: what no single file's schema can see. Each rule is a function of its own (and
// has its own test); all run, and every finding is reported.
import { LXC_FEATURES, VM_FEATURES, declaredAppArmorProfiles, findAppArmorProfile, findConfigScript, findUserFeature } from "../../features/registry";
import * as fs from "fs";
import * as path from "path";
import { isBuiltinAppArmorProfile, type ContainerModel, type HostModel, type VmModel } from "./model";
import { Findings, PathSegment } from "./errors";
import type { GuestOrigins } from "./normalise";
import { HYPERVISOR_FILE, LXC_FILE, VM_FILE } from "./schema";
import { SNAPSHOT_NAME } from "./patterns";
import { checkPciPassthrough } from "./pci";

export interface RuleInput {
  host: HostModel;
  containers: ContainerModel[];
  vms: VmModel[];
  origins: GuestOrigins;
  /** `nvidia_driver_version` of the LXC file (the user-space driver containers install). */
  lxcNvidiaVersion?: string;
  /** The stack folder holding the three files: user features and scripts are looked up there.
   *  Without it, only Phoenix's own features and scripts count. */
  configDir?: string;
  /** A cluster stack's nodes, the primary first, each with its host config and the file it came
   *  from (`phoenix_hypervisor_config.json` or `nodes/<node>/phoenix_hypervisor_config.json`).
   *  Absent: one node whose host is `host`, and guests' `node` is not judged. */
  nodes?: { name: string; host: HostModel; file: string }[];
}

/** The host config of node `node` (the stack's `host` for an unknown node or a single-node input). */
function nodeOf(input: RuleInput, node: string): { name: string; host: HostModel; file: string } {
  return input.nodes?.find((n) => n.name === node) ?? { name: node, host: input.host, file: HYPERVISOR_FILE };
}

/** More than one node: messages name the node. */
function multiNode(input: RuleInput): boolean {
  return (input.nodes?.length ?? 0) > 1;
}

type Rule = (input: RuleInput, findings: Findings) => void;

function ctPath(input: RuleInput, ctid: number, ...rest: PathSegment[]): PathSegment[] {
  return [...(input.origins.containers.get(ctid) ?? ["lxc_configs", String(ctid)]), ...rest];
}
function vmPath(input: RuleInput, vmid: number, ...rest: PathSegment[]): PathSegment[] {
  return [...(input.origins.vms.get(vmid) ?? ["vms"]), ...rest];
}

/** LXC and VM IDs share one namespace; VMIDs must not repeat. */
export const uniqueIds: Rule = (input, findings) => {
  const ctids = new Set(input.containers.map((c) => c.ctid));
  for (const vmid of new Set(input.vms.map((v) => v.vmid))) {
    if (ctids.has(vmid)) {
      findings.error(VM_FILE, vmPath(input, vmid, "vmid"), `ID ${vmid} is also container ${vmid} in ${LXC_FILE} (LXC and VM IDs share one namespace)`);
    }
  }
};

/** Repeated VMIDs inside the VM file (found from the raw list, since the model is keyed by ID). */
export function duplicateVmids(vmids: number[], findings: Findings): void {
  const first = new Map<number, number>();
  vmids.forEach((id, i) => {
    if (first.has(id)) findings.error(VM_FILE, ["vms", i, "vmid"], `VMID ${id} is already used by $.vms[${first.get(id)}]`);
    else first.set(id, i);
  });
}

/** A clone's parent exists, is a template and has a snapshot to clone from. */
export const cloneParents: Rule = (input, findings) => {
  const byCtid = new Map(input.containers.map((c) => [c.ctid, c]));
  for (const c of input.containers) {
    if (c.cloneFrom === undefined) continue;
    const at = ctPath(input, c.ctid, "clone_from_ctid");
    const parent = byCtid.get(c.cloneFrom);
    if (!parent) {
      const vm = input.vms.some((v) => v.vmid === c.cloneFrom);
      findings.error(LXC_FILE, at, `parent ${c.cloneFrom} does not exist${vm ? " (it is a VM, not a container)" : ""}`);
    } else if (!parent.templateSnapshotName) {
      findings.error(LXC_FILE, at, `parent ${c.cloneFrom} is not a template: it has no template_snapshot_name to clone from`);
    } else if (parent.storageSizeGb > c.storageSizeGb) {
      findings.error(
        LXC_FILE,
        ctPath(input, c.ctid, "storage_size_gb"),
        `${c.storageSizeGb} GB is smaller than parent ${parent.ctid}'s ${parent.storageSizeGb} GB (a clone cannot shrink its disk)`,
      );
    }
  }
  const byVmid = new Map(input.vms.map((v) => [v.vmid, v]));
  for (const vm of input.vms) {
    if (vm.cloneFrom === undefined) continue;
    const at = vmPath(input, vm.vmid, "clone_from_vmid");
    const parent = byVmid.get(vm.cloneFrom);
    if (!parent) {
      const ct = input.containers.some((c) => c.ctid === vm.cloneFrom);
      findings.error(VM_FILE, at, `parent ${vm.cloneFrom} does not exist${ct ? " (it is a container, not a VM)" : ""}`);
    } else if (!parent.isTemplate && !parent.templateSnapshotName) {
      findings.error(VM_FILE, at, `parent ${vm.cloneFrom} is not a template: set is_template or template_snapshot_name on it`);
    } else if (parent.diskSizeGb > vm.diskSizeGb) {
      findings.error(VM_FILE, vmPath(input, vm.vmid, "disk_size_gb"), `${vm.diskSizeGb} GB is smaller than parent ${parent.vmid}'s ${parent.diskSizeGb} GB (a clone cannot shrink its disk)`);
    }
  }
};

/** `dependencies` name existing LXC or VM IDs. */
export const dependenciesExist: Rule = (input, findings) => {
  const ids = new Set([...input.containers.map((c) => c.ctid), ...input.vms.map((v) => v.vmid)]);
  const check = (file: string, base: PathSegment[], deps: number[], raw: unknown) => {
    const rawList = Array.isArray(raw) ? raw : [];
    deps.forEach((dep) => {
      if (ids.has(dep)) return;
      const index = rawList.findIndex((r) => Number(r) === dep);
      findings.error(file, [...base, "dependencies", index < 0 ? 0 : index], `${dep} is neither a container nor a VM in this configuration`);
    });
  };
  for (const c of input.containers) check(LXC_FILE, ctPath(input, c.ctid), c.dependencies, c.raw.dependencies);
  for (const v of input.vms) check(VM_FILE, vmPath(input, v.vmid), v.dependencies, v.raw.dependencies);
};

/** No cycle through clones and dependencies together; each cycle is named once, e.g. `950 -> 951 -> 950`. */
export const noCycles: Rule = (input, findings) => {
  const edges = new Map<number, { to: number; via: "clone" | "dependency" }[]>();
  const isVm = new Set(input.vms.map((v) => v.vmid));
  const add = (from: number, to: number, via: "clone" | "dependency") => {
    if (!edges.has(from)) edges.set(from, []);
    edges.get(from)!.push({ to, via });
  };
  for (const c of input.containers) {
    if (c.cloneFrom !== undefined) add(c.ctid, c.cloneFrom, "clone");
    for (const d of c.dependencies) add(c.ctid, d, "dependency");
  }
  for (const v of input.vms) {
    if (v.cloneFrom !== undefined) add(v.vmid, v.cloneFrom, "clone");
    for (const d of v.dependencies) add(v.vmid, d, "dependency");
  }
  for (const list of edges.values()) list.sort((a, b) => a.to - b.to);

  const state = new Map<number, "visiting" | "done">();
  const stack: number[] = [];
  const reported = new Set<string>();
  const visit = (node: number) => {
    state.set(node, "visiting");
    stack.push(node);
    for (const { to, via } of edges.get(node) ?? []) {
      const s = state.get(to);
      if (s === "visiting") {
        const cycle = stack.slice(stack.indexOf(to));
        // The same cycle is found from any of its members: report it once, starting at its lowest ID.
        const start = cycle.indexOf(Math.min(...cycle));
        const rotated = [...cycle.slice(start), ...cycle.slice(0, start)];
        const key = rotated.join(",");
        if (!reported.has(key)) {
          reported.add(key);
          const first = rotated[0];
          const next = rotated[1] ?? first;
          const viaFirst = (edges.get(first) ?? []).find((e) => e.to === next)?.via ?? via;
          const field = viaFirst === "clone" ? (isVm.has(first) ? "clone_from_vmid" : "clone_from_ctid") : "dependencies";
          const file = isVm.has(first) ? VM_FILE : LXC_FILE;
          const at = isVm.has(first) ? vmPath(input, first, field) : ctPath(input, first, field);
          findings.error(file, at, `cycle: ${[...rotated, first].join(" -> ")}`);
        }
      } else if (s === undefined) {
        visit(to);
      }
    }
    stack.pop();
    state.set(node, "done");
  };
  for (const node of [...edges.keys()].sort((a, b) => a - b)) if (!state.has(node)) visit(node);
};

/** Static IPs and MAC addresses appear once (host address included). */
export const uniqueAddresses: Rule = (input, findings) => {
  const ips = new Map<string, string>();
  const macs = new Map<string, string>();
  if (multiNode(input)) {
    // Each node's own host file: its address is that node's (nodes sharing the stack's file share it).
    const seen = new Set<string>();
    for (const n of input.nodes!) {
      const address = n.host.network.address?.split("/")[0];
      if (!address || seen.has(n.file)) continue;
      seen.add(n.file);
      const holder = ips.get(address);
      if (holder) findings.error(n.file, ["network", "interfaces", "address"], `IP ${address} is already used by ${holder}`);
      else ips.set(address, `node ${n.name} (${n.file} network.interfaces.address)`);
    }
  } else if (input.host.network.address) ips.set(input.host.network.address.split("/")[0], "the host (network.interfaces.address)");
  const claim = (map: Map<string, string>, value: string, owner: string, file: string, at: PathSegment[], what: string) => {
    const holder = map.get(value);
    if (holder) findings.error(file, at, `${what} ${value} is already used by ${holder}`);
    else map.set(value, owner);
  };
  // Explicit addresses claim first: a default (proxmox_defaults.lxc.network_config) never makes an
  // explicit value invalid; the container that took the default is the one reported.
  const explicitFirst = [...input.containers].sort((a, b) => Number(!("network_config" in a.raw)) - Number(!("network_config" in b.raw)));
  for (const c of explicitFirst) {
    if (c.network.ip !== "dhcp") {
      const given = "network_config" in c.raw;
      claim(ips, c.network.ip.split("/")[0], `container ${c.ctid}`, LXC_FILE, given ? ctPath(input, c.ctid, "network_config", "ip") : ctPath(input, c.ctid), given ? "IP" : "IP (from proxmox_defaults.lxc.network_config)");
    }
    if (c.macAddress) claim(macs, c.macAddress, `container ${c.ctid}`, LXC_FILE, ctPath(input, c.ctid, "mac_address"), "MAC");
  }
  for (const v of input.vms) {
    if (v.network.ip !== "dhcp") {
      claim(ips, v.network.ip.split("/")[0], `VM ${v.vmid}`, VM_FILE, vmPath(input, v.vmid, "network_config", "ip"), "IP");
    }
    if (v.macAddress) claim(macs, v.macAddress, `VM ${v.vmid}`, VM_FILE, vmPath(input, v.vmid, "mac_address"), "MAC");
  }
};

/**
 * A container feature written for the Bash tool (lxc_setup/phoenix_hypervisor_feature_install_<name>.sh:
 * run on the host as `<script> <CTID>`, sourcing phoenix_hypervisor_common_utils.sh from the host's
 * install folder, acting on the container with `pct exec`/`pct push`).
 */
export function bashContractFeature(text: string): boolean {
  const code = text.split("\n").filter((l) => !/^\s*#/.test(l)).join("\n");
  return /(^|[\s;&|(`$])pct\s+(exec|push|pull|enter|set|config)\b/.test(code) || /phoenix_hypervisor_common_utils\.sh/.test(code);
}

/** Feature names are Phoenix's own, or scripts the stack folder provides (`features/<lxc|vm>/<name>.sh`). */
export const knownFeatures: Rule = (input, findings) => {
  const own = { lxc: new Set<string>(LXC_FEATURES), vm: new Set<string>(VM_FEATURES) };
  const check = (room: "lxc" | "vm", f: string, file: string, at: PathSegment[]) => {
    if (own[room].has(f)) return;
    const known = (room === "lxc" ? LXC_FEATURES : VM_FEATURES).join(", ");
    if (!input.configDir) return findings.error(file, at, `unknown feature ${JSON.stringify(f)}; known: ${known}`);
    const user = findUserFeature(input.configDir, room, f);
    if (!user.found) {
      findings.error(file, at, `unknown feature ${JSON.stringify(f)}; known: ${known}; not in the stack folder either (looked for ${user.lookedIn.join(", ")})`);
    } else if (room === "lxc" && bashContractFeature(fs.readFileSync(user.file, "utf8"))) {
      findings.error(
        file,
        at,
        `${user.file} is written for the Bash orchestrator's feature contract (run on the host with the CTID as $1, acting through pct exec/pct push); ` +
          "Phoenix runs a feature script inside the container, where pct does not exist: rewrite it to run inside the container (the commands it hands to pct exec)",
      );
    }
  };
  for (const c of input.containers) c.features.forEach((f, i) => check("lxc", f, LXC_FILE, ctPath(input, c.ctid, "features", i)));
  for (const v of input.vms) v.features.forEach((f, i) => check("vm", f, VM_FILE, vmPath(input, v.vmid, "features", i)));
  input.host.lxcDefaults.features.forEach((f) => check("lxc", f, HYPERVISOR_FILE, ["proxmox_defaults", "lxc", "features"]));
};

const notFound = (name: string, lookedIn: string[]) =>
  lookedIn.length ? `script ${name} not found; looked in ${lookedIn.join(", ")}` : `script name ${name} must be letters, digits, '_.-' and '/' between them`;

/** Every application and test script the containers name exists (all missing ones reported at once). */
export const scriptsExist: Rule = (input, findings) => {
  if (!input.configDir) return;
  for (const c of input.containers) {
    if (c.applicationScript) {
      const r = findConfigScript(input.configDir, "apps", c.applicationScript);
      if (!r.found) findings.error(LXC_FILE, ctPath(input, c.ctid, "application_script"), notFound(c.applicationScript, r.lookedIn));
    }
    const hs = c.healthCheck?.script;
    if (hs) {
      const r = findConfigScript(input.configDir, "health_checks", hs.name);
      if (!r.found) {
        findings.error(
          LXC_FILE,
          ctPath(input, c.ctid, "health_check", "command"),
          r.lookedIn.length
            ? `health-check script ${hs.name} not found; looked in ${r.lookedIn.join(", ")} (copy it there from the Bash tool's bin/health_checks/: it is pushed into the container and run there)`
            : notFound(hs.name, r.lookedIn),
        );
      }
    }
    c.extraHealthChecks.forEach((t, i) => {
      if (t.type !== "script") return;
      const r = findConfigScript(input.configDir!, "tests", t.path);
      if (!r.found) findings.error(LXC_FILE, ctPath(input, c.ctid, "tests", "health_checks", i, "path"), notFound(t.path, r.lookedIn));
    });
  }
};

/**
 * A custom `apparmor_profile` is the stack folder's `apparmor/<name>`, installed and loaded on the
 * host (the Bash tool's apply_apparmor_profile copied etc/apparmor/<name> to /etc/apparmor.d and
 * failed when it was missing). The file must declare that profile and nothing else: a container
 * whose profile is not loaded does not start, and a file declaring another name would replace
 * that profile for everything confined by it (LXC's own default included).
 */
export const appArmorProfiles: Rule = (input, findings) => {
  if (!input.configDir) return;
  for (const c of input.containers) {
    const name = c.apparmorProfile;
    if (name === undefined || isBuiltinAppArmorProfile(name)) continue;
    const where = ctPath(input, c.ctid, "apparmor_profile");
    const r = findAppArmorProfile(input.configDir, name);
    if (!r.found) {
      findings.error(LXC_FILE, where, r.lookedIn.length
        ? `AppArmor profile ${name} not found; looked in ${r.lookedIn.join(", ")} (copy the profile from the Bash tool's etc/apparmor/ there, or use unconfined for Proxmox's default confinement)`
        : `AppArmor profile name ${name} is not a file name`);
      continue;
    }
    const declared = declaredAppArmorProfiles(fs.readFileSync(r.file, "utf8"));
    const other = declared.filter((d) => d !== name);
    if (!declared.includes(name) || other.length > 0) {
      findings.error(LXC_FILE, where, `${r.file} must declare exactly profile ${name}; it declares ${declared.length ? declared.join(", ") : "none"} (rename the profile in the file, or the file and apparmor_profile, so they match)`);
    }
  }
};

/**
 * A VM's trusted_ca runs in cloud-init inside the VM, which cannot read a file on the host: it
 * needs the certificate inline (`trusted_ca_cert` holding the PEM) or a URL. The Bash tool's VMs
 * read it from a folder vm-manager.sh staged from the host's step-ca data, which Phoenix does not
 * do; without a source the feature fails at first boot.
 */
export const vmTrustedCaSource: Rule = (input, findings) => {
  for (const v of input.vms) {
    const i = v.features.indexOf("trusted_ca");
    if (i < 0) continue;
    const cert = v.params.trusted_ca_cert;
    const inline = typeof cert === "string" && cert.includes("-----BEGIN CERTIFICATE-----");
    if (inline || typeof v.params.trusted_ca_url === "string") continue;
    findings.error(
      VM_FILE,
      vmPath(input, v.vmid, "features", i),
      `trusted_ca in VM ${v.vmid} has no CA it can reach: cloud-init runs inside the VM and cannot read a host file; ` +
        "set trusted_ca_cert to the root certificate (PEM) or trusted_ca_url (e.g. the step-ca's https://<ca>:9000/roots.pem, with trusted_ca_sha256)",
    );
  }
};

/** Host folders a container never has unless they are mounted into it: the Bash tool's install
 *  folder, Proxmox's config, storage mounts, datasets and shared volume sources. */
const HOST_ONLY_ROOTS = ["/usr/local/phoenix_hypervisor", "/etc/pve", "/var/lib/vz"];

/** A health command runs inside the container: a host path it names must be mounted there. */
export const healthCommandPaths: Rule = (input, findings) => {
  const rootsOf = (host: HostModel) =>
    [
      ...HOST_ONLY_ROOTS,
      host.mountPointBase,
      ...host.zfs.datasets.map((d) => d.mountPoint),
      ...host.sharedVolumes.map((v) => v.hostPath),
      ...(input.configDir ? [input.configDir] : []),
    ].map((r) => r.replace(/(.)\/+$/, "$1"));
  const under = (p: string, root: string) => p === root || p.startsWith(root === "/" ? "/" : `${root}/`);
  for (const c of input.containers) {
    if (!c.healthCheck) continue;
    const hostRoots = rootsOf(nodeOf(input, c.node).host);
    const mounted = [...c.bindMounts.map((b) => b.containerPath), ...c.volumes.map((v) => v.mountPoint)].map((r) => r.replace(/(.)\/+$/, "$1"));
    // A script (first word `*.sh`) travels from the stack folder: only its arguments run as given.
    const words = c.healthCheck.script ? c.healthCheck.script.args : c.healthCheck.command.split(" ");
    for (const word of words) {
      if (!word.startsWith("/")) continue;
      if (mounted.some((m) => under(word, m))) continue;
      const root = hostRoots.find((r) => r !== "/" && under(word, r));
      if (root) {
        findings.error(
          LXC_FILE,
          ctPath(input, c.ctid, "health_check", "command"),
          `names ${word}, a host path (under ${root}) that container ${c.ctid} does not have: the command runs inside the container; mount it or put the check in tests.health_checks`,
        );
      }
    }
  }
};

/** GPUs (and the nvidia feature) only where the guest's node installs the NVIDIA driver, at the same version. */
export const gpuNeedsDriver: Rule = (input, findings) => {
  const where = (node: string) => {
    const n = nodeOf(input, node);
    return multiNode(input) ? `node ${node}'s ${n.file}` : n.file;
  };
  for (const c of input.containers) {
    const driver = nodeOf(input, c.node).host.nvidiaDriver;
    if (!driver && c.gpus.length > 0) {
      findings.error(LXC_FILE, ctPath(input, c.ctid, "gpu_assignment"), `GPU ${c.gpus.join(",")} assigned, but ${where(c.node)} does not install the NVIDIA driver (nvidia_driver.install)`);
    }
    const i = c.features.indexOf("nvidia");
    if (!driver && i >= 0) {
      findings.error(LXC_FILE, ctPath(input, c.ctid, "features", i), `feature nvidia needs the host NVIDIA driver, but ${where(c.node)} does not install it`);
    }
  }
  for (const v of input.vms) {
    const driver = nodeOf(input, v.node).host.nvidiaDriver;
    const i = v.features.indexOf("nvidia");
    if (!driver && i >= 0) {
      findings.error(VM_FILE, vmPath(input, v.vmid, "features", i), `feature nvidia needs the host NVIDIA driver, but ${where(v.node)} does not install it`);
    }
  }
  // Containers install the LXC file's user-space driver: it must match every node that has a driver.
  const hosts = input.nodes?.length ? input.nodes : [{ name: "", host: input.host, file: HYPERVISOR_FILE }];
  const reported = new Set<string>();
  for (const n of hosts) {
    const driver = n.host.nvidiaDriver;
    if (!driver || !input.lxcNvidiaVersion || input.lxcNvidiaVersion === driver.version || reported.has(driver.version)) continue;
    reported.add(driver.version);
    const of = multiNode(input) ? ` of node ${n.name}` : "";
    findings.error(LXC_FILE, ["nvidia_driver_version"], `${input.lxcNvidiaVersion} differs from the host driver ${driver.version}${of} (containers must match the host)`);
  }
};

/** `shared_volumes` mounts naming no container are skipped with a warning: the Bash tool applied
 *  shared volumes per container and never saw them. The mounts Phoenix does apply are named in one
 *  warning when the stack was copied from the Bash tool: it applied them only in its versions of mid-September 2025 (phoenix_orchestrator.sh
 *  apply_shared_volumes); later versions read each container's `mount_points` and left these
 *  entries unused, so a container one of those built may not have the mount yet. */
export const sharedVolumeTargets: Rule = (input, findings) => {
  const byCtid = new Map(input.containers.map((c) => [c.ctid, c]));
  const applied: string[] = [];
  for (const sv of input.host.sharedVolumes) {
    for (const m of sv.mounts) {
      const c = byCtid.get(m.ctid);
      if (!c) {
        const vm = input.vms.some((v) => v.vmid === m.ctid);
        findings.warn(HYPERVISOR_FILE, ["shared_volumes", sv.name, "mounts", String(m.ctid)], `skipped: container ${m.ctid} does not exist${vm ? " (it is a VM; bind mounts are for containers)" : ""}`);
      } else if (c.bindMounts.some((b) => b.hostPath === sv.hostPath && b.containerPath === m.containerPath)) {
        applied.push(`${sv.name} → ${m.ctid}:${m.containerPath}`);
      }
    }
  }
  // Only for a stack copied from the Bash tool (its phoenix_hypervisor_common_utils.sh beside the
  // files, the marker of the Bash-era application protocol): Phoenix's own stacks mean these mounts.
  const bashEra = input.configDir !== undefined && fs.existsSync(path.join(input.configDir, "phoenix_hypervisor_common_utils.sh"));
  if (applied.length > 0 && bashEra) {
    findings.warn(
      HYPERVISOR_FILE,
      ["shared_volumes"],
      `${applied.length} bind mount(s) are applied (${applied.slice(0, 4).join(", ")}${applied.length > 4 ? ", …" : ""}); the Bash orchestrator stopped applying shared_volumes mounts after its September 2025 versions ` +
        "(later ones read each container's mount_points), so a container it built may not have them: the first `pulumi up` adds them and restarts it; remove the entries a container should not get",
    );
  }
};

/** Disks land on storages that take them: `rootdir` for container disks and mount points, `images` for VM disks.
 *  (Standard storages are not described in the host config; Proxmox checks those itself.) */
export const storageContent: Rule = (input, findings) => {
  let content = new Map<string, string[]>();
  const need = (storage: string, type: string, file: string, at: PathSegment[], what: string) => {
    const has = content.get(storage);
    if (has && !has.includes(type)) {
      findings.error(file, at, `storage ${storage} does not take ${what} (content ${has.join(",") || "none"}; needs ${type})`);
    }
  };
  const contentOn = (node: string) => new Map(nodeOf(input, node).host.storages.map((s) => [s.id, s.content]));
  for (const c of input.containers) {
    content = contentOn(c.node);
    const at = "storage_pool" in c.raw ? ctPath(input, c.ctid, "storage_pool") : ctPath(input, c.ctid);
    need(c.storagePool, "rootdir", LXC_FILE, at, "container disks");
    const raw = c.raw as { volumes?: unknown[]; zfs_volumes?: unknown[] };
    c.volumes.forEach((v) => {
      const named = (x: unknown) => (x as { name?: unknown } | null | undefined)?.name === v.name;
      const field = (raw.volumes ?? []).some(named) ? "volumes" : "zfs_volumes";
      const index = (raw[field] ?? []).findIndex(named);
      need(v.storage, "rootdir", LXC_FILE, ctPath(input, c.ctid, field, Math.max(index, 0)), "container volumes");
    });
  }
  for (const v of input.vms) {
    content = contentOn(v.node);
    const at = "storage_pool" in v.raw ? vmPath(input, v.vmid, "storage_pool") : ["vm_defaults", "storage_pool"];
    need(v.storagePool, "images", VM_FILE, at, "VM disks");
    v.volumes.forEach((x, i) => need(x.storage, "images", VM_FILE, vmPath(input, v.vmid, "volumes", i), "VM disks"));
  }
};

/**
 * A cluster registers each storage only for the nodes whose host files register it (storage.cfg
 * `nodes`), so a guest's disk or volume on a storage another node registers is refused by Proxmox
 * on the guest's node ("storage 'X' is not available on node 'Y'", pve-storage storage_check_node).
 * Storages no node registers are the host's own (local, local-lvm...) and are not judged here.
 */
export const storagesOnGuestNode: Rule = (input, findings) => {
  if (!multiNode(input)) return;
  const registeredBy = (id: string) => input.nodes!.filter((n) => n.host.storages.some((s) => s.id === id)).map((n) => n.name);
  const check = (node: string, storage: string, file: string, at: PathSegment[], what: string) => {
    const on = registeredBy(storage);
    if (on.length > 0 && !on.includes(node)) {
      findings.error(file, at, `${what} is on node ${node}, but storage ${storage} is registered only on node${on.length > 1 ? "s" : ""} ${on.join(", ")} (their host files); add it to ${node}'s host file or pick a storage of ${node}`);
    }
  };
  for (const c of input.containers) {
    const raw = c.raw as { volumes?: unknown[]; zfs_volumes?: unknown[] };
    c.volumes.forEach((v) => {
      const named = (x: unknown) => (x as { name?: unknown } | null | undefined)?.name === v.name;
      const field = (raw.volumes ?? []).some(named) ? "volumes" : "zfs_volumes";
      check(c.node, v.storage, LXC_FILE, ctPath(input, c.ctid, field, Math.max((raw[field] ?? []).findIndex(named), 0)), `container ${c.ctid}'s volume ${v.name}`);
    });
  }
  for (const v of input.vms) v.volumes.forEach((x, i) => check(v.node, x.storage, VM_FILE, vmPath(input, v.vmid, "volumes", i), `VM ${v.vmid}'s volume ${x.name}`));
};

/** Storage types whose container volumes Proxmox can snapshot (raw volumes on dir-like storages cannot). */
const SNAPSHOT_TYPES = ["zfspool", "lvmthin", "rbd", "zfs", "cephfs", "btrfs"];

/**
 * Templates are snapshotted (`pct snapshot`): every volume of the container (root disk and
 * volumes) must be on a storage that can snapshot, or Proxmox refuses with "snapshot feature is
 * not available" (a container volume on a dir storage is a raw image: no snapshots). Storages the
 * config does not describe are not judged.
 */
export const templateSnapshotStorage: Rule = (input, findings) => {
  // Only storages the config registers are judged: the installer's `local` is usually a dir
  // storage, but its type is the host's business (phoenix doctor reads it from storage.cfg).
  for (const c of input.containers) {
    if (c.templateSnapshotName === undefined) continue;
    const typeOf = (id: string) => nodeOf(input, c.node).host.storages.find((s) => s.id === id)?.type;
    for (const [storage, where] of [[c.storagePool, "storage_pool"], ...c.volumes.map((v) => [v.storage, `volume ${v.name}`])] as const) {
      const type = typeOf(storage);
      if (type !== undefined && !SNAPSHOT_TYPES.includes(type)) {
        findings.error(
          LXC_FILE,
          ctPath(input, c.ctid, "template_snapshot_name"),
          `template ${c.ctid} is snapshotted, but its ${where} is on storage ${storage} (type ${type}), which cannot take container snapshots; put it on a zfspool or lvmthin storage`,
        );
      }
    }
  }
};

/** Snapshot names Proxmox accepts: `pve-configid` (letter first, 2-40 of letters, digits, _ and -), not a reserved name. */
export const snapshotNames: Rule = (input, findings) => {
  const check = (file: string, at: PathSegment[], name: string | undefined) => {
    if (name === undefined) return;
    if (!SNAPSHOT_NAME.test(name)) {
      findings.error(file, at, `Proxmox refuses snapshot name ${JSON.stringify(name)}: a letter, then 1-39 letters, digits, '_' or '-'`);
    } else if (["current", "vzdump", "pending"].includes(name)) {
      findings.error(file, at, `Proxmox reserves the snapshot name ${JSON.stringify(name)}; choose another`);
    }
  };
  for (const c of input.containers) check(LXC_FILE, ctPath(input, c.ctid, "template_snapshot_name"), c.templateSnapshotName);
  for (const v of input.vms) check(VM_FILE, vmPath(input, v.vmid, "template_snapshot_name"), v.templateSnapshotName);
};

/** A clone keeps its parent's `unprivileged` (Proxmox copies it and cannot change it afterwards). */
export const cloneUnprivileged: Rule = (input, findings) => {
  const byCtid = new Map(input.containers.map((c) => [c.ctid, c]));
  for (const c of input.containers) {
    const parent = c.cloneFrom !== undefined ? byCtid.get(c.cloneFrom) : undefined;
    if (!parent || parent.unprivileged === c.unprivileged) continue;
    findings.error(
      LXC_FILE,
      ctPath(input, c.ctid, "unprivileged"),
      `is ${c.unprivileged}, but parent ${parent.ctid} is ${parent.unprivileged}: a clone keeps its parent's unprivileged setting (Proxmox cannot change it after creation); clone from a template with the same setting`,
    );
  }
};

/** A guest's `node` is one of the stack's nodes (`phoenix:nodes`, or `phoenix:node` alone). */
export const guestNodes: Rule = (input, findings) => {
  if (!input.nodes?.length) return;
  const names = input.nodes.map((n) => n.name);
  const known = names.length > 1 ? `the stack's nodes are ${names.join(", ")} (phoenix:nodes)` : `the stack's only node is ${names[0]} (phoenix:node; list more in phoenix:nodes)`;
  for (const c of input.containers) {
    if (!names.includes(c.node)) findings.error(LXC_FILE, ctPath(input, c.ctid, "node"), `node ${c.node} is not a node of this stack; ${known}`);
  }
  for (const v of input.vms) {
    if (!names.includes(v.node)) findings.error(VM_FILE, vmPath(input, v.vmid, "node"), `node ${v.node} is not a node of this stack; ${known}`);
  }
};

/**
 * A clone is created on its parent's node. Proxmox clones onto another node (`--target`) only
 * when the source is on shared storage (pve-container src/PVE/API2/LXC.pm and qemu-server
 * PVE/API2/Qemu.pm clone_vm: "Target node. Only allowed if the original VM is on shared
 * storage."); the storages Phoenix registers are ZFS datasets, local to their node (zfspool and
 * dir storages over a local dataset are not `shared` in pve-storage), so a clone and its template
 * share a node. For a template on every node, give each node its own template.
 */
export const cloneSameNode: Rule = (input, findings) => {
  const guests = [
    ...input.containers.map((c) => ({ id: c.ctid, node: c.node, cloneFrom: c.cloneFrom, file: LXC_FILE, at: (key: string) => ctPath(input, c.ctid, key), raw: c.raw, cloneKey: "clone_from_ctid" })),
    ...input.vms.map((v) => ({ id: v.vmid, node: v.node, cloneFrom: v.cloneFrom, file: VM_FILE, at: (key: string) => vmPath(input, v.vmid, key), raw: v.raw, cloneKey: "clone_from_vmid" })),
  ];
  // Containers clone containers, VMs clone VMs: each kind's parents are looked up among its own kind.
  for (const file of [LXC_FILE, VM_FILE]) {
    const nodeOfId = new Map(guests.filter((g) => g.file === file).map((g) => [g.id, g.node]));
    for (const g of guests.filter((x) => x.file === file)) {
      const parent = g.cloneFrom === undefined ? undefined : nodeOfId.get(g.cloneFrom);
      if (parent === undefined || parent === g.node) continue;
      findings.error(
        g.file,
        g.at("node" in g.raw ? "node" : g.cloneKey),
        `is on node ${g.node}, but its parent ${g.cloneFrom} is on node ${parent}: Proxmox clones to another node only from shared storage, and Phoenix's storages are local to their node; put the clone on ${parent} or give ${g.node} its own template`,
      );
    }
  }
};

/**
 * In a cluster stack, host paths a container mounts are on its own node: a `shared_volumes`
 * mount in one node's host file naming a container on another node, or a `mount_points`
 * host_path under a dataset, shared volume or mount base that only other nodes' host files
 * describe, is refused (the bind mount would name a folder the container's node does not have).
 */
export const hostPathsOnNode: Rule = (input, findings) => {
  if (!multiNode(input)) return;
  const norm = (p: string) => p.replace(/(.)\/+$/, "$1");
  const under = (p: string, root: string) => p === root || p.startsWith(root === "/" ? "/" : `${root}/`);
  const rootsOf = (host: HostModel) => [host.mountPointBase, ...host.zfs.datasets.map((d) => d.mountPoint), ...host.sharedVolumes.map((v) => v.hostPath)].map(norm);
  const nodeOfCt = new Map(input.containers.map((c) => [c.ctid, c.node]));
  const seenFiles = new Set<string>();
  for (const n of input.nodes!) {
    if (seenFiles.has(n.file)) continue;
    seenFiles.add(n.file);
    const users = new Set(input.nodes!.filter((m) => m.file === n.file).map((m) => m.name));
    for (const sv of n.host.sharedVolumes) {
      for (const m of sv.mounts) {
        const node = nodeOfCt.get(m.ctid);
        if (node !== undefined && !users.has(node)) {
          findings.error(n.file, ["shared_volumes", sv.name, "mounts", String(m.ctid)], `container ${m.ctid} is on node ${node}, which does not use this host file (${[...users].join(", ")} do): describe the volume in ${node}'s host file`);
        }
      }
    }
  }
  for (const c of input.containers) {
    const own = rootsOf(nodeOf(input, c.node).host);
    const raw = Array.isArray(c.raw.mount_points) ? (c.raw.mount_points as { host_path?: unknown }[]) : [];
    raw.forEach((m, i) => {
      if (typeof m?.host_path !== "string") return;
      const p = norm(m.host_path);
      if (own.some((r) => r !== "/" && under(p, r))) return;
      const elsewhere = input.nodes!.find((n) => n.name !== c.node && rootsOf(n.host).some((r) => r !== "/" && under(p, r)));
      if (elsewhere) {
        findings.error(LXC_FILE, ctPath(input, c.ctid, "mount_points", i, "host_path"), `${m.host_path} is described by node ${elsewhere.name}'s host config, not by node ${c.node}'s, where container ${c.ctid} runs`);
      }
    });
  }
};

/** VMs' PCI devices: declared on their node, one running VM each, never also a container's GPU (./pci.ts). */
export const pciPassthrough: Rule = (input, findings) =>
  checkPciPassthrough(
    {
      containers: input.containers,
      vms: input.vms,
      nodeOf: (node) => {
        const n = nodeOf(input, node);
        return { host: n.host, file: multiNode(input) ? `node ${node}'s ${n.file}` : n.file };
      },
      vmPath: (vmid, ...rest) => vmPath(input, vmid, ...rest),
      ctPath: (ctid, ...rest) => ctPath(input, ctid, ...rest),
      vmFile: VM_FILE,
    },
    findings,
  );

export const RULES: Record<string, Rule> = {
  uniqueIds,
  guestNodes,
  cloneSameNode,
  hostPathsOnNode,
  cloneParents,
  dependenciesExist,
  noCycles,
  uniqueAddresses,
  knownFeatures,
  scriptsExist,
  healthCommandPaths,
  appArmorProfiles,
  vmTrustedCaSource,
  gpuNeedsDriver,
  sharedVolumeTargets,
  storageContent,
  templateSnapshotStorage,
  snapshotNames,
  storagesOnGuestNode,
  cloneUnprivileged,
  pciPassthrough,
};

export function runRules(input: RuleInput, findings: Findings): void {
  for (const rule of Object.values(RULES)) rule(input, findings);
}
