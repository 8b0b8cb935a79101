#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# DKEK key domains, WRAP KEY and UNWRAP KEY of smkey-sim driven by OpenSC, an
# independent client, through a private pcscd with two simulated cards:
# sc-hsm-tool initialises both cards with one DKEK share, the same share goes
# into each (MANAGE KEY DOMAIN through opensc-tool); pkcs11-tool generates a key on
# card A, sc-hsm-tool wraps it there and unwraps it on card B, and the key
# signs on B what openssl verifies with A's public key. Then the attack of
# key import: whoever holds the share makes a key in software
# (smkey-sim wrap builds the blob, sc-hsm-tool imports it), and card B, run
# with --attest-imports, writes a device-signed request for it into CE|id
# that smkey cvc verify accepts like one of a generated key.
. "$(dirname "$0")/lib.sh"
smk_enter_namespace "$@"

PIN=648219
SOPIN=3537363231383830
MODULE=${SMK_PKCS11_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}
[ -e "$MODULE" ] || MODULE=$(find /usr/lib -name opensc-pkcs11.so -print -quit)
[ -n "$MODULE" ] || smk_fail "opensc-pkcs11.so not found (Debian: opensc-pkcs11)"
SMKEY=$SMK_BUILD_DIR/smkey
[ -x "$SMKEY" ] || smk_fail "missing $SMKEY: build first"
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_start_pcscd 2
smk_sim_init carda 42
smk_sim_init cardb 43
smk_sim_start carda 0
smk_sim_start cardb 1 --attest-imports
smk_wait_card 0
smk_wait_card 1

# one DKEK share of 32 random bytes, imported with MANAGE KEY DOMAIN (the
# APDU sc-hsm-tool --import-dkek-share sends once it has decrypted its
# password-protected share file, ten million MD5 rounds we spare this test)
openssl rand 32 >share.bin
share_apdu=$(od -An -tx1 -v share.bin | tr -s ' \n' ':' | sed 's/^://; s/:$//')
for r in 0 1; do
	out=$(sc-hsm-tool --reader $r --initialize --so-pin "$SOPIN" --pin "$PIN" --dkek-shares 1 \
		--label "dkek-$r" 2>&1) || smk_fail "sc-hsm-tool --initialize --dkek-shares 1 (reader $r): $out"
	out=$(sc-hsm-tool --reader $r 2>&1) || smk_fail "sc-hsm-tool info (reader $r): $out"
	smk_expect "DKEK status before the share (reader $r)" 'DKEK shares +: 1' "$out"
	smk_expect "DKEK status before the share (reader $r)" 'DKEK import pending, 1 share\(s\) still missing' "$out"
	out=$(opensc-tool --reader $r --send-apdu 00:A4:04:00:0B:E8:2B:06:01:04:01:81:C3:1F:02:01:00 \
		--send-apdu "80:52:00:00:20:$share_apdu:00" 2>&1) || smk_fail "share import (reader $r): $out"
	[ "$(printf '%s\n' "$out" | grep -c 'SW1=0x90, SW2=0x00')" = 2 ] ||
		smk_fail "share import (reader $r): $out"
	out=$(sc-hsm-tool --reader $r 2>&1) || smk_fail "sc-hsm-tool info (reader $r): $out"
	kcv[r]=$(printf '%s\n' "$out" | sed -n 's/^DKEK key check value *: *//p')
	[ -n "${kcv[$r]}" ] || smk_fail "no key check value after the import (reader $r): $out"
done
[ "${kcv[0]}" = "${kcv[1]}" ] || smk_fail "the two cards report different KCVs: ${kcv[0]} ${kcv[1]}"
want=$(sha256sum share.bin | cut -c1-16 | tr a-f A-F)
[ "${kcv[0]}" = "$want" ] || smk_fail "KCV ${kcv[0]} is not SHA-256(DKEK)[0..8) = $want"
smk_log "both cards hold the same DKEK, KCV ${kcv[0]} = SHA-256(DKEK)[0..8)"

p11() {
	local slot=$1
	shift
	pkcs11-tool --module "$MODULE" --slot-index "$slot" "$@"
}

# A key generated on card A (reader 0), wrapped there, unwrapped on card B
out=$(p11 0 --login --pin "$PIN" --keypairgen --key-type EC:prime256v1 --id 01 --label moved 2>&1) ||
	smk_fail "pkcs11-tool --keypairgen on A: $out"
p11 0 --read-object --type pubkey --id 01 --output-file pub-a.der >/dev/null 2>&1 ||
	smk_fail "pkcs11-tool --read-object pubkey on A"
