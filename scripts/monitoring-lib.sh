# shellcheck shell=bash
# scripts/monitoring-lib.sh: what addMonitoring.sh, rmMonitoring.sh, createSwarmNode.sh and
# removeNode.sh share about monitoring (docs/monitoring.md). Source it after cluster-lib.sh.
#
# The scrape targets are Consul services tagged "metrics", registered by these scripts as external
# nodes (PUT /v1/catalog/register, node meta portolan-monitoring=targets), one Consul node per
# swarm node, named as the node, with its private address:
#   portolan-agent      :9401  every node (the agent's -listen)
#   node-exporter       :9100  every node (the portolan-node-exporter global service)
#   portolan-templater  :9402  front-end nodes (the router's templater -listen)
#   haproxy-exporter    :8405  front-end nodes (HAProxy's Prometheus exporter on the -stats port)
# The prometheus container renders them into its file_sd targets (monitoring/targets.tmpl), so a
# node created or removed later (createSwarmNode.sh, removeNode.sh, the agent's scale-nodes) is
# followed as soon as monitoring_sync runs again. Only the routed tag (`rest`) makes a route, so
# these services never become routes. The writes go through the prometheus container's curl on
# the infra node (127.0.0.1:8500), as consul_get does, because the Consul port may not be
# reachable from the machine running the scripts.

MON_NODE_EXPORTER_PORT=9100

# mon_subst <file>: the MON_* overrides (docs/monitoring.md) applied to a copy of a monitoring/
# file: each "<value>  # MON_X" line gets $MON_X when it is set; [1m] becomes [$MON_RATE_WINDOW]
mon_subst() {
  local f=$1 v val
  for v in MON_SCRAPE_INTERVAL MON_EVAL_INTERVAL MON_UP_RPS MON_UP_FOR MON_DOWN_RPS MON_DOWN_FOR \
           MON_5XX_RATIO MON_5XX_FOR MON_DOWN_INSTANCE_FOR MON_GROUP_WAIT MON_GROUP_INTERVAL MON_REPEAT_INTERVAL; do
    val=${!v:-}
    [ -n "$val" ] || continue
    [[ "$val" =~ ^[0-9]+(\.[0-9]+)?(ms|s|m|h)?$ ]] || die "$v='$val': a number or a duration (5s, 1m)"
    sed -i -E "s/[0-9.]+(ms|s|m|h)?(  # $v)\$/$val\\2/" "$f"
  done
  if [ -n "${MON_RATE_WINDOW:-}" ]; then
    [[ "$MON_RATE_WINDOW" =~ ^[0-9]+(ms|s|m|h)$ ]] || die "MON_RATE_WINDOW='$MON_RATE_WINDOW': a duration (30s, 1m)"
    sed -i "s/\[1m\]/[$MON_RATE_WINDOW]/g" "$f"
  fi
}

# monitoring_on: Prometheus runs on the infra node (addMonitoring.sh ran)
monitoring_on() {
  driver_exists "$INFRA_NODE" &&
    [ "$(driver_docker "$INFRA_NODE" inspect -f '{{.State.Running}}' prometheus 2>/dev/null)" = true ]
}

# mon_consul <method> <api path> [body]: a write to the infra node's Consul
mon_consul() {
  local args=(-sf --max-time 10 -X "$1" "http://127.0.0.1:8500$2")
  [ $# -ge 3 ] && args+=(--data-binary "$3")
  driver_docker "$INFRA_NODE" exec prometheus curl "${args[@]}"
}

# mon_register_node <node>: its metrics services in Consul (one catalog/register per service)
mon_register_node() {
  local node=$1 ip role svc port
  ip=$(driver_private_ip "$node") || return 1
  role=$(machine_role "$node" 2>/dev/null || true)
  local list="portolan-agent:$AGENT_METRICS_PORT node-exporter:$MON_NODE_EXPORTER_PORT"
  [ "$role" = front-end ] && list="$list portolan-templater:$ROUTER_METRICS_PORT haproxy-exporter:$HAPROXY_METRICS_PORT"
  for svc in $list; do
    port=${svc##*:}; svc=${svc%%:*}
    mon_consul PUT /v1/catalog/register "$(jq -nc --arg n "$node" --arg a "$ip" --arg s "$svc" --argjson p "$port" \
      '{Node:$n, Address:$a, NodeMeta:{"portolan-monitoring":"targets"},
        Service:{ID:("metrics-"+$s+"-"+$n), Service:$s, Tags:["metrics"], Port:$p}}')" >/dev/null ||
      { echo "${0##*/}: cannot register $svc of $node in Consul" >&2; return 1; }
  done
}

# mon_registered_nodes: the Consul nodes these scripts registered
mon_registered_nodes() {
  consul_get /v1/catalog/nodes 2>/dev/null |
    jq -r '.[] | select((.Meta // {})["portolan-monitoring"] == "targets") | .Node' 2>/dev/null | sort
}

# monitoring_sync: every swarm node's targets registered, those of removed nodes deregistered;
# nothing when monitoring is off
monitoring_sync() {
  monitoring_on || return 0
  local n have want
  want=$(machine_swarm_nodes)
  for n in $want; do mon_register_node "$n" || return 1; done
  have=$(mon_registered_nodes)
  for n in $have; do
    grep -qx "$n" <<<"$want" && continue
    mon_consul PUT /v1/catalog/deregister "$(jq -nc --arg n "$n" '{Node:$n}')" >/dev/null ||
      { echo "${0##*/}: cannot deregister $n from Consul" >&2; return 1; }
  done
}
