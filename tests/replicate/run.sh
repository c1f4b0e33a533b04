#!/usr/bin/env bash
# tests/replicate/run.sh: portolan-agent's replicate/scale API (agent/ops_api.c) end to end:
# a dedicated dockerd, portolan-catalog, and portolan-agent -internal with -api-listen on
# 127.0.0.1 and certificates made here. Asserts: a replicated container runs with the same
# image/env/labels and another hostname and is registered as a second instance of the service;
# the seed's GET /<id> works; scale to 1, to 3 and by -2 change the running set and the catalog;
# TLS refuses no client certificate, another CA's certificate, an expired one and plain HTTP; bad input (unknown
# id, to=abc, to=1000, ...) gets 4xx and changes nothing; -api-listen without certificates is fatal.
# needs: docker
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$TOP/tests/lib.sh"
# shellcheck source=../agent/lib-docker.sh
source "$TOP/tests/agent/lib-docker.sh"

for b in portolan-agent portolan-catalog; do
  [ -x "$BUILD/$b" ] || { not_ok "$b built in $BUILD"; done_testing; exit 1; }
done

# KEEP_LOGS=DIR: copy the agent/catalog logs there at exit (debugging)
[ -n "${KEEP_LOGS:-}" ] && cleanup_add "mkdir -p '$KEEP_LOGS' && cp $TEST_TMP/*.log '$KEEP_LOGS/'"
pit_dockerd_start rep || { not_ok "dedicated dockerd starts"; done_testing; exit 1; }
CPORT=$(free_port)
pit_catalog_start "$CPORT" || { not_ok "catalog starts"; done_testing; exit 1; }
C=$TEST_TMP/certs O=$TEST_TMP/other
pit_tls_certs "$C" replicate-test && pit_tls_certs "$O" other-ca || { not_ok "certificates made"; done_testing; exit 1; }

APORT=$(free_port) MPORT=$(free_port)
API=https://127.0.0.1:$APORT
# the node command of scale-nodes: a stand-in that records its arguments, prints a line, and
# fails or lingers when the test asks it to (files next to it); the real one (scripts/
# scaleNodes.sh on the local cluster) is exercised by tests/scaling
NODES=$TEST_TMP/nodes
mkdir -p "$NODES"
cat >"$NODES/cmd.sh" <<EOS
#!/bin/sh
echo "\$@" >>"$NODES/calls"
[ -e "$NODES/slow" ] && sleep 3
echo "node command: \$1 \$2 \$3"
[ -e "$NODES/fail" ] && exit 3
exit 0
EOS
chmod +x "$NODES/cmd.sh"
pit_agent_start a rep -- -internal -api-listen "127.0.0.1:$APORT" -api-cert "$C/server-cert.pem" \
  -api-key "$C/server-key.pem" -api-ca "$C/ca.pem" -listen "127.0.0.1:$MPORT" \
  -scale-cooldown 8s -scale-drain 4s -scale-nodes-cmd "$NODES/cmd.sh" "consul://127.0.0.1:$CPORT"

# api CURL-ARGS...: prints the HTTP status; body in $TEST_TMP/body
api() {
  curl -sS --max-time 90 --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" \
    -o "$TEST_TMP/body" -w '%{http_code}' "$@" 2>"$TEST_TMP/curl.err"
}
instances() { curl -sf "http://127.0.0.1:$CPORT/v1/catalog/service/$1" | jq length; }
running_of() { dk rep ps -q --filter "label=svc=$1" | wc -l; }   # test containers carry svc=<name>
wait_instances() { wait_for "${3:-20}" sh -c "[ \"\$(curl -sf http://127.0.0.1:$CPORT/v1/catalog/service/$1 | jq length)\" = $2 ]"; }

check "agent's API answers over TLS" wait_for 15 curl -s -o /dev/null --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" "$API/v1/nothing"

dk rep run -d --name web --stop-timeout 2 -e SERVICE_NAME=web -e FOO=bar -l team=blue -l svc=web portolan-test/web >/dev/null
ORIG_ID=$(dk rep inspect -f '{{.Id}}' web)
ORIG_HOST=$(dk rep inspect -f '{{.Config.Hostname}}' web)
check "original registered once" wait_instances web 1

