#!/usr/bin/env bash
# tests/templater/run.sh: portolan-templater end to end with the real HAProxy (/usr/sbin/haproxy),
# a Consul API peer (portolan-catalog when built, else tests/templater/fake_consul.py) and real
# HTTP backends on 127.0.0.1 that answer with their identity. No containers.
# It runs with the default -routing maps; PORTOLAN_ROUTING=acl (tests/templater-acl) runs it all
# with -routing acl: the same behaviour, except that a new route costs a reload and the routes are
# use_backend rules in the configuration instead of map files.
source "$(dirname "${BASH_SOURCE[0]}")/../lib.sh"
HERE=$TOP/tests/templater
TPL=$BUILD/portolan-templater
HAPROXY=${HAPROXY:-/usr/sbin/haproxy}
ROUTING=${PORTOLAN_ROUTING:-maps}
export PORTOLAN_ROUTING=$ROUTING

if [ ! -x "$TPL" ] || [ ! -x "$HAPROXY" ]; then
  not_ok "portolan-templater ($TPL) and haproxy ($HAPROXY) are needed"
  done_testing; exit 1
fi

# ---- the Consul peer ----
PEER=fake
start_peer() {
  if [ -x "$BUILD/portolan-catalog" ]; then
    PEER=portolan-catalog
    "$BUILD/portolan-catalog" -listen "$CATALOG_ADDR" >>"$TEST_TMP/catalog.log" 2>&1 &
  else
    python3 "$HERE/fake_consul.py" "${CATALOG_ADDR#*:}" >>"$TEST_TMP/catalog.log" 2>&1 &
  fi
  CATALOG_PID=$!
  cleanup_add "kill $CATALOG_PID"
  wait_http "http://$CATALOG_ADDR/v1/status/leader" 10
}
CATALOG_ADDR=127.0.0.1:$(free_port)
start_peer
diag "Consul peer: $PEER on $CATALOG_ADDR"
C=http://$CATALOG_ADDR

reg() { # id name port [extra json fields]
  curl -s -o /dev/null -w '%{http_code}' -X PUT "$C/v1/agent/service/register" \
    -d "{\"ID\":\"$1\",\"Name\":\"$2\",\"Tags\":[\"rest\"],\"Address\":\"127.0.0.1\",\"Port\":$3,\"Check\":{\"CheckID\":\"service:$1\",\"Name\":\"ttl\",\"TTL\":\"600s\",\"Status\":\"passing\"}${4:+,$4}}"
}
dereg() { curl -s -o /dev/null -X PUT "$C/v1/agent/service/deregister/$1"; }
ttl() { curl -s -o /dev/null -X PUT "$C/v1/agent/check/$2/service:$1"; }

# ---- backends ----
declare -A BPORT
for b in A B C D E; do
  BPORT[$b]=$(free_port)
  python3 "$HERE/backend.py" "${BPORT[$b]}" "$b" >/dev/null 2>&1 &
  cleanup_add "kill $!"
done
for b in A B C D E; do wait_http "http://127.0.0.1:${BPORT[$b]}/" 10; done

check_eq "register hello/v1 A" 200 "$(reg a1 hello/v1 "${BPORT[A]}")"
check_eq "register hello/v1 B" 200 "$(reg b1 hello/v1 "${BPORT[B]}")"
reg x1 hello/v10 "${BPORT[E]}" >/dev/null

# ---- the templater ----
HP=$(free_port); LP=$(free_port)
CFG=$TEST_TMP/haproxy.cfg
MS=$CFG.master.sock
BASE=$TEST_TMP/haproxy.cfg.base # a copy the rollback section edits (SIGHUP re-reads it)
cp "$TOP/haproxy/haproxy.cfg.base" "$BASE"
"$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:$HP" -config "$CFG" -base "$BASE" \
  -haproxy-bin "$HAPROXY" -listen "127.0.0.1:$LP" -consul-wait 10s >"$TEST_TMP/templater.log" 2>&1 &
TPL_PID=$!
cleanup_add "kill $TPL_PID; sleep 0.5; pkill -f -- '-S $MS' "
U=http://127.0.0.1:$HP

get() { curl -s --max-time 3 "$U$1"; }
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 3 "$U$1"; }
# wait_for "cmd" secs: until cmd succeeds
wait_for() { local i; for ((i = 0; i < $2 * 10; i++)); do eval "$1" && return 0; sleep 0.1; done; return 1; }
who() { # n path: identities of n answers, sorted unique, space separated. A pause of 0-30 ms
  # between requests: with another client asking in a loop (the rollback probe), strict round
  # robin could otherwise hand this one the same server every time
  local i; for ((i = 0; i < $1; i++)); do get "$2" | cut -d' ' -f1; sleep "0.0$((RANDOM % 4))"; done |
    sort -u | tr '\n' ' ' | sed 's/ $//'; }
reloads() { echo 'show proc' | socat - "UNIX-CONNECT:$MS" 2>/dev/null | awk '$2 == "master" {print $3}'; }

