# Stub docker-machine, docker, aws and curl for the script tests: each call is appended to $CALLS
# as one line ("docker[<machine>] ..." for docker against a machine's engine, "docker[local] ..."
# for the user's engine); the world they describe (machines, swarm state, containers, services,
# labels, security groups) lives in files under $STUB_DIR, so a second run of a script sees what
# the first one made, and a test can shape it.
setup_stubs() {
  STUB_DIR=$(mktemp -d)
  CALLS=$STUB_DIR/calls
  export STUB_DIR CALLS
  mkdir -p "$STUB_DIR/bin" "$STUB_DIR/w"
  cat >"$STUB_DIR/bin/docker-machine" <<'SH'
#!/usr/bin/env bash
echo "docker-machine $*" >>"$CALLS"
w=$STUB_DIR/w
octet() { case $1 in registry) echo 2 ;; infra) echo 3 ;; swarm-*) echo $((10 + ${1#swarm-})) ;; *) echo 99 ;; esac; }
case "$1" in
  status) [ -f "$w/machine-$2" ] || { echo "Host does not exist: \"$2\"" >&2; exit 1; }; echo Running ;;
  create) touch "$w/machine-${@: -1}" ;;
  ip) [ -f "$w/machine-$2" ] || exit 1; echo "192.0.2.$(octet "$2")" ;;
  env) echo "export DOCKER_HOST=tcp://192.0.2.$(octet "$2"):2376; export STUB_MACHINE=$2" ;;
  ssh) echo "2: eth0    inet 10.0.0.$(octet "$2")/24 brd 10.0.0.255 scope global eth0" ;;
  ls) for f in "$w"/machine-*; do [ -f "$f" ] && echo "${f##*/machine-}"; done; [ -f "$w/machine-other" ] || true ;;
  rm) rm -f "$w/machine-${@: -1}" ;;
esac
exit 0
SH
  cat >"$STUB_DIR/bin/docker" <<'SH'
