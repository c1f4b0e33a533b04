#!/usr/bin/python3
"""python_consul_test.py: portolan-catalog driven through Debian's python3-consul 0.7.1.

Expectations come from shared/reference/consul-api.md (section numbers in the test names).
0.7.1 sends GET for agent/service/deregister and check pass/warn/fail; Consul answers those
405 (section 0), so the tests assert the 405 and make the real call with a raw PUT
(section 10: "use raw requests for those calls instead of bending the server").

Prints TAP lines ("ok N - ...", "not ok N - ..." plus "# ..." diagnostics) and a plan;
run.sh renumbers them into the suite's TAP stream. CATALOG_ADDR names the catalog (host:port).
Run with /usr/bin/python3 (the Debian interpreter that has the consul package).
"""
import base64
import os
import sys
import threading
import time
import traceback

import consul
import requests

ADDR = os.environ.get("CATALOG_ADDR", "127.0.0.1:8500")
HOST, PORT = ADDR.rsplit(":", 1)
BASE = "http://" + ADDR
c = consul.Consul(host=HOST, port=int(PORT))
http = requests.Session()

TESTS = []


def test(fn):
    TESTS.append(fn)
    return fn


def raw(method, path, **kw):
    return http.request(method, BASE + path, timeout=15, **kw)


def put_ok(path, **kw):
    r = raw("PUT", path, **kw)
    assert r.status_code == 200, "PUT %s -> %d %r" % (path, r.status_code, r.text)
    return r


def eq(actual, expected, what=""):
    assert actual == expected, "%s: expected %r, got %r" % (what, expected, actual)


def index_of(idx):
    assert idx is not None and str(idx).isdigit(), "X-Consul-Index present: %r" % (idx,)
    n = int(idx)
    assert n > 0, "index never 0"
    return n


@test
def s1_register_lowercase_keys_read_back():
    """s1/s5 register through the client (lower-case JSON keys) and read it from catalog/health"""
    ok = c.agent.service.register("pyweb", service_id="pyweb-1", address="10.9.8.7",
                                  port=9090, tags=["z", "a"])
    eq(ok, True, "register returns True (200)")
    idx, nodes = c.catalog.service("pyweb")
    index_of(idx)
    eq(len(nodes), 1, "one instance")
    n = nodes[0]
    eq(n["ServiceID"], "pyweb-1", "ServiceID")
    eq(n["ServiceName"], "pyweb", "ServiceName")
    eq(n["ServiceAddress"], "10.9.8.7", "ServiceAddress")
    eq(n["ServicePort"], 9090, "ServicePort")
    eq(n["ServiceTags"], ["z", "a"], "ServiceTags keep order")
    idx, services = c.catalog.services()
    eq(services.get("pyweb"), ["a", "z"], "catalog/services tags sorted")
    eq(services.get("consul"), [], "consul service listed")
    idx, entries = c.health.service("pyweb")
    eq([e["Service"]["ID"] for e in entries], ["pyweb-1"], "health/service")
    eq(c.agent.services()["pyweb-1"]["Port"], 9090, "agent/services")


@test
def s2_deregister_get_is_405_put_works():
    """s2/s10 0.7.1 deregister (GET) is refused 405 and changes nothing; a raw PUT deregisters"""
    c.agent.service.register("pygone", service_id="pygone-1", port=1)
    eq(c.agent.service.deregister("pygone-1"), False, "client deregister returns False")
    r = raw("GET", "/v1/agent/service/deregister/pygone-1")
    eq(r.status_code, 405, "GET deregister status")
    eq(r.text, "method GET not allowed", "405 body")
    eq(r.headers.get("Allow"), "OPTIONS,PUT", "Allow header")
    assert "pygone-1" in c.agent.services(), "service still registered after the GET"
    put_ok("/v1/agent/service/deregister/pygone-1")
    assert "pygone-1" not in c.agent.services(), "gone after PUT"
    eq(c.catalog.service("pygone")[1], [], "catalog empty after PUT")


