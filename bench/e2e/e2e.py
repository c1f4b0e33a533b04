#!/usr/bin/env python3
"""bench/e2e/e2e.py: the whole stack, from a Docker event to HAProxy (bench/e2e/run.sh runs it).

For each routing mode in MODES (default "maps acl"), a fresh stack on loopback: portolan-catalog,
portolan-agent (-internal -explicit: the container's IP on a network of our own), portolan-templater
(-routing <mode>, the quickstart's -wait 50ms:500ms) and the HAProxy it starts. Containers are the
local test image portolan-test/web (tests/images/build.sh), created and started through the Docker
Engine API, busybox httpd as PID 1, each on an address never used before in the run; each serves
its short ID at /id (copied in between create and start), so a 200 tells which container answered. N rounds (COUNT), each:

  (a) a new instance of an existing route: its Docker `start` event (the event's timeNano) -> the
      first 200 from it through HAProxy (GET /<route>/id on a keep-alive connection, polled from
      before the start);
  (d) that instance stopped: its Docker `die` event -> the last request HAProxy sends to it. A dead
      container answers nothing, so "reaches" is what HAProxy does: the server leaves rotation
      (drain, maint or deleted in `show servers state`, polled on the runtime API). A client polls
      the route the whole time; every non-200 it gets is counted as a failed request;
  (b) a new path route (a container of a service of its own) -> the first 200 from it;
  (c) a new host route (tag host=<name>) -> the first 200 from it with that Host.
The route containers stay up until the end of the mode (-routing maps runs with -pool COUNT+16 so
that they fit the pool without growing it).  Reloads are the
HAProxy master's own count (`show proc` on the master CLI) over the rounds.

Prints one JSON line per mode and one per ratio. Env: BUILD, TOP, HAPROXY, COUNT (100), MODES,
WAIT (50ms:500ms), POOL (-pool, default COUNT+16), DOCKER_SOCK (/var/run/docker.sock),
E2E_KEEP=1 keeps the scratch directory (logs)."""
import datetime, http.client, io, json, os, re, tarfile, random, shutil, signal, socket, subprocess, sys, tempfile, threading, time

TOP = os.environ.get("TOP", os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))
BUILD = os.environ.get("BUILD", os.path.join(TOP, "build"))
HAPROXY = os.environ.get("HAPROXY", shutil.which("haproxy") or "/usr/sbin/haproxy")
SOCK = os.environ.get("DOCKER_SOCK", "/var/run/docker.sock")
IMAGE = "portolan-test/web:latest"
# httpd is PID 1 (no shell in front of it: it listens a few ms sooner), stopped with SIGKILL (it
# ignores SIGTERM as PID 1); /www/id is copied in before the start
CMD = ["/bin/httpd", "-f", "-p", "80", "-h", "/www"]
PREFIX = "pt-e2e-%d" % os.getpid()
LABEL = "pt-e2e.bench"
tmp = tempfile.mkdtemp(prefix="pt-e2e-")
procs = []

def log(*a):
    print("#", *a, file=sys.stderr, flush=True)

# ---- ports in this bench's range (25000-25999), checked free ----
def free_port():
    for _ in range(200):
        p = random.randint(25000, 25999)
        s = socket.socket()
        try:
            s.bind(("127.0.0.1", p)); return p
        except OSError:
            pass
        finally:
            s.close()
    raise RuntimeError("no free port in 25000-25999")

# ---- the Docker Engine API on its unix socket ----
class UnixHTTP(http.client.HTTPConnection):
    def __init__(self, path):
        super().__init__("localhost", timeout=60); self.path = path
    def connect(self):
        self.sock = socket.socket(socket.AF_UNIX); self.sock.settimeout(60); self.sock.connect(self.path)

