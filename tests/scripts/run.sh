#!/usr/bin/env bash
# Suite "scripts": the cluster and service scripts (scripts/, machine/) with bats, against stub
# docker and docker-machine binaries (no VM or cloud account is reachable from a test machine).
cd "$(dirname "$0")" || exit 1
exec bats --tap startService.bats cluster.bats
