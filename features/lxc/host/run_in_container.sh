#!/usr/bin/env bash
# Runs one provisioning step (a feature script, the application script or the health check)
# inside a container: `pct push` the script, its parameters and the
# shared library into the container, then `pct exec` it. Starts the container first when it is
# stopped (templates are left stopped after their snapshot; re-running a step starts them again).
# A stamp on the host (/var/lib/phoenix/lxc/<ctid>/<step>.sha256: hash of library, script and
# parameters) records what last succeeded, for read.
#   PHOENIX_CTID     container ID
#   PHOENIX_STEP     step name, e.g. feature-docker, app, health
#   PHOENIX_SCRIPT   the in-container script (bash)
#   PHOENIX_LIBRARY  features/lxc/lib/common.sh, sourced by the script through $PHOENIX_LIB
#   PHOENIX_ENV_<X>  handed to the script as PHOENIX_<X>
#   PHOENIX_HOST_FILE  optional: a file on the host pushed next to the step; the script finds it
#                    at $PHOENIX_HOST_FILE (its content is part of the step's hash)
set -euo pipefail
# shellcheck disable=SC2034 # what: read by lib/result.sh, included below
what="run_in_container ${PHOENIX_CTID:-}"
# phoenix-include: lib/result.sh
# phoenix-include: lib/checks.sh