@test
def s4_ttl_check_pass_warn_fail():
    """s4/s10 TTL check: client ttl_pass/warn/fail (GET) are 405; raw PUT pass/warn/fail with note"""
    c.agent.service.register("pyttl", port=1, check=consul.Check.ttl("30s"))
    cid = "service:pyttl"
    checks = c.agent.checks()
    eq(checks[cid]["Status"], "critical", "initial status")
    eq(checks[cid]["Output"], "", "initial output")
    for fn in (c.agent.check.ttl_pass, c.agent.check.ttl_warn, c.agent.check.ttl_fail):
        eq(fn(cid), False, fn.__name__ + " via GET returns False")
    for verb in ("pass", "warn", "fail"):
        r = raw("GET", "/v1/agent/check/%s/%s" % (verb, cid))
        eq(r.status_code, 405, "GET check/%s" % verb)
        eq(r.text, "method GET not allowed", "405 body")
    eq(c.agent.checks()[cid]["Status"], "critical", "GETs changed nothing")
    for verb, status in (("pass", "passing"), ("warn", "warning"), ("fail", "critical")):
        put_ok("/v1/agent/check/%s/%s" % (verb, cid), params={"note": "note-" + verb})
        ch = c.agent.checks()[cid]
        eq(ch["Status"], status, "after PUT check/%s" % verb)
        eq(ch["Output"], "note-" + verb, "note goes to Output")
    put_ok("/v1/agent/check/update/" + cid, json={"Status": "warning", "Output": "via update"})
    ch = c.agent.checks()[cid]
    eq((ch["Status"], ch["Output"]), ("warning", "via update"), "after update")


@test
def s4_ttl_100ms_turns_critical():
    """s4 a 100ms TTL (registered through the client) turns critical with Output 'TTL expired'"""
    # Timing: "passing right after pass" is asserted only when the read came back inside the
    # 100 ms (a loaded machine can take longer, and then critical is right); expiry is polled for
    # instead of read once after a fixed 400 ms, and must come within a second of the pass (a TTL
    # kept in whole seconds still fails).
    c.agent.service.register("pyshort", port=1, check=consul.Check.ttl("100ms"))
    t0 = time.monotonic()
    put_ok("/v1/agent/check/pass/service:pyshort")
    st = c.agent.checks()["service:pyshort"]["Status"]
    if time.monotonic() - t0 < 0.09:
        eq(st, "passing", "passing right after pass")
    while time.monotonic() - t0 < 10:
        ch = c.agent.checks()["service:pyshort"]
        if ch["Status"] == "critical":
            break
        time.sleep(0.01)
    took = time.monotonic() - t0
    eq(ch["Status"], "critical", "status after the TTL")
    eq(ch["Output"], "TTL expired", "output after expiry")
    assert took < 1.0, "critical %.0f ms after the pass (TTL 100ms)" % (took * 1000)
    idx, checks = c.health.checks("pyshort")
    eq([(x["CheckID"], x["Status"]) for x in checks], [("service:pyshort", "critical")], "health/checks")


@test
def s6_passing_and_tag():
    """s6 ?passing (client sends passing=1) and ?tag on health/service and catalog/service"""
    c.agent.service.register("pyp", service_id="pyp-1", port=1, tags=["blue"], check=consul.Check.ttl("30s"))
    c.agent.service.register("pyp", service_id="pyp-2", port=2, tags=["green"], check=consul.Check.ttl("30s"))
    put_ok("/v1/agent/check/pass/service:pyp-1")
    idx, entries = c.health.service("pyp", passing=True)
    eq([e["Service"]["ID"] for e in entries], ["pyp-1"], "passing only")
    idx, entries = c.health.service("pyp")
    eq(sorted(e["Service"]["ID"] for e in entries), ["pyp-1", "pyp-2"], "all without ?passing")
    idx, entries = c.health.service("pyp", tag="green")
    eq([e["Service"]["ID"] for e in entries], ["pyp-2"], "tag=green")
    idx, entries = c.health.service("pyp", tag="green", passing=True)
    eq(entries, [], "tag=green&passing")
    idx, nodes = c.catalog.service("pyp", tag="blue")
    eq([n["ServiceID"] for n in nodes], ["pyp-1"], "catalog tag=blue")
    r = raw("GET", "/v1/health/service/pyp", params={"passing": "bogus"})
    eq((r.status_code, r.text), (400, "Invalid value for ?passing"), "bad ?passing")