check "HAProxy routes hello/v1 within 10 s" wait_for '[ "$(code /hello/v1/)" = 200 ]' 10
seq=$(for i in 1 2 3 4; do get /hello/v1/ | cut -d' ' -f1; done | tr -d '\n')
check "two instances answer in turn (got $seq)" test "$seq" = ABAB -o "$seq" = BABA
check_eq "/hello/v10 goes to hello/v10, not hello/v1" "E" "$(get /hello/v10/ | cut -d' ' -f1)"
check_eq "/hello/v1x is not routed" 404 "$(code /hello/v1x)"
check_eq "prefix stripped, query kept: /hello/v1/x?y=1 -> /x?y=1" "/x?y=1" "$(get '/hello/v1/x?y=1' | cut -d' ' -f2)"
check_eq "bare prefix: /hello/v1 -> /" "/" "$(get /hello/v1 | cut -d' ' -f2)"
check_eq "/hello/v1/ -> /" "/" "$(get /hello/v1/ | cut -d' ' -f2)"
check_eq "unknown path: 404" 404 "$(code /nothing)"
grep -q 'stats socket' "$CFG" && ok "config written at -config" || not_ok "config written at -config"

R0=$(reloads)
check "master CLI answers show proc (reloads=$R0)" test -n "$R0"

# ---- instance changes: runtime API, no reload ----
reg c1 hello/v1 "${BPORT[C]}" >/dev/null
check "new instance C receives traffic" wait_for '[[ "$(who 6 /hello/v1/)" == *C* ]]' 5
check_eq "instances answer A B C" "A B C" "$(who 9 /hello/v1/)"
dereg a1
check "deregistered A gets no more traffic" wait_for '[ "$(who 8 /hello/v1/)" = "B C" ]' 5
ttl b1 fail
check "critical B gets no more traffic" wait_for '[ "$(who 8 /hello/v1/)" = "C" ]' 5
ttl b1 pass
check "B passing again is back" wait_for '[ "$(who 8 /hello/v1/)" = "B C" ]' 5
check_eq "instance changes cost no reload (master reload count)" "$R0" "$(reloads)"
grep -q "server c1 127.0.0.1:${BPORT[C]} " "$CFG" && ! grep -q "server a1 " "$CFG" \
  && ok "runtime changes are written to the config file too" || not_ok "runtime changes are written to the config file too"

# ---- a new route: exactly one reload (-routing maps: none) ----
reg d1 hello/v2 "${BPORT[D]}" >/dev/null
check "new route hello/v2 serves" wait_for '[ "$(get /hello/v2/ | cut -d" " -f1)" = D ]' 10
sleep 0.5
if [ "$ROUTING" = maps ]; then
  check_eq "-routing maps: a new route costs no reload" "$R0" "$(reloads)"
  check "-routing maps: the new route is written to the path map too" \
    wait_for 'grep -Eq "^/hello/v2/ p2_[0-9]+$" "$CFG.paths.map"' 10
else
  check_eq "a new route costs exactly one reload" "$((R0 + 1))" "$(reloads)"
fi
check_eq "hello/v1 still serves after the reload" "B C" "$(who 8 /hello/v1/)"

# ---- hostile input ----
curl -s -o /dev/null -X PUT "$C/v1/agent/service/register" -d '{"ID":"evil1","Name":"x\n  bind :9999","Tags":["rest"],"Address":"127.0.0.1","Port":'"${BPORT[E]}"'}'
curl -s -o /dev/null -X PUT "$C/v1/agent/service/register" -d '{"ID":"evil2","Name":"hello/v2","Tags":["rest","host=evil.com\n  bind :9998"],"Address":"127.0.0.1","Port":'"${BPORT[E]}"'}'
curl -s -o /dev/null -X PUT "$C/v1/agent/service/register" -d '{"ID":"evil3","Name":"hello/v2","Tags":["rest"],"Address":"1.2.3.4 backup","Port":'"${BPORT[E]}"'}'
curl -s -o /dev/null -X PUT "$C/v1/agent/service/register" -d '{"ID":"evil4","Name":"hello/v2","Tags":["rest"],"Address":"127.0.0.1","Port":70000}'
curl -s -o /dev/null -X PUT "$C/v1/kv/service/haproxy/timeouts/server" --data-binary $'30s\n  bind :9997'
check "hostile entries are seen and skipped (log)" wait_for 'grep -q "9999" "$TEST_TMP/templater.log" || ! curl -s "$C/v1/catalog/services" | grep -q bind' 10
# evil2's sound instance being routed shows the templater has taken in the hostile batch: wait for
# it (a fixed 1 s was a guess a loaded machine could outlast), then 1 s more for the writes after it
check "hello/v2 keeps serving (D, and evil2's sound instance on E)" wait_for '[ "$(who 8 /hello/v2/)" = "D E" ]' 15
sleep 1
for bad in 9999 9998 9997 evil.com backup 70000 1.2.3.4; do
  if grep -q -- "$bad" "$CFG"; then not_ok "'$bad' never reaches the config"; else ok "'$bad' never reaches the config"; fi
