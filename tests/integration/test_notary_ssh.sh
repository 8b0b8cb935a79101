#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Notary mode over OpenSSH (docs/notary.md), with a real sshd and ssh: the
# notary (this namespace: pcscd with a vpcd reader, stock smkeyd, sshd on a
# veth pair) and a card host (a network and mount namespace of its own:
# pcscd, smkey-sim, `smkey relay --via "ssh -W 127.0.0.1:PORT notary"`).
# The card owner asks for a key through an SSH-forwarded Unix socket.
# Asserts: the key record exists and says "relayed"; smkey verify exits 0
# against the notary's pinned log and says the card was reached through a
# relay; the far card saw every VERIFY and GAKP under SM; the relay's log
# holds none of the bytes it carried (a recording tap on the notary's
# loopback knows them); smkeyd saw the SSH login user as the requester; the
# vpcd port is not reachable from the card host except through SSH.
#
# With SMK_NOTARY_GATE=1 (test_notary_ssh_gate.sh) the SSH channel reaches
# `smkey relay-gate` in front of vpcd instead (docs/notary.md "The gate"),
# and the gate's counts are checked too: it answered presence polls itself,
# only the ATR requests after the connect, power-ons and resets crossed the
# SSH link, and its log has no APDU bytes.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/notary_lib.sh"
gated=${SMK_NOTARY_GATE:-}
[ -n "$gated" ] && SMK_TEST_NAME=test_notary_ssh_gate
smk_enter_namespace "$@"

for tool in /usr/sbin/sshd ssh ssh-keygen nft nsenter; do
	command -v "$tool" >/dev/null || smk_fail "missing $tool (see scripts/deps.sh)"
done
notary_users
smk_start_pcscd 1
vpcd_port=$(smk_reader_port 0)
# the relay's SSH channel ends at a recording tap on the notary's loopback,
# which passes everything on to vpcd unchanged
tap_port=$((vpcd_port + 7))
upstream=$vpcd_port
if [ -n "$gated" ]; then
	upstream=$((vpcd_port + 9))
	notary_gate_start "$upstream" "$vpcd_port"
fi
smk_spawn "$SMK_TMP/tap.log" python3 "$SMK_SOURCE_DIR/tests/integration/vpcd_tap.py" \
	"$tap_port" "$upstream" "$SMK_TMP/stream.hex"
notary_sshd "$tap_port"
notary_firewall "$vpcd_port"
notary_card_init hostA 1
notary_host_start hostA 35963 --net -- --veth smkh0 "$NOTARY_HOST_ADDR/24" \
	--via "$(notary_ssh smkrelay) -W 127.0.0.1:$tap_port $NOTARY_ADDR" --retry-max-ms 1000
notary_veth hostA
notary_sshd_start
notary_wait_relay hostA 'offered to the remote reader' 30
smk_wait_card 0 30
smk_log "the card host's relay reached the notary's vpcd reader over ssh -W"

# the vpcd port is dropped on the veth: only the SSH channel reaches it
if notary_in hostA timeout 3 bash -c "exec 3<>/dev/tcp/$NOTARY_ADDR/$vpcd_port" 2>/dev/null; then
	smk_fail "the vpcd port $vpcd_port is reachable from the card host without SSH"
fi
smk_log "vpcd port $vpcd_port: not reachable over the network"

smkd_config
sed -i 's/reader: "\*"/serial: ZZSIM00001\n    relayed: true/' "$SMKD_CONF"
sed -i 's/users: \[root\]/users: [root, smkowner]/' "$SMK_TMP/policies.d/release-apk.yaml"
smkd_start
smkd_wait_log 'ready'
notary_wait_device ZZSIM00001

# the owner: ssh -L LOCAL.sock:NOTARY.sock, then smkey generate on it
owner_sock=$SMK_TMP/hostA/notary.sock
# shellcheck disable=SC2046 # the ssh command line is words
notary_spawn_in hostA "$SMK_TMP/owner-ssh.log" $(notary_ssh smkowner) -N -o ExitOnForwardFailure=yes -o StreamLocalBindUnlink=yes \
	-L "$owner_sock:$SMKD_SOCK" "$NOTARY_ADDR"
for _ in $(seq 100); do
	[ -S "$owner_sock" ] && break
	sleep 0.1
done
[ -S "$owner_sock" ] || smk_fail "ssh -L made no local socket: $(cat "$SMK_TMP/owner-ssh.log")"
mkdir -p "$SMK_TMP/hostA/out"
out=$(notary_in hostA "$SMKEY" generate --socket "$owner_sock" --policy release-apk \
	--label far -o "$SMK_TMP/hostA/out" --json 2>&1) || smk_fail "smkey generate over SSH: $out"
