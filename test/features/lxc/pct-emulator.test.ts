// The `pct` emulator behaves as pct(1) and pct.conf(5) describe, for what Phoenix relies on:
// config format with snapshot sections, clone from a snapshot, the rules about running
// containers, errors with Proxmox's messages and exit code 255, and the call log.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import * as path from "node:path";
import { emulated, type Emulated } from "./container";

const TEMPLATE = "local:vztmpl/ubuntu-24.04-standard_24.04-2_amd64.tar.zst";

describe("pct emulator", () => {
  let e: Emulated;
  const pct = (...args: string[]) => e.run("pct", args);
  const ok = async (...args: string[]) => {
    const r = await pct(...args);
    expect(r.code, `pct ${args.join(" ")}: ${r.stderr}`).toBe(0);
    return r.stdout;
  };
  const conf = (ctid: number) => readFileSync(path.join(e.dir, "pve/lxc", `${ctid}.conf`), "utf8");

  beforeAll(() => {
    e = emulated();
  });
  afterAll(() => e?.cleanup());

  it("create writes pct.conf: sorted keys, allocated rootfs, defaults, raw lxc keys last", async () => {
    await ok("create", "400", TEMPLATE, "--hostname", "base", "--cores", "2", "--memory", "2048", "--rootfs", "local-lvm:8",
      "--net0", "name=eth0,bridge=vmbr0,ip=dhcp", "--features", "nesting=1,keyctl=1", "--unprivileged", "1", "--mp0", "local-lvm:4,mp=/data");
    const text = conf(400);
    expect(text).toMatch(/^arch: amd64\ncores: 2\nfeatures: nesting=1,keyctl=1\nhostname: base\nmemory: 2048\nmp0: local-lvm:vm-400-disk-1,size=4G,mp=\/data\nnet0: name=eth0,bridge=vmbr0,ip=dhcp,hwaddr=BC:24:11:[0-9A-F:]{8},type=veth\nostype: ubuntu\nrootfs: local-lvm:vm-400-disk-0,size=8G\nswap: 512\nunprivileged: 1\n$/);
    expect(await ok("status", "400")).toBe("status: stopped\n");
    const again = await pct("create", "400", TEMPLATE);
    expect(again.code).toBe(255);
    expect(again.stderr).toContain("CT 400 already exists");
    const bad = await pct("set", "400", "--bogus", "1");
    expect(bad.code).toBe(255);
    expect(bad.stderr).toContain("Unknown option: bogus");
    expect((await pct("create", "401", "local:iso/not-a-template.iso")).stderr).toContain("invalid template volume");
  });

  it("start/stop/exec/push follow the running state; exec runs inside the container's root", async () => {
    expect((await pct("exec", "400", "--", "true")).stderr).toContain("CT 400 not running");
    await ok("start", "400");
    expect((await pct("start", "400")).stderr).toContain("CT 400 already running");
    writeFileSync(path.join(e.dir, "payload"), "hello\n");
    await ok("push", "400", path.join(e.dir, "payload"), "/root/payload", "--perms", "0600");
    expect(await ok("exec", "400", "--", "cat", "/root/payload")).toBe("hello\n");
    // A clean environment, as lxc-attach --clear-env gives.
    expect(await ok("exec", "400", "--", "sh", "-c", "echo ${EMU_STATE:-unset}")).toBe("unset\n");
    expect(existsSync(path.join(e.rootfs(400), "root/payload"))).toBe(true);
    const destroy = await pct("destroy", "400");
    expect(destroy.stderr).toContain("CT 400 is running - destroy failed");
  });

  it("refuses a full clone of a running container without a snapshot", async () => {
    const r = await pct("clone", "400", "402", "--full", "1");
    expect(r.code).toBe(255);
    expect(r.stderr).toContain("cannot do full clone of running container without snapshot");
  });

  it("snapshot/listsnapshot/config --snapshot/delsnapshot keep Proxmox's config sections", async () => {
    await ok("snapshot", "400", "final-form", "--description", "phoenix:abc");
    const text = conf(400);
    expect(text).toContain("\nparent: final-form\n");
    expect(text).toMatch(/\n\n\[final-form\]\n(.+\n)*description: phoenix:abc\n(.+\n)*snaptime: \d+\n/);
    expect((await pct("snapshot", "400", "final-form")).stderr).toContain("snapshot name 'final-form' already used");
    expect((await ok("listsnapshot", "400")).split("\n").filter(Boolean).map((l) => l.trim().split(/\s+/)[1])).toEqual(["final-form", "current"]);
    expect(await ok("config", "400", "--snapshot", "final-form")).toContain("description: phoenix:abc\n");
    expect(await ok("config", "400")).not.toContain("snaptime");

    // Changes after the snapshot are not in a clone taken from it.
    writeFileSync(path.join(e.rootfs(400), "root/after-snapshot"), "x");
    await ok("clone", "400", "403", "--snapname", "final-form", "--hostname", "child", "--full", "1");
    expect(existsSync(path.join(e.rootfs(403), "root/payload"))).toBe(true);
    expect(existsSync(path.join(e.rootfs(403), "root/after-snapshot"))).toBe(false);
    const child = conf(403);
    expect(child).toContain("hostname: child\n");
    expect(child).toContain("rootfs: local-lvm:vm-403-disk-0,size=8G\n");
    expect(child).not.toMatch(/parent:|snaptime:|description:|\[/);

    expect((await pct("delsnapshot", "400", "nope")).stderr).toContain("snapshot 'nope' does not exist");
    await ok("delsnapshot", "400", "final-form");
    expect(conf(400)).not.toMatch(/parent:|\[final-form\]/);
  });

  it("a stopped container clones without a snapshot; resize only grows", async () => {
    await ok("stop", "400");
    expect((await pct("stop", "400")).stderr).toContain("CT 400 not running");
    await ok("clone", "400", "404", "--full", "1", "--storage", "tank-disks");
    expect(conf(404)).toContain("rootfs: tank-disks:vm-404-disk-0,size=8G\n");
    await ok("resize", "404", "rootfs", "16G");
    expect(conf(404)).toContain("rootfs: tank-disks:vm-404-disk-0,size=16G\n");
    expect((await pct("resize", "404", "rootfs", "4G")).stderr).toContain("unable to shrink disk size");
    await ok("destroy", "404");
    expect(existsSync(path.join(e.dir, "pve/lxc/404.conf"))).toBe(false);
    expect((await pct("status", "404")).stderr).toContain("Configuration file 'nodes/pve/lxc/404.conf' does not exist");
  });

  it("logs every call, one line each, quoting what needs quoting", () => {
    const log = readFileSync(path.join(e.dir, "calls.log"), "utf8").split("\n");
    expect(log[0]).toMatch(/^pct create 400 local:vztmpl\/ubuntu-24\.04-standard_24\.04-2_amd64\.tar\.zst --hostname base /);
    expect(log).toContain("pct snapshot 400 final-form --description phoenix:abc");
    expect(log).toContain("pct exec 400 -- sh -c 'echo ${EMU_STATE:-unset}'");
  });
});
