#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# smkey relay-gate when the relay's side goes away (docs/notary.md "The
# gate"): a key is made through relay -> link -> gate -> vpcd, then the
# link (relay_liar.py) dies. The gate closes its vpcd connection at once,
# so the notary's pcscd sees the reader empty and smkeyd the device down (a
# Generate pinned to it fails). The link comes back: the relay reconnects
# with backoff, the gate takes the new connection and joins it to vpcd
# again, the device comes back up, and the next key is made and verifies.
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
notary_host_start hostA $((vpcd_port + 11)) -- --connect "127.0.0.1:$link_port" --retry-max-ms 1000
notary_wait_relay hostA 'offered to the remote reader'
smk_wait_card 0 30

smkd_config
sed -i 's/reader: "\*"/serial: ZZSIM00001\n    relayed: true/' "$SMKD_CONF"
smkd_start
smkd_wait_log 'ready'
notary_wait_device ZZSIM00001
mkdir -p "$SMK_TMP/out1" "$SMK_TMP/out2"
out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy release-apk --label before \
	-o "$SMK_TMP/out1" --json 2>&1) || smk_fail "smkey generate through the gate: $out"
smk_log "first key made through the gate"

# the link dies: the gate sees its relay side go and closes vpcd
kill "$NOTARY_LINK_PID"
wait "$NOTARY_LINK_PID" 2>/dev/null || true
for _ in $(seq 50); do
	grep -q 'ended (the relay closed the connection), vpcd connection closed' "$SMK_TMP/gate.log" && break
	sleep 0.1
done
smk_expect "the gate's log" 'ended \(the relay closed the connection\), vpcd connection closed' "$(cat "$SMK_TMP/gate.log")"
smk_wait_no_card 0 30
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "dropped", "device": "ZZSIM00001"}' 2>&1) &&
	smk_fail "Generate on the dropped card succeeded: $out"
smk_expect "Generate on the dropped card" 'io.smkeyd.(GenerationFailed|DeviceUnavailable)' "$out"
state=$(smkd_call io.smkeyd.ListDevices '{}' |
	smkd_json "[d['state'] for d in r['parameters']['devices'] if d['serial'] == 'ZZSIM00001'][0]")
[ "$state" = down ] || smk_fail "ZZSIM00001 is $state after the link dropped"
smk_log "link dropped: the gate closed vpcd, the reader is empty, the device is down"

# the link comes back: the relay reconnects, the gate joins it to vpcd
notary_link_start "$link_port" "$gate_port"
for _ in $(seq 150); do
	[ "$(grep -Ec 'relay from .* joined to vpcd$' "$SMK_TMP/gate.log")" -ge 2 ] && break
	sleep 0.1
done
[ "$(grep -Ec 'relay from .* joined to vpcd$' "$SMK_TMP/gate.log")" -ge 2 ] ||
	smk_fail "the gate took no second relay connection: $(cat "$SMK_TMP/gate.log")"
[ "$(grep -c 'offered to the remote reader' "$SMK_TMP/hostA/relay.log")" -ge 2 ] ||
	smk_fail "the relay did not reconnect: $(tail -n 5 "$SMK_TMP/hostA/relay.log")"
smk_wait_card 0 30
notary_wait_device ZZSIM00001 60
out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy release-apk --label after \
	-o "$SMK_TMP/out2" --json 2>&1) || smk_fail "smkey generate after the link came back: $out"
bundle=$(ls "$SMK_TMP"/out2/*.bundle.json)
out=$(smkd_verify "$bundle" 2>&1) || smk_fail "smkey verify of the key made after the drop: $out"
smk_expect "smkey verify" 'relay +the card was reached through a relay' "$out"
smk_log "the relay reconnected through the gate; the next key was made and verifies"
notary_host_clean hostA
smk_pass
