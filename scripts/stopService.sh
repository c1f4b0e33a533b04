#!/usr/bin/env bash
# stopService.sh [-h] <url-path>: removes what startService.sh started for <url-path>: the swarm
# service on a cluster (node swarm-0 exists), else every container (or the swarm service) on the
# engine DOCKER_HOST points at. The agents deregister the instances and the route goes away.
set -euo pipefail
USAGE="stopService.sh [-h] <url-path>"
case ${1:-} in -h|--help) sed -n '2,4s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
[ $# -eq 1 ] || usage_error "expected a url-path"
path=$(machine_valid_path "$1")
base=$(machine_path_name "$path")
need_tool docker
if driver_exists swarm-0; then
  machine_need_manager
  if service_exists "$base"; then
    driver_docker swarm-0 service rm "$base" >/dev/null || die "cannot remove service $base"
    echo "stopped service $base (/$path)"
  else
    echo "nothing runs for /$path"
  fi
  exit 0
fi
if [ "$(docker info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null || echo false)" = "true" ]; then
  docker service rm "$base"
  exit 0
fi
ids=$(docker ps -aq --filter "label=portolan.route=/$path")
[ -n "$ids" ] || { echo "stopService: nothing runs for /$path" >&2; exit 1; }
# shellcheck disable=SC2086
docker rm -f $ids >/dev/null
echo "stopped $(echo "$ids" | wc -l) container(s) for /$path"
