#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A relay that lies (notary mode): halfway through a key's life, at the
# notary's protected GAKP, it swaps in a second genuine simulated card (same
# simulator CA, its own DevAut) without telling the reader. The second card
# has no SM session and refuses the GAKP (6988); the notary's new session
# finds another DevAut and refuses it: no PIN goes to that card, no key, nothing is archived, and
# the intent stays open while the notary cannot tell what the first card did.
# When the first card is back (reinserted), the open intent is settled by
# the recovery rules (CE|id read back: no key of ours, so failed), then
# relay_lib.sh relay_check.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/relay_lib.sh"
smk_enter_namespace "$@"
RELAY_SWAP=swap
relay_setup

recs0=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
relay_arm swap
relay_generate swapped && smk_fail "Generate succeeded on a swapped card: $RELAY_OUT"
smk_expect "the relay's log" 'swapped in the second card at 0C46' "$(cat "$SMK_TMP/relay.log")"
smk_log "swapped card: $(tail -n 1 <<<"$RELAY_OUT" | cut -c1-200)"
smkd_wait_log "$RELAY_OTHER"
sleep 2
# the relay handed the protected GAKP to the other card, which had no
# session: refused, no key; and the notary sent it no PIN
grep -q '"cmd":"gakp".*"sw":"6988"' "$SMK_TMP/other.apdu.jsonl" || smk_fail "the other card never saw the GAKP"
grep -q '"cmd":"verify"' "$SMK_TMP/other.apdu.jsonl" && smk_fail "the notary sent a VERIFY to the swapped-in card"
keys=$(python3 -c 'import json,sys; print(sorted(json.load(open(sys.argv[1]))["keys"]))' "$SMK_TMP/other.json")
[ "$keys" = "['0']" ] || smk_fail "the swapped-in card holds keys $keys"
[ "$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")" = "$recs0" ] ||
	smk_fail "a record while the wrong card was behind the relay"
st=$(relay_state "$RELAY_FAR")
[ "$st" != up ] || smk_fail "$RELAY_FAR is up although another card answers for it"
smk_log "while swapped: $RELAY_FAR $st, no record, no PIN and no key on the other card; open intents: $(relay_open_intents)"

rid=$RELAY_RID
[ "$(relay_outcome "$rid")" = open ] || smk_fail "the swapped request is $(relay_outcome "$rid") while the notary cannot ask its card"
kill -USR2 "$RELAY_PID"
smk_expect "the relay's log" 'swap ended' "$(sleep 1; cat "$SMK_TMP/relay.log")"
relay_check
[ "$(relay_outcome "$rid")" = failed ] || smk_fail "the swapped request is $(relay_outcome "$rid"), not failed"
[ "$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")" = $((recs0 + 1)) ] ||
	smk_fail "a record for the GAKP the swapped card refused"
smk_log "swap: nothing archived for the swapped request, settled once the first card was back"
smk_pass
