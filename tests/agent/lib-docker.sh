# shellcheck shell=bash
# shellcheck disable=SC2034 # PIT_* variables are read by the suites that source this file
# tests/agent/lib-docker.sh: reusable infrastructure for the agent integration tests and the
# agent benchmark. Source it after tests/lib.sh (it uses cleanup_add, free_port, $TEST_TMP).
#
# Dedicated Docker engines, so the agent tests never see anybody else's containers:
#   pit_dockerd_start NAME [extra dockerd args...]
#       starts dockerd with its own unix socket /run/portolan-it/NAME-ID.sock, data root, exec root,
#       pidfile and its own linux bridge ptIDNAME (a private 10.213.N.0/24 that only it uses);
#       ID ($PIT_ID, 4 hex digits per run) keeps concurrent runs of the suites apart. NAME <= 9 chars.
#       --iptables=false (published ports go through docker-proxy, fine for 127.0.0.1 traffic),
#       waits for /_ping, loads the test images. Sets PIT_SOCK[NAME], PIT_PID[NAME],
#       PIT_SUBNET[NAME], PIT_BRIDGE[NAME]. Registers pit_dockerd_stop NAME as a cleanup.
#   pit_dockerd_kill NAME [SIGNAL]   kill -SIGNAL (default KILL) the daemon, wait for it to go
#   pit_dockerd_restart NAME         start it again with the same arguments (after a kill)
#   pit_dockerd_stop NAME            remove its containers and networks, stop it, its containerd,
#                                    unmount, delete its directories and its bridge
#   dk NAME docker-args...           the docker CLI against that engine
#   pit_tls_certs DIR [CN]           CA + server cert (SAN IP:127.0.0.1, DNS:localhost) + client
#                                    cert in DIR as ca.pem cert.pem key.pem (client) and
#                                    server-cert.pem server-key.pem, ca-key.pem
#   pit_dockerd_start_tls NAME CERTDIR   as pit_dockerd_start plus -H tcp://127.0.0.1:PORT with
#                                    --tlsverify; sets PIT_TCP[NAME]=127.0.0.1:PORT
# Catalog, proxy and agent:
#   pit_catalog_start PORT [args]    portolan-catalog on 127.0.0.1:PORT -> PIT_CATALOG_PID
#   pit_proxy_start NAME UPSTREAM LOG [proxy args]  the recording proxy (consul-proxy.py)
#   pit_agent_start NAME DOCKERNAME [VAR=value...] -- agent-args...
#       portolan-agent against that engine; log in $TEST_TMP/agent-NAME.log; PIT_AGENT[NAME]=pid
#   pit_agent_stop NAME [SIGNAL]
#   pit_run_port DOCKERNAME NAME CPORT [docker run args...]
#       docker run -d --name NAME -p 127.0.0.1:<free port>:CPORT ..., again with another port
#       when the one picked was taken in the meantime (other suites run on this machine)
#   pit_barrier DOCKERNAME CATPORT MARKER [docker run args...]
#       proof that the agents on that engine writing to the catalog on 127.0.0.1:CATPORT have
#       taken in every Docker event before the call (see below); 1 when it timed out
#   wait_for SECS CMD...             poll CMD every 50 ms until it succeeds (status 0) or SECS pass
#   log_ts_ms FILE PATTERN [first|last]  the agent log timestamp (ms) of the first/last line matching
#   now_ms                           wall clock in milliseconds

declare -gA PIT_SOCK PIT_PID PIT_SUBNET PIT_BRIDGE PIT_ARGS PIT_TCP PIT_AGENT PIT_PROXY PIT_KEY
PIT_RUN=${PIT_RUN:-/run/portolan-it}
PIT_DATA=${PIT_DATA:-/var/lib/portolan-it}
PIT_ID=${PIT_ID:-$(printf '%04x' $(( (RANDOM << 1 ^ $$) & 0xffff )))}

now_ms() { date +%s%3N; }
pit_gone() { ! kill -0 "$1" 2>/dev/null; }

wait_for() {
  local secs=$1; shift
  local end=$(( $(now_ms) + secs * 1000 ))
  while :; do
    "$@" >/dev/null 2>&1 && return 0
    [ "$(now_ms)" -ge "$end" ] && return 1
    sleep 0.05
  done
}

dk() { local n=$1; shift; docker -H "unix://${PIT_SOCK[$n]}" "$@"; }

