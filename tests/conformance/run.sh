#!/usr/bin/env bash
# tests/conformance/run.sh: portolan-catalog must answer as a single-node Consul would
# (shared/reference/consul-api.md). Three independent drivers, each on a fresh catalog:
#   1. raw curl for wire details: header spelling, status codes, exact error bodies, limits;
#   2. the npm `consul` client (node-consul 2.x), node-consul.test.js, via `node --test`;
#   3. Debian's python3-consul 0.7.1, python_consul_test.py (TAP printed by the file itself).
# The node and python results are renumbered into this suite's TAP stream.
# Needs: curl, node + npm (installs tests/conformance/node_modules with `npm ci` when missing),
# /usr/bin/python3 with python3-consul. Runs in well under 2 minutes (waits are ?wait=1s).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"

if [ ! -x "$BUILD/portolan-catalog" ]; then
  not_ok "portolan-catalog is built ($BUILD/portolan-catalog missing)"
  done_testing
  exit 1
fi

# ---------------------------------------------------------------------------------------------
# helpers: req METHOD PATH [curl args...] -> $ST (status), $TEST_TMP/h (headers), $TEST_TMP/b (body)
H=$TEST_TMP/h
B=$TEST_TMP/b
req() {
  local m=$1 p=$2
  shift 2
  ST=$(curl -s -X "$m" -o "$B" -D "$H" -w '%{http_code}' --max-time 20 "$@" "http://$CATALOG_ADDR$p")
}
body() { cat "$B"; printf x; }               # keeps trailing newlines: compare with "...x"
hdr() { tr -d '\r' <"$H" | sed -n "s/^$1: //p" | head -1; }   # exact (case-sensitive) name
hdr_ci() { tr -d '\r' <"$H" | grep -i "^$1: " | head -1 | sed 's/^[^:]*: //'; }
# expect DESC STATUS BODY METHOD PATH [curl args]: status and exact body
expect() {
  local d=$1 st=$2 bd=$3
  shift 3
  req "$@"
  local got
  got=$(body)
  if [ "$ST" = "$st" ] && [ "$got" = "${bd}x" ]; then ok "$d"; else
    not_ok "$d"; diag "expected: $st $(printf %q "$bd")"; diag "actual:   $ST $(printf %q "${got%x}")"
  fi
}
# expect_prefix DESC STATUS BODY-PREFIX METHOD PATH [curl args]
expect_prefix() {
  local d=$1 st=$2 bd=$3
  shift 3
  req "$@"
  local got
  got=$(body)
  if [ "$ST" = "$st" ] && [[ "$got" == "$bd"* ]]; then ok "$d"; else
    not_ok "$d"; diag "expected: $st $(printf %q "$bd")..."; diag "actual:   $ST $(printf %q "${got%x}")"
  fi
}
register() { req PUT /v1/agent/service/register --data-binary "$1"; [ "$ST" = 200 ]; }
now_ms() { date +%s%3N; }

# ---------------------------------------------------------------------------------------------
# 1. wire details with curl
start_catalog || { not_ok "catalog starts and answers /v1/status/leader"; }
diag "catalog (curl) at $CATALOG_ADDR"

# index never 0 (section 9), on a fresh catalog
for p in /v1/catalog/services /v1/catalog/nodes /v1/catalog/service/none /v1/health/service/none \
  /v1/health/checks/none /v1/health/state/any /v1/kv/none "/v1/kv/none?recurse" "/v1/kv/?keys"; do
  req GET "$p"
  idx=$(hdr X-Consul-Index)
  if [[ "$idx" =~ ^[0-9]+$ ]] && [ "$idx" -gt 0 ]; then ok "s9 fresh catalog: GET $p sends X-Consul-Index > 0 ($idx)"
  else not_ok "s9 fresh catalog: GET $p sends X-Consul-Index > 0"; diag "status $ST, X-Consul-Index '$idx'"; fi
done

