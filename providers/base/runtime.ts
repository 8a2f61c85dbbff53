// The implementation entry a serialized Phoenix provider reaches at run time: `loaderProvider`
// (./index.ts) → ./bootstrap.js → this module, as `providers/base/runtime.ts` (the TypeScript
// sources, as `pulumi up` runs them) or `dist/providers/base/runtime.js` (compiled), then
// `providerFromState(format, kind)`. Every dynamic resource in every stack's state relies on
// both paths and this export (issue 17): keep them, and keep accepting every `format` written.
import { hostScriptProvider, type SerializableKind } from "./index";
import type * as pulumi from "@pulumi/pulumi";

/** The serialized-provider formats this module understands. 1: `{ format, kind: SerializableKind }`. */
export const PROVIDER_FORMATS = [1];

/**
 * Builds the provider implementation for a kind captured in a resource's `__provider`.
 * `format` is the loader's format number; `kind` the plain kind data it captured.
 * Throws on an unknown format (a state written by a newer Phoenix than this checkout).
 */
export function providerFromState(format: number, kind: SerializableKind): pulumi.dynamic.ResourceProvider {
  if (!PROVIDER_FORMATS.includes(format)) {
    throw new Error(`phoenix: this checkout cannot run providers of format ${format} (knows ${PROVIDER_FORMATS.join(", ")}): the stack was written by a newer Phoenix; update the checkout`);
  }
  return hostScriptProvider(kind);
}
