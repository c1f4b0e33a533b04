#!/usr/bin/env bash
# scripts/deps.sh: installs, with apt, what building and testing portolan needs and is missing.
# Idempotent; does nothing when every package is present. Needs root (or sudo) for apt.
set -euo pipefail

PKGS=(
  build-essential autoconf automake pkg-config
  libcurl4-openssl-dev libjansson-dev libuv1-dev libssl-dev libhttp-parser-dev libcmocka-dev libldns-dev zlib1g-dev
  clang libclang-rt-14-dev
  docker.io haproxy busybox-static
  python3 python3-consul python3-dnspython bind9-dnsutils nodejs npm
  curl jq socat openssl wrk bats iproute2 iptables util-linux procps psmisc golang-go valgrind
)

missing=()
for p in "${PKGS[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# node and npm may come from outside Debian's packages (already on PATH): do not fight them
if command -v node >/dev/null && command -v npm >/dev/null; then
  missing=("${missing[@]/nodejs}"); missing=("${missing[@]/npm}")
fi
clean=()
for p in "${missing[@]}"; do [ -n "$p" ] && clean+=("$p"); done
if [ "${#clean[@]}" -gt 0 ]; then
  echo "deps: installing ${clean[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${clean[@]}" >/dev/null
fi

# the minimal static libcurl the agent links (scripts/lean-curl.sh); PORTOLAN_LEAN_CURL=0 skips
# it. When it cannot be built, the agent links Debian's shared libcurl instead: same behaviour,
# about twice the memory (bench/README.md).
if [ "${PORTOLAN_LEAN_CURL:-1}" != 0 ]; then
  "$(dirname "$0")/lean-curl.sh" ||
    echo "deps: the lean libcurl was not built; portolan-agent will link the shared libcurl"
fi
