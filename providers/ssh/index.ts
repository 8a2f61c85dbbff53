// The one SSH transport (ssh2). Every command Phoenix runs on a host goes through openSession:
// host keys are verified (fails closed), transient dial failures are retried with backoff, each
// command runs under a remote `timeout` (through `sudo -n` for non-root users), and errors say
// what was being done, the exit code and the stderr tail with secrets redacted.
//
// This module is captured by value into serialized dynamic providers: keep it self-contained
// (only node built-ins and ssh2 from node_modules) and free of module-level state.
import { Client, type ClientChannel, type ConnectConfig, type ServerHostKeyAlgorithm } from "ssh2";
import type { RunOptions, RunResult, SshSecrets, SshSession, SshTarget } from "./types";
import { SSH_HOST, USERNAME } from "../../infra/config/patterns";
import { sha256 } from "../../infra/hash";

export type { RunOptions, RunResult, SshSecrets, SshSession, SshTarget } from "./types";

const DEFAULT_COMMAND_TIMEOUT_MS = 10 * 60_000;
const DEFAULT_CONNECT_TIMEOUT_MS = 10_000;
const DEFAULT_CONNECT_ATTEMPTS = 6;
/** Grace between the remote TERM and KILL of a timed-out command. */
const KILL_GRACE_S = 5;
const STDERR_TAIL_CHARS = 2000;

/** Error from the transport: what was being done, the exit code (if any) and the stderr tail. */
export interface SshError extends Error {
  name: "SshError";
  purpose: string;
  code?: number;
  stderrTail?: string;
  /** True for failures a retry may cure (refused, reset, throttled before the banner, lost). */
  transient: boolean;
}

/**
 * Makes an SshError. A plain Error with fields, not a subclass: Pulumi serializes classes into
 * functions, and a serialized `class extends Error` loses its message.
 */
export function sshError(message: string, purpose: string, code?: number, stderrTail?: string, transient = false): SshError {
  return Object.assign(new Error(message), { name: "SshError" as const, purpose, code, stderrTail, transient });
}

export function isSshError(err: unknown): err is SshError {
  return err instanceof Error && err.name === "SshError";
}

