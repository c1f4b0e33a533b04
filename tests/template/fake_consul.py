#!/usr/bin/env python3
"""tests/template/fake_consul.py: a read-only Consul HTTP API on 127.0.0.1 serving a JSON
snapshot (tests/template/cases/snapshot.json format), for driving portolan-templater's template
mode in tests without a catalog. Answers use Consul's shapes (consul_answers.py) and carry
X-Consul-Index: 1; a blocking query (?index=1) is held up to 1 s, then answered unchanged.

    fake_consul.py PORT SNAPSHOT.json"""
import json
import sys
import time
import urllib.parse
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

sys.path.insert(0, __import__("os").path.dirname(__file__))
from consul_answers import SnapshotSource, instance_answer, kv_entry  # noqa: E402

port, path = int(sys.argv[1]), sys.argv[2]
src = SnapshotSource(path)


def health_state():
    out = []
    for inst in src.snap.get("services", []):
        a = instance_answer(src.snap, inst)
        for c in a["Checks"]:
            out.append({"Node": a["Node"]["Node"], "CheckID": c["CheckID"], "Name": c["CheckID"], "Status": c["Status"],
                        "ServiceID": "" if c["CheckID"] == "serfHealth" else a["Service"]["ID"],
                        "ServiceName": "" if c["CheckID"] == "serfHealth" else a["Service"]["Service"]})
    return out


class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *a):
        pass

    def answer(self, code, body):
        data = json.dumps(body).encode() if code == 200 else b""
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Consul-Index", "1")
        self.send_header("X-Consul-Knownleader", "true")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        if q.get("index", ["0"])[0] not in ("", "0"):
            time.sleep(1)
        p = urllib.parse.unquote(u.path)
        if p == "/v1/status/leader":
            return self.answer(200, "127.0.0.1:8300")
        if p == "/v1/agent/self":
            return self.answer(200, {"Config": {"Datacenter": "dc1", "NodeName": "fake"}})
        if p == "/v1/catalog/services":
            return self.answer(200, src.services())
        if p.startswith("/v1/health/service/"):
            return self.answer(200, src.health(p[len("/v1/health/service/"):]) or [])
        if p.startswith("/v1/health/state/"):
            return self.answer(200, health_state())
        if p.startswith("/v1/kv/"):
            key = p[len("/v1/kv/"):]
            v = src.prefix(key) if "recurse" in q else src.key(key)
            return self.answer(200, v) if v is not None else self.answer(404, None)
        self.answer(404, None)


ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()
