// `phoenix import`: the file it writes is a Pulumi import file the CLI accepts (checked against
// the documented shape and the CLI's own rules in importFile.ts), and it adopts each guest under
// the URN the program gives it, so `pulumi up` after `pulumi import` updates instead of re-creating.
import { execFileSync, spawnSync } from "node:child_process";
import * as fs from "node:fs";
import * as os from "node:os";
import * as path from "node:path";
import { describe, expect, it } from "vitest";
import { loadDist, repoRoot, requireNode } from "../load";
import { importFileProblems, importUrns, type ImportEntry } from "./importFile";
import { planStack, type PlannedResource } from "../program/plan";
import type { PhoenixModel } from "../../infra/config/model";

const CT = "proxmoxve:index/containerLegacy:ContainerLegacy";
const VM = "proxmoxve:index/vmLegacy:VmLegacy";
const IMAGE = "proxmoxve:download/fileLegacy:FileLegacy";

const dev = (() => {
  const r = loadDist<typeof import("../../infra/config/load")>("infra/config/load").loadPhoenixConfig(path.join(repoRoot, "stacks", "dev"));
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r.model;
})();

/** The dev stack's host with these guests (shaped like dev's 950 and 8001, standalone unless said). */
function model(containers: Array<{ ctid: number; node?: string }>, vms: Array<{ vmid: number; node?: string; cloneFrom?: number; templateImage?: string }>): PhoenixModel {
  const ct = dev.containers.find((c) => c.ctid === 950)!;
  const vm = dev.vms.find((v) => v.vmid === 8001)!;
  return {
    ...dev,
    containers: containers.map((c) => ({ ...structuredClone(ct), cloneFrom: undefined, templateSnapshotName: undefined, dependencies: [], ...c })),
    vms: vms.map((v) => ({ ...structuredClone(vm), cloneFrom: undefined, templateImage: undefined, dependencies: [], ...v })),
  };
}

describe("import file shape (the checker itself)", () => {
  it("rejects what the Pulumi CLI rejects", () => {
    expect(importFileProblems({ resources: [{ type: CT, name: "ct-1" }] })).toEqual([
      "resources[0] (ct-1): has no ID",
    ]);
    expect(importFileProblems({ resources: [{ type: "phoenix:lxc:Container", name: "c", id: "x", component: true }] }))
      .toContain("resources[0] (c): has an ID, but is marked as a component");
    expect(importFileProblems({ resources: [{ type: CT, name: "a", id: "pve/1", parent: "nope" }] }))
      .toContain("resources[0] (a): parent nope has no entry");
    expect(
      importFileProblems({
        resources: [
          { type: "phoenix:lxc:Container", name: "ct-1", component: true },
          { type: CT, name: "ct-1", id: "pve/1", parent: "ct-1" },
        ],
      }),
    ).toContain("resources[1] (ct-1): ambiguous parent ct-1");
    expect(importFileProblems({ resources: [{ type: "notatoken", name: "a", id: "1" }] }))
      .toContain("resources[0] (a): bad type token notatoken");
    expect(importFileProblems({ resources: [{ type: CT, name: "a", id: "pve/1", bogus: 1 }] }))
      .toContain("resources[0] (a): unknown key bogus");
  });

  it("derives URNs through the parent chain", () => {
    const urns = importUrns(
      { resources: [{ type: "p:m:C", name: "k", logicalName: "x", component: true }, { type: "q:m:R", name: "y", id: "1", parent: "k" }] },
      "dev",
      "phoenix",
    );
    expect(urns.get("y")).toBe("urn:pulumi:dev::phoenix::p:m:C$q:m:R::y");
  });
});

