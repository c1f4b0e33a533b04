# shellcheck shell=bash
# tests/agent/scenarios.sh: the agent's behaviour over time, sourced by tests/agent/run.sh (uses
# its helpers and the shared engine "main"). Each scenario starts its own catalog and agent and
# removes its containers at the end; the `want` guards pick parts.

# a container whose PID 1 exits with the code written to /tmp/exit (docker exec NAME sh -c 'echo 3 >/tmp/exit')
EXITER=(sh -c 'while [ ! -f /tmp/exit ]; do sleep 0.1; done; exit $(cat /tmp/exit)')
exit_with() { dk main exec "$1" sh -c "echo $2 >/tmp/exit"; }
run_web() { local n=$1; shift; pit_run_port main "$n" 80 "$@"; } # name [docker run args...]

# checks of a service in the catalog: cat_service_checks PORT SERVICEID -> JSON array
cat_service_checks() { cat_checks "$1" | jq -c --arg id "$2" '[.[] | select(.ServiceID == $id)]'; }
ttl_check_status() { # PORT SERVICEID -> status of its ttl check(s)
  cat_service_checks "$1" "$2" | jq -r '[.[] | select((.Type // "") == "ttl")] | map(.Status) | join(",")'
}
# check_if PRE "description" cmd...: as check, but a failed precondition (PRE != 1) fails it
# outright, so that "was removed" never passes for something that was never there
check_if() {
  local pre=$1 d=$2; shift 2
  if [ "$pre" != 1 ]; then not_ok "$d (precondition failed: it was never registered)"; return; fi
  check "$d" "$@"
}
pid_gone() { ! kill -0 "$1" 2>/dev/null; }
# log_has NAME ERE: agent NAME's log has a line matching ERE; log_count NAME ERE: how many
log_has() { grep -Eq -- "$2" "$TEST_TMP/agent-$1.log" 2>/dev/null; }
log_count() { grep -Ec -- "$2" "$TEST_TMP/agent-$1.log" 2>/dev/null; }
log_count_ge() { [ "$(log_count "$1" "$2")" -ge "$3" ]; }
# dangling_deregistered NAME: every ID agent NAME's -cleanup pass called dangling is deregistered
# (the pass logs all of them at once, before it sends the first deregistration)
dangling_deregistered() {
  local id
  for id in $(sed -n 's/.* cleanup: \([^ ]*\) is dangling .*/\1/p' "$TEST_TMP/agent-$1.log"); do
    grep -qF "deregistered $id" "$TEST_TMP/agent-$1.log" || return 1
  done
}
ids_are() { [ "$(cat_ids "$1" | tr '\n' ' ' | sed 's/ $//')" = "$2" ]; }
status_is() { [ "$(ttl_check_status "$1" "$2")" = "$3" ]; }

scenario_deregister() {
  local pg ph
  pg=$(free_port); pit_catalog_start "$pg" || { not_ok "deregister: catalog starts"; return; }
  local catg=$PIT_CATALOG_PID
  ph=$(free_port); pit_catalog_start "$ph" || { not_ok "deregister: catalog starts"; return; }
  local cath=$PIT_CATALOG_PID
  pit_agent_start dereg-ok main -- -node-id it-g -deregister on-success "consul://127.0.0.1:$pg"
  pit_agent_start dereg-always main -- -node-id it-h "consul://127.0.0.1:$ph"
  local c
  for c in e0 e3 kill; do run_web "it-dr-$c" portolan-test/web "${EXITER[@]}"; done
  run_web it-dr-rm --rm portolan-test/web "${EXITER[@]}"
  all_in() { local c; for c in e0 e3 kill rm; do cat_has "$pg" "it-g:it-dr-$c:80" && cat_has "$ph" "it-h:it-dr-$c:80" || return 1; done; }
  local pre=0; wait_for 30 all_in && pre=1
  check "deregister: 4 containers registered under both agents" test $pre = 1
  exit_with it-dr-e0 0; exit_with it-dr-e3 3; exit_with it-dr-rm 3; dk main kill it-dr-kill >/dev/null
  check_if $pre "deregister on-success: exit 0 deregistered" wait_for 20 cat_lacks "$pg" it-g:it-dr-e0:80
  check_if $pre "deregister on-success: killed by signal (137) deregistered" wait_for 20 cat_lacks "$pg" it-g:it-dr-kill:80
  check_if $pre "deregister on-success: container already removed (--rm, exit 3) deregistered" wait_for 20 cat_lacks "$pg" it-g:it-dr-rm:80
  check_if $pre "deregister always: exit 3 deregistered" wait_for 20 cat_lacks "$ph" it-h:it-dr-e3:80
  none_h() { [ "$(cat_ids "$ph" | grep -c '^it-h:it-dr-')" = 0 ]; }
  check_if $pre "deregister always: exit 0, signal, --rm deregistered" wait_for 20 none_h
  # the on-success agent has taken in exit 3 once it logs its decision for it (not after a fixed 1 s)
  check_if $pre "deregister on-success: the agent logs that it keeps exit 3's service" \
    wait_for 30 log_has dereg-ok 'container it-dr-e3 exited with code 3: keeping its 1 services'
  check_eq "deregister on-success: exit 3 stays registered" "$(dk main inspect -f '{{.State.ExitCode}}' it-dr-e3) true" \
    "3 $(cat_services "$pg" | jq 'has("it-g:it-dr-e3:80")')"
  check "deregister: on-success agent still running" agent_alive dereg-ok
  check "deregister: always agent still running" agent_alive dereg-always
  pit_agent_stop dereg-ok KILL; pit_agent_stop dereg-always KILL
  kill "$catg" "$cath" 2>/dev/null
  rm_all_containers main
}

