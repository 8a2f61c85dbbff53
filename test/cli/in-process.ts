// Runs `phoenix <args>` inside the test's process: the compiled CLI's main (what bin/phoenix.js
// calls), with everything it writes to stdout and stderr captured. Usage and help checks need no
// Node start per call; test/cli/cli.test.ts still runs bin/phoenix.js as a user would.
import { loadDist } from "../load";

export interface CliRun {
  code: number;
  stdout: string;
  stderr: string;
}

/** `phoenix ...args` in process; tests in one file run one at a time, so the capture is theirs alone. */
export async function phoenixInProcess(...args: string[]): Promise<CliRun> {
  const { main } = loadDist<typeof import("../../infra/cli/main")>("infra/cli/main");
  const captured = { stdout: "", stderr: "" };
  const streams = [
    [process.stdout, "stdout"],
    [process.stderr, "stderr"],
  ] as const;
  const originals = streams.map(([s]) => s.write);
  for (const [stream, key] of streams) {
    stream.write = ((chunk: string | Uint8Array, encoding?: unknown, callback?: unknown) => {
      captured[key] += typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      const done = typeof encoding === "function" ? encoding : callback;
      if (typeof done === "function") done();
      return true;
    }) as typeof stream.write;
  }
  try {
    const code = await main(args);
    return { code, ...captured };
  } finally {
    streams.forEach(([stream], i) => (stream.write = originals[i]));
  }
}
