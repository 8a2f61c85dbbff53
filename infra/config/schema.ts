// zod 4 schemas of the three Phoenix files, exactly as people write them (the original Bash
// orchestrator's format, quirks included). Objects are loose: keys Phoenix does not use are kept
// and ignored. Keys it uses are validated strictly, with the patterns in ./patterns so that no
// value can smuggle shell syntax to the host. The JSON Schema files in schemas/ are generated
// from these (`phoenix schemas`), so editors check the same rules while people type.
import { z } from "zod";
import * as P from "./patterns";

/** A value for a message: JSON, one line, cut short. */
export function show(value: unknown): string {
  let text: string;
  try {
    text = JSON.stringify(value) ?? String(value);
  } catch {
    text = String(value);
  }
  return text.length > 80 ? `${text.slice(0, 77)}...` : text;
}

/** A string matching `re`; the message says what was expected and shows what was given. */
function text(re: RegExp, what: string) {
  return z
    .string({ error: (iss) => `must be a string (${what}); got ${show(iss.input)}` })
    .regex(re, { error: (iss) => `must be ${what}; got ${show(iss.input)}` })
    .meta({ description: what });
}

/** Like `text`, for secrets: the message never shows the value. */
function secretText(re: RegExp, what: string) {
  return z
    .string({ error: () => `must be a string (${what})` })
    .regex(re, { error: () => `must be ${what} (value not shown)` })
    .meta({ description: what });
}

function int(min: number, max = Number.MAX_SAFE_INTEGER, what = "an integer") {
  return z
    .number({ error: (iss) => `must be a number; got ${show(iss.input)}` })
    .int({ error: (iss) => `must be ${what}; got ${show(iss.input)}` })
    .min(min, { error: (iss) => `must be at least ${min}; got ${show(iss.input)}` })
    .max(max, { error: (iss) => `must be at most ${max}; got ${show(iss.input)}` });
}

function positive(what = "a positive number") {
  return z
    .number({ error: (iss) => `must be a number; got ${show(iss.input)}` })
    .positive({ error: (iss) => `must be ${what}; got ${show(iss.input)}` });
}

function bool() {
  return z.boolean({ error: (iss) => `must be true or false; got ${show(iss.input)}` });
}

function list<T extends z.ZodType>(item: T) {
  return z.array(item, { error: (iss) => `must be an array; got ${show(iss.input)}` });
}

function object<T extends z.ZodRawShape>(shape: T) {
  return z.looseObject(shape, { error: (iss) => `must be an object; got ${show(iss.input)}` });
}

/** Either form of a value real files use (`"a"` or `["a"]`, an object or a list of them). */
function oneOrMany<T extends z.ZodType>(item: T, what: string) {
  return z.union([item, list(item)], { error: (iss) => `must be ${what}; got ${show(iss.input)}` });
}

/** Guest IDs are JSON strings in LXC files (`"900"`) and numbers in VM files; both are accepted. */
const guestIdRef = z.union(
  [text(P.GUEST_ID_TEXT, "a guest ID (100-999999999)"), int(P.MIN_GUEST_ID, P.MAX_GUEST_ID, "a guest ID")],
  { error: (iss) => `must be a guest ID (100-999999999) as a string or number; got ${show(iss.input)}` },
);

const interfaceName = text(/^[a-z][a-z0-9._-]{0,14}$/, "a network interface name like vmbr0 or eth0");
const hostname = text(P.HOSTNAME, "a hostname (letters, digits, '-' and '.')");
const absolutePath = text(P.ABSOLUTE_PATH, "an absolute path without spaces or shell characters");
const sshPublicKey = text(P.SSH_PUBLIC_KEY, "an OpenSSH public key line (type, base64, comment)");
const passwordHash = z.union(
  [z.literal("NOT_SET"), z.literal(""), secretText(P.PASSWORD_HASH, "a crypt(3) hash such as $6$salt$hash")],
  { error: () => `must be a crypt(3) hash such as $6$salt$hash, or NOT_SET (value not shown)` },
);
const dnsList = text(
  new RegExp(`^${P.IPV4.source.slice(1, -1)}(?:[ ,]+${P.IPV4.source.slice(1, -1)})*$`),
  "IPv4 addresses separated by spaces or commas",
);

