#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Load for tests/bench/run: concurrent varlink calls to smkeyd.

    load.py SOCKET generate POLICY COUNT CLIENTS PREFIX [DEVICES]
        COUNT Generate calls spread over CLIENTS threads (one connection per
        call, as `smkey generate` does); DEVICES (serials, comma-separated)
        pins call i to device i mod their number; prints one JSON line:
        {"keys":..., "wall_s":..., "per_key_s":[...]} (per-call latency,
        client call to final reply)
    load.py SOCKET query METHOD PARAMS_JSON SECONDS CLIENTS
        CLIENTS processes, each on one connection, call METHOD back to back
        for SECONDS; prints {"calls":..., "wall_s":...}
    load.py SOCKET hold COUNT SECONDS
        COUNT connections, one ListPolicies call on each, kept open for
        SECONDS; prints {"open": COUNT} once they are all answered
"""
import json
import multiprocessing
import socket
import sys
import threading
import time


def recv_reply(s, buf):
    while b"\0" not in buf:
        chunk = s.recv(1 << 20)
        if not chunk:
            raise ConnectionError("the daemon closed the connection")
        buf += chunk
    raw, buf = buf.split(b"\0", 1)
    return json.loads(raw), buf


def generate_one(path, policy, label, device=None):
    params = {"policy": policy, "label": label}
    if device:
        params["device"] = device
    msg = json.dumps({"method": "io.smkeyd.Generate", "parameters": params}).encode() + b"\0"
    t0 = time.monotonic()
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(msg)
        reply, _ = recv_reply(s, b"")
    if "error" in reply:
        raise RuntimeError(f"Generate {label}: {reply}")
    return time.monotonic() - t0


def run_generate(path, policy, count, clients, prefix, devices=None):
    lat = []
    errors = []
    lock = threading.Lock()
    next_i = [0]

    def worker():
        while True:
            with lock:
                i = next_i[0]
                if i >= count:
                    return
                next_i[0] += 1
            try:
                dev = devices[i % len(devices)] if devices else None
                d = generate_one(path, policy, f"{prefix}{i}", dev)
            except Exception as e:  # reported, and the run fails
                with lock:
                    errors.append(str(e))
                return
            with lock:
                lat.append(d)

    t0 = time.monotonic()
    threads = [threading.Thread(target=worker) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.monotonic() - t0
    if errors:
        print(errors[0], file=sys.stderr)
        return 1
    print(json.dumps({"keys": len(lat), "wall_s": wall, "per_key_s": lat}))
    return 0


def query_proc(path, method, params, seconds, q):
    msg = json.dumps({"method": method, "parameters": params}).encode() + b"\0"
    n = 0
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        buf = b""
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            s.sendall(msg)
            reply, buf = recv_reply(s, buf)
            if "error" in reply:
                q.put(-1)
                return
            n += 1
    q.put(n)


def run_query(path, method, params, seconds, clients):
    q = multiprocessing.Queue()
    procs = [multiprocessing.Process(target=query_proc, args=(path, method, params, seconds, q))
             for _ in range(clients)]
    t0 = time.monotonic()
    for p in procs:
        p.start()
    counts = [q.get() for _ in procs]
    for p in procs:
        p.join()
    wall = time.monotonic() - t0
    if min(counts) < 0:
        print(f"{method}: error reply", file=sys.stderr)
        return 1
    print(json.dumps({"calls": sum(counts), "wall_s": wall}))
    return 0


def run_hold(path, count, seconds):
    """Open count connections, make one call on each, keep them open."""
    socks = []
    msg = json.dumps({"method": "io.smkeyd.ListPolicies", "parameters": {}}).encode() + b"\0"
    for _ in range(count):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.connect(path)
        s.sendall(msg)
        reply, _ = recv_reply(s, b"")
        if "error" in reply:
            print(f"connection {len(socks)}: {reply}", file=sys.stderr)
            return 1
        socks.append(s)
    print(json.dumps({"open": len(socks)}), flush=True)
    time.sleep(seconds)
    for s in socks:
        s.close()
    return 0


def main(argv):
    if len(argv) == 5 and argv[2] == "hold":
        return run_hold(argv[1], int(argv[3]), float(argv[4]))
    if len(argv) in (7, 8) and argv[2] == "generate":
        devices = argv[7].split(",") if len(argv) == 8 else None
        return run_generate(argv[1], argv[3], int(argv[4]), int(argv[5]), argv[6], devices)
    if len(argv) == 7 and argv[2] == "query":
        return run_query(argv[1], argv[3], json.loads(argv[4]), float(argv[5]), int(argv[6]))
    print(__doc__.strip(), file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main(sys.argv))
