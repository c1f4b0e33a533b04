#!/usr/bin/env bash
# bench/soak/run.sh: container start/stop cycles through the whole stack (tests/stack.sh:
# portolan-catalog with -data-dir, portolan-agent, portolan-templater + HAProxy, a dockerd,
# containers of the local test image on a docker network and label of their own), to show that
# nothing grows with churn. SOAK_BASE (default 2) containers run the whole time; SOAK_POOL
# (default 24) more are created once and cycled by SOAK_LANES (default 12) parallel lanes, each on
# pool containers of its own (so up to LANES are being routed at once): each cycle starts one
# (Engine API POST /containers/{id}/start), reads its new host port (GET .../json), waits until
# HAProxy routes it (one poller reads the runtime API's `show servers state` every 100 ms for all
# lanes; a wait that runs out after 20 s is counted, not fatal), and stops it (POST
# .../stop?t=0). Each start gets a new host port, so every cycle is a new instance for the agent,
# the catalog and the templater.
# The dockerd: by default (SOAK_DOCKERD=own) one of its own (tests/own_dockerd.sh), so the churn
# neither slows nor is slowed by what others run on the shared one; SOAK_DOCKERD=shared uses
# DOCKER_HOST or the local socket instead. The daemons under test are the same either way.
# Samples VmRSS and open fds of the agent, templater and catalog once the stack is up and after
# every SOAK_EVERY (default 1000) cycles (each time once the routes equal the running containers
# again), and HAProxy's routed server count; prints each sample as it is taken (so a run cut
# short still has its figures), then a table and the checks: end RSS within 10% of the RSS after
# the first SOAK_EVERY cycles, fds at the end not above those then (+2), HAProxy's server count
# back to the start. Exits non-zero when a check fails. Not part of scripts/test.sh.
#   BUILD=build SOAK_CYCLES=10000 bench/soak/run.sh      (SOAK_CYCLES default 10000)
#   SOAK_LOGS=DIR  keep the daemons' logs there
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
CYCLES=${SOAK_CYCLES:-10000}
BASE=${SOAK_BASE:-2}
POOL=${SOAK_POOL:-24}
LANES=${SOAK_LANES:-12}
EVERY=${SOAK_EVERY:-1000}
source "$TOP/tests/lib.sh"
if [ "${SOAK_DOCKERD:-own}" = own ]; then
  source "$TOP/tests/own_dockerd.sh"
  own_dockerd_start || { echo "the soak's own dockerd did not start"; exit 1; }
  echo "own dockerd on $DOCKER_HOST, runtime $(docker info --format '{{.DefaultRuntime}}')"
