#!/usr/bin/env bash
# The Bash orchestrator's application-script protocol, for scripts written for it: the script,
# phoenix_hypervisor_common_utils.sh and the three JSON files in /tmp/phoenix_run/ inside the
# container, then `/tmp/phoenix_run/<script> <CTID>` run from that folder, so what the script
# sources (`source "$(dirname "$0")/phoenix_hypervisor_common_utils.sh"`, the JSON files through
# jq) is where it looks. Used when the stack folder holds phoenix_hypervisor_common_utils.sh.
#   PHOENIX_APP_NAME     the script's file name
#   PHOENIX_APP_CTID     the container's ID (the script's one argument)
#   PHOENIX_APP_SCRIPT   the script
#   PHOENIX_APP_UTILS    phoenix_hypervisor_common_utils.sh from the stack folder
#   PHOENIX_APP_HYPERVISOR_CONFIG, PHOENIX_APP_LXC_CONFIGS, PHOENIX_APP_VM_CONFIGS  the three files
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

name=${PHOENIX_APP_NAME:?}
ctid=${PHOENIX_APP_CTID:?}
[[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "invalid application script name '$name'"
[[ $ctid =~ ^[1-9][0-9]{2,8}$ ]] || die "invalid CTID '$ctid'"
dir=/tmp/phoenix_run
mkdir -p "$dir"
chmod 0700 "$dir"
put() { printf '%s' "$2" >"$dir/$1.tmp" && chmod "$3" "$dir/$1.tmp" && mv -f "$dir/$1.tmp" "$dir/$1"; }
put "$name" "${PHOENIX_APP_SCRIPT:?}" 0755
put phoenix_hypervisor_common_utils.sh "${PHOENIX_APP_UTILS:?}" 0644
put phoenix_hypervisor_config.json "${PHOENIX_APP_HYPERVISOR_CONFIG:-}" 0600
put phoenix_lxc_configs.json "${PHOENIX_APP_LXC_CONFIGS:-}" 0600
put phoenix_vm_configs.json "${PHOENIX_APP_VM_CONFIGS:-}" 0600
# The script sees what the Bash tool gave it: its folder, its argument; not Phoenix's variables.
unset PHOENIX_APP_SCRIPT PHOENIX_APP_UTILS PHOENIX_APP_HYPERVISOR_CONFIG PHOENIX_APP_LXC_CONFIGS PHOENIX_APP_VM_CONFIGS
cd "$dir"
log "running $dir/$name $ctid (the Bash orchestrator's protocol)"
exec "$dir/$name" "$ctid"
