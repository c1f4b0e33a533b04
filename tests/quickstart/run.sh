#!/usr/bin/env bash
# Suite "quickstart": the README's run command end to end: scripts/quickstart.sh brings up
# catalog, agent, templater + HAProxy and the demo service on free loopback ports, hello/v1
# answers from both containers through HAProxy, and `stop` leaves nothing running.
# needs: docker
. "$(dirname "$0")/../lib.sh"

export PORTOLAN_RUN=$TEST_TMP/qs
PORTOLAN_PROXY_BIND=127.0.0.1:$(free_port)
PORTOLAN_CATALOG_LISTEN=127.0.0.1:$(free_port)
export PORTOLAN_PROXY_BIND PORTOLAN_CATALOG_LISTEN
cleanup_add "BUILD=$BUILD $TOP/scripts/quickstart.sh stop"

if BUILD=$BUILD timeout 300 "$TOP/scripts/quickstart.sh" >"$TEST_TMP/qs.out" 2>&1; then
  ok "quickstart.sh start succeeds"
else
  not_ok "quickstart.sh start succeeds"; sed 's/^/# /' "$TEST_TMP/qs.out" | tail -20
  for f in "$PORTOLAN_RUN"/*.log; do [ -f "$f" ] && { diag "== $f"; tail -5 "$f" | sed 's/^/# /'; }; done
fi
check "it says where the demo service answers" grep -q "http://$PORTOLAN_PROXY_BIND/hello/v1/" "$TEST_TMP/qs.out"

# quickstart.sh waits until hello/v1 answers, which one container does: the other one's route can
# come a moment later. Six requests in a row must reach both, once HAProxy has both (30 s at most).
six() { for _ in $(seq 1 6); do curl -s --max-time 2 "http://$PORTOLAN_PROXY_BIND/hello/v1/"; echo; done | sort -u | grep -c .; }
for _ in $(seq 1 300); do seen=$(six); [ "$seen" = 2 ] && break; sleep 0.1; done
check_eq "hello/v1 answers from both demo containers in turn" "2" "$seen"
check_eq "/hello/v10 is not routed to hello/v1" "404" \
  "$(curl -s -o /dev/null -w '%{http_code}' "http://$PORTOLAN_PROXY_BIND/hello/v10")"
check_eq "the catalog lists hello/v1 tagged rest" '["rest"]' \
  "$(curl -s "http://$PORTOLAN_CATALOG_LISTEN/v1/catalog/services" | jq -c '."hello/v1"')"

pids=$(cat "$PORTOLAN_RUN"/{catalog,agent,templater}.pid 2>/dev/null)
BUILD=$BUILD "$TOP/scripts/quickstart.sh" stop >/dev/null 2>&1
# (a process that stop had to kill -9 may take a moment to be gone: 5 s at most)
n_alive() { local p n=0; for p in $pids; do kill -0 "$p" 2>/dev/null && n=$((n + 1)); done; echo $n; }
for _ in $(seq 1 50); do alive=$(n_alive); [ "$alive" = 0 ] && break; sleep 0.1; done
check_eq "quickstart.sh stop ends catalog, agent and templater" "0" "$alive"
check_eq "quickstart.sh stop removes the demo containers" "" "$(docker ps -aq --filter label=portolan.quickstart=1)"
left=$(pgrep -f "[h]aproxy .*$PORTOLAN_RUN/haproxy.cfg" | wc -l)
check_eq "no HAProxy of the quickstart is left" "0" "$left"
done_testing
