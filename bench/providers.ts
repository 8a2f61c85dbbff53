// Serialization time and size of every dynamic provider kind (providers/index.ts registry).
// Pulumi serializes each provider into every resource's `__provider` input, once per kind per
// run: size is state and RPC weight, time is plan/preview latency. A script, not a timed test.
//   node dist/bench/providers.js      (or `npm run bench`, which includes this table)
import * as pulumi from "@pulumi/pulumi";
import { providerKinds } from "../providers/index";
import { loaderProvider, type HostScriptKind } from "../providers/base/index";

export interface SerializedKind {
  kind: string;
  /** The text Pulumi stores as `__provider`: `require-from-string(text).handler()` loads it. */
  text: string;
  ms: number;
  bytes: number;
}

/** Serializes one kind's provider exactly as `pulumi.dynamic.Resource` does. */
export async function serializeKind(kind: HostScriptKind): Promise<SerializedKind> {
  const provider = loaderProvider(kind);
  const start = process.hrtime.bigint();
  const sf = await pulumi.runtime.serializeFunction(() => provider, { allowSecrets: true });
  const ms = Number(process.hrtime.bigint() - start) / 1e6;
  return { kind: kind.kind, text: sf.text, ms, bytes: Buffer.byteLength(sf.text) };
}

/** Median of `runs` serializations per kind, after one warm-up (closure machinery loading). */
export async function benchProviders(kinds: HostScriptKind[] = providerKinds, runs = 3): Promise<Array<{ kind: string; ms: number; bytes: number }>> {
  if (kinds.length) await serializeKind(kinds[0]);
  const rows: Array<{ kind: string; ms: number; bytes: number }> = [];
  for (const kind of kinds) {
    const samples: SerializedKind[] = [];
    for (let i = 0; i < runs; i++) samples.push(await serializeKind(kind));
    const ms = samples.map((s) => s.ms).sort((a, b) => a - b)[Math.floor(runs / 2)];
    rows.push({ kind: kind.kind, ms, bytes: samples[0].bytes });
  }
  return rows;
}

if (require.main === module) {
  benchProviders().then(
    (rows) => {
      console.log(`dynamic provider serialization (${rows.length} kinds, median of 3 after a warm-up)`);
      console.log(`  ${"kind".padEnd(28)} ${"ms".padStart(8)} ${"bytes".padStart(9)}`);
      for (const r of rows) console.log(`  ${r.kind.padEnd(28)} ${r.ms.toFixed(1).padStart(8)} ${String(r.bytes).padStart(9)}`);
      process.exit(0);
    },
    (err) => {
      console.error(err instanceof Error ? err.message : err);
      process.exit(1);
    },
  );
}