@test
def s7_kv_put_get_flags_cas():
    """s7 KV put/get (base64 decoded), flags, cas=0, cas=N"""
    eq(c.kv.put("pykv/a", "one"), True, "put")
    idx, e = c.kv.get("pykv/a")
    index_of(idx)
    eq(e["Value"], b"one", "value")
    eq(e["Flags"], 0, "flags default")
    eq(c.kv.put("pykv/a", "two", flags=7), True, "put flags")
    idx, e = c.kv.get("pykv/a")
    eq((e["Value"], e["Flags"]), (b"two", 7), "value+flags")
    eq(c.kv.put("pykv/a", "three", cas=0), False, "cas=0 on existing key")
    eq(c.kv.put("pykv/b", "bee", cas=0), True, "cas=0 on new key")
    eq(c.kv.put("pykv/a", "three", cas=e["ModifyIndex"] + 12345), False, "cas with wrong index")
    eq(c.kv.put("pykv/a", "three", cas=e["ModifyIndex"]), True, "cas with right index")
    idx, e2 = c.kv.get("pykv/a")
    eq(e2["Value"], b"three", "value after cas")
    eq(e2["CreateIndex"], e["CreateIndex"], "CreateIndex kept")
    eq(c.kv.put("pykv/bin", b"\x00\xff\x01"), True, "binary put")
    eq(c.kv.get("pykv/bin")[1]["Value"], b"\x00\xff\x01", "binary round trip")
    r = raw("GET", "/v1/kv/pykv/bin", params={"raw": ""})
    eq(r.content, b"\x00\xff\x01", "?raw bytes")
    idx, missing = c.kv.get("pykv/nope")
    eq(missing, None, "missing key")
    index_of(idx)
    eq(c.kv.delete("pykv/b", cas=1), False, "delete with wrong cas")
    eq(c.kv.get("pykv/b")[1]["Value"], b"bee", "still there")


@test
def s7_kv_recurse_keys_delete():
    """s7 KV recurse, keys with separator, delete recurse"""
    for k in ("pyr/x/1", "pyr/x/2", "pyr/y", "pyr/z/deep/er"):
        c.kv.put(k, k.upper())
    idx, items = c.kv.get("pyr/", recurse=True)
    eq([i["Key"] for i in items], ["pyr/x/1", "pyr/x/2", "pyr/y", "pyr/z/deep/er"], "recurse keys")
    eq(items[2]["Value"], b"PYR/Y", "recurse values decoded")
    idx, keys = c.kv.get("pyr/", keys=True, separator="/")
    eq(keys, ["pyr/x/", "pyr/y", "pyr/z/"], "keys+separator")
    idx, keys = c.kv.get("pyr/", keys=True)
    eq(keys, ["pyr/x/1", "pyr/x/2", "pyr/y", "pyr/z/deep/er"], "keys")
    eq(c.kv.delete("pyr/x", recurse=True), True, "delete recurse")
    idx, keys = c.kv.get("pyr/", keys=True)
    eq(keys, ["pyr/y", "pyr/z/deep/er"], "after delete recurse")
    eq(c.kv.delete("pyr/", recurse=True), True, "delete all")
    idx, items = c.kv.get("pyr/", recurse=True)
    eq(items, None, "nothing left (404)")


class Blocked(threading.Thread):
    """Runs one blocking call on a thread; records result and elapsed time."""

    def __init__(self, fn):
        super().__init__(daemon=True)
        self.fn = fn
        self.result = None
        self.error = None
        self.t0 = time.monotonic()
        self.t1 = None
        self.start()

    def run(self):
        try:
            self.result = self.fn()
        except Exception as e:  # reported by the test
            self.error = e
        self.t1 = time.monotonic()

    def get(self):
        self.join(20)
        assert not self.is_alive(), "blocking call did not return within 20s"
        if self.error:
            raise self.error
        return self.result


