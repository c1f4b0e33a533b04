#!/usr/bin/env bash
# tests/dataplane/run.sh: portolan-templater -routing maps end to end (real HAProxy, portolan-catalog
# or tests/templater/fake_consul.py, identity backends on 127.0.0.1; no containers):
#  - a new instance, a new path route, a new host route and a removed route reach HAProxy through
#    the runtime API with no reload (the master's `show proc` reload count), and at once although
#    -wait is 8 s (only what needs a reload is debounced);
#  - a pool that runs out grows with exactly one reload while a client loops on another route: no
#    failed request;
#  - a restart of HAProxy and a restart of the templater reproduce exactly what was live (the
#    three maps and every server, as HAProxy's runtime API lists them).
# The behaviours the templater suite checks are checked in this mode by tests/templater-maps.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
HERE=$TOP/tests/templater
TPL=$BUILD/portolan-templater
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}

if [ ! -x "$TPL" ] || [ ! -x "$HAPROXY" ]; then
  not_ok "portolan-templater ($TPL) and haproxy ($HAPROXY) are needed"
  done_testing; exit 1
fi

CATALOG_ADDR=127.0.0.1:$(free_port)
if [ -x "$BUILD/portolan-catalog" ]; then
  "$BUILD/portolan-catalog" -listen "$CATALOG_ADDR" >>"$TEST_TMP/catalog.log" 2>&1 &
else
  python3 "$HERE/fake_consul.py" "${CATALOG_ADDR#*:}" >>"$TEST_TMP/catalog.log" 2>&1 &
fi
cleanup_add "kill $!"
wait_http "http://$CATALOG_ADDR/v1/status/leader" 10
C=http://$CATALOG_ADDR

reg() { # id name port [tags json]
  curl -s -o /dev/null -w '%{http_code}' -X PUT "$C/v1/agent/service/register" \
    -d "{\"ID\":\"$1\",\"Name\":\"$2\",\"Tags\":${4:-[\"rest\"]},\"Address\":\"127.0.0.1\",\"Port\":$3}"
}
dereg() { curl -s -o /dev/null -X PUT "$C/v1/agent/service/deregister/$1"; }

declare -A BPORT
for b in A B C D E F; do
  BPORT[$b]=$(free_port)
  python3 "$HERE/backend.py" "${BPORT[$b]}" "$b" >/dev/null 2>&1 &
  cleanup_add "kill $!"
done
for b in A B C D E F; do wait_http "http://127.0.0.1:${BPORT[$b]}/" 10; done
check_eq "register hello/v1 A" 200 "$(reg a1 hello/v1 "${BPORT[A]}")"

HP=$(free_port); LP=$(free_port)
CFG=$TEST_TMP/haproxy.cfg
MS=$CFG.master.sock
ADMIN=$CFG.admin.sock
start_templater() { # log file
  "$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:$HP" -config "$CFG" -base "$TOP/haproxy/haproxy.cfg.base" \
    -haproxy-bin "$HAPROXY" -listen "127.0.0.1:$LP" -consul-wait 10s -routing maps -pool 2 -wait 8s:8s \
    >"$1" 2>&1 &
  TPL_PID=$!
}
start_templater "$TEST_TMP/templater.log"
cleanup_add 'kill $TPL_PID; sleep 0.5; pkill -f -- "-S $MS"'
U=http://127.0.0.1:$HP

get() { curl -s --max-time 3 "$U$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$U$1"; }
wait_for() { local i; for ((i = 0; i < $2 * 10; i++)); do eval "$1" && return 0; sleep 0.1; done; return 1; }
who() { local i; for ((i = 0; i < $1; i++)); do get "$2" | cut -d' ' -f1; done | sort -u | tr '\n' ' ' | sed 's/ $//'; }
reloads() { echo 'show proc' | socat - "UNIX-CONNECT:$MS" 2>/dev/null | awk '$2 == "master" {print $3}'; }
metric() { curl -s --max-time 3 "http://127.0.0.1:$LP/metrics" | awk -v m="portolan_templater_$1" '$1 == m {print $2}'; }
# What HAProxy runs, from its runtime API: the entries of the three maps and every server
# (backend, name, address, port, weight, admin state), sorted.
live() {
  local m
  for m in paths hosts prefix; do
    echo "show map $CFG.$m.map" | socat - "UNIX-CONNECT:$ADMIN" 2>/dev/null | awk -v m=$m 'NF == 3 {print "map", m, $2, $3}'
  done
  echo "show servers state" | socat - "UNIX-CONNECT:$ADMIN" 2>/dev/null |
    awk '$1 !~ /^#/ && NF > 20 {print "server", $2, $4, $5, $19, "w" $8, "admin" $7}'
} 2>/dev/null
live_sorted() { live | sort; }
# settled: two looks 1 s apart agree (drained servers deleted, the files rewritten)
settled() { local a b; a=$(live_sorted); sleep 1; b=$(live_sorted); [ -n "$a" ] && [ "$a" = "$b" ]; }

