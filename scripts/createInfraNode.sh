#!/usr/bin/env bash
# createInfraNode.sh [-h]: creates the infra node (named "infra") and runs the cluster's Consul
# server on it (container "consul", host network, port 8500): $CONSUL_IMAGE (default
# hashicorp/consul:1.16) on VirtualBox and AWS; on the local target (PORTOLAN_DRIVER=local)
# portolan-catalog from the cluster registry stands in for Consul (info.sh says which).
# Needs the registry node (scripts/setupRegistry.sh). Idempotent.
set -euo pipefail
USAGE="createInfraNode.sh [-h]"
case ${1:-} in -h|--help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;; "") ;; *) echo "usage: $USAGE" >&2; exit 2 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
need_tool docker
CONSUL_IMAGE=${CONSUL_IMAGE:-hashicorp/consul:1.16}

reg=$(machine_registry)
[ -n "$reg" ] || die "no registry node: run scripts/setupRegistry.sh first"
if driver_exists "$INFRA_NODE"; then
  echo "infra node exists"
else
  driver_create "$INFRA_NODE" infra "$reg"
  echo "created infra node"
fi
ip=$(driver_private_ip "$INFRA_NODE")

state=$(driver_docker "$INFRA_NODE" inspect -f '{{.State.Running}}' consul 2>/dev/null || echo none)
case $state in
  true) ;;
  false) driver_docker "$INFRA_NODE" start consul >/dev/null ;;
  *)
    if [ "$(driver_name)" = local ]; then
      driver_docker "$INFRA_NODE" run -d -q --name consul --restart unless-stopped --net host \
        --label portolan.consul=portolan-catalog "$(machine_image portolan/catalog)" >/dev/null ||
        die "cannot start portolan-catalog on the infra node"
    else
      driver_docker "$INFRA_NODE" run -d -q --name consul --restart unless-stopped --net host \
        --label portolan.consul=consul "$CONSUL_IMAGE" \
        agent -server -bootstrap-expect 1 -ui -client 0.0.0.0 -bind "$ip" -node "$INFRA_NODE" >/dev/null ||
        die "cannot start $CONSUL_IMAGE on the infra node"
    fi ;;
esac
ok=0
for _ in $(seq 1 120); do
  if consul_get /v1/status/leader 2>/dev/null | grep -q ':'; then ok=1; break; fi
  sleep 0.5
done
[ $ok = 1 ] || die "the Consul on the infra node has no leader (docker logs consul on $INFRA_NODE)"
kind=$(driver_docker "$INFRA_NODE" inspect -f '{{index .Config.Labels "portolan.consul"}}' consul)
echo "consul: http://$ip:8500 ($kind)"
