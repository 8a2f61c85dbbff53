// End to end: the fw migration case through the real program and the engine stand-in
// (lxc-engine.ts + firewall-engine.ts) on the sshd test host: the container through the emulator's
// `pct`, the firewall resources as the Proxmox API writes /etc/pve/firewall/cluster.fw and 900.fw
// (pve-firewall's format), refusing what the API refuses. A second run changes nothing; a changed
// rule updates the rule list in place (the provider's RulesUpdate) without leaving the old rule behind.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator, installStorageCfg } from "../host/emulator/lib";
import { Engine, type RunReport } from "./lxc-engine";
import { carryOutFirewall, formatFw, parseFw, type StateEntry } from "./firewall-engine";
import { loadDist } from "../load";
import { loadModel } from "../config/helpers";
import { CASES_DIR } from "../config/cases";

const CASES = CASES_DIR;
const FIREWALL = /firewall/;

const CLUSTER_FW = `[OPTIONS]

ebtables: 1
enable: 1
log_ratelimit: enable=1,burst=5,rate=1/second
policy_forward: ACCEPT
policy_in: DROP
policy_out: ACCEPT

[RULES]

IN ACCEPT -p tcp -dport 443 # HTTPS to the gateway
IN ACCEPT -source 192.0.2.0/24 -dest 192.0.2.13 -p tcp -dport 2049 # NFS from guests
OUT ACCEPT -dest 192.0.2.150 -p tcp -dport 443 # host to the gateway

`;
const CT_900_FW = `[OPTIONS]

dhcp: 0
enable: 1
ipfilter: 0
log_level_in: nolog
log_level_out: nolog
macfilter: 1
ndp: 1
policy_in: DROP
policy_out: ACCEPT
radv: 0

[RULES]

IN ACCEPT -source 192.0.2.0/24 -p icmp # ping from the LAN
IN ACCEPT -source 192.0.2.0/24 -p tcp -dport 22 # SSH from the LAN

`;

