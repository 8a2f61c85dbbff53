// The one way to run a feature script on a host (protocol in ./types.ts). The script text and
// its parameters travel on stdin, never inside the command line: parameters are a base64 line of
// `export PHOENIX_<NAME>='<quoted>'` statements that the fixed wrapper below evaluates, so values
// are never parsed as code, and secrets are neither written to disk nor visible in `ps`. Values too
// large for an environment string (over 32 KiB, non-secret) are quoted assignments at the top of the
// script file instead, so no exec on the host fails with "Argument list too long".
import { HOST_SCRIPT_EXIT, RESULT_MARKER } from "./types";
import { isSshError, redact, shellQuote, sshError, type SshSession } from "../ssh/index";
import { sha256 } from "../../infra/hash";

export type HostScriptAction = "read" | "apply" | "delete";

export interface HostScriptRun {
  /** Script text (bash); run as `bash -euo pipefail <file>` with stdin from /dev/null. */
  script: string;
  action: HostScriptAction;
  /** Names `^[a-z][a-z0-9_]*$`, handed over as PHOENIX_<UPPER_NAME>. */
  params: Record<string, string>;
  /** Like params, but redacted from every error and returned output. */
  secretParams?: Record<string, string>;
  allowDestroy?: boolean;
  /** Holds `flock /run/lock/phoenix-<lock>.lock` while the script runs (scripts editing shared files). */
  lock?: string;
  timeoutMs?: number;
  /** What is being done, for errors: "apply zfs-pool tank". */
  purpose: string;
  /**
   * Name of the step's log on the host (STEP_LOG_NAME): the script's whole stderr goes to
   * `/var/log/phoenix/<logName>.log` as it runs, secret parameters redacted, the last
   * STEP_LOG_KEEP runs kept; errors name the file.
   */
  logName?: string;
  /** Called with each stderr line (redacted) while the script runs: progress for the operator. */
  onProgress?: (line: string) => void;
  /** A read-only run (`phoenix doctor`): nothing is written on the host, not even a temp dir (readOnlyHostScriptWrapper); no lock, no step log. */
  readOnly?: boolean;
}

/** Folder of the steps' logs on the host. */
export const STEP_LOG_DIR = "/var/log/phoenix";
/** Runs of one step whose logs are kept: `<name>.log` (the last), `<name>.log.1` … `.log.<KEEP-1>`. */
export const STEP_LOG_KEEP = 5;
/** A step log's name: the file is `<name>.log` in STEP_LOG_DIR. */
export const STEP_LOG_NAME = /^[a-z0-9][a-z0-9._-]{0,119}$/;

/** The host path of a step's log. */
export function stepLogPath(name: string): string {
  return `${STEP_LOG_DIR}/${name}.log`;
}

/**
 * The filter between the script's stderr and both the log and the caller (bash, run as
 * `bash -c FILTER phoenix-log <log file> <NAMES>`): each line with the values of the environment
 * variables PHOENIX_<NAMES> (the secret parameters; each line of a value of 4 characters or more)
 * replaced by *** (as the transport redacts), appended to the log and copied to stderr. `read` takes one line at a time
 * from the pipe, so the log and the progress lines follow the script as it runs (awk would wait
 * for a full input buffer).
 */
const LOG_FILTER = [
  "exec 5>>\"$1\"",
  "secrets=()",
  'for n in $2; do while IFS= read -r part; do if [ "${#part}" -ge 4 ]; then secrets+=("$part"); fi; done <<<"$(printenv "PHOENIX_$n")"; done',
  'while IFS= read -r line || [ -n "$line" ]; do',
  '  for s in "${secrets[@]}"; do line=${line//"$s"/***}; done',
  "  printf '%s\\n' \"$line\" >&5",
  "  printf '%s\\n' \"$line\" >&2",
  "done",
].join("\n");

/** What the wrapper needs to keep a step's log: its name, the secret parameters' names, the header line. */
export interface StepLog {
  name: string;
  secretNames: string[];
  header: string;
}

export interface HostScriptResult {
  result: Record<string, unknown>;
  stdout: string;
  stderr: string;
}

const PARAM_NAME = /^[a-z][a-z0-9_]*$/;
const LOCK_NAME = /^[a-z0-9][a-z0-9._-]{0,63}$/;
// An array, not a Set: Pulumi serializes a captured Set as a plain object.
const RESERVED = ["action", "allow_destroy"];

