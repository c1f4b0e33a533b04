#!/usr/bin/env bash
# scripts/test.sh: the one test command. Installs what is missing, builds, starts what the
# suites need (dockerd; each suite starts its own catalog and HAProxy), runs every suite and
# ends with one line "N passed, N failed". Exit status is non-zero when anything failed.
#
#   scripts/test.sh              every suite
#   scripts/test.sh unit agent   only the named suites (directories under tests/)
#
# A suite is tests/<name>/run.sh printing TAP ("ok N - ...", "not ok N - ..."); unit tests are
# the cmocka programs built by "make check". Logs: build/test-logs/<suite>.log.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP"
BUILD=${BUILD:-$TOP/build}
export TOP BUILD
LOGS="$BUILD/test-logs"
mkdir -p "$LOGS"

"$TOP/scripts/deps.sh" || { echo "deps: install failed"; echo "0 passed, 1 failed"; exit 1; }

echo "== build (out of tree, in $BUILD)"
"$TOP/scripts/build.sh" "$BUILD" || { echo "0 passed, 1 failed"; exit 1; }

# dockerd: use a running engine, or start one for the run and stop it at the end
DOCKERD_PID=""
start_dockerd() {
  if docker version >/dev/null 2>&1; then return 0; fi
  echo "== starting dockerd"
  dockerd >"$LOGS/dockerd.log" 2>&1 &
  DOCKERD_PID=$!
  for _ in $(seq 1 100); do docker version >/dev/null 2>&1 && return 0; sleep 0.2; done
  echo "dockerd did not start; see $LOGS/dockerd.log"
  return 1
}
stop_dockerd() {
  if [ -n "$DOCKERD_PID" ]; then
    kill "$DOCKERD_PID" 2>/dev/null; wait "$DOCKERD_PID" 2>/dev/null
  fi
}
trap stop_dockerd EXIT

passed=0; failed=0; skipped=0

count_tap() { # suite-name logfile exit-status
  local name=$1 log=$2 rc=$3 p f s
  p=$(grep -cE '^ok [0-9]+' "$log" | head -1); s=$(grep -cE '^ok [0-9]+.*# (SKIP|skip)' "$log")
  f=$(grep -cE '^not ok [0-9]+' "$log")
  p=$((p - s))
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name exited $rc without a failing test"; fi
  if [ $((p + f + s)) -eq 0 ]; then f=1; echo "not ok - $name ran no test"; fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  printf '%-14s %4d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
}

run_unit() {
  local log="$LOGS/unit.log" rc=0 t
  : >"$log"
  for t in "$BUILD"/tests/unit/test_*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    CMOCKA_MESSAGE_OUTPUT=TAP "$t" >>"$log" 2>&1 || rc=1
  done
  grep -E '^not ok' "$log" | head -20
  count_tap unit "$log" "$rc"
}

run_suite() {
  local name=$1 log="$LOGS/$1.log" rc
  timeout --kill-after=10 "${SUITE_TIMEOUT:-900}" bash "tests/$name/run.sh" >"$log" 2>&1
  rc=$?
  grep -E '^not ok' "$log" | head -20
  count_tap "$name" "$log" "$rc"
}

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
  suites=(unit)
  for d in tests/*/run.sh; do [ -f "$d" ] && suites+=("$(basename "$(dirname "$d")")"); done
fi

need_docker=0
for s in "${suites[@]}"; do grep -qs 'needs: docker' "tests/$s/run.sh" && need_docker=1; done
if [ $need_docker -eq 1 ]; then start_dockerd || failed=$((failed + 1)); fi

for s in "${suites[@]}"; do
  echo "== suite $s"
  if [ "$s" = unit ]; then run_unit; else run_suite "$s"; fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
