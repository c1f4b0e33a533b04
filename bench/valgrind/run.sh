#!/usr/bin/env bash
# bench/valgrind/run.sh: portolan-agent and portolan-templater under valgrind (memcheck, full leak
# check) through a whole scenario against the local dockerd, portolan-catalog and HAProxy, all on
# loopback: N containers of the test image (tests/images/build.sh) start, are routed, half of
# them are stopped, more start, all are removed, the catalog is restarted under them; then both
# daemons get SIGTERM. Prints, per daemon, valgrind's error count, invalid reads/writes and
# "definitely lost" bytes, and exits non-zero when any is not zero. Slow (valgrind), so not part
# of scripts/test.sh.
#   BUILD=build bench/valgrind/run.sh          VG_CONTAINERS (default 4)
# Logs: $VG_OUT (default /tmp/portolan-valgrind): agent.vg, templater.vg and the daemons' logs.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/../.." && pwd)
BUILD=${BUILD:-$TOP/build}
OUT=${VG_OUT:-/tmp/portolan-valgrind}
N=${VG_CONTAINERS:-4}
source "$TOP/tests/lib.sh"
rm -rf "$OUT"; mkdir -p "$OUT"
command -v valgrind >/dev/null || { echo "valgrind is not installed (apt-get install valgrind)"; exit 1; }
"$TOP/tests/images/build.sh" >/dev/null || exit 1
IMAGE=portolan-test/web:latest
TAG=vg$$; SVC=$TAG/v1; LABEL=portolan.valgrind=$$
docker network create --label "$LABEL" "$TAG" >/dev/null || exit 1
cleanup_add "docker network rm $TAG"
cleanup_add "docker ps -aq --filter label=$LABEL | xargs -r docker rm -f"

VG=(valgrind --leak-check=full --show-leak-kinds=definite --errors-for-leak-kinds=definite
    --track-origins=no --num-callers=30)
start_catalog || { echo "portolan-catalog did not start"; exit 1; }
CAT=$CATALOG_ADDR
"${VG[@]}" --log-file="$OUT/agent.vg" "$BUILD/portolan-agent" -explicit -cleanup -ip 127.0.0.1 \
  -node-id "$TAG" -resync 2s -consul-poll 1s -retry-attempts -1 -retry-interval 200 \
  "consul://$CAT" >"$OUT/agent.log" 2>&1 &
AGENT=$!; cleanup_add "kill -9 $AGENT"
CFG=$TEST_TMP/haproxy.cfg; LP=$(free_port)
"${VG[@]}" --log-file="$OUT/templater.vg" "$BUILD/portolan-templater" -consul "consul://$CAT" \
  -bind "127.0.0.1:$(free_port)" -config "$CFG" -base "$TOP/haproxy/haproxy.cfg.base" \
  -haproxy-bin "$(command -v haproxy)" -wait 50ms:500ms -consul-wait 5s -listen "127.0.0.1:$LP" \
  >"$OUT/templater.log" 2>&1 &
TPL=$!; cleanup_add "kill -9 $TPL"
cleanup_add 'for p in $(pgrep -f "[h]aproxy .*$CFG"); do kill $p; done'

routed() { curl -s --max-time 5 "http://127.0.0.1:$LP/routes" | jq --arg s "$SVC" '[.routes[] | select(.service == $s) | .servers[]] | length' 2>/dev/null; }
wait_routed() { # count: until the templater routes that many servers (120 s: valgrind is slow)
  local i; for i in $(seq 1 600); do [ "$(routed)" = "$1" ] && return 0; sleep 0.2; done
  echo "timed out waiting for $1 routed servers (have $(routed))"; return 1
}
run() { docker run -d --label "$LABEL" --label SERVICE_NAME="$SVC" --label SERVICE_TAGS=rest \
  --network "$TAG" -p 127.0.0.1::80 "$IMAGE"; }

ids=(); for _ in $(seq 1 "$N"); do ids+=("$(run)"); done
wait_routed "$N" && echo "scenario: $N containers routed"
for i in $(seq 0 $((N / 2 - 1))); do docker stop -t 1 "${ids[$i]}" >/dev/null; done
wait_routed $((N - N / 2)) && echo "scenario: $((N / 2)) stopped"
for _ in 1 2; do run >/dev/null; done
wait_routed $((N - N / 2 + 2)) && echo "scenario: 2 more started"
kill "$CATALOG_PID"; wait "$CATALOG_PID" 2>/dev/null
"$BUILD/portolan-catalog" -listen "$CAT" >>"$OUT/catalog2.log" 2>&1 &
CATALOG_PID=$!; cleanup_add "kill $CATALOG_PID"
wait_http "http://$CAT/v1/status/leader" 20
wait_routed $((N - N / 2 + 2)) && echo "scenario: catalog restarted empty, services back"
docker ps -aq --filter "label=$LABEL" | xargs -r docker rm -f >/dev/null
wait_routed 0 && echo "scenario: all removed"

kill -TERM "$AGENT" "$TPL"
for p in "$AGENT" "$TPL"; do
  for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.2; done
done
rc=0
for d in agent templater; do
  f=$OUT/$d.vg
  errs=$(sed -n 's/.*ERROR SUMMARY: \([0-9]*\) errors.*/\1/p' "$f" | tail -1)
  inv=$(grep -c 'Invalid \(read\|write\)' "$f")
  def=$(sed -n 's/.*definitely lost: \([0-9,]*\) bytes.*/\1/p' "$f" | tail -1 | tr -d ,)
  printf '%-10s errors %s, invalid reads/writes %s, definitely lost %s bytes (%s)\n' \
    "$d" "${errs:-?}" "$inv" "${def:-0}" "$f"
  [ "${errs:-1}" = 0 ] && [ "$inv" = 0 ] && [ "${def:-0}" = 0 ] || rc=1
done
exit $rc
