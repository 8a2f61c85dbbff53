#!/usr/bin/env bash
# Phoenix VM first-boot runner: cloud-init's runcmd starts it once the guest is up. It applies the
# VM's feature scripts in the order the user data lists them, each with the VM's parameters as
# PHOENIX_<NAME> environment variables, and records every feature it finished (with the script's
# sha256) so a rerun skips what is done and reruns only what changed or failed. A failing feature
# stops the run with a non-zero exit, which cloud-init reports as `status: error` — the status
# Phoenix's `vm-<vmid>-cloud-init` resource waits on and reports.
#
# The features are the containers' own scripts where the logic is the same (features/vm/<name>.sh
# links to features/lxc/<name>.sh; the library is features/lxc/lib/common.sh): like the containers' host wrapper, the runner hands them their
# helper library as $PHOENIX_LIB and their name as $PHOENIX_STEP.
#
# Inside the guest the paths are fixed by the user data; tests point them elsewhere.
set -euo pipefail

feature_dir=${PHOENIX_FEATURE_DIR:-/opt/phoenix/features}
feature_list=${PHOENIX_FEATURE_LIST:-/etc/phoenix/features.list}
feature_env=${PHOENIX_FEATURE_ENV:-/etc/phoenix/features.env}
state_dir=${PHOENIX_STATE_DIR:-/var/lib/phoenix/features}
log_file=${PHOENIX_LOG_FILE:-/var/log/phoenix/first_boot.log}

# cloud-init's runcmd may run with a bare environment; the features expect a root login's.
export HOME=${HOME:-/root}
export PATH=${PATH:-/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin}

mkdir -p "$state_dir" "$(dirname "$log_file")"
exec > >(tee -a "$log_file") 2>&1

log() { printf '%s phoenix first boot: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$*"; }

# Parameters are data: `NAME=<base64 of the value>` lines, decoded and exported, never evaluated.
if [ -f "$feature_env" ]; then
  while IFS= read -r line || [ -n "$line" ]; do
    [ -n "$line" ] || continue
    name=${line%%=*}
    encoded=${line#*=}
    if [[ ! $name =~ ^[A-Z][A-Z0-9_]*$ ]] || [ "$name" = "$line" ] || [[ ! $encoded =~ ^[A-Za-z0-9+/]*=*$ ]]; then
      log "malformed parameter line in $feature_env"
      exit 1
    fi
    value=$(printf '%s' "$encoded" | base64 -d)
    export "PHOENIX_$name=$value"
  done <"$feature_env"
fi

[ -f "$feature_list" ] || { log "no feature list at $feature_list: nothing to do"; exit 0; }

while IFS= read -r feature || [ -n "$feature" ]; do
  [ -n "$feature" ] || continue
  if [[ ! $feature =~ ^[a-z0-9_]+$ ]]; then
    log "invalid feature name '$feature' in $feature_list"
    exit 1
  fi
  script="$feature_dir/$feature.sh"
  [ -f "$script" ] || { log "feature $feature: $script is missing"; exit 1; }
  hash=$(sha256sum "$script" | cut -d' ' -f1)
  if [ "$(cat "$state_dir/$feature.done" 2>/dev/null || true)" = "$hash" ]; then
    log "feature $feature: already applied"
    continue
  fi
  log "feature $feature: applying"
  if ! PHOENIX_STEP="feature-$feature" PHOENIX_LIB="$feature_dir/common.sh" bash "$script"; then
    log "feature $feature: FAILED"
    exit 1
  fi
  printf '%s\n' "$hash" >"$state_dir/$feature.done"
  log "feature $feature: done"
done <"$feature_list"
log "all features applied"
