#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Hold the card in a PC/SC reader exclusively for a while, as another PC/SC
client would: pcsc_hold.py READER_INDEX SECONDS. Prints "held" once the
exclusive connection is made, then "let go" when it disconnects (leaving the
card as it is). Exits 1 when the connection cannot be made."""
import ctypes
import sys
import time

SCARD_SCOPE_SYSTEM = 2
SCARD_SHARE_EXCLUSIVE = 1
SCARD_PROTOCOL_T0_T1 = 3
SCARD_LEAVE_CARD = 0


def main() -> int:
    index, seconds = int(sys.argv[1]), float(sys.argv[2])
    lib = ctypes.CDLL("libpcsclite.so.1")
    ctx = ctypes.c_long()
    rv = lib.SCardEstablishContext(SCARD_SCOPE_SYSTEM, None, None, ctypes.byref(ctx))
    if rv != 0:
        print(f"SCardEstablishContext: 0x{rv & 0xFFFFFFFF:08X}", flush=True)
        return 1
    size = ctypes.c_ulong(0)
    lib.SCardListReaders(ctx, None, None, ctypes.byref(size))
    buf = ctypes.create_string_buffer(size.value)
    rv = lib.SCardListReaders(ctx, None, buf, ctypes.byref(size))
    if rv != 0:
        print(f"SCardListReaders: 0x{rv & 0xFFFFFFFF:08X}", flush=True)
        return 1
    readers = [r for r in buf.raw[: size.value].split(b"\0") if r]
    card = ctypes.c_long()
    proto = ctypes.c_ulong()
    deadline = time.monotonic() + 10
    while True:
        rv = lib.SCardConnect(ctx, readers[index], SCARD_SHARE_EXCLUSIVE, SCARD_PROTOCOL_T0_T1,
                              ctypes.byref(card), ctypes.byref(proto))
        if rv == 0:
            break
        if time.monotonic() > deadline:
            print(f"SCardConnect: 0x{rv & 0xFFFFFFFF:08X}", flush=True)
            return 1
        time.sleep(0.1)
    print("held", flush=True)
    time.sleep(seconds)
    lib.SCardDisconnect(card, SCARD_LEAVE_CARD)
    lib.SCardReleaseContext(ctx)
    print("let go", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
