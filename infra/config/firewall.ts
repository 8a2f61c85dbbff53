// The Proxmox firewall from the users' files: the host firewall (`shared_volumes.firewall`, or a
// top-level `firewall`, which means the same) and each guest's `firewall: {enabled, rules}`.
// Values are checked as pve-firewall checks them (proxmox/pve-firewall src/PVE/Firewall.pm:
// verify_rule, parse_address_list, parse_port_name_number_or_range, pve_fw_verify_protocol_spec),
// so a rule Proxmox would refuse is refused here, with `<file>: <json path>: <message>`.
// Also here: the lock-out guard (firewallLockout), which keeps a DROP input policy from cutting
// Phoenix off the host it manages.
import * as net from "net";
import { Findings, PathSegment, jsonPath } from "./errors";
import { ETC_PROTOCOLS, ETC_SERVICES } from "./netbase";
import { macroConflicts } from "./firewall-macros";
import { FIREWALL_LOG_LEVELS, FIREWALL_NAME, FIREWALL_POLICIES, firewallRuleSchema, guestFirewallSchema, hostFirewallSchema, show } from "./schema";

// The blocks' shape (keys, value kinds) is described once, by the zod schemas in ./schema (which
// editors get as JSON Schema); this module reads the blocks and judges the values.
export type FirewallPolicy = (typeof FIREWALL_POLICIES)[number];
export type FirewallLogLevel = (typeof FIREWALL_LOG_LEVELS)[number];

/** One firewall rule, in Proxmox's terms (the provider's `RulesLegacyRule`). */
export interface FirewallRule {
  /** Direction: `in` or `out` (the files' `type`). */
  type: "in" | "out";
  action: FirewallPolicy;
  /** A standard Proxmox macro (`SSH`, `HTTPS`, ...), in Proxmox's spelling. */
  macro?: string;
  /** Protocol name from /etc/protocols or its number (`tcp`, `udp`, `icmp`, `6`). */
  proto?: string;
  /** Destination ports: `22`, `8000:8100`, `22,80,443`, service names (`ssh`); the files' `port`. */
  dport?: string;
  /** Source ports, same syntax as dport. */
  sport?: string;
  /** Source: IP, CIDR, `a-b` range, comma list, alias name or `+ipset`; undefined = anywhere. */
  source?: string;
  /** Destination, same syntax as source; undefined = any. */
  dest?: string;
  /** Interface: `net<N>` on guests; any interface name on the host. */
  iface?: string;
  log?: FirewallLogLevel;
  comment?: string;
  /** `enabled: false` keeps the rule but disables it (Proxmox's `enable: 0`). Default true. */
  enabled: boolean;
  /** `<file>: <json path>` of the rule, for messages. */
  origin: string;
}

/** The host (cluster-wide) firewall: Proxmox's cluster.fw. */
export interface HostFirewall {
  /** Cluster-wide `enable`. */
  enabled: boolean;
  /** `default_input_policy` (Proxmox `policy_in`; Proxmox's default is DROP). */
  inputPolicy: FirewallPolicy;
  /** `default_output_policy` (Proxmox `policy_out`; default ACCEPT). */
  outputPolicy: FirewallPolicy;
  /** `global_firewall_rules`, in order. */
  rules: FirewallRule[];
  /** `aliases` (Phoenix extension): name → IP or CIDR, usable in rules by name. */
  aliases: { name: string; cidr: string; comment?: string }[];
  /** `ipsets` (Phoenix extension): name → entries (`!` prefix = nomatch), usable as `+name`. */
  ipsets: { name: string; entries: { cidr: string; nomatch: boolean }[]; comment?: string }[];
  /** `<file>: <json path>` of the block. */
  origin: string;
}

/** A guest's firewall: Proxmox's /etc/pve/firewall/<vmid>.fw. */
export interface GuestFirewall {
  enabled: boolean;
  /** `default_input_policy` / `default_output_policy` when given (Proxmox defaults: DROP in, ACCEPT out). */
  inputPolicy?: FirewallPolicy;
  outputPolicy?: FirewallPolicy;
  rules: FirewallRule[];
  origin: string;
  /** Set when the block was inherited from the template the guest is cloned from (Proxmox copies
   *  the template's .fw file on clone: PVE::Firewall::Helpers::clone_vmfw_conf). */
  inheritedFrom?: number;
}

// ---------------------------------------------------------------- Proxmox's vocabulary

/** pve-firewall's `$pve_fw_macros` and `$pve_ipv6fw_macros` (Firewall.pm): macro → what it opens
 *  (`proto/dport`; only ACCEPT-relevant PARAM rules). Lookup is case-insensitive, stored in this spelling. */
const FIREWALL_MACROS: Record<string, string[]> = {
  Amanda: ["tcp/10080", "udp/10080"], Auth: ["tcp/113"], BGP: ["tcp/179"], BitTorrent: ["tcp/6881:6889", "udp/6881"],
  BitTorrent32: ["tcp/6881:6999", "udp/6881"], CVS: ["tcp/2401"], Ceph: ["tcp/3300", "tcp/6789", "tcp/6800:7300"],
  Citrix: ["tcp/1494", "tcp/2598", "udp/1604"], DAAP: ["tcp/3689", "udp/3689"], DCC: ["tcp/6277"], DHCPfwd: ["udp/67:68"],
  DHCPv6: ["udp/546:547"], DNS: ["tcp/53", "udp/53"], Distcc: ["tcp/3632"], FTP: ["tcp/21"], Finger: ["tcp/79"],
  GNUnet: ["tcp/1080", "tcp/2086", "udp/1080", "udp/2086"], GRE: ["47/"], Git: ["tcp/9418"], HKP: ["tcp/11371"],
  HTTP: ["tcp/80"], HTTPS: ["tcp/443"], ICPV2: ["udp/3130"], ICQ: ["tcp/5190"], IMAP: ["tcp/143"], IMAPS: ["tcp/993"],
  IPIP: ["94/"], IPsec: ["50/", "udp/500"], IPsecah: ["51/", "udp/500"], IPsecnat: ["50/", "udp/4500", "udp/500"],
  IRC: ["tcp/6667"], Jetdirect: ["tcp/9100"], L2TP: ["udp/1701"], LDAP: ["tcp/389"], LDAPS: ["tcp/636"], MDNS: ["udp/5353"],
  MSNP: ["tcp/1863"], MSSQL: ["tcp/1433"], Mail: ["tcp/25", "tcp/465", "tcp/587"], Munin: ["tcp/4949"], MySQL: ["tcp/3306"],
  NNTP: ["tcp/119"], NNTPS: ["tcp/563"], NTP: ["udp/123"], NeighborDiscovery: ["icmpv6/"], OSPF: ["89/"], OpenVPN: ["udp/1194"],
  PCA: ["tcp/5631", "udp/5632"], PMG: ["tcp/8006"], POP3: ["tcp/110"], POP3S: ["tcp/995"], PPtP: ["47/", "tcp/1723"],
  Ping: ["icmp/echo-request"], PostgreSQL: ["tcp/5432"], Printer: ["tcp/515"], RDP: ["tcp/3389"], RIP: ["udp/520"],
  RNDC: ["tcp/953"], Razor: ["tcp/2703"], Rdate: ["tcp/37"], Rsync: ["tcp/873"], SANE: ["tcp/6566"],
  SMB: ["tcp/135,139,445", "udp/135,445", "udp/137:139", "udp/1024:65535"], SMBswat: ["tcp/901"], SMTP: ["tcp/25"],
  SMTPS: ["tcp/465"], SNMP: ["tcp/161", "udp/161:162"], SPAMD: ["tcp/783"], SPICEproxy: ["tcp/3128"], SSH: ["tcp/22"],
  SVN: ["tcp/3690"], SixXS: ["41/", "tcp/3874", "udp/3740", "udp/5072,8374"], Squid: ["tcp/3128"], Submission: ["tcp/587"],
  Syslog: ["tcp/514", "udp/514"], TFTP: ["udp/69"], Telnet: ["tcp/23"], Telnets: ["tcp/992"], Time: ["tcp/37"],
  Trcrt: ["icmp/echo-request", "udp/33434:33524"], VNC: ["tcp/5900:5999"], VNCL: ["tcp/5500"], Web: ["tcp/80", "tcp/443"],
  Webcache: ["tcp/8080"], Webmin: ["tcp/10000"], Whois: ["tcp/43"],
};
const MACRO_BY_LC = new Map(Object.keys(FIREWALL_MACROS).map((m) => [m.toLowerCase(), m]));

