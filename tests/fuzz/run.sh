#!/usr/bin/env bash
# tests/fuzz/run.sh: builds the libFuzzer targets (scripts/fuzz.sh, clang with ASan+UBSan) and
# runs each for a bounded time (FUZZ_SECONDS, default 30 here: six targets in CI) on its corpus.
# TAP: one line for the build, one per target (a crash, leak, sanitizer report or timeout is
# "not ok", with the artifact path in the diagnostics).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
export BUILD FUZZ_SECONDS=${FUZZ_SECONDS:-30}

if ! command -v clang >/dev/null; then
  not_ok "clang is installed (needed for libFuzzer)"
  done_testing
  exit 1
fi
if BUILD=$BUILD "$TOP/scripts/fuzz.sh" build >"$TEST_TMP/build.log" 2>&1; then
  ok "fuzz targets build with -fsanitize=fuzzer,address,undefined"
else
  not_ok "fuzz targets build with -fsanitize=fuzzer,address,undefined"
  tail -30 "$TEST_TMP/build.log" | sed 's/^/# /'
  done_testing
  exit 1
fi
for t in "$TOP"/tests/fuzz/fuzz_*.c; do
  name=$(basename "$t" .c)
  # scripts/fuzz.sh runs just this target (FUZZ_ONLY); the build above is reused
  if FUZZ_ONLY=$name BUILD=$BUILD "$TOP/scripts/fuzz.sh" >"$TEST_TMP/$name.out" 2>&1; then
    ok "$name: no crash, leak or timeout in ${FUZZ_SECONDS}s"
    grep -E 'stat::number_of_executed_units|DONE' "$TEST_TMP/$name.out" | sed 's/^/# /'
  else
    not_ok "$name: no crash, leak or timeout in ${FUZZ_SECONDS}s"
    sed 's/^/# /' "$TEST_TMP/$name.out" | tail -25
  fi
done
done_testing