dev=$(smkd_json 'r["device"]' <<<"$out")
[ "$dev" = ZZSIM00001 ] || smk_fail "the key is on $dev, not the relayed card"
seq=$(smkd_json 'r["seq"]' <<<"$out")
smk_log "key made on the far card (record $seq) by the owner over an SSH-forwarded socket"

# the record: relayed, requested by the SSH login user
rec=$(smkd_call io.smkeyd.GetRecord "{\"seq\": $seq}") || smk_fail "GetRecord $seq: $rec"
canon=$(smkd_json 'r["parameters"]["record"]["canonical"]' <<<"$rec")
smk_expect "record $seq" '"key-domains":\{.*\},"relayed":true\}' "$canon"
smk_expect "record $seq" '"peer":\{[^}]*"uid":4242' "$canon"
bundle=$(ls "$SMK_TMP"/hostA/out/*.bundle.json)
out=$(smkd_verify "$bundle" 2>&1) || smk_fail "smkey verify with the notary's pinned log: $out"
smk_expect "smkey verify" 'relay +the card was reached through a relay; the GAKP was sent by the smkeyd of log' "$out"
smk_expect "smkey verify" 'requester +uid 4242, ' "$out"
smk_expect "smkey verify" 'held by +device ZZSIM00001' "$out"
smk_log "smkey verify: 0 with the pinned log; relayed; requester uid 4242 (smkowner, the SSH login)"

apdus=$SMK_TMP/hostA/card.apdu.jsonl
grep -q '"cmd":"gakp"' "$apdus" || smk_fail "the far card never saw a GAKP"
grep -q '"cmd":"verify"' "$apdus" || smk_fail "the far card never saw a VERIFY"
if grep -E '"cmd":"(gakp|verify)"' "$apdus" | grep -q '"sm":false'; then
	smk_fail "a VERIFY or GAKP reached the far card in plain: $(grep -E '"cmd":"(gakp|verify)"' "$apdus" | grep '"sm":false' | head -n 3)"
fi
smk_log "far card's APDU log: every VERIFY and GAKP under SM (CLA 0C)"

notary_host_stop hostA
relay_log=$SMK_TMP/hostA/relay.log
grep -Eq 'SW 9000 x[0-9]+' "$relay_log" || smk_fail "the relay logged no status words: $(cat "$relay_log")"
gakp=$(grep -E '^0c46' "$SMK_TMP/stream.hex" | head -n 1)
[ -n "$gakp" ] || smk_fail "the tap saw no GAKP under SM"
n=0
while read -r frame; do
	[ ${#frame} -ge 16 ] || continue
	if grep -qiF -- "${frame:0:16}" "$relay_log"; then
		smk_fail "the relay's log holds APDU bytes (${frame:0:16}...)"
	fi
	n=$((n + 1))
done <"$SMK_TMP/stream.hex"
if grep -Eiq '[0-9a-f]{16}' "$relay_log"; then
	smk_fail "the relay's log holds a long hex string: $(grep -Eio '[0-9a-f]{16,}' "$relay_log" | head -n 1)"
fi
smk_log "relay log: counts and status words only; none of the $n commands it carried (GAKP ${gakp:0:8}...)"
if [ -n "$gated" ]; then
	for _ in $(seq 50); do
		grep -q ' ended (' "$SMK_TMP/gate.log" && break
		sleep 0.1
	done
	read -r n_apdus local crossed ons resets <<<"$(notary_gate_counts 1)"
	[ -n "$resets" ] || smk_fail "no counts in the gate's log: $(cat "$SMK_TMP/gate.log")"
	smk_log "gate: $n_apdus APDUs; ATR requests $local answered here, $crossed crossed the SSH link (power on $ons, reset $resets)"
	[ "$local" -ge 1 ] || smk_fail "the gate answered no presence poll itself"
	[ "$crossed" -le $((1 + ons + resets)) ] ||
		smk_fail "$crossed ATR requests crossed: more than the first and one per power-on or reset"
	[ "$n_apdus" -ge "$n" ] || smk_fail "the gate passed $n_apdus APDUs, the tap saw $n long ones"
	# the tap is on the link's side of the gate: its ATR requests crossed
	tapped=$(grep -cx '04' "$SMK_TMP/stream.hex" || true)
	[ "$tapped" = "$crossed" ] || smk_fail "the tap saw $tapped ATR requests cross, the gate says $crossed"
	while read -r frame; do
		[ ${#frame} -ge 16 ] || continue
		if grep -qiF -- "${frame:0:16}" "$SMK_TMP/gate.log"; then
			smk_fail "the gate's log holds APDU bytes (${frame:0:16}...)"
		fi
	done <"$SMK_TMP/stream.hex"
	smk_log "ssh -W reached the gate; presence polls answered at the notary; the gate's log has counts only"
fi
notary_host_clean hostA
smk_pass
