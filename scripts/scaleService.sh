#!/usr/bin/env bash
# scaleService.sh [-h] <url-path> <n>: sets the number of instances of the cluster service that
# startService.sh started for <url-path> to <n> (0-999); the router follows as the agents
# register and deregister them.
set -euo pipefail
USAGE="scaleService.sh [-h] <url-path> <n>"
case ${1:-} in -h|--help) sed -n '2,4s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
[ $# -eq 2 ] || usage_error "expected a url-path and a number"
path=$(machine_valid_path "$1")
[[ "$2" =~ ^[0-9]{1,3}$ ]] || usage_error "n must be 0-999, got '$2'"
need_tool docker
machine_need_manager
base=$(machine_path_name "$path")
service_exists "$base" || die "no service for /$path (start it with scripts/startService.sh)"
driver_docker swarm-0 service scale --detach "$base=$2" >/dev/null || die "cannot scale $base"
echo "scaled $base to $2"
