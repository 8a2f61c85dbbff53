#!/usr/bin/env bash
# The real host tools the test suite drives: OpenSSH server (the test host), zfs-fuse (real ZFS
# pools on file vdevs), Samba's testparm, NFS's exportfs, sudo's visudo, shellcheck and busybox
# (container root filesystems for the Proxmox emulator), Debian's lxc (real containers behind the
# emulator's `pct start`/`exec`), Net::IP (how pve-firewall reads addresses, for the engine
# stand-in's firewall), curl (the host side of `phoenix doctor`). Installs only what is missing, so
# `npm test` works on a fresh Debian machine (as root) and costs nothing once installed.
#
# The machine's own services are left as they were: the tests start every daemon they need (sshd,
# smbd, zfs-fuse, lxc) inside their own mount namespaces. So nothing here stops, restarts or
# reconfigures a service the machine already had; the packages installed now are kept from
# starting their services (policy-rc.d) and from starting them at the next boot.
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

# Debian's maintainer scripts start and restart services through invoke-rc.d and
# deb-systemd-invoke, which first ask /usr/sbin/policy-rc.d: exit 101 means "not allowed". That
# covers the new packages' services and any running service whose package a dependency upgrades.
# A policy the machine already has is put back afterwards, byte for byte.
policy=/usr/sbin/policy-rc.d
saved=""
if [ -e "$policy" ] || [ -L "$policy" ]; then
  saved="$(mktemp "${policy}.phoenix-saved.XXXXXX")"
  cp -a "$policy" "$saved"
fi
restore_policy() {
  if [ -n "$saved" ]; then mv -f "$saved" "$policy"; else rm -f "$policy"; fi
}
trap restore_policy EXIT
trap 'exit 130' INT TERM HUP
printf '#!/bin/sh\n# test/host/install-tools.sh: no service starts while it installs\nexit 101\n' >"$policy.phoenix-new"
chmod 755 "$policy.phoenix-new"
mv -f "$policy.phoenix-new" "$policy"

apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null

# The new packages' units were enabled for the next boot by their postinst: disable those, and only
# those (units of packages the machine already had keep their state).
if command -v systemctl >/dev/null 2>&1; then
  dpkg-query -L "${missing[@]}" 2>/dev/null |
    { grep -E '^/(usr/)?lib/systemd/system/[^/@]+\.(service|socket|timer)$' || true; } |
    xargs -r -n1 basename | sort -u |
    while read -r unit; do
      systemctl disable --quiet --no-reload "$unit" >/dev/null 2>&1 || true
    done
fi