scenario_resync() {
  local cp pp log
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "resync: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  pp=$(free_port); log=$TEST_TMP/resync-requests.jsonl
  pit_proxy_start resync "127.0.0.1:$cp" "$log" --listen "127.0.0.1:$pp"
  wait_for 30 test -e "$log" || diag "resync: the recording proxy did not start"
  # -log-level debug: every resync ends in one line, "resync: Consul matches every service" (debug)
  # or "resync: N services differ ..." (info), the events counted below
  pit_agent_start resync main -- -node-id it-y -resync 2 -log-level debug "consul://127.0.0.1:$pp"
  run_web it-rs-a portolan-test/web; run_web it-rs-b -e SERVICE_CHECK_TTL=60s -e SERVICE_X=1 portolan-test/web
  both() { cat_has "$cp" it-y:it-rs-a:80 && cat_has "$cp" it-y:it-rs-b:80; }
  local pre=0; wait_for 30 both && pre=1
  check "resync: two services registered" test $pre = 1
  puts() { jq -s '[.[] | select(.method == "PUT" and (.path | startswith("/v1/agent/service/register")))] | length' "$log"; }
  local rs='portolan-agent: resync: ' before after r0 r1 d0 d1 win=0
  # counted from the end of a resync that came after the registrations, over the next two
  r0=$(log_count resync "$rs")
  if wait_for 30 log_count_ge resync "$rs" $((r0 + 1)); then
    before=$(puts); r1=$(log_count resync "$rs"); d0=$(log_count resync "${rs}[0-9]+ services differ")
    wait_for 30 log_count_ge resync "$rs" $((r1 + 2)) && win=1
    after=$(puts); d1=$(log_count resync "${rs}[0-9]+ services differ")
  fi
  check_if $pre "resync: two -resync 2 periods seen ending in the agent's log" test $win = 1
  check_if $pre "resync: two -resync 2 periods with nothing changed re-PUT nothing ($before then $after register PUTs, $d0 then $d1 resyncs with differences)" \
    test $win = 1 -a "$before" = "$after" -a "$d0" = "$d1"
  cat_deregister "$cp" it-y:it-rs-a:80
  local t0; t0=$(now_ms)
  if wait_for 5 cat_has "$cp" it-y:it-rs-a:80; then
    ok "resync: a service removed behind the agent's back is back within 5 s ($(( $(now_ms) - t0 )) ms, -resync 2)"
  else not_ok "resync: a service removed behind the agent's back is back within 5 s (-resync 2)"; fi
  check "resync: the other service was not touched" cat_has "$cp" it-y:it-rs-b:80
  pit_agent_stop resync KILL; kill "$cat" "${PIT_PROXY[resync]}" 2>/dev/null
  rm_all_containers main
}

# Two containers with the same SERVICE_ID (issue 8, class 6): the first keeps the ID, the later
# one is refused with a warning and waits; resyncs never flip it; removing the waiting one changes
# nothing, removing the holder hands the ID to the waiting one without deregistering it.
# Part 1 runs with -resync 1 (no flip); part 2 without -resync, so that a wrong deregistration
# cannot be mended by the next resync before it is seen.
scenario_shared_id() {
  local cp cp2
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "shared id: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  shared_port() { cat_services "$1" | jq -r '.["it-shared"].Port // "absent"'; }
  port_is() { [ "$(shared_port "$1")" = "$2" ]; }
  host_port() { dk main port "$1" 80/tcp | head -n1 | sed 's/.*://'; }
  short_id() { dk main inspect -f '{{.Id}}' "$1" | cut -c1-12; }
  local sh=(-e SERVICE_ID=it-shared -e SERVICE_NAME=shared portolan-test/web)
  local pa pb pc pre=0
  # 1. -resync 1: the first container keeps the ID through resyncs
  pit_agent_start shared main -- -node-id it-s -resync 1 -log-level debug "consul://127.0.0.1:$cp"
  run_web it-sh-a "${sh[@]}"; pa=$(host_port it-sh-a)
  wait_for 30 port_is "$cp" "$pa" && pre=1
  check "shared id: the first container registers it-shared" test $pre = 1
  run_web it-sh-b "${sh[@]}"
  check_if $pre "shared id: the second claimant is refused with a warning" \
    wait_for 30 log_has shared "container $(short_id it-sh-b): service ID it-shared is held by container"
  check_eq "shared id: the first container keeps the ID" "$pa" "$(shared_port "$cp")"
  local rs='portolan-agent: resync: ' r0; r0=$(log_count shared "$rs")
  check_if $pre "shared id: two resyncs pass" wait_for 30 log_count_ge shared "$rs" $((r0 + 2))
  check_eq "shared id: after the resyncs the first container still holds it (no flip)" "$pa" "$(shared_port "$cp")"
  check "shared id: the ID never changed hands" sh -c "! grep -Eq 'it-shared (passes|moves) from' '$TEST_TMP/agent-shared.log'"
  pit_agent_stop shared KILL; kill "$cat" 2>/dev/null
  rm_all_containers main
  # 2. no -resync: removing the waiting claimant or the holder never deregisters a claimed ID
  cp2=$(free_port); pit_catalog_start "$cp2" || { not_ok "shared id: catalog starts"; return; }
  local cat2=$PIT_CATALOG_PID
  pit_agent_start shared2 main -- -node-id it-s "consul://127.0.0.1:$cp2"
  pre=0
  run_web it-sh-a "${sh[@]}"; pa=$(host_port it-sh-a)
  wait_for 30 port_is "$cp2" "$pa" && pre=1
  run_web it-sh-b "${sh[@]}"; pb=$(host_port it-sh-b)
  wait_for 30 log_has shared2 "container $(short_id it-sh-b): service ID it-shared is held by container" ||
    diag "shared id: no warning for the second claimant"
  dk main rm -f it-sh-b >/dev/null
  pit_barrier main "$cp2" it-sh-barrier1 || diag "shared id: barrier 1 timed out"
  check_if $pre "shared id: removing the waiting container leaves the holder's registration" port_is "$cp2" "$pa"
  run_web it-sh-c "${sh[@]}"; pc=$(host_port it-sh-c)
  wait_for 30 log_has shared2 "container $(short_id it-sh-c): service ID it-shared is held by container" ||
    diag "shared id: no warning for the third claimant"
  dk main rm -f it-sh-a >/dev/null
  check_if $pre "shared id: removing the holder hands the ID to the container still claiming it" \
    wait_for 30 port_is "$cp2" "$pc"
  check_if $pre "shared id: it-shared was never deregistered while a container claimed it" \
    sh -c "! grep -q 'deregistered it-shared' '$TEST_TMP/agent-shared2.log'"
  dk main rm -f it-sh-c >/dev/null
  check_if $pre "shared id: removing the last claimant deregisters it" wait_for 30 port_is "$cp2" absent
  check "shared id: agent still running" agent_alive shared2
  pit_agent_stop shared2 KILL; kill "$cat2" 2>/dev/null
  rm_all_containers main
  : "$pb"
}

