#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# `smkey sign` of files larger than one client message, under smkeyd's
# default message size (64 KiB, base64 included; client/cmd_sign.c):
#
#  - 32768 bytes (VARLINK_SIGN_DATA_MAX) still go as the message: smkeyd
#    hashes (reply ecdsa, the record says smkeyd hashed);
#  - 32769 bytes, 100 KiB, 5 MiB (also through standard input) and a 40 MiB
#    file (more than smkey ever held in memory before) are hashed by smkey,
#    and the card signs the SHA-256 with ecdsa: each signature verifies
#    with openssl against the archived public key, and the records' bundles
#    pass `smkey verify --signed FILE` (and fail for another file);
#  - a key whose list lacks ecdsa refuses 32769 bytes and 100 KiB with a
#    message naming the file and its size, and no SIGN reaches the card;
#  - an algorithm smkey cannot hash for, and --digest with a file that is
#    no digest, are refused before smkeyd is asked;
#  - --digest signs a caller's SHA-256 of the 5 MiB file as before.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_one_card
# no limits: the default message size
smkd_config
# a policy like release-apk whose keys may only have the card hash
smkd_cardhash_policy
smkd_start
smkd_wait_log 'ready'
grep -q 'message-size' "$SMKD_CONF" && smk_fail "the config sets a message size"
S=(--socket "$SMKD_SOCK")
mkdir -p out

out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label big -o out --json 2>&1) ||
	smk_fail "generate release-apk: $out"
out=$("$SMKEY" generate "${S[@]}" --policy cardhash --label only -o out --json 2>&1) ||
	smk_fail "generate cardhash: $out"

head -c 32768 /dev/urandom >m32768
head -c 32769 /dev/urandom >m32769
head -c $((100 * 1024)) /dev/urandom >m100k
head -c $((5 * 1024 * 1024)) /dev/urandom >m5m
truncate -s 40M m40m

# sign KEY FILE [ARGS...]: smkey sign (FILE "-" reads $SIGN_STDIN), the
# signature verified with openssl over $SIGN_OVER (default FILE); the
# algorithm the card used in $alg, the record in $rec, stderr in $log
sign() {
	local key=$1 file=$2 over=${SIGN_OVER:-$2} v
	shift 2
	if [ "$file" = - ]; then
		"$SMKEY" sign "${S[@]}" --key "$key" "$@" - <"$SIGN_STDIN" >sig 2>sign.log
	else
		"$SMKEY" sign "${S[@]}" --key "$key" "$@" "$file" >sig 2>sign.log
	fi || smk_fail "smkey sign --key $key $* $file: $(cat sign.log)"
	log=$(cat sign.log)
	alg=$(sed -n 's/.*smkey sign: \([a-z0-9-]*\) signature.*/\1/p' sign.log)
	rec=$(sed -n 's/.*archived as record \([0-9]*\).*/\1/p' sign.log)
	v=$(openssl dgst -sha256 -verify "out/$key.pub.pem" -signature sig "$over" 2>&1) ||
		smk_fail "openssl: $key's signature over $over ($alg): $v"
}
# bundle_of REC: the signature record's bundle, once a checkpoint covers it
bundle_of() {
	smkd_wait_covered "$1"
	smkd_call io.smkeyd.GetBundle "{\"seq\": $1}" | smkd_json 'r["parameters"]["bundle"]' >"rec$1.json"
	printf 'rec%s.json\n' "$1"
}
sign_count() { grep -c '"cmd":"sign"' "$SMK_TMP/card1.apdu.jsonl" || true; }

# ---- the threshold: sent as the message, smkeyd hashes ----
sign apk-big m32768
[ "$alg" = ecdsa ] || smk_fail "m32768 was signed with $alg, not as smkeyd's digest"
case $log in *"smkey hashed"*) smk_fail "smkey hashed m32768: $log" ;; esac
b=$(bundle_of "$rec")
v=$(smkd_verify "$b" --signed m32768 2>&1) || smk_fail "smkey verify --signed m32768: $v"
smk_expect "verify --signed m32768" 'ecdsa \(smkeyd hashed the message\), message SHA-256' "$v"
smk_expect "verify --signed m32768" 'SHA-256 is the one record' "$v"
smk_log "m32768: sent as the message, smkeyd hashed (record $rec); openssl and smkey verify agree"

