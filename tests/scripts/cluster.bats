#!/usr/bin/env bats
# The cluster scripts (scripts/setupRegistry.sh ... destroyCluster.sh) on the docker-machine
# drivers, against stub docker-machine, docker, aws and curl that record every call (stubs.bash):
# the exact command sequences of the VirtualBox flow and of the AWS VPC flow, idempotency, and
# the errors for bad arguments, missing variables and missing tools. (The local driver runs the
# same scripts against real engines in tests/cluster.)
load stubs
S="$BATS_TEST_DIRNAME/../../scripts"
setup() {
  setup_stubs
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_VPC_ID AWS_DEFAULT_REGION AWS_ZONE AWS_PRIVATE_ONLY \
        AWS_SUBNET_ID AWS_SECURITY_GROUP AWS_HTTP_CIDR PORTOLAN_DRIVER PORTOLAN_IMAGE_TAG CONSUL_IMAGE
}
teardown() { teardown_stubs; }

aws_env() {
  export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_VPC_ID=vpc-1 AWS_DEFAULT_REGION=eu-west-1 AWS_ZONE=a
}
flow() {
  "$S/setupRegistry.sh" && "$S/createInfraNode.sh" && "$S/createSwarmNode.sh" 0 &&
    "$S/createSwarmNode.sh" 1 front-end && "$S/createSwarmNode.sh" 2 application &&
    "$S/startService.sh" hello/v1 my/hello:1
}
# the calls that change something, in order
changes() {
  calls_of '^docker-machine (create|rm)|^aws ec2 (create|authorize)|\] (run|swarm (init|join|leave)|network create|service (create|update|rm|scale)|node (update|rm)|push)( |$)'
}

@test "VirtualBox: the seed's flow, command by command" {
  run flow
  [ "$status" -eq 0 ]
  [[ "$output" == *"http://192.0.2.11/hello/v1/"* ]]
  VB="docker-machine create --driver virtualbox --virtualbox-memory 1024 --virtualbox-cpu-count 1"
  R=192.0.2.2:5000
  expected="$VB --engine-label role=registry registry
docker[registry] run -d --name registry --restart unless-stopped --net host -v portolan-registry:/var/lib/registry portolan/registry:latest
docker[registry] push 127.0.0.1:5000/portolan/agent:latest
docker[registry] push 127.0.0.1:5000/portolan/router:latest
docker[registry] push 127.0.0.1:5000/portolan/catalog:latest
$VB --engine-insecure-registry $R --engine-label role=infra infra
docker[infra] run -d -q --name consul --restart unless-stopped --net host --label portolan.consul=consul hashicorp/consul:1.16 agent -server -bootstrap-expect 1 -ui -client 0.0.0.0 -bind 192.0.2.3 -node infra
$VB --engine-insecure-registry $R swarm-0
docker[swarm-0] swarm init --advertise-addr 192.0.2.10
docker[swarm-0] network create --driver overlay --attachable portolan
docker[swarm-0] service create --detach --name portolan-agent --mode global --network host --mount type=bind,source=/var/run,target=/run/portolan-node --env DOCKER_HOST=unix:///run/portolan-node/docker.sock $R/portolan/agent:latest -cleanup -resync 30 -deregister-on-exit -retry-attempts -1 -listen 0.0.0.0:9401 consul://192.0.2.3:8500
$VB --engine-insecure-registry $R --engine-label role=front-end swarm-1
docker[swarm-1] swarm join --advertise-addr 192.0.2.11 --token SWMTKN-stub 192.0.2.10:2377
docker[swarm-0] node update --label-add role=front-end id-swarm-1
docker[swarm-0] service create --detach --name portolan-router --mode global --constraint node.labels.role==front-end --network portolan --publish mode=host,published=80,target=80 --env SERVICE_IGNORE=true --publish mode=host,published=9402,target=9402 --publish mode=host,published=8405,target=8405 $R/portolan/router:latest -consul consul://192.0.2.3:8500 -bind :80 -listen 0.0.0.0:9402 -stats 0.0.0.0:8405
$VB --engine-insecure-registry $R --engine-label role=application swarm-2
docker[swarm-2] swarm join --advertise-addr 192.0.2.12 --token SWMTKN-stub 192.0.2.10:2377
docker[swarm-0] node update --label-add role=application id-swarm-2
docker[registry] push 127.0.0.1:5000/my/hello:1
docker[swarm-0] service create --detach --name hello-v1 --replicas 1 --network portolan --label portolan.path=hello/v1 --env SERVICE_NAME=hello/v1 --env SERVICE_TAGS=rest --env SERVICE_NETWORK=portolan --constraint node.labels.role==application $R/my/hello:1"
  diff <(echo "$expected") <(changes)
  ! grep -q '^aws' "$CALLS"
  # the route is waited for on the front-end node's public address
  grep -q "^curl .*http://192.0.2.11/hello/v1/" "$CALLS"
}

