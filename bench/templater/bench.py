#!/usr/bin/env python3
"""bench.py: portolan-templater benchmarks (bench/run-templater.sh runs them all).

  latency N   (a) instance registered -> first 200 from it through HAProxy, N changes, once with the
              runtime API and once with -reload-only (a reload per change); p50/p99 of each
  churn N     (b) wrk through HAProxy while N instance add/remove cycles run (drained removals);
              req/s and failed requests (non-2xx + socket errors)
  routes N    (e) registered -> first 200 through HAProxy for a new instance, a new path route and a
              new host route, and deregistered -> the last request that reaches the instance; N of
              each, -routing maps and -routing acl in the same run; p50/p99 and the reloads the
              HAProxy master counted (show proc)
  scale S I   (c) S services x I instances: full build+render time, one instance change applied,
              templater RSS, TCP connections to Consul

Environment: BUILD (portolan-templater, portolan-catalog), TOP (repo), HAPROXY (/usr/sbin/haproxy).
Consul peer: portolan-catalog when built (latency, churn), else tests/templater/fake_consul.py;
scale uses the fake with --preload, or with SCALE_PEER=catalog portolan-catalog, loaded over HTTP
(8 keep-alive clients) before the templater starts."""
import http.client, json, os, re, signal, socket, subprocess, sys, tempfile, time, urllib.request

TOP = os.environ.get("TOP", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("BUILD", TOP)
HAPROXY = os.environ.get("HAPROXY", "/usr/sbin/haproxy")
TPL = os.path.join(BUILD, "portolan-templater")
procs = []
tmp = tempfile.mkdtemp(prefix="portolan-bench-")

def free_port():
    s = socket.socket(); s.bind(("127.0.0.1", 0)); p = s.getsockname()[1]; s.close(); return p

def spawn(args, log=None):
    f = open(os.path.join(tmp, log), "ab") if log else subprocess.DEVNULL
    p = subprocess.Popen(args, stdout=f, stderr=f)
    procs.append(p)
    return p

def cleanup():
    for p in reversed(procs):
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
    procs.clear()

def wait_http(url, secs=20):
    end = time.time() + secs
    while time.time() < end:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return True
        except Exception as e:
            if hasattr(e, "code"):
                return True
            time.sleep(0.05)
    return False

def start_peer(preload=None):
    port = free_port()
    cat = os.path.join(BUILD, "portolan-catalog")
    if preload is None and os.access(cat, os.X_OK):
        spawn([cat, "-listen", "127.0.0.1:%d" % port], "catalog.log"); kind = "portolan-catalog"
    else:
        args = [sys.executable, os.path.join(TOP, "tests/templater/fake_consul.py"), str(port)]
        if preload:
            args += ["--preload"] + [str(x) for x in preload]
        spawn(args, "fake.log"); kind = "fake_consul.py"
    assert wait_http("http://127.0.0.1:%d/v1/status/leader" % port, 120), "peer did not start"
    return port, kind

def backend(name):
    port = free_port()
    spawn([sys.executable, os.path.join(TOP, "tests/templater/backend.py"), str(port), name])
    return port

class Consul:
    def __init__(self, port):
        self.c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    def put(self, path, body=b""):
        self.c.request("PUT", path, body=body)
        r = self.c.getresponse(); r.read()
        return r.status
    def reg(self, sid, name, port, check=True, tags=("rest",)):
        b = {"ID": sid, "Name": name, "Tags": list(tags), "Address": "127.0.0.1", "Port": port}
        if check:
            b["Check"] = {"CheckID": "service:" + sid, "Name": "ttl", "TTL": "600s", "Status": "passing"}
        return self.put("/v1/agent/service/register", json.dumps(b).encode())
    def dereg(self, sid):
        return self.put("/v1/agent/service/deregister/" + sid)

def templater(cport, hport, extra=(), log="templater.log"):
    cfg = os.path.join(tmp, "haproxy-%d.cfg" % hport)
    lp = free_port()
    p = spawn([TPL, "-consul", "127.0.0.1:%d" % cport, "-bind", "127.0.0.1:%d" % hport, "-config", cfg,
               "-base", os.path.join(TOP, "haproxy/haproxy.cfg.base"), "-haproxy-bin", HAPROXY,
               "-listen", "127.0.0.1:%d" % lp, "-log-level", os.environ.get("TPL_LOG", "warn")] + list(extra), log)
    return p, cfg, lp

def metrics(lp):
    out = {}
    for line in urllib.request.urlopen("http://127.0.0.1:%d/metrics" % lp, timeout=5).read().decode().splitlines():
        if line and not line.startswith("#"):
            k, v = line.split()
            out[k.replace("portolan_templater_", "")] = float(v)
    return out

def reloads(cfg):
    for _ in range(100):
        if os.path.exists(cfg + ".master.sock"):
            try:
                return _reloads(cfg)
            except OSError:
                pass
        time.sleep(0.1)
    return _reloads(cfg)

def _reloads(cfg):
    s = socket.socket(socket.AF_UNIX); s.connect(cfg + ".master.sock"); s.sendall(b"show proc\n"); s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    for line in data.decode().splitlines():
        f = line.split()
        if len(f) > 2 and f[1] == "master":
            return int(f[2])
    return -1

def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]

