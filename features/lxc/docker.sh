#!/usr/bin/env bash
# Feature docker: Docker Engine from the distribution (docker.io), enabled and started. Needs the
# container features nesting=1 and keyctl=1 (pct_options) on unprivileged containers.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

apt_install docker.io
service_up docker.service
log "docker ready"
