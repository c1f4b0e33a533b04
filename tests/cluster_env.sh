# shellcheck shell=bash
# tests/cluster_env.sh: the set-up every suite that brings up a `local` cluster of its own shares
# (tests/cluster, logging, monitoring, scaling-cluster), sourced after tests/lib.sh.
#   cluster_env PREFIX TAG OCTET IMAGE...
# Sourcing it sets T0 (the suite's start) and S (scripts/) and defines bail (a failed test, the
# wall time, the end of the plan). cluster_env checks that it runs as root with the daemons built,
# then sets and exports PORTOLAN_DRIVER=local, PORTOLAN_LOCAL_PREFIX=<PREFIX><run id>,
# PORTOLAN_IMAGE_TAG=<TAG><run id>, PORTOLAN_WAIT, PORTOLAN_LOCAL_NET (a free 10.<OCTET>.N/24,
# claimed with a file under /run/portolan-local-nets so that suites started at the same moment
# never pick the same one); sets NET, STATE, DATA, LOG; defines leftovers (what this run left on
# the host, one line each, empty when nothing), force_clean, run/show_log/checkr (a script's
# output to $LOG, its last lines shown when it fails). The trap removes IMAGE... (with the run's
# tag appended) and then, by hand, whatever destroyCluster.sh left.

# shellcheck disable=SC2034  # T0, S, NET, LOG and DATA are the suites' to read
T0=$SECONDS
S=$TOP/scripts

bail() { not_ok "$1"; diag "wall time: $((SECONDS - T0)) s"; done_testing; exit 1; }

# shellcheck disable=SC2034
cluster_env() {
  local pfx=$1 tag=$2 oct=$3 o b img imgs=""
  shift 3
  [ "$(id -u)" -eq 0 ] || bail "runs as root (network namespaces, dockerd)"
  for b in portolan-agent portolan-catalog portolan-templater; do
    [ -x "$BUILD/$b" ] || bail "$b built in $BUILD"
  done
  RID=$(printf '%02x' $(( (RANDOM ^ $$) & 0xff )))
  export PORTOLAN_DRIVER=local PORTOLAN_LOCAL_PREFIX=$pfx$RID PORTOLAN_IMAGE_TAG=$tag$RID PORTOLAN_WAIT=180
  NET=""
  mkdir -p /run/portolan-local-nets
  for o in $(shuf -i 100-250); do
    ip -4 route show | grep -q "^10\.$oct\.$o\." && continue
    ip -4 addr show | grep -q "inet 10\.$oct\.$o\." && continue
    # the claim: created only if absent (noclobber), so two suites never share a /24
    ( set -C; echo "$$ $PORTOLAN_LOCAL_PREFIX" >"/run/portolan-local-nets/10.$oct.$o" ) 2>/dev/null || continue
    NET=10.$oct.$o; break
  done
  [ -n "$NET" ] || bail "a free 10.$oct.N.0/24"
  cleanup_add "rm -f /run/portolan-local-nets/$NET"
  export PORTOLAN_LOCAL_NET=$NET
  STATE=/run/portolan-local/$PORTOLAN_LOCAL_PREFIX
  DATA=/var/lib/portolan-local/$PORTOLAN_LOCAL_PREFIX
  diag "prefix $PORTOLAN_LOCAL_PREFIX, nodes on $NET.0/24, images :$PORTOLAN_IMAGE_TAG"
  for img in "$@"; do imgs="$imgs $img:$PORTOLAN_IMAGE_TAG"; done
  # the trap: the script first, then by hand whatever it left (reported by the suite's last test)
  [ -n "$imgs" ] && cleanup_add "docker rmi$imgs >/dev/null 2>&1"
  cleanup_add "force_clean"
  LOG=$TEST_TMP/scripts.log
}

leftovers() {
  ip netns list 2>/dev/null | grep -E "^$PORTOLAN_LOCAL_PREFIX-" | sed 's/^/netns /'
  ip -br link 2>/dev/null | awk '{print $1}' | grep -E "^$PORTOLAN_LOCAL_PREFIX-" | sed 's/^/link /'
  pgrep -af "$STATE/" 2>/dev/null | sed 's/^/process /'
  grep -E " ($STATE|$DATA)" /proc/mounts | awk '{print "mount " $2}'
  iptables -S DOCKER-USER 2>/dev/null | grep -- "-i $PORTOLAN_LOCAL_PREFIX-br" | sed 's/^/iptables /'
  [ -e "$STATE" ] && echo "dir $STATE"
  [ -e "$DATA" ] && echo "dir $DATA"
  return 0
}

force_clean() {
  [ -e "$STATE" ] || return 0
  "$TOP/scripts/destroyCluster.sh" >/dev/null 2>&1
  local p
  for p in $(pgrep -f "$STATE/"); do kill -KILL "$p"; done
  grep -oE " ($STATE|$DATA)[^ ]* " /proc/mounts | sort -r | while read -r m; do umount -l "$m"; done
  for p in $(ip netns list | awk '{print $1}' | grep -E "^$PORTOLAN_LOCAL_PREFIX-"); do ip netns del "$p"; done
  for p in $(ip -br link | awk '{print $1}' | grep -E "^$PORTOLAN_LOCAL_PREFIX-" | cut -d@ -f1); do ip link del "$p"; done
  while iptables -D DOCKER-USER -i "$PORTOLAN_LOCAL_PREFIX-br" -o "$PORTOLAN_LOCAL_PREFIX-br" -j ACCEPT 2>/dev/null; do :; done
  rm -rf "$STATE" "$STATE.lock" "$DATA"
}

run() { echo "\$ $*" >>"$LOG"; "$@" >>"$LOG" 2>&1; }
show_log() { tail -15 "$LOG" | sed 's/^/#   /'; }
checkr() { local d=$1; shift; if "$@"; then ok "$d"; else not_ok "$d"; show_log; fi; }
