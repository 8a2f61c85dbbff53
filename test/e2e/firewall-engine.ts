// The engine stand-in's part for the Proxmox firewall (hooked into lxc-engine.ts): what the
// proxmoxve provider's firewall resources do through the Proxmox API, carried out against the
// emulated host's `/etc/pve/firewall/` files in pve-firewall's own format, refusing what the API
// refuses. Written from proxmox/pve-firewall src/PVE/Firewall.pm and src/PVE/API2/Firewall/*.pm:
//   - files: generic_fw_config_parser reads `[OPTIONS]`, `[ALIASES]`, `[IPSET name]`, `[RULES]`,
//     `[group name]` sections; save_clusterfw_conf / save_vmfw_conf write options, aliases, IP sets,
//     rules, groups in that order (format_options, format_aliases, format_ipsets, format_rules);
//   - rules: the API's create_rule runs verify_rule (type, action, macro, proto from /etc/protocols,
//     ports from /etc/services, addresses through Net::IP, IP sets and aliases that must exist,
//     `net\d+` interfaces for guests) and inserts at position 0 (`unshift`) unless `pos` is given;
//   - guests: /nodes/{node}/{lxc,qemu}/{vmid}/firewall/* need the guest's config to exist.
// The provider's side, as @muhlba91/pulumi-proxmoxve 8.6.0 bridges it (bpg/terraform-provider-proxmox
// v0.111.x, proxmoxtf/resource/firewall/rules.go; the rule list has not been ForceNew since v0.87.0):
//   - RulesCreate lists the target's rules first and refuses with "Existing rules detected.
//     Aborting..." when there are any (a clone's copied <vmid>.fw, a cluster.fw written by hand or
//     by another tool); otherwise it POSTs the rules last-first (each lands at position 0), then
//     reads back ALL rules of the target (RulesRead), positions included;
//   - RulesUpdate changes the list in place: each desired rule is matched to a rule of the old state
//     by its signature (computeRuleSignature: type, action, dest, dport, source, sport, proto, macro,
//     iface; not comment, enable, log), unmatched ones are POSTed (position 0); then every desired
//     rule is moved to its position (PUT moveto, found by signature at or after that position), the
//     matched ones get their other fields PUT in place (emptied fields in `delete`), and the rules
//     left below the desired list are deleted, the last first;
//   - RulesDelete deletes the positions of its state, highest first, skipping a position that no
//     longer holds a rule (whatever rule is there is deleted).
// Every API call here is one locked read-change-write of the file, as in pve-firewall's
// API2/Firewall/Rules.pm (create_rule: unshift; update_rule: moveto or copy_rule_data +
// delete_rule_properties + verify_rule; delete_rule: splice); `firewallTrace()` holds the target's
// rule list after each call, so tests can check what the host had in between.
// Addresses are judged by the real Net::IP (libnet-ip-perl, test/host/install-tools.sh), protocol
// and service names by the test host's /etc/protocols and /etc/services, as on Proxmox.
import { loadDist } from "../load";
import type { TestHost } from "../host/sshd";
import type { PropertyBag } from "../../infra/cli/plan";
import type { SshSession } from "../../providers/ssh/types";

/** The provider's firewall resource types this stand-in carries out, and Phoenix's takeover step
 *  (a dynamic resource: the engine runs its serialized provider against the test host). */
export const FIREWALL_TYPES =
  /^(?:proxmoxve:(?:firewall\/(?:rulesLegacy:RulesLegacy|optionsLegacy:OptionsLegacy|aliasLegacy:AliasLegacy|ipsetLegacy:IpsetLegacy)|cluster\/firewallLegacy:FirewallLegacy)|pulumi-nodejs:dynamic\/phoenix:host-firewall-takeover)$/;

const FW_DIR = "/etc/pve/firewall";

/** pve-firewall's macro names ($pve_fw_macros, $pve_ipv6fw_macros); lookups are case-insensitive. */
const MACROS = `Amanda Auth BGP BitTorrent BitTorrent32 CVS Ceph Citrix DAAP DCC DHCPfwd DHCPv6 DNS Distcc FTP Finger
GNUnet GRE Git HKP HTTP HTTPS ICPV2 ICQ IMAP IMAPS IPIP IPsec IPsecah IPsecnat IRC Jetdirect L2TP LDAP LDAPS MDNS MSNP
MSSQL Mail Munin MySQL NNTP NNTPS NTP NeighborDiscovery OSPF OpenVPN PCA PMG POP3 POP3S PPtP Ping PostgreSQL Printer RDP
RIP RNDC Razor Rdate Rsync SANE SMB SMBswat SMTP SMTPS SNMP SPAMD SPICEproxy SSH SVN SixXS Squid Submission Syslog TFTP
Telnet Telnets Time Trcrt VNC VNCL Web Webcache Webmin Whois`.split(/\s+/);
const ICMP_TYPES = new Set(["any", "echo-reply", "echo-request", "destination-unreachable", "port-unreachable", "time-exceeded", "redirect", "source-quench", "parameter-problem"]);
const PROTOCOLS_WITH_PORTS = new Set(["udp", "17", "udplite", "136", "tcp", "6", "dccp", "33", "sctp", "132"]);
const NAME = /^[A-Za-z][A-Za-z0-9_-]+$/;

