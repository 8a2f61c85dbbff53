// The provider's rule-list semantics as the engine stand-in carries them out (firewall-engine.ts,
// modelled on bpg/terraform-provider-proxmox v0.111 proxmoxtf/resource/firewall/rules.go
// RulesCreate, RulesUpdate, RulesDelete, and pve-firewall API2/Firewall/Rules.pm), on a test host's
// /etc/pve/firewall files: create refuses a target that has rules, a changed list is updated in
// place (create, move, update, delete the excess), and no call in between leaves the traffic the
// old and the new list both accept without its ACCEPT rule.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { startTestHost, type TestHost } from "../host/sshd";
import { carryOutFirewall, deleteFirewall, firewallTrace, parseFw, type StateEntry } from "./firewall-engine";
import { loadDist } from "../load";

const RULES = "proxmoxve:firewall/rulesLegacy:RulesLegacy";
const rule = (r: Record<string, unknown>) => ({ type: "in", action: "ACCEPT", ...r });
const SSH = rule({ proto: "tcp", dport: "22", source: "10.0.0.0/24", comment: "SSH" });
const API = rule({ proto: "tcp", dport: "8006", source: "10.0.0.0/24", comment: "API" });
const NFS = rule({ proto: "tcp", dport: "2049", source: "10.0.0.0/24", comment: "NFS" });
const SMB = rule({ proto: "tcp", dport: "445", source: "10.0.0.0/24", comment: "SMB" });

describe("the provider's rule lists on the stand-in", () => {
  let host: TestHost;
  let state: Map<string, StateEntry>;
  const report = { actions: new Map<string, string>(), sessions: 0 };
  const cat = async (file: string) => (await host.exec(`cat /etc/pve/firewall/${file} 2>/dev/null || true`)).stdout;
  const lines = async (file: string) => parseFw(await cat(file)).rules.map((r) => `${r.action} ${r.dport ?? ""} ${r.source ?? ""} ${r.comment ?? ""}`.trim());
  const up = (name: string, rules: Record<string, unknown>[], target: Record<string, unknown> = {}) =>
    carryOutFirewall(host, state, { name, type: RULES, inputs: { ...target, rules } }, report);

  beforeAll(async () => {
    host = await startTestHost();
    await host.exec("mkdir -p /etc/pve/firewall /etc/pve/lxc && printf 'hostname: ct\\n' > /etc/pve/lxc/200.conf && printf 'hostname: ct\\n' > /etc/pve/lxc/201.conf");
  }, 180_000);
  afterAll(() => host?.stop());
  beforeEach(async () => {
    state = new Map();
    firewallTrace().length = 0;
    await host.exec("rm -f /etc/pve/firewall/cluster.fw /etc/pve/firewall/200.fw /etc/pve/firewall/201.fw");
  });

  it("creates a list in order, and refuses to create where rules exist (\"Existing rules detected\")", async () => {
    await up("a", [SSH, API]);
    expect(await lines("cluster.fw")).toEqual(["ACCEPT 22 10.0.0.0/24 SSH", "ACCEPT 8006 10.0.0.0/24 API"]);
    // A second resource on the same target, or a clone's copied <vmid>.fw: RulesCreate lists first.
    await expect(up("b", [NFS])).rejects.toThrow(/^Existing rules detected\. Aborting\.\.\.$/);
    await host.exec("printf '[RULES]\\n\\nIN ACCEPT -p tcp -dport 80 # copied from the template\\n' > /etc/pve/firewall/200.fw");
    await expect(up("ct", [SSH], { nodeName: "pve", containerId: 200 })).rejects.toThrow(/Existing rules detected/);
    expect(await lines("200.fw")).toEqual(["ACCEPT 80  copied from the template"]);
  });

  it("updates a changed list in place: new rules created, kept ones moved, fields updated, the excess deleted", async () => {
    await up("a", [SSH, API, SMB]);
    report.actions.clear();
    firewallTrace().length = 0;
    await up("a", [NFS, SSH, { ...API, comment: "Proxmox API" }]);
    expect(report.actions.get("a")).toBe("update");
    expect(await lines("cluster.fw")).toEqual(["ACCEPT 2049 10.0.0.0/24 NFS", "ACCEPT 22 10.0.0.0/24 SSH", "ACCEPT 8006 10.0.0.0/24 Proxmox API"]);
    // The state is what RulesRead read back: every rule with its position.
    expect((state.get("a")!.outs.rules as { pos: number; dport: string }[]).map((r) => [r.pos, r.dport])).toEqual([[0, "2049"], [1, "22"], [2, "8006"]]);
    // One call per step: create NFS, (moves), update SSH and API, delete SMB; never a delete-all.
    const trace = firewallTrace().map((t) => t.rules.length);
    expect(trace.length).toBeGreaterThanOrEqual(4);
    expect(Math.min(...trace)).toBeGreaterThanOrEqual(3);
  });

  it("never leaves the rules both lists accept missing in between (no window of only the DROP policy)", async () => {
    await up("a", [SSH, API, SMB]);
    firewallTrace().length = 0;
    // A changed source replaces one rule by signature, a new one is added, one is dropped.
    await up("a", [{ ...SMB, source: "10.0.0.128/25" }, API, NFS, SSH]);
    expect(firewallTrace().length).toBeGreaterThan(3);
    for (const step of firewallTrace()) {
      expect(step.rules.some((l) => l.startsWith("IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22 "))).toBe(true);
      expect(step.rules.some((l) => l.startsWith("IN ACCEPT -source 10.0.0.0/24 -p tcp -dport 8006 "))).toBe(true);
    }
    expect(await lines("cluster.fw")).toEqual(["ACCEPT 445 10.0.0.128/25 SMB", "ACCEPT 8006 10.0.0.0/24 API", "ACCEPT 2049 10.0.0.0/24 NFS", "ACCEPT 22 10.0.0.0/24 SSH"]);
  });

  it("reorders a list by moving each rule up into its place (PUT moveto)", async () => {
    await up("a", [SSH, API, NFS, SMB]);
    await up("a", [API, NFS, SMB, SSH]);
    expect(await lines("cluster.fw")).toEqual(["ACCEPT 8006 10.0.0.0/24 API", "ACCEPT 2049 10.0.0.0/24 NFS", "ACCEPT 445 10.0.0.0/24 SMB", "ACCEPT 22 10.0.0.0/24 SSH"]);
  });

  it("an update also removes rules it never created (the list becomes exactly the declared one)", async () => {
    await up("ct", [SSH], { nodeName: "pve", containerId: 201 });
    await host.exec("sed -i 's/^\\[RULES\\]$/[RULES]\\n\\nIN DROP -p tcp -dport 80 # added by hand/' /etc/pve/firewall/201.fw");
    expect(await lines("201.fw")).toEqual(["DROP 80  added by hand", "ACCEPT 22 10.0.0.0/24 SSH"]);
    await up("ct", [SSH, API], { nodeName: "pve", containerId: 201 });
    expect(await lines("201.fw")).toEqual(["ACCEPT 22 10.0.0.0/24 SSH", "ACCEPT 8006 10.0.0.0/24 API"]);
  });

  it("delete removes the recorded positions, highest first, and skips positions no longer there", async () => {
    await up("a", [SSH, API, NFS]);
    await host.exec("sed -i '/-dport 2049/d' /etc/pve/firewall/cluster.fw");
    await deleteFirewall(host, state, "a", RULES);
    expect(await lines("cluster.fw")).toEqual([]);
    expect(state.has("a")).toBe(false);
  });
});

