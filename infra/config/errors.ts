// Messages for people: every finding is one line `<file>: <json path>: <message>`, so an editor or
// grep can take them to the spot. The loader collects all of them and reports them at once.
import type { Origin } from "./model";

export type PathSegment = string | number;

const IDENTIFIER = /^[A-Za-z_$][A-Za-z0-9_$]*$/;

/** `["lxc_configs", "950", "features", 2]` → `$.lxc_configs["950"].features[2]`. */
export function jsonPath(segments: readonly PathSegment[]): string {
  let out = "$";
  for (const segment of segments) {
    if (typeof segment === "number") out += `[${segment}]`;
    else if (IDENTIFIER.test(segment)) out += `.${segment}`;
    else out += `[${JSON.stringify(segment)}]`;
  }
  return out;
}

/** One line, whatever the message holds (newlines from foreign error texts are flattened). */
export function formatFinding(file: string, path: string, message: string): string {
  return `${file}: ${path}: ${message.replace(/\s*[\r\n]+\s*/g, " ")}`;
}

/** Collects errors and warnings while the three files are read and checked. */
export class Findings {
  readonly errors: string[] = [];
  readonly warnings: string[] = [];

  error(file: string, path: PathSegment[] | string, message: string): void {
    this.errors.push(formatFinding(file, typeof path === "string" ? path : jsonPath(path), message));
  }

  warn(file: string, path: PathSegment[] | string, message: string): void {
    this.warnings.push(formatFinding(file, typeof path === "string" ? path : jsonPath(path), message));
  }

  errorAt(origin: Origin, message: string): void {
    this.errors.push(formatFinding(origin.file, origin.path, message));
  }
}

/** Thrown nowhere by the loader; for callers that prefer an exception over a LoadResult. */
export class ConfigError extends Error {
  constructor(readonly errors: string[]) {
    super(errors.join("\n"));
    this.name = "ConfigError";
  }
}

/** Line and column (1-based) of a character offset, for JSON syntax errors. */
export function lineColumn(text: string, offset: number): { line: number; column: number } {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < text.length; i++) {
    if (text.charCodeAt(i) === 10) {
      line++;
      lineStart = i + 1;
    }
  }
  return { line, column: offset - lineStart + 1 };
}