describe("buildImportFile", () => {
  const { buildImportFile } = loadDist<typeof import("../../infra/cli/import")>("infra/cli/import");

  it("adopts each guest as <node>/<id> under its component, with the program's names", () => {
    const file = buildImportFile(model([{ ctid: 900 }, { ctid: 950, node: "pve2" }], [{ vmid: 8001 }]), "pve");
    expect(importFileProblems(file)).toEqual([]);
    const guests = file.resources.filter((r: ImportEntry) => !r.component);
    expect(guests.map((r: ImportEntry) => [r.type, r.name, r.id])).toEqual([
      [CT, "ct-900", "pve/900"],
      [CT, "ct-950", "pve2/950"],
      [VM, "vm-8001", "pve/8001"],
    ]);
    const urns = importUrns(file, "dev", "phoenix");
    expect(urns.get("ct-950")).toBe(`urn:pulumi:dev::phoenix::phoenix:lxc:LxcGuest$${CT}::ct-950`);
    expect(urns.get("vm-8001")).toBe(`urn:pulumi:dev::phoenix::phoenix:vm:VmGuest$${VM}::vm-8001`);
    expect(urns.get("ct-950-component")).toBe("urn:pulumi:dev::phoenix::phoenix:lxc:LxcGuest::ct-950");
    // The same provider plugin the program uses reads the existing guests.
    const pkg = requireNode("@muhlba91/pulumi-proxmoxve/package.json");
    expect(guests.every((r: ImportEntry) => r.version === pkg.pulumi.version && r.pluginDownloadUrl === pkg.pulumi.server)).toBe(true);
  });

  it("adds root VM templates' cloud images only when asked", () => {
    const m = model([], [{ vmid: 8000, templateImage: "noble-server-cloudimg-amd64.img" }, { vmid: 8001, cloneFrom: 8000 }]);
    m.host = { ...m.host, storages: [{ id: "fastData-iso", type: "dir", content: ["iso", "vztmpl"], target: "/x" }] };
    m.nodes = [{ ...m.nodes[0], host: m.host }];
    expect(buildImportFile(m, "pve").resources.some((r: ImportEntry) => r.type === IMAGE)).toBe(false);
    const file = buildImportFile(m, "pve", { withImages: true });
    expect(importFileProblems(file)).toEqual([]);
    expect(file.resources.filter((r: ImportEntry) => r.type === IMAGE)).toMatchObject([
      { name: "vm-8000-image", id: "pve/fastData-iso:iso/noble-server-cloudimg-amd64.img", parent: "vm-8000-component" },
    ]);
  });

  it("adopts only the guests that exist when told which (--only)", () => {
    const m = model([{ ctid: 900 }, { ctid: 950 }, { ctid: 956 }], [{ vmid: 8001 }]);
    const file = buildImportFile(m, "pve", { only: [900, 8001] });
    expect(importFileProblems(file)).toEqual([]);
    expect(file.resources.filter((r: ImportEntry) => !r.component).map((r: ImportEntry) => r.id)).toEqual(["pve/900", "pve/8001"]);
    expect(() => buildImportFile(m, "pve", { only: [900, 777] })).toThrow(/777 is not a guest/);
  });

  it("refuses a node name that is not a host name", () => {
    expect(() => buildImportFile(model([{ ctid: 900, node: "pve/../x" }], []), "pve")).toThrow(/invalid Proxmox node name/);
  });
});

