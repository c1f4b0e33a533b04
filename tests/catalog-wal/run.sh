#!/usr/bin/env bash
# Suite "catalog-wal": portolan-catalog's -data-dir write-ahead log as a process, with raw curl and
# a python client (storm.py):
#   1. kill -9 during a durable write storm (16 writers, KV puts and registrations) loses no
#      acknowledged write: once with a large log (20,000 instances registered first, no
#      compaction: all of it replayed from the log at restart) and once with compaction forced
#      every few hundred KiB (-wal-compact-bytes), so the kill can land around a compaction;
#   2. the log file is preallocated (zeros after its records); a torn tail (the start of a record
#      written after the last commit, zeros after it) is truncated with a log line and the
#      catalog starts with every earlier write; a byte inverted in the middle of the log's records
#      is refused (exit 1, the log named, "corrupt record"). 16 writers share fsyncs; Stats.wal
#      counts one commit per write for one writer at a time.
# Unit tests of the format: tests/unit/test_catalog_wal.c. Needs: curl, jq, python3. ~1-2 min.
. "$(dirname "$0")/../lib.sh"
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
CAT="$BUILD/portolan-catalog"
[ -x "$CAT" ] || { not_ok "portolan-catalog is built"; done_testing; exit 1; }
STORM="python3 $HERE/storm.py"

start_at() { # dir port [flags...] -> pid in $PID
  local d=$1 p=$2; shift 2
  "$CAT" -listen "127.0.0.1:$p" -dns-listen off -data-dir "$d" "$@" >>"$TEST_TMP/catalog.log" 2>&1 &
  PID=$!
  cleanup_add "kill -9 $PID 2>/dev/null"
  wait_http "http://127.0.0.1:$p/v1/status/leader" 60
}

storm_round() { # DESC DIR FILL [flags...]
  local desc=$1 d=$2 fill=$3; shift 3
  local p; p=$(free_port)
  local c=http://127.0.0.1:$p
  start_at "$d" "$p" "$@"
  [ "$fill" -gt 0 ] && $STORM fill "$c" "$fill" 16
  local ack=$TEST_TMP/ack.$RANDOM
  : >"$ack"
  $STORM storm "$c" 16 "$ack" & local sp=$!
  # kill once a good number of writes were acknowledged (not after a fixed sleep: a loaded machine)
  for _ in $(seq 1 300); do [ "$(wc -l <"$ack")" -ge 3000 ] && break; sleep 0.05; done
  # group commit: 16 writers share fsyncs (Stats.wal: commits are fsyncs, records what they held)
  local wal; wal=$(curl -sf "$c/v1/agent/self" | jq -r '.Stats.wal | "\(.commits) \(.records)"')
  check "$desc: 16 writers shared fsyncs (commits, records: $wal)" awk -v w="$wal" \
    'BEGIN { split(w, a, " "); exit !(a[1] > 0 && a[2] > a[1]) }'
  kill -9 $PID; wait $PID 2>/dev/null
  wait $sp
  local n; n=$(wc -l <"$ack")
  local t0; t0=$(date +%s%N)
  start_at "$d" "$p" "$@"
  local ms=$(( ($(date +%s%N) - t0) / 1000000 ))
  # the records the restart found in the log (the file itself is preallocated: zeros after them)
  local logb; logb=$(curl -sf "$c/v1/agent/self" | jq -r .Stats.wal.log_bytes)
  LAST_LOG_BYTES=$logb
  local res; res=$($STORM verify "$c" "$ack")
  check_eq "$desc: every acknowledged write survived kill -9 ($n acknowledged, log $logb bytes, restart ${ms} ms)" "0 $n" "$res"
  if [ "$fill" -gt 0 ]; then
    check_eq "$desc: the $fill instances registered before the storm are all back" "$fill" \
      "$(curl -sf "$c/v1/agent/services" | jq '[keys[] | select(startswith("fill-"))] | length')"
  fi
  kill $PID; wait $PID 2>/dev/null
}

