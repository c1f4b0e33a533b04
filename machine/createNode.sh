#!/usr/bin/env bash
# createNode.sh <id> [label]: creates Docker node node-<id> with engine label role=<label>
# (e.g. front-end, application) and starts portolan on it:
#   - node 0 initialises swarm mode; the others join it (workers);
#   - every node runs portolan-agent, registering its containers under its private address
#     with the Consul on the infra node (createInfraNode.sh first);
#   - a node labelled front-end also runs the router (portolan-templater + HAProxy) on port 80.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

[ $# -ge 1 ] && [ $# -le 2 ] || { echo "usage: $0 <id> [label]" >&2; exit 2; }
id=$1; label=${2:-application}
[[ "$id" =~ ^[0-9]{1,3}$ ]] || machine_die "node id must be a number, got '$id'"
[[ "$label" =~ ^[a-z][a-z0-9-]{0,30}$ ]] || machine_die "label must be lower-case letters, digits and '-', got '$label'"
node="node-$id"

machine_exists "$INFRA_NODE" || machine_die "no infra node '$INFRA_NODE': run machine/createInfraNode.sh first"
consul_ip=$(machine_private_ip "$INFRA_NODE")

if ! machine_exists "$node"; then
  dargs=$(machine_driver_args "$label") || exit 1
  mapfile -t args <<<"$dargs"
  docker-machine create "${args[@]}" --engine-label "role=$label" "$node"
fi
ip=$(machine_private_ip "$node")
[ -n "$ip" ] || machine_die "could not read the private address of $node"

if [ "$id" = 0 ]; then
  machine_docker "$node" swarm init --advertise-addr "$ip" >/dev/null 2>&1 || true
else
  machine_exists node-0 || machine_die "create node 0 (the swarm manager) first"
  token=$(machine_docker node-0 swarm join-token -q worker)
  manager_ip=$(machine_private_ip node-0)
  machine_docker "$node" swarm join --token "$token" "$manager_ip:2377" >/dev/null 2>&1 || true
fi

machine_docker "$node" rm -f portolan-agent >/dev/null 2>&1 || true
machine_docker "$node" run -d --name portolan-agent --restart unless-stopped --net host \
  -v /var/run/docker.sock:/var/run/docker.sock \
  "$PORTOLAN_AGENT_IMAGE" -ip "$ip" -node-id "$node" -cleanup -resync 60 -deregister-on-exit "consul://$consul_ip:8500"

if [ "$label" = front-end ]; then
  machine_docker "$node" rm -f portolan-router >/dev/null 2>&1 || true
  machine_docker "$node" run -d --name portolan-router --restart unless-stopped -p 80:80 \
    "$PORTOLAN_ROUTER_IMAGE" -consul "consul://$consul_ip:8500" -bind 0.0.0.0:80
  echo "router: http://$(docker-machine ip "$node")/"
fi
echo "$node ready ($label, $ip)"
