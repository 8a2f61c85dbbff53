#!/usr/bin/env bash
# Feature step_ca: Smallstep's step-ca from its release package and a systemd unit for it. The
# CA itself is initialised once by an operator or the application script (`step ca init` needs
# the CA password, a secret); the unit starts once /etc/step-ca/config/ca.json exists. It needs
# the step CLI: when neither the step_cli feature nor anything else installed it, step-cli comes
# with it (the Bash tool's step_ca feature installed both).
#   PHOENIX_STEP_CA_VERSION      (0.28.3)
#   PHOENIX_STEP_CA_CLI_VERSION  step-cli installed when `step` is missing (0.28.6, step_cli's default)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

version=${PHOENIX_STEP_CA_VERSION:-0.28.3}
[[ $version =~ ^[0-9]+(\.[0-9]+)+$ ]] || die "invalid step_ca_version '$version'"
cli_version=${PHOENIX_STEP_CA_CLI_VERSION:-0.28.6}
[[ $cli_version =~ ^[0-9]+(\.[0-9]+)+$ ]] || die "invalid step_ca_cli_version '$cli_version'"
if ! command -v step >/dev/null && [ -z "$(dpkg-query -W -f='${Version}' step-cli 2>/dev/null || true)" ]; then
  apt_install ca-certificates curl
  deb=/var/cache/phoenix/step-cli_${cli_version}_amd64.deb
  download "https://dl.smallstep.com/gh-release/cli/gh-release-header/v$cli_version/step-cli_${cli_version}_amd64.deb" "$deb"
  apt-get install -y -qq "$deb"
  rm -f "$deb"
  log "step-cli $cli_version installed (step_ca needs it)"
fi
if [ "$(dpkg-query -W -f='${Version}' step-ca 2>/dev/null || true)" != "$version" ]; then
  apt_install ca-certificates curl
  deb=/var/cache/phoenix/step-ca_${version}_amd64.deb
  download "https://dl.smallstep.com/gh-release/certificates/gh-release-header/v$version/step-ca_${version}_amd64.deb" "$deb"
  apt-get install -y -qq "$deb"
  rm -f "$deb"
fi

changed=0
write_if_changed /etc/systemd/system/step-ca.service 0644 <<'UNIT' && changed=1
# Managed by Phoenix (feature step_ca).
[Unit]
Description=Smallstep certificate authority
After=network-online.target
ConditionFileNotEmpty=/etc/step-ca/config/ca.json
ConditionFileNotEmpty=/etc/step-ca/password.txt

[Service]
Environment=STEPPATH=/etc/step-ca
ExecStart=/usr/bin/step-ca /etc/step-ca/config/ca.json --password-file /etc/step-ca/password.txt
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
mkdir -p /etc/step-ca
if [ -f /etc/step-ca/config/ca.json ]; then
  service_up step-ca.service "$changed"
else
  log "step-ca installed; initialise it with 'step ca init' (STEPPATH=/etc/step-ca) to start the service"
fi
