# shellcheck shell=bash
# scripts/cluster-lib.sh: what the cluster scripts (setupRegistry.sh, createInfraNode.sh,
# createSwarmNode.sh, startService.sh, scaleService.sh, stopService.sh, removeNode.sh,
# destroyCluster.sh, info.sh) share on top of the node interface in machine/lib.sh: the private
# registry, the swarm services portolan runs (agent, router), waiting for a route. Source it.
#
# Decisions made once, the same for every driver:
#   - registry: an insecure (plain HTTP) registry on the registry node, port 5000, trusted by the
#     engines of the cluster's nodes only (--insecure-registry <registry private address>:5000);
#     images get into it from the registry node's own engine over 127.0.0.1, so no engine
#     outside the cluster needs to trust it. Reachable only inside the cluster network (VirtualBox
#     host-only network, AWS security group members, the local bridge).
#   - addresses: every service and the router join the attachable overlay network
#     $PORTOLAN_NETWORK; services carry SERVICE_NETWORK=$PORTOLAN_NETWORK, so the agent registers
#     the container's overlay address and exposed port, which the router reaches from any node.

CLUSTER_TOP=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# /metrics ports on every node (docs/monitoring.md): the agent's -listen (host network); on
# front-end nodes the router's templater -listen and HAProxy's stats page + Prometheus exporter
# (-stats), both published in host mode
AGENT_METRICS_PORT=9401 ROUTER_METRICS_PORT=9402 HAPROXY_METRICS_PORT=8405
# shellcheck source=machine/lib.sh
. "$CLUSTER_TOP/machine/lib.sh"

die() { echo "${0##*/}: $*" >&2; exit 1; }
usage_error() { echo "${0##*/}: $*" >&2; echo "usage: $USAGE" >&2; exit 2; }
need_tool() { command -v "$1" >/dev/null || die "'$1' not found on PATH${2:+ ($2)}"; }