@test "AWS VPC: security groups, rules between members, port 80 on the front-end only, private addresses" {
  aws_env; export AWS_PRIVATE_ONLY=1
  run flow
  [ "$status" -eq 0 ]
  A="--driver amazonec2 --amazonec2-vpc-id vpc-1 --amazonec2-region eu-west-1 --amazonec2-zone a --amazonec2-instance-type t2.micro --amazonec2-security-group portolan --amazonec2-use-private-address"
  grep -qx "docker-machine create $A --amazonec2-private-address-only --engine-label role=registry registry" "$CALLS"
  grep -qx "docker-machine create $A --amazonec2-private-address-only --engine-insecure-registry 10.0.0.2:5000 --engine-label role=application swarm-2" "$CALLS"
  grep -qx "docker-machine create $A --amazonec2-security-group portolan-web --engine-insecure-registry 10.0.0.2:5000 --engine-label role=front-end swarm-1" "$CALLS"
  # the groups are created once, in the VPC
  [ "$(grep -c '^aws ec2 create-security-group' "$CALLS")" -eq 2 ]
  grep -q "^aws ec2 create-security-group --group-name portolan --vpc-id vpc-1 " "$CALLS"
  grep -q "^aws ec2 create-security-group --group-name portolan-web --vpc-id vpc-1 " "$CALLS"
  # swarm, gossip, VXLAN, Consul, registry: members of the group only; 80: the web group only
  for r in "tcp --port 2377" "tcp --port 7946" "udp --port 7946" "udp --port 4789" "tcp --port 8500" "tcp --port 5000"; do
    grep -q "^aws ec2 authorize-security-group-ingress --group-id sg-portolan --protocol $r --source-group sg-portolan$" "$CALLS"
  done
  [ "$(grep -c -- '--port 80 ' "$CALLS")" -eq 1 ]
  grep -q "^aws ec2 authorize-security-group-ingress --group-id sg-portolan-web --protocol tcp --port 80 --cidr 0.0.0.0/0$" "$CALLS"
  ! grep -q -- "--cidr" <(grep -v 'sg-portolan-web' "$CALLS")
  # what was opened is printed
  [[ "$output" == *"opened 80/tcp on sg-portolan-web to 0.0.0.0/0"* ]]
  [[ "$output" == *"opened 4789/udp on sg-portolan to members of portolan"* ]]
  # nodes talk over their private (eth0) addresses
  grep -q "docker\[swarm-1\] swarm join --advertise-addr 10.0.0.11 --token SWMTKN-stub 10.0.0.10:2377" "$CALLS"
  grep -q "service create .*consul://10.0.0.3:8500" "$CALLS"
}

@test "a second run of every create script creates nothing twice" {
  aws_env
  flow >/dev/null
  : >"$CALLS"
  run flow
  [ "$status" -eq 0 ]
  # the second startService updates the service; nothing else changes
  diff <(echo "docker[swarm-0] service update --detach --image 10.0.0.2:5000/my/hello:1 --replicas 1 hello-v1") <(changes)
}

@test "AWS: the security group is reused by later nodes; rules already there are reported, not an error" {
  aws_env
  "$S/setupRegistry.sh" >/dev/null 2>&1
  run "$S/createInfraNode.sh"
  [ "$status" -eq 0 ]
  [[ "$output" == *"open already: 2377/tcp on sg-portolan to members of portolan"* ]]
  [ "$(grep -c '^aws ec2 create-security-group --group-name portolan ' "$CALLS")" -eq 1 ]
}

@test "missing AWS variables are named" {
  for v in AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_VPC_ID AWS_DEFAULT_REGION AWS_ZONE; do
    aws_env; unset "$v"
    run "$S/setupRegistry.sh"
    [ "$status" -ne 0 ]
    [[ "$output" == *"$v is not set"* ]]
  done
  ! grep -q 'docker-machine create' "$CALLS"
}

@test "missing tools: docker-machine, aws" {
  rm "$STUB_DIR/bin/docker-machine"
  PATH="$STUB_DIR/bin:/usr/bin:/bin" run "$S/setupRegistry.sh"
  [ "$status" -ne 0 ]; [[ "$output" == *"docker-machine not found"* ]]
  setup_stubs; rm "$STUB_DIR/bin/aws"; aws_env
  PATH="$STUB_DIR/bin:/usr/bin:/bin" run "$S/setupRegistry.sh"
  [ "$status" -ne 0 ]; [[ "$output" == *"aws (awscli) not found"* ]]
}

