#!/usr/bin/env bats
# machine/*.sh against stub docker-machine and docker: the right driver flags for VirtualBox
# and AWS, node labels, swarm init/join, agent and router placement.
load stubs
M="$BATS_TEST_DIRNAME/../../machine"
setup() {
  setup_stubs
  unset AWS_ACCESS_KEY_ID AWS_SECRET_ACCESS_KEY AWS_VPC_ID AWS_DEFAULT_REGION AWS_ZONE AWS_PRIVATE_ONLY
}
teardown() { teardown_stubs; }

@test "infra node on VirtualBox runs a Consul server bound to its address" {
  run "$M/createInfraNode.sh"
  [ "$status" -eq 0 ]
  grep -q "docker-machine create --driver virtualbox --virtualbox-memory 1024 --virtualbox-cpu-count 1 --engine-label role=infra infra" "$CALLS"
  grep -q "docker\[infra\] run -d --name consul .*agent -server -bootstrap-expect 1" "$CALLS"
}

@test "AWS: VPC, region, zone, private addresses; private-only for inner nodes" {
  export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_VPC_ID=vpc-1 AWS_DEFAULT_REGION=eu-west-1 AWS_ZONE=a AWS_PRIVATE_ONLY=1
  run "$M/createInfraNode.sh"; [ "$status" -eq 0 ]
  run "$M/createNode.sh" 0; [ "$status" -eq 0 ]
  run "$M/createNode.sh" 1 front-end; [ "$status" -eq 0 ]
  grep -q "create --driver amazonec2 --amazonec2-vpc-id vpc-1 --amazonec2-region eu-west-1 --amazonec2-zone a .*--amazonec2-use-private-address --amazonec2-private-address-only --engine-label role=application node-0" "$CALLS"
  grep "create .* node-1$" "$CALLS" | grep -q -- "--engine-label role=front-end"
  ! grep "create .* node-1$" "$CALLS" | grep -q -- "--amazonec2-private-address-only"
}

@test "AWS without a zone fails with a message" {
  export AWS_ACCESS_KEY_ID=k AWS_SECRET_ACCESS_KEY=s AWS_VPC_ID=vpc-1 AWS_DEFAULT_REGION=eu-west-1
  run "$M/createInfraNode.sh"
  [ "$status" -ne 0 ]
  [[ "$output" == *"AWS_ZONE is not set"* ]]
}

@test "node 0 inits swarm, node 1 joins it; every node runs the agent, front-end runs the router" {
  "$M/createInfraNode.sh"
  run "$M/createNode.sh" 0; [ "$status" -eq 0 ]
  run "$M/createNode.sh" 1 front-end; [ "$status" -eq 0 ]
  grep -q "docker\[node-0\] swarm init --advertise-addr" "$CALLS"
  grep -q "docker\[node-1\] swarm join --token SWMTKN-stub" "$CALLS"
  grep -q "docker\[node-0\] run -d --name portolan-agent .* -node-id node-0 -cleanup -resync 60 -deregister-on-exit consul://" "$CALLS"
  grep -q "docker\[node-1\] run -d --name portolan-router .*-p 80:80" "$CALLS"
  ! grep -q "docker\[node-0\] run -d --name portolan-router" "$CALLS"
}

@test "createNode validates its arguments and needs the infra node" {
  run "$M/createNode.sh" x; [ "$status" -ne 0 ]
  run "$M/createNode.sh" 1 'Bad Label'; [ "$status" -ne 0 ]
  run "$M/createNode.sh" 1; [ "$status" -ne 0 ]
  [[ "$output" == *"createInfraNode.sh first"* ]]
}

@test "removeNode stops the agent and removes the machine" {
  "$M/createInfraNode.sh"; "$M/createNode.sh" 0; "$M/createNode.sh" 2
  run "$M/removeNode.sh" 2; [ "$status" -eq 0 ]
  grep -q "docker\[node-2\] stop portolan-agent" "$CALLS"
  grep -q "docker-machine rm -y node-2" "$CALLS"
}
