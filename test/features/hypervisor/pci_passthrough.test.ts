// pci_passthrough.sh in a throwaway root: the IOMMU kernel argument on either boot loader, the
// VFIO modules, and the reboot it takes. The CPU vendor, the running kernel's command line and its
// IOMMU groups are the namespace's own bind mounts over /proc and /sys (this machine's stay as they are).
// test-tier: host
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startThrowawayRoot, type ThrowawayRoot } from "./root";
import { CALL_LOG, recorder } from "./stand-ins";
import { loadDist } from "../../load";

const hypervisor = loadDist<typeof import("../../../providers/hypervisor/index")>("providers/hypervisor/index");

let root: ThrowawayRoot;
beforeAll(async () => {
  root = await startThrowawayRoot();
  for (const tool of ["update-initramfs", "update-grub", "proxmox-boot-tool"]) await root.installTool(tool, recorder(tool));
  await root.exec("mkdir -p /tmp/fake/groups && rm -f /etc/kernel/cmdline /etc/default/grub && mkdir -p /etc/default /etc/kernel");
});
afterAll(async () => root?.stop());

/** The running kernel as the script sees it: CPU vendor, /proc/cmdline, IOMMU groups (empty: none). */
async function kernel(vendor: string, cmdline: string, groups: number) {
  const r = await root.exec(
    [
      "umount /proc/cpuinfo /proc/cmdline /sys/kernel/iommu_groups 2>/dev/null; true",
      `printf 'processor\\t: 0\\nvendor_id\\t: ${vendor}\\n' > /tmp/fake/cpuinfo`,
      `printf '%s\\n' '${cmdline}' > /tmp/fake/cmdline`,
      "rm -rf /tmp/fake/groups/*",
      ...Array.from({ length: groups }, (_, i) => `mkdir /tmp/fake/groups/${i}`),
      "mount --bind /tmp/fake/cpuinfo /proc/cpuinfo",
      "mount --bind /tmp/fake/cmdline /proc/cmdline",
      "mount --bind /tmp/fake/groups /sys/kernel/iommu_groups",
    ].join(" && "),
  );
  expect(r.code, r.stderr).toBe(0);
}
const calls = async () => (await root.exec(`cat ${CALL_LOG} 2>/dev/null; : > ${CALL_LOG}`)).stdout;

