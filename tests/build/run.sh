#!/usr/bin/env bash
# tests/build/run.sh: what the build produced, as a user would check it. portolan-agent -version
# names its HTTP stack (libcurl with OpenSSL); when the build was configured --with-lean-curl
# (scripts/build.sh does so when scripts/lean-curl.sh built /opt/portolan/curl-lean), the agent
# needs no shared library but glibc and carries libcurl with OpenSSL and zlib only.
set -u
source "$(dirname "$0")/../lib.sh"

agent=$BUILD/portolan-agent
v=$("$agent" -version); rc=$?
check_eq "portolan-agent -version exits 0" 0 "$rc"
diag "$v"
check "-version names libcurl and OpenSSL (TLS to Docker and Consul)" \
  bash -c '[[ $1 =~ ^portolan-agent\ [^\ ]+\ \(libcurl/[^\ ]+\ .*OpenSSL/ ]]' _ "$v"

lean=$(sed -n 's/^LEAN_AGENT_LIBS = //p' "$BUILD/Makefile")
if [ -z "$lean" ]; then
  skip "lean agent: this build was configured without --with-lean-curl"
  skip "lean agent: libcurl features"
else
  shared=$(ldd "$agent" | awk '{print $1}' | grep -vE '^(linux-vdso\.so|libc\.so\.6$|/lib64/ld-linux)' | tr '\n' ' ')
  check_eq "lean agent: no shared library but glibc" "" "$shared"
  check "lean agent: libcurl with OpenSSL and zlib only (no GnuTLS, LDAP, SSH, RTMP, HTTP/2)" \
    bash -c '[[ $1 =~ \(libcurl/[^\ ]+\ OpenSSL/[^\ ]+\ zlib/[^\ ]+\)$ ]]' _ "$v"
fi
done_testing
