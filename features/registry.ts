// The registry of feature scripts: which names exist for hosts, containers and VMs, and where
// their shell lives. infra/config validates feature names against these lists; components read
// the script text (and its hash) from here to hand to dynamic resources.
import { existsSync, readFileSync } from "fs";
import * as path from "path";
import { sha256 } from "../infra/hash";

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
  /** The composed text (see composeScript): what the host runs. */
  text: string;
  /**
   * sha256 of the composed text: resources carry it so a changed script, or a changed library it
   * includes, shows in `pulumi preview`.
   */
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

/**
 * A script's text as hosts run it: LF line ends. A checkout with CRLF line ends (Windows, without
 * .gitattributes) would otherwise send `\r` into bash (`$'\r': command not found`) and hash
 * differently from the same script checked out on Linux. A leading byte-order mark goes too.
 */
export function scriptText(text: string): string {
  return text.replace(/^\uFEFF/, "").replace(/\r+\n/g, "\n");
}

/** Reads a script file (utf8) as hosts run it (scriptText). */
export function readScript(file: string): string {
  return scriptText(readFileSync(file, "utf8"));
}

const cache = new Map<string, FeatureScript>();

/** The one form of an include line; a line that starts like one but differs is an error. */
const INCLUDE_LINE = /^# phoenix-include: ([A-Za-z0-9_./-]+)$/;
const INCLUDE_START = /^#\s*phoenix-include\b/;

/**
 * The text of a feature script as the host receives it. The host gets only this text (it is sent
 * over SSH, not copied as a folder), so code shared by several scripts lives in a library next to
 * them and each line `# phoenix-include: lib/result.sh` is replaced by that library's content.
 * The path is relative to the script's folder, may not leave it (no `..`, not absolute) and must
 * exist; a library may not include another (one level keeps the composed text easy to follow).
 * Scripts stay runnable by shellcheck as they are: the include line is a comment to it.
 *
 * `file` is relative to the repository root (or absolute).
 */
export function composeScript(file: string): string {
  const full = path.resolve(repoRoot(), file);
  return readScript(full)
    .split("\n")
    .map((line, i) => {
      if (!INCLUDE_START.test(line)) return line;
      const where = `${file}:${i + 1}`;
      const m = INCLUDE_LINE.exec(line);
      if (!m) throw new Error(`${where}: an include line reads exactly "# phoenix-include: <path>" (got ${JSON.stringify(line)})`);
      const rel = m[1];
      if (rel.startsWith("/") || rel.split("/").some((seg) => seg === ".." || seg === "." || seg === "")) {
        throw new Error(`${where}: include path ${JSON.stringify(rel)} must stay inside the script's folder (no "..", ".", empty or absolute parts)`);
      }
      const lib = path.join(path.dirname(full), rel);
      if (!existsSync(lib)) throw new Error(`${where}: included file ${JSON.stringify(rel)} does not exist`);
      const body = readScript(lib);
      if (body.split("\n").some((l) => INCLUDE_START.test(l))) throw new Error(`${where}: ${rel} includes another file; libraries do not nest`);
      return body.endsWith("\n") ? body.slice(0, -1) : body;
    })
    .join("\n");
}

/**
 * A script file as the host receives it: composed (`# phoenix-include:` lines resolved, CRLF
 * stripped) and hashed. `file` is relative to the repository root or absolute; the returned
 * `file` is relative to the repository root. The one way every FeatureScript is built.
 */
export function scriptFromFile(room: FeatureRoom, name: string, file: string): FeatureScript {
  const text = composeScript(file);
  return { room, name, file: path.relative(repoRoot(), path.resolve(repoRoot(), file)), text, sha256: sha256(text) };
}

/** Reads `features/<room>/<name>.sh`, composed (includes replaced by their libraries). */
export function featureScript(room: FeatureRoom, name: string): FeatureScript {
  const key = `${room}/${name}`;
  const hit = cache.get(key);
  if (hit) return hit;
  if (!/^[a-z0-9_]+$/.test(name)) throw new Error(`invalid feature script name ${JSON.stringify(name)}`);
  const script = scriptFromFile(room, name, path.posix.join("features", room, `${name}.sh`));
  cache.set(key, script);
  return script;
}

/** Where a script the configuration names was found, or every place it was looked for. */
export type ScriptLookup = { found: true; file: string } | { found: false; lookedIn: string[] };

