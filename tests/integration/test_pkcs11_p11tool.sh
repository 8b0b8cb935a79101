#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# GnuTLS's p11tool finds libsmkey-pkcs11.so the way an installed system does,
# through the p11-kit module file /usr/share/p11-kit/modules/smkey.module
# (`module: PATH`; bind-mounted in this scenario's mount namespace), with an
# `smkey generate` running beside it:
#  - `--list-all` on the token URL shows the private key, the public key and
#    the certificate of the APK key, and no archive key;
#  - `--test-sign` on the key's URL signs and verifies with the public key
#    in the token; smkeyd logged the signatures.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/pkcs11_lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"
command -v p11tool >/dev/null || smk_fail "missing p11tool (Debian: gnutls-bin)"

p11_setup
# p11-kit reads no user configuration for root: the system's module
# directory, in this scenario's own mount namespace, holds our module file
# alone (as the package installs it, with the build tree's path)
mkdir -p p11-modules
printf 'module: %s\n' "$P11_MODULE" >p11-modules/smkey.module
mount --bind p11-modules /usr/share/p11-kit/modules ||
	smk_fail "cannot bind-mount the p11-kit module directory in the namespace"

out=$(p11_host p11tool --list-tokens 2>&1) || smk_fail "p11tool --list-tokens: $out"
smk_expect "p11tool --list-tokens" 'URL: pkcs11:.*token=smkeyd' "$out"
url=$(sed -n 's/^[[:space:]]*URL: \(pkcs11:.*token=smkeyd\)$/\1/p' <<<"$out" | head -n1)

p11_bg_generate bg1
out=$(p11_host p11tool --list-all "$url" 2>&1) || smk_fail "p11tool --list-all: $out"
p11_bg_wait
smk_expect "p11tool --list-all" "object=$P11_LABEL;type=private" "$out"
smk_expect "p11tool --list-all" "object=$P11_LABEL;type=public" "$out"
smk_expect "p11tool --list-all" "object=$P11_LABEL;type=cert" "$out"
smk_expect "p11tool --list-all" 'CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE' "$out"
grep -q 'smkeyd-archive' <<<"$out" && smk_fail "the archive key is an object: $out"
smk_log "p11tool --list-all $url: private key, public key, certificate; no archive key"

before=$(p11_signatures)
p11_bg_generate bg2
out=$(p11_host p11tool --test-sign "$url;object=$P11_LABEL;type=private" 2>&1) ||
	smk_fail "p11tool --test-sign: $out"
p11_bg_wait
smk_expect "p11tool --test-sign" 'Verifying against public key in the token\.\.\. ok' "$out"
after=$(p11_signatures)
[ "$after" -gt "$before" ] || smk_fail "p11tool --test-sign left no signature record"
smk_log "p11tool --test-sign: signed through smkeyd ($((after - before)) signature records)"
smk_pass