done
# evil2 is a sound instance of hello/v2 apart from its host tag: it is routed (checked above), the tag is dropped
check_eq "the hostile host tag routes nothing" 404 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Host: evil.com' --max-time 3 "$U/")"
check_eq "hello/v1 keeps serving" "B C" "$(who 8 /hello/v1/)"
check_eq "nothing listens on :9999" 000 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 http://127.0.0.1:9999/ || true)"
for id in evil1 evil2 evil3 evil4; do dereg $id; done
curl -s -o /dev/null -X DELETE "$C/v1/kv/service/haproxy/timeouts/server"

# ---- KV overrides ----
curl -s -o /dev/null -X PUT "$C/v1/kv/service/haproxy/maxconn" --data-binary 777
curl -s -o /dev/null -X PUT "$C/v1/kv/service/haproxy/timeouts/connect" --data-binary 4s
check "KV maxconn and timeouts/connect reach the config" wait_for 'grep -q "maxconn 777" "$CFG" && grep -q "timeout connect 4s" "$CFG"' 10

# ---- host routes and HTTP health checks ----
DEAD=$(free_port)   # nothing listens here
curl -s -o /dev/null -X PUT "$C/v1/agent/service/register" -d '{"ID":"w1","Name":"web","Tags":["rest","host=web.example.com"],"Address":"127.0.0.1","Port":'"${BPORT[D]}"'}'
curl -s -o /dev/null -X PUT "$C/v1/agent/service/register" -d '{"ID":"v1","Name":"vh","Tags":["rest"],"Meta":{"virtual_host":"vh.example.com","check_http":"/health"},"Address":"127.0.0.1","Port":'"${BPORT[E]}"'}'
curl -s -o /dev/null -X PUT "$C/v1/agent/service/register" -d '{"ID":"v2","Name":"vh","Tags":["rest"],"Address":"127.0.0.1","Port":'"$DEAD"'}'
hostget() { curl -s --max-time 3 -H "Host: $1" "$U$2"; }
check "host=web.example.com tag: Host header routes to web, path unchanged" \
  wait_for '[ "$(hostget web.example.com:8080 /some/path)" = "D /some/path" ]' 10
check_eq "web is also routed at /web" "D /x" "$(get /web/x)"
check "Meta virtual_host routes vh.example.com" wait_for '[ "$(hostget VH.example.com / | cut -d" " -f1)" = E ]' 10
check "Meta check_http: HAProxy health-checks vh (http-check uri /health in the config)" grep -q 'http-check send meth GET uri /health' "$CFG"
v2_state() { echo "show servers state b_vh" | socat - "UNIX-CONNECT:$CFG.admin.sock" 2>/dev/null | awk '$4 == "v2" {print $6}'; }
check "HAProxy's health check marks the dead instance down (op_state 0)" wait_for '[ "$(v2_state)" = 0 ]' 15
vh_codes() { local i; for i in 1 2 3 4 5 6; do echo "$(code /vh/)"; done | sort -u | tr "\n" " " | sed "s/ $//"; }
check_eq "requests to vh all succeed (status codes)" 200 "$(vh_codes)"
dereg w1; dereg v1; dereg v2

# ---- status endpoint ----
check "/routes lists hello/v1" sh -c "curl -s http://127.0.0.1:$LP/routes | grep -q '\"path\": \"/hello/v1\"'"
check "/routes.html is a page" sh -c "curl -s http://127.0.0.1:$LP/routes.html | grep -q '<table>'"
check "/metrics counts runtime changes" sh -c "curl -s http://127.0.0.1:$LP/metrics | grep -Eq '^portolan_templater_runtime_changes_total [1-9]'"
check "/metrics counts skipped input" sh -c "curl -s http://127.0.0.1:$LP/metrics | grep -Eq '^portolan_templater_skipped_total [1-9]'"
# the route -> HAProxy backend map (monitoring/rules.yml joins HAProxy's exporter series with it)
rb=$(curl -s "http://127.0.0.1:$LP/routes" | jq -r '.routes[] | select(.service == "hello/v1") | .backend // empty')
[ -n "$rb" ] || rb=b_hello:v1
check_eq "/metrics: portolan_templater_route_backend for hello/v1 names the backend /routes shows ($rb)" 1 \
  "$(curl -s "http://127.0.0.1:$LP/metrics" | grep -cxF "portolan_templater_route_backend{service=\"hello/v1\",backend=\"$rb\"} 1")"

# ---- service removed ----
dereg d1
check "removed service: /hello/v2 answers 404 or 503" wait_for 'c=$(code /hello/v2/); [ "$c" = 404 -o "$c" = 503 ]' 10

# ---- -once -dry: prints, touches nothing ----
DRY=$TEST_TMP/dry.cfg
"$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:1" -config "$DRY" -base "$TOP/haproxy/haproxy.cfg.base" -once -dry \
  >"$TEST_TMP/dry.out" 2>"$TEST_TMP/dry.err"
