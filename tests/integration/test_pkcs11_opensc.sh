#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# OpenSC's pkcs11-tool through libsmkey-pkcs11.so, while an `smkey generate`
# runs beside it:
#  - it lists the APK key as a private key (sensitive, never extractable),
#    a public key and the imported certificate, all three under one ID;
#  - it signs with ECDSA-SHA256 (the card hashes) and ECDSA (a hash from the
#    host), and the signatures verify with the key the bundle attests;
#    smkeyd logged each one as a signature record;
#  - the archive key is no object, cannot be named, and smkeyd refuses to
#    sign with it when asked directly;
#  - a uid the policy's sign: rule does not name sees no key at all (the
#    refusal of its Sign, CKR_FUNCTION_REJECTED, is in tests/unit/test_pkcs11.c).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"
command -v pkcs11-tool >/dev/null || smk_fail "missing pkcs11-tool (Debian: opensc)"

p11_setup
p11() {
	p11_host pkcs11-tool --module "$P11_MODULE" "$@"
}

p11_bg_generate bg1
out=$(p11 -O 2>&1) || smk_fail "pkcs11-tool -O: $out"
p11_bg_wait
smk_expect "pkcs11-tool -O" 'Private Key Object; EC' "$out"
smk_expect "pkcs11-tool -O" 'Public Key Object; EC' "$out"
smk_expect "pkcs11-tool -O" 'Certificate Object; type = X.509 cert' "$out"
smk_expect "pkcs11-tool -O" "label: +$P11_LABEL\$" "$out"
smk_expect "pkcs11-tool -O" 'Access: +sensitive, always sensitive, never extractable' "$out"
smk_expect "pkcs11-tool -O" 'subject: +DN: CN=Release key' "$out"
id=$(sed -n '/Certificate Object/,/ID:/s/^ *ID: *//p' <<<"$out" | head -n1)
[ "$(grep -c "ID: *$id\$" <<<"$out")" -ge 3 ] ||
	smk_fail "private key, public key and certificate do not share the ID $id: $out"
grep -q 'smkeyd-archive' <<<"$out" && smk_fail "the archive key is an object: $out"
smk_log "pkcs11-tool -O: key, public key and certificate under ID $id; no archive key"

echo "release 1.2.3 signed through the PKCS#11 module" >msg.txt
before=$(p11_signatures)
for mech in ECDSA-SHA256 ECDSA; do
	in=msg.txt
	if [ "$mech" = ECDSA ]; then
		openssl dgst -sha256 -binary msg.txt >msg.sha256
		in=msg.sha256
	fi
	p11_bg_generate "bg-$mech"
	out=$(p11 --sign -m "$mech" --label "$P11_LABEL" -i "$in" -o "$mech.sig" \
		--signature-format openssl 2>&1) || smk_fail "pkcs11-tool --sign -m $mech: $out"
	p11_bg_wait
	v=$(openssl dgst -sha256 -verify key.pem -signature "$mech.sig" msg.txt 2>&1) || true
	smk_expect "verify the $mech signature with the attested key" '^Verified OK$' "$v"
	v=$(openssl dgst -sha256 -verify key.pem -signature "$mech.sig" cert.pem 2>&1) || true
	smk_expect "verify the $mech signature over other data" 'Verification failure' "$v"
	smk_log "pkcs11-tool signed with $mech; the attested key verifies it"
done
after=$(p11_signatures)
[ "$after" -eq $((before + 2)) ] || smk_fail "signature records: $before before, $after after two signatures"

# the archive key: no object to name, and Sign refuses it whatever the caller
read -r akey alabel < <(smkd_call io.smkeyd.ListRecords '{"since": 0, "limit": 10}' |
	smkd_json '[("%d %s" % (x["seq"], x["label"])) for x in r["parameters"]["records"] if x["kind"] == "archive_key"][0]')
grep -q "label: *$alabel\$" <<<"$(p11 -O 2>&1)" && smk_fail "the archive key ($alabel) is an object"
# an exact search by its label finds nothing to sign with (p11bench searches
# CKO_PRIVATE_KEY + CKA_LABEL and signs; pkcs11-tool would take another key)
out=$("$SMK_BUILD_DIR/p11bench" "$P11_MODULE" "$alabel" 1 2>&1) &&
	smk_fail "signed with the archive key through the module: $out"
smk_expect "p11bench with the archive key's label" 'no private key with that label' "$out"
out=$(smkd_call io.smkeyd.Sign "{\"seq\": $akey, \"algorithm\": \"ecdsa-sha256\", \"data\": \"aGk=\"}" 2>&1) || true
smk_expect "Sign with the archive key (record $akey)" 'io.smkeyd.PolicyDenied' "$out"
smk_log "the archive key (record $akey) is no object and Sign refuses it"

# a uid no sign: rule names: smkeyd refuses, the module says CKR_FUNCTION_REJECTED
MOD=$(smk_shared_copy "$P11_MODULE")
chmod 0711 "$SMK_TMP"
out=$(p11_host setpriv --reuid=65534 --regid=65534 --clear-groups env SMKEYD_SOCKET="$SMKD_SOCK" \
	pkcs11-tool --module "$MOD" -O 2>&1) || smk_fail "pkcs11-tool -O as nobody: $out"
grep -q "$P11_LABEL" <<<"$out" && smk_fail "nobody sees $P11_LABEL as a signing key: $out"
smk_log "a uid no sign: rule names sees no key"
smk_pass
