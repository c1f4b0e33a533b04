#!/usr/bin/env bash
# tests/clients/run.sh: the lib/ clients against the real things, through tests/clients/client_probe:
# the Docker client against this machine's dockerd (version negotiation, info, inspect, the event
# stream live and replayed with since=, error messages) and the Consul client + blocking-query
# watch against portolan-catalog (skipped, not passed, while that binary is not built).
# needs: docker
source "$(dirname "$0")/../lib.sh"
# matches STRING GLOB: for check (which runs a command, so [[ ]] cannot be passed directly)
# shellcheck disable=SC2053 # $2 is a glob on purpose
matches() { [[ $1 == $2 ]]; }

PROBE=$BUILD/tests/clients/client_probe
if [ ! -x "$PROBE" ]; then
  not_ok "client_probe is built ($PROBE)"
  done_testing
  exit 1
fi

# ---- Docker ----
if docker version >/dev/null 2>&1; then
  name=$(docker info -f '{{.Name}}')
  out=$("$PROBE" docker-info 2>&1)
  check_eq "docker-info: API negotiated down to 1.41 at most, Name read" "api=$(docker version -f '{{.Server.APIVersion}}' | awk -F. '{ if ($1 > 1 || $2 > 41) print "1.41"; else print $0 }') name=$name" "$out"

  img=$(docker images -q | head -1)
  if [ -z "$img" ]; then
    skip "docker: no local image to create a container from"
  else
    cname=portolan-clients-$$
    t0=$(date +%s)
    label=portolan.clients.test=$$ # other suites create containers too: watch only ours
    listeners() { docker info -f '{{.NEventsListener}}' 2>/dev/null; }
    l0=$(listeners)
    "$PROBE" docker-events create,destroy 2 - "$label" >"$TEST_TMP/live.out" 2>"$TEST_TMP/live.err" &
    probe_pid=$!
    cleanup_add "kill $probe_pid"
    cleanup_add "docker rm -f $cname"
    # let the stream reach dockerd before the events happen: the probe prints "subscribed" once it
    # has sent the request, and dockerd counts the subscription among its event listeners once
    # it has registered it (both waited for, 30 s at most, instead of a fixed second more)
    for _ in $(seq 1 300); do grep -q '^subscribed' "$TEST_TMP/live.out" && break; sleep 0.1; done
    for _ in $(seq 1 300); do [ "$(listeners)" -gt "${l0:-0}" ] 2>/dev/null && break; sleep 0.1; done
    diag "docker event listeners: ${l0:-?} before the probe, $(listeners) after"
    cid=$(docker create --label "$label" --name "$cname" "$img" true 2>/dev/null)
    out=$("$PROBE" docker-inspect "$cid" 2>&1)
    check_eq "docker-inspect reads the container name" "name=/$cname" "$out"
    docker rm "$cid" >/dev/null
    # bounded: a probe that missed an event is killed after 30 s (the check below then fails)
    # instead of hanging the suite in wait
    for _ in $(seq 1 300); do kill -0 $probe_pid 2>/dev/null || break; sleep 0.1; done
    kill $probe_pid 2>/dev/null
    wait $probe_pid
    rc=$?
    check_eq "docker-events (live): exits 0 after two events" "0" "$rc"
    check_eq "docker-events (live): create then destroy of our container" \
      "create ${cid:0:12}|destroy ${cid:0:12}" "$(awk '$1 != "subscribed" { printf "%s%s %s", sep, $1, $2; sep="|" }' "$TEST_TMP/live.out")"
    # replay: a stream opened afterwards with since=<before> gets the same events from history
    out=$(timeout 10 "$PROBE" docker-events create,destroy 2 "$t0" "$label" 2>&1 | awk '$1 != "subscribed" { printf "%s%s %s", sep, $1, $2; sep="|" }')
    check_eq "docker-events (since=): past events replayed" "create ${cid:0:12}|destroy ${cid:0:12}" "$out"
  fi

  out=$("$PROBE" docker-inspect no-such-container-$$ 2>&1)
  check_eq "docker 404 message" "docker: GET /v1.41/containers/no-such-container-$$/json: 404 No such container: no-such-container-$$" "$out"
else
  skip "docker: no dockerd reachable"
