# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# libsmkey-pkcs11.so in front of a private smkeyd on one simulated card, for
# the test_pkcs11_*.sh scenarios (sourced after lib.sh and daemon_lib.sh).
# p11_setup makes an APK key under the policy p11-apk (ecdsa-sha256 and
# ecdsa, signable by root), gets it a self-signed certificate made in the HSM
# and imports it, and checks that the key's bundle verifies and that the
# certificate holds the attested key (key.pem: the key signatures must
# verify with). p11_bg_generate / p11_bg_wait run an `smkey generate` beside
# a client's signing, which must succeed too.

P11_MODULE=$SMK_BUILD_DIR/pkcs11/libsmkey-pkcs11.so
P11_LABEL=apk-app

# The module of a sanitizer build needs the ASan runtime loaded before
# anything else in the program that loads it (pkcs11-tool, openssl, p11tool):
# p11_host runs such a program with the runtime preloaded (and without leak
# checks of that program's own allocations; test_pkcs11 checks the module's
# under ASan). A JVM cannot run with it preloaded: p11_no_jvm_under_asan
# makes the Java scenarios report themselves skipped in that build only.
P11_ASAN_RT=$(ldd "$P11_MODULE" 2>/dev/null | awk '$1 ~ /^libasan/ { print $3 }')

p11_host() {
	if [ -n "$P11_ASAN_RT" ]; then
		LD_PRELOAD=$P11_ASAN_RT ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 "$@"
	else
		"$@"
	fi
}

p11_no_jvm_under_asan() {
	if [ -n "$P11_ASAN_RT" ]; then
		echo "SKIPPED: $P11_MODULE is a sanitizer build, which a JVM cannot load" \
			"(the RelWithDebInfo build runs this scenario)"
		exit 77
	fi
}

p11_setup() {
	local out
	[ -e "$P11_MODULE" ] || smk_fail "missing $P11_MODULE: build first"
	smk_start_pcscd 1
	smk_sim_init card1 1
	smk_sim_start card1 0
	smk_wait_card 0
	smkd_config
	cat >"$SMK_TMP/policies.d/p11-apk.yaml" <<'YAML'
name: p11-apk
description: APK signing through the PKCS#11 module (card or host hashing)
key:
  type: ec
  curve: secp256r1
algorithms: [ecdsa-sha256, ecdsa]
exportable: false
label: apk-{request.label}
allow:
  users: [root]
sign:
  users: [root]
YAML
	smkd_start
	smkd_wait_log 'ready'
	export SMKEYD_SOCKET=$SMKD_SOCK
	mkdir -p out
	out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy p11-apk --label app -o out --json 2>&1) ||
		smk_fail "generate p11-apk: $out"
	P11_SEQ=$(smkd_json 'r["seq"]' <<<"$out")
	out=$("$SMKEY" selfsign --socket "$SMKD_SOCK" "$P11_LABEL" \
		--subject "/CN=Release key/O=Example Ltd/C=DE" -o cert.pem 2>&1) ||
		smk_fail "smkey selfsign: $out"
	out=$("$SMKEY" import-cert --socket "$SMKD_SOCK" "$P11_LABEL" cert.pem 2>&1) ||
		smk_fail "smkey import-cert: $out"
	openssl x509 -in cert.pem -noout -pubkey >key.pem
	cmp -s key.pem "out/$P11_LABEL.pub.pem" || smk_fail "the certificate's key is not the archived key"
	out=$(smkd_verify "out/$P11_LABEL.bundle.json" --certificate cert.pem 2>&1) ||
		smk_fail "smkey verify of the key's bundle with its certificate: $out"
	smk_log "key $P11_LABEL (record $P11_SEQ): bundle verifies, certificate imported"
}

# p11_bg_generate NAME: smkey generate in the background (p11_bg_wait checks it).
p11_bg_generate() {
	P11_BG_NAME=$1
	"$SMKEY" generate --socket "$SMKD_SOCK" --policy p11-apk --label "$1" -o out \
		>"bg-$1.log" 2>&1 &
	P11_BG_PID=$!
}

p11_bg_wait() {
	wait "$P11_BG_PID" || smk_fail "the concurrent smkey generate failed: $(cat "bg-$P11_BG_NAME.log")"
	[ -s "out/apk-$P11_BG_NAME.bundle.json" ] || smk_fail "no bundle from the concurrent generate"
	smk_log "concurrent smkey generate apk-$P11_BG_NAME succeeded"
}

# p11_java_cfg: the SunPKCS11 configuration for the module (p11.cfg).
p11_java_cfg() {
	printf 'name = smkeyd\nlibrary = %s\nslotListIndex = 0\n' "$P11_MODULE" >p11.cfg
}

# p11_signatures: the signatures smkeyd archived so far, as its log says
# ("signature with record K (ALG) archived as record N").
p11_signatures() {
	grep -c 'signature with record .* archived as record' "$SMK_TMP/smkeyd.log" || true
}
