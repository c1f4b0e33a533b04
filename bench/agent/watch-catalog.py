#!/usr/bin/env python3
"""bench/agent/watch-catalog.py: waits until the catalog holds exactly TARGET instances of a
service and prints the wall-clock time (ns) when it first saw that, for bench/run-agent.sh.

  watch-catalog.py --addr 127.0.0.1:8500 --service bench --target 500 [--timeout 120]

Uses blocking queries on /v1/catalog/service/<name> (answers as soon as the service changes)
and falls back to polling /v1/agent/services every 5 ms when the catalog does not block.
Exit status 1 on timeout (prints the last count seen on stderr).
"""
import argparse
import json
import sys
import time
import urllib.error
import urllib.request


def get(url, timeout):
    with urllib.request.urlopen(url, timeout=timeout) as r:
        return r.status, r.headers.get("X-Consul-Index"), json.load(r)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--addr", required=True)
    ap.add_argument("--service", required=True)
    ap.add_argument("--target", type=int, required=True)
    ap.add_argument("--timeout", type=float, default=120)
    a = ap.parse_args()
    base = "http://%s" % a.addr
    end = time.time() + a.timeout
    index, count, blocking = 0, -1, True
    while time.time() < end:
        try:
            if blocking:
                st, idx, data = get("%s/v1/catalog/service/%s?index=%d&wait=5s" % (base, a.service, index), 10)
                count = len(data)
                if idx is None:
                    blocking = False
                else:
                    new = int(idx)
                    index = 0 if new < index else new
            else:
                st, idx, data = get("%s/v1/agent/services" % base, 5)
                count = sum(1 for s in data.values() if s.get("Service") == a.service)
        except urllib.error.HTTPError as e:
            if blocking and e.code in (404, 405):
                blocking = False
                continue
            time.sleep(0.01)
            continue
        except (OSError, ValueError):
            time.sleep(0.01)
            continue
        if count == a.target:
            print(time.time_ns())
            return 0
        if not blocking:
            time.sleep(0.005)
    print("watch-catalog: timeout, last count %d (target %d)" % (count, a.target), file=sys.stderr)
    return 1


if __name__ == "__main__":
    sys.exit(main())
