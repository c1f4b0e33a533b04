#!/usr/bin/env python3
"""check-cases.py: evaluates one table of agent cases (tests/agent/cases/*.tsv) against a
snapshot of the catalog, for tests/agent/run.sh.

A case row is: name <TAB> docker run args <TAB> expected <TAB> description.
"expected" is a Python expression over the facts of the case's running container; it yields
either a dict {service ID: registration} that must equal exactly what the catalog holds for
that container, or pred(lambda a: ..., "what") for cases where the spec allows a choice.
Names available in the expression:
  node, addr          the group's node ID and default service address
  name, cid, cip      the container's name, ID, bridge IP
  ports, nets         {"80/tcp": hostport}, {network: IP}
  C                   every case's facts by case name: C["a"]["cip"], C["a"]["name"], ...
  imgid               ID of portolan-test/web
  hp(p)               published host port of p ("80", 80 or "53/udp")
  sid(p, udp=False)   "<node>:<name>:<p>[:udp]", the registrator service ID
  svc(service, port, **fields)  {Service, Tags:[], Meta:{}, Port, Address:addr, Checks:[]} + fields
  web(**fields)       svc("web", hp(80), **fields) under sid(80)   (a whole expected dict)
  chk(**fields)       an expected check (fields as sent in the register body)
  tried(id)           every check the agent sent for that ID, also in registrations the catalog
                      refused (a script check: Consul refuses them unless script checks are on)
A registration is compared on Service, Tags, Meta, Port, Address, the checks of the last register
body the agent sent for that ID (fields HTTP Method TCP GRPC GRPCUseTLS TLSSkipVerify TTL Interval
Timeout Status DeregisterCriticalServiceAfter Args, empty ones dropped) and NChecks, the number
of checks the catalog holds for the service.

Output: one line per case, "PASS<TAB>desc" or "FAIL<TAB>desc<TAB>diagnostic", then one line for
"no services that no case accounts for". Exit status 0 when everything passed.
"""
import argparse
import json
import re
import sys

CHECK_FIELDS = ["HTTP", "Method", "TCP", "GRPC", "GRPCUseTLS", "TLSSkipVerify", "TTL", "Interval",
                "Timeout", "Status", "DeregisterCriticalServiceAfter", "Args"]


class Pred:
    def __init__(self, fn, what):
        self.fn, self.what = fn, what


def proj_check(c):
    out = {}
    low = {k.lower(): v for k, v in c.items()}
    for f in CHECK_FIELDS:
        v = low.get(f.lower())
        if f == "Args" and v in (None, [], ""):
            v = low.get("scriptargs")
        if v in (None, "", False, [], {}, 0):
            continue
        out[f] = v
    return out


def load_requests(path):
    """-> ({ID: last register body the catalog accepted}, {ID: [every register body sent]})"""
    bodies, tried = {}, {}
    try:
        with open(path) as f:
            for line in f:
                try:
                    r = json.loads(line)
                except ValueError:
                    continue
                if r.get("method") == "PUT" and r.get("path", "").startswith("/v1/agent/service/register") \
                        and isinstance(r.get("body"), dict):
                    b = {k.lower(): v for k, v in r["body"].items()}
                    key = b.get("id") or b.get("name")
                    if not key:
                        continue
                    tried.setdefault(key, []).append(b)
                    if r.get("status") == 200:
                        bodies[key] = b
    except FileNotFoundError:
        pass
    return bodies, tried


def sent_checks(b):
    return ([b["check"]] if isinstance(b.get("check"), dict) and b["check"] else []) + \
        [c for c in (b.get("checks") or []) if isinstance(c, dict) and c]


