#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# apksigner with the SunPKCS11 provider on libsmkey-pkcs11.so (Java 17 needs
# -J-add-exports=jdk.crypto.cryptoki/sun.security.pkcs11=ALL-UNNAMED), with
# an `smkey generate` running beside each signing:
#  - a small APK for minSdk 21 gets v1 (JAR), v2 and v3 signatures, and
#    `apksigner verify -v` accepts all three, signed by the certificate that
#    holds the attested key;
#  - an APK of 1500 entries, whose v1 .SF is over 64 KiB (more than the card
#    takes in one command, and more than the module sends): the module
#    hashes it and the key's ecdsa signs the digest; it verifies too.
# (smkeyd hashes any message larger than the card takes, so even the small
# APK's .SF may be signed with ecdsa: smkeyd's choice, docs/pkcs11.md.)
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
p11_no_jvm_under_asan
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"
command -v apksigner >/dev/null || smk_fail "missing apksigner (Debian: apksigner)"

p11_setup
p11_java_cfg

# make_apk NAME ENTRIES: an unsigned APK (a zip with a manifest and ENTRIES
# resource files)
make_apk() {
	local d=$1.d i
	mkdir -p "$d/res/raw"
	echo "manifest of $1" >"$d/AndroidManifest.xml"
	echo "dex of $1" >"$d/classes.dex"
	for ((i = 0; i < $2; i++)); do
		echo "resource $i of $1" >"$d/res/raw/r$i.txt"
	done
	(cd "$d" && zip -q -r "../$1.apk" .)
}

# sign_verify NAME: sign NAME.apk through the module, verify it
sign_verify() {
	local out
	p11_bg_generate "bg-$1"
	out=$(apksigner -J-add-exports=jdk.crypto.cryptoki/sun.security.pkcs11=ALL-UNNAMED sign \
		--provider-class sun.security.pkcs11.SunPKCS11 --provider-arg p11.cfg \
		--ks NONE --ks-type PKCS11 --ks-pass pass:none --ks-key-alias "$P11_LABEL" \
		--min-sdk-version 21 --out "$1.signed.apk" "$1.apk" 2>&1) ||
		smk_fail "apksigner sign $1: $out"
	p11_bg_wait
	out=$(apksigner verify -v --print-certs --min-sdk-version 21 "$1.signed.apk" 2>&1) ||
		smk_fail "apksigner verify $1: $out"
	smk_expect "apksigner verify $1" '^Verifies$' "$out"
	smk_expect "apksigner verify $1" 'Verified using v1 scheme \(JAR signing\): true' "$out"
	smk_expect "apksigner verify $1" 'Verified using v2 scheme \(APK Signature Scheme v2\): true' "$out"
	smk_expect "apksigner verify $1" 'Verified using v3 scheme \(APK Signature Scheme v3\): true' "$out"
	smk_expect "apksigner verify $1" "certificate SHA-256 digest: $(openssl x509 -in cert.pem -outform DER |
		sha256sum | cut -d' ' -f1)" "$out"
}

# signed_with ALG: signatures smkeyd archived with the card algorithm ALG
signed_with() {
	grep -c "signature with record .* ($1) archived as record" "$SMK_TMP/smkeyd.log" || true
}

make_apk small 10
sign_verify small
n=$(($(signed_with ecdsa) + $(signed_with ecdsa-sha256)))
[ "$n" -ge 3 ] || smk_fail "smkeyd archived $n signatures for the v1, v2 and v3 schemes"
smk_log "small APK: v1, v2 and v3 signatures through smkeyd ($n archived) verify"

host=$(signed_with ecdsa)
make_apk large 1500
sign_verify large
sf=$(unzip -lv large.signed.apk | awk '/META-INF\/.*\.SF$/ {print $1}')
[ "$sf" -gt 65536 ] || smk_fail "the large APK's .SF is only $sf bytes"
[ "$(signed_with ecdsa)" -gt "$host" ] || smk_fail "the large .SF was not signed host-hashed (ecdsa)"
smk_log "APK with a $sf-byte v1 .SF: signed through smkeyd (host-hashed, ecdsa) and verifies"

# an APK changed after signing
mkdir x
(cd x && unzip -q ../small.signed.apk && echo tampered >classes.dex && zip -q -r ../tampered.apk .) ||
	smk_fail "cannot make the tampered APK"
out=$(apksigner verify --min-sdk-version 21 tampered.apk 2>&1) &&
	smk_fail "a tampered APK verified: $out"
smk_log "apksigner verify refuses the APK changed after signing"
smk_pass
