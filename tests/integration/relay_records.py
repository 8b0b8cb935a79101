#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""Check that a notary's archive holds no key the far card did not make
(the relay scenarios, tests/integration/relay_lib.sh).

    python3 relay_records.py ARCHIVE.db CARD.json SERIAL CARD.apdu.jsonl

Every key record of device SERIAL must name a CV request that the card holds,
byte for byte, in CE|key-id (the simulator's state file is the card's own
memory), and no two records may name one key id with the same request. The
card's APDU log must show every GAKP and every VERIFY that carries a PIN
under secure messaging. Prints one line per record checked; exits 1 on the first record
the card does not back.
"""
import base64
import json
import sqlite3
import sys


def fail(msg):
    print("relay_records: " + msg, file=sys.stderr)
    sys.exit(1)


def main(argv):
    db, state, serial, apdu_log = argv[1:5]
    with open(state, encoding="utf-8") as f:
        files = json.load(f)["files"]
    con = sqlite3.connect("file:%s?mode=ro" % db, uri=True)
    seen = set()
    n = 0
    for seq, canonical in con.execute("SELECT seq, canonical FROM records ORDER BY seq"):
        rec = json.loads(canonical)
        intent = rec.get("intent", {})
        if intent.get("kind") != "key" or intent.get("device", {}).get("serial") != serial:
            continue
        key_id = intent["key-id"]
        cvreq = base64.b64decode(rec["key"]["cvreq"])
        held = files.get("CE%02X" % key_id)
        if held is None:
            fail("record %d: key %d of %s is not on the card" % (seq, key_id, serial))
        if bytes.fromhex(held) != cvreq:
            fail("record %d: CE|%02X on the card is not the archived CV request" % (seq, key_id))
        if not rec["sm"]["used"]:
            fail("record %d: not made under secure messaging" % seq)
        if cvreq in seen:
            fail("record %d: the same CV request archived twice" % seq)
        seen.add(cvreq)
        n += 1
    with open(apdu_log, encoding="utf-8") as f:
        for line in f:
            a = json.loads(line)
            # a plain VERIFY without data (a PIN status query, "in" counts the
            # header) is what a relay may inject; a PIN in plain never passes
            if a.get("sm") or a.get("cmd") not in ("verify", "gakp"):
                continue
            if a["cmd"] == "gakp" or a.get("in", 0) > 5:
                fail("APDU %s: %s in plain" % (a.get("n"), a["cmd"]))
    print("relay_records: %d records of %s, each backed by CE|id on the card" % (n, serial))


if __name__ == "__main__":
    main(sys.argv)
