#!/usr/bin/env python3
"""fake_consul.py: a minimal Consul HTTP API peer for the templater suite and benchmarks, used
only when portolan-catalog is not built. Implements what portolan-templater reads and what the
tests write: agent service register/deregister (with one TTL check per service: Check.TTL or
Check.Status), agent/check/pass|warn|fail|update, catalog/services, health/service/<name>,
health/state/any, kv GET (?recurse) / PUT / DELETE, blocking queries (?index&wait), X-Consul-Index.
Usage: fake_consul.py <port> [--preload N M PORT]: N services svc-<i> x M instances (tag rest,
127.0.0.1:PORT+j, no checks), for benchmarks."""
import base64, socket, json, re, sys, threading, time, urllib.parse
from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler

lock = threading.Condition()
state = {"by_name": {}, "index": 1, "services": {}, "checks": {}, "kv": {}, "svc_index": {}, "services_index": 1,
         "checks_index": 1, "kv_index": 1}

def bump(kind, name=None, checks=False):
    state["index"] += 1
    i = state["index"]
    if kind == "services":
        state["services_index"] = i
    if kind == "checks" or checks:
        state["checks_index"] = i
    if kind in ("services", "checks") and name:
        state["svc_index"][name] = i
    if kind == "kv":
        state["kv_index"] = i
    lock.notify_all()

def parse_wait(q):
    w = q.get("wait", ["60s"])[0]
    m = re.fullmatch(r"(\d+)(ms|s|m)", w)
    if not m:
        return 60
    n = int(m.group(1))
    return n / 1000 if m.group(2) == "ms" else n * 60 if m.group(2) == "m" else n

def health_entries(name):
    out = []
    for sid in sorted(state["by_name"].get(name, ())):
        s = state["services"][sid]
        checks = [c for c in state["checks"].values() if c["ServiceID"] == sid] if state["checks"] else []
        out.append({"Node": {"Node": "node1", "Address": "127.0.0.1"}, "Service": s, "Checks": checks})
    return out

