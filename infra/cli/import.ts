// `phoenix import --stack NAME [--out FILE] [--only IDS] [--with-images]`: adoption of a host the
// Bash orchestrator built.
// Writes a Pulumi import file (`pulumi import --file FILE`) that adopts every existing container
// and VM of the stack's Phoenix files under the logical names and parents the program uses, so
// the next `pulumi up` manages 900/901/950 ... instead of re-creating them. Only the proxmoxve
// resources need this: Phoenix's dynamic resources adopt existing objects on create.
//
// Import file format (Pulumi CLI `pulumi import --file`): `{nameTable?, resources: [{type, name,
// id?, parent?, component?, logicalName?, version?, pluginDownloadUrl?}]}`. `name` is the entry's
// key inside the file (what `parent` refers to), `logicalName` the resource's Pulumi name; a
// `component: true` entry (no id) creates the empty ComponentResource the program later fills.
import * as fs from "fs";
import { createRequire } from "module";
import * as path from "path";
import { loadPhoenixConfig } from "../config/load";
import { NODE_NAME } from "../config/patterns";
import type { PhoenixModel } from "../config/model";
import { cloudImage } from "../components/cloud-init";
import { containerNames, deploymentNodes, deploymentOf, hostOf, imageStorage, vmNames } from "../deployment/index";
import { stackSettingsOf, type StackSettings } from "../settings";
import { parseCommandArgs, STACK_OPTIONS, stackUsageError, usageError } from "./args";


export interface ImportSpec {
  type: string;
  /** Key of this entry inside the file (what other entries' `parent` names). */
  name: string;
  /** The resource's Pulumi name, when it differs from `name`. */
  logicalName?: string;
  /** Provider id of the existing object: `<node>/<vmid>` for proxmoxve guests. */
  id?: string;
  parent?: string;
  component?: boolean;
  /** The proxmoxve plugin the program uses, so the import reads with the same provider. */
  version?: string;
  pluginDownloadUrl?: string;
}

export interface ImportFile {
  /** Names of resources already in the stack, by URN (none needed for a first adoption). */
  nameTable: Record<string, string>;
  resources: ImportSpec[];
}



function proxmoxPlugin(): { version?: string; pluginDownloadUrl?: string } {
  // The package's own plugin metadata (package.json "pulumi" block) pins the provider binary.
  const meta = createRequire(__filename)("@muhlba91/pulumi-proxmoxve/package.json").pulumi as
    | { version?: string; server?: string }
    | undefined;
  return { version: meta?.version, pluginDownloadUrl: meta?.server };
}

export interface ImportOptions {
  /**
   * Also adopt the cloud image each root VM template is built from (`vm-<vmid>-image`, id
   * `<node>/<storage>:<content>/<file>`). Only when the file is already on the host under the name
   * the program uses: `pulumi import` fails for a file that does not exist.
   */
  withImages?: boolean;
  /**
   * Only these guest IDs (what `pct list` and `qm list` show on the host). `pulumi import` fails
   * as a whole when one listed guest does not exist, e.g. one the Bash orchestrator never built.
   */
  only?: number[];
}

/**
 * The import file that adopts every container and VM of `model`, read from the deployment model
 * (infra/deployment): each guest becomes its component (`ct-<ctid>` of type
 * COMPONENT_TYPES.lxc, `vm-<vmid>` of type COMPONENT_TYPES.vm) and, parented to it, the proxmoxve
 * resource of the same logical name with id `<node>/<id>`, `<node>` being the guest's node.
 * Throws when `options.only` names an ID that is not a guest of the files, or a node name is invalid.
 */