def actual_records(services, checks, bodies):
    recs = {}
    for sid_, s in services.items():
        sent = sent_checks(bodies.get(sid_, {}))
        recs[sid_] = {
            "Service": s.get("Service"),
            "Tags": s.get("Tags") or [],
            "Meta": s.get("Meta") or {},
            "Port": s.get("Port"),
            "Address": s.get("Address"),
            "Checks": [proj_check(c) for c in sent],
            "NChecks": sum(1 for c in checks.values() if c.get("ServiceID") == sid_),
        }
    return recs


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", required=True)
    ap.add_argument("--vars", required=True)
    ap.add_argument("--services", required=True)
    ap.add_argument("--checks", required=True)
    ap.add_argument("--requests", required=True)
    ap.add_argument("--quiet", action="store_true")
    a = ap.parse_args()

    facts = json.load(open(a.vars))
    services = json.load(open(a.services)) or {}
    checks = json.load(open(a.checks)) or {}
    bodies, tried_bodies = load_requests(a.requests)
    recs = actual_records(services, checks, bodies)

    def tried(sid_):
        """every check the agent tried to register for that ID, accepted by the catalog or not"""
        return [proj_check(c) for b in tried_bodies.get(sid_, []) for c in sent_checks(b)]
    g = facts["group"]
    C = facts["cases"]

    rows = []
    for line in open(a.cases):
        line = line.rstrip("\n")
        if not line.strip() or line.startswith("#"):
            continue
        cols = line.split("\t")
        rows.append((cols[0], cols[2], cols[3] if len(cols) > 3 else cols[0]))

    claimed = set()
    results = []
    for cname, expr, desc in rows:
        f = C.get(cname)
        if f is None or not f.get("running"):
            results.append((False, "%s: %s" % (cname, desc), "container did not start"))
            continue
        name = f["name"]

        def hp(p, _f=f):
            p = str(p)
            if "/" not in p:
                p += "/tcp"
            v = _f["ports"].get(p)
            return int(v) if v else None

        def sid(p, udp=False, _n=name):
            return "%s:%s:%s%s" % (g["node"], _n, p, ":udp" if udp else "")

        def svc(service, port, **kw):
            d = {"Service": service, "Tags": [], "Meta": {}, "Port": port, "Address": g["addr"],
                 "Checks": []}
            d.update(kw)
            return d

        def web(_hp=hp, _sid=sid, _svc=svc, **kw):
            return {_sid(80): _svc("web", _hp(80), **kw)}

        def chk(**kw):
            return dict(kw)

        env = dict(node=g["node"], addr=g["addr"], imgid=g.get("imgid"), name=name, cid=f["id"],
                   cip=f["cip"], ports=f["ports"], nets=f["nets"], C=C, hp=hp, sid=sid, svc=svc,
                   web=web, chk=chk, pred=Pred, re=re, tried=tried, len=len, list=list, set=set, all=all,
                   any=any, range=range, str=str, int=int, sorted=sorted)
        try:
            # env as the globals: lambdas in pred(...) look their free names up there
            exp = eval(expr, dict(env, __builtins__={}))
        except Exception as e:  # a broken table row is a failing case, not a crash
            results.append((False, "%s: %s" % (cname, desc), "bad expected expression: %r" % e))
            continue
        own = re.compile(re.escape(name) + r"(?![A-Za-z0-9_.-])")
        mine = {k: v for k, v in recs.items() if own.search(k) or (isinstance(exp, dict) and k in exp)}
        claimed.update(mine)
        if isinstance(exp, Pred):
            try:
                good = bool(exp.fn(mine))
            except Exception as e:
                good = False
            results.append((good, "%s: %s" % (cname, desc),
                            "" if good else "wanted %s; got %s" % (exp.what, json.dumps(mine)[:1500])))
            continue
        for v in exp.values():
            v.setdefault("NChecks", len(v.get("Checks", [])))
        good = mine == exp
        diag = ""
        if not good:
            diag = "expected %s ; actual %s" % (json.dumps(exp, sort_keys=True)[:1500],
                                                json.dumps(mine, sort_keys=True)[:1500])
        results.append((good, "%s: %s" % (cname, desc), diag))

    extra = sorted(set(recs) - claimed)
    results.append((not extra, "no services that no case accounts for",
                    "extra: %s" % json.dumps({k: recs[k] for k in extra})[:1500] if extra else ""))
    allgood = all(r[0] for r in results)
    if not a.quiet:
        for good, desc, diag in results:
            print("%s\t%s\t%s" % ("PASS" if good else "FAIL", desc, diag.replace("\n", "\\n")))
    sys.exit(0 if allgood else 1)


if __name__ == "__main__":
    main()
