#!/usr/bin/env bash
# tests/scaling/run.sh: the agent's scaling API against a real swarm manager (a dedicated dockerd
# in swarm mode, portolan-catalog, portolan-agent with -api-listen): POST /v1/scale-service of a
# swarm service named hello/v1 (swarm service hello-v1, portolan.path=hello/v1) scales the swarm
# service (Spec.Mode.Replicated.Replicas, through /services/<id>/update with its version) by +1
# and -1 within portolan.scale.min/max, the new task is registered in the catalog and the removed
# one leaves it, cooldown and bounds refuse with 429/409; an Alertmanager body does the same;
# scale-nodes (a stand-in command here) is followed by a forced update (ForceUpdate + 1) of the
# services labelled com.df.reschedule=true / portolan.scale.reschedule=true and of no other.
# needs: docker
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$TOP/tests/lib.sh"
# shellcheck source=../agent/lib-docker.sh
source "$TOP/tests/agent/lib-docker.sh"

for b in portolan-agent portolan-catalog; do
  [ -x "$BUILD/$b" ] || { not_ok "$b built in $BUILD"; done_testing; exit 1; }
done
[ -n "${KEEP_LOGS:-}" ] && cleanup_add "mkdir -p '$KEEP_LOGS' && cp $TEST_TMP/*.log '$KEEP_LOGS/'"
pit_dockerd_start scl || { not_ok "dedicated dockerd starts"; done_testing; exit 1; }
if ! dk scl swarm init --advertise-addr 127.0.0.1 --listen-addr "127.0.0.1:$(free_port)" >"$TEST_TMP/swarm.log" 2>&1; then
  not_ok "swarm init on the dedicated engine"; sed 's/^/# /' "$TEST_TMP/swarm.log"; done_testing; exit 1
fi
ok "swarm init on the dedicated engine"
cleanup_add "dk scl swarm leave --force >/dev/null 2>&1"
CPORT=$(free_port)
pit_catalog_start "$CPORT" || { not_ok "catalog starts"; done_testing; exit 1; }
C=$TEST_TMP/certs
pit_tls_certs "$C" scaling-test || { not_ok "certificates made"; done_testing; exit 1; }
NODES=$TEST_TMP/nodes
mkdir -p "$NODES"
printf '#!/bin/sh\necho "$@" >>"%s/calls"\necho "joined"\n' "$NODES" >"$NODES/cmd.sh"
chmod +x "$NODES/cmd.sh"
APORT=$(free_port) MPORT=$(free_port)
API=https://127.0.0.1:$APORT
pit_agent_start a scl -- -ip 127.0.0.1 -api-listen "127.0.0.1:$APORT" -api-cert "$C/server-cert.pem" \
  -api-key "$C/server-key.pem" -api-ca "$C/ca.pem" -listen "127.0.0.1:$MPORT" -scale-cooldown 2s \
  -scale-nodes-cmd "$NODES/cmd.sh" "consul://127.0.0.1:$CPORT"
api() {
  curl -sS --max-time 90 --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" \
    -o "$TEST_TMP/body" -w '%{http_code}' "$@" 2>"$TEST_TMP/curl.err"
}
check "agent's API answers over TLS" wait_for 15 curl -s -o /dev/null --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" "$API/v1/nothing"

# what startService.sh makes on a cluster: swarm service <path with '-'>, SERVICE_NAME=<path>
dk scl service create --detach --name hello-v1 --replicas 1 --label portolan.path=hello/v1 \
  --label portolan.scale.max=3 --label com.df.reschedule=true --env SERVICE_NAME=hello/v1 \
  --publish mode=host,target=80 portolan-test/web >>"$TEST_TMP/create.log" 2>&1
