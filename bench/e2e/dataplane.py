#!/usr/bin/env python3
"""bench/e2e/dataplane.py: wrk through HAProxy, -routing maps (bench/e2e/run.sh wrk runs it).

portolan-catalog, portolan-templater (-routing maps) and its HAProxy on loopback; the backend is a
second HAProxy that answers 200 itself (so wrk measures the routing HAProxy, not a slow backend).
  churn   wrk -t2 -c16 on /<tag>/s0/ while ROUTES new routes (<tag>/r<i>) are registered one after
          the other and then deregistered: failed = non-2xx + socket errors (must be 0); the
          reloads the HAProxy master counted, and the routes HAProxy served at the peak
  size    wrk -t1 -c8 -d$SECS --latency on /<tag>/s0/ with 10 routes and with BIG routes, alternated
          ROUNDS times (10, BIG, 10, BIG, ...): p50 and mean latency of each, and the HAProxy
          worker's CPU time per request (/proc, utime+stime over the wrk run: the cost of the
          lookup itself, which the machine's load does not inflate as it does latency); medians
Prints one JSON line per part. Env: BUILD, TOP, HAPROXY, ROUTES (1000), BIG (10000), ROUNDS (3),
SECS (8), POOL (-pool; default the templater's)."""
import http.client, json, os, random, re, shutil, signal, socket, subprocess, sys, tempfile, time

TOP = os.environ.get("TOP", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("BUILD", os.path.join(TOP, "build"))
HAPROXY = os.environ.get("HAPROXY", shutil.which("haproxy") or "/usr/sbin/haproxy")
tmp = tempfile.mkdtemp(prefix="pt-e2e-dp-")
procs = []
TAG = "pte2edp%d" % os.getpid()

def log(*a): print("#", *a, file=sys.stderr, flush=True)

def free_port():
    for _ in range(200):
        p = random.randint(25000, 25999); s = socket.socket()
        try:
            s.bind(("127.0.0.1", p)); return p
        except OSError: pass
        finally: s.close()
    raise RuntimeError("no free port")

def spawn(args, name):
    f = open(os.path.join(tmp, name), "ab"); p = subprocess.Popen(args, stdout=f, stderr=f); procs.append(p); return p

def stop_procs():
    for p in reversed(procs):
        if p.poll() is None: p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try: p.wait(15)
        except subprocess.TimeoutExpired: p.kill()
    procs.clear()

def http_get(port, path, host=None):
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=3)
        c.request("GET", path, headers={"Host": host} if host else {}); r = c.getresponse(); r.read(); c.close()
        return r.status
    except Exception:
        return 0

def wait_until(f, secs):
    end = time.time() + secs
    while time.time() < end:
        if f(): return True
        time.sleep(0.1)
    return False

def unix_cmd(path, cmd):
    for _ in range(100):   # the sockets are away for a moment during a reload
        try:
            return _unix_cmd(path, cmd)
        except OSError:
            time.sleep(0.1)
    return _unix_cmd(path, cmd)

def _unix_cmd(path, cmd):
    s = socket.socket(socket.AF_UNIX); s.settimeout(10); s.connect(path)
    s.sendall((cmd + "\n").encode()); s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        d = s.recv(1 << 20)
        if not d: break
        data += d
    s.close(); return data.decode()

def reloads(cfg):
    for l in unix_cmd(cfg + ".master.sock", "show proc").splitlines():
        f = l.split()
        if len(f) > 2 and f[1] == "master": return int(f[2])
    return -1

def worker_cpu(cfg):
    """CPU seconds (user+system) of the current HAProxy worker, and its pid."""
    pid = None
    for l in unix_cmd(cfg + ".master.sock", "show proc").splitlines():
        f = l.split()
        if len(f) > 2 and f[1] == "worker": pid = int(f[0]); break
    st = open("/proc/%d/stat" % pid).read().rsplit(")", 1)[1].split()
    return (int(st[11]) + int(st[12])) / os.sysconf("SC_CLK_TCK"), pid

