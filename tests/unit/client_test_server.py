#!/usr/bin/env python3
"""client_test_server.py: a small HTTP/1.1 peer for the lib/ client unit tests
(test_http_client, test_consul_client, test_docker_client). Not Consul, not Docker: just
enough of each to drive the clients' code paths from a test on 127.0.0.1 or a unix socket.

Usage: client_test_server.py [--unix PATH | --tls CERTDIR]
Prints "READY <port>" (or "READY unix") on stdout once listening; exits on SIGTERM or when
stdin closes (so a crashed test never leaves it behind).

Generic endpoints:
  /echo                 {"method","path","headers","body","conn"} (conn: per-connection id)
  /delay?ms=N           answers "slow" after N ms
  /status?code=N&body=S answers status N with body S (text/plain)
  /stream?n=N&ms=M      chunked: N JSON lines, each split over several chunks, M ms apart
  /big?n=N              N bytes of 'x'
  /garbage              bytes that are not HTTP, then the connection closes
  /manyheaders?n=N      N response headers
  /conns                number of TCP connections accepted so far
Fake Consul (blocking queries on one shared state):
  /ctl/set?index=N&data=JSON   set the index and data (wakes blocked queries); data optional
  /ctl/requests                JSON list of the requests seen (paths; "METHOD path" for non-GET
                               outside /v1/) since the last call (the list is cleared)
  /ctl/fail?n=N                the next N /v1/ requests answer 500 "rpc error: boom"
  /v1/agent/self               {"Config":{"NodeName":"n1"},"headers":{request headers}}
  /v1/<anything>?index=I&wait=W  blocks while state index == I (up to W), answers the data
                               with X-Consul-Index (header spelled "x-consul-index" on purpose,
                               to prove case-insensitive lookup); /v1/kv/* with data null -> 404
  PUT /v1/agent/service/register: 400 "Invalid Service Meta: ..." when Meta has key "bad"
Fake Docker (API version 1.43, so the client must pick 1.41):
  /version, /_ping, /v1.41/info, /v1.41/containers/json, /v1.41/containers/<id>/json
  (404 {"message":"No such container: <id>"} unless id == "abc"), /v1.41/events (streams
  the lines of /ctl/events then ends the stream; after /ctl/cut the next stream breaks
  mid-chunk instead, like a dying daemon)
"""
import json
import os
import socket
import socketserver
import sys
import threading
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler

STATE = {"index": 1, "data": {"hello": "world"}, "requests": [], "conns": 0,
         "events": [{"status": "start", "id": "abc", "Type": "container", "Action": "start",
                     "Actor": {"ID": "abc", "Attributes": {"name": "web"}},
                     "time": 1700000000, "timeNano": 1700000000123456789},
                    {"status": "die", "id": "abc", "Type": "container", "Action": "die",
                     "Actor": {"ID": "abc", "Attributes": {"exitCode": "0"}},
                     "time": 1700000001, "timeNano": 1700000001000000005}]}
COND = threading.Condition()
CONN_IDS = iter(range(1, 1 << 30))