/** `$PROTOCOLS_WITH_PORTS` (Firewall.pm): the only protocols a dport/sport may go with (besides ICMP types). */
const PROTOCOLS_WITH_PORTS = new Set(["udp", "17", "udplite", "136", "tcp", "6", "dccp", "33", "sctp", "132"]);
/** `$icmp_type_names` / `$icmpv6_type_names` (Firewall.pm): ICMP types allowed as dport of an ICMP rule. */
const ICMP_TYPES = new Set([
  "any", "echo-reply", "destination-unreachable", "network-unreachable", "host-unreachable", "protocol-unreachable",
  "port-unreachable", "fragmentation-needed", "source-route-failed", "network-unknown", "host-unknown",
  "network-prohibited", "host-prohibited", "TOS-network-unreachable", "TOS-host-unreachable", "communication-prohibited",
  "host-precedence-violation", "precedence-cutoff", "source-quench", "redirect", "network-redirect", "host-redirect",
  "TOS-network-redirect", "TOS-host-redirect", "echo-request", "router-advertisement", "router-solicitation",
  "time-exceeded", "ttl-zero-during-transit", "ttl-zero-during-reassembly", "parameter-problem", "ip-header-bad",
  "required-option-missing", "timestamp-request", "timestamp-reply", "address-mask-request", "address-mask-reply",
  "no-route", "beyond-scope", "address-unreachable", "failed-policy", "reject-route", "packet-too-big",
  "bad-header", "unknown-header-type", "unknown-option", "neighbor-solicitation", "neighbour-solicitation",
  "neighbor-advertisement", "neighbour-advertisement",
]);
const isIcmp = (proto: string | undefined) => proto === "icmp" || proto === "icmpv6" || proto === "ipv6-icmp";
/** `$ipset_name_pattern`, `$ip_alias_pattern` (Firewall.pm); names up to 64 characters. */
const SET_NAME = FIREWALL_NAME;
const LOG_LEVELS: readonly string[] = FIREWALL_LOG_LEVELS;
const POLICIES: readonly string[] = FIREWALL_POLICIES;

// ---------------------------------------------------------------- addresses and ports

/** An address range [lo, hi] of one IP version. */
export interface AddressRange {
  version: 4 | 6;
  lo: bigint;
  hi: bigint;
}

function ipToBigint(ip: string): { version: 4 | 6; value: bigint } | undefined {
  if (net.isIPv4(ip)) {
    const parts = ip.split(".").map(Number);
    // Net::IP refuses leading zeros only loosely; node's isIPv4 already refuses them.
    return { version: 4, value: parts.reduce((a, p) => (a << 8n) | BigInt(p), 0n) };
  }
  if (net.isIPv6(ip) && !ip.includes("%")) {
    const [head, tail] = ip.includes("::") ? ip.split("::") : [ip, undefined];
    const words = (s: string | undefined) => (s ? s.split(":") : []);
    const expand = (list: string[]) =>
      list.flatMap((w) => {
        if (w.includes(".")) {
          const b = w.split(".").map(Number);
          return [((b[0] << 8) | b[1]).toString(16), ((b[2] << 8) | b[3]).toString(16)];
        }
        return [w];
      });
    const h = expand(words(head));
    const t = tail === undefined ? [] : expand(words(tail));
    const fill = tail === undefined ? [] : new Array(8 - h.length - t.length).fill("0");
    const all = [...h, ...fill, ...t];
    if (all.length !== 8) return undefined;
    return { version: 6, value: all.reduce((a, w) => (a << 16n) | BigInt(parseInt(w || "0", 16)), 0n) };
  }
  return undefined;
}

/**
 * One element of a Proxmox address list as Net::IP (used by parse_address_list) reads it: an IP,
 * a network `ip/len` whose host bits are zero (Net::IP: "Invalid prefix"), or a range `a-b`.
 * Throws a message on anything else.
 */
export function parseAddress(elem: string): AddressRange {
  const range = /^([^-/\s]+)-([^-/\s]+)$/.exec(elem);
  if (range) {
    const a = ipToBigint(range[1]);
    const b = ipToBigint(range[2]);
    if (!a || !b) throw new Error(`invalid IP address range ${show(elem)}`);
    if (a.version !== b.version) throw new Error(`range ${show(elem)} mixes IPv4 and IPv6`);
    if (a.value > b.value) throw new Error(`range ${show(elem)} runs backwards`);
    return { version: a.version, lo: a.value, hi: b.value };
  }
  const cidr = /^([^/\s]+)(?:\/(\d{1,3}))?$/.exec(elem);
  const ip = cidr ? ipToBigint(cidr[1]) : undefined;
  if (!cidr || !ip) throw new Error(`invalid IP address ${show(elem)}`);
  const bits = ip.version === 4 ? 32 : 128;
  const len = cidr[2] === undefined ? bits : Number(cidr[2]);
  if (len > bits) throw new Error(`invalid prefix length /${len} in ${show(elem)}`);
  const hostMask = (1n << BigInt(bits - len)) - 1n;
  if ((ip.value & hostMask) !== 0n) {
    const network = ip.version === 4 ? bigintToIpv4(ip.value & ~hostMask) : "the network address";
    throw new Error(`${show(elem)} has host bits set (Proxmox refuses it: Net::IP "Invalid prefix"); did you mean ${network}/${len}?`);
  }
  return { version: ip.version, lo: ip.value, hi: ip.value | hostMask };
}

