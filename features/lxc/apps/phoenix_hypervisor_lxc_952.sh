#!/usr/bin/env bash
# Application script of the Qdrant container (952): Qdrant in Docker, its storage on the
# container's /qdrant/storage volume, REST on 6333 and gRPC on 6334.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=../lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

image=qdrant/qdrant:${PHOENIX_QDRANT_VERSION:-v1.15.4}
[[ $image =~ ^qdrant/qdrant:[A-Za-z0-9._-]+$ ]] || die "invalid qdrant version"
command -v docker >/dev/null || die "qdrant needs docker (the Template-Docker parent provides it)"
mkdir -p /qdrant/storage

current=$(docker inspect -f '{{.Config.Image}}' qdrant 2>/dev/null || true)
if [ "$current" = "$image" ]; then
  log "qdrant already runs $image"
  exit 0
fi
if [ -n "$current" ]; then docker rm -f qdrant; fi
docker run -d --name qdrant --restart=always -p 6333:6333 -p 6334:6334 \
  -v /qdrant/storage:/qdrant/storage "$image"
log "qdrant started from $image"
