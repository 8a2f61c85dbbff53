// The container dynamic resource kinds: the steps of a container's provisioning that the Proxmox API
// (and so the proxmoxve provider) does not offer, carried out on the host over the one SSH
// transport by the scripts in features/lxc/host/:
//   lxc-options   raw LXC lines, the AppArmor profile, bind mounts and GPU devices in
//                 /etc/pve/lxc/<ctid>.conf, edited under Proxmox's config lock; the container
//                 restarts only when a line changed.
//   lxc-step      one step run inside the container with `pct push` + `pct exec`: a feature
//                 script (features/lxc/<name>.sh), the application script or the health check.
//   lxc-snapshot  the template snapshot (`pct snapshot` / `listsnapshot` / `delsnapshot`); the
//                 template is left stopped so a full clone of it equals its snapshot.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { HostScriptResource, stableJson, type HostScriptKind } from "../base/index";
import { scriptFromFile, type FeatureScript } from "../../features/registry";
import { sha256 } from "../../infra/hash";
import type { SshTarget } from "../ssh/types";
import { GUEST_ID_TEXT, LXC_KEY, MOUNT_PATH, SNAPSHOT_NAME, STORAGE_ID } from "../../infra/config/patterns";

const ctid = z.string().regex(GUEST_ID_TEXT, "a Proxmox CTID (100-999999999)");
const LXC_LINE = `${LXC_KEY}=[^\\n\\u0000]*`;
const FEATURE_FLAG = "((nesting|keyctl|fuse|mknod)=[01]|mount=[a-z0-9]+(;[a-z0-9]+)*)";
const MOUNT_SOURCE = "[0-9]{1,10}:[0-9]{1,10}:[01]:/[^\\n\\r\\u0000]*";
/**
 * One PHOENIX_VOLUMES line `mp<N>=<GiB>:<storage>:<container path>`: the config layer's STORAGE_ID
 * and MOUNT_PATH, the latter's "no `.`/`..` component" look-ahead also ending at a line break (a
 * plain regex, so the provider's JSON Schema check enforces it too, not only the program).
 */
const VOLUME_PATH = MOUNT_PATH.source.slice(1, -1).replace("(?!.*", "(?![^\\n]*").replace("(?:\\/|$)", "(?:\\/|\\n|$)");
if (!VOLUME_PATH.startsWith("(?![^\\n]*") || !VOLUME_PATH.includes("(?:\\/|\\n|$)")) throw new Error("MOUNT_PATH changed: update VOLUME_PATH");
const VOLUME_LINE = `mp[0-9]{1,3}=[1-9][0-9]{0,5}:${STORAGE_ID.source.slice(1, -1)}:${VOLUME_PATH}`;

const lxcOptionsKind: HostScriptKind = {
  kind: "lxc-options",
  params: z.object({
    ctid,
    options: z.string().regex(new RegExp(`^(${LXC_LINE}(\\n${LXC_LINE})*)?$`), "lines `lxc.<key>=<value>`, one per line"),
    gpus: z.string().regex(/^([0-9]{1,2}(,[0-9]{1,2})*)?$/, "GPU indexes, comma-separated"),
    features: z.string().regex(new RegExp(`^(${FEATURE_FLAG}(,${FEATURE_FLAG})*)?$`), "`pct set --features` flags (nesting|keyctl|fuse|mknod=0|1, mount=fs;fs), comma-separated").optional(),
    rootfs_gb: z.string().regex(/^([1-9][0-9]{0,5})?$/, "a root disk size in GiB").optional(),
    volumes: z.string().regex(new RegExp(`^(${VOLUME_LINE}(\\n${VOLUME_LINE})*)?$`), "lines `mp<N>=<GiB>:<storage>:<absolute container path>`").optional(),
    mount_sources: z.string().regex(new RegExp(`^(${MOUNT_SOURCE}(\\n${MOUNT_SOURCE})*)?$`), "lines `<uid>:<gid>:<0|1>:/path`").optional(),
  }),
  replaceOn: ["ctid"],
  timeoutMs: 5 * 60_000,
};

/** Names of the parameters a step hands into the container: `env_<name>` → PHOENIX_<NAME>. */
const STEP_ENV = /^env_[a-z0-9_]+$/;

