#!/usr/bin/env bash
# bench/e2e/run.sh: the data-plane benchmarks of issue 10 on the whole stack (bench/README.md "## e2e").
#   latency  Docker start/die event -> HAProxy (bench/e2e/e2e.py): (a) new instance, (b) new path
#            route, (c) new host route, (d) removal; -routing maps and acl in the same run, with the
#            reloads the HAProxy master counted. Real dockerd, agent, catalog, templater, HAProxy.
#   wrk      wrk through HAProxy while 1,000 routes are added and removed; latency with 10 vs
#            10,000 routes (bench/e2e/dataplane.py)
#   scale    10,000 services x 5 instances: one change with and without checks, RSS, connections
#            to Consul (bench/templater/bench.py scale)
# Usage: BUILD=$PWD/build bench/e2e/run.sh [latency] [wrk] [scale]   (default: all three)
# Env: COUNT (latency rounds per change and mode, 100), MODES ("maps acl"), WAIT (50ms:500ms),
#      PARALLEL=1 (latency: the modes at the same time, one process each, instead of one after the other),
#      ROUTES (wrk: routes added and removed, 1000), BIG (wrk: the large route count, 10000),
#      SERVICES/INSTANCES (scale, 10000/5). Needs: dockerd, haproxy, wrk, socat, python3.
set -euo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
BUILD=${BUILD:-$TOP/build}
export TOP BUILD
for b in portolan-catalog portolan-agent portolan-templater; do
  [ -x "$BUILD/$b" ] || { echo "run.sh: $BUILD/$b is not built (scripts/build.sh)" >&2; exit 1; }
done
parts=("$@"); [ ${#parts[@]} -eq 0 ] && parts=(latency wrk scale)
echo "# $(date -u +%FT%TZ) $(git -C "$TOP" rev-parse --short HEAD 2>/dev/null) load: $(cut -d' ' -f1-3 /proc/loadavg)"
for p in "${parts[@]}"; do
  case $p in
    latency) "$TOP/tests/images/build.sh" >/dev/null
             echo "## latency, ${COUNT:-100} rounds, modes ${MODES:-maps acl}, parallel=${PARALLEL:-0}"
             if [ "${PARALLEL:-0}" = 1 ]; then
               # one process per mode at the same time: both see the same machine load
               out=$(mktemp /tmp/pt-e2e-out.XXXXXX); pids=()
               for m in ${MODES:-maps acl}; do MODES=$m python3 "$TOP/bench/e2e/e2e.py" >>"$out" & pids+=($!); done
               trap 'kill "${pids[@]}" 2>/dev/null; rm -f "$out"' EXIT
               rc=0; for pid in "${pids[@]}"; do wait "$pid" || rc=1; done
               cat "$out"; python3 "$TOP/bench/e2e/e2e.py" --ratios <"$out"; rm -f "$out"; trap - EXIT
               [ $rc = 0 ] || exit 1
             else
               python3 "$TOP/bench/e2e/e2e.py"
             fi ;;
    wrk)     echo "## wrk, ${ROUTES:-1000} routes churned, ${BIG:-10000} vs 10 routes"; python3 "$TOP/bench/e2e/dataplane.py" ;;
    scale)   echo "## scale ${SERVICES:-10000} x ${INSTANCES:-5}"
             python3 "$TOP/bench/templater/bench.py" scale "${SERVICES:-10000}" "${INSTANCES:-5}" ;;
    *) echo "unknown part $p (latency, wrk or scale)" >&2; exit 2 ;;
  esac
  echo "# after $p: load $(cut -d' ' -f1-3 /proc/loadavg)"
done