// ---------------------------------------------------------------- phoenix_hypervisor_config.json

const adminUserSchema = object({
  username: text(P.USERNAME, "a Linux user name"),
  password_hash: passwordHash.optional(),
  sudo_access: bool().optional(),
  ssh_public_key: z
    .union([z.literal(""), sshPublicKey, list(sshPublicKey)], {
      error: (iss) => `must be an OpenSSH public key line, a list of them, or ""; got ${show(iss.input)}`,
    })
    .optional(),
});

const hostInterfaceSchema = object({
  name: interfaceName,
  address: text(P.IPV4_CIDR, "an IPv4 CIDR address like 10.0.0.13/24").optional(),
  gateway: text(P.IPV4, "an IPv4 address").optional(),
  dns_nameservers: z
    .union([dnsList, list(text(P.IPV4, "an IPv4 address"))], {
      error: (iss) => `must be an IPv4 address, a list of them, or a space-separated string; got ${show(iss.input)}`,
    })
    .optional(),
});

export const sharedVolumeSchema = object({
  host_path: absolutePath,
  mounts: z.record(
    z.string().regex(P.GUEST_ID_TEXT, { error: (iss) => `mount keys must be CTIDs; got ${show(iss.input)}` }),
    absolutePath,
    {
      error: (iss) =>
        iss.code === "invalid_key" ? `${show(iss.input)} is not a CTID` : `must be an object CTID → container path; got ${show(iss.input)}`,
    },
  ),
});

const lxcNetworkSchema = object({
  name: interfaceName,
  bridge: interfaceName,
  ip: text(P.GUEST_IP, "dhcp or an IPv4 CIDR address like 10.0.0.150/24"),
  gw: text(P.IPV4, "an IPv4 address").optional(),
  // The Bash tool passed these to `pct create --nameserver/--searchdomain`.
  nameservers: z
    .union([dnsList, list(text(P.IPV4, "an IPv4 address"))], {
      error: (iss) => `must be an IPv4 address, a list of them, or a space-separated string; got ${show(iss.input)}`,
    })
    .optional(),
  searchdomain: hostname.optional(),
});

// ---------------------------------------------------------------- firewall blocks

/** Proxmox's firewall policies (rule actions, default policies). */
export const FIREWALL_POLICIES = ["ACCEPT", "DROP", "REJECT"] as const;
/** Proxmox's firewall log levels (`log`). */
export const FIREWALL_LOG_LEVELS = ["emerg", "alert", "crit", "err", "warning", "notice", "info", "debug", "nolog"] as const;
/** Alias and ipset names (pve-firewall's `$ip_alias_pattern`, `$ipset_name_pattern`); at most 64 characters. */
export const FIREWALL_NAME = /^[A-Za-z][A-Za-z0-9_-]+$/;

const firewallFlag = z.union([bool(), z.literal(0), z.literal(1)], { error: (iss) => `must be true or false; got ${show(iss.input)}` });
const firewallPolicy = z.enum(FIREWALL_POLICIES, { error: (iss) => `must be ACCEPT, DROP or REJECT; got ${show(iss.input)}` });
const firewallPorts = z.union(
  [text(/^[A-Za-z0-9._+:,-]*$/, "ports: 22, 8000:8100, 22,80,443 or service names like ssh"), int(0, 65535)],
  { error: (iss) => `must be a port list; got ${show(iss.input)}` },
);
const firewallAddress = text(/^(?:\+?[A-Za-z0-9_.:/,-]+)?$/, "an IP, CIDR, range a-b, comma list of IPs/CIDRs, alias name or +ipset");

/**
 * One firewall rule (the shape; infra/config/firewall.ts judges the values as pve-firewall's
 * verify_rule does). Unknown keys are errors: a misspelt restriction would open more than it says.
 * An empty string is the same as leaving an optional key out.
 */
