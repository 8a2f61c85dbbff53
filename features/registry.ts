// The registry of feature scripts: which names exist for hosts, containers and VMs, and where
// their shell lives. infra/config validates feature names against these lists; components read
// the script text (and its hash) from here to hand to dynamic resources.
import { createHash } from "crypto";
import { readFileSync } from "fs";
import * as path from "path";

/** Container features, applied in the order a container lists them. */
export const LXC_FEATURES = [
  "base_setup",
  "nvidia",
  "docker",
  "vllm",
  "ollama",
  "portainer",
  "python_api_service",
  "trusted_ca",
  "step_cli",
  "step_ca",
  "traefik",
] as const;

/** VM features, embedded in cloud-init user data and run on first boot. */
export const VM_FEATURES = ["base_setup", "docker", "nvidia", "portainer", "trusted_ca", "step_cli"] as const;

export type FeatureRoom = "hypervisor" | "lxc" | "vm";

export interface FeatureScript {
  room: FeatureRoom;
  name: string;
  /** Path relative to the repository root, e.g. `features/lxc/docker.sh`. */
  file: string;
  text: string;
  /** sha256 of the text: resources carry it so a changed script shows in `pulumi preview`. */
  sha256: string;
}

/** The repository root, whether running from sources (ts-node) or from dist/ (tsc output). */
export function repoRoot(): string {
  let dir = __dirname;
  for (let i = 0; i < 6; i++) {
    try {
      readFileSync(path.join(dir, "Pulumi.yaml"));
      return dir;
    } catch {
      dir = path.dirname(dir);
    }
  }
  throw new Error(`cannot find the Phoenix repository root above ${__dirname}`);
}

const cache = new Map<string, FeatureScript>();

/** Reads `features/<room>/<name>.sh`. */
export function featureScript(room: FeatureRoom, name: string): FeatureScript {
  const key = `${room}/${name}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`invalid feature script name ${JSON.stringify(name)}`);
  const file = path.posix.join("features", room, `${name}.sh`);
  const text = readFileSync(path.join(repoRoot(), file), "utf8");
  const script: FeatureScript = { room, name, file, text, sha256: createHash("sha256").update(text).digest("hex") };
  cache.set(key, script);
  return script;
}
