#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Witness cosignatures end to end: smkeyd over two smkey-sim cards, two test
# witnesses (tests/integration/witness_server.py, written from
# c2sp.org/tlog-witness) on the private loopback, and smkeyd-witness pushing
# between them:
#
#  - both witnesses cosign; the bundle verifies with --witness-quorum 2 and
#    through the trust directory's witnesses file; the cosignatures in the
#    bundle also verify with Python's cryptography (an independent Ed25519);
#    smkeyd refuses a forged cosignature and a caller who is not allowed;
#  - one witness down: keys are still generated, the pusher records it as
#    unreachable, quorum 1 passes and quorum 2 fails naming the witness; a
#    slow witness times out while a key is generated, and once it is back
#    the push catches up (409 and a re-send where the witness moved on);
#  - a split view: the archive file rolled back to an earlier copy and
#    re-extended with other records is refused by both witnesses (409 at a
#    size they hold with another root, 422 for the proof past it), and
#    smkey audit reports it as a problem.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
# nobody runs these: copies it can read wherever the tree is (smk_shared_copy)
SMKD_CLIENT=$(smk_shared_copy "$SMKD_CLIENT")

WSRV=$SMK_SOURCE_DIR/tests/integration/witness_server.py
PUSHER=${SMKEYD_WITNESS:-$SMK_BUILD_DIR/smkeyd-witness}
[ -x "$PUSHER" ] || smk_fail "missing $PUSHER: build first"

smk_start_pcscd 1
smk_sim_init card1 1
smk_sim_init card2 2
smk_sim_start card1 0
smk_sim_start card2 1
smk_wait_card 0
smk_wait_card 1

# the witnesses' keys first: smkeyd's configuration names them
w1=$(python3 "$WSRV" --state "$SMK_TMP/w1" --name witness.test/w1 --print-vkey)
w2=$(python3 "$WSRV" --state "$SMK_TMP/w2" --name witness.test/w2 --print-vkey)
smkd_config "witnesses:
  - key: $w1
    url: http://127.0.0.1:18001
  - key: $w2
    url: http://127.0.0.1:18002/"
out=$("$SMKEYD" --check-config -c "$SMKD_CONF" 2>&1) || smk_fail "--check-config: $out"
smk_expect "--check-config" 'archive .*, 2 witnesses$' "$out"
smkd_start
smkd_wait_log 'ready'

# what a witness operator is given: the log's key and origin
smkd_call io.smkeyd.GetRecord '{"seq": 0}' |
	smkd_json 'r["parameters"]["record"]["public_key_pem"]' >"$SMK_TMP/log.pem"
origin=$(smkd_call io.smkeyd.GetCheckpoint '{}' |
	smkd_json 'r["parameters"]["checkpoint"]["text"].split("\n")[0]')
# the relying party pins the log (trust/logs), so that exit 0 means verified
smkd_log_key >"$SMK_TMP/trust/logs"
smk_log "log $origin; witnesses ${w1%%+*} and ${w2%%+*}"

# start_witness N [--delay S]: witness N on port 1800N
start_witness() {
	local n=$1 i
	shift
	smk_spawn "$SMK_TMP/witness$n.log" python3 -u "$WSRV" --port "1800$n" --state "$SMK_TMP/w$n" \
		--name "witness.test/w$n" --log-key "$SMK_TMP/log.pem" --origin "$origin" "$@"
	eval "W${n}_PID=$SMK_LAST_PID"
	for i in $(seq 100); do
		grep -q '^listening' "$SMK_TMP/witness$n.log" && return 0
		sleep 0.1
	done
	smk_fail "witness $n did not start: $(cat "$SMK_TMP/witness$n.log")"
}

stop_witness() {
	local pid
	pid=$(eval echo "\$W${1}_PID")
	kill "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
}

