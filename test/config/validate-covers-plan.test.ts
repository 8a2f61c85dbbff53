// validate ⊇ plan, as a property: seeded random damage to the dev files (values swapped for
// numbers, strings, lists, edge cases); every damaged configuration that `phoenix validate --stack
// dev` accepts must plan (`--stack dev`) without an error. A plan-time throw that validate let through is a defect of validate.
import { afterAll, describe, expect, it } from "vitest";
import { Files, cleanTempDirs, mutatedDir, prng, slots } from "./helpers";
import { planStack } from "../program/plan";
import { loadDist } from "../load";

// `phoenix validate --config-dir DIR --stack dev`: the files and what depends on the stack's
// settings (the firewall lock-out guard), as `phoenix plan --stack dev` sees them.
const validateCli = loadDist<typeof import("../../infra/cli/validate")>("infra/cli/validate");
async function validates(dir: string): Promise<boolean> {
  const write = process.stderr.write;
  process.stderr.write = (() => true) as typeof process.stderr.write;
  const out = process.stdout.write;
  process.stdout.write = (() => true) as typeof process.stdout.write;
  try {
    return (await validateCli.run(["--config-dir", dir, "--stack", "dev", "--quiet"])) === 0;
  } finally {
    process.stderr.write = write;
    process.stdout.write = out;
  }
}

afterAll(cleanTempDirs);


// Values that are each valid somewhere, so that damage often survives the schema.
const REPLACEMENTS: unknown[] = [
  0, 1, 2, 1.5, 99, 100, 4096, 100000, "", "0", "1", "100", "0,1", "none", "dhcp", "yes", "unconfined", "nesting=1", "bogus=1",
  "x.img", "debian-99-genericcloud-amd64.qcow2", "lxc.apparmor.profile=lxc-container-default", "lxc.cgroup.devices.allow=c 1:1 rwm",
  "10.0.0.150/24", "10.0.0.1", "/srv/data", "/etc", "local-lvm", "quickOS-lxc-disks", "browseable=yes", "readonly=no", "rootpreexec=/x",
  true, false, [], ["a"], [0], {},
];


function damage(f: Files, rnd: () => number): void {
  const docs = [f.host, f.lxc, f.vm];
  for (let i = 0; i < 1 + Math.floor(rnd() * 2); i++) {
    const all = slots(docs[Math.floor(rnd() * docs.length)]).filter(([h, k]) => typeof h[k] !== "object" || h[k] === null);
    if (all.length === 0) continue;
    const [holder, key] = all[Math.floor(rnd() * all.length)];
    holder[key] = structuredClone(REPLACEMENTS[Math.floor(rnd() * REPLACEMENTS.length)]);
  }
}

const SEEDS = 400;
const MAX_PLANS = 40;

describe("validate ⊇ plan (seeded random damage)", () => {
  it(`every damaged configuration validate accepts plans without an error (${SEEDS} seeds, at most ${MAX_PLANS} plans)`, async () => {
    let accepted = 0;
    let refused = 0;
    const failures: string[] = [];
    for (let seed = 1; seed <= SEEDS && accepted < MAX_PLANS; seed++) {
      const rnd = prng(seed * 7919);
      const dir = mutatedDir((f) => damage(f, rnd));
      if (!(await validates(dir))) {
        refused++;
        continue;
      }
      accepted++;
      const plan = await planStack({ stack: "dev", configDir: dir });
      if (plan.errors.length) failures.push(`seed ${seed}: ${plan.errors.join(" | ").slice(0, 400)}`);
    }
    console.log(`validate ⊇ plan: ${refused} refused by validate, ${accepted} accepted and planned, ${failures.length} plan errors`);
    expect(failures).toEqual([]);
    expect(accepted).toBeGreaterThan(10);
  }, 900_000);
});