check_eq "-once -dry exits 0" 0 $?
check_eq "-once -dry prints '> <config>' first" "> $DRY" "$(head -1 "$TEST_TMP/dry.out")"
if [ "$ROUTING" = maps ]; then
  check "-once -dry output has the hello/v1 path map entry" grep -Eq '^/hello/v1/ p2_[0-9]+$' "$TEST_TMP/dry.out"
  check "-once -dry prints the path map after '> <config>.paths.map'" grep -qx "> $DRY.paths.map" "$TEST_TMP/dry.out"
else
  check "-once -dry output has the hello/v1 backend" grep -q '^backend b_hello:v1$' "$TEST_TMP/dry.out"
fi
check "-once -dry writes nothing" test ! -e "$DRY"

# ---- defaults a user meets first: CONSUL_HTTP_ADDR, the built-in base ----
# no -consul: CONSUL_HTTP_ADDR is the address (it used to be hidden by a fixed 127.0.0.1:8500, and
# -once then retried there forever: hence the timeout)
env -u PORTOLAN_CONSUL CONSUL_HTTP_ADDR="http://$CATALOG_ADDR" timeout 60 "$TPL" -bind "127.0.0.1:1" -config "$DRY" \
  -base "$TOP/haproxy/haproxy.cfg.base" -once -dry >"$TEST_TMP/dry-env.out" 2>"$TEST_TMP/dry-env.err"
check_eq "no -consul: CONSUL_HTTP_ADDR is read (-once -dry exits 0)" 0 $?
check "no -consul: the same configuration as with -consul" cmp -s "$TEST_TMP/dry.out" "$TEST_TMP/dry-env.out"
check "no -consul: the log names the address CONSUL_HTTP_ADDR gave" grep -q "watching http://$CATALOG_ADDR " "$TEST_TMP/dry-env.err"
CONSUL_HTTP_ADDR=127.0.0.1:1 timeout 60 "$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:1" -config "$DRY" \
  -base "$TOP/haproxy/haproxy.cfg.base" -once -dry >"$TEST_TMP/dry-flag.out" 2>/dev/null
check "-consul wins over CONSUL_HTTP_ADDR" cmp -s "$TEST_TMP/dry.out" "$TEST_TMP/dry-flag.out"
# no -base: the copy of haproxy/haproxy.cfg.base built into the binary (a build tree needs no install)
timeout 60 "$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:1" -config "$DRY" -once -dry \
  >"$TEST_TMP/dry-nobase.out" 2>"$TEST_TMP/dry-nobase.err"
check_eq "no -base: -once -dry exits 0" 0 $?
check "no -base: the built-in base renders what -base haproxy/haproxy.cfg.base does" cmp -s "$TEST_TMP/dry.out" "$TEST_TMP/dry-nobase.out"
check "no -base: the log says the base is built in" grep -q "base built in" "$TEST_TMP/dry-nobase.err"
{ echo "# a base of the operator's own"; cat "$TOP/haproxy/haproxy.cfg.base"; } >"$TEST_TMP/own.base"
timeout 60 "$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:1" -config "$DRY" -base "$TEST_TMP/own.base" -once -dry \
  >"$TEST_TMP/dry-own.out" 2>/dev/null
check "-base still overrides the built-in base" grep -qx "# a base of the operator's own" "$TEST_TMP/dry-own.out"

# ---- teardown: a run frees everything it allocated (templater_t and templater_free) ----
# valgrind's strictest form: no block left at exit, not even a reachable one (globals that were
# never freed were "still reachable" and would fail this), and no memory error
if ldd "$TPL" 2>/dev/null | grep -q libasan; then
  # the asan: run of this suite: valgrind cannot run an ASan binary; LeakSanitizer's report at
  # exit (which fails the suite) checks the same teardown there
  skip "sanitizer build: valgrind cannot run an ASan binary (LeakSanitizer checks the teardown)"
elif command -v valgrind >/dev/null; then
  printf '%s\n' '{{ range service "hello/v1" }}{{ .ID }}{{ end }} {{ keyOrDefault "service/haproxy/maxconn" "none" }}' >"$TEST_TMP/vg.ctmpl"
  for mode in generator template; do
    extra=(-base "$TOP/haproxy/haproxy.cfg.base")
    [ $mode = template ] && extra=(-template "$TEST_TMP/vg.ctmpl:$TEST_TMP/vg.out")
    timeout 300 valgrind --leak-check=full --error-exitcode=99 --log-file="$TEST_TMP/vg-$mode.log" \
      "$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:1" -config "$DRY" -once -dry "${extra[@]}" >/dev/null 2>&1
    check_eq "valgrind, -once -dry ($mode): exit 0, no memory error" 0 $?
    check "valgrind, -once -dry ($mode): every heap block freed at exit" grep -q "All heap blocks were freed" "$TEST_TMP/vg-$mode.log"
  done
