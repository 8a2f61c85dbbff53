// pulumi up says plainly when the NVIDIA driver needs a reboot: the host-nvidia step's result
// (rebootRequired, rebootReason, as nvidia_driver.sh reports it on a stock host with nouveau)
// becomes a warning on that resource, on every run until the host rebooted; none otherwise.
import { expect, it } from "vitest";
import { requireNode } from "../load";
import { planStack } from "./plan";

/** The warnings of one update of the dev stack whose host-nvidia step observed `observed`. */
async function warningsWith(observed: Record<string, unknown>): Promise<string[]> {
  const pulumi = requireNode("@pulumi/pulumi");
  const warnings: string[] = [];
  const warn = pulumi.log.warn;
  pulumi.log.warn = (msg: string, ...rest: unknown[]) => {
    warnings.push(msg);
    return warn.call(pulumi.log, msg, ...rest);
  };
  try {
    const plan = await planStack({
      stack: "dev",
      preview: false,
      async onNewResource(args) {
        if (args.name !== "host-nvidia") return undefined;
        return { id: "host-nvidia", state: { ...args.inputs, observed } };
      },
    });
    expect(plan.errors).toEqual([]);
  } finally {
    pulumi.log.warn = warn;
  }
  return warnings;
}

it("a driver installed while nouveau drives the GPU: REBOOT REQUIRED, what works until then, what to do", async () => {
  const warnings = await warningsWith({ present: true, matches: true, version: "580.76.05", loadedVersion: "", rebootRequired: true, rebootReason: "nouveau still drives the GPU (blacklisted: the NVIDIA module takes over at the next boot)" });
  const notice = warnings.filter((w) => w.startsWith("REBOOT REQUIRED"));
  expect(notice).toEqual([
    "REBOOT REQUIRED: the NVIDIA driver 580.76.05 is installed, but nouveau still drives the GPU (blacklisted: the NVIDIA module takes over at the next boot). " +
      "Until the host reboots, everything without a GPU works (storage, shares, containers and VMs without GPUs); GPU containers cannot get their devices and their lxc-options step fails saying so. " +
      "Reboot the host when its guests allow (`reboot`), then run `pulumi up` again.",
  ]);
}, 300_000);

it("no warning when the loaded module is the installed one", async () => {
  const warnings = await warningsWith({ present: true, matches: true, version: "580.76.05", loadedVersion: "580.76.05", rebootRequired: false, rebootReason: "" });
  expect(warnings.filter((w) => w.includes("REBOOT REQUIRED"))).toEqual([]);
}, 300_000);
