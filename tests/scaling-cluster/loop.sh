# shellcheck shell=bash
# tests/scaling-cluster/loop.sh: the alert-driven loop, sourced by run.sh once the cluster, the
# host-side agent ($API, certificates in $C) and hello/v1 (1 replica, portolan.scale.max=3) are
# there and scripts/addMonitoring.sh exists. Short MON_* windows; the bound stated: one scale-up
# within 150 s of the load starting, never past 3; back to 1 within 240 s of the load stopping.
PROM=http://$NET.3:9090
q() { curl -sf --max-time 5 --data-urlencode "query=$1" "$PROM/api/v1/query"; }
export MON_SCRAPE_INTERVAL=2s MON_EVAL_INTERVAL=2s MON_RATE_WINDOW=20s MON_UP_RPS=3 MON_UP_FOR=0s \
  MON_DOWN_RPS=1 MON_DOWN_FOR=10s MON_GROUP_WAIT=1s MON_GROUP_INTERVAL=5s MON_REPEAT_INTERVAL=10s \
  PORTOLAN_SCALER_URL=https://$NET.1:$APORT PORTOLAN_API_CERTS=$C/client
t0=$SECONDS
checkr "addMonitoring.sh (scale webhooks to this agent's API)" run "$S/addMonitoring.sh"
diag "addMonitoring.sh took $((SECONDS - t0)) s"
one_replica() { [ "$(replicas)" = 1 ] && passing_is 1; }
poll 60 one_replica
ORIG=$(curl -sf --max-time 5 "${URL}id")
diag "the instance before the loop (the original for it): $ORIG"
hooks0=$(grep -c 'scale-service' "$TEST_TMP/agent.log")

# load: 4 loops through the router (5-30 requests/s on this loaded machine), at most 240 s
L=$TEST_TMP/loop-up
t0=$SECONDS
LOAD_PAR=4 load_start "$L" 240
up_done() { [ "$(replicas)" -ge 2 ] && passing_is "$(replicas)"; }
if poll 150 up_done; then
  ok "load -> RouteRequestRateHigh -> Alertmanager -> webhook: hello/v1 scaled up within 150 s ($((SECONDS - t0)) s)"
else
  not_ok "load -> alert -> webhook: hello/v1 scaled up within 150 s"
  diag "replicas $(replicas); alerts: $(q 'ALERTS' | jq -c '[.data.result[].metric | {alertname, alertstate, service}]')"
fi
check "the webhook came from Alertmanager over mutual TLS (agent log: from the infra node $NET.3, CN=alertmanager)" \
  grep -q "$NET.3 (CN=alertmanager): scale-service hello/v1 by +1" "$TEST_TMP/agent.log"
check "the router answers from the new instance (2 distinct ids)" poll 60 n_ids 2
sleep 5
load_stop "$L"
read -r uok ubad <"$L"
diag "load: $uok ok, $ubad failed, replicas at the end of it: $(replicas)"
check_eq "no request failed during the scale-up ($uok sent)" 0 "$ubad"
check "never past portolan.scale.max=3" [ "$(replicas)" -le 3 ]

# load stops: a slow probe (1/s, below MON_DOWN_RPS per server) watches the way back down
L=$TEST_TMP/loop-down
t0=$SECONDS
LOAD_SLEEP=1 load_start "$L" 300
down_done() { [ "$(replicas)" = 1 ] && passing_is 1; }
if poll 240 down_done; then
  ok "load stopped -> RouteRequestRateLow -> webhook: back to 1 replica within 240 s ($((SECONDS - t0)) s)"
else
  not_ok "load stopped -> back to 1 replica within 240 s"; diag "replicas $(replicas)"
fi
check "the down webhook came from Alertmanager" grep -q "$NET.3 (CN=alertmanager): scale-service hello/v1 by -1" "$TEST_TMP/agent.log"
sleep 3
load_stop "$L"
read -r dok dbad <"$L"
check_eq "no request failed during the scale-down ($dok sent)" 0 "$dbad"
last=$(ids_seen 10 | tr '\n' ' ')
check_eq "the original instance is the one still serving" "$ORIG " "$last"
diag "scale-service calls from Alertmanager: $(( $(grep -c 'scale-service' "$TEST_TMP/agent.log") - hooks0 ))"
checkr "rmMonitoring.sh" run "$S/rmMonitoring.sh"
