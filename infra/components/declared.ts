// The resources the program has declared so far, checked against the deployment model: a
// component declares a resource only under a name the model holds, with the model's type, and
// waits for exactly the model's dependencies. So the program cannot drift from what `phoenix
// graph`, `phoenix import` and the policy pack read (infra/deployment).
import * as pulumi from "@pulumi/pulumi";
import type { Deployment, DeploymentResource } from "../deployment/index";

export class DeclaredResources {
  /** Custom resources by name (components are not prerequisites of anything). */
  private readonly resources = new Map<string, pulumi.Resource>();
  private readonly components = new Set<string>();

  constructor(readonly deployment: Deployment) {}

  /** The model's entry for `name`; throws when the model holds no such resource. */
  entry(name: string): DeploymentResource {
    return this.deployment.get(name);
  }

  /** Whether the model holds a resource named `name` (steps the configuration asks for). */
  has(name: string): boolean {
    return this.deployment.has(name);
  }

  /**
   * The resources `name` waits for, per the model. Throws when one of them has not been declared
   * yet (the program declares in the model's order, so this is an internal error).
   */
  dependsOn(name: string): pulumi.Resource[] {
    return this.entry(name).dependsOn.map((d) => {
      const r = this.resources.get(d.name);
      if (!r) throw new Error(`internal: ${name} waits for ${d.name}, which is not declared yet`);
      return r;
    });
  }

  /**
   * Records a resource the program just declared. Throws when the model holds no resource of that
   * name and type, or when it was declared twice.
   */
  add<T extends pulumi.Resource>(name: string, resource: T): T {
    const component = resource instanceof pulumi.ComponentResource;
    const entry = this.deployment.get(name, component);
    // The Pulumi type the SDK assigned at construction (pulumi/resource.js resourceType).
    const type = (resource as unknown as { __pulumiType: string }).__pulumiType;
    if (type !== entry.type) throw new Error(`internal: ${name} is declared as ${type}; the deployment model says ${entry.type}`);
    if (component) {
      if (this.components.has(name)) throw new Error(`internal: component ${name} is declared twice`);
      this.components.add(name);
    } else {
      if (this.resources.has(name)) throw new Error(`internal: ${name} is declared twice`);
      this.resources.set(name, resource);
    }
    return resource;
  }

  /**
   * Pulumi aliases of the model's entry `name` (a component's when `component`): earlier names,
   * type tokens and parents. An earlier parent is a top-level component, so its URN is
   * `urn:pulumi:<stack>::<project>::<type>::<name>`.
   */
  aliases(name: string, component = false): pulumi.Alias[] {
    return (this.deployment.get(name, component).aliases ?? []).map((a) => ({
      ...(a.name !== undefined ? { name: a.name } : {}),
      ...(a.type !== undefined ? { type: a.type } : {}),
      ...(a.parent !== undefined ? { parent: pulumi.createUrn(a.parent.name, a.parent.type) } : {}),
    }));
  }
}
