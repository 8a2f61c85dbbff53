// The firewall blocks of the users' files (infra/config/firewall.ts): read as the Bash tool's files
// hold them, checked as pve-firewall checks rules (verify_rule, parse_address_list,
// parse_port_name_number_or_range), every error one line `<file>: <json path>: <message>`; and the
// lock-out guard.
import { afterAll, describe, expect, it } from "vitest";
import * as path from "node:path";
import { loadDist } from "../load";
import { DEV_DIR, ERROR_LINE, HOST, LXC, PROD_DIR, VM, cleanTempDirs, load, loadMutated, type Files } from "./helpers";
import { CASES_DIR } from "./cases";

const CASES = CASES_DIR;
const fwLib = () => loadDist<typeof import("../../infra/config/firewall")>("infra/config/firewall");

afterAll(cleanTempDirs);

/** The dev files with `rules` as the host's global rules (and extra host firewall keys). */
function hostRules(rules: unknown[], extra: Record<string, unknown> = {}) {
  return (f: Files) => {
    f.host.shared_volumes.firewall = { enabled: true, default_input_policy: "DROP", default_output_policy: "ACCEPT", global_firewall_rules: rules, ...extra };
  };
}
function errorsOf(r: ReturnType<typeof load>): string[] {
  expect(r.ok).toBe(false);
  const errors = r.ok ? [] : r.errors;
  for (const e of errors) expect(e).toMatch(ERROR_LINE);
  return errors;
}
const RULES = "$.shared_volumes.firewall.global_firewall_rules";

describe("the migration cases", () => {
  it("fw: the host firewall, its global rules and container 900's rules, all kept", () => {
    const r = load(path.join(CASES, "fw"));
    expect(r.ok ? [] : r.errors).toEqual([]);
    // Its guest firewall was never on under the Bash tool: Phoenix says what turning it on drops.
    expect(r.warnings).toEqual([
      `${LXC}: $.lxc_configs["900"].firewall: turns this guest's own firewall on (the Bash tool never did: it wrote guest rules into cluster.fw), with Proxmox's input policy DROP: ` +
        `only what its 2 ACCEPT rules accept (icmp from 192.0.2.0/24; tcp 22 from 192.0.2.0/24) reaches it from then on; set "default_input_policy": "DROP" to confirm, or "ACCEPT" to keep it open and apply the DROP/REJECT rules only`,
    ]);
    const confirmed = loadMutated((f) => (f.lxc.lxc_configs["900"].firewall.default_input_policy = "DROP"), path.join(CASES, "fw"));
    expect(confirmed.warnings).toEqual([]);
    const m = r.ok ? r.model : undefined!;
    expect(m.host.firewall).toMatchObject({ enabled: true, inputPolicy: "DROP", outputPolicy: "ACCEPT" });
    expect(m.host.firewall!.rules.map(({ origin, ...rest }) => rest)).toEqual([
      { type: "in", action: "ACCEPT", proto: "tcp", dport: "443", comment: "HTTPS to the gateway", enabled: true },
      { type: "in", action: "ACCEPT", proto: "tcp", dport: "2049", source: "192.0.2.0/24", dest: "192.0.2.13", comment: "NFS from guests", enabled: true },
      { type: "out", action: "ACCEPT", proto: "tcp", dport: "443", dest: "192.0.2.150", comment: "host to the gateway", enabled: true },
    ]);
    const ct = m.containers.find((c) => c.ctid === 900)!;
    expect(ct.firewall).toMatchObject({ enabled: true });
    expect(ct.firewall!.rules.map((x) => [x.type, x.action, x.proto, x.dport, x.source])).toEqual([
      ["in", "ACCEPT", "icmp", undefined, "192.0.2.0/24"],
      ["in", "ACCEPT", "tcp", "22", "192.0.2.0/24"],
    ]);
  });

  it("s2: container 900's firewall, and the clone 910 gets it as Proxmox copies the .fw file on clone", () => {
    const r = load(path.join(CASES, "s2"));
    expect(r.ok ? [] : r.errors).toEqual([]);
    const m = r.ok ? r.model : undefined!;
    expect(m.host.firewall).toBeUndefined();
    const [t, clone] = [900, 910].map((id) => m.containers.find((c) => c.ctid === id)!);
    expect(t.firewall!.rules).toHaveLength(1);
    expect(clone.firewall).toMatchObject({ enabled: true, inheritedFrom: 900, rules: t.firewall!.rules });
    // s2 has no host firewall: Proxmox would apply none of 900's rules.
    expect(r.warnings.filter((w) => w.includes("firewall"))).toEqual([
      `${LXC}: $.lxc_configs["900"].firewall: has no effect while the host firewall is off: Proxmox filters guests only when the cluster firewall is enabled (shared_volumes.firewall.enabled)`,
    ]);
  });

  it("a clone with rules of its own is told that it gets exactly them (the copy of its template's is removed)", () => {
    const r = loadMutated((f) => {
      f.lxc.lxc_configs["900"].firewall = { enabled: true, rules: [{ type: "in", action: "ACCEPT", proto: "tcp", port: "22", source: "10.0.0.0/24" }] };
      f.lxc.lxc_configs["901"].firewall = { enabled: true, rules: [{ type: "in", action: "ACCEPT", proto: "tcp", port: "8000", source: "10.0.0.0/24" }] };
    });
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.warnings.filter((w) => w.includes("copies"))).toEqual([
      `${LXC}: $.lxc_configs["901"].firewall: Proxmox copies 900's firewall rules on clone; Phoenix removes that copy before creating these, so the clone has exactly its own rules (900's do not apply to it)`,
    ]);
    const m = r.ok ? r.model : undefined!;
    // 902 has no block: it has 900's (copied), 950 (a clone of 901) has 901's.
    expect(m.containers.find((c) => c.ctid === 902)!.firewall).toMatchObject({ inheritedFrom: 900 });
    expect(m.containers.find((c) => c.ctid === 950)!.firewall).toMatchObject({ inheritedFrom: 901 });
  });

  it("base: no firewall anywhere", () => {
    const r = load(path.join(CASES, "base"));
    expect(r.ok && r.model.host.firewall).toBeUndefined();
    expect(r.ok && r.model.containers[0].firewall).toBeUndefined();
  });
});