/**
 * A feature the user provides: a name Phoenix does not ship is looked up in the stack folder
 * (the folder holding the three JSON files) as `features/<room>/<name>.sh`. Phoenix's own
 * features keep their names: a user file of the same name is not used.
 */
export function findUserFeature(configDir: string, room: "lxc" | "vm", name: string): ScriptLookup {
  const file = path.join(configDir, "features", room, `${name}.sh`);
  return /^[a-z0-9_]+$/.test(name) && existsSync(file) ? { found: true, file } : { found: false, lookedIn: [file] };
}

/**
 * An application script (`kind` apps: `application_script`) or a test script (`kind` tests:
 * `tests.health_checks[].path`) or a health-check script (`kind` health_checks: a
 * `health_check.command` naming a `.sh` file): the stack folder first (`<dir>/<name>`,
 * `<dir>/scripts/<name>` for applications; `<dir>/tests/<name>` for tests;
 * `<dir>/health_checks/<name>` for health checks), then Phoenix's own `features/lxc/<kind>/`
 * (none for health checks).
 */
export function findConfigScript(configDir: string, kind: "apps" | "tests" | "health_checks", name: string): ScriptLookup {
  if (!/^[A-Za-z0-9_.-]+(\/[A-Za-z0-9_.-]+)*$/.test(name) || name.split("/").includes("..")) return { found: false, lookedIn: [] };
  const candidates =
    kind === "apps" ? [path.join(configDir, name), path.join(configDir, "scripts", name)] : [path.join(configDir, kind, name)];
  // Health-check scripts are the stack's own (Phoenix ships none).
  if (kind !== "health_checks") candidates.push(path.join(repoRoot(), "features", "lxc", kind, name));
  const file = candidates.find((f) => existsSync(f));
  return file ? { found: true, file } : { found: false, lookedIn: candidates };
}

/**
 * A custom AppArmor profile the configuration names (`apparmor_profile`): the stack folder's
 * `apparmor/<name>`, as the Bash tool kept them in etc/apparmor/<name>; for a name with `_`, also
 * the file with `-` in their place (its hypervisor_feature_setup_apparmor.sh, in the versions that
 * did, loaded etc/apparmor/lxc-phoenix-v1 as profile lxc_phoenix_v1).
 */
export function findAppArmorProfile(configDir: string, name: string): ScriptLookup {
  if (!/^[A-Za-z0-9][A-Za-z0-9_.-]*$/.test(name)) return { found: false, lookedIn: [] };
  const candidates = [...new Set([name, name.replace(/_/g, "-")])].map((n) => path.join(configDir, "apparmor", n));
  const file = candidates.find((f) => existsSync(f));
  return file ? { found: true, file } : { found: false, lookedIn: candidates };
}

/**
 * The profile names an AppArmor policy file declares (`profile <name> ...` and the old
 * `/path/... {` attachment form is not a name): what `apparmor_parser -r` would load or replace.
 */
export function declaredAppArmorProfiles(text: string): string[] {
  const out: string[] = [];
  for (const raw of text.split("\n")) {
    const line = raw.replace(/#.*$/, "").trim();
    const m = /^profile\s+("?)([^\s"{]+)\1(?:\s|\{|$)/.exec(line);
    if (m) out.push(m[2]);
  }
  return out;
}

/**
 * A feature script the user provides (see findUserFeature), composed and hashed like Phoenix's own
 * (`# phoenix-include:` lines resolve inside the user's folder), so a changed script re-runs.
 */
function userFeatureScript(configDir: string, room: "lxc" | "vm", name: string): FeatureScript {
  const found = findUserFeature(configDir, room, name);
  if (!found.found) throw new Error(`feature ${name}: not shipped by Phoenix and not found at ${found.lookedIn.join(", ")}`);
  return scriptFromFile(room, name, found.file);
}

/** A feature by name: Phoenix's own when it ships one, else the stack folder's (userFeatureScript). */
export function resolveFeatureScript(configDir: string, room: "lxc" | "vm", name: string): FeatureScript {
  const own: readonly string[] = room === "lxc" ? LXC_FEATURES : VM_FEATURES;
  return own.includes(name) ? featureScript(room, name) : userFeatureScript(configDir, room, name);
}
