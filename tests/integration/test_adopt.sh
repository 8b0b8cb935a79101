#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Keys made elsewhere: OpenSC's pkcs11-tool generates two EC keys
# on the simulator; a certificate is written over the second one's CE|id.
#
#  - `smkey inspect` flags both as not archived: the first with the hint to
#    adopt it while its CV request is still in CE|id, the second as one
#    which nothing proves the device holds;
#  - `smkey adopt` archives the first (kind adopted), inspect then shows it
#    archived; `smkey verify` on its bundle says ADOPTED and names no
#    policy; `smkey audit` is clean and counts it;
#  - adopting the second fails saying the attestation is gone, and nothing
#    is archived; adopting the first again is refused;
#  - a user outside admin-groups may neither inspect nor adopt; a member of
#    an admin group may inspect.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
# nobody runs these: copies it can read wherever the tree is (smk_shared_copy)
SMKEY=$(smk_shared_copy "$SMKEY")
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_one_card

# ---- keys made by OpenSC, before smkeyd holds the card ----
p11() { pkcs11-tool --module "$SMKD_P11" --slot-index 0 --login --pin "$SMKD_PIN" "$@"; }
out=$(p11 --keypairgen --key-type EC:prime256v1 --label opensc-kept 2>&1) ||
	smk_fail "pkcs11-tool --keypairgen opensc-kept: $out"
out=$(p11 --keypairgen --key-type EC:prime256v1 --label opensc-certified 2>&1) ||
	smk_fail "pkcs11-tool --keypairgen opensc-certified: $out"
objs=$(p11 -O 2>&1) || smk_fail "pkcs11-tool -O: $objs"
cert_id=$(awk '/label: +opensc-certified$/{f=1} f && /ID:/{print $2; exit}' <<<"$objs")
[ -n "$cert_id" ] || smk_fail "no ID for opensc-certified in: $objs"
p11 --read-object --type pubkey --id "$cert_id" --output-file certified.pub.der >/dev/null 2>&1 ||
	smk_fail "cannot read opensc-certified's public key"
# a certificate for that key (signed by a software CA: what a CA would
# send back), written where OpenSC keeps certificates: over the key's CE|id
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
	-subj /CN=ca -days 2 -out ca.pem 2>/dev/null
openssl pkey -pubin -inform DER -in certified.pub.der -out certified.pub.pem
openssl x509 -new -force_pubkey certified.pub.pem -subj "/CN=opensc-certified" -CA ca.pem \
	-CAkey ca.key -days 2 -outform DER -out certified.der 2>/dev/null ||
	smk_fail "cannot make a certificate for opensc-certified"
out=$(p11 --write-object certified.der --type cert --id "$cert_id" --label opensc-certified 2>&1) ||
	smk_fail "pkcs11-tool --write-object cert: $out"
smk_log "OpenSC made opensc-kept and opensc-certified; a certificate now sits in opensc-certified's CE"

# ---- smkeyd, with an admin group ----
smkd_config "admin-groups: [adm]"
smkd_start
smkd_wait_log 'ready'
S=(--socket "$SMKD_SOCK")
dev=$(smkd_call io.smkeyd.ListDevices '{}' | smkd_json 'r["parameters"]["devices"][0]["serial"]')
chmod 0711 "$SMK_TMP"

inspect_json() { "$SMKEY" inspect "${S[@]}" --device "$dev" --json; }
# key_field LABEL EXPR: EXPR over the inspect object labelled LABEL (bound to o)
key_field() {
	inspect_json | python3 -c '
import json, sys
objs = [o for o in json.load(sys.stdin)["objects"] if o.get("label") == sys.argv[1]]
o = objs[0] if objs else {}
print(eval(sys.argv[2]))' "$1" "$2"
}
out=$("$SMKEY" inspect "${S[@]}" --device "$dev" 2>&1) || smk_fail "smkey inspect: $out"
smk_expect "inspect" 'opensc-kept .* NOT ARCHIVED' "$out"
smk_expect "inspect" 'opensc-certified .* x509 .* NOT ARCHIVED' "$out"
smk_expect "inspect" 'smkeyd-archive .* record 0 \(archive_key\)' "$out"
kept_id=$(key_field opensc-kept 'o["key_id"]')
[ "$(key_field opensc-kept 'o["ce"]')" = cv_request ] || smk_fail "opensc-kept's CE is not a CV request"
smk_expect "inspect hint for opensc-kept" \
	"adopt it while its CV request is still in CE\|id: smkey adopt --device $dev --key-id $kept_id" \
	"$(key_field opensc-kept 'o["hint"]')"
