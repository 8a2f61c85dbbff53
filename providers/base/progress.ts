// Progress of a long host step in Pulumi's output while it runs. A dynamic provider has no engine
// connection of its own, but the engine reports every line its provider plugins write to stderr as
// it arrives (pulumi/pulumi sdk/go/common/resource/plugin: launchPlugin's runtrace; dynamic
// providers' output is not hidden). So the step's stderr lines go to this process's stderr, tagged
// with the step, at most one every few seconds (the rest are in the step's log on the host), and
// a quiet step (a VM's first boot) says it is still running.

/** Options of a progress relay (the clock is injectable for tests). */
export interface ProgressOptions {
  /** Shortest gap between two relayed lines (default 5 s). */
  everyMs?: number;
  /** After this long without a line, say the step is still running (default 60 s). */
  heartbeatMs?: number;
  now?: () => number;
}

/** Relays lines: `line` for each stderr line, `tick` periodically (held-back lines, heartbeats), `end` when the step ends (the last held-back line). */
export interface ProgressRelay {
  line(text: string): void;
  tick(): void;
  end(): void;
}

/** A line as the operator's terminal may show it: no escape sequences, carriage returns or control characters, at most 240 characters. */
export function printable(text: string): string {
  // eslint-disable-next-line no-control-regex -- terminal escape sequences and control characters are what is removed
  const clean = text.replace(/\x1b\[[0-9;?]*[ -/]*[@-~]/g, "").replace(/.*\r(?!$)/g, "").replace(/[\x00-\x08\x0b-\x1f\x7f]/g, "").trim();
  return clean.length > 240 ? `${clean.slice(0, 239)}…` : clean;
}

function duration(ms: number): string {
  const s = Math.floor(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)}m${String(s % 60).padStart(2, "0")}s` : `${s}s`;
}

/** A relay writing `<tag>: <line>` through `write`. */
export function progressRelay(tag: string, write: (line: string) => void, options: ProgressOptions = {}): ProgressRelay {
  const every = options.everyMs ?? 5_000;
  const heartbeat = options.heartbeatMs ?? 60_000;
  const now = options.now ?? Date.now;
  const started = now();
  const state = { last: -Infinity, lastWrite: started, held: undefined as string | undefined, skipped: 0 };
  const emit = (text: string) => {
    const t = now();
    write(`${tag} [${duration(t - started)}]: ${text}${state.skipped ? ` (+${state.skipped} more lines in the log)` : ""}`);
    state.last = t;
    state.lastWrite = t;
    state.skipped = 0;
    state.held = undefined;
  };
  return {
    line(text) {
      const p = printable(text);
      if (!p) return;
      if (now() - state.last >= every) emit(p);
      else {
        if (state.held !== undefined) state.skipped++;
        state.held = p;
      }
    },
    tick() {
      if (state.held !== undefined) {
        if (now() - state.last >= every) emit(state.held);
      } else if (now() - state.lastWrite >= heartbeat) {
        write(`${tag} [${duration(now() - started)}]: still running`);
        state.lastWrite = now();
      }
    },
    end() {
      if (state.held !== undefined) emit(state.held);
    },
  };
}
