// `phoenix graph` shows the firewall: the host's rules before enabling it, each guest's firewall
// after its guest (the names the program gives the resources: host-firewall-rules, host-firewall,
// ct-<id>-firewall).
import { spawnSync } from "node:child_process";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";
import { CASES_DIR } from "../config/cases";

const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
const G = loadDist<typeof import("../../infra/graph")>("infra/graph");
const CASES = CASES_DIR;

function model(dir: string) {
  const r = loadPhoenixConfig(dir);
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.model;
}

describe("the firewall in the provisioning graph", () => {
  it("fw: host-initial-setup → host-firewall-rules → host-firewall, and ct-900 → ct-900-firewall", () => {
    const g = G.buildGraph(model(path.join(CASES, "fw")));
    const nodes = new Map(g.nodes.map((n) => [n.id, n]));
    expect(nodes.get("host-firewall-rules")).toMatchObject({ kind: "host-firewall", label: "firewall rules (3)" });
    expect(nodes.get("host-firewall")).toMatchObject({ kind: "host-firewall", label: "firewall on, in DROP, out ACCEPT" });
    expect(nodes.get("ct-900-firewall")).toMatchObject({ kind: "firewall", guestId: 900, label: "firewall on, 2 rules" });
    const edges = g.edges.map((e) => `${e.from} -> ${e.to} (${e.kind})`);
    expect(edges).toEqual(
      expect.arrayContaining([
        "host-initial-setup -> host-firewall-rules (setup)",
        "host-firewall-rules -> host-firewall (setup)",
        "ct-900 -> ct-900-firewall (firewall)",
      ]),
    );
    expect(G.graphStats(model(path.join(CASES, "fw")))).toMatchObject({ firewalls: 2 });
  });

  it("aliases and IP sets come before the rules and the guests' firewalls", () => {
    const m = model(path.join(CASES, "fw"));
    m.host.firewall!.aliases = [{ name: "lan", cidr: "192.0.2.0/24" }];
    m.host.firewall!.ipsets = [{ name: "admins", entries: [{ cidr: "lan", nomatch: false }] }];
    const edges = G.buildGraph(m).edges.map((e) => `${e.from} -> ${e.to}`);
    expect(edges).toEqual(
      expect.arrayContaining([
        "host-firewall-alias-lan -> host-firewall-ipset-admins",
        "host-firewall-ipset-admins -> host-firewall-rules",
        "host-firewall-alias-lan -> ct-900-firewall",
        "host-firewall-rules -> host-firewall",
      ]),
    );
    // As the program declares them: every host firewall resource also waits for the initial setup.
    expect(edges).toContain("host-initial-setup -> host-firewall-rules");
  });

  it("phoenix graph draws them (Mermaid); s2's clone has no firewall resource (Proxmox copies its template's)", () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, "bin", "phoenix.js"), "graph", "--config-dir", path.join(CASES, "s2")], { cwd: repoRoot, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    expect(r.stdout).toContain('subgraph "Guest Firewalls"');
    expect(r.stdout).toContain('FW900["900 firewall on, 1 rule"]');
    expect(r.stdout).toContain("T900 -. firewall .-> FW900");
    expect(r.stdout).not.toContain("FW910");
    const dev = spawnSync(process.execPath, [path.join(repoRoot, "bin", "phoenix.js"), "graph", "--config-dir", "stacks/dev"], { cwd: repoRoot, encoding: "utf8" });
    expect(dev.stdout).toContain("H_firewall_rules --> H_firewall");
  });
});
