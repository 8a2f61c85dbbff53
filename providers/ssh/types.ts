// Contract of the one SSH transport (implemented in providers/ssh/). Everything Phoenix does on
// a Proxmox host or through it goes through these types.

/** Where to connect and how to trust the host. Non-secret: stored as resource inputs. */
export interface SshTarget {
  host: string;
  port: number;
  user: string;
  /**
   * Expected host key: an OpenSSH known_hosts line (`[host]:port ssh-ed25519 AAAA...` or
   * `ssh-ed25519 AAAA...`) or a fingerprint `SHA256:...`. Missing → refused, unless
   * `insecureIgnoreHostKey` is true (which warns on every run).
   */
  hostKey?: string;
  insecureIgnoreHostKey?: boolean;
  /** Optional jump host; authenticated with the same secrets. */
  bastion?: { host: string; port: number; user: string; hostKey?: string };
  /** Commands run through `sudo -n` when the user is not root. Default: user !== "root". */
  sudo?: boolean;
  /**
   * Set for a cluster node with its own SSH secrets (`phoenix:nodes.<node>.sshPrivateKey`...):
   * the node name whose secrets the provider reads from `phoenix:nodes` in its configure config,
   * each falling back to the flat `phoenix:` secret. Absent: the flat secrets.
   */
  secretsNode?: string;
  /** Per-dial timeout (default 10 s) and dial attempts (default 6) with exponential backoff. */
  connectTimeoutMs?: number;
  connectAttempts?: number;
}

/**
 * Secrets. Never resource inputs in plaintext: they come from the stack config through the
 * dynamic provider's `configure` (keys `phoenix:sshPrivateKey`, `phoenix:sshPrivateKeyPassphrase`,
 * `phoenix:sshPassword`) or from the environment (`SSH_AUTH_SOCK` for the agent).
 */
export interface SshSecrets {
  privateKey?: string;
  passphrase?: string;
  password?: string;
  agentSocket?: string;
}

export interface RunOptions {
  stdin?: string | Buffer;
  /** Kill the command after this long (default 10 min) and report a timeout. */
  timeoutMs?: number;
  /** What is being done, for error messages ("create zfs pool tank"). */
  purpose?: string;
  /** Extra secret values (e.g. secret script parameters) to redact from errors of this command. */
  redact?: string[];
  /** Called with each whole line of stderr as it arrives (redacted), while the command runs. */
  onStderrLine?: (line: string) => void;
}

export interface RunResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** One authenticated connection; several commands reuse it. */
export interface SshSession {
  /** Runs a command (through sudo when configured). Resolves with any exit code. */
  run(command: string, options?: RunOptions): Promise<RunResult>;
  /** Like run, but a non-zero exit rejects with an error naming purpose, code and stderr tail. */
  check(command: string, options?: RunOptions): Promise<RunResult>;
  /** Writes a file atomically (temp file in the same directory, chmod, rename). */
  upload(remotePath: string, content: string | Buffer, mode?: number): Promise<void>;
  close(): void;
}
