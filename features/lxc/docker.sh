#!/usr/bin/env bash
# Feature docker: Docker Engine from the distribution (docker.io), enabled and started. Needs the
# container features nesting=1 and keyctl=1 (pct_options) on unprivileged containers.
#
# In a container with GPUs (PHOENIX_DOCKER_GPUS=1), also the NVIDIA Container Toolkit, as the Bash
# tool's docker feature installed it for GPU containers: the nvidia-container-toolkit package from
# NVIDIA's apt repository, registered as Docker's runtime and made the default one (the Bash tool
# wrote "default-runtime": "nvidia"), so `docker run` reaches the GPUs the container has. The
# toolkit uses the NVIDIA user-space driver of the nvidia feature (list nvidia before docker).
# In an unprivileged container (PHOENIX_DOCKER_NO_CGROUPS=1) the device cgroups belong to the LXC
# container (Proxmox sets them from its config) and libnvidia-container cannot write them: its
# cgroup handling is turned off (`no-cgroups = true` in /etc/nvidia-container-runtime/config.toml).
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

gpus=${PHOENIX_DOCKER_GPUS:-0}
no_cgroups=${PHOENIX_DOCKER_NO_CGROUPS:-0}
[[ $gpus =~ ^[01]$ ]] || die "invalid PHOENIX_DOCKER_GPUS '$gpus' (want 0 or 1)"
[[ $no_cgroups =~ ^[01]$ ]] || die "invalid PHOENIX_DOCKER_NO_CGROUPS '$no_cgroups' (want 0 or 1)"

apt_install docker.io

restart=0
if [ "$gpus" = 1 ]; then
  # NVIDIA's apt repository for the toolkit (its install guide): the ASCII-armoured key as a
  # keyring apt reads (.asc), and the list naming it.
  keyring=/usr/share/keyrings/nvidia-container-toolkit-keyring.asc
  repo=https://nvidia.github.io/libnvidia-container
  if [ ! -s "$keyring" ]; then
    apt_install ca-certificates curl
    download "$repo/gpgkey" "$keyring"
    chmod 0644 "$keyring"
  fi
  # shellcheck disable=SC2016 # $(ARCH) is apt's variable, not the shell's
  if printf 'deb [signed-by=%s] %s/stable/deb/$(ARCH) /\n' "$keyring" "$repo" | write_if_changed /etc/apt/sources.list.d/nvidia-container-toolkit.list 0644; then
    APT_UPDATED=0
  fi
  apt_install nvidia-container-toolkit
  daemon=/etc/docker/daemon.json
  # The runtime registered and the default (nvidia-ctk merges it into daemon.json, keeping the rest).
  if ! grep -q '"default-runtime": *"nvidia"' "$daemon" 2>/dev/null || ! grep -q '"nvidia-container-runtime"' "$daemon" 2>/dev/null; then
    nvidia-ctk runtime configure --runtime=docker --set-as-default
    restart=1
  fi
  toml=/etc/nvidia-container-runtime/config.toml
  want=false
  [ "$no_cgroups" = 0 ] || want=true
  # The current `no-cgroups` of the [nvidia-container-cli] table ("false" when only the
  # package's commented default is there).
  have=$(awk '/^\[/ { t = $0 } t == "[nvidia-container-cli]" && /^[[:space:]]*no-cgroups[[:space:]]*=/ { sub(/.*=[[:space:]]*/, ""); v = $0 } END { print (v == "" ? "false" : v) }' "$toml" 2>/dev/null || echo false)
  if [ "$have" != "$want" ]; then
    nvidia-ctk config --set "nvidia-container-cli.no-cgroups=$want" --in-place
    restart=1
  fi
fi
service_up docker.service "$restart"
if [ "$gpus" = 1 ]; then log "docker ready (NVIDIA runtime by default, no-cgroups $want)"; else log "docker ready"; fi