/**
 * Largest value exported into the script's environment, in bytes. Linux refuses to exec a program
 * whose single environment string exceeds MAX_ARG_STRLEN (128 KiB) with "Argument list too long",
 * and every program the script starts inherits the environment. Longer (non-secret) values are set
 * as plain shell variables at the top of the script file instead (see `hostScriptPrelude`).
 */
const MAX_EXPORTED_VALUE_BYTES = 32 * 1024;

/**
 * The export statements (small values, and every secret: secrets never go to a file) and the
 * prelude of plain assignments for non-secret values over MAX_EXPORTED_VALUE_BYTES. Throws on
 * invalid names or values, and on a secret too large for the environment.
 */
export function hostScriptInputs(run: Pick<HostScriptRun, "action" | "params" | "secretParams" | "allowDestroy">): { env: string; prelude: string } {
  if (!["read", "apply", "delete"].includes(run.action)) throw new Error(`invalid host script action ${JSON.stringify(run.action)}`);
  const lines = [`export PHOENIX_ACTION=${shellQuote(run.action)}`, `export PHOENIX_ALLOW_DESTROY=${run.allowDestroy ? "1" : "0"}`];
  const prelude: string[] = [];
  const seen = new Set<string>();
  for (const [group, values] of [["params", run.params], ["secretParams", run.secretParams ?? {}]] as const) {
    for (const [name, value] of Object.entries(values)) {
      if (!PARAM_NAME.test(name) || RESERVED.includes(name)) throw new Error(`${group}: invalid parameter name ${JSON.stringify(name)} (want ^[a-z][a-z0-9_]*$, not action/allow_destroy)`);
      if (seen.has(name)) throw new Error(`${group}: parameter ${name} given twice`);
      seen.add(name);
      if (typeof value !== "string") throw new Error(`${group}.${name}: expected a string, got ${typeof value}`);
      if (value.includes("\0")) throw new Error(`${group}.${name}: contains a NUL byte`);
      if (Buffer.byteLength(value, "utf8") > MAX_EXPORTED_VALUE_BYTES) {
        if (group === "secretParams") throw new Error(`secretParams.${name}: ${Buffer.byteLength(value, "utf8")} bytes, more than a secret may hold (${MAX_EXPORTED_VALUE_BYTES})`);
        prelude.push(`PHOENIX_${name.toUpperCase()}=${shellQuote(value)}`);
        continue;
      }
      lines.push(`export PHOENIX_${name.toUpperCase()}=${shellQuote(value)}`);
    }
  }
  return { env: lines.join("\n") + "\n", prelude: prelude.length ? prelude.join("\n") + "\n" : "" };
}

/**
 * The wrapper of a read-only run (`phoenix doctor`): it writes nothing at all, not even its run
 * dir, and removes nothing (other runs' leftovers stay theirs): the script stays in a shell
 * variable, checked (size, sha256) and run with `bash -c`. No lock.
 */
export function readOnlyHostScriptWrapper(): string {
  return [
    "set -eu",
    "IFS= read -r env_b64",
    "IFS= read -r sent",
    `eval "$(printf '%s' "$env_b64" | base64 -d)"`,
    // The trailing x keeps the script's last newlines (command substitution strips them).
    `script="$(cat; echo x)"`,
    'script="${script%x}"',
    `got="$(printf '%s' "$script" | wc -c | tr -d ' ') $(printf '%s' "$script" | sha256sum | cut -d ' ' -f 1)"`,
    `[ "$got" = "$sent" ] || { echo "phoenix: the script arrived incomplete or altered (got $got, sent $sent): not run" >&2; exit ${HOST_SCRIPT_EXIT.truncated}; }`,
    "cd /",
    'exec bash -euo pipefail -c "$script" phoenix-read-only </dev/null',
  ].join("\n");
}

/**
 * The fixed wrapper (no interpolation but the validated lock name and its wait, and with a step
 * log its validated name, the secret parameters' validated names and the quoted header line).
 */
