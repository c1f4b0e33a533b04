#!/usr/bin/env bash
# scripts/build.sh [build-dir]: configures (once) and builds portolan out of tree, in build/ by
# default. Used by scripts/test.sh and scripts/quickstart.sh. Logs go to <build-dir>/build.log.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${BUILD:-$TOP/build}}
mkdir -p "$BUILD"
cd "$TOP"
if [ ! -x configure ] || [ configure.ac -nt configure ]; then
  autoreconf -fi >"$BUILD/autoreconf.log" 2>&1 || { tail -30 "$BUILD/autoreconf.log"; exit 1; }
fi
if [ ! -f "$BUILD/Makefile" ]; then
  (cd "$BUILD" && "$TOP/configure" -q) >"$BUILD/configure.log" 2>&1 || { tail -30 "$BUILD/configure.log"; exit 1; }
fi
if ! { make -C "$BUILD" -j"$(nproc)" all && make -C "$BUILD" -j"$(nproc)" check TESTS=; } >"$BUILD/build.log" 2>&1; then
  grep -E 'error|Error' "$BUILD/build.log" | head -20; tail -20 "$BUILD/build.log"; exit 1
fi
