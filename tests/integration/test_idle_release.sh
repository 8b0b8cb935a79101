#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Releasing an idle card (docs/daemon.md "Releasing an idle card"):
#
#  - by default smkeyd holds its card exclusively: while it runs, OpenSC
#    (pkcs11-tool) cannot sign with it;
#  - with idle-release after 1 s, smkeyd lets the card go once no job came
#    for that long (ListDevices still says up, last_error says released);
#    OpenSC then signs with a key smkeyd made (the signature verifies with
#    the archived public key);
#  - the next `smkey generate` takes the card back (a new SM session on the
#    same device) and succeeds;
#  - a card another PC/SC client holds exclusively when a job comes: the job
#    waits (retry with backoff) and succeeds once it is let go within
#    idle-release wait-s; held longer, the job fails with DeviceUnavailable
#    naming the other client, its intent ends as failed, and the device comes
#    back on its own once the card is free; every key audits.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_one_card
p11() { pkcs11-tool --module "$SMKD_P11" --slot-index 0 "$@"; }
mkdir -p out
echo "signed by OpenSC while smkeyd waits" >msg

# the id of label $1 as OpenSC lists it
p11_id() {
	local out try
	for try in 1 2 3 4 5; do
		out=$(p11 --login --pin "$SMKD_PIN" -O 2>&1) && break
		[ "$try" = 5 ] && smk_fail "pkcs11-tool -O (5 tries): $out"
		sleep 0.5
	done
	awk -v l="$1" '$1 == "label:" && $2 == l {f=1} f && /ID:/{print $2; exit}' <<<"$out"
}

# ---- default: no release, OpenSC gets no access while smkeyd runs ----
smkd_config
smkd_start
smkd_wait_log 'ready'
S=(--socket "$SMKD_SOCK")
out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label held -o out --json 2>&1) ||
	smk_fail "generate (held): $out"
sleep 2
if out=$(p11 --login --pin "$SMKD_PIN" --sign -m ECDSA-SHA256 --input-file msg \
	--output-file held.sig 2>&1); then
	smk_fail "pkcs11-tool signed while smkeyd holds the card: $out"
fi
# OpenSC's connect meets SCARD_E_SHARING_VIOLATION and reports a device error
smk_expect "pkcs11-tool while smkeyd holds the card" 'CKR_DEVICE_ERROR|CKR_TOKEN_NOT_PRESENT|[Ss]haring' "$out"
smk_log "default: pkcs11-tool cannot use the card while smkeyd holds it: $(tr "\n" " " <<<"$out" | cut -c1-400)"
grep -q 'card released' "$SMK_TMP/smkeyd.log" && smk_fail "smkeyd released the card without idle-release"
smkd_stop
smkd_wait_log 'all requests answered; exiting'

# ---- idle-release after 1 s ----
mv "$SMK_TMP/smkeyd.log" "$SMK_TMP/smkeyd-held.log"
smkd_config 'idle-release: {after-s: 1, wait-s: 4}'
smkd_start
smkd_wait_log 'ready'
out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label first -o out --json 2>&1) ||
	smk_fail "generate (first): $out"
first_seq=$(smkd_json 'r["seq"]' <<<"$out")
# the release after this Generate's record (a slow start in the sanitizer
# build can release the card once before the Generate comes, and take it
# back for it; the client can also return after the release)
released_after_first() {
	awk '/"apk-first" archived as record/ { a = 1 }
		/card released after 1 s without a job/ { if (a) f = 1 }
		END { exit !f }' "$SMK_TMP/smkeyd.log"
}
for ((i = 0; i < 100; i++)); do
	released_after_first && break
	sleep 0.1
done
released_after_first ||
	smk_fail "smkeyd did not release the card 1 s after the first Generate: $(tail -n 20 "$SMK_TMP/smkeyd.log")"
out=$(smkd_call io.smkeyd.ListDevices '{}')
smk_expect "ListDevices of a released card" '"state": "up"' "$out"
smk_expect "ListDevices of a released card" '"last_error": "released: card let go' "$out"
smk_log "smkeyd released the card after 1 s idle; ListDevices: up, released"

id=$(p11_id apk-first)
[ -n "$id" ] || smk_fail "OpenSC lists no key apk-first"
# pcscd may still count the listing's exclusive connection for a moment
# after pkcs11-tool exits ("Reader Exclusive" on a loaded machine): a few
# tries, the last one's output reported
for try in 1 2 3 4 5; do
	p11 --login --pin "$SMKD_PIN" --sign --id "$id" -m ECDSA-SHA256 --input-file msg \
		--output-file first.sig --signature-format openssl >sign.log 2>&1 && break
	[ "$try" = 5 ] && smk_fail "pkcs11-tool --sign on the released card (5 tries): $(cat sign.log)"
	sleep 0.5
