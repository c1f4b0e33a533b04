#!/usr/bin/env bash
# build-images.sh [build-dir]: builds the portolan container images from the binaries of a build,
# with no base image and no registry: each image is a root filesystem assembled here (the
# binaries, the shared libraries ldd says they need, busybox for a shell, CA certificates)
# and loaded with `docker import`.
#   portolan/catalog  portolan-catalog, listening on 0.0.0.0:8500
#   portolan/agent    portolan-agent (mount /var/run/docker.sock; pass flags and the registry URI)
#   portolan/router   portolan-templater supervising HAProxy (haproxy/ base config)
# Environment: PORTOLAN_IMAGE_TAG (default latest). Needs docker, busybox-static, haproxy.
set -euo pipefail
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${BUILD:-$TOP/build}}
TAG=${PORTOLAN_IMAGE_TAG:-latest}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

add_binary() { # rootfs path-on-host [dest]
  local root=$1 bin=$2 dest=${3:-/usr/bin/$(basename "$2")} lib
  install -D -m 0755 "$bin" "$root$dest"
  for lib in $(ldd "$bin" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}

base_rootfs() { # rootfs
  local root=$1 a
  mkdir -p "$root"/{bin,etc,tmp,run,var/run,etc/ssl/certs}
  chmod 1777 "$root/tmp"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  for a in sh ls cat sleep kill ps wget nc; do ln -sf busybox "$root/bin/$a"; done
  [ -f /etc/ssl/certs/ca-certificates.crt ] && cp /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
  echo 'root:x:0:0:root:/:/bin/sh' >"$root/etc/passwd"
  echo 'nobody:x:65534:65534:nobody:/:/bin/false' >>"$root/etc/passwd"
  echo 'root:x:0:' >"$root/etc/group"; echo 'nogroup:x:65534:' >>"$root/etc/group"
  printf 'hosts: files dns\n' >"$root/etc/nsswitch.conf"
}

import() { # rootfs image changes...
  local root=$1 image=$2; shift 2
  local args=() c
  for c in "$@"; do args+=(-c "$c"); done
  tar -C "$root" -c . | docker import "${args[@]}" - "$image:$TAG" >/dev/null
  echo "built $image:$TAG"
}

for b in portolan-catalog portolan-agent portolan-templater; do
  [ -x "$BUILD/$b" ] || { echo "build-images: $BUILD/$b not built (run make in $BUILD)" >&2; exit 1; }
done

r=$work/catalog; base_rootfs "$r"; add_binary "$r" "$BUILD/portolan-catalog"
import "$r" portolan/catalog 'ENTRYPOINT ["/usr/bin/portolan-catalog", "-listen", "0.0.0.0:8500"]' 'EXPOSE 8500'

r=$work/agent; base_rootfs "$r"; add_binary "$r" "$BUILD/portolan-agent"
import "$r" portolan/agent 'ENTRYPOINT ["/usr/bin/portolan-agent"]' 'CMD ["consul://"]'

r=$work/router; base_rootfs "$r"; add_binary "$r" "$BUILD/portolan-templater"; add_binary "$r" "$(command -v haproxy)" /usr/sbin/haproxy
mkdir -p "$r/usr/local/share/portolan" "$r/etc/haproxy" "$r/var/lib/portolan"
cp -r "$TOP/haproxy/." "$r/usr/local/share/portolan/"
import "$r" portolan/router 'ENTRYPOINT ["/usr/bin/portolan-templater", "-haproxy-bin", "/usr/sbin/haproxy", "-config", "/var/lib/portolan/haproxy.cfg"]' 'EXPOSE 80'
