#!/usr/bin/env python3
# SPDX-License-Identifier: BSD-3-Clause
"""A relay that lies: a vpcd man-in-the-middle for the notary scenarios
(tests/integration/test_relay_*.sh) and the relay benchmark. Never installed.

    python3 relay_liar.py --listen PORT --vpcd PORT [--listen2 PORT]
                          [--control FILE] [--delay MS] [--stats FILE]

The card side (smkey-sim, or a relay of a real card) connects to --listen as
it would connect to vpcd; the relay then connects to pcscd's vpcd reader on
--vpcd and passes frames both ways (2-byte big-endian length + payload; a
1-byte message from vpcd is a control code: 00 power off, 01 on, 02 reset,
04 ATR, only the last one answered). When the card side closes, the relay
closes the vpcd side too (the reader sees the card leave) and waits for the
card to come back. --delay MS holds every message MS ms in each direction
(a slow link without netem). --stats FILE keeps the frames from vpcd
counted there as JSON: {"apdus": N, "control": {"04": N, ...}}.

It starts honest. SIGUSR1 reads one behaviour from --control and arms it;
"armed SPEC" in the log says it is in force. Behaviours act on the next
protected command (CLA bits 0C) whose INS is ON (hex, default 46 = GENERATE
ASYMMETRIC KEY PAIR), once, then the relay is honest again:

    flip-cmd[:ON]       flips a byte of the command data on its way to the card
    flip-resp[:ON]      flips a byte of the card's answer on its way back
    replay[:ON]         forwards the command and answers with the card's
                        earlier answer to the same command (a genuine, older
                        protected answer: for GAKP, an earlier key's CV
                        request), else to the protected command before it
    inject-select[:ON]  sends its own plain SELECT of the applet to the card
                        first and hides it (the card's SM session ends)
    inject-verify[:ON]  the same with a plain VERIFY (PIN status, no data)
    answer-self[:ON]    does not forward; answers a made-up protected answer
                        (random DO87, DO99 9000, random DO8E, SW 9000)
    swap[:ON]           from this command on, the card connected on --listen2
                        (another genuine card) answers instead, until SIGUSR2
    drop:K[:before|:after]  the K-th APDU from now is not forwarded (after: it
                        is, and its answer is not returned), and both
                        connections are closed: the card is pulled and comes
                        back

SIGUSR2 ends a swap: the first card is back and the reader sees it
reinserted. The log names commands by header and status word, never data.
"""
import argparse
import json
import os
import select
import signal
import socket
import sys
import time

SELECT_APPLET = bytes.fromhex("00A4040C0BE82B0601040181C31F0201")
# how long a card taken out of the reader stays out (see Relay.close_vpcd)
REMOVED_S = 1.5
VERIFY_STATUS = bytes.fromhex("00200081")


def log(msg):
    print("relay_liar: " + msg, flush=True)


def read_full(sock, n):
    buf = b""
    while len(buf) < n:
        chunk = sock.recv(n - len(buf))
        if not chunk:
            raise ConnectionError("closed")
        # vpcd writes a frame's length and its APDU separately without
        # TCP_NODELAY: acknowledge at once, or delayed ACK holds the APDU
        # back ~40 ms (as sim/vpcd.c does; Linux clears it after each read)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        buf += chunk
    return buf


def read_frame(sock):
    hdr = read_full(sock, 2)
    n = hdr[0] << 8 | hdr[1]
    if n == 0:
        raise ConnectionError("empty frame")
    return read_full(sock, n)


def send_frame(sock, data):
    sock.sendall(bytes([len(data) >> 8, len(data) & 0xFF]) + data)


def head(apdu):
    return apdu[:4].hex().upper() if len(apdu) >= 4 else apdu.hex().upper()


