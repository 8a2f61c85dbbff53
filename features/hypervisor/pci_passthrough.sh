#!/usr/bin/env bash
# The host side of PCI passthrough to VMs (a host file with `pci_devices`): the IOMMU on and the
# VFIO modules loaded at boot, as Proxmox's PCI passthrough guide sets them up. The devices
# themselves are not bound here: at VM start qemu-server binds the device's IOMMU group to
# vfio-pci (PCI.pm `prepare_pci_device`, which dies "cannot prepare PCI pass-through, IOMMU not
# present" without an IOMMU), so the host's drivers keep every card no running VM holds, and GPU
# indexes containers use do not move at boot. (`options vfio-pci ids=` is not used: it takes
# every card with that vendor:device id, containers' identical GPUs too.)
#   - kernel command line: `intel_iommu=on` on Intel CPUs (AMD's IOMMU is on by default), in
#     /etc/kernel/cmdline (proxmox-boot-tool hosts; `proxmox-boot-tool refresh`) or else in
#     GRUB_CMDLINE_LINUX_DEFAULT of /etc/default/grub (`update-grub`)
#   - /etc/modules-load.d/phoenix-vfio.conf: vfio, vfio_iommu_type1, vfio_pci (initramfs rebuilt)
# Reports whether the running kernel has them (`rebootRequired`, `rebootReason`): a changed
# command line takes effect at the next boot only.
# Delete leaves the settings (VMs with passed-through devices need them) and says so.
#
# No parameters.
set -euo pipefail

action=${PHOENIX_ACTION:?PHOENIX_ACTION is required}
modules_conf=/etc/modules-load.d/phoenix-vfio.conf
kernel_cmdline=/etc/kernel/cmdline
grub=/etc/default/grub
# Present while Phoenix manages the settings.
marker=/var/lib/phoenix/managed/pci-passthrough

# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="pci_passthrough"

# phoenix-include: lib/result.sh

modules_content() { printf '# Managed by Phoenix: VFIO for PCI passthrough to VMs\nvfio\nvfio_iommu_type1\nvfio_pci\n'; }

# The kernel arguments the CPU needs (space-separated, maybe none).
iommu_args() {
  case $(sed -n 's/^vendor_id[[:space:]]*:[[:space:]]*//p' /proc/cpuinfo 2>/dev/null | head -n1) in
    GenuineIntel) printf 'intel_iommu=on' ;;
    *) printf '' ;;
  esac
}

# Whether every word of $2 is a word of $1.
has_words() {
  local w
  for w in $2; do [[ " $1 " == *" $w "* ]] || return 1; done
}

# Which file holds the command line the boot loader uses.
cmdline_file() { if [ -f "$kernel_cmdline" ]; then printf '%s' "$kernel_cmdline"; else printf '%s' "$grub"; fi; }

# The configured command line (the file's, for the next boot).
configured_cmdline() {
  if [ -f "$kernel_cmdline" ]; then head -n1 "$kernel_cmdline"
  elif [ -f "$grub" ]; then sed -n 's/^GRUB_CMDLINE_LINUX_DEFAULT="\(.*\)"[[:space:]]*$/\1/p' "$grub" | tail -n1
  fi
}

iommu_active() { [ -n "$(ls -A /sys/kernel/iommu_groups 2>/dev/null)" ]; }

file_is() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

reboot_reason() {
  local args
  args=$(iommu_args)
  if ! has_words "$(cat /proc/cmdline)" "$args"; then printf 'the running kernel was booted without %s' "$args"; return; fi
  if ! iommu_active; then printf 'the IOMMU is not active in the running kernel (no IOMMU groups; is VT-d/AMD-Vi on in the firmware?)'; fi
}

report() {
  local config=true args reason reboot=false
  if [ ! -f "$marker" ]; then result '{"present":false}'; return; fi
  args=$(iommu_args)
  { file_is "$modules_conf" "$(modules_content)" && has_words "$(configured_cmdline)" "$args"; } || config=false
  reason=$(reboot_reason)
  [ -z "$reason" ] || reboot=true
  result '{"present":true,"matches":%s,"cmdlineFile":%s,"kernelArgs":%s,"iommuActive":%s,"rebootRequired":%s,"rebootReason":%s}' \
    "$config" "$(json_str "$(cmdline_file)")" "$(json_str "$args")" "$(iommu_active && echo true || echo false)" "$reboot" "$(json_str "$reason")"
}

# Adds the missing words of $1 to the boot loader's command line (nothing when none is missing).
add_kernel_args() {
  local args=$1 current w missing=""
  current=$(configured_cmdline)
  for w in $args; do [[ " $current " == *" $w "* ]] || missing="$missing $w"; done
  [ -n "$missing" ] || return 0
  local next="${current}${missing}"
  next=${next# }
  if [ -f "$kernel_cmdline" ]; then
    printf '%s\n' "$next" >"$kernel_cmdline.phoenix-new"
    mv -f "$kernel_cmdline.phoenix-new" "$kernel_cmdline"
    command -v proxmox-boot-tool >/dev/null || die "$kernel_cmdline changed, but proxmox-boot-tool is missing to apply it"
    proxmox-boot-tool refresh >&2
  else
    [ -f "$grub" ] || die "neither $kernel_cmdline nor $grub exists: cannot set the kernel command line ($args)"
    if grep -q '^GRUB_CMDLINE_LINUX_DEFAULT=' "$grub"; then
      # The value is ours from here on: written whole, quoted.
      local line="GRUB_CMDLINE_LINUX_DEFAULT=\"$next\""
      awk -v line="$line" 'BEGIN{done=0} /^GRUB_CMDLINE_LINUX_DEFAULT=/{ if (!done) { print line; done=1 } ; next } { print }' "$grub" >"$grub.phoenix-new"
    else
      { cat "$grub"; printf 'GRUB_CMDLINE_LINUX_DEFAULT="%s"\n' "$next"; } >"$grub.phoenix-new"
    fi
    mv -f "$grub.phoenix-new" "$grub"
    command -v update-grub >/dev/null || die "$grub changed, but update-grub is missing to apply it"
    update-grub >&2
  fi
  echo "kernel command line: added${missing} (takes effect at the next boot)" >&2
}

apply() {
  local args
  args=$(iommu_args)
  if [ -n "$args" ]; then add_kernel_args "$args"; fi
  if ! file_is "$modules_conf" "$(modules_content)"; then
    mkdir -p "$(dirname "$modules_conf")"
    modules_content >"$modules_conf.phoenix-new"
    mv -f "$modules_conf.phoenix-new" "$modules_conf"
    if command -v update-initramfs >/dev/null; then update-initramfs -u -k all >&2
    else echo "update-initramfs not found: the VFIO modules load at boot, not from the initramfs" >&2; fi
  fi
  mkdir -p "$(dirname "$marker")"
  : >"$marker"
}

case $action in
  read) report ;;
  apply) apply; report ;;
  delete)
    rm -f "$marker"
    echo "pci_passthrough: the IOMMU kernel arguments and $modules_conf stay (VMs with passed-through devices need them); remove them by hand" >&2
    result '{"present":false,"leftInstalled":true}' ;;
  *) invalid "action '$action'" ;;
esac
