#!/usr/bin/env bash
# Feature base_setup: the packages every Phoenix container relies on and the host's timezone.
#   PHOENIX_TIMEZONE  optional, e.g. America/New_York
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

apt_install ca-certificates curl gnupg locales

if [ -n "${PHOENIX_TIMEZONE:-}" ]; then
  [[ $PHOENIX_TIMEZONE =~ ^[A-Za-z0-9_+/-]+$ ]] || die "invalid timezone '$PHOENIX_TIMEZONE'"
  if [ "$(readlink /etc/localtime 2>/dev/null || true)" != "/usr/share/zoneinfo/$PHOENIX_TIMEZONE" ]; then
    ln -sfn "/usr/share/zoneinfo/$PHOENIX_TIMEZONE" /etc/localtime
    log "timezone set to $PHOENIX_TIMEZONE"
  fi
  printf '%s\n' "$PHOENIX_TIMEZONE" | write_if_changed /etc/timezone 0644 || true
fi
log "base setup complete"
