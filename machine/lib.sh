# machine/lib.sh: shared by the node provisioning scripts. Source it.
# Chooses the Docker Machine driver from the environment:
#   AWS (amazonec2) when AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_VPC_ID are set
#     (plus AWS_DEFAULT_REGION, AWS_ZONE, optional AWS_SUBNET_ID, AWS_INSTANCE_TYPE,
#     AWS_SECURITY_GROUP, AWS_PRIVATE_ONLY=1 to give non-front-end nodes no public address);
#   VirtualBox otherwise (VB_MEMORY, VB_CPUS).
# Prints nothing on its own; every function fails with a message a person can act on.

PORTOLAN_IMAGE_TAG=${PORTOLAN_IMAGE_TAG:-latest}
PORTOLAN_AGENT_IMAGE=${PORTOLAN_AGENT_IMAGE:-portolan/agent:$PORTOLAN_IMAGE_TAG}
PORTOLAN_ROUTER_IMAGE=${PORTOLAN_ROUTER_IMAGE:-portolan/router:$PORTOLAN_IMAGE_TAG}
CONSUL_IMAGE=${CONSUL_IMAGE:-hashicorp/consul:1.16}
INFRA_NODE=${INFRA_NODE:-infra}

machine_die() { echo "machine: $*" >&2; exit 1; }

machine_on_aws() {
  [ -n "${AWS_ACCESS_KEY_ID:-}" ] && [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] && [ -n "${AWS_VPC_ID:-}" ]
}

# machine_driver_args <role>: the docker-machine create arguments for this environment
machine_driver_args() {
  local role=${1:-}
  if machine_on_aws; then
    [ -n "${AWS_DEFAULT_REGION:-}" ] || machine_die "AWS_DEFAULT_REGION is not set"
    [ -n "${AWS_ZONE:-}" ] || machine_die "AWS_ZONE is not set (the letter of the availability zone, e.g. a)"
    local a=(--driver amazonec2 --amazonec2-vpc-id "$AWS_VPC_ID" --amazonec2-region "$AWS_DEFAULT_REGION"
             --amazonec2-zone "$AWS_ZONE" --amazonec2-instance-type "${AWS_INSTANCE_TYPE:-t2.micro}"
             --amazonec2-security-group "${AWS_SECURITY_GROUP:-portolan}" --amazonec2-use-private-address)
    [ -n "${AWS_SUBNET_ID:-}" ] && a+=(--amazonec2-subnet-id "$AWS_SUBNET_ID")
    if [ "${AWS_PRIVATE_ONLY:-0}" = 1 ] && [ "$role" != front-end ]; then
      a+=(--amazonec2-private-address-only)
    fi
    printf '%s\n' "${a[@]}"
  else
    printf '%s\n' --driver virtualbox --virtualbox-memory "${VB_MEMORY:-1024}" --virtualbox-cpu-count "${VB_CPUS:-1}"
  fi
}

# machine_private_ip <machine>: the address other nodes use (private in a VPC)
machine_private_ip() {
  local m=$1
  if machine_on_aws; then
    docker-machine ssh "$m" "ip -4 -o addr show eth0" | awk '{print $4}' | cut -d/ -f1
  else
    docker-machine ip "$m"
  fi
}

machine_exists() { docker-machine status "$1" >/dev/null 2>&1; }

# machine_docker <machine> <docker args...>: run docker against that machine's engine (TLS)
machine_docker() {
  local m=$1; shift
  ( eval "$(docker-machine env "$m")" && docker "$@" )
}
