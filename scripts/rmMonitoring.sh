#!/usr/bin/env bash
# rmMonitoring.sh [-h]: removes what addMonitoring.sh made: the metrics targets it registered in
# Consul (the Consul nodes with meta portolan-monitoring=targets), the portolan-node-exporter
# service, the prometheus and alertmanager containers on the infra node (with their data) and
# their images there. The agent's and the router's /metrics ports stay (they are part of the
# cluster, docs/monitoring.md). Idempotent: with nothing to remove it says so and succeeds.
set -euo pipefail
USAGE="rmMonitoring.sh [-h]"
case ${1:-} in -h|--help) sed -n '2,7s/^# \{0,1\}//p' "$0"; exit 0 ;; "") ;; *) echo "usage: $USAGE" >&2; exit 2 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
# shellcheck source=scripts/monitoring-lib.sh
. "$(dirname "$0")/monitoring-lib.sh"
need_tool docker; need_tool jq
removed=0

if monitoring_on; then
  for n in $(mon_registered_nodes); do
    mon_consul PUT /v1/catalog/deregister "$(jq -nc --arg n "$n" '{Node:$n}')" >/dev/null ||
      die "cannot deregister the metrics targets of $n from Consul"
    echo "deregistered the metrics targets of $n"; removed=1
  done
elif driver_exists "$INFRA_NODE" && [ -n "$(mon_registered_nodes)" ]; then
  die "metrics targets are registered in Consul but the prometheus container is not running (its curl makes the writes): run addMonitoring.sh, then this again"
fi

if driver_exists swarm-0 && service_exists portolan-node-exporter; then
  driver_docker swarm-0 service rm portolan-node-exporter >/dev/null || die "cannot remove the portolan-node-exporter service"
  echo "removed the portolan-node-exporter service"; removed=1
fi

if driver_exists "$INFRA_NODE"; then
  for c in prometheus alertmanager; do
    img=$(driver_docker "$INFRA_NODE" inspect -f '{{.Config.Image}}' "$c" 2>/dev/null) || continue
    driver_docker "$INFRA_NODE" rm -f -v "$c" >/dev/null || die "cannot remove the $c container"
    driver_docker "$INFRA_NODE" rmi "$img" >/dev/null 2>&1 || true
    echo "removed $c from the infra node"; removed=1
  done
fi
[ $removed = 1 ] || echo "no monitoring to remove"
