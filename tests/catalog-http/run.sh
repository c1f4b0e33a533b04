#!/usr/bin/env bash
# tests/catalog-http/run.sh: portolan-catalog as a process, on a real socket. Complements
# tests/catalog (one kill -9, one truncation) and tests/conformance (exact API answers):
#   1. durability with -data-dir, harder: eight kinds of write (KV put/delete/recurse delete,
#      register, re-register, deregister, check fail), each followed AT ONCE by kill -9 and a
#      restart; KV indexes survive exactly (?cas with the old ModifyIndex works after restart);
#      indexes never go backwards; SIGTERM keeps the state; three kinds of damaged state file
#      (truncated to half, a NUL byte in the middle, emptied) are refused with a clear error;
#   2. the HTTP server's limits and framing: 200 connections per client IP then 429 + close,
#      a header block over 64 KiB -> 431, pipelined requests answered in order, chunked request
#      bodies reassembled, a client that never finishes its headers is disconnected;
#   3. blocking queries wake only when their own index rises (another service's write, or a
#      write to another KV key, does not wake them; a missing KV key wakes when it is created);
#      parked queries whose clients vanish (RST or FIN) are dropped cleanly and the rest still wake;
#      a random-write property run (wire.py wakeprops) checks the server's wake matching end to end;
#   4. HTTP checks (200 passing, 429 warning, 503 critical, backend gone critical) and TCP
#      checks run by the catalog on their interval; service maintenance mode;
#   5. what a registration may make the catalog send (issue 8): CR/LF in Method or Header, host
#      names and out-of-range ports in targets, \u0000 in strings are 400; a gRPC check's Output
#      names its address; a transfer coding other than plain chunked is 501.
#   6. sessions and locks: leader election (acquire, second contender refused, release by TTL
#      expiry through the catalog's own timer waking a blocked contender, destroy, behavior delete);
#      with -data-dir a held lock and its session survive kill -9.
#   Also: a state.json that is a FIFO, a symlink to /dev/zero or past 256 MiB is refused; with
#   -data-dir every entry's CreateIndex/ModifyIndex survives a restart; a memory-only catalog
#   restarts above every index it gave out (1b).
# Needs: curl, jq, python3. Takes about 60 s (the slow-header probe runs in the background).
set -uo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
# shellcheck source=../lib.sh
source "$HERE/../lib.sh"
CAT=$BUILD/portolan-catalog
WIRE="python3 $HERE/wire.py"

if [ ! -x "$CAT" ]; then
  not_ok "portolan-catalog is built ($CAT missing)"
  done_testing
  exit 1
fi

H=$TEST_TMP/h
B=$TEST_TMP/b
# req METHOD PATH [curl args...] -> $ST, headers in $H, body in $B
req() {
  local m=$1 p=$2
  shift 2
  ST=$(curl -s -X "$m" -o "$B" -D "$H" -w '%{http_code}' --max-time 20 "$@" "http://$CATALOG_ADDR$p")
}
hdr() { tr -d '\r' <"$H" | sed -n "s/^$1: //p" | head -1; }
now_ms() { date +%s%3N; }
# eventually SECS CMD...: poll CMD until it succeeds
eventually() {
  local secs=$1 i
  shift
  for ((i = 0; i < secs * 20; i++)); do
    "$@" && return 0
    sleep 0.05
  done
  return 1
}
check_status() { # CheckID -> its Status, or "absent"
  curl -s --max-time 5 "http://$CATALOG_ADDR/v1/agent/checks" | jq -r --arg id "$1" '.[$id].Status // "absent"'
}
status_is() { [ "$(check_status "$1")" = "$2" ]; }
stop_catalog() { # SIGNAL
  kill "$1" "$CATALOG_PID" 2>/dev/null
  wait "$CATALOG_PID" 2>/dev/null
}

# ---------------------------------------------------------------------------------------------
# 1. durability
D=$TEST_TMP/data
mkdir -p "$D"
check "starts with an empty -data-dir" start_catalog -data-dir "$D"

req PUT /v1/agent/service/register --data-binary \
  '{"Name":"web","ID":"web1","Tags":["a","b"],"Port":8080,"Meta":{"k":"v"},"Check":{"TTL":"30s","Status":"passing"}}'
check_eq "register web1 (with a TTL check) answers 200" 200 "$ST"
req PUT "/v1/kv/conf/a?flags=42" --data-binary 'value-a'
check_eq "KV PUT conf/a answers true" "200 true" "$ST $(cat "$B")"
stop_catalog -9

start_catalog -data-dir "$D"
req GET /v1/agent/services
check_eq "after kill -9: agent/services has web1 with port, tags, meta" "8080 a,b v" \
  "$(jq -r '.web1 | "\(.Port) \(.Tags|join(",")) \(.Meta.k)"' "$B" 2>/dev/null)"
req GET /v1/agent/checks
check_eq "after kill -9: the TTL check service:web1 is still registered" "service:web1" \
  "$(jq -r '.["service:web1"].CheckID' "$B" 2>/dev/null)"
req GET /v1/kv/conf/a
check_eq "after kill -9: KV conf/a value and flags survive" "value-a 42" \
  "$(jq -r '.[0] | "\(.Value|@base64d) \(.Flags)"' "$B" 2>/dev/null)"
mi=$(jq -r '.[0].ModifyIndex' "$B" 2>/dev/null)
req PUT "/v1/kv/conf/a?cas=$mi" --data-binary 'value-a2'
check_eq "after kill -9: ?cas with the ModifyIndex read back succeeds" "true" "$(cat "$B")"
req GET /v1/catalog/services
idx_before=$(hdr X-Consul-Index)
req GET /v1/kv/conf/a
kv_mi=$(jq -r '.[0].ModifyIndex' "$B" 2>/dev/null)

