#!/usr/bin/env bash
# destroyCluster.sh [-h]: removes the whole cluster: every swarm node, the infra and registry
# nodes, and on the local target everything the driver made on this host (namespaces, dockerds,
# links, the bridge, mounts, the firewall rule, state and data directories). Docker Machine
# drivers remove only the machines named registry, infra and swarm-<id>. Running it when nothing
# is left does nothing.
set -euo pipefail
USAGE="destroyCluster.sh [-h]"
case ${1:-} in -h|--help) sed -n '2,6s/^# \{0,1\}//p' "$0"; exit 0 ;; "") ;; *) echo "usage: $USAGE" >&2; exit 2 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
if [ "$(driver_name)" != local ]; then need_tool docker-machine; fi
driver_destroy
echo "cluster removed ($(driver_name))"
