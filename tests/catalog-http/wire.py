#!/usr/bin/env python3
"""tests/catalog-http/wire.py: socket-level probes of portolan-catalog's HTTP server that curl cannot
express. Each subcommand prints one line of facts ("key=value ...") for run.sh to assert on;
it never decides pass/fail itself. Every probe is bounded in time.

  conns HOST:PORT N        open N+1 connections, send one GET on the last; report its status
                           and whether the server closed it; then check an earlier one still works
  bigheader HOST:PORT N    one request with an N-byte header; report the status
  pipeline HOST:PORT       three GETs in one write; report the order of the answers
  slowheader HOST:PORT S   send half a request line, wait up to S seconds for the close
  idle HOST:PORT S         one full request, then idle; report when (if) the server closes
  chunked HOST:PORT        a chunked PUT of a KV value; report the status and body
  parkstorm HOST:PORT N R  R rounds: N blocking GETs parked on N connections (several queries:
                           health/service, catalog/services, KV key, KV prefix); half the clients
                           vanish (RST or FIN) while parked; one write; the other half must answer
                           with a higher index; report how many did
  wakeprops HOST:PORT N SEED  N random writes; before each, ~36 different blocking queries are
                           parked at their current index; after it, every query whose answer
                           changed must have answered, and only with a higher index (server.c's
                           wake matching, end to end); reports the mismatches
  backend PORT FILE        an HTTP server on 127.0.0.1:PORT answering every request with the status
                           code written in FILE (read per request; "hang": never answer), and
                           recording the last request to /probe*: method, path, X- headers, body in FILE.req
"""
import os
import socket
import sys
import time


def addr(s):
    h, p = s.rsplit(":", 1)
    return h, int(p)


_pending = {}  # socket -> bytes read past the previous response (pipelining)


def read_response(sock, timeout=5.0):
    """Reads one HTTP response (Content-Length framed), keeping any bytes of the next one for
    the next call. Returns (status, headers, body) or (None, {}, b"") when the peer closed."""
    sock.settimeout(timeout)
    buf = _pending.pop(sock, b"")
    while b"\r\n\r\n" not in buf:
        try:
            d = sock.recv(65536)
        except (socket.timeout, ConnectionResetError):
            return None, {}, b""
        if not d:
            return None, {}, b""
        buf += d
    head, rest = buf.split(b"\r\n\r\n", 1)
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    hdrs = {}
    for l in lines[1:]:
        k, v = l.split(":", 1)
        hdrs[k.strip().lower()] = v.strip()
    n = int(hdrs.get("content-length", "0"))
    while len(rest) < n:
        try:
            d = sock.recv(65536)
        except socket.timeout:
            break
        if not d:
            break
        rest += d
    if len(rest) > n:
        _pending[sock] = rest[n:]
    return status, hdrs, rest[:n]


def closed_by_peer(sock, timeout):
    sock.settimeout(timeout)
    try:
        while True:
            d = sock.recv(4096)
            if not d:
                return True
    except socket.timeout:
        return False
    except (ConnectionResetError, BrokenPipeError):
        return True


def parked(port):
    """How many connections to the local server on port have had their request read (empty
    receive queue, bytes received) and no answer yet (nothing sent): parked queries, on fresh
    connections. The catalog parks in the read callback that reads the request, so once a query
    counts here any later request is handled after it was parked."""
    import subprocess
    out = subprocess.run(["ss", "-tniH", "state", "established", "( sport = :%d )" % port],
                         capture_output=True, text=True).stdout
    n, rq = 0, None
    for line in out.splitlines():
        if not line[:1].isspace():
            rq = line.split()[0]
        elif rq == "0" and "bytes_received:" in line and "bytes_sent:" not in line:
            n += 1
    return n


def wait_parked(a, n, secs=20):
    """Until at least n queries are parked on a's port (instead of a fixed sleep that a loaded
    machine can outlast); returns whether they were."""
    deadline = time.monotonic() + secs
    while parked(a[1]) < n:
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def get(path, host="x"):
    return ("GET %s HTTP/1.1\r\nHost: %s\r\n\r\n" % (path, host)).encode()