# a run of writes, each followed at once by kill -9 and a restart
lost=""
for i in 1 2 3 4 5 6 7 8; do
  case $i in
    1 | 5) req PUT "/v1/kv/loop/k$i" --data-binary "v$i" ;;
    2) req PUT /v1/agent/service/register --data-binary '{"Name":"db","ID":"db1","Port":5432}' ;;
    3) req DELETE /v1/kv/conf/a ;;
    4) req PUT "/v1/agent/check/fail/service:web1?note=down" ;;
    6) req PUT /v1/agent/service/deregister/web1 ;;
    7) req DELETE "/v1/kv/loop/?recurse" ;;
    8) req PUT /v1/agent/service/register --data-binary '{"Name":"db","ID":"db1","Port":5433,"Tags":["x"]}' ;;
  esac
  [ "$ST" = 200 ] || lost="$lost write$i:status=$ST"
  stop_catalog -9
  start_catalog -data-dir "$D" || lost="$lost restart$i"
  case $i in
    1) req GET /v1/kv/loop/k1?raw; [ "$(cat "$B")" = v1 ] || lost="$lost k1" ;;
    2) req GET /v1/agent/services; [ "$(jq -r '.db1.Port' "$B")" = 5432 ] || lost="$lost db1" ;;
    3) req GET /v1/kv/conf/a; [ "$ST" = 404 ] || lost="$lost delete-conf/a" ;;
    4) [ "$(check_status service:web1)" = critical ] || lost="$lost fail-web1" ;;
    5) req GET "/v1/kv/loop/?keys"; [ "$(jq -c . "$B")" = '["loop/k1","loop/k5"]' ] || lost="$lost keys" ;;
    6) req GET /v1/agent/services; [ "$(jq -r 'has("web1")' "$B")" = false ] || lost="$lost deregister-web1" ;;
    7) req GET "/v1/kv/loop/?recurse"; [ "$ST" = 404 ] || lost="$lost recurse-delete" ;;
    8) req GET /v1/catalog/service/db; [ "$(jq -r '.[0].ServicePort' "$B")" = 5433 ] || lost="$lost db1-update" ;;
  esac
done
check_eq "8 writes, each followed by kill -9 + restart: every one survived" "" "$lost"
req GET /v1/catalog/services
check "the catalog/services index did not go backwards across restarts ($idx_before -> $(hdr X-Consul-Index))" \
  test "$(hdr X-Consul-Index)" -ge "$idx_before"
req GET "/v1/kv/loop/?recurse"
check "a deleted prefix's index (tombstones) survives restarts (>= $kv_mi: $(hdr X-Consul-Index))" \
  test "$(hdr X-Consul-Index)" -ge "$kv_mi"

# bytes that are not UTF-8: a KV key (kept exactly), a check note and a maintenance reason
# (rendered with U+FFFD, as Consul renders them) survive kill -9 without taking anything with them
req PUT "/v1/kv/bin%FFkey%C3%A9?flags=18446744073709551615" --data-binary 'raw'
req PUT /v1/agent/service/register --data-binary '{"Name":"u8","ID":"u8a","Check":{"TTL":"1m"}}'
req PUT "/v1/agent/check/warn/service:u8a?note=out%FFput"
req PUT "/v1/agent/service/maintenance/u8a?enable=true&reason=why%FE"
stop_catalog -9
start_catalog -data-dir "$D"
req GET "/v1/kv/bin%FFkey%C3%A9?raw"
check_eq "after kill -9: a KV key that is not UTF-8 is still there under its exact bytes" "200 raw" "$ST $(cat "$B")"
req GET "/v1/kv/bin%FFkey%C3%A9"
check_eq "... listed with U+FFFD for the bad byte and its uint64 Flags intact" \
  $'bin\xef\xbf\xbdkey\xc3\xa9 "Flags":18446744073709551615' \
  "$(jq -r '.[0].Key' "$B" 2>/dev/null) $(grep -o '"Flags":[0-9-]*' "$B")"   # (jq rounds big integers)
req GET /v1/agent/checks
check_eq "after kill -9: the check with a non-UTF-8 note and the maintenance check are both kept" \
  $'warning out\xef\xbf\xbdput critical why\xef\xbf\xbd' \
  "$(jq -r '"\(.["service:u8a"].Status) \(.["service:u8a"].Output) \(.["_service_maintenance:u8a"].Status) \(.["_service_maintenance:u8a"].Notes)"' "$B" 2>/dev/null)"

# SIGTERM: clean exit, state kept
req PUT /v1/kv/term --data-binary 'bye'
t0=$(now_ms)
kill -TERM "$CATALOG_PID"
wait "$CATALOG_PID"
rc=$?
check_eq "SIGTERM: exits 0" 0 "$rc"
check "SIGTERM: exits within 3 s ($(($(now_ms) - t0)) ms)" test $(($(now_ms) - t0)) -lt 3000
start_catalog -data-dir "$D"
req GET /v1/kv/term?raw
check_eq "after SIGTERM + restart: the last write is there" "bye" "$(cat "$B")"
stop_catalog -TERM