export function hostScriptWrapper(lock: string | undefined, lockWaitS: number, log?: StepLog): string {
  const lines = [
    "set -eu",
    "umask 077",
    'd=$(mktemp -d "${TMPDIR:-/tmp}/phoenix-run.XXXXXXXX")',
    // Clean up on TERM/HUP/INT too (a timeout or a dropped connection), not only on exit.
    `trap 'rm -rf "$d"' EXIT`,
    // This run holds a lock on its dir's .alive for its whole life (fd 8). A run killed outright
    // (SIGKILL, power cut) cannot clean up: the next run removes every run dir whose .alive lock
    // is free (its owner is gone). The file is locked under another name and renamed to .alive
    // only then, so .alive is never seen unlocked by a live run; dirs without .alive are left
    // alone for a minute (a run that has just been created).
    'exec 8>"$d/.locking"',
    "flock 8",
    'mv "$d/.locking" "$d/.alive"',
    'for old in "${TMPDIR:-/tmp}"/phoenix-run.*; do',
    '  if [ "$old" = "$d" ] || [ ! -d "$old" ]; then continue; fi',
    '  if [ -f "$old/.alive" ]; then flock -n "$old/.alive" rm -rf "$old" 2>/dev/null || true',
    '  elif [ -n "$(find "$old" -maxdepth 0 -mmin +1 2>/dev/null)" ]; then rm -rf "$old"; fi',
    "done",
    // Temp files the script makes (mktemp) live in the run dir too, so they go with it.
    'export TMPDIR="$d"',
    "trap 'exit 143' TERM",
    "trap 'exit 129' HUP",
    "trap 'exit 130' INT",
    "IFS= read -r env_b64",
    // The size and sha256 of the script that follows: a script cut off on the way never runs.
    "IFS= read -r sent",
    // The parameters never touch the disk: the quoted export lines are evaluated in this shell.
    `eval "$(printf '%s' "$env_b64" | base64 -d)"`,
    `cat > "$d/script.sh"`,
    `got="$(wc -c < "$d/script.sh" | tr -d ' ') $(sha256sum "$d/script.sh" | cut -d ' ' -f 1)"`,
    `[ "$got" = "$sent" ] || { echo "phoenix: the script arrived incomplete or altered (got $got, sent $sent): not run" >&2; exit ${HOST_SCRIPT_EXIT.truncated}; }`,
    "cd /",
  ];
  if (lock) {
    const file = `/run/lock/phoenix-${lock}.lock`;
    lines.push(
      "mkdir -p /run/lock",
      `exec 9>>${shellQuote(file)}`,
      `flock -w ${lockWaitS} 9 || { echo "phoenix: host lock ${file} is busy (waited ${lockWaitS}s)" >&2; exit ${HOST_SCRIPT_EXIT.lockBusy}; }`,
    );
  }
  // The script does not inherit the lock descriptors: daemons it starts must not hold the locks.
  const closeLocks = lock ? "9>&- 8>&-" : "8>&-";
  if (!log) {
    lines.push(`bash -euo pipefail "$d/script.sh" </dev/null ${closeLocks}`);
    return lines.join("\n");
  }
  if (!STEP_LOG_NAME.test(log.name)) throw new Error(`invalid step log name ${JSON.stringify(log.name)}`);
  for (const n of log.secretNames) if (!PARAM_NAME.test(n)) throw new Error(`invalid secret parameter name ${JSON.stringify(n)}`);
  const names = log.secretNames.map((n) => n.toUpperCase()).join(" ");
  lines.push(
    `log=${shellQuote(stepLogPath(log.name))}`,
    // Rotation: the last run's log becomes .1, …; the oldest goes. A host where the log cannot be
    // written (read-only /var/log) still runs the step, without a log.
    "{",
    `  mkdir -p ${STEP_LOG_DIR} &&`,
    `  for i in ${Array.from({ length: STEP_LOG_KEEP - 2 }, (_, i) => STEP_LOG_KEEP - 2 - i).join(" ")}; do if [ -e "$log.$i" ]; then mv -f "$log.$i" "$log.$((i + 1))"; fi; done &&`,
    '  if [ -e "$log" ]; then mv -f "$log" "$log.1"; fi &&',
    `  printf '%s %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" ${shellQuote(log.header)} >"$log"`,
    '} 2>/dev/null || log=/dev/null',
    "set +e",
    // stdout (the PHOENIX_RESULT protocol) goes straight out on fd 4; stderr through the redacting
    // filter. The wrapper is POSIX sh (no pipefail): the script's exit code comes back in a file.
    `( { bash -euo pipefail "$d/script.sh" </dev/null 2>&1 1>&4 4>&-; echo "$?" >"$d/.code"; } | bash --norc --noprofile -c ${shellQuote(LOG_FILTER)} phoenix-log "$log" ${shellQuote(names)} ) 4>&1 ${closeLocks}`,
    'code=$(cat "$d/.code" 2>/dev/null || echo 1)',
    "set -e",
    `if [ "$log" != /dev/null ]; then printf '%s exit %s\\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$code" >>"$log" || true; fi`,
    'exit "$code"',
  );
  return lines.join("\n");
}