else
  skip "valgrind is not installed (scripts/deps.sh installs it): teardown not checked"
fi

# ---- -once and no Consul: a bounded number of attempts, then exit 1 with the reason ----
# (12 attempts, backoff capped at 1 s: ~10 s; timeout's 124 would mean "retried forever")
CLOSED=127.0.0.1:$(free_port)
ONCE=$TEST_TMP/once.cfg
timeout 120 "$TPL" -consul "$CLOSED" -bind "127.0.0.1:1" -config "$ONCE" -once >/dev/null 2>"$TEST_TMP/once.err"
check_eq "-once, Consul unreachable: exits 1 (not retrying forever)" 1 $?
check "-once, Consul unreachable: says it gave up and why" \
  grep -Eq "error .*consul: /v1/[a-z/]+.*cannot connect to $CLOSED.*giving up after 12 attempts" "$TEST_TMP/once.err"
check "-once, Consul unreachable: writes no configuration" test ! -e "$ONCE"
printf '%s\n' '{{ range services }}{{ .Name }}{{ end }}' >"$TEST_TMP/once.ctmpl"
timeout 120 "$TPL" -consul "$CLOSED" -once -template "$TEST_TMP/once.ctmpl:$TEST_TMP/once.out" >/dev/null 2>"$TEST_TMP/once-t.err"
check_eq "-once -template, Consul unreachable: exits 1" 1 $?
check "-once -template, Consul unreachable: says it gave up" grep -q "giving up after 12 attempts" "$TEST_TMP/once-t.err"
check "-once -template, Consul unreachable: writes nothing" test ! -e "$TEST_TMP/once.out"

# ---- -template in:out:command (consul-template mode) ----
T=$TEST_TMP/t.ctmpl; OUT=$TEST_TMP/t.out; CMDLOG=$TEST_TMP/cmd.log
printf '%s\n' '{{ range service "hello/v1" }}{{ .ID }} {{ .Port }}' '{{ end }}maxconn={{ keyOrDefault "service/haproxy/maxconn" "none" }}' >"$T"
"$TPL" -consul "$CATALOG_ADDR" -template "$T:$OUT:echo ran >> $CMDLOG" -consul-wait 10s >"$TEST_TMP/tmode.log" 2>&1 &
TM_PID=$!
cleanup_add "kill $TM_PID"
check "-template renders the output" wait_for 'grep -q "^c1 ${BPORT[C]}$" "$OUT" 2>/dev/null' 10
check "-template: KV through keyOrDefault" grep -q '^maxconn=777$' "$OUT"
# the command runs after the file is written: wait for it rather than read at once; "once" is held
# to by the exact count of 2 after the next change below
check "-template: the command ran once" wait_for '[ "$(wc -l <"$CMDLOG" 2>/dev/null)" = 1 ]' 5
reg e1 hello/v1 "${BPORT[E]}" >/dev/null
check "-template: a new instance re-renders" wait_for 'grep -q "^e1 ${BPORT[E]}$" "$OUT"' 10
check "-template: the command ran again" wait_for '[ "$(wc -l <"$CMDLOG")" = 2 ]' 5
curl -s -o /dev/null -X PUT "$C/v1/agent/service/register" -d '{"ID":"u1","Name":"unrelated","Port":1,"Address":"127.0.0.1"}'
sleep 1.5
check_eq "-template: same bytes -> no command" 2 "$(wc -l <"$CMDLOG")"
echo 'reloaded-template' >>"$T"
kill -HUP "$TM_PID"
check "-template: SIGHUP re-reads the template" wait_for 'grep -q "^reloaded-template$" "$OUT"' 10
dereg e1; dereg u1
kill "$TM_PID"

# ---- a reload that fails, a configuration haproxy -c rejects: the last good one stays ----
# The reload failure comes from Consul's KV, as it would in production: maxconn 1000000 passes
# `haproxy -c` but the reload fails (HAProxy cannot raise its FD limit to 2 x maxconn: above
# fs.nr_open, 1048576 by default, even for root). Nothing from KV can make `haproxy -c` fail (a
# timeout past HAProxy's timer maximum is skipped, checked here), so the rejected configuration
# comes from the operator: a broken -base re-read on SIGHUP. Meanwhile a probe asks hello/v1
# without pause: every answer must be 200 from one of its instances (B, C).
metric() { curl -s --max-time 3 "http://127.0.0.1:$LP/metrics" | awk -v m="portolan_templater_$1" '$1 == m {print $2}'; }
failed_reloads() { echo 'show proc' | socat - "UNIX-CONNECT:$MS" 2>/dev/null | awk '$2 == "master" {gsub(/]/, "", $5); print $5}'; }
NR_OPEN=$(cat /proc/sys/fs/nr_open 2>/dev/null || echo 0)
if [ "$NR_OPEN" -ge 2000100 ]; then
  skip "rollback: fs.nr_open is $NR_OPEN, maxconn 1000000 would not make the reload fail here"
