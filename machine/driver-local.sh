# shellcheck shell=bash
# machine/driver-local.sh: the `local` driver (PORTOLAN_DRIVER=local). Sourced by machine/lib.sh.
#
# Every node is a Linux network namespace with its own dockerd, on this machine:
#   - netns          /run/netns/$PL_PREFIX-<node>
#   - dockerd        entered with `nsenter --net=...` only (`ip netns exec` remounts /sys and
#                    dockerd then fails with "Devices cgroup isn't mounted") plus its own UTS
#                    namespace (`unshare --uts`) so that its host name, the engine name and the
#                    swarm node name are the node's name;
#                    own socket, pid file, exec root (under $PL_STATE/nodes/<node>/) and data
#                    root ($PL_DATA/<node>), own docker0 subnet (--bip 172.30.<n>.1/24) and
#                    address pool (172.29.<n>.0/24 in /28s), all inside the namespace;
#   - link           a veth pair: $PL_PREFIX-<n> on the host, eth0 in the node, <n> being the last
#                    octet of the node's address $PL_NET.<n>/24;
#   - one bridge     $PL_PREFIX-br (address $PL_NET.1) joins the host ends: nodes reach each other
#                    (swarm 2377, gossip 7946, VXLAN 4789, published ports) and the host reaches
#                    every node. No default route in the nodes: they reach nothing else.
#   - firewall       Docker's FORWARD policy drops bridged traffic; one rule in DOCKER-USER
#                    accepts traffic from this bridge to this bridge, and nothing else.
# Addresses: registry .2, infra .3, swarm-<id> .(10+id). A private node has no public address:
# the public address of a node is its private one (the host can reach it).
# Everything made is recorded under $PL_STATE so that local_destroy removes exactly that.
# Names: PORTOLAN_LOCAL_PREFIX (default pl, <= 5 characters: interface names are <= 15),
# PORTOLAN_LOCAL_NET (default 10.77.0: the first three octets of a /24 used only by the nodes).
# Needs root, iproute2, nsenter/unshare (util-linux), iptables, dockerd.

PL_PREFIX=${PORTOLAN_LOCAL_PREFIX:-pl}
PL_NET=${PORTOLAN_LOCAL_NET:-10.77.0}
PL_STATE=${PORTOLAN_LOCAL_STATE:-/run/portolan-local/$PL_PREFIX}
PL_DATA=${PORTOLAN_LOCAL_DATA:-/var/lib/portolan-local/$PL_PREFIX}
PL_BRIDGE=$PL_PREFIX-br

[[ "$PL_PREFIX" =~ ^[a-z][a-z0-9]{0,4}$ ]] || machine_die "PORTOLAN_LOCAL_PREFIX must be 1-5 lower-case letters/digits, got '$PL_PREFIX'"
[[ "$PL_NET" =~ ^(10|172|192)\.[0-9]{1,3}\.[0-9]{1,3}$ ]] || machine_die "PORTOLAN_LOCAL_NET must be three octets of a private range (e.g. 10.77.0), got '$PL_NET'"

local_need_tools() {
  local t
  [ "$(id -u)" -eq 0 ] || machine_die "the local driver needs root (network namespaces, dockerd)"
  for t in ip nsenter unshare iptables dockerd docker curl setsid; do
    command -v "$t" >/dev/null || machine_die "the local driver needs '$t' (not found on PATH)"
  done
}

# local_octet <node>: last octet of the node's address
local_octet() {
  case $1 in
    registry) echo 2 ;;
    infra) echo 3 ;;
    swarm-[0-9]*) local id=${1#swarm-}; [ "$id" -le 200 ] || machine_die "node id $id too large for the local driver (max 200)"; echo $((10 + id)) ;;
    *) machine_die "local driver: unknown node name '$1' (registry, infra, swarm-<id>)" ;;
  esac
}

local_dir() { echo "$PL_STATE/nodes/$1"; }
local_sock() { echo "$PL_STATE/nodes/$1/docker.sock"; }
local_netns() { echo "$PL_PREFIX-$1"; }

local_pid() { # pid of the node's dockerd, when it runs
  local p
  p=$(cat "$(local_dir "$1")/dockerd.pid" 2>/dev/null) || return 1
  [ -n "$p" ] && kill -0 "$p" 2>/dev/null && echo "$p"
}

