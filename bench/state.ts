// State weight of a planned stack: how many bytes each dynamic resource's serialized provider
// (`__provider`) takes and how big the stack's state would be. Pulumi keeps `__provider` twice per
// dynamic resource (in `inputs` and, through the dynamic-provider host, in `outputs`) and rewrites
// the whole state at every step of `pulumi up` / `refresh`, so this is what each step uploads.
import type { PlannedResource } from "../infra/cli/plan";

export interface StateWeight {
  resources: number;
  /** Resources carrying a `__provider` input (dynamic resources). */
  dynamic: number;
  /** Bytes (UTF-8) of `__provider` per dynamic resource: smallest, median, largest. */
  providerBytes: { min: number; median: number; max: number };
  /** Bytes of all `__provider` copies in the projected state (two per dynamic resource). */
  providerStateBytes: number;
  /** Projected state size in bytes (see projectedResourceEntry). */
  stateBytes: number;
}

/**
 * The resource entry Pulumi's checkpoint would hold for a planned resource, as far as the plan
 * knows it: urn, type, custom, parent, dependencies, `inputs`, and `outputs` taken equal to the
 * inputs (a dynamic resource's outputs are its inputs plus `observed`, which a plan cannot know;
 * a proxmoxve resource's outputs are its inputs plus provider-computed fields). It is a lower
 * bound of the real entry and counts `__provider` exactly as the state does: twice.
 */
function projectedResourceEntry(r: PlannedResource): Record<string, unknown> {
  return {
    urn: r.urn,
    custom: r.custom,
    id: r.custom ? `${r.name}-id` : undefined,
    type: r.type,
    inputs: r.inputs,
    outputs: r.inputs,
    parent: r.parent ?? undefined,
    protect: r.protect || undefined,
    dependencies: r.dependsOn.length ? r.dependsOn : undefined,
  };
}

/**
 * Measures a plan's state weight (compact JSON, as the Pulumi Cloud and S3 backends store it).
 * `replaceProvider` (optional) gives another `__provider` text for a resource (e.g. the
 * self-contained serialization used before issue 17), to project the same stack with it.
 */
export function stateWeight(planned: PlannedResource[], replaceProvider?: (r: PlannedResource) => string | undefined): StateWeight {
  const resources = replaceProvider
    ? planned.map((r) => {
        const p = typeof r.inputs?.__provider === "string" ? replaceProvider(r) : undefined;
        return p === undefined ? r : { ...r, inputs: { ...r.inputs, __provider: p } };
      })
    : planned;
  const sizes = resources
    .map((r) => r.inputs?.__provider)
    .filter((p): p is string => typeof p === "string")
    .map((p) => Buffer.byteLength(p))
    .sort((a, b) => a - b);
  const providerStateBytes = resources
    .map((r) => r.inputs?.__provider)
    .filter((p): p is string => typeof p === "string")
    .reduce((sum, p) => sum + 2 * Buffer.byteLength(JSON.stringify(p)), 0);
  const stateBytes = Buffer.byteLength(JSON.stringify({ version: 3, checkpoint: { resources: resources.map(projectedResourceEntry) } }));
  return {
    resources: resources.length,
    dynamic: sizes.length,
    providerBytes: {
      min: sizes[0] ?? 0,
      median: sizes[Math.floor(sizes.length / 2)] ?? 0,
      max: sizes[sizes.length - 1] ?? 0,
    },
    providerStateBytes,
    stateBytes,
  };
}

/** `1234567` → `1.18 MiB`. */
function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  if (n < 1024 * 1024) return `${(n / 1024).toFixed(1)} KiB`;
  return `${(n / 1024 / 1024).toFixed(2)} MiB`;
}

/** One report line per stack. */
export function formatStateWeight(label: string, w: StateWeight): string {
  const p = w.providerBytes;
  return (
    `  ${label.padEnd(16)} __provider per dynamic resource: median ${p.median} B (min ${p.min}, max ${p.max}); ` +
    `${w.dynamic} dynamic of ${w.resources} resources; projected state ${formatBytes(w.stateBytes)}, ` +
    `of which __provider ${formatBytes(w.providerStateBytes)}`
  );
}
