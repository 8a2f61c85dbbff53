// The components cannot stray from the deployment model: DeclaredResources refuses a resource the
// model does not hold, one of another type, one declared twice, and a prerequisite not declared yet.
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot, requireNode } from "../load";
import { captureResources } from "../providers/harness";

const { loadPhoenixConfig } = loadDist<typeof import("../../infra/config/load")>("infra/config/load");
const { deploymentOf } = loadDist<typeof import("../../infra/deployment/index")>("infra/deployment/index");
const { DeclaredResources } = loadDist<typeof import("../../infra/components/declared")>("infra/components/declared");

describe("DeclaredResources", () => {
  it("refuses what the deployment model does not say", async () => {
    const loaded = loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"));
    if (!loaded.ok) throw new Error(loaded.errors.join("\n"));
    const pulumi: typeof import("@pulumi/pulumi") = requireNode("@pulumi/pulumi");
    const errors: string[] = [];
    const attempt = (f: () => unknown) => {
      try {
        f();
      } catch (err) {
        errors.push((err as Error).message);
      }
    };
    await captureResources(() => {
      const declared = new DeclaredResources(deploymentOf(loaded.model));
      class Thing extends pulumi.ComponentResource {
        constructor(type: string, name: string) {
          super(type, name, {}, {});
        }
      }
      // Not in the model.
      attempt(() => declared.add("ct-999", new Thing("phoenix:lxc:LxcGuest", "ct-999")));
      // In the model, under another type.
      attempt(() => declared.add("ct-900", new Thing("phoenix:lxc:Container", "ct-900")));
      // Right name and type: accepted once, refused twice.
      declared.add("host", new Thing("phoenix:hypervisor:Hypervisor", "host"));
      attempt(() => declared.add("host", new Thing("phoenix:hypervisor:Hypervisor", "host-again")));
      // ct-900's container waits for the host's initial setup and its storage: not declared yet.
      attempt(() => declared.dependsOn("ct-900"));
    });
    expect(errors).toEqual([
      "internal: the deployment model has no component ct-999",
      "internal: ct-900 is declared as phoenix:lxc:Container; the deployment model says phoenix:lxc:LxcGuest",
      "internal: component host is declared twice",
      "internal: ct-900 waits for host-initial-setup, which is not declared yet",
    ]);
  });
});