def cmd_conns(a, n):
    socks = []
    try:
        for _ in range(n):
            s = socket.create_connection(a, timeout=5)
            socks.append(s)
        time.sleep(0.2)
        extra = socket.create_connection(a, timeout=5)
        try:
            extra.sendall(get("/v1/status/leader"))
        except OSError:
            pass
        st, _, _ = read_response(extra)
        closed = closed_by_peer(extra, 3)
        extra.close()
        # an earlier connection still works
        socks[0].sendall(get("/v1/status/leader"))
        st0, _, body0 = read_response(socks[0])
        print("extra_status=%s extra_closed=%d first_status=%s" % (st, int(closed), st0))
    finally:
        for s in socks:
            s.close()
    # after they are closed, a new connection is accepted again: retried for up to 10 s (the
    # server has to see 200 closes first; a fixed 0.3 s was a guess a loaded machine can outlast).
    # A server that never forgets closed connections still answers 429 every time.
    deadline = time.monotonic() + 10
    while True:
        s = socket.create_connection(a, timeout=5)
        s.sendall(get("/v1/status/leader"))
        st, _, _ = read_response(s)
        s.close()
        if st == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    print("after_status=%s" % st)


def cmd_bigheader(a, n):
    s = socket.create_connection(a, timeout=5)
    req = b"GET /v1/status/leader HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * n + b"\r\n\r\n"
    try:
        s.sendall(req)
    except OSError:
        pass
    st, _, _ = read_response(s)
    print("status=%s" % st)
    s.close()


def cmd_pipeline(a):
    s = socket.create_connection(a, timeout=5)
    s.sendall(get("/v1/kv/p1?raw") + get("/v1/status/leader") + get("/v1/kv/p2?raw"))
    order = []
    for _ in range(3):
        st, h, body = read_response(s)
        order.append("%s:%s" % (st, body.decode(errors="replace")))
    print("answers=" + "|".join(order))
    s.close()


def cmd_slowheader(a, secs):
    s = socket.create_connection(a, timeout=5)
    t0 = time.time()
    s.sendall(b"GET /v1/status/lea")
    closed = closed_by_peer(s, secs)
    print("closed=%d after_ms=%d" % (int(closed), int((time.time() - t0) * 1000)))
    s.close()


def cmd_idle(a, secs):
    s = socket.create_connection(a, timeout=5)
    s.sendall(get("/v1/status/leader"))
    st, _, _ = read_response(s)
    t0 = time.time()
    closed = closed_by_peer(s, secs)
    print("status=%s closed=%d after_ms=%d" % (st, int(closed), int((time.time() - t0) * 1000)))
    s.close()