mkdir -p "$SMK_TMP/pusher"
# push [--timeout S]: one pass of smkeyd-witness; its exit status in PUSH_RC
push() {
	PUSH_RC=0
	PUSH_OUT=$("$PUSHER" --config "$SMKD_CONF" --socket "$SMKD_SOCK" --state "$SMK_TMP/pusher" \
		--timeout 3 --verbose "$@" 2>&1) || PUSH_RC=$?
	printf '%s\n' "$PUSH_OUT" >>"$SMK_TMP/pusher.log"
}

# generate LABEL: a key under release-apk; prints its record number
generate() {
	local out
	out=$(smkd_call io.smkeyd.Generate "{\"policy\": \"release-apk\", \"label\": \"$1\"}") ||
		smk_fail "Generate $1: $out"
	smkd_json 'r["parameters"]["seq"]' <<<"$out"
}

# bundle SEQ FILE: the record's bundle as smkeyd exports it now
bundle() {
	smkd_call io.smkeyd.GetBundle "{\"seq\": $1}" | smkd_json 'r["parameters"]["bundle"]' >"$2"
}

# verify FILE ARGS...: smkey verify; output in V, exit status in V_RC
verify() {
	local b=$1
	shift
	V_RC=0
	V=$("$SMKEY" verify "$b" "$@" 2>&1) || V_RC=$?
}

start_witness 1
start_witness 2

# ---- two witnesses cosign ----
seq1=$(generate one)
push
[ "$PUSH_RC" = 0 ] || smk_fail "push with both witnesses up: exit $PUSH_RC: $PUSH_OUT"
bundle "$seq1" "$SMK_TMP/one.bundle"
verify "$SMK_TMP/one.bundle" --trust "$SMK_TMP/trust" --witness "$w1" --witness "$w2" --witness-quorum 2
[ "$V_RC" = 0 ] || smk_fail "verify with quorum 2: exit $V_RC: $V"
smk_expect "verify quorum 2" 'ok +cosigned by witness witness.test/w1 at 20[0-9-]+ [0-9:]+ UTC' "$V"
smk_expect "verify quorum 2" 'ok +cosigned by witness witness.test/w2 at' "$V"
smk_expect "verify quorum 2" 'ok +witness quorum: 2 valid cosignature\(s\), 2 required' "$V"
smk_log "record $seq1: both witnesses cosigned; smkey verify --witness-quorum 2 passes"

# the same cosignatures, checked by another Ed25519 implementation
python3 - "$SMK_TMP/one.bundle" "$w1" "$w2" <<'PY' || smk_fail "Python's cryptography does not verify the cosignatures"
import base64, hashlib, json, struct, sys
from cryptography.hazmat.primitives.asymmetric import ed25519
note = json.load(open(sys.argv[1]))["checkpoint"].encode()
split = note.rfind(b"\n\n")
text, sigs = note[:split + 1], note[split + 2:].decode().splitlines()
for vkey in sys.argv[2:]:
    name, kid, b64 = vkey.split("+", 2)
    raw = base64.b64decode(b64)
    assert raw[0] == 4 and hashlib.sha256(name.encode() + b"\n" + raw).digest()[:4].hex() == kid
    pub = ed25519.Ed25519PublicKey.from_public_bytes(raw[1:])
    ok = False
    for line in sigs:
        n, _, s = line[2:].partition(" ")
        blob = base64.b64decode(s)
        if n != name or blob[:4].hex() != kid:
            continue
        t = struct.unpack(">Q", blob[4:12])[0]
        pub.verify(blob[12:], b"cosignature/v1\ntime %d\n" % t + text)
        ok = True
    assert ok, "no cosignature by " + name
print("python: both cosignatures verify")
PY