else
  # the last runtime change (e1 gone) is in the file: this is the configuration HAProxy runs
  check "rollback: the configuration is settled before the test" wait_for '! grep -q "server e1 " "$CFG"' 10
  cp "$CFG" "$TEST_TMP/good.cfg"
  F0=$(metric reload_failures_total); K0=$(metric check_failures_total); RL0=$(metric reloads_total)
  HF0=$(failed_reloads)
  PROBE_STOP=$TEST_TMP/probe.stop; PROBE_LOG=$TEST_TMP/probe.log
  (
    while [ ! -e "$PROBE_STOP" ]; do
      # "B /" + newline + status -> "B / 200"
      echo "$(curl -s --max-time 5 -w '%{http_code}' "$U/hello/v1/" | tr '\n' ' ')"
    done >"$PROBE_LOG"
  ) &
  PROBE_PID=$!
  cleanup_add "kill $PROBE_PID"
  check "rollback: the probe gets answers" wait_for '[ "$(wc -l <"$PROBE_LOG")" -ge 5 ]' 10

  curl -s -o /dev/null -X PUT "$C/v1/kv/service/haproxy/maxconn" --data-binary 1000000
  check "reload failure: counted in /metrics (reload_failures_total ${F0:-?} -> +1)" \
    wait_for '[ "$(metric reload_failures_total)" = $((F0 + 1)) ]' 20
  check_eq "reload failure: HAProxy's master counts it too (show proc failed)" "$((HF0 + 1))" "$(failed_reloads)"
  check "reload failure: logged, with the rollback" \
    wait_for 'grep -q "apply: reload failed: HAProxy reported the reload as failed" "$TEST_TMP/templater.log" &&
      grep -q "apply: rolled back $CFG to the last good configuration" "$TEST_TMP/templater.log"' 5
  check "reload failure: the installed file is the last good one, byte for byte" cmp -s "$CFG" "$TEST_TMP/good.cfg"
  check "reload failure: hello/v1 still answered by B and C" wait_for '[ "$(who 8 /hello/v1/)" = "B C" ]' 5
  check_eq "reload failure: hello/v10 still answered by E" "E" "$(get /hello/v10/ | cut -d' ' -f1)"

  # a new route while maxconn is still bad: its reload fails as well, nothing half-applied
  reg r1 hello/v3 "${BPORT[D]}" >/dev/null
  # the failure is counted when HAProxy reports it; the file is put back (checked) just after
  rolled_back() { grep -c "apply: rolled back $CFG to the last good configuration" "$TEST_TMP/templater.log"; }
  # shellcheck disable=SC2034 # read by wait_for's eval
  RB0=$(rolled_back)
  check "a new route with the bad maxconn: its reload fails too, and is rolled back" \
    wait_for '[ "$(metric reload_failures_total)" = $((F0 + 2)) ] && [ "$(rolled_back)" = $((RB0 + 1)) ]' 20
  check_eq "... so hello/v3 is not routed" 404 "$(code /hello/v3/)"
  check "... and the file is still the last good one" cmp -s "$CFG" "$TEST_TMP/good.cfg"

  # a timeout past HAProxy's timer maximum (~24.8 days) is skipped, never handed to haproxy -c
  # (timeout queue is not set: skipping it leaves the table as it is, so no job runs for it)
  curl -s -o /dev/null -X PUT "$C/v1/kv/service/haproxy/timeouts/queue" --data-binary 25d
  check "a KV timeout past HAProxy's maximum (25d) is skipped with a log line" \
    wait_for 'grep -q "kv .*timeouts/queue.*25d.*is not an HAProxy time.*skipped" "$TEST_TMP/templater.log"' 20
  # a KV change rebuilds the table: the pending change (hello/v3, maxconn 1000000) is tried again
  # and its reload fails again, rolled back like the others; haproxy -c had nothing to reject
  check "... the pending change is tried again, its reload fails and is rolled back" \
    wait_for '[ "$(metric reload_failures_total)" = $((F0 + 3)) ] && [ "$(rolled_back)" = $((RB0 + 2)) ]' 20
  check_eq "... and haproxy -c had nothing to reject" "${K0:-?}" "$(metric check_failures_total)"

  # now a configuration that `haproxy -c` rejects: a broken -base, re-read on SIGHUP. Never
  # installed, no reload tried, and the broken base is dropped
  echo 'this-is-not-a-keyword at all' >>"$BASE"
  kill -HUP "$TPL_PID"
  check "rejected configuration: counted in /metrics (check_failures_total ${K0:-?} -> +1)" \
    wait_for '[ "$(metric check_failures_total)" = $((K0 + 1)) ]' 20
  # with HAProxy's own reason on the same line (an ALERT naming the keyword), not a pointer elsewhere
  check "rejected configuration: logged with HAProxy's reason" \
    grep -Eq "apply: haproxy -c rejected the new configuration \(exit 1\): .*this-is-not-a-keyword" "$TEST_TMP/templater.log"
  check "rejected configuration: the broken base is dropped, with a log line" \
    wait_for 'grep -q "apply: the re-read base configuration is not used" "$TEST_TMP/templater.log"' 5
  check_eq "rejected configuration: no reload was tried" "$((F0 + 3))" "$(metric reload_failures_total)"
  check "rejected configuration: the file is still the last good one" cmp -s "$CFG" "$TEST_TMP/good.cfg"
  check "rejected configuration: no temporary file left behind" test ! -e "$CFG.tmp"
  check "rejected configuration: hello/v1 still answered by B and C" wait_for '[ "$(who 8 /hello/v1/)" = "B C" ]' 5
  cp "$TOP/haproxy/haproxy.cfg.base" "$BASE"

  # Consul changes back to something valid: the pending route is applied with one good reload
  curl -s -o /dev/null -X DELETE "$C/v1/kv/service/haproxy/timeouts/queue"
  curl -s -o /dev/null -X PUT "$C/v1/kv/service/haproxy/maxconn" --data-binary 777
  check "recovery: the new route hello/v3 is served by D" wait_for '[ "$(get /hello/v3/ | cut -d" " -f1)" = D ]' 20
  # HAProxy serves the new worker a moment before show proc has confirmed the reload to the templater
  if [ "$ROUTING" = maps ]; then
    # maxconn is back to what HAProxy runs: only the route is new, map edits and no reload
    check "recovery (-routing maps): the route needed no reload (reloads_total ${RL0:-?})" \
      wait_for '[ "$(metric runtime_changes_total)" -gt 0 ] && [ "$(metric reloads_total)" = "$RL0" ]' 10
    check "recovery (-routing maps): the path map on disk has hello/v3" \
      wait_for 'grep -Eq "^/hello/v3/ p2_[0-9]+$" "$CFG.paths.map"' 10
    grep -q 'maxconn 777$' "$CFG" && ! grep -Eq '25d|1000000|this-is-not' "$CFG" \
      && ok "recovery: the installed file has maxconn 777, no bad value" \
      || not_ok "recovery: the installed file has maxconn 777, no bad value"
  else
    check "recovery: a successful reload counted (reloads_total above ${RL0:-?})" \
      wait_for '[ "$(metric reloads_total)" -gt "$RL0" ]' 10
    grep -q '^backend b_hello:v3$' "$CFG" && grep -q 'maxconn 777$' "$CFG" && ! grep -Eq '25d|1000000|this-is-not' "$CFG" \
      && ok "recovery: the installed file has hello/v3, maxconn 777, no bad value" \
      || not_ok "recovery: the installed file has hello/v3, maxconn 777, no bad value"
  fi
  # a good -base re-read on SIGHUP: one reload, and the file is built on it
  # shellcheck disable=SC2034 # read by wait_for's eval
  RL1=$(metric reloads_total)
  echo '# base edited by the operator' >>"$BASE"
  kill -HUP "$TPL_PID"
  check "SIGHUP: an edited -base is applied with one reload" \
    wait_for 'grep -q "^# base edited by the operator$" "$CFG" && [ "$(metric reloads_total)" -gt "$RL1" ]' 20
  check "recovery: hello/v1 still answered by B and C" wait_for '[ "$(who 8 /hello/v1/)" = "B C" ]' 5

  touch "$PROBE_STOP"; wait "$PROBE_PID" 2>/dev/null
  total=$(wc -l <"$PROBE_LOG")
  bad=$(grep -Evc '^[BC] / 200$' "$PROBE_LOG")
  check_eq "hello/v1 answered 200 by B or C throughout ($total requests; wrong answers)" 0 "$bad"
  [ "$bad" = 0 ] || diag "first wrong answers: $(grep -Ev '^[BC] / 200$' "$PROBE_LOG" | head -3 | tr '\n' '|')"
  dereg r1
