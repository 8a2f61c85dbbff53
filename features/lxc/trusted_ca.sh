#!/usr/bin/env bash
# Feature trusted_ca: trusts the installation's own certificate authority (e.g. the step_ca
# container's root) system-wide.
#   PHOENIX_TRUSTED_CA_CERT  the root certificate (PEM), or
#   PHOENIX_TRUSTED_CA_URL   where to fetch it, with optional PHOENIX_TRUSTED_CA_SHA256, or
#   PHOENIX_HOST_FILE        the certificate file from the host (trusted_ca_host_path, or the
#                            Bash orchestrator's shared SSL folder), pushed by the host runner
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

apt_install ca-certificates curl
target=/usr/local/share/ca-certificates/phoenix-root-ca.crt
if [ -n "${PHOENIX_TRUSTED_CA_CERT:-}" ]; then
  pem=$PHOENIX_TRUSTED_CA_CERT
elif [ -n "${PHOENIX_TRUSTED_CA_URL:-}" ]; then
  [[ $PHOENIX_TRUSTED_CA_URL =~ ^https?://[^[:space:]]+$ ]] || die "not an http(s) URL: '$PHOENIX_TRUSTED_CA_URL'"
  tmp=$(mktemp)
  curl -fsSL --retry 3 -o "$tmp" "$PHOENIX_TRUSTED_CA_URL"
  if [ -n "${PHOENIX_TRUSTED_CA_SHA256:-}" ]; then
    echo "$PHOENIX_TRUSTED_CA_SHA256  $tmp" | sha256sum -c - >/dev/null || die "checksum mismatch for $PHOENIX_TRUSTED_CA_URL"
  fi
  pem=$(cat "$tmp")
  rm -f "$tmp"
elif [ -n "${PHOENIX_HOST_FILE:-}" ]; then
  pem=$(cat "$PHOENIX_HOST_FILE")
else
  die "trusted_ca needs trusted_ca_cert, trusted_ca_url or trusted_ca_host_path"
fi
grep -q -- '-----BEGIN CERTIFICATE-----' <<<"$pem" || die "the trusted CA is not a PEM certificate"
if printf '%s\n' "$pem" | write_if_changed "$target" 0644; then
  update-ca-certificates
fi
log "root CA trusted"
