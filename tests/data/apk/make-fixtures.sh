#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Makes the APK fixtures of this folder (see README.md) with keytool and
# apksigner: three software keys in throw-away PKCS12 keystores, one
# unsigned minimal APK, four signed ones. The keystores are deleted; only
# the APKs and the signers' certificates are kept.
#   tests/data/apk/make-fixtures.sh [OUTDIR]   (default: this folder)
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here}
work=$(mktemp -d "${TMPDIR:-/tmp}/smk-apk.XXXXXX")
trap 'rm -rf "$work"' EXIT
cd "$work"

pass=fixture
key() { # NAME KEYTOOL-ARGS...
	local name=$1
	shift
	keytool -genkeypair -keystore "$name.p12" -storetype PKCS12 -storepass "$pass" \
		-alias "$name" -dname "CN=Test signer ${name^^}" -validity 36500 "$@" >/dev/null 2>&1
	keytool -exportcert -rfc -keystore "$name.p12" -storepass "$pass" -alias "$name" \
		>"$out/signer-$name.pem" 2>/dev/null
}
key a -keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA
key b -keyalg EC -groupname secp256r1 -sigalg SHA256withECDSA
key c -keyalg RSA -keysize 2048

mkdir src
printf 'not a binary manifest: apksigner is given --min-sdk-version\n' >src/AndroidManifest.xml
printf 'dex\n' >src/classes.dex
(cd src && zip -q -X ../unsigned.apk AndroidManifest.xml classes.dex)

sign() { # OUT ARGS...
	local o=$1
	shift
	apksigner sign --min-sdk-version 24 "$@" --out "$out/$o" unsigned.apk
	rm -f "$out/$o.idsig"
}
ks() { echo --ks "$1.p12" --ks-pass "pass:$pass"; }
# shellcheck disable=SC2046 # ks prints options, split on purpose
{
	# A for v1, v2 and v3
	sign a-v1v2v3.apk $(ks a) --v1-signing-enabled true --v2-signing-enabled true \
		--v3-signing-enabled true
	# B, v1 (JAR) only
	sign b-v1.apk $(ks b) --v1-signing-enabled true --v2-signing-enabled false \
		--v3-signing-enabled false
	# two signers, A (EC) and C (RSA), for v1 and v2 (v3 takes one signer)
	sign ac-v1v2.apk $(ks a) --next-signer $(ks c) --v1-signing-enabled true \
		--v2-signing-enabled true --v3-signing-enabled false
	# key rotation A -> B: v1 and v2 by A, v3 by B (with the lineage)
	apksigner rotate --out lineage --old-signer $(ks a) --new-signer $(ks b)
	sign ab-rotated.apk $(ks a) --next-signer $(ks b) --lineage lineage \
		--v1-signing-enabled true --v2-signing-enabled true --v3-signing-enabled true
}
cp unsigned.apk "$out/unsigned.apk"
