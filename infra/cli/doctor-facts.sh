#!/usr/bin/env bash
# phoenix doctor: facts about the host. Read-only: writes, locks, starts and stops nothing.
set -f
facts=""
fact() { # name command...: records the command's exit code and stdout
  local name=$1 out code
  shift
  if out=$("$@" 2>/dev/null); then code=0; else code=$?; fi
  facts+="${facts:+,}\"$name\":{\"code\":$code,\"out\":\"$(printf '%s' "$out" | base64 -w0)\"}"
}
# Guests of every node (VMIDs are cluster-wide), as pct list / qm list would show them.
guests() {
  local f kind
  set +f
  for f in /etc/pve/nodes/*/lxc/*.conf /etc/pve/lxc/*.conf /etc/pve/nodes/*/qemu-server/*.conf /etc/pve/qemu-server/*.conf; do
    [ -f "$f" ] || continue
    case $f in */lxc/*) kind=ct ;; *) kind=vm ;; esac
    printf '%s %s %s\n' "$kind" "$(basename "$f" .conf)" "$(awk '/^\[/ { exit } /^(hostname|name): / { print $2; exit }' "$f")"
  done
  set -f
}
# Exact bytes (-p) where ZFS on Linux has it; other zpools print sizes like 95.5M.
zpools() { zpool list -Hp -o name,size,free,health 2>/dev/null || zpool list -H -o name,size,free,health; }
fact pveversion pveversion
# Which node this host is: pmxcfs links /etc/pve/local to nodes/<its node name> (pve-cluster
# pmxcfs.c, cfs_plug_link_new "local"); the hostname only where /etc/pve is not mounted.
fact node_local readlink /etc/pve/local
fact nodename uname -n
fact cgroup stat -fc %T /sys/fs/cgroup
fact storage_status pvesm status
fact storage_cfg pvesh get /storage --output-format json
fact guests guests
fact zpool zpools
fact nvidia_smi nvidia-smi --query-gpu=driver_version --format=csv,noheader
fact nvidia_sys cat /sys/module/nvidia/version
fact nvidia_proc cat /proc/driver/nvidia/version
fact nvidia_modinfo modinfo -F version nvidia
fact reboot_required test -e /var/run/reboot-required
# GPU facts (doctor-gpu.ts): nouveau loaded, the IOMMU's groups, NVIDIA PCI functions and their drivers.
fact nouveau test -d /sys/module/nouveau
fact iommu_groups ls /sys/kernel/iommu_groups
fact nvidia_pci lspci -Dnnk -d 10de:
# The [RULES] lines of cluster.fw (the provider creates the declared ones only where there are none),
# and "# taken over" when firewall_takeover.sh has moved them (features/hypervisor/firewall_takeover.sh).
cluster_rules() {
  [ ! -f /etc/pve/firewall/phoenix-takeover.done ] || echo "# taken over"
  [ ! -f /etc/pve/firewall/cluster.fw ] || awk '/^\[/ { s = (tolower($0) ~ /^\[rules\][ \t]*$/) ? 1 : 0; next } s && $0 !~ /^[ \t]*(#|$)/ { print }' /etc/pve/firewall/cluster.fw
}
fact cluster_rules cluster_rules
IFS='
'
# One fact per line of a list: `each_fact PREFIX LIST FUNCTION` records `FUNCTION line` as
# PREFIX_0, PREFIX_1, ... (the order of the list, as the TypeScript side numbers its queries).
each_fact() {
  local prefix=$1 list=$2 fn=$3 item i=0
  for item in $list; do
    fact "${prefix}_$i" "$fn" "$item"
    i=$((i + 1))
  done
}
query_perm() { pvesh get /access/permissions --userid "$PHOENIX_TOKEN" --path "$1" --output-format json; }
query_content() { pvesh get "/nodes/$PHOENIX_NODE/storage/${1% *}/content" --content "${1#* }" --output-format json; }
query_file() { test -f "$1"; }
query_url() { curl -fsSIL --max-time 20 -o /dev/null "$1"; }
query_disk() { readlink -e "$1"; }
each_fact perm "$PHOENIX_PERM_PATHS" query_perm
each_fact content "$PHOENIX_CONTENT" query_content
each_fact file "$PHOENIX_FILES" query_file
each_fact url "$PHOENIX_URLS" query_url
each_fact disk "$PHOENIX_DISKS" query_disk
if [ -n "$PHOENIX_TEMPLATES" ]; then fact pveam pveam available --section system; fi
printf 'PHOENIX_RESULT {%s}\n' "$facts"
