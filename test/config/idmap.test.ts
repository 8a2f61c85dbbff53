// id_maps completion: partial maps become the full map of the well-known recipe (Proxmox wiki,
// "Unprivileged LXC containers"); maps the kernel or Proxmox refuse are errors.
import { describe, expect, it } from "vitest";
import { loadDist } from "../load";

const { completeIdMap } = loadDist<typeof import("../../infra/config/normalise")>("infra/config/normalise");

type Entry = { type: "uid" | "gid"; containerId: number; hostId: number; size: number };
function complete(given: Entry[]) {
  const errors: string[] = [];
  const r = completeIdMap(given, (m, i) => errors.push(`${i ?? "-"}: ${m}`));
  return { ...r, errors };
}
const sum = (es: Entry[], type: string) => es.filter((e) => e.type === type).reduce((n, e) => n + e.size, 0);

describe("completeIdMap", () => {
  it("keeps an empty list empty (Proxmox's default map)", () => {
    expect(complete([])).toEqual({ entries: [], subIds: [], errors: [] });
  });

  it("punches the holes for a uid and a gid, as the recipe does, and asks /etc/subuid|subgid for them", () => {
    const r = complete([
      { type: "uid", containerId: 1005, hostId: 1005, size: 1 },
      { type: "gid", containerId: 1005, hostId: 1005, size: 1 },
    ]);
    expect(r.errors).toEqual([]);
    expect(r.entries.filter((e) => e.type === "uid")).toEqual([
      { type: "uid", containerId: 0, hostId: 100000, size: 1005 },
      { type: "uid", containerId: 1005, hostId: 1005, size: 1 },
      { type: "uid", containerId: 1006, hostId: 101006, size: 64530 },
    ]);
    expect(sum(r.entries, "uid")).toBe(65536);
    expect(sum(r.entries, "gid")).toBe(65536);
    expect(r.subIds).toEqual([
      { type: "uid", hostId: 1005, size: 1 },
      { type: "gid", hostId: 1005, size: 1 },
    ]);
  });

  it("a range at the top or at 0 leaves no empty filler", () => {
    const r = complete([{ type: "gid", containerId: 0, hostId: 200000, size: 65536 }]);
    expect(r.entries).toEqual([
      { type: "uid", containerId: 0, hostId: 100000, size: 65536 },
      { type: "gid", containerId: 0, hostId: 200000, size: 65536 },
    ]);
    expect(r.subIds).toEqual([{ type: "gid", hostId: 200000, size: 65536 }]);
  });

  it("refuses overlapping container ranges", () => {
    const r = complete([
      { type: "uid", containerId: 10, hostId: 10, size: 5 },
      { type: "uid", containerId: 12, hostId: 500, size: 1 },
    ]);
    expect(r.errors).toEqual([expect.stringMatching(/^1: uid container ids 12-12 overlap ids 10-14/)]);
    expect(r.entries.some((e) => e.type === "uid")).toBe(false);
  });

  it("refuses host ranges that overlap the default range of another container id", () => {
    const r = complete([{ type: "gid", containerId: 33, hostId: 100040, size: 1 }]);
    expect(r.errors).toEqual([expect.stringMatching(/^0: gid host ids .* overlap host ids/)]);
  });

  it("keeps a range reaching beyond container id 65535 as given, filling only below it", () => {
    const r = complete([{ type: "uid", containerId: 65530, hostId: 200000, size: 10 }]);
    expect(r.errors).toEqual([]);
    expect(r.entries.filter((e) => e.type === "uid")).toEqual([
      { type: "uid", containerId: 0, hostId: 100000, size: 65530 },
      { type: "uid", containerId: 65530, hostId: 200000, size: 10 },
    ]);
  });
});
