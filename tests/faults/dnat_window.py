#!/usr/bin/env python3
"""tests/faults/dnat_window.py: the window in which a restarting dockerd had no DNAT rules for
published ports, and which failed requests of HAProxy's access log fall in it.

dockerd (20.10, --iptables=true --userland-proxy=false, --live-restore) on start deletes the nat
OUTPUT jump to its DOCKER chain and flushes that chain, and adds the DNAT rule of each live
container's published port back only when it restores that container's endpoint. Connections to
127.0.0.1:<published port> are refused in between. With dockerd at --log-level debug every
iptables command is logged with its time; this reads them and the access log.

  dnat_window.py DOCKERD_LOG FROM_LINE ACCESS_LOG FROM_LINE DEAD_SERVER

Prints one line: window_ms in_window outside_live outside_dead
  window_ms     from the first removal (-D OUTPUT ... -j DOCKER, or -F DOCKER) to the line after
                the last "-A DOCKER ... DNAT" of the restore (the command has run by then);
                -1 when the log shows no such window (then every failure is outside)
  in_window     failed requests (status not 200 or termination state not ----) received in it
  outside_live  failed requests outside it, to any server but DEAD_SERVER
  outside_dead  failed requests outside it, to DEAD_SERVER (the instance that really died)
Times: dockerd logs UTC (RFC 3339), HAProxy's %tr is local time; both read as such.
"""
import calendar
import re
import sys
import time

TS = re.compile(r'^time="(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:\.(\d+))?Z"')
ACCESS = re.compile(r'route=\S* \S+ \[(\d\d)/(\w{3})/(\d{4}):(\d\d):(\d\d):(\d\d)\.(\d{3})\] \S+ (\S+) \S+ (-?\d+) \S+ \S+ \S+ (\S+)')
MONTHS = {m: i + 1 for i, m in enumerate("Jan Feb Mar Apr May Jun Jul Aug Sep Oct Nov Dec".split())}


def docker_ms(line):
    m = TS.match(line)
    if not m:
        return None
    y, mo, d, h, mi, s, frac = m.groups()
    sec = calendar.timegm((int(y), int(mo), int(d), int(h), int(mi), int(s), 0, 0, 0))
    return sec * 1000 + int((frac or "0")[:3].ljust(3, "0"))


def window(path, start):
    begin = end = None
    last_dnat = False
    with open(path, errors="replace") as f:
        for n, line in enumerate(f):
            if n < start:
                continue
            t = docker_ms(line)
            if t is None:
                continue
            if last_dnat:
                end = t
                last_dnat = False
            if "/iptables, [" in line and "-t nat" in line:
                if begin is None and (("-D OUTPUT" in line and "-j DOCKER" in line) or "-F DOCKER" in line):
                    begin = t
                elif begin is not None and "-A DOCKER" in line and "DNAT" in line:
                    last_dnat = True
            if begin is not None and "Loading containers: done" in line:
                break
    return begin, end


def access_ms(m):
    d, mon, y, h, mi, s, ms = m.groups()[:7]
    sec = time.mktime((int(y), MONTHS[mon], int(d), int(h), int(mi), int(s), 0, 0, -1))
    return int(sec) * 1000 + int(ms)


def main():
    dlog, dfrom, alog, afrom, dead = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4]), sys.argv[5]
    begin, end = window(dlog, dfrom)
    inside = out_live = out_dead = 0
    with open(alog, errors="replace") as f:
        for n, line in enumerate(f):
            if n < afrom:
                continue
            m = ACCESS.search(line)
            if not m:
                continue
            server, status, term = m.group(8), m.group(9), m.group(10)
            if status == "200" and term == "----":
                continue
            t = access_ms(m)
            if begin is not None and end is not None and begin <= t <= end:
                inside += 1
            elif server.endswith("/" + dead):
                out_dead += 1
            else:
                out_live += 1
    span = end - begin if begin is not None and end is not None else -1
    print(span, inside, out_live, out_dead)


if __name__ == "__main__":
    main()
