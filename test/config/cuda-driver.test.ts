// Versions consistent: a host file's cuda_version needs a driver at least as new as NVIDIA's
// minimum for that CUDA major version; validate warns (CUDA programs and CUDA images run through
// the NVIDIA Container Toolkit would fail with "CUDA driver version is insufficient").
import { afterAll, expect, it } from "vitest";
import { loadDist } from "../load";
import { cleanTempDirs, loadMutated } from "../config/helpers";

const cuda = loadDist<typeof import("../../infra/config/cuda")>("infra/config/cuda");
afterAll(cleanTempDirs);

it("the minimum driver per CUDA major version", () => {
  expect(cuda.cudaDriverShortfall("12.8", "580.76.05")).toBeUndefined();
  expect(cuda.cudaDriverShortfall("13.0", "575.57.08")).toBe("580.65.06");
  expect(cuda.cudaDriverShortfall("12.4", "525.60.13")).toBeUndefined();
  expect(cuda.cudaDriverShortfall("12.4", "525.60.11")).toBe("525.60.13");
  expect(cuda.cudaDriverShortfall("11.8", "470.256.02")).toBeUndefined();
  expect(cuda.cudaDriverShortfall("10.2", "440.33")).toBeUndefined();
  expect(cuda.compareVersions("580.9", "580.65.06")).toBeLessThan(0);
});

it("validate warns when the host file's cuda_version needs a newer driver; the dev files (CUDA 12.8, 580.76.05) are fine", () => {
  const ok = loadMutated(() => {});
  expect(ok.ok && ok.warnings.filter((w) => w.includes("cuda_version"))).toEqual([]);
  const r = loadMutated((f) => {
    Object.assign(f.host.nvidia_driver, { version: "570.172.08", cuda_version: "13.0", runfile_url: undefined });
    f.lxc.nvidia_driver_version = "570.172.08";
  });
  if (!r.ok) throw new Error(r.errors.join("\n"));
  expect(r.warnings).toContain(
    'phoenix_hypervisor_config.json: $.nvidia_driver.cuda_version: CUDA 13.0 needs NVIDIA driver 580.65.06 or newer, but version is 570.172.08: CUDA programs and CUDA images fail with "CUDA driver version is insufficient"',
  );
});