# damaged copies are refused; the original still loads
nfiles=$(find "$D" -type f -size +0 | wc -l)
check "the data dir holds state ($nfiles non-empty files)" test "$nfiles" -gt 0
refused() { # DESC DIR: must exit non-zero (not hang), say what is wrong
  local d=$1 dir=$2 port rc
  port=$(free_port)
  timeout 10 "$CAT" -listen "127.0.0.1:$port" -data-dir "$dir" >"$TEST_TMP/refuse.log" 2>&1
  rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -ne 124 ] && grep -qiE 'corrupt|truncat|invalid|checksum|damaged' "$TEST_TMP/refuse.log"; then
    ok "$d: refused (exit $rc): $(grep -iE 'corrupt|truncat|invalid|checksum|damaged' "$TEST_TMP/refuse.log" | head -1 | cut -c1-150)"
  else
    not_ok "$d: refused with a clear error"
    diag "exit $rc"
    sed 's/^/# /' "$TEST_TMP/refuse.log" | tail -5
  fi
}
cp -a "$D" "$TEST_TMP/trunc"
find "$TEST_TMP/trunc" -type f -name snapshot.json -size +0 | while read -r f; do
  truncate -s $(($(stat -c %s "$f") / 2)) "$f"
done
refused "a snapshot truncated to half its size" "$TEST_TMP/trunc"
cp -a "$D" "$TEST_TMP/flip"
find "$TEST_TMP/flip" -type f -name snapshot.json -size +0 | while read -r f; do
  printf '\0' | dd of="$f" bs=1 seek=$(($(stat -c %s "$f") / 2)) conv=notrunc status=none
