#!/usr/bin/env bash
# Feature nvidia: the NVIDIA user-space driver, the same version as the host's kernel driver
# (the container shares the host kernel), installed from the runfile WITHOUT its kernel module.
#   PHOENIX_NVIDIA_VERSION         e.g. 580.76.05 (must equal the host driver)
#   PHOENIX_NVIDIA_RUNFILE_URL     the NVIDIA-Linux-x86_64-<version>.run URL
#   PHOENIX_NVIDIA_RUNFILE_SHA256  optional checksum of the runfile
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

require PHOENIX_NVIDIA_VERSION PHOENIX_NVIDIA_RUNFILE_URL
[[ $PHOENIX_NVIDIA_VERSION =~ ^[0-9]+(\.[0-9]+)+$ ]] || die "invalid NVIDIA version '$PHOENIX_NVIDIA_VERSION'"
[[ $PHOENIX_NVIDIA_RUNFILE_URL =~ ^https?://[^[:space:]]+$ ]] || die "not an http(s) URL: '$PHOENIX_NVIDIA_RUNFILE_URL'"
record=/var/lib/phoenix/nvidia-userspace-version

# The kernel module the host has loaded. The container shares the host kernel: user space of
# another version fails ("API mismatch"). A host whose driver was updated but that has not been
# rebooted still runs the old module: refuse until it has (GPU containers wait for the reboot).
loaded_module_version() {
  local v=""
  if [ -r /proc/driver/nvidia/version ]; then
    v=$(sed -n 's/.*Kernel Module[^0-9]*\([0-9][0-9.]*\).*/\1/p' /proc/driver/nvidia/version | head -n1)
  fi
  [ -n "$v" ] || v=$(cat /sys/module/nvidia/version 2>/dev/null || true)
  printf '%s' "$v"
}
loaded=$(loaded_module_version)
[ -n "$loaded" ] || die "the host has no NVIDIA kernel module loaded: install the driver on the host and reboot the host first"
[ "$loaded" = "$PHOENIX_NVIDIA_VERSION" ] \
  || die "the host runs NVIDIA kernel module $loaded, not $PHOENIX_NVIDIA_VERSION: reboot the host first (its driver was changed), then run again"

if [ -f "$record" ] && [ "$(cat "$record")" = "$PHOENIX_NVIDIA_VERSION" ] && command -v nvidia-smi >/dev/null; then
  log "NVIDIA user-space driver $PHOENIX_NVIDIA_VERSION already installed"
  exit 0
fi
apt_install ca-certificates curl
runfile=/var/cache/phoenix/NVIDIA-Linux-x86_64-$PHOENIX_NVIDIA_VERSION.run
download "$PHOENIX_NVIDIA_RUNFILE_URL" "$runfile" "${PHOENIX_NVIDIA_RUNFILE_SHA256:-}"
log "installing NVIDIA user-space driver $PHOENIX_NVIDIA_VERSION (no kernel module)"
sh "$runfile" --silent --no-kernel-module --no-questions --ui=none --no-nouveau-check
mkdir -p "$(dirname "$record")"
printf '%s\n' "$PHOENIX_NVIDIA_VERSION" >"$record"
rm -f "$runfile"
