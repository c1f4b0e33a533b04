#!/usr/bin/env bash
# addLogging.sh [-h]: central logging for the cluster (docs/logging.md).
#   - the log store: container "portolan-logging" on the infra node (host network, syslog on
#     UDP and TCP port 514), image portolan/logging (rsyslog and logrotate from Debian, built
#     locally by scripts/build-logging-image.sh when the local engine lacks it, then pushed to the
#     cluster registry); logs in volume portolan-logs as /var/log/portolan/<service>/<node>.log,
#     '/' in a service name written as %2F (hello/v1 -> hello%2Fv1), rotated past 10 MiB, 4 kept;
#   - the node table: node names by private address, so each file is named after the node the
#     lines came from (run addLogging.sh again after adding nodes: it refreshes the table);
#   - every swarm service (portolan-agent, portolan-router and each startService.sh service) gets
#     Docker's syslog log driver (UDP to the infra node, RFC 5424, tag = the service's url-path, or
#     its swarm name for portolan's own services); a service with another log driver of its own is
#     left alone (said so). Services started later by the scripts get it at creation;
#   - the router also gets PORTOLAN_SYSLOG, so HAProxy sends its access log to the store, filed
#     under the route's service.
# Updating a service's log driver restarts its tasks (a rolling update, one at a time).
# Needs the registry, infra and swarm-0 nodes. Idempotent: a second run changes nothing.
set -euo pipefail
USAGE="addLogging.sh [-h]"
case ${1:-} in -h|--help) sed -n '2,19s/^# \{0,1\}//p' "$0"; exit 0 ;; "") ;; *) echo "usage: $USAGE" >&2; exit 2 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
need_tool docker
reg=$(machine_registry)
[ -n "$reg" ] || die "no registry node: run scripts/setupRegistry.sh first"
driver_exists "$INFRA_NODE" || die "no infra node: run scripts/createInfraNode.sh first"
machine_need_manager

# the image: local engine -> cluster registry
img=portolan/logging:$PORTOLAN_IMAGE_TAG
if ! docker image inspect "$img" >/dev/null 2>&1; then
  "$CLUSTER_TOP/scripts/build-logging-image.sh" || die "cannot build $img"
fi
registry_push "$img" "$img"

# the store on the infra node
state=$(driver_docker "$INFRA_NODE" inspect -f '{{.State.Running}}' portolan-logging 2>/dev/null || echo none)
case $state in
  true) ;;
  false) driver_docker "$INFRA_NODE" start portolan-logging >/dev/null || die "cannot start portolan-logging on the infra node" ;;
  *) driver_docker "$INFRA_NODE" run -d -q --name portolan-logging --restart unless-stopped --net host \
       --label portolan.logging=store -v portolan-logs:/var/log/portolan -v portolan-logging:/var/lib/portolan-logging \
       "$(machine_image portolan/logging)" >/dev/null || die "cannot start portolan-logging on the infra node"
     echo "started the log store on the infra node (portolan-logging)" ;;
esac
store() { driver_docker "$INFRA_NODE" exec -i portolan-logging "$@"; }
ok=0
for _ in $(seq 1 120); do
  if store sh -c 'kill -0 "$(cat /run/rsyslogd.pid)"' 2>/dev/null; then ok=1; break; fi
  sleep 0.5
done
[ $ok = 1 ] || die "the log store does not run (docker logs portolan-logging on the infra node)"
addr=$(logging_addr)
[ -n "$addr" ] || die "the log store is not running on the infra node"

# the node table (rsyslog lookup table), rewritten only when it changes
table='{"version":1,"nomatch":"","type":"string","table":['
sep=""
for n in $(driver_list | sort); do
  table="$table$sep{\"index\":\"$(driver_private_ip "$n")\",\"value\":\"$n\"}"; sep=","
done
table="$table]}"
if [ "$(store cat /var/lib/portolan-logging/nodes.json 2>/dev/null)" != "$table" ]; then
  printf '%s\n' "$table" | store sh -c 'cat >/var/lib/portolan-logging/nodes.json.new &&
    mv /var/lib/portolan-logging/nodes.json.new /var/lib/portolan-logging/nodes.json &&
    kill -HUP "$(cat /run/rsyslogd.pid)"' || die "cannot write the node table into the log store"
  echo "log store: node table $(driver_list | sort | tr '\n' ' ')"
fi

# every swarm service: the syslog log driver (and PORTOLAN_SYSLOG on the router)
for svc in $(driver_docker swarm-0 service ls --format '{{.Name}}' | sort); do
  tag=$(driver_docker swarm-0 service inspect -f '{{index .Spec.Labels "portolan.path"}}' "$svc")
  [ -n "$tag" ] || tag=$svc
  have=$(driver_docker swarm-0 service inspect -f \
    '{{with .Spec.TaskTemplate.LogDriver}}{{.Name}} {{index .Options "syslog-address"}} {{index .Options "syslog-format"}} {{index .Options "tag"}}{{end}}' "$svc")
  case $have in
    ""|syslog\ *) ;;
    *) echo "$svc: has log driver '${have%% *}' of its own: left alone"; continue ;;
  esac
  args=()
  [ "$have" = "syslog udp://$addr rfc5424 $tag" ] || mapfile -t args < <(logging_args "$tag")
  if [ "$svc" = portolan-router ] &&
     ! driver_docker swarm-0 service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' "$svc" |
       grep -qx "PORTOLAN_SYSLOG=$addr"; then
    args+=(--env-add "PORTOLAN_SYSLOG=$addr")
  fi
  [ ${#args[@]} -gt 0 ] || continue
  driver_docker swarm-0 service update --detach "${args[@]}" "$svc" >/dev/null || die "cannot update service $svc"
  echo "$svc: logs to $addr as '$tag'"
done
echo "logging: syslog $addr (udp/tcp); logs in /var/log/portolan/<service>/<node>.log in container portolan-logging on $INFRA_NODE"
