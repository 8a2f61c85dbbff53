#!/usr/bin/env bash
# Feature python_api_service: a Python virtualenv (/opt/python-api) with the packages an API
# service needs; the container's application script installs and starts the service itself.
#   PHOENIX_PYTHON_API_PACKAGES  packages, one per line (fastapi, uvicorn)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

venv=/opt/python-api
packages=${PHOENIX_PYTHON_API_PACKAGES:-$'fastapi\nuvicorn'}

apt_install python3 python3-venv
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
while IFS= read -r pkg; do
  [ -n "$pkg" ] || continue
  # A requirement (name, optional version), never a pip option.
  [[ $pkg =~ ^[A-Za-z0-9][A-Za-z0-9._-]*(\[[A-Za-z0-9,._-]+\])?([<>=!~]=?[A-Za-z0-9.*+!-]+)?$ ]] || die "invalid package '$pkg'"
  "$venv/bin/pip" show "${pkg%%[=<>]*}" >/dev/null 2>&1 || "$venv/bin/pip" install --quiet "$pkg"
done <<<"$packages"
log "python API environment ready in $venv"
