#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# OpenSC, an independent client, against smkey-sim through a private pcscd:
# the card is named a SmartCard-HSM, sc-hsm-tool initialises it, pkcs11-tool
# generates an EC P-256 and an RSA-2048 key, lists them, and signs; openssl
# verifies the signatures with the public keys pkcs11-tool exports, and the
# card's attestations (CE|id) verify and name those same keys.
. "$(dirname "$0")/lib.sh"
smk_enter_namespace "$@"

PIN=648219
SOPIN=3537363231383830
MODULE=${SMK_PKCS11_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
[ -e "$MODULE" ] || MODULE=$(find /usr/lib -name opensc-pkcs11.so -print -quit)
[ -n "$MODULE" ] || smk_fail "opensc-pkcs11.so not found (Debian: opensc-pkcs11)"
# OpenSC reads its config and caches from the home directory: keep them here
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_start_pcscd 1
smk_sim_init card 42
smk_sim_start card 0
smk_wait_card 0

p11() {
	pkcs11-tool --module "$MODULE" --slot-index 0 "$@"
}

out=$(opensc-tool --reader 0 --name 2>&1) || smk_fail "opensc-tool --name: $out"
smk_expect "opensc-tool --name" '^SmartCard-HSM' "$out"
smk_log "opensc-tool names the card: $out"

out=$(sc-hsm-tool --reader 0 --initialize --so-pin "$SOPIN" --pin "$PIN" --label smk-sim 2>&1) ||
	smk_fail "sc-hsm-tool --initialize: $out"
smk_log "sc-hsm-tool --initialize: ok"

out=$(p11 --login --pin "$PIN" --keypairgen --key-type EC:prime256v1 --id 01 --label ec-p256 2>&1) ||
	smk_fail "pkcs11-tool --keypairgen EC: $out"
smk_expect "keypairgen EC" 'Key pair generated' "$out"
out=$(p11 --login --pin "$PIN" --keypairgen --key-type rsa:2048 --id 02 --label rsa-2048 2>&1) ||
	smk_fail "pkcs11-tool --keypairgen RSA: $out"
smk_expect "keypairgen RSA" 'Key pair generated' "$out"
smk_log "pkcs11-tool generated EC P-256 and RSA-2048 keys"

out=$(p11 --login --pin "$PIN" -O 2>&1) || smk_fail "pkcs11-tool -O: $out"
smk_expect "list objects" 'Private Key Object; EC' "$out"
smk_expect "list objects" 'Private Key Object; RSA' "$out"
smk_expect "list objects" 'label: +ec-p256' "$out"
smk_expect "list objects" 'label: +rsa-2048' "$out"
smk_log "pkcs11-tool -O lists both keys"

echo "smkey-sim signs this with OpenSC" >msg.txt
sign_and_verify() {
	local id=$1 mech=$2 what=$3 v
	p11 --login --pin "$PIN" --sign --id "$id" -m "$mech" --input-file msg.txt \
		--output-file "sig-$id.bin" --signature-format openssl >"sign-$id.log" 2>&1 ||
		smk_fail "pkcs11-tool --sign $what: $(cat "sign-$id.log")"
	p11 --read-object --type pubkey --id "$id" --output-file "pub-$id.der" >/dev/null 2>&1 ||
		smk_fail "pkcs11-tool --read-object pubkey $id"
	openssl pkey -pubin -inform DER -in "pub-$id.der" -out "pub-$id.pem" ||
		smk_fail "exported public key $id is not a SubjectPublicKeyInfo"
	v=$(openssl dgst -sha256 -verify "pub-$id.pem" -signature "sig-$id.bin" msg.txt 2>&1) || true
	smk_expect "openssl verify $what" '^Verified OK$' "$v"
	# and a changed message must not verify
	echo tampered >>msg.txt
	v=$(openssl dgst -sha256 -verify "pub-$id.pem" -signature "sig-$id.bin" msg.txt 2>&1) || true
	smk_expect "openssl verify tampered $what" 'Verification failure' "$v"
	echo "smkey-sim signs this with OpenSC" >msg.txt
	smk_log "$what signature by the card: openssl says Verified OK"
}
sign_and_verify 01 ECDSA-SHA256 "ECDSA P-256"
sign_and_verify 02 SHA256-RSA-PKCS "RSA-2048 PKCS#1 v1.5"

# The card kept the authenticated CV request of each key in CE|id (read
# from its state file with smkey-sim show): it verifies against the pinned
# test root and attests the very key pkcs11-tool exported.
state_ef() {
	"$SMK_SIM" show --state "$SMK_TMP/card.json" --ef "$1"
}
SMKEY=$SMK_BUILD_DIR/smkey
[ -x "$SMKEY" ] || smk_fail "missing $SMKEY: build first"
state_ef 2F02 >chain.hex
for id in 01 02; do
	state_ef "CE$id" >"ce$id.hex"
	out=$("$SMKEY" cvc verify --chain chain.hex --request "ce$id.hex" --trust "$SMK_TMP/trust" 2>&1) ||
		smk_fail "smkey cvc verify CE$id: $out"
	smk_expect "attestation CE$id" 'request verified: key held by device ZZSIM00042' "$out"
	spki=$(openssl pkey -pubin -in "pub-$id.pem" -outform DER | sha256sum | cut -d' ' -f1)
	smk_expect "attested key of $id" "SPKI SHA-256 +$spki" "$out"
done
smk_log "CE01/CE02 attest the keys OpenSC generated (smkey cvc verify)"

out=$("$SMK_SIM" show --state "$SMK_TMP/card.json")
smk_expect "card summary" 'key 1: EC secp256r1, any algorithm' "$out"
smk_expect "card summary" 'key 2: RSA 2048, any algorithm' "$out"

stats=$(smk_ctl card stats)
smk_expect "simulator stats" '"gakp":\{"plain":2' "$stats"
smk_pass
