#!/usr/bin/env bash
# info.sh [-h] [--json]: what the cluster is made of and what it routes:
#   - every node: name, role (its role label; registry and infra for those nodes), swarm role
#     (manager, worker or none), private and public address, state;
#   - the router URL (http://<public address of the front-end node>/);
#   - every routed path (Consul services tagged rest) with its URL and its healthy (passing)
#     instance count;
#   - the Consul address and what answers there (consul, or portolan-catalog standing in for
#     Consul on the local target), and the registry address.
# --json prints one JSON object (driver, nodes[], router, consul{address,kind}, registry,
# routes[]{path,url,healthy}) for scripts. Needs jq.
set -euo pipefail
USAGE="info.sh [-h] [--json]"
json=0
case ${1:-} in
  -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
  --json) json=1 ;;
  "") ;;
  *) echo "usage: $USAGE" >&2; exit 2 ;;
esac
[ $# -le 1 ] || { echo "usage: $USAGE" >&2; exit 2; }
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
need_tool jq
need_tool docker

nodes='[]'
for n in $(driver_list | sort); do
  case $n in registry|infra|swarm-[0-9]*) ;; *) continue ;; esac
  state=$(driver_state "$n" || echo Unknown)
  priv=$(driver_private_ip "$n" 2>/dev/null || true)
  pub=$(driver_public_ip "$n" 2>/dev/null || true)
  role=$n; swarm=none
  case $n in
    swarm-*)
      role=$(machine_role "$n" || true)
      s=$(driver_docker "$n" info --format '{{.Swarm.LocalNodeState}} {{.Swarm.ControlAvailable}}' 2>/dev/null || true)
      case $s in "active true") swarm=manager ;; "active false") swarm=worker ;; esac ;;
  esac
  nodes=$(jq -c --arg n "$n" --arg r "$role" --arg s "$swarm" --arg p "$priv" --arg u "$pub" --arg st "$state" \
    '. + [{name: $n, role: $r, swarm: $s, private: $p, public: $u, state: $st}]' <<<"$nodes")
done

router=null; fe=""
if driver_exists swarm-0 && [ "$(driver_state swarm-0)" = Running ]; then
  n=$(swarm_label_nodes front-end | sort | head -1)
  [ -n "$n" ] && fe=$(driver_public_ip "$n") && router="\"http://$fe/\""
fi

consul=null; routes='[]'
if driver_exists "$INFRA_NODE"; then
  kind=$(driver_docker "$INFRA_NODE" inspect -f '{{index .Config.Labels "portolan.consul"}}' consul 2>/dev/null || echo "not running")
  consul=$(jq -cn --arg a "$(consul_addr)" --arg k "$kind" '{address: $a, kind: $k}')
  if services=$(consul_get /v1/catalog/services 2>/dev/null); then
    for s in $(jq -r 'to_entries[] | select(.value | index("rest")) | .key' <<<"$services"); do
      healthy=$(consul_get "/v1/health/service/$s?passing" | jq 'length')
      url=null; [ -n "$fe" ] && url="\"http://$fe/$s/\""
      routes=$(jq -c --arg p "$s" --argjson h "$healthy" --argjson u "$url" '. + [{path: $p, url: $u, healthy: $h}]' <<<"$routes")
    done
  fi
fi
reg=$(machine_registry || true)

all=$(jq -n --arg d "$(driver_name)" --argjson nodes "$nodes" --argjson router "$router" \
  --argjson consul "$consul" --arg reg "$reg" --argjson routes "$routes" \
  '{driver: $d, nodes: $nodes, router: $router, consul: $consul, registry: (if $reg == "" then null else $reg end), routes: $routes}')
if [ $json = 1 ]; then echo "$all"; exit 0; fi
jq -r '"driver   \(.driver)",
  (.nodes[] | "node     \(.name)\t\(.role)\t\(.swarm)\tprivate \(.private)\tpublic \(.public)\t\(.state)"),
  "router   \(.router // "none")",
  "consul   \(if .consul then "http://\(.consul.address) (\(.consul.kind))" else "none" end)",
  "registry \(.registry // "none")",
  (.routes[] | "route    /\(.path)\t\(.healthy) healthy\t\(.url // "")")' <<<"$all"
