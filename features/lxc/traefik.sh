#!/usr/bin/env bash
# Feature traefik: the Traefik reverse proxy binary, a static configuration reading dynamic
# configuration from /etc/traefik/dynamic, and a systemd service.
#   PHOENIX_TRAEFIK_VERSION  (3.3.4)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

version=${PHOENIX_TRAEFIK_VERSION:-3.3.4}
[[ $version =~ ^[0-9]+(\.[0-9]+)+$ ]] || die "invalid traefik_version '$version'"
record=/usr/local/lib/traefik/VERSION
changed=0
if [ "$(cat "$record" 2>/dev/null || true)" != "$version" ] || [ ! -x /usr/local/bin/traefik ]; then
  apt_install ca-certificates curl
  archive=/var/cache/phoenix/traefik_v${version}_linux_amd64.tar.gz
  download "https://github.com/traefik/traefik/releases/download/v$version/traefik_v${version}_linux_amd64.tar.gz" "$archive"
  tar -xzf "$archive" -C /usr/local/bin traefik
  chmod 0755 /usr/local/bin/traefik
  mkdir -p "$(dirname "$record")"
  printf '%s\n' "$version" >"$record"
  rm -f "$archive"
  changed=1
fi

mkdir -p /etc/traefik/dynamic
write_if_changed /etc/traefik/traefik.yml 0644 <<'YAML' && changed=1
# Managed by Phoenix (feature traefik).
entryPoints:
  web:
    address: ":80"
  websecure:
    address: ":443"
providers:
  file:
    directory: /etc/traefik/dynamic
    watch: true
YAML
write_if_changed /etc/systemd/system/traefik.service 0644 <<'UNIT' && changed=1
# Managed by Phoenix (feature traefik).
[Unit]
Description=Traefik reverse proxy
After=network-online.target

[Service]
ExecStart=/usr/local/bin/traefik --configfile=/etc/traefik/traefik.yml
Restart=on-failure

[Install]
WantedBy=multi-user.target
UNIT
service_up traefik.service "$changed"
log "traefik $version running"