/**
 * What the wrapper reads on stdin: the base64 line of export statements, the script's size and
 * sha256 (`<bytes> <hex>`), then the script itself (prelude and text).
 */
export function hostScriptStdin(env: string, script: string): Buffer {
  const body = Buffer.from(script, "utf8");
  const digest = sha256(body);
  return Buffer.concat([Buffer.from(`${Buffer.from(env, "utf8").toString("base64")}\n${body.length} ${digest}\n`), body]);
}

/** Parses the last `PHOENIX_RESULT {json}` line of the output (must be a JSON object). */
export function parseResult(stdout: string): Record<string, unknown> | undefined {
  const lines = stdout.split("\n");
  for (let i = lines.length - 1; i >= 0; i--) {
    const line = lines[i].replace(/\r$/, "");
    if (!line.startsWith(RESULT_MARKER)) continue;
    const value = JSON.parse(line.slice(RESULT_MARKER.length));
    if (!value || typeof value !== "object" || Array.isArray(value)) throw new Error("PHOENIX_RESULT is not a JSON object");
    return value as Record<string, unknown>;
  }
  return undefined;
}

/** Runs a host script over an open session and returns its parsed result. */
export async function runHostScript(session: SshSession, run: HostScriptRun): Promise<HostScriptResult> {
  if (run.lock !== undefined && !LOCK_NAME.test(run.lock)) throw new Error(`invalid lock name ${JSON.stringify(run.lock)}`);
  if (typeof run.script !== "string" || !run.script.trim()) throw new Error(`${run.purpose}: empty script`);
  const secrets = Object.values(run.secretParams ?? {});
  const { env, prelude } = hostScriptInputs(run);
  const timeoutMs = run.timeoutMs ?? 10 * 60_000;
  const lockWaitS = Math.max(1, Math.ceil(timeoutMs / 2000));
  const stdin = hostScriptStdin(env, prelude + run.script);
  if (run.readOnly && run.lock !== undefined) throw new Error(`${run.purpose}: a read-only run takes no lock`);
  if (run.logName !== undefined && !STEP_LOG_NAME.test(run.logName)) throw new Error(`invalid step log name ${JSON.stringify(run.logName)}`);
  const log: StepLog | undefined = run.logName === undefined || run.readOnly ? undefined : { name: run.logName, secretNames: Object.keys(run.secretParams ?? {}), header: run.purpose };
  const logNote = log ? `; full log on the host: ${stepLogPath(log.name)}` : "";
  const wrapper = run.readOnly ? readOnlyHostScriptWrapper() : hostScriptWrapper(run.lock, lockWaitS, log);
  const r = await session
    .check(wrapper, { stdin, timeoutMs, purpose: run.purpose, redact: secrets, onStderrLine: run.onProgress })
    .catch((err: unknown) => {
      if (!isSshError(err)) throw err;
      // The script refused a parameter (exit 2): say that validation let it through.
      const bug = err.code === HOST_SCRIPT_EXIT.invalid ? " [the host script refused a parameter Phoenix's validation accepted: a Phoenix bug]" : "";
      throw sshError(`${err.message}${bug}${logNote}`, err.purpose, err.code, err.stderrTail, err.transient);
    });
  const stdout = redact(r.stdout, secrets);
  const stderr = redact(r.stderr, secrets);
  let result: Record<string, unknown> | undefined;
  try {
    result = parseResult(r.stdout);
  } catch (err) {
    throw sshError(`${run.purpose}: invalid ${RESULT_MARKER.trim()} line: ${redact((err as Error).message, secrets)}${logNote}`, run.purpose, 0, stderr.slice(-2000));
  }
  if (!result) {
    throw sshError(`${run.purpose}: the script exited 0 but printed no ${RESULT_MARKER.trim()} line${stderr.trim() ? `; stderr: ${stderr.trim().slice(-2000)}` : ""}${logNote}`, run.purpose, 0, stderr.slice(-2000));
  }
  return { result, stdout, stderr };
}
