#!/usr/bin/env bash
# build-registry-image.sh [-h]: builds portolan/registry:<tag>, a Docker registry (Debian's
# docker-registry package, distribution 2.x) as a local image, with no base image and no pull:
# the package's binary, the shared libraries ldd names, busybox, and a configuration without
# authentication (filesystem storage in /var/lib/registry, deletes allowed, :5000). The package
# is taken from the installed /usr/bin/docker-registry when there is one, otherwise fetched with
# `apt-get download` into $PORTOLAN_CACHE (default ~/.cache/portolan) and unpacked there, never
# installed (installing it would start a registry service on the host).
# Into the engine DOCKER_HOST points at. Environment: PORTOLAN_IMAGE_TAG (default latest).
set -euo pipefail
usage() { sed -n '2,10s/^# \{0,1\}//p' "$0"; }
case ${1:-} in -h|--help) usage; exit 0 ;; "") ;; *) usage >&2; exit 2 ;; esac
for t in docker ldd tar; do
  command -v "$t" >/dev/null || { echo "build-registry-image: '$t' not found" >&2; exit 1; }
done
[ -x /bin/busybox ] || { echo "build-registry-image: /bin/busybox missing (apt-get install busybox-static)" >&2; exit 1; }
TAG=${PORTOLAN_IMAGE_TAG:-latest}
CACHE=${PORTOLAN_CACHE:-${HOME:-/root}/.cache/portolan}

bin=/usr/bin/docker-registry
if [ ! -x "$bin" ]; then
  bin=$CACHE/docker-registry/usr/bin/docker-registry
  if [ ! -x "$bin" ]; then
    command -v apt-get >/dev/null || { echo "build-registry-image: no docker-registry and no apt-get to fetch it" >&2; exit 1; }
    mkdir -p "$CACHE/deb"
    # with empty package lists (a fresh machine) the download fails once: update them, try again
    ( cd "$CACHE/deb" && { apt-get download docker-registry >/dev/null 2>"$CACHE/deb/apt.log" ||
        { apt-get update -qq >>"$CACHE/deb/apt.log" 2>&1 && apt-get download docker-registry >/dev/null 2>>"$CACHE/deb/apt.log"; }; } ) ||
      { echo "build-registry-image: apt-get download docker-registry failed (see $CACHE/deb/apt.log)" >&2; exit 1; }
    dpkg-deb -x "$(ls -t "$CACHE"/deb/docker-registry_*.deb | head -1)" "$CACHE/docker-registry"
  fi
fi

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
mkdir -p "$r"/{bin,etc/docker/registry,tmp,var/lib/registry}
chmod 1777 "$r/tmp"
install -m 0755 /bin/busybox "$r/bin/busybox"
for a in sh ls cat wget; do ln -sf busybox "$r/bin/$a"; done
install -D -m 0755 "$bin" "$r/usr/bin/docker-registry"
for lib in $(ldd "$bin" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
  [ -e "$r$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$r$lib"
done
echo 'root:x:0:0:root:/:/bin/sh' >"$r/etc/passwd"
cat >"$r/etc/docker/registry/config.yml" <<'YML'
version: 0.1
log:
  level: warn
storage:
  filesystem:
    rootdirectory: /var/lib/registry
  delete:
    enabled: true
http:
  addr: :5000
YML
tar -C "$r" -c . | docker import -c 'ENTRYPOINT ["/usr/bin/docker-registry", "serve", "/etc/docker/registry/config.yml"]' \
  -c 'EXPOSE 5000' -c 'VOLUME ["/var/lib/registry"]' - "portolan/registry:$TAG" >/dev/null
echo "built portolan/registry:$TAG"
