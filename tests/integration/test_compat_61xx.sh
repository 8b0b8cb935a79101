#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A card that answers the plain READ BINARY of EF 2F02 with 256 bytes and SW
# 61xx (ISO 7816-4 "more data"), serving the rest through GET RESPONSE
# (smkey-sim --quirk read-61xx, as another SmartCard-HSM implementation
# does). The host fetches the rest before it validates the chain: `smkey
# card info` and smkeyd both open sessions, the archive key and a policy key
# are made, the bundle verifies; the APDU log shows the GET RESPONSE, in
# plain, before the chip authentication.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"

smk_one_card --quirk read-61xx
smkd_config
LOG=$SMK_TMP/card1.apdu.jsonl
R0=$("$SMKEY" card find) || smk_fail "smkey card find: no card"

out=$("$SMKEY" card info -r "$R0" -t "$SMK_TMP/trust" -p "$SMK_TMP/pin" 2>&1) ||
	smk_fail "smkey card info on a card answering 61xx: $out"
smk_expect "smkey card info" 'ZZSIM00001' "$out"
# READ 2F02 answered 61xx, then GET RESPONSE (plain), and only then MSE / GA
seq=$(grep -Eo '"cmd":"(read|get-response|mse|ga)","sm":(true|false)' "$LOG" |
	sed 's/"cmd":"\([a-z-]*\)","sm":\(.*\)/\1:\2/' | head -n 4 | paste -sd' ')
smk_expect "APDU order" '^read:false get-response:false read:false mse:false' "$seq"
grep -q '"cmd":"read","sm":false,"header":"00B12F02".*"sw":"61' "$LOG" ||
	smk_fail "READ BINARY 2F02 was not answered 61xx: $(grep '"cmd":"read"' "$LOG" | head -n 2)"
smk_log "smkey card info: chain read through 61xx + GET RESPONSE ($seq)"

smkd_start
smkd_wait_log 'ready'
smkd_wait_log 'archive key created'
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "more"}' 2>&1) ||
	smk_fail "Generate on a card answering 61xx: $out"
smkd_json 'r["parameters"]["bundle"]' <<<"$out" >"$SMK_TMP/more.bundle"
v=$(smkd_verify "$SMK_TMP/more.bundle" 2>&1) || smk_fail "smkey verify: $v"
n=$(grep -c '"cmd":"get-response","sm":false' "$LOG")
[ "$n" -ge 2 ] || smk_fail "expected GET RESPONSE from smkey card info and smkeyd, saw $n"
smk_log "smkeyd: session up, archive key and a release-apk key made, bundle verifies"

smkd_stop
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean"
smk_pass
