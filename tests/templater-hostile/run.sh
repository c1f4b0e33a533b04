#!/usr/bin/env bash
# tests/templater-hostile/run.sh: what a container owner or a crash can do to portolan-templater
# (issue 8), end to end with portolan-catalog, the real HAProxy and HTTP backends on 127.0.0.1.
# No containers. Each section is a regression test of one mechanism:
#   - a service named ".." (or "x?y") tagged rest: never fetched, one log line, -once finishes,
#     other services' changes still applied;
#   - a memory-only catalog killed and restarted (indexes start low again): routes converge fast,
#     not after -consul-wait;
#   - HAProxy (master and worker) holds none of the templater's Consul connections;
#   - a FIFO as -base: SIGHUP does not block the loop;
#   - template mode: keys with ?, %, #, space are fetched as themselves; a template that runs out
#     of memory exits non-zero and writes nothing.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
TPL=$BUILD/portolan-templater
CAT=$BUILD/portolan-catalog
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
if [ ! -x "$TPL" ] || [ ! -x "$CAT" ] || [ ! -x "$HAPROXY" ]; then
  not_ok "portolan-templater, portolan-catalog ($BUILD) and haproxy ($HAPROXY) are needed"
  done_testing; exit 1
fi

# wait_for "cmd" secs: until cmd succeeds, for at most secs seconds of wall time (cmd may be slow)
wait_for() { local end=$((SECONDS + $2)); while :; do eval "$1" && return 0; [ $SECONDS -ge $end ] && return 1; sleep 0.1; done; }

CPORT=$(free_port)
CATALOG_ADDR=127.0.0.1:$CPORT
C=http://$CATALOG_ADDR
CATALOG_PID=
catalog_up() { # memory only, on the same port every time
  "$CAT" -listen "$CATALOG_ADDR" >>"$TEST_TMP/catalog.log" 2>&1 &
  CATALOG_PID=$!
  cleanup_add "kill $CATALOG_PID"
  wait_http "$C/v1/status/leader" 10
}
catalog_up

reg() { # id name port [tags json]
  curl -s --max-time 10 -o /dev/null -w '%{http_code}' -X PUT "$C/v1/agent/service/register" \
    -d "{\"ID\":\"$1\",\"Name\":\"$2\",\"Tags\":${4:-[\"rest\"]},\"Address\":\"127.0.0.1\",\"Port\":$3}"
}
dereg() { curl -s -o /dev/null -X PUT "$C/v1/agent/service/deregister/$1"; }

declare -A BPORT
for b in A B C; do
  BPORT[$b]=$(free_port)
  python3 "$TOP/tests/templater/backend.py" "${BPORT[$b]}" "$b" >/dev/null 2>&1 &
  cleanup_add "kill $!"
done
for b in A B C; do wait_http "http://127.0.0.1:${BPORT[$b]}/" 10; done

check_eq "register hello/v1 A" 200 "$(reg a1 hello/v1 "${BPORT[A]}")"
check_eq "register hello/v1 B" 200 "$(reg b1 hello/v1 "${BPORT[B]}")"
# the hostile ones, as `docker run -e SERVICE_NAME=.. -e SERVICE_TAGS=rest` registers them
check_eq "register a service named '..' tagged rest" 200 "$(reg evil1 .. "${BPORT[C]}")"
check_eq "register a service named 'x?y' tagged rest" 200 "$(reg evil2 'x?y' "${BPORT[C]}")"

# routed NAME FILE: a -dry output routes NAME: its own backend (-routing acl, or a health check),
# or a path map line to a pooled backend (-routing maps, the default)
routed() { grep -Eq "^backend b_${1//\//:}\$|^/$1/ p[0-9]+_[0-9]+\$" "$2"; }

# ---- -once with the bad names: finishes, routes the rest ----
"$TPL" -consul "$CATALOG_ADDR" -bind 127.0.0.1:1 -config "$TEST_TMP/dry.cfg" -base "$TOP/haproxy/haproxy.cfg.base" \
  -once -dry >"$TEST_TMP/dry.out" 2>"$TEST_TMP/dry.err" &
