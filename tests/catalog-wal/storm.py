#!/usr/bin/env python3
"""tests/catalog-wal/storm.py: load and write-storm client for the catalog's write-ahead log test.

  storm.py fill  BASE N THREADS           register N service instances (fill-<i>), 16-way
  storm.py storm BASE THREADS ACKFILE     write until the connection dies: each thread alternates
                                          KV puts (storm/<t>/<i>) and registrations (st-<t>-<i>),
                                          appending each ACKNOWLEDGED write to ACKFILE (one line,
                                          flushed) only after its 200 answer arrived
  storm.py verify BASE ACKFILE            every acknowledged write is there: prints missing count
"""
import http.client, json, sys, threading, urllib.parse

def conn(base):
    u = urllib.parse.urlparse(base)
    return http.client.HTTPConnection(u.hostname, u.port, timeout=30)

def put(c, path, body):
    c.request("PUT", path, body=body)
    r = c.getresponse()
    data = r.read()
    return r.status, data

def fill(base, n, threads):
    def work(t):
        c = conn(base)
        for i in range(t, n, threads):
            body = json.dumps({"Name": "fill%d" % (i % 500), "ID": "fill-%d" % i, "Port": 1000 + i % 50000,
                               "Address": "10.%d.%d.%d" % (i >> 16 & 255, i >> 8 & 255, i & 255), "Tags": ["a", "b"],
                               "Meta": {"n": str(i)}})
            st, _ = put(c, "/v1/agent/service/register", body)
            if st != 200:
                raise SystemExit("fill: %d" % st)
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]

def storm(base, threads, ackfile):
    lock = threading.Lock()
    out = open(ackfile, "a")
    def work(t):
        c = conn(base)
        i = 0
        while True:
            try:
                if i % 2 == 0:
                    key = "storm/%d/%d" % (t, i)
                    st, data = put(c, "/v1/kv/" + key, "v%d" % i)
                    line = "kv %s v%d" % (key, i)
                else:
                    sid = "st-%d-%d" % (t, i)
                    st, data = put(c, "/v1/agent/service/register", json.dumps({"Name": "storm", "ID": sid, "Port": i}))
                    line = "svc %s %d" % (sid, i)
            except Exception:
                return
            if st != 200:
                return
            with lock:
                out.write(line + "\n")
                out.flush()
            i += 1
    ts = [threading.Thread(target=work, args=(t,)) for t in range(threads)]
    [t.start() for t in ts]
    [t.join() for t in ts]

def verify(base, ackfile):
    c = conn(base)
    c.request("GET", "/v1/kv/storm/?recurse")
    r = c.getresponse()
    body = r.read()
    kv = {}
    if r.status == 200:
        import base64
        for e in json.loads(body):
            kv[e["Key"]] = base64.b64decode(e["Value"] or "").decode()
    c.request("GET", "/v1/agent/services")
    svcs = json.loads(c.getresponse().read())
    missing = total = 0
    for line in open(ackfile):
        kind, k, v = line.split()
        total += 1
        if kind == "kv" and kv.get(k) != v:
            missing += 1
        elif kind == "svc" and (k not in svcs or svcs[k]["Port"] != int(v)):
            missing += 1
    print(missing, total)

if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "fill":
        fill(sys.argv[2], int(sys.argv[3]), int(sys.argv[4]))
    elif cmd == "storm":
        storm(sys.argv[2], int(sys.argv[3]), sys.argv[4])
    elif cmd == "verify":
        verify(sys.argv[2], sys.argv[3])
