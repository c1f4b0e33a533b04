#!/usr/bin/env bash
# rmLogging.sh [-h] [--keep-logs]: undoes addLogging.sh (docs/logging.md).
#   - every swarm service sending its log to the store goes back to the engine's default log
#     driver (`docker info` of swarm-0, e.g. json-file; Docker's CLI cannot unset a service's log
#     driver, so it is set explicitly, without options); the router loses PORTOLAN_SYSLOG (HAProxy
#     stops sending its access log). These updates restart the services' tasks;
#   - the container portolan-logging on the infra node, its image there, and its volumes
#     portolan-logs (the logs) and portolan-logging (node table, rotation state) are removed;
#     --keep-logs keeps the volume portolan-logs. The cluster registry keeps its copy of the image.
# Idempotent: with no logging set up it changes nothing.
set -euo pipefail
USAGE="rmLogging.sh [-h] [--keep-logs]"
keep=0
case ${1:-} in
  -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;;
  --keep-logs) keep=1; [ $# -eq 1 ] || { echo "usage: $USAGE" >&2; exit 2; } ;;
  "") ;;
  *) echo "usage: $USAGE" >&2; exit 2 ;;
esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
need_tool docker
driver_exists "$INFRA_NODE" || die "no infra node: nothing to remove"
addr="$(driver_private_ip "$INFRA_NODE"):$LOGGING_PORT"

if driver_exists swarm-0; then
  machine_need_manager
  default=$(driver_docker swarm-0 info --format '{{.LoggingDriver}}')
  [ -n "$default" ] || default=json-file
  for svc in $(driver_docker swarm-0 service ls --format '{{.Name}}' | sort); do
    args=()
    have=$(driver_docker swarm-0 service inspect -f \
      '{{with .Spec.TaskTemplate.LogDriver}}{{.Name}} {{index .Options "syslog-address"}}{{end}}' "$svc")
    [ "$have" = "syslog udp://$addr" ] && args+=(--log-driver "$default")
    if driver_docker swarm-0 service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' "$svc" |
       grep -q '^PORTOLAN_SYSLOG='; then
      args+=(--env-rm PORTOLAN_SYSLOG)
    fi
    [ ${#args[@]} -gt 0 ] || continue
    driver_docker swarm-0 service update --detach "${args[@]}" "$svc" >/dev/null || die "cannot update service $svc"
    echo "$svc: logs to the engine default ($default) again"
  done
fi

if driver_docker "$INFRA_NODE" inspect portolan-logging >/dev/null 2>&1; then
  driver_docker "$INFRA_NODE" rm -f portolan-logging >/dev/null || die "cannot remove portolan-logging from the infra node"
  echo "removed the log store (portolan-logging) from the infra node"
fi
vols=(portolan-logging)
[ $keep = 1 ] || vols+=(portolan-logs)
for v in "${vols[@]}"; do
  if driver_docker "$INFRA_NODE" volume inspect "$v" >/dev/null 2>&1; then
    driver_docker "$INFRA_NODE" volume rm "$v" >/dev/null || die "cannot remove volume $v from the infra node"
    echo "removed volume $v"
  fi
done
for i in $(driver_docker "$INFRA_NODE" image ls -q --no-trunc "*/portolan/logging" | sort -u); do
  driver_docker "$INFRA_NODE" rmi -f "$i" >/dev/null && echo "removed image portolan/logging from the infra node"
done
[ $keep = 1 ] && echo "logs kept in volume portolan-logs on the infra node"
echo "logging removed"