class Docker:
    def __init__(self):
        self.c = UnixHTTP(SOCK)
    def call(self, method, path, body=None):
        for attempt in (0, 1):
            try:
                hdr = {"Content-Type": "application/json"} if body is not None else {}
                self.c.request(method, path, json.dumps(body) if body is not None else None, hdr)
                r = self.c.getresponse(); data = r.read()
                return r.status, (json.loads(data) if data and data[:1] in b"[{" else data)
            except (http.client.HTTPException, OSError):
                self.c.close(); self.c = UnixHTTP(SOCK)
                if attempt: raise
    def create(self, name, service, tags, net, ip):
        st, r = self.call("POST", "/containers/create?name=" + name, {
            "Image": IMAGE, "Cmd": CMD, "ExposedPorts": {"80/tcp": {}},
            "Labels": {LABEL: PREFIX, "SERVICE_NAME": service, "SERVICE_TAGS": tags},
            "StopSignal": "SIGKILL", "HostConfig": {"NetworkMode": net},
            "NetworkingConfig": {"EndpointsConfig": {net: {"IPAMConfig": {"IPv4Address": ip}}}}})
        if st != 201: raise RuntimeError("docker create: %s %s" % (st, r))
        cid = r["Id"]
        # /www/id: the container's hostname (its short ID), so an answer tells who gave it
        buf = io.BytesIO()
        with tarfile.open(fileobj=buf, mode="w") as t:
            data = (cid[:12] + "\n").encode(); ti = tarfile.TarInfo("id"); ti.size = len(data); ti.mode = 0o644
            t.addfile(ti, io.BytesIO(data))
        self.c.request("PUT", "/containers/%s/archive?path=/www" % cid, buf.getvalue(), {"Content-Type": "application/x-tar"})
        r = self.c.getresponse(); r.read()
        if r.status != 200: raise RuntimeError("docker put archive: %s" % r.status)
        return cid
    def start(self, cid):
        st, r = self.call("POST", "/containers/%s/start" % cid)
        if st not in (204, 304): raise RuntimeError("docker start: %s %s" % (st, r))
    def stop(self, cid):
        self.call("POST", "/containers/%s/stop?t=5" % cid)
    def rm(self, cid):
        self.call("DELETE", "/containers/%s?force=1" % cid)
    def ip(self, cid, net):
        st, r = self.call("GET", "/containers/%s/json" % cid)
        return r["NetworkSettings"]["Networks"][net]["IPAddress"]

class Events:
    """docker /events for our label: timeNano of each (container, action)."""
    def __init__(self):
        self.seen, self.cv = {}, threading.Condition()
        f = json.dumps({"label": ["%s=%s" % (LABEL, PREFIX)], "type": ["container"], "event": ["start", "die"]})
        self.c = UnixHTTP(SOCK); self.c.timeout = None
        self.c.connect(); self.c.sock.settimeout(None)
        self.c.request("GET", "/events?filters=" + urlquote(f))
        self.r = self.c.getresponse()
        threading.Thread(target=self.run, daemon=True).start()
    def run(self):
        dec = json.JSONDecoder(); buf = ""
        while True:
            try:
                d = self.r.read1(65536) if hasattr(self.r, "read1") else self.r.read(1)
            except Exception:
                return
            if not d: return
            buf += d.decode()
            while True:
                buf = buf.lstrip()
                if not buf: break
                try:
                    ev, end = dec.raw_decode(buf)
                except ValueError:
                    break
                buf = buf[end:]
                with self.cv:
                    self.seen[(ev.get("id") or ev["Actor"]["ID"], ev.get("Action") or ev.get("status"))] = ev["timeNano"]
                    self.cv.notify_all()
    def wait(self, cid, action, secs=30):
        end = time.time() + secs
        with self.cv:
            while (cid, action) not in self.seen and time.time() < end:
                self.cv.wait(0.5)
            return self.seen.get((cid, action))

def urlquote(s):
    import urllib.parse
    return urllib.parse.quote(s)

# ---- processes ----
def spawn(args, logname):
    f = open(os.path.join(tmp, logname), "ab")
    p = subprocess.Popen(args, stdout=f, stderr=f)
    procs.append(p)
    return p

def stop_procs():
    for p in reversed(procs):
        if p.poll() is None: p.send_signal(signal.SIGTERM)
    for p in reversed(procs):
        try: p.wait(15)
        except subprocess.TimeoutExpired: p.kill()
    procs.clear()

def wait_http(port, path="/v1/status/leader", secs=30):
    end = time.time() + secs
    while time.time() < end:
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=1); c.request("GET", path)
            c.getresponse().read(); return True
        except Exception:
            time.sleep(0.05)
    return False

def unix_cmd(path, cmd):
    s = socket.socket(socket.AF_UNIX); s.settimeout(5); s.connect(path)
    s.sendall((cmd + "\n").encode()); s.shutdown(socket.SHUT_WR)
    data = b""
    while True:
        d = s.recv(65536)
        if not d: break
        data += d
    s.close()
    return data.decode()