# log_ts_ms FILE ERE [first|last]: the time (ms since the epoch) a portolan log line matching ERE
# was written, from its own timestamp ("2026-11-23T20:47:21.123Z info ..."): durations measured
# between two log lines leave out process start-up and the test's polling. Empty when no line.
log_ts_ms() {
  local line
  if [ "${3:-first}" = last ]; then line=$(grep -E -- "$2" "$1" 2>/dev/null | tail -1)
  else line=$(grep -E -m1 -- "$2" "$1" 2>/dev/null); fi
  [ -n "$line" ] || return 1
  date -d "${line%% *}" +%s%3N 2>/dev/null
}

pit_run_port() {
  local engine=$1 name=$2 cport=$3 _; shift 3
  for _ in 1 2 3; do
    dk "$engine" run -d --name "$name" -p "127.0.0.1:$(free_port):$cport" "$@" >/dev/null 2>"$TEST_TMP/run-$name.err" && return 0
    grep -Eqi 'address already in use|port is already allocated' "$TEST_TMP/run-$name.err" || break
    dk "$engine" rm -f "$name" >/dev/null 2>&1
  done
  sed 's/^/# /' "$TEST_TMP/run-$name.err" >&2
  return 1
}

# pit_barrier DOCKERNAME CATPORT MARKER [docker run args...]: an event after every event before it.
# Starts container MARKER (portolan-test/web with a published port and SERVICE_NAME, so -explicit
# agents take it too) on that engine, waits until a service whose ID contains ":MARKER:" is in the
# catalog, removes the container and waits until no such service is left (30 s each). An agent
# queues inspects and writes in the order of Docker's events, so once both are seen it has
# handled whatever came before: a negative assertion made after this has seen its window pass,
# on a slow machine as on a fast one. Returns 1 when a wait timed out.
_pit_marker_in() {
  curl -sf --max-time 5 "http://127.0.0.1:$1/v1/agent/services" |
    jq -e --arg m ":$2:" '[keys[] | select(contains($m))] | length > 0' >/dev/null
}
_pit_marker_out() {
  curl -sf --max-time 5 "http://127.0.0.1:$1/v1/agent/services" |
    jq -e --arg m ":$2:" '[keys[] | select(contains($m))] | length == 0' >/dev/null
}
pit_barrier() {
  local engine=$1 port=$2 marker=$3; shift 3
  local rc=0
  pit_run_port "$engine" "$marker" 80 -e SERVICE_NAME=barrier "$@" portolan-test/web ||
    { echo "# barrier $marker: docker run failed" >&2; return 1; }
  wait_for 30 _pit_marker_in "$port" "$marker" || { echo "# barrier $marker: never registered" >&2; rc=1; }
  dk "$engine" rm -f "$marker" >/dev/null 2>&1
  wait_for 30 _pit_marker_out "$port" "$marker" || { echo "# barrier $marker: never deregistered" >&2; rc=1; }
  return $rc
}

# The first 10.213.N.0/PIT_PREFIX (24 or 22; N 4..248, a multiple of 4 for /22) with no route
# and no address in it. /22 (PIT_PREFIX=22) is for more than 250 containers (bench).
_pit_free_subnet() {
  local n step=1 k span=1 used
  [ "${PIT_PREFIX:-24}" = 22 ] && { step=4; span=4; }
  # third octets in use: every 10.213.X.Y/P route or address covers X .. X + 2^(24-P) - 1
  used=$( { ip -4 route show; ip -4 addr show; } | grep -oE '10\.213\.[0-9]+\.[0-9]+(/[0-9]+)?' |
    awk -F'[./]' '{ p = ($5 == "" || $5 > 24) ? 24 : $5; n = 2 ^ (24 - p); b = $3 - $3 % n;
                    for (i = b; i < b + n; i++) print i }' | sort -u)
  for ((n = 4; n <= 248; n += step)); do
    for ((k = n; k < n + span; k++)); do grep -qx "$k" <<<"$used" && continue 2; done
    echo "$n"; return 0
  done
  return 1
}

_pit_dockerd_launch() {
  local name=$1 cpidf=$PIT_RUN/${PIT_KEY[$1]}.exec/containerd/containerd.pid cpid st
  # After a kill -9 the managed containerd dies too, but may linger as a zombie that dockerd
  # mistakes for a live containerd ("containerd is still running"): drop its pid file.
  cpid=$(cat "$cpidf" 2>/dev/null)
  if [ -n "$cpid" ]; then
    st=$(awk '{print $3}' "/proc/$cpid/stat" 2>/dev/null)
    if [ -z "$st" ] || [ "$st" = Z ]; then rm -f "$cpidf"; fi
  fi
  # shellcheck disable=SC2086
  setsid dockerd ${PIT_ARGS[$name]} >>"$PIT_DATA/${PIT_KEY[$name]}.log" 2>&1 </dev/null &
  PIT_PID[$name]=$!
  disown "$!"   # no "Killed" job notices when a test kills it on purpose
  if ! wait_for 30 curl -sf --unix-socket "${PIT_SOCK[$name]}" http://d/_ping; then
    echo "# dockerd $name did not answer; last log lines:" >&2
    tail -5 "$PIT_DATA/${PIT_KEY[$name]}.log" | sed 's/^/#   /' >&2
    return 1
  fi
}