function bigintToIpv4(v: bigint): string {
  return [24n, 16n, 8n, 0n].map((s) => String((v >> s) & 255n)).join(".");
}

type AddressSpec =
  | { kind: "list"; ranges: AddressRange[]; version: 4 | 6 }
  | { kind: "alias"; name: string }
  | { kind: "ipset"; name: string };

/** parse_address_list (Firewall.pm): `+ipset`, an alias name, or IPs/networks by commas (a range only alone). */
function parseAddressList(text: string): AddressSpec {
  const ipset = /^\+(?:(?:guest|dc)\/)?(\S+)$/.exec(text);
  if (ipset) {
    if (!SET_NAME.test(ipset[1]) || ipset[1].length > 64) throw new Error(`invalid ipset name ${show(text)}`);
    return { kind: "ipset", name: ipset[1] };
  }
  const alias = /^(?:(?:dc|guest)\/)?([A-Za-z][A-Za-z0-9_-]+)$/.exec(text);
  if (alias) {
    if (text.length > 64) throw new Error("alias name too long");
    return { kind: "alias", name: alias[1] };
  }
  const elements = text.split(",");
  if (elements.some((e) => e === "")) throw new Error(`extraneous commas in list ${show(text)}`);
  const ranges = elements.map(parseAddress);
  if (new Set(ranges.map((r) => r.version)).size > 1) throw new Error(`detected mixed ipv4/ipv6 addresses in address list ${show(text)}`);
  if (elements.length > 1 && elements.some((e) => e.includes("-"))) throw new Error("you can't use a range in a list");
  return { kind: "list", ranges, version: ranges[0].version };
}

/** A port or ICMP-type list as parse_port_name_number_or_range reads it; returns the port ranges. */
export function parsePorts(text: string, icmp: boolean): { lo: number; hi: number }[] {
  const elements = text.split(",");
  if (elements.some((e) => e === "")) throw new Error(`extraneous commas in list ${show(text)}`);
  let count = 0;
  let icmpType = false;
  const out: { lo: number; hi: number }[] = [];
  for (const item of elements) {
    let m: RegExpExecArray | null;
    if ((m = /^([0-9]+):([0-9]+)$/.exec(item))) {
      count += 2;
      const [a, b] = [Number(m[1]), Number(m[2])];
      if (a > 65535) throw new Error(`invalid port '${m[1]}'`);
      if (b > 65535) throw new Error(`invalid port '${m[2]}'`);
      if (a > b) throw new Error(`backwards range '${a}:${b}' not allowed, did you mean '${b}:${a}'?`);
      out.push({ lo: a, hi: b });
    } else if (/^[0-9]+$/.test(item)) {
      count += 1;
      if (Number(item) > 65535) throw new Error(`invalid port '${item}'`);
      out.push({ lo: Number(item), hi: Number(item) });
    } else if (icmp && ICMP_TYPES.has(item)) {
      icmpType = true;
    } else if (Object.prototype.hasOwnProperty.call(ETC_SERVICES, item)) {
      count += 1;
      out.push({ lo: ETC_SERVICES[item], hi: ETC_SERVICES[item] });
    } else if (/^[0-9]+-[0-9]+$/.test(item)) {
      throw new Error(`invalid port '${item}': Proxmox writes ranges with a colon, e.g. ${item.replace("-", ":")}`);
    } else {
      throw new Error(`invalid port '${item}' (not a number, a range a:b, or a service name from /etc/services)`);
    }
  }
  if (icmpType && count > 0) throw new Error("ICMP ports not allowed in port range");
  if (count > 15) throw new Error("too many entries in port list (> 15 numbers)");
  return out;
}

// ---------------------------------------------------------------- reading the files

const RULE_KEYS = Object.keys(firewallRuleSchema.shape);
const HOST_FW_KEYS = Object.keys(hostFirewallSchema.shape);
const GUEST_FW_KEYS = Object.keys(guestFirewallSchema.shape);

interface Names {
  aliases: Set<string>;
  ipsets: Set<string>;
}

function isObject(v: unknown): v is Record<string, unknown> {
  return !!v && typeof v === "object" && !Array.isArray(v);
}

function policy(findings: Findings, file: string, at: PathSegment[], value: unknown): FirewallPolicy | undefined {
  if (value === undefined) return undefined;
  if (typeof value === "string" && POLICIES.includes(value)) return value as FirewallPolicy;
  findings.error(file, at, `must be ACCEPT, DROP or REJECT; got ${show(value)}`);
  return undefined;
}

function enabledFlag(findings: Findings, file: string, at: PathSegment[], value: unknown, fallback: boolean): boolean {
  if (value === undefined) return fallback;
  if (typeof value === "boolean") return value;
  if (value === 0 || value === 1) return value === 1;
  findings.error(file, at, `must be true or false; got ${show(value)}`);
  return fallback;
}

/** A comment travels into the .fw file after `#` on the rule's line: one line of printable text. */
function comment(findings: Findings, file: string, at: PathSegment[], value: unknown): string | undefined {
  if (value === undefined || value === "") return undefined;
  // eslint-disable-next-line no-control-regex -- refusing control characters is the point
  if (typeof value !== "string" || /[\u0000-\u001f\u007f]/.test(value) || value.length > 512) {
    findings.error(file, at, `must be one line of text (at most 512 characters, no control characters); got ${show(value)}`);
    return undefined;
  }
  return value;
}