def cmd_chunked(a):
    s = socket.create_connection(a, timeout=5)
    s.sendall(b"PUT /v1/kv/chunked HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
              b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n")
    st, _, body = read_response(s)
    s.sendall(get("/v1/kv/chunked?raw"))
    st2, _, body2 = read_response(s)
    print("put=%s:%s get=%s:%s" % (st, body.decode(), st2, body2.decode()))
    s.close()


def http_put(a, path, body):
    s = socket.create_connection(a, timeout=5)
    s.sendall(("PUT %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (path, len(body))).encode() + body)
    st, h, b = read_response(s)
    s.close()
    return st, h, b


def cmd_parkstorm(a, n, rounds):
    import struct
    woken = expected = 0
    for rnd in range(rounds):
        queries = ["/v1/health/service/storm", "/v1/catalog/services", "/v1/kv/storm/k",
                   "/v1/kv/storm/?recurse"]
        idx = {}
        for q in queries:
            s = socket.create_connection(a, timeout=5)
            s.sendall(get(q))
            st, h, _ = read_response(s)
            idx[q] = int(h.get("x-consul-index", "1"))
            s.close()
        socks = []
        for i in range(n):
            q = queries[i % len(queries)]
            s = socket.create_connection(a, timeout=5)
            sep = "&" if "?" in q else "?"
            s.sendall(get("%s%sindex=%d&wait=60s" % (q, sep, idx[q])))
            socks.append((s, q))
        wait_parked(a, n)   # (was a fixed 0.3 s) the vanishing half must vanish while parked
        keep = []
        for i, (s, q) in enumerate(socks):
            if i % 2 == 0:
                if i % 4 == 0:  # abortive close: RST
                    s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                s.close()
            else:
                keep.append((s, q))
        time.sleep(0.2)  # the server sees the closes; if not yet, it writes to a dead socket: also fine
        # one write that raises every watched index
        http_put(a, "/v1/agent/service/register",
                 ('{"Name":"storm","ID":"storm-%d","Tags":["r%d"]}' % (rnd, rnd)).encode())
        http_put(a, "/v1/kv/storm/k", b"r%d" % rnd)
        for s, q in keep:
            expected += 1
            st, h, _ = read_response(s, timeout=10)
            if st == 200 and int(h.get("x-consul-index", "0")) > idx[q]:
                woken += 1
            s.close()
    print("woken=%d expected=%d" % (woken, expected))


def cmd_wakeprops(a, steps, seed):
    import random
    import select
    rnd = random.Random(seed)
    names = ["web", "db", "Cache"]
    keys = ["a", "a/b", "a/c", "a/c/d", "b/x", "bb"]
    queries = ["/v1/catalog/services", "/v1/catalog/nodes", "/v1/health/state/any",
               "/v1/health/state/critical", "/v1/health/state/passing"]
    for n in names:
        queries += ["/v1/catalog/service/%s" % n, "/v1/catalog/service/%s?tag=t1" % n,
                    "/v1/health/service/%s" % n, "/v1/health/service/%s?passing" % n,
                    "/v1/health/checks/%s" % n]
    queries += ["/v1/kv/%s" % k for k in keys]
    queries += ["/v1/kv/a?recurse", "/v1/kv/a/?keys&separator=/", "/v1/kv/?keys", "/v1/kv/b?recurse"]

    def state_of(q):
        s = socket.create_connection(a, timeout=5)
        s.sendall(get(q))
        st, h, body = read_response(s)
        s.close()
        return int(h.get("x-consul-index", "0")), (st, body)

    def write():
        i = rnd.randrange(6)
        k = rnd.randrange(12)
        if k < 3:
            body = '{"Name":"%s","ID":"s%d","Port":%d,"Tags":[%s]%s}' % (
                rnd.choice(names), i, 8000 + rnd.randrange(3), rnd.choice(['"t1","t2"', '"t2"']),
                rnd.choice(['', ',"Check":{"TTL":"1h"}', ',"Check":{"TTL":"1h","Status":"passing"}']))
            return "PUT", "/v1/agent/service/register", body
        if k == 3:
            return "PUT", "/v1/agent/service/deregister/s%d" % i, ""
        if k == 4:
            return "PUT", "/v1/agent/check/%s/service:s%d?note=n%d" % (rnd.choice(["pass", "warn", "fail"]), i, rnd.randrange(2)), ""
        if k == 5:
            return "PUT", "/v1/agent/service/maintenance/s%d?enable=%s&reason=r" % (i, rnd.choice(["true", "false"])), ""
        if k in (6, 7):
            return "PUT", "/v1/kv/%s?flags=%d" % (rnd.choice(keys), rnd.randrange(2)), "v%d" % rnd.randrange(3)
        if k == 8:
            return "DELETE", "/v1/kv/%s%s" % (rnd.choice(keys), rnd.choice(["", "?recurse"])), ""
        if k == 9:
            return "PUT", "/v1/agent/check/register", '{"Name":"nc","CheckID":"nc%d","TTL":"1h"%s}' % (
                rnd.randrange(2), rnd.choice(["", ',"Status":"passing"']))
        if k == 10:
            return "PUT", "/v1/agent/check/deregister/nc%d" % rnd.randrange(2), ""
        return "PUT", "/v1/kv/%s?cas=0" % rnd.choice(keys), "c"

    bad = []
    for step in range(steps):
        before = {q: state_of(q) for q in queries}
        idx = {q: before[q][0] for q in queries}
        socks = {}
        for q in queries:
            s = socket.create_connection(a, timeout=5)
            sep = "&" if "?" in q else "?"
            s.sendall(get("%s%sindex=%d&wait=60s" % (q, sep, idx[q])))  # (60 s: no step comes near it, so a timeout answer cannot pass for a wake-up)
            socks[s] = q
        # every query parked before the write (was a fixed 0.1 s: on a loaded machine some were
        # not read yet, so the write landed first and the step tested less)
        if not wait_parked(a, len(queries)):
            bad.append("step %d: only %d of %d queries parked" % (step, parked(a[1]), len(queries)))
        early, _, _ = select.select(list(socks), [], [], 0)
        m, p, body = write()
        s = socket.create_connection(a, timeout=5)
        s.sendall(("%s %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (m, p, len(body))).encode() + body.encode())
        read_response(s)
        s.close()
        # the answers that must come: every query whose answer changed. Wait up to 3 s for them
        # (was a fixed 0.2 s). The catalog answers every woken query in the one pass that handles
        # the write, so once the ones that must answer have, any wrong wake-up has answered too.
        after = {q: state_of(q) for q in queries}
        must = [s for s, q in socks.items() if after[q][1] != before[q][1]]
        deadline = time.monotonic() + 3   # (a server that never wakes them costs 3 s a step)
        while must and time.monotonic() < deadline:
            r, _, _ = select.select(must, [], [], 0.1)
            must = [s for s in must if s not in r]
        time.sleep(0.1)
        ready, _, _ = select.select(list(socks), [], [], 0)
        for s, q in socks.items():
            now, answer = after[q]
            answered = s in ready
            changed = answer != before[q][1]
            # an answer needs a higher index; a changed answer needs an answer. (An index that
            # rose without a change may leave the query parked: a missing KV key keeps waiting
            # on other keys' writes although its index is the table's.)
            if s in early:
                bad.append("step %d: %s answered before the write" % (step, q))
            elif answered and now <= idx[q]:
                bad.append("step %d %s %s: %s answered with its index unchanged (%d)" % (step, m, p, q, now))
            elif changed and not answered:
                bad.append("step %d %s %s: %s changed but stayed parked (index %d -> %d)" % (step, m, p, q, idx[q], now))
            s.close()
    print("mismatches=%d" % len(bad))
    for b in bad[:10]:
        print("# " + b)


def cmd_backend(port, path):
    import http.server

    class H(http.server.BaseHTTPRequestHandler):
        def answer(self):
            n = int(self.headers.get("Content-Length", "0") or "0")
            got = self.rfile.read(n) if n else b""
            # record the last request to /probe* for the check-fidelity tests
            with open(path + ".req" if self.path.startswith("/probe") else os.devnull, "w") as f:
                f.write("%s %s\n" % (self.command, self.path))
                for k in sorted(set(self.headers.keys())):
                    if k.lower().startswith("x-"):
                        f.write("%s: %s\n" % (k, ",".join(self.headers.get_all(k))))
                f.write("body: %s\n" % got.decode(errors="replace"))
            try:
                spec = open(path).read().strip() or "200"
            except OSError:
                spec = "200"
            if spec == "hang":
                time.sleep(30)
                return
            code = int(spec)
            body = b"status %d" % code
            self.send_response(code)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        do_GET = do_POST = do_PUT = do_HEAD = answer

        def log_message(self, *args):
            pass

    http.server.ThreadingHTTPServer(("127.0.0.1", port), H).serve_forever()


def main():
    if sys.argv[1] == "backend":
        cmd_backend(int(sys.argv[2]), sys.argv[3])
        return
    c, a = sys.argv[1], addr(sys.argv[2])
    if c == "conns":
        cmd_conns(a, int(sys.argv[3]))
    elif c == "bigheader":
        cmd_bigheader(a, int(sys.argv[3]))
    elif c == "pipeline":
        cmd_pipeline(a)
    elif c == "slowheader":
        cmd_slowheader(a, float(sys.argv[3]))
    elif c == "idle":
        cmd_idle(a, float(sys.argv[3]))
    elif c == "parkstorm":
        cmd_parkstorm(a, int(sys.argv[3]), int(sys.argv[4]))
    elif c == "wakeprops":
        cmd_wakeprops(a, int(sys.argv[3]), int(sys.argv[4]))
    elif c == "chunked":
        cmd_chunked(a)
    else:
        sys.exit("unknown probe " + c)


if __name__ == "__main__":
    main()
