// Colour in the `phoenix` command's output: on a terminal by default, never when NO_COLOR is set
// (https://no-color.org: any non-empty value), TERM is dumb or the output is a file or a pipe (the
// pipeline's PR comments); `--color always|never|auto` decides over all of that.
import type { Palette } from "./plan-diff";

/** The `--color` option every command that colours takes. */
export const COLOR_OPTION = { color: { type: "string", default: "auto" } } as const;

/** The `--color` values. */
export const COLOR_MODES = ["auto", "always", "never"] as const;

const paint = (code: string) => (s: string) => `\x1b[${code}m${s}\x1b[0m`;

/** Green, red, yellow, dim: the escape sequences of an ANSI terminal. */
export const ANSI: Palette = { add: paint("32"), remove: paint("31"), change: paint("33"), dim: paint("2") };

const PLAIN: Palette = { add: (s) => s, remove: (s) => s, change: (s) => s, dim: (s) => s };

/** Whether to colour output written to `stream`, for `--color mode` and the environment. */
export function useColor(mode: string, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): boolean {
  if (mode === "always") return true;
  if (mode === "never") return false;
  if (env.NO_COLOR) return false;
  if (env.TERM === "dumb") return false;
  return stream.isTTY === true;
}

/** The palette for `--color mode` on `stream`. */
export function paletteFor(mode: string, stream: { isTTY?: boolean }, env: NodeJS.ProcessEnv = process.env): Palette {
  return useColor(mode, stream, env) ? ANSI : PLAIN;
}

/** The usage error for a bad `--color` value, else undefined. */
export function colorModeError(mode: string): string | undefined {
  return (COLOR_MODES as readonly string[]).includes(mode) ? undefined : `--color must be ${COLOR_MODES.join(", ")}; got ${JSON.stringify(mode)}`;
}