@test
def s9_blocking_health_wakes_on_change():
    """s9 a blocked health.service(index, wait) returns promptly after a change that raises the index"""
    c.agent.service.register("pyblk", port=1, tags=["a"])
    idx, _ = c.health.service("pyblk")
    # wait 15s, "promptly" is < 3 s after the PUT: generous for a loaded machine, and a query that
    # is not woken still fails it (was < 0.3 s with wait 5s)
    b = Blocked(lambda: c.health.service("pyblk", index=idx, wait="15s"))
    time.sleep(0.3)
    assert b.is_alive(), "GET was still blocked before the write"
    c.agent.service.register("pyblk", port=1, tags=["b"])
    t_put = time.monotonic()
    idx2, entries = b.get()
    assert int(idx2) > int(idx), "index rose %s -> %s" % (idx, idx2)
    eq(entries[0]["Service"]["Tags"], ["b"], "new data")
    late = b.t1 - t_put
    assert late < 3, "woke %.0f ms after the PUT answered" % (late * 1000)


@test
def s9_blocking_identical_reregistration_waits():
    """s9 an identical re-registration does not wake a blocked GET; the timeout returns the same index"""
    kw = dict(service_id="pysame-1", port=5, tags=["t"])
    c.agent.service.register("pysame", **kw)
    idx, _ = c.health.service("pysame")
    b = Blocked(lambda: c.health.service("pysame", index=idx, wait="1s"))
    time.sleep(0.2)
    c.agent.service.register("pysame", **kw)
    idx2, _ = b.get()
    took = b.t1 - b.t0
    assert took >= 0.95, "returned after %.0f ms, before the 1s wait" % (took * 1000)
    assert took < 2.5, "wait 1s took %.0f ms" % (took * 1000)
    eq(idx2, idx, "same index at timeout")


@test
def s9_blocking_kv_and_catalog():
    """s9 KV get(index, wait) wakes on the key's write; catalog.service not woken by another service"""
    c.kv.put("pyblk/k", "1")
    idx, _ = c.kv.get("pyblk/k")
    b = Blocked(lambda: c.kv.get("pyblk/k", index=idx, wait="15s"))
    time.sleep(0.2)
    c.kv.put("pyblk/k", "2")
    t_put = time.monotonic()
    idx2, e = b.get()
    assert int(idx2) > int(idx), "kv index rose"
    eq(e["Value"], b"2", "new value")
    assert b.t1 - t_put < 3, "kv woke promptly (%.0f ms, wait 15s)" % ((b.t1 - t_put) * 1000)

    c.agent.service.register("pyq", port=1)
    idx, _ = c.catalog.service("pyq")
    b = Blocked(lambda: c.catalog.service("pyq", index=idx, wait="1s"))
    time.sleep(0.15)
    c.agent.service.register("pyother", port=1)
    c.kv.put("pyblk/k", "3")
    idx2, _ = b.get()
    assert b.t1 - b.t0 >= 0.95, "woken after %.0f ms by unrelated writes" % ((b.t1 - b.t0) * 1000)
    eq(idx2, idx, "same index")


