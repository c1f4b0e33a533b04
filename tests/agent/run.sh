#!/usr/bin/env bash
# needs: docker
# tests/agent/run.sh: integration tests of portolan-agent against real Docker engines, the real
# portolan-catalog and locally built busybox images (tests/images/build.sh; nothing is pulled).
#
# Every engine is a dedicated dockerd (tests/agent/lib-docker.sh: own socket, data root, bridge),
# so the agent never sees other suites' containers. Parts:
#   1. table: tests/agent/cases/*.tsv, one agent per table, one container per row, asserting the
#      exact registration (check-cases.py) for every flag and metadata key of the spec
#   2. scenarios: -deregister modes, -resync, -cleanup (incl. agent kill -9), -retry-*, -ttl,
#      Docker HEALTHCHECK, SIGTERM, -listen, --version, shared SERVICE_ID, catalog kill -9, dockerd kill -9, TLS
#      Docker endpoint, two nodes, IPv6 on a dual-stack engine
# Run: TOP=/work/main BUILD=/path/to/build bash tests/agent/run.sh [part...]
#      parts: table scenarios shared dockerd catalog cleanup tls twonodes ipv6 (default: all)
set -u
export LC_ALL=C   # byte order for every sort and comparison of IDs
TOP=${TOP:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
# shellcheck source=../lib.sh
source "$TOP/tests/lib.sh"
# shellcheck source=lib-docker.sh
source "$TOP/tests/agent/lib-docker.sh"
HERE=$TOP/tests/agent
SUITE_T0=$(now_ms)

for b in portolan-agent portolan-catalog; do
  if [ ! -x "$BUILD/$b" ]; then
    not_ok "$b is built ($BUILD/$b missing)"; done_testing; exit 1
  fi
done
if ! docker version >/dev/null 2>&1 && ! command -v dockerd >/dev/null; then
  not_ok "docker is available"; done_testing; exit 1
fi

parts=("$@")
[ ${#parts[@]} -eq 0 ] && parts=(table scenarios shared cleanup catalog dockerd tls twonodes ipv6)
want() { local p; for p in "${parts[@]}"; do [ "$p" = "$1" ] && return 0; done; return 1; }

# ---------------------------------------------------------------- shared helpers
# catalog views: cat_services PORT, cat_checks PORT, cat_ids PORT (sorted IDs, one a line)
cat_services() { curl -sf --max-time 2 "http://127.0.0.1:$1/v1/agent/services"; }
cat_checks()   { curl -sf --max-time 2 "http://127.0.0.1:$1/v1/agent/checks"; }
cat_ids()      { cat_services "$1" | jq -r 'keys[]' | sort; }
cat_has()      { cat_services "$1" | jq -e --arg id "$2" 'has($id)' >/dev/null; }
cat_lacks()    { cat_services "$1" | jq -e --arg id "$2" 'has($id) | not' >/dev/null; }
cat_deregister() { curl -sf -X PUT "http://127.0.0.1:$1/v1/agent/service/deregister/$2" >/dev/null; }
agent_alive()  { [ -n "${PIT_AGENT[$1]:-}" ] && kill -0 "${PIT_AGENT[$1]}" 2>/dev/null; }
agent_log()    { cat "$TEST_TMP/agent-$1.log" 2>/dev/null; }
diag_log()     { diag "last lines of $1:"; tail -n "${2:-8}" "$1" 2>/dev/null | cut -c1-300 | sed 's/^/#   /'; }

# expected IDs of the running containers of an engine: "<node>:<name>:<port>" for each
# published tcp port (default flags)
running_ids() { # engine node
  local n
  for n in $(dk "$1" ps -q); do
    dk "$1" inspect "$n" | jq -r --arg node "$2" '.[0] | .Name[1:] as $nm |
      (.NetworkSettings.Ports // {}) | to_entries[] | select(.value != null and (.value|length) > 0) |
      "\($node):\($nm):\(.key | split("/")[0])\(if (.key|endswith("/udp")) then ":udp" else "" end)"'
  done | sort
}

# Facts about one container for check-cases.py
container_facts() { # engine container
  dk "$1" inspect "$2" 2>/dev/null | jq -c '.[0] |
    (.NetworkSettings.Networks // {} | with_entries(.value |= .IPAddress)) as $nets |
    {name: .Name[1:], id: .Id, running: .State.Running,
     cip: (if (.NetworkSettings.IPAddress // "") != "" then .NetworkSettings.IPAddress
           else ([$nets[] | select(. != "")] | first // "") end),
     ports: ((.NetworkSettings.Ports // {}) | with_entries(select(.value != null and (.value|length) > 0)
             | .value |= .[0].HostPort)),
     nets: $nets}'
}

# one engine shared by most tests
pit_dockerd_start main || { not_ok "dedicated dockerd starts"; done_testing; exit 1; }
ENGINE_NAME=$(dk main info -f '{{.Name}}')
WEB_IMGID=$(dk main image inspect -f '{{.Id}}' portolan-test/web)
dk main network create itnet >/dev/null || diag "network itnet not created"
diag "dockerd main up; engine name $ENGINE_NAME; suite setup $(( $(now_ms) - SUITE_T0 )) ms"

rm_all_containers() { # engine
  local ids; ids=$(dk "$1" ps -aq)
  # shellcheck disable=SC2086
  [ -n "$ids" ] && dk "$1" rm -f $ids >/dev/null 2>&1
  return 0
}

# ---------------------------------------------------------------- 1. the tables
run_table() { # cases file
  local file=$1 group node addr agentflags envs uri nets cport pport uristr cname args
  group=$(basename "$file" .tsv)
  hdr() { sed -n "s/^#! $1: *//p" "$file" | head -1; }
  node=$(hdr node); node=${node//@ENGINE@/$ENGINE_NAME}
  addr=$(hdr addr); agentflags=$(hdr agent); envs=$(hdr env); uri=$(hdr uri); nets=$(hdr networks)
  local dir=$TEST_TMP/table-$group; mkdir -p "$dir"
  cport=$(free_port)
  pit_catalog_start "$cport" || { not_ok "$group: catalog starts"; return; }
  local catpid=$PIT_CATALOG_PID
  local reqlog=$dir/requests.jsonl agentenv=()
  case $uri in
    tcp) pport=$(free_port); pit_proxy_start "$group" "127.0.0.1:$cport" "$reqlog" --listen "127.0.0.1:$pport"
         uristr=consul://127.0.0.1:$pport ;;
    env) pport=$(free_port); pit_proxy_start "$group" "127.0.0.1:$cport" "$reqlog" --listen "127.0.0.1:$pport"
         uristr=consul://; agentenv+=("CONSUL_HTTP_ADDR=127.0.0.1:$pport") ;;
    unix) pit_proxy_start "$group" "127.0.0.1:$cport" "$reqlog" --unix "$dir/consul.sock"
         uristr=consul-unix://$dir/consul.sock ;;
    tls) pport=$(free_port); pit_tls_certs "$dir/certs" "consul-$group"
         pit_proxy_start "$group" "127.0.0.1:$cport" "$reqlog" --listen "127.0.0.1:$pport" \
           --tls-cert "$dir/certs/server-cert.pem" --tls-key "$dir/certs/server-key.pem" \
           --tls-client-ca "$dir/certs/ca.pem"
         uristr=consul-tls://127.0.0.1:$pport
         agentenv+=("CONSUL_CACERT=$dir/certs/ca.pem" "CONSUL_CLIENT_CERT=$dir/certs/cert.pem"
                    "CONSUL_CLIENT_KEY=$dir/certs/key.pem") ;;
  esac
  # the proxy creates its log once it listens; an agent started before would give up at once
  # (-retry-attempts 0)
  wait_for 30 test -e "$reqlog" || { not_ok "$group: the recording proxy starts"; kill "$catpid"; return; }
  local e; for e in $envs; do agentenv+=("$e"); done
  # shellcheck disable=SC2086
  pit_agent_start "$group" main "${agentenv[@]}" -- $agentflags "$uristr"
  local net; for net in $nets; do dk main network inspect "$net" >/dev/null 2>&1 || dk main network create "$net" >/dev/null; done

  # start the containers, four at a time; rows naming another case (@C:) wait for the rest
  # (wait on the docker run jobs only: a bare `wait` would wait for the agent and catalog too)
  local names=() runs=()
  while IFS=$'\t' read -r cname args _ _; do
    [ -z "$cname" ] || [[ $cname == \#* ]] && continue
    local cn="it-$group-$cname"
    args=${args//@NAME@/$cn}; args=${args//@IMGID@/$WEB_IMGID}; args=$(pit_fixed_ports "$args")
    if [[ $args == *@C:* ]]; then
      [ ${#runs[@]} -gt 0 ] && wait "${runs[@]}"; runs=()
      args=$(sed -E "s/@C:([A-Za-z0-9_.-]+)@/it-$group-\1/g" <<<"$args")
    fi
    (
      eval "set -- $args"
      # dockerd picks ephemeral host ports (-p 127.0.0.1::80) from its own range without knowing
      # what other processes hold: "port is already allocated" is retried, with a new pick
      for _ in 1 2 3; do
        dk main run -d --name "$cn" "$@" >"$dir/run-$cname.log" 2>&1 </dev/null && exit 0
        grep -q 'port is already allocated' "$dir/run-$cname.log" || break
        dk main rm -f "$cn" >/dev/null 2>&1
      done
      echo "docker run failed" >>"$dir/run-$cname.log"
    ) &
    runs+=($!); names+=("$cname")
    if [ ${#runs[@]} -ge 4 ]; then wait "${runs[@]}"; runs=(); fi
  done <"$file"
  [ ${#runs[@]} -gt 0 ] && wait "${runs[@]}"
  # facts
  {
    printf '{"group":%s,"cases":{' "$(jq -cn --arg node "$node" --arg addr "$addr" --arg img "$WEB_IMGID" '{node:$node, addr:$addr, imgid:$img}')"
    local first=1 f
    for cname in "${names[@]}"; do
      f=$(container_facts main "it-$group-$cname"); [ -n "$f" ] || f='{"running":false}'
      [ $first -eq 1 ] || printf ','; first=0
      printf '%s:%s' "$(jq -cn --arg c "$cname" '$c')" "$f"
    done
    printf '}}'
  } >"$dir/facts.json"
  snapshot() {
    cat_services "$cport" >"$dir/services.json" || echo '{}' >"$dir/services.json"
    cat_checks "$cport" >"$dir/checks.json" || echo '{}' >"$dir/checks.json"
  }
  # shellcheck disable=SC2120 # called through wait_for with arguments
  evaluate() {
    snapshot
    python3 "$HERE/check-cases.py" --cases "$file" --vars "$dir/facts.json" --services "$dir/services.json" \
      --checks "$dir/checks.json" --requests "$reqlog" "$@"
  }
  local t0; t0=$(now_ms)
  wait_for 30 evaluate --quiet
  diag "$group: converged (or gave up) after $(( $(now_ms) - t0 )) ms"
  # let anything that should not be there arrive: a marker container started after all the
  # cases and removed again, seen coming and going in the catalog, comes after their events
  check "table $group: a marker container after the cases is seen coming and going" \
    pit_barrier main "$cport" "it-$group-zzbarrier"
  local verdict d rest
  while IFS=$'\t' read -r verdict d rest; do
    if [ "$verdict" = PASS ]; then ok "table $group: $d"; else not_ok "table $group: $d"; diag "$rest"; fi
  done < <(evaluate)
  for cname in "${names[@]}"; do
    grep -q 'docker run failed' "$dir/run-$cname.log" && diag "$group/$cname: $(head -c 300 "$dir/run-$cname.log")"
  done
  check "table $group: agent still running" agent_alive "$group"
  # container names and metadata are untrusted: lib/log.c escapes them, so no raw control byte
  # (terminal escape sequences, forged line breaks) reaches the agent's log
  check "table $group: the agent's log holds no raw control bytes" \
    sh -c "! LC_ALL=C grep -qP '[\\x00-\\x09\\x0b-\\x1f\\x7f]' '$TEST_TMP/agent-$group.log'"
  if [ "$uri" = env ]; then
    local toks
    toks=$(jq -r '.token // "NONE"' "$reqlog" | sort -u | tr '\n' ' ')
    check_eq "table $group: every request carries X-Consul-Token from CONSUL_HTTP_TOKEN" "s3cret-token " "$toks"
  fi
  agent_alive "$group" || diag_log "$TEST_TMP/agent-$group.log"
  pit_agent_stop "$group" KILL
  rm_all_containers main
  kill "$catpid" "${PIT_PROXY[$group]}" 2>/dev/null
}

if want table; then
  for f in "$HERE"/cases/*.tsv; do run_table "$f"; done
fi

source "$HERE/scenarios.sh"

diag "suite time $(( ($(now_ms) - SUITE_T0) / 1000 )) s"
done_testing