# registry_has <name:tag>: the cluster registry holds that image
registry_has() {
  local name=${1%:*} tag=${1##*:}
  driver_docker "$REGISTRY_NODE" exec registry wget -q -O- "http://127.0.0.1:$REGISTRY_PORT/v2/$name/tags/list" 2>/dev/null |
    grep -q "\"$tag\""
}

# registry_push <local image> <name:tag>: the image from the engine `docker` points at (the
# user's) into the cluster registry, through the registry node's engine; nothing when the
# registry already has that image (same ID)
registry_push() {
  local src=$1 dst=127.0.0.1:$REGISTRY_PORT/$2 id rid
  id=$(docker image inspect -f '{{.Id}}' "$src" 2>/dev/null) ||
    die "image $src is not in the local engine (build it, or docker pull it, first)"
  rid=$(driver_docker "$REGISTRY_NODE" image inspect -f '{{.Id}}' "$dst" 2>/dev/null || true)
  if [ "$id" = "$rid" ] && registry_has "$2"; then return 0; fi
  docker save "$src" | driver_docker "$REGISTRY_NODE" load >/dev/null || die "loading $src into the registry node failed"
  driver_docker "$REGISTRY_NODE" tag "$src" "$dst"
  driver_docker "$REGISTRY_NODE" push "$dst" >/dev/null || die "pushing $dst failed"
  echo "pushed $src to the cluster registry as $2"
}

# consul_addr: host:port of the Consul (or the catalog standing in) on the infra node
consul_addr() {
  driver_exists "$INFRA_NODE" || die "no infra node: run scripts/createInfraNode.sh first"
  echo "$(driver_private_ip "$INFRA_NODE"):8500"
}

# consul_get <api path>: GET from the infra node's Consul, through the infra node itself (its
# private address may not be reachable from here, e.g. in a VPC)
consul_get() { driver_docker "$INFRA_NODE" exec consul wget -q -O- "http://127.0.0.1:8500$1"; }

service_exists() { driver_docker swarm-0 service inspect "$1" >/dev/null 2>&1; }

# logging_addr: host:port of the central log store (scripts/addLogging.sh) when it runs on the
# infra node, nothing otherwise
logging_addr() {
  driver_exists "$INFRA_NODE" || return 0
  [ "$(driver_docker "$INFRA_NODE" inspect -f '{{.State.Running}}' portolan-logging 2>/dev/null)" = true ] || return 0
  echo "$(driver_private_ip "$INFRA_NODE"):$LOGGING_PORT"
}
LOGGING_PORT=514

# logging_args <tag>: one per line, the swarm service options that send the containers' output to
# the central log store under <tag> (a service name); nothing when there is no log store
logging_args() {
  local a; a=$(logging_addr)
  [ -n "$a" ] || return 0
  printf '%s\n' --log-driver syslog --log-opt "syslog-address=udp://$a" --log-opt syslog-format=rfc5424 --log-opt "tag=$1"
}

# swarm_label_nodes <role>: swarm node names with node label role=<role>
swarm_label_nodes() {
  driver_docker swarm-0 node ls -q --filter "node.label=role=$1" 2>/dev/null |
    while read -r id; do driver_docker swarm-0 node inspect -f '{{.Description.Hostname}}' "$id"; done
}

# ensure_network: the attachable overlay network for services and the router
ensure_network() {
  if ! driver_docker swarm-0 network inspect "$PORTOLAN_NETWORK" >/dev/null 2>&1; then
    driver_docker swarm-0 network create --driver overlay --attachable "$PORTOLAN_NETWORK" >/dev/null ||
      die "cannot create the overlay network $PORTOLAN_NETWORK"
    echo "created overlay network $PORTOLAN_NETWORK"
  fi
}

# ensure_agent: portolan-agent as a global service, the node's engine socket mounted
ensure_agent() {
  service_exists portolan-agent && return 0
  local img consul la
  img=$(machine_image portolan/agent); consul=$(consul_addr)
  mapfile -t la < <(logging_args portolan-agent)
  driver_docker swarm-0 service create --detach --name portolan-agent --mode global --network host "${la[@]}" \
    --mount "type=bind,source=$(driver_engine_dir),target=/run/portolan-node" \
    --env DOCKER_HOST=unix:///run/portolan-node/docker.sock \
    "$img" -cleanup -resync 30 -deregister-on-exit -retry-attempts -1 \
    -listen "0.0.0.0:$AGENT_METRICS_PORT" \
    "consul://$consul" >/dev/null ||
    die "cannot create the portolan-agent service"
  echo "started portolan-agent on every node (global service)"
}

# ensure_router: the router (portolan-templater + HAProxy) on every front-end node, port 80
ensure_router() {
  service_exists portolan-router && return 0
  local img consul la
  img=$(machine_image portolan/router); consul=$(consul_addr)
  ensure_network
  mapfile -t la < <(logging_args portolan-router)
  [ ${#la[@]} -gt 0 ] && la+=(--env "PORTOLAN_SYSLOG=$(logging_addr)")
  driver_docker swarm-0 service create --detach --name portolan-router --mode global "${la[@]}" \
    --constraint node.labels.role==front-end --network "$PORTOLAN_NETWORK" \
    --publish mode=host,published=80,target=80 --env SERVICE_IGNORE=true \
    --publish "mode=host,published=$ROUTER_METRICS_PORT,target=$ROUTER_METRICS_PORT" \
    --publish "mode=host,published=$HAPROXY_METRICS_PORT,target=$HAPROXY_METRICS_PORT" \
    "$img" -consul "consul://$consul" -bind :80 \
    -listen "0.0.0.0:$ROUTER_METRICS_PORT" -stats "0.0.0.0:$HAPROXY_METRICS_PORT" >/dev/null ||
    die "cannot create the portolan-router service"
  echo "started portolan-router on the front-end node(s) (port 80)"
}

# front_end_ip: public address of the first front-end node
front_end_ip() {
  local n
  n=$(swarm_label_nodes front-end | sort | head -1)
  [ -n "$n" ] || die "no front-end node: run scripts/createSwarmNode.sh <id> front-end first"
  driver_public_ip "$n"
}

# wait_route <url> <seconds>: until the URL answers 2xx/3xx
wait_route() {
  local url=$1 secs=$2 end code
  end=$((SECONDS + secs))
  while [ $SECONDS -lt $end ]; do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$url" || true)
    [[ "$code" =~ ^[23] ]] && return 0
    sleep 0.5
  done
  return 1
}
