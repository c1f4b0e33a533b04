#!/usr/bin/env bash
# scripts/fuzz.sh: builds the libFuzzer targets in tests/fuzz/ with clang
# (-fsanitize=fuzzer,address,undefined), compiling the lib/, catalog/, agent/ and templater/
# sources (each directory's main.c excluded) into one archive per directory that every target
# links (a target pulls in only what it uses), and runs each for a bounded time on a copy of its
# seed corpus. Exit status: 0 when no target crashed, leaked or timed out; 1 otherwise (the crashing
# input is kept under $OUT/artifacts/ and its path printed).
#
#   scripts/fuzz.sh                      build + run every target, FUZZ_SECONDS each (default 60)
#   FUZZ_SECONDS=600 scripts/fuzz.sh     longer run
#   scripts/fuzz.sh build                build only
#   scripts/fuzz.sh run FILE...          replay inputs (e.g. a crash artifact) through the target
#                                        named by FUZZ_ONLY (default fuzz_catalog_request)
#
# Environment: BUILD (default $TOP/build; the binaries go to $BUILD/fuzz), FUZZ_SECONDS,
# FUZZ_ONLY (run only this target), FUZZ_CFLAGS (extra compiler flags; use a separate BUILD,
# objects are not rebuilt when only flags change), CC (default clang).
set -uo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
OUT=$BUILD/fuzz
SECONDS_PER_TARGET=${FUZZ_SECONDS:-60}
CC=${CC:-clang}
mkdir -p "$OUT/obj" "$OUT/artifacts"

# sources: what each directory's *.mk files list, its subdirectories' included (templater/template/;
# those are kept compiling), minus main.c and minus
# the files make generates in the build tree (templater/haproxy_base_builtin.c, which only
# main.c uses)
MODULES="lib catalog agent templater"
srcs() {
  local f
  find "$TOP/$1" -name '*.mk' -exec cat {} + | grep -oE "(^|[[:space:]=])$1/[A-Za-z0-9_/]*\.c" | sed 's/^[[:space:]=]*//' |
    grep -v '/main\.c$' |
    sort -u | while read -r f; do [ -f "$TOP/$f" ] && echo "$f"; done
}
for m in $MODULES; do
  if [ -z "$(srcs "$m")" ]; then echo "fuzz: $m/*.mk lists no sources"; exit 1; fi
done

PKGS="libuv jansson libcurl openssl"
CFLAGS="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined \
  -std=gnu11 -D_GNU_SOURCE -I$TOP/lib -I$TOP/catalog -I$TOP/agent -I$TOP/templater -I$TOP/templater/template $(pkg-config --cflags $PKGS 2>/dev/null) ${FUZZ_CFLAGS:-}"
LIBS="$(pkg-config --libs $PKGS) -lhttp_parser -lldns -lz -lm -lpthread"

build() {
  local m src obj objs failed=0 changed
  for m in $MODULES; do
    objs=(); changed=0
    for src in $(srcs "$m"); do
      obj=$OUT/obj/$(echo "$src" | tr / _ | sed 's/\.c$/.o/')
      # shellcheck disable=SC2046
      if [ ! -f "$obj" ] || [ "$TOP/$src" -nt "$obj" ] || [ -n "$(find $(printf "$TOP/%s " $MODULES) -name '*.h' -newer "$obj" 2>/dev/null | head -1)" ]; then
        # shellcheck disable=SC2086
        $CC $CFLAGS -c "$TOP/$src" -o "$obj" || { failed=1; continue; }
        changed=1
      fi
      objs+=("$obj")
    done
    [ $failed -eq 0 ] || return 1
    if [ $changed -eq 1 ] || [ ! -f "$OUT/lib$m.a" ]; then
      rm -f "$OUT/lib$m.a"; ar rcs "$OUT/lib$m.a" "${objs[@]}" || return 1
    fi
  done
  local t
  # catalog, agent and templater need lib/: it comes last. A target is relinked when its source
  # or an archive is newer than it.
  local bin a stale
  for t in "$TOP"/tests/fuzz/fuzz_*.c; do
    bin=$OUT/$(basename "$t" .c)
    stale=0
    for a in "$t" "$OUT"/lib*.a; do [ "$a" -nt "$bin" ] && stale=1; done
    [ -f "$bin" ] && [ $stale -eq 0 ] && continue
    # shellcheck disable=SC2086
    $CC $CFLAGS -fsanitize=fuzzer "$t" "$OUT/libcatalog.a" "$OUT/libagent.a" "$OUT/libtemplater.a" \
      "$OUT/liblib.a" $LIBS -o "$OUT/$(basename "$t" .c)" || return 1
  done
}

run_target() { # name
  local name=$1 seeds=$TOP/tests/fuzz/corpus work=$OUT/corpus-$1 log=$OUT/$1.log
  [ -d "$TOP/tests/fuzz/corpus-$name" ] && seeds=$TOP/tests/fuzz/corpus-$name
  mkdir -p "$work"
  cp -n "$seeds"/* "$work"/ 2>/dev/null
  echo "fuzz: $name for ${SECONDS_PER_TARGET}s (seeds: $seeds, log: $log)"
  ASAN_OPTIONS=detect_leaks=1:abort_on_error=0 UBSAN_OPTIONS=print_stacktrace=1 \
    "$OUT/$name" -max_total_time="$SECONDS_PER_TARGET" -timeout=10 -rss_limit_mb=2048 \
    -max_len=65536 -print_final_stats=1 \
    -artifact_prefix="$OUT/artifacts/$name-" "$work" >"$log" 2>&1
  local rc=$?
  grep -E '^(#[0-9]+ +DONE|stat::number_of_executed_units|stat::peak_rss_mb)' "$log" | tail -3
  if [ $rc -ne 0 ]; then
    echo "fuzz: $name FAILED (exit $rc):"
    grep -E 'ERROR: (AddressSanitizer|LeakSanitizer|libFuzzer)|runtime error|SUMMARY|Test unit written' "$log" | head -10
    return 1
  fi
  return 0
}

case "${1:-all}" in
  build) build ;;
  run)
    shift
    build || exit 1
    "$OUT/${FUZZ_ONLY:-fuzz_catalog_request}" "$@"
    ;;
  all)
    build || { echo "fuzz: build failed"; exit 1; }
    rc=0
    for t in "$TOP"/tests/fuzz/fuzz_*.c; do
      name=$(basename "$t" .c)
      [ -z "${FUZZ_ONLY:-}" ] || [ "$FUZZ_ONLY" = "$name" ] || continue
      run_target "$name" || rc=1
    done
    exit $rc
    ;;
  *) echo "usage: scripts/fuzz.sh [build | run FILE... | all]"; exit 2 ;;
esac
