#!/usr/bin/env bash
# Feature step_cli: Smallstep's step CLI from its release package.
#   PHOENIX_STEP_CLI_VERSION  (0.28.6)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

version=${PHOENIX_STEP_CLI_VERSION:-0.28.6}
[[ $version =~ ^[0-9]+(\.[0-9]+)+$ ]] || die "invalid step_cli_version '$version'"
if [ "$(dpkg-query -W -f='${Version}' step-cli 2>/dev/null || true)" = "$version" ]; then
  log "step-cli $version already installed"
  exit 0
fi
apt_install ca-certificates curl
deb=/var/cache/phoenix/step-cli_${version}_amd64.deb
download "https://dl.smallstep.com/gh-release/cli/gh-release-header/v$version/step-cli_${version}_amd64.deb" "$deb"
apt-get install -y -qq "$deb"
rm -f "$deb"
log "step-cli $version installed"
