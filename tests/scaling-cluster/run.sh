#!/usr/bin/env bash
# tests/scaling-cluster/run.sh: the agent's scaling API on the `local` cluster (real dockerds in
# network namespaces, as tests/cluster): registry, infra, swarm-0 (manager), swarm-1 (front-end),
# swarm-2 (application); hello/v1 started by startService.sh and labelled portolan.scale.max=3,
# com.df.reschedule=true. A portolan-agent on this host, against swarm-0's engine, serves the
# mutual-TLS API on the cluster bridge (-explicit and its own -node-id: it registers nothing of
# the cluster's) with -scale-nodes-cmd machine (scripts/scaleNodes.sh):
#   - scale-service hello/v1 +1 -> 2 replicas, the router answers from both; cooldown refuses;
#   - scale-nodes +1 -> swarm-3 is created by the cluster scripts, joins the swarm, runs the agent
#     (global service), and hello-v1 is rebalanced onto it (forced update): the router answers
#     from a container on swarm-3;
#   - scale-service -1 -> 1 replica, no request failed meanwhile (a bounded load through the
#     router), past the minimum -> 409;
#   - scale-nodes -1 -> swarm-3 drained and removed, the route still answers;
#   - unless SCALING_LOOP=0, with monitoring (scripts/addMonitoring.sh): a bounded load through the router
#     fires the request-rate alert -> Alertmanager -> this agent's webhook -> hello/v1 scales up
#     within the stated bound, the router answers from the new instance; the load stops -> the
#     scale-down alert brings it back to the minimum, the original instance still serving, and
#     no request failed during either change.
# Everything carries a per-run prefix, subnet and image tag; a trap removes it all.
# needs: docker
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$TOP/tests/lib.sh"
# shellcheck source=../cluster_env.sh
source "$TOP/tests/cluster_env.sh"

cluster_env psc sc 77 portolan/agent portolan/router portolan/catalog portolan/registry portolan-test/whoami
FE=$NET.11 CONSUL=$NET.3:8500
. "$TOP/machine/lib.sh"
dk() { driver_docker "$@"; }
passing() { curl -sf --max-time 5 "http://$CONSUL/v1/health/service/hello/v1?passing" | jq 'length'; }
passing_is() { [ "$(passing)" = "$1" ]; }
poll() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 0.5; done; }
now_ms() { date +%s%3N; }
replicas() { dk swarm-0 service inspect -f '{{.Spec.Mode.Replicated.Replicas}}' hello-v1; }

# ---- images and the cluster (as tests/cluster)
"$S/build-images.sh" "$BUILD" >/dev/null 2>"$TEST_TMP/images.err" &&
  "$S/build-registry-image.sh" >/dev/null 2>>"$TEST_TMP/images.err" &&
  "$TOP/tests/images/build.sh" >/dev/null 2>>"$TEST_TMP/images.err" &&
  printf 'FROM portolan-test/web:latest\nCMD ["/bin/sh","-c","trap \\"sleep 2; exit 0\\" TERM; hostname >/www/id; httpd -f -p 80 -h /www & wait"]\n' |
    docker build -q -t "portolan-test/whoami:$PORTOLAN_IMAGE_TAG" - >/dev/null 2>>"$TEST_TMP/images.err" ||
  { sed 's/^/# /' "$TEST_TMP/images.err"; bail "images built"; }
IMG=portolan-test/whoami:$PORTOLAN_IMAGE_TAG
checkr "setupRegistry.sh" run "$S/setupRegistry.sh"
checkr "createInfraNode.sh" run "$S/createInfraNode.sh"
checkr "createSwarmNode.sh 0" run "$S/createSwarmNode.sh" 0
checkr "createSwarmNode.sh 1 front-end" run "$S/createSwarmNode.sh" 1 front-end
checkr "createSwarmNode.sh 2 application" run "$S/createSwarmNode.sh" 2 application
[ -e "$STATE/nodes/swarm-2" ] || bail "the cluster exists (the rest depends on it)"
URL=http://$FE/hello/v1/
out=$(PORTOLAN_WAIT=180 "$S/startService.sh" hello/v1 "$IMG" 2>>"$LOG" | tail -1)
check_eq "startService.sh hello/v1 prints the route URL" "$URL" "$out"
run dk swarm-0 service update --detach --label-add portolan.scale.max=3 --label-add com.df.reschedule=true hello-v1
ORIG=$(curl -sf --max-time 5 "${URL}id")
diag "the original instance: $ORIG"

