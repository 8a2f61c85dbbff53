// File shapes that would silently drop guests or settings: a repeated guest block, a `__proto__`
// key, bytes that are not UTF-8, a dangling symlink in place of a file. Each is one clean error
// line naming the file; the neighbours (a repeated ordinary key as jq reads it, UTF-8 text, a
// symlink to a real file, a missing optional VM file) keep working.
import * as fs from "node:fs";
import * as path from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { loadDist } from "../load";
import { DEV_DIR, ERROR_LINE, HOST, LXC, VM, cleanTempDirs, load, writeFiles } from "./helpers";

afterAll(cleanTempDirs);

const loader = loadDist<typeof import("../../infra/config/load")>("infra/config/load");

/** The dev files as text, `edit` applied to one of them (text or bytes), in a temp dir. */
function edited(file: string, edit: (text: string) => string | Buffer): string {
  const dir = writeFiles({});
  for (const f of [HOST, LXC, VM]) fs.writeFileSync(path.join(dir, f), fs.readFileSync(path.join(DEV_DIR, f), "utf8"));
  fs.writeFileSync(path.join(dir, file), edit(fs.readFileSync(path.join(DEV_DIR, file), "utf8")));
  return dir;
}

function refused(dir: string, file: string, message: RegExp) {
  const r = load(dir);
  expect(r.ok).toBe(false);
  const errors = r.ok ? [] : r.errors;
  expect(errors, errors.join("\n")).toHaveLength(1);
  expect(errors[0]).toMatch(ERROR_LINE);
  expect(errors[0].startsWith(`${file}: `)).toBe(true);
  expect(errors[0]).toMatch(message);
}

const latin1 = (text: string, at: string) => {
  const b = Buffer.from(text, "utf8");
  const i = b.indexOf(at);
  return Buffer.concat([b.subarray(0, i), Buffer.from([0x63, 0x61, 0x66, 0xe9]), b.subarray(i + at.length)]);
};
const bytes = (text: string, at: string, raw: number[]) => {
  const b = Buffer.from(text, "utf8");
  const i = b.indexOf(at);
  return Buffer.concat([b.subarray(0, i), Buffer.from(raw), b.subarray(i + at.length)]);
};

describe("file shapes that would drop guests silently", () => {
  it("a second lxc_configs or vms block is an error (the first block's guests would be dropped)", () => {
    refused(edited(LXC, (t) => t.replace(/\}\s*$/, ', "lxc_configs": {}}')), LXC, /\$\.lxc_configs: appears twice at the top level; .*every guest in the first dropped/);
    refused(edited(VM, (t) => t.replace(/\}\s*$/, ', "vms": []}')), VM, /\$\.vms: appears twice at the top level/);
  });

  it("__proto__, constructor and prototype keys are errors wherever they are", () => {
    refused(edited(LXC, (t) => t.replace('"lxc_configs": {', '"lxc_configs": {"__proto__": {"name": "ghost"},')), LXC, /\$\.lxc_configs\.__proto__: __proto__ is not a valid key/);
    refused(edited(HOST, (t) => t.replace("{", '{"__proto__": {"nfs": {}},')), HOST, /\$\.__proto__: /);
    refused(edited(LXC, (t) => t.replace('"name": "ollama"', '"name": "ollama", "constructor": {"x": 1}')), LXC, /\.constructor: constructor is not a valid key/);
  });

  it("bytes that are not UTF-8 are an error with line and column, even in a field Phoenix ignores", () => {
    refused(edited(LXC, (t) => latin1(t.replace('"name": "ollama"', '"name": "ollama", "notes": "XX"'), "XX")), LXC, /byte 0xe9 at line \d+, column \d+ is not UTF-8: save the file as UTF-8/);
    refused(edited(HOST, (t) => bytes(t, "phoenix_admin", [0xc0, 0xaf])), HOST, /byte 0xc0 .* is not UTF-8/); // overlong '/'
    refused(edited(VM, (t) => bytes(t, "10.0.0.1", [0xed, 0xa0, 0x80])), VM, /byte 0xed .* is not UTF-8/); // a surrogate
  });

  it("a dangling symlink in place of any file is an error (the VM file would otherwise count as missing)", () => {
    for (const file of [HOST, LXC, VM]) {
      const dir = edited(file, (t) => t);
      fs.rmSync(path.join(dir, file));
      fs.symlinkSync("/nonexistent/phoenix.json", path.join(dir, file));
      refused(dir, file, /^[^:]+: \$: cannot read: a symlink to \/nonexistent\/phoenix\.json, which does not exist$/);
    }
  });

  it("keeps the neighbours: a repeated ordinary key warns as jq reads it, UTF-8 text, a symlink to a real file, no VM file", () => {
    const dup = load(edited(HOST, (t) => t.replace("{", '{"timezone": "UTC",')));
    expect(dup.ok).toBe(true);
    expect(dup.warnings.join("\n")).toMatch(/\$\.timezone: key appears twice/);
    expect(load(edited(LXC, (t) => t.replace('"name": "ollama"', '"name": "ollama", "notes": "café ☕ 模型 🚀"'))).ok).toBe(true);
    const linked = edited(VM, (t) => t);
    fs.renameSync(path.join(linked, VM), path.join(linked, "vms.real.json"));
    fs.symlinkSync("vms.real.json", path.join(linked, VM));
    expect(load(linked).ok).toBe(true);
    const noVm = edited(VM, (t) => t);
    fs.rmSync(path.join(noVm, VM));
    const r = load(noVm);
    expect(r.ok).toBe(true);
    expect(r.warnings.join("\n")).toMatch(/not found .*; no VMs/);
  });

  it("firstInvalidUtf8 agrees with a strict decoder on every 1- and 2-byte sequence", () => {
    const strict = new TextDecoder("utf-8", { fatal: true });
    const valid = (b: Uint8Array) => {
      try {
        strict.decode(b);
        return true;
      } catch {
        return false;
      }
    };
    for (let a = 0; a < 256; a++) {
      for (let b = 0; b < 256; b += 7) {
        const buf = new Uint8Array([a, b]);
        expect(loader.firstInvalidUtf8(buf) === buf.length, `${a} ${b}`).toBe(valid(buf));
      }
    }
    for (const s of ["€", "𝄞", "ü", "a"]) expect(loader.firstInvalidUtf8(Buffer.from(s))).toBe(Buffer.byteLength(s));
  });
});