# ---- (a) ----
def one_latency_run(n, reload_only):
    cport, kind = start_peer()
    consul = Consul(cport)
    x, ya, yb = backend("X"), backend("Y0"), backend("Y1")
    consul.reg("x", "bench/lat", x)
    hport = free_port()
    p, cfg, lp = templater(cport, hport, ["-reload-only"] if reload_only else [])
    assert wait_http("http://127.0.0.1:%d/bench/lat/" % hport, 20)
    end = time.time() + 20
    while time.time() < end:
        try:
            if urllib.request.urlopen("http://127.0.0.1:%d/bench/lat/" % hport, timeout=1).status == 200: break
        except Exception: time.sleep(0.05)
    h = http.client.HTTPConnection("127.0.0.1", hport, timeout=5)
    r0 = reloads(cfg)
    lat, timeouts = [], 0
    prev = None
    for i in range(n):
        port, ident = (ya, "Y0") if i % 2 == 0 else (yb, "Y1")
        sid = "y-%d" % i
        t0 = time.perf_counter()
        consul.reg(sid, "bench/lat", port)
        if prev: consul.dereg(prev)
        prev = sid
        seen = False
        if p.poll() is not None:
            raise RuntimeError("portolan-templater exited (status %s); see %s" % (p.returncode, tmp))
        while time.perf_counter() - t0 < 10:
            try:
                h.request("GET", "/bench/lat/"); r = h.getresponse(); body = r.read()
            except Exception:
                h = http.client.HTTPConnection("127.0.0.1", hport, timeout=5); continue
            if r.status == 200 and body.startswith(ident.encode() + b" "):
                seen = True; break
        if seen: lat.append((time.perf_counter() - t0) * 1000)
        else: timeouts += 1
        time.sleep(0.25)   # past the watch's 100 ms rate limit, and lets removals drain
    r1 = reloads(cfg)
    m = metrics(lp)
    cleanup()
    return {"mode": "reload per change" if reload_only else "runtime API", "peer": kind, "changes": n,
            "p50_ms": round(pct(lat, 50), 1), "p99_ms": round(pct(lat, 99), 1), "max_ms": round(max(lat), 1),
            "timeouts": timeouts, "reloads": r1 - r0, "runtime_changes": int(m.get("runtime_changes_total", 0))}

def latency(n):
    res = [one_latency_run(n, False), one_latency_run(n, True)]
    for r in res: print(json.dumps(r))
    return res

# ---- (e) ----
def first_200(hport, path, ident, host=None, secs=10):
    """Polls GET path (Host: host) until ident answers 200; seconds taken from now, or None."""
    h = http.client.HTTPConnection("127.0.0.1", hport, timeout=5)
    hdrs = {"Host": host} if host else {}
    t0 = time.perf_counter()
    while time.perf_counter() - t0 < secs:
        try:
            h.request("GET", path, headers=hdrs); r = h.getresponse(); body = r.read()
        except Exception:
            h = http.client.HTTPConnection("127.0.0.1", hport, timeout=5); continue
        if r.status == 200 and body.startswith(ident.encode() + b" "):
            h.close(); return True
    h.close()
    return False