check "first configuration: hello/v1 served (the first apply waits out -wait 8s)" \
  wait_for '[ "$(get /hello/v1/ | cut -d" " -f1)" = A ]' 40
check "the frontend routes through the path map" grep -q "map_beg($CFG.paths.map)" "$CFG"
R0=$(reloads)
check "master CLI answers show proc (reloads=$R0)" test -n "$R0"
check "/routes names the pooled backend hello/v1 runs in" \
  sh -c "curl -s http://127.0.0.1:$LP/routes | grep -Eq '\"backend\": \"p2_[0-9]+\"'"

# ---- runtime changes, at once despite -wait 8s ----
reg b1 hello/v1 "${BPORT[B]}" >/dev/null
check "a new instance is served before -wait (8 s) would have let it through" \
  wait_for '[ "$(who 6 /hello/v1/)" = "A B" ]' 6
check "... counted as not debounced" wait_for '[ "$(metric undebounced_total)" -ge 1 ]' 5

reg c1 hello/v2 "${BPORT[C]}" >/dev/null
check "a new path route is served at once" wait_for '[ "$(get /hello/v2/x?q=1)" = "C /x?q=1" ]' 6
check_eq "... /hello/v2 exactly -> /" "C /" "$(get /hello/v2)"
check_eq "... /hello/v20 is not hello/v2" 404 "$(code /hello/v20)"

reg w1 web "${BPORT[D]}" '["rest","host=www.example.org"]' >/dev/null
check "a new host route is served at once (Host www.example.org, path kept)" \
  wait_for '[ "$(curl -s --max-time 3 -H "Host: WWW.example.org:8080" "$U/a/b")" = "D /a/b" ]' 6
check_eq "... its path route too, prefix stripped" "D /k" "$(get /web/k)"
check_eq "new instance, path route, host route: no reload (show proc)" "$R0" "$(reloads)"
check "the map files on disk follow (path and host maps)" \
  wait_for 'grep -Eqx "/hello/v2/ p2_[0-9]+" "$CFG.paths.map" && grep -Eqx "www.example.org p1_[0-9]+" "$CFG.hosts.map"' 10

# ---- a pool that runs out: one reload, no failed request ----
# -pool 2: after the first reload the depth-2 pool has 3 backends (hello/v1 + 2 spare); hello/v2
# took one, hello/v3 takes the last, hello/v4 finds none and the pool grows with one reload.
PROBE_LOG=$TEST_TMP/probe.log; PROBE_STOP=$TEST_TMP/probe.stop
( for ((i = 0; i < 20000; i++)); do
    [ -e "$PROBE_STOP" ] && break
    curl -s --max-time 5 -o /dev/null -w '%{http_code}\n' "$U/hello/v1/"
  done >"$PROBE_LOG" ) &
PROBE_PID=$!
cleanup_add "touch $PROBE_STOP; kill $PROBE_PID"
reg e1 hello/v3 "${BPORT[E]}" >/dev/null
check "hello/v3 takes the last free pooled backend: served at once" wait_for '[ "$(get /hello/v3/ | cut -d" " -f1)" = E ]' 6
check_eq "... no reload" "$R0" "$(reloads)"
reg f1 hello/v4 "${BPORT[F]}" >/dev/null
check "hello/v4: the pool ran out, it is served after the pool grew" wait_for '[ "$(get /hello/v4/ | cut -d" " -f1)" = F ]' 40
check "... logged as the reason of the reload" grep -q "no free backend of depth 2 (pool of 3): growing the pool" "$TEST_TMP/templater.log"
sleep 1
check_eq "... exactly one reload (show proc)" "$((R0 + 1))" "$(reloads)"
check "... the configuration has the grown pool (p2_5)" grep -q '^backend p2_5$' "$CFG"
touch "$PROBE_STOP"; wait "$PROBE_PID" 2>/dev/null
total=$(wc -l <"$PROBE_LOG"); bad=$(grep -vc '^200$' "$PROBE_LOG")
check "the probe ran throughout ($total requests)" test "$total" -gt 10
check_eq "no failed request on hello/v1 while routes were added and the pool grew" 0 "$bad"

