#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# smkey relay-gate (docs/notary.md "The gate"): a card host's relay reaches
# the notary's vpcd reader through a link (relay_liar.py, honest, counting
# the frames that cross it) and the gate in front of vpcd. The notary's
# stock smkeyd makes a key on the card; its bundle verifies against the
# notary's pinned log. Then the counts: the gate answered pcscd's presence
# polls itself, and only the first ATR request of the connection and the
# one after each power-on or reset crossed the link (the link's own count
# agrees); the gate's log has counts and no APDU bytes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/notary_lib.sh"
smk_enter_namespace "$@"

smk_start_pcscd 1
notary_card_init hostA 1
vpcd_port=$(smk_reader_port 0)
gate_port=$((vpcd_port + 7))
link_port=$((vpcd_port + 8))
notary_gate_start "$gate_port" "$vpcd_port"
notary_link_start "$link_port" "$gate_port"
# the card host shares this network namespace: its own vpcd port differs
notary_host_start hostA $((vpcd_port + 11)) -- --connect "127.0.0.1:$link_port" --retry-max-ms 1000
notary_wait_relay hostA 'offered to the remote reader'
smk_wait_card 0 30
grep -Eq 'relay from .* joined to vpcd$' "$SMK_TMP/gate.log" || smk_fail "the gate did not join the relay to vpcd: $(cat "$SMK_TMP/gate.log")"
smk_log "relay -> link -> gate -> vpcd: the card is in the notary's reader 0"

smkd_config
sed -i 's/reader: "\*"/serial: ZZSIM00001\n    relayed: true/' "$SMKD_CONF"
smkd_start
smkd_wait_log 'ready'
notary_wait_device ZZSIM00001
mkdir -p "$SMK_TMP/out"
out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy release-apk --label gated \
	-o "$SMK_TMP/out" --json 2>&1) || smk_fail "smkey generate through the gate: $out"
dev=$(smkd_json 'r["device"]' <<<"$out")
[ "$dev" = ZZSIM00001 ] || smk_fail "the key is on $dev, not the relayed card"
bundle=$(ls "$SMK_TMP"/out/*.bundle.json)
out=$(smkd_verify "$bundle" 2>&1) || smk_fail "smkey verify of the gated key's bundle: $out"
smk_expect "smkey verify" 'relay +the card was reached through a relay' "$out"
apdus=$SMK_TMP/hostA/card.apdu.jsonl
grep -q '"cmd":"gakp"' "$apdus" || smk_fail "the far card never saw a GAKP"
if grep -E '"cmd":"(gakp|verify)"' "$apdus" | grep -q '"sm":false'; then
	smk_fail "a VERIFY or GAKP reached the far card in plain"
fi
smk_log "key made on the card behind the gate; its bundle verifies against the notary's pinned log"

# pcscd polls presence about every 0.4 s: give it a few seconds more, then
# end the relay's connection so the gate logs the connection's counts
sleep 4
notary_host_stop hostA
for _ in $(seq 50); do
	grep -q ' ended (' "$SMK_TMP/gate.log" && break
	sleep 0.1
done
read -r n_apdus local crossed ons resets <<<"$(notary_gate_counts 1)"
[ -n "$resets" ] || smk_fail "no counts in the gate's log: $(cat "$SMK_TMP/gate.log")"
link=$(notary_link_atrs)
smk_log "gate: $n_apdus APDUs, ATR requests $local answered here, $crossed crossed (power on $ons, reset $resets); the link counted $link"
[ "$local" -ge 5 ] || smk_fail "the gate answered only $local presence polls itself"
[ "$link" = "$crossed" ] || smk_fail "the link carried $link ATR requests, the gate says $crossed crossed"
[ "$crossed" -le $((1 + ons + resets)) ] ||
	smk_fail "$crossed ATR requests crossed the link: more than the first and one per power-on or reset ($((1 + ons + resets)))"
[ "$n_apdus" -ge 2 ] || smk_fail "the gate passed only $n_apdus APDUs"
grep -q 'vpcd connection closed' "$SMK_TMP/gate.log" || smk_fail "the gate did not close vpcd when the relay went"
if grep -Eiq '[0-9a-f]{16}' "$SMK_TMP/gate.log"; then
	smk_fail "the gate's log holds a long hex string: $(grep -Eio '[0-9a-f]{16,}' "$SMK_TMP/gate.log" | head -n 1)"
fi
smk_log "presence polls answered at the notary; only the ATR after connect, power-on and reset crossed the link"
notary_host_clean hostA
smk_pass