# status, self (section 8); success body shape (section 0)
expect "s8 GET /v1/status/leader" 200 '"127.0.0.1:8300"' GET /v1/status/leader
check_eq "s0 success Content-Type is application/json" "application/json" "$(hdr Content-Type)"
expect "s8 GET /v1/status/peers" 200 '["127.0.0.1:8300"]' GET /v1/status/peers
req GET /v1/agent/self
check_eq "s8 agent/self keys exactly Config DebugConfig Coord Member Stats Meta" \
  "Config,Coord,DebugConfig,Member,Meta,Stats" "$(jq -r 'keys|join(",")' "$B" 2>/dev/null)"
check_eq "s8 agent/self Stats.consul.leader_addr equals status/leader" "127.0.0.1:8300" \
  "$(jq -r .Stats.consul.leader_addr "$B" 2>/dev/null)"
check_eq "s8 agent/self Config.Datacenter is dc1" "dc1" "$(jq -r .Config.Datacenter "$B" 2>/dev/null)"

# header spelling on block-capable endpoints (section 0 and 9)
req GET /v1/catalog/services
check "s0/s9 catalog/services: header spelled X-Consul-Index" grep -q $'^X-Consul-Index: [0-9]\\+\r$' "$H"
check_eq "s9 header spelled X-Consul-Knownleader: true" "true" "$(hdr X-Consul-Knownleader)"
check_eq "s9 header spelled X-Consul-Lastcontact: 0" "0" "$(hdr X-Consul-Lastcontact)"
check_eq "s9 header spelled X-Consul-Query-Backend: blocking-query" "blocking-query" "$(hdr X-Consul-Query-Backend)"
check_eq "s9 header spelled X-Consul-Effective-Consistency: leader (default)" "leader" "$(hdr X-Consul-Effective-Consistency)"
check_eq "s0 compact JSON, no trailing newline" '{"consul":[]}x' "$(body)"
req GET "/v1/catalog/services?stale"
check_eq "s9 ?stale -> X-Consul-Effective-Consistency: stale" "stale" "$(hdr X-Consul-Effective-Consistency)"
req GET "/v1/health/service/consul?consistent"
check_eq "s9 ?consistent -> X-Consul-Effective-Consistency: consistent" "consistent" "$(hdr X-Consul-Effective-Consistency)"
expect "s9 ?stale&consistent is 400" 400 "Cannot specify ?stale with ?consistent, conflicting semantics." \
  GET "/v1/catalog/services?stale&consistent"
req GET "/v1/kv/nothing-here"
check_eq "s7 missing KV key: 404" 404 "$ST"
check_eq "s7 missing KV key: empty body" "x" "$(body)"
check "s7 missing KV key: X-Consul-Index still sent" grep -q $'^X-Consul-Index: [0-9]\\+\r$' "$H"
req GET "/v1/catalog/services?pretty"
check_eq "s0 ?pretty: 4-space indent plus a newline" $'{\n    "consul": []\n}\nx' "$(body)"

# agent endpoints never block and send no X-Consul headers (section 3, 9)
req GET /v1/agent/services
check_eq "s3 agent/services: 200 {} on a fresh catalog (consul not listed)" "200 {}x" "$ST $(body)"
check "s3/s9 agent/services sends no X-Consul-Index" bash -c "! grep -qi '^X-Consul-Index' '$H'"

# methods (section 0)
expect "s0 GET agent/service/register -> 405 body" 405 "method GET not allowed" GET /v1/agent/service/register
check_eq "s0 405 has Allow: OPTIONS,PUT" "OPTIONS,PUT" "$(hdr Allow)"
expect "s0 POST catalog/services -> 405" 405 "method POST not allowed" POST /v1/catalog/services
check_eq "s0 GET-only endpoint Allow: OPTIONS,GET" "OPTIONS,GET" "$(hdr Allow)"
expect "s0 GET agent/check/pass/x -> 405" 405 "method GET not allowed" GET /v1/agent/check/pass/x
expect "s0 GET agent/service/deregister/x -> 405" 405 "method GET not allowed" GET /v1/agent/service/deregister/x
expect "s0 POST kv -> 405" 405 "method POST not allowed" POST /v1/kv/k
check_eq "s0 KV Allow: OPTIONS,GET,PUT,DELETE" "OPTIONS,GET,PUT,DELETE" "$(hdr Allow)"
expect "s0 OPTIONS agent/service/register -> 200, empty body" 200 "" OPTIONS /v1/agent/service/register
check_eq "s0 OPTIONS has Allow: OPTIONS,PUT" "OPTIONS,PUT" "$(hdr Allow)"