/** Single-quotes a value for POSIX sh: the value always reaches the command as one word of data. */
export function shellQuote(value: string): string {
  if (value.includes("\0")) throw new Error("a shell value cannot contain a NUL byte");
  return `'${value.replace(/'/g, `'\\''`)}'`;
}

/**
 * Replaces every secret by `***`: the value itself, every long line of a multi-line secret (a PEM
 * key), and the forms a secret takes once quoted or escaped on its way through a shell or JSON
 * (`'it'\''s'` from shellQuote, `it\'s` from `printf %q`, `\"` / `\n` from JSON). Secrets of
 * 1-3 characters are replaced only where they stand alone (not inside a longer word), so a short
 * password is hidden without blanking out ordinary text.
 */
export function redact(text: string, secrets: Array<string | undefined>): string {
  const needles = new Set<string>();
  for (const s of secrets) {
    if (!s) continue;
    const forms = [
      s,
      s.replace(/'/g, `'\\''`),
      JSON.stringify(s).slice(1, -1),
      s.replace(/[^A-Za-z0-9_./,:@%+=-]/g, (c) => (c === "\n" ? "$'\\n'" : `\\${c}`)),
    ];
    for (const f of forms) if (f) needles.add(f);
    for (const line of s.split(/\r?\n/)) if (line.trim().length >= 8) needles.add(line.trim());
    for (const b of base64Forms(s)) needles.add(b);
  }
  let out = text;
  // Longest first, so a whole key is replaced before its lines (and an escaped form before the plain one).
  for (const n of [...needles].sort((a, b) => b.length - a.length)) {
    if (n.length >= 4) {
      out = out.split(n).join("***");
    } else {
      const escaped = n.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
      out = out.replace(new RegExp(`(?<![A-Za-z0-9_])${escaped}(?![A-Za-z0-9_])`, "g"), "***");
    }
  }
  // A text cut in the middle of a secret (an output stream cut off, a tail): the part that is left
  // at either end, from 4 characters on, is hidden too.
  for (const s of secrets) {
    if (!s || s.length < 5) continue;
    for (let n = s.length - 1; n >= 4; n--) {
      if (out.endsWith(s.slice(0, n))) {
        out = `${out.slice(0, out.length - n)}***`;
        break;
      }
    }
    for (let n = s.length - 1; n >= 4; n--) {
      if (out.startsWith(s.slice(s.length - n))) {
        out = `***${out.slice(n)}`;
        break;
      }
    }
  }
  return out;
}

/**
 * The base64 (and base64url) text a secret becomes inside any encoded stream (an env file sent as
 * base64, cloud-init data, `echo secret | base64`): for each of the three byte alignments, the
 * characters that depend on the secret's bytes alone (8 characters or more).
 */
function base64Forms(secret: string): string[] {
  const out: string[] = [];
  const bytes = Buffer.from(secret, "utf8");
  for (const lead of [0, 1, 2]) {
    const enc = Buffer.concat([Buffer.alloc(lead), bytes]).toString("base64").replace(/=+$/, "");
    // Characters mixing in the unknown bytes before (the first group when lead > 0) and after
    // (a last partial group) the secret are dropped.
    const start = lead === 0 ? 0 : 4;
    const whole = Math.floor((lead + bytes.length) / 3) * 4;
    const core = enc.slice(start, whole);
    if (core.length >= 8) out.push(core, core.replace(/\+/g, "-").replace(/\//g, "_"));
  }
  return out;
}

/** Pulumi's marker of a secret value inside a structured config value sent to a provider. */
const SECRET_SIG_KEY = "4dabf18193072939515e22adb298388d";

/**
 * Node `node`'s entry of `phoenix:nodes` in a provider's config: the engine hands a structured
 * value as JSON text (or, to be safe, as an object whose secret leaves may be wrapped in Pulumi's
 * secret marker). Undefined when absent or unreadable.
 */
function nodeEntry(config: { get(key: string): unknown }, node: string): Record<string, unknown> | undefined {
  let nodes = config.get("phoenix:nodes");
  if (typeof nodes === "string") {
    try {
      nodes = JSON.parse(nodes);
    } catch {
      return undefined;
    }
  }
  const entry = nodes && typeof nodes === "object" ? (nodes as Record<string, unknown>)[node] : undefined;
  return entry && typeof entry === "object" ? (entry as Record<string, unknown>) : undefined;
}

/** A secret leaf's text (unwrapping Pulumi's secret marker); undefined unless a non-empty string. */
function leafText(value: unknown): string | undefined {
  const v = value && typeof value === "object" && (value as Record<string, unknown>)[SECRET_SIG_KEY] !== undefined ? (value as { value?: unknown }).value : value;
  return typeof v === "string" && v !== "" ? v : undefined;
}

/**
 * Only the secrets node `node` sets itself in `phoenix:nodes.<node>` (`sshPrivateKey`,
 * `sshPrivateKeyPassphrase`, `sshPassword`); keys it leaves out are absent.
 */
export function nodeSecretsFromConfig(config: { get(key: string): unknown }, node: string): Pick<SshSecrets, "privateKey" | "passphrase" | "password"> {
  const own = nodeEntry(config, node);
  const out: Pick<SshSecrets, "privateKey" | "passphrase" | "password"> = {};
  const privateKey = leafText(own?.sshPrivateKey);
  const passphrase = leafText(own?.sshPrivateKeyPassphrase);
  const password = leafText(own?.sshPassword);
  if (privateKey) out.privateKey = privateKey;
  if (passphrase) out.passphrase = passphrase;
  if (password) out.password = password;
  return out;
}

/**
 * Secrets from a Pulumi config (the dynamic provider's `configure`), then the environment
 * (`PHOENIX_SSH_PRIVATE_KEY`, `PHOENIX_SSH_PRIVATE_KEY_PASSPHRASE`, `PHOENIX_SSH_PASSWORD`,
 * `SSH_AUTH_SOCK`). With `node` (a connection's `secretsNode`), each secret is first taken from
 * `phoenix:nodes.<node>` (same key names), then as without it.
 */
export function secretsFromConfig(config: { get(key: string): string | undefined }, node?: string): SshSecrets {
  const env = process.env;
  const own = node === undefined ? {} : nodeSecretsFromConfig(config, node);
  const ownOf = { sshPrivateKey: own.privateKey, sshPrivateKeyPassphrase: own.passphrase, sshPassword: own.password } as Record<string, string | undefined>;
  const pick = (key: string, envName: string) => ownOf[key] || config.get(`phoenix:${key}`) || env[envName] || undefined;
  return {
    privateKey: pick("sshPrivateKey", "PHOENIX_SSH_PRIVATE_KEY"),
    passphrase: pick("sshPrivateKeyPassphrase", "PHOENIX_SSH_PRIVATE_KEY_PASSPHRASE"),
    password: pick("sshPassword", "PHOENIX_SSH_PASSWORD"),
    agentSocket: env.SSH_AUTH_SOCK || undefined,
  };
}

/** OpenSSH-style fingerprint of a raw public key blob: `SHA256:<base64, no padding>`. */
export function fingerprintOf(keyBlob: Buffer): string {
  return "SHA256:" + sha256(keyBlob, "base64").replace(/=+$/, "");
}

interface ExpectedHostKey {
  /** Raw key blobs from known_hosts lines. */
  blobs: Buffer[];
  fingerprints: string[];
  /** Host key algorithms to offer, so the server presents the key type we know. */
  algorithms: string[];
}

const RSA_ALGOS = ["rsa-sha2-512", "rsa-sha2-256", "ssh-rsa"];

/**
 * Parses the expected host key: one or more (newline-separated) OpenSSH known_hosts lines
 * (`[host]:port type base64`, `host type base64` or `type base64`) or `SHA256:` fingerprints.
 */
export function parseHostKey(spec: string): ExpectedHostKey {
  const out: ExpectedHostKey = { blobs: [], fingerprints: [], algorithms: [] };
  for (const raw of spec.split(/\r?\n/)) {
    const line = raw.trim();
    if (!line || line.startsWith("#")) continue;
    if (/^SHA256:[A-Za-z0-9+/]+=*$/.test(line)) {
      out.fingerprints.push(line.replace(/=+$/, ""));
      continue;
    }
    const tokens = line.split(/\s+/);
    if (tokens[0].startsWith("@")) throw new Error(`host key: markers like ${tokens[0]} are not supported`);
    const i = tokens.findIndex((t) => /^(ssh-|ecdsa-sha2-|sk-)/.test(t));
    if (i < 0 || i > 1 || !tokens[i + 1] || !/^[A-Za-z0-9+/]+=*$/.test(tokens[i + 1])) {
      throw new Error("host key: expected an OpenSSH known_hosts line (`[host]:port ssh-ed25519 AAAA...`) or a `SHA256:` fingerprint");
    }
    const type = tokens[i];
    out.blobs.push(Buffer.from(tokens[i + 1], "base64"));
    for (const a of type === "ssh-rsa" ? RSA_ALGOS : [type]) if (!out.algorithms.includes(a)) out.algorithms.push(a);
  }
  if (!out.blobs.length && !out.fingerprints.length) throw new Error("host key: empty");
  // With a fingerprint we cannot know the key type: let the server choose.
  if (out.fingerprints.length) out.algorithms = [];
  return out;
}

function hostKeyMatches(expected: ExpectedHostKey, blob: Buffer): boolean {
  return expected.blobs.some((b) => b.equals(blob)) || expected.fingerprints.includes(fingerprintOf(blob));
}

// Arrays, not Sets: Pulumi serializes a captured Set as a plain object.
const TRANSIENT_CODES = ["ECONNREFUSED", "ECONNRESET", "EPIPE", "ETIMEDOUT", "EHOSTUNREACH", "ENETUNREACH", "EAI_AGAIN"];
const TRANSIENT_MESSAGES = [
  "Connection lost before handshake", // sshd MaxStartups drops before the banner
  "kex_exchange_identification",
  "Timed out while waiting for handshake",
  "socket hang up",
  "Not connected",
];

/** What isTransient reads of a thrown value (Node's system errors carry `code`). */
type ThrownValue = { code?: string; message?: unknown } | null | undefined;

function isTransient(thrown: unknown): boolean {
  if (isSshError(thrown)) return thrown.transient;
  const err = thrown as ThrownValue;
  if (err && TRANSIENT_CODES.includes(err.code as string)) return true;
  const msg = String(err?.message ?? err);
  return TRANSIENT_MESSAGES.some((m) => msg.includes(m)) || /ECONNRESET|ECONNREFUSED/.test(msg);
}

function validateEndpoint(what: string, host: string, port: number, user: string): void {
  if (typeof host !== "string" || !SSH_HOST.test(host)) throw new Error(`${what}: invalid host ${JSON.stringify(host)}`);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new Error(`${what}: invalid port ${JSON.stringify(port)}`);
  if (typeof user !== "string" || !USERNAME.test(user)) throw new Error(`${what}: invalid user ${JSON.stringify(user)}`);
}

interface Hop {
  host: string;
  port: number;
  user: string;
  hostKey?: string;
}

function describe(hop: Hop): string {
  return `${hop.user}@${hop.host}:${hop.port}`;
}

/** One SSH handshake + authentication; resolves with a ready client. Never retries. */
function connectOnce(hop: Hop, secrets: SshSecrets, target: SshTarget, sock?: ClientChannel): Promise<Client> {
  const expected = hop.hostKey ? parseHostKey(hop.hostKey) : undefined;
  if (!expected && !target.insecureIgnoreHostKey) {
    return Promise.reject(
      sshError(
        `refusing to connect to ${describe(hop)}: no expected host key is configured (set phoenix:sshHostKey to a known_hosts line or SHA256 fingerprint; opting out with phoenix:sshInsecureIgnoreHostKey is insecure)`,
        "connect",
      ),
    );
  }
  let presented: string | undefined;
  let rejectedHostKey = false;
  const config: ConnectConfig = {
    host: hop.host,
    port: hop.port,
    username: hop.user,
    readyTimeout: target.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS,
    keepaliveInterval: 15_000,
    keepaliveCountMax: 4,
    privateKey: secrets.privateKey,
    passphrase: secrets.passphrase,
    password: secrets.password,
    agent: secrets.agentSocket,
    hostVerifier: (key: Buffer) => {
      presented = fingerprintOf(key);
      if (!expected) return true;
      rejectedHostKey = !hostKeyMatches(expected, key);
      return !rejectedHostKey;
    },
  } as ConnectConfig;
  // Servers that offer passwords only through PAM's keyboard-interactive get the same password.
  if (secrets.password) config.tryKeyboard = true;
  if (expected?.algorithms.length) config.algorithms = { serverHostKey: expected.algorithms as ServerHostKeyAlgorithm[] };
  if (sock) config.sock = sock;

  return new Promise((resolve, reject) => {
    const client = new Client();
    let settled = false;
    const fail = (err: Error & { level?: string }) => {
      if (settled) return;
      settled = true;
      client.end();
      if (rejectedHostKey) {
        reject(sshError(`refusing ${describe(hop)}: its host key ${presented} does not match the expected host key`, "connect"));
        return;
      }
      const level = err?.level;
      if (level === "client-authentication") {
        reject(sshError(`authentication to ${describe(hop)} failed: ${err.message} (check the SSH key, agent or password)`, "connect"));
        return;
      }
      const msg = redact(String(err?.message ?? err), [secrets.privateKey, secrets.passphrase, secrets.password]);
      reject(sshError(`cannot connect to ${describe(hop)}: ${msg}`, "connect", undefined, undefined, isTransient(err)));
    };
    client.on("ready", () => {
      if (settled) return;
      settled = true;
      if (!expected) {
        console.warn(`phoenix: WARNING: host key of ${describe(hop)} NOT verified (insecureIgnoreHostKey); it presented ${presented}`);
      }
      resolve(client);
    });
    client.on("keyboard-interactive", (_name, _instructions, _lang, prompts, finish) => finish(prompts.map(() => secrets.password ?? "")));
    client.on("error", fail);
    client.on("close", () => fail(new Error("Connection lost before handshake")));
    try {
      client.connect(config);
    } catch (err) {
      fail(err as Error); // e.g. an unreadable private key (ssh2 throws synchronously)
    }
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Handshakes in flight per target and process: Pulumi runs many operations in parallel. */
const DIAL_CONCURRENCY = 6;

/**
 * Waits for a handshake slot for `key`. The slots live on globalThis, not in this module: every
 * serialized provider carries its own copy of this code, but they share one process.
 */
async function dialSlot(key: string): Promise<() => void> {
  const g = globalThis as unknown as { __phoenixSshDials?: Record<string, { active: number; waiting: Array<() => void> }> };
  const slots = (g.__phoenixSshDials ??= {});
  const slot = (slots[key] ??= { active: 0, waiting: [] });
  if (slot.active >= DIAL_CONCURRENCY) await new Promise<void>((resolve) => slot.waiting.push(resolve));
  else slot.active++;
  let released = false;
  return () => {
    if (released) return;
    released = true;
    const next = slot.waiting.shift();
    if (next) next(); // the slot passes straight to the next waiter
    else slot.active--;
  };
}

/** Connects (through the bastion if any), retrying transient failures with jittered backoff. */
async function dial(target: SshTarget, secrets: SshSecrets): Promise<{ client: Client; bastion?: Client }> {
  const attempts = Math.max(1, target.connectAttempts ?? DEFAULT_CONNECT_ATTEMPTS);
  const slotKey = `${target.bastion ? `${target.bastion.host}:${target.bastion.port}>` : ""}${target.host}:${target.port}`;
  let lastErr: unknown;
  for (let attempt = 1; attempt <= attempts; attempt++) {
    let bastion: Client | undefined;
    const release = await dialSlot(slotKey);
    try {
      if (target.bastion) {
        bastion = await connectOnce(target.bastion, secrets, target);
        const b = bastion;
        const stream = await new Promise<ClientChannel>((resolve, reject) =>
          b.forwardOut("127.0.0.1", 0, target.host, target.port, (err, ch) => (err ? reject(err) : resolve(ch))),
        );
        return { client: await connectOnce(target, secrets, target, stream), bastion };
      }
      return { client: await connectOnce(target, secrets, target) };
    } catch (err) {
      bastion?.end();
      lastErr = err;
    } finally {
      release();
    }
    if (!isTransient(lastErr) || attempt === attempts) break;
    // Full jitter: many clients throttled by MaxStartups must not come back in lockstep.
    const cap = Math.min(8000, 500 * 2 ** (attempt - 1));
    await sleep(cap / 2 + Math.random() * cap);
  }
  if (isSshError(lastErr) && lastErr.transient) {
    throw sshError(`${lastErr.message} (after ${attempts} attempts)`, "connect", undefined, undefined, true);
  }
  throw lastErr;
}

/** The end of a (redacted) text: redact before cutting, so no cut leaves part of a secret. */
function tail(text: string): string {
  const t = text.trimEnd();
  return t.length > STDERR_TAIL_CHARS ? "…" + t.slice(-STDERR_TAIL_CHARS) : t;
}

/**
 * The shell that writes stdin to `remotePath` atomically (temp file in the same dir, chmod, rename),
 * once it holds exactly the `size` bytes with the `sha256` sent: a transfer cut off replaces nothing.
 */
export function uploadScript(remotePath: string, mode: number, size: number, sha256: string): string {
  if (!Number.isInteger(size) || size < 0 || !/^[0-9a-f]{64}$/.test(sha256)) throw new Error("upload: invalid size or sha256");
  const dir = remotePath.slice(0, remotePath.lastIndexOf("/")) || "/";
  const base = remotePath.slice(remotePath.lastIndexOf("/") + 1);
  // stdin into cat (works through sudo), then chmod and an atomic rename in the same directory.
  return [
    "set -eu",
    "umask 077",
    `t=$(mktemp ${shellQuote(`${dir}/.${base}.phoenix-XXXXXX`)})`,
    `trap 'rm -f "$t"' EXIT`,
    `cat > "$t"`,
    `got="$(wc -c < "$t" | tr -d ' ') $(sha256sum "$t" | cut -d ' ' -f 1)"`,
    `[ "$got" = "${size} ${sha256}" ] || { echo "phoenix: ${remotePath.replace(/[^A-Za-z0-9_./-]/g, "?")} arrived incomplete or altered (got $got): not replaced" >&2; exit 74; }`,
    `chmod ${mode.toString(8)} "$t"`,
    `mv -f "$t" ${shellQuote(remotePath)}`,
    "trap - EXIT",
  ].join("\n");
}

/** Opens one authenticated connection; several commands reuse it. */
export async function openSession(target: SshTarget, secrets: SshSecrets): Promise<SshSession> {
  validateEndpoint("ssh target", target.host, target.port, target.user);
  if (target.bastion) validateEndpoint("ssh bastion", target.bastion.host, target.bastion.port, target.bastion.user);
  const { client, bastion } = await dial(target, secrets);
  const useSudo = target.sudo ?? target.user !== "root";
  const baseSecrets = [secrets.privateKey, secrets.passphrase, secrets.password];
  let lost: string | undefined;
  client.on("error", (err) => (lost = String(err?.message ?? err)));
  client.on("close", () => (lost = lost ?? "connection closed"));

  const run = (command: string, options: RunOptions = {}): Promise<RunResult> => {
    const purpose = options.purpose ?? "run a command";
    const timeoutMs = options.timeoutMs ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const secs = Math.max(1, Math.ceil(timeoutMs / 1000));
    const clean = (s: string) => redact(s, [...baseSecrets, ...(options.redact ?? [])]);
    // `timeout` kills the command's whole process group on the host, even if this client is gone.
    let remote = `timeout -k ${KILL_GRACE_S} ${secs} sh -c ${shellQuote(command)}`;
    if (useSudo) remote = `sudo -n -- ${remote}`;
    const where = describe(target);
    if (lost) return Promise.reject(sshError(`${purpose} on ${where}: connection lost (${clean(lost)})`, purpose, undefined, undefined, true));

    return new Promise((resolve, reject) => {
      const started = Date.now();
      client.exec(remote, (err, stream) => {
        if (err) {
          reject(sshError(`${purpose} on ${where}: cannot start the command: ${clean(err.message)}`, purpose, undefined, undefined, true));
          return;
        }
        const out: Buffer[] = [];
        const errb: Buffer[] = [];
        let code: number | undefined;
        let signal: string | undefined;
        let settled = false;
        const errTailNow = () => tail(clean(Buffer.concat(errb).toString("utf8")));
        // Backstop if the host stops answering: one second after the remote KILL was due, give up
        // at once. Waiting for the channel's close reply (or the keepalive) would take another
        // minute on a host that is gone; the connection is dropped so nothing else waits on it.
        const guard = setTimeout(() => {
          settled = true;
          lost = lost ?? "the host stopped answering";
          const errTail = errTailNow();
          reject(sshError(`${purpose} on ${where}: timed out after ${secs}s and the host stopped answering${errTail ? `; stderr: ${errTail}` : ""}`, purpose, undefined, errTail, true));
          try {
            stream.close();
          } catch {
            // the channel is gone already
          }
          const c = client as unknown as { destroy?: () => void; end: () => void };
          if (typeof c.destroy === "function") c.destroy();
          else c.end();
          bastion?.end();
        }, secs * 1000 + (KILL_GRACE_S + 1) * 1000);
        stream.on("data", (d: Buffer) => out.push(d));
        // Whole lines, so a secret is never split across two calls before it is redacted.
        let partial = "";
        stream.stderr.on("data", (d: Buffer) => {
          errb.push(d);
          if (!options.onStderrLine) return;
          const lines = (partial + d.toString("utf8")).split("\n");
          partial = lines.pop() ?? "";
          for (const l of lines) options.onStderrLine(clean(l.replace(/\r$/, "")));
        });
        stream.on("exit", (c: number | null, sig?: string) => {
          if (typeof c === "number") code = c;
          if (sig) signal = sig;
        });
        stream.on("close", () => {
          clearTimeout(guard);
          if (partial && options.onStderrLine) options.onStderrLine(clean(partial));
          partial = "";
          if (settled) return;
          settled = true;
          const stdout = Buffer.concat(out).toString("utf8");
          const stderr = Buffer.concat(errb).toString("utf8");
          const elapsed = Date.now() - started;
          const errTail = tail(clean(stderr));
          const withStderr = errTail ? `; stderr: ${errTail}` : "";
          // `timeout` exits 124 after TERM; after the KILL grace it kills its own group (signal).
          const pastDeadline = elapsed >= secs * 1000 - 50;
          if (pastDeadline && (code === 124 || code === 137 || (code === undefined && signal !== undefined))) {
            reject(sshError(`${purpose} on ${where}: timed out after ${secs}s and was killed${withStderr}`, purpose, code, errTail));
            return;
          }
          if (code === undefined && signal !== undefined && !lost) {
            reject(sshError(`${purpose} on ${where}: the command was killed by signal ${signal}${withStderr}`, purpose, undefined, errTail));
            return;
          }
          if (code === undefined) {
            reject(sshError(`${purpose} on ${where}: connection lost while the command ran (${clean(lost ?? "no exit status")})${withStderr}`, purpose, undefined, errTail, true));
            return;
          }
          resolve({ code, stdout, stderr });
        });
        if (options.stdin !== undefined) stream.end(options.stdin);
        else stream.end();
      });
    });
  };

  const check = async (command: string, options: RunOptions = {}): Promise<RunResult> => {
    const r = await run(command, options);
    if (r.code !== 0) {
      const purpose = options.purpose ?? "run a command";
      const clean = (s: string) => redact(s, [...baseSecrets, ...(options.redact ?? [])]);
      const hint = useSudo && /sudo: .*password/.test(r.stderr) ? " (sudo -n needs NOPASSWD for this user)" : "";
      throw sshError(
        `${purpose} on ${describe(target)} failed with exit code ${r.code}${hint}${r.stderr.trim() ? `: ${tail(clean(r.stderr))}` : ""}`,
        purpose,
        r.code,
        tail(clean(r.stderr)),
      );
    }
    return r;
  };

  const upload = async (remotePath: string, content: string | Buffer, mode = 0o644): Promise<void> => {
    if (!/^\/[^\0]*[^/]$/.test(remotePath) || remotePath.split("/").includes("..")) {
      throw new Error(`upload: invalid remote path ${JSON.stringify(remotePath)}`);
    }
    if (!Number.isInteger(mode) || mode < 0 || mode > 0o7777) throw new Error(`upload: invalid mode ${mode}`);
    const bytes = typeof content === "string" ? Buffer.from(content, "utf8") : content;
    const script = uploadScript(remotePath, mode, bytes.length, sha256(bytes));
    await check(script, { stdin: bytes, purpose: `upload ${remotePath}`, timeoutMs: 120_000 });
  };

  return {
    run,
    check,
    upload,
    close: () => {
      client.end();
      bastion?.end();
    },
  };
}

/** Opens a session, runs fn, always closes. At most one connection per provider operation. */
export async function withSession<T>(target: SshTarget, secrets: SshSecrets, fn: (s: SshSession) => Promise<T>): Promise<T> {
  const session = await openSession(target, secrets);
  try {
    return await fn(session);
  } finally {
    session.close();
  }
}
