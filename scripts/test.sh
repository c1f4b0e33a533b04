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
#
# Sanitizer suites: "asan:<suite>" runs <suite> against a second build configured
# --enable-sanitizers (ASan+UBSan) in $BUILD_ASAN (default <build>-asan). A full run appends
# asan:<s> for every s in SAN_SUITES (below; SAN_SUITES="" leaves them out). Every sanitizer
# report (ASan error, leak at exit, UBSan runtime error) from any process of such a suite is
# written under test-logs/asan-reports/<suite>/ and fails the suite, whatever its TAP says.
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
cd "$TOP" || exit 1
BUILD=${BUILD:-$TOP/build}
export TOP BUILD
LOGS="$BUILD/test-logs"
mkdir -p "$LOGS"

"$TOP/scripts/deps.sh" || { echo "deps: install failed"; echo "0 passed, 1 failed"; exit 1; }

echo "== build (out of tree, in $BUILD)"
"$TOP/scripts/build.sh" "$BUILD" || { echo "0 passed, 1 failed"; exit 1; }

# the suites that also run against the sanitizer build in a full run. template is left out: its
# differential test renders ~1,800 templates in fresh processes, which under ASan alone costs more
# than the rest of the run; the template engine runs under ASan in the fuzz suite (fuzz_template)
# instead. SAN_SUITES="... template" puts it back.
SAN_SUITES=${SAN_SUITES-unit catalog catalog-http templater clients agent}
BUILD_ASAN=${BUILD_ASAN:-$BUILD-asan}

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
  # a skip is neither a pass nor a failure; cmocka writes its skips as "not ok N # SKIP"
  p=$(grep -E '^ok [0-9]+' "$log" | grep -cvE '# (SKIP|skip)')
  s=$(grep -cE '^(not )?ok [0-9]+.*# (SKIP|skip)' "$log")
  f=$(grep -E '^not ok [0-9]+' "$log" | grep -cvE '# (SKIP|skip)')
  if [ "$rc" -ne 0 ] && [ "$f" -eq 0 ]; then f=1; echo "not ok - $name exited $rc without a failing test"; fi
  if [ $((p + f + s)) -eq 0 ]; then f=1; echo "not ok - $name ran no test"; fi
  passed=$((passed + p)); failed=$((failed + f)); skipped=$((skipped + s))
  printf '%-14s %4d passed, %d failed, %d skipped\n' "$name" "$p" "$f" "$s"
}

run_unit() { # [label]: the cmocka programs of $BUILD
  local label=${1:-unit} log="$LOGS/${1:-unit}.log" rc=0 t
  : >"$log"
  for t in "$BUILD"/tests/unit/test_*; do
    [ -x "$t" ] && [ -f "$t" ] || continue
    CMOCKA_MESSAGE_OUTPUT=TAP "$t" >>"$log" 2>&1 || rc=1
  done
  grep -E '^not ok' "$log" | head -20
  count_tap "$label" "$log" "$rc"
}

run_suite() { # name [label]
  local name=$1 label=${2:-$1} log="$LOGS/${2:-$1}.log" rc
  timeout --kill-after=10 "${SUITE_TIMEOUT:-900}" bash "tests/$name/run.sh" >"$log" 2>&1
  rc=$?
  grep -E '^not ok' "$log" | head -20
  count_tap "$label" "$log" "$rc"
}

# run_san SUITE: SUITE against the sanitizer build; each report is a file under $reports
# (log_path), so a report from a daemon a test started and killed still fails the suite
run_san() {
  local name=$1 label=asan-$1 reports="$LOGS/asan-reports/$1" r n
  rm -rf "$reports"; mkdir -p "$reports"
  (
    export BUILD=$BUILD_ASAN
    export ASAN_OPTIONS="log_path=$reports/asan:detect_leaks=1:abort_on_error=0:${ASAN_EXTRA_OPTIONS:-}"
    export UBSAN_OPTIONS="log_path=$reports/ubsan:print_stacktrace=1"
    export LSAN_OPTIONS="suppressions=$TOP/tests/lsan.supp:print_suppressions=0"
    # the suites' own time bounds were set for the plain build; ASan is ~2-3x slower
    export SUITE_TIMEOUT=$(( ${SUITE_TIMEOUT:-900} * 2 ))
    if [ "$name" = unit ]; then run_unit "$label"; else run_suite "$name" "$label"; fi
    echo "$passed $failed $skipped" >"$reports.counts"
  )
  read -r passed failed skipped <"$reports.counts"; rm -f "$reports.counts"
  n=0
  for r in "$reports"/*; do
    [ -f "$r" ] || continue
    n=$((n + 1))
    echo "not ok - $label: sanitizer report $r"; sed -n '1,12p' "$r" | sed 's/^/#   /'
  done
  [ "$n" -eq 0 ] || failed=$((failed + 1))
}

suites=("$@")
if [ ${#suites[@]} -eq 0 ]; then
  suites=(unit)
  for d in tests/*/run.sh; do [ -f "$d" ] && suites+=("$(basename "$(dirname "$d")")"); done
  for s in $SAN_SUITES; do suites+=("asan:$s"); done
fi

need_docker=0; need_asan=0
for s in "${suites[@]}"; do
  grep -qs 'needs: docker' "tests/${s#asan:}/run.sh" && need_docker=1
  [ "${s#asan:}" != "$s" ] && need_asan=1
done
if [ $need_asan -eq 1 ]; then
  echo "== sanitizer build (ASan+UBSan, in $BUILD_ASAN)"
  PORTOLAN_SANITIZERS=1 "$TOP/scripts/build.sh" "$BUILD_ASAN" || { echo "not ok - sanitizer build"; failed=$((failed + 1)); need_asan=2; }
fi
if [ $need_docker -eq 1 ]; then start_dockerd || failed=$((failed + 1)); fi

for s in "${suites[@]}"; do
  echo "== suite $s"
  if [ "${s#asan:}" != "$s" ]; then
    [ $need_asan -eq 1 ] && run_san "${s#asan:}"
  elif [ "$s" = unit ]; then run_unit; else run_suite "$s"; fi
done

echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
