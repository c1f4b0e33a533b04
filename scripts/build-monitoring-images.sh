#!/usr/bin/env bash
# build-monitoring-images.sh [-h] [build-dir]: builds the monitoring images addMonitoring.sh runs,
# from Debian's packages, with no base image and no pull (as build-registry-image.sh does):
#   portolan/prometheus     Debian's prometheus (2.42) plus portolan-templater (from the build dir)
#                           rendering Prometheus' file_sd targets from Consul (docs/monitoring.md:
#                           Debian builds Prometheus without Consul discovery)
#   portolan/alertmanager   Debian's prometheus-alertmanager (0.25)
#   portolan/node-exporter  Debian's prometheus-node-exporter (1.5)
# The packages are taken from the installed binaries when present, otherwise fetched with
# `apt-get download` into $PORTOLAN_CACHE (default ~/.cache/portolan) and unpacked there, never
# installed (installing them would start the services on this host). Into the engine DOCKER_HOST
# points at. Environment: PORTOLAN_IMAGE_TAG (default latest). Needs docker, ldd, busybox-static.
# --tools: only fetch, and print the paths of promtool and amtool (tests/monitoring-config).
set -euo pipefail
usage() { sed -n '2,15s/^# \{0,1\}//p' "$0"; }
tools=0
case ${1:-} in -h|--help) usage; exit 0 ;; --tools) tools=1; shift ;; esac
[ $# -le 1 ] || { usage >&2; exit 2; }
TOP=$(cd "$(dirname "$0")/.." && pwd)
BUILD=${1:-${BUILD:-$TOP/build}}
TAG=${PORTOLAN_IMAGE_TAG:-latest}
CACHE=${PORTOLAN_CACHE:-${HOME:-/root}/.cache/portolan}
die() { echo "build-monitoring-images: $*" >&2; exit 1; }
[ $tools = 1 ] || for t in docker ldd tar; do command -v "$t" >/dev/null || die "'$t' not found"; done

# deb_bin <package> <path in the package>: the binary, installed or unpacked into the cache
deb_bin() {
  local pkg=$1 path=$2 dir=$CACHE/$1
  if [ -x "$path" ]; then echo "$path"; return 0; fi
  if [ ! -x "$dir$path" ]; then
    command -v apt-get >/dev/null || die "no $path and no apt-get to fetch $pkg"
    mkdir -p "$CACHE/deb"
    ( cd "$CACHE/deb" && { apt-get download "$pkg" >/dev/null 2>"$CACHE/deb/apt-$pkg.log" ||
        { apt-get update -qq >>"$CACHE/deb/apt-$pkg.log" 2>&1 && apt-get download "$pkg" >/dev/null 2>>"$CACHE/deb/apt-$pkg.log"; }; } ) ||
      die "apt-get download $pkg failed (see $CACHE/deb/apt-$pkg.log)"
    rm -rf "$dir"; mkdir -p "$dir"
    # shellcheck disable=SC2012 # newest of the versions downloaded
    dpkg-deb -x "$(ls -t "$CACHE/deb/${pkg}"_*.deb | head -1)" "$dir"
  fi
  echo "$dir$path"
}

if [ $tools = 1 ]; then
  deb_bin prometheus /usr/bin/promtool; deb_bin prometheus-alertmanager /usr/bin/amtool
  exit 0
fi

[ -x /bin/busybox ] || die "/bin/busybox missing (apt-get install busybox-static)"
[ -x "$BUILD/portolan-templater" ] || die "$BUILD/portolan-templater not built (run scripts/build.sh)"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

add_binary() { # rootfs path-on-host dest
  local root=$1 bin=$2 dest=$3 lib
  install -D -m 0755 "$bin" "$root$dest"
  for lib in $(ldd "$bin" | awk '/=> \//{print $3} /^[ \t]*\//{print $1}'); do
    [ -e "$root$lib" ] || install -D -m 0755 "$(readlink -f "$lib")" "$root$lib"
  done
}
base_rootfs() { # rootfs
  local root=$1 a
  mkdir -p "$root"/{bin,etc,tmp,run}
  chmod 1777 "$root/tmp"
  install -m 0755 /bin/busybox "$root/bin/busybox"
  for a in sh ls cat sleep kill ps wget; do ln -sf busybox "$root/bin/$a"; done
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

# Prometheus: the entry point starts the target renderer, then Prometheus in the foreground.
r=$work/prometheus; base_rootfs "$r"
add_binary "$r" "$(deb_bin prometheus /usr/bin/prometheus)" /usr/bin/prometheus
add_binary "$r" "$BUILD/portolan-templater" /usr/bin/portolan-templater
# curl: the scripts' Consul writes (PUT) and readiness checks on the infra node go through it
add_binary "$r" "$(command -v curl)" /usr/bin/curl
ln -sf busybox "$r/bin/pidof"
mkdir -p "$r/etc/prometheus/targets" "$r/prometheus"
pw=$(deb_bin prometheus /usr/bin/prometheus); pw=${pw%/usr/bin/prometheus}/usr/share/prometheus/web
if [ -d "$pw" ]; then mkdir -p "$r/usr/share/prometheus"; cp -r "$pw" "$r/usr/share/prometheus/"; fi   # its web UI
cp "$TOP/monitoring/targets.tmpl" "$r/etc/prometheus/targets.tmpl"
cat >"$r/usr/bin/portolan-prometheus" <<'SH'
#!/bin/sh
# portolan-prometheus [prometheus flags]: renders /etc/prometheus/targets/consul.yml from Consul
# ($CONSUL_ADDR, default 127.0.0.1:8500) with portolan-templater, in the background, then runs
# Prometheus in the foreground (it re-reads file_sd files when they change).
/usr/bin/portolan-templater -consul "consul://${CONSUL_ADDR:-127.0.0.1:8500}" \
  -template /etc/prometheus/targets.tmpl:/etc/prometheus/targets/consul.yml &
exec /usr/bin/prometheus "$@"
SH
chmod 0755 "$r/usr/bin/portolan-prometheus"
import "$r" portolan/prometheus \
  'ENTRYPOINT ["/usr/bin/portolan-prometheus"]' \
  'CMD ["--config.file=/etc/prometheus/prometheus.yml", "--storage.tsdb.path=/prometheus", "--web.listen-address=:9090", "--web.enable-lifecycle"]' \
  'EXPOSE 9090'

r=$work/alertmanager; base_rootfs "$r"
add_binary "$r" "$(deb_bin prometheus-alertmanager /usr/bin/prometheus-alertmanager)" /usr/bin/alertmanager
# its notification templates and web UI, where Debian's build looks for them
am=$(deb_bin prometheus-alertmanager /usr/bin/prometheus-alertmanager); am=${am%/usr/bin/prometheus-alertmanager}
mkdir -p "$r/usr/share/prometheus"
cp -r "$am/usr/share/prometheus/alertmanager" "$r/usr/share/prometheus/"
mkdir -p "$r/etc/alertmanager" "$r/alertmanager"
import "$r" portolan/alertmanager \
  'ENTRYPOINT ["/usr/bin/alertmanager"]' \
  'CMD ["--config.file=/etc/alertmanager/alertmanager.yml", "--storage.path=/alertmanager", "--web.listen-address=:9093", "--cluster.listen-address="]' \
  'EXPOSE 9093'

r=$work/node-exporter; base_rootfs "$r"
add_binary "$r" "$(deb_bin prometheus-node-exporter /usr/bin/prometheus-node-exporter)" /usr/bin/node-exporter
import "$r" portolan/node-exporter \
  'ENTRYPOINT ["/usr/bin/node-exporter"]' \
  'CMD ["--path.procfs=/host/proc", "--path.sysfs=/host/sys", "--web.listen-address=:9100", "--no-collector.systemd", "--no-collector.textfile", "--no-collector.filesystem"]' \
  'EXPOSE 9100'