done
refused "a snapshot with a NUL byte written into its middle" "$TEST_TMP/flip"
# the log: one byte in its middle inverted (a record's header or payload then fails its CRC with
# records after it: corruption, not a torn tail)
cp -a "$D" "$TEST_TMP/flip-log"
find "$TEST_TMP/flip-log" -type f -name 'wal-*.log' -size +100c | while read -r f; do
  python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[len(b)//2]^=0xff; open(p,"wb").write(b)' "$f"
done
refused "a log with a byte inverted in its middle" "$TEST_TMP/flip-log"
cp -a "$D" "$TEST_TMP/zero"
find "$TEST_TMP/zero" -type f -name snapshot.json -size +0 | while read -r f; do : >"$f"; done
refused "a snapshot emptied (0 bytes)" "$TEST_TMP/zero"
start_catalog -data-dir "$D"
req GET /v1/kv/term?raw
check_eq "the untouched original still loads after the refusals" "bye" "$(cat "$B")"
stop_catalog -TERM

# a state.json or snapshot.json that is not a regular file: a FIFO blocked the start for ever, a symlink to
# /dev/zero filled memory; a file past the size limit is not read either
not_regular() { # DESC DIR MESSAGE: exits non-zero on its own (timeout: 124) and says MESSAGE
  local port rc
  port=$(free_port)
  timeout -s KILL 15 "$CAT" -listen "127.0.0.1:$port" -data-dir "$2" >"$TEST_TMP/refuse.log" 2>&1
  rc=$?
  if [ "$rc" -eq 1 ] && grep -q "\.json: $3" "$TEST_TMP/refuse.log"; then
    ok "$1: refused (exit 1): $(grep -o "[a-z]*\.json: $3.*" "$TEST_TMP/refuse.log" | head -1 | cut -c1-120)"
  else
    not_ok "$1: refused with exit 1 and '$3'"
    diag "exit $rc"
    sed 's/^/# /' "$TEST_TMP/refuse.log" | tail -3
  fi
}
mkdir -p "$TEST_TMP/fifo" "$TEST_TMP/devzero" "$TEST_TMP/huge"
mkfifo "$TEST_TMP/fifo/state.json"
not_regular "state.json is a FIFO" "$TEST_TMP/fifo" "not a regular file"
ln -s /dev/zero "$TEST_TMP/devzero/state.json"
not_regular "state.json is a symlink to /dev/zero" "$TEST_TMP/devzero" "not a regular file"
truncate -s 300M "$TEST_TMP/huge/state.json"   # sparse: no disk used
mkdir -p "$TEST_TMP/fifo-snap" && mkfifo "$TEST_TMP/fifo-snap/snapshot.json"
not_regular "snapshot.json is a FIFO" "$TEST_TMP/fifo-snap" "not a regular file"
not_regular "state.json of 300 MiB (limit 256 MiB)" "$TEST_TMP/huge" "larger than 256 MiB"
mkdir -p "$TEST_TMP/symlinked" && ln -s "$D/snapshot.json" "$TEST_TMP/symlinked/snapshot.json"
cp "$D"/wal-*.log "$TEST_TMP/symlinked/"
start_catalog -data-dir "$TEST_TMP/symlinked"
req GET /v1/kv/term?raw
check_eq "a symlink to a regular snapshot is still followed" "bye" "$(cat "$B")"
stop_catalog -TERM

# ---------------------------------------------------------------------------------------------
# 1b. indexes across restarts
# every entry's CreateIndex/ModifyIndex, as one sorted text (node, every check including serfHealth,
# a node check and a maintenance check, every service instance including consul, every KV entry)
entry_indexes() {
  local base="http://$CATALOG_ADDR"
  {
    curl -s "$base/v1/catalog/nodes" | jq -r '.[] | "node \(.Node) \(.CreateIndex) \(.ModifyIndex)"'
    curl -s "$base/v1/health/state/any" | jq -r '.[] | "check \(.CheckID) \(.CreateIndex) \(.ModifyIndex)"'
    for svc in $(curl -s "$base/v1/catalog/services" | jq -r 'keys[]'); do
      curl -s "$base/v1/catalog/service/$svc" | jq -r '.[] | "service \(.ServiceID) \(.CreateIndex) \(.ModifyIndex)"'
    done
    curl -s "$base/v1/kv/?recurse" | jq -r '.[] | "kv \(.Key) \(.CreateIndex) \(.ModifyIndex)"'
  } | LC_ALL=C sort
}
# the highest X-Consul-Index any read endpoint gives (including a KV key that does not exist)
max_index() {
  local m=0 p i
  for p in /v1/catalog/services /v1/catalog/nodes /v1/catalog/service/ix /v1/health/service/ix \
           /v1/health/checks/ix /v1/health/state/any /v1/kv/ix/nosuch "/v1/kv/ix/?recurse" /v1/kv/nosuch; do
    req GET "$p"
    i=$(hdr X-Consul-Index)
    [ "${i:-0}" -gt "$m" ] && m=$i
  done
  echo "$m"
}
DI=$TEST_TMP/data-ix
mkdir -p "$DI"
start_catalog -data-dir "$DI"
req PUT /v1/agent/service/register --data-binary '{"Name":"ix","ID":"ix1","Port":1,"Check":{"CheckID":"ix1-ttl","TTL":"1m","Status":"passing"}}'
req PUT /v1/agent/service/register --data-binary '{"Name":"ix","ID":"ix2","Port":2}'
req PUT /v1/agent/service/register --data-binary '{"Name":"ix","ID":"ix2","Port":3}'
req PUT /v1/agent/check/register --data-binary '{"Name":"node-disk","CheckID":"node-disk","TTL":"1m","Status":"warning"}'
req PUT "/v1/agent/check/pass/node-disk?note=fine"
req PUT "/v1/agent/service/maintenance/ix2?enable=true&reason=rollout"
req PUT /v1/kv/ix/a --data-binary 1
req PUT /v1/kv/ix/a --data-binary 2
req PUT /v1/kv/ix/b --data-binary 3
check_eq "the index set-up writes were all answered 200" 200 "$ST"
before=$(entry_indexes)
check_eq "... and list node, serfHealth, the node check, the service check, maintenance, consul, both instances, both keys" \
  "check _service_maintenance:ix2|check ix1-ttl|check node-disk|check serfHealth|kv ix/a|kv ix/b|node|service consul|service ix1|service ix2" \
  "$(awk '{print ($1 == "node") ? $1 : $1 " " $2}' <<<"$before" | paste -sd'|')"
stop_catalog -9
start_catalog -data-dir "$DI"
after=$(entry_indexes)
check_eq "-data-dir, kill -9 and restart: every entry's CreateIndex and ModifyIndex are identical" "$before" "$after"
req GET /v1/agent/checks
check_eq "... and the node check's Output is kept" "fine" "$(jq -r '.["node-disk"].Output' "$B")"
stop_catalog -TERM
start_catalog -data-dir "$DI"
check_eq "... and again after SIGTERM and a second restart" "$before" "$(entry_indexes)"
stop_catalog -TERM

# memory only: a restarted catalog starts above every index the previous run gave out, so a client
# still holding the old index is answered at once (it waited out its whole wait before)
start_catalog
req PUT /v1/agent/service/register --data-binary '{"Name":"ix","ID":"ix1","Port":1,"Check":{"TTL":"1m","Status":"passing"}}'
for i in $(seq 1 30); do req PUT "/v1/kv/ix/k$i" --data-binary "$i"; done
req PUT "/v1/agent/check/fail/service:ix1"
old=$(max_index)
stop_catalog -9
start_catalog
new=$(max_index)
req GET /v1/catalog/services
low=$(hdr X-Consul-Index)
for p in /v1/catalog/nodes /v1/catalog/service/ix /v1/health/service/ix /v1/health/checks/ix /v1/kv/nosuch "/v1/kv/ix/?recurse"; do
  req GET "$p"; i=$(hdr X-Consul-Index); [ "${i:-0}" -lt "$low" ] && low=$i
done
check "memory-only restart: every endpoint's X-Consul-Index starts above the previous run's highest ($old -> lowest now $low)" \
  test "${low:-0}" -gt "${old:-0}"
# the wait is far longer than curl's own limit: an answer at all means it did not wait it out
req GET "/v1/health/service/ix?index=$old&wait=5m"
check "... so a blocking query with the old index is answered at once, with a higher index (status $ST, index $(hdr X-Consul-Index), new run's highest $new)" \
  test "$ST" = 200 -a "$(hdr X-Consul-Index)" -gt "${old:-0}"
stop_catalog -TERM

# ---------------------------------------------------------------------------------------------
# 2. the HTTP server on a real socket
start_catalog
diag "catalog at $CATALOG_ADDR"
# the slow client probe takes the header timeout (10 s); run it beside the rest
$WIRE slowheader "$CATALOG_ADDR" 20 >"$TEST_TMP/slow.out" 2>&1 &
slow_pid=$!
cleanup_add "kill $slow_pid"

out=$($WIRE conns "$CATALOG_ADDR" 200 2>&1)
diag "conns: $(echo "$out" | tr '\n' ' ')"
check "the 201st connection from one IP is answered 429" grep -q 'extra_status=429' <<<"$out"
check "the 201st connection is closed after the 429" grep -q 'extra_closed=1' <<<"$out"
check "the first 200 connections keep working" grep -q 'first_status=200' <<<"$out"
check "after they close, new connections are accepted again" grep -q 'after_status=200' <<<"$out"

out=$($WIRE bigheader "$CATALOG_ADDR" 70000 2>&1)
check_eq "a 70,000-byte header is answered 431" "status=431" "$out"
out=$($WIRE bigheader "$CATALOG_ADDR" 60000 2>&1)
check_eq "a 60,000-byte header is accepted (limit 64 KiB)" "status=200" "$out"

req PUT /v1/kv/p1 --data-binary one
req PUT /v1/kv/p2 --data-binary two
out=$($WIRE pipeline "$CATALOG_ADDR" 2>&1)
check_eq "three pipelined requests are answered in order" 'answers=200:one|200:"127.0.0.1:8300"|200:two' "$out"
out=$($WIRE chunked "$CATALOG_ADDR" 2>&1)
check_eq "a chunked request body is reassembled (KV PUT then ?raw)" "put=200:true get=200:hello world" "$out"

# a register body with bytes that are not UTF-8 inside its strings: accepted with U+FFFD, as Go does
req PUT /v1/agent/service/register --data-binary $'{"Name":"n\xffx","ID":"u8b","Tags":["t\xc3"]}'
check_eq "a registration whose strings hold non-UTF-8 bytes is accepted (U+FFFD), as Consul's Go decoder does" \
  $'200 n\xef\xbf\xbdx t\xef\xbf\xbd' "$ST $(curl -s "http://$CATALOG_ADDR/v1/agent/services" | jq -r '.u8b | "\(.Service) \(.Tags[0])"')"
req PUT /v1/agent/service/deregister/u8b

# KV keys and values are any bytes: keys that look like internal markers stay strings
req PUT "/v1/kv/mk/%01u64:5" --data-binary x
req PUT "/v1/kv/mk/big?flags=18446744073709551615" --data-binary y
req GET "/v1/kv/mk/?keys"
check_eq "?keys: a key holding 0x01u64:5 stays a string" $'["mk/\\u0001u64:5","mk/big"]' "$(cat "$B")"
req GET "/v1/kv/mk/?recurse"
check "?recurse with a marker-like key and a uint64 Flags is valid JSON with both" \
  python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); assert [e["Key"] for e in d] == ["mk/\x01u64:5","mk/big"] and d[1]["Flags"] == 18446744073709551615' "$B"

