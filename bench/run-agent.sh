#!/usr/bin/env bash
# bench/run-agent.sh: portolan-agent under a burst of containers.
#
# On a dedicated dockerd (tests/agent/lib-docker.sh) with portolan-catalog and one agent:
#   1. N containers (default 500) created and started in a burst through the Docker API
#      (curl --unix-socket, PAR in parallel), then
#   2. all of them removed (DELETE ?force=1, PAR in parallel).
# Measures, with Docker's own event timestamps (timeNano) and the wall clock on the same host:
#   - last "start" event -> last registration visible in the catalog
#   - last "die" event   -> last deregistration visible in the catalog
#   - the agent's peak RSS (VmHWM), CPU seconds (utime+stime) over the run, and its CPU over
#     IDLE seconds (default 10) afterwards, with nothing happening.
# Targets (issue 3): <= 1 s for 500, RSS <= 8 MB, idle CPU about zero.
#
#   TOP=/work/main BUILD=/path/to/build bench/run-agent.sh [N]
#   env: PAR (parallel API calls, default 8), IDLE (s, default 10), PUBLISH=1 (publish a host
#        port per container on 127.0.0.1 and register that, instead of -internal container IPs)
# Prints one line per figure and a final "RESULT ..." line. Exit status 0 when the run
# completed (targets are reported, not enforced: this is a measurement).
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$TOP/build}
source "$TOP/tests/lib.sh"
source "$TOP/tests/agent/lib-docker.sh"
export LC_ALL=C
N=${1:-500}
PAR=${PAR:-8}
IDLE=${IDLE:-10}
PUBLISH=${PUBLISH:-0}

for b in portolan-agent portolan-catalog; do
  [ -x "$BUILD/$b" ] || { echo "missing $BUILD/$b" >&2; exit 1; }
done

cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
secs() { awk -v t="$1" -v hz="$hz" 'BEGIN { printf "%.2f", t / hz }'; }

PIT_PREFIX=22 pit_dockerd_start bench || { echo "dockerd did not start" >&2; exit 1; }
SOCK=${PIT_SOCK[bench]}
api() { curl -sf --unix-socket "$SOCK" "$@"; }

cport=$(free_port)
pit_catalog_start "$cport" || { echo "catalog did not start" >&2; exit 1; }
flags=(-node-id bench)
[ "$PUBLISH" = 1 ] || flags+=(-internal)
pit_agent_start bench bench -- "${flags[@]}" "consul://127.0.0.1:$cport"
APID=${PIT_AGENT[bench]}
sleep 1
kill -0 "$APID" 2>/dev/null || { echo "agent exited:"; cat "$TEST_TMP/agent-bench.log"; exit 1; }
rss0=$(awk '/VmRSS/ {print $2}' "/proc/$APID/status")

# docker's own timestamps for start/die
evlog=$TEST_TMP/events.jsonl
filters=$(python3 -c 'import urllib.parse,json; print(urllib.parse.quote(json.dumps({"type":["container"],"event":["start","die"]})))')
curl -sN --unix-socket "$SOCK" "http://d/events?filters=$filters" >"$evlog" &
evpid=$!
cleanup_add "kill $evpid"
sleep 0.3