# The bridge and its firewall rule, once per cluster (under a lock: scripts may run in parallel)
local_network_up() {
  mkdir -p "$PL_STATE/nodes"
  if ! ip link show "$PL_BRIDGE" >/dev/null 2>&1; then
    if ip -4 route show | grep -q "^$PL_NET\.0/24 "; then
      machine_die "$PL_NET.0/24 is already routed on this host: choose another PORTOLAN_LOCAL_NET"
    fi
    ip link add "$PL_BRIDGE" type bridge || machine_die "cannot create bridge $PL_BRIDGE"
    echo "$PL_BRIDGE" >"$PL_STATE/bridge"
    ip addr add "$PL_NET.1/24" dev "$PL_BRIDGE"
    ip link set "$PL_BRIDGE" up
  fi
  if iptables -S DOCKER-USER >/dev/null 2>&1; then
    if ! iptables -C DOCKER-USER -i "$PL_BRIDGE" -o "$PL_BRIDGE" -j ACCEPT 2>/dev/null; then
      iptables -I DOCKER-USER -i "$PL_BRIDGE" -o "$PL_BRIDGE" -j ACCEPT ||
        machine_die "cannot add the DOCKER-USER rule for $PL_BRIDGE"
    fi
    echo "DOCKER-USER -i $PL_BRIDGE -o $PL_BRIDGE -j ACCEPT" >"$PL_STATE/iptables"
  fi
}

local_dockerd_start() {
  local node=$1 d ns sock n reg=""
  d=$(local_dir "$node"); ns=$(local_netns "$node"); sock=$(local_sock "$node"); n=$(local_octet "$node")
  local_pid "$node" >/dev/null && return 0
  [ -f "$d/registry" ] && reg=$(cat "$d/registry")
  mkdir -p "$d/exec" "$PL_DATA/$node"
  # a containerd left as a zombie by a killed dockerd would be taken for a live one
  rm -f "$d/exec/containerd/containerd.pid"
  local args=(dockerd -H "unix://$sock" --data-root "$PL_DATA/$node" --exec-root "$d/exec"
              --pidfile "$d/dockerd.pid" --bip "172.30.$n.1/24"
              --default-address-pool "base=172.29.$n.0/24,size=28" --log-level warn)
  [ -s "$d/role" ] && args+=(--label "role=$(cat "$d/role")")
  [ -n "$reg" ] && args+=(--insecure-registry "$reg")
  setsid nsenter --net="/run/netns/$ns" unshare --uts -- \
    sh -c 'hostname "$1" && shift && exec "$@"' sh "$node" "${args[@]}" \
    >>"$d/dockerd.log" 2>&1 </dev/null &
  # ready = it answers and reaches its containerd (on a loaded machine /_ping answers seconds
  # before containers can be created: "dial .../containerd.sock: timeout")
  for _ in $(seq 1 600); do
    if docker -H "unix://$sock" version --format '{{range .Server.Components}}{{.Name}} {{end}}' 2>/dev/null |
       grep -q containerd; then
      return 0
    fi
    sleep 0.2
  done
  tail -5 "$d/dockerd.log" >&2
  machine_die "dockerd of $node is not ready on $sock after 120 s (log: $d/dockerd.log)"
}

local_dockerd_stop() { # node: TERM, wait, then its containerd and shims
  local node=$1 d p cpid
  d=$(local_dir "$node")
  if p=$(local_pid "$node"); then
    kill -TERM "$p" 2>/dev/null
    for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  fi
  cpid=$(cat "$d/exec/containerd/containerd.pid" 2>/dev/null || true)
  if [ -n "$cpid" ] && tr '\0' ' ' <"/proc/$cpid/cmdline" 2>/dev/null | grep -q "$d/exec"; then
    kill -TERM "$cpid" 2>/dev/null; sleep 0.5; kill -KILL "$cpid" 2>/dev/null || true
  fi
  for p in $(pgrep -f "containerd-shim.*$d/exec/" 2>/dev/null); do kill -KILL "$p" 2>/dev/null || true; done
}

# driver interface ---------------------------------------------------------------------------

driver_name() { echo local; }

driver_exists() { [ -f "$(local_dir "$1")/role" ]; }

