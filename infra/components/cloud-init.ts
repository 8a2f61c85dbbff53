// Cloud-init for Phoenix VMs, as pure functions over plain data: which cloud image a template is
// built from, and the `#cloud-config` user data a clone boots with. The user data creates the VM's
// user, installs and starts the QEMU guest agent (cloud images do not ship it, and Phoenix waits on
// it), and embeds the VM's feature scripts from features/vm/ with the runner that applies them in
// order on first boot. Built with the `yaml` package, never by string templating.
import { stringify } from "yaml";
import { FEATURE_NAME, USERNAME } from "../config/patterns";

/** Where the user data puts the runner and the feature scripts inside the guest. */
export const GUEST_FEATURE_DIR = "/opt/phoenix/features";
/** Feature order and parameters (`NAME=<base64>` lines) inside the guest: data files the runner reads, never sources. */
export const GUEST_FEATURE_LIST = "/etc/phoenix/features.list";
export const GUEST_FEATURE_ENV = "/etc/phoenix/features.env";

export interface CloudImage {
  /** Where the proxmoxve provider downloads the image from. */
  url: string;
  /** File name on the Proxmox storage. */
  fileName: string;
}

/**
 * The download for a `template_image`. A full URL is taken as is; a bare Ubuntu cloud image name
 * (`<codename>-server-cloudimg-<arch>.img`, the original orchestrator's only source) maps to
 * cloud-images.ubuntu.com, and a Debian `debian-<n>-genericcloud-<arch>.qcow2` to cloud.debian.org.
 *
 * `contentType` is the storage content the file lands in: `import` content only accepts disk image
 * extensions (`.qcow2`, `.raw`, `.vmdk`), so an Ubuntu `.img` (a qcow2 image) is stored as
 * `.qcow2` there; `iso` content accepts `.img` and keeps the name.
 */
export function cloudImage(templateImage: string, contentType: "import" | "iso"): CloudImage {
  let url: string;
  let base: string;
  const ubuntu = /^([a-z]+)-server-cloudimg-(amd64|arm64)\.img$/.exec(templateImage);
  const debian = /^debian-(\d+)-(generic|genericcloud)-(amd64|arm64)\.qcow2$/.exec(templateImage);
  if (/^https?:\/\/[^\s]+$/.test(templateImage)) {
    url = templateImage;
    base = decodeURIComponent(new URL(templateImage).pathname.split("/").pop() ?? "");
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]*$/.test(base)) {
      throw new Error(`template_image ${JSON.stringify(templateImage)}: the URL must end in a plain file name`);
    }
  } else if (ubuntu) {
    url = `https://cloud-images.ubuntu.com/${ubuntu[1]}/current/${templateImage}`;
    base = templateImage;
  } else if (debian) {
    const codename = DEBIAN_CODENAMES[debian[1]];
    if (!codename) throw new Error(`template_image ${JSON.stringify(templateImage)}: unknown Debian release ${debian[1]}`);
    url = `https://cloud.debian.org/images/cloud/${codename}/latest/${templateImage}`;
    base = templateImage;
  } else {
    throw new Error(
      `template_image ${JSON.stringify(templateImage)}: not a known cloud image name ` +
        "(`<codename>-server-cloudimg-<arch>.img`, `debian-<n>-genericcloud-<arch>.qcow2`) nor an http(s) URL",
    );
  }
  let fileName = base;
  if (contentType === "import" && !/\.(qcow2|raw|vmdk)$/.test(base)) {
    fileName = base.replace(/\.(img|qcow|disk)$/, "") + ".qcow2";
  }
  return { url, fileName };
}

const DEBIAN_CODENAMES: Record<string, string> = { "11": "bullseye", "12": "bookworm", "13": "trixie" };

export interface UserDataFeature {
  name: string;
  /** The script text (from features/vm/<name>.sh). */
  text: string;
}

