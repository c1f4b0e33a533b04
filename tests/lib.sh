# shellcheck shell=bash
# tests/lib.sh: shared helpers for the shell-driven suites. Source it; it prints TAP.
#   ok/not_ok/check/skip  TAP results (a skip is never counted as a pass)
#   free_port             an unused loopback TCP port
#   wait_http URL [secs]  poll until URL answers (any status)
#   start_catalog [args]  portolan-catalog on a free port -> $CATALOG_PID, $CATALOG_ADDR
#   cleanup_add CMD       run CMD at exit, last added first (also on failure)
# Paths: $TOP (repo root), $BUILD (where binaries are), $TEST_TMP (scratch, removed at exit).

TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}
BUILD=${BUILD:-$TOP}
TEST_TMP=$(mktemp -d /tmp/portolan-test.XXXXXX)
_tap_n=0
_cleanups=()

cleanup_add() { _cleanups=("$1" "${_cleanups[@]}"); }
_run_cleanups() {
  local c
  for c in "${_cleanups[@]}"; do eval "$c" >/dev/null 2>&1 || true; done
  rm -rf "$TEST_TMP"
}
trap _run_cleanups EXIT
trap 'exit 130' INT TERM

ok()     { _tap_n=$((_tap_n+1)); echo "ok $_tap_n - $*"; }
not_ok() { _tap_n=$((_tap_n+1)); echo "not ok $_tap_n - $*"; }
skip()   { _tap_n=$((_tap_n+1)); echo "ok $_tap_n - # SKIP $*"; }
diag()   { echo "# $*"; }
# check "description" command...: ok when the command succeeds
check() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; fi; }
# check_eq "description" expected actual
check_eq() {
  if [ "$2" == "$3" ]; then ok "$1"; else not_ok "$1"; diag "expected: $2"; diag "actual:   $3"; fi
}
done_testing() { echo "1..$_tap_n"; }

free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

wait_http() {
  local url=$1 secs=${2:-10} i
  for ((i = 0; i < secs * 20; i++)); do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.05
  done
  return 1
}

start_catalog() {
  local port
  port=$(free_port)
  CATALOG_ADDR=127.0.0.1:$port
  "$BUILD/portolan-catalog" -listen "$CATALOG_ADDR" "$@" >>"$TEST_TMP/catalog.log" 2>&1 &
  CATALOG_PID=$!
  cleanup_add "kill $CATALOG_PID"
  wait_http "http://$CATALOG_ADDR/v1/status/leader" 10
}

# parked_count PORT: connections to the local server on PORT whose request the server has read
# (nothing left in its receive queue) and not yet answered (it sent nothing back). Only fresh
# connections count: a keep-alive one that was answered before shows as answered. Because the
# servers here handle a request in the same read callback that parks it, a count of N means N
# queries are parked before any later request is handled.
parked_count() {
  ss -tniH state established "( sport = :$1 )" | awk '
    !/^[ \t]/ { rq = $1; next }
    rq == 0 && /bytes_received:/ && !/bytes_sent:/ { n++ }
    END { print n + 0 }'
}
# wait_parked PORT N [secs]: until at least N queries are parked on PORT (see parked_count)
wait_parked() {
  local i
  for ((i = 0; i < ${3:-20} * 50; i++)); do
    [ "$(parked_count "$1")" -ge "$2" ] && return 0
    sleep 0.02
  done
  return 1
}