def map_entries(cfg):
    return sum(1 for l in unix_cmd(cfg + ".admin.sock", "show map %s.paths.map" % cfg).splitlines() if len(l.split()) == 3)

class Consul:
    def __init__(self, port): self.port = port; self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    def put(self, path, body=b""):
        for attempt in (0, 1):
            try:
                self.c.request("PUT", path, body=body); r = self.c.getresponse(); r.read(); return r.status
            except (http.client.HTTPException, OSError):
                self.c.close(); self.c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
                if attempt: raise
    def reg(self, name, port):
        b = {"ID": name.replace("/", "-"), "Name": name, "Tags": [TAG], "Address": "127.0.0.1", "Port": port}
        assert self.put("/v1/agent/service/register", json.dumps(b).encode()) == 200
    def dereg(self, name): self.put("/v1/agent/service/deregister/" + name.replace("/", "-"))

def wrk(url, args, secs):
    out = subprocess.run(["wrk"] + args + ["-d%ds" % secs, "--latency", url], capture_output=True, text=True,
                         timeout=secs + 60).stdout
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    def ms(s):
        v, u = re.match(r"([\d.]+)(\w+)", s).groups()
        return float(v) * {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 6e4}[u]
    return {"requests": total, "req_per_s": float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1)),
            "failed": non2xx + (sum(int(x) for x in sock.groups()) if sock else 0),
            "mean_ms": ms(re.search(r"Latency\s+(\S+)", out).group(1)),
            "p50_ms": ms(re.search(r"50%\s+(\S+)", out).group(1)), "p99_ms": ms(re.search(r"99%\s+(\S+)", out).group(1))}

