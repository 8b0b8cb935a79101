#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Many concurrent varlink clients against smkeyd, standard library only.

    loadclient.py SOCKET [--conns N] [--active N] [--policy P] [--timeout S]
                         [--expect-refused N] [--json FILE]

Opens N connections (blocking connect, so a full listen backlog only waits),
then ACTIVE of them call io.smkeyd.Generate at once while the others stay
idle, each sending GetInfo every 15 s so the 60 s idle limit never closes
them. When every Generate is answered, every connection (idle ones too)
must still answer a GetInfo. With --expect-refused N, N further connections
are opened while the N connections are held, and each must be answered with
io.smkeyd.TooManyRequests and closed.

Exit status 0 when every Generate succeeded, every connection was accepted
and answered, and the refusals (if asked for) came as expected; 1 otherwise.
Everything is bounded: connection count, and --timeout for the whole run.
"""
import argparse
import asyncio
import json
import socket
import sys
import time


def frame(method, params=None):
    return json.dumps({"method": method, "parameters": params or {}}).encode() + b"\0"


async def read_reply(reader):
    raw = await reader.readuntil(b"\0")
    return json.loads(raw[:-1])


async def call(reader, writer, method, params=None):
    writer.write(frame(method, params))
    await writer.drain()
    return await read_reply(reader)


def connect_blocking(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    s.setblocking(False)
    return s


class Stats:
    def __init__(self):
        self.ok = []  # (latency s, seq, request_id, device)
        self.errors = {}
        self.broken = 0
        self.idle_ok = 0
        self.idle_fail = 0


async def active_client(conn, policy, label, st):
    reader, writer = conn
    t0 = time.monotonic()
    try:
        r = await call(reader, writer, "io.smkeyd.Generate", {"policy": policy, "label": label})
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        st.broken += 1
        print(f"loadclient: {label}: {e!r}", file=sys.stderr)
        return
    if "error" in r:
        why = f'{r["error"]}: {(r.get("parameters") or {}).get("reason", "")}'
        st.errors[why] = st.errors.get(why, 0) + 1
        return
    p = r["parameters"]
    st.ok.append((time.monotonic() - t0, p["seq"], p["request_id"], p["device"]))


async def idle_client(conn, done, st):
    reader, writer = conn
    try:
        while not done.is_set():
            try:
                await asyncio.wait_for(done.wait(), timeout=15)
            except asyncio.TimeoutError:
                r = await call(reader, writer, "org.varlink.service.GetInfo")
                if "error" in r:
                    raise ValueError(r["error"])
    except (OSError, asyncio.IncompleteReadError, ValueError) as e:
        st.idle_fail += 1
        print(f"loadclient: idle client: {e!r}", file=sys.stderr)


async def still_served(conn):
    reader, writer = conn
    try:
        r = await call(reader, writer, "org.varlink.service.GetInfo")
        return "error" not in r
    except (OSError, asyncio.IncompleteReadError, ValueError):
        return False


async def refused(path):
    """One connection past the limit: TooManyRequests, then end of stream."""
    try:
        reader, writer = await asyncio.open_unix_connection(sock=connect_blocking(path))
    except OSError as e:
        return f"connect: {e}"
    try:
        r = await asyncio.wait_for(read_reply(reader), 10)
        rest = await asyncio.wait_for(reader.read(), 10)
    except (OSError, asyncio.IncompleteReadError, asyncio.TimeoutError, ValueError) as e:
        return f"no reply: {e!r}"
    finally:
        writer.close()
    if r.get("error") != "io.smkeyd.TooManyRequests" or rest != b"":
        return f"unexpected {r!r} then {rest!r}"
    return None


async def run(a):
    st = Stats()
    t_connect = time.monotonic()
    conns = []
    for _ in range(a.conns):
        conns.append(await asyncio.open_unix_connection(sock=connect_blocking(a.socket),
                                                        limit=1 << 20))
    connect_s = time.monotonic() - t_connect
    # every connection must be ours: one GetInfo each (a refused one would
    # read TooManyRequests here)
    accepted = sum(await asyncio.gather(*(still_served(c) for c in conns)))

    refusals = []
    if a.expect_refused:
        refusals = await asyncio.gather(*(refused(a.socket) for _ in range(a.expect_refused)))

    done = asyncio.Event()
    generated = asyncio.Event()
    finished = []

    async def active_then_idle(c, label):
        # after its answer an active client idles like the others (and so
        # is not closed by the daemon's 60 s idle limit)
        await active_client(c, a.policy, label, st)
        finished.append(label)
        if len(finished) == a.active:
            generated.set()
        await idle_client(c, done, st)

    t0 = time.monotonic()
    tasks = [asyncio.ensure_future(active_then_idle(c, f"{a.label}{i}"))
             for i, c in enumerate(conns[:a.active])]
    tasks += [asyncio.ensure_future(idle_client(c, done, st)) for c in conns[a.active:]]
    if a.active:
        await generated.wait()
    gen_s = time.monotonic() - t0
    done.set()
    await asyncio.gather(*tasks)
    served_after = sum(await asyncio.gather(*(still_served(c) for c in conns)))
    for _, w in conns:
        w.close()

    lat = sorted(x[0] for x in st.ok)
    result = {
        "connections": a.conns,
        "connect_s": round(connect_s, 2),
        "accepted": accepted,
        "active": a.active,
        "generate_ok": len(st.ok),
        "generate_errors": st.errors,
        "generate_broken": st.broken,
        "generate_s": round(gen_s, 2),
        "keys_per_s": round(len(st.ok) / gen_s, 2) if gen_s > 0 else 0,
        "latency_s": {
            "p50": round(lat[len(lat) // 2], 2) if lat else None,
            "p95": round(lat[int(len(lat) * 0.95)], 2) if lat else None,
            "max": round(lat[-1], 2) if lat else None,
        },
        "devices": {d: sum(1 for x in st.ok if x[3] == d) for d in sorted({x[3] for x in st.ok})},
        "idle_failures": st.idle_fail,
        "served_after": served_after,
        "refused_expected": a.expect_refused,
        "refused_ok": sum(1 for r in refusals if r is None),
        "refusal_problems": sorted({r for r in refusals if r is not None}),
        "request_ids": sorted(x[2] for x in st.ok),
    }
    return result


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--conns", type=int, default=1000)
    ap.add_argument("--active", type=int, default=100)
    ap.add_argument("--policy", default="release-apk")
    ap.add_argument("--label", default="load")
    ap.add_argument("--timeout", type=float, default=1800)
    ap.add_argument("--expect-refused", type=int, default=0)
    ap.add_argument("--json")
    a = ap.parse_args()
    if not 0 <= a.active <= a.conns <= 4096 or a.expect_refused > 1000:
        ap.error("need 0 <= active <= conns <= 4096 and expect-refused <= 1000")
    try:
        res = asyncio.run(asyncio.wait_for(run(a), a.timeout))
    except asyncio.TimeoutError:
        print(f"loadclient: not done within {a.timeout} s", file=sys.stderr)
        return 1
    if a.json:
        with open(a.json, "w") as f:
            json.dump(res, f, indent=1)
    summary = {k: v for k, v in res.items() if k != "request_ids"}
    print(json.dumps(summary, sort_keys=True))
    good = (res["accepted"] == a.conns and res["generate_ok"] == a.active and
            res["idle_failures"] == 0 and res["served_after"] == a.conns and
            res["refused_ok"] == a.expect_refused)
    return 0 if good else 1


if __name__ == "__main__":
    sys.exit(main())
