#!/usr/bin/env bash
# Feature ollama: Ollama from its official installer, listening on all interfaces.
#   PHOENIX_OLLAMA_PORT    (11434)
#   PHOENIX_OLLAMA_MODELS  optional models to pull, one per line
#   PHOENIX_OLLAMA_VERSION optional pin (the installer's OLLAMA_VERSION)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

port=${PHOENIX_OLLAMA_PORT:-11434}
[ -z "${PHOENIX_OLLAMA_VERSION:-}" ] || [[ $PHOENIX_OLLAMA_VERSION =~ ^[0-9][0-9A-Za-z.+-]*$ ]] || die "invalid ollama_version '$PHOENIX_OLLAMA_VERSION'"
[[ $port =~ ^[0-9]+$ ]] || die "invalid ollama_port '$port'"

apt_install ca-certificates curl
if ! command -v ollama >/dev/null; then
  download https://ollama.com/install.sh /var/cache/phoenix/ollama-install.sh
  log "installing ollama${PHOENIX_OLLAMA_VERSION:+ $PHOENIX_OLLAMA_VERSION}"
  OLLAMA_VERSION=${PHOENIX_OLLAMA_VERSION:-} sh /var/cache/phoenix/ollama-install.sh
fi

changed=0
write_if_changed /etc/systemd/system/ollama.service.d/phoenix.conf 0644 <<UNIT && changed=1
# Managed by Phoenix (feature ollama).
[Service]
Environment="OLLAMA_HOST=0.0.0.0:$port"
UNIT
service_up ollama.service "$changed"

if [ -n "${PHOENIX_OLLAMA_MODELS:-}" ]; then
  while IFS= read -r model; do
    [ -n "$model" ] || continue
    [[ $model =~ ^[A-Za-z0-9][A-Za-z0-9._:/-]*$ ]] || die "invalid model name '$model'"
    ollama list | awk 'NR > 1 {print $1}' | grep -qxF -- "$model" || ollama pull "$model"
  done <<<"$PHOENIX_OLLAMA_MODELS"
fi
log "ollama listening on port $port"
