#!/usr/bin/env bash
# scripts/quickstart.sh [start|stop|status]: the single-host stack on this machine.
#   start (default): installs what is missing, builds, then starts
#     portolan-catalog   on 127.0.0.1:8500 (the embedded Consul-API catalog, state in $RUN/catalog)
#     dockerd            if no Docker engine answers
#     portolan-agent     registering this engine's published container ports
#     portolan-templater supervising HAProxy on $PORTOLAN_PROXY_BIND (default 127.0.0.1:8080)
#     a demo service     hello/v1 (2 containers of a locally built busybox image, tagged rest)
#   and waits until http://$PORTOLAN_PROXY_BIND/hello/v1/ answers through HAProxy.
#   stop: stops what start started (demo containers, agent, templater + HAProxy, catalog, dockerd).
# Environment: PORTOLAN_RUN (state and logs, default /tmp/portolan-quickstart),
# PORTOLAN_PROXY_BIND, PORTOLAN_CATALOG_LISTEN (default 127.0.0.1:8500), BUILD.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${BUILD:-$TOP/build}
RUN=${PORTOLAN_RUN:-/tmp/portolan-quickstart}
PROXY=${PORTOLAN_PROXY_BIND:-127.0.0.1:8080}
CATALOG=${PORTOLAN_CATALOG_LISTEN:-127.0.0.1:8500}
IMAGE=portolan-demo/hello:latest

say() { printf '%s\n' "$*"; }
pidfile_alive() { [ -f "$RUN/$1.pid" ] && kill -0 "$(cat "$RUN/$1.pid")" 2>/dev/null; }
stop_one() {
  if pidfile_alive "$1"; then
    kill "$(cat "$RUN/$1.pid")" 2>/dev/null || true
    for _ in $(seq 1 50); do pidfile_alive "$1" || break; sleep 0.1; done
    pidfile_alive "$1" && kill -9 "$(cat "$RUN/$1.pid")" 2>/dev/null || true
    say "stopped $1"
  fi
  rm -f "$RUN/$1.pid"
}

stop() {
  if docker version >/dev/null 2>&1; then
    ids=$(docker ps -aq --filter label=portolan.quickstart=1)
    [ -n "$ids" ] && docker rm -f $ids >/dev/null && say "removed demo containers"
    docker network rm portolan-demo >/dev/null 2>&1 || true
  fi
  stop_one agent; stop_one templater; stop_one catalog; stop_one dockerd
}

status() {
  for p in dockerd catalog agent templater; do
    if pidfile_alive "$p"; then say "$p: running (pid $(cat "$RUN/$p.pid"))"; else say "$p: not running"; fi
  done
  curl -s "http://$CATALOG/v1/catalog/services" && echo
}

wait_for() { # description seconds command...
  local what=$1 secs=$2; shift 2
  for _ in $(seq 1 $((secs * 10))); do "$@" >/dev/null 2>&1 && return 0; sleep 0.1; done
  say "quickstart: $what did not come up; logs in $RUN"; return 1
}

build_demo_image() {
  docker image inspect "$IMAGE" >/dev/null 2>&1 && return 0
  local root; root=$(mktemp -d)
  mkdir -p "$root/bin" "$root/www"
  cp /bin/busybox "$root/bin/busybox"
  for a in sh httpd hostname cat; do ln -s busybox "$root/bin/$a"; done
  # each container answers with its own hostname, so round robin is visible
  cat >"$root/bin/start" <<'SH'
#!/bin/sh
echo "hello from $(hostname)" >/www/index.html
exec httpd -f -p 80 -h /www
SH
  chmod +x "$root/bin/start"
  tar -C "$root" -c . | docker import -c 'CMD ["/bin/start"]' -c 'EXPOSE 80' - "$IMAGE" >/dev/null
  rm -rf "$root"
}

start() {
  mkdir -p "$RUN"
  "$TOP/scripts/deps.sh"
  say "== building in $BUILD"
  "$TOP/scripts/build.sh" "$BUILD"

  if ! docker version >/dev/null 2>&1; then
    say "== starting dockerd"
    dockerd >"$RUN/dockerd.log" 2>&1 & echo $! >"$RUN/dockerd.pid"
    wait_for dockerd 30 docker version
  fi

  if ! pidfile_alive catalog; then
    say "== portolan-catalog on $CATALOG"
    "$BUILD/portolan-catalog" -listen "$CATALOG" -data-dir "$RUN/catalog" >"$RUN/catalog.log" 2>&1 &
    echo $! >"$RUN/catalog.pid"
    wait_for portolan-catalog 10 curl -sf "http://$CATALOG/v1/status/leader"
  fi

  if ! pidfile_alive agent; then
    say "== portolan-agent"
    "$BUILD/portolan-agent" -ip 127.0.0.1 -cleanup -resync 60s "consul://$CATALOG" >"$RUN/agent.log" 2>&1 &
    echo $! >"$RUN/agent.pid"
  fi

  if ! pidfile_alive templater; then
    say "== portolan-templater + HAProxy on $PROXY"
    "$BUILD/portolan-templater" -consul "consul://$CATALOG" -bind "$PROXY" -config "$RUN/haproxy.cfg" \
      -base "$TOP/haproxy/haproxy.cfg.base" -haproxy-bin "$(command -v haproxy)" -wait 50ms:500ms \
      >"$RUN/templater.log" 2>&1 &
    echo $! >"$RUN/templater.pid"
  fi

  say "== demo service hello/v1 (2 containers)"
  build_demo_image
  # a network of its own: independent of the default bridge (docker0) being there
  docker network inspect portolan-demo >/dev/null 2>&1 || docker network create portolan-demo >/dev/null
  if [ -z "$(docker ps -q --filter label=portolan.quickstart=1)" ]; then
    docker rm -f portolan-demo-hello-1 portolan-demo-hello-2 >/dev/null 2>&1 || true
    for i in 1 2; do
      docker run -d --label portolan.quickstart=1 --name "portolan-demo-hello-$i" --network portolan-demo -p 127.0.0.1::80 \
        -e SERVICE_NAME=hello/v1 -e SERVICE_TAGS=rest "$IMAGE" >/dev/null
    done
  fi
  wait_for "the route /hello/v1" 30 curl -sf "http://$PROXY/hello/v1/"
  say ""
  say "portolan is up:"
  say "  catalog   http://$CATALOG/v1/catalog/services"
  say "  proxy     http://$PROXY/hello/v1/   -> $(curl -s "http://$PROXY/hello/v1/")"
  say "  services  scripts/startService.sh <url-path> <image>"
  say "  stop      scripts/quickstart.sh stop      (logs in $RUN)"
}

case "${1:-start}" in
  start) start ;;
  stop) stop ;;
  status) status ;;
  *) echo "usage: $0 [start|stop|status]" >&2; exit 2 ;;
esac
