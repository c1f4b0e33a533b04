#!/usr/bin/env bash
# bench/run-catalog.sh: benchmarks portolan-catalog on loopback and prints the figures against
# the targets (bench/README.md, section "catalog"):
#   wake-up latency p50 <= 1 ms (1,000 wakes; also with 150 other queries parked), >= 10,000 registrations/s (1 and 16 clients),
#   RSS <= 32 MB holding 50,000 service instances (DNS enabled); DNS queries/s for a service with
#   50 instances (bench_dns, SRV and A).
# Usage: BUILD=/path/to/build bench/run-catalog.sh   (default BUILD=$TOP/build)
# Builds portolan-catalog and bench/catalog/bench_catalog in $BUILD when missing or stale, starts
# a fresh catalog for the latency+throughput runs and another for the memory run, stops both.
# Exit status: 0 when every run completed (a missed target is reported, not an error).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
WAKES=${WAKES:-1000}
REG_SECONDS=${REG_SECONDS:-3}
INSTANCES=${INSTANCES:-50000}

make -C "$BUILD" -s portolan-catalog bench/catalog/bench_catalog bench/catalog/bench_dns >/dev/null 2>&1 || { echo "build failed"; exit 1; }
BENCH_DNS=$BUILD/bench/catalog/bench_dns
BENCH=$BUILD/bench/catalog/bench_catalog
TMP=$(mktemp -d /tmp/portolan-bench.XXXXXX)
PID=""
stop() { if [ -n "$PID" ]; then kill "$PID" 2>/dev/null; wait "$PID" 2>/dev/null; fi; PID=""; }
trap 'stop; rm -rf "$TMP"' EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
free_udp_port() { python3 -c 'import socket; s=socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
start() {
  local port
  port=$(free_port)
  ADDR=127.0.0.1:$port
  DNSPORT=$(free_udp_port)
  "$BUILD/portolan-catalog" -listen "$ADDR" -dns-listen "127.0.0.1:$DNSPORT" >>"$TMP/catalog.log" 2>&1 &
  PID=$!
  for _ in $(seq 1 100); do curl -s -o /dev/null --max-time 1 "http://$ADDR/v1/status/leader" && return 0; sleep 0.05; done
  echo "catalog did not start"; tail -20 "$TMP/catalog.log"; exit 1
}

rc=0
echo "== portolan-catalog bench ($(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ), $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null))"
start
"$BENCH" -addr "$ADDR" -mode wake -wakes "$WAKES" -bystanders 150 | sed 's/^wake_/wakeby_/' | tee "$TMP/out" || rc=1
"$BENCH" -addr "$ADDR" -mode wake -wakes "$WAKES" | tee -a "$TMP/out" || rc=1
"$BENCH" -addr "$ADDR" -mode reg -clients 1 -reg-seconds "$REG_SECONDS" | tee -a "$TMP/out" || rc=1
sed -i 's/^reg_/reg1_/' "$TMP/out"
"$BENCH" -addr "$ADDR" -mode reg -clients 16 -reg-seconds "$REG_SECONDS" | tee -a "$TMP/out" || rc=1
sed -i 's/^reg_/reg16_/' "$TMP/out"
# DNS: one service with 50 passing instances, answered over UDP (EDNS 1232) by 32 queries in flight
for i in $(seq 1 50); do
  curl -sf -X PUT -d "{\"Name\":\"dnsbench\",\"ID\":\"dnsbench-$i\",\"Address\":\"10.2.0.$i\",\"Port\":$((7000 + i)),\"Check\":{\"TTL\":\"600s\",\"Status\":\"passing\"}}" \
    "http://$ADDR/v1/agent/service/register" -o /dev/null || rc=1
done
"$BENCH_DNS" -port "$DNSPORT" -type SRV -seconds "$REG_SECONDS" | sed 's/^dns_/dnssrv_/' | tee -a "$TMP/out" || rc=1
"$BENCH_DNS" -port "$DNSPORT" -type A -min-answers 50 -seconds "$REG_SECONDS" | sed 's/^dns_/dnsa_/' | tee -a "$TMP/out" || rc=1
stop
start
"$BENCH" -addr "$ADDR" -pid "$PID" -mode rss -instances "$INSTANCES" | tee -a "$TMP/out" || rc=1
# the DNS path used once at that size, then RSS again
"$BENCH_DNS" -port "$DNSPORT" -name mem-0-0.service.consul. -type SRV -seconds 1 >/dev/null || rc=1
echo "rss_after_dns_kb $(awk '/VmRSS/ {print $2}' "/proc/$PID/status")" | tee -a "$TMP/out"
stop

get() { awk -v k="$1" '$1 == k { print $2 }' "$TMP/out"; }
verdict() { # name value op target unit
  local v=$2
  if [ -z "$v" ]; then printf '%-40s %12s   target %s %s %s   NO FIGURE\n' "$1" "-" "$3" "$4" "$5"; return; fi
  if awk -v v="$v" -v t="$4" -v op="$3" 'BEGIN { exit !((op == "<=" && v <= t) || (op == ">=" && v >= t)) }'; then
    printf '%-40s %12s %s   target %s %s   met\n' "$1" "$v" "$5" "$3" "$4"
  else
    printf '%-40s %12s %s   target %s %s   MISSED\n' "$1" "$v" "$5" "$3" "$4"
  fi
}
rss_mb=$(awk -v k="$(get rss_after_kb)" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')
echo "== summary"
verdict "wake-up p50 (PUT sent -> GET answered)" "$(get wake_put_sent_to_get_ms_p50)" "<=" 1 ms
printf '%-40s %12s ms\n' "wake-up p99 (PUT sent -> GET answered)" "$(get wake_put_sent_to_get_ms_p99)"
verdict "wake-up p50, 150 other queries parked" "$(get wakeby_put_sent_to_get_ms_p50)" "<=" 1 ms
printf '%-40s %12s ms\n' "wake-up p99, 150 other queries parked" "$(get wakeby_put_sent_to_get_ms_p99)"
verdict "registrations/s, 1 client" "$(get reg1_per_second)" ">=" 10000 "/s"
verdict "registrations/s, 16 clients" "$(get reg16_per_second)" ">=" 10000 "/s"
verdict "RSS holding $(get rss_instances) instances" "$rss_mb" "<=" 32 MB
verdict "RSS after DNS queries at that size" "$(awk -v k="$(get rss_after_dns_kb)" 'BEGIN { if (k != "") printf "%.1f", k / 1024 }')" "<=" 32 MB
printf '%-40s %12s /s\n' "DNS SRV queries/s, 50 instances" "$(get dnssrv_qps)"
printf '%-40s %12s /s\n' "DNS A queries/s, 50 instances" "$(get dnsa_qps)"
exit $rc