describe("pci_passthrough.sh", () => {
  it("GRUB host, Intel: adds intel_iommu=on to GRUB_CMDLINE_LINUX_DEFAULT, the VFIO modules, and says a reboot is needed", async () => {
    await kernel("GenuineIntel", "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet", 0);
    await root.exec(`printf 'GRUB_DEFAULT=0\\nGRUB_CMDLINE_LINUX_DEFAULT="quiet"\\nGRUB_CMDLINE_LINUX=""\\n' > /etc/default/grub`);
    expect((await root.script("pci_passthrough", "read", {})).result).toEqual({ present: false });
    const r = await root.script("pci_passthrough", "apply", {});
    expect(r.code, r.stderr).toBe(0);
    expect((await root.exec("cat /etc/default/grub")).stdout).toBe('GRUB_DEFAULT=0\nGRUB_CMDLINE_LINUX_DEFAULT="quiet intel_iommu=on"\nGRUB_CMDLINE_LINUX=""\n');
    expect((await root.exec("cat /etc/modules-load.d/phoenix-vfio.conf")).stdout).toBe("# Managed by Phoenix: VFIO for PCI passthrough to VMs\nvfio\nvfio_iommu_type1\nvfio_pci\n");
    expect(await calls()).toBe("update-grub \nupdate-initramfs -u -k all\n");
    expect(r.result).toEqual({
      present: true,
      matches: true,
      cmdlineFile: "/etc/default/grub",
      kernelArgs: "intel_iommu=on",
      iommuActive: false,
      rebootRequired: true,
      rebootReason: "the running kernel was booted without intel_iommu=on",
    });
    const notice = hypervisor.pciRebootNotice(r.result);
    expect(notice).toMatch(/^REBOOT REQUIRED for PCI passthrough: the running kernel was booted without intel_iommu=on\. .*VMs with pci_devices fail to start/);
  });

  it("a second apply changes nothing; after the reboot no notice", async () => {
    const again = await root.script("pci_passthrough", "apply", {});
    expect(again.code, again.stderr).toBe(0);
    expect(await calls()).toBe("");
    expect((await root.exec("grep -c intel_iommu=on /etc/default/grub")).stdout.trim()).toBe("1");
    await kernel("GenuineIntel", "BOOT_IMAGE=/boot/vmlinuz-6.8.12-4-pve root=/dev/mapper/pve-root ro quiet intel_iommu=on", 42);
    const read = await root.script("pci_passthrough", "read", {});
    expect(read.result).toMatchObject({ matches: true, iommuActive: true, rebootRequired: false, rebootReason: "" });
    expect(hypervisor.pciRebootNotice(read.result)).toBeUndefined();
  });

  it("the argument in the kernel but no IOMMU groups: the firmware's VT-d is off", async () => {
    await kernel("GenuineIntel", "ro quiet intel_iommu=on", 0);
    expect((await root.script("pci_passthrough", "read", {})).result).toMatchObject({ rebootRequired: true, rebootReason: expect.stringContaining("no IOMMU groups") });
  });

  it("a drifted command line is noticed by read and restored by apply", async () => {
    await root.exec(`sed -i 's/ intel_iommu=on//' /etc/default/grub`);
    expect((await root.script("pci_passthrough", "read", {})).result).toMatchObject({ matches: false });
    expect((await root.script("pci_passthrough", "apply", {})).result).toMatchObject({ matches: true });
    expect(await calls()).toBe("update-grub \n");
  });

  it("proxmox-boot-tool host (/etc/kernel/cmdline): edits that file and refreshes, GRUB untouched", async () => {
    await root.exec(`printf 'GRUB_CMDLINE_LINUX_DEFAULT="quiet"\\n' > /etc/default/grub && printf 'root=ZFS=rpool/ROOT/pve-1 boot=zfs\\n' > /etc/kernel/cmdline`);
    await kernel("GenuineIntel", "root=ZFS=rpool/ROOT/pve-1 boot=zfs", 0);
    const r = await root.script("pci_passthrough", "apply", {});
    expect(r.code, r.stderr).toBe(0);
    expect((await root.exec("cat /etc/kernel/cmdline")).stdout).toBe("root=ZFS=rpool/ROOT/pve-1 boot=zfs intel_iommu=on\n");
    expect((await root.exec("cat /etc/default/grub")).stdout).toBe('GRUB_CMDLINE_LINUX_DEFAULT="quiet"\n');
    expect(await calls()).toBe("proxmox-boot-tool refresh\n");
    expect(r.result).toMatchObject({ cmdlineFile: "/etc/kernel/cmdline", rebootRequired: true });
  });

  it("AMD: no kernel argument (its IOMMU is on by default), only the modules; ready when groups exist", async () => {
    await root.exec(`printf 'root=ZFS=rpool/ROOT/pve-1 boot=zfs\\n' > /etc/kernel/cmdline && rm /etc/modules-load.d/phoenix-vfio.conf`);
    await kernel("AuthenticAMD", "root=ZFS=rpool/ROOT/pve-1 boot=zfs", 30);
    const r = await root.script("pci_passthrough", "apply", {});
    expect(r.code, r.stderr).toBe(0);
    expect((await root.exec("cat /etc/kernel/cmdline")).stdout).toBe("root=ZFS=rpool/ROOT/pve-1 boot=zfs\n");
    expect(await calls()).toBe("update-initramfs -u -k all\n");
    expect(r.result).toMatchObject({ matches: true, kernelArgs: "", iommuActive: true, rebootRequired: false });
  });

  it("delete leaves the settings and says so", async () => {
    const r = await root.script("pci_passthrough", "delete", {});
    expect(r.code).toBe(0);
    expect(r.stderr).toContain("stay (VMs with passed-through devices need them)");
    expect((await root.exec("test -f /etc/modules-load.d/phoenix-vfio.conf")).code).toBe(0);
    expect((await root.script("pci_passthrough", "read", {})).result).toEqual({ present: false });
  });
});
