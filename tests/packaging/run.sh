#!/usr/bin/env bash
# Suite "packaging": scripts/build-images.sh builds portolan/catalog, portolan/agent and
# portolan/router from this build with no base image, and they run: the catalog answers in its
# container, the router routes a service registered in it, the agent starts.
# needs: docker
. "$(dirname "$0")/../lib.sh"

TAG=t$$
NET=portolan-pkg-$$
cleanup_add "docker rm -f pkg-cat-$$ pkg-router-$$ >/dev/null 2>&1; docker network rm $NET >/dev/null 2>&1; docker rmi portolan/catalog:$TAG portolan/agent:$TAG portolan/router:$TAG >/dev/null 2>&1"
check "build-images.sh builds the three images" env PORTOLAN_IMAGE_TAG=$TAG "$TOP/scripts/build-images.sh" "$BUILD"
docker network create "$NET" >/dev/null
docker run -d --name pkg-cat-$$ --network "$NET" -p 127.0.0.1::8500 portolan/catalog:$TAG >/dev/null
CP=$(docker port pkg-cat-$$ 8500 | head -1 | sed 's/.*://')
check "portolan/catalog answers on its published port" wait_http "http://127.0.0.1:$CP/v1/status/leader" 60
CIP=$(docker inspect -f "{{(index .NetworkSettings.Networks \"$NET\").IPAddress}}" pkg-cat-$$)
# route /api to the catalog container itself: GET /api/v1/status/leader -> /v1/status/leader
curl -sf -X PUT -d "{\"Name\":\"api\",\"ID\":\"api1\",\"Tags\":[\"rest\"],\"Address\":\"$CIP\",\"Port\":8500}" \
  "http://127.0.0.1:$CP/v1/agent/service/register" -o /dev/null
docker run -d --name pkg-router-$$ --network "$NET" -p 127.0.0.1::80 portolan/router:$TAG \
  -consul "consul://$CIP:8500" -bind :80 >/dev/null
RP=$(docker port pkg-router-$$ 80 | head -1 | sed 's/.*://')
got=""
# the route is there once templater + HAProxy have started in the container and applied the
# catalog: polled for 60 s at most (a bound for a loaded machine, not a wait on every run)
end=$(( $(date +%s) + 60 ))
while [ "$(date +%s)" -lt "$end" ]; do
  got=$(curl -s --max-time 2 "http://127.0.0.1:$RP/api/v1/status/leader"); [ -n "$got" ] && [ "$got" != "${got#\"}" ] && break; sleep 0.1
done
check_eq "portolan/router (templater + HAProxy) routes /api to the service" '"127.0.0.1:8300"' "$got"
[ "$got" = '"127.0.0.1:8300"' ] || docker logs pkg-router-$$ 2>&1 | tail -10 | sed 's/^/# /'
check_eq "portolan/agent runs" "portolan-agent" "$(docker run --rm --network none portolan/agent:$TAG -version | cut -d' ' -f1)"
done_testing