ctid=${PHOENIX_CTID:?}
step=${PHOENIX_STEP:?}
valid_guest_id "$ctid" || invalid "CTID '$ctid'"
[[ $step =~ ^[a-z0-9][a-z0-9_-]*$ ]] || invalid "step name '$step'"
stamp_dir=/var/lib/phoenix/lxc/$ctid
stamp=$stamp_dir/$step.sha256
run_dir=/var/lib/phoenix/run

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
printf '%s' "${PHOENIX_LIBRARY:-}" >"$work/common.sh"
printf '%s' "${PHOENIX_SCRIPT:?}" >"$work/step.sh"
# The step's parameters as a file of single-quoted assignments: data, never code.
{
  printf "export PHOENIX_LIB='%s'\n" "$run_dir/common.sh"
  printf "export PHOENIX_STEP='%s'\n" "$step"
  if [ -n "${PHOENIX_HOST_FILE:-}" ]; then printf "export PHOENIX_HOST_FILE='%s'\n" "$run_dir/$step.file"; fi
  for var in "${!PHOENIX_ENV_@}"; do
    value=${!var}
    printf "export PHOENIX_%s='%s'\n" "${var#PHOENIX_ENV_}" "${value//\'/\'\\\'\'}"
  done
} >"$work/step.env"
# Whether file $1 holds one or more PEM certificates and nothing but blank lines between them,
# each one parsed by openssl.
certificates_only() {
  local n
  n=$(awk '
    /^-----BEGIN (TRUSTED )?CERTIFICATE-----$/ { if (inside) bad = 1; inside = 1; n++; next }
    /^-----END (TRUSTED )?CERTIFICATE-----$/ { if (!inside) bad = 1; inside = 0; next }
    inside { if ($0 !~ /^[A-Za-z0-9+\/=]*$/) bad = 1; next }
    /^[[:space:]]*$/ { next }
    { bad = 1 }
    END { if (bad || inside) print 0; else print n + 0 }' "$1")
  [ "$n" -gt 0 ] || return 1
  # Every block parses (openssl reads one at a time: split, then parse each).
  awk -v dir="$work" '/^-----BEGIN/ { f = sprintf("%s/cert.%d.pem", dir, ++i) } f { print > f } /^-----END/ { close(f); f = "" }' "$1"
  local c
  for c in "$work"/cert.*.pem; do openssl x509 -noout -in "$c" 2>/dev/null || return 1; done
}
host_file=${PHOENIX_HOST_FILE:-}
if [ -n "$host_file" ]; then
  [[ $host_file == /* && $host_file != *..* ]] || invalid "host file '$host_file'"
  # The file may sit in a folder a guest writes (a bind source): copied without following a
  # final symlink, then judged by its content only (a swapped file cannot pass): PEM
  # certificates and nothing else (no private key, no other text), each parsed by openssl.
  if [ -e "$host_file" ] || [ -L "$host_file" ]; then
    cp -P -- "$host_file" "$work/host.file"
    if [ -L "$work/host.file" ] || [ ! -f "$work/host.file" ]; then die "step $step: host file $host_file is not a regular file (a symlink is never followed)"; fi
    certificates_only "$work/host.file" || die "step $step: host file $host_file is not PEM certificates only (a private key or other content is never copied into a guest)"
  else
    : >"$work/host.file"
  fi
fi
want=$(cat "$work/common.sh" "$work/step.sh" "$work/step.env" ${host_file:+"$work/host.file"} | sha256sum | cut -d' ' -f1)

running() { pct status "$ctid" 2>/dev/null | grep -q 'status: running'; }
exists() { pct status "$ctid" >/dev/null 2>&1; }

case ${PHOENIX_ACTION:?} in
  read)
    if ! exists || [ ! -f "$stamp" ]; then
      result '{"present":false}'
      exit 0
    fi
    have=$(cat "$stamp")
    result '{"present":true,"ctid":"%s","step":"%s","sha256":"%s","matches":%s}' \
      "$ctid" "$step" "$have" "$([ "$have" = "$want" ] && echo true || echo false)"
    ;;
  apply)
    exists || die "container $ctid does not exist"
    if [ -n "$host_file" ] && [ ! -f "$host_file" ]; then die "step $step: host file $host_file does not exist"; fi
    if ! running; then pct start "$ctid"; fi
    # The container accepts commands once its init is up.
    for _ in $(seq 1 30); do
      pct exec "$ctid" -- true 2>/dev/null && break
      sleep 1
    done
    pct exec "$ctid" -- mkdir -p "$run_dir"
    pct push "$ctid" "$work/common.sh" "$run_dir/common.sh" --perms 0644
    pct push "$ctid" "$work/step.env" "$run_dir/$step.env" --perms 0600
    pct push "$ctid" "$work/step.sh" "$run_dir/$step.sh" --perms 0700
    if [ -n "$host_file" ]; then pct push "$ctid" "$work/host.file" "$run_dir/$step.file" --perms 0600; fi
    code=0
    # Fixed command; the paths travel as arguments. `pct exec` keeps the caller's environment
    # (pct.pm: keep-env defaults to 1): the host session's TMPDIR, PHOENIX_* and the like would leak
    # into the container (a TMPDIR that does not exist there breaks mktemp). The step gets a clean
    # environment and only its parameters (step.env).
    # shellcheck disable=SC2016
    pct exec "$ctid" -- env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
      bash -c '. "$1" && exec bash -euo pipefail "$2"' phoenix-step "$run_dir/$step.env" "$run_dir/$step.sh" \
      >"$work/out" 2>&1 </dev/null || code=$?
    # The step's output goes to stderr: visible in logs, and kept apart from the result line.
    cat "$work/out" >&2
    if [ "$code" -ne 0 ]; then
      echo "step $step in CT $ctid failed (exit $code); last output:" >&2
      tail -n 40 "$work/out" >&2
      exit 1
    fi
    mkdir -p "$stamp_dir"
    printf '%s\n' "$want" >"$stamp"
    # Warnings the step printed (`PHOENIX_WARNING <text>` lines), base64 so they stay JSON-safe.
    warnings=$({ grep '^PHOENIX_WARNING ' "$work/out" || true; } | sed 's/^PHOENIX_WARNING //' | base64 | tr -d '\n')
    result '{"present":true,"ctid":"%s","step":"%s","sha256":"%s","matches":true,"warnings":"%s"}' "$ctid" "$step" "$want" "$warnings"
    ;;
  delete)
    # What a step installed stays in the container (it goes with the container); only the
    # record goes.
    rm -f "$stamp"
    result '{"present":false}'
    ;;
  *) invalid "action '$PHOENIX_ACTION'" ;;
esac
