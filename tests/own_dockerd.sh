# shellcheck shell=bash
# tests/own_dockerd.sh: a dockerd of the suite's own, on the host's network namespace, so that a
# test may stop, kill and restart it without touching the shared dockerd other suites use.
# Source it after tests/lib.sh, then call own_dockerd_start [extra dockerd flags]; it exports
# DOCKER_HOST (unix:// its socket: the docker CLI, tests/images/build.sh and portolan-agent then
# all use it) and registers a cleanup that removes what it made (containers, data root, exec root,
# mounts). Owned, apart from the shared dockerd's:
#   socket, pid file, exec root, data root   under $OWN_DOCKERD_DIR (default /tmp/pt-dockerd-$$)
#   no docker0 (--bridge=none); networks      from --default-address-pool 10.127.<n>.0/24 (one /24 network),
#                                             a /24 no route on the host uses
#   no firewall rules (--iptables=false)      published ports are served by docker-proxy on the
#                                             host's loopback, which reaches the container over
#                                             the network's bridge (routed, no NAT needed)
#   its own containerd                        (started by dockerd under the exec root)
# OWN_DOCKERD_NETNS=1: the caller runs in a network namespace of its own (tests/faults does), so
# the dockerd may have firewall rules there: --iptables=true --userland-proxy=false; published
# ports are then DNAT rules, which outlive the daemon when it stops with --live-restore (the
# docker-proxy processes of the default die with it: Docker starts them with a parent-death
# signal).
# Functions: own_dockerd_start [flags], own_dockerd_stop [TERM|KILL] (the daemon only: with
# --live-restore its containers keep running), own_dockerd_restart (stop + start, same flags),
# own_dockerd_pid.

OWN_DOCKERD_DIR=${OWN_DOCKERD_DIR:-/tmp/pt-dockerd-$$}
OWN_DOCKERD_FLAGS=()

own_dockerd_pid() { local p; p=$(cat "$OWN_DOCKERD_DIR/dockerd.pid" 2>/dev/null) && kill -0 "$p" 2>/dev/null && echo "$p"; }

# a /24 of 10.127.0.0/16 that no route and no address on the host uses
_own_dockerd_pool() {
  local o
  for o in $(shuf -i 1-250); do
    ip -4 route show | grep -q "^10\.127\.$o\." && continue
    ip -4 addr show | grep -q "inet 10\.127\.$o\." && continue
    echo "10.127.$o.0/24"; return 0
  done
  return 1
}

_own_dockerd_launch() {
  local d=$OWN_DOCKERD_DIR
  # the pid file of a containerd that is gone (its pid may be reused) would be taken for a live
  # one; a live one (left running by a stop with --live-restore) is reused
  local cp
  cp=$(cat "$d/exec/containerd/containerd.pid" 2>/dev/null)
  if [ -z "$cp" ] || ! tr '\0' ' ' <"/proc/$cp/cmdline" 2>/dev/null | grep -q "$d/exec"; then
    rm -f "$d/exec/containerd/containerd.pid"
  fi
  local fw=(--iptables=false --ip-masq=false)
  [ "${OWN_DOCKERD_NETNS:-0}" = 1 ] && fw=(--iptables=true --userland-proxy=false)
  setsid dockerd -H "unix://$d/docker.sock" --data-root "$d/data" --exec-root "$d/exec" \
    --pidfile "$d/dockerd.pid" --bridge=none "${fw[@]}" \
    --default-address-pool "base=$OWN_DOCKERD_POOL,size=24" --log-level warn \
    "${OWN_DOCKERD_FLAGS[@]}" >>"$d/dockerd.log" 2>&1 </dev/null &
  # ready = it answers and reaches its containerd
  local _
  for _ in $(seq 1 600); do
    if docker version --format '{{range .Server.Components}}{{.Name}} {{end}}' 2>/dev/null | grep -q containerd; then
      return 0
    fi
    sleep 0.2
  done
  tail -5 "$d/dockerd.log" >&2
  return 1
}

own_dockerd_start() {
  command -v dockerd >/dev/null || return 1
  OWN_DOCKERD_FLAGS=("$@")
  OWN_DOCKERD_POOL=$(_own_dockerd_pool) || return 1
  mkdir -p "$OWN_DOCKERD_DIR/exec" "$OWN_DOCKERD_DIR/data"
  export DOCKER_HOST=unix://$OWN_DOCKERD_DIR/docker.sock
  unset DOCKER_TLS_VERIFY DOCKER_CERT_PATH DOCKER_CONTEXT
  cleanup_add "_own_dockerd_remove"
  _own_dockerd_launch
}

own_dockerd_stop() { # [TERM|KILL]: the daemon (and, without --live-restore, its containers)
  local p sig=${1:-TERM}
  p=$(own_dockerd_pid) || return 0
  kill -"$sig" "$p" 2>/dev/null
  for _ in $(seq 1 300); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
  kill -0 "$p" 2>/dev/null && kill -KILL "$p" 2>/dev/null
  return 0
}
own_dockerd_restart() { own_dockerd_stop "${1:-TERM}"; _own_dockerd_launch; }

_own_dockerd_remove() {
  local d=$OWN_DOCKERD_DIR p m
  if own_dockerd_pid >/dev/null; then
    docker ps -aq | xargs -r docker rm -f >/dev/null 2>&1
    # without --live-restore, stopping dockerd stops what is left
    OWN_DOCKERD_FLAGS=(); own_dockerd_stop TERM
  fi
  p=$(cat "$d/exec/containerd/containerd.pid" 2>/dev/null)
  if [ -n "$p" ] && tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grep -q "$d/exec"; then
    kill -TERM "$p" 2>/dev/null; sleep 0.5; kill -KILL "$p" 2>/dev/null
  fi
  for p in $(pgrep -f "containerd-shim.*$d/exec/" 2>/dev/null); do kill -KILL "$p" 2>/dev/null; done
  for p in $(pgrep -f "docker-proxy.*" 2>/dev/null); do
    # docker-proxy processes of this daemon only: their parent is gone or is our dockerd
    [ "$(ps -o ppid= -p "$p" | tr -d ' ')" = 1 ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q -- "-container-ip 10\.127\." &&
      grep -q "${OWN_DOCKERD_POOL%.0/24}" <"/proc/$p/cmdline" && kill "$p" 2>/dev/null
  done
  grep -oE " $d/[^ ]* " /proc/mounts | sort -r | while read -r m; do umount -l "$m" 2>/dev/null; done
  rm -rf "$d"
}
