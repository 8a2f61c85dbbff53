// Container feature flags (`pct_options`): which ones Proxmox lets an API token set and which
// need root@pam over SSH. Pure functions over the model, shared by the deployment model and the LXC
// component.
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
 * the provider sends right after cloning. Everything else is set as root over SSH (rootFeatures).
 */
export function apiFeatureFlags(c: ContainerModel, parent?: ContainerModel): Record<string, string> {
  if (!c.unprivileged) return {};
  const flags: Record<string, string> = {};
  if (parent) for (const [k, v] of Object.entries(featureFlags(parent.pctOptions, parent.ctid))) if (k !== "nesting") flags[k] = v;
  const own = featureFlags(c.pctOptions, c.ctid);
  if (own.nesting) flags.nesting = own.nesting;
  return flags;
}

/**
 * The full `pct set --features` value set as root over SSH, or "" when the API's flags are
 * already the container's whole set (an unprivileged container with at most `nesting` beyond what
 * it inherits).
 */
export function rootFeatures(c: ContainerModel, parent?: ContainerModel): string {
  const want = formatFeatures(featureFlags(c.pctOptions, c.ctid));
  const api = formatFeatures(apiFeatureFlags(c, parent));
  return want === api && c.unprivileged ? "" : want;
}


/**
 * The container's whole flag set, as `ct-<ctid>-lxc-options` owns it (`pct set --features` as
 * root when the config, pending changes applied, differs). Also the flags the API sets: a change
 * of those re-runs the step, which restarts a running container to apply what Proxmox kept
 * pending. No flags at all: `nesting=0`.
 */
export function ownedFeatures(c: ContainerModel): string {
  return formatFeatures(featureFlags(c.pctOptions, c.ctid));
}
