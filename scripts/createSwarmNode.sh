#!/usr/bin/env bash
# createSwarmNode.sh [-h] <id> [label]: creates node swarm-<id> and makes it a swarm member.
#   - node 0 initialises swarm mode (the manager), every other node joins it as a worker with the
#     manager's worker token; a failing init or join stops the script with Docker's message;
#   - <label> (e.g. front-end, application) is set as engine label role=<label> and as swarm node
#     label role=<label>, so `node.labels.role==front-end` constraints place containers;
#   - node 0 also creates the attachable overlay network "portolan" ($PORTOLAN_NETWORK) and
#     portolan-agent as a global service (every node, present and future, runs one, with its own
#     engine's socket mounted, registering services in the infra node's Consul);
#   - a front-end node gets the router (portolan-templater + HAProxy, port 80), a global service
#     constrained to front-end nodes.
# Needs the registry (setupRegistry.sh) and infra (createInfraNode.sh) nodes. Idempotent.
set -euo pipefail
USAGE="createSwarmNode.sh [-h] <id> [label]"
case ${1:-} in -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
# shellcheck source=scripts/monitoring-lib.sh
. "$(dirname "$0")/monitoring-lib.sh"
[ $# -ge 1 ] && [ $# -le 2 ] || usage_error "expected a node id and an optional label"
id=$1; label=${2:-}
[[ "$id" =~ ^[0-9]{1,3}$ ]] || usage_error "node id must be a number, got '$id'"
[ -z "$label" ] || [[ "$label" =~ ^[a-z][a-z0-9-]{0,30}$ ]] ||
  usage_error "label must be lower-case letters, digits and '-', got '$label'"
need_tool docker
node=swarm-$id

reg=$(machine_registry)
[ -n "$reg" ] || die "no registry node: run scripts/setupRegistry.sh first"
driver_exists "$INFRA_NODE" || die "no infra node: run scripts/createInfraNode.sh first"
[ "$id" = 0 ] || machine_need_manager

if driver_exists "$node"; then
  echo "$node exists"
else
  driver_create "$node" "$label" "$reg"
  echo "created $node"
fi
ip=$(driver_private_ip "$node")

swarm_state=$(driver_docker "$node" info --format '{{.Swarm.LocalNodeState}}')
if [ "$swarm_state" != active ]; then
  if [ "$id" = 0 ]; then
    driver_docker "$node" swarm init --advertise-addr "$ip" >/dev/null || die "swarm init on $node failed"
    echo "$node: swarm initialised (manager)"
  else
    token=$(driver_docker swarm-0 swarm join-token -q worker) || die "cannot read the worker token from swarm-0"
    driver_docker "$node" swarm join --advertise-addr "$ip" --token "$token" "$(driver_private_ip swarm-0):2377" >/dev/null ||
      die "$node could not join the swarm of swarm-0"
    echo "$node: joined the swarm"
  fi
fi

if [ -n "$label" ]; then
  nid=$(driver_docker "$node" info --format '{{.Swarm.NodeID}}')
  have=$(driver_docker swarm-0 node inspect -f '{{index .Spec.Labels "role"}}' "$nid")
  if [ "$have" != "$label" ]; then
    driver_docker swarm-0 node update --label-add "role=$label" "$nid" >/dev/null || die "cannot label $node"
    echo "$node: swarm node label role=$label"
  fi
fi

ensure_network
ensure_agent
[ "$label" = front-end ] && ensure_router
monitoring_sync || die "cannot update the metrics targets in Consul (addMonitoring.sh)"
echo "$node ready (${label:-no label}, $ip)"
