#!/usr/bin/env bash
# startService.sh [-h] <url-path> <image> [replicas]: starts a service that portolan routes at
# http://<front-end address>/<url-path>, e.g. `scripts/startService.sh hello/v1 my/hello-image`.
#
# On a cluster (node swarm-0 exists for the driver, see machine/lib.sh):
#   - starts the router on the front-end node(s) if none runs;
#   - makes sure <image> is in the cluster registry (pushes it there from the local engine if not);
#   - creates swarm service <url-path with '/' -> '-'> from <registry>/<image> on the overlay
#     network with SERVICE_NAME=<url-path>, SERVICE_TAGS=rest, SERVICE_NETWORK=portolan, placed
#     on nodes labelled application when there are any; a second run for the same path updates
#     that service (image, replicas) instead of starting another;
#   - waits (PORTOLAN_WAIT seconds, default 120) until the route answers and prints its URL.
# Without a cluster, against whatever DOCKER_HOST points at (one engine): containers with every
# exposed port published, SERVICE_NAME=<url-path>, SERVICE_TAGS=rest (plus $SERVICE_TAGS_EXTRA);
# on a swarm manager, a swarm service with host-mode ports (PORTOLAN_CONSTRAINT, SERVICE_PORT_TARGET).
set -euo pipefail
USAGE="startService.sh [-h] <url-path> <image> [replicas]"
case ${1:-} in -h|--help) sed -n '2,17s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
[ $# -ge 2 ] && [ $# -le 3 ] || usage_error "expected a url-path, an image and optional replicas"
path=$(machine_valid_path "$1")
image=$2
replicas=${3:-1}
[[ "$replicas" =~ ^[1-9][0-9]{0,2}$ ]] || usage_error "replicas must be 1-999, got '$replicas'"
[[ "$image" =~ ^[A-Za-z0-9][A-Za-z0-9._/:@-]*$ ]] || usage_error "invalid image name '$image'"
tags="rest${SERVICE_TAGS_EXTRA:+,$SERVICE_TAGS_EXTRA}"
base=$(machine_path_name "$path")
need_tool docker

if driver_exists swarm-0; then
  need_tool curl
  machine_need_manager
  reg=$(machine_registry)
  [ -n "$reg" ] || die "no registry node: run scripts/setupRegistry.sh first"
  fe=$(front_end_ip)
  ensure_network
  ensure_router
  # the image's name inside the registry: without a registry host, with a tag
  name=$image
  [[ "${name%%/*}" == *[.:]* && "$name" == */* ]] && name=${name#*/}
  [[ "${name##*/}" == *:* ]] || name=$name:latest
  if ! registry_has "$name"; then
    registry_push "$image" "$name"
  fi
  ref=$reg/$name
  if service_exists "$base"; then
    have=$(driver_docker swarm-0 service inspect -f '{{index .Spec.Labels "portolan.path"}}' "$base")
    [ "$have" = "$path" ] || die "service $base exists for another path ('$have')"
    driver_docker swarm-0 service update --detach --image "$ref" --replicas "$replicas" "$base" >/dev/null ||
      die "cannot update service $base"
    echo "updated service $base ($replicas replicas of $ref)"
  else
    args=(service create --detach --name "$base" --replicas "$replicas" --network "$PORTOLAN_NETWORK"
          --label "portolan.path=$path" --env "SERVICE_NAME=$path" --env "SERVICE_TAGS=$tags"
          --env "SERVICE_NETWORK=$PORTOLAN_NETWORK")
    [ -n "$(swarm_label_nodes application)" ] && args+=(--constraint node.labels.role==application)
    mapfile -t la < <(logging_args "$path")   # the central log store, when addLogging.sh made one
    args+=("${la[@]}")
    driver_docker swarm-0 "${args[@]}" "$ref" >/dev/null || die "cannot create service $base"
    echo "started service $base ($replicas replicas of $ref)"
  fi
  url="http://$fe/$path/"
  wait_route "$url" "${PORTOLAN_WAIT:-120}" || die "the route $url does not answer after ${PORTOLAN_WAIT:-120} s"
  echo "$url"
  exit 0
fi

# one engine (no cluster)
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
