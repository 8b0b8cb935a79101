#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# smkey relay-gate when a relay comes straight back (relay/relay.h,
# RELAY_CARD_OUT_MS): the card must stay out of vpcd's reader for longer
# than pcscd's 400 ms presence poll, or pcscd can mark the reader empty
# for good (it then never powers the returning card). A stand-in for vpcd
# notes when the gate's connection closes and when the next one opens; a
# relay connects, leaves once it is joined, and connects again at once,
# twice. Each time the gate joins it to vpcd only once the card has been
# out for 1 s.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/notary_lib.sh"
smk_enter_namespace "$@"

vpcd_port=35700
gate_port=35701
# the stand-in for vpcd: accept, answer nothing, note the times
smk_spawn "$SMK_TMP/vpcd.log" python3 -u -c '
import socket, sys, time
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1])))
s.listen(4)
print("listening", flush=True)
while True:
    c, _ = s.accept()
    print("open %.3f" % time.monotonic(), flush=True)
    while c.recv(4096):
        pass
    print("closed %.3f" % time.monotonic(), flush=True)
    c.close()
' "$vpcd_port"
for _ in $(seq 50); do
	grep -q listening "$SMK_TMP/vpcd.log" && break
	sleep 0.1
done
notary_gate_start "$gate_port" "$vpcd_port"

# the relay: connect, stay 0.3 s once the gate joined it to vpcd, leave,
# and come back as soon as the gate closed vpcd, 3 times
python3 - "$gate_port" "$SMK_TMP/vpcd.log" <<'PY' || smk_fail "the relay stand-in failed"
import socket, sys, time
def wait(word, n, what):
    t = time.monotonic()
    while open(sys.argv[2]).read().count(word) < n:
        if time.monotonic() - t > 10:
            sys.exit(what)
        time.sleep(0.01)
for i in range(3):
    c = socket.create_connection(("127.0.0.1", int(sys.argv[1])))
    wait("open ", i + 1, "the gate did not join relay %d to vpcd" % (i + 1))
    time.sleep(0.3)
    c.close()
    # back as soon as the gate has closed vpcd (one relay at a time)
    wait("closed ", i + 1, "the gate did not close vpcd after relay %d" % (i + 1))
PY
for _ in $(seq 100); do
	[ "$(grep -c '^closed' "$SMK_TMP/vpcd.log")" = 3 ] && break
	sleep 0.1
done
[ "$(grep -c '^open' "$SMK_TMP/vpcd.log")" = 3 ] ||
	smk_fail "the gate joined $(grep -c '^open' "$SMK_TMP/vpcd.log") of 3 relays to vpcd: $(cat "$SMK_TMP/vpcd.log" "$SMK_TMP/gate.log")"
out=$(awk '$1 == "closed" {c = $2} $1 == "open" && c {printf "%.3f\n", $2 - c}' "$SMK_TMP/vpcd.log")
smk_log "the card was out of vpcd's reader for (s): $(tr '\n' ' ' <<<"$out")"
[ "$(wc -l <<<"$out")" = 2 ] || smk_fail "expected two returns: $(cat "$SMK_TMP/vpcd.log")"
while read -r gap; do
	python3 -c "import sys; sys.exit(0 if float(sys.argv[1]) >= 0.95 else 1)" "$gap" ||
		smk_fail "the card was back in vpcd's reader after $gap s, less than 1 s out"
done <<<"$out"
smk_pass
