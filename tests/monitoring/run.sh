#!/usr/bin/env bash
# tests/monitoring/run.sh: addMonitoring.sh / rmMonitoring.sh on the `local` cluster (real dockerds
# in network namespaces, as tests/cluster): registry, infra, swarm-0 (manager), swarm-1
# (front-end), hello/v1 started; then
#   addMonitoring.sh (short intervals and thresholds through MON_*, the scale webhook pointed at a
#   mutual-TLS recorder on this host) -> Prometheus, asked through its HTTP API from the host,
#   reports every agent, the templater, HAProxy's exporter and every node exporter up, HAProxy's
#   route_backend series map the router's pool backend to hello/v1, the rules are loaded, Alertmanager is up and
#   known to Prometheus; a second run changes nothing;
#   a bounded load through the router (300 requests) -> RouteRequestRateHigh fires -> Alertmanager
#   POSTs seed 004's webhook body ({"groupLabels":{"scale":"up","service":"hello/v1"}}) to
#   /v1/scale-service?by=1 with its client certificate (the recorder requires one);
#   createSwarmNode.sh 2 after it -> the new node's agent and node exporter are scraped;
#   removeNode.sh 2 -> its targets leave Consul; rmMonitoring.sh removes everything (checked),
#   twice; destroyCluster.sh leaves nothing.
# Everything carries a per-run prefix, subnet and image tag; a trap removes it all.
# needs: docker
set -u
TOP=${TOP:-$(cd "$(dirname "$0")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$TOP/tests/lib.sh"
# shellcheck source=../cluster_env.sh
source "$TOP/tests/cluster_env.sh"
command -v python3 >/dev/null && command -v openssl >/dev/null || bail "python3 and openssl"

cluster_env pmo mo 77 portolan/agent portolan/router portolan/catalog portolan/registry portolan/prometheus portolan/alertmanager portolan/node-exporter portolan-test/whoami
FE=$NET.11 CONSUL=$NET.3:8500 PROM=http://$NET.3:9090 AM=http://$NET.3:9093
. "$TOP/machine/lib.sh"
dk() { driver_docker "$@"; }
poll() { local end=$((SECONDS + $1)); shift; until "$@" >/dev/null 2>&1; do [ $SECONDS -ge $end ] && return 1; sleep 1; done; }
q() { curl -sf --max-time 5 "$PROM/api/v1/query" --data-urlencode "query=$1"; }

# ---- images
"$S/build-images.sh" "$BUILD" >/dev/null 2>"$TEST_TMP/images.err" &&
  "$S/build-registry-image.sh" >/dev/null 2>>"$TEST_TMP/images.err" &&
  "$S/build-monitoring-images.sh" "$BUILD" >/dev/null 2>>"$TEST_TMP/images.err" &&
  "$TOP/tests/images/build.sh" >/dev/null 2>>"$TEST_TMP/images.err" &&
  printf 'FROM portolan-test/web:latest\nCMD ["/bin/sh","-c","trap \\"exit 0\\" TERM; hostname >/www/id; httpd -f -p 80 -h /www & wait"]\n' |
    docker build -q -t "portolan-test/whoami:$PORTOLAN_IMAGE_TAG" - >/dev/null 2>>"$TEST_TMP/images.err" ||
  { sed 's/^/# /' "$TEST_TMP/images.err"; bail "images built"; }

# ---- the cluster (two nodes), a route
run "$S/setupRegistry.sh" && run "$S/createInfraNode.sh" && run "$S/createSwarmNode.sh" 0 &&
  run "$S/createSwarmNode.sh" 1 front-end || { show_log; bail "the cluster (registry, infra, swarm-0, swarm-1 front-end)"; }
ok "cluster: registry, infra, swarm-0, swarm-1 front-end"
URL=http://$FE/hello/v1/
out=$(PORTOLAN_WAIT=180 "$S/startService.sh" hello/v1 "portolan-test/whoami:$PORTOLAN_IMAGE_TAG" 2>>"$LOG" | tail -1)
check_eq "startService.sh hello/v1" "$URL" "$out"

# ---- a mutual-TLS webhook recorder standing in for the agent's scale API (h/scale builds it)
C=$TEST_TMP/certs; mkdir -p "$C/client"
{
  openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=pt-mon-ca -keyout "$C/ca.key" -out "$C/ca.pem"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$NET.1" -keyout "$C/srv.key" -out "$C/srv.csr"
  printf 'subjectAltName=IP:%s\nextendedKeyUsage=serverAuth\n' "$NET.1" >"$C/srv.ext"
  openssl x509 -req -in "$C/srv.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 1 -extfile "$C/srv.ext" -out "$C/srv.pem"
  openssl req -newkey rsa:2048 -nodes -subj /CN=alertmanager -keyout "$C/client/key.pem" -out "$C/cl.csr"
  printf 'extendedKeyUsage=clientAuth\n' >"$C/cl.ext"
  openssl x509 -req -in "$C/cl.csr" -CA "$C/ca.pem" -CAkey "$C/ca.key" -CAcreateserial -days 1 -extfile "$C/cl.ext" -out "$C/client/cert.pem"
  cp "$C/ca.pem" "$C/client/ca.pem"
} >/dev/null 2>&1 || bail "test certificates (openssl)"
HOOKS=$TEST_TMP/hooks.jsonl
cat >"$TEST_TMP/recorder.py" <<'PY'
import http.server, ssl, sys, json
port, out, d = int(sys.argv[2]), sys.argv[3], sys.argv[4]
class H(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        body = self.rfile.read(int(self.headers.get('Content-Length', 0)))
        cn = dict(x[0] for x in self.connection.getpeercert()['subject'])['commonName']
        with open(out, 'a') as f:
            f.write(json.dumps({'path': self.path, 'client': cn, 'body': json.loads(body)}) + '\n')
        self.send_response(200); self.send_header('Content-Length', '0'); self.end_headers()
    def log_message(self, *a): pass
ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
ctx.load_cert_chain(d + '/srv.pem', d + '/srv.key')
ctx.load_verify_locations(d + '/ca.pem'); ctx.verify_mode = ssl.CERT_REQUIRED
s = http.server.HTTPServer((sys.argv[1], port), H)
s.socket = ctx.wrap_socket(s.socket, server_side=True)
s.serve_forever()
PY
HP=$((22000 + RANDOM % 900))
python3 "$TEST_TMP/recorder.py" "$NET.1" "$HP" "$HOOKS" "$C" 2>"$TEST_TMP/recorder.err" &
REC=$!
cleanup_add "kill $REC"
: >"$HOOKS"

# ---- addMonitoring.sh
# scrape every 5 s (the scrape timeout is the interval; a loaded machine needs it), the rate over
# 30 s, a threshold of 0.5 requests/s per server: 300 requests fire it even on a busy machine
export MON_SCRAPE_INTERVAL=5s MON_EVAL_INTERVAL=5s MON_RATE_WINDOW=30s MON_UP_RPS=0.5 MON_UP_FOR=0s \
  MON_GROUP_WAIT=1s MON_GROUP_INTERVAL=5s PORTOLAN_SCALER_URL=https://$NET.1:$HP PORTOLAN_API_CERTS=$C/client
t0=$SECONDS
checkr "addMonitoring.sh" run "$S/addMonitoring.sh"
diag "addMonitoring.sh took $((SECONDS - t0)) s"
want_up="alertmanager infra|haproxy-exporter swarm-1|node-exporter swarm-0|node-exporter swarm-1|portolan-agent swarm-0|portolan-agent swarm-1|portolan-templater swarm-1|prometheus infra|"
ups() { q 'up == 1' | jq -r '.data.result[].metric | "\(.job) \(.node)"' | sort | tr '\n' '|'; }
all_up() { [ "$(ups)" = "$1" ]; }
poll 120 all_up "$want_up"
check_eq "Prometheus (its API, from the host): every agent, the templater, HAProxy's exporter, every node exporter up" "$want_up" "$(ups)"
check_eq "... and no target down" "0" "$(q 'count(up == 0) or vector(0)' | jq -r '.data.result[0].value[1]')"
rules=$(curl -sf --max-time 5 "$PROM/api/v1/rules" | jq -r '[.data.groups[].rules[].name] | sort | join(" ")')
check_eq "the rules of monitoring/rules.yml are loaded" \
  "InstanceDown RouteErrorRateHigh RouteRequestRateHigh RouteRequestRateLow portolan:route_5xx:rate portolan:route_backend portolan:route_requests:rate portolan:route_servers" "$rules"
check_eq "the router's rule window and threshold come from MON_RATE_WINDOW / MON_UP_RPS" "1" \
  "$(curl -sf --max-time 5 "$PROM/api/v1/rules" | jq '[.data.groups[].rules[] | select(.name=="RouteRequestRateHigh" and (.query|test("> 0.5")) and .duration==0)] | length')"
check "Alertmanager is up (/-/ready)" curl -sf --max-time 5 -o /dev/null "$AM/-/ready"
check_eq "Prometheus sends its alerts to that Alertmanager" "http://127.0.0.1:9093/api/v2/alerts" \
  "$(curl -sf --max-time 5 "$PROM/api/v1/alertmanagers" | jq -r '.data.activeAlertmanagers[].url')"
check_eq "Alertmanager routes scale alerts to the scaler URL" "1" \
  "$(curl -sf --max-time 5 "$AM/api/v2/status" | jq -r '.config.original' | grep -c "https://$NET.1:$HP/v1/scale-service?by=1")"
mapped() { q 'portolan:route_backend{service="hello/v1"}' | jq -e '.data.result | length == 1'; }
check "the templater's route_backend joins HAProxy's backend series to route hello/v1 (portolan:route_backend)" poll 60 mapped

snap() { for c in prometheus alertmanager; do dk infra inspect -f '{{.Id}}' "$c"; done; dk swarm-0 service inspect -f '{{.ID}} {{.Version.Index}}' portolan-node-exporter portolan-agent portolan-router; curl -sf "http://$CONSUL/v1/catalog/nodes" | jq -c '[.[].Node] | sort'; }
before=$(snap)
checkr "addMonitoring.sh again succeeds" run "$S/addMonitoring.sh"
check_eq "... and changes nothing (containers, services, Consul nodes)" "$before" "$(snap)"

# ---- the alert path: load -> RouteRequestRateHigh -> Alertmanager -> webhook (mutual TLS)
t0=$SECONDS
load() { local _ f=0; for _ in $(seq 1 75); do curl -sf -o /dev/null --max-time 5 "$URL" || f=$((f + 1)); done; echo "$f" >"$TEST_TMP/fails.$1"; }
pids=""; for w in 1 2 3 4; do load "$w" & pids="$pids $!"; done
wait $pids   # not a bare wait: the recorder is a background job too
fails=$(cat "$TEST_TMP"/fails.* | paste -sd+ | bc)
diag "300 requests (4 clients) in $((SECONDS - t0)) s, $fails failed"
check "the route's request rate is seen per route (portolan:route_requests:rate{service=\"hello/v1\"} > 0)" \
  poll 60 sh -c "curl -sf --max-time 5 '$PROM/api/v1/query' --data-urlencode 'query=portolan:route_requests:rate{service=\"hello/v1\"} > 0' | jq -e '.data.result | length == 1'"
firing() { q 'ALERTS{alertname="RouteRequestRateHigh",alertstate="firing",service="hello/v1",scale="up"}' | jq -e '.data.result | length > 0'; }
check "RouteRequestRateHigh fires for service=hello/v1 with scale=up" poll 60 firing
hooked() { jq -e -s 'map(select(.path == "/v1/scale-service?by=1" and .body.groupLabels.scale == "up" and .body.groupLabels.service == "hello/v1")) | length > 0' "$HOOKS"; }
if poll 60 hooked; then
  diag "load start -> webhook received: $((SECONDS - t0)) s"
  ok "Alertmanager POSTs seed 004's body to /v1/scale-service?by=1 (groupLabels scale=up, service=hello/v1)"
  check_eq "... with its client certificate (the recorder requires one signed by the test CA)" "alertmanager" "$(jq -r -s '.[0].client' "$HOOKS")"
  check_eq "... commonLabels carry the service too, status firing" "hello/v1 firing" "$(jq -r -s '.[0].body | "\(.commonLabels.service) \(.status)"' "$HOOKS")"
else
  not_ok "Alertmanager POSTs seed 004's body to /v1/scale-service?by=1"; sed 's/^/# /' "$TEST_TMP/recorder.err" | tail -5
  diag "alertmanager: $(dk infra logs --tail 5 alertmanager 2>&1 | tr '\n' ' ')"
fi

# ---- a node created later is monitored; a removed one leaves
checkr "createSwarmNode.sh 2 application (monitoring on)" run "$S/createSwarmNode.sh" 2 application
want3="alertmanager infra|haproxy-exporter swarm-1|node-exporter swarm-0|node-exporter swarm-1|node-exporter swarm-2|portolan-agent swarm-0|portolan-agent swarm-1|portolan-agent swarm-2|portolan-templater swarm-1|prometheus infra|"
poll 150 all_up "$want3"
check_eq "... its agent and node exporter are scraped and up" "$want3" "$(ups)"
checkr "removeNode.sh 2" run "$S/removeNode.sh" 2
check_eq "... its targets left Consul" "swarm-0 swarm-1" \
  "$(curl -sf "http://$CONSUL/v1/catalog/nodes" | jq -r '[.[] | select(.Meta["portolan-monitoring"] == "targets") | .Node] | sort | join(" ")')"

# ---- rmMonitoring.sh
checkr "rmMonitoring.sh" run "$S/rmMonitoring.sh"
check_eq "no prometheus/alertmanager container on infra, no node exporter service" "||" \
  "$(dk infra ps -aq --filter label=portolan.monitoring | tr -d '\n')|$(dk swarm-0 service ls -q --filter name=portolan-node-exporter)|$(dk swarm-0 service ls -q --filter label=portolan.monitoring)"
check_eq "no metrics target left in Consul" "0" \
  "$(curl -sf "http://$CONSUL/v1/catalog/services" | jq '[to_entries[] | select(.value | index("metrics"))] | length')"
gone_ne() { [ -z "$(dk swarm-0 ps -aq --filter name=portolan-node-exporter)$(dk swarm-1 ps -aq --filter name=portolan-node-exporter)" ]; }
check "the node exporter containers are gone from the nodes" poll 60 gone_ne
check "Prometheus no longer answers" sh -c "! curl -sf --max-time 3 -o /dev/null $PROM/-/ready"
check "the route still answers (the cluster is untouched)" curl -sf --max-time 5 -o /dev/null "$URL"
checkr "rmMonitoring.sh again: nothing to remove, succeeds" run "$S/rmMonitoring.sh"

checkr "destroyCluster.sh" run "$S/destroyCluster.sh"
check_eq "nothing left: no namespace, link, dockerd/containerd, mount, iptables rule, directory" "" "$(leftovers)"
diag "wall time: $((SECONDS - T0)) s"
done_testing