def parse_wait(s):
    if not s:
        return 300.0
    for suffix, mult in (("ms", 0.001), ("s", 1.0), ("m", 60.0)):
        if s.endswith(suffix):
            try:
                return float(s[: -len(suffix)]) * mult
            except ValueError:
                pass
    # Go form like "1m0s"
    total, num = 0.0, ""
    for ch in s:
        if ch.isdigit() or ch == ".":
            num += ch
        else:
            total += float(num or 0) * {"h": 3600, "m": 60, "s": 1}.get(ch, 0)
            num = ""
    return total


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        if self.connection.family == socket.AF_INET:
            # headers and body go out in separate writes: without this, delayed ACKs add 40 ms
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.conn_id = next(CONN_IDS)
        with COND:
            STATE["conns"] += 1

    def log_message(self, *args):
        pass

    def send(self, code, body, ctype="application/json", headers=None):
        if isinstance(body, str):
            body = body.encode()
        self.send_response(code)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        for k, v in (headers or {}).items():
            self.send_header(k, v)
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def body(self):
        n = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(n) if n else b""

    def do_GET(self):
        self.route()

    def do_PUT(self):
        self.route()

    def do_POST(self):
        self.route()

    def do_DELETE(self):
        self.route()

    def route(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        p = u.path
        body = self.body()
        if not p.startswith("/ctl/"):
            with COND:
                STATE["requests"].append(self.command + " " + self.path if self.command != "GET" and not p.startswith("/v1/") else self.path)
        if p == "/echo":
            self.send(200, json.dumps({"method": self.command, "path": self.path,
                                       "headers": {k: v for k, v in self.headers.items()},
                                       "body": body.decode("utf-8", "replace"),
                                       "conn": self.conn_id}))
        elif p == "/delay":
            time.sleep(int(q.get("ms", ["100"])[0]) / 1000.0)
            self.send(200, "slow", "text/plain")
        elif p == "/status":
            self.send(int(q["code"][0]), q.get("body", [""])[0], "text/plain")
        elif p == "/big":
            self.send(200, "x" * int(q["n"][0]), "text/plain")
        elif p == "/garbage":
            # not HTTP at all, then hang up
            self.wfile.write(b"\x00\xffSSH-2.0-nonsense\r\n\r\n")
            self.wfile.flush()
            self.close_connection = True
        elif p == "/manyheaders":
            self.send_response(200)
            for i in range(int(q.get("n", ["2000"])[0])):
                self.send_header("X-H%d" % i, "v" * 50)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")
        elif p == "/conns":
            self.send(200, str(STATE["conns"]))
        elif p == "/stream":
            self.stream(int(q.get("n", ["3"])[0]), int(q.get("ms", ["10"])[0]))
        elif p == "/ctl/set":
            with COND:
                STATE["index"] = int(q["index"][0])
                if "data" in q:
                    STATE["data"] = json.loads(q["data"][0])
                COND.notify_all()
            self.send(200, "true")
        elif p == "/ctl/cut":
            STATE["cut"] = True
            self.send(200, "true")
        elif p == "/ctl/fail":
            with COND:
                STATE["fail"] = int(q["n"][0])
            self.send(200, "true")
        elif p == "/ctl/requests":
            with COND:
                reqs, STATE["requests"] = STATE["requests"], []
            self.send(200, json.dumps(reqs))
        elif p == "/ctl/events":
            STATE["events"] = json.loads(body)
            self.send(200, "true")
        elif p in ("/version", "/v1.41/version"):
            self.send(200, json.dumps({"ApiVersion": "1.43", "MinAPIVersion": "1.12", "Version": "24.0.0"}))
        elif p == "/_ping":
            self.send(200, "OK", "text/plain")
        elif p == "/v1.41/info":
            self.send(200, json.dumps({"Name": "node1", "Swarm": {"NodeID": ""}}))
        elif p == "/v1.41/containers/json":
            self.send(200, json.dumps([{"Id": "abc", "Names": ["/web"], "filters": q.get("filters", [""])[0]}]))
        elif p.startswith("/v1.41/containers/") and p.endswith("/json"):
            cid = urllib.parse.unquote(p[len("/v1.41/containers/"):-len("/json")])
            if cid == "abc":
                self.send(200, json.dumps({"Id": "abc", "Name": "/web", "Config": {"Labels": {}}}))
            else:
                self.send(404, json.dumps({"message": "No such container: " + cid}))
        elif p == "/v1.41/containers/create":
            self.send(201, json.dumps({"Id": "new1", "Warnings": [], "name": q.get("name", [""])[0],
                                       "ctype": self.headers.get("Content-Type"),
                                       "body": json.loads(body or b"null")}))
        elif p.startswith("/v1.41/containers/") and p.endswith("/start"):
            self.send(304, "") if "already" in p else self.send_empty(204)
        elif p == "/v1.41/events":
            self.events(q)
        elif p.startswith("/v1/"):
            self.consul(p, q, body)
        else:
            self.send(404, "not found", "text/plain")

    def send_empty(self, code):
        self.send_response(code)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def chunk(self, data):
        self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
        self.wfile.flush()

    def stream(self, n, ms):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        for i in range(n):
            line = (json.dumps({"seq": i, "pad": "p" * (i * 7 % 50)}) + "\n").encode()
            # split every line in three pieces so lines cross chunk boundaries
            a, b = len(line) // 3, 2 * len(line) // 3
            for piece in (line[:a], line[a:b], line[b:]):
                self.chunk(piece)
                time.sleep(ms / 3000.0)
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def events(self, q):
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        data = b"".join(json.dumps(e).encode() + b"\n" for e in STATE["events"])
        if STATE.pop("cut", False):
            # the daemon dies mid-stream: half a chunk, then the connection goes away
            self.chunk(data[:len(data) // 2 + 3])
            self.wfile.write(b"ff\r\n{\"partial")
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)
            self.close_connection = True
            return
        data += b"not json\n"
        for i in range(0, len(data), 17):
            self.chunk(data[i:i + 17])
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()
        self.close_connection = True

    def consul(self, p, q, body):
        with COND:
            fail = STATE.get("fail", 0)
            if fail > 0:
                STATE["fail"] = fail - 1
        if fail > 0:
            self.send(500, "rpc error: boom", "text/plain")
            return
        if p == "/v1/agent/self":
            self.send(200, json.dumps({"Config": {"NodeName": "n1"},
                                       "headers": {k: v for k, v in self.headers.items()}}))
            return
        if p == "/v1/agent/service/register":
            svc = json.loads(body or b"{}")
            if "bad" in (svc.get("Meta") or {}):
                self.send(400, "Invalid Service Meta: Couldn't load metadata pair ('bad', 'x'): Key contains invalid characters", "text/plain")
            else:
                self.send(200, "", "text/plain", {"X-Echo-Token": self.headers.get("X-Consul-Token", "")})
            return
        index = int(q["index"][0]) if "index" in q else 0
        wait = parse_wait(q.get("wait", [""])[0])
        deadline = time.time() + wait
        with COND:
            while index > 0 and STATE["index"] == index:
                left = deadline - time.time()
                if left <= 0:
                    break
                COND.wait(left)
            idx, data = STATE["index"], STATE["data"]
        if p.startswith("/v1/kv/") and data is None:
            self.send(404, "", "text/plain", {"x-consul-index": str(idx)})
        else:
            self.send(200, json.dumps(data), "application/json", {"x-consul-index": str(idx)})


class Quiet:
    daemon_threads = True
    request_queue_size = 256  # tests open dozens of connections at once

    def handle_error(self, request, client_address):
        pass  # clients that cancel or time out break pipes on purpose


class TCPServer(Quiet, socketserver.ThreadingMixIn, socketserver.TCPServer):
    allow_reuse_address = True


class UnixServer(Quiet, socketserver.ThreadingMixIn, socketserver.UnixStreamServer):
    pass


def main():
    if len(sys.argv) > 2 and sys.argv[1] == "--unix":
        path = sys.argv[2]
        if os.path.exists(path):
            os.unlink(path)
        srv = UnixServer(path, Handler)
        ready = "READY unix"
    else:
        srv = TCPServer(("127.0.0.1", 0), Handler)
        ready = "READY %d" % srv.server_address[1]
        if len(sys.argv) > 2 and sys.argv[1] == "--tls":
            # mutual TLS like a dockerd started with --tlsverify: server cert + client certs
            # signed by ca.pem in the given directory
            import ssl
            d = sys.argv[2]
            ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            ctx.load_cert_chain(os.path.join(d, "server-cert.pem"), os.path.join(d, "server-key.pem"))
            ctx.load_verify_locations(os.path.join(d, "ca.pem"))
            ctx.verify_mode = ssl.CERT_REQUIRED
            srv.socket = ctx.wrap_socket(srv.socket, server_side=True)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    print(ready, flush=True)
    try:
        sys.stdin.read()  # returns when the test closes its end (or dies)
    except KeyboardInterrupt:
        pass
    os._exit(0)


if __name__ == "__main__":
    main()