def nodelay(sock):
    sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class Relay:
    def __init__(self, args):
        self.args = args
        self.pending = None
        self.restore = False
        self.behaviour = None
        self.on = 0x46
        self.count = 0
        self.last_resp = None
        self.by_ins = {}
        self.swapped = False
        self.lst = self.listen(args.listen)
        self.lst2 = self.listen(args.listen2) if args.listen2 else None
        self.card = None
        self.card2 = None
        self.vpcd = None
        # no reconnect to vpcd before this time (see close_vpcd)
        self.out_until = 0.0
        self.counts = {"apdus": 0, "control": {}}

    def tally(self, msg):
        if not self.args.stats:
            return
        if len(msg) == 1:
            k = "%02X" % msg[0]
            self.counts["control"][k] = self.counts["control"].get(k, 0) + 1
        else:
            self.counts["apdus"] += 1
        with open(self.args.stats + ".tmp", "w", encoding="ascii") as f:
            f.write(json.dumps(self.counts))
        os.replace(self.args.stats + ".tmp", self.args.stats)

    @staticmethod
    def listen(port):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        s.bind(("127.0.0.1", port))
        s.listen(4)
        return s

    def on_usr1(self, _sig, _frame):
        with open(self.args.control, encoding="ascii") as f:
            self.pending = f.read().strip()

    def on_usr2(self, _sig, _frame):
        self.restore = True

    def apply_pending(self):
        if self.pending is not None:
            spec, self.pending = self.pending, None
            parts = spec.split(":")
            self.behaviour = parts
            self.on = 0x46
            self.count = 0
            if parts[0] != "drop" and len(parts) > 1:
                self.on = int(parts[1], 16)
            log("armed " + spec)
        if self.restore:
            self.restore = False
            if self.swapped:
                self.swapped = False
                log("swap ended: the first card is back, reinserted")
                self.close_vpcd(REMOVED_S)

    def close_vpcd(self, out_s=0.0):
        """Close the reader's side; with out_s, stay out that long first.

        A card taken out and put back must stay out for more than one of
        pcscd's presence polls (400 ms): if pcscd only learns of the
        removal from a failed reset, it marks the reader empty, and its
        poller, which never saw the card leave, never powers it again."""
        if self.vpcd is not None:
            self.vpcd.close()
            self.vpcd = None
        self.out_until = time.monotonic() + out_s

    def wait(self, ms):
        if ms:
            time.sleep(ms / 1000.0)

    def card_now(self):
        return self.card2 if self.swapped else self.card

    def transmit(self, apdu):
        """Send a command to the card in use and return its answer."""
        c = self.card_now()
        send_frame(c, apdu)
        return read_frame(c)

    def accept_second(self):
        if self.lst2 is not None and self.card2 is None:
            r, _, _ = select.select([self.lst2], [], [], 0)
            if r:
                self.card2, _ = self.lst2.accept()
                nodelay(self.card2)
                log("second card connected")

    def run(self):
        while True:
            self.apply_pending()
            if self.card is None:
                r, _, _ = select.select([self.lst], [], [], 0.1)
                if not r:
                    continue
                self.card, _ = self.lst.accept()
                nodelay(self.card)
                log("card connected")
            self.accept_second()
            if self.vpcd is None:
                if time.monotonic() < self.out_until:
                    time.sleep(0.05)
                    continue
                try:
                    self.vpcd = socket.create_connection(("127.0.0.1", self.args.vpcd))
                except OSError:
                    time.sleep(0.2)
                    continue
                nodelay(self.vpcd)
                log("connected to vpcd")
            try:
                self.serve_one()
            except ConnectionError as exc:
                log("connection ended (%s): card and reader disconnected" % exc)
                self.close_vpcd(REMOVED_S)
                self.card.close()
                self.card = None

    def serve_one(self):
        watch = [self.vpcd, self.card_now()]
        r, _, _ = select.select(watch, [], [], 0.1)
        if not r:
            return
        if self.card_now() in r and self.vpcd not in r:
            # the card side spoke unasked: it is closing
            if not self.card_now().recv(1):
                raise ConnectionError("card side closed")
            raise ConnectionError("card side sent unasked data")
        try:
            msg = read_frame(self.vpcd)
        except ConnectionError:
            # pcscd went away: the card stays, the reader is reconnected
            log("vpcd closed")
            self.close_vpcd()
            return
        self.tally(msg)
        self.wait(self.args.delay)
        if len(msg) == 1:
            send_frame(self.card_now(), msg)
            if msg[0] == 0x04:
                atr = read_frame(self.card_now())
                self.wait(self.args.delay)
                send_frame(self.vpcd, atr)
            return
        resp = self.apdu(msg)
        if resp is None:
            raise ConnectionError("dropped by behaviour")
        self.wait(self.args.delay)
        send_frame(self.vpcd, resp)

    def apdu(self, cmd):
        b = self.behaviour
        protected = len(cmd) >= 4 and (cmd[0] & 0x0C) == 0x0C
        if b and b[0] == "drop":
            self.count += 1
            if self.count == int(b[1]):
                self.behaviour = None
                if len(b) > 2 and b[2] == "after":
                    resp = self.transmit(cmd)
                    log("drop after %s (SW %s)" % (head(cmd), resp[-2:].hex().upper()))
                else:
                    log("drop before %s" % head(cmd))
                return None
        elif b and protected and cmd[1] == self.on:
            self.behaviour = None
            return self.lie(b[0], cmd)
        resp = self.transmit(cmd)
        if protected:
            self.last_resp = resp
            self.by_ins[cmd[1]] = resp
        return resp

    def lie(self, kind, cmd):
        name = head(cmd)
        if kind == "flip-cmd":
            bad = bytearray(cmd)
            bad[5 + (len(cmd) - 5) // 2] ^= 0x01
            resp = self.transmit(bytes(bad))
            log("flipped a byte of %s; card answered SW %s" % (name, resp[-2:].hex().upper()))
            return resp
        if kind == "flip-resp":
            resp = bytearray(self.transmit(cmd))
            resp[(len(resp) - 2) // 2] ^= 0x01
            log("flipped a byte of the answer to %s" % name)
            return bytes(resp)
        if kind == "replay":
            old = self.by_ins.get(cmd[1], self.last_resp)
            self.last_resp = self.transmit(cmd)
            log("replayed an earlier answer (%d bytes) to %s" % (len(old), name))
            return old
        if kind in ("inject-select", "inject-verify"):
            own = SELECT_APPLET if kind == "inject-select" else VERIFY_STATUS
            sw = self.transmit(own)[-2:].hex().upper()
            resp = self.transmit(cmd)
            log("injected plain %s (SW %s) before %s; card answered SW %s"
                % (head(own), sw, name, resp[-2:].hex().upper()))
            return resp
        if kind == "answer-self":
            made = (bytes([0x87, 0x41, 0x01]) + os.urandom(64) + bytes.fromhex("990290008E08")
                    + os.urandom(8) + bytes.fromhex("9000"))
            log("answered %s itself; the card never saw it" % name)
            return made
        if kind == "swap":
            self.accept_second()
            if self.card2 is None:
                log("no second card to swap in; forwarding")
                return self.transmit(cmd)
            self.swapped = True
            resp = self.transmit(cmd)
            log("swapped in the second card at %s; it answered SW %s" % (name, resp[-2:].hex().upper()))
            return resp
        raise SystemExit("relay_liar: unknown behaviour " + kind)


def main():
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--listen", type=int, required=True)
    p.add_argument("--listen2", type=int)
    p.add_argument("--vpcd", type=int, required=True)
    p.add_argument("--control")
    p.add_argument("--delay", type=int, default=0)
    p.add_argument("--stats")
    args = p.parse_args()
    relay = Relay(args)
    signal.signal(signal.SIGUSR1, relay.on_usr1)
    signal.signal(signal.SIGUSR2, relay.on_usr2)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    log("listening on %d%s, vpcd %d, delay %d ms" % (
        args.listen, ", second card on %d" % args.listen2 if args.listen2 else "",
        args.vpcd, args.delay))
    relay.run()


if __name__ == "__main__":
    main()