DRY_PID=$!
cleanup_add "kill $DRY_PID"
check "-once -dry finishes with '..' registered (within 30 s)" wait_for '! kill -0 $DRY_PID 2>/dev/null' 30
wait "$DRY_PID" 2>/dev/null; rc=$?
check_eq "-once -dry exit status" 0 "$rc"
check "-once -dry routes hello/v1" routed hello/v1 "$TEST_TMP/dry.out"
n=$(grep -c . "$TEST_TMP/dry.err")
check "-once -dry: a bounded log (lines: $n)" test "$n" -lt 30
check "-once -dry: '..' reported as not routable" grep -q 'service "\.\.": name not routable' "$TEST_TMP/dry.err"

# ---- a routable service whose fetch always fails (a peer that answers 500 for it alone) ----
PPORT=$(free_port)
python3 "$TOP/tests/templater-hostile/failing_proxy.py" "$PPORT" "$CATALOG_ADDR" broken >/dev/null 2>&1 &
cleanup_add "kill $!"
wait_http "http://127.0.0.1:$PPORT/v1/status/leader" 10
check_eq "register 'broken' tagged rest" 200 "$(reg broken1 broken "${BPORT[C]}")"
"$TPL" -consul "127.0.0.1:$PPORT" -bind 127.0.0.1:1 -config "$TEST_TMP/dry2.cfg" -base "$TOP/haproxy/haproxy.cfg.base" \
  -once -dry >"$TEST_TMP/dry2.out" 2>"$TEST_TMP/dry2.err" &
DRY_PID=$!
cleanup_add "kill $DRY_PID"
check "-once -dry finishes although 'broken' cannot be fetched (within 30 s)" wait_for '! kill -0 $DRY_PID 2>/dev/null' 30
wait "$DRY_PID" 2>/dev/null; rc=$?
check_eq "... exit status" 0 "$rc"
check "... and routes hello/v1" routed hello/v1 "$TEST_TMP/dry2.out"
check "... the failure is logged" grep -q 'fetch of service "broken" failed' "$TEST_TMP/dry2.err"
# the daemon through the same peer: the failing service backs off, the others go on
"$TPL" -consul "127.0.0.1:$PPORT" -bind 127.0.0.1:1 -config "$TEST_TMP/dry3.cfg" -base "$TOP/haproxy/haproxy.cfg.base" \
  -dry -consul-wait 5s >"$TEST_TMP/dry3.out" 2>"$TEST_TMP/dry3.err" &
D3_PID=$!
cleanup_add "kill $D3_PID"
check "the daemon renders hello/v1 with 'broken' failing" wait_for 'routed hello/v1 "$TEST_TMP/dry3.out"' 20
reg k1 hello/v9 "${BPORT[A]}" >/dev/null
check "... and applies a later change (hello/v9)" wait_for 'routed hello/v9 "$TEST_TMP/dry3.out"' 20
f0=$(curl -s "http://127.0.0.1:$PPORT/ctl/failures"); sleep 3; f1=$(curl -s "http://127.0.0.1:$PPORT/ctl/failures")
check "... and fetches 'broken' on a backoff, not in a loop ($((f1 - f0)) failed fetches in 3 s)" test $((f1 - f0)) -le 6
n=$(grep -c . "$TEST_TMP/dry3.err")
check "... with a bounded log (lines: $n)" test "$n" -lt 40
kill "$D3_PID"; dereg k1; dereg broken1

# ---- the daemon: a bad name holds nothing up ----
HP=$(free_port); LP=$(free_port)
CFG=$TEST_TMP/haproxy.cfg
MS=$CFG.master.sock
BASE=$TEST_TMP/haproxy.cfg.base
cp "$TOP/haproxy/haproxy.cfg.base" "$BASE"
"$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:$HP" -config "$CFG" -base "$BASE" -haproxy-bin "$HAPROXY" \
  -listen "127.0.0.1:$LP" -consul-wait 60s >"$TEST_TMP/templater.log" 2>&1 &
