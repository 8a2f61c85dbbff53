// End to end: the fw migration case through the real program and the engine stand-in
// (lxc-engine.ts + firewall-engine.ts) on the sshd test host: the container through the emulator's
// `pct`, the firewall resources as the Proxmox API writes /etc/pve/firewall/cluster.fw and 900.fw
// (pve-firewall's format), refusing what the API refuses. A second run changes nothing; a changed
// rule replaces the rule list without leaving the old rules behind.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { copyFileSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { startTestHost, type TestHost } from "../host/sshd";
import { installEmulator } from "../host/emulator/lib";
import { Engine, type RunReport } from "./lxc-engine";
import { carryOutFirewall, formatFw, parseFw, type StateEntry } from "./firewall-engine";

const CASES = "/work/shared/cases/migration";
const FIREWALL = /firewall/;

const CLUSTER_FW = `[OPTIONS]

enable: 1
policy_in: DROP
policy_out: ACCEPT

[RULES]

IN ACCEPT -p tcp -dport 443 # HTTPS to the gateway
IN ACCEPT -source 192.0.2.0/24 -dest 192.0.2.13 -p tcp -dport 2049 # NFS from guests
OUT ACCEPT -dest 192.0.2.150 -p tcp -dport 443 # host to the gateway

`;
const CT_900_FW = `[OPTIONS]

enable: 1

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
    host = await startTestHost();
    await installEmulator(host, { tools: ["pct"] });
    dir = mkdtempSync(path.join(os.tmpdir(), "phoenix-fw-e2e-"));
    for (const f of readdirSync(path.join(CASES, "fw"))) copyFileSync(path.join(CASES, "fw", f), path.join(dir, f));
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

  it("a changed rule replaces the container's rule list, leaving none of the old rules", async () => {
    const file = path.join(dir, "phoenix_lxc_configs.json");
    const lxc = JSON.parse(readFileSync(file, "utf8"));
    lxc.lxc_configs["900"].firewall.rules[1].source = "192.0.2.128/25";
    writeFileSync(file, JSON.stringify(lxc, null, 1));
    const third = await engine.up({ configDir: dir });
    expect(third.errors).toEqual([]);
    expect(third.actions.get("ct-900-firewall-rules")).toBe("replace");
    expect(third.actions.get("ct-900-firewall")).toBe("same");
    expect(third.actions.get("host-firewall-rules")).toBe("same");
    expect(await cat("900.fw")).toBe(CT_900_FW.replace("-source 192.0.2.0/24 -p tcp", "-source 192.0.2.128/25 -p tcp"));
    expect(await cat("cluster.fw")).toBe(CLUSTER_FW);
  });

  it("refuses what the Proxmox API refuses (the stand-in judges with Net::IP, /etc/protocols, /etc/services)", async () => {
    const state = new Map<string, StateEntry>();
    const report = { actions: new Map<string, string>(), sessions: 0 };
    const rules = (rule: Record<string, unknown>, target: Record<string, unknown> = { nodeName: "pve", containerId: 900 }) =>
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
  });

  it("reads back what it writes (parser and writer agree)", async () => {
    const text = await cat("cluster.fw");
    expect(formatFw(parseFw(text))).toBe(text);
  });
});
