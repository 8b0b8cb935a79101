#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A recording pass-through between a relay and vpcd, for tests only.

    vpcd_tap.py LISTEN_PORT VPCD_PORT RECORD_FILE

Listens on 127.0.0.1:LISTEN_PORT; for each connection it connects to
vpcd at 127.0.0.1:VPCD_PORT and passes the stream both ways unchanged,
writing every message from vpcd (control codes and command APDUs) as one
hex line to RECORD_FILE. A test then knows the exact bytes that went
through the relay and can check that none of them reached the relay's log.
"""
import socket
import sys
import threading


def pump(src, dst, record, lock):
    buf = b""
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
            if record is None:
                continue
            buf += data
            while len(buf) >= 2:
                n = buf[0] << 8 | buf[1]
                if len(buf) < 2 + n:
                    break
                with lock:
                    record.write(buf[2:2 + n].hex() + "\n")
                    record.flush()
                buf = buf[2 + n:]
    except OSError:
        pass
    for s in (src, dst):
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass


def main():
    listen_port, vpcd_port, path = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
    record = open(path, "a", encoding="ascii")
    lock = threading.Lock()
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", listen_port))
    srv.listen(4)
    while True:
        relay, _ = srv.accept()
        try:
            vpcd = socket.create_connection(("127.0.0.1", vpcd_port))
        except OSError:
            relay.close()
            continue
        for s in (relay, vpcd):
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        threading.Thread(target=pump, args=(vpcd, relay, record, lock), daemon=True).start()
        threading.Thread(target=pump, args=(relay, vpcd, None, lock), daemon=True).start()


if __name__ == "__main__":
    main()
