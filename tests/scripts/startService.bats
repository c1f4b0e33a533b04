#!/usr/bin/env bats
# scripts/startService.sh and stopService.sh against a stub docker.
load stubs
setup() { setup_stubs; unset AWS_ACCESS_KEY_ID; }
teardown() { teardown_stubs; }

@test "startService runs the image with SERVICE_NAME and the rest tag, ports published" {
  run "$BATS_TEST_DIRNAME/../../scripts/startService.sh" hello/v1 my/hello:1
  [ "$status" -eq 0 ]
  grep -q -- "run -d --name hello-v1-.* -P --label portolan.route=/hello/v1 -e SERVICE_NAME=hello/v1 -e SERVICE_TAGS=rest my/hello:1" "$CALLS"
}

@test "startService starts N replicas" {
  run "$BATS_TEST_DIRNAME/../../scripts/startService.sh" /hello/v2/ img 3
  [ "$status" -eq 0 ]
  [ "$(grep -c 'SERVICE_NAME=hello/v2 ' "$CALLS")" -eq 3 ]
}

@test "startService refuses unsafe paths and bad replica counts" {
  for p in 'a b' '../x' 'x;rm' 'a//b' ''; do
    run "$BATS_TEST_DIRNAME/../../scripts/startService.sh" "$p" img
    [ "$status" -eq 2 ]
  done
  run "$BATS_TEST_DIRNAME/../../scripts/startService.sh" hello img 0
  [ "$status" -eq 2 ]
  ! grep -q ' run ' "$CALLS"
}

@test "startService creates a swarm service with host-mode ports on a manager" {
  echo true >"$STUB_DIR/swarm"
  PORTOLAN_CONSTRAINT=node.labels.role==application run "$BATS_TEST_DIRNAME/../../scripts/startService.sh" hello/v1 img 2
  [ "$status" -eq 0 ]
  grep -q -- "service create --detach --name hello-v1 --replicas 2 --env SERVICE_NAME=hello/v1 --env SERVICE_TAGS=rest --publish mode=host,target=80 --constraint node.labels.role==application img" "$CALLS"
}

@test "stopService removes the containers of that route only" {
  printf 'aaa\nbbb\n' >"$STUB_DIR/ps"
  run "$BATS_TEST_DIRNAME/../../scripts/stopService.sh" hello/v1
  [ "$status" -eq 0 ]
  grep -q -- "ps -aq --filter label=portolan.route=/hello/v1" "$CALLS"
  grep -q -- "rm -f aaa bbb" "$CALLS"
}
