#!/usr/bin/env bash
# tests/monitoring-config/run.sh: the shipped monitoring configuration, checked by the tools of
# the Debian packages it runs with (promtool of prometheus 2.42, amtool of alertmanager 0.25;
# from PATH, else fetched and unpacked by scripts/build-monitoring-images.sh --tools), no docker:
#   promtool check rules monitoring/rules.yml; promtool test rules monitoring/rules_test.yml
#   (scale up / scale down / 5xx / instance down fire with the labels Alertmanager routes on, and
#   not before their `for`); the same test fails when MON_UP_RPS raises the threshold (so it can
#   fail); promtool check config of prometheus.yml; amtool check-config of alertmanager.yml as
#   shipped and as addMonitoring.sh writes it (MON_* values, scaler URL, no certificates);
#   amtool config routes test: scale alerts go to scale-service / scale-nodes, others to log;
#   targets.tmpl rendered by portolan-templater against a catalog gives one file_sd group per
#   metrics-tagged instance, valid for promtool; shellcheck -S warning and -h of the scripts.
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$TOP/tests/lib.sh"
M=$TOP/monitoring

tools=$("$TOP/scripts/build-monitoring-images.sh" --tools 2>"$TEST_TMP/tools.err") || { cat "$TEST_TMP/tools.err"; }
PROMTOOL=$(command -v promtool || sed -n 1p <<<"$tools")
AMTOOL=$(command -v amtool || sed -n 2p <<<"$tools")
if [ ! -x "$PROMTOOL" ] || [ ! -x "$AMTOOL" ]; then not_ok "promtool and amtool found or fetched"; done_testing; exit 1; fi
die() { echo "$*" >&2; exit 1; }   # mon_subst runs in subshells here
quiet() { "$@" >/dev/null 2>&1; }
# shellcheck source=../../scripts/monitoring-lib.sh
. "$TOP/scripts/monitoring-lib.sh"

W=$TEST_TMP/m; mkdir -p "$W"
check "promtool check rules monitoring/rules.yml" quiet "$PROMTOOL" check rules "$M/rules.yml"
out=$(cd "$M" && "$PROMTOOL" test rules rules_test.yml 2>&1)
if grep -q SUCCESS <<<"$out"; then ok "promtool test rules: scale up/down, 5xx and instance-down alerts fire as specified"; else not_ok "promtool test rules"; sed 's/^/# /' <<<"$out" | tail -20; fi

# the same unit test against a copy whose threshold MON_UP_RPS moved: must fail
cp "$M/rules.yml" "$M/rules_test.yml" "$W/"
( export MON_UP_RPS=100; mon_subst "$W/rules.yml" )
check_eq "MON_UP_RPS=100 lands in the scale-up rule" 1 "$(grep -c '> 100  # MON_UP_RPS' "$W/rules.yml")"
out=$(cd "$W" && "$PROMTOOL" test rules rules_test.yml 2>&1)
if grep -q FAILED <<<"$out" && grep -q RouteRequestRateHigh <<<"$out"; then ok "... and the unit test then fails on RouteRequestRateHigh (it can fail)"; else not_ok "the unit test fails with a higher threshold"; fi

# every override, as the loop test uses them
cp "$M/prometheus.yml" "$M/rules.yml" "$M/alertmanager.yml" "$W/"
(
  export MON_SCRAPE_INTERVAL=2s MON_EVAL_INTERVAL=2s MON_RATE_WINDOW=20s MON_UP_RPS=5 MON_UP_FOR=0s \
    MON_DOWN_RPS=0.5 MON_DOWN_FOR=30s MON_5XX_RATIO=0.2 MON_5XX_FOR=10s MON_DOWN_INSTANCE_FOR=15s \
    MON_GROUP_WAIT=1s MON_GROUP_INTERVAL=5s MON_REPEAT_INTERVAL=1m
  for f in prometheus.yml rules.yml alertmanager.yml; do mon_subst "$W/$f"; done
)
check_eq "every MON_* value is substituted, the rate window too" \
  "scrape_interval: 2s|evaluation_interval: 2s|> 5|for: 0s|< 0.5|for: 30s|> 0.2|for: 10s|for: 15s|group_wait: 1s|group_interval: 5s|repeat_interval: 1m|[20s]:3|[1m]:0" \
  "$(for p in 'scrape_interval: [^ ]*' 'evaluation_interval: [^ ]*' '> [0-9.]*  # MON_UP_RPS' 'for: [^ ]*  # MON_UP_FOR' '< [0-9.]*  # MON_DOWN_RPS' 'for: [^ ]*  # MON_DOWN_FOR' \
       '> [0-9.]*  # MON_5XX_RATIO' 'for: [^ ]*  # MON_5XX_FOR' 'for: [^ ]*  # MON_DOWN_INSTANCE_FOR' 'group_wait: [^ ]*' 'group_interval: [^ ]*' 'repeat_interval: [^ ]*'; do
       grep -ohE "$p" "$W"/*.yml | head -1 | sed 's/  # .*//'; done | tr '\n' '|')[20s]:$(grep -c '\[20s\]' "$W/rules.yml")|[1m]:$(grep -c '\[1m\]' "$W/rules.yml")"
check "promtool check rules on the substituted rules" quiet "$PROMTOOL" check rules "$W/rules.yml"
bad=$( (export MON_UP_FOR='1m; rm -rf /'; mon_subst "$W/rules.yml") 2>&1 )
check_eq "a MON_* value that is not a number or duration is refused" "MON_UP_FOR='1m; rm -rf /': a number or a duration (5s, 1m)" "$bad"

