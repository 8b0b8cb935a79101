#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Two simulated cards in two readers of one private pcscd; a simulator that
# is killed and restarted is the same card again (state file) and pcscd sees
# it come back; a pcscd restart is survived by the running simulators
# (reconnect); faults programmed over the control socket reach the reader.
. "$(dirname "$0")/lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

SELECT=00:A4:04:0C:0B:E8:2B:06:01:04:01:81:C3:1F:02:01

# APDUs to the card in READER through pcscd; prints opensc-tool's output.
apdus() {
	local reader=$1
	shift
	local args=() a
	for a in "$@"; do
		args+=(--send-apdu "$a")
	done
	opensc-tool --reader "$reader" "${args[@]}" 2>&1 || true
}

# The device CHR in EF 2F02: the 15 bytes at offset 112 of the device
# certificate (7F21, 7F4E, 5F29, 42 with the 13-byte DICA CHR, 7F49 with 06
# and 86 only, 5F20); opensc-tool shows them as ASCII.
serial_of() {
	apdus "$1" "$SELECT" 00:B1:2F:02:04:54:02:00:70:0F
}

smk_start_pcscd 1
smk_sim_init a 1
smk_sim_init b 2
smk_sim_start a 0
smk_sim_start b 1
smk_wait_card 0
smk_wait_card 1

for r in 0 1; do
	out=$(opensc-tool --reader "$r" --name 2>&1) || smk_fail "opensc-tool --name reader $r: $out"
	smk_expect "name of reader $r" '^SmartCard-HSM' "$out"
done
# each reader holds its own card: device numbers 00001 and 00002
smk_expect "EF 2F02 in reader 0" 'ZZSIM0000100000' "$(serial_of 0)"
smk_expect "EF 2F02 in reader 1" 'ZZSIM0000200000' "$(serial_of 1)"
# both come from the scenario's one simulator CA: one pinned root for both
for card in a b; do
	"$SMK_SIM" show --state "$SMK_TMP/$card.json" --ef 2F02 >"$card-2f02.hex"
	out=$("$SMK_BUILD_DIR/smkey" cvc verify --chain "$card-2f02.hex" --trust "$SMK_TMP/trust" 2>&1) ||
		smk_fail "chain of $card: $out"
done
[ "$(ls "$SMK_TMP/trust")" = ZZSIMRCA00001.cvcert ] || smk_fail "trust dir: $(ls "$SMK_TMP/trust")"
smk_log "two cards in two readers, one pinned root"

# spend one PIN try on card a, then kill it: reader 0 empties, reader 1 works
out=$(apdus 0 "$SELECT" 00:20:00:81:06:31:31:31:31:31:31)
smk_expect "wrong PIN" 'SW1=0x63, SW2=0xC2' "$out"
smk_sim_stop a KILL # no chance to save anything: the state is on disk already
smk_wait_no_card 0
out=$(opensc-tool --reader 1 --name 2>&1) || smk_fail "reader 1 after stopping a: $out"
smk_expect "reader 1 after stopping a" '^SmartCard-HSM' "$out"
# restarted from its state file it is the same card with the same retry counter
smk_sim_start a 0
smk_wait_card 0
out=$(apdus 0 "$SELECT" 00:20:00:81)
smk_expect "PIN status after restart" 'SW1=0x63, SW2=0xC2' "$out"
smk_log "killed and restarted simulator: same card, same retry counter"

# pcscd goes away and comes back; the simulators reconnect by themselves
smk_restart_pcscd
smk_wait_card 0 20
smk_wait_card 1 20
smk_log "both simulators reconnected to a restarted pcscd"

# faults programmed at run time over the control socket
out=$(smk_ctl b fault cmd=challenge:sw=6A88) || smk_fail "ctl fault: $out"
out=$(apdus 1 "$SELECT" 00:84:00:00:08)
smk_expect "injected SW" 'SW1=0x6A, SW2=0x88' "$out"
out=$(apdus 1 "$SELECT" 00:84:00:00:08)
smk_expect "after the fault" 'SW1=0x90, SW2=0x00' "$out"
out=$(smk_ctl b fault cmd=challenge:remove=2500) || smk_fail "ctl fault: $out"
out=$(apdus 1 "$SELECT" 00:84:00:00:08)
smk_wait_no_card 1 5
smk_wait_card 1 15
smk_log "remove fault: card left reader 1 and came back"
out=$(smk_ctl b fault nonsense) && smk_fail "ctl accepted a bad fault: $out"
smk_expect "bad fault reply" '^error ' "$out"

# the APDU log: every APDU arrived in plain here, none under SM
grep -q '"cmd":"challenge","sm":false' "$SMK_TMP/b.apdu.jsonl" ||
	smk_fail "APDU log of b lacks the challenges"
if grep -q '"sm":true' "$SMK_TMP/b.apdu.jsonl"; then
	smk_fail "APDU log of b shows SM that never happened"
fi
stats=$(smk_ctl b stats)
smk_expect "stats of b" '"faults":2' "$stats"
smk_pass