fi
source "$TOP/tests/stack.sh"
STACK_NAME=soak
CONSUL_WAIT=30s
stack_setup || exit 1
[ -n "${SOAK_LOGS:-}" ] && mkdir -p "$SOAK_LOGS" && cleanup_add "cp $TEST_TMP/*.log $SOAK_LOGS/"
DOCKER_SOCK=${DOCKER_HOST:-unix:///var/run/docker.sock}
DOCKER_SOCK=${DOCKER_SOCK#unix://}
engine() { # METHOD PATH: an Engine API call, fails unless 2xx/304
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 --unix-socket "$DOCKER_SOCK" \
    -X "$1" "http://docker$2")
  [[ $code == 2* || $code == 304 ]]
}
host_port() { # ID: the host port its 80/tcp is published on now
  curl -s --max-time 30 --unix-socket "$DOCKER_SOCK" "http://docker/containers/$1/json" |
    jq -r '"127.0.0.1:" + (.NetworkSettings.Ports["80/tcp"][0].HostPort // "none")'
}

start_catalog_proc || { echo "portolan-catalog did not start"; exit 1; }
start_agent
start_templater
for _ in $(seq 1 "$BASE"); do run_container; done
pool=()
for _ in $(seq 1 "$POOL"); do
  pool+=("$(docker create --label "$LABEL" --label SERVICE_NAME="$SVC" --label SERVICE_TAGS="$TAG" \
    --network "$NET" -p 127.0.0.1::80 "$IMAGE")") || exit 1
done
wait_converged 60 >/dev/null || { echo "the stack did not route the $BASE base containers"; exit 1; }

rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }
fds() { ls "/proc/$1/fd" | wc -l; }
# the fewest open fds in 5 looks 0.5 s apart: connections the daemons keep or reopen (keep-alive
# pools, blocking queries) come and go; a leak stays
fds_min() {
  local n m=999999
  for _ in 1 2 3 4 5; do n=$(fds "$1"); (( n < m )) && m=$n; sleep 0.5; done
  echo "$m"
}
servers_routed() { haproxy_view | grep -c .; }
declare -A S
NAMES=()
sample() { # NAME: once the routes equal the running containers again; printed at once
  wait_converged 60 >/dev/null || echo "warning: routes did not converge before sample $1"
  sleep 1
  local d p line
  line="sample $1 at $(date -u +%H:%M:%S):"
  for d in agent templater catalog; do
    case $d in agent) p=$AGENT_PID ;; templater) p=$TEMPLATER_PID ;; catalog) p=$CATALOG_PID ;; esac
    S[$1,$d,rss]=$(rss "$p"); S[$1,$d,fds]=$(fds_min "$p")
    line+=" $d ${S[$1,$d,rss]} KiB ${S[$1,$d,fds]} fds;"
  done
  S[$1,servers]=$(servers_routed)
  S[$1,at]=$(date -u +%H:%M:%S)
  NAMES+=("$1")
  echo "$line haproxy ${S[$1,servers]} servers; $(wc -l <"$TEST_TMP/late") late, $(wc -l <"$TEST_TMP/failed") failed, load $(cut -d' ' -f1 /proc/loadavg)"
}
LANES=$(( LANES > POOL ? POOL : LANES ))
: >"$TEST_TMP/late"; : >"$TEST_TMP/failed"
sample start
# one poller for every lane: HAProxy's usable servers, every 100 ms, replaced atomically
ROUTED=$TEST_TMP/routed
poller() { while :; do haproxy_view >"$ROUTED.tmp" && mv -f "$ROUTED.tmp" "$ROUTED"; sleep 0.1; done; }
poller & POLLER_PID=$!
cleanup_add "kill $POLLER_PID"
# lane L FROM TO: cycles FROM..TO whose number is L modulo LANES, on pool containers of its own
lane() {
  local l=$1 i id port routed
  for ((i = $2; i <= $3; i++)); do
    (( i % LANES == l )) || continue
    id=${pool[$(( (i / LANES) % (POOL / LANES) * LANES + l ))]}
    if ! engine POST "/containers/$id/start"; then echo "$i" >>"$TEST_TMP/failed"; continue; fi
    port=$(host_port "$id")
    routed=0
    for _ in $(seq 1 100); do
      grep -qxF "$port" "$ROUTED" 2>/dev/null && { routed=1; break; }
      sleep 0.2
    done
    [ "$routed" = 1 ] || echo "$i $port" >>"$TEST_TMP/late"
    engine POST "/containers/$id/stop?t=0" || echo "$i" >>"$TEST_TMP/failed"
    (( i % 250 == 0 )) && echo "cycle $i/$CYCLES ($(( $(date +%s) - t0 )) s)"
  done
}
cycles() { # FROM TO, in LANES parallel lanes
  local l pids=()
  for ((l = 0; l < LANES; l++)); do lane "$l" "$1" "$2" & pids+=($!); done
  wait "${pids[@]}"
}
t0=$(date +%s)
FIRST=$(( EVERY < CYCLES ? EVERY : CYCLES ))
done_n=0
while (( done_n < CYCLES )); do
  next=$(( done_n + EVERY < CYCLES ? done_n + EVERY : CYCLES ))
  cycles $((done_n + 1)) "$next"
  done_n=$next
  sample "$done_n"
done
elapsed=$(( $(date +%s) - t0 ))

rc=0
late=$(wc -l <"$TEST_TMP/late"); failed=$(wc -l <"$TEST_TMP/failed")
printf '\n%s cycles in %d s (%s not routed within 20 s, %s Engine API calls failed)\n' \
  "$CYCLES" "$elapsed" "$late" "$failed"
printf '| %-9s | %-4s |' daemon what; for n in "${NAMES[@]}"; do printf ' %9s |' "$n"; done; echo ' check |'
for d in agent templater catalog; do
  a=${S[$FIRST,$d,rss]} b=${S[$CYCLES,$d,rss]}
  ok=ok; (( b * 100 <= a * 110 && b * 100 >= a * 90 )) || { ok=FAIL; rc=1; }
  printf '| %-9s | %-4s |' "$d" "RSS"; for n in "${NAMES[@]}"; do printf ' %9s |' "${S[$n,$d,rss]}"; done; echo " $ok |"
  a=${S[$FIRST,$d,fds]} b=${S[$CYCLES,$d,fds]}
  ok=ok; (( b <= a + 2 )) || { ok=FAIL; rc=1; }
  printf '| %-9s | %-4s |' "$d" "fds"; for n in "${NAMES[@]}"; do printf ' %9s |' "${S[$n,$d,fds]}"; done; echo " $ok |"
done
ok=ok; [ "${S[$CYCLES,servers]}" = "${S[start,servers]}" ] || { ok=FAIL; rc=1; }
printf '| %-9s | %-4s |' haproxy srvs; for n in "${NAMES[@]}"; do printf ' %9s |' "${S[$n,servers]}"; done; echo " $ok |"
[ "$late" = 0 ] && [ "$failed" = 0 ] || rc=1
echo "RSS in KiB; check: end RSS within 10% of after $FIRST cycles; fds (fewest of 5 looks): end <= after $FIRST + 2; HAProxy servers (routed, not in maintenance): end = start"
exit $rc