fi
out=$(DOCKER_HOST=unix://$TEST_TMP/none.sock "$PROBE" docker-info 2>&1)
check_eq "docker: a missing socket says so and names DOCKER_HOST" \
  "docker: cannot connect to unix://$TEST_TMP/none.sock: no such socket (is dockerd running? check DOCKER_HOST)" "$out"
out=$(DOCKER_HOST=ssh://x "$PROBE" docker-info 2>&1)
check_eq "docker: unsupported DOCKER_HOST scheme refused" \
  'docker: DOCKER_HOST "ssh://x": unsupported scheme (use unix:///path or tcp://host:port)' "$out"

# ---- Consul API (portolan-catalog) ----
if [ -x "$BUILD/portolan-catalog" ] && start_catalog; then
  uri=consul://$CATALOG_ADDR
  check_eq "consul leader" '"127.0.0.1:8300"' "$("$PROBE" consul "$uri" leader 2>&1)"
  check_eq "consul register" "null" \
    "$("$PROBE" consul "$uri" register '{"ID":"n1:web:80","Name":"web","Port":80,"Address":"127.0.0.1","Check":{"TTL":"30s"}}' 2>&1)"
  out=$("$PROBE" consul "$uri" register '{"ID":"n1:bad:80","Name":"bad","Meta":{"bad key":"x"}}' 2>&1)
  check "consul register error body surfaced ($out)" matches "$out" "consul: PUT /v1/agent/service/register: 400 Invalid Service Meta*"
  check_eq "consul TTL pass on an escaped check ID" "null" "$("$PROBE" consul "$uri" ttl service:n1:web:80 pass "ok now" 2>&1)"
  out=$("$PROBE" consul "$uri" services 2>&1)
  check "consul agent/services lists n1:web:80" matches "$out" '*"n1:web:80"*'
  # the watch sees the first answer at once, then the second instance
  "$PROBE" consul-watch "$uri" /v1/health/service/web 2 5000 >"$TEST_TMP/watch.out" 2>"$TEST_TMP/watch.err" &
  wpid=$!
  cleanup_add "kill $wpid"
  # (30 s bounds, were 5 s: the second instance must be registered after the first answer, or the
  # first answer already has both and the checks below fail for the test's own timing)
  for _ in $(seq 1 300); do grep -q '^change' "$TEST_TMP/watch.out" && break; sleep 0.1; done
  "$PROBE" consul "$uri" register '{"ID":"n1:web:81","Name":"web","Port":81,"Address":"127.0.0.1"}' >/dev/null 2>&1
  for _ in $(seq 1 300); do kill -0 $wpid 2>/dev/null || break; sleep 0.1; done
  kill $wpid 2>/dev/null
  wait $wpid
  check_eq "consul watch: exits after two changes" "0" "$?"
  read -r i1 i2 _ <<<"$(sed -n 's/^change index=\([0-9]*\) .*/\1/p' "$TEST_TMP/watch.out" | tr '\n' ' ')"
  check "consul watch: index rose between the two changes ($i1 -> $i2)" test "${i2:-0}" -gt "${i1:-0}"
  check "consul watch: second change has both instances" grep -q '"n1:web:81"' <(sed -n 2p "$TEST_TMP/watch.out")
  check_eq "consul KV: a missing key is absent, not an error" "absent" "$("$PROBE" consul "$uri" kv "no/such key" 2>&1)"
  out=$("$PROBE" consul "$uri" catalog 2>&1)
  check "consul catalog/services lists web and consul ($out)" matches "$out" '*"consul":\[\]*"web":\[\]*'
  check_eq "consul deregister" "null" "$("$PROBE" consul "$uri" deregister n1:web:80 2>&1)"
  out=$("$PROBE" consul "$uri" deregister n1:web:80 2>&1)
  check "consul deregister of an unknown ID: 404 message ($out)" matches "$out" 'consul: PUT /v1/agent/service/deregister/n1%3Aweb%3A80: 404 Unknown service ID*'

  # server restart: the watch's connection breaks, and its next query carries no index, so the
  # new catalog's data arrives at once. portolan-catalog's indexes start from the clock and never
  # go backwards across a restart (docs/catalog.md, Indexes); a server whose index does go
  # backwards (a Consul restored from an older snapshot) is covered by test_consul_client.
  for i in 1 2 3 4 5; do # writes in the old catalog, so its index has moved on
    "$PROBE" consul "$uri" register "{\"ID\":\"d$i\",\"Name\":\"dummy$i\"}" >/dev/null 2>&1
    "$PROBE" consul "$uri" deregister "d$i" >/dev/null 2>&1
  done
  "$PROBE" consul "$uri" register '{"ID":"n1:web:82","Name":"web","Port":82,"Address":"127.0.0.1"}' >/dev/null 2>&1
  "$PROBE" consul-watch "$uri" /v1/health/service/web 99 2000 >"$TEST_TMP/restart.out" 2>"$TEST_TMP/restart.err" &
  rpid=$!
  cleanup_add "kill $rpid"
  for _ in $(seq 1 300); do grep -q '^change' "$TEST_TMP/restart.out" && break; sleep 0.1; done
  old_idx=$(sed -n '1s/^change index=\([0-9]*\) .*/\1/p' "$TEST_TMP/restart.out")
  kill "$CATALOG_PID"; wait "$CATALOG_PID" 2>/dev/null
  "$BUILD/portolan-catalog" -listen "$CATALOG_ADDR" >>"$TEST_TMP/catalog2.log" 2>&1 &
  CATALOG_PID=$!
  cleanup_add "kill $CATALOG_PID"
  wait_http "http://$CATALOG_ADDR/v1/status/leader" 10
  "$PROBE" consul "$uri" register '{"ID":"n1:web:90","Name":"web","Port":90,"Address":"127.0.0.1"}' >/dev/null 2>&1
  for _ in $(seq 1 300); do grep -q '"n1:web:90"' "$TEST_TMP/restart.out" && break; sleep 0.1; done
  kill $rpid 2>/dev/null; wait $rpid 2>/dev/null
  new_idx=$(grep '"n1:web:90"' "$TEST_TMP/restart.out" | head -1 | sed -n 's/^change index=\([0-9]*\) .*/\1/p')
  check "consul watch: after a server restart the new data arrives (index $old_idx -> ${new_idx:-none})" \
    test -n "$new_idx"
  check "consul watch: ... and the restarted catalog's index did not go backwards" test "${new_idx:-0}" -gt "${old_idx:-0}"
  check "consul watch: ... and the old instance is gone from it" \
    bash -c "! grep '\"n1:web:90\"' '$TEST_TMP/restart.out' | grep -q '\"n1:web:82\"'"
else
  skip "consul client against portolan-catalog: $BUILD/portolan-catalog not built or did not start"
fi

done_testing
