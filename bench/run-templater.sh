#!/usr/bin/env bash
# bench/run-templater.sh: portolan-templater benchmarks (bench/README.md "## templater" has results).
#   (a) instance registered -> first 200 through HAProxy: runtime API vs a reload per change
#   (b) wrk through HAProxy while instances churn: failed requests must be 0
#   (c) 10,000 services x 5 instances: render time, one change applied, RSS, Consul connections
#   (e) new instance / new path route / new host route / removal -> HAProxy, -routing maps vs acl
#   core: the pure core alone at 10,000 x 5 (full build, render, diff), $BUILD/bench/templater/bench_routes
# Usage: BUILD=/path/to/build bench/run-templater.sh [a] [b] [c] [e] [core]   (default: all)
# Env: ROUTES (e, default 100), CHANGES (a, default 200), CYCLES (b, default 200), SERVICES/INSTANCES (c, 10000/5).
set -euo pipefail
TOP=${TOP:-$(cd "$(dirname "$0")/.." && pwd)}
BUILD=${BUILD:-$TOP/build}
export TOP BUILD
parts=("$@"); [ ${#parts[@]} -eq 0 ] && parts=(core a b c e)
for p in "${parts[@]}"; do
  case $p in
    a) echo "## (a) latency, ${CHANGES:-200} changes"; python3 "$TOP/bench/templater/bench.py" latency "${CHANGES:-200}" ;;
    b) echo "## (b) churn under wrk, ${CYCLES:-200} cycles"; python3 "$TOP/bench/templater/bench.py" churn "${CYCLES:-200}" ;;
    e) echo "## (e) routes, ${ROUTES:-100} of each change"; python3 "$TOP/bench/templater/bench.py" routes "${ROUTES:-100}" ;;
    c) echo "## (c) scale ${SERVICES:-10000} x ${INSTANCES:-5}"; python3 "$TOP/bench/templater/bench.py" scale "${SERVICES:-10000}" "${INSTANCES:-5}" ;;
    core) echo "## core ${SERVICES:-10000} x ${INSTANCES:-5} (best of 5)"; "$BUILD/bench/templater/bench_routes" "${SERVICES:-10000}" "${INSTANCES:-5}" 5 ;;
    *) echo "unknown part $p (a, b, c, e or core)" >&2; exit 2 ;;
  esac
done