# host ports for PUBLISH=1: N free loopback ports
ports=()
if [ "$PUBLISH" = 1 ]; then
  mapfile -t ports < <(python3 -c '
import socket, sys
n = int(sys.argv[1]); got = []; socks = []
while len(got) < n:
    s = socket.socket(); s.bind(("127.0.0.1", 0)); socks.append(s); got.append(s.getsockname()[1])
print("\n".join(map(str, got)))' "$N")
fi

# one container: create + start through the API; with PUBLISH=1 its host port is line i+1 of $PORTS
create_start() {
  local i=$1 body id p
  if [ "$PUBLISH" = 1 ]; then
    p=$(sed -n "$((i + 1))p" "$PORTS")
    body="{\"Image\":\"portolan-test/web\",\"Env\":[\"SERVICE_NAME=bench\"],\"HostConfig\":{\"PortBindings\":{\"80/tcp\":[{\"HostIp\":\"127.0.0.1\",\"HostPort\":\"$p\"}]}}}"
  else
    body='{"Image":"portolan-test/web","Env":["SERVICE_NAME=bench"]}'
  fi
  # a loaded dockerd sometimes fails a create or start: remove what is left and try again
  for _ in 1 2 3; do
    id=$(curl -sf --unix-socket "$SOCK" -X POST -H 'Content-Type: application/json' -d "$body" \
           "http://d/containers/create?name=bench-$i" | jq -r .Id) &&
      curl -sf --unix-socket "$SOCK" -X POST "http://d/containers/$id/start" >/dev/null && return 0
    curl -sf --unix-socket "$SOCK" -X DELETE "http://d/containers/bench-$i?force=1" -o /dev/null
  done
  echo "container $i failed 3 times" >&2
}
PORTS=$TEST_TMP/ports
printf '%s\n' "${ports[@]}" >"$PORTS"
export -f create_start
export SOCK PUBLISH PORTS

# the watcher first, so it sees the catalog change as it happens
python3 "$TOP/bench/agent/watch-catalog.py" --addr "127.0.0.1:$cport" --service bench --target "$N" \
  --timeout 900 >"$TEST_TMP/up.ns" 2>"$TEST_TMP/up.err" &
wup=$!
cpu0=$(cpu_ticks "$APID")
t0=$(now_ms)
echo "starting $N containers, $PAR in parallel ..."
seq 0 $((N - 1)) | xargs -P "$PAR" -I{} bash -c 'create_start {}'
t1=$(now_ms)
running=$(api "http://d/containers/json" | jq length)
echo "started $running containers in $(( (t1 - t0) / 1000 )).$(( (t1 - t0) % 1000 / 100 )) s"
if [ "$running" -ne "$N" ]; then
  # the watcher waits for N instances that will never all exist: wait for those running instead
  # (the latency then ends no earlier than this moment, so it is reported as an upper bound)
  echo "only $running of $N containers started; registration latency below is an upper bound"
  kill "$wup" 2>/dev/null; wait "$wup" 2>/dev/null
  python3 "$TOP/bench/agent/watch-catalog.py" --addr "127.0.0.1:$cport" --service bench \
    --target "$running" --timeout 900 >"$TEST_TMP/up.ns" 2>"$TEST_TMP/up.err" &
  wup=$!
fi
wait "$wup"; up_rc=$?
up_ns=$(cat "$TEST_TMP/up.ns" 2>/dev/null)
last_start=$(jq -r 'select(.Action == "start") | .timeNano' "$evlog" | sort -n | tail -1)
nstart=$(jq -r 'select(.Action == "start") | .id' "$evlog" | sort -u | wc -l)
rss_up=$(awk '/VmRSS/ {print $2}' "/proc/$APID/status")
anon_up=$(awk '/RssAnon/ {print $2}' "/proc/$APID/status")

python3 "$TOP/bench/agent/watch-catalog.py" --addr "127.0.0.1:$cport" --service bench --target 0 \
  --timeout 900 >"$TEST_TMP/down.ns" 2>"$TEST_TMP/down.err" &
wdown=$!
t2=$(now_ms)
echo "removing them, $PAR in parallel ..."
api "http://d/containers/json?all=1" | jq -r '.[].Id' |
  xargs -P "$PAR" -I{} curl -sf --unix-socket "$SOCK" -X DELETE "http://d/containers/{}?force=1" -o /dev/null
t3=$(now_ms)
echo "removed in $(( (t3 - t2) / 1000 )).$(( (t3 - t2) % 1000 / 100 )) s"
wait "$wdown"; down_rc=$?
down_ns=$(cat "$TEST_TMP/down.ns" 2>/dev/null)
last_die=$(jq -r 'select(.Action == "die") | .timeNano' "$evlog" | sort -n | tail -1)
cpu1=$(cpu_ticks "$APID")
sleep "$IDLE"
cpu2=$(cpu_ticks "$APID")
hwm=$(awk '/VmHWM/ {print $2}' "/proc/$APID/status")
file_end=$(awk '/RssFile/ {print $2}' "/proc/$APID/status")
alive=yes; kill -0 "$APID" 2>/dev/null || alive=no

ms() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (a - b) / 1e6 }'; }
reg_ms=NA; dereg_ms=NA
[ "$up_rc" = 0 ] && [ -n "$up_ns" ] && [ -n "$last_start" ] && reg_ms=$(ms "$up_ns" "$last_start")
[ "$down_rc" = 0 ] && [ -n "$down_ns" ] && [ -n "$last_die" ] && dereg_ms=$(ms "$down_ns" "$last_die")
[ "$up_rc" = 0 ] || echo "registrations never complete: $(cat "$TEST_TMP/up.err")"
[ "$down_rc" = 0 ] || echo "deregistrations never complete: $(cat "$TEST_TMP/down.err")"
echo "containers:                         $N requested, $nstart start events"
echo "last start -> last registration:    ${reg_ms} ms"
echo "last die   -> last deregistration:  ${dereg_ms} ms"
echo "agent RSS: start ${rss0} kB, with $N containers ${rss_up} kB, peak (VmHWM) ${hwm} kB"
echo "  of which private (RssAnon) with $N containers ${anon_up} kB; shared libraries (RssFile) ${file_end} kB"
echo "agent CPU over the run:             $(secs $((cpu1 - cpu0))) s"
echo "agent CPU idle over ${IDLE} s:            $(secs $((cpu2 - cpu1))) s"
echo "agent still running:                $alive"
echo "RESULT n=$N reg_ms=$reg_ms dereg_ms=$dereg_ms peak_rss_kb=$hwm anon_kb=$anon_up cpu_s=$(secs $((cpu1 - cpu0))) idle_cpu_s=$(secs $((cpu2 - cpu1))) publish=$PUBLISH par=$PAR"
pit_agent_stop bench KILL