seed() { # PORT ID NAME: a service registered by someone else
  curl -sf -X PUT -d "{\"ID\":\"$2\",\"Name\":\"$3\",\"Port\":1234,\"Address\":\"127.0.0.1\"}" \
    "http://127.0.0.1:$1/v1/agent/service/register" >/dev/null
}

scenario_cleanup() {
  local cp cp2
  # 1. -cleanup at start removes this node's dangling services only
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "cleanup: catalog starts"; return; }
  local cat1=$PIT_CATALOG_PID
  seed "$cp" it-f:it-cl-ghost:80 web; seed "$cp" it-f:it-cl-ghost:53:udp web
  seed "$cp" other-node:it-cl-ghost:80 web; seed "$cp" manual-service manual
  cp2=$(free_port); pit_catalog_start "$cp2" || { not_ok "cleanup: catalog starts"; return; }
  local cat2=$PIT_CATALOG_PID
  seed "$cp2" it-f:it-cl-ghost:80 web
  run_web it-cl-live portolan-test/web
  pit_agent_start cleanup main -- -node-id it-f -cleanup "consul://127.0.0.1:$cp"
  pit_agent_start nocleanup main -- -node-id it-f "consul://127.0.0.1:$cp2"
  check "cleanup: live container registered" wait_for 30 cat_has "$cp" it-f:it-cl-live:80
  ghosts_gone() { cat_lacks "$cp" it-f:it-cl-ghost:80 && cat_lacks "$cp" it-f:it-cl-ghost:53:udp; }
  check_if "$(cat_has "$cp" it-f:it-cl-live:80 && echo 1)" "cleanup: this node's dangling services (tcp and udp) removed" wait_for 20 ghosts_gone
  # the pass is over when every ID it called dangling is deregistered (had it taken another
  # node's service too, that one would be among them)
  wait_for 20 dangling_deregistered cleanup
  check_eq "cleanup: other node's service and non-matching IDs kept" "it-f:it-cl-live:80 manual-service other-node:it-cl-ghost:80" \
    "$(cat_ids "$cp" | tr '\n' ' ' | sed 's/ $//')"
  check "without -cleanup: live container registered" wait_for 30 cat_has "$cp2" it-f:it-cl-live:80
  # a -cleanup pass would follow the first round: a marker container seen coming and going after
  # it proves that window over (both agents see the marker)
  check "without -cleanup: a marker container is seen coming and going" pit_barrier main "$cp2" it-cl-marker
  check "without -cleanup: the dangling service is left alone" cat_has "$cp2" it-f:it-cl-ghost:80
  pit_agent_stop cleanup KILL; pit_agent_stop nocleanup KILL; kill "$cat1" "$cat2" 2>/dev/null
  rm_all_containers main

  # 2. agent killed (-9), a container stopped while it is down, agent restarted with -cleanup
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "cleanup: catalog starts"; return; }
  local cat3=$PIT_CATALOG_PID
  for c in k1 k2 k3; do run_web "it-ck-$c" portolan-test/web; done
  pit_agent_start kill1 main -- -node-id it-k -cleanup "consul://127.0.0.1:$cp"
  local pre=0; wait_for 30 ids_are "$cp" "it-k:it-ck-k1:80 it-k:it-ck-k2:80 it-k:it-ck-k3:80" && pre=1
  check "agent kill -9: three services registered" test $pre = 1
  pit_agent_stop kill1 KILL   # returns once the process is gone: nobody is left to deregister
  dk main stop -t 2 it-ck-k2 >/dev/null
  check "agent kill -9: the stopped container's service is still there while the agent is down" cat_has "$cp" it-k:it-ck-k2:80
  local t0; t0=$(now_ms)
  pit_agent_start kill2 main -- -node-id it-k -cleanup "consul://127.0.0.1:$cp"
  if wait_for 30 cat_lacks "$cp" it-k:it-ck-k2:80; then
    check_if $pre "agent restarted with -cleanup: stale service gone ($(( $(now_ms) - t0 )) ms after the agent's start)" true
  else check_if $pre "agent restarted with -cleanup: stale service gone (not within 30 s)" false; fi
  # no duplicates and nothing else removed: checked once the cleanup pass has finished and a
  # marker container came and went after it
  wait_for 20 dangling_deregistered kill2
  check "agent restarted with -cleanup: a marker container is seen coming and going" pit_barrier main "$cp" it-ck-marker
  check_eq "agent restarted with -cleanup: exactly the running containers, no duplicates" \
    "it-k:it-ck-k1:80 it-k:it-ck-k3:80" "$(cat_ids "$cp" | tr '\n' ' ' | sed 's/ $//')"
  check_eq "agent restarted: every service name registered once" "web 2" \
    "$(cat_services "$cp" | jq -r '[.[] | .Service] | group_by(.) | map("\(.[0]) \(length)") | join(",")')"
  pit_agent_stop kill2 KILL; kill "$cat3" 2>/dev/null
  rm_all_containers main
}