done
v=$(openssl dgst -sha256 -verify out/apk-first.pub.pem -signature first.sig msg 2>&1) || true
smk_expect "OpenSC's signature with the archived key" '^Verified OK$' "$v"
smk_log "pkcs11-tool signed with apk-first on the released card; the archived key verifies it"

out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label second -o out --json 2>&1) ||
	smk_fail "generate after the release: $out"
second_seq=$(smkd_json 'r["seq"]' <<<"$out")
smkd_wait_log 'card taken back after idle release'
smk_log "smkey generate took the card back (record $second_seq)"
out=$(smkd_call io.smkeyd.ListDevices '{}')
smk_expect "ListDevices after the retake" '"state": "(up|busy)"' "$out"

# hold_card SECONDS: another PC/SC client takes the released card
hold_card() {
	smk_spawn "$SMK_TMP/hold.log" python3 "$SMK_SOURCE_DIR/tests/integration/pcsc_hold.py" 0 "$1"
	HOLD_PID=$SMK_LAST_PID
	for _ in $(seq 100); do
		grep -q '^held' "$SMK_TMP/hold.log" && return 0
		sleep 0.1
	done
	smk_fail "pcsc_hold.py did not get the card: $(cat "$SMK_TMP/hold.log")"
}
# until ListDevices shows the card released (again)
released_again() {
	local out
	for _ in $(seq 100); do
		out=$(smkd_call io.smkeyd.ListDevices '{}')
		grep -q '"last_error": "released: ' <<<"$out" && return 0
		sleep 0.1
	done
	smk_fail "smkeyd did not release the card again: $out"
}

# held for 1.5 s: the job waits for it
released_again
hold_card 1.5
out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label waited -o out --json 2>&1) ||
	smk_fail "generate while another client held the card briefly: $out"
waited_seq=$(smkd_json 'r["seq"]' <<<"$out")
wait "$HOLD_PID" || true
grep -q '^let go' "$SMK_TMP/hold.log" || smk_fail "pcsc_hold.py: $(cat "$SMK_TMP/hold.log")"
smkd_wait_log 'card taken back after idle release \([2-9][0-9]* attempts\)'
smk_log "a card held 1.5 s by another client: the job waited and got it (record $waited_seq)"

# held for longer than wait-s (4 s): DeviceUnavailable naming why
released_again
hold_card 15
start=$(date +%s)
out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label lost -o out --json 2>&1) &&
	smk_fail "generate succeeded while another client held the card: $out"
took=$(($(date +%s) - start))
# DeviceUnavailable, as smkey prints it
smk_expect "generate while the card is held" 'device ZZSIM[0-9]+ unavailable: request [0-9a-f]+ \(archived as failed\)' "$out"
smk_expect "generate while the card is held" 'in use by another PC/SC client' "$out"
[ "$took" -ge 3 ] || smk_fail "the job gave up after $took s, before idle-release wait-s (4 s)"
[ "$took" -le 30 ] || smk_fail "the job waited $took s for a card wait-s says to give up on after 4 s"
smk_log "held past wait-s: failed after $took s: $(tr '\n' ' ' <<<"$out" | cut -c1-240)"
out=$(smkd_call io.smkeyd.ListDevices '{}')
smk_expect "ListDevices while the card is held" '"state": "down"' "$out"
smk_expect "ListDevices while the card is held" 'in use by another PC/SC client' "$out"
smkd_wait_log 'card not taken back after idle release \([0-9]+ attempts in [0-9]+ s\)'
kill "$HOLD_PID" 2>/dev/null || true
wait "$HOLD_PID" 2>/dev/null || true
smkd_wait_log 'device up again' 20
out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label after -o out --json 2>&1) ||
	smk_fail "generate once the other client let go: $out"
after_seq=$(smkd_json 'r["seq"]' <<<"$out")
smk_log "the other client let go: the device came back, the next job succeeds (record $after_seq)"

smkd_stop
smkd_wait_log 'all requests answered; exiting'
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_expect "audit" 'failed request' "$out"
smk_log "smkey audit: clean (records $first_seq $second_seq $waited_seq $after_seq); the held-out request is listed as failed"
smk_pass
