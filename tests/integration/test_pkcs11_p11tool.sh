#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# GnuTLS's p11tool finds libsmkey-pkcs11.so the way an installed system does,
# through a p11-kit module file (`module: ...`; here the user's
# ~/.config/pkcs11/modules, installed: /usr/share/p11-kit/modules/smkey.module),
# and with an `smkey generate` running beside it:
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
mkdir -p "$HOME/.config/pkcs11/modules"
# only ours: no other registered module is asked for tokens
printf 'module: %s\n' "$P11_MODULE" >"$HOME/.config/pkcs11/modules/smkey.module"
printf 'user-config: only\n' >"$HOME/.config/pkcs11/pkcs11.conf"

out=$(p11tool --list-tokens 2>&1) || smk_fail "p11tool --list-tokens: $out"
smk_expect "p11tool --list-tokens" 'URL: pkcs11:.*token=smkeyd' "$out"
url=$(sed -n 's/^[[:space:]]*URL: \(pkcs11:.*token=smkeyd\)$/\1/p' <<<"$out" | head -n1)

p11_bg_generate bg1
out=$(p11tool --list-all "$url" 2>&1) || smk_fail "p11tool --list-all: $out"
p11_bg_wait
smk_expect "p11tool --list-all" "object=$P11_LABEL;type=private" "$out"
smk_expect "p11tool --list-all" "object=$P11_LABEL;type=public" "$out"
smk_expect "p11tool --list-all" "object=$P11_LABEL;type=cert" "$out"
smk_expect "p11tool --list-all" 'CKA_NEVER_EXTRACTABLE; CKA_SENSITIVE' "$out"
grep -q 'smkeyd-archive' <<<"$out" && smk_fail "the archive key is an object: $out"
smk_log "p11tool --list-all $url: private key, public key, certificate; no archive key"

before=$(p11_signatures)
p11_bg_generate bg2
out=$(p11tool --test-sign "$url;object=$P11_LABEL;type=private" 2>&1) ||
	smk_fail "p11tool --test-sign: $out"
p11_bg_wait
smk_expect "p11tool --test-sign" 'Verifying against public key in the token\.\.\. ok' "$out"
after=$(p11_signatures)
[ "$after" -gt "$before" ] || smk_fail "p11tool --test-sign left no signature record"
smk_log "p11tool --test-sign: signed through smkeyd ($((after - before)) signature records)"
smk_pass