describe("the fw case on the test host, through the engine stand-in", () => {
  let host: TestHost;
  let engine: Engine;
  let dir: string;
  let first: RunReport;
  let second: RunReport;
  const cat = async (file: string) => (await host.exec(`cat /etc/pve/firewall/${file}`)).stdout;

  beforeAll(async () => {
    host = await startTestHost({ lxc: true });
    await installEmulator(host, { tools: ["pct"], realLxc: true });
    dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-fw-e2e-"));
    for (const f of readdirSync(path.join(CASES, "fw"))) copyFileSync(path.join(CASES, "fw", f), path.join(dir, f));
    // The storages the (only declared) hypervisor setup registers: the container's disk lives there.
    await installStorageCfg(host, loadModel(dir).host.storages);
    engine = new Engine(host);
    first = await engine.up({ configDir: dir });
  }, 600_000);
  afterAll(() => {
    host?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("creates the container and its firewall, and the host firewall, without errors", () => {
    expect(first.errors).toEqual([]);
    const fw = [...first.actions].filter(([n]) => FIREWALL.test(n));
    expect(Object.fromEntries(fw)).toEqual({
      "host-firewall-rules": "create",
      "host-firewall": "create",
      "ct-900-firewall-rules": "create",
      "ct-900-firewall": "create",
    });
    // Enabling comes after the rules it must not run without.
    const order = [...first.actions.keys()];
    expect(order.indexOf("host-firewall")).toBeGreaterThan(order.indexOf("host-firewall-rules"));
    expect(order.indexOf("ct-900-firewall")).toBeGreaterThan(order.indexOf("ct-900-firewall-rules"));
    expect(order.indexOf("ct-900-firewall-rules")).toBeGreaterThan(order.indexOf("ct-900"));
  });

  it("writes cluster.fw and 900.fw in pve-firewall's format, rules in the files' order", async () => {
    expect(await cat("cluster.fw")).toBe(CLUSTER_FW);
    expect(await cat("900.fw")).toBe(CT_900_FW);
  });

  it("sets firewall=1 on the container's net0", async () => {
    const conf = (await host.exec("cat /etc/pve/lxc/900.conf")).stdout;
    expect(conf).toMatch(/^net0: .*\bfirewall=1\b/m);
  });

  it("a second run changes nothing and opens no SSH session", async () => {
    const before = [await cat("cluster.fw"), await cat("900.fw")];
    second = await engine.up({ configDir: dir });
    expect(second.errors).toEqual([]);
    expect([...second.actions.values()].every((a) => a === "same")).toBe(true);
    expect(second.sessions).toBe(0);
    expect([await cat("cluster.fw"), await cat("900.fw")]).toEqual(before);
  });

  it("a changed rule updates the container's rule list in place, leaving none of the old rules", async () => {
    const file = path.join(dir, "phoenix_lxc_configs.json");
    const lxc = JSON.parse(readFileSync(file, "utf8"));
    lxc.lxc_configs["900"].firewall.rules[1].source = "192.0.2.128/25";
    writeFileSync(file, JSON.stringify(lxc, null, 1));
    const third = await engine.up({ configDir: dir });
    expect(third.errors).toEqual([]);
    expect(third.actions.get("ct-900-firewall-rules")).toBe("update");
    expect(third.actions.get("ct-900-firewall")).toBe("same");
    expect(third.actions.get("host-firewall-rules")).toBe("same");
    expect(await cat("900.fw")).toBe(CT_900_FW.replace("-source 192.0.2.0/24 -p tcp", "-source 192.0.2.128/25 -p tcp"));
    expect(await cat("cluster.fw")).toBe(CLUSTER_FW);
  });

  it("refuses what the Proxmox API refuses (the stand-in judges with Net::IP, /etc/protocols, /etc/services)", async () => {
    const state = new Map<string, StateEntry>();
    const report = { actions: new Map<string, string>(), sessions: 0 };
    // A guest without rules (900 has its own: the provider would refuse any list there first).
    await host.exec("printf 'hostname: probe\\n' > /etc/pve/lxc/990.conf && rm -f /etc/pve/firewall/990.fw");
    const rules = (rule: Record<string, unknown>, target: Record<string, unknown> = { nodeName: "pve", containerId: 990 }) =>
      carryOutFirewall(host, state, { name: "x", type: "proxmoxve:firewall/rulesLegacy:RulesLegacy", inputs: { ...target, rules: [{ type: "in", action: "ACCEPT", ...rule }] } }, report);
    await expect(rules({ proto: "tcp", dport: "22", source: "10.0.0.5/24" })).rejects.toThrow(/source: invalid IP address: Invalid prefix/);
    await expect(rules({ proto: "tcpp" })).rejects.toThrow(/proto: unknown protocol 'tcpp'/);
    await expect(rules({ proto: "tcp", dport: "8000-8100" })).rejects.toThrow(/dport: invalid port '8000-8100'/);
    await expect(rules({ dport: "22" })).rejects.toThrow(/proto: missing property - 'dport' requires this property/);
    await expect(rules({ proto: "tcp", source: "+nosuchset" })).rejects.toThrow(/no such ipset 'nosuchset'/);
    await expect(rules({ proto: "tcp", iface: "eth0" })).rejects.toThrow(/iface: value does not match the regex pattern/);
    await expect(rules({ proto: "tcp", dport: "22" }, { nodeName: "pve", containerId: 999 })).rejects.toThrow(/Configuration file 'nodes\/pve\/lxc\/999.conf' does not exist/);
    // Nothing of it reached the files.
    expect(await cat("900.fw")).toContain("-source 192.0.2.128/25");
    expect(parseFw(await cat("900.fw")).rules).toHaveLength(2);
    expect(await host.exec("cat /etc/pve/firewall/990.fw 2>/dev/null || true")).toMatchObject({ stdout: "" });
  });

  it("validate refuses every rule the API refuses (seeded rules, judged by both)", async () => {
    const { readGuestFirewall } = loadDist<typeof import("../../infra/config/firewall")>("infra/config/firewall");
    const { Findings } = loadDist<typeof import("../../infra/config/errors")>("infra/config/errors");
    const pick = <T>(xs: T[], r: number) => xs[r % xs.length];
    const sources = ["10.0.0.0/24", "10.0.0.5/24", "10.0.0.1", "10.0.0.1-10.0.0.9", "10.0.0.9-10.0.0.1", "10.0.0.1,10.0.0.2", "10.0.0.1,,10.0.0.2",
      "2001:db8::/32", "2001:db8::1/32", "::1", "10.0.0.256", "10.0.0.0/33", "10.0.0.1-10.0.0.9,10.0.0.20", "1.2.3", "0.0.0.0/0", "10.0.0.1,2001:db8::1", undefined];
    const protos = ["tcp", "udp", "icmp", "6", "200", "tcpp", "gre", "icmpv6", undefined];
    const ports = ["22", "8000:8100", "100:90", "22,80,443", "ssh", "http", "nosuchservice", "70000", "8000-8100", "echo-request", undefined,
      "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16"];
    let seed = 7;
    const next = () => (seed = (seed * 1103515245 + 12345) % 2147483648);
    const candidates = Array.from({ length: 40 }, () => {
      const rule: Record<string, string> = { type: "in", action: "ACCEPT" };
      for (const [key, xs] of [["source", sources], ["proto", protos], ["port", ports]] as const) {
        const v = pick(xs as (string | undefined)[], next());
        if (v !== undefined) rule[key] = v;
      }
      return rule;
    });
    const state = new Map<string, StateEntry>();
    const report = { actions: new Map<string, string>(), sessions: 0 };
    const disagreements: string[] = [];
    let accepted = 0;
    for (const [i, rule] of candidates.entries()) {
      const findings = new Findings();
      readGuestFirewall({ rules: [rule] }, "f.json", ["firewall"], findings, undefined);
      const { port, ...rest } = rule;
      const api = { ...rest, ...(port !== undefined ? { dport: port } : {}) };
      let refusedBy = "";
      try {
        await carryOutFirewall(host, state, { name: `probe-${i}`, type: "proxmoxve:firewall/rulesLegacy:RulesLegacy", inputs: { nodeName: "pve", containerId: 990, rules: [api] } }, report);
        accepted++;
        // The next probe creates its list where this one left none.
        await host.exec("rm -f /etc/pve/firewall/990.fw");
      } catch (err) {
        refusedBy = (err as Error).message;
      }
      if (refusedBy && findings.errors.length === 0) disagreements.push(`${JSON.stringify(rule)}: the API refuses (${refusedBy.replace(/\n/g, " ")}), validate accepts`);
    }
    expect(disagreements).toEqual([]);
    // Both kinds occur: the seeded set is not all-good or all-bad.
    expect(accepted).toBeGreaterThan(3);
    expect(accepted).toBeLessThan(candidates.length - 3);
  });

  it("reads back what it writes (parser and writer agree)", async () => {
    const text = await cat("cluster.fw");
    expect(formatFw(parseFw(text))).toBe(text);
  });
});
