#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A small witness for the tests (scaffolding, not a product).

Written from the specs, not from any witness implementation:
  c2sp.org/tlog-witness      POST <prefix>/add-checkpoint, its status codes
  c2sp.org/tlog-cosignature  type 0x04 timestamped Ed25519 cosignatures
  c2sp.org/signed-note       note signature lines and verifier keys
  c2sp.org/tlog-checkpoint   origin, size, root hash lines
  RFC 9162 2.1.4.2           consistency proof verification

It knows one log: its origin and its ECDSA P-256 key (signature type 0x02,
key ID = SHA-256(SubjectPublicKeyInfo DER)[:4]). It keeps the latest
cosigned (size, root) per origin in a JSON file under --state, so a restart
remembers; it answers 409 for a wrong old size (and for its own size with
another root: a split view), 422 for a consistency proof that does not
verify, and cosigns with an Ed25519 key kept in --state/key.

  witness_server.py --state DIR --name NAME --print-vkey
        makes the key (once) and prints the verifier key line
        (NAME+KEYID+BASE64), then exits
  witness_server.py --port P --state DIR --name NAME
        --log-key PEM --origin ORIGIN [--delay SECONDS]
        serves add-checkpoint on 127.0.0.1:P; prints "listening" once the
        socket accepts; --delay holds every answer that long (a slow witness)
