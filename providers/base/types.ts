// Contract of the dynamic-provider base (implemented in providers/base/). Every Phoenix dynamic
// resource kind is a HostScriptKind: an idempotent shell script from features/ driven with
// PHOENIX_ACTION=read|apply|delete and its parameters as environment variables.

import type { SshTarget } from "../ssh/types";

/** Inputs every host-script resource carries (non-secret). */
export interface HostScriptInputs {
  connection: SshTarget;
  /** Script text (from features/registry.ts) and its sha256; a changed hash is an update. */
  script: string;
  scriptHash: string;
  /** Parameters, handed to the script as environment variables. Validated by the kind's schema. */
  params: Record<string, string>;
  /** Parameters the kind marks secret travel here, wrapped as Pulumi secrets by the caller. */
  secretParams?: Record<string, string>;
  /** Destroying what this resource manages is allowed (data-protection switch). */
  allowDestroy?: boolean;
}

/** Outputs: the inputs plus what the script's read/apply reported. */
export interface HostScriptOutputs extends HostScriptInputs {
  /** The last `PHOENIX_RESULT {json}` line the script printed, parsed. */
  observed: Record<string, unknown>;
}

/**
 * Script protocol (features/*.sh):
 * - environment: PHOENIX_ACTION (read | apply | delete), PHOENIX_ALLOW_DESTROY (0 | 1), and each
 *   parameter as PHOENIX_<UPPER_SNAKE_NAME>;
 * - runs under `set -euo pipefail`, optionally holding `flock /run/lock/phoenix-<lock>.lock`;
 * - prints exactly one line `PHOENIX_RESULT {json}` last; read prints `{"present": false}` when
 *   the object does not exist; apply adopts an existing matching object instead of failing;
 * - delete of protected data exits non-zero with a message saying why, unless allowed;
 * - exit codes as HOST_SCRIPT_EXIT says (features/hypervisor/lib/result.sh: die, invalid, result).
 * Optional result fields the provider base understands (added with the base, issue 3):
 * - `"matches": false` from read means the object exists but differs from the parameters
 *   (drift): after a refresh, diff reports a change and the next `up` applies again;
 * - `"id": "<string>"` from apply becomes the resource id (default: kind, host and a hash of
 *   the replaceOn parameters).
 */
export const RESULT_MARKER = "PHOENIX_RESULT ";

/**
 * What a host script's exit code means (the one protocol of features/hypervisor/lib/result.sh,
 * which the lxc and vm host scripts include too):
 * - `done` (0): the last line printed is `PHOENIX_RESULT {json}`;
 * - `failed` (1): the host's state refuses the action or a command failed (`die`, `set -e`);
 * - `invalid` (2): a parameter failed the script's own check (`invalid`), or the action is
 *   unknown: Phoenix's validation should have refused the value first, so this is a Phoenix bug;
 * - `truncated` (74): the script (or an uploaded file) arrived with another size or sha256 than
 *   was sent (a connection cut mid-transfer): nothing ran, nothing was replaced;
 * - `lockBusy` (75): the runner's wrapper could not take the host lock in time.
 */
export const HOST_SCRIPT_EXIT = { done: 0, failed: 1, invalid: 2, truncated: 74, lockBusy: 75 } as const;