export const firewallRuleSchema = z.strictObject(
  {
    type: text(/^(?:[Ii][Nn]|[Oo][Uu][Tt])$/, "the direction: in or out"),
    action: z.enum(FIREWALL_POLICIES, { error: (iss) => `must be ACCEPT, DROP or REJECT; got ${show(iss.input)}` }),
    macro: text(/^(?:[A-Za-z][A-Za-z0-9]*)?$/, "a Proxmox firewall macro like SSH, HTTP, HTTPS, DNS, Ping, Web").optional(),
    proto: z
      .union([text(/^[A-Za-z0-9._+-]*$/, "a protocol name or number from /etc/protocols, e.g. tcp, udp, icmp"), int(0, 255)], {
        error: (iss) => `must be a protocol; got ${show(iss.input)}`,
      })
      .optional(),
    port: firewallPorts.optional(),
    dport: firewallPorts.optional(),
    sport: firewallPorts.optional(),
    source: firewallAddress.optional(),
    dest: firewallAddress.optional(),
    iface: text(/^(?:[A-Za-z][A-Za-z0-9_]{1,20}(?:[:.][0-9]+)?)?$/, "an interface: net0, net1... on guests; any interface name on the host").optional(),
    log: z.union([z.enum(FIREWALL_LOG_LEVELS), z.literal("")], { error: (iss) => `must be a log level; got ${show(iss.input)}` }).optional(),
    comment: z.string().meta({ description: "one line of text (at most 512 characters)" }).optional(),
    enabled: firewallFlag.optional(),
  },
  { error: (iss) => `must be a firewall rule object; got ${show(iss.input)}` },
);

/**
 * A firewall block never fails the file's schema: infra/config/firewall.ts reads and judges it
 * (its messages name the rule and the value); the zod schema gives the block's shape to editors.
 */
function firewallBlock<T extends z.ZodType>(schema: T) {
  return schema.catch((ctx) => ctx.input as z.output<T>);
}

/** The host firewall: `shared_volumes.firewall` or a top-level `firewall` (Proxmox's cluster.fw). */
export const hostFirewallSchema = object({
  enabled: firewallFlag.optional(),
  default_input_policy: firewallPolicy.optional(),
  default_output_policy: firewallPolicy.optional(),
  global_firewall_rules: list(firewallRuleSchema).optional(),
  aliases: z
    .record(text(FIREWALL_NAME, "an alias name (a letter, then letters, digits, '-', '_')"), text(/^[A-Za-z0-9.:/]+$/, "an IP or CIDR"))
    .optional(),
  ipsets: z
    .record(
      text(FIREWALL_NAME, "an ipset name (a letter, then letters, digits, '-', '_')"),
      list(text(/^(?:! *)?[A-Za-z0-9_.:/-]+$/, "an IP, CIDR or alias name; '!' first for nomatch")),
    )
    .optional(),
});

/** A guest's firewall (Proxmox's /etc/pve/firewall/<vmid>.fw). */
export const guestFirewallSchema = object({
  enabled: firewallFlag.optional(),
  default_input_policy: firewallPolicy.optional(),
  default_output_policy: firewallPolicy.optional(),
  rules: list(firewallRuleSchema).optional(),
});