# ---- one byte more, and far more: smkey hashes ----
for f in m32769 m100k m5m m40m; do
	n=$(stat -c %s "$f")
	sign apk-big "$f"
	[ "$alg" = ecdsa ] || smk_fail "$f was signed with $alg, not ecdsa over smkey's hash"
	smk_expect "smkey sign $f" "ecdsa signature \\(smkey hashed the $n bytes with SHA-256\\), archived as record [0-9]+" "$log"
	b=$(bundle_of "$rec")
	v=$(smkd_verify "$b" --signed "$f" 2>&1) || smk_fail "smkey verify --signed $f: $v"
	smk_expect "verify --signed $f" "signature +ecdsa, digest $(sha256sum "$f" | cut -c1-64)" "$v"
	smk_expect "verify --signed $f" 'SHA-256 is the one record' "$v"
	smk_log "$f ($n bytes): smkey hashed, the card signed with ecdsa (record $rec); openssl and smkey verify --signed agree"
done
v=$(smkd_verify "$b" --signed m5m 2>&1) && smk_fail "m40m's record passed --signed m5m: $v"
smk_expect "verify m40m's record --signed m5m" "the file's SHA-256 $(sha256sum m5m | cut -c1-64) is not the digest signature record $rec holds" "$v"

SIGN_STDIN=m5m SIGN_OVER=m5m sign apk-big -
smk_expect "smkey sign - <m5m" "ecdsa signature \\(smkey hashed the 5242880 bytes with SHA-256\\)" "$log"
smk_log "m5m on standard input: $log"

# ---- --digest as before: the caller's SHA-256 of m5m, ecdsa ----
openssl dgst -sha256 -binary m5m >m5m.sha256
SIGN_OVER=m5m sign apk-big m5m.sha256 --algorithm ecdsa --digest
[ "$alg" = ecdsa ] || smk_fail "--digest was signed with $alg"
case $log in *"smkey hashed"*) smk_fail "smkey hashed a --digest: $log" ;; esac
smk_log "--digest m5m.sha256: $log"

# ---- a key without ecdsa: refused by smkeyd, nothing reaches the card ----
before=$(sign_count)
for f in m32769 m100k; do
	n=$(stat -c %s "$f")
	rc=0
	out=$("$SMKEY" sign "${S[@]}" --key ch-only "$f" 2>&1 >/dev/null) || rc=$?
	[ "$rc" = 2 ] || smk_fail "ch-only over $f: exit $rc, not 2: $out"
	smk_expect "ch-only over $f" "^smkey sign: $f is $n bytes, more than the 32768 bytes smkey sends as the message, so smkey sent its SHA-256 for the card to sign with ecdsa" "$out"
	smk_expect "ch-only over $f" 'ecdsa \(0x70\) is not in the algorithm list of record [0-9]+; sign a file this large with a key whose algorithm list holds ecdsa' "$out"
	smk_log "ch-only over $f: $out"
done
[ "$(sign_count)" = "$before" ] || smk_fail "a SIGN reached the card for a refused file"
smk_log "the refused files sent no SIGN to the card"

# ---- refused before smkeyd is asked (no daemon on this socket) ----
none=(--socket "$SMK_TMP/no-such.sock")
rc=0
out=$("$SMKEY" sign "${none[@]}" --key apk-big --algorithm ecdsa-sha384 m100k 2>&1 >/dev/null) || rc=$?
[ "$rc" = 2 ] || smk_fail "ecdsa-sha384 over m100k: exit $rc, not 2: $out"
smk_expect "ecdsa-sha384 over m100k" '^smkey sign: m100k is 102400 bytes, more than the 32768 bytes smkey sends as the message; smkey hashes a larger file itself .*not for ecdsa-sha384' "$out"
smk_log "ecdsa-sha384 over m100k: $out"
rc=0
out=$("$SMKEY" sign "${none[@]}" --key apk-big --algorithm ecdsa --digest m32769 2>&1 >/dev/null) || rc=$?
[ "$rc" = 2 ] || smk_fail "--digest m32769: exit $rc, not 2: $out"
smk_expect "--digest m32769" '^smkey sign: m32769 is 32769 bytes, more than the 32768 bytes smkey sends as the message, and with --digest FILE is the digest the algorithm signs' "$out"
smk_log "--digest m32769: $out"

smkd_stop
smkd_wait_log 'all requests answered; exiting'
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean"
smk_pass