# unknown paths (section 0)
expect "s0 unknown path -> 404 body" 404 $'Invalid URL path: not a recognized HTTP API endpoint\n' GET /v1/nope
expect "s0 unknown agent path -> 404 body" 404 $'Invalid URL path: not a recognized HTTP API endpoint\n' GET /v1/agent/nope/x

# request decoding (section 0, 1)
expect "s0 unknown field -> 400" 400 'Request decode failed: json: unknown field "Bogus"' \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Bogus":1}'
expect "s0 empty body -> 400 EOF" 400 'Request decode failed: EOF' PUT /v1/agent/service/register
expect_prefix "s0 bad JSON syntax -> 400 decode prefix" 400 'Request decode failed: ' \
  PUT /v1/agent/service/register --data-binary '{"Name":'
expect_prefix "s0 wrong type -> 400 decode prefix" 400 'Request decode failed: ' \
  PUT /v1/agent/service/register --data-binary '{"Name":5}'
expect_prefix "s0 wrong type (Tags a string) -> 400 decode prefix" 400 'Request decode failed: ' \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Tags":"a"}'
expect_prefix "s0 bad duration '10' -> 400 missing unit" 400 'Request decode failed: time: missing unit' \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Check":{"TTL":"10"}}'
expect_prefix "s0 bad duration 'abc' -> 400 decode prefix" 400 'Request decode failed: time: ' \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Check":{"HTTP":"http://127.0.0.1:1/","Interval":"abc"}}'
expect "s1 Missing service name" 400 'Missing service name' \
  PUT /v1/agent/service/register --data-binary '{"Port":80}'
expect "s1 Missing service name (null Name = absent)" 400 'Missing service name' \
  PUT /v1/agent/service/register --data-binary '{"Name":null,"Port":80}'
expect "s1 Address 0.0.0.0 -> Invalid service address" 400 'Invalid service address' \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Address":"0.0.0.0"}'
expect "s1 Weights.Passing 0 -> 400" 400 'Invalid Weights: Passing must be greater than 0' \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Weights":{"Passing":0,"Warning":1}}'
expect "s1 invalid Meta key characters" 400 \
  "Invalid Service Meta: Couldn't load metadata pair ('bad key', 'v'): Key contains invalid characters" \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Meta":{"bad key":"v"}}'
expect_prefix "s1 Meta key with reserved consul- prefix" 400 "Invalid Service Meta: " \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Meta":{"consul-x":"v"}}'
expect "s1 Interval and TTL both" 400 'Invalid check: Interval and TTL cannot both be specified' \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Check":{"TTL":"10s","Interval":"10s","HTTP":"http://127.0.0.1:1/"}}'
expect "s1 HTTP check without Interval" 400 \
  'Invalid check: Interval must be > 0 for Script, HTTP, H2PING, TCP, UDP or OSService checks' \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Check":{"HTTP":"http://127.0.0.1:1/"}}'
expect "s1 bad check Status" 400 "Status for checks must 'passing', 'warning', 'critical'" \
  PUT /v1/agent/service/register --data-binary '{"Name":"x","Check":{"TTL":"10s","Status":"bogus"}}'
req GET /v1/agent/services
check_eq "s1 rejected registrations left nothing behind" "{}x" "$(body)"
expect "s1 lower-case and snake_case keys accepted; 200 empty body" 200 "" \
  PUT /v1/agent/service/register --data-binary '{"name":"lc","ID":"lc1","PORT":81,"enable_tag_override":true,"tagged_addresses":{"lan":{"address":"10.0.0.9","port":81}},"check":{"ttl":"1m30s","deregister_critical_service_after":"90m"}}'
req GET /v1/agent/services
check_eq "s1/s3 lower-case registration read back" "lc lc1 81 true" \
  "$(jq -r '.lc1 | "\(.Service) \(.ID) \(.Port) \(.EnableTagOverride)"' "$B" 2>/dev/null)"