@test
def s4_http_and_tcp_checks_run_by_the_catalog():
    """s4 HTTP checks (2xx passing, 429 warning, else critical) and TCP checks, registered with consul.Check.http/tcp"""
    import http.server
    import socket

    codes = {"/ok": 200, "/busy": 429, "/down": 503}

    class H(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            self.send_response(codes.get(self.path, 404))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *a):
            pass

    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
    port = srv.server_address[1]
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    closed_port = closed.getsockname()[1]  # bound, never listening: connect is refused
    try:
        want = {}
        for path, status in (("/ok", "passing"), ("/busy", "warning"), ("/down", "critical")):
            name = "pyhttp" + path.replace("/", "-")
            c.agent.service.register(name, port=port, check=consul.Check.http(
                "http://127.0.0.1:%d%s" % (port, path), "1s", timeout="1s"))
            want["service:" + name] = status
        c.agent.service.register("pytcp-up", port=port, check=consul.Check.tcp("127.0.0.1", port, "1s"))
        want["service:pytcp-up"] = "passing"
        c.agent.service.register("pytcp-down", port=closed_port,
                                 check=consul.Check.tcp("127.0.0.1", closed_port, "1s"))
        want["service:pytcp-down"] = "critical"
        checks = c.agent.checks()
        eq(checks["service:pyhttp-ok"]["Type"], "http", "Type of an HTTP check")
        eq(checks["service:pytcp-up"]["Type"], "tcp", "Type of a TCP check")
        eq(checks["service:pyhttp-ok"]["Interval"], "1s", "Interval in Go form")
        # first run within one interval (random delay), so everything settles in ~2 s; 15 s leaves
        # a loaded machine room (4 s did not always), a check that never runs still fails
        deadline = time.monotonic() + 15
        got = {}
        while time.monotonic() < deadline:
            checks = c.agent.checks()
            got = {k: checks[k]["Status"] for k in want}
            if got == want:
                break
            time.sleep(0.1)
        eq(got, want, "statuses after the first runs")
        idx, entries = c.health.service("pyhttp-ok", passing=True)
        eq(len(entries), 1, "passing HTTP check instance is returned by ?passing")
    finally:
        srv.shutdown()
        closed.close()


# ---- issue 13: node-level endpoints ----
def node_name():
    return c.agent.self()["Config"]["NodeName"]


@test
def i13_health_node_has_node_and_service_checks():
    """issue13 health/node lists node checks and the checks of services on the node, by CheckID"""
    node = node_name()
    ok = c.agent.service.register("pynode", service_id="pynode-1", port=82,
                                  check=consul.Check.ttl("60s"))
    eq(ok, True, "register")
    eq(c.agent.check.register("pynode disk", check=consul.Check.ttl("60s"), check_id="pynode-disk"), True, "node check")
    eq(c.agent.check.register("pynode extra", check=consul.Check.ttl("60s"), check_id="pynode-extra",
                               service_id="pynode-1"), True, "service-bound check")
    idx, checks = c.health.node(node)
    index_of(idx)
    ids = [k["CheckID"] for k in checks]
    for want in ("pynode-disk", "pynode-extra", "serfHealth", "service:pynode-1"):
        assert want in ids, "%s in %r" % (want, ids)
    eq(ids, sorted(ids), "by CheckID")
    extra = [k for k in checks if k["CheckID"] == "pynode-extra"][0]
    eq(extra["ServiceID"], "pynode-1", "ServiceID of the bound check")
    eq(c.health.node("no-such-node")[1], [], "unknown node: empty list")
    r = raw("PUT", "/v1/agent/check/register", data='{"Name":"x","ServiceID":"nope","TTL":"10s"}')
    eq(r.status_code, 400, "check bound to an unknown service")
    put_ok("/v1/agent/check/deregister/pynode-disk")
    put_ok("/v1/agent/check/deregister/pynode-extra")


@test
def i13_node_maintenance():
    """issue13 agent/maintenance: _node_maintenance makes every instance on the node critical"""
    node = node_name()
    put_ok("/v1/agent/check/pass/service:pynode-1")
    eq(len(c.health.service("pynode", passing=True)[1]), 1, "passing before")
    eq(c.agent.maintenance("true", reason="python says so"), True, "enable")
    m = [k for k in c.health.node(node)[1] if k["CheckID"] == "_node_maintenance"]
    eq(len(m), 1, "_node_maintenance present")
    eq((m[0]["Name"], m[0]["Status"], m[0]["Notes"]),
       ("Node Maintenance Mode", "critical", "python says so"), "the maintenance check")
    eq(c.health.service("pynode", passing=True)[1], [], "no instance passes")
    eq(c.agent.maintenance("false"), True, "disable")
    eq(len(c.health.service("pynode", passing=True)[1]), 1, "passing again")
    r = raw("PUT", "/v1/agent/maintenance", params={"enable": "perhaps"})
    eq((r.status_code, r.text), (400, 'Invalid value for enable: "perhaps"'), "bad enable")