#!/usr/bin/env bash
m=${STUB_MACHINE:-local}
echo "docker[$m] $*" >>"$CALLS"
w=$STUB_DIR/w
name_of() { local prev=""; for a in "$@"; do [ "$prev" = --name ] && { echo "$a"; return; }; prev=$a; done; }
case "$1" in
  info)
    case "$*" in
      *LocalNodeState*ControlAvailable*) if [ -f "$w/swarm-$m" ]; then [ "$m" = swarm-0 ] && echo "active true" || echo "active false"; else echo "inactive false"; fi ;;
      *LocalNodeState*) [ -f "$w/swarm-$m" ] && echo active || echo inactive ;;
      *ControlAvailable*) if [ "$m" = local ]; then cat "$STUB_DIR/swarm" 2>/dev/null || echo false;
                          elif [ -f "$w/swarm-$m" ] && [ "$m" = swarm-0 ]; then echo true; else echo false; fi ;;
      *NodeID*) echo "id-$m" ;;
      *Labels*) echo "role=$(cat "$w/role-$m" 2>/dev/null)" ;;
    esac ;;
  swarm)
    case "$2" in
      init|join) touch "$w/swarm-$m" ;;
      join-token) echo SWMTKN-stub ;;
      leave) rm -f "$w/swarm-$m" ;;
    esac ;;
  run) n=$(name_of "$@"); touch "$w/ctr-$m-$n"; echo 0123456789ab ;;
  start) ;;
  inspect) # -f FORMAT NAME
    [ -f "$w/ctr-$m-${@: -1}" ] || exit 1
    case "$3" in *Running*) echo true ;; *portolan.consul*) echo consul ;; esac ;;
  image) # image inspect [-f X] REF
    if [ "$m" = local ]; then [ -f "$STUB_DIR/no-local-images" ] && exit 1; echo sha256:local; exit 0; fi
    ref=${@: -1}; [ -f "$w/img-$m-${ref//\//_}" ] || exit 1; echo sha256:local ;;
  tag) touch "$w/img-$m-${3//\//_}" ;;
  push) ref=${2#*/}; touch "$w/pushed-${ref//\//_}" ;;
  exec) # exec CTR wget -q -O- URL
    url=${@: -1}
    case $url in
      */v2/) ;;
      */tags/list) r=${url#*/v2/}; r=${r%/tags/list}; for f in "$w"/pushed-"${r//\//_}":*; do [ -f "$f" ] && echo "{\"tags\":[\"${f##*:}\"]}"; done ;;
      */v1/status/leader) echo '"10.0.0.3:8300"' ;;
      */v1/catalog/services) echo '{}' ;;
    esac ;;
  network)
    case "$2" in
      inspect) [ -f "$w/net-$3" ] || exit 1 ;;
      create) touch "$w/net-${@: -1}" ;;
    esac ;;
  service)
    case "$2" in
      inspect) [ -f "$w/svc-${@: -1}" ] || exit 1; case "$*" in *portolan.path*) cat "$w/svc-${@: -1}" ;; esac ;;
      create) n=$(name_of "$@"); p=$(echo "$*" | sed -n 's/.*--label portolan.path=\([^ ]*\).*/\1/p'); echo "$p" >"$w/svc-$n" ;;
      rm) rm -f "$w/svc-$3" ;;
    esac ;;
  node)
    case "$2" in
      update) case "$*" in *--label-add*) r=$(echo "$*" | sed -n 's/.*role=\([^ ]*\).*/\1/p'); echo "$r" >"$w/nlabel-${@: -1}" ;; esac ;;
      inspect) x=${@: -1}; [ -f "$w/noderm-$x" ] && exit 1
               case "$*" in *Hostname*) echo "${x#id-}" ;; *Labels*) cat "$w/nlabel-$x" 2>/dev/null || echo ;; esac ;;
      ls) want=$(echo "$*" | sed -n 's/.*node.label=role=\([^ ]*\).*/\1/p')
          for f in "$w"/nlabel-*; do [ -f "$f" ] && [ "$(cat "$f")" = "$want" ] && echo "${f##*/nlabel-}"; done; true ;;
      ps) ;;
      rm) touch "$w/noderm-${@: -1}"; rm -f "$w/nlabel-${@: -1}" ;;
    esac ;;
  save) shift; echo "$*" >"$w/saved" ;;
  load) for r in $(cat "$w/saved" 2>/dev/null); do touch "$w/img-$m-${r//\//_}"; done ;;
  ps) cat "$STUB_DIR/ps" 2>/dev/null ;;
esac
exit 0
SH
  cat >"$STUB_DIR/bin/aws" <<'SH'
#!/usr/bin/env bash
echo "aws $*" >>"$CALLS"
w=$STUB_DIR/w
arg() { local prev=""; for a in "$@"; do [ "$prev" = "$want" ] && { echo "$a"; return; }; prev=$a; done; }
case "$2" in
  describe-security-groups) n=$(echo "$*" | sed -n 's/.*Name=group-name,Values=\([^ ]*\).*/\1/p')
    if [ -f "$w/sg-$n" ]; then cat "$w/sg-$n"; else echo None; fi ;;
  create-security-group) want=--group-name; n=$(arg "$@"); echo "sg-$n" >"$w/sg-$n"; echo "sg-$n" ;;
  authorize-security-group-ingress) k=$(echo "$*" | tr ' /' '__')
    if [ -f "$w/rule-$k" ]; then echo "An error occurred (InvalidPermission.Duplicate) when calling the AuthorizeSecurityGroupIngress operation: the specified rule already exists" >&2; exit 254; fi
    touch "$w/rule-$k" ;;
esac
exit 0
SH
  cat >"$STUB_DIR/bin/curl" <<'SH'
#!/usr/bin/env bash
echo "curl $*" >>"$CALLS"
case "$*" in *%{http_code}*) echo 200 ;; esac
exit 0
SH
  chmod +x "$STUB_DIR/bin/"*
  PATH="$STUB_DIR/bin:$PATH"
}
teardown_stubs() { rm -rf "$STUB_DIR"; }

# calls_of PATTERN: the recorded calls matching an ERE, in order
calls_of() { grep -E "$1" "$CALLS" || true; }
