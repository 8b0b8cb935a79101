#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# smkey relay --connect: a card on a card host (its own pcscd, in a mount
# namespace of its own) reaches the notary's vpcd reader over TCP; the
# notary's stock smkeyd makes a key on it under secure messaging. Asserts
# the key record and its bundle, that the relay held the card only while
# the notary powered it, that its log has counts and status words and none
# of the bytes that went through it (a recording tap between relay and
# vpcd knows them), and that the relay finds vpcd again after pcscd at the
# notary restarts (a second key is made).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/notary_lib.sh"
smk_enter_namespace "$@"

smk_start_pcscd 1
notary_card_init hostA 1
vpcd_port=$(smk_reader_port 0)
tap_port=$((vpcd_port + 7))
smk_spawn "$SMK_TMP/tap.log" python3 "$SMK_SOURCE_DIR/tests/integration/vpcd_tap.py" \
	"$tap_port" "$vpcd_port" "$SMK_TMP/stream.hex"
# the card host shares this network namespace: its own vpcd port differs
notary_host_start hostA $((vpcd_port + 11)) -- --connect "127.0.0.1:$tap_port" --retry-max-ms 1000
notary_wait_relay hostA 'offered to the remote reader'
smk_wait_card 0 30
smk_log "the relayed card is in the notary's reader 0"

smkd_config
sed -i 's/reader: "\*"/serial: ZZSIM00001\n    relayed: true/' "$SMKD_CONF"
smkd_start
smkd_wait_log 'ready'
notary_wait_device ZZSIM00001
mkdir -p "$SMK_TMP/out"
out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy release-apk --label relayed \
	-o "$SMK_TMP/out" --json 2>&1) || smk_fail "smkey generate through the relay: $out"
dev=$(smkd_json 'r["device"]' <<<"$out")
[ "$dev" = ZZSIM00001 ] || smk_fail "the key is on $dev, not the relayed card"
bundle=$(ls "$SMK_TMP"/out/*.bundle.json)
out=$(smkd_verify "$bundle" 2>&1) || smk_fail "smkey verify of the relayed key's bundle: $out"
smk_expect "smkey verify" 'relay +the card was reached through a relay; the GAKP was sent by the smkeyd of log smkeyd/' "$out"
smk_log "key made on the relayed card; its bundle verifies against the notary's pinned log"

# every VERIFY and GAKP reached the far card under SM
apdus=$SMK_TMP/hostA/card.apdu.jsonl
grep -q '"cmd":"gakp"' "$apdus" || smk_fail "the far card never saw a GAKP: $(tail -n 5 "$apdus")"
if grep -E '"cmd":"(gakp|verify)"' "$apdus" | grep -q '"sm":false'; then
	smk_fail "a VERIFY or GAKP reached the far card in plain: $(grep -E '"cmd":"(gakp|verify)"' "$apdus" | grep '"sm":false' | head -n 3)"
fi
smk_log "the far card saw every VERIFY and GAKP under SM"

# pcscd at the notary restarts: the relay sees vpcd go away, finds it again
# with backoff, and smkeyd's device comes back up on the relayed card
smk_restart_pcscd
for _ in $(seq 150); do
	[ "$(grep -c 'offered to the remote reader' "$SMK_TMP/hostA/relay.log")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -c 'offered to the remote reader' "$SMK_TMP/hostA/relay.log")" -ge 2 ] ||
	smk_fail "the relay did not reconnect after pcscd restarted: $(tail -n 5 "$SMK_TMP/hostA/relay.log")"
smk_wait_card 0 30
notary_wait_device ZZSIM00001 60
out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy release-apk --label again \
	-o "$SMK_TMP/out" --json 2>&1) || smk_fail "smkey generate after pcscd restarted: $out"
smk_log "pcscd at the notary restarted: the relay reconnected, a second key was made"

# the relay's log: counts and status words, no APDU bytes (the counts of a
# power session are logged when it ends: end the relay)
relay_log=$SMK_TMP/hostA/relay.log
notary_host_stop hostA
grep -Eq 'SW 9000 x[0-9]+' "$relay_log" || smk_fail "the relay logged no status words: $(cat "$relay_log")"
gakp=$(grep -E '^0c46' "$SMK_TMP/stream.hex" | head -n 1)
[ -n "$gakp" ] || smk_fail "the tap saw no GAKP under SM"
n=0
while read -r frame; do
	[ ${#frame} -ge 16 ] || continue
	for probe in "$frame" "${frame:0:16}" "${frame^^}" "${frame:0:16}"; do
		if grep -qiF -- "${probe}" "$relay_log"; then
			smk_fail "the relay's log holds APDU bytes (${probe:0:16}...)"
		fi
	done
	n=$((n + 1))
done <"$SMK_TMP/stream.hex"
if grep -Eiq '[0-9a-f]{16}' "$relay_log"; then
	smk_fail "the relay's log holds a long hex string: $(grep -Eio '[0-9a-f]{16,}' "$relay_log" | head -n 1)"
fi
smk_log "relay log: status words and counts; none of the $n commands it carried (the GAKP ${gakp:0:8}...)"
notary_host_clean hostA
smk_pass
