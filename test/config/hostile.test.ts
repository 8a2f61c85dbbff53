// Seeded, bounded fuzz of every string a Phoenix file holds (all string leaves of the dev stack's
// three files, plus the optional fields that reach a host config: Samba options, raw LXC lines,
// pct_options, mount points, NFS volumes) with hostile values. For each case: `validate` refuses
// it, or the value arrives as inert data. Inert is checked where values meet a shell: the program
// is planned with the value, and every host-script resource whose parameters carry it is run
// through the real transport wrapper (hostScriptWrapper + the parameter line, in the throwaway
// root) with a probe script; the canary file its payload would create never appears, and the
// probe sees the value byte for byte. proxmoxve resources take values as API JSON (data by nature).
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist } from "../load";
import { startThrowawayRoot, type ThrowawayRoot } from "../features/hypervisor/root";
import { planStack } from "../program/plan";
import { Files, cleanTempDirs, load, mutatedDir, prng, type Json } from "./helpers";

const base = loadDist<typeof import("../../providers/base/index")>("providers/base/index");

const CANARY = "/tmp/phoenix-canary";
const HOSTILE = [
  `$(touch ${CANARY})`,
  `\`touch ${CANARY}\``,
  `x;touch ${CANARY}`,
  `x\ntouch ${CANARY}`,
  `x' ; touch ${CANARY} ; '`,
  `x" ; touch ${CANARY} ; "`,
  `x|touch ${CANARY}`,
  `x&&touch ${CANARY}`,
  `x\n[evil]\nroot preexec = touch ${CANARY}`,
  `rootpreexec=/usr/bin/touch${CANARY}`,
  `lxc.hook.start=/usr/bin/touch ${CANARY}`,
  `lxc.mount.entry=/./etc etc none bind 0 0`,
  `-oProxyCommand=touch ${CANARY}`,
  `/srv/../etc`,
  `x\u0000y`,
  `*`,
  `a b`,
];


/** The dev files with the optional host-reaching fields filled, so they are fuzzed too. */
function withOptionalFields(f: Files): void {
  const ct = f.lxc.lxc_configs["955"];
  ct.lxc_options = ["lxc.apparmor.profile=unconfined", "lxc.mount.entry=/dev/fuse dev/fuse none bind,create=file"];
  ct.pct_options = ["nesting=1"];
  ct.mount_points = [{ host_path: "/fastData/shared-bulk-data/ollama_models", container_path: "/models" }];
  f.vm.vms[0].volumes = [{ type: "nfs", name: "data", server: "10.0.0.13", path: "/quickOS/vm-persistent-data", mount_point: "/mnt/data" }];
  f.host.samba.shares[0].options = "browseable=yes writable=yes comment=data";
}

/** Every string leaf: [holder, key, JSON path]. */
function stringSlots(value: Json, at: string, out: [Json, string | number, string][] = []): [Json, string | number, string][] {
  if (Array.isArray(value)) value.forEach((v, i) => (typeof v === "string" ? out.push([value, i, `${at}[${i}]`]) : stringSlots(v, `${at}[${i}]`, out)));
  else if (value && typeof value === "object") {
    for (const k of Object.keys(value)) {
      if (typeof value[k] === "string") out.push([value, k, `${at}.${k}`]);
      else stringSlots(value[k], `${at}.${k}`, out);
    }
  }
  return out;
}

function allSlots(f: Files) {
  return [...stringSlots(f.host, "host"), ...stringSlots(f.lxc, "lxc"), ...stringSlots(f.vm, "vm")];
}

interface Case {
  slot: number;
  where: string;
  value: string;
}

const SEED = 13;
const CASES = 400;

