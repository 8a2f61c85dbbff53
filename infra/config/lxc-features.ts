// Container feature flags (`pct_options`): which ones Proxmox lets an API token set and which
// need root@pam over SSH. Pure functions over the model, shared by the deployment model (whether a
// container needs its `ct-<ctid>-lxc-options` step) and the LXC component.
import type { ContainerModel } from "./model";

/**
 * The feature flags `pct_options` turns on, as Proxmox writes them: `{keyctl: "1", nesting: "1",
 * mount: "nfs;cifs"}`. Flags set to 0 are left out (Proxmox treats them as absent). Throws on a
 * key that is not a container feature.
 */
export function featureFlags(pctOptions: Record<string, string>, ctid: number): Record<string, string> {
  const flags: Record<string, string> = {};
  for (const [key, value] of Object.entries(pctOptions)) {
    const on = value === "1" || value === "true";
    switch (key) {
      case "nesting":
      case "keyctl":
      case "fuse":
      case "mknod":
        if (on) flags[key] = "1";
        break;
      case "mount": {
        const types = value.split(/[;,]/).map((m) => m.trim()).filter(Boolean);
        if (types.length) flags.mount = types.join(";");
        break;
      }
      default:
        throw new Error(`container ${ctid}: pct_options ${key}=${value} is not a Proxmox container feature (nesting, keyctl, fuse, mknod, mount)`);
    }
  }
  return flags;
}

/** Flags as one sorted `key=value` list (`keyctl=1,nesting=1`); no flags at all: `nesting=0`. */
export function formatFeatures(flags: Record<string, string>): string {
  const keys = Object.keys(flags).sort();
  return keys.length ? keys.map((k) => `${k}=${flags[k]}`).join(",") : "nesting=0";
}

/**
 * The flags the proxmoxve provider sends through the API. Proxmox (check_ct_modify_config_perm)
 * lets an API token change only `nesting`, and on a privileged container nothing: so `nesting`
 * alone for a new unprivileged container; for a clone, `nesting` plus the other flags exactly as
 * the clone inherits them from its parent (sending them unchanged is no change, so no 403), which
 * the provider sends right after cloning. Since every flag is now set as root by ct-<ctid>-lxc-options, only doctor reads this.
 */
export function apiFeatureFlags(c: ContainerModel, parent?: ContainerModel): Record<string, string> {
  if (!c.unprivileged) return {};
  const flags: Record<string, string> = {};
  if (parent) for (const [k, v] of Object.entries(featureFlags(parent.pctOptions, parent.ctid))) if (k !== "nesting") flags[k] = v;
  const own = featureFlags(c.pctOptions, c.ctid);
  if (own.nesting) flags.nesting = own.nesting;
  return flags;
}

