#!/usr/bin/env bash
# Feature step_ca: Smallstep's step-ca from its release package and a systemd unit for it. The
# CA itself is initialised once by an operator or the application script (`step ca init` needs
# the CA password, a secret); the unit starts once /etc/step-ca/config/ca.json exists.
#   PHOENIX_STEP_CA_VERSION  (0.28.3)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

version=${PHOENIX_STEP_CA_VERSION:-0.28.3}
[[ $version =~ ^[0-9]+(\.[0-9]+)+$ ]] || die "invalid step_ca_version '$version'"
command -v step >/dev/null || die "step_ca needs the step CLI: list the step_cli feature first"
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