/** verify_rule (Firewall.pm) for one rule of the files; undefined when it has errors. */
function readRule(
  findings: Findings,
  file: string,
  at: PathSegment[],
  raw: unknown,
  scope: "host" | "guest",
  names: Names,
): FirewallRule | undefined {
  if (!isObject(raw)) {
    findings.error(file, at, `must be an object {type, action, proto, port, source, dest, comment}; got ${show(raw)}`);
    return undefined;
  }
  const before = findings.errors.length;
  const err = (key: string, message: string) => findings.error(file, [...at, key], message);
  for (const key of Object.keys(raw)) {
    // An unknown key could be a misspelt restriction (`sorce`): ignoring it would open more than the rule says.
    if (!RULE_KEYS.includes(key)) err(key, `unknown key in a firewall rule (known: ${RULE_KEYS.join(", ")})`);
  }
  const str = (key: string): string | undefined => {
    const v = raw[key];
    if (v === undefined || v === "") return undefined;
    if (typeof v === "number" && (key === "port" || key === "dport" || key === "sport" || key === "proto")) return String(v);
    if (typeof v !== "string" || !/^[\x21-\x7e]+$/.test(v)) {
      err(key, `must be a string without spaces; got ${show(v)}`);
      return undefined;
    }
    return v;
  };

  const typeText = str("type");
  let type: "in" | "out" | undefined;
  if (typeText === undefined) err("type", "is required: in or out");
  else if (typeText.toLowerCase() === "in" || typeText.toLowerCase() === "out") type = typeText.toLowerCase() as "in" | "out";
  else err("type", `must be in or out; got ${show(typeText)}`);

  const actionText = str("action");
  if (actionText === undefined) err("action", "is required: ACCEPT, DROP or REJECT");
  else if (!POLICIES.includes(actionText)) err("action", `must be ACCEPT, DROP or REJECT (upper case, as Proxmox requires); got ${show(actionText)}`);

  let macro = str("macro");
  if (macro !== undefined) {
    const known = MACRO_BY_LC.get(macro.toLowerCase());
    if (!known) err("macro", `unknown macro ${show(macro)}; Proxmox's macros include SSH, HTTP, HTTPS, DNS, Ping, Web (see pve-firewall's macro list)`);
    macro = known;
  }

  const proto = str("proto");
  if (proto !== undefined && !Object.prototype.hasOwnProperty.call(ETC_PROTOCOLS, proto) && proto !== "icmpv6" &&
      !(/^[0-9]+$/.test(proto) && Object.values(ETC_PROTOCOLS).includes(Number(proto)))) {
    err("proto", `unknown protocol ${show(proto)} (a name or number from /etc/protocols, e.g. tcp, udp, icmp)`);
  }
  if (raw.port !== undefined && raw.dport !== undefined) err("dport", "give port or dport, not both");
  const dportKey = raw.dport !== undefined ? "dport" : "port";
  const dport = str(dportKey);
  if (dport !== undefined) {
    try {
      parsePorts(dport, isIcmp(proto));
    } catch (e) {
      err(dportKey, (e as Error).message);
    }
    if (proto === undefined) err("proto", `is required when ${dportKey} is given (Proxmox: "missing property - 'dport' requires this property")`);
    else if (!PROTOCOLS_WITH_PORTS.has(proto) && !isIcmp(proto)) err(dportKey, `protocol '${proto}' does not support ports`);
  }
  const sport = str("sport");
  if (sport !== undefined) {
    try {
      parsePorts(sport, false);
    } catch (e) {
      err("sport", (e as Error).message);
    }
    if (proto === undefined) err("proto", "is required when sport is given");
    else if (!PROTOCOLS_WITH_PORTS.has(proto)) err("sport", `protocol '${proto}' does not support ports`);
  }

  const versions = new Set<number>();
  if (proto === "icmp") versions.add(4);
  if (proto === "icmpv6" || proto === "ipv6-icmp") versions.add(6);
  const address = (key: "source" | "dest"): string | undefined => {
    const v = str(key);
    if (v === undefined) return undefined;
    try {
      const spec = parseAddressList(v);
      if (spec.kind === "list") versions.add(spec.version);
      else if (spec.kind === "ipset" && !names.ipsets.has(spec.name.toLowerCase())) {
        err(key, `no such ipset '${spec.name}' (declare it in the host firewall's ipsets)`);
      } else if (spec.kind === "alias" && !names.aliases.has(spec.name.toLowerCase())) {
        err(key, `no such alias '${spec.name}' (declare it in the host firewall's aliases, or give an IP or CIDR)`);
      }
    } catch (e) {
      err(key, (e as Error).message);
    }
    return v;
  };
  const source = address("source");
  const dest = address("dest");
  if (versions.size > 1) findings.error(file, at, "detected mixed ipv4/ipv6 addresses in rule");

  const iface = str("iface");
  if (iface !== undefined) {
    if (scope === "guest" && !/^net\d+$/.test(iface)) err("iface", `must name the guest's interface as Proxmox does (net0, net1, ...); got ${show(iface)}`);
    // pve-common PVE::JSONSchema::pve_verify_iface.
    else if (!/^[a-z][a-z0-9_]{1,20}(?:[:.]\d+)?$/i.test(iface)) err("iface", `invalid network interface name ${show(iface)}`);
  }
  const log = str("log");
  if (log !== undefined && !LOG_LEVELS.includes(log)) err("log", `must be one of ${LOG_LEVELS.join(", ")}; got ${show(log)}`);
  const text = comment(findings, file, [...at, "comment"], raw.comment);
  const enabled = enabledFlag(findings, file, [...at, "enabled"], raw.enabled, true);

  // As verify_rule: the macro is applied (and its conflicts found) only in an otherwise valid rule.
  if (macro && findings.errors.length === before) {
    for (const c of macroConflicts(macro, { proto, dport, sport }, versions.size === 1 && versions.has(6) ? 6 : undefined)) err(c.key === "dport" ? dportKey : c.key, c.message);
  }
  if (findings.errors.length > before || !type) return undefined;
  const rule: FirewallRule = { type, action: actionText as FirewallPolicy, enabled, origin: `${file}: ${jsonPath(at)}` };
  if (macro) rule.macro = macro;
  if (proto) rule.proto = proto;
  if (dport) rule.dport = dport;
  if (sport) rule.sport = sport;
  if (source) rule.source = source;
  if (dest) rule.dest = dest;
  if (iface) rule.iface = iface;
  if (log) rule.log = log as FirewallLogLevel;
  if (text) rule.comment = text;
  return rule;
}

function readRules(findings: Findings, file: string, at: PathSegment[], raw: unknown, scope: "host" | "guest", names: Names): FirewallRule[] {
  if (raw === undefined) return [];
  if (!Array.isArray(raw)) {
    findings.error(file, at, `must be an array of rules; got ${show(raw)}`);
    return [];
  }
  return raw.map((r, i) => readRule(findings, file, [...at, i], r, scope, names)).filter((r): r is FirewallRule => !!r);
}

function warnUnknown(findings: Findings, file: string, at: PathSegment[], obj: Record<string, unknown>, known: string[]): void {
  for (const key of Object.keys(obj)) if (!known.includes(key)) findings.warn(file, [...at, key], "unknown key in the firewall block, ignored");
}

/**
 * The host firewall from phoenix_hypervisor_config.json: `shared_volumes.firewall` (where the Bash
 * tool's files keep it) or a top-level `firewall` (the same thing; giving both is an error unless
 * they are identical). Undefined when neither is present.
 */