@test
def i13_catalog_node_datacenters_members():
    """issue13 catalog/node, catalog/node-services, catalog/datacenters, agent/members"""
    node = node_name()
    idx, n = c.catalog.node(node)
    index_of(idx)
    eq(n["Node"]["Node"], node, "Node")
    eq(n["Services"]["pynode-1"]["Service"], "pynode", "service by ID")
    eq(c.catalog.node("no-such-node")[1], None, "unknown node: null")
    r = raw("GET", "/v1/catalog/node-services/" + node)
    eq(r.status_code, 200, "node-services")
    assert any(s["ID"] == "pynode-1" for s in r.json()["Services"])
    eq(c.catalog.datacenters(), ["dc1"], "datacenters")
    members = c.agent.members()
    eq([m["Name"] for m in members], [node], "one member, itself")
    put_ok("/v1/agent/service/deregister/pynode-1")


@test
def i13_catalog_register_external():
    """issue13 catalog.register: an external node and service in catalog and health; deregister"""
    ok = c.catalog.register("pydb", "10.7.0.2", service={"service": "pyext", "id": "pyext-1", "port": 6379},
                            check={"CheckID": "pyext-alive", "Name": "alive", "Status": "passing",
                                   "ServiceID": "pyext-1"})
    eq(ok, True, "register")
    idx, inst = c.catalog.service("pyext")
    index_of(idx)
    eq([(i["Node"], i["Address"], i["ServicePort"]) for i in inst], [("pydb", "10.7.0.2", 6379)], "catalog/service")
    eq(len(c.health.service("pyext", passing=True)[1]), 1, "health ?passing")
    eq([k["CheckID"] for k in c.health.node("pydb")[1]], ["pyext-alive"], "health/node of the external node")
    assert "pydb" in [n["Node"] for n in c.catalog.nodes()[1]]
    assert "pyext-1" not in c.agent.services(), "not an agent service"
    eq(c.catalog.deregister("pydb", service_id="pyext-1"), True, "deregister the service")
    eq(c.catalog.service("pyext")[1], [], "gone")
    eq(c.catalog.deregister("pydb"), True, "deregister the node")
    assert "pydb" not in [n["Node"] for n in c.catalog.nodes()[1]]


@test
def i13_events_coordinates_raft():
    """issue13 event.fire/list (a blocked list wakes on the next event), coordinate, operator.raft_config"""
    ev = c.event.fire("pydeploy", body="v7")
    eq((ev["Name"], ev["LTime"]), ("pydeploy", 0), "fire answer")
    idx, events = c.event.list(name="pydeploy")
    eq([(e["Name"], e["Payload"]) for e in events], [("pydeploy", b"v7")], "list (payload decoded)")
    got = Blocked(lambda: c.event.list(index=idx, wait="10s"))
    time.sleep(0.3)
    assert got.result is None, "still blocked before the next event"
    c.event.fire("pywake")
    _, later = got.get()
    assert "pywake" in [e["Name"] for e in later]
    eq(c.coordinate.datacenters()[0]["Datacenter"], "dc1", "coordinate datacenters")
    eq(len(c.coordinate.nodes()[1]), 1, "coordinate nodes")
    raft = c.operator.raft_config()
    eq([(s["Leader"], s["Voter"]) for s in raft["Servers"]], [(True, True)], "one voting leader")