const lxcStepKind: HostScriptKind = {
  kind: "lxc-step",
  params: z
    .object({
      ctid,
      step: z.string().regex(/^[a-z0-9][a-z0-9_-]*$/, "a step name (lower case, digits, - and _)"),
      script: z.string().min(1, "the in-container script is required"),
      library: z.string(),
      // One file from the host, pushed next to the step (run_in_container.sh): e.g. the CA
      // certificate the Bash tool copied from a shared SSL folder.
      host_file: z.string().regex(/^\/[A-Za-z0-9._+@,=/-]+$/, "an absolute host path without spaces or shell characters").refine((p) => !p.split("/").includes(".."), "no '..'").optional(),
    })
    .catchall(z.string())
    .superRefine((p, ctx) => {
      for (const key of Object.keys(p)) {
        if (!["ctid", "step", "script", "library", "host_file"].includes(key) && !STEP_ENV.test(key)) {
          ctx.addIssue({ code: "custom", path: [key], message: "step parameters are named env_<lower_snake>" });
        }
      }
    }),
  replaceOn: ["ctid", "step"],
  // Driver installs and `pip install vllm` take long on slow links.
  timeoutMs: 60 * 60_000,
};

const lxcSnapshotKind: HostScriptKind = {
  kind: "lxc-snapshot",
  params: z.object({
    ctid,
    snapname: z.string().regex(SNAPSHOT_NAME, "a Proxmox snapshot name (letter, then letters, digits, - and _; 2-40)"),
    trigger: z.string().regex(/^[a-f0-9]{8,128}$/, "a hex hash"),
    // "1" (templates): shut down first and leave stopped; "0" (lifecycle snapshots): as it is.
    stop: z.enum(["0", "1"]).optional(),
  }),
  replaceOn: ["ctid", "snapname"],
  timeoutMs: 15 * 60_000,
};

/** `ct-<ctid>-subids`: /etc/subuid and /etc/subgid lines for host ids a completed id map hands out. */
const lxcSubIdsKind: HostScriptKind = {
  kind: "lxc-subids",
  params: z.object({
    ctid,
    entries: z.string().regex(/^(?:(?:uid|gid) [0-9]{1,10} [1-9][0-9]{0,9})(?:\n(?:uid|gid) [0-9]{1,10} [1-9][0-9]{0,9})*$/, "lines `uid|gid <host id> <count>`"),
  }),
  replaceOn: ["ctid"],
  lock: "subids",
  timeoutMs: 60_000,
};

export const lxcProviderKinds: HostScriptKind[] = [lxcOptionsKind, lxcStepKind, lxcSnapshotKind, lxcSubIdsKind];

export interface LxcSubIdsArgs {
  connection: pulumi.Input<SshTarget>;
  ctid: number;
  /** Host ranges root must be delegated (ContainerModel.subIds). */
  entries: { type: "uid" | "gid"; hostId: number; size: number }[];
}

/** `ct-<ctid>-subids`: `root:<id>:<count>` in /etc/subuid|subgid before the container starts (features/lxc/host/subids.sh). */
export class LxcSubIds extends HostScriptResource {
  constructor(name: string, args: LxcSubIdsArgs, opts?: pulumi.CustomResourceOptions) {
    super(lxcSubIdsKind, name, {
      connection: args.connection,
      script: lxcFile("host/subids.sh"),
      params: { ctid: String(args.ctid), entries: args.entries.map((e) => `${e.type} ${e.hostId} ${e.size}`).join("\n") },
    }, opts);
  }
}

const files = new Map<string, FeatureScript>();

/** A file under features/lxc/ (`host/snapshot.sh`, `lib/common.sh`, `apps/x.sh`) as a FeatureScript. */
export function lxcFile(relative: string): FeatureScript {
  let s = files.get(relative);
  if (!s) {
    if (!/^[a-z0-9_]+(\/[A-Za-z0-9_.-]+)*\.sh$/.test(relative) || relative.includes("..")) {
      throw new Error(`invalid features/lxc file name ${JSON.stringify(relative)}`);
    }
    // Composed (`# phoenix-include:` libraries inlined) and hashed, as every script the host receives.
    s = scriptFromFile("lxc", relative.replace(/\.sh$/, ""), path.posix.join("features", "lxc", relative));
    files.set(relative, s);
  }
  return s;
}

/** sha256 in hex (infra/hash.ts), for the components' change triggers. */
export { sha256 };

/**
 * Turns configuration values into step parameters `env_<key>`: strings as given, numbers and
 * booleans as text, lists one element per line, objects as JSON. Keys must be lower snake case.
 */
