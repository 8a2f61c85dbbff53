// Loaded at run time by every serialized Phoenix provider (`loadSpecProvider` in ./index.ts):
//   require(<project>/providers/base/bootstrap.js).providerFromSpec(specJson)
// in Pulumi's dynamic-provider host, a plain Node process. Plain JavaScript on purpose: it must
// load before TypeScript is available, from a clean checkout (after `npm ci`, no build) as well
// as from a built one. Its path and `providerFromSpec` are stored in every stack's state (issue
// 17): keep both, and keep accepting every spec format ever written.
"use strict";
const fs = require("fs");
const path = require("path");

const root = path.resolve(__dirname, "..", "..");

/**
 * Builds the provider implementation for a serialized provider's spec.
 * @param {string} specJson ProviderSpec as JSON: `{ format, source: "ts" | "js", kind }`.
 * `source` says how the program that serialized it ran: `ts` (the TypeScript sources under
 * ts-node, as `pulumi up` runs Pulumi.yaml's `main`) loads providers/base/runtime.ts through
 * ts-node; `js` (compiled: `phoenix plan`, tests) loads dist/providers/base/runtime.js. Each
 * falls back to the other when its file is absent (a checkout without dist/, or without sources).
 * @returns the pulumi.dynamic.ResourceProvider of `runtime.providerFromState(format, kind)`.
 * @throws when neither runtime file exists, or the format is unknown.
 */
function providerFromSpec(specJson) {
  const spec = JSON.parse(specJson);
  const ts = path.join(root, "providers", "base", "runtime.ts");
  const js = path.join(root, "dist", "providers", "base", "runtime.js");
  const file = (spec.source === "js" ? [js, ts] : [ts, js]).find((f) => fs.existsSync(f));
  if (!file) throw new Error(`phoenix: cannot load the provider implementation: neither ${ts} nor ${js} exists`);
  if (file === ts) registerTypeScript();
  return require(file).providerFromState(spec.format, spec.kind);
}

/**
 * Lets Node require the .ts sources: the project's ts-node and typescript (the SDK's vendored
 * ones otherwise: the choice Pulumi's own program runner makes), transpile-only (the program
 * was type-checked when it ran). Nothing when a .ts loader is registered already.
 */
function registerTypeScript() {
  if (require.extensions[".ts"]) return;
  const { tsnodeRequire, typescriptRequire } = require("@pulumi/pulumi/tsutils").typeScriptRequireStrings();
  require(tsnodeRequire).register({ compiler: typescriptRequire, transpileOnly: true, project: path.join(root, "tsconfig.json") });
}

module.exports = { providerFromSpec };