driver_create() { # node role registry-address(or empty)
  local node=$1 role=$2 reg=${3:-} d ns n vh
  local_need_tools
  d=$(local_dir "$node"); ns=$(local_netns "$node"); n=$(local_octet "$node"); vh=$PL_PREFIX-$n
  (
    mkdir -p "$(dirname "$PL_STATE")"
    exec 9>"$PL_STATE.lock"
    flock 9
    local_network_up
  )
  mkdir -p "$d"
  printf '%s' "$role" >"$d/role"
  [ -n "$reg" ] && echo "$reg" >"$d/registry"
  if [ ! -e "/run/netns/$ns" ]; then
    ip netns add "$ns" || machine_die "cannot create network namespace $ns"
  fi
  echo "$ns" >"$d/netns"
  if ! ip link show "$vh" >/dev/null 2>&1; then
    ip link add "$vh" type veth peer name eth0 netns "$ns" || machine_die "cannot create veth $vh"
    ip link set "$vh" master "$PL_BRIDGE"
    ip link set "$vh" up
    ip -n "$ns" addr add "$PL_NET.$n/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" link set lo up
  fi
  echo "$vh" >"$d/veth"
  local_dockerd_start "$node"
}

driver_docker() { # node docker-args...
  local node=$1; shift
  docker -H "unix://$(local_sock "$node")" "$@"
}

# driver_env <node>: what `eval` needs for docker to talk to the node
driver_env() { echo "export DOCKER_HOST=unix://$(local_sock "$1"); unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH"; }

driver_private_ip() { echo "$PL_NET.$(local_octet "$1")"; }
driver_public_ip() { driver_private_ip "$1"; }

# driver_ssh <node> <command...>: a command in the node's network namespace
driver_ssh() { local node=$1; shift; nsenter --net="/run/netns/$(local_netns "$node")" -- "$@"; }

driver_state() { # Running | Stopped | (nothing: no such node)
  driver_exists "$1" || return 1
  if local_pid "$1" >/dev/null; then echo Running; else echo Stopped; fi
}

driver_list() { local f; for f in "$PL_STATE"/nodes/*/role; do [ -f "$f" ] && basename "$(dirname "$f")"; done; return 0; }

# where a container on the node finds the node's engine socket: a directory to bind-mount
# (swarm templates the node name into it) holding docker.sock
driver_engine_dir() { echo "$PL_STATE/nodes/{{.Node.Hostname}}"; }

driver_stop_engine() { local_dockerd_stop "$1"; }
driver_start_engine() { local_dockerd_start "$1"; }

driver_rm() { # node: engine, mounts, data, link, namespace, state
  local node=$1 d ns vh m
  d=$(local_dir "$node"); ns=$(local_netns "$node")
  local_dockerd_stop "$node"
  for _ in 1 2 3; do
    { grep -oE " ($PL_DATA/$node|$d/exec)(/[^ ]*)? " /proc/mounts || true; } | sort -r |
      while read -r m; do umount -l "$m" 2>/dev/null || true; done
  done
  vh=$(cat "$d/veth" 2>/dev/null || true)
  if [ -n "$vh" ]; then ip link del "$vh" 2>/dev/null || true; fi
  if [ -e "/run/netns/$ns" ]; then ip netns del "$ns"; fi
  rm -rf "${PL_DATA:?}/$node" "$d"
  return 0
}

# driver_destroy: every node, then the bridge and the firewall rule; the state directory last
driver_destroy() {
  local n
  for n in $(driver_list); do driver_rm "$n"; done
  if [ -f "$PL_STATE/iptables" ]; then
    while iptables -C DOCKER-USER -i "$PL_BRIDGE" -o "$PL_BRIDGE" -j ACCEPT 2>/dev/null; do
      iptables -D DOCKER-USER -i "$PL_BRIDGE" -o "$PL_BRIDGE" -j ACCEPT
    done
  fi
  if [ -f "$PL_STATE/bridge" ]; then ip link del "$PL_BRIDGE" 2>/dev/null || true; fi
  rm -rf "$PL_STATE" "$PL_STATE.lock"
  rmdir "$PL_DATA" "$(dirname "$PL_DATA")" "$(dirname "$PL_STATE")" 2>/dev/null || true
  return 0
}