fi

# ---- no stacked HAProxy ----
# old workers leave once their connections are done: on a loaded machine that can take longer than
# the fixed 1 s this was, so wait up to 10 s; a stacked master or worker stays and still fails
nproc_ms() { pgrep -f -- "-S $MS" | wc -l; }
wait_for 'n=$(nproc_ms); [ "$n" -ge 1 -a "$n" -le 3 ]' 10
masters=$(nproc_ms)
check "one HAProxy master + its worker(s), nothing stacked (processes: $masters)" test "$masters" -ge 1 -a "$masters" -le 3

# ---- Consul down for 30 s ----
kill "$CATALOG_PID"; wait "$CATALOG_PID" 2>/dev/null
fails=0
for ((i = 0; i < 30; i++)); do
  # (its own generous timeout: a request counts as failed for HAProxy's answer, not for a slow
  # curl on a loaded machine)
  [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 15 "$U/hello/v1/")" = 200 ] || fails=$((fails + 1))
  sleep 1
done
check_eq "HAProxy serves hello/v1 throughout a 30 s Consul outage (failed requests)" 0 "$fails"
check "the templater is still running during the outage" kill -0 "$TPL_PID"
start_peer
# the peer starts empty: registrations come back (as agents re-register), plus a new instance
reg b1 hello/v1 "${BPORT[B]}" >/dev/null
reg c1 hello/v1 "${BPORT[C]}" >/dev/null
reg a2 hello/v1 "${BPORT[A]}" >/dev/null
check "routes converge after Consul returns (A B C)" wait_for '[ "$(who 9 /hello/v1/)" = "A B C" ]' 30