scenario_retry() {
  local p t0 el
  # -retry-attempts 0: one try, then a clear error and a non-zero exit
  p=$(free_port)
  # durations from the agent's own log timestamps ("starting" to its last line), not the wall
  # clock around a process start-up that a loaded machine can stretch
  agent_ms() { local a b; a=$(log_ts_ms "$TEST_TMP/agent-$1.log" 'portolan-agent: starting') &&
    b=$(log_ts_ms "$TEST_TMP/agent-$1.log" . last) && echo $((b - a)); }
  pit_agent_start retry0 main -- -node-id it-q -retry-attempts 0 "consul://127.0.0.1:$p"
  if wait_for 30 pid_gone "${PIT_AGENT[retry0]}"; then
    pit_agent_stop retry0; el=$(agent_ms retry0)
    check "retry-attempts 0, no catalog: exits non-zero ($PIT_AGENT_STATUS) after one try ($(log_count retry0 '\(attempt ') retries; ${el:-?} ms)" \
      test "$PIT_AGENT_STATUS" -ne 0 -a "$(log_count retry0 '\(attempt ')" = 0 -a "${el:-99999}" -lt 3000
    check "retry-attempts 0: the error names the registry address" grep -q "127.0.0.1:$p" "$TEST_TMP/agent-retry0.log"
  else
    not_ok "retry-attempts 0, no catalog: exits"; pit_agent_stop retry0 KILL
  fi
  # -retry-attempts 2 -retry-interval 300: gives up after about 2 pauses
  p=$(free_port)
  pit_agent_start retry2 main -- -node-id it-q -retry-attempts 2 -retry-interval 300 "consul://127.0.0.1:$p"
  if wait_for 30 pid_gone "${PIT_AGENT[retry2]}"; then
    pit_agent_stop retry2; el=$(agent_ms retry2)
    check "retry-attempts 2 -retry-interval 300: gives up non-zero ($PIT_AGENT_STATUS) after 2 retries ($(log_count retry2 '\(attempt ')) and 0.45..6 s (${el:-?} ms)" \
      test "$PIT_AGENT_STATUS" -ne 0 -a "$(log_count retry2 '\(attempt ')" = 2 -a "${el:-0}" -ge 450 -a "${el:-0}" -lt 6000
  else
    not_ok "retry-attempts 2 -retry-interval 300: gives up"; pit_agent_stop retry2 KILL
  fi
  # -retry-attempts 20 -retry-interval 200: the catalog comes up after 1 s, the agent registers
  run_web it-rt-a portolan-test/web
  p=$(free_port)
  pit_agent_start retry20 main -- -node-id it-q -retry-attempts 20 -retry-interval 200 "consul://127.0.0.1:$p"
  wait_for 30 log_has retry20 '\(attempt 2/20;'
  check "retry: agent waits for the registry (alive after its second failed try)" \
    bash -c "grep -q '(attempt 2/20;' '$TEST_TMP/agent-retry20.log' && kill -0 ${PIT_AGENT[retry20]}"
  pit_catalog_start "$p"; local cat=$PIT_CATALOG_PID
  check "retry-attempts 20 -retry-interval 200: registers once the catalog answers" wait_for 30 cat_has "$p" it-q:it-rt-a:80
  pit_agent_stop retry20 KILL; kill "$cat" 2>/dev/null
  # -retry-attempts -1: forever
  p=$(free_port)
  pit_agent_start retryf main -- -node-id it-q -retry-attempts -1 -retry-interval 200 "consul://127.0.0.1:$p"
  wait_for 30 log_has retryf '\(attempt 8/-1;'
  check "retry-attempts -1: still waiting after 8 failed tries (1.6 s)" \
    bash -c "grep -q '(attempt 8/-1;' '$TEST_TMP/agent-retryf.log' && kill -0 ${PIT_AGENT[retryf]}"
  pit_catalog_start "$p"; cat=$PIT_CATALOG_PID
  check "retry-attempts -1: registers once the catalog answers" wait_for 30 cat_has "$p" it-q:it-rt-a:80
  pit_agent_stop retryf KILL; kill "$cat" 2>/dev/null
  rm_all_containers main
}