dk scl service create --detach --name other --replicas 1 --env SERVICE_NAME=other portolan-test/web >>"$TEST_TMP/create.log" 2>&1
replicas() { dk scl service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' "$1"; }
running_tasks() { dk scl service ps -q --filter desired-state=running "$1" | wc -l; }
hv_instances() { curl -sf "http://127.0.0.1:$CPORT/v1/catalog/service/hello%2Fv1" | jq length; }
hv_is() { [ "$(hv_instances)" = "$1" ]; }
check "hello/v1's task is registered" wait_for 60 hv_is 1

t0=$(now_ms)
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=1")
check_eq "scale-service hello%2Fv1 by=1 -> 200" 200 "$st"
check_eq "answer: swarm, 1 -> 2" 'swarm 1 2' "$(jq -r '"\(.mode) \(.before) \(.after)"' "$TEST_TMP/body" 2>/dev/null)"
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=1")
check_eq "again at once -> 429 (cooldown -scale-cooldown 2s)" 429 "$st"
check_eq "the swarm service has 2 replicas" 2 "$(replicas hello-v1)"
check "catalog: the new task is registered (2 instances)" wait_for 60 hv_is 2
diag "scale-service +1 to the new instance in the catalog: $(( $(now_ms) - t0 )) ms"
check_eq "two distinct ports" 2 "$(curl -sf "http://127.0.0.1:$CPORT/v1/catalog/service/hello%2Fv1" | jq '[.[].ServicePort] | unique | length')"
for p in $(curl -sf "http://127.0.0.1:$CPORT/v1/catalog/service/hello%2Fv1" | jq -r '.[].ServicePort'); do
  check "instance on port $p answers" curl -sf -o /dev/null --max-time 5 "http://127.0.0.1:$p/"
done
sleep 2.2
AM='{"status":"firing","groupLabels":{"scale":"up","service":"hello/v1"},"commonLabels":{"scale":"up","service":"hello/v1"}}'
st=$(api -X POST -H 'Content-Type: application/json' --data "$AM" "$API/v1/scale-service?by=2")
check_eq "webhook up by 2 past portolan.scale.max=3 -> 409" 409 "$st"
check_eq "the refused one changed nothing" 2 "$(replicas hello-v1)"
st=$(api -X POST -H 'Content-Type: application/json' --data "$AM" "$API/v1/scale-service")
check_eq "webhook up by 1 -> 200 (3)" "200 3" "$st $(jq -r .after "$TEST_TMP/body" 2>/dev/null)"
check "catalog: 3 instances" wait_for 60 hv_is 3
sleep 2.2
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=-2")
check_eq "by=-2 -> 200 (1)" "200 1" "$st $(jq -r .after "$TEST_TMP/body" 2>/dev/null)"
check_eq "the swarm service has 1 replica" 1 "$(replicas hello-v1)"
check "catalog: the removed tasks left (1 instance)" wait_for 60 hv_is 1
sleep 2.2
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=-1")
check_eq "past the minimum -> 409" 409 "$st"
check_eq "still 1 replica" 1 "$(replicas hello-v1)"

# scale-nodes, then the reschedule of the labelled service only
f0=$(dk scl service inspect -f '{{.Spec.TaskTemplate.ForceUpdate}}' hello-v1)
o0=$(dk scl service inspect -f '{{.Spec.TaskTemplate.ForceUpdate}}' other)
st=$(api -X POST -H 'Content-Type: application/json' --data '{"groupLabels":{"scale":"up"}}' "$API/v1/scale-nodes?by=1&type=worker")
check_eq "scale-nodes up -> 200" 200 "$st"
check_eq "answer lists hello-v1 as rescheduled" hello-v1 "$(jq -r '.rescheduled | join(",")' "$TEST_TMP/body" 2>/dev/null)"
check_eq "hello-v1 was force-updated (ForceUpdate + 1)" $((f0 + 1)) "$(dk scl service inspect -f '{{.Spec.TaskTemplate.ForceUpdate}}' hello-v1)"
check_eq "the unlabelled service was not" "$o0" "$(dk scl service inspect -f '{{.Spec.TaskTemplate.ForceUpdate}}' other)"
st=$(api -X POST --data '{"groupLabels":{"scale":"down"}}' "$API/v1/scale-nodes?by=1")
check_eq "scale-nodes down -> 200, no reschedule" "200 0" "$st $(jq -r '.rescheduled // [] | length' "$TEST_TMP/body" 2>/dev/null)"
check_eq "the commands ran" "up 1 worker|down 1 worker" "$(paste -sd'|' "$NODES/calls")"

curl -sf "http://127.0.0.1:$MPORT/metrics" >"$TEST_TMP/metrics"
check "metrics: scale-service ok 3" grep -q '^portolan_agent_scale_actions_total{action="scale-service",result="ok"} 3$' "$TEST_TMP/metrics"
check "metrics: scale-service refused 3" grep -q '^portolan_agent_scale_actions_total{action="scale-service",result="refused"} 3$' "$TEST_TMP/metrics"

dk scl service rm hello-v1 other >/dev/null
pit_agent_stop a
check_eq "agent exits 0 on SIGTERM" 0 "${PIT_AGENT_STATUS:-x}"
done_testing
