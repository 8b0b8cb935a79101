#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A relay that lies (notary mode): it flips one byte of the far card's
# protected GAKP on its way to the card, and, separately, one byte of the
# card's protected answer on its way back. The flipped command fails the
# card's MAC check: the card makes no key, so the notary archives none and
# the intent ends failed. The flipped answer fails the notary's MAC check:
# the card did make the key, the notary reads CE|id back under a new session
# and archives it only because that request verifies. Either way the session
# comes up again from scratch, the next key is archived and the audit is
# clean (relay_lib.sh relay_check).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/relay_lib.sh"
smk_enter_namespace "$@"
relay_setup

# a flipped command: the card refuses it, no key, the intent fails
keys0=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$SMK_TMP/far.json")
relay_arm flip-cmd
relay_generate flipcmd && smk_fail "Generate succeeded although its GAKP was altered: $RELAY_OUT"
smk_expect "the relay's log" 'flipped a byte of 0C46' "$(cat "$SMK_TMP/relay.log")"
smk_log "flipped GAKP: $(tail -n 1 <<<"$RELAY_OUT" | cut -c1-200)"
rid=$RELAY_RID
relay_check
[ "$(relay_outcome "$rid")" = failed ] || smk_fail "the flipped GAKP's intent is $(relay_outcome "$rid"), not failed"
keys1=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$SMK_TMP/far.json")
[ "$keys1" = $((keys0 + 1)) ] || smk_fail "the card holds $((keys1 - keys0)) new keys, expected only the one made after"
smk_log "flip-cmd: no key made, intent failed, no record"

# a flipped answer: the card made the key; the notary reads it back under SM
recs0=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
relay_arm flip-resp
relay_generate flipresp || smk_log "Generate with a flipped answer: $(tail -n 1 <<<"$RELAY_OUT" | cut -c1-200)"
smk_expect "the relay's log" 'flipped a byte of the answer to 0C46' "$(cat "$SMK_TMP/relay.log")"
smkd_wait_log 'GAKP answer lost'
rid=$RELAY_RID
relay_check
# the card made the key: archived from CE|id (relay_check matched it with the card)
[ "$(relay_outcome "$rid")" = committed ] || smk_fail "the key behind the flipped answer is $(relay_outcome "$rid")"
recs1=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
[ "$recs1" = $((recs0 + 2)) ] || smk_fail "expected 2 new records, got $((recs1 - recs0))"
smk_log "flip-resp: the key the card made is archived from CE|id read back under SM"
smk_pass
