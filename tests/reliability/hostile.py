#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A catalogue of hostile clients against smkeyd, standard library only.

    hostile.py SOCKET --pid PID [--smoke] [--report FILE] [--max-clients N]

Every case opens its own connection and does one hostile thing. Each must end
in what the catalogue expects (an error reply, a closed connection, or both;
never a successful key), and after EVERY case the daemon process must still
run and a fresh client must get an answer to GetInfo. A few cases stay
open in the background (half-open message, a reader that never reads its
replies, a silent connection); without --smoke the run then waits past the
daemon's 60 s idle limit and checks that the daemon closed each of them (the
half-open message goes earlier, at the 10 s request deadline).

Nothing here may create a key: every Generate in the catalogue is refused
by the socket layer or the engine before a card is asked; the caller
checks the simulators' GAKP count stayed where it was.

Exit 0 when every case behaved as expected, 1 otherwise.
"""
import argparse
import json
import os
import random
import socket
import sys
import time

TIMEOUT = 5.0
IDLE_LIMIT_S = 60
SOCK = None


def msg(method, params=None, **env):
    m = {"method": method}
    if params is not None:
        m["parameters"] = params
    m.update(env)
    return json.dumps(m).encode() + b"\0"


def gen(params):
    return msg("io.smkeyd.Generate", params)


def connect():
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.settimeout(TIMEOUT)
    s.connect(SOCK)
    return s


def send_all(s, data):
    """Send what the daemon takes; a daemon that closes on us is fine."""
    try:
        s.sendall(data)
        return True
    except (BrokenPipeError, ConnectionResetError):
        return False
    except socket.timeout:
        return False


def read_replies(s, n=1, timeout=TIMEOUT):
    """Up to n replies; then 'eof' if the daemon closed, 'open' if it went
    quiet, 'reset' if the connection was reset."""
    s.settimeout(timeout)
    buf, out = b"", []
    while len(out) < n:
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            return out, "open"
        except ConnectionResetError:
            return out, "reset"
        if not chunk:
            return out, "eof"
        buf += chunk
        while b"\0" in buf and len(out) < n:
            raw, buf = buf.split(b"\0", 1)
            out.append(json.loads(raw))
    return out, "more"


def after_close(s, timeout=TIMEOUT):
    """After a reply: does the daemon close the stream?"""
    s.settimeout(timeout)
    try:
        return "eof" if s.recv(1) == b"" else "data"
    except socket.timeout:
        return "open"
    except ConnectionResetError:
        return "reset"


def err_name(replies):
    return replies[0].get("error") if replies else None


def still_answers(s):
    """The same connection still serves a call."""
    if not send_all(s, msg("org.varlink.service.GetInfo")):
        return False
    r, _ = read_replies(s)
    return bool(r) and "error" not in r[0]


# ---------------------------------------------------------------------------
# Expectations. Each case returns (ok, what was seen).

def expect_error_close(data, name="org.varlink.service.InvalidParameter"):
    """A message that is no well-formed call: the error, then end of stream."""
    def run():
        s = connect()
        send_all(s, data)
        r, state = read_replies(s)
        end = after_close(s) if state == "more" else state
        s.close()
        seen = f"{err_name(r)}, then {end}"
        return err_name(r) == name and end in ("eof", "reset"), seen
    return run


def expect_error_keep(data, name):
    """A well-formed call with bad parameters: the error, and the connection
    still serves the next call."""
    def run():
        s = connect()
        send_all(s, data)
        r, _ = read_replies(s)
        keeps = still_answers(s) if r else False
        s.close()
        seen = f"{err_name(r)}{' ' + json.dumps(r[0].get('parameters')) if r else ''}, " \
               f"connection {'kept' if keeps else 'lost'}"
        return err_name(r) == name and keeps, seen
    return run


def expect_closed(data, shut=False):
    """No complete message ever: the daemon must close (possibly after an
    error reply) and never answer as if it were a call."""
    def run():
        s = connect()
        sent = send_all(s, data)
        if shut:
            s.shutdown(socket.SHUT_WR)
        r, state = read_replies(s, 10, timeout=10)
        s.close()
        bad = [x for x in r if "error" not in x]
        seen = f"sent {'all' if sent else 'part'}; replies {[err_name([x]) for x in r]}, {state}"
        return not bad and state in ("eof", "reset"), seen
    return run


def expect_silent_then_serves(data):
    """oneway: no reply at all, and the connection serves the next call."""
    def run():
        s = connect()
        send_all(s, data)
        r, state = read_replies(s, timeout=1)
        keeps = still_answers(s)
        s.close()
        return not r and state == "open" and keeps, f"{len(r)} replies, then {'kept' if keeps else 'lost'}"
    return run


def pipelined_flood(n):
    """One peer pipelines n calls in one go and reads them all: each answered,
    in order."""
    def run():
        s = connect()
        data = b"".join(msg("org.varlink.service.GetInfo") for _ in range(n))
        s.sendall(data)
        r, state = read_replies(s, n, timeout=30)
        s.close()
        ok = len(r) == n and all("error" not in x for x in r)
        return ok, f"{len(r)} of {n} answered"
    return run


def denied_flood(n):
    """One peer sends n refused Generate calls on one connection."""
    def run():
        s = connect()
        s.sendall(b"".join(gen({"policy": "no-such-policy"}) for _ in range(n)))
        r, _ = read_replies(s, n, timeout=30)
        s.close()
        names = {err_name([x]) for x in r}
        return len(r) == n and names == {"io.smkeyd.PolicyNotFound"}, f"{len(r)} replies {sorted(names)}"
    return run


def connection_flood(max_clients):
    """One peer opens the daemon's client limit + 20 connections: the extra
    ones get TooManyRequests; once they are closed others are served."""
    def run():
        held, refused, other = [], 0, 0
        try:
            for _ in range(max_clients + 20):
                s = connect()
                held.append(s)
            for s in held:
                s.settimeout(0.5)
                try:
                    b = s.recv(4096)
                except socket.timeout:
                    continue
                if b.startswith(b'{"error":"io.smkeyd.TooManyRequests"'):
                    refused += 1
                else:
                    other += 1
        finally:
            for s in held:
                s.close()
        time.sleep(0.3)
        return refused >= 20 and other == 0, f"{len(held)} opened, {refused} TooManyRequests"
    return run


def reset_mid_message():
    """Half a message, then an abortive close (RST)."""
    def run():
        s = connect()
        s.sendall(b'{"method":"io.smkeyd.Gen')
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        s.close()
        return True, "reset by the client"
    return run


def eof_after_call():
    """A call, then shutdown of the sending side: the answer, then end."""
    def run():
        s = connect()
        s.sendall(msg("org.varlink.service.GetInfo"))
        s.shutdown(socket.SHUT_WR)
        r, state = read_replies(s)
        end = after_close(s) if state == "more" else state
        s.close()
        return len(r) == 1 and "error" not in r[0] and end == "eof", f"{len(r)} reply, then {end}"
    return run


def nested(depth, open_, close_):
    return b'{"method":"org.varlink.service.GetInfo","parameters":{"x":' + \
        open_ * depth + close_ * depth + b"}}\0"


def catalogue(max_clients):
    IP = "org.varlink.service.InvalidParameter"
    SIP = "io.smkeyd.InvalidParameter"
    rnd = random.Random(7)
    garbage = bytes(rnd.randrange(1, 256) for _ in range(4096)) + b"\0"
    C = []

    def add(name, fn):
        C.append((name, fn))

    # framing and JSON
    add("empty message (a lone NUL)", expect_error_close(b"\0"))
    add("whitespace only", expect_error_close(b"   \n\t\0"))
    add("not JSON", expect_error_close(b"hello smkeyd\0"))
    add("JSON array", expect_error_close(b"[]\0"))
    add("JSON string", expect_error_close(b'"io.smkeyd.Generate"\0'))
    add("JSON number", expect_error_close(b"42\0"))
    add("JSON null", expect_error_close(b"null\0"))
    add("truncated object", expect_error_close(b'{"method":\0'))
    add("trailing bytes after the object", expect_error_close(msg("org.varlink.service.GetInfo")[:-1] + b" x\0"))
    add("two objects in one message", expect_error_close(msg("org.varlink.service.GetInfo")[:-1] * 2 + b"\0"))
    add("UTF-8 byte order mark", expect_error_close(b"\xef\xbb\xbf" + msg("org.varlink.service.GetInfo")))
    add("duplicate key", expect_error_close(b'{"method":"org.varlink.service.GetInfo","method":"io.smkeyd.Generate"}\0'))
    add("4 KiB of random bytes", expect_error_close(garbage))
    add("binary NULs (three empty messages)", expect_error_close(b"\0\0\0"))
    # size and depth
    add("message of 64 KiB + 1", expect_error_close(b" " * 65537 + b"\0"))
    add("100 KiB stream without NUL", expect_closed(b"a" * 102400))
    add("16 MiB stream without NUL", expect_closed(b"{" + b" " * (16 << 20)))
    add("arrays nested 1000 deep", expect_error_close(nested(1000, b"[", b"]")))
    add("objects nested 40 deep", expect_error_close(
        b'{"method":"org.varlink.service.GetInfo","parameters":' + b'{"a":' * 40 + b"1" + b"}" * 40 + b"}\0"))
    add("arrays nested 100000 deep, unterminated", expect_closed(b"[" * 100000 + b"\0"))
    add("brackets inside strings do not count as depth",
        expect_error_keep(gen({"policy": "[" * 60}), SIP))
    # text encoding
    add("invalid UTF-8 in method", expect_error_close(b'{"method":"io.smkeyd.\xff\xfe"}\0'))
    add("invalid UTF-8 in label", expect_error_close(b'{"method":"io.smkeyd.Generate","parameters":{"policy":"release-apk","label":"a\xc3"}}\0'))
    add("overlong UTF-8 '/' in policy", expect_error_close(b'{"method":"io.smkeyd.Generate","parameters":{"policy":"..\xc0\xafetc"}}\0'))
    add("UTF-8 encoded surrogate", expect_error_close(b'{"method":"io.smkeyd.Generate","parameters":{"policy":"\xed\xa0\x80"}}\0'))
    add("lone surrogate escape in label", expect_error_close(b'{"method":"io.smkeyd.Generate","parameters":{"policy":"release-apk","label":"\\ud800"}}\0'))
    add("escaped NUL in policy", expect_error_close(b'{"method":"io.smkeyd.Generate","parameters":{"policy":"release-apk\\u0000x"}}\0'))
    add("number beyond 64 bits", expect_error_close(b'{"method":"io.smkeyd.GetRecord","parameters":{"seq":99999999999999999999999}}\0'))
    add("number 1e400", expect_error_close(b'{"method":"io.smkeyd.GetRecord","parameters":{"seq":1e400}}\0'))
    # the envelope
    add("method missing", expect_error_close(b'{"parameters":{}}\0'))
    add("method is a number", expect_error_close(b'{"method":7}\0'))
    add("method empty", expect_error_close(msg("")))
    add("method without interface", expect_error_close(msg("Generate")))
    add("method 4 KiB long", expect_error_close(msg("io.smkeyd." + "G" * 4096)))
    add("parameters is an array", expect_error_close(msg("io.smkeyd.Generate", ["release-apk"])))
    add("parameters is a string", expect_error_close(msg("io.smkeyd.Generate", "release-apk")))
    add("more is a string", expect_error_close(msg("org.varlink.service.GetInfo", {}, more="yes")))
    add("more and oneway together", expect_error_close(msg("org.varlink.service.GetInfo", {}, more=True, oneway=True)))
    add("upgrade", expect_error_close(msg("org.varlink.service.GetInfo", {}, upgrade=True)))
    add("unknown envelope field", expect_error_close(msg("org.varlink.service.GetInfo", {}, sudo=True)))
    # methods and interfaces
    add("unknown method", expect_error_keep(msg("io.smkeyd.DeleteEverything", {}), "org.varlink.service.MethodNotFound"))
    add("method in lower case", expect_error_close(msg("io.smkeyd.generate", {"policy": "release-apk"})))
    add("interface with upper case", expect_error_close(msg("com.example.Shell.Run", {})))
    add("unknown interface", expect_error_keep(msg("com.example.shell.Run", {}), "org.varlink.service.InterfaceNotFound"))
    add("description of an unknown interface", expect_error_keep(msg("org.varlink.service.GetInterfaceDescription", {"interface": "com.example"}), "org.varlink.service.InterfaceNotFound"))
    add("description of a path", expect_error_keep(msg("org.varlink.service.GetInterfaceDescription", {"interface": "../../etc/passwd"}), "org.varlink.service.InterfaceNotFound"))
    # Generate parameters
    add("Generate without policy", expect_error_keep(gen({}), SIP))
    add("policy is a number", expect_error_keep(gen({"policy": 1}), SIP))
    add("policy is an object", expect_error_keep(gen({"policy": {"name": "release-apk"}}), SIP))
    add("policy ../../etc/passwd", expect_error_keep(gen({"policy": "../../etc/passwd"}), SIP))
    add("policy /etc/passwd", expect_error_keep(gen({"policy": "/etc/passwd"}), SIP))
    add("policy release-apk/../x", expect_error_keep(gen({"policy": "release-apk/../x"}), SIP))
    add("policy with a backslash", expect_error_keep(gen({"policy": "..\\release-apk"}), SIP))
    add("policy .hidden", expect_error_keep(gen({"policy": ".release-apk"}), SIP))
    add("policy starting with -", expect_error_keep(gen({"policy": "-rf"}), SIP))
    add("policy of 65 characters", expect_error_keep(gen({"policy": "p" * 65}), SIP))
    add("policy with a space", expect_error_keep(gen({"policy": "release apk"}), SIP))
    add("policy that does not exist", expect_error_keep(gen({"policy": "nope"}), "io.smkeyd.PolicyNotFound"))
    add("label of 60000 bytes", expect_error_keep(gen({"policy": "release-apk", "label": "L" * 60000}), SIP))
    add("label of 65 bytes", expect_error_keep(gen({"policy": "release-apk", "label": "L" * 65}), SIP))
    add("label with a newline", expect_error_keep(gen({"policy": "release-apk", "label": "a\nb"}), SIP))
    add("label with ESC", expect_error_keep(gen({"policy": "release-apk", "label": "a\x1b[2J"}), SIP))
    add("label is an array", expect_error_keep(gen({"policy": "release-apk", "label": ["a"]}), SIP))
    add("label empty", expect_error_keep(gen({"policy": "release-apk", "label": ""}), SIP))
    add("device with a path", expect_error_keep(gen({"policy": "release-apk", "label": "x", "device": "../ZZ"}), SIP))
    add("device of 17 characters", expect_error_keep(gen({"policy": "release-apk", "label": "x", "device": "Z" * 17}), SIP))
    add("unknown Generate parameter", expect_error_keep(gen({"policy": "release-apk", "label": "x", "uid": 0}), SIP))
    # query parameters
    add("GetRecord with seq and request_id", expect_error_keep(msg("io.smkeyd.GetRecord", {"seq": 0, "request_id": "a"}), SIP))
    add("GetRecord with neither", expect_error_keep(msg("io.smkeyd.GetRecord", {}), SIP))
    add("GetRecord seq -1", expect_error_keep(msg("io.smkeyd.GetRecord", {"seq": -1}), SIP))
    add("GetRecord seq 1.0", expect_error_keep(msg("io.smkeyd.GetRecord", {"seq": 1.0}), SIP))
    add("GetRecord seq \"1\"", expect_error_keep(msg("io.smkeyd.GetRecord", {"seq": "1"}), SIP))
    add("GetRecord seq 2^63-1", expect_error_keep(msg("io.smkeyd.GetRecord", {"seq": 2**63 - 1}), "io.smkeyd.RecordNotFound"))
    add("GetRecord request_id with a slash", expect_error_keep(msg("io.smkeyd.GetRecord", {"request_id": "../x"}), SIP))
    add("GetBundle request_id of 129 characters", expect_error_keep(msg("io.smkeyd.GetBundle", {"request_id": "a" * 129}), SIP))
    add("ListRecords limit 0", expect_error_keep(msg("io.smkeyd.ListRecords", {"limit": 0}), SIP))
    add("ListRecords limit 10001", expect_error_keep(msg("io.smkeyd.ListRecords", {"limit": 10001}), SIP))
    add("ListRecords policy with a path", expect_error_keep(msg("io.smkeyd.ListRecords", {"policy": "../x"}), SIP))
    add("GetConsistencyProof new < old", expect_error_keep(msg("io.smkeyd.GetConsistencyProof", {"old_size": 5, "new_size": 1}), SIP))
    add("ListDevices with a parameter", expect_error_keep(msg("io.smkeyd.ListDevices", {"all": True}), SIP))
    # behaviour of one peer
    add("oneway call, then a normal call", expect_silent_then_serves(msg("io.smkeyd.Generate", {"policy": "nope"}, oneway=True)))
    add("1000 pipelined calls, all read", pipelined_flood(1000))
    add("200 refused Generate calls on one connection", denied_flood(200))
    add(f"connection flood: limit {max_clients} + 20", connection_flood(max_clients))
    add("half a message, then reset", reset_mid_message())
    add("end of stream in the middle of a message", expect_closed(b'{"method":"org.varlink', shut=True))
    add("a call, then end of stream", eof_after_call())
    return C


# Background cases: they stay open while the catalogue runs; the daemon must
# serve everyone else meanwhile and close each of them at its idle limit.

def bg_half_open():
    s = connect()
    s.sendall(b'{"method":"org.varlink.service.GetInfo"')
    return s


def bg_silent():
    return connect()


def bg_slow_reader():
    """Pipelines 20000 GetInterfaceDescription calls (about 100 MiB of
    replies) and never reads."""
    s = connect()
    s.setblocking(False)
    call = msg("org.varlink.service.GetInterfaceDescription", {"interface": "io.smkeyd"})
    data = call * 20000
    try:
        while data:
            n = s.send(data)
            data = data[n:]
    except BlockingIOError:
        pass
    return s


BACKGROUND = [
    ("half-open: a message never finished", bg_half_open),
    ("a connection that never sends", bg_silent),
    ("slow reader: 20000 pipelined calls, replies never read", bg_slow_reader),
]


def closed_by_daemon(s):
    """Drain whatever is queued; True once the daemon has closed."""
    s.setblocking(False)
    try:
        while True:
            b = s.recv(1 << 20)
            if not b:
                return True
    except BlockingIOError:
        return False
    except ConnectionResetError:
        return True


def main():
    global SOCK
    ap = argparse.ArgumentParser()
    ap.add_argument("socket")
    ap.add_argument("--pid", type=int, required=True)
    ap.add_argument("--smoke", action="store_true")
    ap.add_argument("--report")
    ap.add_argument("--max-clients", type=int, default=64)
    a = ap.parse_args()
    SOCK = a.socket

    def alive():
        try:
            os.kill(a.pid, 0)
        except OSError:
            return "daemon process gone"
        try:
            s = connect()
            s.sendall(msg("org.varlink.service.GetInfo"))
            r, _ = read_replies(s)
            s.close()
            if r and "error" not in r[0]:
                return None
            return f"fresh client got {r!r}"
        except OSError as e:
            return f"fresh client: {e}"

    rows, failures = [], 0
    t_bg = time.monotonic()
    bg = [(name, fn()) for name, fn in BACKGROUND]
    cases = catalogue(a.max_clients)
    for name, fn in cases:
        try:
            ok, seen = fn()
        except Exception as e:  # a broken harness must fail loudly
            ok, seen = False, f"harness exception {e!r}"
        problem = alive()
        if problem:
            ok, seen = False, f"{seen}; AFTER: {problem}"
        failures += not ok
        rows.append((name, "ok" if ok else "FAIL", seen))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {seen}", flush=True)

    # the background cases
    if not a.smoke:
        wait = IDLE_LIMIT_S + 5 - (time.monotonic() - t_bg)
        if wait > 0:
            print(f"waiting {wait:.0f} s for the daemon's idle limit", flush=True)
            time.sleep(wait)
    for name, s in bg:
        if a.smoke:
            ok, seen = True, "others were served while it was open"
        else:
            closed = closed_by_daemon(s)
            ok = closed
            seen = "others served meanwhile; closed by the daemon (request deadline or " \
                f"{IDLE_LIMIT_S} s idle limit)" if closed \
                else "still open after the idle limit"
        s.close()
        problem = alive()
        if problem:
            ok, seen = False, f"{seen}; AFTER: {problem}"
        failures += not ok
        rows.append((name, "ok" if ok else "FAIL", seen))
        print(f"{'ok  ' if ok else 'FAIL'} {name}: {seen}", flush=True)

    print(f"{len(rows)} hostile cases, {len(rows) - failures} as expected, {failures} failed")
    if a.report:
        with open(a.report, "w") as f:
            f.write("| case | result | what the client saw |\n|---|---|---|\n")
            for name, res, seen in rows:
                f.write(f"| {name} | {res} | {seen.replace('|', '/')} |\n")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
