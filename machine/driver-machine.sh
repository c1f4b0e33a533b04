# shellcheck shell=bash
# machine/driver-machine.sh: the `virtualbox` and `amazonec2` drivers, both through
# docker-machine. Sourced by machine/lib.sh.
#
#   amazonec2  when AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_VPC_ID, AWS_DEFAULT_REGION and
#              AWS_ZONE are all set (the seed's five variables); optional AWS_SUBNET_ID,
#              AWS_INSTANCE_TYPE (t2.micro), AWS_SECURITY_GROUP (portolan), AWS_PRIVATE_ONLY=1
#              (nodes other than front-end get no public address), AWS_HTTP_CIDR (who may reach
#              port 80 of the front-end node, default 0.0.0.0/0).
#   virtualbox otherwise (VB_MEMORY 1024, VB_CPUS 1).
# The engine of every node trusts the cluster's registry as an insecure registry
# (--engine-insecure-registry <registry private address>:5000), nothing else.

# driver_name: virtualbox or amazonec2
driver_name() {
  if [ -n "${AWS_ACCESS_KEY_ID:-}" ] || [ -n "${AWS_SECRET_ACCESS_KEY:-}" ] || [ -n "${AWS_VPC_ID:-}" ]; then
    echo amazonec2
  else
    echo virtualbox
  fi
}

machine_need_aws_vars() {
  local v
  for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_VPC_ID AWS_DEFAULT_REGION AWS_ZONE; do
    [ -n "${!v:-}" ] || machine_die "$v is not set (AWS needs AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_VPC_ID, AWS_DEFAULT_REGION, AWS_ZONE; unset all of them for VirtualBox)"
  done
  [[ "$AWS_ZONE" =~ ^[a-z]$ ]] || machine_die "AWS_ZONE must be the zone letter (e.g. a), got '$AWS_ZONE'"
}

machine_need_tools() {
  command -v docker-machine >/dev/null || machine_die "docker-machine not found on PATH (https://github.com/docker/machine/releases)"
  command -v docker >/dev/null || machine_die "docker (the client) not found on PATH"
  if [ "$(driver_name)" = amazonec2 ]; then
    command -v aws >/dev/null || machine_die "aws (awscli) not found on PATH: it opens the security group ports"
    machine_need_aws_vars
  fi
}

# AWS security groups: $AWS_SECURITY_GROUP for every node (swarm and Consul ports only between
# its members) and $AWS_SECURITY_GROUP-web for the front-end node only (port 80).
aws_group_id() { # name: the id of the group in the VPC, created when missing; prints the id
  local name=$1 id
  id=$(aws ec2 describe-security-groups --filters "Name=group-name,Values=$name" "Name=vpc-id,Values=$AWS_VPC_ID" \
       --query 'SecurityGroups[0].GroupId' --output text) || machine_die "aws: cannot list security groups"
  if [ -z "$id" ] || [ "$id" = None ]; then
    id=$(aws ec2 create-security-group --group-name "$name" --vpc-id "$AWS_VPC_ID" \
         --description "portolan cluster ($name)" --query GroupId --output text) ||
      machine_die "aws: cannot create security group $name"
    echo "created security group $name ($id)" >&2
  fi
  echo "$id"
}

aws_allow() { # group-id protocol port source-description aws-source-args...
  local gid=$1 proto=$2 port=$3 what=$4 err; shift 4
  if err=$(aws ec2 authorize-security-group-ingress --group-id "$gid" --protocol "$proto" --port "$port" "$@" 2>&1); then
    echo "opened $port/$proto on $gid to $what"
  elif [[ "$err" == *InvalidPermission.Duplicate* ]]; then
    echo "open already: $port/$proto on $gid to $what"
  else
    machine_die "aws: cannot open $port/$proto on $gid: $err"
  fi
}

