#!/usr/bin/env bash
# bench/catalog-wal-ab.sh: durable registrations/s of two or more portolan-catalog binaries,
# run in turns on the same disk, so the fsync latency of the moment (which on a shared disk
# moves several-fold within minutes) falls on all of them alike (bench/README.md, "catalog:
# durable writes"). For each binary and round: 16 clients for REG_SECONDS on an empty data dir;
# then INSTANCES registered, the catalog restarted on that data dir (replaying its log), and 16
# clients again. Group commit is read from the line every catalog logs at a graceful stop
# ("N commits (fsyncs) of M records"), so binaries from before /v1/agent/self's Stats.wal count
# too; CPU is the catalog's user+sys from /proc/<pid>/stat.
# Usage: bench/catalog-wal-ab.sh BENCH_CATALOG CATALOG... (ROUNDS=2 REG_SECONDS=3 INSTANCES=50000)
set -uo pipefail
[ $# -ge 2 ] || { echo "usage: $0 bench_catalog catalog..." >&2; exit 2; }
BENCH=$1; shift
ROUNDS=${ROUNDS:-2}
REG_SECONDS=${REG_SECONDS:-3}
INSTANCES=${INSTANCES:-50000}
TMP=$(mktemp -d /tmp/pt-wal-ab.XXXXXX)
D=$TMP/data
PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi; PID=""; }
trap 'stop; rm -rf "$TMP"' EXIT
PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
ADDR=127.0.0.1:$PORT
start() { # catalog
  "$1" -listen "$ADDR" -dns-listen off -data-dir "$D" >>"$TMP/catalog.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 6000); do curl -s -o /dev/null --max-time 1 "http://$ADDR/v1/status/leader" && return 0; sleep 0.02; done
  echo "catalog did not start"; exit 1
}
cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$PID/stat"; }
reg() { # catalog label: one 16-client run on the running catalog, stopped after it
  local c0 n rate c1 line
  c0=$(cpu)
  read -r n rate < <("$BENCH" -addr "$ADDR" -mode reg -clients 16 -reg-seconds "$REG_SECONDS" |
    awk '$1 == "reg_total" { n = $2 } $1 == "reg_per_second" { r = $2 } END { print n, r }')
  c1=$(cpu)
  : >"$TMP/catalog.log"
  stop
  line=$(grep -o '[0-9]* commits (fsyncs) of [0-9]* records' "$TMP/catalog.log" | tail -1)
  awk -v l="$2" -v n="$n" -v r="$rate" -v c="$(awk -v a="$c0" -v b="$c1" 'BEGIN { print b - a }')" -v g="$line" \
    'BEGIN { split(g, w, " "); printf "  %-8s %7s reg/s  %5.1f records/fsync  %5.1f us CPU/write\n", l, r, \
             w[1] ? w[5] / w[1] : 0, n ? c * 1e6 / n : 0 }'
}
for r in $(seq 1 "$ROUNDS"); do
  for cat in "$@"; do
    echo "== round $r: $cat (load average $(cut -d' ' -f1-3 /proc/loadavg))"
    rm -rf "$D"; mkdir -p "$D"
    start "$cat"; reg "$cat" empty
    rm -rf "$D"; mkdir -p "$D"
    start "$cat"
    "$BENCH" -addr "$ADDR" -pid "$PID" -mode rss -instances "$INSTANCES" | awk '$1 == "rss_load_seconds" { printf "  load %s instances: %s s\n", n, $2 }' n="$INSTANCES"
    stop; start "$cat"; reg "$cat" "at$((INSTANCES / 1000))k"
  done
done
