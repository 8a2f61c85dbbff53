// Container volumes hold data (issue 12 item 9): growing a volume (`size_gb`) resizes it in place
// through ct-<ctid>-lxc-options (`pct resize <ctid> mp<N>`), because the proxmoxve provider would
// replace the container (mount points are ForceNew) and the volume's data with it; and a change
// that replaces, or a removal that deletes, a container holding volumes is refused (Pulumi
// `protect`: the preview fails naming the replacement) unless phoenix:allowDataDestruction.
import { beforeAll, describe, expect, it } from "vitest";
import { byName, planStack, type PlanResult } from "./plan";
import { loadDist } from "../load";
import { mutatedDir, type Files } from "../config/helpers";

const CONTAINER = "proxmoxve:index/containerLegacy:ContainerLegacy";

describe("containers holding volumes", () => {
  let dev: PlanResult;
  let allowing: PlanResult;
  beforeAll(async () => {
    dev = await planStack({ stack: "dev" });
    allowing = await planStack({ stack: "dev", config: { "phoenix:allowDataDestruction": "true" } });
  });

  it("are protected unless the stack allows data destruction; containers without volumes are not", () => {
    expect(dev.errors).toEqual([]);
    expect(byName(dev, "ct-952", CONTAINER).protect).toBe(true);
    expect(byName(allowing, "ct-952", CONTAINER).protect).toBe(false);
    for (const ctid of [900, 901, 902, 950, 955]) expect(byName(dev, `ct-${ctid}`, CONTAINER).protect, `ct-${ctid}`).toBe(false);
  });

  it("ignore the provider's mount points after creation (a whole top-level key) and hand the volume set to lxc-options", () => {
    const ct = byName(dev, "ct-952", CONTAINER);
    expect(ct.ignoreChanges).toEqual(["clone", "operatingSystem", "mountPoints", "features"]);
    expect(ct.inputs.mountPoints).toEqual([{ volume: "quickOS-shared-prod-data", size: "20G", path: "/qdrant/storage" }]);
    expect(byName(dev, "ct-952-lxc-options").inputs.params.volumes).toBe("mp0=20:quickOS-shared-prod-data:/qdrant/storage");
  });

  it("refuse a volume mount point with `,` or `=` (it would add properties to Proxmox's mpN string)", () => {
    const loader = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
    for (const mountPoint of ["/data,mp=/etc", "/data=x"]) {
      const r = loader.loadPhoenixConfig(mutatedDir((f: Files) => (f.lxc.lxc_configs["952"].volumes[0].mount_point = mountPoint)));
      expect(r.ok, mountPoint).toBe(false);
      expect(r.ok ? [] : r.errors, mountPoint).toContainEqual(expect.stringMatching(/^phoenix_lxc_configs\.json: \$\.lxc_configs\["952"\]\.volumes\[0\]\.mount_point: must be an absolute path without spaces, commas/));
    }
  });
});
