#!/usr/bin/env python3
"""consul-proxy.py: a recording reverse proxy in front of portolan-catalog, for the agent tests.

It lets the tests see exactly what the agent sends to "Consul" (method, path, X-Consul-Token and
the JSON body of every request) and lets one catalog be reached over the transports the agent
supports but the catalog may not: plain TCP, TLS (consul-tls://, optionally requiring a client
certificate) and a unix socket (consul-unix://).

  consul-proxy.py --upstream 127.0.0.1:8500 --log requests.jsonl
                  (--listen 127.0.0.1:PORT | --unix /path.sock)
                  [--tls-cert cert.pem --tls-key key.pem [--tls-client-ca ca.pem]]

Every request is appended to the log as one JSON line:
  {"t": unix-time, "method": "PUT", "path": "/v1/agent/service/register", "token": "...",
   "body": <parsed JSON or the raw text or null>, "status": upstream status}
Answers 502 when the upstream is down. Never used outside the tests.
"""
import argparse
import http.client
import http.server
import json
import os
import socket
import socketserver
import ssl
import sys
import threading
import time

args = None
log_lock = threading.Lock()


def record(entry):
    with log_lock:
        with open(args.log, "a") as f:
            f.write(json.dumps(entry) + "\n")


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):  # keep stderr quiet
        pass

    def address_string(self):  # unix sockets have no peer tuple
        return "client"

    def read_body(self):
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            out = b""
            while True:
                line = self.rfile.readline()
                n = int(line.split(b";")[0].strip() or b"0", 16)
                if n == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass
                    return out
                out += self.rfile.read(n)
                self.rfile.readline()
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def handle_any(self):
        body = self.read_body()
        entry = {"t": time.time(), "method": self.command, "path": self.path,
                 "token": self.headers.get("X-Consul-Token"), "body": None}
        if body:
            try:
                entry["body"] = json.loads(body)
            except ValueError:
                entry["body"] = body.decode("utf-8", "replace")
        hdrs = {k: v for k, v in self.headers.items()
                if k.lower() not in ("host", "content-length", "transfer-encoding", "connection")}
        try:
            up = http.client.HTTPConnection(args.upstream, timeout=700)
            up.request(self.command, self.path, body=body if body or self.command in ("PUT", "POST") else None,
                       headers=hdrs)
            resp = up.getresponse()
            data = resp.read()
            status, reason, rh = resp.status, resp.reason, resp.getheaders()
            up.close()
        except OSError as e:
            status, reason, rh, data = 502, "Bad Gateway", [], ("proxy: upstream: %s" % e).encode()
        entry["status"] = status
        record(entry)
        self.send_response_only(status, reason)
        for k, v in rh:
            if k.lower() not in ("content-length", "transfer-encoding", "connection", "date"):
                self.send_header(k, v)
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    do_GET = do_PUT = do_POST = do_DELETE = do_OPTIONS = do_HEAD = handle_any


class TCPServer(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


class UnixServer(socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    daemon_threads = True

    def get_request(self):
        conn, _ = self.socket.accept()
        return conn, ("unix", 0)


def main():
    global args
    p = argparse.ArgumentParser()
    p.add_argument("--upstream", required=True)
    p.add_argument("--log", required=True)
    p.add_argument("--listen")
    p.add_argument("--unix")
    p.add_argument("--tls-cert")
    p.add_argument("--tls-key")
    p.add_argument("--tls-client-ca")
    args = p.parse_args()
    if args.unix:
        if os.path.exists(args.unix):
            os.unlink(args.unix)
        srv = UnixServer(args.unix, Handler)
    else:
        host, port = args.listen.rsplit(":", 1)
        srv = TCPServer((host, int(port)), Handler)
    if args.tls_cert:
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(args.tls_cert, args.tls_key)
        if args.tls_client_ca:
            ctx.load_verify_locations(args.tls_client_ca)
            ctx.verify_mode = ssl.CERT_REQUIRED
        srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    open(args.log, "a").close()
    srv.serve_forever()


if __name__ == "__main__":
    main()