export function stepEnv(values: Record<string, unknown>): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [key, value] of Object.entries(values)) {
    if (value === undefined || value === null) continue;
    const name = `env_${key}`;
    if (!STEP_ENV.test(name)) throw new Error(`parameter ${JSON.stringify(key)} cannot be handed to a container step (want lower_snake_case)`);
    out[name] = Array.isArray(value)
      ? value.map((v) => (typeof v === "string" ? v : stableJson(v))).join("\n")
      : typeof value === "object"
        ? stableJson(value)
        : String(value);
  }
  return out;
}

/** A bind-mount source folder on the host, with the owner it gets (host IDs, already shifted). */
export interface MountSource {
  /** Absolute host path. */
  path: string;
  /** Host UID and GID the folder is owned by when created. */
  uid: number;
  gid: number;
  /** The owner was declared (`owner_uid`/`owner_gid`): also set on an existing folder (not recursively). */
  explicit: boolean;
}

/** A container volume on a storage (ContainerModel.volumes). */
export interface LxcVolume {
  /** Size in GiB (1-999999). */
  sizeGb: number;
  /** Proxmox storage id holding container directories (`rootdir`). */
  storage: string;
  /** Absolute mount path inside the container. */
  path: string;
}

export interface LxcOptionsArgs {
  connection: pulumi.Input<SshTarget>;
  ctid: number;
  /**
   * Raw LXC lines `lxc.<key>=<value>`, in order: the container's whole raw-line set (lines in its
   * config that are not listed, e.g. inherited from a clone's parent, are removed).
   */
  lines: string[];
  /** NVIDIA GPU indexes passed through (`gpuLines` go in `lines`; the host adds dynamic majors). */
  gpus?: number[];
  /**
   * The full `pct set --features` value to set as root (`keyctl=1,nesting=1`; `nesting=0` clears
   * every flag). Undefined or empty: the flags are left to the API (nesting only).
   */
  features?: string;
  /** Root disk size in GiB to grow a clone to (`pct resize <ctid> rootfs <N>G`); undefined: not managed. */
  rootfsGb?: number;
  /** Bind-mount source folders to create before the container restarts with the mounts. */
  mountSources?: MountSource[];
  /**
   * The container's volumes on storages, by mount point index (`mp<N>` is the array index, as in
   * ContainerLegacy's mountPoints). After creation this resource owns the set: a missing one is
   * allocated (`pct set --mp<N> <storage>:<GiB>,mp=<path>`), a smaller one grown (never shrunk);
   * one no longer declared is kept and reported (`undeclared_volumes`), never detached.
   */
  volumes?: LxcVolume[];
}

/**
 * The raw LXC lines that give a container NVIDIA GPUs `gpus`: each GPU's node and the driver's
 * shared ones bind-mounted (optional: a node the host has not created yet must not stop the
 * container from starting) and the NVIDIA character devices (major 195) allowed. nvidia-uvm and
 * nvidia-uvm-tools, whose major the host assigns when it loads the module, are Proxmox `devN`
 * passthrough entries that the lxc-options script writes (resolved at every start); it also adds
 * the nvidia-caps major from /proc/devices.
 */
export function gpuLines(gpus: number[]): string[] {
  if (gpus.length === 0) return [];
  const nodes = [...gpus.map((n) => `nvidia${n}`), "nvidiactl"];
  return [
    ...nodes.map((n) => `lxc.mount.entry=/dev/${n} dev/${n} none bind,optional,create=file`),
    "lxc.mount.entry=/dev/nvidia-caps dev/nvidia-caps none bind,optional,create=dir",
    "lxc.cgroup2.devices.allow=c 195:* rwm",
  ];
}

/**
 * A bind mount as a raw LXC line (`lxc.mount.entry`, fstab format: spaces as \040). Proxmox
 * allows `mpN` bind mounts only to root@pam, never to an API token; a raw line is set over SSH.
 */
export function bindMountLine(hostPath: string, containerPath: string): string {
  for (const p of [hostPath, containerPath]) {
    // eslint-disable-next-line no-control-regex -- refusing control characters (NUL, newlines) is the point
    if (!p.startsWith("/") || /[\n\r\t\\\u0000]/.test(p) || p.split("/").includes("..")) throw new Error(`invalid bind mount path ${JSON.stringify(p)}`);
  }
  const esc = (p: string) => p.replace(/ /g, "\\040");
  return `lxc.mount.entry=${esc(hostPath)} ${esc(containerPath.replace(/^\/+/, ""))} none bind,create=dir 0 0`;
}