"""
import argparse
import base64
import hashlib
import http.server
import json
import os
import struct
import sys
import time

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

DASH = "\u2014 "


def h_node(left, right):
    return hashlib.sha256(b"\x01" + left + right).digest()


def verify_consistency(first, second, first_hash, second_hash, proof):
    """RFC 9162 2.1.4.2, for 0 < first < second."""
    if first >= second or first == 0:
        return False
    if first & (first - 1) == 0:  # an exact power of 2
        proof = [first_hash] + proof
    if not proof:
        return False
    fn, sn = first - 1, second - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = proof[0]
    for c in proof[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = h_node(c, fr)
            sr = h_node(c, sr)
            if not fn & 1:
                while True:
                    fn >>= 1
                    sn >>= 1
                    if fn & 1 or fn == 0:
                        break
        else:
            sr = h_node(sr, c)
        fn >>= 1
        sn >>= 1
    return sn == 0 and fr == first_hash and sr == second_hash


def strict_b64(s):
    raw = base64.b64decode(s, validate=True)
    if base64.b64encode(raw).decode() != s:
        raise ValueError("not canonical base64")
    return raw


class Witness:
    def __init__(self, args):
        self.name = args.name
        self.origin = args.origin
        self.state_dir = args.state
        self.delay = args.delay
        os.makedirs(self.state_dir, exist_ok=True)
        if args.log_key:
            with open(args.log_key, "rb") as f:
                self.log_pub = serialization.load_pem_public_key(f.read())
            spki = self.log_pub.public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
            self.log_key_id = hashlib.sha256(spki).digest()[:4]
        key_path = os.path.join(self.state_dir, "key")
        if not os.path.exists(key_path):
            with open(key_path, "wb") as f:
                f.write(os.urandom(32))
        with open(key_path, "rb") as f:
            self.key = ed25519.Ed25519PrivateKey.from_private_bytes(f.read())
        self.pub = self.key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        self.key_id = hashlib.sha256(
            self.name.encode() + b"\n" + b"\x04" + self.pub).digest()[:4]

    def vkey(self):
        return "%s+%s+%s" % (self.name, self.key_id.hex(),
                             base64.b64encode(b"\x04" + self.pub).decode())

    # ---- state: {origin: {"size": N, "root": base64}} ----
    def state_path(self):
        return os.path.join(self.state_dir, "state.json")

    def load(self):
        try:
            with open(self.state_path()) as f:
                return json.load(f)
        except FileNotFoundError:
            return {}

    def store(self, state):
        tmp = self.state_path() + ".new"
        with open(tmp, "w") as f:
            json.dump(state, f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_path())

    def cosign(self, text):
        t = int(time.time())
        msg = b"cosignature/v1\ntime %d\n" % t + text
        sig = self.key.sign(msg)
        blob = self.key_id + struct.pack(">Q", t) + sig
        return "%s%s %s\n" % (DASH, self.name, base64.b64encode(blob).decode())

    def add_checkpoint(self, body):
        """(status, content type, answer text)"""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            return 400, "text/plain", "not UTF-8\n"
        lines = text.split("\n")
        if not lines[0].startswith("old "):
            return 400, "text/plain", "no old size line\n"
        old_s = lines[0][4:]
        if not old_s.isdigit() or (len(old_s) > 1 and old_s[0] == "0"):
            return 400, "text/plain", "bad old size\n"
        old = int(old_s)
        proof = []
        i = 1
        while i < len(lines) and lines[i] != "":
            try:
                h = strict_b64(lines[i])
            except ValueError:
                return 400, "text/plain", "bad proof line\n"
            if len(h) != 32:
                return 400, "text/plain", "proof hash not 32 bytes\n"
            proof.append(h)
            i += 1
        if i >= len(lines) or len(proof) > 63:
            return 400, "text/plain", "no empty line after the proof\n"
        note = "\n".join(lines[i + 1:]).encode()
        split = note.rfind(b"\n\n")
        if split < 0 or not note.endswith(b"\n"):
            return 400, "text/plain", "not a signed note\n"
        ntext = note[:split + 1]
        body_lines = ntext.decode().split("\n")
        if len(body_lines) < 4:
            return 400, "text/plain", "not a checkpoint\n"
        origin, size_s, root_s = body_lines[0], body_lines[1], body_lines[2]
        if origin != self.origin:
            return 404, "text/plain", "unknown origin\n"
        if not size_s.isdigit() or (len(size_s) > 1 and size_s[0] == "0"):
            return 400, "text/plain", "bad size\n"
        size = int(size_s)
        try:
            root = strict_b64(root_s)
        except ValueError:
            return 400, "text/plain", "bad root hash\n"
        if len(root) != 32:
            return 400, "text/plain", "bad root hash\n"
        verified = False
        for sl in note[split + 2:].decode().split("\n")[:-1]:
            if not sl.startswith(DASH):
                return 400, "text/plain", "bad signature line\n"
            name, _, b64 = sl[len(DASH):].partition(" ")
            try:
                sig = strict_b64(b64)
            except ValueError:
                continue
            if name != self.origin or sig[:4] != self.log_key_id:
                continue  # signed-note: unknown keys are ignored
            try:
                self.log_pub.verify(sig[4:], ntext, ec.ECDSA(hashes.SHA256()))
                verified = True
            except InvalidSignature:
                pass
        if not verified:
            return 403, "text/plain", "no valid signature by the log's key\n"
        if old > size:
            return 400, "text/plain", "old size above the checkpoint size\n"
        state = self.load()
        cur = state.get(origin, {"size": 0, "root": None})
        if old != cur["size"]:
            return 409, "text/x.tlog.size", "%d\n" % cur["size"]
        if old == size:
            if cur["root"] is not None and strict_b64(cur["root"]) != root:
                # the same size with another root: a split view
                return 409, "text/x.tlog.size", "%d\n" % cur["size"]
            if proof:
                return 400, "text/plain", "a proof for old == size\n"
        elif old == 0:
            if proof:
                return 400, "text/plain", "a proof from size 0\n"
        elif not verify_consistency(old, size, strict_b64(cur["root"]), root, proof):
            return 422, "text/plain", "consistency proof does not verify\n"
        state[origin] = {"size": size, "root": root_s}
        self.store(state)
        return 200, "text/plain; charset=utf-8", self.cosign(ntext)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int)
    ap.add_argument("--state", required=True)
    ap.add_argument("--name", required=True)
    ap.add_argument("--log-key")
    ap.add_argument("--origin")
    ap.add_argument("--print-vkey", action="store_true")
    ap.add_argument("--delay", type=float, default=0.0)
    args = ap.parse_args()
    w = Witness(args)
    if args.print_vkey:
        print(w.vkey())
        return 0
    if not (args.port and args.log_key and args.origin):
        ap.error("--port, --log-key and --origin are needed to serve")

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self):
            if self.path.rstrip("/").split("/")[-1] != "add-checkpoint":
                self.answer(404, "text/plain", "no such endpoint\n")
                return
            n = int(self.headers.get("Content-Length", "0"))
            if n > 1 << 16:
                self.answer(400, "text/plain", "too large\n")
                return
            body = self.rfile.read(n)
            if w.delay:
                time.sleep(w.delay)
            status, ctype, text = w.add_checkpoint(body)
            self.log_message("add-checkpoint: %d %s", status, text.strip()[:80])
            self.answer(status, ctype, text)

        def answer(self, status, ctype, text):
            data = text.encode()
            self.send_response(status)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

    srv = http.server.HTTPServer(("127.0.0.1", args.port), Handler)
    print("listening", flush=True)
    try:
        srv.serve_forever()
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    sys.exit(main())
