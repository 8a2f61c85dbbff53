// The registry of every dynamic resource kind in Phoenix. Each kind module adds its
// HostScriptKind here, so `npm run bench` (bench/providers.ts) and the serialization tests
// cover every provider without a list to keep in sync elsewhere.
import type { HostScriptKind } from "./base/index";

export type { HostScriptKind } from "./base/index";

/** Every HostScriptKind in the project (append yours: `providerKinds.push(myKind)` or edit this list). */
export const providerKinds: HostScriptKind[] = [];

// Containers (issue 5): raw LXC options, steps run inside containers, template snapshots.
import { lxcProviderKinds } from "./lxc/index";
providerKinds.push(...lxcProviderKinds);

// VMs (issue 6): waiting for a VM's first boot (cloud-init), VM snapshots.
import { vmProviderKinds } from "./vm/index";
providerKinds.push(...vmProviderKinds);

// Hypervisor setup flow (issue 4): initial setup, NVIDIA driver, admin users, ZFS pools and
// datasets, Proxmox storage registration, NFS exports, Samba shares.
import { hypervisorProviderKinds } from "./hypervisor/index";
providerKinds.push(...hypervisorProviderKinds);