register '{"Name":"dur","Check":{"HTTP":"http://127.0.0.1:1/","Interval":"60s","Timeout":"1500ms"}}'
req GET /v1/agent/checks
check_eq "s0 durations come back in Go form (Interval 60s -> 1m0s, Timeout 1500ms -> 1.5s)" "1m0s 1.5s http" \
  "$(jq -r '."service:dur" | "\(.Interval) \(.Timeout) \(.Type)"' "$B" 2>/dev/null)"
expect "s1 JSON number duration is nanoseconds (100ms as 100000000)" 200 "" \
  PUT /v1/agent/service/register --data-binary '{"Name":"ns","Check":{"TTL":100000000}}'

# index and wait parameters (section 9)
expect "s9 bad ?index -> 400 Invalid index" 400 'Invalid index' GET "/v1/catalog/services?index=abc"
expect "s9 negative ?index -> 400 Invalid index" 400 'Invalid index' GET "/v1/health/service/x?index=-1"
expect "s9 bad ?wait -> 400 Invalid wait time" 400 'Invalid wait time' GET "/v1/catalog/services?index=1&wait=abc"
expect "s9 bare-number ?wait -> 400 Invalid wait time" 400 'Invalid wait time' GET "/v1/kv/k?index=1&wait=10"

# other 4xx/5xx texts
expect "s2 deregister unknown ID -> 404" 404 \
  'Unknown service ID "nosuch". Ensure that the service ID is passed, not the service name.' \
  PUT /v1/agent/service/deregister/nosuch
expect "s2 service IDs are case-sensitive" 404 \
  'Unknown service ID "LC1". Ensure that the service ID is passed, not the service name.' \
  PUT /v1/agent/service/deregister/LC1
expect "s4 check pass unknown ID -> 404" 404 \
  'Unknown check ID "nosuch". Ensure that the check ID is passed, not the check name.' \
  PUT /v1/agent/check/pass/nosuch
expect "s4 check update bad status -> 400" 400 "Invalid check status: 'bogus'" \
  PUT /v1/agent/check/update/service:lc1 --data-binary '{"Status":"bogus"}'
register '{"Name":"hc","Check":{"HTTP":"http://127.0.0.1:1/","Interval":"10s"}}'
expect "s4 pass on a non-TTL check -> 500" 500 'CheckID "service:hc" does not have associated TTL' \
  PUT /v1/agent/check/pass/service:hc
expect "s5 catalog/service/ without name -> 400" 400 'Missing service name' GET /v1/catalog/service/
expect "s6 bad ?passing -> 400" 400 'Invalid value for ?passing' GET "/v1/health/service/lc?passing=bogus"
req GET "/v1/catalog/services?dc=dc1"
check_eq "s0 ?dc=dc1 (the local datacenter) is accepted" 200 "$ST"
expect "s0 ?dc=other -> 500 No path to datacenter" 500 'No path to datacenter' GET "/v1/catalog/services?dc=dc9"
expect "s0 ?dc=other on KV -> 500" 500 'No path to datacenter' GET "/v1/kv/k?dc=dc9"
expect "s7 PUT empty KV key -> 400 Missing key name" 400 'Missing key name' PUT /v1/kv/ --data-binary x
expect "s7 GET empty KV key without recurse -> 400 Missing key name" 400 'Missing key name' GET /v1/kv/

# KV wire details (section 7)
expect "s7 PUT answers JSON true" 200 'true' PUT "/v1/kv/w/a?flags=3" --data-binary 'hello'
check_eq "s7 PUT true is application/json" "application/json" "$(hdr Content-Type)"
expect "s7 ?raw returns bare bytes" 200 'hello' GET "/v1/kv/w/a?raw"
check "s7 ?raw Content-Type text/plain" bash -c "[[ '$(hdr Content-Type)' == text/plain* ]]"
req GET /v1/kv/w/a
check_eq "s7 entry shape and base64 Value" '[{"LockIndex":0,"Key":"w/a","Flags":3,"Value":"aGVsbG8="}]' \
  "$(jq -c 'map(del(.CreateIndex,.ModifyIndex))' "$B" 2>/dev/null)"
