#!/usr/bin/env python3
"""flaky-proxy.py: a reverse proxy in front of portolan-catalog that fails Consul writes on
demand, for the agent's retry test (tests/agent-smoke/run.sh). Never used outside the tests.

  flaky-proxy.py LISTEN_PORT UPSTREAM_HOST:PORT FAILFILE LOGFILE

While FAILFILE exists every PUT is answered "500 injected failure" without reaching the
catalog; otherwise requests are forwarded. Each PUT is logged as one line "<status> <path>".
"""
import http.client
import http.server
import os
import socketserver
import sys
import threading

port, upstream, failfile, logfile = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
lock = threading.Lock()


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, status, body, ctype="text/plain"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def handle_any(self):
        n = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(n) if n else b""
        if self.command == "PUT" and os.path.exists(failfile):
            status, data, ctype = 500, b"injected failure", "text/plain"
        else:
            try:
                c = http.client.HTTPConnection(upstream, timeout=10)
                c.request(self.command, self.path, body=body if self.command != "GET" else None)
                r = c.getresponse()
                status, data, ctype = r.status, r.read(), r.getheader("Content-Type") or "text/plain"
                c.close()
            except OSError as e:
                status, data, ctype = 502, str(e).encode(), "text/plain"
        if self.command == "PUT":
            with lock:
                with open(logfile, "a") as f:
                    f.write("%d %s\n" % (status, self.path))
        self.answer(status, data, ctype)

    do_GET = do_PUT = do_DELETE = handle_any


class Server(socketserver.ThreadingMixIn, http.server.HTTPServer):
    daemon_threads = True
    allow_reuse_address = True


Server(("127.0.0.1", port), Handler).serve_forever()