aws_security_groups() { # role: sets up the groups this node needs; prints what it opened
  local g=${AWS_SECURITY_GROUP:-portolan} gid wid
  gid=$(aws_group_id "$g")
  aws_allow "$gid" tcp 2377 "members of $g" --source-group "$gid"
  aws_allow "$gid" tcp 7946 "members of $g" --source-group "$gid"
  aws_allow "$gid" udp 7946 "members of $g" --source-group "$gid"
  aws_allow "$gid" udp 4789 "members of $g" --source-group "$gid"
  aws_allow "$gid" tcp 8500 "members of $g" --source-group "$gid"
  aws_allow "$gid" tcp 5000 "members of $g" --source-group "$gid"
  # metrics (docs/monitoring.md): node exporter, agent, templater, HAProxy's exporter; Prometheus
  # on the infra node scrapes them
  for p in 9100 9401 9402 8405; do aws_allow "$gid" tcp "$p" "members of $g" --source-group "$gid"; done
  if [ "$1" = front-end ]; then
    wid=$(aws_group_id "$g-web")
    aws_allow "$wid" tcp 80 "${AWS_HTTP_CIDR:-0.0.0.0/0}" --cidr "${AWS_HTTP_CIDR:-0.0.0.0/0}"
  fi
}

machine_create_args() { # role registry
  local role=$1 reg=$2 a
  if [ "$(driver_name)" = amazonec2 ]; then
    a=(--driver amazonec2 --amazonec2-vpc-id "$AWS_VPC_ID" --amazonec2-region "$AWS_DEFAULT_REGION"
       --amazonec2-zone "$AWS_ZONE" --amazonec2-instance-type "${AWS_INSTANCE_TYPE:-t2.micro}"
       --amazonec2-security-group "${AWS_SECURITY_GROUP:-portolan}" --amazonec2-use-private-address)
    [ "$role" = front-end ] && a+=(--amazonec2-security-group "${AWS_SECURITY_GROUP:-portolan}-web")
    [ -n "${AWS_SUBNET_ID:-}" ] && a+=(--amazonec2-subnet-id "$AWS_SUBNET_ID")
    if [ "${AWS_PRIVATE_ONLY:-0}" = 1 ] && [ "$role" != front-end ]; then
      a+=(--amazonec2-private-address-only)
    fi
  else
    a=(--driver virtualbox --virtualbox-memory "${VB_MEMORY:-1024}" --virtualbox-cpu-count "${VB_CPUS:-1}")
  fi
  [ -n "$reg" ] && a+=(--engine-insecure-registry "$reg")
  [ -n "$role" ] && a+=(--engine-label "role=$role")
  printf '%s\n' "${a[@]}"
}

# driver interface ---------------------------------------------------------------------------

driver_exists() { docker-machine status "$1" >/dev/null 2>&1; }

driver_create() { # node role registry-address(or empty)
  local node=$1 role=$2 reg=${3:-} args
  machine_need_tools
  [ "$(driver_name)" = amazonec2 ] && aws_security_groups "$role"
  driver_exists "$node" && return 0
  mapfile -t args < <(machine_create_args "$role" "$reg")
  docker-machine create "${args[@]}" "$node" || machine_die "docker-machine create $node failed"
}

driver_docker() { # node docker-args...
  local node=$1 envs; shift
  envs=$(docker-machine env "$node") || machine_die "docker-machine env $node failed"
  ( eval "$envs" && docker "$@" )
}

driver_env() { docker-machine env "$1"; }

driver_private_ip() {
  local ip
  if [ "$(driver_name)" = amazonec2 ]; then
    ip=$(docker-machine ssh "$1" "ip -4 -o addr show eth0" | awk '{print $4}' | cut -d/ -f1)
  else
    ip=$(docker-machine ip "$1")
  fi
  [ -n "$ip" ] || machine_die "could not read the private address of $1"
  echo "$ip"
}

driver_public_ip() { docker-machine ip "$1"; }

driver_ssh() { local node=$1; shift; docker-machine ssh "$node" "$*"; }

driver_state() { docker-machine status "$1" 2>/dev/null; }

driver_list() { docker-machine ls -q; }

driver_engine_dir() { echo /var/run; }

driver_stop_engine() { docker-machine ssh "$1" "sudo systemctl stop docker || sudo /etc/init.d/docker stop"; }
driver_start_engine() { docker-machine ssh "$1" "sudo systemctl start docker || sudo /etc/init.d/docker start"; }

driver_rm() { docker-machine rm -y "$1"; }

driver_destroy() { # every node of the cluster (registry, infra, swarm-*), nothing else
  local n
  for n in $(driver_list); do
    case $n in registry|infra|swarm-[0-9]*) driver_rm "$n" ;; esac
  done
}
