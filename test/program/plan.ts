// Runs the compiled Pulumi program offline under the mock monitor (infra/cli/plan.ts) for tests.
import { loadDist } from "../load";
import type { PlanOptions, PlanResult, PlannedResource } from "../../infra/cli/plan";

export type { PlanResult, PlannedResource };

export function planStack(options: PlanOptions): Promise<PlanResult> {
  return loadDist<typeof import("../../infra/cli/plan")>("infra/cli/plan").planStack(options);
}

/** The planned resource with this logical name (and type, when names repeat across types). */
export function byName(plan: PlanResult, name: string, type?: string): PlannedResource {
  const hits = plan.resources.filter((r) => r.name === name && (!type || r.type === type));
  if (hits.length === 0) throw new Error(`no planned resource named ${name}${type ? ` of type ${type}` : ""}`);
  if (hits.length > 1 && !type) {
    const custom = hits.filter((r) => r.custom);
    if (custom.length === 1) return custom[0];
    throw new Error(`several planned resources named ${name}: ${hits.map((h) => h.type).join(", ")}`);
  }
  return hits[0];
}