describe("where the host firewall is written", () => {
  it("a top-level firewall means the same as shared_volumes.firewall", () => {
    const r = loadMutated((f) => {
      f.host.firewall = f.host.shared_volumes.firewall;
      delete f.host.shared_volumes.firewall;
    });
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.ok && r.model.host.firewall).toMatchObject({ enabled: true, inputPolicy: "DROP", origin: `${HOST}: $.firewall` });
  });

  it("both, identical: fine; both, different: one error", () => {
    expect(loadMutated((f) => (f.host.firewall = f.host.shared_volumes.firewall)).ok).toBe(true);
    const errors = errorsOf(loadMutated((f) => (f.host.firewall = { enabled: false })));
    expect(errors).toEqual([`${HOST}: $.firewall: the host firewall is given twice, here and in shared_volumes.firewall, differently; keep one`]);
  });

  it("a block that is not an object is one error of the firewall reader, whichever place holds it (the schema leaves firewall blocks to it)", () => {
    expect(errorsOf(loadMutated((f) => (f.host.shared_volumes.firewall = "on")))).toEqual([
      `${HOST}: $.shared_volumes.firewall: must be an object {enabled, default_input_policy, default_output_policy, global_firewall_rules}; got "on"`,
    ]);
    expect(errorsOf(loadMutated((f) => {
      delete f.host.shared_volumes.firewall;
      f.host.firewall = [];
    }))).toEqual([`${HOST}: $.firewall: must be an object {enabled, default_input_policy, default_output_policy, global_firewall_rules}; got []`]);
  });

  it("policies and enabled are checked", () => {
    const errors = errorsOf(
      loadMutated((f) => Object.assign(f.host.shared_volumes.firewall, { enabled: "yes", default_input_policy: "drop", default_output_policy: "DENY" })),
    );
    expect(errors).toEqual([
      `${HOST}: $.shared_volumes.firewall.enabled: must be true or false; got "yes"`,
      `${HOST}: $.shared_volumes.firewall.default_input_policy: must be ACCEPT, DROP or REJECT; got "drop"`,
      `${HOST}: $.shared_volumes.firewall.default_output_policy: must be ACCEPT, DROP or REJECT; got "DENY"`,
    ]);
  });
});

