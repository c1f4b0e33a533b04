#!/usr/bin/env bash
# build-logging-image.sh [-h]: builds portolan/logging:<tag>, the cluster's central log store
# (rsyslog and logrotate from Debian, images/logging/), as a local image, with no base image and
# no pull: the binaries, rsyslog's modules, the shared libraries ldd names, busybox for the
# entrypoint and gzip. The Debian packages (rsyslog, logrotate and the libraries they need that
# this machine lacks) are fetched with `apt-get download` into $PORTOLAN_CACHE (default
# ~/.cache/portolan) and unpacked there, never installed (installing rsyslog would replace this
# host's own syslog daemon).
# Into the engine DOCKER_HOST points at. Environment: PORTOLAN_IMAGE_TAG (default latest).
set -euo pipefail
usage() { sed -n '2,9s/^# \{0,1\}//p' "$0"; }
case ${1:-} in -h|--help) usage; exit 0 ;; "") ;; *) usage >&2; exit 2 ;; esac
die() { echo "build-logging-image: $*" >&2; exit 1; }
for t in docker ldd tar dpkg-deb apt-get; do command -v "$t" >/dev/null || die "'$t' not found"; done
[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"
TOP=$(cd "$(dirname "$0")/.." && pwd)
TAG=${PORTOLAN_IMAGE_TAG:-latest}
CACHE=${PORTOLAN_CACHE:-${HOME:-/root}/.cache/portolan}
PKGS=(rsyslog libestr0 libfastjson4 liblognorm5 logrotate libpopt0)
STAGE=$CACHE/logging/root

if [ ! -x "$STAGE/usr/sbin/rsyslogd" ] || [ ! -x "$STAGE/usr/sbin/logrotate" ]; then
  mkdir -p "$CACHE/logging/deb"
  log=$CACHE/logging/apt.log
  # with empty package lists (a fresh machine) the download fails once: update them, try again
  ( cd "$CACHE/logging/deb" && { apt-get download "${PKGS[@]}" >/dev/null 2>"$log" ||
      { apt-get update -qq >>"$log" 2>&1 && apt-get download "${PKGS[@]}" >/dev/null 2>>"$log"; }; } ) ||
    die "apt-get download ${PKGS[*]} failed (see $log)"
  rm -rf "$STAGE"; mkdir -p "$STAGE"
  for p in "${PKGS[@]}"; do
    deb=$(ls -t "$CACHE/logging/deb/${p}"_*.deb | head -1)
    dpkg-deb -x "$deb" "$STAGE"
  done
fi
multi=$(dirname "$(find "$STAGE/usr/lib" -name 'libestr.so.0' | head -1)")
[ -d "$multi" ] || die "libestr not unpacked under $STAGE"

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
r=$work/rootfs
mkdir -p "$r"/{bin,etc,tmp,run,var/log/portolan,var/lib/portolan-logging,usr/local/bin}
chmod 1777 "$r/tmp"
install -m 0755 /bin/busybox "$r/bin/busybox"
for a in sh ls cat sleep kill ps mkdir mv rm gzip gunzip wget nc grep head tail tr wc test; do ln -sf busybox "$r/bin/$a"; done

# add <file on the host or in the stage> <path in the image>: the file and the libraries it needs,
# taken from the stage first (packages this host lacks), then from the host
add() {
  local src=$1 dest=$2 lib
  install -D -m 0755 "$src" "$r$dest"
  for lib in $(LD_LIBRARY_PATH=$multi ldd "$src" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
    case $lib in "$STAGE"/*) dst=${lib#"$STAGE"} ;; *) dst=$lib ;; esac
    [ -e "$r$dst" ] || install -D -m 0755 "$(readlink -f "$lib")" "$r$dst"
  done
  if LD_LIBRARY_PATH=$multi ldd "$src" | grep -q 'not found'; then die "$src: a library is missing"; fi
}
add "$STAGE/usr/sbin/rsyslogd" /usr/sbin/rsyslogd
add "$STAGE/usr/sbin/logrotate" /usr/sbin/logrotate
moddir=${multi#"$STAGE"}/rsyslog
for m in imudp imtcp lmnet lmnetstrms lmnsd_ptcp lmtcpsrv lmregexp; do
  [ -f "$multi/rsyslog/$m.so" ] || die "rsyslog module $m.so not in the package"
  add "$multi/rsyslog/$m.so" "$moddir/$m.so"
done
install -m 0644 "$TOP/images/logging/rsyslog.conf" "$r/etc/rsyslog.conf"
install -m 0644 "$TOP/images/logging/logrotate.conf" "$r/etc/logrotate.conf"
install -m 0755 "$TOP/images/logging/entrypoint.sh" "$r/usr/local/bin/portolan-logging"
echo 'root:x:0:0:root:/:/bin/sh' >"$r/etc/passwd"
echo 'root:x:0:' >"$r/etc/group"
tar -C "$r" -c . | docker import -c 'ENTRYPOINT ["/usr/local/bin/portolan-logging"]' \
  -c 'EXPOSE 514/udp' -c 'EXPOSE 514/tcp' \
  -c 'VOLUME ["/var/log/portolan", "/var/lib/portolan-logging"]' - "portolan/logging:$TAG" >/dev/null
echo "built portolan/logging:$TAG"
