#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A generic varlink client in the standard library only, for the e2e tests.

    python3 varlink_client.py SOCKET METHOD [JSON-PARAMS] [--more]

Prints every reply (one JSON object per line, as received) and exits 0 when
the last reply is not an error, 1 when it is an error, 3 when the socket
cannot be reached or the stream breaks.
"""
import json
import socket
import sys


def call(path, method, params=None, more=False):
    """Yield each reply of one call: the wire format is JSON + NUL."""
    msg = {"method": method, "parameters": params or {}}
    if more:
        msg["more"] = True
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(path)
        s.sendall(json.dumps(msg).encode() + b"\0")
        buf = b""
        while True:
            while b"\0" not in buf:
                chunk = s.recv(65536)
                if not chunk:
                    raise ConnectionError("the daemon closed the connection")
                buf += chunk
            raw, buf = buf.split(b"\0", 1)
            reply = json.loads(raw)
            yield reply
            if not reply.get("continues"):
                return


def main(argv):
    args = [a for a in argv[1:] if a != "--more"]
    if len(args) not in (2, 3):
        print(__doc__.strip(), file=sys.stderr)
        return 2
    params = json.loads(args[2]) if len(args) == 3 else {}
    last = None
    try:
        for last in call(args[0], args[1], params, "--more" in argv):
            print(json.dumps(last, sort_keys=True), flush=True)
    except (OSError, ValueError) as e:
        print(f"varlink_client: {e}", file=sys.stderr)
        return 3
    return 1 if last is None or "error" in last else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
