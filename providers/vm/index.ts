// The VM dynamic resource kinds: steps the Proxmox API (and so the proxmoxve provider) does not
// offer, carried out on the host over the one SSH transport by scripts in features/vm/host/.
//   vm-cloud-init  waits for a VM's first boot: guest agent up, `cloud-init status --wait` done
//                  (`qm guest exec`); fails with cloud-init's own report otherwise.
//   vm-snapshot    `qm snapshot` / `listsnapshot` / `delsnapshot` for template_snapshot_name.
import * as path from "path";
import * as pulumi from "@pulumi/pulumi";
import { z } from "zod";
import { HostScriptResource, type HostScriptKind } from "../base/index";
import { scriptFromFile, type FeatureScript } from "../../features/registry";
import type { SshTarget } from "../ssh/types";
import { GUEST_ID_TEXT, SNAPSHOT_NAME } from "../../infra/config/patterns";

const vmid = z.string().regex(GUEST_ID_TEXT, "a Proxmox VMID (100-999999999)");

/** Longest first boot Phoenix waits for (package installs, Docker...): 60 minutes. */
const MAX_CLOUD_INIT_SECONDS = 3600;

export const vmCloudInitKind: HostScriptKind = {
  kind: "vm-cloud-init",
  params: z.object({
    vmid,
    timeout_seconds: z
      .string()
      .regex(/^[1-9][0-9]*$/, "whole seconds")
      .refine((v) => Number(v) <= MAX_CLOUD_INIT_SECONDS, `at most ${MAX_CLOUD_INIT_SECONDS} seconds`),
    user_data_sha256: z.string().regex(/^[0-9a-f]{64}$/, "a sha256 in hex"),
  }),
  replaceOn: ["vmid"],
  // The script keeps its own deadline (timeout_seconds); the transport's must be longer.
  timeoutMs: (MAX_CLOUD_INIT_SECONDS + 300) * 1000,
};

const vmSnapshotKind: HostScriptKind = {
  kind: "vm-snapshot",
  params: z.object({
    vmid,
    name: z.string().regex(SNAPSHOT_NAME, "a Proxmox snapshot name (letter, then letters, digits, - and _; 2-40)"),
    after: z.string().regex(/^[A-Za-z0-9._:-]{0,128}$/, "a token of letters, digits, . _ : -"),
  }),
  replaceOn: ["vmid", "name"],
  timeoutMs: 15 * 60_000,
};

export const vmProviderKinds: HostScriptKind[] = [vmCloudInitKind, vmSnapshotKind];

const scripts = new Map<string, FeatureScript>();

/** A host-side script of features/vm/host/ as a FeatureScript (text and sha256), composed (its
 *  `# phoenix-include:` libraries inlined) as every script the host receives. */
export function vmHostScript(name: "cloud_init" | "snapshot"): FeatureScript {
  let s = scripts.get(name);
  if (!s) {
    s = scriptFromFile("vm", `host/${name}`, path.posix.join("features", "vm", "host", `${name}.sh`));
    scripts.set(name, s);
  }
  return s;
}

export interface VmCloudInitWaitArgs {
  connection: pulumi.Input<SshTarget>;
  vmid: number;
  /** sha256 of the user data the VM boots with (recorded with the completion). */
  userDataSha256: pulumi.Input<string>;
  /** Overall deadline for the guest agent and cloud-init (default 1800 s). */
  timeoutSeconds?: number;
}

/** `vm-<vmid>-cloud-init`: the VM's first boot has finished (features applied). */
export class VmCloudInitWait extends HostScriptResource {
  constructor(name: string, args: VmCloudInitWaitArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      vmCloudInitKind,
      name,
      {
        connection: args.connection,
        script: vmHostScript("cloud_init"),
        params: {
          vmid: String(args.vmid),
          timeout_seconds: String(args.timeoutSeconds ?? 1800),
          user_data_sha256: args.userDataSha256,
        },
      },
      opts,
    );
  }
}

export interface VmSnapshotArgs {
  connection: pulumi.Input<SshTarget>;
  vmid: number;
  snapshotName: string;
  /** What the snapshot captures (e.g. the user data hash): a new value re-takes the snapshot. */
  after: pulumi.Input<string>;
}

/** `vm-<vmid>-snapshot`: a `qm snapshot` of the provisioned VM. */
export class VmSnapshot extends HostScriptResource {
  constructor(name: string, args: VmSnapshotArgs, opts?: pulumi.CustomResourceOptions) {
    super(
      vmSnapshotKind,
      name,
      {
        connection: args.connection,
        script: vmHostScript("snapshot"),
        params: { vmid: String(args.vmid), name: args.snapshotName, after: args.after },
      },
      opts,
    );
  }
}
