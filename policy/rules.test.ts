// One passing and one failing case per policy, with arguments shaped as the policy SDK passes them.
import { describe, expect, it } from "vitest";
import type { PolicyResource, ResourceValidationArgs, ResourceValidationPolicy, StackValidationPolicy } from "@pulumi/policy";
import * as rules from "./rules";
import { CONTAINER, DYNAMIC, LXC_OPTIONS, PROVIDER, VM } from "./rules";

const ZFS_POOL = "pulumi-nodejs:dynamic/phoenix:host-zfs-pool";
const STEP = "pulumi-nodejs:dynamic/phoenix:lxc-step";

const urnOf = (stack: string, type: string, name: string, parentType?: string) =>
  `urn:pulumi:${stack}::phoenix::${parentType ? `${parentType}$` : ""}${type}::${name}`;

function resourceArgs(
  type: string,
  name: string,
  props: Record<string, unknown>,
  { stack = "dev", protect = false, config = {} as Record<string, unknown> } = {},
): ResourceValidationArgs {
  return {
    type,
    name,
    props,
    urn: urnOf(stack, type, name),
    opts: { protect, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
    stackTags: new Map(),
    isType: () => false,
    asType: () => undefined,
    getConfig: <T extends object>() => config as T,
    notApplicable: (reason?: string): never => {
      throw new Error(`not applicable: ${reason}`);
    },
  };
}

function resource(type: string, name: string, props: Record<string, unknown>, stack = "dev", provider?: PolicyResource["provider"]): PolicyResource {
  return {
    type,
    name,
    props,
    urn: urnOf(stack, type, name),
    opts: { protect: false, ignoreChanges: [], aliases: [], customTimeouts: { createSeconds: 0, updateSeconds: 0, deleteSeconds: 0 }, additionalSecretOutputs: [] },
    provider,
    dependencies: [],
    propertyDependencies: {},
    isType: () => false,
    asType: () => undefined,
  };
}

async function violations(policy: ResourceValidationPolicy, args: ResourceValidationArgs): Promise<string[]> {
  const out: string[] = [];
  const v = policy.validateResource!;
  for (const f of Array.isArray(v) ? v : [v]) await f(args, (m) => out.push(m));
  return out;
}

async function stackViolations(policy: StackValidationPolicy, resources: PolicyResource[], config: Record<string, unknown> = {}): Promise<string[]> {
  const out: string[] = [];
  await policy.validateStack(
    {
      resources,
      stackTags: new Map(),
      getConfig: <T extends object>() => config as T,
      notApplicable: (reason?: string): never => {
        throw new Error(`not applicable: ${reason}`);
      },
    },
    (m) => out.push(m),
  );
  return out;
}

/** A container's inputs as the lxc component declares them. */
function ct(vmId: number, extra: Record<string, unknown> = {}) {
  return {
    nodeName: "pve",
    vmId,
    unprivileged: true,
    startOnBoot: true,
    cpu: { cores: 2 },
    memory: { dedicated: 2048, swap: 512 },
    networkInterfaces: [{ name: "eth0", bridge: "vmbr0", macAddress: `52:54:00:AA:BB:${(vmId % 256).toString(16).padStart(2, "0").toUpperCase()}` }],
    initialization: { hostname: `c${vmId}`, ipConfigs: [{ ipv4: { address: `10.0.0.${vmId % 256}/24`, gateway: "10.0.0.1" } }] },
    ...extra,
  };
}
const GPU_DEVICES = { devicePassthroughs: [{ path: "/dev/nvidia0" }, { path: "/dev/nvidiactl" }, { path: "/dev/nvidia-uvm" }] };

describe("privileged-container-needs-allow", () => {
  const p = rules.privilegedContainerAllowed;
  it("passes an unprivileged container, and a privileged one that is allowed", async () => {
    expect(await violations(p, resourceArgs(CONTAINER, "ct-950", ct(950)))).toEqual([]);
    expect(await violations(p, resourceArgs(CONTAINER, "ct-950", ct(950, { unprivileged: false }), { config: { allowPrivileged: [950] } }))).toEqual([]);
  });
  it("fails a privileged container that is not allowed (explicitly or by the provider default)", async () => {
    expect(await violations(p, resourceArgs(CONTAINER, "ct-950", ct(950, { unprivileged: false }), { config: { allowPrivileged: [951] } })))
      .toEqual([expect.stringMatching(/^ct-950 \(CTID 950\) is privileged/)]);
    const { unprivileged: _u, ...defaults } = ct(951);
    expect(await violations(p, resourceArgs(CONTAINER, "ct-951", defaults))).toHaveLength(1);
  });
});

describe("guest-sets-cores-and-memory", () => {
  const p = rules.coresAndMemorySet;
  it("passes containers and VMs that set both", async () => {
    expect(await violations(p, resourceArgs(CONTAINER, "ct-950", ct(950)))).toEqual([]);
    expect(await violations(p, resourceArgs(VM, "vm-8001", { vmId: 8001, cpu: { cores: 4 }, memory: { dedicated: 8192 } }))).toEqual([]);
  });
  it("fails a guest that leaves either to the provider", async () => {
    expect(await violations(p, resourceArgs(CONTAINER, "ct-950", ct(950, { cpu: {} })))).toEqual(["ct-950 (CTID 950) does not set cpu.cores"]);
    expect(await violations(p, resourceArgs(VM, "vm-8001", { vmId: 8001, cpu: { cores: 4 } }))).toEqual([
      "vm-8001 (VMID 8001) does not set memory.dedicated",
    ]);
  });
});

describe("zfs-pool-protected", () => {
  const p = rules.zfsPoolsProtected;
  it("passes a protected pool and ignores datasets", async () => {
    expect(await violations(p, resourceArgs(ZFS_POOL, "host-zfs-pool-quickOS", {}, { protect: true }))).toEqual([]);
    expect(await violations(p, resourceArgs(DYNAMIC, "host-zfs-dataset-quickOS-shared", {}, { protect: false }))).toEqual([]);
  });
  it("fails an unprotected pool", async () => {
    expect(await violations(p, resourceArgs(ZFS_POOL, "host-zfs-pool-quickOS", {}, { protect: false }))).toEqual([
      expect.stringMatching(/^host-zfs-pool-quickOS is not protected/),
    ]);
  });
});

describe("no-host-key-opt-out-in-prod", () => {
  const p = rules.noHostKeyOptOutInProd;
  const conn = (extra: Record<string, unknown>) => ({ connection: { host: "pve", port: 22, user: "root", ...extra } });
  it("passes a pinned host key in prod, and an opt-out outside prod", async () => {
    expect(await violations(p, resourceArgs(DYNAMIC, "host-initial-setup", conn({ hostKey: "SHA256:abc" }), { stack: "prod" }))).toEqual([]);
    expect(await violations(p, resourceArgs(DYNAMIC, "host-initial-setup", conn({ insecureIgnoreHostKey: true }), { stack: "dev" }))).toEqual([]);
  });
  it("fails an opt-out, a missing key, or an unpinned bastion in prod (and in stacks the config calls prod)", async () => {
    expect(await violations(p, resourceArgs(DYNAMIC, "host-initial-setup", conn({ insecureIgnoreHostKey: true }), { stack: "prod" })))
      .toEqual([expect.stringMatching(/host-key checking is switched off/)]);
    expect(await violations(p, resourceArgs(DYNAMIC, "ct-950-features", conn({}), { stack: "prod" }))).toEqual([
      expect.stringMatching(/no SSH host key pinned/),
    ]);
    expect(
      await violations(p, resourceArgs(DYNAMIC, "x", conn({ hostKey: "SHA256:a", bastion: { host: "b", port: 22, user: "u" } }), { stack: "prod" })),
    ).toEqual([expect.stringMatching(/bastion/)]);
    expect(
      await violations(p, resourceArgs(DYNAMIC, "x", conn({ insecureIgnoreHostKey: true }), { stack: "live", config: { prodStacks: ["live"] } })),
    ).toHaveLength(1);
  });
});

describe("no-insecure-proxmox-api-in-prod", () => {
  const p = rules.noInsecureApiInProd;
  const provider = (stack: string, insecure: string) => ({ type: PROVIDER, name: "default_8_6_0", urn: urnOf(stack, PROVIDER, "default_8_6_0"), props: { insecure } });
  it("passes a verifying provider in prod, and an insecure one in dev", async () => {
    expect(await stackViolations(p, [resource(CONTAINER, "ct-950", ct(950), "prod", provider("prod", "false"))])).toEqual([]);
    expect(await stackViolations(p, [resource(CONTAINER, "ct-950", ct(950), "dev", provider("dev", "true"))])).toEqual([]);
  });
  it("fails an insecure provider in prod", async () => {
    expect(await stackViolations(p, [resource(PROVIDER, "default_8_6_0", { insecure: "true" }, "prod")])).toEqual([
      expect.stringMatching(/skips TLS verification/),
    ]);
  });
});

describe("no-data-destruction-in-prod", () => {
  const p = rules.noDataDestructionInProd;
  it("passes allowDestroy in dev and its absence in prod", async () => {
    expect(await violations(p, resourceArgs(DYNAMIC, "host-zfs-dataset-quickOS-x", { allowDestroy: true }, { stack: "dev" }))).toEqual([]);
    expect(await violations(p, resourceArgs(DYNAMIC, "host-zfs-dataset-quickOS-x", { allowDestroy: false }, { stack: "prod" }))).toEqual([]);
  });
  it("fails allowDestroy in prod", async () => {
    expect(await violations(p, resourceArgs(DYNAMIC, "host-zfs-dataset-quickOS-x", { allowDestroy: true }, { stack: "prod" }))).toHaveLength(1);
  });
});

describe("unconfined-container-needs-allow", () => {
  const p = rules.unconfinedNeedsAllow;
  const lxcConfig = { params: { ctid: "950", options: "lxc.apparmor.profile=unconfined\nlxc.mount.entry=/dev/fuse dev/fuse none bind,create=file" } };
  it("passes confined containers, allowed unconfined ones, and scripts that merely mention it", async () => {
    expect(await violations(p, resourceArgs(LXC_OPTIONS, "ct-952-lxc-options", { params: { ctid: "952", options: "lxc.mount.entry=/dev/fuse dev/fuse none bind" } }))).toEqual([]);
    expect(await violations(p, resourceArgs(LXC_OPTIONS, "ct-950-lxc-options", lxcConfig, { config: { allowUnconfined: [950] } }))).toEqual([]);
    const step = { params: { ctid: "952", step: "docker", script: "# never set lxc.apparmor.profile=unconfined here\n", library: "" } };
    expect(await violations(p, resourceArgs(STEP, "ct-952-docker", step))).toEqual([]);
  });
  it("fails an unconfined profile or all-devices access that is not allowed", async () => {
    expect(await violations(p, resourceArgs(LXC_OPTIONS, "ct-950-lxc-options", lxcConfig, { config: { allowUnconfined: [955] } }))).toEqual([
      "ct-950-lxc-options (CTID 950) asks for AppArmor unconfined; add the CTID to allowUnconfined to accept it",
    ]);
    expect(await violations(p, resourceArgs(DYNAMIC, "ct-953-raw", { params: { lines: "lxc.cgroup2.devices.allow=a" } }))).toEqual([
      expect.stringMatching(/access to every host device/),
    ]);
  });
});

describe("no-sensitive-host-bind-mounts", () => {
  const p = rules.noSensitiveBindMounts;
  const mounts = (...volumes: string[]) => ct(952, { mountPoints: volumes.map((v, i) => ({ volume: v, path: `/mnt/m${i}` })) });
  const lines = (...entries: string[]) => ({ params: { ctid: "955", options: entries.join("\n") } });
  it("passes data directories, storage volumes and single device nodes", async () => {
    expect(await violations(p, resourceArgs(CONTAINER, "ct-952", mounts("/quickOS/shared-prod-data", "/mnt/pve/models", "quickOS-lxc-disks", "/etcetera")))).toEqual([]);
    const ok = lines(
      "lxc.apparmor.profile=unconfined",
      "lxc.mount.entry=/fastData/shared-bulk-data/ollama_models ollama_models none bind,create=dir 0 0",
      "lxc.mount.entry=/dev/nvidia0 dev/nvidia0 none bind,optional,create=file",
      "lxc.mount.entry=/dev/fuse dev/fuse none bind,create=file",
      "lxc.mount.entry=proc proc proc nodev,noexec,nosuid 0 0",
    );
    expect(await violations(p, resourceArgs(LXC_OPTIONS, "ct-955-lxc-options", ok))).toEqual([]);
  });
  it("fails the host's root, configuration, secrets and device tree, as API mount points or raw lines", async () => {
    const found = await violations(p, resourceArgs(CONTAINER, "ct-952", mounts("/", "/etc/pve", "/root/.ssh/", "/dev", "/var/lib/vz/images")));
    expect(found).toHaveLength(5);
    expect(found[1]).toBe("ct-952 (CTID 952) bind-mounts the host's /etc/pve (under /etc) at /mnt/m1");
    const raw = lines("lxc.mount.entry=/etc/pve mnt/pve none rbind,create=dir 0 0", "lxc.mount.entry = / host none bind 0 0");
    expect(await violations(p, resourceArgs(LXC_OPTIONS, "ct-955-lxc-options", raw))).toEqual([
      "ct-955-lxc-options bind-mounts the host's /etc/pve (under /etc) at mnt/pve",
      "ct-955-lxc-options bind-mounts the host's / at host",
    ]);
  });
});

describe("no-sensitive-host-bind-mounts normalises paths (one judge: infra/config/lxc-raw)", () => {
  it("catches /./etc, //root and /srv/../etc", async () => {
    const raw = { params: { ctid: "955", options: ["/./etc", "//root", "/srv/../etc"].map((h) => `lxc.mount.entry=${h} m none bind 0 0`).join("\n") } };
    expect(await violations(rules.noSensitiveBindMounts, resourceArgs(LXC_OPTIONS, "ct-955-lxc-options", raw))).toHaveLength(3);
  });
});

describe("no-raw-lxc-allowance-in-prod", () => {
  const p = rules.rawLxcAllowanceInProd;
  const lines = (...entries: string[]) => ({ params: { ctid: "950", options: entries.join("\n") } });
  const risky = lines("lxc.apparmor.profile=unconfined", "lxc.hook.pre-start=/usr/local/bin/x", "lxc.cgroup2.devices.allow=a", "lxc.mount.entry=/dev/sda dev/sda none bind,create=file");
  it("flags every line an allowance admitted, in prod only", async () => {
    const found = await violations(p, resourceArgs(LXC_OPTIONS, "ct-950-lxc-options", risky, { stack: "prod" }));
    expect(found).toHaveLength(3);
    expect(found[0]).toMatch(/^ct-950-lxc-options: lxc\.hook\.pre-start=\/usr\/local\/bin\/x: .*admitted by phoenix:allowRawLxc, not in prod/);
    expect(found[2], found.join("\n")).toMatch(/block device.*phoenix:allowHostPaths/);
    expect(await violations(p, resourceArgs(LXC_OPTIONS, "ct-950-lxc-options", risky, { stack: "dev" }))).toEqual([]);
  });
  it("passes the lines real stacks use", async () => {
    const ok = lines("lxc.apparmor.profile=unconfined", "lxc.cgroup2.devices.allow=c 195:* rwm", "lxc.mount.entry=/dev/nvidia0 dev/nvidia0 none bind,optional,create=file");
    expect(await violations(p, resourceArgs(LXC_OPTIONS, "ct-950-lxc-options", ok, { stack: "prod" }))).toEqual([]);
  });
});

describe("no-risky-host-values-in-prod", () => {
  const p = rules.noRiskyValuesInProd;
  /** The kind each resource name's step has (the rule reads the type, as the program registers it). */
  const typeOf = (name: string) =>
    `pulumi-nodejs:dynamic/phoenix:${name.startsWith("host-nvidia") ? "host-nvidia-driver" : name.startsWith("host-nfs-export-") ? "host-nfs-export" : "host-zfs-dataset"}`;
  it("flags http without checksum, NFS * with no_root_squash, a dataset under /etc, in prod", async () => {
    const cases: [string, Record<string, string>][] = [
      ["host-nvidia", { runfile_url: "http://x/NVIDIA.run", runfile_sha256: "" }],
      ["host-nfs-export-0", { path: "/srv/a", clients: "10.0.0.1 *", options: "rw,no_root_squash" }],
      ["host-zfs-dataset-tank-x", { properties: "compression=lz4\nmountpoint=/etc/cron.d" }],
    ];
    for (const [name, params] of cases) {
      expect(await violations(p, resourceArgs(typeOf(name), name, { params }, { stack: "prod" })), name).toHaveLength(1);
      expect(await violations(p, resourceArgs(typeOf(name), name, { params }, { stack: "dev" })), name).toEqual([]);
    }
  });
  it("passes https, a checksum, a named NFS client, a data mount point", async () => {
    const cases: [string, Record<string, string>][] = [
      ["host-nvidia", { runfile_url: "https://x/NVIDIA.run", runfile_sha256: "" }],
      ["host-nvidia", { runfile_url: "http://x/NVIDIA.run", runfile_sha256: "a".repeat(64) }],
      ["host-nfs-export-0", { path: "/srv/a", clients: "10.0.0.0/24", options: "rw,no_root_squash" }],
      ["host-zfs-dataset-tank-x", { properties: "mountpoint=/tank/x" }],
    ];
    for (const [name, params] of cases) expect(await violations(p, resourceArgs(typeOf(name), name, { params }, { stack: "prod" })), name).toEqual([]);
  });
});

describe("gpu-container-from-gpu-template", () => {
  const p = rules.gpuFromGpuTemplate;
  const chain = (gpuTemplate: boolean) => [
    resource(CONTAINER, "ct-900", ct(900)),
    resource(CONTAINER, "ct-901", ct(901, { clone: { vmId: 900 }, ...(gpuTemplate ? GPU_DEVICES : {}) })),
    resource("pulumi-nodejs:dynamic/phoenix:lxc-snapshot", "ct-901-snapshot", {}),
    resource(CONTAINER, "ct-950", ct(950, { clone: { vmId: 901 }, ...GPU_DEVICES })),
  ];
  it("passes 950 cloned from the GPU template 901 (itself cloned from 900)", async () => {
    expect(await stackViolations(p, chain(true))).toEqual([]);
  });
  it("fails a GPU container whose chain has no GPU template, or that is not cloned at all", async () => {
    expect(await stackViolations(p, chain(false))).toEqual(["ct-950 (CTID 950) uses a GPU but its clone chain 901 → 900 has no GPU template"]);
    expect(await stackViolations(p, [resource(CONTAINER, "ct-960", ct(960, GPU_DEVICES))])).toEqual([
      "ct-960 (CTID 960) uses a GPU but it is not cloned from a template",
    ]);
  });
  it("sees GPU devices granted by raw LXC lines, not by scripts that mention them", async () => {
    const gpuLines = "lxc.cgroup2.devices.allow=c 195:* rwm\nlxc.mount.entry=/dev/nvidia0 dev/nvidia0 none bind,optional,create=file";
    const viaLxc = [
      resource(CONTAINER, "ct-902", ct(902)),
      resource("pulumi-nodejs:dynamic/phoenix:lxc-snapshot", "ct-902-snapshot", {}),
      resource(CONTAINER, "ct-952", ct(952, { clone: { vmId: 902 } })),
      resource(LXC_OPTIONS, "ct-952-lxc-options", { params: { ctid: "952", options: gpuLines } }),
    ];
    expect(await stackViolations(p, viaLxc)).toEqual([expect.stringMatching(/^ct-952 \(CTID 952\) uses a GPU but its clone chain 902/)]);
    const mentions = [
      ...viaLxc.slice(0, 3),
      resource(STEP, "ct-952-docker", { params: { ctid: "952", step: "docker", script: "test -e /dev/nvidia0 && echo gpu", library: "" } }),
    ];
    expect(await stackViolations(p, mentions)).toEqual([]);
  });
});

describe("unique-mac-addresses and unique-static-ips", () => {
  it("pass distinct guests", async () => {
    const rs = [resource(CONTAINER, "ct-950", ct(950)), resource(CONTAINER, "ct-952", ct(952))];
    expect(await stackViolations(rules.uniqueMacAddresses, rs)).toEqual([]);
    expect(await stackViolations(rules.uniqueStaticIps, rs)).toEqual([]);
  });
  it("fail a shared MAC (any case, container or VM) and a shared static IP", async () => {
    const a = resource(CONTAINER, "ct-950", ct(950));
    const b = resource(VM, "vm-8001", { vmId: 8001, networkDevices: [{ macAddress: a.props.networkInterfaces[0].macAddress.toLowerCase() }] });
    expect(await stackViolations(rules.uniqueMacAddresses, [a, b])).toEqual([
      `MAC address ${a.props.networkInterfaces[0].macAddress} is used by ct-950, vm-8001`,
    ]);
    const c = resource(CONTAINER, "ct-952", ct(952, { initialization: { ipConfigs: [{ ipv4: { address: "10.0.0.182/24" } }] } }));
    expect(await stackViolations(rules.uniqueStaticIps, [a, c])).toEqual(["IP address 10.0.0.182 is used by ct-950, ct-952"]);
  });
  it("do not count dhcp as a static address", async () => {
    const dhcp = (n: number) => resource(CONTAINER, `ct-${n}`, ct(n, { initialization: { ipConfigs: [{ ipv4: { address: "dhcp" } }] } }));
    expect(await stackViolations(rules.uniqueStaticIps, [dhcp(950), dhcp(952)])).toEqual([]);
  });
});

describe("service-guest-starts-on-boot", () => {
  const p = rules.startOnBoot;
  it("passes services that start on boot and templates that do not", async () => {
    expect(
      await stackViolations(p, [
        resource(CONTAINER, "ct-901", ct(901, { startOnBoot: false })),
        resource("pulumi-nodejs:dynamic/phoenix:lxc-snapshot", "ct-901-snapshot", {}),
        resource(CONTAINER, "ct-950", ct(950, { clone: { vmId: 901 } })),
        resource(VM, "vm-8000", { vmId: 8000, onBoot: false, template: true }),
      ]),
    ).toEqual([]);
  });
  it("fails a service container or VM that stays down after a reboot", async () => {
    expect(
      await stackViolations(p, [resource(CONTAINER, "ct-950", ct(950, { startOnBoot: false })), resource(VM, "vm-8001", { vmId: 8001 })]),
    ).toEqual(["ct-950 (CTID 950) does not start on boot", "vm-8001 (VMID 8001) does not start on boot"]);
  });
});

describe("host-firewall-drops-input-in-prod", () => {
  const p = rules.hostFirewallDropsInputInProd;
  const fw = (props: Record<string, unknown>, stack = "prod") => resource(rules.CLUSTER_FIREWALL, "host-firewall", props, stack);
  const container = (stack = "prod") => resource(CONTAINER, "ct-950", ct(950), stack);
  it("passes an enabled host firewall with input DROP in prod (explicit or the provider's default), and any dev stack", async () => {
    expect(await stackViolations(p, [container(), fw({ enabled: true, inputPolicy: "DROP", outputPolicy: "ACCEPT" })])).toEqual([]);
    expect(await stackViolations(p, [container(), fw({ enabled: true })])).toEqual([]);
    expect(await stackViolations(p, [container("dev")])).toEqual([]);
    expect(await stackViolations(p, [container("dev"), fw({ enabled: false }, "dev")])).toEqual([]);
  });
  it("fails prod without a host firewall, with it disabled, or with input ACCEPT", async () => {
    expect(await stackViolations(p, [container()])).toEqual([expect.stringMatching(/^no host firewall in prod/)]);
    expect(await stackViolations(p, [container(), fw({ enabled: false, inputPolicy: "DROP" })])).toEqual(["host-firewall: the host firewall is not enabled in prod"]);
    expect(await stackViolations(p, [container(), fw({ enabled: true, inputPolicy: "ACCEPT" })])).toEqual([
      "host-firewall: the host firewall's input policy is ACCEPT, not DROP, in prod",
    ]);
    expect(await stackViolations(p, [resource(CONTAINER, "ct-950", ct(950), "live")], { prodStacks: ["live"] })).toHaveLength(1);
  });
});

describe("no-guest-admin-port-from-anywhere", () => {
  const p = rules.noGuestAdminPortFromAnywhere;
  const rulesOf = (rs: Record<string, unknown>[], target: Record<string, unknown> = { nodeName: "pve", containerId: 950 }) =>
    resourceArgs(rules.FIREWALL_RULES, "ct-950-firewall-rules", { ...target, rules: rs.map((r) => ({ type: "in", action: "ACCEPT", enabled: true, ...r })) });
  it("passes admin ports from a source, other ports from anywhere, DROP rules, disabled rules, ICMP and host rules", async () => {
    expect(await violations(p, rulesOf([{ proto: "tcp", dport: "22", source: "10.0.0.0/24" }, { macro: "SSH", source: "10.0.0.5" }]))).toEqual([]);
    expect(await violations(p, rulesOf([{ proto: "tcp", dport: "443" }, { proto: "tcp", dport: "8000:8005" }, { macro: "HTTPS" }]))).toEqual([]);
    expect(await violations(p, rulesOf([{ action: "DROP", proto: "tcp", dport: "22" }, { proto: "tcp", dport: "22", enabled: false }, { proto: "icmp" }]))).toEqual([]);
    expect(await violations(p, rulesOf([{ type: "out", proto: "tcp", dport: "22" }]))).toEqual([]);
    expect(await violations(p, resourceArgs(rules.FIREWALL_RULES, "host-firewall-rules", { rules: [{ type: "in", action: "ACCEPT", proto: "tcp", dport: "22" }] }))).toEqual([]);
  });
  it("fails an admin port accepted from anywhere: by port, range, list, macro, 0.0.0.0/0, or a rule for every port", async () => {
    expect(await violations(p, rulesOf([{ proto: "tcp", dport: "22" }]))).toEqual([
      "ct-950-firewall-rules rule 0 accepts 22 from anywhere, including admin port 22; give it a source",
    ]);
    expect(await violations(p, rulesOf([{ proto: "tcp", dport: "8000:8010", source: "0.0.0.0/0" }]))).toEqual([expect.stringContaining("admin port 8006")]);
    expect(await violations(p, rulesOf([{ proto: "tcp", dport: "80,3389" }]))).toEqual([expect.stringContaining("admin port 3389")]);
    expect(await violations(p, rulesOf([{ macro: "SSH" }], { nodeName: "pve", vmId: 8001 }))).toEqual([expect.stringContaining("accepts SSH from anywhere")]);
    expect(await violations(p, rulesOf([{ source: "::/0" }]))).toEqual([expect.stringContaining("accepts every port from anywhere")]);
    expect(
      await violations(p, { ...rulesOf([{ proto: "tcp", dport: "8080" }]), getConfig: <T extends object>() => ({ adminPorts: ["8080"] }) as T }),
    ).toHaveLength(1);
  });
});

describe("the pack", () => {
  it("registers every rule once, with a valid name and enforcement level", () => {
    const names = rules.policies.map((p) => p.name);
    expect(new Set(names).size).toBe(names.length);
    for (const p of rules.policies) {
      expect(p.name).toMatch(/^[a-z0-9-]+$/);
      expect(["advisory", "mandatory"]).toContain(p.enforcementLevel);
    }
  });
});