describe("rules are checked as Proxmox checks them", () => {
  const one = (rule: Record<string, unknown>) => errorsOf(loadMutated(hostRules([rule])));
  const tcp = { type: "in", action: "ACCEPT", proto: "tcp" };

  it("accepts what Proxmox accepts: single ports, ranges a:b, lists, service names, ICMP types, macros, ranges and lists of addresses", () => {
    const r = loadMutated(
      hostRules([
        { ...tcp, port: "22" },
        { ...tcp, port: "8000:8100" },
        { ...tcp, port: "22,80,443", source: "10.0.0.1,10.0.0.2" },
        { ...tcp, port: "ssh", source: "10.0.0.1-10.0.0.10" },
        { type: "in", action: "ACCEPT", proto: "icmp", port: "echo-request" },
        { type: "in", action: "ACCEPT", macro: "ssh", source: "10.0.0.0/24" },
        { type: "out", action: "REJECT", proto: "udp", port: 53, dest: "2001:db8::/32" },
        { type: "in", action: "DROP", proto: "6", sport: "1024:65535", iface: "vmbr0", log: "info" },
      ]),
    );
    expect(r.ok ? [] : r.errors).toEqual([]);
    const rules = r.ok ? r.model.host.firewall!.rules : [];
    expect(rules[5].macro).toBe("SSH");
    expect(rules[6].dport).toBe("53");
  });

  it("actions are ACCEPT, DROP or REJECT in upper case; directions in or out", () => {
    expect(one({ type: "in", action: "accept" })).toEqual([
      `${HOST}: ${RULES}[0].action: must be ACCEPT, DROP or REJECT (upper case, as Proxmox requires); got "accept"`,
    ]);
    expect(one({ type: "inbound", action: "DROP" })).toEqual([`${HOST}: ${RULES}[0].type: must be in or out; got "inbound"`]);
    expect(one({ action: "DROP" })).toEqual([`${HOST}: ${RULES}[0].type: is required: in or out`]);
  });

  it("protocols come from /etc/protocols; ports need a protocol that has them", () => {
    expect(one({ ...tcp, proto: "tcpp" })[0]).toMatch(/\.proto: unknown protocol "tcpp"/);
    expect(one({ type: "in", action: "ACCEPT", port: "22" })[0]).toMatch(/\.proto: is required when port is given/);
    expect(one({ type: "in", action: "ACCEPT", proto: "gre", port: "22" })[0]).toMatch(/\.port: protocol 'gre' does not support ports/);
  });

  it("port syntax: a:b ranges forwards, at most 65535, at most 15 numbers, no dash ranges", () => {
    expect(one({ ...tcp, port: "8000-8100" })).toEqual([
      `${HOST}: ${RULES}[0].port: invalid port '8000-8100': Proxmox writes ranges with a colon, e.g. 8000:8100`,
    ]);
    expect(one({ ...tcp, port: "70000" })[0]).toMatch(/invalid port '70000'/);
    expect(one({ ...tcp, port: "100:90" })[0]).toMatch(/backwards range '100:90' not allowed/);
    expect(one({ ...tcp, port: "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16" })[0]).toMatch(/too many entries in port list/);
    expect(one({ ...tcp, port: "22,,80" })[0]).toMatch(/extraneous commas/);
    expect(one({ ...tcp, port: "nosuchservice" })[0]).toMatch(/invalid port 'nosuchservice'/);
  });

  it("addresses: networks without host bits, no mixed IP versions, ranges only alone", () => {
    expect(one({ ...tcp, source: "10.0.0.5/24" })[0]).toMatch(/has host bits set .*did you mean 10\.0\.0\.0\/24\?/);
    expect(one({ ...tcp, source: "10.0.0.0/33" })[0]).toMatch(/invalid prefix length/);
    expect(one({ ...tcp, source: "10.0.0.1,2001:db8::1" })[0]).toMatch(/mixed ipv4\/ipv6/);
    expect(one({ ...tcp, source: "10.0.0.1-10.0.0.5,10.0.0.9" })[0]).toMatch(/you can't use a range in a list/);
    expect(one({ ...tcp, source: "10.0.0.1", dest: "2001:db8::1" })).toEqual([`${HOST}: ${RULES}[0]: detected mixed ipv4/ipv6 addresses in rule`]);
    expect(one({ ...tcp, source: "10.0.0.1; rm -rf /" })[0]).toMatch(/\.source: must be a string without spaces/);
  });

  it("IP sets and aliases must exist; declared ones may be used", () => {
    expect(one({ ...tcp, source: "+blocked" })).toEqual([`${HOST}: ${RULES}[0].source: no such ipset 'blocked' (declare it in the host firewall's ipsets)`]);
    expect(one({ ...tcp, dest: "gateway" })[0]).toMatch(/\.dest: no such alias 'gateway'/);
    const r = loadMutated(hostRules([{ ...tcp, source: "+admins", dest: "gateway" }], { aliases: { gateway: "10.0.0.1" }, ipsets: { admins: ["10.0.0.0/24", "!10.0.0.66"] } }));
    expect(r.ok ? [] : r.errors).toEqual([]);
    expect(r.ok && r.model.host.firewall!.ipsets).toEqual([{ name: "admins", entries: [{ cidr: "10.0.0.0/24", nomatch: false }, { cidr: "10.0.0.66", nomatch: true }] }]);
  });

  it("macros are Proxmox's; a misspelt key is an error, never a silently wider rule", () => {
    expect(one({ type: "in", action: "ACCEPT", macro: "Secure-Shell" })[0]).toMatch(/\.macro: unknown macro "Secure-Shell"/);
    expect(one({ ...tcp, port: "22", sorce: "10.0.0.0/24" })[0]).toMatch(/\.sorce: unknown key in a firewall rule/);
  });

  it("host interfaces are names Proxmox accepts (pve_verify_iface)", () => {
    expect(loadMutated(hostRules([{ ...tcp, iface: "vmbr0.10" }])).ok).toBe(true);
    expect(one({ ...tcp, iface: "br-lan" })[0]).toMatch(/\.iface: invalid network interface name "br-lan"/);
  });

  it("a comment is one line", () => {
    expect(one({ ...tcp, comment: "two\nlines" })[0]).toMatch(/\.comment: must be one line of text/);
  });

  it("guest rules: errors name the guest's file and path; interfaces are net<N>", () => {
    const r = loadMutated((f) => {
      f.lxc.lxc_configs["900"].firewall = { enabled: true, rules: [{ type: "in", action: "ACCEPT", iface: "eth0" }] };
      f.vm.vms[1].firewall = { rules: [{ type: "out", action: "ACCEPT", proto: "udp", port: "53:52" }] };
    });
    expect(errorsOf(r)).toEqual([
      `${LXC}: $.lxc_configs["900"].firewall.rules[0].iface: must name the guest's interface as Proxmox does (net0, net1, ...); got "eth0"`,
      `${VM}: $.vms[1].firewall.rules[0].port: backwards range '53:52' not allowed, did you mean '52:53'?`,
    ]);
  });
});

describe("the lock-out guard", () => {
  const fw = (rules: Record<string, unknown>[], policy = "DROP") => {
    const r = loadMutated(hostRules(rules, { default_input_policy: policy }));
    expect(r.ok ? [] : r.errors).toEqual([]);
    return r.ok ? r.model.host.firewall! : undefined!;
  };
  // A management network outside the host's local network (10.0.0.0/24): Proxmox's own rules do not cover it.
  const access = { sshHost: "10.0.0.13", sshPort: 22, managementNetwork: "192.168.50.0/24", acknowledged: false };
  const guard = (f: ReturnType<typeof fw>, a: Partial<Parameters<ReturnType<typeof fwLib>["firewallLockout"]>[2]> = {}) => fwLib().firewallLockout(f, "10.0.0.13/24", { ...access, ...a });
  const ssh = { type: "in", action: "ACCEPT", proto: "tcp", port: "22", source: "192.168.50.0/24" };
  const api = { type: "in", action: "ACCEPT", proto: "tcp", port: "8006", source: "192.168.50.0/24" };

  it("refuses a dropping host firewall without a management network", () => {
    const errors = guard(fw([ssh, api]), { managementNetwork: undefined });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toMatch(/^phoenix_hypervisor_config\.json: \$\.shared_volumes\.firewall: .*sets no phoenix:managementNetwork/);
  });

  it("refuses when SSH or the API is not kept open, naming the rule to add", () => {
    expect(guard(fw([]))).toHaveLength(2);
    const errors = guard(fw([ssh]));
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("nothing keeps the Proxmox API (tcp 8006) open from the management network 192.168.50.0/24");
    expect(errors[0]).toContain(`{"type": "in", "action": "ACCEPT", "proto": "tcp", "port": "8006", "source": "192.168.50.0/24"}`);
    expect(guard(fw([api]))[0]).toContain("nothing keeps SSH (tcp 22)");
  });

  it("accepts rules that keep SSH and the API open (ports, lists, ranges, macros, wider sources, no source)", () => {
    expect(guard(fw([ssh, api]))).toEqual([]);
    expect(guard(fw([{ type: "in", action: "ACCEPT", proto: "tcp", port: "22,8006", source: "192.168.0.0/16" }]))).toEqual([]);
    expect(guard(fw([{ type: "in", action: "ACCEPT", macro: "SSH" }, { type: "in", action: "ACCEPT", proto: "tcp", port: "8000:8010", dest: "10.0.0.13" }]))).toEqual([]);
    expect(guard(fw([{ type: "in", action: "ACCEPT", source: "192.168.50.0/24" }]))).toEqual([]);
  });

  it("with an SSH bastion, SSH must be open from it too", () => {
    const errors = guard(fw([ssh, api]), { bastionHost: "192.168.7.7" });
    expect(errors).toHaveLength(1);
    expect(errors[0]).toContain("nothing keeps SSH (tcp 22) open from the bastion 192.168.7.7");
    expect(errors[0]).toContain(`"source": "192.168.7.7"`);
    expect(guard(fw([ssh, api, { ...ssh, source: "192.168.7.7" }]), { bastionHost: "192.168.7.7" })).toEqual([]);
    // A bastion given by name cannot be checked (and is not guessed).
    expect(guard(fw([ssh, api]), { bastionHost: "jump.example.internal" })).toEqual([]);
  });

  it("follows the stack's SSH port", () => {
    expect(guard(fw([ssh, api]), { sshPort: 2222 })[0]).toContain("SSH (tcp 2222)");
    expect(guard(fw([{ ...ssh, port: "2222" }, api]), { sshPort: 2222 })).toEqual([]);
  });

  it("does not count rules that miss part of the management network or the host, or come after a DROP", () => {
    expect(guard(fw([{ ...ssh, source: "192.168.50.0/25" }, api]))).toHaveLength(1);
    expect(guard(fw([{ ...ssh, dest: "10.0.0.14" }, api]))).toHaveLength(1);
    expect(guard(fw([{ ...ssh, iface: "vmbr1" }, api]))).toHaveLength(1);
    expect(guard(fw([{ ...ssh, enabled: false }, api]))).toHaveLength(1);
    expect(guard(fw([{ ...ssh, type: "out" }, api]))).toHaveLength(1);
    const blocked = guard(fw([{ type: "in", action: "DROP", proto: "tcp", port: "22", source: "192.168.50.128/25" }, ssh, api]));
    expect(blocked).toHaveLength(1);
    expect(blocked[0]).toMatch(/global_firewall_rules\[0\] \(DROP\) comes first/);
    // A DROP for other sources first does not matter.
    expect(guard(fw([{ type: "in", action: "DROP", proto: "tcp", port: "22", source: "172.16.0.0/12" }, ssh, api]))).toEqual([]);
  });

  it("resolves aliases and IP sets (an IP set with nomatch entries does not cover the whole network)", () => {
    const f = (source: string) =>
      loadMutated(hostRules([{ ...ssh, source }, api], { aliases: { mgmt: "192.168.50.0/24" }, ipsets: { admins: ["mgmt"], some: ["192.168.50.0/24", "!192.168.50.66"] } }));
    for (const [source, count] of [["mgmt", 0], ["+admins", 0], ["+some", 1]] as const) {
      const r = f(source);
      expect(r.ok ? [] : r.errors).toEqual([]);
      expect(guard(r.ok ? r.model.host.firewall! : undefined!), source).toHaveLength(count);
    }
  });

  it("counts what Proxmox keeps open: 22 and 8006 from its management IP set, which holds the node's local network", () => {
    const local = { managementNetwork: "10.0.0.0/24" };
    // Inside the host's local network (from the host file's 10.0.0.13/24) nothing is at risk.
    expect(guard(fw([]), local)).toEqual([]);
    expect(guard(fw([]), { managementNetwork: "10.0.0.64/26" })).toEqual([]);
    // Only 22 and the other management ports: SSH on another port is at risk, and the message says which ports from where.
    const moved = guard(fw([]), { ...local, sshPort: 2222 });
    expect(moved).toHaveLength(1);
    expect(moved[0]).toContain("nothing keeps SSH (tcp 2222) open from the management network 10.0.0.0/24");
    expect(moved[0]).toContain("Proxmox's own rules accept only tcp 8006, 5900:5999, 3128, 22, 60000:60050 from its management IP set (10.0.0.0/24 (the local network of 10.0.0.13/24))");
    // A network wider than the local one is not covered.
    expect(guard(fw([]), { managementNetwork: "10.0.0.0/16" })).toHaveLength(2);
    // The users' rules come first: a DROP rule for the local network wins over Proxmox's own rules.
    const dropped = guard(fw([{ type: "in", action: "DROP", proto: "tcp", port: "22", source: "10.0.0.0/8" }]), local);
    expect(dropped).toHaveLength(1);
    expect(dropped[0]).toMatch(/global_firewall_rules\[0\] \(DROP\) comes first/);
    // Without the host's address the local network is unknown and not counted.
    expect(fwLib().firewallLockout(fw([]), undefined, { ...access, ...local })).toHaveLength(2);
  });

  it("counts a declared management IP set and a declared local_network alias as Proxmox does", () => {
    const withSet = loadMutated(hostRules([], { ipsets: { management: ["192.168.50.0/24"] } }));
    expect(withSet.ok ? [] : withSet.errors).toEqual([]);
    expect(guard(withSet.ok ? withSet.model.host.firewall! : undefined!)).toEqual([]);
    const withAlias = loadMutated(hostRules([], { aliases: { local_network: "192.168.50.0/24" } }));
    expect(guard(withAlias.ok ? withAlias.model.host.firewall! : undefined!)).toEqual([]);
    // The alias replaces the node's own network: 10.0.0.0/24 is then not in the management set.
    expect(guard(withAlias.ok ? withAlias.model.host.firewall! : undefined!, { managementNetwork: "10.0.0.0/24" })).toHaveLength(2);
  });

  it("lets the stack acknowledge, and leaves ACCEPT policies and disabled firewalls alone", () => {
    expect(guard(fw([]), { acknowledged: true })).toEqual([]);
    expect(guard(fw([], "ACCEPT"))).toEqual([]);
    expect(guard(fw([], "REJECT"))).toHaveLength(2);
    expect(guard({ ...fw([]), enabled: false })).toEqual([]);
    expect(fwLib().firewallLockout(undefined, undefined, access)).toEqual([]);
  });
});

describe("NFS and Samba behind the host firewall", () => {
  const services = (r: ReturnType<typeof load>) => r.warnings.filter((w) => /NFS \(tcp 2049\)|Samba \(tcp 445\)/.test(w));
  const without = (ports: string[]) => (f: Files) => {
    const fw = f.host.shared_volumes.firewall as { global_firewall_rules: { port?: string }[] };
    fw.global_firewall_rules = fw.global_firewall_rules.filter((r) => !ports.includes(String(r.port)));
  };

  it("the dev and prod examples keep their NFS and Samba clients (no warning)", () => {
    for (const stack of ["dev", "prod"]) {
      const r = load(stack === "dev" ? DEV_DIR : PROD_DIR);
      expect(r.ok).toBe(true);
      expect(services(r), stack).toEqual([]);
    }
  });

  it("warns for each NFS client and the Samba clients a dropping firewall cuts off, with the exact rule to add", () => {
    const r = loadMutated(without(["2049", "445"]));
    expect(r.ok).toBe(true);
    expect(services(r)).toEqual([
      `${HOST}: $.nfs.exports[0].clients[0]: the host firewall drops input (default_input_policy DROP) and no rule accepts NFS (tcp 2049) from 10.0.0.101: it cannot mount /quickOS/vm-persistent-data; add a global_firewall_rules entry {"type": "in", "action": "ACCEPT", "proto": "tcp", "port": "2049", "source": "10.0.0.101", "comment": "NFS /quickOS/vm-persistent-data"}`,
      `${HOST}: $.nfs.exports[0].clients[1]: the host firewall drops input (default_input_policy DROP) and no rule accepts NFS (tcp 2049) from 10.0.0.0/24: it cannot mount /quickOS/vm-persistent-data; add a global_firewall_rules entry {"type": "in", "action": "ACCEPT", "proto": "tcp", "port": "2049", "source": "10.0.0.0/24", "comment": "NFS /quickOS/vm-persistent-data"}`,
      `${HOST}: $.samba.shares: the host firewall drops input (default_input_policy DROP) and no rule accepts Samba (tcp 445) from 10.0.0.0/24 (network.default_subnet): its clients cannot reach the shares; add a global_firewall_rules entry {"type": "in", "action": "ACCEPT", "proto": "tcp", "port": "445", "source": "10.0.0.0/24", "comment": "Samba"}`,
    ]);
    // The rules the warnings name are enough: added as given, nothing is left to warn about.
    const added = loadMutated((f) => {
      without(["2049", "445"])(f);
      const rules = (f.host.shared_volumes.firewall as { global_firewall_rules: unknown[] }).global_firewall_rules;
      for (const w of services(r)) rules.push(JSON.parse(/add a global_firewall_rules entry (\{.*\})$/.exec(w)![1]));
    });
    expect(added.ok ? services(added) : added.errors).toEqual([]);
  });

  it("a DROP rule before the ACCEPT is named; an ACCEPT policy or a firewall that is off needs nothing", () => {
    const dropped = loadMutated((f) => {
      (f.host.shared_volumes.firewall as { global_firewall_rules: unknown[] }).global_firewall_rules.unshift({ type: "in", action: "DROP", proto: "tcp", port: "2049", source: "10.0.0.96/28" });
    });
    expect(services(dropped)).toEqual([expect.stringMatching(/no rule accepts NFS \(tcp 2049\) from 10\.0\.0\.101: .*global_firewall_rules\[0\] \(DROP\) comes first/), expect.stringMatching(/from 10\.0\.0\.0\/24: .*\(DROP\) comes first/)]);
    expect(services(loadMutated((f) => { without(["2049", "445"])(f); (f.host.shared_volumes.firewall as Record<string, unknown>).default_input_policy = "ACCEPT"; }))).toEqual([]);
    expect(services(loadMutated((f) => { without(["2049", "445"])(f); (f.host.shared_volumes.firewall as Record<string, unknown>).enabled = false; }))).toEqual([]);
  });
});