# ---------------------------------------------------------------------------------------------
# 3. blocking queries wake on their own index only
req PUT /v1/agent/service/register --data-binary '{"Name":"a","ID":"a1"}'
req GET /v1/health/service/a
ia=$(hdr X-Consul-Index)
t0=$(now_ms)
(curl -s -D "$TEST_TMP/bh1" -o /dev/null --max-time 10 "http://$CATALOG_ADDR/v1/health/service/a?index=$ia&wait=2s"; now_ms >"$TEST_TMP/bt1") &
bpid=$!
# the writes go in once the query is parked (a fixed 0.3 s let a slow curl arrive after them)
wait_parked "${CATALOG_ADDR##*:}" 1 10
req PUT /v1/agent/service/register --data-binary '{"Name":"b","ID":"b1"}'
req PUT /v1/kv/unrelated --data-binary x
wait "$bpid"
el=$(($(cat "$TEST_TMP/bt1") - t0))
check "health/service/a stays blocked through writes to service b and KV, until its 2 s wait (${el} ms)" \
  test "$el" -ge 1900
check_eq "... and returns its unchanged index" "$ia" "$(tr -d '\r' <"$TEST_TMP/bh1" | sed -n 's/^X-Consul-Index: //p')"
# promptness is counted from the waking write, bounded at 5 s against a 40 s wait (it was < 1 s
# counted from before a 0.3 s sleep and two curl start-ups, which a loaded machine can exceed)
(curl -s -D "$TEST_TMP/bh2" -o /dev/null --max-time 60 "http://$CATALOG_ADDR/v1/health/service/a?index=$ia&wait=40s"; now_ms >"$TEST_TMP/bt2") &
bpid=$!
wait_parked "${CATALOG_ADDR##*:}" 1 10
t0=$(now_ms)
req PUT /v1/agent/service/register --data-binary '{"Name":"a","ID":"a2"}'
wait "$bpid"
el=$(($(cat "$TEST_TMP/bt2") - t0))
check "health/service/a wakes promptly when an instance of a registers (${el} ms after the write < 5000, wait 40 s)" \
  test "$el" -lt 5000
ia2=$(tr -d '\r' <"$TEST_TMP/bh2" | sed -n 's/^X-Consul-Index: //p')
check "... with a higher index ($ia -> $ia2)" test "${ia2:-0}" -gt "$ia"

req GET /v1/kv/watched
ik=$(hdr X-Consul-Index)
(curl -s -o "$TEST_TMP/bk" --max-time 60 "http://$CATALOG_ADDR/v1/kv/watched?index=$ik&wait=40s"; now_ms >"$TEST_TMP/btk") &
bpid=$!
wait_parked "${CATALOG_ADDR##*:}" 1 10
req PUT /v1/kv/other --data-binary x
sleep 0.3
# still parked 0.3 s after another key's write (that write's wake-up pass is long over; the wait is
# 40 s), then woken by its own key within 5 s (was: 550..1500 ms counted from before the curl started)
if kill -0 "$bpid" 2>/dev/null; then still=1; else still=0; fi
t0=$(now_ms)
req PUT /v1/kv/watched --data-binary hit
wait "$bpid"
el=$(($(cat "$TEST_TMP/btk") - t0))
check "a blocked GET of a missing KV key ignores another key's write, wakes on its own (still parked: $still, woke ${el} ms after its write)" \
  test "$still" = 1 -a "$el" -lt 5000
check_eq "... and returns the new value" "hit" "$(jq -r '.[0].Value|@base64d' "$TEST_TMP/bk" 2>/dev/null)"

