#!/usr/bin/env python3
"""tests/template/consul_answers.py: drives tests/template/render -answers the way the
templater daemon drives the engine: render, read the missing dependencies, fetch exactly those,
render again, until the render is complete. Answers have Consul's HTTP API shapes.

    consul_answers.py RENDER TEMPLATE snapshot SNAPSHOT.json   answers computed from a snapshot
    consul_answers.py RENDER TEMPLATE consul HOST:PORT         answers fetched from a Consul API
    consul_answers.py load HOST:PORT SNAPSHOT.json             registers a snapshot into a Consul API

Prints the final render on stdout and "passes: N" on stderr. Exit 0 when complete."""
import base64
import json
import os
import subprocess
import sys
import tempfile
import urllib.parse
import urllib.request


def instance_answer(snap, inst):
    status = inst.get("Status", "passing")
    sid = inst.get("ID") or inst["Name"]
    checks = [{"CheckID": "serfHealth", "Status": "passing"}]
    if status == "maintenance":
        checks.append({"CheckID": "_service_maintenance:" + sid, "Status": "critical"})
    else:
        checks.append({"CheckID": "service:" + sid, "Status": status})
    node = {"Node": inst.get("Node", ""), "Address": snap.get("nodes", {}).get(inst.get("Node", ""), ""),
            "ID": inst.get("NodeID", ""), "Datacenter": inst.get("Datacenter", ""),
            "TaggedAddresses": inst.get("TaggedAddresses", {}), "Meta": inst.get("NodeMeta", {})}
    svc = {"ID": sid, "Service": inst["Name"], "Tags": inst.get("Tags", []), "Address": inst.get("Address", ""),
           "Port": inst.get("Port", 0), "Meta": inst.get("Meta", {}), "Kind": inst.get("Kind", ""),
           "Namespace": inst.get("Namespace", "")}
    if "Weights" in inst:
        svc["Weights"] = inst["Weights"]
    return {"Node": node, "Service": svc, "Checks": checks}


def kv_entry(k, v):
    return {"Key": k, "Value": base64.b64encode(v.encode()).decode() if v else None, "Flags": 0}


class SnapshotSource:
    def __init__(self, path):
        self.snap = json.load(open(path))

    def services(self):
        out = {}
        for inst in self.snap.get("services", []):
            tags = out.setdefault(inst["Name"], [])
            for t in inst.get("Tags", []):
                if t not in tags:
                    tags.append(t)
        return out

    def health(self, name):
        lst = [instance_answer(self.snap, i) for i in self.snap.get("services", []) if i["Name"] == name]
        return lst or None

    def key(self, k):
        kv = self.snap.get("kv", {})
        return [kv_entry(k, kv[k])] if k in kv else None

    def prefix(self, p):
        kv = self.snap.get("kv", {})
        lst = [kv_entry(k, kv[k]) for k in sorted(kv) if k.startswith(p)]
        return lst or None

    def env(self):
        return self.snap.get("env", {})

    def now(self):
        return self.snap.get("now", 1)


class ConsulSource:
    def __init__(self, addr):
        self.base = "http://" + addr

    def get(self, path):
        try:
            with urllib.request.urlopen(self.base + path, timeout=10) as r:
                return json.loads(r.read() or b"null")
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise

    def services(self):
        return self.get("/v1/catalog/services")

    def health(self, name):
        return self.get("/v1/health/service/" + urllib.parse.quote(name, safe=""))

    def key(self, k):
        return self.get("/v1/kv/" + urllib.parse.quote(k, safe="/"))

    def prefix(self, p):
        return self.get("/v1/kv/" + urllib.parse.quote(p, safe="/") + "?recurse")

    def env(self):
        return {}

    def now(self):
        return 1


def load(addr, path):
    snap = json.load(open(path))
    base = "http://" + addr

    def put(p, body):
        req = urllib.request.Request(base + p, data=body, method="PUT")
        urllib.request.urlopen(req, timeout=10).read()

    for inst in snap.get("services", []):
        a = instance_answer(snap, inst)
        reg = {"Node": a["Node"]["Node"], "Address": a["Node"]["Address"], "Service": a["Service"],
               "ID": a["Node"]["ID"] or None, "NodeMeta": a["Node"]["Meta"], "TaggedAddresses": a["Node"]["TaggedAddresses"],
               "Checks": [dict(c, ServiceID=a["Service"]["ID"], Name=c["CheckID"]) for c in a["Checks"] if c["CheckID"] != "serfHealth"]}
        put("/v1/catalog/register", json.dumps(reg).encode())
    for k, v in snap.get("kv", {}).items():
        put("/v1/kv/" + urllib.parse.quote(k, safe="/"), v.encode())


def drive(render, template, src):
    answers = {"health": {}, "kv": {}, "prefix": {}, "env": src.env(), "now": src.now()}
    with tempfile.TemporaryDirectory() as d:
        path = os.path.join(d, "answers.json")
        for n in range(1, 21):
            json.dump(answers, open(path, "w"))
            p = subprocess.run([render, "-answers", path, template], capture_output=True)
            if p.returncode != 2:
                sys.stdout.buffer.write(p.stdout)
                sys.stderr.write(p.stderr.decode(errors="replace"))
                sys.stderr.write("passes: %d\n" % n)
                return p.returncode
            for line in p.stderr.decode().splitlines():
                if not line.startswith("missing: "):
                    continue
                kind, name = line[len("missing: "):].split(" ", 1) if " " in line[9:] else (line[9:], "")
                if kind == "0":
                    answers["services"] = src.services()
                elif kind == "1":
                    answers["health"][name] = src.health(name)
                elif kind == "2":
                    answers["kv"][name] = src.key(name)
                elif kind == "3":
                    answers["prefix"][name] = src.prefix(name)
    sys.stderr.write("not complete after 20 passes\n")
    return 3


if __name__ == "__main__":
    if sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3])
        sys.exit(0)
    render, template, mode, arg = sys.argv[1:5]
    sys.exit(drive(render, template, SnapshotSource(arg) if mode == "snapshot" else ConsulSource(arg)))