export function readHostFirewall(raw: Record<string, unknown>, file: string, findings: Findings): HostFirewall | undefined {
  const shared = isObject(raw.shared_volumes) ? raw.shared_volumes.firewall : undefined;
  const top = raw.firewall;
  if (shared !== undefined && top !== undefined && JSON.stringify(shared) !== JSON.stringify(top)) {
    findings.error(file, ["firewall"], "the host firewall is given twice, here and in shared_volumes.firewall, differently; keep one");
    return undefined;
  }
  const at: PathSegment[] = shared !== undefined ? ["shared_volumes", "firewall"] : ["firewall"];
  const block = shared ?? top;
  if (block === undefined) return undefined;
  if (!isObject(block)) {
    findings.error(file, at, `must be an object {enabled, default_input_policy, default_output_policy, global_firewall_rules}; got ${show(block)}`);
    return undefined;
  }
  warnUnknown(findings, file, at, block, HOST_FW_KEYS);
  const before = findings.errors.length;

  const aliases: HostFirewall["aliases"] = [];
  if (block.aliases !== undefined) {
    if (!isObject(block.aliases)) findings.error(file, [...at, "aliases"], `must be an object name → IP or CIDR; got ${show(block.aliases)}`);
    else for (const [name, value] of Object.entries(block.aliases)) {
      const where = [...at, "aliases", name];
      if (!SET_NAME.test(name) || name.length > 64) findings.error(file, where, `alias names are a letter, then letters, digits, '-', '_' (at most 64); got ${show(name)}`);
      else if (typeof value !== "string") findings.error(file, where, `must be an IP or CIDR; got ${show(value)}`);
      else {
        try {
          parseAddress(value);
          if (value.includes("-")) throw new Error("an alias is one IP or network, not a range");
          aliases.push({ name, cidr: value });
        } catch (e) {
          findings.error(file, where, (e as Error).message);
        }
      }
    }
  }
  const ipsets: HostFirewall["ipsets"] = [];
  if (block.ipsets !== undefined) {
    if (!isObject(block.ipsets)) findings.error(file, [...at, "ipsets"], `must be an object name → list of IPs/CIDRs; got ${show(block.ipsets)}`);
    else for (const [name, value] of Object.entries(block.ipsets)) {
      const where = [...at, "ipsets", name];
      if (!SET_NAME.test(name) || name.length > 64) findings.error(file, where, `ipset names are a letter, then letters, digits, '-', '_' (at most 64); got ${show(name)}`);
      else if (!Array.isArray(value)) findings.error(file, where, `must be a list of IPs or CIDRs ('!' first for nomatch); got ${show(value)}`);
      else {
        const entries: { cidr: string; nomatch: boolean }[] = [];
        value.forEach((v, i) => {
          const text = typeof v === "string" ? v.replace(/^!\s*/, "") : undefined;
          try {
            if (text === undefined) throw new Error(`must be an IP or CIDR; got ${show(v)}`);
            if (!aliases.some((a) => a.name.toLowerCase() === text.toLowerCase())) parseAddress(text);
            entries.push({ cidr: text, nomatch: (v as string).startsWith("!") });
          } catch (e) {
            findings.error(file, [...where, i], (e as Error).message);
          }
        });
        ipsets.push({ name, entries });
      }
    }
  }
  const names: Names = { aliases: new Set(aliases.map((a) => a.name.toLowerCase())), ipsets: new Set(ipsets.map((s) => s.name.toLowerCase())) };
  const fw: HostFirewall = {
    enabled: enabledFlag(findings, file, [...at, "enabled"], block.enabled, false),
    inputPolicy: policy(findings, file, [...at, "default_input_policy"], block.default_input_policy) ?? "DROP",
    outputPolicy: policy(findings, file, [...at, "default_output_policy"], block.default_output_policy) ?? "ACCEPT",
    rules: readRules(findings, file, [...at, "global_firewall_rules"], block.global_firewall_rules, "host", names),
    aliases,
    ipsets,
    origin: `${file}: ${jsonPath(at)}`,
  };
  return findings.errors.length > before ? undefined : fw;
}

/** A guest's `firewall: {enabled, rules, default_input_policy?, default_output_policy?}`; undefined when absent. */
export function readGuestFirewall(
  value: unknown,
  file: string,
  at: PathSegment[],
  findings: Findings,
  host: HostFirewall | undefined,
): GuestFirewall | undefined {
  if (value === undefined) return undefined;
  if (!isObject(value)) {
    findings.error(file, at, `must be an object {enabled, rules}; got ${show(value)}`);
    return undefined;
  }
  warnUnknown(findings, file, at, value, GUEST_FW_KEYS);
  const names: Names = {
    aliases: new Set((host?.aliases ?? []).map((a) => a.name.toLowerCase())),
    ipsets: new Set((host?.ipsets ?? []).map((s) => s.name.toLowerCase())),
  };
  const fw: GuestFirewall = {
    // The Bash tool's files write `enabled: true` next to the rules; a block without it is on.
    enabled: enabledFlag(findings, file, [...at, "enabled"], value.enabled, true),
    rules: readRules(findings, file, [...at, "rules"], value.rules, "guest", names),
    origin: `${file}: ${jsonPath(at)}`,
  };
  const pin = policy(findings, file, [...at, "default_input_policy"], value.default_input_policy);
  const pout = policy(findings, file, [...at, "default_output_policy"], value.default_output_policy);
  if (pin) fw.inputPolicy = pin;
  if (pout) fw.outputPolicy = pout;
  return fw;
}

/**
 * Clones without a `firewall` block of their own get their template's: Proxmox copies the
 * template's `<vmid>.fw` and the interface's `firewall=1` on clone (pve-firewall
 * PVE::Firewall::Helpers::clone_vmfw_conf, called by pct/qm clone), so that is what the clone has
 * (marked `inheritedFrom`; the program declares no resources for it, the copy is already there).
 * A clone with rules of its own gets exactly them: the copy is removed before they are created
 * (infra/components/firewall.ts, firewall_takeover.sh); a warning says so.
 */
export function inheritGuestFirewalls<G extends { firewall?: GuestFirewall; cloneFrom?: number }>(
  guests: G[],
  id: (g: G) => number,
  findings?: Findings,
): void {
  const byId = new Map(guests.map((g) => [id(g), g]));
  for (const g of guests) {
    if (g.cloneFrom === undefined) continue;
    const template = byId.get(g.cloneFrom);
    if (g.firewall && findings && template?.firewall && template.firewall.rules.length > 0) {
      const [file, path] = g.firewall.origin.split(": ");
      findings.warn(file, path, `Proxmox copies ${g.cloneFrom}'s firewall rules on clone; Phoenix removes that copy before creating these, so the clone has exactly its own rules (${g.cloneFrom}'s do not apply to it)`);
    }
    if (g.firewall) continue;
    const seen = new Set<number>([id(g)]);
    let parent = byId.get(g.cloneFrom);
    while (parent && !parent.firewall && parent.cloneFrom !== undefined && !seen.has(id(parent))) {
      seen.add(id(parent));
      parent = byId.get(parent.cloneFrom);
    }
    if (parent?.firewall) g.firewall = { ...parent.firewall, inheritedFrom: parent.firewall.inheritedFrom ?? id(parent) };
  }
}

