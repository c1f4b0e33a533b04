# shellcheck shell=bash
# tests/stack.sh: the whole portolan stack on loopback, for suites and benches that drive it end
# to end (tests/faults, bench/soak). Source it after tests/lib.sh, set the variables below, then
# call stack_setup; it prints nothing, returns non-zero (after a TAP not_ok) when something is
# missing. The daemons' output goes to $TEST_TMP/{catalog,agent,templater}.log.
#   STACK_NAME   prefix of the tag/network/label (default stack); made unique with $$
#   DATA         the catalog's -data-dir parent (default $TEST_TMP/data; the caller may mount it)
#   CONSUL_WAIT  the templater's blocking wait (default 2s)
#   STACK_BASE   the HAProxy base configuration (default haproxy/haproxy.cfg.base)
#   STACK_INTERNAL  1: the agent runs with -internal (registers container address + exposed
#                port, which needs no published port), and truth() lists those addresses; read by
#                start_agent and truth, so it may change between two start_agent calls
# After stack_setup: TAG (also the routing tag), SVC ($TAG/v1), LABEL, NET (a docker network of its
# own, removed at exit with every container carrying LABEL), IMAGE (local test image), CAT, PROXY,
# TLISTEN (loopback addresses of catalog, HAProxy front end, templater API), CFG and ADMIN (the
# HAProxy config and its runtime API socket), HAPROXY (binary).
# Functions: start_catalog_proc, start_agent, start_templater (each sets *_PID and registers a
# cleanup), haproxy_pids, run_container, truth, catalog_view, haproxy_view, now_ms,
# wait_converged SECS [TRUTH].

stack_setup() {
  HAPROXY=${HAPROXY:-$(command -v haproxy || echo /usr/sbin/haproxy)}
  local b t
  for b in portolan-catalog portolan-agent portolan-templater; do
    [ -x "$BUILD/$b" ] || { not_ok "$b is built ($BUILD/$b)"; return 1; }
  done
  for t in socat jq "$HAPROXY"; do
    command -v "$t" >/dev/null || { not_ok "$t is installed"; return 1; }
  done
  if ! "$TOP/tests/images/build.sh" >"$TEST_TMP/images.log" 2>&1; then
    not_ok "test images build"; sed 's/^/# /' "$TEST_TMP/images.log" | tail; return 1
  fi
  IMAGE=portolan-test/web:latest
  TAG=${STACK_NAME:-stack}$$  # also the routing tag: the shared engine's other SERVICE_NAME
                              # containers are registered too (-explicit), but only ours are
                              # routed, so theirs cause no reload
  SVC=$TAG/v1
  LABEL=portolan.${STACK_NAME:-stack}=$$
  # a network of its own: the shared engine's default bridge (docker0) may not be there
  NET=$TAG
  if ! docker network create --label "$LABEL" "$NET" >/dev/null; then
    not_ok "docker network $NET is created"; return 1
  fi
  cleanup_add "docker network rm $NET"
  cleanup_add "docker ps -aq --filter label=$LABEL | xargs -r docker rm -f"
  DATA=${DATA:-$TEST_TMP/data}
  mkdir -p "$DATA"
  CAT=127.0.0.1:$(free_port)
  PROXY=127.0.0.1:$(free_port)
  TLISTEN=127.0.0.1:$(free_port)
  CFG=$TEST_TMP/haproxy.cfg
  ADMIN=$CFG.admin.sock
  CONSUL_WAIT=${CONSUL_WAIT:-2s}
  cleanup_add 'for p in $(haproxy_pids); do kill $p; done'
}

start_catalog_proc() {
  "$BUILD/portolan-catalog" -listen "$CAT" -data-dir "$DATA/catalog" -node "$TAG" \
    >>"$TEST_TMP/catalog.log" 2>&1 &
  CATALOG_PID=$!
  cleanup_add "kill -CONT $CATALOG_PID; kill $CATALOG_PID"
  wait_http "http://$CAT/v1/status/leader" 20
}
start_agent() {
  "$BUILD/portolan-agent" -explicit -cleanup -ip 127.0.0.1 -node-id "$TAG" -resync 5s -consul-poll 1s \
    -retry-attempts -1 -retry-interval 200 \
    "-internal=$([ "${STACK_INTERNAL:-0}" = 1 ] && echo true || echo false)" "consul://$CAT" >>"$TEST_TMP/agent.log" 2>&1 &
  AGENT_PID=$!
  cleanup_add "kill $AGENT_PID"
}
start_templater() {
  "$BUILD/portolan-templater" -consul "consul://$CAT" -tag "$TAG" -bind "$PROXY" -config "$CFG" \
    -base "${STACK_BASE:-$TOP/haproxy/haproxy.cfg.base}" -haproxy-bin "$HAPROXY" -wait 50ms:500ms \
    -consul-wait "$CONSUL_WAIT" -listen "$TLISTEN" >>"$TEST_TMP/templater.log" 2>&1 &
  TEMPLATER_PID=$!
  cleanup_add "kill $TEMPLATER_PID"
}
# HAProxy processes serving our config (the templater's master and workers), for cleanup
haproxy_pids() { pgrep -f "[h]aproxy .*$CFG" || true; }

# run_container [docker run args]: one more instance of $SVC (detached; prints nothing)
run_container() {
  docker run -d --label "$LABEL" --label SERVICE_NAME="$SVC" --label SERVICE_TAGS="$TAG" \
    --network "$NET" -p 127.0.0.1::80 "$@" "$IMAGE" >/dev/null
}

# ---- the truth and the views of it (each a sorted list of address:port) ----
# the running containers: 127.0.0.1:<published port>, or (STACK_INTERNAL=1) <container IP>:80
truth() {
  local id
  for id in $(docker ps -q --filter "label=$LABEL"); do
    if [ "${STACK_INTERNAL:-0}" = 1 ]; then
      docker inspect -f '{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}:80' "$id"
    else
      docker port "$id" 80/tcp | head -1
    fi
  done | sort
}
catalog_view() {
  curl -s --max-time 2 "http://$CAT/v1/health/service/$SVC" |
    jq -r '.[] | "\(.Service.Address):\(.Service.Port)"' 2>/dev/null | sort
}
# servers of ours that HAProxy would use: not in maintenance (admin state 0). Found by name (the
# service ID the agent gives them, <node>:<container>:<port>, node = $TAG), in whatever backend
# they are: with -routing maps (the default) a route's servers are in a pooled backend.
haproxy_view() {
  echo "show servers state" | socat -t2 - "UNIX-CONNECT:$ADMIN" 2>/dev/null |
    awk -v p="$TAG:" 'NF > 18 && $1 !~ /^#/ && index($4, p) == 1 && $7 == 0 { print $5 ":" $19 }' | sort
}
now_ms() { date +%s%3N; }
# wait_converged SECS [TRUTH]: until both views equal the truth (the catalog's without
# duplicates, as the lists are compared whole); prints the ms it took, or -1. The truth is taken
# once (nothing changes the containers while this waits), before the clock starts when given.
# An empty truth counts (both views empty) only when given explicitly as "".
wait_converged() {
  local t start
  if [ $# -ge 2 ]; then t=$2; else t=$(truth); fi
  start=$(now_ms)
  while [ $(( $(now_ms) - start )) -lt $(( $1 * 1000 )) ]; do
    if { [ -n "$t" ] || [ $# -ge 2 ]; } && [ "$(haproxy_view)" = "$t" ] && [ "$(catalog_view)" = "$t" ]; then
      echo $(( $(now_ms) - start )); return 0
    fi
    sleep 0.02
  done
  echo -1; return 1
}