openssl pkey -pubin -inform DER -in pub-a.der -out pub-a.pem || smk_fail "public key of A"
out=$(sc-hsm-tool --reader 0 --wrap-key wrapped.bin --key-reference 1 --pin "$PIN" 2>&1) ||
	smk_fail "sc-hsm-tool --wrap-key on A: $out"
[ -s wrapped.bin ] || smk_fail "sc-hsm-tool --wrap-key wrote nothing: $out"
out=$(sc-hsm-tool --reader 1 --unwrap-key wrapped.bin --key-reference 5 --pin "$PIN" 2>&1) ||
	smk_fail "sc-hsm-tool --unwrap-key on B: $out"
smk_expect "unwrap on B" 'Key successfully imported' "$out"
smk_log "sc-hsm-tool wrapped key 1 on A and unwrapped it as key 5 on B"

echo "signed on card B with a key from card A" >msg.txt
# the PrKD came along with the blob: OpenSC lists the key on B under its iD
out=$(p11 1 --login --pin "$PIN" --sign --label moved -m ECDSA-SHA256 --input-file msg.txt \
	--output-file sig.bin --signature-format openssl 2>&1) || smk_fail "pkcs11-tool --sign on B: $out"
v=$(openssl dgst -sha256 -verify pub-a.pem -signature sig.bin msg.txt 2>&1) || true
smk_expect "B signs with A's key" '^Verified OK$' "$v"
smk_log "card B signs with the key generated on A: openssl verifies with A's public key"

# a card with another DKEK cannot unwrap it
smk_sim_stop carda
smk_wait_no_card 0
smk_sim_init cardc 44
smk_sim_start cardc 0
smk_wait_card 0
openssl rand 32 >other.bin
other_apdu=$(od -An -tx1 -v other.bin | tr -s ' \n' ':' | sed 's/^://; s/:$//')
sc-hsm-tool --reader 0 --initialize --so-pin "$SOPIN" --pin "$PIN" --dkek-shares 1 >/dev/null 2>&1 ||
	smk_fail "initialise card C"
opensc-tool --reader 0 --send-apdu 00:A4:04:00:0B:E8:2B:06:01:04:01:81:C3:1F:02:01:00 \
	--send-apdu "80:52:00:00:20:$other_apdu:00" >/dev/null 2>&1 || smk_fail "import the other share into C"
out=$(sc-hsm-tool --reader 0 --unwrap-key wrapped.bin --key-reference 5 --pin "$PIN" 2>&1) &&
	smk_fail "card C with another DKEK unwrapped the blob: $out"
smk_expect "unwrap under another DKEK" 'failed|does not match' "$out"
smk_log "a card with another DKEK refuses the blob: $(printf '%s' "$out" | tail -1)"

# The operator who holds the share makes a key in software and imports it
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out soft.pem 2>/dev/null ||
	smk_fail "openssl genpkey"
openssl pkey -in soft.pem -pubout -out soft-pub.pem || smk_fail "soft public key"
"$SMK_SIM" wrap --dkek-share share.bin --key soft.pem --algorithms 73 \
	--out soft.bin >wrap.log 2>&1 || smk_fail "smkey-sim wrap: $(cat wrap.log)"
out=$(sc-hsm-tool --reader 1 --unwrap-key soft.bin --key-reference 6 --pin "$PIN" 2>&1) ||
	smk_fail "sc-hsm-tool --unwrap-key of the software key on B: $out"
smk_expect "software key into B" 'Key successfully imported' "$out"

# card B (--attest-imports) wrote a device-signed request for it into CE06
"$SMK_SIM" show --state "$SMK_TMP/cardb.json" --ef 2F02 >chain-b.hex
"$SMK_SIM" show --state "$SMK_TMP/cardb.json" --ef CE06 >ce06.hex ||
	smk_fail "no CE06 on B after the attested import"
out=$("$SMKEY" cvc verify --chain chain-b.hex --request ce06.hex --trust "$SMK_TMP/trust" 2>&1) ||
	smk_fail "smkey cvc verify CE06: $out"
spki=$(openssl pkey -pubin -in soft-pub.pem -outform DER | sha256sum | cut -d' ' -f1)
smk_expect "the software key's request" "SPKI SHA-256 +$spki" "$out"
smk_expect "the software key's request" 'ZZSIM00043' "$out"
smk_log "the software-made key now carries a request signed by device ZZSIM00043"

out=$("$SMK_SIM" show --state "$SMK_TMP/cardb.json")
smk_expect "card B summary" 'key domain 0: DKEK, 1 of 1 shares imported' "$out"
smk_expect "card B summary" 'key 6: EC secp256r1, algorithms ecdsa-sha256' "$out"

stats=$(smk_ctl cardb stats)
smk_expect "card B stats" '"unwrap":\{"plain":2' "$stats"
smk_pass