# ---- replicate
t0=$(now_ms)
st=$(api -X POST "$API/v1/replicate/web")
check_eq "POST /v1/replicate/web -> 201" 201 "$st"
diag "replicate took $(( $(now_ms) - t0 )) ms"
NEW_ID=$(jq -r .Id "$TEST_TMP/body" 2>/dev/null)
NEW_NAME=$(jq -r .Name "$TEST_TMP/body" 2>/dev/null)
check "answer names the clone web-r<8 hex>" grep -qE '^web-r[0-9a-f]{8}$' <<<"$NEW_NAME"
check_eq "clone is running" true "$(dk rep inspect -f '{{.State.Running}}' "$NEW_ID" 2>/dev/null)"
check_eq "clone has the same image" "$(dk rep inspect -f '{{.Config.Image}}' web)" "$(dk rep inspect -f '{{.Config.Image}}' "$NEW_ID" 2>/dev/null)"
check_eq "clone has the same env" "$(dk rep inspect -f '{{json .Config.Env}}' web)" "$(dk rep inspect -f '{{json .Config.Env}}' "$NEW_ID" 2>/dev/null)"
check_eq "clone has the same labels" "$(dk rep inspect -f '{{json .Config.Labels}}' web)" "$(dk rep inspect -f '{{json .Config.Labels}}' "$NEW_ID" 2>/dev/null)"
NEW_HOST=$(dk rep inspect -f '{{.Config.Hostname}}' "$NEW_ID" 2>/dev/null)
check "clone has another hostname ($NEW_HOST vs $ORIG_HOST), its own ID's prefix" \
  test -n "$NEW_HOST" -a "$NEW_HOST" != "$ORIG_HOST" -a "$NEW_HOST" = "${NEW_ID:0:12}"
check "catalog: clone registered as a second instance of web" wait_instances web 2
check_eq "the two instances have different addresses" 2 \
  "$(curl -sf "http://127.0.0.1:$CPORT/v1/catalog/service/web" | jq '[.[].ServiceAddress] | unique | length')"

# ---- the seed's interface
st=$(api "$API/${ORIG_ID:0:12}")
check_eq "GET /<short id> (seed interface) -> 200 done" "200 done" "$st $(cat "$TEST_TMP/body")"
check_eq "three running" 3 "$(running_of web)"
st=$(api "$API/")
check_eq "GET / -> 400 container id missing" "400 container id missing" "$st $(cat "$TEST_TMP/body")"
st=$(api "$API/doesnotexist")
check_eq "GET /<unknown id> -> 404 invalid container id" "404 invalid container id" "$st $(cat "$TEST_TMP/body")"
st=$(api "$API/bad..ref%20x")
check_eq "GET /<malformed id> -> 404 invalid container id" "404 invalid container id" "$st $(cat "$TEST_TMP/body")"
st=$(api -H 'Accept: application/json' -D "$TEST_TMP/hdr" "$API/${ORIG_ID:0:12}")
JID=$(jq -r .Id "$TEST_TMP/body" 2>/dev/null)
check "GET /<id> with Accept: application/json -> 200 and the new container's ID ($st)" \
  test "$st" = 200 -a "$(dk rep inspect -f '{{.State.Running}}' "$JID" 2>/dev/null)" = true
check "answers carry the seed's CORS header" grep -qi '^Access-Control-Allow-Origin: \*' "$TEST_TMP/hdr"
st=$(api -X OPTIONS -D "$TEST_TMP/hdr" -H 'Origin: http://page.example' -H 'Access-Control-Request-Method: GET' "$API/${ORIG_ID:0:12}")
check_eq "OPTIONS preflight -> 204" 204 "$st"
check "preflight allows any origin" grep -qi '^Access-Control-Allow-Origin: \*' "$TEST_TMP/hdr"
check "preflight allows GET and POST" grep -qi '^Access-Control-Allow-Methods: .*GET.*POST' "$TEST_TMP/hdr"
check_eq "the preflight changed nothing: four running" 4 "$(running_of web)"

