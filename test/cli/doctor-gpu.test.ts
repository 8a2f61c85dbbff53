// phoenix doctor's GPU checks (doctor-gpu.ts), judged from facts as the facts script reports
// them: nouveau on a stock host before and after the driver install, the IOMMU, the NVIDIA PCI
// functions and their drivers. The dev stack declares the NVIDIA driver 580.76.05 and GPU containers.
import * as path from "node:path";
import { expect, it } from "vitest";
import { loadDist, repoRoot } from "../load";

const doctor = loadDist<typeof import("../../infra/cli/doctor")>("infra/cli/doctor");
const gpu = loadDist<typeof import("../../infra/cli/doctor-gpu")>("infra/cli/doctor-gpu");
const { stackSettingsFrom } = loadDist<typeof import("../../infra/settings")>("infra/settings");
const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");

const loaded = loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"), { defaultNode: "pve" });
if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
const model = loaded.model;
const input = { settings: stackSettingsFrom("t", () => undefined), model, secrets: {}, auth: { kind: "unknown" as const } };
const fact = (code: number, out = "") => ({ code, out });
const LSPCI = `0000:01:00.0 VGA compatible controller [0300]: NVIDIA Corporation AD102 [GeForce RTX 4090] [10de:2684] (rev a1)
\tSubsystem: NVIDIA Corporation Device [10de:16f3]
\tKernel driver in use: nouveau
\tKernel modules: nvidiafb, nouveau
0000:01:00.1 Audio device [0403]: NVIDIA Corporation AD102 High Definition Audio Controller [10de:22ba] (rev a1)
\tKernel driver in use: snd_hda_intel
0000:02:00.0 VGA compatible controller [0300]: NVIDIA Corporation GA102 [10de:2204] (rev a1)
`;
/** The whole report's GPU lines for these facts (through evaluate, as doctor runs them). */
const run = (facts: Record<string, { code: number; out: string }>) =>
  doctor.evaluate(input, facts, doctor.factQueries(input)).filter((c) => ["gpu nouveau", "iommu", "nvidia gpus", "nvidia driver"].includes(c.check));
const line = (checks: ReturnType<typeof run>, name: string) => checks.find((c) => c.check === name);

it("a stock host: nouveau drives the card, no NVIDIA driver yet: warns that the install ends with a reboot", () => {
  const checks = run({ nouveau: fact(0), iommu_groups: fact(0, "0\n1\n2\n"), nvidia_pci: fact(0, LSPCI), nvidia_smi: fact(127), nvidia_sys: fact(1), nvidia_proc: fact(1), nvidia_modinfo: fact(1) });
  expect(line(checks, "gpu nouveau")).toMatchObject({ status: "warn", found: expect.stringContaining("nouveau drives the NVIDIA card (a stock host): pulumi up installs driver 580.76.05 without loading it") });
  expect(line(checks, "gpu nouveau")!.fix).toContain("plan a reboot right after the first pulumi up");
  expect(line(checks, "iommu")).toMatchObject({ status: "ok", found: "on (3 IOMMU groups): PCI devices can be given to VMs" });
  expect(line(checks, "nvidia gpus")).toMatchObject({ status: "ok", found: "0000:01:00.0 (nouveau), 0000:01:00.1 (snd_hda_intel), 0000:02:00.0 (no driver)" });
  expect(line(checks, "nvidia driver")).toMatchObject({ status: "ok", found: "not installed: pulumi up installs 580.76.05 (host-nvidia)" });
});

it("after the install, before the reboot: nouveau still loaded, the driver on disk: a reboot is pending", () => {
  const checks = run({ nouveau: fact(0), iommu_groups: fact(0, ""), nvidia_modinfo: fact(0, "580.76.05\n"), nvidia_smi: fact(9) });
  expect(line(checks, "gpu nouveau")).toMatchObject({ status: "warn", found: "nouveau still drives the NVIDIA card although NVIDIA driver 580.76.05 is installed: a reboot is pending" });
  expect(line(checks, "iommu")).toMatchObject({ status: "ok", found: expect.stringMatching(/^off: only PCI devices given to VMs need it/) });
});

it("after the reboot: nouveau gone, the module loaded; no lspci (pciutils missing) adds no line", () => {
  const checks = run({ nouveau: fact(1), iommu_groups: fact(0, "0\n"), nvidia_smi: fact(0, "580.76.05\n"), nvidia_modinfo: fact(0, "580.76.05\n"), nvidia_pci: fact(127) });
  expect(line(checks, "gpu nouveau")).toMatchObject({ status: "ok", found: "nouveau is not loaded" });
  expect(line(checks, "nvidia driver")).toMatchObject({ status: "ok" });
  expect(line(checks, "nvidia gpus")).toBeUndefined();
});

it("GPU containers without a managed driver on a nouveau host fail; lspci without NVIDIA devices warns", () => {
  const unmanaged = { ...input, model: { ...model, host: { ...model.host, nvidiaDriver: undefined } } };
  const checks = doctor.evaluate(unmanaged, { nouveau: fact(0), nvidia_pci: fact(0, "") }, doctor.factQueries(unmanaged));
  expect(checks.find((c) => c.check === "gpu nouveau")).toMatchObject({ status: "fail", fix: expect.stringContaining("set nvidia_driver.install true") });
  expect(checks.find((c) => c.check === "nvidia gpus")).toMatchObject({ status: "warn" });
});

it("parses lspci -Dnnk: addresses, descriptions and the driver in use", () => {
  expect(gpu.parseNvidiaPci(LSPCI)[0]).toEqual({ address: "0000:01:00.0", description: "VGA compatible controller [0300]: NVIDIA Corporation AD102 [GeForce RTX 4090] [10de:2684] (rev a1)", driver: "nouveau" });
  expect(gpu.parseNvidiaPci("")).toEqual([]);
});
