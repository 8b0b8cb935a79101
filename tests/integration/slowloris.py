#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Hold N connections to smkeyd, each trickling one byte of a request that
never ends, for the slowloris scenario (test_daemon_slowloris.sh).

    python3 slowloris.py SOCKET N INTERVAL_S MAX_S

Opens N connections, then sends one byte of '{"method":"io.smkeyd.GetInfo"'
(never the closing NUL) on every open one each INTERVAL_S, until all are
closed by the daemon or MAX_S have passed. Writes "held N" to stdout once
all N are connected and none was refused, then one JSON line at the end:
connected, refused (TooManyRequests at once), closed (by the daemon) and
the seconds each was open.
"""
import json
import select
import socket
import sys
import time

REQ = b'{"method":"io.smkeyd.GetInfo","parameters":{}'


def main(argv):
    path, n, interval, max_s = argv[1], int(argv[2]), float(argv[3]), float(argv[4])
    conns, refused = [], 0
    for _ in range(n):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.setblocking(False)
        conns.append(s)
    time.sleep(0.3)
    # a refused client gets TooManyRequests at once and is closed
    for s in list(conns):
        r, _, _ = select.select([s], [], [], 0)
        if r:
            try:
                data = s.recv(4096)
            except OSError:
                data = b""
            if b"TooManyRequests" in data or not data:
                refused += 1
                conns.remove(s)
                s.close()
    print(f"held {len(conns)} refused {refused}", flush=True)
    start = time.monotonic()
    opened = {s: start for s in conns}
    lifetimes, pos = [], 0
    while conns and time.monotonic() - start < max_s:
        for s in list(conns):
            try:
                s.send(REQ[pos % len(REQ):pos % len(REQ) + 1])
                ok = True
            except OSError:
                ok = False
            if ok:
                try:
                    ok = s.recv(4096) != b""
                except BlockingIOError:
                    pass
                except OSError:
                    ok = False
            if not ok:
                lifetimes.append(round(time.monotonic() - opened[s], 2))
                conns.remove(s)
                s.close()
        pos += 1
        time.sleep(interval)
    print(json.dumps({"connected": n - refused, "refused": refused,
                      "closed": len(lifetimes), "still_open": len(conns),
                      "lifetimes": sorted(lifetimes)}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
