#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The card session over a real pcscd (private, with vpcd readers) and
# smkey-sim, driven by `smkey card`:
#  - PC/SC errors are named: no pcscd, no such reader, no card in reader;
#  - a card whose chain does not reach a pinned root is refused before chip
#    authentication and before any PIN is sent (the simulator's APDU log has
#    no VERIFY at all);
#  - a wrong PIN is reported with the tries left, and only under SM;
#  - a card pulled and put back between two generations in one session is
#    survived: the session re-opens (full handshake) and the second key is
#    made and verified;
#  - the simulator's log shows every GAKP under SM, none in plain;
#  - a card that does not answer gives a timeout at the deadline.
. "$(dirname "$0")/lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

SMKEY=$SMK_BUILD_DIR/smkey
printf '648219\n' >pin
printf '123456\n' >badpin
chmod 600 pin badpin

# no pcscd at all (our namespace has its own empty /run)
out=$("$SMKEY" card list 2>&1) && smk_fail "card list without pcscd succeeded: $out"
smk_expect "without pcscd" 'pcscd is not running.*\[io\]' "$out"

smk_start_pcscd 1
out=$("$SMKEY" card atr "no such reader" 2>&1) && smk_fail "atr on a bogus reader: $out"
smk_expect "bogus reader" 'reader "no such reader": SCardConnect: no such reader' "$out"

# readers as pcscd names them; reader 1 stays empty
mapfile -t readers < <("$SMKEY" card list | cut -f1)
[ "${#readers[@]}" = 2 ] || smk_fail "expected 2 vpcd readers, got: ${readers[*]}"
R0=${readers[0]}
R1=${readers[1]}
out=$("$SMKEY" card atr "$R1" 2>&1) && smk_fail "atr on an empty reader succeeded: $out"
smk_expect "empty reader" "reader \"$R1\": SCardConnect: no card in reader" "$out"
smk_log "empty reader reported by name"

smk_sim_init card 5
smk_sim_start card 0
smk_wait_card 0
out=$("$SMKEY" card list)
TAB=$'\t'
smk_expect "card list" "^$R0${TAB}SmartCard-HSM${TAB}version [0-9]+\.[0-9]+" "$out"
smk_expect "card list" "^$R1${TAB}-${TAB}.*no card in reader" "$out"
out=$("$SMKEY" card find) || smk_fail "card find found nothing"
[ "$out" = "$R0" ] || smk_fail "card find: expected only \"$R0\", got \"$out\""
LOG=$SMK_TMP/card.apdu.jsonl

# 1. untrusted chain: the genuine roots do not sign the simulator's DICA
out=$("$SMKEY" card genkey -r "$R0" -t "$SMK_SOURCE_DIR/etc/trust" -p pin \
	--type ec:secp256r1 --chr ZZSIMTEST00001 2>&1) && smk_fail "untrusted card accepted: $out"
smk_expect "untrusted chain" 'device chain.*\[trust\]' "$out"
grep -q '"cmd":"read"' "$LOG" || smk_fail "the chain was never read"
if grep -Eq '"cmd":"(verify|mse|ga|gakp)"' "$LOG"; then
	smk_fail "commands after a refused chain: $(grep -E '"cmd":"(verify|mse|ga)"' "$LOG")"
fi
smk_log "untrusted chain refused; no MSE, GA or VERIFY reached the card"

# 2. wrong PIN: tries left reported, PIN only under SM, nothing generated
out=$("$SMKEY" card genkey -r "$R0" -t trust -p badpin \
	--type ec:secp256r1 --chr ZZSIMTEST00001 2>&1) && smk_fail "wrong PIN accepted: $out"
smk_expect "wrong PIN" 'wrong PIN, 2 tries left' "$out"
grep -q '"cmd":"verify","sm":true' "$LOG" || smk_fail "no VERIFY under SM in the log"
if grep -q '"cmd":"verify","sm":false' "$LOG"; then
	smk_fail "a VERIFY went in plain"