def reloads(cfg):
    for _ in range(100):   # the master's socket is away for a moment while it reloads
        try:
            return _reloads(cfg)
        except OSError:
            time.sleep(0.1)
    return _reloads(cfg)

def _reloads(cfg):
    for line in unix_cmd(cfg + ".master.sock", "show proc").splitlines():
        f = line.split()
        if len(f) > 2 and f[1] == "master": return int(f[2])
    return -1

def in_rotation(cfg, addr):
    """1 while a server at addr is in HAProxy with admin state 0 (not drain, not maint)."""
    out = unix_cmd(cfg + ".admin.sock", "show servers state")
    for l in out.splitlines():
        f = l.split()
        if len(f) > 18 and l[0].isdigit() and f[4] == addr and f[6] == "0": return True
    return False

def get(conn, path, host=None):
    """(status, body) over a keep-alive connection; reconnects on error (status 0)."""
    try:
        conn[0].request("GET", path, headers={"Host": host} if host else {})
        r = conn[0].getresponse(); return r.status, r.read()
    except Exception:
        conn[0].close(); conn[0] = http.client.HTTPConnection("127.0.0.1", conn[1], timeout=5)
        return 0, b""

def first_from(hport, path, ident, host=None, secs=30, stop=None):
    """Polls until ident answers 200; the wall-clock ns of that answer, or None."""
    conn = [http.client.HTTPConnection("127.0.0.1", hport, timeout=5), hport]
    end = time.time() + secs
    want = ident.encode()
    while time.time() < end:
        st, body = get(conn, path, host)
        if st == 200 and body.strip() == want:
            t = time.time_ns(); conn[0].close(); return t
    conn[0].close()
    return None

def pct(v, p):
    v = sorted(v); return v[min(len(v) - 1, int(round(p / 100.0 * (len(v) - 1))))]

class Poller(threading.Thread):
    """Polls one route on keep-alive; counts answers and non-200s (failed requests)."""
    def __init__(self, hport, path):
        super().__init__(daemon=True); self.hport, self.path = hport, path
        self.ok = self.bad = 0; self.stop = threading.Event(); self.codes = {}
    def run(self):
        conn = [http.client.HTTPConnection("127.0.0.1", self.hport, timeout=5), self.hport]
        while not self.stop.is_set():
            st, _ = get(conn, self.path)
            if st == 200: self.ok += 1
            else:
                self.bad += 1; self.codes[st] = self.codes.get(st, 0) + 1
            time.sleep(0.002)

