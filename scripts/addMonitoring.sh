#!/usr/bin/env bash
# addMonitoring.sh [-h]: Prometheus and Alertmanager on the infra node, a node exporter on every
# swarm node (docs/monitoring.md):
#   - prometheus (container on infra, host network, :9090): Debian's Prometheus, targets from
#     Consul (every service tagged "metrics", rendered by portolan-templater into file_sd),
#     monitoring/rules.yml loaded, alerts sent to the Alertmanager;
#   - alertmanager (container on infra, :9093): scale alerts (labels scale=up|down, service) to
#     the agent's POST /v1/scale-service as seed 004's webhooks, over mutual TLS with the client
#     certificate in $PORTOLAN_API_CERTS (ca.pem, cert.pem, key.pem);
#   - portolan-node-exporter: Debian's node exporter as a global swarm service (host network,
#     :9100); the agent's /metrics (:9401) and, on front-end nodes, the templater's (:9402) and
#     HAProxy's exporter (:8405) are registered in Consul as targets, one Consul node per node.
# Images: portolan/prometheus, portolan/alertmanager, portolan/node-exporter built by
# scripts/build-monitoring-images.sh (run here when missing, from $BUILD or ./build) and pushed
# through the cluster registry. Thresholds and intervals: MON_* variables (docs/monitoring.md).
# Idempotent: a second run changes nothing but re-sends the configuration. Undo: rmMonitoring.sh.
set -euo pipefail
USAGE="addMonitoring.sh [-h]"
case ${1:-} in -h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;; "") ;; *) echo "usage: $USAGE" >&2; exit 2 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
# shellcheck source=scripts/monitoring-lib.sh
. "$(dirname "$0")/monitoring-lib.sh"
need_tool docker; need_tool jq
[ -n "$(machine_registry)" ] || die "no registry node: run scripts/setupRegistry.sh first"
driver_exists "$INFRA_NODE" || die "no infra node: run scripts/createInfraNode.sh first"
machine_need_manager

