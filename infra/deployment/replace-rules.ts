// Which input changes make the engine replace a resource instead of updating it in place, for
// every resource type Phoenix declares: the proxmoxve provider's ForceNew / RequiresReplace fields
// (read from bpg/terraform-provider-proxmox, which the Pulumi package bridges) and the `replaceOn`
// parameters of Phoenix's own dynamic kinds (providers/*: the kinds are the source, read here).
// `phoenix plan --diff` explains replacements with it; the engine stand-in may read the same list.
import { PROXMOX_TYPES, dynamicKindOf } from "./names";
import { providerKinds } from "../../providers/index";

/** A replace rule: an input path (Pulumi's camelCase names, `[]` for list items) and why it replaces. */
export interface ReplaceRule {
  /** Dotted input path; a change at or below it replaces (`mountPoints`, `disks[].fileId`). */
  path: string;
  /** Where the rule comes from, for the reader of a plan. */
  why: string;
  /** A further condition on the old and new inputs (e.g. only a shrinking disk). */
  when?: (olds: Inputs, news: Inputs) => boolean;
}

/** A resource's inputs as a plan shows them. */
export type Inputs = Record<string, unknown>;

const CONTAINER = "the provider's ForceNew (proxmoxtf/resource/container/container.go)";
const VM = "the provider's ForceNew (proxmoxtf/resource/vm/vm.go)";
const FILE = "the provider's ForceNew (proxmoxtf/resource/file.go)";
const DOWNLOAD = "the provider's RequiresReplace (fwprovider/nodes/resource_download_file.go)";

const num = (v: unknown): number | undefined => (typeof v === "number" ? v : typeof v === "string" && /^\d+$/.test(v) ? Number(v) : undefined);

/** The proxmoxve provider's replace rules for the resource types Phoenix uses. */
const PROXMOX_RULES: Record<string, ReplaceRule[]> = {
  [PROXMOX_TYPES.container]: [
    ...["clone", "mountPoints", "nodeName", "operatingSystem", "poolId", "template", "unprivileged", "disk.datastoreId", "initialization.userAccount"].map((path) => ({ path, why: CONTAINER })),
    // containerResource's CustomizeDiff: ForceNewIf vm_id differs from the id; a disk that shrinks.
    { path: "vmId", why: `${CONTAINER}, CustomizeDiff on vm_id` },
    {
      path: "disk.size",
      why: `${CONTAINER}, CustomizeDiff: a root disk cannot shrink`,
      when: (o, n) => (num(get(o, "disk.size")) ?? 0) > (num(get(n, "disk.size")) ?? 0),
    },
  ],
  [PROXMOX_TYPES.vm]: [
    ...["amdSev", "clone", "initialization.type", "initialization.userDataFileId", "initialization.vendorDataFileId", "initialization.networkDataFileId", "initialization.metaDataFileId", "disks[].fileId"].map((path) => ({ path, why: VM })),
    { path: "vmId", why: `${VM}, CustomizeDiff on vm_id` },
    // ForceNewIf node_name changed and `migrate` is off.
    { path: "nodeName", why: `${VM}, CustomizeDiff: a node change without migrate`, when: (_o, n) => n.migrate !== true },
    { path: "tpmState.version", why: `${VM}, forceNewOnTPMVersionChange` },
    { path: "efiDisk.type", why: `${VM}, forceNewOnEFIDiskTypeChange` },
  ],
  [PROXMOX_TYPES.snippet]: ["contentType", "datastoreId", "fileMode", "nodeName", "sourceFile", "sourceRaw"].map((path) => ({ path, why: FILE })),
  [PROXMOX_TYPES.download]: ["contentType", "fileName", "datastoreId", "nodeName", "url", "checksum", "checksumAlgorithm", "decompressionAlgorithm"].map((path) => ({ path, why: DOWNLOAD })),
};

/** The replace rules of one resource type (none: every change is an in-place update). */
export function replaceRules(type: string): ReplaceRule[] {
  const kind = dynamicKindOf(type);
  if (kind !== undefined) {
    const k = providerKinds.find((x) => x.kind === kind);
    // diffInputs (providers/base): another host is another object; so is another replaceOn parameter.
    const own = "Phoenix's provider (replaceOn)";
    return [{ path: "connection.host", why: `${own}: another host` }, ...(k?.replaceOn ?? []).map((p) => ({ path: `params.${p}`, why: own }))];
  }
  return PROXMOX_RULES[type] ?? [];
}

/** A changed input path (dotted, list indexes as `[n]`) with its list indexes taken out. */
function shape(path: string): string {
  return path.replace(/\[\d+\]/g, "[]");
}

function covers(rule: string, changed: string): boolean {
  const c = shape(changed);
  return c === rule || c.startsWith(`${rule}.`) || c.startsWith(`${rule}[]`);
}

/**
 * The rules the given changed input paths trip, as `path: why` lines (empty: an update in place).
 * `olds` and `news` are the inputs before and after (for conditional rules).
 */
export function replaceReasons(type: string, changedPaths: string[], olds: Inputs, news: Inputs): string[] {
  const reasons: string[] = [];
  for (const rule of replaceRules(type)) {
    const hit = changedPaths.filter((p) => covers(rule.path, p));
    if (hit.length && (!rule.when || rule.when(olds, news))) reasons.push(`${rule.path}: ${rule.why}`);
  }
  return reasons;
}

function get(o: Inputs, path: string): unknown {
  let v: unknown = o;
  for (const k of path.split(".")) v = v && typeof v === "object" ? (v as Record<string, unknown>)[k] : undefined;
  return v;
}
