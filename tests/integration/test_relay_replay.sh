#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A relay that lies (notary mode): it forwards the far card's protected GAKP
# but hands the notary the card's answer to the previous GAKP, a genuine
# protected answer holding an earlier key's CV request. Its MAC was made
# for an older send sequence counter, so the notary refuses it as a lost
# answer, reads CE|id back under a new session and archives the key the
# card really made, never the earlier key a second time; then relay_check.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/relay_lib.sh"
smk_enter_namespace "$@"
relay_setup

recs0=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
relay_arm replay
relay_generate replayed || smk_log "Generate with a replayed answer: $(tail -n 1 <<<"$RELAY_OUT" | cut -c1-200)"
smk_expect "the relay's log" 'replayed an earlier answer .* to 0C46' "$(cat "$SMK_TMP/relay.log")"
smkd_wait_log 'GAKP answer lost'
relay_check
recs1=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
[ "$recs1" = $((recs0 + 2)) ] ||
	smk_fail "expected the replayed request's key and the next one archived, got $((recs1 - recs0)) records"
smk_log "replay: the key the card made is archived from CE|id, the replayed request is not archived twice"
smk_pass
