#!/usr/bin/env bash
# bench/run-catalog-wal.sh: portolan-catalog with -data-dir (the write-ahead log), on loopback,
# against the targets of issue 13 (bench/README.md, section "catalog: durable writes"):
#   durable registrations/s, 16 clients, on an empty catalog and at 50,000 instances (>= 5,000/s);
#   time to register 50,000 instances durably and the RSS afterwards (<= 48 MB);
#   restart time with those 50,000 instances (and the runs above) in the log.
# The DNS queries/s and the memory-mode RSS with DNS at 50,000 instances are bench/run-catalog.sh's.
# Usage: BUILD=/path/to/build bench/run-catalog-wal.sh   (DATA=/dir to put the data dir elsewhere;
# default a fresh dir under /tmp, on this machine's disk: fsync goes to it)
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
REG_SECONDS=${REG_SECONDS:-3}
INSTANCES=${INSTANCES:-50000}
make -C "$BUILD" -s portolan-catalog bench/catalog/bench_catalog >/dev/null 2>&1 || { echo "build failed"; exit 1; }
BENCH=$BUILD/bench/catalog/bench_catalog
TMP=$(mktemp -d /tmp/pt-wal-bench.XXXXXX)
DATA=${DATA:-$TMP/data}
mkdir -p "$DATA"
PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi; PID=""; }
trap 'stop; rm -rf "$TMP"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
PORT=$(free_port)
ADDR=127.0.0.1:$PORT
start() { # -> seconds until the API answers, in STARTUP
  local t0; t0=$(date +%s%N)
  "$BUILD/portolan-catalog" -listen "$ADDR" -dns-listen off -data-dir "$DATA" >>"$TMP/catalog.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 6000); do
    if curl -s -o /dev/null --max-time 1 "http://$ADDR/v1/status/leader"; then
      STARTUP=$(awk -v n="$(( $(date +%s%N) - t0 ))" 'BEGIN { printf "%.2f", n / 1e9 }'); return 0
    fi
    sleep 0.02
  done
  echo "catalog did not start"; tail -20 "$TMP/catalog.log"; exit 1
}
cpu() { awk -v t="$(getconf CLK_TCK)" '{ printf "%.2f", ($14 + $15) / t }' "/proc/$PID/stat"; }   # user+sys s of the catalog
# group commit as the catalog counts it (/v1/agent/self Stats.wal): "commits records sync_us_total"
walstat() { curl -sf "http://$ADDR/v1/agent/self" | jq -r '.Stats.wal | "\(.commits) \(.records) \(.sync_us_total)"'; }
# measured NAME CMD...: runs a bench step and prints, under NAME_, the catalog's CPU per write,
# the fsyncs (commits) it took, records per fsync and the mean time of one write + fdatasync
measured() {
  local name=$1; shift
  local c0 w0 c1 w1 n
  c0=$(cpu); w0=$(walstat)
  "$@" | sed "s/^reg_/${name}_/" | tee -a "$TMP/out"
  local st=${PIPESTATUS[0]}
  c1=$(cpu); w1=$(walstat)
  n=$(awk -v k="${name}_total" '$1 == k { print $2 }' "$TMP/out" | tail -1)
  [ -z "$n" ] && n=$(awk '$1 == "rss_instances" { print $2 }' "$TMP/out" | tail -1)
  awk -v n="$n" -v c0="$c0" -v c1="$c1" -v w0="$w0" -v w1="$w1" -v p="$name" 'BEGIN {
    split(w0, a, " "); split(w1, b, " "); commits = b[1] - a[1]; recs = b[2] - a[2]; us = b[3] - a[3]
    printf "%s_cpu_seconds %.2f\n", p, c1 - c0
    if (n > 0) printf "%s_cpu_us_per_write %.1f\n", p, (c1 - c0) * 1e6 / n
    printf "%s_fsyncs %d\n%s_records %d\n", p, commits, p, recs
    if (commits > 0) printf "%s_records_per_fsync %.1f\n%s_sync_ms_mean %.2f\n", p, recs / commits, p, us / commits / 1000
  }' | tee -a "$TMP/out"
  return "$st"
}
rc=0
echo "load average: $(cut -d' ' -f1-3 /proc/loadavg) (other helpers share the machine: wall-clock figures below are stretched; CPU seconds are the catalog's own)"
echo "== portolan-catalog durable bench ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null), data dir on $(df -P "$DATA" | awk 'NR==2 {print $1}'))"
: >"$TMP/out"
start
measured reg0 "$BENCH" -addr "$ADDR" -mode reg -clients 16 -reg-seconds "$REG_SECONDS" || rc=1
measured reg0one "$BENCH" -addr "$ADDR" -mode reg -clients 1 -reg-seconds "$REG_SECONDS" || rc=1
stop
rm -rf "$DATA" && mkdir -p "$DATA"
start
measured load "$BENCH" -addr "$ADDR" -pid "$PID" -mode rss -instances "$INSTANCES" || rc=1
measured regfull "$BENCH" -addr "$ADDR" -mode reg -clients 16 -reg-seconds "$REG_SECONDS" || rc=1
echo "rss_after_reg_kb $(awk '/VmRSS/ {print $2}' "/proc/$PID/status")" | tee -a "$TMP/out"
n_before=$(curl -sf "http://$ADDR/v1/agent/services" | jq length)
# the log's records (the file is preallocated: zeros after them, in 1 MiB steps)
echo "log_bytes $(curl -sf "http://$ADDR/v1/agent/self" | jq -r .Stats.wal.log_bytes)" | tee -a "$TMP/out"
kill -9 "$PID"; wait "$PID" 2>/dev/null; PID=""
echo "log_file_bytes $(cat "$DATA"/wal-*.log | wc -c)" | tee -a "$TMP/out"
echo "snapshot_bytes $(stat -c %s "$DATA/snapshot.json")" | tee -a "$TMP/out"
start
# RSS first: rendering 50,000 services for the count below costs far more than holding them
echo "restart_seconds $STARTUP" | tee -a "$TMP/out"
echo "restart_cpu_seconds $(cpu)" | tee -a "$TMP/out"
echo "restart_rss_kb $(awk '/VmRSS/ {print $2}' "/proc/$PID/status")" | tee -a "$TMP/out"
n_after=$(curl -sf "http://$ADDR/v1/agent/services" | jq length)
echo "restart_instances $n_after (before kill -9: $n_before)" | tee -a "$TMP/out"
[ "$n_after" = "$n_before" ] || { echo "restart lost instances"; rc=1; }
stop
get() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/out"; }
verdict() { # name value op target unit
  local v=$2
  if [ -z "$v" ]; then printf '%-48s %12s   target %s %s %s   NO FIGURE\n' "$1" "-" "$3" "$4" "$5"; return; fi
  if awk -v v="$v" -v t="$4" -v op="$3" 'BEGIN { exit !((op == "<=" && v <= t) || (op == ">=" && v >= t)) }'; then
    printf '%-48s %12s %s   target %s %s   met\n' "$1" "$v" "$5" "$3" "$4"
  else
    printf '%-48s %12s %s   target %s %s   MISSED\n' "$1" "$v" "$5" "$3" "$4"
  fi
}
group() { # name: the group commit of one step
  printf '%-48s %12s   (%s fsyncs, %s records per fsync, write+fdatasync %s ms mean; catalog CPU %s us per write)\n' \
    "$1" "" "$(get "$1_fsyncs")" "$(get "$1_records_per_fsync")" "$(get "$1_sync_ms_mean")" "$(get "$1_cpu_us_per_write")"
}
echo "== summary (durable: -data-dir; load average now $(cut -d' ' -f1-3 /proc/loadavg))"
verdict "durable registrations/s, 16 clients, empty" "$(get reg0_per_second)" ">=" 5000 "/s"
group reg0
printf '%-48s %12s /s\n' "durable registrations/s, 1 client, empty" "$(get reg0one_per_second)"
group reg0one
verdict "durable registrations/s, 16 clients, at $(get rss_instances)" "$(get regfull_per_second)" ">=" 5000 "/s"
group regfull
printf '%-48s %12s s (catalog CPU %s s)\n' "time to register $(get rss_instances) instances durably" "$(get rss_load_seconds)" "$(get load_cpu_seconds)"
group load
verdict "RSS after registering them" "$(awk -v k="$(get rss_after_kb)" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" "<=" 48 MB
printf '%-48s %12s s (catalog CPU %s s)\n' "restart (kill -9) to first answer, log $(get log_bytes) B" "$(get restart_seconds)" "$(get restart_cpu_seconds)"
printf '%-48s %12s MB\n' "RSS after the restart" "$(awk -v k="$(get restart_rss_kb)" 'BEGIN { printf "%.1f", k / 1024 }')"
exit $rc