# ---- shutdown ----
kill -TERM "$TPL_PID"
check "SIGTERM: the templater exits" wait_for '! kill -0 $TPL_PID 2>/dev/null' 15
check "SIGTERM: its HAProxy is gone too" wait_for '[ "$(pgrep -f -- "-S $MS" | wc -l)" = 0 ]' 15

# ---- a templater killed with SIGKILL: its HAProxy keeps serving, the next one adopts it ----
start_tpl() {
  "$TPL" -consul "$CATALOG_ADDR" -bind "127.0.0.1:$HP" -config "$CFG" -base "$TOP/haproxy/haproxy.cfg.base" \
    -haproxy-bin "$HAPROXY" -consul-wait 10s >>"$TEST_TMP/templater2.log" 2>&1 &
  TPL_PID=$!
  cleanup_add "kill $TPL_PID"
}
start_tpl
check "restarted templater serves hello/v1" wait_for '[ "$(code /hello/v1/)" = 200 ]' 10
# Its first apply reloads HAProxy. The SIGKILL below waits until that reload is confirmed: while
# the master re-executes, its CLI refuses connections (~0.2 s here), and a templater started then
# does not see a master to adopt and starts a second one (a race of the daemon's adoption, out of
# this test's scope; this test is about adopting a running master)
reloaded_n() { grep -c "apply: HAProxy reloaded" "$TEST_TMP/templater2.log"; }
check "restarted templater: its first apply reloaded HAProxy" wait_for '[ "$(reloaded_n)" -ge 1 ]' 15
# the master's pid as HAProxy reports it (show proc), not the oldest "haproxy -W -S" process: a
# master re-executes itself on each reload (the restarted templater's first apply is one), with
# -sf <workers> -x ... in its arguments, and meanwhile the oldest match was seen to be a worker.
# Its CLI is away during the re-exec, hence the wait.
master_pid() { echo 'show proc' | socat - "UNIX-CONNECT:$MS" 2>/dev/null | awk '$2 == "master" {print $1}'; }
wait_for 'M0=$(master_pid); [ -n "$M0" ]' 10
kill -KILL "$TPL_PID"; wait "$TPL_PID" 2>/dev/null
check_eq "SIGKILLed templater: HAProxy keeps serving" 200 "$(code /hello/v1/)"
start_tpl
reg f1 hello/v1 "${BPORT[E]}" >/dev/null
check "the adopted HAProxy gets instance changes" wait_for '[[ "$(who 10 /hello/v1/)" == *E* ]]' 10
# adoption, seen from HAProxy's side: the master that served before the SIGKILL is the one now
wait_for 'M1=$(master_pid); [ -n "$M1" ]' 10
check "the next templater adopts the running master (master pid ${M0:-none} before, ${M1:-none} after)" \
  test -n "$M0" -a "$M0" = "$M1"
n=$(pgrep -f -- "-S $MS" | wc -l)
check "still one master + worker(s) ($n processes)" test "$n" -ge 2 -a "$n" -le 3

# ---- a restarted templater whose first reload fails: the file HAProxy serves goes back ----
# The new templater has installed nothing yet; the configuration it finds is what the adopted
# master runs, so it is the last good one (maxconn 1000000: see the rollback section above).
# (killed once its own first reload is confirmed, as above)
wait_for '[ "$(reloaded_n)" -ge 2 ]' 15
kill -KILL "$TPL_PID"; wait "$TPL_PID" 2>/dev/null
if [ "$NR_OPEN" -ge 2000100 ]; then
  skip "restart rollback: fs.nr_open is $NR_OPEN, maxconn 1000000 would not make the reload fail here"
else
  cp "$CFG" "$TEST_TMP/served.cfg"
  curl -s -o /dev/null -X PUT "$C/v1/kv/service/haproxy/maxconn" --data-binary 1000000
  start_tpl
  check "restarted templater: its first reload fails and is rolled back" \
    wait_for 'grep -q "apply: reload failed: HAProxy reported" "$TEST_TMP/templater2.log" &&
      grep -q "apply: rolled back $CFG to the last good configuration" "$TEST_TMP/templater2.log"' 20
  check "restarted templater: the file is the one HAProxy served before, byte for byte" \
    cmp -s "$CFG" "$TEST_TMP/served.cfg"
  check_eq "restarted templater: hello/v1 still served" 200 "$(code /hello/v1/)"
  curl -s -o /dev/null -X DELETE "$C/v1/kv/service/haproxy/maxconn"
fi
kill "$TPL_PID"

if [ -n "$VERBOSE" ]; then cat "$TEST_TMP/templater.log" >&2; fi
done_testing
