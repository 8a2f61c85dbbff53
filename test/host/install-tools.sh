#!/usr/bin/env bash
# The real host tools the test suite drives: OpenSSH server (the test host), zfs-fuse (real ZFS
# pools on file vdevs), Samba's testparm, NFS's exportfs, sudo's visudo, shellcheck and busybox
# (container root filesystems for the Proxmox emulator), Debian's lxc (real containers behind the
# emulator's `pct start`/`exec`), Net::IP (how pve-firewall reads addresses, for the engine
# stand-in's firewall), curl (the host side of `phoenix doctor`). Installs only what is missing, so
# `npm test` works on a fresh Debian machine (as root) and costs nothing once installed.
set -euo pipefail

packages=(openssh-server zfs-fuse samba nfs-kernel-server sudo shellcheck busybox-static util-linux libnet-ip-perl curl lxc)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
  echo "test host tools missing: ${missing[*]}; install them as root: apt-get install ${missing[*]}" >&2
  exit 1
fi
echo "installing test host tools: ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
# Debian starts services on install; the tests start their own, in throwaway roots.
for svc in ssh smbd nmbd nfs-kernel-server zfs-fuse lxc lxc-net; do
  systemctl stop "$svc" >/dev/null 2>&1 || service "$svc" stop >/dev/null 2>&1 || true
done
