#!/usr/bin/env bash
# startService.sh <url-path> <image> [replicas]: start a service that portolan routes at
# http://<proxy>/<url-path>, e.g. `scripts/startService.sh hello/v1 my/hello-image`.
#
# Talks to whatever DOCKER_HOST points at (the local engine, a Docker Machine node, or a swarm
# manager). The container(s) publish every exposed port on a random host port and carry
#   SERVICE_NAME=<url-path>  SERVICE_TAGS=rest (plus $SERVICE_TAGS_EXTRA)
# so portolan-agent registers them and portolan-templater routes them.
# In swarm mode (a manager endpoint) it creates a swarm service with host-mode ports instead.
# Environment: PORTOLAN_CONSTRAINT (e.g. node.labels.role==application) for swarm placement,
# SERVICE_PORT_TARGET (container port to publish in swarm mode, default 80).
set -euo pipefail

usage() { echo "usage: $0 <url-path> <image> [replicas]" >&2; exit 2; }
[ $# -ge 2 ] && [ $# -le 3 ] || usage
path=${1#/}; path=${path%/}
image=$2
replicas=${3:-1}

# the path becomes a Consul service name and an HAProxy route: keep it to a safe set
if ! [[ "$path" =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*$ ]] || [[ "$path" == *//* ]] || [[ "$path" == *..* ]]; then
  echo "startService: invalid url-path '$1' (letters, digits, '.', '_', '-', '/')" >&2; exit 2
fi
[[ "$replicas" =~ ^[1-9][0-9]{0,2}$ ]] || { echo "startService: replicas must be 1-999" >&2; exit 2; }
tags="rest${SERVICE_TAGS_EXTRA:+,$SERVICE_TAGS_EXTRA}"
# container names cannot contain '/': hello/v1 -> hello-v1
base=$(echo "$path" | tr '/.' '--')

swarm_manager=$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null || echo false)
if [ "$swarm_manager" = "true" ]; then
  args=(service create --detach --name "$base" --replicas "$replicas"
        --env "SERVICE_NAME=$path" --env "SERVICE_TAGS=$tags"
        --publish "mode=host,target=${SERVICE_PORT_TARGET:-80}")
  [ -n "${PORTOLAN_CONSTRAINT:-}" ] && args+=(--constraint "$PORTOLAN_CONSTRAINT")
  docker "${args[@]}" "$image"
  echo "started swarm service $base ($replicas replicas): route /$path"
  exit 0
fi

for ((i = 1; i <= replicas; i++)); do
  name="$base-$(date +%s%N | tail -c 7)$i"
  docker run -d --name "$name" -P \
    --label "portolan.route=/$path" \
    -e "SERVICE_NAME=$path" -e "SERVICE_TAGS=$tags" "$image" >/dev/null
  echo "started $name: route /$path"
done
