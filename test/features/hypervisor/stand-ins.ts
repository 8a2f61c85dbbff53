// Stand-ins for host tools that must not really run in tests (they would reach the network or
// the real kernel). Each records its calls in /var/log/phoenix-stand-ins.log inside the root.
export const CALL_LOG = "/var/log/phoenix-stand-ins.log";

/** apt-get: records the call; `install` marks the packages installed in the root's dpkg status. */
export const aptGet = `#!/bin/bash
echo "apt-get $*" >> ${CALL_LOG}
if [ "$1" = install ] || [[ " $* " == *" install "* ]]; then
  for p in "$@"; do
    case $p in -*|install) continue ;; esac
    printf 'Package: %s\\nStatus: install ok installed\\nVersion: 1.0\\nArchitecture: all\\nMaintainer: stand-in\\nDescription: stand-in\\n\\n' "$p" >> /var/lib/dpkg/status
  done
fi
exit 0
`;

/** A command that only records that it ran. */
export const recorder = (name: string) => `#!/bin/bash
echo "${name} $*" >> ${CALL_LOG}
exit 0
`;

/**
 * A stand-in NVIDIA `.run` installer for driver `version` that behaves as nvidia-installer
 * documents (NVIDIA/nvidia-installer option_table.h): while nouveau is loaded
 * (/sys/module/nouveau) it aborts ("Normally, nvidia-installer aborts installation if the nouveau
 * kernel driver is in use") unless --no-nouveau-check; --disable-nouveau makes it write its
 * modprobe file before aborting; after building it test-loads the module, which fails while
 * nouveau holds the GPU, unless --skip-module-load ("Skip the test load of the NVIDIA kernel
 * modules after the modules are built, and skip loading them after installation is complete").
 * A failed install leaves nothing installed. Installed: the module on disk (`modinfo -F version
 * nvidia` answers from /var/lib/nvidia-stand-in/module-version) and `nvidia-smi`, which answers
 * only while the module is loaded (/sys/module/nvidia/version), as the real one does.
 * Tests mount a private tmpfs on /sys/module to play the kernel.
 */
export function nvidiaInstaller(version: string): string {
  return `#!/bin/sh
echo "runfile $*" >> ${CALL_LOG}
nocheck=0 disable=0 skipload=0
for a in "$@"; do
  case $a in
    --no-nouveau-check|-z) nocheck=1 ;;
    --disable-nouveau|-Z) disable=1 ;;
    --skip-module-load) skipload=1 ;;
    --silent|-s|--dkms|--no-questions|-q|--ui=none|--accept-license|-a|--no-x-check|--no-opengl-files|--no-drm) ;;
    *) echo "ERROR: Unrecognized option: '$a'" >&2; exit 1 ;;
  esac
done
if [ -d /sys/module/nouveau ] && [ $nocheck = 0 ]; then
  echo "ERROR: The Nouveau kernel driver is currently in use by your system.  This driver is incompatible with the NVIDIA driver, and must be disabled before proceeding." >&2
  if [ $disable = 1 ]; then
    mkdir -p /etc/modprobe.d && printf 'blacklist nouveau\\noptions nouveau modeset=0\\n' > /etc/modprobe.d/nvidia-installer-disable-nouveau.conf
    echo "One or more modprobe configuration files to disable Nouveau have been written.  Please reboot your system and attempt NVIDIA driver installation again." >&2
  fi
  echo "ERROR: Installation has failed.  Please see the file '/var/log/nvidia-installer.log' for details." >&2
  exit 1
fi
if [ $skipload = 0 ] && [ -d /sys/module/nouveau ]; then
  echo "ERROR: Unable to load the kernel module 'nvidia.ko'.  This happens most frequently when this kernel module was built against the wrong or improperly configured kernel sources, or if another driver (such as nouveau) is present and prevents the NVIDIA kernel module from obtaining ownership of the NVIDIA device(s)." >&2
  echo "ERROR: Installation has failed.  Please see the file '/var/log/nvidia-installer.log' for details." >&2
  exit 1
fi
mkdir -p /var/lib/nvidia-stand-in /usr/local/bin
echo "${version}" > /var/lib/nvidia-stand-in/module-version
cat > /usr/local/bin/modinfo <<'MODINFO'
#!/bin/sh
case "$*" in
  *nvidia*) [ -f /var/lib/nvidia-stand-in/module-version ] || { echo "modinfo: ERROR: Module nvidia not found." >&2; exit 1; }; cat /var/lib/nvidia-stand-in/module-version ;;
  *) exec /sbin/modinfo "$@" ;;
esac
MODINFO
cat > /usr/local/bin/nvidia-smi <<'SMI'
#!/bin/sh
[ -f /sys/module/nvidia/version ] || { echo "NVIDIA-SMI has failed because it couldn't communicate with the NVIDIA driver. Make sure that the latest NVIDIA driver is installed and running." ; exit 9; }
cat /sys/module/nvidia/version
SMI
chmod 755 /usr/local/bin/modinfo /usr/local/bin/nvidia-smi
if [ $skipload = 0 ]; then
  # The module loaded in place of the old one.
  mkdir -p /sys/module/nvidia
  echo "${version}" > /sys/module/nvidia/version
fi
exit 0
`;
}
