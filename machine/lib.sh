# shellcheck shell=bash
# machine/lib.sh: the node interface the cluster scripts (scripts/*.sh) use. Source it.
#
# One interface, three drivers, one file per family:
#   local       machine/driver-local.sh: network namespaces with their own dockerd on this host
#               (PORTOLAN_DRIVER=local)
#   amazonec2   machine/driver-machine.sh through docker-machine, when the five AWS variables are
#   virtualbox  set (AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_VPC_ID, AWS_DEFAULT_REGION,
#               AWS_ZONE), VirtualBox otherwise; PORTOLAN_DRIVER=virtualbox|amazonec2 forces one.
# Every driver defines:
#   driver_name                       local | virtualbox | amazonec2
#   driver_create NODE ROLE [REGISTRY]  create the node (nothing when it exists) with engine label
#                                     role=ROLE, trusting REGISTRY (host:port) as insecure registry
#   driver_exists NODE                status 0 when the node exists
#   driver_state NODE                 Running | Stopped | ... (status 1: no such node)
#   driver_docker NODE ARGS...        the docker CLI against the node's engine
#   driver_env NODE                   shell lines that point docker at the node (for eval)
#   driver_private_ip NODE            the address other nodes use
#   driver_public_ip NODE             the address users reach (front-end: the router)
#   driver_ssh NODE CMD...            a command run on the node
#   driver_list                       node names
#   driver_engine_dir                 directory on every node that holds the engine's docker.sock
#                                     (may contain the swarm template {{.Node.Hostname}})
#   driver_stop_engine / driver_start_engine NODE   stop / start the node's dockerd
#   driver_rm NODE                    remove the node and everything made for it
#   driver_destroy                    remove every node of the cluster and what the driver made
# Node names: registry, infra, swarm-<id>. Prints nothing on its own; every function fails with a
# message a person can act on.

MACHINE_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

PORTOLAN_IMAGE_TAG=${PORTOLAN_IMAGE_TAG:-latest}
REGISTRY_NODE=registry
# shellcheck disable=SC2034  # used by scripts/cluster-lib.sh
INFRA_NODE=infra
REGISTRY_PORT=5000
# the overlay network every service and the router join; the agent registers the container's
# address on it (SERVICE_NETWORK), so the router reaches instances on any node the same way
PORTOLAN_NETWORK=${PORTOLAN_NETWORK:-portolan}

machine_die() { echo "${0##*/}: $*" >&2; exit 1; }

case ${PORTOLAN_DRIVER:-} in
  local)
    # shellcheck source=machine/driver-local.sh
    . "$MACHINE_DIR/driver-local.sh" ;;
  ""|virtualbox|amazonec2)
    # shellcheck source=machine/driver-machine.sh
    . "$MACHINE_DIR/driver-machine.sh"
    if [ -n "${PORTOLAN_DRIVER:-}" ] && [ "$PORTOLAN_DRIVER" != "$(driver_name)" ]; then
      if [ "$PORTOLAN_DRIVER" = amazonec2 ]; then machine_need_aws_vars; fi
      driver_name() { echo "$PORTOLAN_DRIVER"; }
    fi ;;
  *) machine_die "PORTOLAN_DRIVER must be local, virtualbox or amazonec2, got '$PORTOLAN_DRIVER'" ;;
esac

machine_exists() { driver_exists "$1"; }
machine_docker() { driver_docker "$@"; }

# machine_registry: host:port of the cluster's registry (empty when there is no registry node)
machine_registry() {
  driver_exists "$REGISTRY_NODE" || return 0
  echo "$(driver_private_ip "$REGISTRY_NODE"):$REGISTRY_PORT"
}

# machine_image <name>: the name nodes pull a portolan image by (from the cluster registry)
machine_image() {
  local reg
  reg=$(machine_registry)
  [ -n "$reg" ] || machine_die "no registry node: run scripts/setupRegistry.sh first"
  echo "$reg/$1:$PORTOLAN_IMAGE_TAG"
}

# machine_swarm_nodes: swarm-<id> nodes, by id
machine_swarm_nodes() { driver_list | grep -E '^swarm-[0-9]+$' | sort -t- -k2 -n || true; }

# machine_role <node>: the engine label role
machine_role() {
  driver_docker "$1" info --format '{{range .Labels}}{{println .}}{{end}}' 2>/dev/null | sed -n 's/^role=//p' | head -1
}

# machine_need_manager: fails unless swarm-0 exists and is a swarm manager
machine_need_manager() {
  driver_exists swarm-0 || machine_die "no swarm manager: run scripts/createSwarmNode.sh 0 first"
  [ "$(driver_docker swarm-0 info --format '{{.Swarm.ControlAvailable}}' 2>/dev/null)" = true ] ||
    machine_die "swarm-0 is not a swarm manager (its engine does not answer or swarm init failed)"
}

# machine_path_name <url-path>: the swarm service name for a url-path (hello/v1 -> hello-v1)
machine_path_name() { echo "$1" | tr '/._' '---'; }

# machine_valid_path <url-path>: the normalised path (no leading/trailing '/'), or a usage error
machine_valid_path() {
  local p=${1#/}; p=${p%/}
  if ! [[ "$p" =~ ^[A-Za-z0-9][A-Za-z0-9._/-]*$ ]] || [[ "$p" == *//* ]] || [[ "$p" == *..* ]]; then
    echo "${0##*/}: invalid url-path '$1' (letters, digits, '.', '_', '-', '/')" >&2
    [ -n "${USAGE:-}" ] && echo "usage: $USAGE" >&2
    exit 2
  fi
  echo "$p"
}
