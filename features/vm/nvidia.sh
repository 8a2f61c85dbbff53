#!/usr/bin/env bash
# VM feature `nvidia`: the NVIDIA driver inside a VM that has a GPU passed through. The logic differs
# from the container feature (features/lxc/nvidia.sh): a container shares the host's kernel module and
# installs user space only, a VM runs its own kernel, so here the runfile builds the kernel module
# (DKMS, against the running kernel) and nouveau is kept out. The version is the host's
# (PHOENIX_NVIDIA_DRIVER_VERSION, PHOENIX_NVIDIA_RUNFILE_URL, optional PHOENIX_NVIDIA_RUNFILE_SHA256),
# so host, containers and VMs run one driver release. Idempotent: an installed matching driver is
# left alone.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lxc/lib/common.sh
. "${PHOENIX_LIB:?}"

require PHOENIX_NVIDIA_DRIVER_VERSION PHOENIX_NVIDIA_RUNFILE_URL
want=$PHOENIX_NVIDIA_DRIVER_VERSION
[[ $want =~ ^[0-9]+(\.[0-9]+)+$ ]] || die "invalid driver version '$want'"

installed=""
if command -v nvidia-smi >/dev/null 2>&1; then
  installed=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n 1 || true)
fi
if [ "$installed" = "$want" ]; then
  log "NVIDIA driver $want already installed"
  exit 0
fi

if write_if_changed /etc/modprobe.d/phoenix-blacklist-nouveau.conf 0644 <<'CONF'
blacklist nouveau
options nouveau modeset=0
CONF
then
  update-initramfs -u
fi

apt_install build-essential dkms pkg-config "linux-headers-$(uname -r)"
runfile=/var/cache/phoenix/NVIDIA-Linux-x86_64-$want.run
download "$PHOENIX_NVIDIA_RUNFILE_URL" "$runfile" "${PHOENIX_NVIDIA_RUNFILE_SHA256:-}"
log "installing NVIDIA driver $want (kernel module through DKMS)"
sh "$runfile" --silent --dkms --no-questions --ui=none
nvidia-smi >/dev/null || die "the NVIDIA driver $want is installed but nvidia-smi fails (is a GPU passed through?)"
log "NVIDIA driver $want ready"