# ---- scale
t0=$(now_ms)
st=$(api -X POST "$API/v1/scale/web?to=1")
check_eq "scale web to=1 -> 200" 200 "$st"
diag "scale 4 -> 1 took $(( $(now_ms) - t0 )) ms"
check_eq "answer before 4 after 1" '4 1 web' "$(jq -r '"\(.before) \(.after) \(.service)"' "$TEST_TMP/body" 2>/dev/null)"
check_eq "one running" 1 "$(running_of web)"
check_eq "the original (oldest) is the one kept" "$ORIG_ID" "$(dk rep ps -q --no-trunc --filter label=svc=web)"
check_eq "scaled-down containers are removed, not just stopped" 1 "$(dk rep ps -aq --filter label=svc=web | wc -l)"
check "catalog: back to one instance" wait_instances web 1

t0=$(now_ms)
st=$(api -X POST "$API/v1/scale/web?to=3")
check_eq "scale web to=3 -> 200" 200 "$st"
diag "scale 1 -> 3 took $(( $(now_ms) - t0 )) ms"
check_eq "answer before 1 after 3" '1 3' "$(jq -r '"\(.before) \(.after)"' "$TEST_TMP/body" 2>/dev/null)"
check_eq "three running" 3 "$(running_of web)"
check "catalog: three instances" wait_instances web 3

st=$(api -X POST "$API/v1/scale/web?by=-2")
check_eq "scale web by=-2 -> 200 (1)" "200 1" "$st $(jq -r .after "$TEST_TMP/body" 2>/dev/null)"
check_eq "one running again" 1 "$(running_of web)"
check "catalog: one instance again" wait_instances web 1

# ---- one scale at a time; a client that goes away does not stop its operation
# The engine is held still (SIGSTOP) while the first scale is under way, so that it is still
# running when the second request comes, however fast or slow this machine is: the first has
# begun once the agent logs it, and cannot finish before the engine is let go again. The
# one-at-a-time answer comes before Docker is asked anything.
DPID=${PIT_PID[rep]}
engine_go() { kill -CONT "$DPID" 2>/dev/null; }
cleanup_add "kill -CONT $DPID"
log_lines() { grep -c "$1" "$TEST_TMP/agent-a.log" 2>/dev/null; }
log_lines_ge() { [ "$(log_lines "$1")" -ge "$2" ]; }
n0=$(log_lines 'scale web to=4')
kill -STOP "$DPID"
curl -sS --max-time 60 --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" -o "$TEST_TMP/bg.body" \
  -w '%{http_code}' -X POST "$API/v1/scale/web?to=4" >"$TEST_TMP/bg.st" 2>/dev/null &
bgpid=$!
if wait_for 30 log_lines_ge 'scale web to=4' $((n0 + 1)); then
  st=$(api -X POST "$API/v1/scale/web?by=1")
  check_eq "a second scale while one runs -> 409" 409 "$st"
else
  not_ok "a second scale while one runs -> 409 (the first one never started)"
fi
engine_go
wait "$bgpid"
check_eq "the first one completes: 200, after 4" "200 4" "$(cat "$TEST_TMP/bg.st") $(jq -r .after "$TEST_TMP/bg.body" 2>/dev/null)"
check "catalog: four instances" wait_instances web 4
running_is() { [ "$(running_of web)" = "$1" ]; }
# a client that sends its request and hangs up once the agent has begun stopping the first of
# the three victims. Hanging up on an event rather than after a fixed delay, and with the engine
# held still (SIGSTOP) from that moment until the agent has logged the hang-up: the scale-down
# cannot finish first, on a fast machine or a slow one.
python3 - "$C" "$APORT" "$TEST_TMP/agent-a.log" "$DPID" <<'PY'
import os, signal, socket, ssl, sys, time
d, port, log, dpid = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
def count(what):
    with open(log, errors="replace") as f:
        return sum(1 for line in f if what in line)
before, gone = count("scale web: stopping"), count("went away; the operation goes on")
ctx = ssl.create_default_context(cafile=d + "/ca.pem")
ctx.load_cert_chain(d + "/cert.pem", d + "/key.pem")
s = ctx.wrap_socket(socket.create_connection(("127.0.0.1", port)), server_hostname="127.0.0.1")
s.sendall(b"POST /v1/scale/web?to=1 HTTP/1.1\r\nHost: t\r\nContent-Length: 0\r\n\r\n")
deadline = time.monotonic() + 30
while count("scale web: stopping") == before and time.monotonic() < deadline:
    time.sleep(0.005)
