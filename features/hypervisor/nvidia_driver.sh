#!/usr/bin/env bash
# The NVIDIA driver on the host. Reads the installed
# version (nvidia-smi, else modinfo); installs the configured version only when it differs:
# kernel headers and DKMS, nouveau blacklisted (initramfs rebuilt), the .run installer downloaded
# (sha256 verified when given) and run silently with DKMS; on a stock host where nouveau still
# drives the GPU, without the installer's nouveau check and module load (the NVIDIA module takes
# the GPU at the next boot). Always keeps the pieces containers need in place: nvidia kernel
# modules loaded at boot, udev rules creating /dev/nvidia* with modes containers can use, and the
# persistence daemon. Reports rebootRequired and why (rebootReason).
# Delete leaves the driver installed (removing it would break every GPU guest) and says so.
#
# Parameters (environment):
#   PHOENIX_VERSION          driver version, e.g. 580.76.05
#   PHOENIX_RUNFILE_URL      https://, http:// or file:// URL of NVIDIA-Linux-x86_64-<version>.run
#   PHOENIX_RUNFILE_SHA256   optional sha256 of the runfile
#   PHOENIX_HEADERS_PACKAGE  kernel headers package (default proxmox-headers-$(uname -r))
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
version=${PHOENIX_VERSION:?PHOENIX_VERSION is required}
url=${PHOENIX_RUNFILE_URL:?PHOENIX_RUNFILE_URL is required}
sha256=${PHOENIX_RUNFILE_SHA256:-}
headers=${PHOENIX_HEADERS_PACKAGE:-proxmox-headers-$(uname -r)}
cache=/var/cache/phoenix/nvidia
blacklist=/etc/modprobe.d/blacklist-nouveau.conf
udev_rules=/etc/udev/rules.d/70-phoenix-nvidia.rules
modules_conf=/etc/modules-load.d/phoenix-nvidia.conf
# Present while Phoenix manages the driver: delete leaves the driver but ends the management.
marker=/var/lib/phoenix/managed/nvidia-driver

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="nvidia_driver"

# phoenix-include: lib/result.sh