@test
def i13_sessions_and_locks():
    """issue13 sessions: leader election with kv.put(acquire=), second contender refused until release or destroy; info, node, list, renew"""
    a = c.session.create(name="py-a", lock_delay=0, ttl=30)
    b = c.session.create(name="py-b", lock_delay=0)
    idx, info = c.session.info(a)
    eq((info["Name"], info["TTL"], info["Behavior"], info["LockDelay"]), ("py-a", "30s", "release", 0), "info")
    eq(info["NodeChecks"], ["serfHealth"], "default node checks")
    assert a in [s["ID"] for s in c.session.list()[1]]
    assert b in [s["ID"] for s in c.session.node(node_name())[1]]
    eq(c.session.renew(a)["ID"], a, "renew answers the session")
    eq(c.kv.put("pylock/leader", "a", acquire=a), True, "A acquires")
    eq(c.kv.put("pylock/leader", "b", acquire=b), False, "B is refused while A holds it")
    idx, e = c.kv.get("pylock/leader")
    eq((e["Session"], e["LockIndex"], e["Value"]), (a, 1, b"a"), "held by A")
    # B waits on the key; A releasing wakes it
    got = Blocked(lambda: c.kv.get("pylock/leader", index=idx, wait="10s"))
    time.sleep(0.3)
    assert got.result is None, "still blocked while A holds the lock"
    eq(c.kv.put("pylock/leader", "a", release=a), True, "A releases")
    _, e = got.get()
    assert e.get("Session") is None, "released"
    eq(c.kv.put("pylock/leader", "b", acquire=b), True, "B wins")
    eq(c.kv.put("pylock/leader", "a", acquire=a), False, "A is now the one refused")
    eq(c.session.destroy(b), True, "destroy B")
    eq(c.kv.get("pylock/leader")[1].get("Session"), None, "destroy released the lock")
    eq(c.kv.put("pylock/leader", "a", acquire=a), True, "A takes it again")
    eq(c.kv.get("pylock/leader")[1]["LockIndex"], 3, "LockIndex counts acquisitions")
    c.session.destroy(a)
    eq(c.session.info(a)[1], None, "destroyed session has no info")


@test
def i13_txn_atomic():
    """issue13 /v1/txn: KV set/cas/get applied together; a failing check-index aborts it all (409, nothing applied)"""
    eq(c.kv.put("pytxn/a", "1"), True, "seed")
    idx, a = c.kv.get("pytxn/a")
    b64 = lambda v: base64.b64encode(v).decode()
    ops = [{"KV": {"Verb": "set", "Key": "pytxn/b", "Value": b64(b"two")}},
           {"KV": {"Verb": "cas", "Key": "pytxn/a", "Value": b64(b"one"), "Index": a["ModifyIndex"]}},
           {"KV": {"Verb": "get", "Key": "pytxn/b"}}]
    r = raw("PUT", "/v1/txn", json=ops)
    eq(r.status_code, 200, "status")
    res = r.json()
    eq(res["Errors"], None, "no errors")
    eq([x["KV"]["Key"] for x in res["Results"]], ["pytxn/b", "pytxn/a", "pytxn/b"], "results in order")
    eq(res["Results"][2]["KV"]["Value"], b64(b"two"), "get carries the value")
    eq(c.kv.get("pytxn/a")[1]["Value"], b"one", "cas applied")
    ops = [{"KV": {"Verb": "set", "Key": "pytxn/c", "Value": b64(b"three")}},
           {"KV": {"Verb": "delete", "Key": "pytxn/a"}},
           {"KV": {"Verb": "check-index", "Key": "pytxn/b", "Index": 1}}]
    r = raw("PUT", "/v1/txn", json=ops)
    eq(r.status_code, 409, "failing check-index")
    body = r.json()
    eq(body["Results"], None, "no results")
    eq([e["OpIndex"] for e in body["Errors"]], [2], "the failing op named")
    assert body["Errors"][0]["What"].startswith("current modify index "), body
    eq(c.kv.get("pytxn/c")[1], None, "the set was not applied")
    eq(c.kv.get("pytxn/a")[1]["Value"], b"one", "the delete was not applied")


def main():
    n = 0
    failed = 0
    for fn in TESTS:
        n += 1
        desc = (fn.__doc__ or fn.__name__).strip().splitlines()[0]
        try:
            fn()
            print("ok %d - %s" % (n, desc), flush=True)
        except Exception:
            failed += 1
            print("not ok %d - %s" % (n, desc), flush=True)
            for line in traceback.format_exc().rstrip().splitlines():
                print("# " + line, flush=True)
    print("1..%d" % n, flush=True)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