describe("hostile strings in every field (seeded, bounded)", () => {
  let root: ThrowawayRoot;
  beforeAll(async () => {
    root = await startThrowawayRoot();
  });
  afterAll(async () => {
    await root?.stop();
    cleanTempDirs();
  });

  it(`validate refuses each of ${CASES} cases, or the value reaches the host as inert data`, async () => {
    const rnd = prng(SEED);
    const probe = mutatedDir(withOptionalFields);
    // The slot list of the filled dev files (the same for every case: mutations go into copies).
    const { readFiles } = await import("./helpers");
    const filled = readFiles(probe);
    const slots = allSlots(filled);
    expect(slots.length).toBeGreaterThan(100);

    const cases: Case[] = [];
    // Every slot gets at least one hostile value; the rest of the budget is random pairs.
    slots.forEach((s, i) => cases.push({ slot: i, where: s[2], value: HOSTILE[Math.floor(rnd() * HOSTILE.length)] }));
    while (cases.length < CASES) {
      const i = Math.floor(rnd() * slots.length);
      cases.push({ slot: i, where: slots[i][2], value: HOSTILE[Math.floor(rnd() * HOSTILE.length)] });
    }

    let refused = 0;
    const accepted: Case[] = [];
    for (const c of cases.slice(0, CASES)) {
      const dir = mutatedDir((f) => {
        withOptionalFields(f);
        const [holder, key] = allSlots(f)[c.slot];
        holder[key] = c.value;
      });
      const r = load(dir);
      if (!r.ok) refused++;
      else accepted.push(c);
    }
    cleanTempDirs();

    // Accepted values: plan with them and push every host-script parameter that carries one
    // through the real wrapper on the throwaway root. One plan per distinct (slot, value).
    const carriedCases = new Set<Case>();
    for (const c of accepted) {
      const dir = mutatedDir((f) => {
        withOptionalFields(f);
        const [holder, key] = allSlots(f)[c.slot];
        holder[key] = c.value;
      });
      const plan = await planStack({ stack: "dev", configDir: dir });
      expect(plan.errors, `${c.where} = ${JSON.stringify(c.value)}`).toEqual([]);
      for (const res of plan.resources) {
        const params = res.inputs?.params as Record<string, string> | undefined;
        if (!params || typeof params !== "object") continue;
        // Short values (`*`, `a b`) occur in script texts anyway: count them only where they are the whole value.
        const hits = Object.entries(params).filter(([, v]) => typeof v === "string" && (v === c.value || (c.value.length >= 4 && v.includes(c.value))));
        if (hits.length === 0) continue;
        carriedCases.add(c);
        if (process.env.HOSTILE_DEBUG) console.log(`carried: ${c.where} = ${JSON.stringify(c.value)} -> ${res.name} ${hits.map(([n]) => n).join(",")}`);
        const { env, prelude } = base.hostScriptInputs({ action: "read", params });
        const probeScript = 'for v in "${!PHOENIX_@}"; do printf "%s=%s\\0" "$v" "${!v}"; done > /tmp/phoenix-probe.txt\n';
        const stdin = base.hostScriptStdin(env, prelude + probeScript).toString("utf8");
        const run = await root.exec(base.hostScriptWrapper(undefined, 5), { stdin });
        expect(run.code, run.stderr).toBe(0);
        const seen = (await root.exec("cat /tmp/phoenix-probe.txt")).stdout.split("\0");
        for (const [name, value] of hits) expect(seen, `${res.name}.${name}`).toContain(`PHOENIX_${name.toUpperCase()}=${value}`);
      }
    }
    expect((await root.exec(`test -e ${CANARY}`)).code, "the canary fired").not.toBe(0);
    // Most hostile values never get past validate; the rest are data in fields that reach no shell
    // or travel quoted. The counts are printed for the report.
    console.log(`hostile fuzz: ${CASES} cases over ${slots.length} string fields: ${refused} refused by validate, ${accepted.length} accepted, ${carriedCases.size} of them carried into host-script parameters (arrived inert)`);
    expect(refused).toBeGreaterThan(CASES / 2);
    // The carry-through check above must have run: some accepted values reached host-script parameters.
    expect(carriedCases.size).toBeGreaterThan(0);
  }, 600_000);
});