[[ $version =~ ^[0-9]+(\.[0-9]+){1,3}$ ]] || invalid "version '$version'"
[[ $url =~ ^(https?|file)://[A-Za-z0-9._~:/?#@!\&+,\;=%-]+$ ]] || invalid "runfile URL"
if [ -n "$sha256" ]; then [[ $sha256 =~ ^[0-9a-f]{64}$ ]] || invalid "runfile_sha256"; fi
[[ $headers =~ ^[a-z0-9][a-z0-9.+-]+$ ]] || invalid "headers package '$headers'"

# The version the loaded kernel module reports (nvidia-smi talks to it), or "".
loaded_version() {
  local v=""
  if command -v nvidia-smi >/dev/null; then
    v=$(nvidia-smi --query-gpu=driver_version --format=csv,noheader 2>/dev/null | head -n1 | tr -d '[:space:]') || v=""
  fi
  [ -n "$v" ] || v=$(cat /sys/module/nvidia/version 2>/dev/null || true)
  printf '%s' "$v"
}
# The version of the module installed on disk (what the next boot loads), or "".
disk_version() { modinfo -F version nvidia 2>/dev/null || true; }
installed_version() {
  local v
  v=$(disk_version)
  [ -n "$v" ] || v=$(loaded_version)
  printf '%s' "$v"
}

blacklist_content() { printf '# Managed by Phoenix: the NVIDIA driver replaces nouveau\nblacklist nouveau\noptions nouveau modeset=0\n'; }
modules_content() { printf '# Managed by Phoenix: NVIDIA modules for GPU containers\nnvidia\nnvidia_uvm\nnvidia_modeset\n'; }
# Device nodes containers bind-mount (/dev/nvidia*, /dev/nvidia-uvm*) are created when the
# modules load (the module `add` event only: a rule that also ran on `remove` would load the
# module again) and made usable for unprivileged containers. GPU containers' Proxmox devN entries
# need /dev/nvidia-uvm* at every start: loaded at boot (modules-load.d), created here.
udev_content() {
  cat <<'RULES'
# Managed by Phoenix: create the NVIDIA device nodes GPU containers bind-mount
ACTION=="add", SUBSYSTEM=="module", KERNEL=="nvidia", RUN+="/bin/sh -c '/usr/bin/nvidia-smi -L >/dev/null && /bin/chmod 0666 /dev/nvidia*'"
ACTION=="add", SUBSYSTEM=="module", KERNEL=="nvidia_uvm", RUN+="/bin/sh -c '/usr/bin/nvidia-modprobe -c0 -u && /bin/chmod 0666 /dev/nvidia-uvm*'"
RULES
}

file_is() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }
# Writes $1 with content $2 when different; returns 0 when it changed.
put_file() {
  file_is "$1" "$2" && return 1
  mkdir -p "$(dirname "$1")"
  printf '%s\n' "$2" >"$1.phoenix-new"
  mv -f "$1.phoenix-new" "$1"
  return 0
}

nouveau_loaded() { [ -d /sys/module/nouveau ]; }

# Why the host must reboot before GPU guests work, or "" when it need not: nouveau still drives
# the GPU, or the module on disk is not the one loaded (a new driver installed, or none loaded).
reboot_reason() {
  local disk loaded
  disk=$(disk_version); loaded=$(loaded_version)
  if nouveau_loaded; then printf 'nouveau still drives the GPU (blacklisted: the NVIDIA module takes over at the next boot)'; return; fi
  if [ -n "$disk" ] && [ "$disk" != "$loaded" ]; then printf 'the NVIDIA module %s is installed, %s is loaded' "$disk" "${loaded:-none}"; return; fi
  if [ -z "$loaded" ] && [ -n "$(installed_version)" ]; then printf 'no NVIDIA module is loaded'; fi
}

report() {
  local installed matches=false reboot=false config=true reason
  installed=$(installed_version)
  if [ -z "$installed" ] || [ ! -f "$marker" ]; then
    result '{"present":false,"installedVersion":%s}' "$(json_str "$installed")"; return
  fi
  { file_is "$blacklist" "$(blacklist_content)" && file_is "$modules_conf" "$(modules_content)" && file_is "$udev_rules" "$(udev_content)"; } || config=false
  [ "$installed" = "$version" ] && [ "$config" = true ] && matches=true
  reason=$(reboot_reason)
  [ -z "$reason" ] || reboot=true
  result '{"present":true,"matches":%s,"version":%s,"loadedVersion":%s,"hostConfig":%s,"rebootRequired":%s,"rebootReason":%s}' \
    "$matches" "$(json_str "$installed")" "$(json_str "$(loaded_version)")" "$config" "$reboot" "$(json_str "$reason")"
}

systemd_running() { [ -d /run/systemd/system ]; }

install_driver() {
  local missing=() p
  for p in "$headers" dkms build-essential; do
    dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
  done
  if [ ${#missing[@]} -gt 0 ]; then
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
  fi

  mkdir -p "$cache"
  local runfile="$cache/NVIDIA-Linux-x86_64-$version.run"
  curl -fsSL --retry 3 --proto '=https,http,file' -o "$runfile.part" "$url" || { rm -f "$runfile.part"; die "download of $url failed"; }
  if [ -n "$sha256" ]; then
    local got
    got=$(sha256sum "$runfile.part" | cut -d' ' -f1)
    [ "$got" = "$sha256" ] || { rm -f "$runfile.part"; die "runfile checksum mismatch: expected $sha256, got $got"; }
  fi
  mv -f "$runfile.part" "$runfile"
  chmod 0755 "$runfile"
  local flags=(--silent --dkms --no-questions --ui=none)
  # A stock Proxmox host drives an NVIDIA card with nouveau. The installer aborts while nouveau
  # is loaded ("Normally, nvidia-installer aborts installation if the nouveau kernel driver is in
  # use", its --no-nouveau-check; the Bash tool passed that flag), and its test load of the new
  # module fails while nouveau holds the GPU (--skip-module-load skips that load and the one after
  # the install). nouveau is blacklisted above, so the NVIDIA module takes the GPU at the next boot.
  if nouveau_loaded; then
    flags+=(--no-nouveau-check --skip-module-load)
    echo "nouveau is loaded: installing NVIDIA driver $version without loading it; it takes over the GPU after a reboot" >&2
  else
    echo "installing NVIDIA driver $version" >&2
  fi
  sh "$runfile" "${flags[@]}" >&2 || die "the NVIDIA installer failed (log: /var/log/nvidia-installer.log)"
  local now
  now=$(installed_version)
  [ "$now" = "$version" ] || die "the installer finished but the installed version is '${now:-none}', not $version"
}

apply() {
  if put_file "$blacklist" "$(blacklist_content)"; then
    if command -v update-initramfs >/dev/null; then update-initramfs -u -k all >&2
    else echo "update-initramfs not found: nouveau stays in the initramfs until it is rebuilt" >&2; fi
  fi
  put_file "$modules_conf" "$(modules_content)" || true
  if put_file "$udev_rules" "$(udev_content)" && systemd_running && command -v udevadm >/dev/null; then
    udevadm control --reload-rules >&2 || true
  fi
  [ "$(installed_version)" = "$version" ] || install_driver
  if command -v nvidia-persistenced >/dev/null && systemd_running; then
    if [ ! -f /etc/systemd/system/nvidia-persistenced.service ] && [ ! -f /lib/systemd/system/nvidia-persistenced.service ]; then
      put_file /etc/systemd/system/nvidia-persistenced.service "$(printf '%s\n' '[Unit]' 'Description=NVIDIA Persistence Daemon (Phoenix)' \
        '[Service]' 'Type=forking' 'ExecStart=/usr/bin/nvidia-persistenced --verbose' 'ExecStopPost=/bin/rm -rf /var/run/nvidia-persistenced' \
        '[Install]' 'WantedBy=multi-user.target')" || true
      systemctl daemon-reload >&2
    fi
    systemctl enable --now nvidia-persistenced >&2 || echo "nvidia-persistenced did not start (a reboot may be needed)" >&2
  fi
}

case $action in
  read) report ;;
  apply) apply; mkdir -p "$(dirname "$marker")"; : >"$marker"; report ;;
  delete)
    rm -f "$marker"
    echo "nvidia_driver: the NVIDIA driver $(installed_version) stays installed (GPU guests depend on it); uninstall it by hand with nvidia-uninstall" >&2
    result '{"present":false,"leftInstalled":true}' ;;
  *) invalid "action '$action'" ;;
esac
