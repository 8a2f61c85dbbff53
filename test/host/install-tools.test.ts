// `npm test` as root installs the Debian tools the tests drive (test/host/install-tools.sh). It must
// leave the machine's services as it found them: no stop, no restart, the machine's own
// policy-rc.d put back, and only the new packages' units kept from starting at boot. The script
// runs in a throwaway root whose /usr/sbin is an overlay too, with stand-in dpkg-query, apt-get,
// systemctl and service (first on PATH) that record their calls.
import { readFileSync } from "node:fs";
import * as path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { startThrowawayRoot, type ThrowawayRoot } from "../features/hypervisor/root";

const SCRIPT = readFileSync(path.join(__dirname, "install-tools.sh"), "utf8");

// Installed packages are listed in /tmp/installed; `dpkg-query -L` gives each package one unit
// (openssh-server: ssh.service, ssh.socket and the template ssh@.service).
const DPKG_QUERY = `#!/bin/bash
echo "dpkg-query $*" >> /tmp/calls
if [ "$1" = -W ]; then grep -qx "\${@: -1}" /tmp/installed && printf 'install ok installed'; exit 0; fi
if [ "$1" = -L ]; then
  shift
  for p in "$@"; do
    case "$p" in
      openssh-server) printf '/lib/systemd/system/ssh.service\\n/lib/systemd/system/ssh@.service\\n/lib/systemd/system/ssh.socket\\n/usr/sbin/sshd\\n' ;;
      *) printf '/usr/lib/systemd/system/%s.service\\n/usr/share/doc/%s\\n' "$p" "$p" ;;
    esac
  done
fi
`;
// apt-get records what the policy answers while it runs, as a maintainer script would ask it.
const APT_GET = `#!/bin/bash
echo "apt-get $*" >> /tmp/calls
if [ "$1" = install ]; then
  /usr/sbin/policy-rc.d smbd start; echo "policy-rc.d during install: $?" >> /tmp/calls
  exit "\${APT_EXIT:-0}"
fi
`;
const RECORD = (name: string) => `#!/bin/bash\necho "${name} $*" >> /tmp/calls\n`;

const ALL = ["openssh-server", "zfs-fuse", "samba", "nfs-kernel-server", "sudo", "shellcheck", "busybox-static", "util-linux", "libnet-ip-perl", "curl", "lxc"];
const ORIGINAL_POLICY = "#!/bin/sh\n# the machine's own policy\nexit 0\n";

describe("test/host/install-tools.sh leaves the machine's services alone", () => {
  let root: ThrowawayRoot;
  beforeEach(async () => {
    root = await startThrowawayRoot();
    const d = `${root.dir}/up/usr_sbin`;
    const w = `${root.dir}/work/usr_sbin`;
    const r = await root.exec(`mkdir -p ${d} ${w} && mount -t overlay overlay -o lowerdir=/usr/sbin,upperdir=${d},workdir=${w} /usr/sbin`);
    expect(r.stderr).toBe("");
    await root.installTool("dpkg-query", DPKG_QUERY);
    await root.installTool("apt-get", APT_GET);
    await root.installTool("systemctl", RECORD("systemctl"));
    await root.installTool("service", RECORD("service"));
    await root.installTool("policy-rc.d-original", ORIGINAL_POLICY);
  });
  afterEach(async () => root.stop());

  const run = async (installed: string[], opts: { policy: boolean; aptExit?: number }) => {
    const prep = opts.policy ? "cp /usr/local/sbin/policy-rc.d-original /usr/sbin/policy-rc.d" : "rm -f /usr/sbin/policy-rc.d";
    await root.exec(`${prep} && printf '%s\\n' ${installed.join(" ")} > /tmp/installed && : > /tmp/calls`);
    const r = await root.exec("bash -s", { stdin: SCRIPT, env: { APT_EXIT: String(opts.aptExit ?? 0) } });
    const calls = (await root.exec("cat /tmp/calls")).stdout.trim().split("\n");
    const policy = await root.exec("cat /usr/sbin/policy-rc.d");
    const leftovers = (await root.exec("ls /usr/sbin | grep phoenix || true")).stdout.trim();
    return { ...r, calls, policy: policy.code === 0 ? policy.stdout : undefined, leftovers };
  };

  it("installs what is missing without stopping any service, and puts the machine's policy-rc.d back", async () => {
    // The machine runs its own sshd: openssh-server is installed, the rest is missing.
    const r = await run(["openssh-server"], { policy: true });
    expect(r.code).toBe(0);
    expect(r.calls).toContain("policy-rc.d during install: 101");
    expect(r.calls.filter((c) => /^service |^systemctl (stop|restart|start|reload|mask|kill)/.test(c))).toEqual([]);
    // Only the new packages' units are disabled at boot; ssh's (the machine's own) are untouched.
    const disabled = r.calls.filter((c) => c.startsWith("systemctl disable")).map((c) => c.split(" ").pop());
    expect(disabled).toContain("samba.service");
    expect(disabled).toContain("lxc.service");
    expect(disabled.some((u) => u!.startsWith("ssh"))).toBe(false);
    expect(r.calls.find((c) => c.startsWith("dpkg-query -L"))).not.toContain("openssh-server");
    expect(r.policy).toBe(ORIGINAL_POLICY);
    expect(r.leftovers).toBe("");
  });

  it("removes its policy-rc.d when the machine had none, also when apt-get fails", async () => {
    const ok = await run(["openssh-server", "samba"], { policy: false });
    expect(ok.code).toBe(0);
    expect(ok.calls).toContain("policy-rc.d during install: 101");
    expect(ok.policy).toBeUndefined();
    const failed = await run([], { policy: true, aptExit: 100 });
    expect(failed.code).toBe(100);
    expect(failed.policy).toBe(ORIGINAL_POLICY);
    expect(failed.calls.filter((c) => c.startsWith("systemctl"))).toEqual([]);
    expect(failed.leftovers).toBe("");
  });

  it("does nothing at all when every tool is installed", async () => {
    const r = await run(ALL, { policy: true });
    expect(r.code).toBe(0);
    expect(r.calls.filter((c) => !c.startsWith("dpkg-query -W"))).toEqual([]);
    expect(r.policy).toBe(ORIGINAL_POLICY);
  });
});