def last_reach(h, hport, path, ident, quiet=20, secs=10):
    """After a removal: polls until `quiet` answers in a row come from others; the time of the last
    answer from ident (ms since the caller's t0 is computed by the caller)."""
    last, streak, t_end = None, 0, time.perf_counter() + secs
    while streak < quiet and time.perf_counter() < t_end:
        try:
            h.request("GET", path); r = h.getresponse(); body = r.read()
        except Exception:
            h = http.client.HTTPConnection("127.0.0.1", hport, timeout=5); continue
        if body.startswith(ident.encode() + b" "):
            last, streak = time.perf_counter(), 0
        else:
            streak += 1
    return h, last

def one_routes_run(n, routing):
    cport, kind = start_peer()
    consul = Consul(cport)
    s, y0, y1 = backend("S"), backend("Y0"), backend("Y1")
    consul.reg("s", "bench/base", s, check=False)
    hport = free_port()
    extra = ["-routing", routing]
    if routing == "maps": extra += ["-pool", str(n + 16)]   # n new routes per depth without running out
    p, cfg, lp = templater(cport, hport, extra)
    assert wait_http("http://127.0.0.1:%d/bench/base/" % hport, 30)
    assert first_200(hport, "/bench/base/", "S", secs=30)
    time.sleep(1)
    r0 = reloads(cfg)
    lat = {"instance": [], "path_route": [], "host_route": [], "removal_last_reach": []}
    timeouts = zeros = 0
    h = http.client.HTTPConnection("127.0.0.1", hport, timeout=5)
    for i in range(n):
        if p.poll() is not None:
            raise RuntimeError("portolan-templater exited (status %s); see %s" % (p.returncode, tmp))
        port, ident = (y0, "Y0") if i % 2 == 0 else (y1, "Y1")
        # (a) a new instance of an existing route
        t0 = time.perf_counter(); consul.reg("i-%d" % i, "bench/base", port, check=False)
        if first_200(hport, "/bench/base/", ident): lat["instance"].append((time.perf_counter() - t0) * 1000)
        else: timeouts += 1
        time.sleep(0.15)
        # (d) that instance removed -> the last request that reaches it. A connection opened now:
        # one kept from before a reload (-routing acl reloads for every new route) would be
        # answered once more by the old worker, which never had this instance, so the removal
        # looked instant (0) in most acl rounds before (bench/README.md "removal")
        h.close(); h = http.client.HTTPConnection("127.0.0.1", hport, timeout=5)
        h.request("GET", "/bench/base/"); h.getresponse().read()
        t0 = time.perf_counter(); consul.dereg("i-%d" % i)
        h, last = last_reach(h, hport, "/bench/base/", ident)
        # None: no request reached it after the deregistration at all
        lat["removal_last_reach"].append((last - t0) * 1000 if last else 0.0)
        if not last: zeros += 1
        time.sleep(0.15)
        # (b) a new path route
        t0 = time.perf_counter(); consul.reg("p-%d" % i, "bench/p%d" % i, port, check=False)
        if first_200(hport, "/bench/p%d/" % i, ident): lat["path_route"].append((time.perf_counter() - t0) * 1000)
        else: timeouts += 1
        time.sleep(0.15)
        # (c) a new host route
        host = "h%d.example.org" % i
        t0 = time.perf_counter(); consul.reg("h-%d" % i, "h%d" % i, port, check=False, tags=("rest", "host=" + host))
        if first_200(hport, "/", ident, host=host): lat["host_route"].append((time.perf_counter() - t0) * 1000)
        else: timeouts += 1
        time.sleep(0.15)
    r1 = reloads(cfg)
    m = metrics(lp)
    cleanup()
    res = {"routing": routing, "peer": kind, "changes_each": n, "timeouts": timeouts, "reloads": r1 - r0,
           "removals_no_request_reached": zeros,
           "map_ops": int(m.get("map_ops_total", 0)), "runtime_changes": int(m.get("runtime_changes_total", 0))}
    for k, v in lat.items():
        if v: res[k] = {"p50_ms": round(pct(v, 50), 1), "p99_ms": round(pct(v, 99), 1), "n": len(v)}
    return res

