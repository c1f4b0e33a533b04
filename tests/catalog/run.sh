#!/usr/bin/env bash
# Suite "catalog": portolan-catalog's process-level behaviour with raw curl: durability with
# -data-dir (kill -9 right after an acknowledged write, restart, the write is there; a corrupt
# or truncated snapshot is refused), blocking-query wake-ups, TTL expiry, graceful stop.
# Wire-level conformance with independent clients is the "conformance" suite.
. "$(dirname "$0")/../lib.sh"

CAT="$BUILD/portolan-catalog"
[ -x "$CAT" ] || { not_ok "portolan-catalog is built"; done_testing; exit 1; }

start_at() { # dir port -> pid in $PID
  "$CAT" -listen "127.0.0.1:$2" -data-dir "$1" >>"$TEST_TMP/catalog.log" 2>&1 &
  PID=$!
  cleanup_add "kill -9 $PID"
  wait_http "http://127.0.0.1:$2/v1/status/leader" 10
}

# --- durability: every acknowledged write survives kill -9 ---
D=$TEST_TMP/data; mkdir -p "$D"
P=$(free_port); C=http://127.0.0.1:$P
start_at "$D" "$P"
check "catalog starts with an empty -data-dir" curl -sf "$C/v1/status/leader" -o /dev/null
for i in $(seq 1 20); do
  curl -sf -X PUT -d "{\"Name\":\"svc$i\",\"ID\":\"svc$i-1\",\"Port\":$((8000+i)),\"Address\":\"10.1.0.$i\",\"Tags\":[\"rest\"],\"Meta\":{\"n\":\"$i\"},\"Check\":{\"TTL\":\"30s\",\"Status\":\"passing\"}}" \
    "$C/v1/agent/service/register" -o /dev/null
done
curl -sf -X PUT --data-binary 'v1' "$C/v1/kv/app/config?flags=7" -o /dev/null
last=$(curl -sf -X PUT --data-binary 'bye' "$C/v1/kv/app/last")
kill -9 $PID; wait $PID 2>/dev/null
check_eq "the last write was acknowledged before the kill" "true" "$last"
start_at "$D" "$P"
check_eq "after kill -9 and restart: all 20 services are back" "20" \
  "$(curl -sf "$C/v1/agent/services" | jq '[keys[] | select(startswith("svc"))] | length')"
check_eq "after restart: service fields intact" '{"Service":"svc7","Port":8007,"Address":"10.1.0.7","Tags":["rest"],"Meta":{"n":"7"}}' \
  "$(curl -sf "$C/v1/agent/services" | jq -c '."svc7-1" | {Service,Port,Address,Tags,Meta}')"
