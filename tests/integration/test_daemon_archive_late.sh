#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The archive key's device is out when smkeyd starts. The archive key lives
# on ZZSIM00001 (record 0); smkeyd is restarted with that card's simulator
# stopped (its reader empty): Generate is refused with DeviceUnavailable
# naming the archive key, while the other HSM is up. Once the card is back
# the worker brings its session up (retry with backoff), checks that it
# holds record 0's key, and makes it the archive device: within the retry
# time Generate succeeds, its bundle verifies, and the audit is clean.
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
smkd_config 'archive-key: {device: ZZSIM00001}'
smkd_start
smkd_wait_log 'ready'
smkd_wait_log 'archive key created.*device=ZZSIM00001'
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "first"}') ||
	smk_fail "Generate with both cards in: $out"
smkd_stop
smk_log "first start: archive key made on ZZSIM00001, one key archived"

smk_sim_stop card1
smk_wait_no_card 0
: >"$SMK_TMP/smkeyd.log"
smkd_start
smkd_wait_log 'ready'
smkd_wait_log 'reader empty at start'
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "early"}' 2>&1) &&
	smk_fail "Generate without the archive key's card succeeded: $out"
smk_expect "Generate without the archive key" 'io.smkeyd.DeviceUnavailable' "$out"
smk_expect "DeviceUnavailable names the archive key" "archive key's device ZZSIM00001 is not up" "$out"
smk_log "archive key's card out: $(tail -n 1 <<<"$out" | cut -c1-160)"

smk_sim_start card1 0
smk_wait_card 0
# retry: {min: 1, max: 5}: the card must be taken up within a few retries
ok=
for _ in $(seq 60); do
	if out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "late"}' 2>&1); then
		ok=1
		break
	fi
	smk_expect "Generate while the card comes back" 'io.smkeyd.DeviceUnavailable' "$out"
	sleep 0.5
done
[ -n "$ok" ] || smk_fail "Generate never succeeded after the archive key's card came back: $out"
smkd_wait_log 'archive key 1 is up on ZZSIM00001'
smkd_json 'r["parameters"]["bundle"]' <<<"$out" >"$SMK_TMP/late.bundle"
v=$(smkd_verify "$SMK_TMP/late.bundle" 2>&1) || smk_fail "smkey verify: $v"
smk_log "the card came back; the archive key was taken up; Generate answered, bundle verifies"

smkd_stop
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean"
smk_pass
