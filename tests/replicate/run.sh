#!/usr/bin/env bash
# tests/replicate/run.sh: portolan-agent's replicate/scale API (agent/ops_api.c) end to end:
# a dedicated dockerd, portolan-catalog, and portolan-agent -internal with -api-listen on
# 127.0.0.1 and certificates made here. Asserts: a replicated container runs with the same
# image/env/labels and another hostname and is registered as a second instance of the service;
# the seed's GET /<id> works; scale to 1, to 3 and by -2 change the running set and the catalog;
# TLS refuses no client certificate, another CA's certificate and plain HTTP; bad input (unknown
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

APORT=$(free_port)
API=https://127.0.0.1:$APORT
pit_agent_start a rep -- -internal -api-listen "127.0.0.1:$APORT" -api-cert "$C/server-cert.pem" \
  -api-key "$C/server-key.pem" -api-ca "$C/ca.pem" "consul://127.0.0.1:$CPORT"

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

# ---- scale
t0=$(now_ms)
st=$(api -X POST "$API/v1/scale/web?to=1")
check_eq "scale web to=1 -> 200" 200 "$st"
diag "scale 3 -> 1 took $(( $(now_ms) - t0 )) ms"
check_eq "answer before 3 after 1" '3 1 web' "$(jq -r '"\(.before) \(.after) \(.service)"' "$TEST_TMP/body" 2>/dev/null)"
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
pit_agent_stop b

pit_agent_stop a
check_eq "agent exits 0 on SIGTERM" 0 "${PIT_AGENT_STATUS:-x}"
done_testing
