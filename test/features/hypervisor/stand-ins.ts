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