def routes(n):
    res = [one_routes_run(n, "maps"), one_routes_run(n, "acl")]
    for r in res: print(json.dumps(r))
    for k in ("instance", "path_route", "host_route", "removal_last_reach"):
        if k in res[0] and k in res[1] and res[0][k]["p50_ms"] > 0:
            print(json.dumps({"ratio_acl_over_maps_p50": k, "x": round(res[1][k]["p50_ms"] / res[0][k]["p50_ms"], 1)}))
    return res

# ---- (b) ----
def churn(n):
    cport, kind = start_peer()
    consul = Consul(cport)
    stable = [backend("S%d" % i) for i in range(4)]
    extra = [backend("E%d" % i) for i in range(2)]
    for i, port in enumerate(stable):
        consul.reg("s%d" % i, "bench/churn", port)
    hport = free_port()
    p, cfg, lp = templater(cport, hport)
    url = "http://127.0.0.1:%d/bench/churn/" % hport
    assert wait_http(url, 20)
    time.sleep(1)
    r0 = reloads(cfg)
    dur = max(20, int(n * 0.35) + 5)
    wrk = subprocess.Popen(["wrk", "-t2", "-c32", "-d%ds" % dur, "--latency", url], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    time.sleep(1)
    t0 = time.time()
    for i in range(n):
        sid = "c-%d" % i
        consul.reg(sid, "bench/churn", extra[i % 2])
        time.sleep(0.2)    # long enough for the instance to be added and take traffic
        consul.dereg(sid)
        time.sleep(0.1)
    churn_s = time.time() - t0
    out = wrk.communicate()[0].decode()
    r1 = reloads(cfg)
    m = metrics(lp)
    cleanup()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))
    total = int(re.search(r"(\d+) requests in", out).group(1))
    non2xx = int(re.search(r"Non-2xx or 3xx responses: (\d+)", out).group(1)) if "Non-2xx" in out else 0
    sock = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    sockerr = sum(int(x) for x in sock.groups()) if sock else 0
    res = {"peer": kind, "cycles": n, "churn_seconds": round(churn_s, 1), "wrk_seconds": dur, "requests": total,
           "req_per_s": rps, "non_2xx": non2xx, "socket_errors": sockerr, "reloads": r1 - r0,
           "runtime_ops": int(m.get("runtime_ops_total", 0)),
           "p99_latency": re.search(r"99%\s+(\S+)", out).group(1)}
    print(json.dumps(res))
    return res

# ---- (c) ----
def rss_kb(pid):
    for line in open("/proc/%d/status" % pid):
        if line.startswith("VmRSS:"): return int(line.split()[1])

def conns(pid, cport):
    out = subprocess.run(["ss", "-tnpH", "state", "established", "dst", "127.0.0.1:%d" % cport], capture_output=True, text=True).stdout
    return sum(1 for l in out.splitlines() if "pid=%d," % pid in l)

def preload_catalog(port, s, i, base, clients=8):
    """s services x i instances without checks, registered over HTTP by `clients` threads."""
    import threading
    def work(k):
        c = Consul(port)
        for n in range(k, s, clients):
            for j in range(i):
                b = {"ID": "svc-%d-%d" % (n, j), "Name": "svc-%d" % n, "Tags": ["rest"], "Address": "127.0.0.1",
                     "Port": base + j}
                assert c.put("/v1/agent/service/register", json.dumps(b).encode()) == 200
    ts = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
    for t in ts: t.start()
    for t in ts: t.join()