TPL_PID=$!
cleanup_add "kill $TPL_PID; sleep 0.5; pkill -f -- '-S $MS'"
U=http://127.0.0.1:$HP
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$U$1"; }
who() { local i; for ((i = 0; i < $1; i++)); do curl -s --max-time 3 "$U$2" | cut -d' ' -f1; done | sort -u | tr '\n' ' ' | sed 's/ $//'; }
check "hello/v1 routed with '..' and 'x?y' registered" wait_for '[ "$(code /hello/v1/)" = 200 ]' 20
reg c1 hello/v2 "${BPORT[C]}" >/dev/null
check "a new service is applied while '..' stays registered" wait_for '[ "$(who 2 /hello/v2/)" = C ]' 15
# bad names are refused before any request: the templater asked the catalog for neither
sleep 2
n=$(wc -l <"$TEST_TMP/templater.log")
check "the templater's log stays bounded (lines: $n)" test "$n" -lt 40
check_eq "'..' logged once" 1 "$(grep -c 'service "\.\.": name not routable' "$TEST_TMP/templater.log")"
check "no fetch of a bad name was even tried" sh -c "! grep -q 'fetch of service' '$TEST_TMP/templater.log'"

# ---- descriptors: HAProxy inherits none of the templater's Consul connections ----
# (the templater holds its long-polls to the catalog; HAProxy's master and worker were started
# after they were opened, and reloaded later)
hap_pids() { pgrep -f -- "-S $MS" | tr '\n' ' '; }
consul_conns() { # pid: sockets of pid connected to the catalog port
  local pid=$1 inode n=0
  for inode in $(ss -tnH state established "( dport = :$CPORT )" -e | grep -o 'ino:[0-9]*' | cut -d: -f2); do
    find "/proc/$pid/fd" -lname "socket:\[$inode\]" 2>/dev/null | grep -q . && n=$((n + 1))
  done
  echo $n
}
T_CONNS=$(consul_conns "$TPL_PID")
check "the templater holds connections to the catalog ($T_CONNS): the check below can fail" test "$T_CONNS" -ge 1
pids=$(hap_pids)
check "HAProxy master and worker(s) are running ($pids)" test "$(echo $pids | wc -w)" -ge 2
leaked=0
for p in $pids; do leaked=$((leaked + $(consul_conns "$p"))); done
check_eq "HAProxy's /proc/<pid>/fd hold no Consul connection of the templater" 0 "$leaked"
# beyond its stdio (stdout and stderr are the templater's own stderr, on purpose), HAProxy holds
# no socket of the templater's at all
tino() { local fd; for fd in /proc/$1/fd/*; do readlink "$fd" 2>/dev/null; done | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p' | sort -u; }
tino "$TPL_PID" >"$TEST_TMP/tpl.inodes"
socks=0
for p in $pids; do
  for fd in /proc/$p/fd/*; do
    n=${fd##*/}; [ "$n" -le 2 ] && continue
    ino=$(readlink "$fd" 2>/dev/null | sed -n 's/^socket:\[\([0-9]*\)\]$/\1/p')
    [ -n "$ino" ] && grep -qx "$ino" "$TEST_TMP/tpl.inodes" && { socks=$((socks + 1)); diag "shared: $p fd $n socket $ino"; }
  done
done
check_eq "HAProxy shares no socket at all with the templater" 0 "$socks"

# ---- a FIFO as -base: SIGHUP must not block the loop ----
rm -f "$BASE"; mkfifo "$BASE"
kill -HUP "$TPL_PID"
check "SIGHUP with a FIFO as -base: refused with a log line" \
  wait_for 'grep -q "SIGHUP: -base .*: not a regular file" "$TEST_TMP/templater.log"' 10
