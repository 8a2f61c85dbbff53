// The firewall in the whole program under the mock monitor (phoenix plan): the migration cases
// `fw` and `s2` plan to the proxmoxve firewall resources with the right inputs, enabling comes
// after the rules, and the lock-out guard refuses a plan that would cut Phoenix off the host.
import { spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { repoRoot } from "../load";
import { byName, planStack, type PlanResult } from "./plan";
import type { Json } from "../config/helpers";
import { CASES_DIR } from "../config/cases";

const CASES = CASES_DIR;
const RULES = "proxmoxve:firewall/rulesLegacy:RulesLegacy";
const OPTIONS = "proxmoxve:firewall/optionsLegacy:OptionsLegacy";
const CLUSTER = "proxmoxve:cluster/firewallLegacy:FirewallLegacy";
const ACK = { "phoenix:firewallLockoutAcknowledged": "true" };

const temp: string[] = [];
afterAll(() => temp.forEach((d) => fs.rmSync(d, { recursive: true, force: true })));

/** A copy of a migration case with its host file changed by `mutate`. */
function caseCopy(name: string, mutate: (host: Json) => void): string {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-fw-"));
  temp.push(dir);
  for (const f of fs.readdirSync(path.join(CASES, name))) fs.copyFileSync(path.join(CASES, name, f), path.join(dir, f));
  const file = path.join(dir, "phoenix_hypervisor_config.json");
  const host = JSON.parse(fs.readFileSync(file, "utf8"));
  mutate(host);
  fs.writeFileSync(file, JSON.stringify(host, null, 1));
  return dir;
}

const firewallNames = (plan: PlanResult) => plan.resources.filter((r) => /firewall/.test(r.name)).map((r) => `${r.name} ${r.type}`).sort();

describe("the fw case (host firewall, global rules, container rules)", () => {
  let plan: PlanResult;
  beforeAll(async () => {
    plan = await planStack({ stack: "dev", configDir: path.join(CASES, "fw"), config: ACK });
  });

  it("plans the cluster options and rules and container 900's options and rules", () => {
    expect(plan.errors).toEqual([]);
    expect(firewallNames(plan)).toEqual([
      `ct-900-firewall ${OPTIONS}`,
      `ct-900-firewall-rules ${RULES}`,
      `host-firewall ${CLUSTER}`,
      `host-firewall-rules ${RULES}`,
    ]);
  });

  it("host-firewall: enabled, input DROP, output ACCEPT, after the rules", () => {
    const options = byName(plan, "host-firewall", CLUSTER);
    expect(options.inputs).toEqual({ enabled: true, inputPolicy: "DROP", outputPolicy: "ACCEPT", ebtables: true });
    expect(options.dependsOn).toContain("host-firewall-rules");
    expect(options.parent).toBe("host");
  });

  it("host-firewall-rules: the global rules in order, cluster level (no node, no guest)", () => {
    const rules = byName(plan, "host-firewall-rules", RULES);
    expect(rules.inputs).toEqual({
      rules: [
        { type: "in", action: "ACCEPT", proto: "tcp", dport: "443", comment: "HTTPS to the gateway", enabled: true },
        { type: "in", action: "ACCEPT", source: "192.0.2.0/24", dest: "192.0.2.13", proto: "tcp", dport: "2049", comment: "NFS from guests", enabled: true },
        { type: "out", action: "ACCEPT", dest: "192.0.2.150", proto: "tcp", dport: "443", comment: "host to the gateway", enabled: true },
      ],
    });
    expect(rules.dependsOn).toContain("host-initial-setup");
  });

  it("ct-900: its rules, then its options, after the container; firewall=1 on its interface", () => {
    const rules = byName(plan, "ct-900-firewall-rules", RULES);
    expect(rules.inputs).toEqual({
      nodeName: "pve",
      containerId: 900,
      rules: [
        { type: "in", action: "ACCEPT", proto: "icmp", source: "192.0.2.0/24", comment: "ping from the LAN", enabled: true },
        { type: "in", action: "ACCEPT", proto: "tcp", dport: "22", source: "192.0.2.0/24", comment: "SSH from the LAN", enabled: true },
      ],
    });
    expect(rules.dependsOn).toContain("ct-900");
    const options = byName(plan, "ct-900-firewall", OPTIONS);
    // Proxmox's defaults for the guest options the provider would otherwise send its own way.
    expect(options.inputs).toEqual({ nodeName: "pve", containerId: 900, enabled: true, dhcp: false, macfilter: true, ndp: true, radv: false });
    expect(options.dependsOn).toEqual(expect.arrayContaining(["ct-900", "ct-900-firewall-rules"]));
    expect(byName(plan, "ct-900", "proxmoxve:index/containerLegacy:ContainerLegacy").inputs.networkInterfaces).toEqual([
      { name: "eth0", bridge: "vmbr0", firewall: true },
    ]);
  });
});

describe("the s2 case (a container firewall, cloned along)", () => {
  it("plans 900's rules and options; the clone 910 gets firewall=1 and no rules of its own (Proxmox copies 900's .fw on clone)", async () => {
    const plan = await planStack({ stack: "dev", configDir: path.join(CASES, "s2") });
    expect(plan.errors).toEqual([]);
    expect(firewallNames(plan)).toEqual([`ct-900-firewall ${OPTIONS}`, `ct-900-firewall-rules ${RULES}`]);
    expect(byName(plan, "ct-900-firewall-rules", RULES).inputs).toEqual({
      nodeName: "pve",
      containerId: 900,
      rules: [{ type: "in", action: "ACCEPT", proto: "tcp", dport: "22", source: "192.0.2.0/24", enabled: true }],
    });
    expect(byName(plan, "ct-900-firewall", OPTIONS).inputs).toEqual({ nodeName: "pve", containerId: 900, enabled: true, dhcp: false, macfilter: true, ndp: true, radv: false });
    for (const id of [900, 910]) {
      expect(byName(plan, `ct-${id}`, "proxmoxve:index/containerLegacy:ContainerLegacy").inputs.networkInterfaces[0].firewall).toBe(true);
    }
  });

  it("base: no firewall resources and no firewall flag", async () => {
    const plan = await planStack({ stack: "dev", configDir: path.join(CASES, "base") });
    expect(plan.errors).toEqual([]);
    expect(firewallNames(plan)).toEqual([]);
    expect(byName(plan, "ct-900", "proxmoxve:index/containerLegacy:ContainerLegacy").inputs.networkInterfaces[0].firewall).toBeUndefined();
  });
});

describe("the lock-out guard in plan", () => {
  it("plans the fw case as it is: its management network is the host's local network, which Proxmox's own rules keep open", async () => {
    const plan = await planStack({ stack: "dev", configDir: path.join(CASES, "fw"), config: { "phoenix:managementNetwork": "192.0.2.0/24" } });
    expect(plan.errors).toEqual([]);
    expect(plan.resources.map((r) => r.name)).toContain("host-firewall");
  });

  it("refuses the fw case from a management network outside the local network: its DROP policy keeps neither SSH nor the API open", async () => {
    const plan = await planStack({ stack: "dev", configDir: path.join(CASES, "fw"), config: { "phoenix:managementNetwork": "198.51.100.0/24" } });
    expect(plan.resources).toEqual([]);
    expect(plan.errors).toHaveLength(1);
    const lines = plan.errors[0].split("\n");
    expect(lines[0]).toBe("the host firewall would lock Phoenix out:");
    expect(lines.slice(1)).toEqual([
      expect.stringMatching(/^phoenix_hypervisor_config\.json: \$\.shared_volumes\.firewall: .* nothing keeps SSH \(tcp 22\) open from the management network 198\.51\.100\.0\/24 .*management IP set \(192\.0\.2\.0\/24 \(the local network of 192\.0\.2\.13\/24\)\)/),
      expect.stringMatching(/nothing keeps the Proxmox API \(tcp 8006\) open/),
    ]);
  });

  it("refuses without a management network", async () => {
    const plan = await planStack({ stack: "dev", configDir: path.join(CASES, "fw"), config: { "phoenix:managementNetwork": "" } });
    expect(plan.errors.join("\n")).toMatch(/sets no phoenix:managementNetwork/);
  });

  it("accepts the fw case with rules that keep SSH and the API open, and enables the firewall after them", async () => {
    const dir = caseCopy("fw", (host) =>
      host.shared_volumes.firewall.global_firewall_rules.unshift(
        { type: "in", action: "ACCEPT", proto: "tcp", port: "22", source: "192.0.2.0/24", comment: "SSH" },
        { type: "in", action: "ACCEPT", proto: "tcp", port: "8006", source: "192.0.2.0/24", comment: "API" },
      ),
    );
    const plan = await planStack({ stack: "dev", configDir: dir, config: { "phoenix:managementNetwork": "192.0.2.0/24", "phoenix:sshHost": "192.0.2.13" } });
    expect(plan.errors).toEqual([]);
    const rules = byName(plan, "host-firewall-rules", RULES).inputs.rules;
    expect(rules.slice(0, 2).map((r: { dport: string }) => r.dport)).toEqual(["22", "8006"]);
    expect(byName(plan, "host-firewall", CLUSTER).dependsOn).toContain("host-firewall-rules");
  });

  it("a custom phoenix:sshPort must be the one kept open", async () => {
    const plan = await planStack({ stack: "dev", config: { "phoenix:sshPort": "2222" } });
    expect(plan.errors.join("\n")).toMatch(/nothing keeps SSH \(tcp 2222\)/);
  });

  it("accepts the fw case when the stack acknowledges (access kept another way)", async () => {
    const plan = await planStack({ stack: "dev", configDir: path.join(CASES, "fw"), config: ACK });
    expect(plan.errors).toEqual([]);
  });

  it("phoenix plan --json: exit 1 with the guard's lines; with the rules it lists the firewall resources", () => {
    const bin = path.join(repoRoot, "bin", "phoenix.js");
    const refused = spawnSync(process.execPath, [bin, "plan", "--stack", "dev", "--config-dir", path.join(CASES, "fw"), "--json"], { cwd: repoRoot, encoding: "utf8" });
    expect(refused.status).toBe(1);
    expect(refused.stderr).toMatch(/the host firewall would lock Phoenix out/);
    const ok = spawnSync(process.execPath, [bin, "plan", "--stack", "dev", "--json"], { cwd: repoRoot, encoding: "utf8" });
    expect(ok.status, ok.stderr).toBe(0);
    const doc = JSON.parse(ok.stdout);
    const host = doc.resources.find((r: { name: string }) => r.name === "host-firewall");
    expect(host).toMatchObject({ type: CLUSTER, parent: "host" });
    expect(host.dependsOn).toContain("host-firewall-rules");
  });
});

describe("phoenix validate --stack applies the same guard", () => {
  const validate = (...args: string[]) =>
    spawnSync(process.execPath, [path.join(repoRoot, "bin", "phoenix.js"), "validate", ...args], { cwd: repoRoot, encoding: "utf8" });

  it("refuses the fw case for the dev stack, one line per port; without --stack the files alone are valid", () => {
    const r = validate("--config-dir", path.join(CASES, "fw"), "--stack", "dev");
    expect(r.status).toBe(1);
    const lines = r.stderr.trim().split("\n").filter((l) => !l.startsWith("warning: "));
    expect(lines).toHaveLength(3);
    expect(lines[0]).toMatch(/^phoenix_hypervisor_config\.json: \$\.shared_volumes\.firewall: .*SSH \(tcp 22\)/);
    expect(lines[1]).toMatch(/the Proxmox API \(tcp 8006\)/);
    expect(validate("--config-dir", path.join(CASES, "fw")).status).toBe(0);
  });

  it("accepts the prod stack", () => {
    const r = validate("--config-dir", "stacks/prod", "--stack", "prod");
    expect(r.status, r.stderr).toBe(0);
  });
});

describe("VMs", () => {
  it("a VM's firewall plans to vm-<vmid>-firewall-rules and vm-<vmid>-firewall, and firewall=1 on its network device", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-fw-vm-"));
    temp.push(dir);
    for (const f of fs.readdirSync(path.join(repoRoot, "stacks", "dev"))) fs.copyFileSync(path.join(repoRoot, "stacks", "dev", f), path.join(dir, f));
    const file = path.join(dir, "phoenix_vm_configs.json");
    const vms = JSON.parse(fs.readFileSync(file, "utf8"));
    const vm = vms.vms.find((v: { vmid: number }) => v.vmid === 8001);
    vm.firewall = { enabled: true, default_input_policy: "DROP", rules: [{ type: "in", action: "ACCEPT", macro: "https", source: "10.0.0.0/24" }] };
    fs.writeFileSync(file, JSON.stringify(vms));
    const plan = await planStack({ stack: "dev", configDir: dir });
    expect(plan.errors).toEqual([]);
    expect(byName(plan, "vm-8001-firewall-rules", RULES).inputs).toEqual({
      nodeName: "pve",
      vmId: 8001,
      rules: [{ type: "in", action: "ACCEPT", macro: "HTTPS", source: "10.0.0.0/24", enabled: true }],
    });
    const options = byName(plan, "vm-8001-firewall", OPTIONS);
    // VM 8001 takes a static address in the dev files: no DHCP through its firewall.
    expect(options.inputs).toEqual({ nodeName: "pve", vmId: 8001, enabled: true, inputPolicy: "DROP", dhcp: false, macfilter: true, ndp: true, radv: false });
    expect(options.dependsOn).toEqual(expect.arrayContaining(["vm-8001", "vm-8001-firewall-rules"]));
    expect(byName(plan, "vm-8001", "proxmoxve:index/vmLegacy:VmLegacy").inputs.networkDevices[0].firewall).toBe(true);
    expect(byName(plan, "vm-8000", "proxmoxve:index/vmLegacy:VmLegacy").inputs.networkDevices[0].firewall).toBeUndefined();
  });

  it("a guest that takes its address by DHCP lets DHCP through its firewall", async () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-fw-dhcp-"));
    temp.push(dir);
    for (const f of fs.readdirSync(path.join(CASES, "fw"))) fs.copyFileSync(path.join(CASES, "fw", f), path.join(dir, f));
    const file = path.join(dir, "phoenix_lxc_configs.json");
    const lxc = JSON.parse(fs.readFileSync(file, "utf8"));
    lxc.lxc_configs["900"].network_config = { name: "eth0", bridge: "vmbr0", ip: "dhcp" };
    fs.writeFileSync(file, JSON.stringify(lxc));
    const plan = await planStack({ stack: "dev", configDir: dir, config: ACK });
    expect(plan.errors).toEqual([]);
    expect(byName(plan, "ct-900-firewall", OPTIONS).inputs).toMatchObject({ enabled: true, dhcp: true, radv: false });
  });
});

