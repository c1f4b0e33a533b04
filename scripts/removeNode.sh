#!/usr/bin/env bash
# removeNode.sh [-h] <id>: removes node swarm-<id>: drains it (its tasks move to other nodes),
# makes it leave the swarm, removes it from the manager's node list and removes the machine
# (on the local target: its dockerd, namespace, link, mounts and data). Its agent stops with
# it and deregisters its services (-deregister-on-exit). A node that does not exist is reported,
# not an error. Remove the manager (0) last, or use destroyCluster.sh.
set -euo pipefail
USAGE="removeNode.sh [-h] <id>"
case ${1:-} in -h|--help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
# shellcheck source=scripts/monitoring-lib.sh
. "$(dirname "$0")/monitoring-lib.sh"
[ $# -eq 1 ] || usage_error "expected a node id"
[[ "$1" =~ ^[0-9]{1,3}$ ]] || usage_error "node id must be a number, got '$1'"
node=swarm-$1
if ! driver_exists "$node"; then echo "no node $node"; exit 0; fi
if [ "$1" != 0 ] && driver_exists swarm-0; then
  nid=$(driver_docker "$node" info --format '{{.Swarm.NodeID}}' 2>/dev/null || true)
  if [ -n "$nid" ]; then
    driver_docker swarm-0 node update --availability drain "$nid" >/dev/null || die "cannot drain $node"
    # until its tasks are gone (the agent's deregistration included), at most 30 s
    for _ in $(seq 1 60); do
      [ -z "$(driver_docker swarm-0 node ps -q --filter desired-state=running "$nid" 2>/dev/null)" ] && break
      sleep 0.5
    done
    driver_docker "$node" swarm leave >/dev/null 2>&1 || driver_docker "$node" swarm leave --force >/dev/null ||
      die "$node could not leave the swarm"
    for _ in $(seq 1 60); do
      driver_docker swarm-0 node rm "$nid" >/dev/null 2>&1 && break
      sleep 0.5
    done
    ! driver_docker swarm-0 node inspect "$nid" >/dev/null 2>&1 || die "the manager still lists $node"
  fi
elif [ "$1" = 0 ]; then
  others=$(machine_swarm_nodes | grep -vx swarm-0 || true)
  [ -z "$others" ] || die "swarm-0 is the manager: remove $(echo "$others" | tr '\n' ' ')first, or run destroyCluster.sh"
  driver_docker "$node" swarm leave --force >/dev/null 2>&1 || true
fi
driver_rm "$node" || die "cannot remove $node"
monitoring_sync || die "cannot update the metrics targets in Consul (addMonitoring.sh)"
echo "removed $node"
