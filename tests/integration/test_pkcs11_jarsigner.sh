#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Java's jarsigner with the SunPKCS11 provider on libsmkey-pkcs11.so (no
# keystore file: -keystore NONE -storetype PKCS11, the key by its label as
# the alias), while an `smkey generate` runs beside it: the jar is signed
# with the APK key and its imported certificate, `jarsigner -verify` accepts
# it, the signer is the certificate the bundle's key holds, and a jar
# changed after signing is refused.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
p11_no_jvm_under_asan
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"
command -v jarsigner >/dev/null || smk_fail "missing jarsigner (Debian: openjdk-17-jdk-headless)"

p11_setup
p11_java_cfg
mkdir -p jar/com/example
for i in $(seq 20); do echo "class body $i" >"jar/com/example/C$i.class"; done
(cd jar && jar cf ../app.jar .)

before=$(p11_signatures)
p11_bg_generate bg1
out=$(jarsigner -keystore NONE -storetype PKCS11 -providerClass sun.security.pkcs11.SunPKCS11 \
	-providerArg p11.cfg -storepass none -sigalg SHA256withECDSA app.jar "$P11_LABEL" 2>&1) ||
	smk_fail "jarsigner: $out"
p11_bg_wait
smk_expect "jarsigner" 'jar signed' "$out"
after=$(p11_signatures)
[ "$after" -gt "$before" ] || smk_fail "jarsigner left no signature record"

out=$(jarsigner -verify app.jar 2>&1) || smk_fail "jarsigner -verify: $out"
smk_expect "jarsigner -verify" '^jar verified\.' "$out"
# the signature block's certificate is the one that holds the attested key
unzip -p app.jar 'META-INF/*.EC' >block.der
openssl pkcs7 -inform DER -in block.der -print_certs -out signer.pem ||
	smk_fail "no certificate in the jar's signature block"
v=$(openssl x509 -in signer.pem -noout -subject)
smk_expect "the jar's signer" 'CN *= *Release key, O *= *Example Ltd, C *= *DE' "$v"
openssl x509 -in signer.pem -noout -pubkey | cmp -s - key.pem ||
	smk_fail "the jar's signer is not the attested key"
smk_log "jarsigner signed through smkeyd; jarsigner -verify accepts it; signer is the attested key"

# a class changed after signing
mkdir x
(cd x && unzip -q ../app.jar && echo tampered >com/example/C3.class && zip -q -r ../tampered.jar .) ||
	smk_fail "cannot make the tampered jar"
out=$(jarsigner -verify -strict tampered.jar 2>&1) && smk_fail "a tampered jar verified: $out"
smk_log "jarsigner -verify refuses the jar changed after signing"
smk_pass