out=$($WIRE wakeprops "$CATALOG_ADDR" 40 3 2>&1)
check_eq "40 random writes, 36 queries parked before each: every changed answer woke, none woke without a higher index" \
  "mismatches=0" "$(head -1 <<<"$out")"
tail -n +2 <<<"$out"
# its node checks (critical ones count against every instance) must not leak into what follows
req PUT /v1/agent/check/deregister/nc0
req PUT /v1/agent/check/deregister/nc1
out=$($WIRE parkstorm "$CATALOG_ADDR" 160 4 2>&1)
check_eq "4 rounds of 160 parked queries, half the clients vanishing (RST/FIN): every survivor wakes on the write" \
  "woken=320 expected=320" "$out"

# ---------------------------------------------------------------------------------------------
# 4. checks the catalog runs itself
bport=$(free_port)
# the backend hangs until the initial status is read: the catalog runs a new check's first probe at
# a random moment within its interval (possibly at once), so with a backend answering 200 the check
# could be passing before the read. Hanging, no probe can end before its 1 s Timeout.
echo hang >"$TEST_TMP/code"
$WIRE backend "$bport" "$TEST_TMP/code" >"$TEST_TMP/backend.log" 2>&1 &
backend_pid=$!
cleanup_add "kill $backend_pid"
for _ in $(seq 1 100); do (exec 3<>"/dev/tcp/127.0.0.1/$bport") 2>/dev/null && break; sleep 0.05; done
req PUT /v1/agent/service/register --data-binary \
  "{\"Name\":\"hc\",\"ID\":\"hc1\",\"Port\":$bport,\"Check\":{\"HTTP\":\"http://127.0.0.1:$bport/health\",\"Interval\":\"1s\",\"Timeout\":\"1s\"}}"
check_eq "register with an HTTP check" 200 "$ST"
check_eq "an HTTP check starts critical" critical "$(check_status service:hc1)"
echo 200 >"$TEST_TMP/code"
# (interval 1 s; 10 s leaves a loaded machine room for several probes, a check that never runs still fails)
check "HTTP check: 200 -> passing within 10 s" eventually 10 status_is service:hc1 passing
echo 429 >"$TEST_TMP/code"
check "HTTP check: 429 -> warning within 10 s" eventually 10 status_is service:hc1 warning
echo 503 >"$TEST_TMP/code"
check "HTTP check: 503 -> critical within 10 s" eventually 10 status_is service:hc1 critical
req GET /v1/agent/checks
check "HTTP check Output mentions the status code" grep -q '503' <<<"$(jq -r '.["service:hc1"].Output' "$B")"
echo 200 >"$TEST_TMP/code"
check "HTTP check: back to 200 -> passing" eventually 10 status_is service:hc1 passing
req GET "/v1/health/service/hc?passing"
check_eq "health/service?passing includes the passing HTTP-checked instance" "hc1" "$(jq -r '.[0].Service.ID' "$B" 2>/dev/null)"

# what the HTTP check sends: Method, Header (multi-valued), Body
req PUT /v1/agent/service/register --data-binary \
  "{\"Name\":\"hf\",\"ID\":\"hf1\",\"Check\":{\"CheckID\":\"hf-check\",\"HTTP\":\"http://127.0.0.1:$bport/probe?x=1\",\"Method\":\"POST\",\"Header\":{\"X-Probe\":[\"a\",\"b\"],\"X-One\":[\"1\"]},\"Body\":\"ping\",\"Interval\":\"1s\",\"Timeout\":\"1s\"}}"
check_eq "register an HTTP check with Method, Header and Body" 200 "$ST"
check "... it runs (passing)" eventually 10 status_is hf-check passing
check_eq "the HTTP check sends its Method, path+query, every Header value and its Body" \
  "POST /probe?x=1|X-One: 1|X-Probe: a,b|body: ping" "$(paste -sd'|' "$TEST_TMP/code.req")"
req PUT /v1/agent/service/deregister/hf1
# a backend that never answers: critical once Timeout passes
echo hang >"$TEST_TMP/code"
check "HTTP check: a backend that never answers -> critical (Timeout 1s)" eventually 10 status_is service:hc1 critical
req GET /v1/agent/checks
check "... with an Output that says it timed out" grep -qiE 'timeout|timed out|deadline' <<<"$(jq -r '.["service:hc1"].Output' "$B")"
echo 200 >"$TEST_TMP/code"
check "HTTP check: answering again -> passing" eventually 10 status_is service:hc1 passing

cport=$(free_port)
req PUT /v1/agent/service/register --data-binary \
  "{\"Name\":\"tc\",\"ID\":\"tc1\",\"Checks\":[{\"CheckID\":\"tcp-up\",\"TCP\":\"127.0.0.1:$bport\",\"Interval\":\"1s\"},{\"CheckID\":\"tcp-down\",\"TCP\":\"127.0.0.1:$cport\",\"Interval\":\"1s\",\"Status\":\"passing\"}]}"
check_eq "register with two TCP checks" 200 "$ST"
check "TCP check to a listening port -> passing" eventually 10 status_is tcp-up passing
check "TCP check to a closed port -> critical" eventually 10 status_is tcp-down critical
req GET /v1/agent/checks
check_eq "check Type http / tcp" "http tcp" "$(jq -r '"\(.["service:hc1"].Type) \(.["tcp-up"].Type)"' "$B")"

kill "$backend_pid" 2>/dev/null
check "HTTP check: backend gone -> critical" eventually 10 status_is service:hc1 critical
check "TCP check: backend gone -> critical" eventually 10 status_is tcp-up critical

