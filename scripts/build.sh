#!/usr/bin/env bash
# scripts/build.sh [build-dir]: configures (once) and builds portolan out of tree, in build/ by
# default. Used by scripts/test.sh and scripts/quickstart.sh. Logs go to <build-dir>/build.log.
# portolan-agent is linked with --with-lean-curl when /opt/portolan/curl-lean (LEAN_CURL_PREFIX)
# holds the lean libcurl of scripts/lean-curl.sh; PORTOLAN_LEAN_CURL=0 links the shared one.
# PORTOLAN_SANITIZERS=1 configures --enable-sanitizers (ASan+UBSan; shared libcurl), for a build
# dir of its own (scripts/test.sh uses build-asan/).
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${BUILD:-$TOP/build}}
mkdir -p "$BUILD"
cd "$TOP"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
  autoreconf -fi >"$BUILD/autoreconf.log" 2>&1 || { tail -30 "$BUILD/autoreconf.log"; exit 1; }
fi
# the agent links the minimal static libcurl when scripts/lean-curl.sh (run by deps.sh) built it
LEAN=${LEAN_CURL_PREFIX:-/opt/portolan/curl-lean}
conf=()
if [ "${PORTOLAN_SANITIZERS:-0}" = 1 ]; then
  conf+=(--enable-sanitizers)
elif [ "${PORTOLAN_LEAN_CURL:-1}" != 0 ] && [ -f "$LEAN/lib/libcurl.a" ]; then
  conf+=(--with-lean-curl="$LEAN")
fi
# a build dir configured the other way round (sanitizers or not) is configured again
san_now=0; grep -qs -- '-fsanitize=address' "$BUILD/Makefile" && san_now=1
if [ ! -f "$BUILD/Makefile" ] || [ "$san_now" != "${PORTOLAN_SANITIZERS:-0}" ]; then
  (cd "$BUILD" && "$TOP/configure" -q "${conf[@]}") >"$BUILD/configure.log" 2>&1 || { tail -30 "$BUILD/configure.log"; exit 1; }
fi
if ! { make -C "$BUILD" -j"$(nproc)" all && make -C "$BUILD" -j"$(nproc)" check TESTS=; } >"$BUILD/build.log" 2>&1; then
  grep -E 'error|Error' "$BUILD/build.log" | head -20; tail -20 "$BUILD/build.log"; exit 1
fi