/** One rule as the API and the files hold it. */
interface Rule {
  type: string;
  action: string;
  enable: boolean;
  macro?: string;
  iface?: string;
  source?: string;
  dest?: string;
  proto?: string;
  dport?: string;
  sport?: string;
  log?: string;
  comment?: string;
}

/** A parsed .fw file. */
interface FwConf {
  options: Map<string, string>;
  aliases: Map<string, { name: string; cidr: string; comment?: string }>;
  ipsets: Map<string, { entries: { cidr: string; nomatch: boolean; comment?: string }[]; comment?: string }>;
  rules: Rule[];
  /** `[group name]` sections, kept as their raw lines. */
  groups: Map<string, string[]>;
}

/** parse_fw_rule's reading of one `[RULES]` line. */
export function parseRuleLine(line: string): Rule {
  let rest = line;
  let comment: string | undefined;
  const c = /#\s*(.*?)\s*$/.exec(rest);
  if (c) {
    comment = c[1];
    rest = rest.slice(0, c.index);
  }
  const enable = !rest.startsWith("|");
  if (!enable) rest = rest.slice(1);
  const head = /^(\S+)\s+(\S+)\s*/.exec(rest);
  if (!head) throw new Error(`unable to parse rule: ${line}`);
  rest = rest.slice(head[0].length);
  const rule: Rule = { type: head[1].toLowerCase(), action: head[2], enable };
  const macro = /^(\S+)\((ACCEPT|DROP|REJECT)\)$/.exec(rule.action);
  if (macro) [rule.macro, rule.action] = [macro[1], macro[2]];
  const flags: Record<string, keyof Rule> = { "-i": "iface", "-p": "proto", "-dport": "dport", "-sport": "sport", "-source": "source", "-dest": "dest", "-log": "log" };
  while (rest.length) {
    const m = /^(\S+) (\S+)\s*/.exec(rest);
    const key = m && flags[m[1]];
    if (!m || !key) throw new Error(`unable to parse rule parameters: ${rest}`);
    (rule as Record<keyof Rule, unknown>)[key] = m[2];
    rest = rest.slice(m[0].length);
  }
  if (comment) rule.comment = comment;
  return rule;
}

/** format_rules' line for one rule. */
export function formatRuleLine(r: Rule, allowIface: boolean): string {
  let raw = `${r.enable ? "" : "|"}${r.type.toUpperCase()} ${r.macro ? `${r.macro}(${r.action})` : r.action}`;
  if (allowIface && r.iface) raw += ` -i ${r.iface}`;
  if (r.source) raw += ` -source ${r.source}`;
  if (r.dest) raw += ` -dest ${r.dest}`;
  if (r.proto) raw += ` -p ${r.proto}`;
  if (r.dport) raw += ` -dport ${r.dport}`;
  if (r.sport) raw += ` -sport ${r.sport}`;
  if (r.log) raw += ` -log ${r.log}`;
  if (r.comment && !/^\s*$/.test(r.comment)) raw += ` # ${r.comment}`;
  return raw;
}