# maintenance mode
req PUT /v1/agent/service/register --data-binary '{"Name":"m","ID":"m1","Check":{"TTL":"1m","Status":"passing"}}'
req PUT "/v1/agent/service/maintenance/m1?enable=true&reason=upgrading"
check_eq "maintenance enable answers 200" 200 "$ST"
req GET /v1/agent/checks
check_eq "maintenance adds critical _service_maintenance:m1 'Service Maintenance Mode'" \
  "critical Service Maintenance Mode m1" \
  "$(jq -r '.["_service_maintenance:m1"] | "\(.Status) \(.Name) \(.ServiceID)"' "$B" 2>/dev/null)"
req GET "/v1/health/service/m?passing"
check_eq "an instance in maintenance is dropped by ?passing" "[]" "$(cat "$B")"
req PUT "/v1/agent/service/maintenance/m1?enable=false"
req GET /v1/agent/checks
check_eq "maintenance disable removes the check" "false" "$(jq -r 'has("_service_maintenance:m1")' "$B" 2>/dev/null)"
req PUT "/v1/agent/service/maintenance/nosuch?enable=true"
check_eq "maintenance on an unknown service -> 404" 404 "$ST"

# ---------------------------------------------------------------------------------------------
# 5. what a registration may make the catalog send, and where (issue 8): refused with 400, never
# registered, so nothing of it reaches a probe
refused_check() { # DESC BODY MESSAGE-PART [PATH]
  req PUT "${4:-/v1/agent/service/register}" --data-binary "$2"
  if [ "$ST" = 400 ] && grep -qF "$3" "$B"; then ok "$1: 400 $(head -c 100 "$B")"
  else not_ok "$1: 400 with '$3'"; diag "status $ST: $(head -c 200 "$B")"; fi
}
refused_check "a Method carrying CR/LF and a second request" \
  '{"Name":"inj","ID":"inj1","Check":{"HTTP":"http://127.0.0.1:9/","Method":"GET / HTTP/1.1\r\nHost: x\r\n\r\nDELETE","Interval":"10s"}}' \
  'Invalid check: Method must be an HTTP token'
refused_check "a Header value carrying CR/LF" \
  '{"Name":"inj","ID":"inj1","Check":{"HTTP":"http://127.0.0.1:9/","Header":{"X-A":["v\r\nX-Smuggled: 1"]},"Interval":"10s"}}' \
  'Invalid check: Header "X-A" has a value with a control character'
refused_check "a Header name carrying CR/LF" \
  '{"Name":"inj","ID":"inj1","Check":{"HTTP":"http://127.0.0.1:9/","Header":{"X-A: 1\r\nX-B":["v"]},"Interval":"10s"}}' \
  'Invalid check: Header names must be HTTP tokens'
refused_check "an HTTP target with a host name (was resolved)" \
  '{"Name":"inj","ID":"inj1","Check":{"HTTP":"http://vm:18601/","Interval":"10s"}}' \
  'Invalid check: HTTP must be an http:// or https:// URL whose host is an IP literal'
refused_check "an HTTP target with port 99999" \
  '{"Name":"inj","ID":"inj1","Check":{"HTTP":"http://127.0.0.1:99999/","Interval":"10s"}}' \
  'Invalid check: HTTP must be'
refused_check "a TCP target with port 99999 (was wrapped to 34463)" \
  '{"Name":"inj","ID":"inj1","Check":{"TCP":"127.0.0.1:99999","Interval":"10s"}}' \
  'Invalid check: TCP must be <IPv4>:<port> or [<IPv6>]:<port>'
refused_check "a TCP target with a host name, through /v1/agent/check/register" \
  '{"Name":"inj-tcp","TCP":"localhost:80","Interval":"10s"}' 'Invalid check: TCP must be' /v1/agent/check/register
refused_check "a service name holding \u0000 (was cut at it)" '{"Name":"web\u0000evil","ID":"nul1"}' \
  'a string holds a NUL character'
refused_check "a check Output holding \u0000" '{"Status":"passing","Output":"ok\u0000hidden"}' \
  'a string holds a NUL character' "/v1/agent/check/update/serfHealth"
req GET /v1/agent/services
check_eq "none of the refused registrations is there" "false false false" \
  "$(jq -r '"\(has("inj1")) \(has("nul1")) \(has("web"))"' "$B")"
req GET /v1/agent/checks
check_eq "... nor the refused check" "false" "$(jq -r 'has("inj-tcp")' "$B")"

# a gRPC check is probed as a TCP connect; its Output names the address (it said "dial tcp (null)")
gport=$(free_port)
req PUT /v1/agent/service/register --data-binary \
  "{\"Name\":\"gr\",\"ID\":\"gr1\",\"Check\":{\"CheckID\":\"gr-check\",\"GRPC\":\"127.0.0.1:$gport/my.Health\",\"Interval\":\"1s\",\"Status\":\"passing\"}}"
check_eq "register a gRPC check against a closed port" 200 "$ST"
check "... it turns critical" eventually 10 status_is gr-check critical
req GET /v1/agent/checks
check_eq "... with an Output naming the address it dialled" "dial tcp 127.0.0.1:$gport: connection refused" \
  "$(jq -r '.["gr-check"].Output' "$B")"

# transfer codings other than one plain "chunked": 501, as Go's server (Consul) answers
req PUT /v1/kv/te --data-binary 'x' -H 'Transfer-Encoding: gzip, chunked'
check_eq "Transfer-Encoding: gzip, chunked -> 501" 501 "$ST"
req GET /v1/kv/te
check_eq "... and nothing was written" 404 "$ST"
req PUT /v1/kv/te --data-binary 'x' -H 'Transfer-Encoding: chunked'
check_eq "Transfer-Encoding: chunked still works" "200 true" "$ST $(cat "$B")"

