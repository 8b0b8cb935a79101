#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Messages larger than one SIGN takes (docs/sc-hsm-protocol.md §7.12, the
# contract's rule in daemon/sign.c sign_choose):
#
#  - 1199 bytes with ecdsa-sha256: the card hashes (reply ecdsa-sha256);
#  - 1200 bytes and 32 KiB (the most smkey sends as the message, under the
#    default message size): smkeyd hashes with SHA-256, the card signs the
#    digest (reply ecdsa, the record says smkeyd hashed); every signature
#    verifies with openssl against the archived public key, and the bundle
#    passes `smkey verify --signed FILE`;
#  - a key whose policy lists only ecdsa-sha256: 1199 bytes sign, 1200 bytes
#    and 32 KiB are refused with InvalidParameter naming the size and the
#    limit, and no SIGN reaches the card for them.
# Larger files smkey hashes itself: test_sign_file.sh.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_one_card
smkd_config
# a policy like release-apk whose keys may only have the card hash
smkd_cardhash_policy
smkd_start
smkd_wait_log 'ready'
S=(--socket "$SMKD_SOCK")
mkdir -p out

out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label big -o out --json 2>&1) ||
	smk_fail "generate release-apk: $out"
out=$("$SMKEY" generate "${S[@]}" --policy cardhash --label only -o out --json 2>&1) ||
	smk_fail "generate cardhash: $out"
out=$(smkd_call io.smkeyd.ListSigningKeys '{}')
v=$(smkd_json '" ".join("%s:%s" % (k["label"], ",".join(k["algorithms"])) for k in r["parameters"]["keys"])' <<<"$out")
smk_expect "ListSigningKeys" 'apk-big:ecdsa,ecdsa-sha256' "$v"
smk_expect "ListSigningKeys" 'ch-only:ecdsa-sha256( |$)' "$v"

head -c 1199 /dev/urandom >m1199
head -c 1200 /dev/urandom >m1200
head -c 32768 /dev/urandom >m32k

# sign KEY FILE: smkey sign; the algorithm the card used in $alg
sign() {
	"$SMKEY" sign "${S[@]}" --key "$1" "$2" >"$2.$1.sig" 2>"$2.$1.log" ||
		smk_fail "smkey sign --key $1 $2: $(cat "$2.$1.log")"
	alg=$(sed -n 's/.*smkey sign: \([a-z0-9-]*\) signature.*/\1/p' "$2.$1.log")
	rec=$(sed -n 's/.*archived as record \([0-9]*\).*/\1/p' "$2.$1.log")
	v=$(openssl dgst -sha256 -verify "out/$1.pub.pem" -signature "$2.$1.sig" "$2" 2>&1) ||
		smk_fail "openssl: $1's signature over $2 ($alg): $v"
}
sign_count() { grep -c '"cmd":"sign"' "$SMK_TMP/card1.apdu.jsonl" || true; }

sign apk-big m1199
[ "$alg" = ecdsa-sha256 ] || smk_fail "1199 bytes were signed with $alg, not by the card's hash"
smk_log "1199 bytes: the card hashed (ecdsa-sha256, record $rec); openssl verifies"

for f in m1200 m32k; do
	sign apk-big "$f"
	[ "$alg" = ecdsa ] || smk_fail "$f was signed with $alg, not as a digest smkeyd made"
	smkd_wait_covered "$rec"
	smkd_call io.smkeyd.GetBundle "{\"seq\": $rec}" | smkd_json 'r["parameters"]["bundle"]' >"$f.bundle.json"
	v=$(smkd_verify "$f.bundle.json" --signed "$f" 2>&1) || smk_fail "smkey verify --signed $f: $v"
	smk_expect "verify --signed $f" 'smkeyd hashed the message' "$v"
	smk_expect "verify --signed $f" 'SHA-256 is the one record' "$v"
	smk_log "$f ($(stat -c %s "$f") bytes): smkeyd hashed, the card signed the digest (ecdsa, record $rec); openssl and smkey verify --signed agree"
done

sign ch-only m1199
[ "$alg" = ecdsa-sha256 ] || smk_fail "ch-only signed 1199 bytes with $alg"
before=$(sign_count)
for f in m1200 m32k; do
	n=$(stat -c %s "$f")
	out=$("$SMKEY" sign "${S[@]}" --key ch-only "$f" 2>&1 >/dev/null) &&
		smk_fail "ch-only signed $f ($n bytes) although the card cannot take it: $out"
	smk_expect "ch-only over $f" "a message of $n bytes is more than the 1199 bytes the card takes in one SIGN under secure messaging" "$out"
	smk_expect "ch-only over $f" "does not hold ecdsa \\(0x70\\)" "$out"
	smk_log "ch-only over $f: $out"
done
[ "$(sign_count)" = "$before" ] || smk_fail "a SIGN reached the card for a refused message"
smk_log "the refused messages sent no SIGN to the card"

smkd_stop
smkd_wait_log 'all requests answered; exiting'
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean"
smk_pass
