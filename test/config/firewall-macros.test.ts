// Firewall rules that name a macro: validate refuses what pve-firewall's verify_rule refuses (a
// proto, dport or sport differing from a value the macro's own rules set: "parameter 'proto'
// already define in macro"), with file and JSON path, and keeps the uses Proxmox allows.
import { afterAll, describe, expect, it } from "vitest";
import { loadDist } from "../load";
import { ERROR_LINE, HOST, cleanTempDirs, loadMutated, type Files } from "./helpers";

afterAll(cleanTempDirs);

const macros = loadDist<typeof import("../../infra/config/firewall-macros")>("infra/config/firewall-macros");
const RULES = "$.shared_volumes.firewall.global_firewall_rules";

function withRules(rules: unknown[]) {
  return (f: Files) => {
    f.host.shared_volumes.firewall = { enabled: true, default_input_policy: "DROP", default_output_policy: "ACCEPT", global_firewall_rules: rules };
  };
}
const lock = { type: "in", action: "ACCEPT", proto: "tcp", port: "22,8006" };

describe("macros combined with their own protocol or port", () => {
  const HOSTILE: [Record<string, unknown>, string, RegExp][] = [
    [{ macro: "SSH", proto: "udp" }, "proto", /macro SSH sets proto tcp itself/],
    [{ macro: "SSH", proto: "tcp", port: "2222" }, "port", /macro SSH sets dport 22 itself/],
    [{ macro: "SSH", proto: "tcp", dport: "ssh" }, "dport", /sets dport 22/],
    [{ macro: "HTTP", proto: "6" }, "proto", /sets proto tcp/],
    [{ macro: "DNS", proto: "tcp" }, "proto", /macro DNS sets proto udp/],
    [{ macro: "Web", proto: "tcp", port: "80" }, "port", /macro Web sets dport 443/],
    [{ macro: "DHCPfwd", proto: "udp", sport: "1000" }, "sport", /sets sport 67:68/],
    [{ macro: "ping", proto: "tcp" }, "proto", /macro Ping sets proto icmp/],
    [{ macro: "SMB", proto: "tcp", port: "445" }, "proto", /macro SMB sets proto udp/],
    [{ macro: "Ping", proto: "icmp", port: "echo-reply", source: "10.0.0.0/24" }, "port", /sets dport echo-request/],
  ];
  for (const [fields, key, message] of HOSTILE) {
    it(`refuses ${JSON.stringify(fields)} at its ${key}`, () => {
      const r = loadMutated(withRules([lock, { type: "in", action: "ACCEPT", ...fields }]));
      expect(r.ok).toBe(false);
      const errors = r.ok ? [] : r.errors;
      const line = errors.find((e) => e.startsWith(`${HOST}: ${RULES}[1].${key}: `));
      expect(line, errors.join("\n")).toMatch(message);
      expect(line).toMatch(/already define in macro/);
      expect(line).toMatch(ERROR_LINE);
    });
  }

  it("keeps what Proxmox allows: a macro with an action and addresses, values equal to the macro's, ports the macro leaves open", () => {
    const ok = loadMutated(withRules([
      lock,
      { type: "in", action: "ACCEPT", macro: "SSH", source: "10.0.0.0/24" },
      { type: "in", action: "ACCEPT", macro: "SSH", proto: "tcp", port: "22" },
      { type: "in", action: "DROP", macro: "Web" },
      { type: "in", action: "ACCEPT", macro: "HTTP", proto: "tcp", sport: "1024:65535" },
      { type: "in", action: "ACCEPT", macro: "Ping", dest: "2001:db8::1" },
    ]));
    expect(ok.ok ? [] : ok.errors).toEqual([]);
  });

  it("uses the macro's IPv6 rules for an IPv6 rule (Ping is icmpv6 there)", () => {
    expect(macros.macroConflicts("Ping", { proto: "icmpv6" }, 6)).toEqual([]);
    expect(macros.macroConflicts("Ping", { proto: "icmpv6" }, 4)).toHaveLength(1);
    expect(macros.macroConflicts("Ping", { proto: "icmp" }, 4)).toEqual([]);
  });
});
