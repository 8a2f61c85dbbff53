// Validation and defaults a real Proxmox host needs (issue 12 items 8 and 10): validate refuses
// what Proxmox would refuse during `pulumi up` (templates on storages that cannot snapshot,
// snapshot names Proxmox refuses, a clone whose `unprivileged` differs from its parent), and
// `proxmox_defaults.lxc` applies to containers that omit the settings.
import { afterAll, describe, expect, it } from "vitest";
import { Files, LXC, VM, cleanTempDirs, loadMutated } from "./helpers";

afterAll(cleanTempDirs);

const ct = (f: Files, id: number) => f.lxc.lxc_configs[String(id)];
const errorsOf = (mutate: (f: Files) => void): string[] => {
  const r = loadMutated(mutate);
  return r.ok ? [] : r.errors;
};
const accepted = (mutate: (f: Files) => void) => {
  const r = loadMutated(mutate);
  expect(r.ok ? [] : r.errors).toEqual([]);
  if (!r.ok) throw new Error(r.errors.join("\n"));
  return r;
};

describe("validate refuses what Proxmox refuses for containers", () => {
  it("a template on a storage that cannot snapshot (dir), naming key and storage", () => {
    expect(errorsOf((f) => (ct(f, 901).storage_pool = "quickOS-vm-persistent-data"))).toEqual([
      expect.stringContaining(`${LXC}: $.lxc_configs["901"].template_snapshot_name: template 901 is snapshotted, but its storage_pool is on storage quickOS-vm-persistent-data (type dir), which cannot take container snapshots`),
    ]);
    // A non-template may live there; a template on lvmthin may snapshot.
    accepted((f) => (ct(f, 955).storage_pool = "quickOS-vm-persistent-data"));
    accepted((f) => {
      ct(f, 900).storage_pool = "local-lvm";
    });
  });

  it("snapshot names Proxmox refuses: one letter, bad characters, too long, reserved", () => {
    for (const [name, message] of [
      ["x", "must be a Proxmox snapshot name (a letter, then 1-39 letters, digits"],
      ["a.b", "must be a Proxmox snapshot name"],
      ["aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa", "must be a Proxmox snapshot name"],
      ["current", "Proxmox reserves the snapshot name \"current\""],
      ["vzdump", "Proxmox reserves the snapshot name \"vzdump\""],
    ] as const) {
      const errors = errorsOf((f) => (ct(f, 900).template_snapshot_name = name));
      expect(errors.some((e) => e.startsWith(`${LXC}: $.lxc_configs["900"].template_snapshot_name: `) && e.includes(message)), `${name}: ${errors.join("\n")}`).toBe(true);
    }
    const vm = errorsOf((f) => (f.vm.vms[0].template_snapshot_name = "current"));
    expect(vm.some((e) => e.startsWith(`${VM}: $.vms[0].template_snapshot_name: `) && e.includes("reserves")), vm.join("\n")).toBe(true);
    accepted((f) => (ct(f, 900).template_snapshot_name = "ab"));
  });

  it("a clone whose unprivileged differs from its parent's", () => {
    expect(errorsOf((f) => (ct(f, 950).unprivileged = false))).toEqual([
      expect.stringContaining(`${LXC}: $.lxc_configs["950"].unprivileged: is false, but parent 901 is true: a clone keeps its parent's unprivileged setting`),
    ]);
    // Saying the same as the parent, or nothing (inherited), is fine.
    accepted((f) => (ct(f, 950).unprivileged = true));
    accepted((f) => delete ct(f, 950).unprivileged);
  });
});

describe("proxmox_defaults.lxc applies to containers that omit the settings", () => {
  it("feature flags (features key=value items, nesting) go to containers without pct_options; clones carry their parent's", () => {
    const r = accepted((f) => {
      f.host.proxmox_defaults.lxc.features = "nesting=1,fuse=1";
      delete ct(f, 950).pct_options;
      ct(f, 901).pct_options = ["nesting=1", "mknod=1"];
    });
    const byId = (id: number) => r.model.containers.find((c) => c.ctid === id)!;
    expect(byId(900).pctOptions).toEqual({ nesting: "1", fuse: "1" });
    // 950 omits pct_options: its parent 901's flags, as the clone carries them.
    expect(byId(950).pctOptions).toEqual({ nesting: "1", mknod: "1" });
    // Given flags are the container's own.
    expect(byId(902).pctOptions).toEqual({ nesting: "1", keyctl: "1" });
  });

  it("`nesting` of the defaults counts when the defaults' features do not say", () => {
    const r = accepted((f) => {
      delete f.host.proxmox_defaults.lxc.features;
      f.host.proxmox_defaults.lxc.nesting = 1;
    });
    expect(r.model.containers.find((c) => c.ctid === 900)!.pctOptions).toEqual({ nesting: "1" });
  });

  it("Phoenix features of the defaults go to root containers that omit `features`", () => {
    const r = accepted((f) => {
      f.host.proxmox_defaults.lxc.features = "nesting=1,base_setup";
      delete ct(f, 900).features;
      delete ct(f, 955).features;
    });
    expect(r.model.containers.find((c) => c.ctid === 900)!.features).toEqual(["base_setup"]);
    // A clone has its template's features in its image already.
    expect(r.model.containers.find((c) => c.ctid === 955)!.features).toEqual([]);
  });

  it("warns about Docker without nesting (the container's own docker feature or its template's)", () => {
    const r = accepted((f) => {
      ct(f, 902).pct_options = ["keyctl=1"];
      ct(f, 952).pct_options = ["keyctl=1"];
    });
    const warnings = r.warnings.filter((w: string) => w.includes("without nesting=1"));
    expect(warnings).toEqual([
      expect.stringContaining(`${LXC}: $.lxc_configs["902"].pct_options: runs Docker`),
      expect.stringContaining(`${LXC}: $.lxc_configs["952"].pct_options: runs Docker`),
    ]);
    // The dev stack as it is: no such warning.
    expect(accepted(() => {}).warnings.filter((w: string) => w.includes("without nesting=1"))).toEqual([]);
  });
});