@test "bad arguments: usage and status 2, nothing done" {
  for a in "createSwarmNode.sh" "createSwarmNode.sh x" "createSwarmNode.sh 1 Bad_Label" "createSwarmNode.sh 1 a b" \
           "startService.sh hello" "startService.sh a..b img" "startService.sh hello img 0" "startService.sh hello 'bad image'" \
           "scaleService.sh hello" "scaleService.sh hello x" "stopService.sh" "removeNode.sh" "removeNode.sh x" \
           "setupRegistry.sh extra" "createInfraNode.sh extra" "destroyCluster.sh extra" "info.sh --yaml" \
           "addLogging.sh extra" "rmLogging.sh extra" "rmLogging.sh --keep-logs extra"; do
    eval "run \"\$S\"/$a"
    [ "$status" -eq 2 ] || { echo "$a -> $status: $output"; false; }
    [[ "$output" == *usage:* ]] || { echo "$a: no usage in: $output"; false; }
  done
  ! grep -qE '^docker-machine create|\] (run|service|swarm) ' "$CALLS"
}

@test "every script answers -h" {
  for s in setupRegistry createInfraNode createSwarmNode startService scaleService stopService removeNode destroyCluster info build-registry-image addLogging rmLogging build-logging-image; do
    run "$S/$s.sh" -h
    [ "$status" -eq 0 ]; [[ "$output" == *"$s.sh"* ]]
  done
}

@test "order: infra needs the registry, swarm nodes need infra, workers need the manager, services a front-end" {
  run "$S/createInfraNode.sh"; [ "$status" -eq 1 ]; [[ "$output" == *"run scripts/setupRegistry.sh first"* ]]
  "$S/setupRegistry.sh"
  run "$S/createSwarmNode.sh" 0; [ "$status" -eq 1 ]; [[ "$output" == *"run scripts/createInfraNode.sh first"* ]]
  "$S/createInfraNode.sh"
  run "$S/createSwarmNode.sh" 1 front-end; [ "$status" -eq 1 ]; [[ "$output" == *"createSwarmNode.sh 0 first"* ]]
  "$S/createSwarmNode.sh" 0
  run "$S/startService.sh" hello/v1 img; [ "$status" -eq 1 ]; [[ "$output" == *"no front-end node"* ]]
}

@test "a failing swarm join stops the script with an error" {
  "$S/setupRegistry.sh"; "$S/createInfraNode.sh"; "$S/createSwarmNode.sh" 0
  # docker fails for swarm join
  cat >"$STUB_DIR/bin/docker-wrap" <<'SH'
#!/usr/bin/env bash
if [ "$1 $2" = "swarm join" ]; then echo "docker[${STUB_MACHINE}] $*" >>"$CALLS"; echo "Error response from daemon: timeout" >&2; exit 1; fi
exec "$STUB_DIR/bin/docker-real" "$@"
SH
  mv "$STUB_DIR/bin/docker" "$STUB_DIR/bin/docker-real"; mv "$STUB_DIR/bin/docker-wrap" "$STUB_DIR/bin/docker"; chmod +x "$STUB_DIR/bin/docker"
  run "$S/createSwarmNode.sh" 1 front-end
  [ "$status" -eq 1 ]
  [[ "$output" == *"swarm-1 could not join the swarm of swarm-0"* ]]
  ! grep -q "node update --label-add role=front-end" "$CALLS"
}

@test "a missing image is an error naming the build step" {
  touch "$STUB_DIR/no-local-images"
  run "$S/setupRegistry.sh"
  [ "$status" -eq 1 ]; [[ "$output" == *"run scripts/build-images.sh"* ]]
}

@test "scale, stop, removeNode, destroyCluster" {
  flow >/dev/null
  : >"$CALLS"
  run "$S/scaleService.sh" hello/v1 3; [ "$status" -eq 0 ]
  run "$S/stopService.sh" /hello/v1/; [ "$status" -eq 0 ]
  run "$S/stopService.sh" hello/v1; [ "$status" -eq 0 ]; [[ "$output" == *"nothing runs for /hello/v1"* ]]
  run "$S/removeNode.sh" 0; [ "$status" -eq 1 ]; [[ "$output" == *"swarm-0 is the manager"* ]]
  run "$S/removeNode.sh" 2; [ "$status" -eq 0 ]
  run "$S/removeNode.sh" 2; [ "$status" -eq 0 ]; [[ "$output" == *"no node swarm-2"* ]]
  touch "$STUB_DIR/w/machine-other"
  run "$S/destroyCluster.sh"; [ "$status" -eq 0 ]
  expected="docker[swarm-0] service scale --detach hello-v1=3
docker[swarm-0] service rm hello-v1
docker[swarm-0] node update --availability drain id-swarm-2
docker[swarm-2] swarm leave
docker[swarm-0] node rm id-swarm-2
docker-machine rm -y swarm-2
docker-machine rm -y infra
docker-machine rm -y registry
docker-machine rm -y swarm-0
docker-machine rm -y swarm-1"
  diff <(echo "$expected") <(changes)
  [ -f "$STUB_DIR/w/machine-other" ]   # not a cluster machine: left alone
}
