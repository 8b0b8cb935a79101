#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# shellcheck disable=SC2154 # genkey below sets ID_<name> and KEY_<name> with printf -v
# Keys made by our session (under SM, with the PrKD written) are ordinary
# keys to OpenSC, an independent PKCS#11 client:
#  - `pkcs11-tool -O` lists them with our labels and the PrKD iDs;
#  - OpenSC signs with them, and the signatures verify with the public key
#    from the device-attested CV request (not with what OpenSC exports);
#  - a key whose algorithm list allows only ECDSA-SHA256 signs through
#    OpenSC but refuses ECDH, and keeps refusing when its PrKD is rewritten to
#    announce ECDH: the card enforces the list, not the metadata. A key whose
#    list includes ECDH derives, so the refusal is not a tooling artefact.
. "$(dirname "$0")/lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

SMKEY=$SMK_BUILD_DIR/smkey
PIN=648219
MODULE=${SMK_PKCS11_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
[ -e "$MODULE" ] || MODULE=$(find /usr/lib -name opensc-pkcs11.so -print -quit)
[ -n "$MODULE" ] || smk_fail "opensc-pkcs11.so not found (Debian: opensc-pkcs11)"
printf '%s\n' "$PIN" >pin
chmod 600 pin

smk_start_pcscd 1
smk_sim_init card 11
smk_sim_start card 0
smk_wait_card 0
READER=$("$SMKEY" card list | head -n1 | cut -f1)

# genkey NAME TYPE ALGS: a key with label NAME; sets ID_<NAME> to its PrKD
# iD and KEY_<NAME> to its key id
genkey() {
	local name=$1 type=$2 algs=$3 out id
	local args=(-r "$READER" -t trust -p pin --type "$type" --chr "ZZSIMTEST$RANDOM"
		--label "$name" --pem-out "$name.pem" --req-out "$name.cvreq")
	[ -n "$algs" ] && args+=(--alg "$algs")
	out=$("$SMKEY" card genkey "${args[@]}" 2>&1) || smk_fail "genkey $name: $out"
	id=$(sed -n 's/^prkd-id: *//p' <<<"$out" | tr 'A-F' 'a-f')
	[ ${#id} = 40 ] || smk_fail "genkey $name: no PrKD iD in: $out"
	printf -v "ID_${name//-/_}" '%s' "$id"
	printf -v "KEY_${name//-/_}" '%s' "$(sed -n 's/^key: *//p' <<<"$out")"
	smk_log "generated $name ($type${algs:+, $algs}): iD $id"
}

# OpenSC's ECDSA-SHA256 mechanism lets the card hash (algorithm 73), so a
# key restricted to ECDSA-SHA256 is usable through OpenSC
genkey ec-sha256only ec:secp256r1 ecdsa-sha256
genkey rsa-any rsa:2048 ""
genkey ec-dh ec:secp256r1 ecdsa-sha256,ecdh

p11() {
	pkcs11-tool --module "$MODULE" --slot-index 0 "$@"
}

out=$(p11 --login --pin "$PIN" -O 2>&1) || smk_fail "pkcs11-tool -O: $out"
for name in ec-sha256only rsa-any ec-dh; do
	smk_expect "pkcs11-tool -O" "label: +$name\$" "$out"
done
smk_expect "pkcs11-tool -O" 'Private Key Object; EC' "$out"
smk_expect "pkcs11-tool -O" 'Private Key Object; RSA' "$out"
smk_expect "pkcs11-tool -O" "ID: +$ID_ec_sha256only" "$out"
smk_expect "pkcs11-tool -O" "ID: +$ID_rsa_any" "$out"
# the public key OpenSC reads from CE|id pairs with our PrKD by iD
n=$(grep -c "ID: *$ID_ec_sha256only" <<<"$out")
[ "$n" -ge 2 ] || smk_fail "no public key object paired with ec-sha256only (iD seen $n times)"
smk_log "pkcs11-tool -O lists every key with its label, paired by iD"

echo "signed through OpenSC with an smkeyd key" >msg.txt
sign_verify() {
	local name=$1 id=$2 mech=$3 v
	p11 --login --pin "$PIN" --sign --id "$id" -m "$mech" --input-file msg.txt \
		--output-file "$name.sig" --signature-format openssl >"$name.sign.log" 2>&1 ||
		smk_fail "pkcs11-tool --sign $name: $(cat "$name.sign.log")"
	v=$(openssl dgst -sha256 -verify "$name.pem" -signature "$name.sig" msg.txt 2>&1) || true
	smk_expect "verify $name with the attested key" '^Verified OK$' "$v"
	v=$(openssl dgst -sha256 -verify "$name.pem" -signature "$name.sig" "$name.pem" 2>&1) || true
	smk_expect "verify $name over other data" 'Verification failure' "$v"
	smk_log "OpenSC signed with $name; the attested key verifies it"
}
sign_verify ec-sha256only "$ID_ec_sha256only" ECDSA-SHA256
sign_verify rsa-any "$ID_rsa_any" SHA256-RSA-PKCS

# ECDH: a peer key on the same curve
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out peer.key 2>/dev/null
openssl pkey -in peer.key -pubout -outform DER -out peer.der
derive() {
	p11 --login --pin "$PIN" --derive -m ECDH1-DERIVE --id "$1" --input-file peer.der \
		--output-file "$2" 2>&1
}
out=$(derive "$ID_ec_dh" dh.bin) || smk_fail "ECDH with ec-dh (list allows ecdh): $out"
[ -s dh.bin ] || smk_fail "ECDH with ec-dh produced nothing"
openssl pkeyutl -derive -inkey peer.key -peerkey ec-dh.pem -out dh.host.bin
cmp -s dh.bin dh.host.bin || smk_fail "card's ECDH secret differs from the host's"
smk_log "ec-dh derives through OpenSC (same secret as the host computes)"

out=$(derive "$ID_ec_sha256only" dh2.bin) && smk_fail "ECDH with ec-sha256only succeeded: $out"
smk_log "ec-sha256only refuses ECDH through OpenSC"

# announce ECDH in its PrKD: OpenSC now asks the card, and the card refuses
out=$("$SMKEY" card prkd -r "$READER" -t trust -p pin --id "$KEY_ec_sha256only" --label ec-sha256only \
	--alg ecdsa-sha256,ecdh 2>&1) || smk_fail "rewrite PrKD: $out"
before=$(grep -c '"cmd":"decipher"' card.apdu.jsonl || true)
out=$(derive "$ID_ec_sha256only" dh3.bin) && smk_fail "card did ECDH for ec-sha256only: $out"
after=$(grep -c '"cmd":"decipher"' card.apdu.jsonl || true)
[ "$after" -gt "$before" ] || smk_fail "OpenSC never asked the card for ECDH"
last=$(grep '"cmd":"decipher"' card.apdu.jsonl | tail -n1)
smk_expect "card's answer to ECDH" '"sw":"6A81"|"sw":"6985"' "$last"
smk_log "with ECDH announced in the PrKD the card itself refuses: $last"
smk_pass