check_eq "s7 KV GET sends X-Consul-Index = the key's ModifyIndex" "$(jq -r '.[0].ModifyIndex' "$B" 2>/dev/null)" "$(hdr X-Consul-Index)"
expect "s7 PUT empty body stores an empty value" 200 'true' PUT /v1/kv/w/empty
req GET /v1/kv/w/empty
check_eq "s7 empty value comes back as null" "null" "$(jq -r '.[0].Value' "$B" 2>/dev/null)"
expect "s7 ?cas=0 on existing key -> false" 200 'false' PUT "/v1/kv/w/a?cas=0" --data-binary x
expect "s7 ?keys with no match -> 404" 404 '' GET "/v1/kv/zzz/?keys"
expect "s7 ?keys on the empty prefix -> list" 200 '["w/a","w/empty"]' GET "/v1/kv/?keys"
expect "s7 DELETE answers true" 200 'true' DELETE /v1/kv/w/empty
head -c 524288 /dev/zero | tr '\0' a >"$TEST_TMP/512k"
head -c 600000 /dev/zero | tr '\0' a >"$TEST_TMP/600k"
expect "s7 512 KiB value is accepted" 200 'true' PUT /v1/kv/w/big --data-binary "@$TEST_TMP/512k"
# issue 13: sessions and locks, wire details
expect "i13 session TTL below 10s -> 500 with Consul's text" 500 "Invalid Session TTL '5000000000', must be between [10s=24h0m0s]" \
  PUT /v1/session/create --data-binary '{"TTL":"5s"}'
expect "i13 session with an unknown check -> 500" 500 "Missing check 'nope' registration" \
  PUT /v1/session/create --data-binary '{"Checks":["nope"]}'
expect "i13 ?acquire with an unknown session -> 500" 500 'invalid session "0f0f0f0f-0000-4000-8000-000000000000"' \
  PUT "/v1/kv/w/lock?acquire=0f0f0f0f-0000-4000-8000-000000000000" --data-binary x
expect "i13 renew of an unknown session -> 404" 404 "Session id 'gone' not found" PUT /v1/session/renew/gone
expect "i13 session/create by GET -> 405" 405 "method GET not allowed" GET /v1/session/create
req PUT /v1/session/create
s1=$(jq -r .ID "$B")
req PUT /v1/session/create
s2=$(jq -r .ID "$B")
check_eq "i13 two sessions with distinct UUIDs" "200 ok" \
  "$ST $([[ "$s1" =~ ^[0-9a-f-]{36}$ && "$s2" =~ ^[0-9a-f-]{36}$ && "$s1" != "$s2" ]] && echo ok)"
expect "i13 first session acquires" 200 'true' PUT "/v1/kv/w/lock?acquire=$s1" --data-binary one
expect "i13 second session is refused" 200 'false' PUT "/v1/kv/w/lock?acquire=$s2" --data-binary two
req GET "/v1/session/list"
check_eq "i13 session/list: both, with Consul's fields" "2 LockDelay=15000000000 Behavior=release" \
  "$(jq -r '"\(length) LockDelay=\(.[0].LockDelay) Behavior=\(.[0].Behavior)"' "$B")"
check "i13 session/list carries X-Consul-Index" test -n "$(hdr X-Consul-Index)"
expect "i13 destroy the holder" 200 'true' PUT "/v1/session/destroy/$s1"
expect "i13 the key is in its 15 s lock-delay: the second session is still refused" 200 'false' \
  PUT "/v1/kv/w/lock?acquire=$s2" --data-binary two
req GET /v1/kv/w/lock
check_eq "i13 ... but the key is released, its value kept" "null one" "$(jq -r '.[0] | "\(.Session) \(.Value | @base64d)"' "$B")"
expect "i13 destroy the other" 200 'true' PUT "/v1/session/destroy/$s2"
req GET /v1/kv/w/lock
wmi=$(jq -r '.[0].ModifyIndex' "$B")
expect "i13 txn: a failing check-index -> 409, Consul's error shape" 409 \
  '{"Results":null,"Errors":[{"OpIndex":1,"What":"current modify index '"$wmi"' != 1"}]}' \
  PUT /v1/txn --data-binary '[{"KV":{"Verb":"set","Key":"w/txn","Value":"eA=="}},{"KV":{"Verb":"check-index","Key":"w/lock","Index":1}}]'