describe("the dev and prod stacks", () => {
  it("keep SSH and the API open from phoenix:managementNetwork, NFS and Samba open to their clients, and plan the host firewall", async () => {
    for (const stack of ["dev", "prod"]) {
      const plan = await planStack({ stack });
      expect(plan.errors, stack).toEqual([]);
      const rules = byName(plan, "host-firewall-rules", RULES).inputs.rules;
      expect(rules.map((r: Record<string, string>) => `${r.action} ${r.proto} ${r.dport} ${r.source}`), stack).toEqual([
        "ACCEPT tcp 22 10.0.0.0/24",
        "ACCEPT tcp 8006 10.0.0.0/24",
        "ACCEPT tcp 2049 10.0.0.0/24",
        "ACCEPT tcp 445 10.0.0.0/24",
      ]);
      // Removing the block leaves the host's firewall as it was: the rules stay with the options.
      expect(byName(plan, "host-firewall-rules", RULES).options.retainOnDelete, stack).toBe(true);
      expect(byName(plan, "host-firewall", CLUSTER).options.retainOnDelete, stack).toBe(false);
    }
  });
});

describe("rules Proxmox already holds", () => {
  const TAKEOVER = "pulumi-nodejs:dynamic/phoenix:host-firewall-takeover";
  const devCopy = (mutate: (lxc: Json) => void) => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-fw-take-"));
    temp.push(dir);
    for (const f of fs.readdirSync(path.join(repoRoot, "stacks", "dev"))) fs.copyFileSync(path.join(repoRoot, "stacks", "dev", f), path.join(dir, f));
    const file = path.join(dir, "phoenix_lxc_configs.json");
    const lxc = JSON.parse(fs.readFileSync(file, "utf8"));
    mutate(lxc);
    fs.writeFileSync(file, JSON.stringify(lxc));
    return dir;
  };
  const rule = (port: string) => ({ type: "in", action: "ACCEPT", proto: "tcp", port, source: "10.0.0.0/24" });

  it("a clone with rules of its own, of a template with rules: the copy is removed first, then its rules are created", async () => {
    const dir = devCopy((lxc) => {
      lxc.lxc_configs["900"].firewall = { enabled: true, default_input_policy: "DROP", rules: [rule("22")] };
      lxc.lxc_configs["901"].firewall = { enabled: true, default_input_policy: "DROP", rules: [rule("8000")] };
    });
    const plan = await planStack({ stack: "dev", configDir: dir });
    expect(plan.errors).toEqual([]);
    const step = byName(plan, "ct-901-firewall-inherited", TAKEOVER);
    expect(step.inputs.params).toEqual({ target: "901", template: "900", phase: "" });
    expect(step.dependsOn).toContain("ct-901");
    expect(byName(plan, "ct-901-firewall-rules", RULES).dependsOn).toContain("ct-901-firewall-inherited");
    // The template itself, and clones without rules of their own (902 keeps 900's copy), have no such step.
    expect(plan.resources.filter((r) => r.type === TAKEOVER).map((r) => r.name)).toEqual(["ct-901-firewall-inherited"]);
  });

  it("phoenix:firewallTakeover: the existing cluster rules move out before the declared rules, and with replace are removed after them", async () => {
    const replace = await planStack({ stack: "dev", config: { "phoenix:firewallTakeover": "replace" } });
    expect(replace.errors).toEqual([]);
    const park = byName(replace, "host-firewall-takeover", TAKEOVER);
    expect(park.inputs.params).toEqual({ target: "cluster", template: "", phase: "park" });
    expect(byName(replace, "host-firewall-rules", RULES).dependsOn).toContain("host-firewall-takeover");
    const unpark = byName(replace, "host-firewall-takeover-replaced", TAKEOVER);
    expect(unpark.inputs.params).toEqual({ target: "cluster", template: "", phase: "unpark" });
    expect(unpark.dependsOn).toContain("host-firewall-rules");
    expect(byName(replace, "host-firewall", CLUSTER).dependsOn).toContain("host-firewall-takeover-replaced");
    const keep = await planStack({ stack: "dev", config: { "phoenix:firewallTakeover": "keep" } });
    expect(keep.resources.filter((r) => r.type === TAKEOVER).map((r) => r.name)).toEqual(["host-firewall-takeover"]);
    const none = await planStack({ stack: "dev" });
    expect(none.resources.filter((r) => r.type === TAKEOVER)).toEqual([]);
  });

  it("validate refuses another phoenix:firewallTakeover value", () => {
    const dir = fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-fw-set-"));
    temp.push(dir);
    fs.mkdirSync(path.join(dir, "qa"));
    for (const f of fs.readdirSync(path.join(repoRoot, "stacks", "dev"))) fs.copyFileSync(path.join(repoRoot, "stacks", "dev", f), path.join(dir, "qa", f));
    fs.writeFileSync(path.join(dir, "Pulumi.qa.yaml"), `${fs.readFileSync(path.join(repoRoot, "stacks", "Pulumi.dev.yaml"), "utf8")}  phoenix:firewallTakeover: adopt\n`);
    const r = spawnSync(process.execPath, [path.join(repoRoot, "bin", "phoenix.js"), "validate", "--config-dir", path.join(dir, "qa")], { cwd: repoRoot, encoding: "utf8" });
    expect(r.status).toBe(1);
    expect(r.stderr).toMatch(/firewallTakeover.*must be replace or keep; got "adopt"/);
  });
});