/**
 * Guests' firewalls do nothing while the host (cluster) firewall is off: pve-firewall compiles no
 * rules at all then (Firewall.pm compile: `return ... if !$cluster_conf->{options}->{enable}`).
 * One warning per guest that declares an enabled firewall of its own.
 */
export function warnInactiveGuestFirewalls(host: HostFirewall | undefined, guests: { firewall?: GuestFirewall }[], findings: Findings): void {
  if (host?.enabled) return;
  for (const g of guests) {
    const fw = g.firewall;
    if (!fw || fw.inheritedFrom !== undefined || !fw.enabled) continue;
    const [file, path] = fw.origin.split(": ");
    findings.warn(file, path, `has no effect while the host firewall is off: Proxmox filters guests only when the cluster firewall is enabled (shared_volumes.firewall.enabled)`);
  }
}

/**
 * The Bash tool wrote guests' rules into cluster.fw (hypervisor_feature_setup_firewall.sh) and never
 * turned a guest's own firewall on: a guest's .fw options default to `enable: 0` (pve-firewall
 * Firewall.pm parse_vmfw_option/vm options), whatever `enabled: true` its files say. Phoenix turns
 * each such firewall on, with Proxmox's guest input policy DROP, so whatever its rules do not accept
 * stops reaching the guest. One warning per guest that enables a firewall of its own without naming
 * its input policy; `default_input_policy` (DROP to confirm, ACCEPT to filter nothing by default)
 * silences it. Nothing while the host firewall is off.
 */
export function warnGuestFirewallsTurnedOn(host: HostFirewall | undefined, guests: { firewall?: GuestFirewall }[], findings: Findings): void {
  // While the host firewall is off no guest is filtered (warnInactiveGuestFirewalls says so).
  if (!host?.enabled) return;
  for (const g of guests) {
    const fw = g.firewall;
    if (!fw || fw.inheritedFrom !== undefined || !fw.enabled || fw.inputPolicy !== undefined) continue;
    const [file, path] = fw.origin.split(": ");
    const accepted = fw.rules.filter((r) => r.enabled && r.type === "in" && r.action === "ACCEPT");
    const opens = accepted.length
      ? `only what its ${accepted.length} ACCEPT rule${accepted.length === 1 ? "" : "s"} accept${accepted.length === 1 ? "s" : ""} (${accepted.map((r) => [r.macro, r.proto, r.dport, r.source && `from ${r.source}`].filter(Boolean).join(" ") || "all").join("; ")})`
      : "nothing (it has no ACCEPT rule)";
    findings.warn(file, path,
      `turns this guest's own firewall on (the Bash tool never did: it wrote guest rules into cluster.fw), with Proxmox's input policy DROP: ` +
        `${opens} reaches it from then on; set "default_input_policy": "DROP" to confirm, or "ACCEPT" to keep it open and apply the DROP/REJECT rules only`);
  }
}

/** A rule as pve-firewall writes it in a .fw file's [RULES] (Firewall.pm format_rules). */
export function pveRuleLine(r: FirewallRule): string {
  let line = `${r.enabled ? "" : "|"}${r.type.toUpperCase()} ${r.macro ? `${r.macro}(${r.action})` : r.action}`;
  for (const [flag, value] of [["-i", r.iface], ["-source", r.source], ["-dest", r.dest], ["-p", r.proto], ["-dport", r.dport], ["-sport", r.sport], ["-log", r.log]] as const) {
    if (value !== undefined) line += ` ${flag} ${value}`;
  }
  return r.comment ? `${line} # ${r.comment}` : line;
}

/** Whether a guest's network interface gets `firewall=1`: it has a firewall that is on or has rules. */
export function guestFirewallOn(fw: GuestFirewall | undefined): boolean {
  return !!fw && (fw.enabled || fw.rules.length > 0);
}

// ---------------------------------------------------------------- the lock-out guard

/** How Phoenix reaches the host: from the stack settings. */
export interface FirewallAccess {
  /** `phoenix:sshHost` (an IP or a name). */
  sshHost: string;
  /** `phoenix:sshPort` (default 22). */
  sshPort: number;
  /** `phoenix:managementNetwork`: CIDR Phoenix and the operators connect from. */
  managementNetwork?: string;
  /** `phoenix:sshBastionHost`: when set (and an address), SSH arrives from it. */
  bastionHost?: string;
  /** `phoenix:firewallLockoutAcknowledged`: the operator keeps access some other way. */
  acknowledged: boolean;
}

/** The Proxmox API port (pveproxy). */
const PROXMOX_API_PORT = 8006;

function coversAll(outer: AddressRange[], inner: AddressRange): boolean {
  return outer.some((o) => o.version === inner.version && o.lo <= inner.lo && o.hi >= inner.hi);
}
function overlaps(a: AddressRange[], b: AddressRange): boolean {
  return a.some((o) => o.version === b.version && o.lo <= b.hi && b.lo <= o.hi);
}

/** The addresses an address spec stands for, through the host's aliases and ipsets (nomatch entries
 *  make an ipset cover less than its ranges: they are dropped from `covers`, kept in `touches`). */
function resolve(spec: string | undefined, fw: HostFirewall): { covers: AddressRange[]; touches: AddressRange[] } | "any" {
  if (spec === undefined) return "any";
  const parsed = parseAddressList(spec);
  const alias = (name: string) => fw.aliases.find((a) => a.name.toLowerCase() === name.toLowerCase());
  if (parsed.kind === "list") return { covers: parsed.ranges, touches: parsed.ranges };
  if (parsed.kind === "alias") {
    const a = alias(parsed.name);
    const r = a ? [parseAddress(a.cidr)] : [];
    return { covers: r, touches: r };
  }
  const set = fw.ipsets.find((s) => s.name.toLowerCase() === parsed.name.toLowerCase());
  const entries = (set?.entries ?? []).map((e) => ({ ...e, range: parseAddress(alias(e.cidr)?.cidr ?? e.cidr) }));
  const hasNomatch = entries.some((e) => e.nomatch);
  return {
    covers: hasNomatch ? [] : entries.map((e) => e.range),
    touches: entries.filter((e) => !e.nomatch).map((e) => e.range),
  };
}