D1=$TEST_TMP/big; mkdir -p "$D1"
storm_round "large log (20,000 instances then the storm, no compaction)" "$D1" 20000
check "the large log was replayed, not compacted (snapshot under 4 KiB, log records over 4 MiB)" \
  test "$(stat -c %s "$D1/snapshot.json")" -lt 4096 -a "$LAST_LOG_BYTES" -gt 4000000
D2=$TEST_TMP/compact; mkdir -p "$D2"
storm_round "compaction every 256 KiB" "$D2" 2000 -wal-compact-bytes 262144
check "compactions happened during the storm (logged)" grep -q "compacted: snapshot" "$TEST_TMP/catalog.log"
check_eq "one log file is left after the compactions" "1" "$(find "$D2" -maxdepth 1 -name 'wal-*.log' | wc -l)"

# --- a torn tail is truncated with a log line; a corrupt middle refused ---
D3=$TEST_TMP/damage; mkdir -p "$D3"
P=$(free_port); C=http://127.0.0.1:$P
start_at "$D3" "$P"
for i in $(seq 1 20); do curl -sf -X PUT --data-binary "v$i" "$C/v1/kv/d/$i" -o /dev/null; done
# one writer at a time: one commit (fsync) per write, each holding that write's one record
check_eq "agent/self Stats.wal counts the 20 sequential writes' commits and records" "20 20 yes" \
  "$(curl -sf "$C/v1/agent/self" | jq -r '.Stats.wal | "\(.commits) \(.records) \(if (.sync_us_total | tonumber) > 0 then "yes" else "no" end)"')"
size=$(curl -sf "$C/v1/agent/self" | jq -r .Stats.wal.log_bytes)
kill -9 $PID; wait $PID 2>/dev/null
LOG=$(ls "$D3"/wal-*.log)
check "the log file is preallocated: zeros after its $size bytes of records" python3 -c '
import sys; b = open(sys.argv[1], "rb").read(); n = int(sys.argv[2])
sys.exit(not (len(b) >= 1048576 and b[n - 1] != 0 and not any(b[n:])))' "$LOG" "$size"
# what a crash in the middle of a commit leaves: the start of a record (a whole header and 10
# bytes of its payload: here the log's first record, copied) where the next commit would go,
# the preallocated zeros after it
head -c 34 "$LOG" | tail -c 26 >"$TEST_TMP/torn" && dd if="$TEST_TMP/torn" of="$LOG" bs=1 seek="$size" conv=notrunc status=none
: >"$TEST_TMP/catalog.log"
start_at "$D3" "$P"
check "a torn tail is logged as truncated" grep -q "torn tail of 26 bytes after offset $size.*truncated" "$TEST_TMP/catalog.log"
check_eq "the log is cut back to its last commit" "$size" "$(stat -c %s "$LOG")"
check_eq "every write before the torn tail is there" "v20 20" \
  "$(curl -sf "$C/v1/kv/d/20?raw") $(curl -sf "$C/v1/kv/d/?keys" | jq length)"
curl -sf -X PUT --data-binary after "$C/v1/kv/d/after" -o /dev/null
size=$(curl -sf "$C/v1/agent/self" | jq -r .Stats.wal.log_bytes)
kill -9 $PID; wait $PID 2>/dev/null
python3 -c 'import sys; p=sys.argv[1]; b=bytearray(open(p,"rb").read()); b[int(sys.argv[2])//3]^=0xff; open(p,"wb").write(b)' "$LOG" "$size"
out=$(timeout -s KILL 15 "$CAT" -listen "127.0.0.1:$P" -dns-listen off -data-dir "$D3" 2>&1; echo "rc=$?")
check_eq "a byte inverted in the middle of the log: the catalog exits 1" "rc=1" "$(tail -n 1 <<<"$out")"
check "... saying which log, where, and that it refuses to start" \
  grep -q "log $LOG: corrupt record.*at offset [0-9]*.*refusing to start" <<<"$out"
done_testing
