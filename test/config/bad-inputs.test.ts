// Distinct bad inputs, each built by mutating a copy of the dev stack's files. Every one must
// fail, with an error line naming the right file and JSON path (and a useful message), and every
// error line must have the `<file>: <json path>: <message>` shape: no stack traces.
import { afterAll, describe, expect, it } from "vitest";
import { ERROR_LINE, Files, HOST, LXC, VM, cleanTempDirs, load, mutatedDir, readFiles, writeFiles, type Json } from "./helpers";

afterAll(cleanTempDirs);

interface BadCase {
  name: string;
  mutate?: (f: Files) => void;
  /** Raw file texts instead of a mutation (malformed JSON). */
  raw?: Partial<Record<string, string>>;
  /** Raw file texts built from the dev files (what JSON.parse would hide). */
  rawFrom?: (f: Files) => Partial<Record<string, string>>;
  file: string;
  path: string;
  message: RegExp;
}

const ct = (f: Files, id: number) => f.lxc.lxc_configs[String(id)];

export const BAD_CASES: BadCase[] = [
  // ---- malformed files and wrong shapes
  { name: "malformed JSON (LXC file cut short)", raw: { [LXC]: '{\n  "lxc_configs": {\n    "900": {' }, file: LXC, path: "$", message: /invalid JSON: .*\(line 3, column \d+\)/ },
  { name: "malformed JSON (trailing comma in host file)", raw: { [HOST]: '{\n  "timezone": "UTC",\n}\n' }, file: HOST, path: "$", message: /invalid JSON: .*line 3/ },
  { name: "empty VM file", raw: { [VM]: "" }, file: VM, path: "$", message: /invalid JSON/ },
  {
    name: "CTID defined twice in the JSON text",
    rawFrom: (f) => ({ [LXC]: JSON.stringify(f.lxc, null, 2).replace('"955": {', `"950": ${JSON.stringify(ct(f, 955))},\n"955": {`) }),
    file: LXC, path: '$.lxc_configs["950"]', message: /CTID 950 is defined twice/,
  },
  { name: "LXC file is an array", raw: { [LXC]: "[]" }, file: LXC, path: "$", message: /must be an object/ },
  { name: "lxc_configs missing", mutate: (f) => delete f.lxc.lxc_configs, file: LXC, path: "$.lxc_configs", message: /must be an object keyed by CTID/ },
  { name: "memory_mb as a string", mutate: (f) => (ct(f, 900).memory_mb = "2048"), file: LXC, path: '$.lxc_configs["900"].memory_mb', message: /must be a number; got "2048"/ },
  { name: "zero cores", mutate: (f) => (ct(f, 950).cores = 0), file: LXC, path: '$.lxc_configs["950"].cores', message: /at least 1/ },
  { name: "fractional cores", mutate: (f) => (ct(f, 950).cores = 2.5), file: LXC, path: '$.lxc_configs["950"].cores', message: /integer/ },
  { name: "unprivileged as yes", mutate: (f) => (ct(f, 952).unprivileged = "yes"), file: LXC, path: '$.lxc_configs["952"].unprivileged', message: /true or false/ },
  { name: "features as a string", mutate: (f) => (ct(f, 955).features = "ollama"), file: LXC, path: '$.lxc_configs["955"].features', message: /must be an array/ },
  { name: "CTID key not a number", mutate: (f) => (f.lxc.lxc_configs["web"] = ct(f, 955)), file: LXC, path: "$.lxc_configs.web", message: /"web" is not a CTID/ },
  { name: "vms not an array", mutate: (f) => (f.vm.vms = { 8000: f.vm.vms[0] }), file: VM, path: "$.vms", message: /must be an array/ },
  { name: "vmid as a string", mutate: (f) => (f.vm.vms[0].vmid = "8000"), file: VM, path: "$.vms[0].vmid", message: /must be a number/ },
  { name: "vmid below 100", mutate: (f) => (f.vm.vms[1].vmid = 42), file: VM, path: "$.vms[1].vmid", message: /at least 100/ },
  { name: "unknown raid level", mutate: (f) => (f.host.zfs.pools[0].raid_level = "raid5"), file: HOST, path: "$.zfs.pools[0].raid_level", message: /single, mirror, raidz1/ },
  { name: "negative ARC size", mutate: (f) => (f.host.zfs.arc_max_gb = -1), file: HOST, path: "$.zfs.arc_max_gb", message: /positive/ },
  { name: "host file missing", mutate: (f) => (f.host = undefined), file: HOST, path: "$", message: /not found/ },

  // ---- clones and templates
  { name: "dangling clone parent", mutate: (f) => (ct(f, 950).clone_from_ctid = "999"), file: LXC, path: '$.lxc_configs["950"].clone_from_ctid', message: /parent 999 does not exist/ },
  { name: "clone parent is not a template", mutate: (f) => delete ct(f, 901).template_snapshot_name, file: LXC, path: '$.lxc_configs["950"].clone_from_ctid', message: /parent 901 is not a template/ },
  { name: "container cloned from a VM", mutate: (f) => (ct(f, 952).clone_from_ctid = "8000"), file: LXC, path: '$.lxc_configs["952"].clone_from_ctid', message: /it is a VM/ },
  { name: "dangling VM clone parent", mutate: (f) => (f.vm.vms[1].clone_from_vmid = 8999), file: VM, path: "$.vms[1].clone_from_vmid", message: /parent 8999 does not exist/ },
  { name: "VM clone parent is not a template", mutate: (f) => { f.vm.vms[0].is_template = false; delete f.vm.vms[0].template_snapshot_name; }, file: VM, path: "$.vms[1].clone_from_vmid", message: /parent 8000 is not a template/ },
  { name: "root container without OS template", mutate: (f) => delete ct(f, 900).template, file: LXC, path: '$.lxc_configs["900"]', message: /needs either template .* or clone_from_ctid/ },
  { name: "OS template outside every storage", mutate: (f) => (ct(f, 900).template = "/opt/templates/ubuntu.tar.zst"), file: LXC, path: '$.lxc_configs["900"].template', message: /cannot map \/opt\/templates\/ubuntu.tar.zst to a Proxmox storage/ },
  { name: "clone shrinks its parent's disk", mutate: (f) => (ct(f, 950).storage_size_gb = 8), file: LXC, path: '$.lxc_configs["950"].storage_size_gb', message: /smaller than parent 901's 32 GB/ },
  { name: "VM without image or parent", mutate: (f) => delete f.vm.vms[0].template_image, file: VM, path: "$.vms[0]", message: /needs either template_image/ },

  // ---- cycles
  { name: "clone cycle", mutate: (f) => { ct(f, 900).clone_from_ctid = "901"; }, file: LXC, path: '$.lxc_configs["900"].clone_from_ctid', message: /cycle: 900 -> 901 -> 900$/ },
  { name: "dependency cycle", mutate: (f) => (ct(f, 950).dependencies = ["952"]), file: LXC, path: '$.lxc_configs["950"].dependencies', message: /cycle: 950 -> 952 -> 950$/ },
  { name: "self dependency", mutate: (f) => (ct(f, 955).dependencies = ["955"]), file: LXC, path: '$.lxc_configs["955"].dependencies', message: /cycle: 955 -> 955$/ },
  { name: "cycle across a container and a VM", mutate: (f) => { ct(f, 955).dependencies = ["8001"]; f.vm.vms[1].dependencies = [955]; }, file: LXC, path: '$.lxc_configs["955"].dependencies', message: /cycle: 955 -> 8001 -> 955$/ },

  // ---- dependencies
  { name: "dependency on a missing guest", mutate: (f) => (ct(f, 955).dependencies = ["902", "777"]), file: LXC, path: '$.lxc_configs["955"].dependencies[1]', message: /777 is neither a container nor a VM/ },
  { name: "VM dependency on a missing guest", mutate: (f) => (f.vm.vms[1].dependencies = [123]), file: VM, path: "$.vms[1].dependencies[0]", message: /123 is neither/ },
  { name: "dependency ID out of range", mutate: (f) => (ct(f, 955).dependencies = ["12"]), file: LXC, path: '$.lxc_configs["955"].dependencies[0]', message: /guest ID/ },

  // ---- IDs, IPs, MACs
  { name: "VM ID equal to a CTID", mutate: (f) => { f.vm.vms[1].vmid = 950; }, file: VM, path: "$.vms[1].vmid", message: /also container 950/ },
  { name: "duplicate VMID", mutate: (f) => f.vm.vms.push({ ...f.vm.vms[1], name: "other", network_config: { ip: "dhcp" } }), file: VM, path: "$.vms[2].vmid", message: /VMID 8001 is already used by \$\.vms\[1\]/ },
  { name: "duplicate container IP", mutate: (f) => (ct(f, 955).network_config.ip = "10.0.0.150/24"), file: LXC, path: '$.lxc_configs["955"].network_config.ip', message: /IP 10\.0\.0\.150 is already used by container 950/ },
  { name: "container IP equal to the host's", mutate: (f) => (ct(f, 952).network_config.ip = "10.0.0.13/24"), file: LXC, path: '$.lxc_configs["952"].network_config.ip', message: /already used by the host/ },
  { name: "VM IP equal to a container's", mutate: (f) => (f.vm.vms[1].network_config.ip = "10.0.0.200/24"), file: VM, path: "$.vms[1].network_config.ip", message: /already used by container 900/ },
  { name: "duplicate MAC, other case", mutate: (f) => (ct(f, 955).mac_address = "52:54:00:67:89:b0"), file: LXC, path: '$.lxc_configs["955"].mac_address', message: /MAC 52:54:00:67:89:B0 is already used by container 950/ },
  { name: "IP octet out of range", mutate: (f) => (ct(f, 950).network_config.ip = "10.0.0.300/24"), file: LXC, path: '$.lxc_configs["950"].network_config.ip', message: /dhcp or an IPv4 CIDR/ },
  { name: "short MAC", mutate: (f) => (ct(f, 950).mac_address = "52:54:00:AA:BB"), file: LXC, path: '$.lxc_configs["950"].mac_address', message: /MAC address/ },

  // ---- features
  { name: "unknown container feature", mutate: (f) => (ct(f, 955).features = ["ollama", "kubernetes"]), file: LXC, path: '$.lxc_configs["955"].features[1]', message: /unknown feature "kubernetes"; known: base_setup, nvidia, docker, vllm, ollama/ },
  { name: "container-only feature on a VM", mutate: (f) => (f.vm.vms[1].features = ["docker", "vllm"]), file: VM, path: "$.vms[1].features[1]", message: /unknown feature "vllm"; known: base_setup, docker/ },
  { name: "feature name with a semicolon", mutate: (f) => (ct(f, 955).features = ["ollama;reboot"]), file: LXC, path: '$.lxc_configs["955"].features[0]', message: /feature name/ },

  // ---- GPU and NVIDIA
  { name: "GPU without the host driver", mutate: (f) => (f.host.nvidia_driver.install = false), file: LXC, path: '$.lxc_configs["901"].gpu_assignment', message: /does not install the NVIDIA driver/ },
  { name: "nvidia feature without the host driver", mutate: (f) => { f.host.nvidia_driver.install = false; for (const c of Object.values<Json>(f.lxc.lxc_configs)) c.gpu_assignment = "none"; }, file: LXC, path: '$.lxc_configs["901"].features[0]', message: /feature nvidia needs the host NVIDIA driver/ },
  { name: "gpu_assignment all", mutate: (f) => (ct(f, 950).gpu_assignment = "all"), file: LXC, path: '$.lxc_configs["950"].gpu_assignment', message: /none or GPU indexes/ },
  { name: "container driver version differs from the host's", mutate: (f) => (f.lxc.nvidia_driver_version = "550.54.14"), file: LXC, path: "$.nvidia_driver_version", message: /differs from the host driver 580\.76\.05/ },
  { name: "driver install without version", mutate: (f) => delete f.host.nvidia_driver.version, file: HOST, path: "$.nvidia_driver.version", message: /required when install is true/ },

  // ---- storage
  { name: "unknown storage pool", mutate: (f) => (ct(f, 950).storage_pool = "tank-disks"), file: LXC, path: '$.lxc_configs["950"].storage_pool', message: /storage tank-disks is not in the host config; known: .*quickOS-lxc-disks.*local-lvm/ },
  { name: "vm_defaults storage unknown", mutate: (f) => (f.vm.vm_defaults.storage_pool = "nope"), file: VM, path: "$.vm_defaults.storage_pool", message: /storage nope is not in the host config/ },
  { name: "two datasets registering one storage id", mutate: (f) => f.host.zfs.datasets.push({ ...f.host.zfs.datasets[1] , name: "lxc-disks", pool: "quickOS" }), file: HOST, path: "$.zfs.datasets[7].name", message: /declared twice/ },
  { name: "bad content type", mutate: (f) => (f.host.zfs.datasets[0].proxmox_content_type = "images;rootdir"), file: HOST, path: "$.zfs.datasets[0].proxmox_content_type", message: /content types/ },

  // ---- host setup
  { name: "pool declared twice", mutate: (f) => f.host.zfs.pools.push({ ...f.host.zfs.pools[1], disks: ["/dev/disk/by-id/nvme-other"] }), file: HOST, path: "$.zfs.pools[2].name", message: /pool fastData is declared twice/ },
  { name: "disk in two pools", mutate: (f) => f.host.zfs.pools[1].disks.push(f.host.zfs.pools[0].disks[0]), file: HOST, path: "$.zfs.pools[1].disks[1]", message: /already used by pool quickOS/ },
  { name: "mirror with one disk", mutate: (f) => f.host.zfs.pools[0].disks.pop(), file: HOST, path: "$.zfs.pools[0].disks", message: /mirror needs at least 2 disks/ },
  { name: "Samba share declared twice", mutate: (f) => f.host.samba.shares.push({ ...f.host.samba.shares[0] }), file: HOST, path: "$.samba.shares[2].name", message: /declared twice/ },
  { name: "NFS export without clients", mutate: (f) => (f.host.nfs.exports[0].clients = []), file: HOST, path: "$.nfs.exports[0].clients", message: /at least one client/ },

  // ---- shared volumes
  { name: "shared volume with a relative host path", mutate: (f) => (f.host.shared_volumes.vllm_models.host_path = "fastData/models"), file: HOST, path: "$.shared_volumes.vllm_models.host_path", message: /absolute path/ },

  // ---- shell metacharacters and strict patterns
  { name: "container name with ;", mutate: (f) => (ct(f, 950).name = "vllm;rm -rf /"), file: LXC, path: '$.lxc_configs["950"].name', message: /must be a hostname/ },
  { name: "container name with $()", mutate: (f) => (ct(f, 950).name = "a$(reboot)"), file: LXC, path: '$.lxc_configs["950"].name', message: /must be a hostname/ },
  { name: "container name with backticks", mutate: (f) => (ct(f, 950).name = "a`reboot`"), file: LXC, path: '$.lxc_configs["950"].name', message: /must be a hostname/ },
  { name: "container name with a newline", mutate: (f) => (ct(f, 950).name = "a\nb"), file: LXC, path: '$.lxc_configs["950"].name', message: /must be a hostname.*; got "a\\nb"$/ },
  { name: "VM name with a space", mutate: (f) => (f.vm.vms[1].name = "docker vm"), file: VM, path: "$.vms[1].name", message: /must be a hostname/ },
  { name: "pool name with a space", mutate: (f) => (f.host.zfs.pools[0].name = "quick OS"), file: HOST, path: "$.zfs.pools[0].name", message: /ZFS pool name/ },
  { name: "dataset properties with ;", mutate: (f) => (f.host.zfs.datasets[0].properties = "compression=lz4;reboot"), file: HOST, path: "$.zfs.datasets[0].properties", message: /key=value ZFS properties/ },
  { name: "disk path with a command", mutate: (f) => (f.host.zfs.pools[1].disks[0] = "/dev/sda; reboot"), file: HOST, path: "$.zfs.pools[1].disks[0]", message: /by-id/ },
  { name: "Samba share name with a space", mutate: (f) => (f.host.samba.shares[0].name = "shared data"), file: HOST, path: "$.samba.shares[0].name", message: /no spaces/ },
  { name: "Samba options with quotes", mutate: (f) => (f.host.samba.shares[0].options = "browseable=yes writable='yes'"), file: HOST, path: "$.samba.shares[0].options", message: /key=value options/ },
  { name: "NFS export path with $()", mutate: (f) => (f.host.nfs.exports[0].path = "/quickOS/$(id)"), file: HOST, path: "$.nfs.exports[0].path", message: /absolute path/ },
  { name: "NFS option with ;", mutate: (f) => (f.host.nfs.exports[0].options[0] = "rw;sync"), file: HOST, path: "$.nfs.exports[0].options[0]", message: /exports\(5\) option/ },
  { name: "pct option with ;", mutate: (f) => (ct(f, 902).pct_options = ["nesting=1;keyctl=1"]), file: LXC, path: '$.lxc_configs["902"].pct_options[0]', message: /key=value like nesting=1/ },
  { name: "LXC option with quotes", mutate: (f) => (ct(f, 900).lxc_options = ["lxc.hook.start=/bin/sh -c 'x'"]), file: LXC, path: '$.lxc_configs["900"].lxc_options[0]', message: /LXC config line/ },
  { name: "health check with a pipe", mutate: (f) => (ct(f, 952).health_check.command = "curl http://x | sh"), file: LXC, path: '$.lxc_configs["952"].health_check.command', message: /command line without quotes/ },
  { name: "application script escaping its folder", mutate: (f) => (ct(f, 950).application_script = "../../etc/passwd"), file: LXC, path: '$.lxc_configs["950"].application_script', message: /script file name/ },
  { name: "OS template path with ..", mutate: (f) => (ct(f, 900).template = "/fastData/../etc/x.tar.zst"), file: LXC, path: '$.lxc_configs["900"].template', message: /host path to an OS template/ },
  { name: "user name with ;", mutate: (f) => (f.host.users.username = "root;id"), file: HOST, path: "$.users.username", message: /Linux user name/ },
  { name: "SSH key with a command", mutate: (f) => (f.host.users.ssh_public_key = 'ssh-ed25519 AAAA"; reboot'), file: HOST, path: "$.users.ssh_public_key", message: /OpenSSH public key/ },
  { name: "timezone with a space", mutate: (f) => (f.host.timezone = "America/New York"), file: HOST, path: "$.timezone", message: /timezone name/ },
  // Parameters are data (quoted or base64-encoded downstream): `$`, quotes and backticks load (migration case cb4); NUL cannot travel.
  { name: "feature parameter with a NUL", mutate: (f) => (ct(f, 950).vllm_model = "a\u0000b"), file: LXC, path: '$.lxc_configs["950"].vllm_model', message: /NUL/ },
  // What plan would refuse, validate refuses first (plan never fails on what validate passed).
  { name: "arc_max_gb not whole GiB", mutate: (f) => (f.host.zfs.arc_max_gb = 1.5), file: HOST, path: "$.zfs.arc_max_gb", message: /whole number of GiB/ },
  { name: "pct_options key Proxmox does not know", mutate: (f) => ct(f, 902).pct_options.push("foo=1"), file: LXC, path: '$.lxc_configs["902"].pct_options[2]', message: /foo is not a Proxmox container feature/ },
  { name: "apparmor_profile contradicting lxc_options", mutate: (f) => { ct(f, 950).apparmor_profile = "lxc-container-default-cgns"; ct(f, 950).lxc_options = ["lxc.apparmor.profile=generated"]; }, file: LXC, path: '$.lxc_configs["950"].apparmor_profile', message: /contradicts lxc_options/ },
  { name: "template_image Phoenix cannot download", mutate: (f) => (f.vm.vms[0].template_image = "custom.img"), file: VM, path: "$.vms[0].template_image", message: /not a known cloud image name/ },
  { name: "feature parameter object key with a space", mutate: (f) => (ct(f, 950).vllm_engine_config = { "a b": 1 }), file: LXC, path: '$.lxc_configs["950"].vllm_engine_config["a b"]', message: /key must be letters/ },
  { name: "nested parameter key with a space", mutate: (f) => (ct(f, 950).vllm_parameters = { "max len": 1 }), file: LXC, path: '$.lxc_configs["950"].vllm_parameters["max len"]', message: /key must be/ },
  { name: "node name with ;", mutate: (f) => (ct(f, 955).node = "pve;x"), file: LXC, path: '$.lxc_configs["955"].node', message: /Proxmox node name/ },
  { name: "cloud image name with a space", mutate: (f) => (f.vm.vms[0].template_image = "noble server.img"), file: VM, path: "$.vms[0].template_image", message: /cloud image file name/ },
  { name: "snapshot name with a space", mutate: (f) => (ct(f, 900).template_snapshot_name = "final form"), file: LXC, path: '$.lxc_configs["900"].template_snapshot_name', message: /snapshot name/ },
  { name: "runfile URL with a command", mutate: (f) => (f.host.nvidia_driver.runfile_url = "https://x/y.run;reboot"), file: HOST, path: "$.nvidia_driver.runfile_url", message: /URL/ },
];

function run(c: BadCase) {
  if (c.rawFrom) {
    const files = readFiles();
    return load(writeFiles(files, c.rawFrom(files)));
  }
  if (c.raw) {
    const files = readFiles();
    return load(writeFiles(files, c.raw));
  }
  return load(mutatedDir(c.mutate!));
}

describe("bad inputs are rejected with file and JSON path", () => {
  it("has at least 40 distinct cases", () => {
    expect(new Set(BAD_CASES.map((c) => c.name)).size).toBe(BAD_CASES.length);
    expect(BAD_CASES.length).toBeGreaterThanOrEqual(40);
  });

  it.each(BAD_CASES.map((c) => [c.name, c] as const))("%s", (_name, c) => {
    const result = run(c);
    expect(result.ok).toBe(false);
    if (result.ok) return;
    for (const line of result.errors) expect(line).toMatch(ERROR_LINE);
    const prefix = `${c.file}: ${c.path}: `;
    const hits = result.errors.filter((e) => e.startsWith(prefix));
    expect(hits, `expected an error at ${prefix}\ngot:\n${result.errors.join("\n")}`).not.toHaveLength(0);
    expect(hits.some((e) => c.message.test(e.slice(prefix.length))), `message ${c.message} not in:\n${hits.join("\n")}`).toBe(true);
  });
});

describe("secrets stay out of messages", () => {
  it("a malformed password hash is reported without its value", () => {
    const hash = "$6$salt$has a space";
    const result = load(mutatedDir((f) => (f.host.users.password_hash = hash)));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    const line = result.errors.find((e) => e.startsWith(`${HOST}: $.users.password_hash: `));
    expect(line).toMatch(/crypt\(3\) hash.*value not shown/);
    expect(result.errors.join("\n")).not.toContain("has a space");
  });
});