def main():
    routes, big = int(os.environ.get("ROUTES", "1000")), int(os.environ.get("BIG", "10000"))
    rounds, secs = int(os.environ.get("ROUNDS", "3")), int(os.environ.get("SECS", "8"))
    # the backend: HAProxy answering 200 itself
    bport = free_port()
    bcfg = os.path.join(tmp, "backend.cfg")
    open(bcfg, "w").write("global\n    maxconn 4096\ndefaults\n    mode http\n    timeout client 30s\n"
                          "    timeout server 30s\n    timeout connect 5s\nfrontend f\n    bind 127.0.0.1:%d\n"
                          "    http-request return status 200 content-type text/plain string ok\n" % bport)
    spawn([HAPROXY, "-f", bcfg], "backend.log")
    cport, hport, lport = free_port(), free_port(), free_port()
    spawn([os.path.join(BUILD, "portolan-catalog"), "-listen", "127.0.0.1:%d" % cport], "catalog.log")
    assert wait_until(lambda: http_get(cport, "/v1/status/leader") == 200, 30)
    consul = Consul(cport)
    for i in range(10): consul.reg("%s/s%d" % (TAG, i), bport)
    cfg = os.path.join(tmp, "haproxy.cfg")
    extra = ["-pool", os.environ["POOL"]] if os.environ.get("POOL") else []
    tpl = spawn([os.path.join(BUILD, "portolan-templater"), "-consul", "127.0.0.1:%d" % cport, "-tag", TAG,
                 "-bind", "127.0.0.1:%d" % hport, "-config", cfg, "-base", os.path.join(TOP, "haproxy/haproxy.cfg.base"),
                 "-haproxy-bin", HAPROXY, "-wait", "50ms:500ms", "-consul-wait", "30s", "-listen", "127.0.0.1:%d" % lport,
                 "-routing", "maps", "-log-level", "warn"] + extra, "templater.log")
    assert wait_until(lambda: http_get(hport, "/%s/s0/" % TAG) == 200, 60), "route never served (%s)" % tmp
    url = "http://127.0.0.1:%d/%s/s0/" % (hport, TAG)

    # ---- churn: ROUTES routes added then removed under wrk ----
    time.sleep(1)
    r0 = reloads(cfg)
    dur = int(os.environ.get("CHURN_SECS", "0")) or max(20, routes // 25)
    w = subprocess.Popen(["wrk", "-t2", "-c16", "-d%ds" % dur, "--latency", url], stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT, text=True)
    time.sleep(1)
    t0 = time.time()
    for i in range(routes): consul.reg("%s/r%d" % (TAG, i), bport)
    ok = wait_until(lambda: map_entries(cfg) >= routes + 10, 120)
    peak = map_entries(cfg)
    served = http_get(hport, "/%s/r%d/" % (TAG, routes - 1))
    t_add = time.time() - t0
    for i in range(routes): consul.dereg("%s/r%d" % (TAG, i))
    wait_until(lambda: map_entries(cfg) <= 10, 120)
    t_all = time.time() - t0
    out = w.communicate()[0]
    r1 = reloads(cfg)
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    res = {"part": "churn", "routes": routes, "all_added_in_maps": ok, "peak_path_map_entries": peak,
           "last_route_status": served, "added_s": round(t_add, 1), "added_and_removed_s": round(t_all, 1),
           "wrk_s": dur, "requests": total, "non_2xx": non2xx,
           "socket_errors": sum(int(x) for x in sock.groups()) if sock else 0, "reloads": r1 - r0,
           "p99": re.search(r"99%\s+(\S+)", out).group(1)}
    print(json.dumps(res), flush=True)

    # ---- size: 10 routes vs BIG routes ----
    sizes = {10: [], big: []}
    for k in range(rounds):
        for n in (10, big):
            if n == big:
                for i in range(big - 10): consul.reg("%s/r%d" % (TAG, i), bport)
                assert wait_until(lambda: map_entries(cfg) >= big, 600), "%d routes never live" % big
            else:
                for i in range(big - 10): consul.dereg("%s/r%d" % (TAG, i))
                assert wait_until(lambda: map_entries(cfg) <= 10, 600)
            time.sleep(3)   # let the templater's file rewrite (haproxy -c) finish
            assert http_get(hport, "/%s/r%d/" % (TAG, big - 11)) == (200 if n == big else 404)
            c0, p0 = worker_cpu(cfg)
            r = wrk(url, ["-t1", "-c8"], secs)
            c1, p1 = worker_cpu(cfg)
            # HAProxy's own CPU per request: what the route lookup costs, whatever the machine's load
            r["haproxy_cpu_us_per_req"] = round((c1 - c0) * 1e6 / max(1, r["requests"]), 2) if p0 == p1 else None
            r["routes"] = n
            log("size round %d: %s" % (k, json.dumps(r)))
            sizes[n].append(r)
    med = lambda v: sorted(v)[len(v) // 2]
    res = {"part": "size", "rounds": rounds, "secs": secs}
    for n in (10, big):
        res["routes_%d" % n] = {"p50_ms": med([r["p50_ms"] for r in sizes[n]]), "mean_ms": med([r["mean_ms"] for r in sizes[n]]),
                                "req_per_s": med([r["req_per_s"] for r in sizes[n]]), "failed": sum(r["failed"] for r in sizes[n]),
                                "haproxy_cpu_us_per_req": med([r["haproxy_cpu_us_per_req"] or 0 for r in sizes[n]])}
    res["p50_ratio_big_over_10"] = round(res["routes_%d" % big]["p50_ms"] / res["routes_10"]["p50_ms"], 3)
    res["mean_ratio_big_over_10"] = round(res["routes_%d" % big]["mean_ms"] / res["routes_10"]["mean_ms"], 3)
    if res["routes_10"]["haproxy_cpu_us_per_req"]:
        res["cpu_per_req_ratio_big_over_10"] = round(res["routes_%d" % big]["haproxy_cpu_us_per_req"] / res["routes_10"]["haproxy_cpu_us_per_req"], 3)
    print(json.dumps(res), flush=True)

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    try:
        main()
    finally:
        stop_procs()
        if os.environ.get("E2E_KEEP") == "1": log("logs kept in", tmp)
        else: shutil.rmtree(tmp, ignore_errors=True)