# ---- a route removed: at once, no reload ----
R1=$(reloads)
dereg c1
check "a removed route answers 404 at once" wait_for '[ "$(code /hello/v2/)" = 404 ]' 6
check_eq "... no reload" "$R1" "$(reloads)"

# ---- restarts reproduce what was live ----
check "the live state settles" wait_for settled 20
live_sorted >"$TEST_TMP/live.before"
diag "live: $(grep -c '^map paths' "$TEST_TMP/live.before") path entries, $(grep -c '^server' "$TEST_TMP/live.before") servers"
check "live state lists hello/v1's servers in the path map's backend" \
  sh -c "be=\$(awk '\$1 == \"map\" && \$2 == \"paths\" && \$3 == \"/hello/v1/\" {print \$4}' $TEST_TMP/live.before); grep -q \"^server \$be a1 \" $TEST_TMP/live.before"

MPID=$(echo 'show proc' | socat - "UNIX-CONNECT:$MS" 2>/dev/null | awk '$2 == "master" {print $1}')
kill -TERM "$MPID" 2>/dev/null
# the master stops its workers and exits; the templater starts HAProxy again from the files
check "HAProxy stopped under the templater: restarted by it" \
  wait_for '[ "$(echo "show proc" | socat - "UNIX-CONNECT:$MS" 2>/dev/null | awk '"'"'$2 == "master" {print $1}'"'"')" != "" ] &&
            [ "$(echo "show proc" | socat - "UNIX-CONNECT:$MS" 2>/dev/null | awk '"'"'$2 == "master" {print $1}'"'"')" != "$MPID" ]' 30
check "... serving again" wait_for '[ "$(get /hello/v4/ | cut -d" " -f1)" = F ]' 20
check "... and the live state settles" wait_for settled 20
live_sorted >"$TEST_TMP/live.haproxy"
if cmp -s "$TEST_TMP/live.before" "$TEST_TMP/live.haproxy"; then ok "a restart of HAProxy reproduces the live maps and servers exactly"
else not_ok "a restart of HAProxy reproduces the live maps and servers exactly"; diff "$TEST_TMP/live.before" "$TEST_TMP/live.haproxy" | head -10 | sed 's/^/# /'; fi

kill "$TPL_PID"; wait "$TPL_PID" 2>/dev/null
check "templater stopped, its HAProxy too" wait_for '[ "$(pgrep -f -- "-S $MS" | wc -l)" = 0 ]' 15
start_templater "$TEST_TMP/templater2.log"
check "restarted templater: its first apply (a reload) is done" wait_for 'grep -q "apply: HAProxy reloaded" "$TEST_TMP/templater2.log"' 40
check "... the routes keep their backends (read from the prefix map)" grep -q "apply: [0-9]* routes keep the backends of" "$TEST_TMP/templater2.log"
check "... and the live state settles" wait_for settled 20
live_sorted >"$TEST_TMP/live.templater"
if cmp -s "$TEST_TMP/live.before" "$TEST_TMP/live.templater"; then ok "a restart of the templater reproduces the live maps and servers exactly"
else not_ok "a restart of the templater reproduces the live maps and servers exactly"; diff "$TEST_TMP/live.before" "$TEST_TMP/live.templater" | head -10 | sed 's/^/# /'; fi
check_eq "hello/v1 answers A and B after both restarts" "A B" "$(who 6 /hello/v1/)"

kill "$TPL_PID"; wait "$TPL_PID" 2>/dev/null
check "SIGTERM: nothing left behind" wait_for '[ "$(pgrep -f -- "-S $MS" | wc -l)" = 0 ]' 15
done_testing
