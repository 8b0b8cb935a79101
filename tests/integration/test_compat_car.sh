#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A card that fills in its own device name as inner CAR when the GAKP has
# none (smkey-sim --quirk car-from-device, as another SmartCard-HSM
# implementation does). smkeyd always sends a CAR (the default UTCA00001, or
# the policy's car:), the card echoes it, and key generation works end to
# end: the archive key and a policy key, each CV request carrying the CAR
# smkeyd sent, bundles verifying, the audit clean. Without a CAR in the
# GAKP the echo check would refuse the request and delete the key.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"

smk_one_card --quirk car-from-device
smkd_config
# one policy names its own CAR
sed -i 's/^name: firmware-rsa$/&\ncar: DESRCACC100001/' "$SMK_TMP/policies.d/firmware-rsa.yaml"
grep -q '^car: DESRCACC100001$' "$SMK_TMP/policies.d/firmware-rsa.yaml" ||
	smk_fail "could not add car: to firmware-rsa.yaml"
smkd_start
smkd_wait_log 'ready'
smkd_wait_log 'archive key created'
smk_log "the archive key was made on a card that fills in its own CAR"

car_of() { # car_of REQUEST_ID: the inner CAR of the archived CV request
	"$SMKEY" export "$1" --cvreq --socket "$SMKD_SOCK" -o "$SMK_TMP/$1.cvreq" ||
		smk_fail "smkey export --cvreq $1"
	"$SMKEY" cvc dump "$SMK_TMP/$1.cvreq" | sed -n 's/^ *CAR (42) *//p' | head -n 1
}

for spec in "release-apk UTCA00001" "firmware-rsa DESRCACC100001"; do
	read -r policy want <<<"$spec"
	out=$(smkd_call io.smkeyd.Generate "{\"policy\": \"$policy\", \"label\": \"car\"}" 2>&1) ||
		smk_fail "Generate $policy on a card that fills in its CAR: $out"
	rid=$(smkd_json 'r["parameters"]["request_id"]' <<<"$out")
	smkd_json 'r["parameters"]["bundle"]' <<<"$out" >"$SMK_TMP/$policy.bundle"
	v=$(smkd_verify "$SMK_TMP/$policy.bundle" 2>&1) ||
		smk_fail "smkey verify $policy: $v"
	car=$(car_of "$rid")
	smk_expect "inner CAR of the $policy request" "^$want\$" "$car"
	smk_log "$policy: key made, CV request carries CAR $car (sent by smkeyd), bundle verifies"
done
car=$(car_of "$(smkd_call io.smkeyd.GetRecord '{"seq": 0}' | smkd_json 'r["parameters"]["record"]["request_id"]')")
smk_expect "inner CAR of the archive key's request" '^UTCA00001$' "$car"
# the card would have named itself: no request carries the device CHR as CAR
grep -q 'request refused\|inner CAR' "$SMK_TMP/smkeyd.log" && smk_fail "a request was refused: $(grep 'inner CAR' "$SMK_TMP/smkeyd.log")"

smkd_stop
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean"
smk_pass
