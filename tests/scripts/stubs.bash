# Stub docker and docker-machine for the script tests: each call is appended to $CALLS as one
# line; answers come from files under $STUB_DIR so a test can shape the world it runs in.
setup_stubs() {
  STUB_DIR=$(mktemp -d)
  CALLS=$STUB_DIR/calls
  export STUB_DIR CALLS
  mkdir -p "$STUB_DIR/bin"
  cat >"$STUB_DIR/bin/docker-machine" <<'SH'
#!/usr/bin/env bash
echo "docker-machine $*" >>"$CALLS"
case "$1" in
  status) [ -f "$STUB_DIR/machine-$2" ] || exit 1; echo Running ;;
  create) touch "$STUB_DIR/machine-${@: -1}" ;;
  ip) echo "192.0.2.$(( $(echo "$2" | cksum | cut -c1-2) % 200 + 10 ))" ;;
  env) echo "export DOCKER_HOST=tcp://stub-$2:2376; export STUB_MACHINE=$2" ;;
  ssh) echo "2: eth0    inet 10.0.0.$(( $(echo "$2" | cksum | cut -c1-2) % 200 + 10 ))/24 brd 10.0.0.255 scope global eth0" ;;
  rm) rm -f "$STUB_DIR/machine-${@: -1}" ;;
esac
SH
  cat >"$STUB_DIR/bin/docker" <<'SH'
#!/usr/bin/env bash
echo "docker[${STUB_MACHINE:-local}] $*" >>"$CALLS"
case "$1" in
  info) cat "$STUB_DIR/swarm" 2>/dev/null || echo false ;;
  inspect) exit 1 ;;
  ps) cat "$STUB_DIR/ps" 2>/dev/null ;;
  swarm) [ "$2" = join-token ] && echo SWMTKN-stub ;;
  run) echo 0123456789ab ;;
esac
exit 0
SH
  chmod +x "$STUB_DIR/bin/"*
  PATH="$STUB_DIR/bin:$PATH"
}
teardown_stubs() { rm -rf "$STUB_DIR"; }
