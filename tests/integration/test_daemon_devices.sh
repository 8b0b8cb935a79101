#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Devices that go away and come back: with two HSMs, one is pulled (its
# simulator stops). A request pinned to it fails with the reason and the
# device is marked down; requests that may go anywhere still succeed on the
# other HSM; once the card is back the worker brings the session up again
# on its own (retry with backoff) and the pinned request succeeds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"

smk_start_pcscd 1
smk_sim_init card1 1
smk_sim_init card2 2
smk_sim_start card1 0
smk_sim_start card2 1
smk_wait_card 0
smk_wait_card 1
smkd_config
smkd_start
smkd_wait_log 'ready'
dev2=ZZSIM00002

smk_sim_stop card2
smk_wait_no_card 1
out=$(smkd_call io.smkeyd.Generate "{\"policy\": \"release-apk\", \"label\": \"pinned\", \"device\": \"$dev2\"}" 2>&1) &&
	smk_fail "Generate on a pulled card succeeded: $out"
smk_expect "Generate on a pulled card" 'io.smkeyd.(GenerationFailed|DeviceUnavailable)' "$out"
smk_log "pinned to the pulled card: $(tail -n 1 <<<"$out" | cut -c1-160)"
out=$(smkd_call io.smkeyd.ListDevices '{}')
state=$(smkd_json "[d['state'] for d in r['parameters']['devices'] if d['serial'] == '$dev2'][0]" <<<"$out")
[ "$state" = down ] || smk_fail "$dev2 is $state after its card was pulled: $out"
smk_log "ListDevices: $dev2 down, last error: $(smkd_json "[d['last_error'] for d in r['parameters']['devices'] if d['serial'] == '$dev2'][0]" <<<"$out" | cut -c1-120)"

out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "elsewhere"}') ||
	smk_fail "Generate with one card down: $out"
smk_expect "Generate with one card down" '"device": "ZZSIM00001"' "$out"
smk_log "an unpinned request goes to the HSM that is up"

smk_sim_start card2 1
smk_wait_card 1
for _ in $(seq 100); do
	out=$(smkd_call io.smkeyd.ListDevices '{}')
	state=$(smkd_json "[d['state'] for d in r['parameters']['devices'] if d['serial'] == '$dev2'][0]" <<<"$out")
	[ "$state" = up ] && break
	sleep 0.2
done
[ "$state" = up ] || smk_fail "$dev2 did not come back: $out"
smkd_wait_log 'device up again.*device=ZZSIM00002'
out=$(smkd_call io.smkeyd.Generate "{\"policy\": \"release-apk\", \"label\": \"back\", \"device\": \"$dev2\"}") ||
	smk_fail "Generate on the card that came back: $out"
smk_expect "Generate on the card that came back" "\"device\": \"$dev2\"" "$out"
smk_log "the card came back; the worker reopened its session; the pinned request succeeds"

smkd_stop
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_expect "audit" 'failed request' "$out"
smk_log "smkey audit: clean; the failed request is listed as failed"
smk_pass