describe("phoenix import --stack dev", () => {
  const out = path.join(fs.mkdtempSync(path.join(os.tmpdir(), "phoenix-import-")), "import.json");

  it("writes an accepted import file covering every dev container and VM", () => {
    execFileSync(process.execPath, [path.join(repoRoot, "bin/phoenix.js"), "import", "--stack", "dev", "--out", out, "--with-images"], {
      cwd: repoRoot,
      stdio: "pipe",
    });
    const file = JSON.parse(fs.readFileSync(out, "utf8"));
    expect(importFileProblems(file)).toEqual([]);
    const ids = file.resources.filter((r: ImportEntry) => r.type === CT || r.type === VM).map((r: ImportEntry) => r.id);
    expect(ids).toEqual(["pve/900", "pve/901", "pve/902", "pve/950", "pve/952", "pve/955", "pve/8000", "pve/8001"]);
    // The root VM template's cloud image, under the name and storage the program downloads it to.
    const images = file.resources.filter((r: ImportEntry) => r.type === IMAGE);
    expect(images.map((r: ImportEntry) => [r.name, r.parent])).toEqual([["vm-8000-image", "vm-8000-component"]]);
    expect(images[0].id).toMatch(/^pve\/[\w.-]+:(iso|import)\/noble-server-cloudimg-amd64\.(img|qcow2)$/);
  });

  it("gives each guest the URN, type and parent the program declares", async () => {
    const plan = await planStack({ stack: "dev" });
    expect(plan.errors).toEqual([]);
    const planned = new Map<string, PlannedResource>(plan.resources.map((r) => [r.urn, r]));
    const file = JSON.parse(fs.readFileSync(out, "utf8"));
    const urns = importUrns(file, "dev", "phoenix");
    for (const entry of file.resources as ImportEntry[]) {
      const urn = urns.get(entry.name)!;
      expect(planned.has(urn), `${urn} is declared by the program`).toBe(true);
      expect(planned.get(urn)!.type).toBe(entry.type);
    }
    // The image id names the file the program declares.
    const image = file.resources.find((r: ImportEntry) => r.type === IMAGE);
    const declared = planned.get(urns.get(image.name)!)!.inputs;
    expect(image.id).toBe(`pve/${declared.datastoreId}:${declared.contentType}/${declared.fileName}`);
    // ... and nothing the program declares as a guest is left out.
    const guestUrns = plan.resources.filter((r) => r.type === CT || r.type === VM).map((r) => r.urn).sort();
    expect([...urns.values()].filter((u) => guestUrns.includes(u)).sort()).toEqual(guestUrns);
  });

  it("adopted guests are not replaced for how they were made (the provider never reads clone or the OS template back)", async () => {
    const plan = await planStack({ stack: "dev" });
    const guests = plan.resources.filter((r) => r.type === CT || r.type === VM);
    expect(guests.length).toBeGreaterThan(0);
    for (const g of guests) {
      // mountPoints: lxc-options owns the volume set after creation (an imported container's
      // volumes are not recreated, one added to the JSON is allocated by `pct set`); features of an
      // unprivileged container too (set as root by lxc-options after creation).
      if (g.type === CT) expect(g.ignoreChanges, g.name).toEqual(["clone", "operatingSystem", "mountPoints", ...(g.inputs.unprivileged ? ["features"] : [])]);
      else if (g.inputs.clone) expect(g.ignoreChanges, g.name).toContain("clone");
    }
  });

  it("a cluster stack: each guest adopted as <its node>/<id>, as the program places it", () => {
    const r = spawnSync(process.execPath, [path.join(repoRoot, "bin/phoenix.js"), "import", "--stack", "cluster"], { cwd: repoRoot, encoding: "utf8" });
    expect(r.status, r.stderr).toBe(0);
    const file = JSON.parse(r.stdout);
    expect(importFileProblems(file)).toEqual([]);
    const ids = Object.fromEntries(file.resources.filter((x: ImportEntry) => !x.component).map((x: ImportEntry) => [x.name, x.id]));
    expect(ids).toMatchObject({ "ct-900": "pve1/900", "ct-950": "pve2/950", "ct-955": "pve2/955", "ct-952": "pve3/952", "vm-8001": "pve1/8001" });
  });

  it("fails with a usage message without --stack, or with a bad --only", () => {
    const phoenix = (...args: string[]) =>
      spawnSync(process.execPath, [path.join(repoRoot, "bin/phoenix.js"), "import", ...args], { cwd: repoRoot, encoding: "utf8" });
    const r = phoenix();
    expect(r.status).toBe(2);
    expect(r.stderr).toMatch(/--stack NAME is required/);
    expect(phoenix("--stack", "dev", "--only", "900;rm -rf /").status).toBe(2);
    const unknown = phoenix("--stack", "dev", "--only", "900,777");
    expect(unknown.status).toBe(1);
    expect(unknown.stderr).toMatch(/777 is not a guest/);
    // A stack without a settings file is a usage error, as for every command that takes --stack.
    const noStack = phoenix("--stack", "nosuch");
    expect(noStack.status).toBe(2);
    expect(noStack.stderr).toMatch(/no stack settings file stacks\/Pulumi\.nosuch\.yaml/);
  });
});
