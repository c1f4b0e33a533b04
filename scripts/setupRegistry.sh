#!/usr/bin/env bash
# setupRegistry.sh [-h]: creates the registry node (named "registry") running a Docker registry
# on port 5000 (portolan/registry: Debian's docker-registry, built locally by
# scripts/build-registry-image.sh, never pulled), and pushes the portolan images (portolan/agent,
# portolan/router, portolan/catalog, tag $PORTOLAN_IMAGE_TAG) from the local engine into it.
# Every node created afterwards pulls them from there: the registry is plain HTTP, trusted as an
# insecure registry by the cluster's engines only (docs in README "Cluster").
# Driver: PORTOLAN_DRIVER=local, or the AWS variables (amazonec2), or VirtualBox (machine/lib.sh).
# Build the images first: scripts/build-images.sh <build dir> (or the Dockerfiles in images/).
# Idempotent: an existing node, registry or image is kept; changed images are pushed again.
set -euo pipefail
USAGE="setupRegistry.sh [-h]"
case ${1:-} in -h|--help) sed -n '2,11s/^# \{0,1\}//p' "$0"; exit 0 ;; "") ;; *) echo "usage: $USAGE" >&2; exit 2 ;; esac
# shellcheck source=scripts/cluster-lib.sh
. "$(dirname "$0")/cluster-lib.sh"
need_tool docker

for i in agent router catalog; do
  docker image inspect "portolan/$i:$PORTOLAN_IMAGE_TAG" >/dev/null 2>&1 ||
    die "image portolan/$i:$PORTOLAN_IMAGE_TAG is not in the local engine: run scripts/build-images.sh <build dir> first"
done
if ! docker image inspect "portolan/registry:$PORTOLAN_IMAGE_TAG" >/dev/null 2>&1; then
  "$CLUSTER_TOP/scripts/build-registry-image.sh" || die "cannot build portolan/registry"
fi

if driver_exists "$REGISTRY_NODE"; then
  echo "registry node exists"
else
  driver_create "$REGISTRY_NODE" registry ""
  echo "created registry node ($(driver_private_ip "$REGISTRY_NODE"))"
fi

if ! driver_docker "$REGISTRY_NODE" image inspect "portolan/registry:$PORTOLAN_IMAGE_TAG" >/dev/null 2>&1; then
  docker save "portolan/registry:$PORTOLAN_IMAGE_TAG" | driver_docker "$REGISTRY_NODE" load >/dev/null ||
    die "cannot load portolan/registry into the registry node"
fi
state=$(driver_docker "$REGISTRY_NODE" inspect -f '{{.State.Running}}' registry 2>/dev/null || echo none)
case $state in
  true) ;;
  false) driver_docker "$REGISTRY_NODE" start registry >/dev/null ;;
  *) driver_docker "$REGISTRY_NODE" run -d --name registry --restart unless-stopped --net host \
       -v portolan-registry:/var/lib/registry "portolan/registry:$PORTOLAN_IMAGE_TAG" >/dev/null ||
       die "cannot start the registry container" ;;
esac
ok=0
for _ in $(seq 1 120); do
  if driver_docker "$REGISTRY_NODE" exec registry wget -q -O /dev/null "http://127.0.0.1:$REGISTRY_PORT/v2/" 2>/dev/null; then ok=1; break; fi
  sleep 0.5
done
[ $ok = 1 ] || die "the registry does not answer on the registry node's port $REGISTRY_PORT"

for i in agent router catalog; do
  registry_push "portolan/$i:$PORTOLAN_IMAGE_TAG" "portolan/$i:$PORTOLAN_IMAGE_TAG"
done
echo "registry: $(machine_registry) (insecure, cluster network only)"
