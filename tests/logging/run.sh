#!/usr/bin/env bash
# tests/logging/run.sh: central logging (addLogging.sh / rmLogging.sh, docs/logging.md) on the
# `local` cluster (PORTOLAN_DRIVER=local: real dockerds in network namespaces, the registry, the
# catalog on the infra node, swarm-0 manager, swarm-1 front-end with the router):
#   startService.sh hello/v1 <image whose httpd logs each request> before logging exists;
#   addLogging.sh -> the store runs on the infra node, every swarm service (agent, router,
#   hello-v1) has the syslog log driver, the router has PORTOLAN_SYSLOG;
#   a request to /hello/v1/<unique> through the router -> within 10 s HAProxy's access line is in
#   /var/log/portolan/hello%2Fv1/swarm-1.log (the router's node) and the container's own line
#   with that path in hello%2Fv1/<node running the task>.log; the agents' lines are filed per node;
#   a second addLogging.sh changes nothing; a service started afterwards gets the driver;
#   a hostile sender's "../" service name lands in _invalid; logrotate rotates a file past
#   10 MiB and rsyslog writes a new one; rmLogging.sh -> no service logs to the store, no
#   PORTOLAN_SYSLOG, no container, volume or image left on the infra node, the route still
#   answers; rmLogging.sh again changes nothing; destroyCluster.sh leaves nothing behind.
# Everything carries a per-run prefix, subnet and image tag; a trap removes it all.
# needs: docker
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$TOP/tests/lib.sh"
# shellcheck source=../cluster_env.sh
source "$TOP/tests/cluster_env.sh"

cluster_env plg lg 78 portolan/agent portolan/router portolan/catalog portolan/registry portolan/logging portolan-test/logweb
FE=$NET.11 INFRA=$NET.3