expect "i13 ... and its set was not applied" 404 '' GET /v1/kv/w/txn
expect_prefix "i13 txn: the same with the right index -> 200 with results" 200 '{"Results":[{"KV":{"LockIndex":0,"Key":"w/txn","Flags":0,"Value":null,' \
  PUT /v1/txn --data-binary '[{"KV":{"Verb":"set","Key":"w/txn","Value":"eA=="}},{"KV":{"Verb":"check-index","Key":"w/lock","Index":'"$wmi"'}}]'
expect "i13 ... applied" 200 'x' GET "/v1/kv/w/txn?raw"
req PUT /v1/kv/w/big2 --data-binary "@$TEST_TMP/600k"
check_eq "s7 a body over 512 KiB is answered 413" 413 "$ST"
req PUT /v1/agent/service/register --data-binary "@$TEST_TMP/600k"
check_eq "a register body over 512 KiB is answered 413" 413 "$ST"
req GET /v1/kv/w/big2
check_eq "s7 the 413 value was not stored" 404 "$ST"
req GET /v1/status/leader
check_eq "catalog still answers after the oversized bodies" 200 "$ST"

# blocking with curl: timing from the outside (section 9)
req GET /v1/health/service/lc
idx=$(hdr X-Consul-Index)
# timed by curl from the request sent to the first answer byte (the server's wait alone: the
# wall clock around a curl start-up, which a loaded machine stretches, made the bound flaky)
req GET "/v1/health/service/lc?index=$idx&wait=1s" -w '%{http_code} %{time_pretransfer} %{time_starttransfer}'   # (replaces req's -w)
el=$(awk '{printf "%d", ($3 - $2) * 1000}' <<<"$ST")
ST=${ST%% *}
check "s9 ?wait=1s times out between 1s and 1.0625s (+slack): took ${el}ms" test "$el" -ge 980 -a "$el" -le 1500
check_eq "s9 timeout returns the same index" "$idx" "$(hdr X-Consul-Index)"
t0=$(now_ms)
curl -s -o /dev/null --max-time 2 "http://$CATALOG_ADDR/v1/health/service/lc?index=$idx"
rc=$?
el=$(($(now_ms) - t0))
check "s9 ?index without ?wait blocks (default wait 5m): still parked when the client gives up at 2s (curl exit $rc, ${el}ms)" \
  test "$rc" -eq 28
req GET /v1/status/leader
check_eq "catalog answers after a parked client went away" 200 "$ST"
req GET "/v1/health/service/lc?index=$((idx - 1))&wait=5s"
check_eq "s9 an index below the current one answers at once with the current index" "$idx" "$(hdr X-Consul-Index)"

kill "$CATALOG_PID" 2>/dev/null
wait "$CATALOG_PID" 2>/dev/null

# indexes across a restart with -data-dir (section 7 tombstones, section 9 "never goes back")
mkdir -p "$TEST_TMP/data"
start_catalog -data-dir "$TEST_TMP/data" || not_ok "catalog with -data-dir starts"
req PUT /v1/kv/cfg/a --data-binary 1
req PUT /v1/kv/cfg/b --data-binary 2
req DELETE /v1/kv/cfg/b
req GET "/v1/kv/cfg/?recurse"
before_prefix=$(hdr X-Consul-Index)
register '{"Name":"keep","Port":1,"Tags":["x"]}'
req GET /v1/health/service/keep
before_svc=$(hdr X-Consul-Index)
kill -9 "$CATALOG_PID" 2>/dev/null
wait "$CATALOG_PID" 2>/dev/null
start_catalog -data-dir "$TEST_TMP/data" || not_ok "catalog restarts on its -data-dir"
req GET "/v1/kv/cfg/?recurse"
after_prefix=$(hdr X-Consul-Index)
check "s7/s9 -data-dir: a prefix's index does not go back across a restart ($before_prefix -> $after_prefix)" \
  test "${after_prefix:-0}" -ge "${before_prefix:-1}"