/** The tcp ports a rule matches: "all" when it has no port restriction and no protocol other than tcp. */
function tcpPorts(rule: FirewallRule): { lo: number; hi: number }[] | "all" | "none" {
  if (rule.macro) {
    const tcp = FIREWALL_MACROS[rule.macro].filter((p) => p.startsWith("tcp/"));
    if (tcp.length === 0) return "none";
    // A macro's own rules set the port; the rule's dport (if any) would override it.
    if (rule.dport) return parsePorts(rule.dport, false);
    return tcp.flatMap((p) => parsePorts(p.slice(4), false));
  }
  if (rule.proto !== undefined && rule.proto !== "tcp" && rule.proto !== "6") return "none";
  if (rule.dport === undefined) return "all";
  return parsePorts(rule.dport, false);
}

/**
 * What the host's rules, read in order as pve-firewall applies them, decide for new tcp connections
 * to `port` from every address of `from` to the `targets` (the host's addresses; empty: unknown):
 * ok when an ACCEPT rule matches all of it before any DROP/REJECT rule matches part of it, not ok
 * (with the reason) when such a DROP/REJECT comes first, undefined when no rule decides (the policy,
 * after Proxmox's own management rules, does).
 */
function firstTcpVerdict(fw: HostFirewall, port: number, from: AddressRange, targets: AddressRange[]): { ok: boolean; because?: string } | undefined {
  for (const rule of fw.rules) {
    if (!rule.enabled || rule.type !== "in") continue;
    const ports = tcpPorts(rule);
    if (ports === "none" || (ports !== "all" && !ports.some((p) => p.lo <= port && port <= p.hi))) continue;
    const source = resolve(rule.source, fw);
    const dest = resolve(rule.dest, fw);
    const sourceTouches = source === "any" || overlaps(source.touches, from);
    const destTouches = dest === "any" || targets.length === 0 || targets.some((t) => overlaps(dest.touches, t));
    if (!sourceTouches || !destTouches) continue;
    if (rule.action !== "ACCEPT") return { ok: false, because: `${rule.origin} (${rule.action}) comes first and matches part of that traffic` };
    const sourceCovers = source === "any" || coversAll(source.covers, from);
    const destCovers = dest === "any" || (targets.length > 0 && targets.every((t) => coversAll(dest.covers, t)));
    if (sourceCovers && destCovers && rule.iface === undefined && rule.sport === undefined) return { ok: true };
  }
  return undefined;
}

/** The ports pve-firewall always accepts from its `management` IP set, after the users' rules and
 *  before the input policy (Firewall.pm compile_iptables_filter, "allow standard traffic for
 *  management ipset"): the API, the VNC consoles, the SPICE proxy, SSH on 22, migration. */
export const PROXMOX_MANAGEMENT_PORTS = [
  { lo: 8006, hi: 8006, what: "the API" },
  { lo: 5900, hi: 5999, what: "VNC consoles" },
  { lo: 3128, hi: 3128, what: "the SPICE proxy" },
  { lo: 22, hi: 22, what: "SSH" },
  { lo: 60000, hi: 60050, what: "migration" },
] as const;

/**
 * The network pve-firewall puts in its `management` IP set for a node: the cluster alias
 * `local_network` when the firewall declares one, else the node's local network, the network of the
 * connected route that holds the node's own address (Firewall.pm local_network: the address its name
 * resolves to, matched against the node's routes). Phoenix knows that address from the host file
 * (`network.interfaces.address`, a CIDR), so the local network is its network part.
 */
export function proxmoxLocalNetwork(fw: HostFirewall, hostAddress: string | undefined): { range: AddressRange; cidr: string; text: string } | undefined {
  const alias = fw.aliases.find((a) => a.name.toLowerCase() === "local_network");
  if (alias) return { range: parseAddress(alias.cidr), cidr: alias.cidr, text: `${alias.cidr} (the alias local_network)` };
  const m = hostAddress ? /^([^/]+)\/(\d{1,3})$/.exec(hostAddress) : null;
  const ip = m ? ipToBigint(m[1]) : undefined;
  // An IPv4 host address (the files' hosts have one); an IPv6-only node is not counted.
  if (!m || !ip || ip.version !== 4) return undefined;
  const bits = 32;
  const len = Number(m[2]);
  if (len > bits) return undefined;
  const hostMask = (1n << BigInt(bits - len)) - 1n;
  const lo = ip.value & ~hostMask;
  const cidr = `${bigintToIpv4(lo)}/${len}`;
  return { range: { version: 4, lo, hi: lo | hostMask }, cidr, text: `${cidr} (the local network of ${hostAddress})` };
}

/**
 * The lock-out guard. When the host firewall is enabled with an input policy that drops (DROP or
 * REJECT), every enabled `in` rule is read in order, as pve-firewall builds PVEFW-HOST-IN from them
 * (Firewall.pm: host rules, then cluster rules, then its own management-ipset rules, then the
 * policy): for SSH (`phoenix:sshPort`) and the API (8006) an ACCEPT rule must match tcp on that port
 * from the whole management network to the host's address before any DROP/REJECT rule that could
 * match part of that traffic; with an SSH bastion (an address), SSH must also be open from it.
 * When no rule decides, Proxmox's own management rules count: 22 and 8006 (PROXMOX_MANAGEMENT_PORTS)
 * are accepted from its `management` IP set, which holds the node's local network
 * (proxmoxLocalNetwork) and the entries of a `management` IP set the file declares.
 *
 * Returns one error line per port left unreachable (empty when access is kept or acknowledged).
 */