def one_mode(mode, n, docker, ev):
    net = "%s-%s" % (PREFIX, mode)
    # a /16 of its own and a fresh address for every container: an address used again within
    # seconds made the first connection to the new container wait for a 1 s SYN retransmit now
    # and then (kernel/bridge state of the old one), which is not what this bench measures
    for _ in range(20):
        sub = "10.%d.0.0/16" % random.randint(150, 249)
        st, r = docker.call("POST", "/networks/create", {"Name": net, "Labels": {LABEL: PREFIX},
                                                          "IPAM": {"Config": [{"Subnet": sub}]}})
        if st == 201: break
    if st != 201: raise RuntimeError("network create: %s %s" % (st, r))
    base = sub.split(".")[:2]
    ips = ("%s.%s.%d.%d" % (base[0], base[1], k // 250, 2 + k % 250) for k in range(250, 60000))
    tag = "pte2e%d%s" % (os.getpid(), mode)
    cport, hport, lport = free_port(), free_port(), free_port()
    cfg = os.path.join(tmp, "haproxy-%s.cfg" % mode)
    spawn([os.path.join(BUILD, "portolan-catalog"), "-listen", "127.0.0.1:%d" % cport, "-node", tag], "catalog-%s.log" % mode)
    assert wait_http(cport), "catalog did not start"
    spawn([os.path.join(BUILD, "portolan-agent"), "-explicit", "-internal", "-node-id", tag, "-resync", "60s",
           "-retry-attempts", "-1", "-retry-interval", "200", "consul://127.0.0.1:%d" % cport], "agent-%s.log" % mode)
    extra = ["-routing", mode]
    # the route containers of (b) and (c) stay up: n routes of depth 2 and n of depth 1 must fit
    # the pool without growing it (a growth is a reload; tests/dataplane covers it)
    if mode == "maps": extra += ["-pool", os.environ.get("POOL") or str(n + 16)]
    tpl = spawn([os.path.join(BUILD, "portolan-templater"), "-consul", "consul://127.0.0.1:%d" % cport, "-tag", tag,
                 "-bind", "127.0.0.1:%d" % hport, "-config", cfg, "-base", os.path.join(TOP, "haproxy/haproxy.cfg.base"),
                 "-haproxy-bin", HAPROXY, "-wait", os.environ.get("WAIT", "50ms:500ms"), "-consul-wait", "30s",
                 "-listen", "127.0.0.1:%d" % lport, "-log-level", os.environ.get("TPL_LOG", "info")] + extra,
                "templater-%s.log" % mode)
    svc = tag + "/base"
    # the existing route: one container that stays
    b0 = docker.create("%s-%s-base" % (PREFIX, mode), svc, tag, net, next(ips)); docker.start(b0)
    assert first_from(hport, "/%s/id" % svc, b0[:12], secs=60), "the base route was never served (%s)" % tmp
    time.sleep(1)
    r0 = reloads(cfg)
    lat = {"a_instance": [], "b_path_route": [], "c_host_route": [], "d_removal_out_of_rotation": []}
    timeouts, failed, polled, codes = 0, 0, 0, {}
    dsamples = []
    keep = []      # the route containers stay until the end (fewer Docker calls per round)
    samples = []   # (container name, start event ns, first 200 ns): the breakdown from the agent's log
    for i in range(n):
        if tpl.poll() is not None: raise RuntimeError("portolan-templater exited; logs in %s" % tmp)
        # (a) a new instance of the existing route
        cid = docker.create("%s-%s-a%d" % (PREFIX, mode, i), svc, tag, net, next(ips))
        box = {}
        th = threading.Thread(target=lambda: box.setdefault("t", first_from(hport, "/%s/id" % svc, cid[:12])))
        th.start(); docker.start(cid); th.join()
        ts = ev.wait(cid, "start")
        if box.get("t") and ts:
            lat["a_instance"].append((box["t"] - ts) / 1e6); samples.append(("%s-%s-a%d" % (PREFIX, mode, i), ts, box["t"]))
        else: timeouts += 1
        # (d) the same instance stopped: die -> out of HAProxy's rotation; a client polls throughout
        addr = docker.ip(cid, net)
        time.sleep(0.1)
        poll = Poller(hport, "/%s/id" % svc); poll.start()
        out = {}
        def watch():
            end = time.time() + 30
            while time.time() < end:
                try:
                    if not in_rotation(cfg, addr): out["t"] = time.time_ns(); return
                except OSError:
                    pass
                time.sleep(0.001)
        wt = threading.Thread(target=watch); wt.start()
        docker.stop(cid); wt.join()
        td = ev.wait(cid, "die")
        time.sleep(0.2); poll.stop.set(); poll.join()
        failed += poll.bad; polled += poll.ok + poll.bad
        for c, k in poll.codes.items(): codes[str(c)] = codes.get(str(c), 0) + k
        if out.get("t") and td:
            lat["d_removal_out_of_rotation"].append(max(0.0, (out["t"] - td) / 1e6)); dsamples.append(("%s-%s-a%d" % (PREFIX, mode, i), td, out["t"]))
        else: timeouts += 1
        docker.rm(cid)
        # (b) a new path route
        rsvc = "%s/p%d" % (tag, i)
        cid = docker.create("%s-%s-p%d" % (PREFIX, mode, i), rsvc, tag, net, next(ips))
        box = {}
        th = threading.Thread(target=lambda: box.setdefault("t", first_from(hport, "/%s/id" % rsvc, cid[:12])))
        th.start(); docker.start(cid); th.join()
        ts = ev.wait(cid, "start")
        if box.get("t") and ts:
            lat["b_path_route"].append((box["t"] - ts) / 1e6); samples.append(("%s-%s-p%d" % (PREFIX, mode, i), ts, box["t"]))
        else: timeouts += 1
        keep.append(cid)
        # (c) a new host route
        host = "h%d.%s.test" % (i, tag)
        cid = docker.create("%s-%s-h%d" % (PREFIX, mode, i), "%s-h%d" % (tag, i), "%s,host=%s" % (tag, host), net, next(ips))
        box = {}
        th = threading.Thread(target=lambda: box.setdefault("t", first_from(hport, "/id", cid[:12], host=host)))
        th.start(); docker.start(cid); th.join()
        ts = ev.wait(cid, "start")
        if box.get("t") and ts:
            lat["c_host_route"].append((box["t"] - ts) / 1e6); samples.append(("%s-%s-h%d" % (PREFIX, mode, i), ts, box["t"]))
        else: timeouts += 1
        keep.append(cid)
        def summary(rounds):
            res = {"routing": mode, "rounds": rounds, "timeouts": timeouts, "reloads": reloads(cfg) - r0,
                   "removal_poll_requests": polled, "removal_poll_failed": failed, "removal_poll_failed_by_status": codes}
            res.update(breakdown(os.path.join(tmp, "agent-%s.log" % mode), samples, "registered", "first_200"))
            res.update(breakdown(os.path.join(tmp, "agent-%s.log" % mode), dsamples, "deregistered", "out_of_rotation"))
            for k, v in lat.items():
                if v: res[k] = {"p50_ms": round(pct(v, 50), 1), "p99_ms": round(pct(v, 99), 1), "max_ms": round(max(v), 1), "n": len(v)}
            return res
        if (i + 1) % 10 == 0 or i + 1 == n:
            res = summary(i + 1)
            # so far, on stderr: what an interrupted run (a deadline) still leaves
            log("%s: %d/%d rounds: %s" % (mode, i + 1, n, json.dumps(res)))
    stop_procs()
    rm_all(keep + [b0])
    docker.call("DELETE", "/networks/" + net)
    return res

def breakdown(agent_log, samples, what, end):
    """Medians of the Docker event -> the agent's "registered" (or "deregistered") log line -> the
    end (first 200, out of rotation); ms (the log has ms resolution)."""
    reg = {}
    pat = re.compile(r"^(\S+)Z info portolan-agent: %s [^:]+:([^:]+):" % what)
    for line in open(agent_log, errors="replace"):
        m = pat.match(line)
        if m:
            t = datetime.datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%f").replace(tzinfo=datetime.timezone.utc)
            reg.setdefault(m.group(2), int(t.timestamp() * 1e9))
    a, b = [], []
    for name, ts, t200 in samples:
        if name in reg: a.append((reg[name] - ts) / 1e6); b.append((t200 - reg[name]) / 1e6)
    if not a: return {}
    return {"breakdown_%s_p50_ms" % what: {"event_to_agent_" + what: round(pct(a, 50), 1),
                                         "agent_%s_to_%s" % (what, end): round(pct(b, 50), 1), "n": len(a)}}

def rm_all(ids):
    def rm(chunk):
        d = Docker()
        for c in chunk: d.rm(c)
    ts = [threading.Thread(target=rm, args=(ids[k::8],)) for k in range(8)]
    for t in ts: t.start()
    for t in ts: t.join()

def cleanup_docker(docker):
    f = urlquote(json.dumps({"label": ["%s=%s" % (LABEL, PREFIX)]}))
    try:
        st, cs = docker.call("GET", "/containers/json?all=1&filters=" + f)
        rm_all([c["Id"] for c in cs] if isinstance(cs, list) else [])
        st, ns = docker.call("GET", "/networks?filters=" + f)
        for nw in ns if isinstance(ns, list) else []: docker.call("DELETE", "/networks/" + nw["Id"])
    except Exception as e:
        log("cleanup:", e)

def main():
    n = int(os.environ.get("COUNT", "100"))
    modes = os.environ.get("MODES", "maps acl").split()
    docker = Docker()
    ev = Events()
    res = []
    try:
        for m in modes:
            r = one_mode(m, n, docker, ev); res.append(r); print(json.dumps(r), flush=True)
    finally:
        stop_procs()
        cleanup_docker(docker)
        if os.environ.get("E2E_KEEP") == "1": log("logs kept in", tmp)
        else: shutil.rmtree(tmp, ignore_errors=True)
    ratios(res)

def ratios(res):
    if len(res) >= 2:
        for k in ("a_instance", "b_path_route", "c_host_route", "d_removal_out_of_rotation"):
            if k in res[0] and k in res[1] and res[0][k]["p50_ms"] > 0:
                print(json.dumps({"ratio_p50": k, res[1]["routing"] + "/" + res[0]["routing"]:
                                  round(res[1][k]["p50_ms"] / res[0][k]["p50_ms"], 1)}))

if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
    signal.signal(signal.SIGINT, lambda *a: sys.exit(130))
    if sys.argv[1:] == ["--ratios"]:   # the JSON lines of one run per mode on stdin
        ratios([json.loads(l) for l in sys.stdin if l.startswith('{"routing"')])
    else:
        main()
