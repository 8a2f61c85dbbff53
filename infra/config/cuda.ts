// Which NVIDIA driver a CUDA version needs. CUDA programs, and the CUDA images run with the
// NVIDIA Container Toolkit (which mounts the host driver's user-space libraries into them), fail
// on an older driver ("CUDA driver version is insufficient for CUDA runtime version"). The
// minimums are those NVIDIA's CUDA Toolkit release notes give for minor version compatibility on
// Linux (every 11.x, 12.x and 13.x release runs on at least this driver).
const MINIMUM_DRIVER: Record<number, string> = {
  11: "450.80.02",
  12: "525.60.13",
  13: "580.65.06",
};

/** Compares dotted versions numerically: negative, zero or positive. */
export function compareVersions(a: string, b: string): number {
  const x = a.split(".").map(Number);
  const y = b.split(".").map(Number);
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] ?? 0) - (y[i] ?? 0);
    if (d !== 0) return d;
  }
  return 0;
}

/**
 * The driver CUDA `cuda` (`12.8`) needs at least, when `driver` is older; undefined when the
 * driver suffices or the CUDA major version is not one the table knows.
 */
export function cudaDriverShortfall(cuda: string, driver: string): string | undefined {
  const minimum = MINIMUM_DRIVER[Number(cuda.split(".")[0])];
  return minimum && compareVersions(driver, minimum) < 0 ? minimum : undefined;
}