/** generic_fw_config_parser, enough of it for the sections Phoenix writes (and groups kept as they are). */
export function parseFw(text: string): FwConf {
  const conf: FwConf = { options: new Map(), aliases: new Map(), ipsets: new Map(), rules: [], groups: new Map() };
  let section: "options" | "aliases" | "ipset" | "rules" | "group" | undefined;
  let name = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (line === "" || line.startsWith("#")) continue;
    let m: RegExpExecArray | null;
    if (/^\[options\]$/i.test(line)) section = "options";
    else if (/^\[aliases\]$/i.test(line)) section = "aliases";
    else if (/^\[rules\]$/i.test(line)) section = "rules";
    else if ((m = /^\[ipset\s+(\S+)\]\s*(?:#\s*(.*?)\s*)?$/i.exec(line))) {
      section = "ipset";
      name = m[1].toLowerCase();
      conf.ipsets.set(name, { entries: [], ...(m[2] ? { comment: m[2] } : {}) });
    } else if ((m = /^\[group\s+(\S+)\]/i.exec(line))) {
      section = "group";
      name = m[1].toLowerCase();
      conf.groups.set(name, [line]);
    } else if (section === "options") {
      const o = /^([a-z_]+):\s*(.*?)\s*$/i.exec(line);
      if (!o) throw new Error(`can't parse option '${line}'`);
      conf.options.set(o[1].toLowerCase(), o[2]);
    } else if (section === "aliases") {
      const a = /^(\S+)\s+(\S+)\s*(?:#\s*(.*?)\s*)?$/.exec(line);
      if (!a) throw new Error(`can't parse alias '${line}'`);
      conf.aliases.set(a[1].toLowerCase(), { name: a[1], cidr: a[2], ...(a[3] ? { comment: a[3] } : {}) });
    } else if (section === "ipset") {
      const e = /^(!?)\s*(\S+)\s*(?:#\s*(.*?)\s*)?$/.exec(line)!;
      conf.ipsets.get(name)!.entries.push({ cidr: e[2], nomatch: e[1] === "!", ...(e[3] ? { comment: e[3] } : {}) });
    } else if (section === "rules") conf.rules.push(parseRuleLine(line));
    else if (section === "group") conf.groups.get(name)!.push(line);
    else throw new Error(`skip line - no section: ${line}`);
  }
  return conf;
}

/** save_clusterfw_conf / save_vmfw_conf: options, aliases, IP sets, rules, groups. */
export function formatFw(conf: FwConf): string {
  let raw = "";
  if (conf.options.size) {
    raw += "[OPTIONS]\n\n";
    for (const [k, v] of [...conf.options].sort(([a], [b]) => (a < b ? -1 : 1))) raw += `${k}: ${v}\n`;
    raw += "\n";
  }
  if (conf.aliases.size) {
    raw += "[ALIASES]\n\n";
    for (const [, a] of [...conf.aliases].sort(([a], [b]) => (a < b ? -1 : 1))) raw += `${a.name} ${a.cidr}${a.comment ? ` # ${a.comment}` : ""}\n`;
    raw += "\n";
  }
  for (const [name, set] of [...conf.ipsets].sort(([a], [b]) => (a < b ? -1 : 1))) {
    raw += `[IPSET ${name}]${set.comment ? ` # ${set.comment}` : ""}\n\n`;
    for (const e of [...set.entries].sort((a, b) => (a.cidr < b.cidr ? -1 : 1))) raw += `${e.nomatch ? "!" : ""}${e.cidr}${e.comment ? ` # ${e.comment}` : ""}\n`;
    raw += "\n";
  }
  if (conf.rules.length) {
    raw += "[RULES]\n\n";
    for (const r of conf.rules) raw += `${formatRuleLine(r, true)}\n`;
    raw += "\n";
  }
  for (const [, lines] of conf.groups) raw += `${lines[0]}\n\n${lines.slice(1).join("\n")}\n\n`;
  return raw;
}

interface Where {
  /** `cluster.fw` or `<vmid>.fw`. */
  file: string;
  /** verify_rule's rule_env. */
  env: "cluster" | "ct" | "vm";
  vmid?: number;
  /** The guest's node (its nodeName input). */
  node?: string;
}

function where(inputs: PropertyBag): Where {
  const node = inputs.nodeName === undefined ? undefined : String(inputs.nodeName);
  if (typeof inputs.containerId === "number") return { file: `${inputs.containerId}.fw`, env: "ct", vmid: inputs.containerId, node };
  if (typeof inputs.vmId === "number") return { file: `${inputs.vmId}.fw`, env: "vm", vmid: inputs.vmId, node };
  if (inputs.nodeName) throw new Error("node-level (host.fw) firewall resources are not emulated");
  return { file: "cluster.fw", env: "cluster" };
}

/** Engine state entry (lxc-engine.ts). */
export interface StateEntry {
  id: string;
  inputs: PropertyBag;
  outs: PropertyBag;
}

/** What the host offers verify_rule: /etc/protocols, /etc/services, and Net::IP for addresses. */
class HostFacts {
  private constructor(
    readonly protocols: Map<string, string>,
    readonly protocolIds: Set<string>,
    readonly services: Set<string>,
  ) {}

  static async read(session: SshSession): Promise<HostFacts> {
    const protocols = new Map<string, string>();
    const ids = new Set<string>();
    for (const line of (await session.check("cat /etc/protocols", { purpose: "read /etc/protocols" })).stdout.split("\n")) {
      const m = /^(\S+)\s+(\d+)(?:\s|$)/.exec(line);
      if (m && !line.startsWith("#")) {
        protocols.set(m[1], m[2]);
        ids.add(m[2]);
      }
    }
    protocols.set("icmpv6", "icmpv6");
    const services = new Set<string>();
    for (const line of (await session.check("cat /etc/services", { purpose: "read /etc/services" })).stdout.split("\n")) {
      const m = /^(\S+)\s+(\S+)\/(tcp|udp|sctp)/.exec(line);
      if (m && !line.startsWith("#")) services.add(m[1]);
    }
    return new HostFacts(protocols, ids, services);
  }
}

/** Net::IP's verdict on each address element (`ok 4`, `ok 6` or its error), in one perl run. */
async function netIp(session: SshSession, elements: string[]): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  if (elements.length === 0) return out;
  const script = 'use Net::IP; while (my $l = <STDIN>) { chomp $l; my $ip = Net::IP->new($l); print $ip ? "ok " . $ip->version() . "\\n" : "error " . Net::IP::Error() . "\\n"; }';
  const shq = loadDist<typeof import("../../providers/ssh/index")>("providers/ssh/index").shellQuote as (s: string) => string;
  const r = await session.check(`perl -e ${shq(script)}`, { stdin: `${elements.join("\n")}\n`, purpose: "Net::IP" });
  const lines = r.stdout.split("\n");
  elements.forEach((e, i) => out.set(e, lines[i]));
  return out;
}

/** verify_rule (Firewall.pm) for a rule the API is asked to create; throws the API's 400 message. */
async function verifyRule(session: SshSession, facts: HostFacts, rule: Rule, env: Where["env"], cluster: FwConf, own: FwConf | undefined): Promise<Rule> {
  const errors: string[] = [];
  const err = (param: string, msg: string) => errors.push(`${param}: ${msg}`);
  if (!["in", "out"].includes(rule.type)) err("type", `invalid rule type '${rule.type}' for rule_env '${env}'`);
  if (!/^(ACCEPT|DROP|REJECT)$/.test(rule.action)) err("action", `unknown action '${rule.action}'`);
  // pve-common PVE::JSONSchema::pve_verify_iface, then `net\d+` for guests.
  if (rule.iface && !/^[a-z][a-z0-9_]{1,20}([:.]\d+)?$/i.test(rule.iface)) err("iface", `invalid network interface name '${rule.iface}'`);
  else if (rule.iface && env !== "cluster" && !/^net\d+$/.test(rule.iface)) err("iface", "value does not match the regex pattern 'net\\d+'");
  if (rule.macro) {
    const preferred = MACROS.find((m) => m.toLowerCase() === rule.macro!.toLowerCase());
    if (preferred) rule.macro = preferred;
    else err("macro", `unknown macro '${rule.macro}'`);
  }
  const isIcmp = rule.proto === "icmp" || rule.proto === "icmpv6" || rule.proto === "ipv6-icmp";
  if (rule.proto && !facts.protocols.has(rule.proto) && !facts.protocolIds.has(rule.proto)) err("proto", `unknown protocol '${rule.proto}'`);
  const ports = (param: "dport" | "sport", value: string) => {
    const items = value.split(",");
    if (items.some((i) => i === "")) return err(param, "extraneous commas in list");
    let count = 0;
    for (const item of items) {
      let m: RegExpExecArray | null;
      if ((m = /^([0-9]+):([0-9]+)$/.exec(item))) {
        count += 2;
        if (Number(m[1]) > 65535 || Number(m[2]) > 65535) return err(param, `invalid port '${item}'`);
        if (Number(m[1]) > Number(m[2])) return err(param, `backwards range '${item}' not allowed`);
      } else if (/^[0-9]+$/.test(item)) {
        count += 1;
        if (Number(item) > 65535) return err(param, `invalid port '${item}'`);
      } else if (!(param === "dport" && isIcmp && ICMP_TYPES.has(item)) && !facts.services.has(item)) {
        return err(param, `invalid port '${item}'`);
      }
    }
    if (count > 15) err(param, "too many entries in port list (> 15 numbers)");
    if (!rule.proto) err("proto", `missing property - '${param}' requires this property`);
    else if (!PROTOCOLS_WITH_PORTS.has(rule.proto) && !(param === "dport" && isIcmp)) err(param, `protocol '${rule.proto}' does not support ports`);
  };
  if (rule.dport) ports("dport", rule.dport);
  if (rule.sport) ports("sport", rule.sport);

  const versions = new Set<string>();
  if (rule.proto === "icmp") versions.add("4");
  if (rule.proto === "icmpv6" || rule.proto === "ipv6-icmp") versions.add("6");
  for (const param of ["source", "dest"] as const) {
    const value = rule[param];
    if (!value) continue;
    const set = /^\+(?:(?:guest|dc)\/)?(\S+)$/.exec(value);
    if (set) {
      if (!cluster.ipsets.has(set[1].toLowerCase()) && !own?.ipsets.has(set[1].toLowerCase())) err(param, `no such ipset '${set[1]}'`);
      continue;
    }
    const alias = /^(?:(?:dc|guest)\/)?([A-Za-z][A-Za-z0-9_-]+)$/.exec(value);
    if (alias) {
      const a = cluster.aliases.get(alias[1].toLowerCase()) ?? own?.aliases.get(alias[1].toLowerCase());
      if (!a) err(param, `no such alias '${value}'`);
      else versions.add(a.cidr.includes(":") ? "6" : "4");
      continue;
    }
    const elements = value.split(",");
    if (elements.some((e) => e === "")) {
      err(param, "extraneous commas in list");
      continue;
    }
    const verdicts = await netIp(session, elements);
    const vs = new Set<string>();
    for (const e of elements) {
      const v = verdicts.get(e) ?? "error";
      if (!v.startsWith("ok ")) err(param, `invalid IP address: ${v.replace(/^error /, "")}`);
      else vs.add(v.slice(3));
    }
    if (vs.size > 1) err(param, `detected mixed ipv4/ipv6 addresses in address list '${value}'`);
    if (elements.length > 1 && elements.some((e) => e.includes("-"))) err(param, "you can't use a range in a list");
    vs.forEach((v) => versions.add(v));
  }
  if (versions.size > 1) errors.push("detected mixed ipv4/ipv6 addresses in rule");
  if (errors.length) throw new Error(`400 Parameter verification failed.\n${errors.join("\n")}`);
  return rule;
}

/** The provider's rule input as an API rule (`enabled` → `enable`; empty strings are absent, as copy_rule_data drops them). */
function apiRule(r: PropertyBag): Rule {
  const rule: Rule = { type: r.type, action: r.action, enable: r.enabled !== false };
  for (const k of ["macro", "iface", "source", "dest", "proto", "dport", "sport", "log", "comment"] as const) if (r[k] !== undefined && r[k] !== "") (rule as Record<keyof Rule, unknown>)[k] = r[k];
  return rule;
}

/** A rule as the provider's state holds it after RulesRead (every field, `pos` included). */
function stateRule(r: Rule, pos: number): PropertyBag {
  const out: PropertyBag = { pos, type: r.type, action: r.action, enabled: r.enable };
  for (const k of ["macro", "iface", "source", "dest", "proto", "dport", "sport", "log", "comment"] as const) out[k] = r[k] ?? "";
  return out;
}

/** computeRuleSignature / computeRuleSignatureFromAPI (rules.go): the fields that identify a rule. */
export function ruleSignature(rule: object): string {
  const r = rule as Record<string, unknown>;
  const f = (v: unknown) => (v === undefined || v === null ? "" : String(v));
  return ["rule", r.type, r.action, f(r.dest), f(r.dport), f(r.source), f(r.sport), f(r.proto), f(r.macro), f(r.iface)].join(":");
}

/** The target's rule list after each rule API call (see the header). */
const TRACE: { file: string; rules: string[] }[] = [];
/** What each rule API call left in its file's `[RULES]`, in order; tests clear it (`.length = 0`). */
export function firewallTrace(): { file: string; rules: string[] }[] {
  return TRACE;
}

async function readFw(session: SshSession, file: string): Promise<FwConf> {
  return parseFw((await session.check(`cat ${FW_DIR}/${file} 2>/dev/null || true`, { purpose: `read ${file}` })).stdout);
}

/** The guest's config must exist for /nodes/{node}/{lxc,qemu}/{vmid}/firewall/* (load_config). */
async function checkGuest(session: SshSession, w: Where): Promise<void> {
  if (w.vmid === undefined) return;
  const dir = w.env === "ct" ? "lxc" : "qemu-server";
  // The session is on the guest's node: /etc/pve/<dir> is that node's folder.
  const exists = await session.run(`test -f /etc/pve/${dir}/${w.vmid}.conf`);
  if (exists.code !== 0) throw new Error(`500 Configuration file 'nodes/${w.node ?? "pve"}/${dir}/${w.vmid}.conf' does not exist`);
}

/** Reads, changes and atomically writes one .fw file (guests' files need the guest). */
async function editFw(session: SshSession, w: Where, change: (conf: FwConf, cluster: FwConf) => Promise<void>): Promise<void> {
  await checkGuest(session, w);
  const cluster = await readFw(session, "cluster.fw");
  const conf = w.file === "cluster.fw" ? cluster : await readFw(session, w.file);
  await change(conf, cluster);
  await session.check(`mkdir -p ${FW_DIR}`, { purpose: "mkdir /etc/pve/firewall" });
  await session.upload(`${FW_DIR}/${w.file}`, formatFw(conf), 0o640);
}

/** The rule endpoints of one target (/cluster/firewall/rules, /nodes/{node}/{lxc,qemu}/{vmid}/firewall/rules). */
class RulesApi {
  constructor(
    private readonly session: SshSession,
    private readonly facts: HostFacts,
    private readonly w: Where,
  ) {}

  private async call(change: (rules: Rule[], conf: FwConf, cluster: FwConf) => Promise<Rule[] | void>): Promise<void> {
    await editFw(this.session, this.w, async (conf, cluster) => {
      const out = await change(conf.rules, conf, cluster);
      if (out) conf.rules = out;
      TRACE.push({ file: this.w.file, rules: conf.rules.map((r) => formatRuleLine(r, true)) });
    });
  }

  /** GET rules (register_get_rules). */
  async list(): Promise<Rule[]> {
    await checkGuest(this.session, this.w);
    return (await readFw(this.session, this.w.file)).rules;
  }

  /** POST rules (create_rule): verify_rule, `enable` 0 unless given, unshift. */
  create(rule: Rule): Promise<void> {
    return this.call(async (rules, conf, cluster) => {
      rules.unshift(await verifyRule(this.session, this.facts, rule, this.w.env, cluster, this.w.env === "cluster" ? undefined : conf));
    });
  }

  /** PUT rules/{pos} with moveto (update_rule): the rule goes before the one at `moveto` (so one lower when moved down). */
  move(pos: number, moveto: number): Promise<void> {
    return this.call(async (rules) => {
      if (pos >= rules.length) throw new Error(`no rule at position ${pos}`);
      if (moveto === pos) return;
      const rule = rules[pos];
      const out: Rule[] = [];
      rules.forEach((r, i) => {
        if (i === pos) return;
        if (i === moveto) out.push(rule);
        out.push(r);
      });
      if (moveto >= rules.length) out.push(rule);
      return out;
    });
  }

  /** PUT rules/{pos} with fields (update_rule): copy_rule_data ('' deletes), delete_rule_properties, verify_rule. */
  update(pos: number, body: Partial<Record<keyof Rule, string | boolean>>, del: string[]): Promise<void> {
    return this.call(async (rules, conf, cluster) => {
      if (pos >= rules.length) throw new Error(`no rule at position ${pos}`);
      const rule = { ...rules[pos] } as Record<string, unknown>;
      for (const [k, v] of Object.entries(body)) {
        if (v === undefined) continue;
        if (v === "" || v === "-") delete rule[k];
        else rule[k] = v;
      }
      for (const k of del) {
        if (k === "type" || k === "action") throw new Error(`400 Parameter verification failed.\ndelete: unable to delete required property '${k}'`);
        delete rule[k];
      }
      rules[pos] = await verifyRule(this.session, this.facts, rule as unknown as Rule, this.w.env, cluster, this.w.env === "cluster" ? undefined : conf);
    });
  }

  /** DELETE rules/{pos} (delete_rule): splice. */
  delete(pos: number): Promise<void> {
    return this.call(async (rules) => {
      if (pos >= rules.length) throw new Error(`no rule at position ${pos}`);
      rules.splice(pos, 1);
    });
  }
}

/** Creates (or sets again) an options, alias or IP set resource as the provider does through the API; returns the outputs to record. */
async function create(session: SshSession, facts: HostFacts, type: string, inputs: PropertyBag): Promise<PropertyBag> {
  const w = where(inputs);
  if (type.endsWith("optionsLegacy:OptionsLegacy") || type.endsWith("firewallLegacy:FirewallLegacy")) {
    // The provider sends every option, its own defaults for those not given (options.go optionsSet,
    // cluster/firewall/firewall.go setOptions); the API stores each as `key: value`.
    const flag = (v: unknown, dflt: boolean) => ((v ?? dflt) ? "1" : "0");
    const policy = (opt: string, v: string) => {
      if (!/^(ACCEPT|DROP|REJECT)$/.test(v)) throw new Error(`400 Parameter verification failed.\n${opt}: value '${v}' does not have a value in the enumeration 'ACCEPT, REJECT, DROP'`);
      return v;
    };
    const body: Record<string, string> = type.endsWith("optionsLegacy:OptionsLegacy")
      ? {
          dhcp: flag(inputs.dhcp, false),
          enable: flag(inputs.enabled, false),
          ipfilter: flag(inputs.ipfilter, false),
          log_level_in: inputs.logLevelIn ?? "nolog",
          log_level_out: inputs.logLevelOut ?? "nolog",
          macfilter: flag(inputs.macfilter, true),
          ndp: flag(inputs.ndp, false),
          policy_in: policy("policy_in", inputs.inputPolicy ?? "DROP"),
          policy_out: policy("policy_out", inputs.outputPolicy ?? "ACCEPT"),
          radv: flag(inputs.radv, true),
        }
      : {
          ebtables: flag(inputs.ebtables, false),
          enable: flag(inputs.enabled, false),
          log_ratelimit: "enable=1,burst=5,rate=1/second",
          policy_forward: policy("policy_forward", inputs.forwardPolicy ?? "ACCEPT"),
          policy_in: policy("policy_in", inputs.inputPolicy ?? "DROP"),
          policy_out: policy("policy_out", inputs.outputPolicy ?? "ACCEPT"),
        };
    await editFw(session, w, async (conf) => {
      for (const [k, v] of Object.entries(body)) conf.options.set(k, v);
    });
    return inputs;
  }
  if (type.endsWith("aliasLegacy:AliasLegacy")) {
    const verdict = (await netIp(session, [inputs.cidr])).get(inputs.cidr)!;
    if (!NAME.test(inputs.name) || !verdict.startsWith("ok ") || inputs.cidr.includes("-")) throw new Error(`400 Parameter verification failed.\ncidr: invalid alias ${inputs.name} ${inputs.cidr}: ${verdict}`);
    await editFw(session, w, async (conf) => {
      if (conf.aliases.has(inputs.name.toLowerCase())) throw new Error(`alias '${inputs.name}' already exists`);
      conf.aliases.set(inputs.name.toLowerCase(), { name: inputs.name, cidr: inputs.cidr, ...(inputs.comment ? { comment: inputs.comment } : {}) });
    });
    return inputs;
  }
  if (type.endsWith("ipsetLegacy:IpsetLegacy")) {
    await editFw(session, w, async (conf, cluster) => {
      const name = String(inputs.name).toLowerCase();
      if (!NAME.test(name)) throw new Error(`400 Parameter verification failed.\nname: invalid ipset name '${inputs.name}'`);
      if (conf.ipsets.has(name)) throw new Error(`IPSet '${inputs.name}' already exists`);
      const entries = [];
      for (const c of inputs.cidrs ?? []) {
        const alias = cluster.aliases.has(String(c.name).toLowerCase());
        const verdict = alias ? "ok" : (await netIp(session, [c.name])).get(c.name)!;
        if (!verdict.startsWith("ok")) throw new Error(`400 Parameter verification failed.\ncidr: ${verdict}`);
        entries.push({ cidr: c.name, nomatch: !!c.nomatch, ...(c.comment ? { comment: c.comment } : {}) });
      }
      conf.ipsets.set(name, { entries, ...(inputs.comment ? { comment: inputs.comment } : {}) });
    });
    return inputs;
  }
  throw new Error(`no way to carry out ${type}`);
}


/** RulesRead: every rule of the target, as the provider records it. */
async function readRules(api: RulesApi, inputs: PropertyBag): Promise<PropertyBag> {
  return { ...inputs, rules: (await api.list()).map(stateRule) };
}

/** RulesCreate. */
async function createRules(api: RulesApi, inputs: PropertyBag): Promise<PropertyBag> {
  if ((await api.list()).length > 0) throw new Error("Existing rules detected. Aborting...");
  const rules = ((inputs.rules ?? []) as PropertyBag[]).map(apiRule);
  for (let i = rules.length - 1; i >= 0; i--) await api.create(rules[i]);
  return readRules(api, inputs);
}

/** RulesUpdate: match by signature, create the missing, move into place, update fields, delete the excess. */
async function updateRules(api: RulesApi, old: PropertyBag[], inputs: PropertyBag): Promise<PropertyBag> {
  const desired = (inputs.rules ?? []) as PropertyBag[];
  const oldBySig = new Map<string, PropertyBag[]>();
  for (const r of old) oldBySig.set(ruleSignature(r), [...(oldBySig.get(ruleSignature(r)) ?? []), r]);
  const consumed = new Map<string, number>();
  const matched = new Map<number, PropertyBag>();
  for (const [i, r] of desired.entries()) {
    const sig = ruleSignature(r);
    const n = consumed.get(sig) ?? 0;
    consumed.set(sig, n + 1);
    const candidates = oldBySig.get(sig) ?? [];
    if (n < candidates.length) matched.set(i, candidates[n]);
    else await api.create(apiRule(r));
  }
  for (let target = 0; target < desired.length; target++) {
    const sig = ruleSignature(desired[target]);
    const current = await api.list();
    const at = current.findIndex((r, pos) => pos >= target && ruleSignature(r) === sig);
    if (at === -1) throw new Error(`could not find rule with signature "${sig}" at or after position ${target} during repositioning`);
    if (at !== target) await api.move(at, target);
  }
  for (const [i, oldRule] of matched) {
    const r = desired[i];
    const body: Partial<Record<keyof Rule, string | boolean>> = { action: r.action, type: r.type, enable: r.enabled !== false };
    for (const k of ["comment", "dest", "dport", "macro", "proto", "source", "sport"] as const) body[k] = r[k] ?? "";
    for (const k of ["iface", "log"] as const) if (r[k]) body[k] = r[k];
    const del = (["comment", "dport", "dest", "iface", "log", "macro", "proto", "source", "sport"] as const).filter((k) => !r[k] && oldRule[k]);
    await api.update(i, body, del);
  }
  const now = await api.list();
  for (let pos = now.length - 1; pos >= desired.length; pos--) await api.delete(pos);
  return readRules(api, inputs);
}

/** RulesDelete: the state's positions, highest first; a position that holds no rule any more is skipped. */
async function deleteRules(api: RulesApi, prior: StateEntry): Promise<void> {
  const positions = ((prior.outs.rules ?? []) as PropertyBag[]).map((r) => r.pos as number).sort((a, b) => b - a);
  for (const pos of positions) {
    if (pos >= (await api.list()).length) continue;
    await api.delete(pos);
  }
}

/** Deletes a non-rule resource as the provider does: aliases and IP sets are removed; options are only forgotten. */
async function remove(session: SshSession, type: string, prior: StateEntry): Promise<void> {
  // optionsDelete and the cluster firewallDelete only clear the resource id (options.go,
  // cluster/firewall/firewall.go): the host keeps enable and the policies.
  if (!type.includes("Alias") && !type.includes("Ipset")) return;
  await editFw(session, where(prior.inputs), async (conf) => {
    if (type.endsWith("aliasLegacy:AliasLegacy")) conf.aliases.delete(String(prior.inputs.name).toLowerCase());
    else conf.ipsets.delete(String(prior.inputs.name).toLowerCase());
  });
}

/** The inputs that select the target: a change replaces the resource (nodeName, vmId, containerId are ForceNew). */
const SELECTOR = ["nodeName", "vmId", "containerId"] as const;

/**
 * Carries out one firewall resource for the engine: create it, leave it (same inputs: no SSH at
 * all), update it in place (rule lists through RulesUpdate; options set again; aliases and IP sets
 * deleted and created again), or replace it when its target changed. Returns what the engine records.
 */
export async function carryOutFirewall(
  host: Pick<TestHost, "target" | "secrets">,
  state: Map<string, StateEntry>,
  args: { name: string; type: string; inputs: PropertyBag },
  report: { actions: Map<string, string>; sessions: number },
): Promise<{ id: string; state: PropertyBag }> {
  const ssh = loadDist<typeof import("../../providers/ssh/index")>("providers/ssh/index");
  const stable = loadDist<typeof import("../../providers/base/index")>("providers/base/index").stableJson as (v: unknown) => string;
  const prior = state.get(args.name);
  if (prior && stable(prior.inputs) === stable(args.inputs)) {
    report.actions.set(args.name, "same");
    return { id: prior.id, state: prior.outs };
  }
  const isRules = args.type.endsWith("rulesLegacy:RulesLegacy");
  const retarget = !!prior && SELECTOR.some((k) => stable(prior.inputs[k] ?? null) !== stable(args.inputs[k] ?? null));
  report.sessions++;
  const outs = await ssh.withSession(host.target, host.secrets, async (session: SshSession) => {
    const facts = await HostFacts.read(session);
    if (isRules) {
      const api = new RulesApi(session, facts, where(args.inputs));
      if (prior && !retarget) return updateRules(api, (prior.outs.rules ?? []) as PropertyBag[], args.inputs);
      if (prior) await deleteRules(new RulesApi(session, facts, where(prior.inputs)), prior);
      return createRules(api, args.inputs);
    }
    if (prior && (retarget || args.type.includes("Alias") || args.type.includes("Ipset"))) await remove(session, args.type, prior);
    return create(session, facts, args.type, args.inputs);
  });
  const id = args.name;
  state.set(args.name, { id, inputs: args.inputs, outs });
  report.actions.set(args.name, !prior ? "create" : retarget ? "replace" : "update");
  return { id, state: outs };
}

/**
 * Deletes a firewall resource the program no longer declares, as `pulumi up` does (RulesDelete for
 * a rule list; options are only forgotten).
 */
export async function deleteFirewall(host: Pick<TestHost, "target" | "secrets">, state: Map<string, StateEntry>, name: string, type: string): Promise<void> {
  const ssh = loadDist<typeof import("../../providers/ssh/index")>("providers/ssh/index");
  const prior = state.get(name);
  if (!prior) return;
  await ssh.withSession(host.target, host.secrets, async (session: SshSession) => {
    if (type.endsWith("rulesLegacy:RulesLegacy")) await deleteRules(new RulesApi(session, await HostFacts.read(session), where(prior.inputs)), prior);
    else await remove(session, type, prior);
  });
  state.delete(name);
}