# ---------------------------------------------------------------------------------------------
# 6. sessions and locks on a real socket: leader election as `consul lock` does it, a lock freed
# by its session's TTL running out with no request arriving (the catalog's own timer), a blocked
# contender woken by it
req PUT /v1/session/create --data-binary '{"Name":"lead-a","TTL":"10s","LockDelay":"0s"}'
sa=$(jq -r .ID "$B")
check_eq "session A (TTL 10s) is created" 200 "$ST"
req PUT /v1/session/create --data-binary '{"Name":"lead-b","LockDelay":0}'
sb=$(jq -r .ID "$B")
req PUT "/v1/kv/svc/leader?acquire=$sa" --data-binary 'a'
check_eq "A acquires svc/leader" "200 true" "$ST $(cat "$B")"
req PUT "/v1/kv/svc/leader?acquire=$sb" --data-binary 'b'
check_eq "B, second contender, is refused" "200 false" "$ST $(cat "$B")"
req GET /v1/kv/svc/leader
check_eq "the entry names A as holder with LockIndex 1" "$sa 1" "$(jq -r '.[0] | "\(.Session) \(.LockIndex)"' "$B")"
li=$(hdr X-Consul-Index)
# B blocks on the key; A stops renewing: after 2 x TTL (20 s) the catalog's timer ends A, which
# releases the key and wakes B; no other request is sent meanwhile
curl -s --max-time 90 "http://$CATALOG_ADDR/v1/kv/svc/leader?index=$li&wait=80s" >"$TEST_TMP/lock-wake.json" &
wake_pid=$!
wait "$wake_pid"
check_eq "B's blocking read wakes when A's TTL runs out, the key released (no Session)" "null a" \
  "$(jq -r '.[0] | "\(.Session) \(.Value | @base64d)"' "$TEST_TMP/lock-wake.json")"
req GET "/v1/session/info/$sa"
check_eq "session A is gone" "200 []" "$ST $(cat "$B")"
req PUT "/v1/kv/svc/leader?acquire=$sb" --data-binary 'b'
check_eq "B now wins the election" "200 true" "$ST $(cat "$B")"
req PUT "/v1/session/destroy/$sb"
check_eq "destroying B" "200 true" "$ST $(cat "$B")"
req GET /v1/kv/svc/leader
check_eq "... releases the key (behavior release), LockIndex 2, value kept" "null 2 b" \
  "$(jq -r '.[0] | "\(.Session) \(.LockIndex) \(.Value | @base64d)"' "$B")"
req PUT /v1/session/create --data-binary '{"Behavior":"delete","LockDelay":0}'
sd=$(jq -r .ID "$B")
req PUT "/v1/kv/svc/ephemeral?acquire=$sd" --data-binary 'e'
req PUT "/v1/session/destroy/$sd"
req GET /v1/kv/svc/ephemeral
check_eq "a behavior-delete session's destroy deletes its key" 404 "$ST"
req GET /v1/session/list
check_eq "no session is left" "[]" "$(cat "$B")"

# sessions and locks survive kill -9 with -data-dir: the holder, LockIndex and the session itself
DS=$TEST_TMP/sessions-data
mkdir -p "$DS"
stop_catalog -TERM
start_catalog -data-dir "$DS"
req PUT /v1/session/create --data-binary '{"Name":"durable","LockDelay":0}'
sp=$(jq -r .ID "$B")
req PUT /v1/session/create --data-binary '{"LockDelay":0}'
sq=$(jq -r .ID "$B")
req PUT "/v1/kv/svc/durable?acquire=$sp" --data-binary 'p'
check_eq "-data-dir: a session acquires svc/durable" "200 true" "$ST $(cat "$B")"
stop_catalog -9
start_catalog -data-dir "$DS"
req GET /v1/kv/svc/durable
check_eq "-data-dir: after kill -9 and restart the lock is still held, LockIndex 1" "$sp 1" \
  "$(jq -r '.[0] | "\(.Session) \(.LockIndex)"' "$B")"
req GET "/v1/session/info/$sp"
check_eq "... and the session is back with its name" "durable" "$(jq -r '.[0].Name' "$B")"
req PUT "/v1/kv/svc/durable?acquire=$sq" --data-binary 'q'
check_eq "... so the other session is still refused" "200 false" "$ST $(cat "$B")"
req PUT "/v1/session/destroy/$sp"
req PUT "/v1/kv/svc/durable?acquire=$sq" --data-binary 'q'
check_eq "... until the holder is destroyed" "200 true" "$ST $(cat "$B")"
stop_catalog -TERM
start_catalog


# ---------------------------------------------------------------------------------------------
wait "$slow_pid" 2>/dev/null
out=$(cat "$TEST_TMP/slow.out")
ms=$(sed -n 's/.*after_ms=\([0-9]*\).*/\1/p' <<<"$out")
check "a client that never finishes its headers is disconnected within 15 s ($out)" \
  test "$(sed -n 's/.*closed=\([01]\).*/\1/p' <<<"$out")" = 1 -a "${ms:-99999}" -le 15000

req GET /v1/status/leader
check_eq "the catalog still answers after all of the above" 200 "$ST"
stop_catalog -TERM
if grep -qiE 'AddressSanitizer|runtime error|segfault|abort' "$TEST_TMP/catalog.log"; then
  not_ok "catalog log shows no crash or sanitizer report"
  grep -iE 'AddressSanitizer|runtime error|segfault|abort' "$TEST_TMP/catalog.log" | head -5 | sed 's/^/# /'
fi
done_testing
