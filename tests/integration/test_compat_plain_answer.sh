#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Security finding: a plain status word is not proof that nothing happened.
# Someone between host and card answers the GAKP with a bare 6982 while the
# card did make the key (smkey-sim fault cmd=gakp:plainsw=6982). smkeyd does
# not send the GAKP again: it reads CE|id back under a fresh session, finds
# its own request there and archives the key (tests/unit/test_session.c
# covers SIGN: not repeated either).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"

smk_one_card
smkd_config
smkd_start
smkd_wait_log 'ready'
smkd_wait_log 'archive key created'
LOG=$SMK_TMP/card1.apdu.jsonl

n0=$(grep -c '"cmd":"gakp"' "$LOG")
smk_ctl card1 fault cmd=gakp:plainsw=6982 >/dev/null || smk_fail "smkey-sim ctl fault"
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "forged"}' 2>&1) ||
	smk_fail "Generate with a forged plain answer to GAKP: $out"
n=$(grep -c '"cmd":"gakp"' "$LOG")
[ "$n" = $((n0 + 1)) ] || smk_fail "expected one GAKP for the request, the card saw $((n - n0))"
grep -q '"cmd":"gakp".*"fault":"plainsw"' "$LOG" || smk_fail "the fault never fired"
smkd_wait_log 'GAKP answer lost .*plain answer \(SW 6982.*read back from CE'
seq=$(smkd_json 'r["parameters"]["seq"]' <<<"$out")
smkd_json 'r["parameters"]["bundle"]' <<<"$out" >"$SMK_TMP/forged.bundle"
v=$(smkd_verify "$SMK_TMP/forged.bundle" 2>&1) || smk_fail "smkey verify: $v"
smk_log "plain 6982 to GAKP: one GAKP only, key read back from CE|id and archived as record $seq"

# the next request runs normally
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "after"}' 2>&1) ||
	smk_fail "Generate after the forged answer: $out"

smkd_stop
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean"
smk_pass