check_eq "after restart: the write acknowledged just before the kill is there" "bye" "$(curl -sf "$C/v1/kv/app/last?raw")"
check_eq "after restart: KV flags kept" "7" "$(curl -sf "$C/v1/kv/app/config" | jq '.[0].Flags')"
check_eq "after restart: check status kept" "passing" "$(curl -sf "$C/v1/health/checks/svc3" | jq -r '.[0].Status')"
idx=$(curl -sf -D - -o /dev/null "$C/v1/catalog/services" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-consul-index"{print $2}')
check "after restart: the index did not go backwards (>= 22, got $idx)" test "${idx:-0}" -ge 22
curl -sf -X PUT "$C/v1/agent/service/deregister/svc1-1" -o /dev/null
kill -9 $PID; wait $PID 2>/dev/null
start_at "$D" "$P"
check_eq "a deregistration survives kill -9 too" "null" "$(curl -sf "$C/v1/agent/services" | jq -c '."svc1-1"')"
kill $PID; wait $PID 2>/dev/null

# --- a damaged snapshot is refused, never half-loaded (the log's own damage: tests/catalog-wal) ---
cp "$D/snapshot.json" "$TEST_TMP/good.json"
head -c $(( $(stat -c %s "$D/snapshot.json") / 2 )) "$TEST_TMP/good.json" >"$D/snapshot.json"
P2=$(free_port)
# the catalog must exit on its own; one that accepted the file keeps serving and is killed after 15 s
# (a fixed 1 s before the kill made a slow start on a loaded machine look like a refusal that never came)
out=$(timeout -s KILL 15 "$CAT" -listen "127.0.0.1:$P2" -data-dir "$D" 2>&1; echo "rc=$?")
check "a truncated snapshot makes the catalog exit with an error" grep -q "rc=1" <<<"$out"
check "the error names the file and says it is refused" grep -q "snapshot.json.*refusing to start" <<<"$out"
sed 's/"Index":/"Index":9/' "$TEST_TMP/good.json" >"$D/snapshot.json"
out=$(timeout -s KILL 15 "$CAT" -listen "127.0.0.1:$P2" -data-dir "$D" 2>&1; echo "rc=$?")
check_eq "a snapshot with a flipped field makes the catalog exit with an error" "rc=1" "$(tail -n 1 <<<"$out")"
check "a snapshot with a flipped field fails its checksum and is refused" grep -q "checksum mismatch" <<<"$out"
cp "$TEST_TMP/good.json" "$D/snapshot.json"

# --- a garbage node-id file is refused with the reason, never silently replaced ---
cp "$D/node-id" "$TEST_TMP/good-node-id"
printf 'not-a-uuid-at-all-but-36-chars-long!\n' >"$D/node-id"
out=$(timeout -s KILL 15 "$CAT" -listen "127.0.0.1:$P2" -data-dir "$D" 2>&1; echo "rc=$?")
check_eq "a garbage node-id file makes the catalog exit with an error" "rc=1" "$(tail -n 1 <<<"$out")"
check "the error names the file and says why" grep -q "node-id: not a node ID (want a UUID" <<<"$out"
check_eq "the garbage node-id file is left as it was" "not-a-uuid-at-all-but-36-chars-long!" "$(cat "$D/node-id")"
printf '\n  %s  \n' "$(cat "$TEST_TMP/good-node-id")" >"$D/node-id"
start_at "$D" "$P2"
check_eq "a node-id file with white space around the UUID is kept" "$(cat "$TEST_TMP/good-node-id")" \
  "$(curl -sf "http://127.0.0.1:$P2/v1/agent/self" | jq -r '.Config.NodeID')"
kill $PID; wait $PID 2>/dev/null
cp "$TEST_TMP/good-node-id" "$D/node-id"

# --- blocking queries through the real server ---
P=$(free_port); C=http://127.0.0.1:$P
"$CAT" -listen "127.0.0.1:$P" >>"$TEST_TMP/catalog.log" 2>&1 &
PID=$!; cleanup_add "kill -9 $PID"
wait_http "$C/v1/status/leader" 10
reg() { curl -sf -X PUT -d "$1" "$C/v1/agent/service/register" -o /dev/null; }
reg '{"Name":"web","ID":"web1","Port":80,"Address":"127.0.0.1"}'
reg '{"Name":"other","ID":"o1","Port":81}'
index_of() { curl -sf -D - -o /dev/null "$1" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-consul-index"{print $2}'; }
I=$(index_of "$C/v1/health/service/web")
# wait=30s: far above both the 0.3 s "still blocked" look and the 5 s "promptly" bound below, so
# neither can be outrun by the wait timeout; the writes start once the query is parked (not after
# a fixed sleep, which on a loaded machine could let them land before it and test nothing)
curl -sf -o "$TEST_TMP/b1" "$C/v1/health/service/web?index=$I&wait=30s" & bp=$!
check "the blocking query is parked" wait_parked "$P" 1
reg '{"Name":"other","ID":"o1","Port":82}'   # another service: must not wake it
reg '{"Name":"web","ID":"web1","Port":80,"Address":"127.0.0.1"}'   # identical: must not wake it
sleep 0.3
check "a blocked query is not woken by another service's change or an identical re-registration" kill -0 $bp
start=$(date +%s%N)
reg '{"Name":"web","ID":"web1","Port":8080,"Address":"127.0.0.1"}'
wait $bp; ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "a change to its service answers the blocked query promptly (${ms} ms after the write < 5000, wait was 30 s)" test "$ms" -lt 5000
check_eq "the answer carries the new data" "8080" "$(jq '.[0].Service.Port' "$TEST_TMP/b1")"
I=$(index_of "$C/v1/catalog/services")
# timed by curl from the request sent to the first answer byte: the server's own wait, without the
# process start-ups and connect that a loaded machine stretches (they made the old wall-clock bound flaky)
curl -sf -D "$TEST_TMP/h1" -o /dev/null -w '%{time_pretransfer} %{time_starttransfer}\n' \
  "$C/v1/catalog/services?index=$I&wait=1s" >"$TEST_TMP/t1"
J=$(tr -d '\r' <"$TEST_TMP/h1" | awk -F': ' 'tolower($1)=="x-consul-index"{print $2}')
ms=$(awk '{printf "%d", ($2 - $1) * 1000}' "$TEST_TMP/t1")
check_eq "at the wait timeout the same index comes back" "$I" "$J"
check "the timeout honoured wait=1s (+ jitter up to 1/16): ${ms} ms" test "$ms" -ge 950 -a "$ms" -lt 1600

# --- TTL expiry at millisecond resolution ---
# Registered and then polled from one python process: how long until the check reads critical,
# counted from just before the registration. A fixed 0.4 s sleep before one read failed whenever a
# loaded machine delayed the catalog's timer; a TTL kept in whole seconds still takes >= 1000 ms.
out=$(python3 - "$C" <<'PY'
import json, sys, time, urllib.request
c = sys.argv[1]
t0 = time.monotonic()
urllib.request.urlopen(urllib.request.Request(c + "/v1/agent/service/register", method="PUT",
    data=b'{"Name":"ttl","ID":"ttl1","Check":{"CheckID":"t1","TTL":"100ms","Status":"passing"}}')).read()
got = None
while time.monotonic() - t0 < 15:
    t1 = json.load(urllib.request.urlopen(c + "/v1/agent/checks"))["t1"]
    got = [t1["Status"], t1["Output"]]
    if got[0] == "critical":
        break
    time.sleep(0.01)
print(json.dumps(got, separators=(",", ":")), int((time.monotonic() - t0) * 1000))
PY
)
check_eq "a 100 ms TTL turns critical with Output 'TTL expired'" '["critical","TTL expired"]' "${out% *}"
check "... within a second, so the TTL is not counted in whole seconds (${out##* } ms)" test "${out##* }" -lt 1000
# (a longer TTL here, so a loaded machine cannot expire it between the pass and the read)
reg '{"Name":"ttl2","ID":"ttl2","Check":{"CheckID":"t2","TTL":"30s"}}'
curl -sf -X PUT "$C/v1/agent/check/pass/t2?note=alive" -o /dev/null
check_eq "check/pass sets passing with the note as Output" '["passing","alive"]' \
  "$(curl -sf "$C/v1/agent/checks" | jq -c '.t2 | [.Status,.Output]')"

# --- HTTP and TCP checks the catalog runs itself ---
HP=$(free_port)
python3 -m http.server "$HP" --bind 127.0.0.1 >/dev/null 2>&1 & hp=$!; cleanup_add "kill $hp"
wait_http "http://127.0.0.1:$HP/" 10
reg "{\"Name\":\"hc\",\"ID\":\"hc1\",\"Checks\":[{\"CheckID\":\"h\",\"HTTP\":\"http://127.0.0.1:$HP/\",\"Interval\":\"1s\"},{\"CheckID\":\"tc\",\"TCP\":\"127.0.0.1:$HP\",\"Interval\":\"1s\"},{\"CheckID\":\"dead\",\"TCP\":\"127.0.0.1:1\",\"Interval\":\"1s\",\"Timeout\":\"500ms\"}]}"
# wait for the checks to have run (both live ones passing and the dead one carrying an Output)
# instead of a fixed 2.5 s, which a loaded machine can outlast
checks_ran() { curl -sf "$C/v1/agent/checks" | jq -e '.h.Status == "passing" and .tc.Status == "passing" and (.dead.Output // "") != ""' >/dev/null; }
for _ in $(seq 1 150); do checks_ran && break; sleep 0.1; done
check_eq "HTTP check against a live server: passing" "passing" "$(curl -sf "$C/v1/agent/checks" | jq -r '.h.Status')"
check_eq "TCP check against a live port: passing" "passing" "$(curl -sf "$C/v1/agent/checks" | jq -r '.tc.Status')"
check_eq "TCP check against a closed port: critical" "critical" "$(curl -sf "$C/v1/agent/checks" | jq -r '.dead.Status')"
check_eq "?passing drops the instance with a critical check" "0" "$(curl -sf "$C/v1/health/service/hc?passing" | jq length)"

# --- issue 13: node maintenance and external nodes survive kill -9 with -data-dir ---
MAIN_PID=$PID   # the catalog the graceful-stop test below stops
D3=$TEST_TMP/data3; mkdir -p "$D3"
P3=$(free_port); C3=http://127.0.0.1:$P3
start_at "$D3" "$P3"
P3PID=$PID
curl -sf -X PUT "$C3/v1/agent/maintenance?enable=true&reason=kernel" -o /dev/null
ack=$(curl -sf -X PUT -d '{"Node":"extdb","Address":"10.5.0.9","NodeMeta":{"rack":"a"},"Service":{"Service":"pg","ID":"pg1","Port":5432},"Check":{"CheckID":"pg-ok","Status":"warning","ServiceID":"pg1"}}' "$C3/v1/catalog/register")
check_eq "catalog/register answers true" "true" "$ack"
kill -9 $P3PID; wait $P3PID 2>/dev/null
start_at "$D3" "$P3"
P3PID=$PID
node=$(curl -sf "$C3/v1/agent/self" | jq -r .Config.NodeName)
check_eq "after kill -9: node maintenance is still on, with its reason" '["critical","kernel"]' \
  "$(curl -sf "$C3/v1/health/node/$node" | jq -c '[.[] | select(.CheckID=="_node_maintenance") | .Status, .Notes]')"
check_eq "after kill -9: the external node, its service and the check's status are back" '["extdb","10.5.0.9",{"rack":"a"},5432,"warning"]' \
  "$(curl -sf "$C3/v1/health/service/pg" | jq -c '.[0] | [.Node.Node, .Node.Address, .Node.Meta, .Service.Port, .Checks[0].Status]')"
kill $P3PID; wait $P3PID 2>/dev/null
PID=$MAIN_PID

# --- graceful stop ---
kill -TERM $PID
for _ in $(seq 1 50); do kill -0 $PID 2>/dev/null || break; sleep 0.1; done
check "SIGTERM stops the catalog within 5 s" bash -c "! kill -0 $PID 2>/dev/null"
done_testing