export interface UserDataInput {
  hostname: string;
  user?: { username: string; passwordHash?: string; sshPublicKey?: string };
  /** Applied in this order on first boot. */
  features: UserDataFeature[];
  /** The runner (features/vm/first_boot.sh). */
  runner: string;
  /** Shell helpers the features source through $PHOENIX_LIB (the containers' features/lxc/common.sh). */
  library: string;
  /** Feature parameters: `NAME` → value, handed to every feature as `PHOENIX_NAME`. */
  params: Record<string, string>;
  /** NFS exports mounted in the guest (fstab entries through cloud-init's `mounts`). */
  nfsMounts?: { server: string; path: string; mountPoint: string }[];
}

/** A feature parameter's name (`PHOENIX_<NAME>` in the guest's environment). */
const PARAM_NAME = /^[A-Z][A-Z0-9_]*$/;

/** The `#cloud-config` user data of a VM (a YAML document; the first line is the marker). */
export function buildUserData(input: UserDataInput): string {
  for (const f of input.features) {
    if (!FEATURE_NAME.test(f.name)) throw new Error(`invalid feature name ${JSON.stringify(f.name)}`);
  }
  const envLines: string[] = [];
  for (const [name, value] of Object.entries(input.params).sort(([a], [b]) => a.localeCompare(b))) {
    if (!PARAM_NAME.test(name)) throw new Error(`invalid feature parameter name ${JSON.stringify(name)}`);
    // One `NAME=<base64 of the value>` line per parameter: values may hold anything (a PEM
    // certificate's line breaks, quotes, `$(...)`) and stay data; the runner decodes, never evaluates.
    if (value.includes("\0")) throw new Error(`feature parameter ${name}: NUL is not allowed`);
    envLines.push(`${name}=${Buffer.from(value, "utf8").toString("base64")}`);
  }

  const doc: Record<string, unknown> = {
    hostname: input.hostname,
    manage_etc_hosts: true,
  };
  if (input.user) {
    const { username, passwordHash, sshPublicKey } = input.user;
    if (!USERNAME.test(username)) throw new Error(`invalid user name ${JSON.stringify(username)}`);
    const user: Record<string, unknown> = {
      name: username,
      shell: "/bin/bash",
      groups: ["adm", "sudo"],
      // The VM's one administrative user, as the original orchestrator set it up.
      sudo: "ALL=(ALL) NOPASSWD:ALL",
      lock_passwd: !passwordHash,
    };
    if (passwordHash) user.passwd = passwordHash;
    if (sshPublicKey) user.ssh_authorized_keys = [sshPublicKey];
    doc.users = [user];
    doc.ssh_pwauth = false;
  }
  const nfs = input.nfsMounts ?? [];
  for (const m of nfs) {
    if (!/^[A-Za-z0-9.:[\]-]+$/.test(m.server)) throw new Error(`invalid NFS server ${JSON.stringify(m.server)}`);
    for (const p of [m.path, m.mountPoint]) {
      if (!/^\/[A-Za-z0-9._/-]*$/.test(p)) throw new Error(`invalid NFS path ${JSON.stringify(p)}`);
    }
  }
  doc.package_update = true;
  doc.packages = ["qemu-guest-agent", ...(nfs.length > 0 ? ["nfs-common"] : [])];
  if (nfs.length > 0) {
    doc.mounts = nfs.map((m) => [`${m.server}:${m.path}`, m.mountPoint, "nfs", "defaults,_netdev,nofail", "0", "0"]);
  }
  doc.write_files = [
    file(`${GUEST_FEATURE_DIR}/first_boot.sh`, input.runner, "0755"),
    file(`${GUEST_FEATURE_DIR}/common.sh`, input.library, "0644"),
    ...input.features.map((f) => file(`${GUEST_FEATURE_DIR}/${f.name}.sh`, f.text, "0755")),
    file(GUEST_FEATURE_LIST, input.features.map((f) => `${f.name}\n`).join(""), "0644"),
    file(GUEST_FEATURE_ENV, envLines.map((l) => `${l}\n`).join(""), "0600"),
  ];
  doc.runcmd = [
    ["systemctl", "enable", "--now", "qemu-guest-agent"],
    [`${GUEST_FEATURE_DIR}/first_boot.sh`],
  ];
  return `#cloud-config\n${stringify(doc, { lineWidth: 0 })}`;
}

function file(path: string, content: string, permissions: string): Record<string, string> {
  return { path, owner: "root:root", permissions, content };
}
