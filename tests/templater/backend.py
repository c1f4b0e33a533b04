#!/usr/bin/env python3
"""backend.py <port> <name>: an HTTP backend on 127.0.0.1 that answers every GET with
"<name> <path>\n" (its identity and the path it received), for the templater suite and benchmarks."""
import socket, sys
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

NAME = sys.argv[2]

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    def do_GET(self):
        b = ("%s %s\n" % (NAME, self.path)).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(b)))
        self.end_headers()
        self.wfile.write(b)

class S(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 512
    def handle_error(self, request, client_address):
        pass  # HAProxy closing idle connections is not an error

S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