# ---- configuration, from monitoring/ with the MON_* overrides
cfg=$(mktemp -d)
trap 'rm -rf "$cfg"' EXIT
mkdir -p "$cfg/prometheus" "$cfg/alertmanager/certs"
cp "$CLUSTER_TOP/monitoring/prometheus.yml" "$CLUSTER_TOP/monitoring/rules.yml" "$CLUSTER_TOP/monitoring/targets.tmpl" "$cfg/prometheus/"
cp "$CLUSTER_TOP/monitoring/alertmanager.yml" "$cfg/alertmanager/"
mon_subst "$cfg/prometheus/prometheus.yml"; mon_subst "$cfg/prometheus/rules.yml"; mon_subst "$cfg/alertmanager/alertmanager.yml"
scaler=${PORTOLAN_SCALER_URL:-https://$(driver_private_ip swarm-0):8443}
[[ "$scaler" =~ ^https?://[A-Za-z0-9.:_-]+(:[0-9]+)?$ ]] || die "PORTOLAN_SCALER_URL='$scaler': scheme://host[:port], no path"
sed -i "s#https://swarm-0:8443#$scaler#" "$cfg/alertmanager/alertmanager.yml"
certs=${PORTOLAN_API_CERTS:-}
if [ -n "$certs" ] && [ -f "$certs/ca.pem" ] && [ -f "$certs/cert.pem" ] && [ -f "$certs/key.pem" ]; then
  cp "$certs/ca.pem" "$certs/cert.pem" "$certs/key.pem" "$cfg/alertmanager/certs/"
  chmod 0600 "$cfg/alertmanager/certs/key.pem"
else
  # no client certificate: the webhooks go without one (the agent's API will refuse them)
  sed -i '/http_config:/,/key_file:/d' "$cfg/alertmanager/alertmanager.yml"
  echo "warning: PORTOLAN_API_CERTS is not a directory with ca.pem, cert.pem, key.pem: the scale webhooks to $scaler carry no client certificate and the agent's API will refuse them" >&2
fi

# ---- images, through the cluster registry
for i in prometheus alertmanager node-exporter; do
  if ! docker image inspect "portolan/$i:$PORTOLAN_IMAGE_TAG" >/dev/null 2>&1; then
    "$CLUSTER_TOP/scripts/build-monitoring-images.sh" "${BUILD:-$CLUSTER_TOP/build}" || die "cannot build the monitoring images"
  fi
  registry_push "portolan/$i:$PORTOLAN_IMAGE_TAG" "portolan/$i:$PORTOLAN_IMAGE_TAG"
done

# ---- /metrics on the agent and the router (services made before they had it get it now)
svc_args() { driver_docker swarm-0 service inspect -f '{{join .Spec.TaskTemplate.ContainerSpec.Args " "}}' "$1"; }
if service_exists portolan-agent && ! svc_args portolan-agent | grep -q -- '-listen '; then
  driver_docker swarm-0 service update --detach --args "$(svc_args portolan-agent) -listen 0.0.0.0:$AGENT_METRICS_PORT" portolan-agent >/dev/null ||
    die "cannot add -listen to the portolan-agent service"
  echo "portolan-agent: /metrics on :$AGENT_METRICS_PORT"
fi
if service_exists portolan-router && ! svc_args portolan-router | grep -q -- '-stats '; then
  driver_docker swarm-0 service update --detach \
    --publish-add "mode=host,published=$ROUTER_METRICS_PORT,target=$ROUTER_METRICS_PORT" \
    --publish-add "mode=host,published=$HAPROXY_METRICS_PORT,target=$HAPROXY_METRICS_PORT" \
    --args "$(svc_args portolan-router) -listen 0.0.0.0:$ROUTER_METRICS_PORT -stats 0.0.0.0:$HAPROXY_METRICS_PORT" portolan-router >/dev/null ||
    die "cannot add the metrics ports to the portolan-router service"
  echo "portolan-router: /metrics on :$ROUTER_METRICS_PORT, HAProxy's exporter on :$HAPROXY_METRICS_PORT"
fi

# ---- node exporter on every node
if ! service_exists portolan-node-exporter; then
  driver_docker swarm-0 service create --detach --name portolan-node-exporter --mode global --network host \
    --mount type=bind,source=/proc,target=/host/proc,readonly --mount type=bind,source=/sys,target=/host/sys,readonly \
    --env SERVICE_IGNORE=true --label portolan.monitoring=node-exporter \
    "$(machine_image portolan/node-exporter)" \
    --path.procfs=/host/proc --path.sysfs=/host/sys --web.listen-address=":$MON_NODE_EXPORTER_PORT" \
    --no-collector.systemd --no-collector.textfile --no-collector.filesystem >/dev/null ||
    die "cannot create the portolan-node-exporter service"
  echo "started portolan-node-exporter on every node (global service, :$MON_NODE_EXPORTER_PORT)"
fi

# ---- Prometheus and Alertmanager on the infra node
# infra_container <name> <image> <config dir> <dest> [args...]: created (or re-created when its
# image changed) with the configuration copied in, then started; a running one gets the
# configuration again
infra_container() {
  local name=$1 img=$2 src=$3 dest=$4; shift 4
  local want have
  driver_docker "$INFRA_NODE" pull -q "$img" >/dev/null || die "cannot pull $img on the infra node"
  want=$(driver_docker "$INFRA_NODE" image inspect -f '{{.Id}}' "$img")
  have=$(driver_docker "$INFRA_NODE" inspect -f '{{.Image}}' "$name" 2>/dev/null || true)
  if [ -n "$have" ] && [ "$have" != "$want" ]; then
    driver_docker "$INFRA_NODE" rm -f "$name" >/dev/null; have=""
    echo "$name: new image, re-created"
  fi
  if [ -z "$have" ]; then
    driver_docker "$INFRA_NODE" create -q --name "$name" --restart unless-stopped --net host \
      --label "portolan.monitoring=$name" "$@" "$img" >/dev/null || die "cannot create the $name container"
  fi
  driver_docker "$INFRA_NODE" cp "$src/." "$name:$dest" || die "cannot copy the configuration into $name"
  if [ "$(driver_docker "$INFRA_NODE" inspect -f '{{.State.Running}}' "$name")" != true ]; then
    driver_docker "$INFRA_NODE" start "$name" >/dev/null || die "cannot start $name"
    echo "started $name on the infra node"
  else
    return 1 # running: the caller reloads it
  fi
}
# ready <port> <what>: until http://127.0.0.1:<port>/-/ready answers on the infra node
ready() {
  local _
  for _ in $(seq 1 120); do
    driver_docker "$INFRA_NODE" exec prometheus curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$1/-/ready" 2>/dev/null && return 0
    sleep 0.5
  done
  driver_docker "$INFRA_NODE" logs --tail 10 "$2" >&2 || true
  die "$2 is not ready on the infra node's port $1 (its last log lines above)"
}
ex() { driver_docker "$INFRA_NODE" exec "$@"; }

# reload <port> <what>: POST /-/reload (Prometheus: prometheus.yml and the rules; Alertmanager:
# its configuration); a configuration it refuses fails the script with its answer
reload() {
  local out
  out=$(ex prometheus curl -sS --max-time 30 -X POST -w ' %{http_code}' "http://127.0.0.1:$1/-/reload" 2>&1) || true
  [ "${out##* }" = 200 ] || die "$2 refused the new configuration: $out"
}
if ! infra_container prometheus "$(machine_image portolan/prometheus)" "$cfg/prometheus" /etc/prometheus/ \
     --env CONSUL_ADDR=127.0.0.1:8500; then
  ready 9090 prometheus; reload 9090 prometheus
  ex prometheus sh -c 'kill -HUP $(pidof portolan-templater)' 2>/dev/null || true   # the template too
fi
ready 9090 prometheus
if ! infra_container alertmanager "$(machine_image portolan/alertmanager)" "$cfg/alertmanager" /etc/alertmanager/; then
  ready 9093 alertmanager; reload 9093 alertmanager
fi
ready 9093 alertmanager

# ---- the targets in Consul
monitoring_sync || die "cannot register the metrics targets in Consul"
ip=$(driver_private_ip "$INFRA_NODE")
echo "prometheus: http://$ip:9090 (targets: $(mon_registered_nodes | tr '\n' ' ')+ itself and the alertmanager)"
echo "alertmanager: http://$ip:9093 (scale webhooks to $scaler)"