export function buildImportFile(model: PhoenixModel, defaultNode: string, options: ImportOptions = {}): ImportFile {
  const plugin = proxmoxPlugin();
  const resources: ImportSpec[] = [];
  const deployment = deploymentOf(model, { node: defaultNode });
  const nodes = deploymentNodes(model, { node: defaultNode });
  if (options.only) {
    const known = new Set(deployment.guestOrder.map((g) => g.id));
    const unknown = options.only.filter((id) => !known.has(id));
    if (unknown.length) throw new Error(`--only: ${unknown.join(", ")} ${unknown.length > 1 ? "are" : "is"} not a guest of these Phoenix files`);
  }
  for (const g of deployment.guestOrder) {
    if (options.only && !options.only.includes(g.id)) continue;
    const logical = g.kind === "lxc" ? containerNames(g.id).container : vmNames(g.id).vm;
    const component = deployment.get(logical, true);
    const guest = deployment.get(logical);
    if (!NODE_NAME.test(guest.node)) throw new Error(`${logical}: invalid Proxmox node name ${JSON.stringify(guest.node)}`);
    // The component's entry key differs from its logical name: the child, whose key is the
    // logical name, must name its parent unambiguously.
    const componentKey = `${logical}-component`;
    resources.push({ type: component.type, name: componentKey, logicalName: logical, component: true });
    resources.push({ type: guest.type, name: logical, id: `${guest.node}/${g.id}`, parent: componentKey, ...plugin });
    // Root VM templates are built from a downloaded cloud image (vm-<vmid>-image).
    const imageName = vmNames(g.id).image;
    const vm = g.kind === "vm" ? model.vms.find((v) => v.vmid === g.id) : undefined;
    if (options.withImages && vm?.templateImage && deployment.has(imageName)) {
      const image = deployment.get(imageName);
      const store = imageStorage(hostOf(nodes, image.node));
      const { fileName } = cloudImage(vm.templateImage, store.contentType);
      resources.push({ type: image.type, name: imageName, id: `${image.node}/${store.id}:${store.contentType}/${fileName}`, parent: componentKey, ...plugin });
    }
  }
  return { nameTable: {}, resources };
}

export const USAGE = `usage: phoenix import --stack NAME [--config-dir DIR] [--out FILE] [--only ID,ID...] [--with-images]

Writes a Pulumi import file adopting the stack's existing containers and VMs; then run
  pulumi import --stack NAME --file FILE --generate-code=false

options:
  --stack NAME       the stack whose settings apply (stacks/Pulumi.NAME.yaml; required)
  --config-dir DIR   folder holding the three Phoenix JSON files (default: the stack's
                     phoenix:configDir, else stacks/NAME)
  --out FILE         write the import file here (default: stdout)
  --only ID,ID...    just these guest IDs (those \`pct list\` and \`qm list\` show)
  --with-images      also the cloud images of root VM templates, when already on the host
  -h, --help         show this help
`;

export const OPTIONS = {
  ...STACK_OPTIONS,
  out: { type: "string" },
  only: { type: "string" },
  "with-images": { type: "boolean", default: false },
} as const;

export async function run(argv: string[]): Promise<number> {
  const parsed = parseCommandArgs("import", argv, OPTIONS, USAGE);
  if ("exit" in parsed) return parsed.exit;
  const { values } = parsed;
  if (values.stack === undefined) return usageError("import", "--stack NAME is required");
  const bad = stackUsageError("import", values.stack);
  if (bad !== undefined) return bad;
  let only: number[] | undefined;
  if (values.only !== undefined) {
    if (!/^\d+(,\d+)*$/.test(values.only.replace(/\s+/g, ""))) return usageError("import", "--only takes guest IDs separated by commas, e.g. 900,901,950");
    only = values.only.replace(/\s+/g, "").split(",").map(Number);
  }
  let settings: StackSettings;
  try {
    settings = stackSettingsOf(values.stack);
  } catch (err) {
    return usageError("import", `--stack ${values.stack}: ${(err as Error).message}`);
  }
  // The stack's nodes and allowances, as the program loads the files (infra/index.ts).
  const node = settings.node;
  const configDir = values["config-dir"] !== undefined ? path.resolve(values["config-dir"]) : settings.configDir;
  const loaded = loadPhoenixConfig(configDir, { defaultNode: node, nodes: settings.nodes.map((n) => n.name), allow: settings.allow });
  if (!loaded.ok) {
    process.stderr.write(`phoenix import: invalid Phoenix configuration in ${configDir}:\n${loaded.errors.join("\n")}\n`);
    return 1;
  }
  let file: ImportFile;
  try {
    file = buildImportFile(loaded.model, node, { withImages: values["with-images"], only });
  } catch (err) {
    process.stderr.write(`phoenix import: ${(err as Error).message}\n`);
    return 1;
  }
  const text = `${JSON.stringify(file, null, 2)}\n`;
  if (values.out) {
    fs.writeFileSync(values.out, text);
    const guests = file.resources.filter((r) => !r.component).length;
    process.stderr.write(
      `phoenix import: ${guests} guests of stack ${values.stack} written to ${values.out}; next:\n` +
        `  pulumi import --stack ${values.stack} --file ${values.out} --generate-code=false\n`,
    );
  } else {
    process.stdout.write(text);
  }
  return 0;
}