class H(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def log_message(self, *a): pass
    def setup(self):
        super().setup()
        # headers and body go out in two writes: without this, Nagle + delayed ACK add 40 ms
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def reply(self, code, body, index=None):
        data = body if isinstance(body, bytes) else json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        if index is not None:
            self.send_header("X-Consul-Index", str(index))
            self.send_header("X-Consul-Knownleader", "true")
        self.end_headers()
        self.wfile.write(data)

    def blocking(self, q, index_fn):
        idx = int(q.get("index", ["0"])[0] or 0)
        deadline = time.time() + parse_wait(q)
        with lock:
            while idx and index_fn() <= idx and time.time() < deadline:
                lock.wait(max(0.0, deadline - time.time()))
            return index_fn()

    def do_GET(self):
        u = urllib.parse.urlsplit(self.path)
        q = urllib.parse.parse_qs(u.query, keep_blank_values=True)
        p = urllib.parse.unquote(u.path)
        if p == "/v1/status/leader":
            return self.reply(200, "127.0.0.1:8300")
        if p == "/v1/catalog/services":
            i = self.blocking(q, lambda: state["services_index"])
            with lock:
                out = {}
                for s in state["services"].values():
                    out.setdefault(s["Service"], set()).update(s["Tags"])
                return self.reply(200, {k: sorted(v) for k, v in out.items()}, i)
        if p.startswith("/v1/health/service/"):
            name = p[len("/v1/health/service/"):]
            i = self.blocking(q, lambda: state["svc_index"].get(name, 1))
            with lock:
                return self.reply(200, health_entries(name), i)
        if p.startswith("/v1/health/state/"):
            i = self.blocking(q, lambda: state["checks_index"])
            with lock:
                return self.reply(200, list(state["checks"].values()), i)
        if p.startswith("/v1/kv/"):
            key = p[len("/v1/kv/"):]
            i = self.blocking(q, lambda: state["kv_index"])
            with lock:
                if "recurse" in q:
                    ents = [{"Key": k, "Value": base64.b64encode(v).decode(), "Flags": 0, "LockIndex": 0,
                             "CreateIndex": 1, "ModifyIndex": 1} for k, v in sorted(state["kv"].items()) if k.startswith(key)]
                else:
                    ents = [{"Key": key, "Value": base64.b64encode(state["kv"][key]).decode(), "Flags": 0}] if key in state["kv"] else []
                if not ents:
                    return self.reply(404, b"", i)
                return self.reply(200, ents, i)
        self.reply(404, b"Invalid URL path: not a recognized HTTP API endpoint\n")

    def do_PUT(self):
        u = urllib.parse.urlsplit(self.path)
        p = urllib.parse.unquote(u.path)
        n = int(self.headers.get("Content-Length", "0") or 0)
        body = self.rfile.read(n) if n else b""
        with lock:
            if p == "/v1/agent/service/register":
                r = json.loads(body)
                sid = r.get("ID") or r["Name"]
                svc = {"ID": sid, "Service": r["Name"], "Tags": r.get("Tags") or [], "Address": r.get("Address", ""),
                       "Meta": r.get("Meta") or {}, "Port": r.get("Port", 0)}
                old = state["services"].get(sid)
                if old:
                    state["by_name"][old["Service"]].discard(sid)
                state["services"][sid] = svc
                state["by_name"].setdefault(svc["Service"], set()).add(sid)
                chk = r.get("Check")
                if chk:
                    cid = chk.get("CheckID") or "service:" + sid
                    st = chk.get("Status") or ("critical" if chk.get("TTL") else "passing")
                    state["checks"][cid] = {"Node": "node1", "CheckID": cid, "Name": "check", "Status": st,
                                            "ServiceID": sid, "ServiceName": r["Name"], "ModifyIndex": state["index"] + 1}
                if old and old["Service"] != r["Name"]:
                    bump("services", old["Service"], True)
                bump("services", r["Name"], bool(chk))
                return self.reply(200, b"")
            if p.startswith("/v1/agent/service/deregister/"):
                sid = p.rsplit("/", 1)[1]
                s = state["services"].pop(sid, None)
                if s:
                    state["by_name"][s["Service"]].discard(sid)
                cids = [c for c, v in state["checks"].items() if v["ServiceID"] == sid]
                for cid in cids:
                    del state["checks"][cid]
                if s:
                    bump("services", s["Service"], bool(cids))
                return self.reply(200, b"")
            m = re.fullmatch(r"/v1/agent/check/(pass|warn|fail|update)/(.+)", p)
            if m:
                c = state["checks"].get(m.group(2))
                if not c:
                    return self.reply(404, b"Unknown check ID")
                st = {"pass": "passing", "warn": "warning", "fail": "critical"}.get(m.group(1))
                if st is None:
                    st = json.loads(body).get("Status", "passing")
                if c["Status"] != st:
                    c["Status"] = st
                    c["ModifyIndex"] = state["index"] + 1
                    bump("checks", c["ServiceName"])
                return self.reply(200, b"")
            if p.startswith("/v1/kv/"):
                state["kv"][p[len("/v1/kv/"):]] = body
                bump("kv")
                return self.reply(200, b"true")
        self.reply(404, b"Invalid URL path\n")

    def do_DELETE(self):
        p = urllib.parse.unquote(urllib.parse.urlsplit(self.path).path)
        with lock:
            if p.startswith("/v1/kv/"):
                state["kv"].pop(p[len("/v1/kv/"):], None)
                bump("kv")
        self.reply(200, b"true")

if len(sys.argv) > 2 and sys.argv[2] == "--preload":
    n, m, base = int(sys.argv[3]), int(sys.argv[4]), int(sys.argv[5])
    for i in range(n):
        for j in range(m):
            sid = "svc-%d-%d" % (i, j)
            state["services"][sid] = {"ID": sid, "Service": "svc-%d" % i, "Tags": ["rest"], "Address": "127.0.0.1",
                                      "Meta": {}, "Port": base + j}
            state["by_name"].setdefault("svc-%d" % i, set()).add(sid)
        state["svc_index"]["svc-%d" % i] = 2
    state["index"] = state["services_index"] = 2

class S(ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256
    def handle_error(self, request, client_address):
        pass

S(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