check_eq "the status endpoint still answers" 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$LP/routes")"
reg a2 hello/v2 "${BPORT[A]}" >/dev/null
check "routes are still applied after that SIGHUP" wait_for '[ "$(who 6 /hello/v2/)" = "A C" ]' 15
rm -f "$BASE"; cp "$TOP/haproxy/haproxy.cfg.base" "$BASE"
dereg a2

# ---- a memory-only catalog killed and restarted: routes converge without waiting out -consul-wait ----
check_eq "before the restart hello/v1 is A and B" "A B" "$(who 8 /hello/v1/)"
kill -KILL "$CATALOG_PID"; wait "$CATALOG_PID" 2>/dev/null
catalog_up
t0=$(date +%s)
# the agent refills it, without b1 (removed while the catalog was down)
reg a1 hello/v1 "${BPORT[A]}" >/dev/null
reg c1 hello/v2 "${BPORT[C]}" >/dev/null
check "after the restart hello/v1 converges to A alone within 20 s (-consul-wait is 60 s)" \
  wait_for '[ "$(who 8 /hello/v1/)" = A ]' 20
diag "converged in $(($(date +%s) - t0)) s"
check_eq "hello/v2 is served again" C "$(who 4 /hello/v2/)"

kill "$TPL_PID"
check "the templater exits" wait_for '! kill -0 $TPL_PID 2>/dev/null' 15

# ---- template mode: keys are escaped, memory is bounded ----
kv() { curl -s -o /dev/null -w '%{http_code}' -X PUT "$C/v1/kv/$1" --data-binary "$2"; }
check_eq "KV x" 200 "$(kv x value-of-x)"
check_eq "KV x?y" 200 "$(kv 'x%3Fy' value-of-xy)"
check_eq "KV pctA" 200 "$(kv pctA value-of-pctA)"
check_eq "KV pct%41" 200 "$(kv 'pct%2541' value-of-pct41)"
check_eq "KV a#b" 200 "$(kv 'a%23b' value-of-hash)"
check_eq "KV 'a b'" 200 "$(kv 'a%20b' value-of-space)"
check_eq "KV dir/k?1" 200 "$(kv 'dir/k%3F1' in-dir)"
T=$TEST_TMP/k.ctmpl; OUT=$TEST_TMP/k.out
cat >"$T" <<'TMPL'
{{ key "x?y" }}|{{ key "pct%41" }}|{{ key "a#b" }}|{{ key "a b" }}|{{ keyOrDefault "nope?x" "dflt" }}|{{ range ls "dir" }}{{ .Key }}={{ .Value }}{{ end }}
TMPL
timeout 60 "$TPL" -consul "$CATALOG_ADDR" -template "$T:$OUT" -once >"$TEST_TMP/k.log" 2>&1
check_eq "-template -once with such keys exits 0" 0 $?
check_eq "each key is fetched as itself" "value-of-xy|value-of-pct41|value-of-hash|value-of-space|dflt|k?1=in-dir" "$(cat "$OUT" 2>/dev/null)"

M=$TEST_TMP/m.ctmpl; MOUT=$TEST_TMP/m.out
# 16 bytes doubled 30 times: 16 GiB of intermediate strings, one short number of output
echo '{{ $x := "0123456789abcdef" }}{{ range split "," "1,2,3,4,5,6,7,8,9,10,11,12,13,14,15,16,17,18,19,20,21,22,23,24,25,26,27,28,29,30" }}{{ $x = printf "%s%s" $x $x }}{{ end }}{{ len $x }}' >"$M"
timeout 120 "$TPL" -consul "$CATALOG_ADDR" -template "$M:$MOUT" -once >"$TEST_TMP/m.log" 2>&1
rc=$?
check "a template past the memory limit: -once exits with an error (status $rc)" test "$rc" != 0 -a "$rc" != 124
check "... says why" grep -q "memory use exceeds the limit of 268435456 bytes" "$TEST_TMP/m.log"
check "... and writes nothing" test ! -e "$MOUT"

done_testing
