#!/usr/bin/env bash
# tests/agent-smoke/run.sh: portolan-agent end to end, quickly, on the system dockerd: catalog +
# agent, a container with a published port and SERVICE_NAME appears in /v1/agent/services with
# the expected ID/Name/Address/Port, a catalog killed and restarted empty gets it back within 5 s,
# its stop removes it, /metrics and /health answer, failed writes are retried until they succeed
# without replaying stale wishes, SIGTERM stops the agent cleanly. Only touches containers/networks it creates (unique names) and only
# counts services whose ID contains them.
# needs: docker
set -u
source "$(dirname "$0")/../lib.sh"

uniq="smoke$$r$RANDOM"
node="node-$uniq"
net="pt-$uniq"
cname="web-$uniq"
sname="svc-$uniq"

services() { curl -s --max-time 2 "http://$CATALOG_ADDR/v1/agent/services"; }
# our_ids: the IDs of services of this run's container (the agent registers every running
# container of the system dockerd, other suites' too; those are not counted)
our_ids() { services | python3 -c 'import json,sys
try: d=json.load(sys.stdin)
except Exception: d={}
print(" ".join(sorted(k for k in d if (":" + sys.argv[1] + ":") in k)))' "$cname"; }
field() { services | python3 -c 'import json,sys; d=json.load(sys.stdin); print(d.get(sys.argv[1],{}).get(sys.argv[2],""))' "$1" "$2"; }
wait_for() { # wait_for SECS CMD...: poll until CMD succeeds
  local secs=$1 i; shift
  for ((i = 0; i < secs * 10; i++)); do "$@" && return 0; sleep 0.1; done
  return 1
}

if ! docker info >/dev/null 2>&1; then not_ok "docker daemon reachable"; done_testing; exit 1; fi
for b in portolan-agent portolan-catalog; do
  if [ ! -x "$BUILD/$b" ]; then not_ok "$b built in $BUILD"; done_testing; exit 1; fi
done
check "test images built locally" bash "$TOP/tests/images/build.sh"

# the system docker0 bridge may be absent on this machine: use a network of our own
docker network create "$net" >/dev/null 2>&1
cleanup_add "docker network rm $net"

start_catalog || { not_ok "portolan-catalog starts"; done_testing; exit 1; }
ok "portolan-catalog starts on $CATALOG_ADDR"

mport=$(free_port)
"$BUILD/portolan-agent" -node-id "$node" -ip 127.0.0.1 -listen "127.0.0.1:$mport" \
  "consul://$CATALOG_ADDR" >"$TEST_TMP/agent.log" 2>&1 &
AGENT_PID=$!
cleanup_add "kill -9 $AGENT_PID"
check "agent /health answers 200" wait_for 30 curl -sf -o /dev/null "http://127.0.0.1:$mport/health"

docker run -d --name "$cname" --network "$net" -p 127.0.0.1::80 -e SERVICE_NAME="$sname" \
  -l portolan-test=agent-smoke portolan-test/web:latest >/dev/null
cleanup_add "docker rm -f $cname"
hostport=$(docker port "$cname" 80/tcp | head -1 | sed 's/.*://')
id="$node:$cname:80"

has_id() { [ "$(our_ids)" == "$id" ]; }
check "service registered under $id" wait_for 30 has_id
check_eq "Service name" "$sname" "$(field "$id" Service)"
check_eq "Address is -ip" "127.0.0.1" "$(field "$id" Address)"
check_eq "Port is the published host port" "$hostport" "$(field "$id" Port)"
check "the registered address really serves the container" \
  curl -sf -o /dev/null "http://127.0.0.1:$hostport/index.html"

# the catalog holds the service before the agent has read the catalog's answer (and counted it)
metric_is() { curl -s "http://127.0.0.1:$1/metrics" | grep -Eq "$2"; }
wait_for 10 metric_is "$mport" '^portolan_agent_registrations_total [1-9]'
metrics=$(curl -s "http://127.0.0.1:$mport/metrics")
check "metrics count the registration" grep -Eq '^portolan_agent_registrations_total [1-9]' <<<"$metrics"
check "metrics show docker and consul up" \
  bash -c 'grep -q "^portolan_agent_docker_up 1" <<<"$1" && grep -q "^portolan_agent_consul_up 1" <<<"$1"' _ "$metrics"

# the catalog dies (kill -9) and comes back empty on the same address: the agent notices and
# registers the running container again, well within 5 s
kill -9 "$CATALOG_PID"; wait "$CATALOG_PID" 2>/dev/null
"$BUILD/portolan-catalog" -listen "$CATALOG_ADDR" >>"$TEST_TMP/catalog.log" 2>&1 &
CATALOG_PID=$!
cleanup_add "kill $CATALOG_PID"
t0=$(date +%s%N)
wait_for 10 curl -sf -o /dev/null "http://$CATALOG_ADDR/v1/status/leader"
t1=$(date +%s%N)
check "service back after the catalog restarted empty" wait_for 5 has_id
t2=$(date +%s%N)
diag "catalog answered after $(( (t1 - t0) / 1000000 )) ms; service back $(( (t2 - t1) / 1000000 )) ms later"
# (logged once the agent has the catalog's answer, which can be after the catalog shows it)
check "re-registration logged" wait_for 10 grep -q "re-registered $id" "$TEST_TMP/agent.log"

docker stop -t 1 "$cname" >/dev/null
no_ids() { [ -z "$(our_ids)" ]; }
check "service deregistered after docker stop" wait_for 30 no_ids
check "log has one line for the registration" grep -q "registered $id" "$TEST_TMP/agent.log"
check "log has one line for the deregistration" wait_for 10 grep -q "deregistered $id" "$TEST_TMP/agent.log"

# ---- failed writes are retried until they succeed, in order: a second agent writes through a
# proxy that fails every PUT while $fail exists
fail=$TEST_TMP/fail-writes; plog=$TEST_TMP/proxy.log
pport=$(free_port)
python3 "$TOP/tests/agent-smoke/flaky-proxy.py" "$pport" "$CATALOG_ADDR" "$fail" "$plog" &
PROXY_PID=$!
cleanup_add "kill $PROXY_PID"
check "flaky proxy answers" wait_for 30 curl -sf -o /dev/null "http://127.0.0.1:$pport/v1/status/leader"
rnode="retry-$uniq"; mport2=$(free_port)
"$BUILD/portolan-agent" -node-id "$rnode" -ip 127.0.0.1 -listen "127.0.0.1:$mport2" \
  "consul://127.0.0.1:$pport" >"$TEST_TMP/agent2.log" 2>&1 &
AGENT2_PID=$!
cleanup_add "kill -9 $AGENT2_PID"
wait_for 30 curl -sf -o /dev/null "http://127.0.0.1:$mport2/health"
touch "$fail"
ca="ra-$uniq"; cb="rb-$uniq"
docker run -d --name "$ca" --network "$net" -p 127.0.0.1::80 -l portolan-test=agent-smoke portolan-test/web:latest >/dev/null
cleanup_add "docker rm -f $ca"
docker run -d --name "$cb" --network "$net" -p 127.0.0.1::80 -l portolan-test=agent-smoke portolan-test/web:latest >/dev/null
cleanup_add "docker rm -f $cb"
refused() { [ "$(grep -c "^500 .*register" "$plog" 2>/dev/null)" -ge 4 ]; }
check "while Consul refuses writes the agent keeps retrying" wait_for 30 refused
queued() { metric_is "$mport2" '^portolan_agent_retries_queued [1-9]'; }
# (a write in flight is not queued: between two tries it is)
check "metrics show the queued retries" wait_for 10 queued
idb="$rnode:$cb:80"; ida="$rnode:$ca:80"
# container A stops while its registration has never succeeded: the final word is "absent".
# Both registrations have failed at least once (logged), and writes fail until the agent has
# taken the stop in: its wanted services drop by A's one
tried_both() { grep -q "register $ida failed" "$TEST_TMP/agent2.log" && grep -q "register $idb failed" "$TEST_TMP/agent2.log"; }
wait_for 30 tried_both
wanted() { curl -s "http://127.0.0.1:$mport2/metrics" | sed -n 's/^portolan_agent_services_wanted //p'; }
wanted_below() { [ "$(wanted)" -lt "$1" ] 2>/dev/null; }
w0=$(wanted)
docker stop -t 1 "$ca" >/dev/null
check "the agent takes the stop in while writes fail (services wanted $w0 -> $(wanted))" wait_for 30 wanted_below "${w0:-0}"
rm -f "$fail"
b_in() { services | python3 -c 'import json,sys; sys.exit(0 if sys.argv[1] in json.load(sys.stdin) else 1)' "$idb"; }
check "once Consul accepts writes again, the pending registration lands (within 12 s)" wait_for 12 b_in
# every retry was due again once Consul answered: none left queued, then a later container's
# registration through the same agent has landed too, so a replay of A would have come before
no_retries() { metric_is "$mport2" '^portolan_agent_retries_queued 0$'; }
wait_for 30 no_retries
cm="rm-$uniq"
docker run -d --name "$cm" --network "$net" -p 127.0.0.1::80 -l portolan-test=agent-smoke portolan-test/web:latest >/dev/null
cleanup_add "docker rm -f $cm"
m_in() { services | python3 -c 'import json,sys; sys.exit(0 if sys.argv[1] in json.load(sys.stdin) else 1)' "$rnode:$cm:80"; }
check "a later container's registration lands after the retries" wait_for 30 m_in
a_out() { services | python3 -c 'import json,sys; sys.exit(1 if sys.argv[1] in json.load(sys.stdin) else 0)' "$ida"; }
check "the stopped container's stale wish was not replayed after its stop (no reordering)" a_out
check "write failures counted" bash -c "curl -s http://127.0.0.1:$mport2/metrics | grep -Eq '^portolan_agent_consul_write_failures_total [1-9]'"
check "no retries left queued" bash -c "curl -s http://127.0.0.1:$mport2/metrics | grep -q '^portolan_agent_retries_queued 0'"
kill -TERM "$AGENT2_PID"

kill -TERM "$AGENT_PID"
stopped() { ! kill -0 "$AGENT_PID" 2>/dev/null; }
check "SIGTERM stops the agent within 5 s" wait_for 5 stopped
wait "$AGENT_PID"; rc=$?
check_eq "agent exit status after SIGTERM" 0 "$rc"
diag "agent log (tail):"
sed 's/^/#   /' "$TEST_TMP/agent.log" | tail -8
done_testing
