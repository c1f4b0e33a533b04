#!/usr/bin/env bash
# scaleNodes.sh [-h] up|down <n> [worker|manager]: adds or removes <n> swarm nodes with the
# cluster scripts; the node command portolan-agent runs for POST /v1/scale-nodes when started
# with -scale-nodes-cmd machine (the agent passes exactly these arguments).
#   up:   each new node gets the next free id (one more than the largest swarm-N), is created by
#         createSwarmNode.sh <id> $PORTOLAN_SCALE_NODE_LABEL (default application; "" for none),
#         promoted for type manager, and waited for (Ready, and its portolan-agent task running:
#         the agent is a global service), at most $PORTOLAN_WAIT seconds (default 180);
#   down: removes the <n> highest-numbered nodes of that type, never swarm-0 nor a front-end node,
#         with removeNode.sh (it drains the node first, so its tasks move elsewhere).
# Prints one line per step on stdout ("created swarm-3", "removed swarm-3"); exits non-zero
# with the failing script's message when a step fails. Rescheduling is the agent's, afterwards.
set -euo pipefail
USAGE="scaleNodes.sh [-h] up|down <n> [worker|manager]"
case ${1:-} in -h|--help) sed -n '2,13s/^# \{0,1\}//p' "$0"; exit 0 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
if [ $# -lt 2 ] || [ $# -gt 3 ]; then usage_error "expected up|down, a count and an optional type"; fi
dir=$1 n=$2 type=${3:-worker}
[[ "$dir" =~ ^(up|down)$ ]] || usage_error "direction must be up or down, got '$dir'"
[[ "$n" =~ ^([1-9]|10)$ ]] || usage_error "count must be 1-10, got '$n'"
[[ "$type" =~ ^(worker|manager)$ ]] || usage_error "type must be worker or manager, got '$type'"
need_tool docker
machine_need_manager
S=$(dirname "$0")
label=${PORTOLAN_SCALE_NODE_LABEL-application}
wait_s=${PORTOLAN_WAIT:-180}

next_id() {
  local max=0 node i
  for node in $(machine_swarm_nodes); do i=${node#swarm-}; [ "$i" -gt "$max" ] && max=$i; done
  echo $((max + 1))
}

node_ready() { # node: Ready in the manager's list and its agent task running
  local nid
  nid=$(driver_docker "$1" info --format '{{.Swarm.NodeID}}' 2>/dev/null) || return 1
  [ -n "$nid" ] || return 1
  [ "$(driver_docker swarm-0 node inspect -f '{{.Status.State}}' "$nid" 2>/dev/null)" = ready ] || return 1
  driver_docker swarm-0 service ps -q --filter "node=$nid" --filter desired-state=running portolan-agent 2>/dev/null |
    grep -q . || return 1
  [ -n "$(driver_docker "$1" ps -q --filter label=com.docker.swarm.service.name=portolan-agent)" ]
}

if [ "$dir" = up ]; then
  for _ in $(seq 1 "$n"); do
    id=$(next_id)
    "$S/createSwarmNode.sh" "$id" ${label:+"$label"} >&2 || die "createSwarmNode.sh $id failed"
    if [ "$type" = manager ]; then
      driver_docker swarm-0 node promote "$(driver_docker "swarm-$id" info --format '{{.Swarm.NodeID}}')" >/dev/null ||
        die "cannot promote swarm-$id"
    fi
    t=0
    until node_ready "swarm-$id"; do
      [ "$t" -lt "$wait_s" ] || die "swarm-$id is not ready (Ready + its agent running) after $wait_s s"
      sleep 1; t=$((t + 1))
    done
    echo "created swarm-$id ($type, ready after ${t} s)"
  done
  exit 0
fi

# down: the highest-numbered nodes of that type; never swarm-0, never a front-end
victims=()
for node in $(machine_swarm_nodes | sort -t- -k2 -rn); do
  [ "$node" = swarm-0 ] && continue
  [ "$(machine_role "$node")" = front-end ] && continue
  nid=$(driver_docker "$node" info --format '{{.Swarm.NodeID}}' 2>/dev/null || true)
  [ -n "$nid" ] || continue
  role=$(driver_docker swarm-0 node inspect -f '{{.Spec.Role}}' "$nid" 2>/dev/null || true)
  [ "$role" = "$type" ] || continue
  victims+=("$node")
  [ ${#victims[@]} -ge "$n" ] && break
done
[ ${#victims[@]} -ge "$n" ] || die "only ${#victims[@]} removable $type node(s), $n asked for"
for node in "${victims[@]}"; do
  if [ "$type" = manager ]; then
    driver_docker swarm-0 node demote "$(driver_docker "$node" info --format '{{.Swarm.NodeID}}')" >/dev/null ||
      die "cannot demote $node"
  fi
  "$S/removeNode.sh" "${node#swarm-}" >&2 || die "removeNode.sh ${node#swarm-} failed"
  echo "removed $node"
done
