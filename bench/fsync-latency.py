#!/usr/bin/env python3
"""bench/fsync-latency.py: what one fdatasync costs on a disk, measured alone.

The catalog's durable write rate with -data-dir is bounded by (writes per fsync) / (fsync
latency): this probe gives the second number for the disk a data dir sits on, so a figure of
bench/run-catalog-wal.sh can be judged against what the disk allowed at that moment. It does
what a group commit of the catalog does: append one block (default 5,600 bytes: 16 registration
records of ~350 bytes) to a file opened O_APPEND, fdatasync, repeat, for a bounded time.

With -overwrite the blocks go into a file written full of zeros (and fsync'd) first, so no
fdatasync has to commit a new file size (ext4 then flushes data only, no journal commit): how
much of the latency is the metadata of an append.

Usage: bench/fsync-latency.py [-dir /tmp] [-bytes 5600] [-seconds 3] [-max 20000] [-overwrite]
Prints: fsyncs, fsyncs_per_second, p50/p90/p99/max latency in ms. The file is removed.
"""
import argparse
import os
import sys
import tempfile
import time


def main():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("-dir", default="/tmp", help="directory on the disk to measure")
    ap.add_argument("-bytes", type=int, default=5600, help="bytes appended before each fdatasync")
    ap.add_argument("-seconds", type=float, default=3.0, help="duration")
    ap.add_argument("-max", type=int, default=20000, help="fsyncs at most")
    ap.add_argument("-overwrite", action="store_true", help="write into a pre-zeroed file instead of appending")
    a = ap.parse_args()
    fd, path = tempfile.mkstemp(prefix="pt-fsync-", dir=a.dir)
    os.close(fd)
    block = b"x" * a.bytes
    lat = []
    try:
        if a.overwrite:
            fd = os.open(path, os.O_WRONLY)
            zeros = b"\0" * (1 << 20)
            for _ in range((a.bytes * a.max + len(zeros) - 1) // len(zeros)):
                os.write(fd, zeros)
            os.fsync(fd)
            os.lseek(fd, 0, os.SEEK_SET)
        else:
            fd = os.open(path, os.O_WRONLY | os.O_APPEND)
        t_end = time.monotonic() + a.seconds
        t0 = time.monotonic()
        while time.monotonic() < t_end and len(lat) < a.max:
            s = time.perf_counter()
            os.write(fd, block)
            os.fdatasync(fd)
            lat.append(time.perf_counter() - s)
        el = time.monotonic() - t0
        os.close(fd)
    finally:
        os.unlink(path)
    if not lat:
        print("no fsync completed", file=sys.stderr)
        return 1
    lat.sort()

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100.0 * len(lat)))] * 1e3

    print("fsync_dir %s" % a.dir)
    print("fsync_mode %s" % ("overwrite" if a.overwrite else "append"))
    print("fsync_block_bytes %d" % a.bytes)
    print("fsyncs %d" % len(lat))
    print("fsyncs_per_second %.0f" % (len(lat) / el))
    print("fsync_p50_ms %.3f" % pct(50))
    print("fsync_p90_ms %.3f" % pct(90))
    print("fsync_p99_ms %.3f" % pct(99))
    print("fsync_max_ms %.3f" % (lat[-1] * 1e3))
    return 0


if __name__ == "__main__":
    sys.exit(main())
