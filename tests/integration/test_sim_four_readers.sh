#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Four simulated cards in one private pcscd: two vpcd entries of two readers
# each (tests/integration/lib.sh gives each entry its own copy of the vpcd
# driver). Every reader reaches its own card: SELECT answers and EF 2F02
# carries that card's device number, and each simulator logged the APDUs.
. "$(dirname "$0")/lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

SELECT=00:A4:04:0C:0B:E8:2B:06:01:04:01:81:C3:1F:02:01

smk_start_pcscd 2
for i in 0 1 2 3; do
	smk_sim_init "c$i" $((i + 1))
	smk_sim_start "c$i" "$i"
done
for i in 0 1 2 3; do
	smk_wait_card "$i" 20
done
for i in 0 1 2 3; do
	out=$(timeout 20 opensc-tool --reader "$i" --send-apdu "$SELECT" --send-apdu 00:B1:2F:02:04:54:02:00:70:0F 2>&1) || true
	smk_expect "EF 2F02 in reader $i" "ZZSIM0000$((i + 1))00000" "$out"
	grep -q '"cmd":"select"' "$SMK_TMP/c$i.apdu.jsonl" || smk_fail "simulator c$i saw no SELECT"
done
smk_pass