. "$TOP/machine/lib.sh"
dk() { driver_docker "$@"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$1"; }
poll() { # secs cmd...: until cmd succeeds
  local end=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.5; done
}
now_ms() { date +%s%3N; }
# a command in the store's container
store() { dk infra exec portolan-logging "$@"; }
# the store's files, read from this host (the infra node's data root): polling them costs no
# `docker exec`, so the times printed are the store's, not the loaded machine's
LOGS=$DATA/infra/volumes/portolan-logs/_data
# the log driver, address and tag of a swarm service
logdrv() { dk swarm-0 service inspect -f '{{with .Spec.TaskTemplate.LogDriver}}{{.Name}} {{index .Options "syslog-address"}} {{index .Options "tag"}}{{end}}' "$1"; }
converged() { # service: every task wanted running is running, none left of an older spec
  [ -z "$(dk swarm-0 service inspect -f '{{with .UpdateStatus}}{{.State}}{{end}}' "$1" | grep -v completed)" ] &&
    ! dk swarm-0 service ps "$1" --filter desired-state=running --format '{{.CurrentState}}' | grep -qv '^Running'
}

# ---- images: built here with this run's tag, never pulled; the test service's httpd logs every
# request (busybox httpd -vv) on stderr, so its container log names the path asked for
"$S/build-images.sh" "$BUILD" >/dev/null 2>"$TEST_TMP/images.err" &&
  "$S/build-registry-image.sh" >/dev/null 2>>"$TEST_TMP/images.err" &&
  "$S/build-logging-image.sh" >/dev/null 2>>"$TEST_TMP/images.err" &&
  "$TOP/tests/images/build.sh" >/dev/null 2>>"$TEST_TMP/images.err" &&
  printf 'FROM portolan-test/web:latest\nCMD ["/bin/sh","-c","trap \\"exit 0\\" TERM; echo logweb $(hostname) up; httpd -f -vv -p 80 -h /www & wait"]\n' |
    docker build -q -t "portolan-test/logweb:$PORTOLAN_IMAGE_TAG" - >/dev/null 2>>"$TEST_TMP/images.err" ||
  { sed 's/^/# /' "$TEST_TMP/images.err"; bail "images built"; }
IMG=portolan-test/logweb:$PORTOLAN_IMAGE_TAG

# ---- the cluster
checkr "setupRegistry.sh" run "$S/setupRegistry.sh"
checkr "createInfraNode.sh" run "$S/createInfraNode.sh"
checkr "createSwarmNode.sh 0 (manager)" run "$S/createSwarmNode.sh" 0
checkr "createSwarmNode.sh 1 front-end" run "$S/createSwarmNode.sh" 1 front-end
[ -e "$STATE/nodes/swarm-1" ] || bail "the cluster exists (the rest depends on it)"
URL=http://$FE/hello/v1/
out=$("$S/startService.sh" hello/v1 "$IMG" 2>>"$LOG" | tail -1)
check_eq "startService.sh hello/v1 (before logging exists) answers at $URL" "$URL" "$out"

# ---- addLogging.sh
checkr "addLogging.sh" run "$S/addLogging.sh"
check_eq "the store runs on the infra node" true "$(dk infra inspect -f '{{.State.Running}}' portolan-logging 2>&1)"
addr=udp://$INFRA:514
check_eq "every swarm service logs to the store under its name (agent, router, hello-v1)" \
  "syslog $addr hello/v1|syslog $addr portolan-agent|syslog $addr portolan-router|" \
  "$(for s in hello-v1 portolan-agent portolan-router; do logdrv "$s"; done | tr '\n' '|')"
router_env() { dk swarm-0 service inspect -f '{{range .Spec.TaskTemplate.ContainerSpec.Env}}{{println .}}{{end}}' portolan-router | grep PORTOLAN_SYSLOG; }
check_eq "the router has PORTOLAN_SYSLOG=$INFRA:514" "PORTOLAN_SYSLOG=$INFRA:514" "$(router_env)"
all_converged() { converged hello-v1 && converged portolan-router && converged portolan-agent && [ "$(code "$URL")" = 200 ]; }
check "the updated services run again and the route answers" poll 180 all_converged

# ---- a request through the router shows up under hello/v1 within 10 s
mark=pt-log-$RID-$$-$RANDOM
task_node=$(dk swarm-0 service ps hello-v1 --filter desired-state=running --format '{{.Node}}' | head -1)
c=$(code "$URL$mark"); t0=$(now_ms)
check_eq "GET /hello/v1/$mark through the router (the test image answers 404 for it)" 404 "$c"
haproxy_line() { grep -F "GET /hello/v1/$mark " "$LOGS/hello%2Fv1/swarm-1.log"; }
own_line() { grep -F "/$mark" "$LOGS/hello%2Fv1/$task_node.log" | grep -v ' haproxy '; }
if poll 10 haproxy_line; then
  diag "HAProxy's access line in the store $(( $(now_ms) - t0 )) ms after the answer (bound: 10 s)"
  ok "HAProxy's access line is in /var/log/portolan/hello%2Fv1/swarm-1.log within 10 s"
else
  not_ok "HAProxy's access line is in /var/log/portolan/hello%2Fv1/swarm-1.log within 10 s"
  diag "store: $(cd "$LOGS" 2>/dev/null && ls -R . | tr '\n' ' ')"
fi
line=$(haproxy_line | tail -1)
check "... and it names the route, the router's node and the status: $line" \
  grep -qE "^[0-9T:.+-]+ swarm-1 haproxy route=/hello/v1 .* 404 .*\"GET /hello/v1/$mark HTTP/1.1\"" <<<"$line"
if poll 10 own_line; then
  diag "the container's own line in the store $(( $(now_ms) - t0 )) ms after the answer"
  ok "the container's own log line for the path is in hello%2Fv1/$task_node.log (its node) within 10 s"
else
  not_ok "the container's own log line for the path is in hello%2Fv1/$task_node.log within 10 s"
  diag "files: $(cd "$LOGS" 2>/dev/null && ls -R . | tr '\n' ' ')"
fi
started() { grep -q "hello/v1 logweb .* up" "$LOGS/hello%2Fv1/$task_node.log"; }
check "the container's start line is there too (Docker's syslog driver, tag hello/v1)" poll 10 started
check_eq "the same grep through the store container: the request in both nodes' files" \
  "$(printf '%s\n' "/var/log/portolan/hello%2Fv1/$task_node.log" /var/log/portolan/hello%2Fv1/swarm-1.log | sort -u | tr '\n' ' ')" \
  "$(store grep -rlF "$mark" /var/log/portolan/hello%2Fv1 | sort -u | tr '\n' ' ')"
agents() { [ "$(cd "$LOGS/portolan-agent" && ls | tr '\n' ' ')" = "swarm-0.log swarm-1.log " ]; }
check "the agents' logs are filed per node (portolan-agent/swarm-0.log, swarm-1.log)" poll 30 agents

# ---- idempotent; later services covered
snap() { for s in hello-v1 portolan-agent portolan-router; do dk swarm-0 service inspect -f '{{.Version.Index}}' "$s"; done; dk infra inspect -f '{{.Id}}' portolan-logging; }
before=$(snap)
checkr "addLogging.sh again" run "$S/addLogging.sh"
check_eq "... changes nothing (service versions, store container)" "$before" "$(snap)"
checkr "startService.sh hello/v2 after addLogging.sh" run "$S/startService.sh" hello/v2 "$IMG"
check_eq "... the new service logs to the store as hello/v2" "syslog $addr hello/v2" "$(logdrv hello-v2)"
v2() { cat "$LOGS"/hello%2Fv2/*.log 2>/dev/null | grep -q "hello/v2 logweb .* up"; }
check "... and its start line is in hello%2Fv2/" poll 15 v2

# ---- a hostile sender: a service name that would climb out of the store
printf '<14>1 2026-01-01T00:00:00Z x ../../etc 1 x - %s\n' "$mark-evil" | socat -u - "UDP:$INFRA:514"
evil() { grep -rqF "$mark-evil" "$LOGS/_invalid"; }
check "a '../../etc' service name is filed under _invalid" poll 10 evil
check_eq "... and nothing was written outside /var/log/portolan" "" "$(store sh -c 'ls /etc/*.log /var/log/*.log 2>/dev/null')"

# ---- rotation: a file past 10 MiB is rotated and rsyslog writes a new one
store sh -c "head -c 11000000 /dev/zero | tr '\\0' x >>/var/log/portolan/hello%2Fv1/swarm-1.log"
checkr "logrotate (the container's own configuration) runs" run dk infra exec portolan-logging /usr/sbin/logrotate -s /var/lib/portolan-logging/logrotate.state /etc/logrotate.conf
check "... hello%2Fv1/swarm-1.log.1.gz exists" test -s "$LOGS/hello%2Fv1/swarm-1.log.1.gz"
code "${URL}$mark-after" >/dev/null
after_rot() { grep -qF "$mark-after" "$LOGS/hello%2Fv1/swarm-1.log" && [ "$(stat -c %s "$LOGS/hello%2Fv1/swarm-1.log")" -lt 100000 ]; }
check "... and the next request goes to a new, small swarm-1.log" poll 10 after_rot

# ---- rmLogging.sh
checkr "rmLogging.sh" run "$S/rmLogging.sh"
check_eq "no service logs to the store any more" "" \
  "$(for s in $(dk swarm-0 service ls --format '{{.Name}}'); do logdrv "$s"; done | grep syslog)"
check_eq "the router has no PORTOLAN_SYSLOG" "" "$(router_env)"
check_eq "no store container, volume or image left on the infra node" "||" \
  "$(dk infra ps -aq --filter name=portolan-logging)|$(dk infra volume ls -q | grep portolan-log)|$(dk infra image ls -q '*/portolan/logging')"
check "the route answers again after the services' update" poll 180 all_converged
before=$(snap | head -3)
checkr "rmLogging.sh again" run "$S/rmLogging.sh"
check_eq "... changes nothing" "$before" "$(snap 2>/dev/null | head -3)"

# ---- the end
checkr "destroyCluster.sh" run "$S/destroyCluster.sh"
check_eq "nothing left: no namespace, link, dockerd, mount, iptables rule, directory" "" "$(leftovers)"
wall=$((SECONDS - T0))
diag "wall time: $wall s"
done_testing
