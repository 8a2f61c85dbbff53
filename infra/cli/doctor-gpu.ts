// phoenix doctor: the GPU facts of the host, judged against what the files ask for. Before the
// first `pulumi up` on a stock host this says that nouveau drives the card and that the driver
// install ends with a reboot; it reports whether the IOMMU is on (GPUs given to VMs need it) and
// which NVIDIA PCI functions the host has and which kernel driver holds each. The facts come
// from doctor-facts.sh (`nouveau`, `iommu_groups`, `nvidia_pci`); the NVIDIA module's version
// is the `nvidia driver` check of doctor.ts.
import type { PhoenixModel } from "../config/model";
import type { CheckResult, Fact } from "./doctor";

/** One NVIDIA PCI function as `lspci -Dnnk -d 10de:` prints it. */
export interface NvidiaPciFunction {
  /** `0000:01:00.0` */
  address: string;
  /** The description after the address (`VGA compatible controller [0300]: NVIDIA ...`). */
  description: string;
  /** `Kernel driver in use:` (nouveau, nvidia, vfio-pci), or "" when none is bound. */
  driver: string;
}

/** The NVIDIA PCI functions of `lspci -Dnnk -d 10de:` output. */
export function parseNvidiaPci(out: string): NvidiaPciFunction[] {
  const found: NvidiaPciFunction[] = [];
  for (const line of out.split("\n")) {
    const head = /^([0-9a-f]{4}:[0-9a-f]{2}:[0-9a-f]{2}\.[0-7])\s+(.*)$/i.exec(line);
    if (head) found.push({ address: head[1].toLowerCase(), description: head[2].trim(), driver: "" });
    const drv = /^\s+Kernel driver in use:\s*(\S+)/.exec(line);
    if (drv && found.length) found[found.length - 1].driver = drv[1];
  }
  return found;
}

/** Whether the files need the host's NVIDIA stack: a managed driver or a container with GPUs. */
function usesGpus(model: PhoenixModel): boolean {
  return model.host.nvidiaDriver !== undefined || model.containers.some((c) => c.gpus.length > 0);
}

/**
 * The GPU checks: `gpu nouveau` (whether nouveau drives the card, and what that means for the
 * driver install), `iommu` and `nvidia gpus` (the NVIDIA PCI functions and their drivers).
 * `facts` are doctor-facts.sh's; `driverOnDisk` is the NVIDIA module version installed on disk
 * ("" when none), as the `nvidia driver` check read it.
 */
export function gpuChecks(model: PhoenixModel, facts: Record<string, Fact>, driverOnDisk: string): CheckResult[] {
  const out: CheckResult[] = [];
  const add = (status: CheckResult["status"], check: string, found: string, fix?: string) => out.push({ status, check, found, ...(fix ? { fix } : {}) });
  const gpus = usesGpus(model);
  const nouveau = facts.nouveau?.code === 0;
  const want = model.host.nvidiaDriver?.version;

  if (nouveau) {
    if (want && !driverOnDisk) {
      add(
        "warn",
        "gpu nouveau",
        `nouveau drives the NVIDIA card (a stock host): pulumi up installs driver ${want} without loading it and blacklists nouveau; GPU containers work only after a reboot`,
        "plan a reboot right after the first pulumi up (then run pulumi up again for the GPU containers)",
      );
    } else if (want || driverOnDisk) {
      add("warn", "gpu nouveau", `nouveau still drives the NVIDIA card although NVIDIA driver ${driverOnDisk || want} is installed: a reboot is pending`, "reboot the host when its guests allow");
    } else if (gpus) {
      add(
        "fail",
        "gpu nouveau",
        "nouveau drives the NVIDIA card and the files install no NVIDIA driver, but containers declare GPUs",
        "set nvidia_driver.install true (with version and runfile_url) in phoenix_hypervisor_config.json, or install the driver by hand and reboot",
      );
    } else add("ok", "gpu nouveau", "nouveau drives the NVIDIA card; the files use no GPU");
  } else if (gpus && facts.nouveau) add("ok", "gpu nouveau", "nouveau is not loaded");

  const groups = facts.iommu_groups?.code === 0 ? facts.iommu_groups.out.split("\n").filter((l) => l.trim()).length : 0;
  if (groups > 0) add("ok", "iommu", `on (${groups} IOMMU groups): PCI devices can be given to VMs`);
  else if (facts.iommu_groups) {
    const passthrough = model.vms.filter((v) => v.pciDevices.length > 0).map((v) => v.vmid);
    if (passthrough.length) {
      add(
        "warn",
        "iommu",
        `off, but VM${passthrough.length > 1 ? "s" : ""} ${passthrough.join(", ")} get PCI devices: pulumi up turns it on (host-pci-passthrough), then the host needs a reboot`,
        "plan a reboot after pulumi up; if the IOMMU stays off after it, enable VT-d/AMD-Vi in the firmware",
      );
    } else add("ok", "iommu", "off: only PCI devices given to VMs need it (intel_iommu=on on the kernel command line, IOMMU/VT-d in the firmware)");
  }

  const pci = facts.nvidia_pci?.code === 0 ? parseNvidiaPci(facts.nvidia_pci.out) : [];
  if (pci.length) add("ok", "nvidia gpus", pci.map((f) => `${f.address} (${f.driver || "no driver"})`).join(", "));
  else if (gpus && facts.nvidia_pci?.code === 0) add("warn", "nvidia gpus", "lspci lists no NVIDIA device, but the files use GPUs", "lspci -nn | grep -i nvidia (is the card seated, and not given to a VM?)");
  return out;
}