# the trust directory's witnesses file; plain verify ignores the lines
cp -r "$SMK_TMP/trust" "$SMK_TMP/trust-w"
printf '# witnesses for this log\n%s\n%s\nquorum 2\n' "$w1" "$w2" >"$SMK_TMP/trust-w/witnesses"
verify "$SMK_TMP/one.bundle" --trust "$SMK_TMP/trust-w"
[ "$V_RC" = 0 ] || smk_fail "verify with the witnesses file: exit $V_RC: $V"
smk_expect "verify from the witnesses file" 'witnesses +quorum 2 of 2 pinned' "$V"
verify "$SMK_TMP/one.bundle" --trust "$SMK_TMP/trust"
[ "$V_RC" = 0 ] || smk_fail "verify without witness keys: exit $V_RC: $V"
smk_expect "verify without witness keys" 'witnesses +none pinned' "$V"
verify "$SMK_TMP/one.bundle" --trust "$SMK_TMP/trust" --witness "$w1" --witness-quorum 2
[ "$V_RC" = 2 ] || smk_fail "quorum 2 with one witness key: exit $V_RC, not 2: $V"
smk_log "the witnesses file in the trust directory works; old-style verify ignores the cosignatures"

# smkeyd keeps only cosignatures that verify, from callers it allows
size=$(smkd_call io.smkeyd.GetCheckpoint '{}' | smkd_json 'r["parameters"]["checkpoint"]["size"]')
chmod 0711 "$SMK_TMP" # nobody reaches the socket (0666) below
forged="— witness.test/w1 $(head -c 76 /dev/urandom | base64 -w0)"
out=$(smkd_call io.smkeyd.AddCosignatures "{\"size\": $size, \"signatures\": [\"$forged\"]}") ||
	smk_fail "AddCosignatures: $out"
smk_expect "forged cosignature" '"stored": 0' "$out"
smk_expect "forged cosignature" 'signature line 1' "$out"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$SMKD_CLIENT" "$SMKD_SOCK" \
	io.smkeyd.AddCosignatures "{\"size\": $size, \"signatures\": [\"$forged\"]}" 2>&1) &&
	smk_fail "AddCosignatures as nobody was accepted: $out"
smk_expect "AddCosignatures as nobody" 'PolicyDenied' "$out"
smk_log "a forged cosignature is refused and recorded; nobody may not hand in cosignatures"

# a copy of the archive as it is now, for the split view below
python3 -c 'import sqlite3, sys; s = sqlite3.connect(sys.argv[1]); d = sqlite3.connect(sys.argv[2]); s.backup(d); d.close()' \
	"$SMK_TMP/archive.db" "$SMK_TMP/archive-early.db"

# ---- one witness down ----
stop_witness 2
seq2=$(generate two)
push
[ "$PUSH_RC" = 1 ] || smk_fail "push with witness 2 down: exit $PUSH_RC, not 1: $PUSH_OUT"
smk_expect "push with witness 2 down" 'witness.test/w2, checkpoint [0-9]+: unreachable' "$PUSH_OUT"
bundle "$seq2" "$SMK_TMP/two.bundle"
verify "$SMK_TMP/two.bundle" --trust "$SMK_TMP/trust" --witness "$w1" --witness "$w2" --witness-quorum 1
[ "$V_RC" = 0 ] || smk_fail "quorum 1 with witness 2 down: exit $V_RC: $V"
verify "$SMK_TMP/two.bundle" --trust "$SMK_TMP/trust" --witness "$w1" --witness "$w2" --witness-quorum 2
[ "$V_RC" = 1 ] || smk_fail "quorum 2 with witness 2 down: exit $V_RC, not 1: $V"
smk_expect "quorum 2 with witness 2 down" 'missing +witness witness.test/w2: no cosignature' "$V"
smk_expect "quorum 2 with witness 2 down" 'FAILED +1 valid cosignature\(s\) by distinct witnesses, 2 required' "$V"
smk_log "witness 2 down: key $seq2 generated, push recorded unreachable, quorum 1 passes, quorum 2 fails"

# a slow witness: the pusher gives up after its timeout; smkeyd never waits
start_witness 2 --delay 16
"$PUSHER" --config "$SMKD_CONF" --socket "$SMKD_SOCK" --state "$SMK_TMP/pusher" --timeout 10 \
	>"$SMK_TMP/slow-push.log" 2>&1 &
