#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Making the archive key fails at the first start: the card refuses GAKP
# (smkey-sim --fault cmd=gakp:sw=6A84:times=0, every time). smkeyd stays up:
# `smkey devices` shows the device down and why, the log says so,
# Generate answers DeviceUnavailable with the reason, and the device is
# retried with backoff. When the fault clears, the retry makes the archive
# key (record 0) and keys are generated; the audit is clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"

smk_one_card --fault cmd=gakp:sw=6A84:times=0
smkd_config
smkd_start
smkd_wait_log 'ready'
smkd_wait_log 'device down: creating the archive key on ZZSIM00001: .*6A84'
kill -0 "$SMKD_PID" 2>/dev/null || smk_fail "smkeyd exited: $(tail -n 5 "$SMK_TMP/smkeyd.log")"

out=$("$SMKEY" devices --socket "$SMKD_SOCK" 2>&1) || smk_fail "smkey devices: $out"
smk_expect "smkey devices" '^ZZSIM00001 +(down|busy) ' "$out"
smk_expect "smkey devices: why" 'last error: creating the archive key on ZZSIM00001: .*GAKP refused, SW 6A84' "$out"
smk_log "smkey devices: $(grep 'last error' <<<"$out" | cut -c1-150)"

out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "early"}' 2>&1) &&
	smk_fail "Generate without an archive key succeeded: $out"
smk_expect "Generate without an archive key" 'io.smkeyd.DeviceUnavailable' "$out"
smk_expect "DeviceUnavailable names the reason" 'creating the archive key on ZZSIM00001.*6A84' "$out"
# retried as a device that is down: the card is asked again
n0=$(grep -c '"cmd":"gakp"' "$SMK_TMP/card1.apdu.jsonl")
for _ in $(seq 100); do
	n=$(grep -c '"cmd":"gakp"' "$SMK_TMP/card1.apdu.jsonl")
	[ "$n" -gt "$n0" ] && break
	sleep 0.1
done
[ "$n" -gt "$n0" ] || smk_fail "the device was not retried (GAKP count stayed $n0)"
kill -0 "$SMKD_PID" 2>/dev/null || smk_fail "smkeyd exited"
smk_log "Generate answers DeviceUnavailable with the card's reason; the device is retried"

smk_ctl card1 clear >/dev/null || smk_fail "smkey-sim ctl clear"
ok=
for _ in $(seq 60); do
	if out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "late"}' 2>&1); then
		ok=1
		break
	fi
	smk_expect "Generate while the fault clears" 'io.smkeyd.DeviceUnavailable' "$out"
	sleep 0.5
done
[ -n "$ok" ] || smk_fail "Generate never succeeded after the fault cleared: $out"
smkd_wait_log 'archive key created'
smkd_wait_log 'is up on ZZSIM00001'
smkd_json 'r["parameters"]["bundle"]' <<<"$out" >"$SMK_TMP/late.bundle"
v=$(smkd_verify "$SMK_TMP/late.bundle" 2>&1) || smk_fail "smkey verify: $v"
out=$("$SMKEY" devices --socket "$SMKD_SOCK" 2>&1) || smk_fail "smkey devices: $out"
smk_expect "smkey devices after the fault" '^ZZSIM00001 +(up|busy) ' "$out"
smk_log "fault cleared: archive key made, Generate answered, bundle verifies, device up"

smkd_stop
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean"
smk_pass
