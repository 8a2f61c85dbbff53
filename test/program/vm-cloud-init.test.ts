// The pure cloud-init builders (infra/components/cloud-init.ts): cloud image sources and the
// #cloud-config user data, including what they refuse.
import { describe, expect, it } from "vitest";
import { parse } from "yaml";
import { loadDist } from "../load";

const ci = loadDist<typeof import("../../infra/components/cloud-init")>("infra/components/cloud-init");

const base = {
  hostname: "vm-a",
  features: [{ name: "docker", text: "#!/usr/bin/env bash\necho docker\n" }],
  runner: "#!/usr/bin/env bash\necho runner\n",
  library: "# shellcheck shell=bash\nlog() { :; }\n",
  params: { VM_NAME: "vm-a" },
};

describe("cloudImage", () => {
  it("maps Ubuntu and Debian image names to their official downloads", () => {
    expect(ci.cloudImage("noble-server-cloudimg-amd64.img", "iso")).toEqual({
      url: "https://cloud-images.ubuntu.com/noble/current/noble-server-cloudimg-amd64.img",
      fileName: "noble-server-cloudimg-amd64.img",
    });
    // `import` content takes disk image extensions only: the qcow2 `.img` is stored as `.qcow2`.
    expect(ci.cloudImage("jammy-server-cloudimg-arm64.img", "import").fileName).toBe("jammy-server-cloudimg-arm64.qcow2");
    expect(ci.cloudImage("debian-12-genericcloud-amd64.qcow2", "import")).toEqual({
      url: "https://cloud.debian.org/images/cloud/bookworm/latest/debian-12-genericcloud-amd64.qcow2",
      fileName: "debian-12-genericcloud-amd64.qcow2",
    });
    expect(ci.cloudImage("https://mirror.example/images/custom-1.img", "iso")).toEqual({
      url: "https://mirror.example/images/custom-1.img",
      fileName: "custom-1.img",
    });
  });

  it("refuses names it cannot place", () => {
    expect(() => ci.cloudImage("ubuntu-24.04-standard", "iso")).toThrow(/not a known cloud image name/);
    expect(() => ci.cloudImage("debian-99-genericcloud-amd64.qcow2", "iso")).toThrow(/unknown Debian release 99/);
    expect(() => ci.cloudImage("https://mirror.example/images/", "iso")).toThrow(/plain file name/);
  });
});

describe("buildUserData", () => {
  it("is #cloud-config YAML with the user, the guest agent, the features and the runner", () => {
    const text = ci.buildUserData({ ...base, user: { username: "ops", passwordHash: "$6$salt$hash", sshPublicKey: "ssh-ed25519 AAAA ops@x" } });
    expect(text.startsWith("#cloud-config\n")).toBe(true);
    const doc = parse(text);
    expect(doc.hostname).toBe("vm-a");
    expect(doc.users).toEqual([
      { name: "ops", shell: "/bin/bash", groups: ["adm", "sudo"], sudo: "ALL=(ALL) NOPASSWD:ALL", lock_passwd: false, passwd: "$6$salt$hash", ssh_authorized_keys: ["ssh-ed25519 AAAA ops@x"] },
    ]);
    expect(doc.ssh_pwauth).toBe(false);
    expect(doc.packages).toEqual(["qemu-guest-agent"]);
    const files = Object.fromEntries(doc.write_files.map((f: { path: string; content: string }) => [f.path, f]));
    expect(files["/opt/phoenix/features/docker.sh"]).toMatchObject({ content: base.features[0].text, permissions: "0755", owner: "root:root" });
    expect(files["/opt/phoenix/features/first_boot.sh"].content).toBe(base.runner);
    expect(files["/opt/phoenix/features/common.sh"].content).toBe(base.library);
    expect(files["/etc/phoenix/features.list"].content).toBe("docker\n");
    expect(files["/etc/phoenix/features.env"]).toMatchObject({ content: `VM_NAME=${Buffer.from("vm-a").toString("base64")}\n`, permissions: "0600" });
    expect(doc.runcmd).toEqual([["systemctl", "enable", "--now", "qemu-guest-agent"], ["/opt/phoenix/features/first_boot.sh"]]);
  });

  it("locks the password of a user without a hash, and mounts NFS exports", () => {
    const doc = parse(ci.buildUserData({ ...base, user: { username: "ops" }, nfsMounts: [{ server: "10.0.0.13", path: "/quickOS/shared", mountPoint: "/mnt/shared" }] }));
    expect(doc.users[0].lock_passwd).toBe(true);
    expect(doc.users[0].passwd).toBeUndefined();
    expect(doc.packages).toEqual(["qemu-guest-agent", "nfs-common"]);
    expect(doc.mounts).toEqual([["10.0.0.13:/quickOS/shared", "/mnt/shared", "nfs", "defaults,_netdev,nofail", "0", "0"]]);
  });

  it("keeps any parameter value as data (base64 in the env file), and refuses bad names", () => {
    const value = "x\n$(touch /tmp/p) `id` 'q' \"d\"";
    const doc = parse(ci.buildUserData({ ...base, params: { EVIL: value } }));
    const env = doc.write_files.find((f: { path: string; content: string }) => f.path === "/etc/phoenix/features.env").content as string;
    expect(env).toBe(`EVIL=${Buffer.from(value).toString("base64")}\n`);
    expect(() => ci.buildUserData({ ...base, params: { "A;B": "x" } })).toThrow(/invalid feature parameter name/);
    expect(() => ci.buildUserData({ ...base, params: { A: "x\0y" } })).toThrow(/NUL/);
    expect(() => ci.buildUserData({ ...base, features: [{ name: "../etc/passwd", text: "x" }] })).toThrow(/invalid feature name/);
    expect(() => ci.buildUserData({ ...base, user: { username: "root; rm -rf /" } })).toThrow(/invalid user name/);
    expect(() => ci.buildUserData({ ...base, nfsMounts: [{ server: "h", path: "/a b", mountPoint: "/m" }] })).toThrow(/invalid NFS path/);
  });
});