# ---- the agent's API on this host, on the cluster bridge, mutual TLS
C=$TEST_TMP/certs
mkdir -p "$C/client"
(
  cd "$C" || exit 1
  openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=pt-scl CA" -keyout ca-key.pem -out ca.pem 2>/dev/null &&
  openssl req -newkey rsa:2048 -nodes -subj "/CN=pt-scl-agent" -keyout server-key.pem -out s.csr 2>/dev/null &&
  printf 'subjectAltName=IP:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\n' "$NET.1" >s.ext &&
  openssl x509 -req -in s.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile s.ext -out server-cert.pem 2>/dev/null &&
  openssl req -newkey rsa:2048 -nodes -subj "/CN=alertmanager" -keyout client/key.pem -out c.csr 2>/dev/null &&
  printf 'extendedKeyUsage=clientAuth\n' >c.ext &&
  openssl x509 -req -in c.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 -extfile c.ext -out client/cert.pem 2>/dev/null &&
  cp ca.pem client/ca.pem && chmod 0600 ./*key.pem client/key.pem
) || bail "certificates made"
APORT=$((24000 + RANDOM % 1000))   # this task's port range
API=https://$NET.1:$APORT
env DOCKER_HOST="unix://$STATE/nodes/swarm-0/docker.sock" PORTOLAN_SCRIPTS="$S" PORTOLAN_SCALE_NODE_LABEL=application \
  "$BUILD/portolan-agent" -explicit -node-id pt-scl-host -api-listen "$NET.1:$APORT" -api-cert "$C/server-cert.pem" \
  -api-key "$C/server-key.pem" -api-ca "$C/ca.pem" -scale-cooldown "${SCALE_COOLDOWN:-10s}" -scale-nodes-cmd machine \
  "consul://$CONSUL" >"$TEST_TMP/agent.log" 2>&1 &
AGENT=$!
cleanup_add "kill $AGENT 2>/dev/null"
api() {
  curl -sS --max-time "${API_TIMEOUT:-90}" --cacert "$C/ca.pem" --cert "$C/client/cert.pem" --key "$C/client/key.pem" \
    -o "$TEST_TMP/body" -w '%{http_code}' "$@" 2>"$TEST_TMP/curl.err"
}
check "the agent's API answers on $NET.1 over mutual TLS" poll 15 api "$API/v1/nothing"

# ids_seen N: the distinct instance ids among N requests through the router
ids_seen() { local _; for _ in $(seq 1 "$1"); do curl -sf --max-time 5 "${URL}id"; echo; done | grep -v '^$' | sort -u; }
n_ids() { [ "$(ids_seen 20 | wc -l)" -ge "$1" ]; }
# a bounded load through the router in the background: LOAD_PAR loops (default 1) of requests
# LOAD_SLEEP apart, at most $2 s (default 300); load_stop writes "<ok> <failed>" into the file
load_start() { # file [secs]
  local k
  LOADPIDS=()
  for k in $(seq 1 "${LOAD_PAR:-1}"); do
    ( ok=0 bad=0; end=$((SECONDS + ${2:-300}))
      while [ ! -e "$1.stop" ] && [ $SECONDS -lt $end ]; do
        if curl -sf -o /dev/null --max-time 5 "${URL}id"; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
        echo "$ok $bad" >"$1.$k"; sleep "${LOAD_SLEEP:-0.02}"
      done ) &
    LOADPIDS+=($!)
  done
}
load_stop() {
  touch "$1.stop"; wait "${LOADPIDS[@]}" 2>/dev/null; rm -f "$1.stop"
  cat "$1".[0-9]* 2>/dev/null | awk '{o += $1; b += $2} END {print o + 0, b + 0}' >"$1"
}

# ---- scale-service +1 on the swarm
t0=$(now_ms)
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=1")
check_eq "scale-service hello%2Fv1 by=1 -> 200, swarm, 1 -> 2" "200 swarm 1 2" "$st $(jq -r '"\(.mode) \(.before) \(.after)"' "$TEST_TMP/body" 2>/dev/null)"
check_eq "hello-v1 has 2 replicas" 2 "$(replicas)"
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=1")
check_eq "again at once -> 429 (cooldown)" 429 "$st"
if poll 120 n_ids 2; then
  diag "scale-service +1 -> the router answers from 2 instances after $(( $(now_ms) - t0 )) ms"
  ok "the router sends requests to the new instance (2 distinct ids)"
else
  not_ok "the router sends requests to the new instance (2 distinct ids)"; diag "ids: $(ids_seen 20 | tr '\n' ' ')"
fi

# ---- scale-nodes +1: a real node joins, runs the agent, gets rescheduled tasks
t0=$(now_ms)
st=$(API_TIMEOUT=400 api -X POST -H 'Content-Type: application/json' --data '{"groupLabels":{"scale":"up"}}' "$API/v1/scale-nodes?by=1&type=worker")
check_eq "scale-nodes by=1 -> 200" 200 "$st"
diag "scale-nodes +1 took $(( $(now_ms) - t0 )) ms; output: $(jq -r .output "$TEST_TMP/body" 2>/dev/null | tr '\n' ' ')"
check_eq "the answer says swarm-3 was created" "created swarm-3" "$(jq -r .output "$TEST_TMP/body" 2>/dev/null | grep -o 'created swarm-3')"
check_eq "... and that hello-v1 was rescheduled" hello-v1 "$(jq -r '.rescheduled | join(",")' "$TEST_TMP/body" 2>/dev/null)"
check_eq "swarm-3 is a Ready swarm member" Ready "$(dk swarm-0 node ls --filter name=swarm-3 --format '{{.Status}}')"
agent_on3() { [ -n "$(dk swarm-3 ps -q --filter label=com.docker.swarm.service.name=portolan-agent)" ]; }
check "swarm-3 runs portolan-agent (the global service)" poll 60 agent_on3
task_on3() { [ -n "$(dk swarm-3 ps -q --filter label=com.docker.swarm.service.name=hello-v1)" ]; }
check "a rescheduled hello-v1 task runs on swarm-3" poll 120 task_on3
id3=$(dk swarm-3 ps -q --filter label=com.docker.swarm.service.name=hello-v1 | head -1)
from3() { ids_seen 20 | grep -q "^${id3:-none}"; }
check "the router answers from the instance on swarm-3 (registered by swarm-3's agent)" poll 120 from3

# ---- scale-service -1 under load: nothing fails
sleep "${SCALE_COOLDOWN_S:-10}"
L=$TEST_TMP/load1
load_start "$L"
sleep 2
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=-1")
check_eq "scale-service by=-1 -> 200 (1)" "200 1" "$st $(jq -r .after "$TEST_TMP/body" 2>/dev/null)"
check "one instance passing" poll 120 passing_is 1
sleep 3
load_stop "$L"
read -r lok lbad <"$L"
diag "load during the scale-down: $lok ok, $lbad failed"
check_eq "no request failed during the scale-down ($lok sent)" 0 "$lbad"
sleep "${SCALE_COOLDOWN_S:-10}"
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=-1")
check_eq "past the minimum -> 409" 409 "$st"

# ---- scale-nodes -1: drained and removed
t0=$(now_ms)
st=$(API_TIMEOUT=400 api -X POST -H 'Content-Type: application/json' --data '{"groupLabels":{"scale":"down"}}' "$API/v1/scale-nodes?by=1&type=worker")
check_eq "scale-nodes down by 1 -> 200" 200 "$st"
diag "scale-nodes -1 took $(( $(now_ms) - t0 )) ms; output: $(jq -r .output "$TEST_TMP/body" 2>/dev/null | tr '\n' ' ')"
check_eq "swarm-3 (the highest worker) was removed" "removed swarm-3" "$(jq -r .output "$TEST_TMP/body" 2>/dev/null | grep -o 'removed swarm-3')"
check_eq "swarm-3 left the swarm and its namespace is gone" "swarm-0 swarm-1 swarm-2 |" \
  "$(dk swarm-0 node ls --format '{{.Hostname}}' | sort | tr '\n' ' ')|$(ip netns list | grep -E "^$PORTOLAN_LOCAL_PREFIX-swarm-3")"
answers() { [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "${URL}id")" = 200 ]; }
check "the route still answers" poll 60 answers

# ---- the loop: load -> alert -> Alertmanager -> webhook -> scale up; load stops -> back down
# On by default (SCALING_LOOP=0 leaves it out): the rules join HAProxy's per-backend series to
# routes through the templater's portolan_templater_route_backend, so pooled backends (p1_N) count.
if [ "${SCALING_LOOP:-1}" = 1 ] && [ -x "$S/addMonitoring.sh" ]; then
  . "$TOP/tests/scaling-cluster/loop.sh"
else
  skip "the alert loop (SCALING_LOOP=0, or scripts/addMonitoring.sh missing)"
fi

kill "$AGENT" 2>/dev/null; wait "$AGENT" 2>/dev/null
checkr "destroyCluster.sh" run "$S/destroyCluster.sh"
wall=$((SECONDS - T0))
diag "wall time: $wall s"
done_testing