export const hypervisorFileSchema = object({
  $schema: z.string().optional(),
  version: z.string().optional(),
  author: z.string().optional(),
  timezone: text(P.TIMEZONE, "a timezone name like America/New_York").optional(),
  domain_name: text(P.HOSTNAME, "a DNS domain like internal.example.com").optional(),
  users: oneOrMany(adminUserSchema, "a user object or a list of user objects").optional(),
  network: object({
    interfaces: oneOrMany(hostInterfaceSchema, "an interface object or a list of them").optional(),
    default_subnet: text(P.IPV4_CIDR, "an IPv4 CIDR like 10.0.0.0/24").optional(),
    nfs_server: text(P.IPV4, "an IPv4 address").optional(),
  }).optional(),
  nfs: object({
    exports: list(
      object({
        path: absolutePath,
        clients: list(text(P.NFS_CLIENT, "an IP, CIDR, host name or *")),
        options: list(text(P.NFS_OPTION, "an exports(5) option like rw or no_subtree_check")).optional(),
      }),
    ).optional(),
  }).optional(),
  samba: object({
    // Older files omit it: the Samba user is then the (first) admin user, `users.username`.
    user: text(P.USERNAME, "a Linux user name").optional(),
    shares: list(
      object({
        name: text(P.SAMBA_SHARE, "a share name (letters, digits, '_.-', no spaces)"),
        path: text(
          new RegExp(`^(?:${P.ABSOLUTE_PATH.source.slice(1, -1)}|${P.RELATIVE_PATH.source.slice(1, -1)})$`),
          "a dataset path like quickOS/shared-prod-data or an absolute path",
        ),
        options: text(
          /^(?:[a-z][a-z0-9_]*=[A-Za-z0-9_.,@%/:+-]+(?: +[a-z][a-z0-9_]*=[A-Za-z0-9_.,@%/:+-]+)*)?$/,
          "space-separated key=value options like 'browseable=yes writable=yes'",
        ).optional(),
        valid_users: list(text(P.USER_OR_GROUP, "a user name or @group")).optional(),
      }),
    ).optional(),
  }).optional(),
  zfs: object({
    arc_max_gb: positive().optional(),
    pools: list(
      object({
        name: text(P.ZFS_POOL, "a ZFS pool name"),
        raid_level: z.enum(P.RAID_LEVELS, {
          error: (iss) => `must be one of ${P.RAID_LEVELS.join(", ")}; got ${show(iss.input)}`,
        }),
        disks: list(text(P.DISK_PATH, "a /dev/disk/by-id/... path")).min(1, { error: "must list at least one disk" }),
        // Phoenix extensions, given at creation (defaults: ashift 12, autotrim on, compression lz4,
        // atime off, as the Bash tool created its pools, plus an explicit sector size).
        ashift: int(9, 16, "a sector size exponent (9-16; 12 for 4K sectors)").optional(),
        autotrim: z.enum(["on", "off"], { error: (iss) => `must be on or off; got ${show(iss.input)}` }).optional(),
        compression: text(P.ZFS_COMPRESSION, "a ZFS compression (lz4, zstd, zstd-3, gzip-6, off...)").optional(),
        atime: z.enum(["on", "off"], { error: (iss) => `must be on or off; got ${show(iss.input)}` }).optional(),
      }),
    ).optional(),
    datasets: list(
      object({
        name: text(P.ZFS_DATASET, "a ZFS dataset name"),
        pool: text(P.ZFS_POOL, "a ZFS pool name"),
        // Two spellings of the same properties: the `k=v,k=v` string, or (older files) an object.
        properties: z
          .union(
            [
              text(
                /^(?:[a-z][a-z0-9_.:]*=[A-Za-z0-9._:/+@-]+(?:,[a-z][a-z0-9_.:]*=[A-Za-z0-9._:/+@-]+)*)?$/,
                "comma-separated key=value ZFS properties like recordsize=16K,compression=lz4",
              ),
              z.record(
                text(P.ZFS_PROPERTY_KEY, "a ZFS property name like recordsize"),
                z.union([text(P.ZFS_PROPERTY_VALUE, "a ZFS property value like 16K or lz4"), z.number().nonnegative()], {
                  error: (iss) => `must be a ZFS property value like 16K or lz4; got ${show(iss.input)}`,
                }),
              ),
            ],
            { error: (iss) => `must be comma-separated key=value ZFS properties like recordsize=16K,compression=lz4, or an object of them; got ${show(iss.input)}` },
          )
          .optional(),
        proxmox_storage_type: z
          .enum(["zfspool", "dir"], { error: (iss) => `must be zfspool or dir; got ${show(iss.input)}` })
          .optional(),
        proxmox_content_type: text(
          /^(?:images|rootdir|vztmpl|iso|backup|snippets|import|none)(?:,(?:images|rootdir|vztmpl|iso|backup|snippets|import))*$/,
          "comma-separated Proxmox content types (images, rootdir, vztmpl, iso, backup, snippets, import)",
        ).optional(),
        storage_class: z.string().optional(),
      }),
    ).optional(),
  }).optional(),
  proxmox_storage_ids: z
    .record(z.string(), text(P.STORAGE_ID, "a Proxmox storage id"), {
      error: (iss) => `must be an object alias → storage id; got ${show(iss.input)}`,
    })
    .optional(),
  mount_point_base: absolutePath.optional(),
  proxmox_defaults: object({
    lxc: object({
      cores: int(1, 8192).optional(),
      memory_mb: int(16).optional(),
      network_config: z
        .union(
          [
            text(
              new RegExp(`^${P.IPV4_CIDR.source.slice(1, -1)}(?:,${P.IPV4.source.slice(1, -1)}){0,2}$`),
              "'address/prefix,gateway[,dns]'",
            ),
            lxcNetworkSchema,
          ],
          { error: (iss) => `must be 'address/prefix,gateway[,dns]' or a network object; got ${show(iss.input)}` },
        )
        .optional(),
      features: oneOrMany(
        text(/^[a-z0-9_]+(?:=[A-Za-z0-9_.-]+)?(?:,[a-z0-9_]+(?:=[A-Za-z0-9_.-]+)?)*$/, "feature names or key=value"),
        "a comma-separated string or a list",
      ).optional(),
      nesting: z
        .union([bool(), z.literal(0), z.literal(1)], { error: (iss) => `must be true, false, 0 or 1; got ${show(iss.input)}` })
        .optional(),
      security: z.string().optional(),
    }).optional(),
  }).optional(),
  nvidia_driver: object({
    install: bool().optional(),
    version: text(P.VERSION, "a driver version like 580.76.05").optional(),
    runfile_url: text(P.HTTPS_URL, "an http(s) URL without shell characters").optional(),
    runfile_sha256: text(/^[0-9a-f]{64}$/, "a sha256 in hex").optional(),
    cuda_version: text(P.VERSION, "a CUDA version like 12.8").optional(),
    install_vllm_libs: bool().optional(),
  }).optional(),
  // Phoenix extension: PCI devices the host passes through to VMs, by name (the name of the
  // cluster's PCI resource mapping VMs' `pci_devices` refer to).
  pci_devices: z
    .record(
      text(P.PCI_MAPPING_NAME, "a mapping name (a letter, then letters, digits, '_' or '-')"),
      object({
        path: text(P.PCI_PATH, "a PCI address like 0000:01:00.0, or 0000:01:00 for all its functions"),
        id: text(P.PCI_ID, "the vendor:device id lspci -nn shows, like 10de:2204"),
        subsystem_id: text(P.PCI_ID, "the subsystem vendor:device id, like 1462:3881").optional(),
        iommu_group: int(0, 65535, "an IOMMU group number").optional(),
        gpu_index: int(0, 63, "the card's GPU index on the host (nvidia-smi, /dev/nvidiaN)").optional(),
      }),
      { error: (iss) => (iss.code === "invalid_key" ? `${show(iss.input)} is not a mapping name` : `must be an object name → PCI device; got ${show(iss.input)}`) },
    )
    .optional(),
  // Real files keep the host firewall (`firewall`) and other objects in here; the loader validates
  // entries that look like volumes (host_path/mounts) with sharedVolumeSchema and skips the rest
  // with a warning.
  shared_volumes: z
    .object({ firewall: firewallBlock(hostFirewallSchema).optional() }, {
      error: (iss) => `must be an object name → volume; got ${show(iss.input)}`,
    })
    .catchall(z.union([sharedVolumeSchema, z.looseObject({})]))
    .optional(),
  // The host firewall may also stand here (the same block; infra/config/firewall.ts).
  firewall: firewallBlock(hostFirewallSchema).optional(),
});