slow_pid=$!
t0=$(date +%s%N)
seq3=$(generate three)
t1=$(date +%s%N)
slow_rc=0
wait "$slow_pid" || slow_rc=$?
t2=$(date +%s%N)
[ "$slow_rc" = 1 ] || smk_fail "push to a slow witness: exit $slow_rc: $(cat "$SMK_TMP/slow-push.log")"
smk_expect "push to a slow witness" 'unreachable: .*(timed out|Timeout)' "$(cat "$SMK_TMP/slow-push.log")"
[ "$t1" -lt "$t2" ] || smk_fail "the key was generated only after the push gave up"
smk_log "slow witness: key $seq3 generated in $(((t1 - t0) / 1000000)) ms while the push waited $(((t2 - t0) / 1000000)) ms and timed out"
stop_witness 2
start_witness 2
push
[ "$PUSH_RC" = 0 ] || smk_fail "push after witness 2 is back: exit $PUSH_RC: $PUSH_OUT"
bundle "$seq3" "$SMK_TMP/three.bundle"
verify "$SMK_TMP/three.bundle" --trust "$SMK_TMP/trust" --witness "$w1" --witness "$w2" --witness-quorum 2
[ "$V_RC" = 0 ] || smk_fail "quorum 2 once witness 2 is back: exit $V_RC: $V"
smk_log "witness 2 back: the push catches up, quorum 2 passes again"

# ---- a split view: the archive rolled back and extended with other records ----
smkd_stop
cp "$SMK_TMP/archive-early.db" "$SMK_TMP/archive.db"
rm -f "$SMK_TMP/archive.db-wal" "$SMK_TMP/archive.db-shm"
: >"$SMK_TMP/smkeyd.log"
smkd_start
smkd_wait_log 'ready'
generate other-a >/dev/null
generate other-b >/dev/null
size=$(smkd_call io.smkeyd.GetCheckpoint '{}' | smkd_json 'r["parameters"]["checkpoint"]["size"]')
push
[ "$PUSH_RC" = 1 ] || smk_fail "push of a forked log: exit $PUSH_RC, not 1: $PUSH_OUT"
smk_expect "push of a forked log" 'witness.test/w1, checkpoint [0-9]+: inconsistent' "$PUSH_OUT"
smk_expect "push of a forked log" 'witness.test/w2, checkpoint [0-9]+: inconsistent' "$PUSH_OUT"
grep -Eq 'add-checkpoint: (409|422)' "$SMK_TMP/witness1.log" || smk_fail "witness 1 did not refuse"
smk_log "rolled back and re-extended to size $size: both witnesses refuse ($(grep -Eo 'add-checkpoint: (409|422)' "$SMK_TMP/witness1.log" | sort -u | tr '\n' ' '))"
generate other-c >/dev/null
push
[ "$PUSH_RC" = 1 ] || smk_fail "second push of the forked log: exit $PUSH_RC: $PUSH_OUT"
grep -q 'add-checkpoint: 422' "$SMK_TMP/witness1.log" ||
	smk_fail "witness 1 never refused a consistency proof: $(grep add-checkpoint "$SMK_TMP/witness1.log")"

a_rc=0
a_out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || a_rc=$?
[ "$a_rc" = 1 ] || smk_fail "audit of the forked archive: exit $a_rc, not 1: $a_out"
smk_expect "audit of the forked archive" 'PROBLEM: .* witness witness.test/w1 refused checkpoint [0-9]+.*split view or rollback' "$a_out"
smk_expect "audit of the forked archive" 'PROBLEM: .* witness witness.test/w2 refused checkpoint' "$a_out"
smk_expect "audit of the forked archive" 'witness witness.test/w1: [0-9]+ cosignatures? stored' "$a_out"
smk_log "smkey audit reports the refused split view (exit 1)"
smk_pass