def scale(s, i):
    bport = backend("Z")
    if os.environ.get("SCALE_PEER") == "catalog":
        cport, kind = start_peer()
        t = time.time(); preload_catalog(cport, s, i, 20000)
        print("# preloaded %d instances into portolan-catalog in %.1f s" % (s * i, time.time() - t), flush=True)
    else:
        cport, kind = start_peer((s, i, 20000))
    consul = Consul(cport)
    hport = free_port()
    t0 = time.time()
    p, cfg, lp = templater(cport, hport, ["-consul-wait", "30s"])
    end = time.time() + 600
    m = {}
    while time.time() < end:
        try:
            m = metrics(lp)
            if m.get("routes", 0) >= s and m.get("renders_total", 0) >= 1: break
        except Exception: pass
        time.sleep(0.2)
    first = time.time() - t0
    assert wait_http("http://127.0.0.1:%d/svc-1/" % hport, 60)
    time.sleep(2)
    res = {"peer": kind, "services": s, "instances": s * i, "first_config_s": round(first, 1),
           "snapshot_ms": m.get("last_snapshot_ms"), "build_ms": m.get("last_build_ms"),
           "render_ms": m.get("last_render_ms"), "config_bytes": int(m.get("config_bytes", 0))}
    # one instance change without checks: a new instance of svc-8 (no check), timed until HAProxy's
    # runtime API has it ready; then it deregistered, until HAProxy no longer has it in rotation
    def timed(key, change, be, server, present, secs=120):
        """ms from the change to HAProxy having server in rotation (present) or not; None if never"""
        t1 = time.perf_counter()
        change()
        ok = wait_server(cfg, be, server, present, secs)
        res[key] = round((time.perf_counter() - t1) * 1000, 1) if ok else None
        time.sleep(1)
    be8 = backend_of(cfg, "svc-8")
    timed("register_nocheck_applied_ms", lambda: consul.reg("svc-8-new", "svc-8", bport, check=False), be8, "svc-8-new", True)
    timed("deregister_nocheck_applied_ms", lambda: consul.dereg("svc-8-new"), be8, "svc-8-new", False)
    # one instance change with a check: a new instance with a (TTL) check on svc-7, then its check
    # failing (health/state/any names the service: one fetch), timed until HAProxy's runtime API
    # shows it. A TTL check gives HAProxy nothing to check itself, so the route keeps its backend
    # (only a check_http path moves a route to a backend of its own, with a reload).
    be7 = backend_of(cfg, "svc-7")
    timed("register_applied_ms", lambda: consul.reg("svc-7-new", "svc-7", bport, check=True), be7, "svc-7-new", True)
    timed("check_change_applied_ms", lambda: consul.put("/v1/agent/check/fail/service:svc-7-new"), be7, "svc-7-new",
          False, 60)
    m = metrics(lp)
    res["apply_ms_last"] = m.get("last_apply_ms")
    res["rss_mb"] = round(rss_kb(p.pid) / 1024, 1)
    res["consul_connections"] = conns(p.pid, cport)
    cleanup()
    print(json.dumps(res))
    return res

def admin(cfg, cmd):
    s = socket.socket(socket.AF_UNIX); s.connect(cfg + ".admin.sock")
    s.sendall((cmd + "\n").encode()); s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    s.close()
    return data.decode()

def backend_of(cfg, service):
    """The HAProxy backend a route runs in: its path map entry (-routing maps), else b_<name>."""
    try:
        for line in admin(cfg, "show map %s.paths.map" % cfg).splitlines():
            f = line.split()
            if len(f) == 3 and f[1] == "/%s/" % service: return f[2]
    except OSError:
        pass
    return "b_" + service.replace("/", ":")

def wait_server(cfg, backend, server, present, secs):
    end = time.perf_counter() + secs
    while time.perf_counter() < end:
        try:
            rows = [l.split() for l in admin(cfg, "show servers state %s" % (backend or "")).splitlines()
                    if l and l[0].isdigit()]
            have = any(r[3:4] == [server] and r[5] != "0" and r[6] == "0" for r in rows)
            gone = not any(r[3:4] == [server] and r[6] == "0" for r in rows)
            if (present and have) or (not present and gone): return True
        except Exception:
            pass
        time.sleep(0.002)
    return False

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))  # run cleanup() on SIGTERM too
    try:
        what = sys.argv[1]
        if what == "latency": latency(int(sys.argv[2]) if len(sys.argv) > 2 else 200)
        elif what == "routes": routes(int(sys.argv[2]) if len(sys.argv) > 2 else 100)
        elif what == "churn": churn(int(sys.argv[2]) if len(sys.argv) > 2 else 200)
        elif what == "scale": scale(int(sys.argv[2]) if len(sys.argv) > 2 else 10000, int(sys.argv[3]) if len(sys.argv) > 3 else 5)
        else: print(__doc__); sys.exit(2)
    finally:
        cleanup()
