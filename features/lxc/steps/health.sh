#!/usr/bin/env bash
# The health check step: the container's health_check command with retries and an interval,
# then each tests.health_checks script. A failing health_check fails the step with its output; a
# failing tests.health_checks script is a warning with its output (the Bash orchestrator logged
# those and went on): a `PHOENIX_WARNING <text>` line the host runner hands to Pulumi.
#   PHOENIX_HEALTH_COMMAND   shell command run inside the container (optional)
#   PHOENIX_HEALTH_SCRIPT    instead of a command: a script (the stack's health_checks/<name>),
#                            written to a private file here and run with PHOENIX_HEALTH_ARGS
#                            (words, as the Bash tool's `pct exec <ctid> -- $command` split them);
#                            PHOENIX_HEALTH_SCRIPT_NAME names it in messages
#   PHOENIX_HEALTH_RETRIES   attempts (1), PHOENIX_HEALTH_INTERVAL seconds between them (5)
#   PHOENIX_CHECK_<N>_NAME / PHOENIX_CHECK_<N>_SCRIPT  extra check scripts (bash)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

retries=${PHOENIX_HEALTH_RETRIES:-1}
interval=${PHOENIX_HEALTH_INTERVAL:-5}
[[ $retries =~ ^[0-9]+$ && $retries -ge 1 ]] || die "invalid retries '$retries'"
[[ $interval =~ ^[0-9]+$ ]] || die "invalid interval '$interval'"

health_dir=
cleanup() { if [ -n "$health_dir" ]; then rm -rf "$health_dir"; fi; }
trap cleanup EXIT
check=()
label=
if [ -n "${PHOENIX_HEALTH_SCRIPT:-}" ]; then
  name=${PHOENIX_HEALTH_SCRIPT_NAME:-health_check.sh}
  [[ $name =~ ^[A-Za-z0-9_][A-Za-z0-9_.-]*$ ]] || die "invalid health-check script name '$name'"
  health_dir=$(mktemp -d)
  printf '%s' "$PHOENIX_HEALTH_SCRIPT" >"$health_dir/$name"
  chmod 0700 "$health_dir/$name"
  # Arguments are words without quotes or shell characters (validate's COMMAND_LINE): split on spaces.
  read -r -a args <<<"${PHOENIX_HEALTH_ARGS:-}"
  check=("$health_dir/$name" "${args[@]}")
  label="$name${PHOENIX_HEALTH_ARGS:+ $PHOENIX_HEALTH_ARGS}"
elif [ -n "${PHOENIX_HEALTH_COMMAND:-}" ]; then
  check=(sh -c "$PHOENIX_HEALTH_COMMAND")
  label=$PHOENIX_HEALTH_COMMAND
fi

if [ "${#check[@]}" -gt 0 ]; then
  attempt=1
  while :; do
    if output=$("${check[@]}" 2>&1); then
      log "health check passed (attempt $attempt/$retries)"
      break
    fi
    if [ "$attempt" -ge "$retries" ]; then
      printf '%s\n' "$output" >&2
      die "health check '$label' failed after $retries attempts"
    fi
    attempt=$((attempt + 1))
    sleep "$interval"
  done
fi

for var in $(compgen -v PHOENIX_CHECK_ | grep '_SCRIPT$' | sort -V); do
  name_var=${var%_SCRIPT}_NAME
  name=${!name_var:-$var}
  script=$(mktemp)
  printf '%s' "${!var}" >"$script"
  if ! output=$(bash "$script" 2>&1); then
    rm -f "$script"
    printf '%s\n' "$output" >&2
    # One line: the output's lines joined, cut to 2000 characters.
    flat=$(printf '%s' "$output" | tr '\n\r\t' '   ' | cut -c1-2000)
    printf 'PHOENIX_WARNING health check %s failed (tests.health_checks): %s\n' "'$name'" "$flat"
    continue
  fi
  rm -f "$script"
  log "health check '$name' passed"
done