export function firewallLockout(fw: HostFirewall | undefined, hostAddress: string | undefined, access: FirewallAccess): string[] {
  if (!fw || !fw.enabled || fw.inputPolicy === "ACCEPT" || access.acknowledged) return [];
  const where = fw.origin;
  if (!access.managementNetwork) {
    const local = proxmoxLocalNetwork(fw, hostAddress);
    return [
      `${where}: the host firewall drops input (default_input_policy ${fw.inputPolicy}) but the stack sets no phoenix:managementNetwork: ` +
        `set it to the network Phoenix connects from (and add rules that accept tcp ${access.sshPort} and ${PROXMOX_API_PORT} from it` +
        `${local ? `, unless it lies in ${local.text}, where Proxmox's own rules keep tcp 22 and ${PROXMOX_API_PORT} open` : ""}), ` +
        `or set phoenix:firewallLockoutAcknowledged true if access is kept another way`,
    ];
  }
  let mgmt: AddressRange;
  try {
    mgmt = parseAddress(access.managementNetwork);
  } catch (e) {
    return [`phoenix:managementNetwork: ${(e as Error).message}`];
  }
  // Where Phoenix connects to: the SSH host when it is an address, the host's own address from the file.
  const targets: AddressRange[] = [];
  const sshIp = ipToBigint(access.sshHost);
  if (sshIp) targets.push({ version: sshIp.version, lo: sshIp.value, hi: sshIp.value });
  const hostIp = hostAddress ? ipToBigint(hostAddress.replace(/\/\d+$/, "")) : undefined;
  if (hostIp) targets.push({ version: hostIp.version, lo: hostIp.value, hi: hostIp.value });

  // SSH comes from the bastion when there is one (an address); the API from where Pulumi runs.
  const bastionIp = access.bastionHost ? ipToBigint(access.bastionHost) : undefined;
  const checks: { what: string; port: number; from: AddressRange; fromText: string }[] = [
    { what: "SSH", port: access.sshPort, from: mgmt, fromText: `the management network ${access.managementNetwork}` },
    { what: "the Proxmox API", port: PROXMOX_API_PORT, from: mgmt, fromText: `the management network ${access.managementNetwork}` },
  ];
  if (bastionIp) {
    checks.push({ what: "SSH", port: access.sshPort, from: { version: bastionIp.version, lo: bastionIp.value, hi: bastionIp.value }, fromText: `the bastion ${access.bastionHost}` });
  }

  // Proxmox's management IP set: the node's local network, and the entries of a declared `management` set.
  const local = proxmoxLocalNetwork(fw, hostAddress);
  const declared = fw.ipsets.find((set) => set.name.toLowerCase() === "management");
  const declaredRanges = declared ? resolve("+management", fw) : "any";
  const management = {
    ports: PROXMOX_MANAGEMENT_PORTS,
    portsText: PROXMOX_MANAGEMENT_PORTS.map((p) => (p.lo === p.hi ? `${p.lo}` : `${p.lo}:${p.hi}`)).join(", "),
    text: [local ? local.text : "the node's local network, which the host file does not give (network.interfaces.address)", declared ? "the declared management IP set" : ""].filter(Boolean).join(", "),
    covers: (r: AddressRange) => (!!local && coversAll([local.range], r)) || (declaredRanges !== "any" && coversAll(declaredRanges.covers, r)),
  };

  const errors: string[] = [];
  for (const { what, port, from, fromText } of checks) {
    const verdict = firstTcpVerdict(fw, port, from, targets);
    // No rule decided: Proxmox's own rules accept its management ports from its management IP set.
    const proxmoxKeeps = !verdict && management.ports.some((p) => p.lo <= port && port <= p.hi) && management.covers(from);
    if (!verdict?.ok && !proxmoxKeeps) {
      const sourceText = from === mgmt ? access.managementNetwork : access.bastionHost;
      const why = verdict?.because
        ? `: ${verdict.because}`
        : `: no rule accepts it, and Proxmox's own rules accept only tcp ${management.portsText} from its management IP set (${management.text})`;
      errors.push(
        `${where}: the host firewall drops input (default_input_policy ${fw.inputPolicy}) and nothing keeps ${what} (tcp ${port}) ` +
          `open from ${fromText}` +
          `${targets.length ? ` to ${[...new Set([access.sshHost, hostAddress?.replace(/\/\d+$/, "")].filter(Boolean))].join(" / ")}` : ""}` +
          `${why}; add a global_firewall_rules entry ` +
          `{"type": "in", "action": "ACCEPT", "proto": "tcp", "port": "${port}", "source": "${sourceText}"} before any DROP rule, ` +
          `or set phoenix:firewallLockoutAcknowledged true if access is kept another way`,
      );
    }
  }
  return errors;
}

// ---------------------------------------------------------------- services behind the host firewall

/** What the host offers that its own firewall could cut off: from the host model. */
export interface HostServices {
  firewall?: HostFirewall;
  network: { address?: string; defaultSubnet?: string; nfsServer?: string };
  nfsExports: { path: string; clients: string[] }[];
  samba?: { shares: { name: string }[] };
}

/** NFSv4's one port (NFSv3 clients also need rpcbind, 111, and mountd, whose port is not fixed). */
const NFS_PORT = 2049;
/** SMB over TCP, what Samba clients connect to (445; 139 is NetBIOS, for old clients only). */
const SMB_PORT = 445;

/**
 * NFS exports and Samba shares stay reachable behind the host firewall: when it is enabled with an
 * input policy that drops, each NFS client (an IP or network; names are not checked) must be
 * accepted on tcp 2049, and the Samba clients (the host's `network.default_subnet`, else its local
 * network: the files name no Samba clients) on tcp 445, by the host's rules in pve-firewall's order
 * (firstTcpVerdict). Proxmox's own management rules do not open these ports. One warning per client
 * left out, with the exact rule to add.
 */
export function warnUnreachableServices(host: HostServices, file: string, findings: Findings): void {
  const fw = host.firewall;
  if (!fw || !fw.enabled || fw.inputPolicy === "ACCEPT") return;
  const targets: AddressRange[] = [];
  for (const text of [host.network.address?.replace(/\/\d+$/, ""), host.network.nfsServer]) {
    const ip = text ? ipToBigint(text) : undefined;
    if (ip) targets.push({ version: ip.version, lo: ip.value, hi: ip.value });
  }
  const rule = (port: number, source: string, comment: string) =>
    `{"type": "in", "action": "ACCEPT", "proto": "tcp", "port": "${port}", "source": "${source}", "comment": "${comment}"}`;
  const judge = (port: number, source: string) => {
    let from: AddressRange;
    try {
      from = parseAddress(source);
    } catch {
      return undefined;
    }
    const verdict = firstTcpVerdict(fw, port, from, targets);
    return verdict?.ok ? undefined : verdict?.because ? `: ${verdict.because}` : "";
  };
  const policy = `the host firewall drops input (default_input_policy ${fw.inputPolicy})`;
  host.nfsExports.forEach((e, i) =>
    e.clients.forEach((client, j) => {
      const why = judge(NFS_PORT, client);
      if (why === undefined) return;
      findings.warn(file, ["nfs", "exports", i, "clients", j],
        `${policy} and no rule accepts NFS (tcp ${NFS_PORT}) from ${client}${why}: it cannot mount ${e.path}; add a global_firewall_rules entry ${rule(NFS_PORT, client, `NFS ${e.path}`)}`);
    }),
  );
  if (host.samba && host.samba.shares.length > 0) {
    const local = host.network.defaultSubnet ?? proxmoxLocalNetwork({ ...fw, aliases: [] }, host.network.address)?.cidr;
    const why = local ? judge(SMB_PORT, local) : undefined;
    if (local && why !== undefined) {
      findings.warn(file, ["samba", "shares"],
        `${policy} and no rule accepts Samba (tcp ${SMB_PORT}) from ${local} (${host.network.defaultSubnet ? "network.default_subnet" : "the host's local network"})${why}: ` +
          `its clients cannot reach the shares; add a global_firewall_rules entry ${rule(SMB_PORT, local, "Samba")}`);
    }
  }
}
