// Container volumes hold data (issue 12 item 9): growing a volume (`size_gb`) resizes it in place
// through ct-<ctid>-lxc-options (`pct resize <ctid> mp<N>`), because the proxmoxve provider would
// replace the container (mount points are ForceNew) and the volume's data with it; and a change
// that replaces, or a removal that deletes, a container holding volumes is refused (Pulumi
// `protect`: the preview fails naming the replacement) unless phoenix:allowDataDestruction.
import { beforeAll, describe, expect, it } from "vitest";
import { byName, planStack, type PlanResult } from "./plan";

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

  it("ignore the provider's mount point sizes after creation and grow volumes in place", () => {
    const ct = byName(dev, "ct-952", CONTAINER);
    expect(ct.ignoreChanges).toEqual(["clone", "operatingSystem", "mountPoints[*].size"]);
    expect(ct.inputs.mountPoints).toEqual([{ volume: "quickOS-shared-prod-data", size: "20G", path: "/qdrant/storage" }]);
    expect(byName(dev, "ct-952-lxc-options").inputs.params.volumes).toBe("mp0=20");
  });
});