check_eq "s7 -data-dir: the deleted key stays deleted, the other survives" '["cfg/a"]x' \
  "$(req GET "/v1/kv/cfg/?keys"; body)"
req GET /v1/health/service/keep
check "s9 -data-dir: a service's index does not go back across a restart ($before_svc -> $(hdr X-Consul-Index))" \
  test "$(hdr X-Consul-Index)" -ge "${before_svc:-1}"
check_eq "s1 -data-dir: the registration survives kill -9" "keep x" \
  "$(jq -r '.[0].Service | "\(.Service) \(.Tags[0])"' "$B" 2>/dev/null)"
kill "$CATALOG_PID" 2>/dev/null
wait "$CATALOG_PID" 2>/dev/null

# ---------------------------------------------------------------------------------------------
# renumber a sub-runner's TAP: ok/not ok lines become ours (prefixed), the rest become diagnostics
relay_tap() { # prefix rc-file
  local prefix=$1 line n=0 f=0
  while IFS= read -r line; do
    if [[ "$line" =~ ^ok\ [0-9]+\ -\ (.*)$ ]]; then ok "$prefix: ${BASH_REMATCH[1]}"; n=$((n + 1))
    elif [[ "$line" =~ ^not\ ok\ [0-9]+\ -\ (.*)$ ]]; then not_ok "$prefix: ${BASH_REMATCH[1]}"; n=$((n + 1)); f=$((f + 1))
    elif [[ "$line" =~ ^1\.\.[0-9]+$ || "$line" =~ ^TAP\ version || -z "$line" ]]; then :
    else diag "$line"; fi
  done
  RELAY_N=$n RELAY_F=$f
}
# after a relay: the runner must have run tests, and a non-zero exit needs a failing test
relay_verdict() { # name rc
  if [ "$RELAY_N" -eq 0 ]; then not_ok "$1 tests ran (exit $2)"
  elif [ "$2" -ne 0 ] && [ "$RELAY_F" -eq 0 ]; then not_ok "$1 runner exited $2 with no failing test"; fi
}

# 2. npm consul client
if [ ! -d "$HERE/node_modules/consul" ]; then
  (cd "$HERE" && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; }) >"$TEST_TMP/npm.log" 2>&1
fi
if [ -d "$HERE/node_modules/consul" ]; then
  start_catalog || not_ok "catalog (node) starts"
  diag "catalog (node-consul) at $CATALOG_ADDR"
  (cd "$HERE" && CATALOG_ADDR=$CATALOG_ADDR timeout 120 node --test --test-reporter=tap \
    --test-concurrency=1 node-consul.test.js) >"$TEST_TMP/node.tap" 2>&1
  rc=$?
  relay_tap node <"$TEST_TMP/node.tap"
  relay_verdict node-consul "$rc"
  kill "$CATALOG_PID" 2>/dev/null
  wait "$CATALOG_PID" 2>/dev/null
else
  not_ok "npm consul client installed (npm ci failed)"
  sed 's/^/# /' "$TEST_TMP/npm.log" | tail -20
fi

# 3. Debian python3-consul 0.7.1
if /usr/bin/python3 -c 'import consul, requests' 2>/dev/null; then
  start_catalog || not_ok "catalog (python) starts"
  diag "catalog (python3-consul) at $CATALOG_ADDR"
  CATALOG_ADDR=$CATALOG_ADDR timeout 120 /usr/bin/python3 "$HERE/python_consul_test.py" >"$TEST_TMP/py.tap" 2>&1
  rc=$?
  relay_tap python <"$TEST_TMP/py.tap"
  relay_verdict python3-consul "$rc"
else
  not_ok "python3-consul is installed for /usr/bin/python3"
fi

if [ -s "$TEST_TMP/catalog.log" ] && grep -qiE 'AddressSanitizer|segfault|abort' "$TEST_TMP/catalog.log"; then
  not_ok "catalog log shows no crash"; tail -20 "$TEST_TMP/catalog.log" | sed 's/^/# /'
fi
done_testing