scenario_ttl() {
  local cp
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "ttl: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  local pp log=$TEST_TMP/ttl-requests.jsonl
  pp=$(free_port); pit_proxy_start ttl "127.0.0.1:$cp" "$log" --listen "127.0.0.1:$pp"
  wait_for 30 test -e "$log" || diag "ttl: the recording proxy did not start"
  run_web it-tl-a portolan-test/web
  pit_agent_start ttl main -- -node-id it-l -ttl 3 -ttl-refresh 1 "consul://127.0.0.1:$pp"
  check "-ttl 3: the service has a TTL check, passing" wait_for 30 status_is "$cp" it-l:it-tl-a:80 passing
  # the proxy records a call after the catalog answered it: wait for the record, not only the state
  reg_ttl() { jq -r 'select(.method == "PUT" and (.path | startswith("/v1/agent/service/register")) and .body.ID == "it-l:it-tl-a:80")
        | [.body.Check, (.body.Checks // [])[]] | map(select(. != null and .TTL != null) | .TTL) | join(",")' "$log" | tail -1; }
  reg_ttl_known() { [ -n "$(reg_ttl)" ]; }
  wait_for 10 reg_ttl_known
  check_eq "-ttl 3: the registration carries a TTL check of 3s" "3s" "$(reg_ttl)"
  # heartbeats over 5 s after the registration, on the proxy's clock: the window has passed when
  # a heartbeat later than it is recorded (not after a fixed 5 s sleep)
  reg_t() { jq -r 'select(.method == "PUT" and (.path | startswith("/v1/agent/service/register"))
        and .body.ID == "it-l:it-tl-a:80" and .status == 200) | .t' "$log" | tail -1; }
  beat_ts() { jq -r 'select(.method == "PUT" and (.path | test("^/v1/agent/check/(pass|update)/"))) | "\(.t) \(.path)"' "$log" |
        grep -i 'it-l:it-tl-a:80\|it-l%3Ait-tl-a%3A80' | cut -d' ' -f1; }
  local t_reg; t_reg=$(reg_t)
  beat_after() { beat_ts | awk -v t="$1" '$1 > t { f = 1 } END { exit !f }'; }
  local win=0; [ -n "$t_reg" ] && wait_for 30 beat_after "$(awk -v t="$t_reg" 'BEGIN { printf "%.3f", t + 5 }')" && win=1
  check "-ttl 3 -ttl-refresh 1: still passing more than 5 s after the registration (the agent heartbeats)" \
    test $win = 1 -a "$(ttl_check_status "$cp" it-l:it-tl-a:80)" = passing
  local beats; beats=$(beat_ts | awk -v t="${t_reg:-0}" '$1 > t && $1 <= t + 5 { n++ } END { print n + 0 }')
  check "-ttl-refresh 1: the agent heartbeats the check ($beats pass/update calls in the 5 s after the registration, want 3..12)" \
    test $win = 1 -a "$beats" -ge 3 -a "$beats" -le 12
  local pre=0; status_is "$cp" it-l:it-tl-a:80 passing && pre=1
  pit_agent_stop ttl KILL
  check_if $pre "-ttl 3: agent killed -> check critical within 5 s" wait_for 5 status_is "$cp" it-l:it-tl-a:80 critical
  kill "$cat" "${PIT_PROXY[ttl]}" 2>/dev/null
  rm_all_containers main
}

scenario_healthcheck() {
  local cp
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "healthcheck: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  pit_agent_start health main -- -node-id it-hc "consul://127.0.0.1:$cp"
  run_web it-hc-a portolan-test/webhc
  run_web it-hc-b -e SERVICE_CHECK_HTTP=/index.html portolan-test/webhc
  check "HEALTHCHECK: mirrored as a TTL check that turns passing when healthy" wait_for 30 status_is "$cp" it-hc:it-hc-a:80 passing
  dk main exec it-hc-a rm /www/index.html
  check "HEALTHCHECK: unhealthy -> critical" wait_for 30 status_is "$cp" it-hc:it-hc-a:80 critical
  dk main exec it-hc-a sh -c 'echo back >/www/index.html'
  check "HEALTHCHECK: healthy again -> passing" wait_for 30 status_is "$cp" it-hc:it-hc-a:80 passing
  hc_b_types() { cat_service_checks "$cp" it-hc:it-hc-b:80 | jq -r 'map(.Type) | sort | join(",")'; }
  hc_b_both() { [ "$(hc_b_types)" = "http,ttl" ]; }
  wait_for 30 hc_b_both   # it-hc-b's registration is not waited for above
  check_eq "several checks per service: HEALTHCHECK TTL check + SERVICE_CHECK_HTTP" "http,ttl" "$(hc_b_types)"
  pit_agent_stop health KILL; kill "$cat" 2>/dev/null
  rm_all_containers main
}

scenario_sigterm() {
  local cp
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "sigterm: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  run_web it-st-a portolan-test/web
  pit_agent_start term1 main -- -node-id it-s1 "consul://127.0.0.1:$cp"
  pit_agent_start term2 main -- -node-id it-s2 -deregister-on-exit "consul://127.0.0.1:$cp"
  both() { cat_has "$cp" it-s1:it-st-a:80 && cat_has "$cp" it-s2:it-st-a:80; }
  local pre=0; wait_for 30 both && pre=1
  check "sigterm: registered by both agents" test $pre = 1
  local t0 pid; t0=$(now_ms); pid=${PIT_AGENT[term1]}
  kill -TERM "$pid"
  if wait_for 5 pid_gone "$pid"; then
    pit_agent_stop term1
    check "SIGTERM: agent exits 0 within 5 s ($(( $(now_ms) - t0 )) ms)" test "$PIT_AGENT_STATUS" -eq 0
  else not_ok "SIGTERM: agent exits within 5 s"; pit_agent_stop term1 KILL; fi
  check "SIGTERM without -deregister-on-exit: services stay" cat_has "$cp" it-s1:it-st-a:80
  pid=${PIT_AGENT[term2]}; kill -TERM "$pid"
  if wait_for 5 pid_gone "$pid"; then
    pit_agent_stop term2
    check "SIGTERM with -deregister-on-exit: exits 0" test "$PIT_AGENT_STATUS" -eq 0
  else not_ok "SIGTERM with -deregister-on-exit: exits within 5 s"; pit_agent_stop term2 KILL; fi
  check_if $pre "SIGTERM with -deregister-on-exit: its services removed" cat_lacks "$cp" it-s2:it-st-a:80
  kill "$cat" 2>/dev/null
  rm_all_containers main
}

scenario_ops() {
  local cp lp out
  out=$(timeout 5 "$BUILD/portolan-agent" --version 2>&1); local rc=$?
  check "--version prints a version and exits 0" test "$rc" -eq 0 -a -n "$out"
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "ops: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  lp=$(free_port)
  run_web it-op-a portolan-test/web
  pit_agent_start ops main -- -node-id it-o -listen "127.0.0.1:$lp" "consul://127.0.0.1:$cp"
  check "-listen: agent registers" wait_for 30 cat_has "$cp" it-o:it-op-a:80
  check "-listen: GET /health answers 200" curl -sf -o /dev/null "http://127.0.0.1:$lp/health"
  curl -sf "http://127.0.0.1:$lp/metrics" >"$TEST_TMP/metrics.txt"
  check "-listen: GET /metrics is Prometheus text with samples" bash -c "
    grep -Eq '^[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfNa]+( [0-9]+)?$' '$TEST_TMP/metrics.txt' &&
    ! grep -Ev '^(#.*|[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? [-+0-9.eEInfNa]+( [0-9]+)?|)$' '$TEST_TMP/metrics.txt' | grep -q ."
  pit_agent_stop ops KILL; kill "$cat" 2>/dev/null
  rm_all_containers main
}

# ------------------------------------------------- catalog killed (-9) and restarted empty
scenario_catalog_restart() {
  local cp n=6 i t0 el
  cp=$(free_port); pit_catalog_start "$cp" || { not_ok "catalog restart: catalog starts"; return; }
  for i in $(seq 1 $n); do run_web "it-cr-$i" -e "SERVICE_TAGS=t$i" portolan-test/web; done
  pit_agent_start catr main -- -node-id it-r "consul://127.0.0.1:$cp"
  local want; want=$(for i in $(seq 1 $n); do echo "it-r:it-cr-$i:80"; done | sort | tr '\n' ' ' | sed 's/ $//')
  check "catalog restart: $n services registered" wait_for 30 ids_are "$cp" "$want"
  disown "$PIT_CATALOG_PID" 2>/dev/null   # no "Killed" job notice in the TAP output
  kill -9 "$PIT_CATALOG_PID"; wait_for 10 pid_gone "$PIT_CATALOG_PID"
  "$BUILD/portolan-catalog" -listen "127.0.0.1:$cp" >>"$TEST_TMP/catalog-$cp.log" 2>&1 &
  local newpid=$!; cleanup_add "kill -9 $newpid"
  wait_for 10 curl -sf "http://127.0.0.1:$cp/v1/status/leader"; t0=$(now_ms)
  if wait_for 8 ids_are "$cp" "$want"; then
    el=$(( $(now_ms) - t0 ))
    check "catalog killed -9 and restarted empty: all $n services back within 5 s of it answering (spec bound, no margin; took $el ms)" test "$el" -le 5000
  else
    not_ok "catalog killed -9 and restarted empty: all $n services back within 5 s (not even within 8 s)"
    diag "have: $(cat_ids "$cp" | tr '\n' ' ')"
  fi
  check_eq "catalog restart: tags restored too" "t1" "$(cat_services "$cp" | jq -r '.["it-r:it-cr-1:80"].Tags | join(",")')"
  check "catalog restart: agent still running" agent_alive catr
  pit_agent_stop catr KILL; kill "$newpid" 2>/dev/null
  rm_all_containers main
}

# ------------------------------------------------- dockerd killed (-9) and restarted
scenario_dockerd_restart() {
  pit_dockerd_start rst || { not_ok "dockerd restart: second engine starts"; return; }
  local cp; cp=$(free_port); pit_catalog_start "$cp" || { not_ok "dockerd restart: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  pit_agent_start drst rst -- -node-id it-x "consul://127.0.0.1:$cp"
  rdk() { dk rst "$@" >/dev/null; }
  rdk run -d --name r1 -p "127.0.0.1:$(free_port):80" portolan-test/web
  rdk run -d --name r2 --restart=always -p "127.0.0.1:$(free_port):80" portolan-test/web
  rdk run -d --name r3 -p "127.0.0.1:$(free_port):80" -p "127.0.0.1:$(free_port):8080" portolan-test/multi
  check "dockerd restart: initial containers registered" wait_for 30 ids_are "$cp" "it-x:r1:80 it-x:r2:80 it-x:r3:80 it-x:r3:8080"
  # after each kill the engine comes back once the agent has noticed it gone (a docker warning
  # in its log: the event stream ended, or a call failed), not after a fixed pause
  dwarns() { log_count drst ' warn portolan-agent: docker: '; }
  local w
  # round 1: kill -9 while the stream is idle; containers without a restart policy die with it
  w=$(dwarns); pit_dockerd_kill rst KILL
  wait_for 30 log_count_ge drst ' warn portolan-agent: docker: ' $((w + 1)) || diag "dockerd restart: the agent logged no docker warning after kill 1"
  pit_dockerd_restart rst || { not_ok "dockerd restart: engine comes back"; return; }
  rdk run -d --name r4 -p "127.0.0.1:$(free_port):80" portolan-test/web
  rdk rm -f r1
  rdk run -d --name r5 -p "127.0.0.1:$(free_port):80" portolan-test/web
  rdk stop -t 1 r5
  # round 2: kill -9 right after a start, before the agent can have seen it for long
  rdk run -d --name r6 --restart=always -p "127.0.0.1:$(free_port):80" portolan-test/web
  rdk run -d --name r7 -p "127.0.0.1:$(free_port):80" portolan-test/web
  w=$(dwarns); pit_dockerd_kill rst KILL
  wait_for 30 log_count_ge drst ' warn portolan-agent: docker: ' $((w + 1)) || diag "dockerd restart: the agent logged no docker warning after kill 2"
  pit_dockerd_restart rst || { not_ok "dockerd restart: engine comes back"; return; }
  rdk run -d --name r8 -p "127.0.0.1:$(free_port):80" -e SERVICE_NAME=late portolan-test/web
  # expected: exactly the running containers with their current host ports
  expected_map() {
    local n
    for n in $(dk rst ps -q); do
      dk rst inspect "$n" | jq -c '.[0] | .Name[1:] as $nm | (.NetworkSettings.Ports // {}) | to_entries[] |
        select(.value != null and (.value|length) > 0) | {key: "it-x:\($nm):\(.key|split("/")[0])", value: (.value[0].HostPort|tonumber)}'
    done | jq -cSs 'from_entries'
  }
  actual_map() { cat_services "$cp" | jq -cS 'with_entries(.value |= .Port)'; }
  local exp act
  converged() { exp=$(expected_map); act=$(actual_map); [ "$exp" = "$act" ] && [ "$exp" != "{}" ]; }
  # converged, then still so after a marker container came and went (nothing late undoes it)
  if wait_for 30 converged && pit_barrier rst "$cp" rmarker && converged; then
    ok "dockerd killed -9 twice while containers came and went: exactly the running containers registered, current ports ($(jq -r 'keys|join(" ")' <<<"$exp"))"
  else
    exp=$(expected_map); act=$(actual_map)
    not_ok "dockerd killed -9 twice while containers came and went: exactly the running containers registered"
    diag "expected $exp"; diag "actual   $act"
  fi
  check "dockerd restart: agent kept running" agent_alive drst
  agent_alive drst || diag_log "$TEST_TMP/agent-drst.log"
  pit_agent_stop drst KILL; kill "$cat" 2>/dev/null
  pit_dockerd_stop rst
}

# ------------------------------------------------- Docker over TCP with TLS
scenario_tls() {
  local certs=$TEST_TMP/docker-certs wrong=$TEST_TMP/wrong-ca
  pit_tls_certs "$certs" docker-it || { not_ok "tls: certificates generated"; return; }
  pit_tls_certs "$wrong" other-ca || { not_ok "tls: certificates generated"; return; }
  pit_dockerd_start_tls tls "$certs" || { not_ok "tls: dockerd with --tlsverify starts"; return; }
  tls_cli() { docker --tlsverify --tlscacert "$certs/ca.pem" --tlscert "$certs/cert.pem" --tlskey "$certs/key.pem" \
      -H "tcp://${PIT_TCP[tls]}" version -f "{{.Server.Version}}" >/dev/null 2>&1; }
  check "tls: dockerd answers the docker CLI with the client certificate" tls_cli
  local cp; cp=$(free_port); pit_catalog_start "$cp" || { not_ok "tls: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  dk tls run -d --name it-tls-a -p "127.0.0.1:$(free_port):80" portolan-test/web >/dev/null
  pit_agent_start tlsok tls DOCKER_HOST="tcp://${PIT_TCP[tls]}" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$certs" \
    -- -node-id it-tls "consul://127.0.0.1:$cp"
  check "tls: agent on DOCKER_HOST=tcp:// + DOCKER_TLS_VERIFY + DOCKER_CERT_PATH registers the container" \
    wait_for 30 cat_has "$cp" it-tls:it-tls-a:80
  dk tls run -d --name it-tls-b -p "127.0.0.1:$(free_port):80" portolan-test/web >/dev/null
  check "tls: events arrive over TLS too" wait_for 30 cat_has "$cp" it-tls:it-tls-b:80
  pit_agent_stop tlsok KILL
  # the wrong CA: the daemon's certificate must be refused
  local cp2; cp2=$(free_port); pit_catalog_start "$cp2"; local cat2=$PIT_CATALOG_PID
  pit_agent_start tlsbad tls DOCKER_HOST="tcp://${PIT_TCP[tls]}" DOCKER_TLS_VERIFY=1 DOCKER_CERT_PATH="$wrong" \
    -- -node-id it-tlsbad "consul://127.0.0.1:$cp2"
  check "tls wrong CA: the agent logs a certificate verification error" \
    wait_for 30 grep -Eiq 'certificate|verif|ssl|tls' "$TEST_TMP/agent-tlsbad.log"
  # (nothing can be registered after that line either: without the engine there is nothing to register)
  check_eq "tls wrong CA: nothing registered" "" "$(cat_ids "$cp2" | tr '\n' ' ')"
  diag "wrong-CA log: $(grep -Ei 'certificate|verif|ssl|tls' "$TEST_TMP/agent-tlsbad.log" | head -2 | cut -c1-250 | tr '\n' ' ')"
  pit_agent_stop tlsbad KILL; kill "$cat" "$cat2" 2>/dev/null
  pit_dockerd_stop tls
}

# ------------------------------------------------- IPv6 (dual-stack engine)
scenario_ipv6() {
  pit_dockerd_start v6 --ipv6 --fixed-cidr-v6 "fd00:213:$PIT_ID::/80" || { not_ok "ipv6: dual-stack dockerd starts"; return; }
  local cp; cp=$(free_port); pit_catalog_start "$cp" || { not_ok "ipv6: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  pit_agent_start v6 v6 -- -node-id it-6 "consul://127.0.0.1:$cp"
  dk v6 run -d --name six -e SERVICE_ADDRESS_MODE=container -e SERVICE_ADDRESS_FAMILY=ipv6 \
    -e SERVICE_CHECK_HTTP=/ portolan-test/web >/dev/null
  dk v6 run -d --name four -e SERVICE_ADDRESS_MODE=container portolan-test/web >/dev/null
  local v6 v4; v6=$(dk v6 inspect -f '{{.NetworkSettings.GlobalIPv6Address}}' six)
  v4=$(dk v6 inspect -f '{{.NetworkSettings.IPAddress}}' four)
  check "ipv6: both registered" wait_for 30 ids_are "$cp" "it-6:four:80 it-6:six:80"
  check_eq "ipv6: SERVICE_ADDRESS_FAMILY=ipv6 registers the container's global IPv6 address" "$v6 80" \
    "$(cat_services "$cp" | jq -r '.["it-6:six:80"] | "\(.Address) \(.Port)"')"
  check_eq "ipv6: its HTTP check brackets the IPv6 address" "http://[$v6]:80/" \
    "$(cat_service_checks "$cp" it-6:six:80 | jq -r '.[0].Definition.HTTP // .[0].HTTP // empty')"
  check_eq "ipv6: default family on a dual-stack engine is IPv4" "$v4 80" \
    "$(cat_services "$cp" | jq -r '.["it-6:four:80"] | "\(.Address) \(.Port)"')"
  pit_agent_stop v6 KILL; kill "$cat" 2>/dev/null
  pit_dockerd_stop v6
}

# ------------------------------------------------- two nodes, one catalog
scenario_two_nodes() {
  pit_dockerd_start n1 || { not_ok "two nodes: engine 1 starts"; return; }
  pit_dockerd_start n2 || { not_ok "two nodes: engine 2 starts"; return; }
  check "two nodes: engines on distinct bridges and subnets" test "${PIT_SUBNET[n1]}" != "${PIT_SUBNET[n2]}"
  local cp; cp=$(free_port); pit_catalog_start "$cp" || { not_ok "two nodes: catalog starts"; return; }
  local cat=$PIT_CATALOG_PID
  local e
  for e in n1 n2; do
    dk $e run -d --name shared -p "127.0.0.1:$(free_port):80" portolan-test/web >/dev/null
    dk $e run -d --name "only-$e" -p "127.0.0.1:$(free_port):80" portolan-test/web >/dev/null
  done
  pit_agent_start node1 n1 -- -node-id node1 -ip 192.0.2.1 -cleanup "consul://127.0.0.1:$cp"
  pit_agent_start node2 n2 -- -node-id node2 -ip 192.0.2.2 -cleanup "consul://127.0.0.1:$cp"
  local all="node1:only-n1:80 node1:shared:80 node2:only-n2:80 node2:shared:80"
  local pre=0; wait_for 30 ids_are "$cp" "$all" && pre=1
  check "two nodes: both nodes' services present" test $pre = 1
  check_eq "two nodes: each registered with its own -ip" "192.0.2.1 192.0.2.1 192.0.2.2 192.0.2.2" \
    "$(cat_services "$cp" | jq -r '[to_entries | sort_by(.key)[] | .value.Address] | join(" ")')"
  dk n1 stop -t 1 shared >/dev/null
  check_if $pre "two nodes: container stopped on node1 -> node1's service removed" wait_for 20 cat_lacks "$cp" node1:shared:80
  # had node1's agent touched node2's service too, it would have before a later marker came and went
  check "two nodes: a marker container on node1 is seen coming and going" pit_barrier n1 "$cp" marker1
  check_eq "two nodes: node2's service of the same name untouched" "node1:only-n1:80 node2:only-n2:80 node2:shared:80" \
    "$(cat_ids "$cp" | tr '\n' ' ' | sed 's/ $//')"
  # node2's agent restarts with -cleanup: it must not remove node1's services
  pit_agent_stop node2 KILL
  dk n2 rm -f only-n2 >/dev/null
  pit_agent_start node2b n2 -- -node-id node2 -ip 192.0.2.2 -cleanup "consul://127.0.0.1:$cp"
  check_if $pre "two nodes: node2 -cleanup removes its own stale service" wait_for 20 cat_lacks "$cp" node2:only-n2:80
  wait_for 20 dangling_deregistered node2b
  check "two nodes: a marker container on node2 is seen coming and going" pit_barrier n2 "$cp" marker2
  check_eq "two nodes: node2 -cleanup leaves node1's services alone" "node1:only-n1:80 node2:shared:80" \
    "$(cat_ids "$cp" | tr '\n' ' ' | sed 's/ $//')"
  pit_agent_stop node1 KILL; pit_agent_stop node2b KILL; kill "$cat" 2>/dev/null
  pit_dockerd_stop n1; pit_dockerd_stop n2
}

if want scenarios; then
  scenario_deregister; scenario_resync; scenario_retry; scenario_ttl; scenario_healthcheck
  scenario_sigterm; scenario_ops
fi
want shared && scenario_shared_id
want cleanup && scenario_cleanup
want catalog && scenario_catalog_restart
want dockerd && scenario_dockerd_restart
want tls && scenario_tls
want twonodes && scenario_two_nodes
want ipv6 && scenario_ipv6
