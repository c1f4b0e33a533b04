#!/usr/bin/env bash
# bench/soak/run.sh: container start/stop cycles through the whole stack (tests/stack.sh:
# portolan-catalog with -data-dir, portolan-agent, portolan-templater + HAProxy, the local dockerd,
# containers of the local test image on a docker network and label of their own), to show that
# nothing grows with churn. SOAK_BASE (default 2) containers run the whole time; SOAK_POOL
# (default 8) more are created once and cycled by SOAK_LANES (default 4) parallel lanes, each on
# pool containers of its own (so up to LANES are being routed at once): each cycle starts one (Engine API
# POST /containers/{id}/start), waits until HAProxy routes it (runtime API `show servers state`;
# a wait that runs out after 20 s is counted, not fatal), and stops it (POST .../stop?t=0).
# Each start gets a new host port, so every cycle is a new instance for the agent, the catalog
# and the templater. Samples VmRSS and open fds of the agent, templater and catalog once the
# stack is up, after the first 10% of the cycles and at the end (each time once the routes equal
# the running containers again), and HAProxy's routed server count; prints a table and checks:
# end RSS within 10% of the RSS after 10%, fds at the end not above those after 10%, HAProxy's
# server count back to the start. Exits non-zero when a check fails. Not part of scripts/test.sh.
#   BUILD=build SOAK_CYCLES=10000 bench/soak/run.sh      (SOAK_CYCLES default 10000)
#   SOAK_LOGS=DIR  keep the daemons' logs there
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
CYCLES=${SOAK_CYCLES:-10000}
BASE=${SOAK_BASE:-2}
POOL=${SOAK_POOL:-8}
LANES=${SOAK_LANES:-4}
source "$TOP/tests/lib.sh"
source "$TOP/tests/stack.sh"
STACK_NAME=soak
CONSUL_WAIT=30s
stack_setup || exit 1
[ -n "${SOAK_LOGS:-}" ] && mkdir -p "$SOAK_LOGS" && cleanup_add "cp $TEST_TMP/*.log $SOAK_LOGS/"
DOCKER_SOCK=${DOCKER_SOCK:-/var/run/docker.sock}
engine() { # METHOD PATH: an Engine API call, fails unless 2xx/304
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 30 --unix-socket "$DOCKER_SOCK" \
    -X "$1" "http://docker$2")
  [[ $code == 2* || $code == 304 ]]
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
sample() { # NAME: once the routes equal the running containers again
  wait_converged 60 >/dev/null || echo "warning: routes did not converge before sample $1"
  sleep 1
  local d p
  for d in agent templater catalog; do
    case $d in agent) p=$AGENT_PID ;; templater) p=$TEMPLATER_PID ;; catalog) p=$CATALOG_PID ;; esac
    S[$1,$d,rss]=$(rss "$p"); S[$1,$d,fds]=$(fds_min "$p")
  done
  S[$1,servers]=$(servers_routed)
  S[$1,at]=$(date -u +%H:%M:%S)
}
sample start
P10=$(( CYCLES / 10 > 0 ? CYCLES / 10 : 1 ))
LANES=$(( LANES > POOL ? POOL : LANES ))
: >"$TEST_TMP/late"; : >"$TEST_TMP/failed"
# lane L FROM TO: cycles FROM..TO whose number is L modulo LANES, on pool containers of its own
lane() {
  local l=$1 i id port routed
  for ((i = $2; i <= $3; i++)); do
    (( i % LANES == l )) || continue
    id=${pool[$(( (i / LANES) % (POOL / LANES) * LANES + l ))]}
    if ! engine POST "/containers/$id/start"; then echo "$i" >>"$TEST_TMP/failed"; continue; fi
    port=$(docker port "$id" 80/tcp | head -1)
    routed=0
    for _ in $(seq 1 1000); do
      haproxy_view | grep -qxF "$port" && { routed=1; break; }
      sleep 0.02
    done
    [ "$routed" = 1 ] || echo "$i" >>"$TEST_TMP/late"
    engine POST "/containers/$id/stop?t=0" || echo "$i" >>"$TEST_TMP/failed"
    (( i % 100 == 0 )) && echo "cycle $i/$CYCLES ($(( $(date +%s) - t0 )) s)"
  done
}
cycles() { # FROM TO, in LANES parallel lanes
  local l pids=()
  for ((l = 0; l < LANES; l++)); do lane "$l" "$1" "$2" & pids+=($!); done
  wait "${pids[@]}"
}
t0=$(date +%s)
cycles 1 "$P10"
sample p10
cycles $((P10 + 1)) "$CYCLES"
sample end
elapsed=$(( $(date +%s) - t0 ))

rc=0
late=$(wc -l <"$TEST_TMP/late"); failed=$(wc -l <"$TEST_TMP/failed")
printf '\n%s cycles in %d s (%s not routed within 20 s, %s Engine API calls failed)\n' \
  "$CYCLES" "$elapsed" "$late" "$failed"
printf '| %-9s | %-4s | %12s | %12s | %12s | %-6s |\n' daemon what start "after $P10" "end ($CYCLES)" check
echo "|-----------|------|-------------:|-------------:|-------------:|--------|"
for d in agent templater catalog; do
  a=${S[p10,$d,rss]} b=${S[end,$d,rss]}
  ok=ok; (( b * 100 <= a * 110 && b * 100 >= a * 90 )) || { ok=FAIL; rc=1; }
  printf '| %-9s | %-4s | %9s KiB | %9s KiB | %9s KiB | %-6s |\n' "$d" RSS "${S[start,$d,rss]}" "$a" "$b" "$ok"
  a=${S[p10,$d,fds]} b=${S[end,$d,fds]}
  ok=ok; (( b <= a + 2 )) || { ok=FAIL; rc=1; }
  printf '| %-9s | %-4s | %12s | %12s | %12s | %-6s |\n' "$d" fds "${S[start,$d,fds]}" "$a" "$b" "$ok"
done
ok=ok; [ "${S[end,servers]}" = "${S[start,servers]}" ] || { ok=FAIL; rc=1; }
printf '| %-9s | %-4s | %12s | %12s | %12s | %-6s |\n' haproxy srvs "${S[start,servers]}" "${S[p10,servers]}" "${S[end,servers]}" "$ok"
[ "$late" = 0 ] && [ "$failed" = 0 ] || rc=1
echo "samples at ${S[start,at]}, ${S[p10,at]}, ${S[end,at]} UTC; RSS check: end within 10% of after $P10; fds (fewest of 5 looks): end <= after $P10 + 2; HAProxy servers (routed, not in maintenance): end = start"
exit $rc