os.kill(dpid, signal.SIGSTOP)
try:
    s.close()
    deadline = time.monotonic() + 30
    while count("went away; the operation goes on") == gone and time.monotonic() < deadline:
        time.sleep(0.01)
finally:
    os.kill(dpid, signal.SIGCONT)
PY
engine_go
check "the scale-down finishes without its client: one running" wait_for 30 running_is 1
check "agent log: the client went away, the operation went on" grep -q "went away; the operation goes on" "$TEST_TMP/agent-a.log"
check "catalog: one instance after the orphaned scale-down" wait_instances web 1
check_eq "the original is still the one kept" "$ORIG_ID" "$(dk rep ps -q --no-trunc --filter label=svc=web)"

# ---- TLS refusals (nothing may happen)
st=$(curl -sS --max-time 10 --cacert "$C/ca.pem" -o /dev/null -w '%{http_code}' -X POST "$API/v1/replicate/web" 2>"$TEST_TMP/err1")
rc=$?
check "no client certificate: refused in the TLS layer (curl rc $rc, status $st)" test "$rc" -ne 0 -a "$st" = 000
st=$(curl -sS --max-time 10 --cacert "$C/ca.pem" --cert "$O/cert.pem" --key "$O/key.pem" -o /dev/null -w '%{http_code}' \
  -X POST "$API/v1/replicate/web" 2>"$TEST_TMP/err2")
rc=$?
check "certificate of another CA: refused in the TLS layer (curl rc $rc, status $st)" test "$rc" -ne 0 -a "$st" = 000
# a certificate of the right CA whose validity has ended (notAfter = the moment it was made)
X=$TEST_TMP/expired
mkdir -p "$X"
openssl req -newkey rsa:2048 -nodes -subj "/CN=expired-client" -keyout "$X/key.pem" -out "$X/c.csr" 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >"$X/c.ext"
openssl x509 -req -in "$X/c.csr" -CA "$C/ca.pem" -CAkey "$C/ca-key.pem" -CAcreateserial -days 0 -extfile "$X/c.ext" \
  -out "$X/cert.pem" 2>/dev/null
sleep 1.1
check "the expired certificate is signed by the API's CA, and expired" sh -c \
  "openssl verify -CAfile '$C/ca.pem' '$X/cert.pem' 2>&1 | grep -q 'certificate has expired'"
st=$(curl -sS --max-time 10 --cacert "$C/ca.pem" --cert "$X/cert.pem" --key "$X/key.pem" -o /dev/null -w '%{http_code}' \
  -X POST "$API/v1/replicate/web" 2>"$TEST_TMP/err3")
