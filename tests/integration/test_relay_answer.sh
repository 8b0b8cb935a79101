#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A relay that lies (notary mode): it answers the notary's protected GAKP
# itself with a made-up protected answer (random cryptogram, status 9000,
# random MAC) and never forwards the command. The notary refuses the answer
# (its MAC does not verify), finds no key of its own in CE|id under a new
# session, and closes the intent as failed: no record, no key on the card;
# then relay_lib.sh relay_check.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/relay_lib.sh"
smk_enter_namespace "$@"
relay_setup

nkeys() {
	python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$SMK_TMP/far.json"
}
keys0=$(nkeys)
gakp0=$(relay_count gakp)
recs0=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
relay_arm answer-self
relay_generate madeup && smk_fail "Generate succeeded on an answer the card never gave: $RELAY_OUT"
smk_expect "the relay's log" 'answered 0C46.* itself' "$(cat "$SMK_TMP/relay.log")"
[ "$(relay_count gakp)" = "$gakp0" ] || smk_fail "the card saw the GAKP the relay said it kept"
smk_log "made-up answer: $(tail -n 1 <<<"$RELAY_OUT" | cut -c1-200)"
relay_check
[ "$(nkeys)" = $((keys0 + 1)) ] || smk_fail "the card made $(($(nkeys) - keys0)) keys, expected only the next one"
[ "$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")" = $((recs0 + 1)) ] ||
	smk_fail "a record for the GAKP the card never saw"
smk_log "answer-self: intent failed, no key, nothing archived for it"
smk_pass
