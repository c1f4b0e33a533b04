#!/bin/sh
# client_test_certs.sh DIR: throw-away certificates for the TLS unit tests, in Docker Machine's
# layout. DIR/good: ca.pem, cert.pem, key.pem (client) + server-cert.pem, server-key.pem for
# 127.0.0.1; DIR/wrongca: another CA's ca.pem with the same client cert/key; DIR/nocert: ca.pem only.
set -e
d=$1
mkdir -p "$d/good" "$d/wrongca" "$d/nocert"
cd "$d/good"
ec="-newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes"
openssl req -x509 $ec -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=portolan-test-ca 2>/dev/null
openssl req $ec -keyout server-key.pem -out server.csr -subj /CN=127.0.0.1 2>/dev/null
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
openssl x509 -req -in server.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out server-cert.pem -days 2 -extfile server.ext 2>/dev/null
openssl req $ec -keyout key.pem -out client.csr -subj /CN=client 2>/dev/null
printf 'extendedKeyUsage=clientAuth\n' >client.ext
openssl x509 -req -in client.csr -CA ca.pem -CAkey ca-key.pem -CAcreateserial -out cert.pem -days 2 -extfile client.ext 2>/dev/null
cd "$d/wrongca"
openssl req -x509 $ec -keyout ca-key.pem -out ca.pem -days 2 -subj /CN=other-ca 2>/dev/null
cp ../good/cert.pem ../good/key.pem .
cp ../good/ca.pem ../nocert/ca.pem
