// `phoenix:stepTimeouts`: how long each kind of host step may run before Phoenix stops it, in
// minutes, per dynamic resource kind (`{"lxc-step": 120, "host-nvidia-driver": 90}`). A kind not
// named keeps its default (providers/*: `timeoutMs`). Read by `phoenix validate` (stack settings)
// and by the dynamic providers at `configure`, so changing it changes no resource's inputs.
// Light on purpose (no Pulumi SDK): the CLI's validate reads it.

/** Every dynamic resource kind whose steps have a timeout (a test keeps it equal to providers/'s kinds). */
export const STEP_KINDS = [
  "lxc-options",
  "lxc-step",
  "lxc-snapshot",
  "lxc-subids",
  "vm-cloud-init",
  "vm-snapshot",
  "host-initial-setup",
  "host-nvidia-driver",
  "host-admin-user",
  "host-zfs-pool",
  "host-zfs-dataset",
  "host-proxmox-storage",
  "host-nfs-export",
  "host-samba-share",
  "host-samba-user",
  "host-pci-passthrough",
] as const;

/** Longest timeout a step may be given: one day. */
export const MAX_STEP_TIMEOUT_MINUTES = 1440;

/**
 * Parses `phoenix:stepTimeouts` (a JSON object as the stack file holds it, or the object itself):
 * kind → milliseconds, or the problem in one line.
 */
export function parseStepTimeouts(value: unknown): { timeouts: Record<string, number> } | { problem: string } {
  if (value === undefined || value === "") return { timeouts: {} };
  let obj: unknown = value;
  if (typeof value === "string") {
    try {
      obj = JSON.parse(value);
    } catch {
      return { problem: "must be a map of step kind → minutes, e.g. {\"lxc-step\": 120}" };
    }
  }
  if (!obj || typeof obj !== "object" || Array.isArray(obj)) return { problem: "must be a map of step kind → minutes, e.g. {\"lxc-step\": 120}" };
  const timeouts: Record<string, number> = {};
  for (const [kind, minutes] of Object.entries(obj as Record<string, unknown>)) {
    if (!(STEP_KINDS as readonly string[]).includes(kind)) {
      const near = STEP_KINDS.find((k) => k.includes(kind) || kind.includes(k));
      return { problem: `unknown step kind ${JSON.stringify(kind)}${near ? ` (did you mean ${near}?)` : ""}; kinds: ${STEP_KINDS.join(", ")}` };
    }
    const n = typeof minutes === "string" && /^\d+$/.test(minutes) ? Number(minutes) : minutes;
    if (typeof n !== "number" || !Number.isInteger(n) || n < 1 || n > MAX_STEP_TIMEOUT_MINUTES) {
      return { problem: `${kind}: must be whole minutes 1-${MAX_STEP_TIMEOUT_MINUTES}; got ${JSON.stringify(minutes)}` };
    }
    timeouts[kind] = n * 60_000;
  }
  return { timeouts };
}
