#!/usr/bin/env bash
# scripts/lean-curl.sh [prefix]: builds the minimal static libcurl that portolan-agent links when
# configured with --with-lean-curl=PREFIX (default prefix /opt/portolan/curl-lean).
#
# Why: one agent runs on every Docker node, so its memory matters. Debian's libcurl4-openssl is
# built with every protocol and pulls ~25 shared libraries (GnuTLS via librtmp, Kerberos, LDAP,
# SSH, IDN, PSL, nghttp2, ...): relocating and touching them costs ~7 MB of RSS before main()
# and ~9.5 MB after curl_global_init. The agent needs HTTP/1.1 over TCP, unix sockets and TLS
# with OpenSSL, nothing else. This script builds exactly that from Debian's own source package of
# the installed libcurl version (same version as the headers portolan compiles against), as a
# static archive; configure then links the agent statically against it and OpenSSL, libuv,
# jansson and http-parser (glibc stays shared), non-PIE so no relocation touches their data.
#
# Idempotent: does nothing when PREFIX already holds this version. Needs root for apt (it adds a
# deb-src entry mirroring the configured Debian archive when none exists). Exits non-zero when it
# cannot build; scripts/deps.sh then carries on and the agent links Debian's shared libcurl.
set -euo pipefail
PREFIX=${1:-${LEAN_CURL_PREFIX:-/opt/portolan/curl-lean}}
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo

version=$(dpkg-query -W -f='${Version}' libcurl4-openssl-dev 2>/dev/null) || {
  echo "lean-curl: libcurl4-openssl-dev is not installed" >&2; exit 1; }
if [ -f "$PREFIX/lib/libcurl.a" ] && [ "$(cat "$PREFIX/debian-version" 2>/dev/null)" = "$version" ]; then
  exit 0
fi
echo "lean-curl: building libcurl $version (HTTP + OpenSSL only, static) into $PREFIX"

# Debian's source packages: add deb-src for the archives already configured, once
if ! grep -rqsE '^(Types:.*deb-src|deb-src )' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  src=/etc/apt/sources.list.d/portolan-deb-src.sources
  if [ -f /etc/apt/sources.list.d/debian.sources ]; then
    sed 's/^Types: deb$/Types: deb-src/' /etc/apt/sources.list.d/debian.sources | $SUDO tee "$src" >/dev/null
  elif [ -f /etc/apt/sources.list ]; then
    sed -n 's/^deb /deb-src /p' /etc/apt/sources.list | $SUDO tee "${src%.sources}.list" >/dev/null
  fi
  $SUDO apt-get update -qq
fi
command -v dpkg-source >/dev/null ||
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends dpkg-dev >/dev/null

work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cd "$work"
apt-get source -qq --download-only "curl=$version" >/dev/null 2>&1 || {
  echo "lean-curl: apt-get source curl=$version failed (no deb-src for this version?)" >&2; exit 1; }
# apt-get source checked the files against the signed archive index; dpkg-source's own check of
# the maintainer's inline signature needs a keyring this machine lacks: its warning is not shown
dpkg-source -x ./curl_*.dsc src >"$work/dpkg-source.log" 2>&1 || { tail -20 "$work/dpkg-source.log" >&2; exit 1; }
cd src
# everything off but HTTP(S) over TCP and unix sockets, with OpenSSL and zlib
./configure -q --prefix="$PREFIX" --disable-shared --enable-static --with-pic \
  --with-openssl --with-zlib --with-ca-bundle=/etc/ssl/certs/ca-certificates.crt \
  --without-libpsl --without-brotli --without-zstd --without-nghttp2 --without-libidn2 \
  --without-librtmp --without-libssh2 --without-libgsasl --disable-ldap --disable-ldaps \
  --disable-rtsp --disable-dict --disable-telnet --disable-tftp --disable-pop3 --disable-imap \
  --disable-smtp --disable-gopher --disable-mqtt --disable-ftp --disable-file --disable-smb \
  --disable-ntlm --disable-manual --disable-alt-svc --disable-hsts --disable-netrc \
  --disable-cookies --disable-doh >"$work/configure.log" 2>&1 ||
  { tail -20 "$work/configure.log" >&2; exit 1; }
make -j"$(nproc)" -C lib >"$work/make.log" 2>&1 || { tail -20 "$work/make.log" >&2; exit 1; }
$SUDO rm -rf "$PREFIX"
$SUDO make -C lib install >/dev/null
$SUDO make -C include install >/dev/null
echo "$version" | $SUDO tee "$PREFIX/debian-version" >/dev/null
echo "lean-curl: $PREFIX/lib/libcurl.a"