fi
if grep -q '"cmd":"gakp"' "$LOG"; then
	smk_fail "GAKP sent after a refused PIN"
fi
smk_log "wrong PIN: '$(grep -o 'VERIFY PIN refused.*' <<<"$out")'"

# 3. two generations in one session, the card pulled and back in between
cat >between.sh <<EOF
#!/bin/sh
kill \$(cat "$SMK_TMP/sim.pid") && while kill -0 \$(cat "$SMK_TMP/sim.pid") 2>/dev/null; do sleep 0.1; done
setsid "$SMK_SIM" run --state "$SMK_TMP/card.json" --port $(smk_reader_port 0) \
	--control "$SMK_TMP/card2.ctl" --log "$SMK_TMP/card2.apdu.jsonl" \
	>"$SMK_TMP/card2.log" 2>&1 &
echo \$! >"$SMK_TMP/sim2.pid"
sleep 1.5
EOF
chmod +x between.sh
pid_var=SMK_SIM_PID_card
echo "${!pid_var}" >sim.pid
rc=0
out=$("$SMKEY" card genkey -r "$R0" -t trust -p pin --type ec:secp256r1 \
	--chr ZZSIMTEST00002 --label twice --count 2 --between ./between.sh \
	--pem-out second.pem 2>&1) || rc=$?
[ -s sim2.pid ] && SMK_PIDS+=("$(cat sim2.pid)")
[ $rc = 0 ] || smk_fail "two generations around a card removal: $out"
smk_expect "first key" '^key: +1$' "$out"
smk_expect "second key" '^key: +2$' "$out"
smk_expect "re-opened" '^opens: +2$' "$out"
grep -q '"cmd":"gakp"' card2.apdu.jsonl || smk_fail "second GAKP not on the re-inserted card"
grep -q '"cmd":"verify","sm":true' card2.apdu.jsonl ||
	smk_fail "the re-opened session did not verify the PIN under SM"
openssl pkey -pubin -in second.pem -noout || smk_fail "second key PEM unreadable"
smk_log "card removed and re-inserted between two generations: both keys made"

# 4. every GAKP under SM, in both simulator runs
all=$(cat "$LOG" card2.apdu.jsonl)
n_sm=$(grep -c '"cmd":"gakp","sm":true' <<<"$all" || true)
n_plain=$(grep -c '"cmd":"gakp","sm":false' <<<"$all" || true)
[ "$n_sm" = 2 ] || smk_fail "expected 2 GAKP under SM, log has $n_sm"
[ "$n_plain" = 0 ] || smk_fail "$n_plain GAKP in plain"
smk_log "simulator log: $n_sm GAKP, all under SM"

# 5. a card that does not answer: the caller gets a timeout at its deadline,
# not when pcscd finally returns; the next session works
"$SMK_SIM" ctl --control card2.ctl fault cmd=verify:late=4000 >/dev/null ||
	smk_fail "cannot arm the late fault"
start=$(date +%s%N)
out=$("$SMKEY" card info -r "$R0" -t trust -p pin --timeout 1000 2>&1) &&
	smk_fail "late card did not time out: $out"
ms=$((($(date +%s%N) - start) / 1000000))
smk_expect "late card" 'no answer from pcscd within 1000 ms.*\[timeout\]' "$out"
[ "$ms" -lt 3000 ] || smk_fail "timeout took ${ms} ms for a 1000 ms deadline"
# pcscd keeps the abandoned exclusive handle until the late answer arrives
for i in $(seq 20); do
	out=$("$SMKEY" card info -r "$R0" -t trust -p pin 2>&1) && break
	smk_expect "while the late command runs" 'in use by another PC/SC client' "$out"
	sleep 0.5
done
smk_expect "after the timeout" '^pin: +verified' "$out"
smk_log "late card: timeout after ${ms} ms; a new session works once the card answered"
smk_pass
