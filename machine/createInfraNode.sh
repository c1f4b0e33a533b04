#!/usr/bin/env bash
# createInfraNode.sh: creates the infra node (default name "infra") and starts a Consul server
# on it, the catalog every portolan-agent and portolan-templater of the cluster points at.
# On one machine, portolan-catalog (scripts/quickstart.sh) replaces all of this.
set -euo pipefail
. "$(dirname "$0")/lib.sh"

if machine_exists "$INFRA_NODE"; then
  echo "infra node $INFRA_NODE exists"
else
  dargs=$(machine_driver_args infra) || exit 1
  mapfile -t args <<<"$dargs"
  docker-machine create "${args[@]}" --engine-label role=infra "$INFRA_NODE"
fi
ip=$(machine_private_ip "$INFRA_NODE")
[ -n "$ip" ] || machine_die "could not read the private address of $INFRA_NODE"
if ! machine_docker "$INFRA_NODE" inspect consul >/dev/null 2>&1; then
  machine_docker "$INFRA_NODE" run -d --name consul --restart unless-stopped --net host \
    "$CONSUL_IMAGE" agent -server -bootstrap-expect 1 -ui -client 0.0.0.0 -bind "$ip" -node "$INFRA_NODE"
fi
echo "consul: http://$ip:8500"