// ---------------------------------------------------------------- phoenix_lxc_configs.json

const testEntrySchema = object({
  name: text(/^[A-Za-z0-9 _.,:()-]+$/, "a test name"),
  type: text(/^[a-z_]+$/, "a test type like script"),
  path: text(P.RELATIVE_PATH, "a relative script path"),
});

const guestVolumeSchema = object({
  name: text(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a volume name"),
  pool: text(P.STORAGE_ID, "a Proxmox storage id").optional(),
  storage: text(P.STORAGE_ID, "a Proxmox storage id").optional(),
  size_gb: positive().optional(),
  mount_point: text(P.MOUNT_PATH, "an absolute path without spaces, commas, `=` or shell characters").optional(),
});

export const containerSchema = object({
  name: hostname,
  node: text(P.NODE_NAME, "a Proxmox node name").optional(),
  template: text(
    new RegExp(`^(?:${P.ABSOLUTE_PATH.source.slice(1, -1)}|[A-Za-z][A-Za-z0-9._-]*:vztmpl/[A-Za-z0-9._+-]+)$`),
    "a host path to an OS template or a volume id <storage>:vztmpl/<file>",
  ).optional(),
  clone_from_ctid: guestIdRef.optional(),
  template_snapshot_name: text(P.SNAPSHOT_NAME, "a Proxmox snapshot name (a letter, then 1-39 letters, digits, '_' or '-')").optional(),
  memory_mb: int(16).optional(),
  swap_mb: int(0).optional(),
  cores: int(1, 8192).optional(),
  storage_pool: text(P.STORAGE_ID, "a Proxmox storage id").optional(),
  storage_size_gb: positive().optional(),
  network_config: lxcNetworkSchema.optional(),
  mac_address: text(P.MAC, "a MAC address like 52:54:00:AA:BB:CC").optional(),
  unprivileged: bool().optional(),
  gpu_assignment: text(/^(?:none|[0-9]+(?: *, *[0-9]+)*)?$/, "none or GPU indexes like '0' or '0,1'").optional(),
  features: list(text(P.FEATURE_NAME, "a feature name")).optional(),
  application_script: text(P.SCRIPT_PATH, "a script file name like phoenix_hypervisor_lxc_952.sh").optional(),
  health_check: object({
    command: text(P.COMMAND_LINE, "a command line without quotes, ';', '|', '&', '$' or backticks"),
    retries: int(1, 1000).optional(),
    interval: positive().optional(),
  }).optional(),
  tests: object({
    health_checks: list(testEntrySchema).optional(),
    integration_tests: list(testEntrySchema).optional(),
  }).optional(),
  pct_options: list(text(P.PCT_OPTION, "a container feature key=value like nesting=1")).optional(),
  lxc_options: list(
    // Lines as Proxmox splits them (patterns.ts LXC_LINE); what a key may do is judged by ./lxc-raw.
    text(P.LXC_LINE, "an LXC config line lxc.key=value"),
  ).optional(),
  apparmor_profile: text(P.APPARMOR_PROFILE, "an AppArmor profile name").optional(),
  apparmor_manages_nesting: bool().optional(),
  enable_lifecycle_snapshots: bool().optional(),
  start_at_boot: bool().optional(),
  boot_order: int(0).optional(),
  boot_delay: int(0).optional(),
  dependencies: list(guestIdRef).optional(),
  volumes: list(guestVolumeSchema).optional(),
  zfs_volumes: list(guestVolumeSchema).optional(),
  mount_points: list(
    object({
      host_path: absolutePath,
      container_path: absolutePath,
      owner_uid: int(0).optional(),
      owner_gid: int(0).optional(),
    }),
  ).optional(),
  id_maps: list(
    object({
      type: z.enum(["uid", "gid", "u", "g"], { error: (iss) => `must be uid or gid; got ${show(iss.input)}` }),
      host_id: int(0),
      container_id: int(0),
      size: int(1),
    }),
  ).optional(),
  firewall: firewallBlock(guestFirewallSchema).optional(),
});

const lxcFileSchema = object({
  $schema: z.string().optional(),
  nvidia_driver_version: text(P.VERSION, "a driver version like 580.76.05").optional(),
  nvidia_repo_url: text(P.HTTPS_URL, "an http(s) URL").optional(),
  nvidia_runfile_url: text(P.HTTPS_URL, "an http(s) URL").optional(),
  lxc_configs: z.record(
    z.string().regex(P.GUEST_ID_TEXT, { error: (iss) => `keys must be CTIDs (100-999999999); got ${show(iss.input)}` }),
    containerSchema,
    {
      error: (iss) =>
        iss.code === "invalid_key" ? `${show(iss.input)} is not a CTID (100-999999999)` : `must be an object keyed by CTID; got ${show(iss.input)}`,
    },
  ),
});

// ---------------------------------------------------------------- phoenix_vm_configs.json

const vmVolumeSchema = z.union([
  object({
    type: z.literal("nfs"),
    name: text(/^[A-Za-z0-9][A-Za-z0-9_.-]*$/, "a volume name"),
    server: text(/^[A-Za-z0-9][A-Za-z0-9.-]*$/, "an NFS server address"),
    path: absolutePath,
    mount_point: absolutePath,
  }),
  guestVolumeSchema,
]);

export const vmSchema = object({
  vmid: int(P.MIN_GUEST_ID, P.MAX_GUEST_ID, "a VMID"),
  name: hostname,
  node: text(P.NODE_NAME, "a Proxmox node name").optional(),
  is_template: bool().optional(),
  template_image: text(P.IMAGE_FILE, "a cloud image file name like noble-server-cloudimg-amd64.img").optional(),
  clone_from_vmid: guestIdRef.optional(),
  template_snapshot_name: text(P.SNAPSHOT_NAME, "a Proxmox snapshot name (a letter, then 1-39 letters, digits, '_' or '-')").optional(),
  cores: int(1, 8192).optional(),
  memory_mb: int(16).optional(),
  disk_size_gb: positive().optional(),
  storage_pool: text(P.STORAGE_ID, "a Proxmox storage id").optional(),
  network_bridge: interfaceName.optional(),
  mac_address: text(P.MAC, "a MAC address like 52:54:00:AA:BB:CC").optional(),
  network_config: object({
    ip: text(P.GUEST_IP, "dhcp or an IPv4 CIDR address").optional(),
    gw: text(P.IPV4, "an IPv4 address").optional(),
    nameservers: oneOrMany(text(P.IPV4, "an IPv4 address"), "an IPv4 address or a list of them").optional(),
    nameserver: oneOrMany(text(P.IPV4, "an IPv4 address"), "an IPv4 address or a list of them").optional(),
  }).optional(),
  user_config: object({
    username: text(P.USERNAME, "a Linux user name"),
    password_hash: passwordHash.optional(),
    ssh_public_key: z.union([z.literal(""), sshPublicKey]).optional(),
  }).optional(),
  features: list(text(P.FEATURE_NAME, "a feature name")).optional(),
  start_at_boot: bool().optional(),
  boot_order: int(0).optional(),
  boot_delay: int(0).optional(),
  dependencies: list(guestIdRef).optional(),
  // Phoenix extension: host PCI devices (names of the host file's pci_devices) passed through to
  // the VM; `pcie` attaches them as PCIe, which needs (and sets) the q35 machine type.
  pci_devices: list(text(P.PCI_MAPPING_NAME, "a name from the host file's pci_devices"))
    .max(16, { error: "at most 16 devices (Proxmox's hostpci0 to hostpci15)" })
    .optional(),
  pcie: bool().optional(),
  volumes: list(vmVolumeSchema).optional(),
  firewall: firewallBlock(guestFirewallSchema).optional(),
});

const vmFileSchema = object({
  $schema: z.string().optional(),
  vm_defaults: object({
    template: z.string().optional(),
    cores: int(1, 8192).optional(),
    memory_mb: int(16).optional(),
    disk_size_gb: positive().optional(),
    storage_pool: text(P.STORAGE_ID, "a Proxmox storage id").optional(),
    network_bridge: interfaceName.optional(),
  }).optional(),
  vms: list(vmSchema).optional(),
});

export type HypervisorFile = z.infer<typeof hypervisorFileSchema>;
export type LxcFile = z.infer<typeof lxcFileSchema>;
export type ContainerEntry = z.infer<typeof containerSchema>;
export type VmFile = z.infer<typeof vmFileSchema>;
export type VmEntry = z.infer<typeof vmSchema>;

/** The three files: base name → schema. */
export const FILE_SCHEMAS = {
  "phoenix_hypervisor_config.json": hypervisorFileSchema,
  "phoenix_lxc_configs.json": lxcFileSchema,
  "phoenix_vm_configs.json": vmFileSchema,
} as const;

export type PhoenixFileName = keyof typeof FILE_SCHEMAS;
export const HYPERVISOR_FILE: PhoenixFileName = "phoenix_hypervisor_config.json";
export const LXC_FILE: PhoenixFileName = "phoenix_lxc_configs.json";
export const VM_FILE: PhoenixFileName = "phoenix_vm_configs.json";
