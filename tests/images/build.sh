#!/usr/bin/env bash
# tests/images/build.sh: builds the test images locally (never pulled) into the Docker engine
# that DOCKER_HOST (and DOCKER_TLS_VERIFY/DOCKER_CERT_PATH) point at, default the local socket.
#
# The rootfs is /bin/busybox from Debian's busybox-static plus symlinks, and a tiny /www.
#   portolan-test/web:latest    httpd on 80 (EXPOSE 80)
#   portolan-test/multi:latest  httpd on 80 and 8080, EXPOSE 80 8080 53/udp
#   portolan-test/webhc:latest  as web, plus HEALTHCHECK (wget of / every 1s): healthy while
#                               /www/index.html exists, unhealthy once it is removed
# Usage: build.sh [--force]   (without --force, images that already exist are kept)
set -euo pipefail

BUSYBOX=${BUSYBOX:-/bin/busybox}
force=0
[ "${1:-}" = --force ] && force=1

if ! file -L "$BUSYBOX" 2>/dev/null | grep -q 'statically linked'; then
  echo "build.sh: $BUSYBOX is not a static busybox (apt-get install busybox-static)" >&2
  exit 1
fi

have() { docker image inspect "$1" >/dev/null 2>&1; }

work=$(mktemp -d /tmp/portolan-img.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/rootfs
mkdir -p "$root/bin" "$root/www" "$root/tmp" "$root/etc"
cp "$BUSYBOX" "$root/bin/busybox"
for a in sh ash httpd sleep nc echo cat ls rm touch wget true false kill ps env \
         ip ifconfig hostname date test '[' printf mkdir chmod trap seq; do
  [ "$a" = trap ] && continue
  ln -sf busybox "$root/bin/$a"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
echo 'hello from portolan-test' >"$root/www/index.html"
echo ok >"$root/www/health"
chmod 1777 "$root/tmp"

import() { # name, then docker import -c changes
  local name=$1; shift
  if [ $force -eq 0 ] && have "$name"; then return 0; fi
  tar -C "$root" -c . | docker import "$@" - "$name" >/dev/null
  echo "built $name"
}

# PID 1 is a shell that exits 0 on SIGTERM (busybox httpd as PID 1 would ignore it and make
# every "docker stop" wait its full timeout)
import portolan-test/web:latest \
  -c 'CMD ["/bin/sh","-c","trap \"exit 0\" TERM; httpd -f -p 80 -h /www & wait"]' -c 'EXPOSE 80'
import portolan-test/multi:latest \
  -c 'CMD ["/bin/sh","-c","trap \"exit 0\" TERM; httpd -f -p 8080 -h /www & httpd -f -p 80 -h /www & wait"]' \
  -c 'EXPOSE 80' -c 'EXPOSE 8080' -c 'EXPOSE 53/udp'
import portolan-test/webhc:latest \
  -c 'CMD ["/bin/sh","-c","trap \"exit 0\" TERM; httpd -f -p 80 -h /www & wait"]' -c 'EXPOSE 80' \
  -c 'HEALTHCHECK --interval=1s --timeout=1s --retries=1 CMD wget -q -O /dev/null http://127.0.0.1/index.html || exit 1'