pit_dockerd_start() {
  local name=$1; shift
  local n br key=$name-$PIT_ID
  mkdir -p "$PIT_RUN" "$PIT_DATA"
  br=pt$PIT_ID$name
  [ ${#br} -le 15 ] || { echo "# bridge name $br too long" >&2; return 1; }
  # choosing a subnet and creating the bridge is one step under a lock (concurrent runs)
  n=$(
    exec 9>"$PIT_RUN/.subnet.lock"; flock 9
    n=$(_pit_free_subnet) || exit 1
    ip link del "$br" 2>/dev/null
    ip link add "$br" type bridge && ip addr add "10.213.$n.1/${PIT_PREFIX:-24}" dev "$br" && ip link set "$br" up || exit 1
    echo "$n"
  ) || { echo "# no free 10.213.N.0/24 or bridge $br not created" >&2; return 1; }
  PIT_KEY[$name]=$key
  PIT_SOCK[$name]=$PIT_RUN/$key.sock
  PIT_SUBNET[$name]=10.213.$n.0/${PIT_PREFIX:-24}
  PIT_BRIDGE[$name]=$br
  mkdir -p "$PIT_DATA/$key"
  # user-defined networks of this engine come from a pool of /28s nobody else uses
  PIT_ARGS[$name]="-H unix://${PIT_SOCK[$name]} --data-root $PIT_DATA/$key --exec-root $PIT_RUN/$key.exec
    --pidfile $PIT_RUN/$key.pid --bridge $br --iptables=false --ip-masq=false
    --default-address-pool base=10.214.$n.0/24,size=28 --log-level warn $*"
  cleanup_add "pit_dockerd_stop $name"
  _pit_dockerd_launch "$name" || return 1
  DOCKER_HOST="unix://${PIT_SOCK[$name]}" "$TOP/tests/images/build.sh" >/dev/null || return 1
}

pit_dockerd_kill() {
  local name=$1 sig=${2:-KILL} pid=${PIT_PID[$1]}
  [ -n "$pid" ] || return 0
  kill -"$sig" "$pid" 2>/dev/null
  wait_for 30 pit_gone "$pid" || kill -KILL "$pid" 2>/dev/null
  PIT_PID[$name]=""
}

pit_dockerd_restart() { _pit_dockerd_launch "$1"; }

pit_dockerd_stop() {
  local name=$1 ids pid cpid key=${PIT_KEY[$1]:-}
  [ -n "${PIT_SOCK[$name]:-}" ] && [ -n "$key" ] || return 0
  if [ -n "${PIT_PID[$name]:-}" ] && kill -0 "${PIT_PID[$name]}" 2>/dev/null; then
    ids=$(dk "$name" ps -aq 2>/dev/null)
    # shellcheck disable=SC2086
    [ -n "$ids" ] && dk "$name" rm -f $ids >/dev/null 2>&1
    dk "$name" network prune -f >/dev/null 2>&1
    pit_dockerd_kill "$name" TERM
  fi
  # its containerd (started by that dockerd) and shims, if they outlived it
  cpid=$(cat "$PIT_RUN/$key.exec/containerd/containerd.pid" 2>/dev/null)
  if [ -n "$cpid" ] && tr '\0' ' ' <"/proc/$cpid/cmdline" 2>/dev/null | grep -q "$PIT_RUN/$key.exec"; then
    kill -TERM "$cpid" 2>/dev/null; sleep 0.5; kill -KILL "$cpid" 2>/dev/null
  fi
  for pid in $(pgrep -f "containerd-shim.*$PIT_RUN/$key.exec/" 2>/dev/null); do kill -KILL "$pid" 2>/dev/null; done
  # overlay layers, netns files and the data root itself (dockerd bind-mounts it, once per start)
  local _ m
  for _ in 1 2 3; do
    grep -oE " ($PIT_DATA/$key|$PIT_RUN/$key.exec)(/[^ ]*)? " /proc/mounts | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null; done
  done
  rm -rf "${PIT_DATA:?}/$key" "$PIT_RUN/$key.exec" "$PIT_RUN/$key.pid" "${PIT_SOCK[$name]}" "$PIT_DATA/$key.log"
  ip link del "${PIT_BRIDGE[$name]}" 2>/dev/null
  # bridges of user-defined networks left behind by a killed daemon
  unset "PIT_SOCK[$name]"
}

pit_tls_certs() {
  local d=$1 cn=${2:-portolan-it}
  mkdir -p "$d"
  (
    cd "$d" || exit 1
    openssl req -x509 -newkey rsa:2048 -nodes -days 2 -subj "/CN=$cn CA" \
      -keyout ca-key.pem -out ca.pem 2>/dev/null || exit 1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=localhost" \
      -keyout server-key.pem -out server.csr 2>/dev/null || exit 1
    printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -extfile server.ext -out server-cert.pem 2>/dev/null || exit 1
    openssl req -newkey rsa:2048 -nodes -subj "/CN=client" \
      -keyout key.pem -out client.csr 2>/dev/null || exit 1
    printf 'extendedKeyUsage=clientAuth\n' >client.ext
    openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -days 2 \
      -extfile client.ext -out cert.pem 2>/dev/null || exit 1
    chmod 0600 ./*key.pem
    rm -f ./*.csr ./*.ext
  )
}

pit_dockerd_start_tls() {
  local name=$1 certs=$2 port
  port=$(free_port)
  PIT_TCP[$name]=127.0.0.1:$port
  pit_dockerd_start "$name" -H "tcp://127.0.0.1:$port" --tlsverify --tlscacert "$certs/ca.pem" \
    --tlscert "$certs/server-cert.pem" --tlskey "$certs/server-key.pem"
}

# Host ports: every engine allocates "-p 127.0.0.1::80" from the same range, and with several
# engines (and other suites' containers) on one machine the userland proxies collide. The tests
# pick free ports themselves: pit_fixed_ports "ARGS" rewrites each 127.0.0.1:: to 127.0.0.1:PORT:.
pit_fixed_ports() {
  local a=$1
  while [[ $a == *127.0.0.1::* ]]; do a=${a/127.0.0.1::/127.0.0.1:$(free_port):}; done
  printf '%s' "$a"
}

pit_catalog_start() {
  local port=$1; shift
  "$BUILD/portolan-catalog" -listen "127.0.0.1:$port" "$@" >>"$TEST_TMP/catalog-$port.log" 2>&1 &
  PIT_CATALOG_PID=$!
  cleanup_add "kill -9 $PIT_CATALOG_PID"
  wait_for 10 curl -sf "http://127.0.0.1:$port/v1/status/leader"
}

pit_proxy_start() {
  local name=$1 upstream=$2 log=$3; shift 3
  python3 "$TOP/tests/agent/consul-proxy.py" --upstream "$upstream" --log "$log" "$@" \
    >>"$TEST_TMP/proxy-$name.log" 2>&1 &
  PIT_PROXY[$name]=$!
  cleanup_add "kill ${PIT_PROXY[$name]}"
}

pit_agent_start() {
  local name=$1 dname=$2; shift 2
  local envs=()
  while [ $# -gt 0 ] && [ "$1" != -- ]; do envs+=("$1"); shift; done
  [ "${1:-}" = -- ] && shift
  env DOCKER_HOST="unix://${PIT_SOCK[$dname]}" "${envs[@]}" \
    "$BUILD/portolan-agent" "$@" >>"$TEST_TMP/agent-$name.log" 2>&1 &
  PIT_AGENT[$name]=$!
  cleanup_add "kill -9 ${PIT_AGENT[$name]}"
}

pit_agent_stop() {
  local name=$1 sig=${2:-TERM} pid=${PIT_AGENT[$1]:-}
  [ -n "$pid" ] || return 0
  PIT_AGENT_STATUS=
  # a deliberate kill -9 needs no exit status, and disowning it spares the "Killed" job notice
  if [ "$sig" = KILL ] || [ "$sig" = 9 ]; then
    disown "$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null
    wait_for 10 pit_gone "$pid"; PIT_AGENT[$name]=""; return 0
  fi
  kill -"$sig" "$pid" 2>/dev/null
  wait_for 10 pit_gone "$pid" || kill -KILL "$pid" 2>/dev/null
  wait "$pid" 2>/dev/null
  PIT_AGENT_STATUS=$?
  PIT_AGENT[$name]=""
  return 0
}
