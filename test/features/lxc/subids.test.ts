// features/lxc/host/subids.sh in a throwaway root (its /etc is an overlay): the /etc/subuid and
// /etc/subgid lines a completed id map needs are added once, kept while any container needs
// them, removed when the last one goes, and lines that were there before are never touched.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { loadDist } from "../../load";
import { parseResult, scriptEnv, startThrowawayRoot, type ThrowawayRoot } from "../hypervisor/root";

// As the host receives it: composed, its `# phoenix-include:` libraries inlined.
const SCRIPT = loadDist<typeof import("../../../features/registry")>("features/registry").composeScript("features/lxc/host/subids.sh");

describe("subids.sh", () => {
  let root: ThrowawayRoot;
  beforeAll(async () => {
    root = await startThrowawayRoot();
    const r = await root.exec("printf 'root:100000:65536\\n' > /etc/subuid && printf 'root:100000:65536\\nroot:1000:1\\n' > /etc/subgid && chmod 0644 /etc/subuid /etc/subgid");
    expect(r.code, r.stderr).toBe(0);
  }, 60_000);
  afterAll(() => root?.stop());

  const run = async (action: "read" | "apply" | "delete", ctid: string, entries: string) => {
    const r = await root.exec("bash -s", { env: scriptEnv(action, { ctid, entries }), stdin: SCRIPT });
    return { ...r, result: parseResult(r.stdout) };
  };
  const files = async () => (await root.exec("cat /etc/subuid; echo --; cat /etc/subgid; stat -c %a /etc/subgid")).stdout;

  it("adds the lines once; read reports them; a second container shares them", async () => {
    expect((await run("read", "900", "gid 33 1")).result).toEqual({ present: false });
    const a = await run("apply", "900", "gid 33 1\ngid 1000 1");
    expect(a.code, a.stderr).toBe(0);
    expect(a.result).toEqual({ present: true, ctid: "900", matches: true });
    expect(await files()).toBe("root:100000:65536\n--\nroot:100000:65536\nroot:1000:1\nroot:33:1\n644\n");
    expect((await run("apply", "900", "gid 33 1\ngid 1000 1")).code).toBe(0);
    expect((await run("apply", "901", "gid 33 1\nuid 33 1")).code).toBe(0);
    expect(await files()).toBe("root:100000:65536\nroot:33:1\n--\nroot:100000:65536\nroot:1000:1\nroot:33:1\n644\n");
  });

  it("drift: a removed line is reported and put back", async () => {
    expect((await root.exec("sed -i '/^root:33:1$/d' /etc/subgid")).code).toBe(0);
    expect((await run("read", "900", "gid 33 1\ngid 1000 1")).result).toMatchObject({ present: true, matches: false });
    expect((await run("apply", "900", "gid 33 1\ngid 1000 1")).result).toMatchObject({ matches: true });
  });

  it("delete keeps lines another container needs and lines that were there before", async () => {
    expect((await run("delete", "900", "gid 33 1\ngid 1000 1")).result).toEqual({ present: false });
    expect(await files()).toBe("root:100000:65536\nroot:33:1\n--\nroot:100000:65536\nroot:1000:1\nroot:33:1\n644\n");
    expect((await run("delete", "901", "gid 33 1\nuid 33 1")).result).toEqual({ present: false });
    expect(await files()).toBe("root:100000:65536\n--\nroot:100000:65536\nroot:1000:1\n644\n");
  });

  it("refuses ranges holding the host's privileged groups as this host numbers them (kvm, disk...), unless allowRawLxc", async () => {
    await root.exec("groupadd -g 990 kvm 2>/dev/null || groupmod -g 990 kvm; groupadd -g 991 render 2>/dev/null || true");
    const before = await files();
    for (const entries of ["gid 990 1", "gid 6 1", "gid 980 20", "uid 0 1"]) {
      const r = await run("apply", "910", entries);
      expect(r.code, entries).toBe(1);
      expect(r.stderr, entries).toMatch(/refusing to delegate host [ug]ids .* they hold the host's .*(kvm|disk|root)\(\d+\)/);
      expect(await files(), entries).toBe(before);
    }
    // A render group (GPU compute) or a service id is no host power.
    const ok = await run("apply", "910", "gid 991 1\ngid 33 1");
    expect(ok.code, ok.stderr).toBe(0);
    const allowed = await root.exec("bash -s", { env: scriptEnv("apply", { ctid: "911", entries: "gid 990 1", allow_raw_lxc: "1" }), stdin: SCRIPT });
    expect(allowed.code, allowed.stderr).toBe(0);
    for (const ct of ["910", "911"]) expect((await run("delete", ct, "")).code).toBe(0);
    expect(await files()).toBe(before);
  });

  it("refuses malformed entries before touching anything", async () => {
    const r = await run("apply", "902", "gid 33 1\nroot:0:1; reboot");
    expect(r.code).not.toBe(0);
    expect(r.stderr).toContain("invalid entry");
  });
});
