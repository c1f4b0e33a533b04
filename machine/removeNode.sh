#!/usr/bin/env bash
# removeNode.sh <id>: drains node-<id> out of the swarm and removes the machine. Its agent's
# services vanish with it; `-cleanup` on the other agents does not touch them (node identity).
set -euo pipefail
. "$(dirname "$0")/lib.sh"
[ $# -eq 1 ] && [[ "$1" =~ ^[0-9]{1,3}$ ]] || { echo "usage: $0 <id>" >&2; exit 2; }
node="node-$1"
machine_exists "$node" || machine_die "no machine $node"
machine_docker "$node" stop portolan-agent >/dev/null 2>&1 || true  # deregisters on exit
if [ "$1" != 0 ] && machine_exists node-0; then
  machine_docker node-0 node update --availability drain "$node" >/dev/null 2>&1 || true
  machine_docker "$node" swarm leave >/dev/null 2>&1 || true
  machine_docker node-0 node rm --force "$node" >/dev/null 2>&1 || true
fi
docker-machine rm -y "$node"
