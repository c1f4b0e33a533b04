#!/usr/bin/env python3
"""failing_proxy.py <listen-port> <upstream host:port> <service>: a Consul API peer for the
templater-hostile suite. Forwards every request to the upstream catalog (blocking queries
included) except GET /v1/health/service/<service>, which answers 500, as a Consul that cannot
serve one service would. Counts those failures at /ctl/failures."""
import http.client, sys, threading
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

PORT, UP, BAD = int(sys.argv[1]), sys.argv[2], "/v1/health/service/" + sys.argv[3]
FAILS = [0]
LOCK = threading.Lock()

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def answer(self, code, body, headers=()):
        self.send_response(code)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def forward(self, method):
        path = self.path
        if path == "/ctl/failures":
            with LOCK:
                return self.answer(200, str(FAILS[0]).encode())
        if path.split("?")[0] == BAD:
            with LOCK:
                FAILS[0] += 1
            return self.answer(500, b"rpc error: this service cannot be read", [("Content-Type", "text/plain")])
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else None
        c = http.client.HTTPConnection(UP, timeout=120)
        try:
            c.request(method, path, body=body)
            r = c.getresponse()
            data = r.read()
            hdrs = [(k, v) for k, v in r.getheaders() if k.lower().startswith("x-consul") or k.lower() == "content-type"]
            self.answer(r.status, data, hdrs)
        except Exception:
            self.answer(502, b"upstream failed")
        finally:
            c.close()
    def do_GET(self): self.forward("GET")
    def do_PUT(self): self.forward("PUT")

ThreadingHTTPServer.daemon_threads = True
ThreadingHTTPServer(("127.0.0.1", PORT), H).serve_forever()
