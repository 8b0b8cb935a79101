#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A relay that lies (notary mode): between the notary's SM commands it sends
# its own plain APDU to the far card, as a card host could, and hides the
# answer: first a SELECT of the applet, then (a separate case) a VERIFY
# asking the PIN status. A plain APDU ends the card's SM session, so the
# notary's protected GAKP that follows is refused (6988) and no key is made:
# the intent ends failed, nothing is archived, and the notary starts a new
# session from scratch (relay_lib.sh relay_check).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/relay_lib.sh"
smk_enter_namespace "$@"
relay_setup

nkeys() {
	python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$SMK_TMP/far.json"
}
for what in select verify; do
	keys0=$(nkeys)
	recs0=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
	relay_arm "inject-$what"
	relay_generate "inject-$what" && smk_fail "Generate succeeded although the relay ended the SM session: $RELAY_OUT"
	smk_expect "the relay's log" "injected plain 00(A4|20).* before 0C46.*card answered SW 6988" \
		"$(cat "$SMK_TMP/relay.log")"
	smk_log "plain $what injected: $(tail -n 1 <<<"$RELAY_OUT" | cut -c1-200)"
	relay_check
	[ "$(nkeys)" = $((keys0 + 1)) ] || smk_fail "inject-$what: the card made $(($(nkeys) - keys0)) keys, expected only the next one"
	[ "$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")" = $((recs0 + 1)) ] ||
		smk_fail "inject-$what: a record for the refused GAKP"
	smk_log "inject-$what: no key, intent failed, nothing archived for it"
done
smk_pass
