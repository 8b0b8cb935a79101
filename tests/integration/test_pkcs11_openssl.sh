#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# OpenSSL through libp11's engine (libengine-pkcs11-openssl) and
# libsmkey-pkcs11.so, with an `smkey generate` running beside it: `openssl
# dgst -sha256 -engine pkcs11 -keyform engine -sign pkcs11:...` signs (the
# engine hashes and uses CKM_ECDSA), the signature verifies with the key the
# bundle attests, and a key whose policy lists ecdsa-sha256 alone is
# refused (the card would hash; the engine cannot ask for that).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"
p11_host openssl engine pkcs11 >/dev/null 2>&1 || smk_fail "missing OpenSSL's pkcs11 engine (Debian: libengine-pkcs11-openssl)"

# a policy whose keys list ecdsa-sha256 alone: they cannot serve a client
# that hashes itself
mkdir -p "$SMK_TMP/policies.d"
cat >"$SMK_TMP/policies.d/p11-cardhash.yaml" <<'YAML'
name: p11-cardhash
description: the card hashes, nothing else
key:
  type: ec
  curve: secp256r1
algorithms: [ecdsa-sha256]
exportable: false
label: ch-{request.label}
allow:
  users: [root]
sign:
  users: [root]
YAML
p11_setup
export PKCS11_MODULE_PATH=$P11_MODULE
echo "release notes 1.2.3" >msg.txt

p11_bg_generate bg1
out=$(p11_host openssl dgst -sha256 -engine pkcs11 -keyform engine \
	-sign "pkcs11:token=smkeyd;object=$P11_LABEL;type=private" -out msg.sig msg.txt 2>&1) ||
	smk_fail "openssl dgst -engine pkcs11 -sign: $out"
p11_bg_wait
v=$(openssl dgst -sha256 -verify key.pem -signature msg.sig msg.txt 2>&1) || true
smk_expect "verify the engine's signature with the attested key" '^Verified OK$' "$v"
v=$(openssl dgst -sha256 -verify key.pem -signature msg.sig cert.pem 2>&1) || true
smk_expect "verify the engine's signature over other data" 'Verification failure' "$v"
smk_log "openssl -engine pkcs11 signed; the attested key verifies it"

out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy p11-cardhash --label x -o out 2>&1) ||
	smk_fail "generate p11-cardhash: $out"
out=$(p11_host openssl dgst -sha256 -engine pkcs11 -keyform engine \
	-sign "pkcs11:token=smkeyd;object=ch-x;type=private" -out x.sig msg.txt 2>&1) &&
	smk_fail "the engine signed with a key that lists ecdsa-sha256 alone: $out"
smk_log "a key listing ecdsa-sha256 alone is refused to a host-hashing client"
smk_pass
