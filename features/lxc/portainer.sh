#!/usr/bin/env bash
# Feature portainer: the Portainer server or agent as a Docker container (needs the docker feature).
#   PHOENIX_PORTAINER_ROLE     server | agent | none
#   PHOENIX_PORTAINER_VERSION  image tag (lts)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR source=lib/common.sh
. "${PHOENIX_LIB:?the host wrapper sets PHOENIX_LIB}"

role=${PHOENIX_PORTAINER_ROLE:-none}
tag=${PHOENIX_PORTAINER_VERSION:-lts}
[[ $tag =~ ^[A-Za-z0-9._-]+$ ]] || die "invalid portainer_version '$tag'"
case $role in
  none) log "portainer_role is none: nothing to do"; exit 0 ;;
  server)
    name=portainer
    image=portainer/portainer-ce:$tag
    run_args=(-p 9443:9443 -p 8000:8000 -v /var/run/docker.sock:/var/run/docker.sock -v portainer_data:/data)
    ;;
  agent)
    name=portainer_agent
    image=portainer/agent:$tag
    run_args=(-p 9001:9001 -v /var/run/docker.sock:/var/run/docker.sock -v /var/lib/docker/volumes:/var/lib/docker/volumes)
    ;;
  *) die "invalid portainer_role '$role' (server, agent or none)" ;;
esac
command -v docker >/dev/null || die "portainer needs docker: list the docker feature first"

current=$(docker inspect -f '{{.Config.Image}}' "$name" 2>/dev/null || true)
if [ "$current" = "$image" ]; then
  log "$name already runs $image"
  exit 0
fi
if [ -n "$current" ]; then docker rm -f "$name"; fi
docker run -d --name "$name" --restart=always "${run_args[@]}" "$image"
log "$name started from $image"