// features/hypervisor/firewall_takeover.sh, run on the same test host: it makes room for the rule
// lists the provider refuses to create over existing rules.
describe("taking over rules Proxmox already holds (firewall_takeover.sh)", () => {
  let host: TestHost;
  let state: Map<string, StateEntry>;
  const report = { actions: new Map<string, string>(), sessions: 0 };
  const cat = async (file: string) => (await host.exec(`cat ${file} 2>/dev/null || true`)).stdout;
  const takeover = async (params: Record<string, string>) => {
    const registry = loadDist<typeof import("../../features/registry")>("features/registry");
    const text = registry.featureScript("hypervisor", "firewall_takeover").text;
    const env = Object.entries({ action: "apply", ...params }).map(([k, v]) => `PHOENIX_${k.toUpperCase()}='${v}'`).join(" ");
    const r = await host.exec(`echo ${Buffer.from(text).toString("base64")} | base64 -d > /tmp/takeover.sh && env ${env} bash /tmp/takeover.sh`);
    expect(r.code, r.stderr).toBe(0);
    return r;
  };
  const OPTIONS = "[OPTIONS]\n\nenable: 1\npolicy_in: DROP\n\n";
  const TEMPLATE_FW = `${OPTIONS}[RULES]\n\nIN ACCEPT -source 10.0.0.0/24 -p tcp -dport 22 # SSH from the LAN\nIN ACCEPT -p icmp\n\n`;

  beforeAll(async () => {
    host = await startTestHost();
    await host.exec("mkdir -p /etc/pve/firewall /etc/pve/lxc /etc/pve/nodes/pve1 /etc/pve/nodes/pve2 && for id in 900 910; do printf 'hostname: ct\\n' > /etc/pve/lxc/$id.conf; done");
  }, 180_000);
  afterAll(() => host?.stop());
  beforeEach(() => {
    state = new Map();
  });

  it("a clone of a firewalled template gets exactly its declared rules, and does not fail", async () => {
    // What `pct clone 900 910` leaves (clone_vmfw_conf copies 900.fw).
    await host.exec(`printf '${TEMPLATE_FW}' > /etc/pve/firewall/900.fw && cp /etc/pve/firewall/900.fw /etc/pve/firewall/910.fw`);
    const declared = [{ type: "in", action: "ACCEPT", proto: "tcp", dport: "8000", source: "10.0.0.0/24", comment: "vLLM" }];
    const target = { nodeName: "pve", containerId: 910 };
    // Without the takeover the provider refuses.
    await expect(carryOutFirewall(host, state, { name: "ct-910-firewall-rules", type: RULES, inputs: { ...target, rules: declared } }, report)).rejects.toThrow(/Existing rules detected/);
    await takeover({ target: "910", template: "900" });
    expect(parseFw(await cat("/etc/pve/firewall/910.fw")).rules).toEqual([]);
    // Its options (enable, policy) are still the copied ones; the template's file is untouched.
    expect(parseFw(await cat("/etc/pve/firewall/910.fw")).options.get("policy_in")).toBe("DROP");
    expect(await cat("/etc/pve/firewall/900.fw")).toBe(TEMPLATE_FW.replace(/\\n/g, "\n"));
    await carryOutFirewall(host, state, { name: "ct-910-firewall-rules", type: RULES, inputs: { ...target, rules: declared } }, report);
    expect(parseFw(await cat("/etc/pve/firewall/910.fw")).rules.map((r) => r.dport)).toEqual(["8000"]);
    // Run again (a later `up`): the rules are no longer the copy, nothing is touched.
    await takeover({ target: "910", template: "900" });
    expect(parseFw(await cat("/etc/pve/firewall/910.fw")).rules.map((r) => r.dport)).toEqual(["8000"]);
  });

  it("an existing cluster.fw: its rules move to every node's host.fw first, then the declared rules are created; unpark removes them", async () => {
    await host.exec(
      `printf '${OPTIONS}[IPSET management]\n\n192.168.50.0/24\n\n[RULES]\n\nIN ACCEPT -source 192.168.50.0/24 -p tcp -dport 22 # SSH (Bash tool)\nIN ACCEPT -p tcp -dport 8000\nIN DROP -p tcp -dport 23\n\n' > /etc/pve/firewall/cluster.fw && ` +
        `printf '[RULES]\n\nIN ACCEPT -p tcp -dport 9100 # node exporter\n\n' > /etc/pve/nodes/pve1/host.fw && rm -f /etc/pve/firewall/phoenix-takeover.done`,
    );
    const rules = [{ type: "in", action: "ACCEPT", proto: "tcp", dport: "22", source: "192.168.50.0/24", comment: "SSH" }];
    await expect(carryOutFirewall(host, state, { name: "host-firewall-rules", type: RULES, inputs: { rules } }, report)).rejects.toThrow(/Existing rules detected/);
    await takeover({ target: "cluster", phase: "park" });
    const cluster = parseFw(await cat("/etc/pve/firewall/cluster.fw"));
    expect(cluster.rules).toEqual([]);
    expect([...cluster.ipsets.keys()]).toEqual(["management"]);
    expect(cluster.options.get("policy_in")).toBe("DROP");
    const parked = ["phoenix-takeover: SSH (Bash tool)", "phoenix-takeover:", "phoenix-takeover:"];
    expect(parseFw(await cat("/etc/pve/nodes/pve1/host.fw")).rules.map((r) => r.comment ?? "")).toEqual([...parked, "node exporter"]);
    expect(parseFw(await cat("/etc/pve/nodes/pve2/host.fw")).rules.map((r) => `${r.action} ${r.dport}`)).toEqual(["ACCEPT 22", "ACCEPT 8000", "DROP 23"]);
    await carryOutFirewall(host, state, { name: "host-firewall-rules", type: RULES, inputs: { rules } }, report);
    expect(parseFw(await cat("/etc/pve/firewall/cluster.fw")).rules.map((r) => r.dport)).toEqual(["22"]);
    // Done once: a later run parks nothing (the declared rules stay in cluster.fw).
    await takeover({ target: "cluster", phase: "park" });
    expect(parseFw(await cat("/etc/pve/firewall/cluster.fw")).rules.map((r) => r.dport)).toEqual(["22"]);
    await takeover({ target: "cluster", phase: "unpark" });
    expect(parseFw(await cat("/etc/pve/nodes/pve1/host.fw")).rules.map((r) => r.comment)).toEqual(["node exporter"]);
    expect(parseFw(await cat("/etc/pve/nodes/pve2/host.fw")).rules).toEqual([]);
  });
});
