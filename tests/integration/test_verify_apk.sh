#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# smkey verify BUNDLE --apk FILE, with the bundle of a key smkeyd made on the
# simulator:
#
#  - an APK signed (by apksigner) with software keys: exit 1, every scheme's
#    signer named as "not the attested key" (v1, v2 and v3; the v3 signer of a
#    rotated APK too), with the public key SHA-256 apksigner verify
#    --print-certs prints for it; still 1 when the log is not pinned;
#  - an APK whose v2 and v3 signer certificate is the key's own (made in the
#    HSM by smkey selfsign; the signatures in the APK are placeholders): exit
#    0, each signer "the attested key", 3 with no pinned log; apksigner
#    verify rejects that APK: --apk checks who the signers are, not their
#    signatures;
#  - a truncated APK, a broken APK Signing Block, a missing file: exit 2
#    naming what and where; an unsigned APK: exit 1.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
cd "$SMK_TMP"
fx=$SMK_SOURCE_DIR/tests/data/apk
command -v apksigner >/dev/null || smk_fail "apksigner is missing (scripts/deps.sh installs it)"

smk_one_card
smkd_config
smkd_start
smkd_wait_log 'ready'
S=(--socket "$SMKD_SOCK")
mkdir -p out
out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label app -o out --json 2>&1) ||
	smk_fail "generate release-apk: $out"
bundle=out/apk-app.bundle.json
key_fp=$(openssl pkey -pubin -in out/apk-app.pub.pem -outform DER | sha256sum | cut -d' ' -f1)
smk_log "key apk-app, public key SHA-256 $key_fp"

# verify_rc WANT ARGS...: smkey verify (with the log pinned) exits WANT; its
# output (stdout and stderr) in $v
verify_rc() {
	local want=$1 rc=0
	shift
	v=$(smkd_verify "$bundle" "$@" 2>&1) || rc=$?
	[ "$rc" = "$want" ] || smk_fail "smkey verify $* exited $rc, not $want: $v"
}

# ---- APKs signed by other keys ----
verify_rc 1 --apk "$fx/a-v1v2v3.apk"
a_out=$(apksigner verify -v --print-certs --min-sdk-version 24 "$fx/a-v1v2v3.apk" 2>&1) ||
	smk_fail "apksigner verify --print-certs: $a_out"
a_fp=$(sed -n "s/^Signer #1 public key SHA-256 digest: //p" <<<"$a_out")
[ ${#a_fp} = 64 ] || smk_fail "apksigner verify --print-certs printed no public key digest"
for scheme in 'v1 \(JAR signing\) signer #1 \(META-INF/A\.EC\)' 'v2 signer #1 \(offset [0-9]+\)' \
	'v3 signer #1 \(offset [0-9]+\)'; do
	smk_expect "verify --apk a-v1v2v3.apk" \
		"FAILED  $scheme: certificate CN=Test signer A, SHA-256 [0-9a-f]{64}; public key SHA-256 $a_fp: not the attested key \(SHA-256 $key_fp\)" "$v"
done
smk_expect "verify --apk a-v1v2v3.apk, stderr" \
	"smkey verify: APK .*a-v1v2v3.apk: v2 signer #1 \(CN=Test signer A\) holds public key SHA-256 $a_fp, not the attested key" "$v"
smk_expect "verify --apk a-v1v2v3.apk" "signatures over its content are not checked here" "$v"
grep -q "every signer" <<<"$v" && smk_fail "verify --apk said every signer holds the key: $v"
smk_log "APK of software key A: exit 1, v1, v2 and v3 signers named, public key SHA-256 $a_fp as apksigner prints it"

verify_rc 1 --apk "$fx/ab-rotated.apk"
smk_expect "verify --apk ab-rotated.apk" "FAILED  v3 signer #1 .*CN=Test signer B" "$v"
smk_expect "verify --apk ab-rotated.apk" "FAILED  v1 \(JAR signing\) signer #1 .*CN=Test signer A" "$v"
verify_rc 1 --apk "$fx/ac-v1v2.apk"
smk_expect "verify --apk ac-v1v2.apk" "FAILED  v2 signer #2 .*CN=Test signer C" "$v"
rc=0
v=$("$SMKEY" verify "$bundle" --trust "$SMK_TMP/trust" --apk "$fx/b-v1.apk" 2>&1) || rc=$?
[ "$rc" = 1 ] || smk_fail "unpinned verify --apk b-v1.apk exited $rc, not 1: $v"
smk_expect "unpinned verify --apk b-v1.apk" "FAILED  v1 \(JAR signing\) signer #1 \(META-INF/B\.EC\)" "$v"
smk_log "rotated (v3 by B), two signers (v2 #2 by C), v1 only (unpinned log): exit 1 naming the signer"

# ---- an APK whose signer certificate holds the attested key ----
out=$("$SMKEY" selfsign "${S[@]}" apk-app --subject "/CN=Release key" -o cert.pem 2>&1) ||
	smk_fail "smkey selfsign: $out"
python3 "$SMK_SOURCE_DIR/tests/integration/apk_with_signer.py" "$fx/unsigned.apk" cert.pem own.apk ||
	smk_fail "building own.apk"
verify_rc 0 --apk own.apk
smk_expect "verify --apk own.apk" "ok      v2 signer #1 \(offset [0-9]+\): certificate CN=Release key, SHA-256 [0-9a-f]{64}; public key SHA-256 $key_fp: the attested key" "$v"
smk_expect "verify --apk own.apk" "ok      v3 signer #1" "$v"
smk_expect "verify --apk own.apk" "ok      every signer of the APK's schemes \(v2, v3\) holds the attested key" "$v"
rc=0
v=$("$SMKEY" verify "$bundle" --trust "$SMK_TMP/trust" --apk own.apk 2>&1) || rc=$?
[ "$rc" = 3 ] || smk_fail "unpinned verify --apk own.apk exited $rc, not 3: $v"
if a=$(apksigner verify --min-sdk-version 24 own.apk 2>&1); then
	smk_fail "apksigner verify accepted an APK with placeholder signatures: $a"
fi
smk_log "APK with the key's own certificate: exit 0 (3 unpinned); apksigner verify rejects its placeholder signatures"

# ---- malformed ----
head -c 5000 "$fx/a-v1v2v3.apk" >cut.apk
verify_rc 2 --apk cut.apk
smk_expect "verify --apk cut.apk" "APK cut.apk: ZIP: no End of Central Directory in the last 5000 bytes" "$v"
# the signing block's leading size field (offset: central directory - size - 8)
python3 - "$fx/a-v1v2v3.apk" badblock.apk <<'PY'
import struct, sys
b = bytearray(open(sys.argv[1], "rb").read())
eocd = b.rindex(b"PK\x05\x06")
(cd,) = struct.unpack_from("<I", b, eocd + 16)
(size,) = struct.unpack_from("<Q", b, cd - 24)
b[cd - size - 8] ^= 1
open(sys.argv[2], "wb").write(b)
PY
verify_rc 2 --apk badblock.apk
smk_expect "verify --apk badblock.apk" "APK Signing Block at offset [0-9]+: its sizes [0-9]+ \(start\) and [0-9]+ \(footer\)" "$v"
verify_rc 2 --apk missing.apk
smk_expect "verify --apk missing.apk" "APK missing.apk: cannot open: No such file" "$v"
verify_rc 1 --apk "$fx/unsigned.apk"
smk_expect "verify --apk unsigned.apk" "is not signed: no v1, v2 or v3 signer" "$v"
smk_log "truncated APK, broken signing block, missing file: exit 2 naming the place; unsigned APK: exit 1"
smk_pass
