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

  private readonly unusedKeys = new Map<string, { file: string; paths: string[]; note?: string }>();

  /** A key Phoenix does not use: collected, then reported once per file and key by `flushUnused`. */
  unused(file: string, path: PathSegment[], key: string, note?: string): void {
    const id = `${file}\0${key}`;
    const entry = this.unusedKeys.get(id) ?? { file, paths: [], note };
    entry.paths.push(jsonPath(path));
    this.unusedKeys.set(id, entry);
  }

  /** One warning per unused key kind: its first place, how many more, and what the Bash tool did with it. */
  flushUnused(): void {
    for (const { file, paths, note } of this.unusedKeys.values()) {
      const more = paths.length > 1 ? ` (also at ${paths.length - 1} more place${paths.length > 2 ? "s" : ""}: ${paths.slice(1, 4).join(", ")}${paths.length > 4 ? ", ..." : ""})` : "";
      this.warnings.push(formatFinding(file, paths[0], `unknown key, ignored${more}${note ? `; ${note}` : ""}`));
    }
    this.unusedKeys.clear();
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

/**
 * Object keys that occur twice in one object of a (syntactically valid) JSON text. JSON.parse and
 * jq keep the last value silently; a CTID defined twice would lose a container without a word.
 * `onKey` sees every key with the path of the object holding it.
 */
export function duplicateKeys(text: string, onKey?: (path: PathSegment[], key: string) => void): { path: PathSegment[]; key: string }[] {
  type Frame =
    | { kind: "object"; path: PathSegment[]; keys: Set<string>; key?: string; expectKey: boolean }
    | { kind: "array"; path: PathSegment[]; index: number };
  const found: { path: PathSegment[]; key: string }[] = [];
  const stack: Frame[] = [];
  const childPath = (): PathSegment[] => {
    const top = stack[stack.length - 1];
    if (!top) return [];
    return top.kind === "object" ? [...top.path, top.key ?? ""] : [...top.path, top.index];
  };
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '"') {
      let j = i + 1;
      while (j < text.length && text[j] !== '"') j += text[j] === "\\" ? 2 : 1;
      const top = stack[stack.length - 1];
      if (top?.kind === "object" && top.expectKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        onKey?.(top.path, key);
        if (top.keys.has(key)) found.push({ path: top.path, key });
        top.keys.add(key);
        top.key = key;
        top.expectKey = false;
      }
      i = j;
    } else if (ch === "{") {
      stack.push({ kind: "object", path: childPath(), keys: new Set(), expectKey: true });
    } else if (ch === "[") {
      stack.push({ kind: "array", path: childPath(), index: 0 });
    } else if (ch === "}" || ch === "]") {
      stack.pop();
    } else if (ch === ",") {
      const top = stack[stack.length - 1];
      if (top?.kind === "object") top.expectKey = true;
      else if (top?.kind === "array") top.index++;
    }
  }
  return found;
}