cert_kid=$(key_field opensc-certified 'o["key_id"]')
smk_expect "inspect hint for opensc-certified" 'CV request is gone: nothing proves the device holds it' \
	"$(key_field opensc-certified 'o["hint"]')"
smk_expect "inspect certificate subject" 'opensc-certified' \
	"$(key_field opensc-certified 'o["certificate_subject"]')"
smk_log "inspect: key $kept_id opensc-kept adoptable, key $cert_kid opensc-certified not (x509 in CE)"
printf '%s\n' "$out" >&2

# ---- who may ----
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMKEY" adopt "${S[@]}" \
	--device "$dev" --key-id "$kept_id" 2>&1) && smk_fail "nobody adopted a key: $out"
smk_expect "nobody's adopt" 'not allowed' "$out"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMKEY" inspect "${S[@]}" \
	--device "$dev" 2>&1) && smk_fail "nobody inspected the card: $out"
smk_expect "nobody's inspect" 'not allowed' "$out"
out=$(setpriv --reuid=nobody --regid=adm --clear-groups "$SMKEY" inspect "${S[@]}" \
	--device "$dev" 2>&1) || smk_fail "nobody:adm (admin-groups) cannot inspect: $out"
[ "$(sqlite3 archive.db 'SELECT count(*) FROM records')" = 1 ] || smk_fail "a refusal archived something"
smk_log "nobody:nogroup may neither adopt nor inspect; nobody:adm (admin group) may inspect"

# ---- adopt ----
out=$("$SMKEY" adopt "${S[@]}" --device "$dev" --key-id "$kept_id" -o adopted.bundle.json 2>&1) ||
	smk_fail "smkey adopt: $out"
smk_expect "smkey adopt" "adopted key $kept_id of $dev as record 1" "$out"
smk_expect "smkey adopt" 'proven: +the key is held by device' "$out"
if grep -qi 'generated in' <<<"$out"; then
	smk_fail "smkey adopt claims where the key was generated: $out"
fi
smk_expect "smkey adopt" 'not proven: +where the key was made, policy, algorithm list and' "$out"
[ "$(key_field opensc-kept 'o["archived"]')" = True ] || smk_fail "inspect does not show opensc-kept archived"
[ "$(key_field opensc-kept 'o["record_kind"]')" = adopted ] || smk_fail "opensc-kept's record is not adopted"
smk_log "adopted key $kept_id as record 1; inspect shows it archived (adopted)"
printf '%s\n' "$out" >&2

v=$(smkd_verify adopted.bundle.json 2>&1) || smk_fail "smkey verify adopted bundle: $v"
smk_expect "verify adopted" 'ADOPTED' "$v"
if grep -qi '^ *policy' <<<"$v"; then
	smk_fail "verify of an adopted record shows a policy line: $v"
fi
smk_log "smkey verify: $(grep -m1 ADOPTED <<<"$v")"

# ---- not adoptable ----
out=$("$SMKEY" adopt "${S[@]}" --device "$dev" --key-id "$cert_kid" 2>&1) &&
	smk_fail "a key whose CE holds a certificate was adopted: $out"
smk_expect "adopt opensc-certified" 'X.509 certificate: the CV request that proved the device holds the key was overwritten and cannot be recovered' "$out"
smk_expect "adopt opensc-certified" 'nothing was archived' "$out"
out=$(setpriv --reuid=nobody --regid=adm --clear-groups "$SMKEY" adopt "${S[@]}" \
	--device "$dev" --key-id "$kept_id" 2>&1) && smk_fail "a key was adopted twice: $out"
smk_expect "adopt twice" 'cannot be adopted: .*record 1' "$out"
[ "$(sqlite3 archive.db 'SELECT count(*) FROM records')" = 2 ] || smk_fail "a refused adoption archived something"
smk_log "not adoptable: key $cert_kid (certificate in CE), key $kept_id again (already record 1)"
printf '%s\n' "$out" >&2

smkd_stop
out=$("$SMKEY" audit archive.db --trust trust 2>&1) || smk_fail "smkey audit: $out"
smk_expect "audit" 'adopted' "$out"
smk_log "smkey audit: clean; $(grep -m1 -i adopted <<<"$out")"
smk_pass
