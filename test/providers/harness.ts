// Provider harness: declares resources under Pulumi's mock monitor (with the compiled code from
// dist/, through Node's own require), captures each dynamic resource's serialized `__provider`
// and inputs, and loads a provider exactly as Pulumi's dynamic-provider host does:
// `require-from-string(serialized).handler()`, then `configure({ config })` with the stack
// config carrying the SSH secrets. The serialized provider is a small loader (issue 17): on
// first use it loads the implementation from the project in PULUMI_ROOT_DIRECTORY or the working
// directory, which for vitest is the repository root (dist/, so build first).
//
//   const [res] = await captureResources(() => {
//     const { HostScriptResource } = loadDist<typeof import("../../providers/base/index")>("providers/base/index");
//     new HostScriptResource(kind, "ct-101-docker", { connection: host.target, script, params });
//   });
//   const provider = await loadProvider(res.provider, host);   // configured with host's key
//   await runLifecycle({ provider, inputs: res.inputs, changedInputs: ..., expect });
import type * as pulumi from "@pulumi/pulumi";
import type { PropertyBag } from "../../infra/cli/plan";
import { requireNode } from "../load";

/** Pulumi's marker for a secret value in serialized properties. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";
const SECRET_SIG = "1b47061264138c4ac30d75fd1eb44270";

export interface CapturedResource {
  /** e.g. `pulumi-nodejs:dynamic/phoenix:etc-file` */
  type: string;
  name: string;
  /** Inputs as the engine hands them to the provider (secrets unwrapped, `__provider` included). */
  inputs: PropertyBag;
  /** Names of the inputs that were Pulumi secrets. */
  secretInputs: string[];
  /** The serialized provider (`__provider`), or undefined for non-dynamic resources. */
  provider?: string;
}

/**
 * The ResourceProvider as Pulumi's dynamic-provider host calls it (check, diff, create, read,
 * update, delete with the SDK's own result types); `configure` gets a ConfigLike stack config.
 */
export interface LoadedProvider extends Omit<pulumi.dynamic.ResourceProvider, "configure"> {
  configure?(req: { config: ConfigLike }): Promise<void>;
}

export interface ConfigLike {
  get(key: string): string | undefined;
  require(key: string): string;
}

/** `value` with every Pulumi secret replaced by its plain value; `found` collects the paths that held one. */
export function unwrapSecrets(value: unknown, path = "", found: Set<string> = new Set()): unknown {
  if (Array.isArray(value)) return value.map((v) => unwrapSecrets(v, path, found));
  if (value && typeof value === "object") {
    const secret = value as { [SECRET_SIG_KEY]?: unknown; value?: unknown };
    if (secret[SECRET_SIG_KEY] === SECRET_SIG) {
      found.add(path);
      return unwrapSecrets(secret.value, path, found);
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, unwrapSecrets(v, path, found)]));
  }
  return value;
}

/**
 * Runs `declare` under the mock monitor (not a preview: outputs resolve) and returns every
 * registered resource with its inputs. Resources are constructed by `declare` from compiled code
 * (`loadDist(...)`), never from modules vitest transformed.
 */
export async function captureResources(declare: () => unknown | Promise<unknown>, opts: { project?: string; stack?: string; config?: Record<string, string> } = {}): Promise<CapturedResource[]> {
  const pulumi = requireNode("@pulumi/pulumi");
  const settings = requireNode("@pulumi/pulumi/runtime/settings");
  const captured: CapturedResource[] = [];
  if (opts.config) pulumi.runtime.setAllConfig(opts.config);
  await pulumi.runtime.setMocks(
    {
      newResource(args: pulumi.runtime.MockResourceArgs) {
        const secrets = new Set<string>();
        const inputs: PropertyBag = {};
        for (const [k, v] of Object.entries(args.inputs ?? {})) inputs[k] = unwrapSecrets(v, k, secrets);
        captured.push({
          type: args.type,
          name: args.name,
          inputs,
          secretInputs: [...secrets],
          provider: typeof inputs.__provider === "string" ? inputs.__provider : undefined,
        });
        return { id: `${args.name}-id`, state: args.inputs };
      },
      call(args: pulumi.runtime.MockCallArgs) {
        return args.inputs;
      },
    },
    opts.project ?? "phoenix",
    opts.stack ?? "test",
    false,
  );
  await declare();
  await settings.waitForRPCs();
  return captured;
}

/** A stack config as the dynamic-provider host builds it (`get("phoenix:sshPrivateKey")`). */
export function stackConfig(values: Record<string, string | undefined>): ConfigLike {
  return {
    get: (key) => values[key],
    require: (key) => {
      const v = values[key];
      if (v === undefined) throw new Error(`missing required configuration variable '${key}'`);
      return v;
    },
  };
}

/** The stack config carrying SSH secrets the way `pulumi config set --secret` would. */
export function sshConfig(secrets: { privateKey?: string; passphrase?: string; password?: string }): ConfigLike {
  return stackConfig({
    "phoenix:sshPrivateKey": secrets.privateKey,
    "phoenix:sshPrivateKeyPassphrase": secrets.passphrase,
    "phoenix:sshPassword": secrets.password,
  });
}

/**
 * Loads a serialized provider exactly as Pulumi's dynamic-provider host does and configures it
 * with the given secrets (e.g. a TestHost's `secrets`).
 */
export async function loadProvider(serialized: string, secrets?: { privateKey?: string; passphrase?: string; password?: string }): Promise<LoadedProvider> {
  const requireFromString = requireNode("require-from-string");
  const provider: LoadedProvider = requireFromString(serialized).handler();
  if (provider.configure) await provider.configure({ config: sshConfig(secrets ?? {}) });
  return provider;
}

/** Captures one resource and returns it with its loaded, configured provider. */
export async function captureProvider(
  declare: () => unknown | Promise<unknown>,
  secrets?: { privateKey?: string; passphrase?: string; password?: string },
): Promise<{ resource: CapturedResource; provider: LoadedProvider }> {
  const dynamic = (await captureResources(declare)).filter((r) => r.provider);
  if (dynamic.length !== 1) throw new Error(`captureProvider: expected one dynamic resource, got ${dynamic.length}`);
  return { resource: dynamic[0], provider: await loadProvider(dynamic[0].provider!, secrets) };
}