# prometheus.yml: its rule file path is the container's; check it pointed at the copy
sed "s#/etc/prometheus/rules.yml#$W/rules.yml#; s#/etc/prometheus/targets/#$W/targets/#" "$M/prometheus.yml" >"$W/prom-check.yml"
check "promtool check config monitoring/prometheus.yml" quiet "$PROMTOOL" check config "$W/prom-check.yml"
check "amtool check-config monitoring/alertmanager.yml" quiet "$AMTOOL" check-config "$M/alertmanager.yml"
sed -i "s#https://swarm-0:8443#https://10.77.0.10:8443#; /http_config:/,/key_file:/d" "$W/alertmanager.yml"
check "amtool check-config as addMonitoring.sh writes it (overrides, URL, no certificates)" quiet "$AMTOOL" check-config "$W/alertmanager.yml"
route() { "$AMTOOL" config routes test --config.file="$M/alertmanager.yml" "$@" 2>&1 | tail -1; }
check_eq "route: scale=up service=hello/v1 -> scale-service" scale-service "$(route scale=up service=hello/v1 alertname=RouteRequestRateHigh)"
check_eq "route: scale=down service=hello/v1 -> scale-service" scale-service "$(route scale=down service=hello/v1)"
check_eq "route: scale=up type=node -> scale-nodes" scale-nodes "$(route scale=up type=node)"
check_eq "route: InstanceDown -> log (no webhook)" log "$(route alertname=InstanceDown job=node-exporter)"
check_eq "route: 5xx alert with a service but no scale label -> log" log "$(route alertname=RouteErrorRateHigh service=hello/v1)"
check_eq "webhook URLs: seed 004's paths" "https://swarm-0:8443/v1/scale-service?by=1 https://swarm-0:8443/v1/scale-nodes?by=1&type=worker" \
  "$(grep -oE "url: '[^']*'" "$M/alertmanager.yml" | sed "s/url: '//; s/'$//" | tr '\n' ' ' | sed 's/ $//')"

# targets.tmpl against a catalog: rendered by the templater as in the prometheus container
if [ -x "$BUILD/portolan-catalog" ] && [ -x "$BUILD/portolan-templater" ]; then
  start_catalog -dns-listen off
  reg() { curl -sf -X PUT "http://$CATALOG_ADDR/v1/catalog/register" -d "$1" >/dev/null; }
  reg '{"Node":"swarm-0","Address":"10.77.0.10","Service":{"ID":"metrics-portolan-agent-swarm-0","Service":"portolan-agent","Tags":["metrics"],"Port":9401}}'
  reg '{"Node":"swarm-1","Address":"10.77.0.11","Service":{"ID":"metrics-haproxy-exporter-swarm-1","Service":"haproxy-exporter","Tags":["metrics"],"Port":8405}}'
  reg '{"Node":"swarm-1","Address":"10.77.0.11","Service":{"ID":"web1","Service":"hello/v1","Tags":["rest"],"Port":80}}'
  reg '{"Node":"swarm-1","Address":"10.77.0.11","Service":{"ID":"metrics-node-exporter-swarm-1","Service":"node-exporter","Tags":["metrics"],"Port":9100},"Check":{"CheckID":"ne","Name":"ne","Status":"critical","ServiceID":"metrics-node-exporter-swarm-1"}}'
  mkdir -p "$W/targets"
  "$BUILD/portolan-templater" -consul "consul://$CATALOG_ADDR" -template "$M/targets.tmpl:$W/targets/consul.yml" -once >"$TEST_TMP/tpl.log" 2>&1
  got=$(grep -v '^#' "$W/targets/consul.yml" 2>/dev/null | tr -s ' ' | tr '\n' '|')
  check_eq "targets.tmpl: one group per metrics instance, critical ones included, untagged routes not" \
    "- targets: ['10.77.0.11:8405']| labels: {job: 'haproxy-exporter', node: 'swarm-1', service_id: 'metrics-haproxy-exporter-swarm-1'}|- targets: ['10.77.0.11:9100']| labels: {job: 'node-exporter', node: 'swarm-1', service_id: 'metrics-node-exporter-swarm-1'}|- targets: ['10.77.0.10:9401']| labels: {job: 'portolan-agent', node: 'swarm-0', service_id: 'metrics-portolan-agent-swarm-0'}|" "$got"
  check "... a file promtool accepts as file_sd (check config with it)" quiet "$PROMTOOL" check config "$W/prom-check.yml"
else
  not_ok "portolan-catalog and portolan-templater built in $BUILD (targets.tmpl check)"
fi

# the scripts
check "shellcheck -S warning: addMonitoring.sh rmMonitoring.sh monitoring-lib.sh build-monitoring-images.sh" \
  shellcheck -S warning -x "$TOP/scripts/addMonitoring.sh" "$TOP/scripts/rmMonitoring.sh" "$TOP/scripts/monitoring-lib.sh" "$TOP/scripts/build-monitoring-images.sh"
for s in addMonitoring.sh rmMonitoring.sh build-monitoring-images.sh; do
  check "$s -h prints its usage" sh -c "'$TOP/scripts/$s' -h | grep -q '^${s}'"
done
"$TOP/scripts/addMonitoring.sh" extra >/dev/null 2>&1; check_eq "addMonitoring.sh with an argument: usage error, exit 2" 2 $?
"$TOP/scripts/rmMonitoring.sh" extra >/dev/null 2>&1; check_eq "rmMonitoring.sh with an argument: usage error, exit 2" 2 $?
done_testing
