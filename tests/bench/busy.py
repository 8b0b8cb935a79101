#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""busy.py FROM_LINE APDU_LOG KIND: the card's busy time in seconds for the
APDUs of smkey-sim's log after line FROM_LINE, by the "genuine" latency model
of sim/faults.c (docs/simulator.md): 10 ms per APDU, 40 us per byte in and
out, 80 ms per SIGN or DECIPHER, 350 ms per EC P-256 and 6000 ms per
RSA-2048 GAKP. KIND (ec or rsa) says which keygen figure a GAKP costs."""
import json
import sys

APDU_MS, BYTE_US, SIGN_MS = 10, 40, 80
KEYGEN_MS = {"ec": 350, "rsa": 6000}


def main(argv):
    start, path, kind = int(argv[1]), argv[2], argv[3]
    ms = 0.0
    with open(path) as f:
        for i, line in enumerate(f):
            if i < start or not line.strip():
                continue
            a = json.loads(line)
            ms += APDU_MS + BYTE_US * (a["in"] + a["out"]) / 1000
            if a["cmd"] in ("sign", "decipher"):
                ms += SIGN_MS
            elif a["cmd"] == "gakp":
                ms += KEYGEN_MS[kind]
    print(f"{ms / 1000:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