rc=$?
check "expired client certificate: refused in the TLS layer (curl rc $rc, status $st)" test "$rc" -ne 0 -a "$st" = 000
check "agent log: the handshake refused for the expired certificate" wait_for 10 grep -q "TLS handshake refused.*expired" "$TEST_TMP/agent-a.log"
st=$(curl -sS --max-time 10 -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$APORT/v1/replicate/web" 2>/dev/null)
check "plain HTTP: no HTTP answer" test "$st" != 200 -a "$st" != 201
check "agent log names the refused handshakes" wait_for 10 grep -q "TLS handshake refused" "$TEST_TMP/agent-a.log"

# ---- bad input
bad() { # description expected-status curl-args...
  local d=$1 want=$2; shift 2
  local s; s=$(api "$@")
  check_eq "$d -> $want" "$want" "$s"
}
bad "replicate unknown id" 404 -X POST "$API/v1/replicate/doesnotexist"
check_eq "unknown id body" "invalid container id" "$(cat "$TEST_TMP/body")"
bad "replicate without id" 400 -X POST "$API/v1/replicate/"
bad "replicate ../ reference" 400 -X POST "$API/v1/replicate/..%2Fcontainers"
bad "GET on /v1/replicate" 405 "$API/v1/replicate/web"
bad "scale to=abc" 400 -X POST "$API/v1/scale/web?to=abc"
bad "scale to=1000" 400 -X POST "$API/v1/scale/web?to=1000"
bad "scale to=0" 400 -X POST "$API/v1/scale/web?to=0"
bad "scale by=-1 of the last one" 400 -X POST "$API/v1/scale/web?by=-1"
bad "scale by=+101" 400 -X POST "$API/v1/scale/web?by=%2B101"
bad "scale with to and by" 400 -X POST "$API/v1/scale/web?to=2&by=1"
bad "scale without to/by" 400 -X POST "$API/v1/scale/web"
bad "scale bad service name" 400 -X POST "$API/v1/scale/we%20b?to=2"
bad "scale unknown service" 404 -X POST "$API/v1/scale/nosuch?to=2"
check_eq "bad input changed nothing: one container" 1 "$(dk rep ps -aq | wc -l)"
check_eq "bad input changed nothing: one instance" 1 "$(instances web)"
check "agent still running" kill -0 "${PIT_AGENT[a]}"

# ---- scale-service on a standalone engine: a name with '/', bounds from labels, cooldown,
# Alertmanager webhook bodies, drain before stop, the original kept
dk rep run -d --name hv --stop-timeout 2 -e SERVICE_NAME=hello/v1 -l svc=hv -l portolan.scale.max=3 portolan-test/web >/dev/null
HV_ID=$(dk rep inspect -f '{{.Id}}' hv)
hv_instances() { curl -sf "http://127.0.0.1:$CPORT/v1/catalog/service/hello%2Fv1" | jq length; }
hv_is() { [ "$(hv_instances)" = "$1" ]; }
check "hello/v1 registered once" wait_for 20 hv_is 1
t0=$(now_ms)
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=1")
check_eq "scale-service hello%2Fv1 by=1 -> 200" 200 "$st"
diag "scale-service 1 -> 2 took $(( $(now_ms) - t0 )) ms"
check_eq "answer: standalone, before 1 after 2" 'standalone 1 2 hello/v1' \
  "$(jq -r '"\(.mode) \(.before) \(.after) \(.service)"' "$TEST_TMP/body" 2>/dev/null)"
# at once (the cooldown, 8 s on this loaded machine, runs from the end of the action): before anything slow
st=$(api -D "$TEST_TMP/hdr" -X POST "$API/v1/scale-service?service=hello%2Fv1&by=1")
check_eq "again at once -> 429 (cooldown)" 429 "$st"
check "... saying so" grep -q 'cooldown' "$TEST_TMP/body"
check "... with Retry-After" grep -qi '^Retry-After: [0-9]' "$TEST_TMP/hdr"
check_eq "two hello/v1 containers running (the refused one changed nothing)" 2 "$(running_of hv)"
check "catalog: two instances of hello/v1" wait_for 20 hv_is 2
sleep 8.2
# an Alertmanager webhook (seed 004's shape): the service from groupLabels, up by one
AM_UP='{"version":"4","status":"firing","receiver":"scale","groupLabels":{"scale":"up","service":"hello/v1"},"commonLabels":{"alertname":"request_rate_high","scale":"up","service":"hello/v1"},"alerts":[]}'
st=$(api -X POST -H 'Content-Type: application/json' --data "$AM_UP" "$API/v1/scale-service")
check_eq "webhook scale up -> 200, after 3" "200 3" "$st $(jq -r .after "$TEST_TMP/body" 2>/dev/null)"
check_eq "three hello/v1 containers" 3 "$(running_of hv)"
sleep 8.2
st=$(api -X POST -H 'Content-Type: application/json' --data "$AM_UP" "$API/v1/scale-service")
check_eq "past portolan.scale.max=3 -> 409" 409 "$st"
check "... saying so" grep -q 'would pass the maximum 3' "$TEST_TMP/body"
check_eq "the refused one changed nothing" 3 "$(running_of hv)"
st=$(api -X POST -H 'Content-Type: application/json' \
  --data '{"status":"resolved","groupLabels":{"scale":"up","service":"hello/v1"}}' "$API/v1/scale-service")
check_eq "a resolved alert -> 200, ignored" "200 resolved alert" "$st $(jq -r .ignored "$TEST_TMP/body" 2>/dev/null)"
check "catalog: three instances" wait_for 20 hv_is 3
# scale down by a webhook, service from commonLabels: the victim leaves the catalog before it
# stops (-scale-drain 4s): sampled while the request runs
AM_DOWN='{"status":"firing","groupLabels":{"scale":"down"},"commonLabels":{"service":"hello/v1"}}'
( api -X POST -H 'Content-Type: application/json' --data "$AM_DOWN" "$API/v1/scale-service" >"$TEST_TMP/down.st"; cp "$TEST_TMP/body" "$TEST_TMP/down.body" ) &
dpid=$!
drained=0
for _ in $(seq 1 100); do
  if [ "$(hv_instances)" = 2 ] && [ "$(running_of hv)" = 3 ]; then drained=1; break; fi
  sleep 0.05
done
wait "$dpid"
check_eq "webhook scale down -> 200, after 2" "200 2" "$(cat "$TEST_TMP/down.st") $(jq -r .after "$TEST_TMP/down.body" 2>/dev/null)"
check "drain: the victim left the catalog while it still ran" test "$drained" = 1
check_eq "two running" 2 "$(running_of hv)"
check "the original hello/v1 is still running" test "$(dk rep inspect -f '{{.State.Running}}' "$HV_ID")" = true
sleep 8.2
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=-1")
check_eq "by=-1 -> 200, after 1" "200 1" "$st $(jq -r .after "$TEST_TMP/body" 2>/dev/null)"
check_eq "the one left is the original" "$HV_ID" "$(dk rep ps -q --no-trunc --filter label=svc=hv)"
check "catalog: one instance of hello/v1" wait_for 20 hv_is 1
sleep 8.2
st=$(api -X POST "$API/v1/scale-service?service=hello%2Fv1&by=-1")
check_eq "past the minimum (1) -> 409" 409 "$st"
check "... saying so" grep -q 'would pass the minimum 1' "$TEST_TMP/body"
bad "scale-service without a service" 400 -X POST "$API/v1/scale-service?by=1"
bad "scale-service with a bad name" 400 -X POST "$API/v1/scale-service?service=..%2Fx&by=1"
bad "scale-service with by=0" 400 -X POST "$API/v1/scale-service?service=hello%2Fv1&by=0"
bad "scale-service with a body that is not JSON" 400 -X POST --data 'nope' "$API/v1/scale-service?service=hello%2Fv1"
bad "GET on scale-service" 405 "$API/v1/scale-service?service=hello%2Fv1&by=1"
bad "scale-service of an unknown service" 404 -X POST "$API/v1/scale-service?service=no%2Fsuch&by=1"
check_eq "still one hello/v1 container" 1 "$(dk rep ps -aq --filter label=svc=hv | wc -l)"

# ---- scale-nodes (the command is a stand-in here; tests/scaling runs the real one)
st=$(api -X POST -H 'Content-Type: application/json' --data '{"groupLabels":{"scale":"up"}}' "$API/v1/scale-nodes?by=1&type=worker")
check_eq "scale-nodes up -> 200" 200 "$st"
check_eq "the command ran as <cmd> up 1 worker" "up 1 worker" "$(tail -1 "$NODES/calls" 2>/dev/null)"
check_eq "its output is in the answer" "node command: up 1 worker" "$(jq -r .output "$TEST_TMP/body" 2>/dev/null | head -1)"
check_eq "exit status 0, nothing to reschedule (no swarm)" "0 0" "$(jq -r '"\(.exit_status) \(.rescheduled|length)"' "$TEST_TMP/body" 2>/dev/null)"
st=$(api -X POST "$API/v1/scale-nodes?by=-2&type=manager")
check_eq "scale-nodes by=-2 manager -> 200, run as down 2 manager" "200 down 2 manager" "$st $(tail -1 "$NODES/calls" 2>/dev/null)"
touch "$NODES/fail"
st=$(api -X POST "$API/v1/scale-nodes?by=1")
check_eq "a failing node command -> 502 with its exit status" "502 3" "$st $(jq -r .exit_status "$TEST_TMP/body" 2>/dev/null)"
rm -f "$NODES/fail"; touch "$NODES/slow"
curl -sS --max-time 30 --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" -o /dev/null -X POST "$API/v1/scale-nodes?by=1" &
spid=$!
running_cmd() { grep -c . "$NODES/calls"; }
wait_for 10 sh -c "[ \$(grep -c . '$NODES/calls') -ge 4 ]"
st=$(api -X POST "$API/v1/scale-nodes?by=1")
check_eq "a second node command while one runs (-scale-nodes-max 1) -> 409" 409 "$st"
wait "$spid"; rm -f "$NODES/slow"
bad "scale-nodes type=boss" 400 -X POST "$API/v1/scale-nodes?by=1&type=boss"
bad "scale-nodes by=11" 400 -X POST "$API/v1/scale-nodes?by=11"
check_eq "the refused ones ran nothing" 4 "$(grep -c . "$NODES/calls")"

# ---- metrics: every action counted by outcome
curl -sf "http://127.0.0.1:$MPORT/metrics" >"$TEST_TMP/metrics"
metric() { awk -v k="$1" '$1 == k {print $2}' "$TEST_TMP/metrics"; }
check_eq "metrics: scale-service ok 5 (a resolved alert is an ok no-op)" 5 "$(metric 'portolan_agent_scale_actions_total{action="scale-service",result="ok"}')"
check "metrics: scale-service refused >= 6" test "$(metric 'portolan_agent_scale_actions_total{action="scale-service",result="refused"}')" -ge 6
check_eq "metrics: scale-nodes ok 3, failed 1" "3 1" \
  "$(metric 'portolan_agent_scale_actions_total{action="scale-nodes",result="ok"}') $(metric 'portolan_agent_scale_actions_total{action="scale-nodes",result="failed"}')"
check "metrics: replicate ok counted" test "$(metric 'portolan_agent_scale_actions_total{action="replicate",result="ok"}')" -ge 3
check "agent log: every refusal logged" grep -q 'scale-service: 409\|would pass the maximum' "$TEST_TMP/agent-a.log"

# ---- fail closed
mkdir -p "$TEST_TMP/empty"
P2=$(free_port)
env DOCKER_HOST="unix://${PIT_SOCK[rep]}" DOCKER_CERT_PATH="$TEST_TMP/empty" \
  timeout 20 "$BUILD/portolan-agent" -api-listen "127.0.0.1:$P2" "consul://127.0.0.1:$CPORT" >"$TEST_TMP/fc.log" 2>&1
rc=$?
check_eq "-api-listen without certificates: exit status 1" 1 "$rc"
check "... with a message naming -api-listen and the missing file" grep -q -- "-api-listen 127.0.0.1:$P2: tls: certificate $TEST_TMP/empty/cert.pem" "$TEST_TMP/fc.log"
# defaults from DOCKER_CERT_PATH (Docker Machine layout: ca.pem cert.pem key.pem)
mkdir -p "$TEST_TMP/machine"
cp "$C/ca.pem" "$TEST_TMP/machine/ca.pem"; cp "$C/server-cert.pem" "$TEST_TMP/machine/cert.pem"; cp "$C/server-key.pem" "$TEST_TMP/machine/key.pem"
pit_agent_start b rep DOCKER_CERT_PATH="$TEST_TMP/machine" -- -api-listen "127.0.0.1:$P2" "consul://127.0.0.1:$CPORT"
check "DOCKER_CERT_PATH defaults: API serves a client of that CA" wait_for 15 sh -c \
  "curl -sf -o /dev/null --cacert '$C/ca.pem' --cert '$C/cert.pem' --key '$C/key.pem' 'https://127.0.0.1:$P2/' ; [ \$? = 22 ]"
st=$(curl -s -o "$TEST_TMP/body" -w '%{http_code}' --cacert "$C/ca.pem" --cert "$C/cert.pem" --key "$C/key.pem" -X POST "https://127.0.0.1:$P2/v1/scale-nodes?by=1")
check_eq "scale-nodes without -scale-nodes-cmd -> 501" 501 "$st"
check "... saying how to turn it on" grep -q -- '-scale-nodes-cmd' "$TEST_TMP/body"
pit_agent_stop b

pit_agent_stop a
check_eq "agent exits 0 on SIGTERM" 0 "${PIT_AGENT_STATUS:-x}"
done_testing