/**
 * `ct-<ctid>-lxc-options`: what only root@pam may set, over SSH: the container's raw LXC lines
 * (AppArmor profile, bind mounts, GPU devices), the container's whole feature flag set (after
 * creation the API may not change them), a clone's root disk size and the bind-mount source
 * folders (features/lxc/host/lxc_options.sh).
 */
export class LxcOptions extends HostScriptResource {
  constructor(name: string, args: LxcOptionsArgs, opts?: pulumi.CustomResourceOptions) {
    super(lxcOptionsKind, name, {
      connection: args.connection,
      script: lxcFile("host/lxc_options.sh"),
      params: {
        ctid: String(args.ctid),
        options: args.lines.join("\n"),
        gpus: (args.gpus ?? []).join(","),
        features: args.features ?? "",
        rootfs_gb: args.rootfsGb !== undefined ? String(args.rootfsGb) : "",
        mount_sources: (args.mountSources ?? []).map((m) => `${m.uid}:${m.gid}:${m.explicit ? 1 : 0}:${m.path}`).join("\n"),
        volumes: (args.volumes ?? []).map((v, i) => `mp${i}=${v.sizeGb}:${v.storage}:${v.path}`).join("\n"),
      },
    }, opts);
  }
}

export interface LxcStepArgs {
  connection: pulumi.Input<SshTarget>;
  ctid: number;
  /** `feature-<name>`, `app` or `health`. */
  step: string;
  /** The script run inside the container. */
  script: FeatureScript;
  /** Parameters for the script (`stepEnv`). Keys ending in `_password`, `_token`, `_secret` or
   *  `_key` travel as Pulumi secrets (secretParams), like every key of `secretEnv`. */
  env: Record<string, string>;
  /** Parameters that are secrets whatever their name (`env_<name>`). */
  secretEnv?: Record<string, string>;
  /** An absolute path of a file on the host that the step receives as $PHOENIX_HOST_FILE. */
  hostFile?: string;
}

/** Step parameter names whose values are secrets (the configuration's `*_password`, `*_token`, `*_secret`, `*_key`). */
export const SECRET_ENV = /_(?:password|token|secret|key)$/;

/** `ct-<ctid>-feature-<name>`, `ct-<ctid>-app`, `ct-<ctid>-health`: a script run inside the container. */
export class LxcStep extends HostScriptResource {
  constructor(name: string, args: LxcStepArgs, opts?: pulumi.CustomResourceOptions) {
    const all = { ...args.env, ...(args.secretEnv ?? {}) };
    const bad = Object.keys(all).filter((k) => !STEP_ENV.test(k));
    if (bad.length) throw new Error(`${name}: step parameters are named env_<lower_snake>, not ${bad.join(", ")}`);
    const plain: Record<string, string> = {};
    const secret: Record<string, string> = { ...(args.secretEnv ?? {}) };
    for (const [k, v] of Object.entries(args.env)) (SECRET_ENV.test(k) ? secret : plain)[k] = v;
    super(lxcStepKind, name, {
      connection: args.connection,
      script: lxcFile("host/run_in_container.sh"),
      params: {
        ...plain,
        ctid: String(args.ctid),
        step: args.step,
        script: args.script.text,
        library: lxcFile("lib/common.sh").text,
        ...(args.hostFile ? { host_file: args.hostFile } : {}),
      },
      ...(Object.keys(secret).length > 0 ? { secretParams: secret } : {}),
    }, opts);
  }
}

export interface LxcSnapshotArgs {
  connection: pulumi.Input<SshTarget>;
  ctid: number;
  snapname: string;
  /** Hash of everything provisioned before the snapshot: a change re-takes it. */
  trigger: string;
  /** Shut the container down first and leave it stopped (templates; the default). False for
   *  lifecycle snapshots (`pre-configured`, `final-form`), taken as the container is. */
  stop?: boolean;
}

/** `ct-<ctid>-snapshot`: the template snapshot; the template is left stopped. */
export class LxcSnapshot extends HostScriptResource {
  constructor(name: string, args: LxcSnapshotArgs, opts?: pulumi.CustomResourceOptions) {
    super(lxcSnapshotKind, name, {
      connection: args.connection,
      script: lxcFile("host/snapshot.sh"),
      params: { ctid: String(args.ctid), snapname: args.snapname, trigger: args.trigger, ...(args.stop === false ? { stop: "0" } : {}) },
    }, opts);
  }
}
