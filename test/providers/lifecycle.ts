// The lifecycle every dynamic resource kind must pass (the idea of a Terraform acceptance test),
// run against the real test host through a provider loaded by the harness:
//   check → create → read matches → diff(same inputs) is empty → create again adopts →
//   update with a changed input → read reflects it → diff(changed) is empty → delete →
//   read reports it gone → delete again is harmless.
// Assertions use the caller's vitest `expect`; the returned report lists what each step saw.
import type { Assertion } from "vitest";
import type { PropertyBag } from "../../infra/cli/plan";
import type { LoadedProvider } from "./harness";

type Expect = (actual: unknown, message?: string) => Assertion<unknown>;

export interface LifecycleOptions {
  provider: LoadedProvider;
  /** Inputs as captured by the harness (`__provider` may be included, as the engine does). */
  inputs: PropertyBag;
  /** The same resource with at least one changed input (usually a param). */
  changedInputs: PropertyBag;
  /** vitest's expect. */
  expect: Expect;
  /** Extra assertions on the host after each step (e.g. inspect the throwaway root). */
  verify?: {
    afterCreate?(outs: PropertyBag): Promise<void> | void;
    afterUpdate?(outs: PropertyBag): Promise<void> | void;
    afterDelete?(): Promise<void> | void;
  };
}

export interface LifecycleStep {
  step: string;
  detail?: unknown;
}

export interface LifecycleReport {
  id: string;
  /** "update" when the change was applied in place, "replace" when diff asked for replacement. */
  changePath: "update" | "replace";
  steps: LifecycleStep[];
  created: PropertyBag;
  updated: PropertyBag;
}

const comparable = (props: PropertyBag) => ({
  connection: props.connection,
  scriptHash: props.scriptHash,
  params: props.params,
  secretParams: props.secretParams,
  allowDestroy: !!props.allowDestroy,
});

export async function runLifecycle(opts: LifecycleOptions): Promise<LifecycleReport> {
  const { provider: p, expect } = opts;
  const steps: LifecycleStep[] = [];
  const log = (step: string, detail?: unknown) => steps.push({ step, detail });

  const checked = async (inputs: PropertyBag, olds: PropertyBag, what: string) => {
    if (!p.check) return inputs;
    const r = await p.check(olds, inputs);
    expect(r.failures ?? [], `check(${what}) failures`).toEqual([]);
    return { ...(r.inputs ?? inputs) };
  };

  const readBack = async (id: string, props: PropertyBag, what: string) => {
    expect(typeof p.read, "the provider implements read").toBe("function");
    const r = await p.read!(id, props);
    expect(r.id, `read after ${what} keeps the id`).toBe(id);
    expect(r.props?.observed?.present, `read after ${what}: the object is present`).not.toBe(false);
    expect(r.props?.observed?.matches, `read after ${what}: the object matches its inputs`).not.toBe(false);
    return r.props as PropertyBag;
  };

  const noChange = async (id: string, olds: PropertyBag, news: PropertyBag, what: string) => {
    expect(typeof p.diff, "the provider implements diff").toBe("function");
    const d = await p.diff!(id, olds, news);
    expect(d.changes, `diff after ${what} with the same inputs reports no change`).toBe(false);
    expect(d.replaces ?? [], `diff after ${what} asks for no replacement`).toEqual([]);
  };

  // create
  const inputs = await checked(opts.inputs, {}, "inputs");
  const created = await p.create(inputs);
  expect(typeof created.id === "string" && created.id.length > 0, "create returns an id").toBe(true);
  const id = created.id;
  const outs = created.outs as PropertyBag;
  log("create", { id, observed: outs?.observed });
  expect(comparable(outs), "create's outputs carry its inputs").toEqual(comparable(inputs));
  await opts.verify?.afterCreate?.(outs);

  // read matches
  const read1 = await readBack(id, outs, "create");
  expect(comparable(read1), "read after create matches the inputs").toEqual(comparable(inputs));
  log("read", read1.observed);

  // diff with the same inputs: empty (also against the refreshed state)
  await noChange(id, outs, { ...inputs, __provider: "a newer Phoenix" }, "create");
  await noChange(id, read1, inputs, "refresh");
  log("diff-same");

  // create again on the already-present object adopts it
  const adopted = await p.create(inputs);
  expect(adopted.id, "create on an existing matching object adopts it (same id)").toBe(id);
  await readBack(id, adopted.outs, "adopt");
  log("adopt", adopted.outs?.observed);

  // update with a changed input
  const changed = await checked(opts.changedInputs, outs, "changedInputs");
  expect(typeof p.diff, "the provider implements diff").toBe("function");
  const d = await p.diff!(id, read1, changed);
  expect(d.changes, "diff with changed inputs reports a change").toBe(true);
  let changePath: "update" | "replace";
  let updated: PropertyBag;
  let currentId = id;
  if (d.replaces && d.replaces.length) {
    changePath = "replace";
    log("diff-changed", { replaces: d.replaces, deleteBeforeReplace: d.deleteBeforeReplace });
    if (d.deleteBeforeReplace) await p.delete!(id, read1);
    const r = await p.create(changed);
    if (!d.deleteBeforeReplace) await p.delete!(id, read1);
    currentId = r.id;
    updated = r.outs;
  } else {
    changePath = "update";
    log("diff-changed", { changes: true });
    expect(typeof p.update, "the provider implements update").toBe("function");
    updated = (await p.update!(id, read1, changed)).outs;
  }
  expect(comparable(updated), `${changePath}'s outputs carry the changed inputs`).toEqual(comparable(changed));
  await opts.verify?.afterUpdate?.(updated);
  log(changePath, updated?.observed);

  // read reflects it; diff is then empty
  const read2 = await readBack(currentId, updated, changePath);
  expect(comparable(read2), `read after ${changePath} reflects the change`).toEqual(comparable(changed));
  await noChange(currentId, read2, changed, changePath);
  log("read-changed", read2.observed);

  // delete → gone
  expect(typeof p.delete, "the provider implements delete").toBe("function");
  await p.delete!(currentId, read2);
  const gone = await p.read!(currentId, read2);
  expect(gone.id ?? "", "read after delete reports the object gone (empty id)").toBe("");
  await opts.verify?.afterDelete?.();
  log("delete");

  // delete again converges (a rerun after an interrupted delete must not fail)
  await p.delete!(currentId, read2);
  log("delete-again");

  return { id, changePath, steps, created: outs, updated };
}
