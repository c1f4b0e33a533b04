#!/usr/bin/env bash
# stopService.sh <url-path>: remove every container (or the swarm service) that
# startService.sh started for <url-path>; portolan deregisters them and drops the route.
set -euo pipefail
[ $# -eq 1 ] || { echo "usage: $0 <url-path>" >&2; exit 2; }
path=${1#/}; path=${path%/}
base=$(echo "$path" | tr '/.' '--')
if [ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null || echo false)" = "true" ]; then
  docker service rm "$base"
  exit 0
fi
ids=$(docker ps -aq --filter "label=portolan.route=/$path")
[ -n "$ids" ] || { echo "stopService: nothing runs for /$path" >&2; exit 1; }
docker rm -f $ids >/dev/null
echo "stopped $(echo "$ids" | wc -l) container(s) for /$path"
