#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Signatures through smkeyd (Sign, `smkey sign`) under a policy's sign: rule:
#
#  - a release-apk key signs a file; the signature verifies with openssl
#    against the archived public key; the signature is a record that
#    `smkey audit` lists, and its bundle passes `smkey verify --signed FILE`
#    for that file and fails for another;
#  - a digest signed with ecdsa (0x70) verifies over the file too;
#  - a uid no sign: rule names gets PolicyDenied and no SIGN reaches the card
#    (the simulator's APDU log); root is named explicitly (admins get no
#    implicit right), an adopted key and the archive key are refused;
#  - max-per-day: the limit's signature is refused with the limit named;
#  - a Generate sent while a burst of Signs is queued on the one device, and
#    the Signs, all finish.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
SMKEY=$(smk_shared_copy "$SMKEY")
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_one_card
smkd_config
# a policy whose sign: rule has a daily limit of 3, and one whose
# signatures are not archived (log: false)
sed -e 's/^name: release-apk/name: limited/' -e 's/max-per-day: 10000/max-per-day: 3/' \
	policies.d/release-apk.yaml >policies.d/limited.yaml
sed -e 's/^name: release-apk/name: unlogged/' -e 's/log: true/log: false/' \
	policies.d/release-apk.yaml >policies.d/unlogged.yaml
smkd_start
smkd_wait_log 'ready'
S=(--socket "$SMKD_SOCK")
chmod 0711 "$SMK_TMP"
mkdir -p out

out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label app -o out --json 2>&1) ||
	smk_fail "generate release-apk: $out"
seq=$(smkd_json 'r["seq"]' <<<"$out")
smk_log "release-apk key apk-app: record $seq"

# ---- ListSigningKeys: root is named in sign:, nobody is not ----
out=$(smkd_call io.smkeyd.ListSigningKeys '{}')
v=$(smkd_json '" ".join("%s:%s:%s:%s" % (k["seq"], k["label"], k["curve"], ",".join(k["algorithms"])) for k in r["parameters"]["keys"])' <<<"$out")
smk_expect "ListSigningKeys" "^$seq:apk-app:secp256r1:ecdsa,ecdsa-sha256\$" "$v"
client=$(smk_shared_copy "$SMKD_CLIENT")
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$client" "$SMKD_SOCK" \
	io.smkeyd.ListSigningKeys '{}')
[ "$(smkd_json 'len(r["parameters"]["keys"])' <<<"$out")" = 0 ] ||
	smk_fail "nobody may sign with: $out"

# ---- the archive key's device holds keys others may sign with: warned ----
out=$(smkd_call io.smkeyd.ListDevices '{}')
smk_expect "ListDevices trust_warning" 'holds the archive key and keys of policy release-apk, whose sign: section' \
	"$(smkd_json 'r["parameters"]["trust_warning"]' <<<"$out")"
smkd_wait_log 'warning: device ZZSIM[0-9]+ holds the archive key and keys of policy release-apk'
smk_log "archive key beside signing keys: warned in ListDevices and the log"

# ---- sign a file, verify with openssl ----
printf 'release 3.1 of the app\n' >msg
"$SMKEY" sign "${S[@]}" --key apk-app msg >msg.sig 2>sign.log || smk_fail "smkey sign: $(cat sign.log)"
smk_expect "smkey sign" 'ecdsa-sha256 signature, archived as record [0-9]+' "$(cat sign.log)"
rec=$(sed -n 's/.*archived as record \([0-9]*\).*/\1/p' sign.log)
v=$(openssl dgst -sha256 -verify out/apk-app.pub.pem -signature msg.sig msg 2>&1) ||
	smk_fail "openssl dgst -verify: $v"
smk_log "smkey sign: $(cat sign.log); openssl: $v"

# a digest, hashed by the caller, with ecdsa (0x70)
openssl dgst -sha256 -binary msg >msg.sha256
"$SMKEY" sign "${S[@]}" --seq "$seq" --algorithm ecdsa --digest msg.sha256 >dig.sig 2>sign2.log ||
	smk_fail "smkey sign --digest: $(cat sign2.log)"
v=$(openssl dgst -sha256 -verify out/apk-app.pub.pem -signature dig.sig msg 2>&1) ||
	smk_fail "openssl dgst -verify of the ecdsa signature: $v"
smk_log "ecdsa over a caller's digest: $v"

# an algorithm the key's list does not hold
out=$(smkd_call io.smkeyd.Sign "{\"seq\": $seq, \"algorithm\": \"ecdsa-sha384\", \"data\": \"YQ==\"}" || true)
smk_expect "ecdsa-sha384" 'InvalidParameter.*not in the algorithm list' "$out"
out=$(smkd_call io.smkeyd.Sign "{\"seq\": $seq, \"algorithm\": \"ecdsa-sha256\", \"data\": \"YQ==\", \"digest\": \"YQ==\"}" || true)
smk_expect "data and digest" 'InvalidParameter.*either data' "$out"

# ---- the record: audit, bundle, verify --signed ----
smkd_wait_covered "$rec"
smkd_call io.smkeyd.GetBundle "{\"seq\": $rec}" | smkd_json 'r["parameters"]["bundle"]' >sig.bundle.json
v=$(smkd_verify sig.bundle.json --signed msg 2>&1) || smk_fail "smkey verify --signed msg: $v"
smk_expect "verify --signed" 'signature \(ecdsa-sha256\): verifies with the attested key' "$v"
smk_expect "verify --signed" 'msg.*SHA-256 is the one record' "$v"
printf 'another file\n' >other
v=$(smkd_verify sig.bundle.json --signed other 2>&1) && smk_fail "verify --signed accepted another file: $v"
smk_expect "verify --signed other" "not the message SHA-256 signature record $rec holds" "$v"
smk_log "smkey verify --signed: msg accepted, another file refused"

# ---- who may: nobody gets PolicyDenied and no SIGN reaches the card ----
signs() { grep -c '"cmd":"sign"' card1.apdu.jsonl || true; }
before=$(signs)
[ "${before:-0}" -gt 0 ] || smk_fail "the simulator's APDU log shows no SIGN after two signatures"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMKEY" sign "${S[@]}" --key apk-app \
	msg 2>&1 >/dev/null) && smk_fail "nobody signed with apk-app: $out"
smk_expect "nobody's Sign" 'may not sign' "$out"
[ "$(signs)" = "$before" ] || smk_fail "a denied Sign reached the card ($before -> $(signs) SIGN commands)"
# the archive key, by its record
out=$(smkd_call io.smkeyd.Sign '{"seq": 0, "algorithm": "ecdsa-sha256", "data": "YQ=="}' || true)
smk_expect "Sign with the archive key" 'PolicyDenied.*archive key' "$out"
[ "$(signs)" = "$before" ] || smk_fail "a Sign with the archive key reached the card"
smk_log "nobody and the archive key refused, no SIGN sent: $out"

# ---- max-per-day ----
out=$("$SMKEY" generate "${S[@]}" --policy limited --label lim -o out --json 2>&1) ||
	smk_fail "generate limited: $out"
for i in 1 2 3; do
	"$SMKEY" sign "${S[@]}" --key apk-lim msg >/dev/null 2>sign.log ||
		smk_fail "signature $i of 3 with apk-lim: $(cat sign.log)"
done
before=$(signs)
out=$("$SMKEY" sign "${S[@]}" --key apk-lim msg 2>&1 >/dev/null) && smk_fail "a 4th signature with apk-lim: $out"
smk_expect "4th signature" 'daily limit.*max-per-day 3' "$out"
[ "$(signs)" = "$before" ] || smk_fail "the 4th signature reached the card"
smk_log "max-per-day 3: the 4th refused: $out"

# ---- log: false: signed, no record ----
out=$("$SMKEY" generate "${S[@]}" --policy unlogged --label quiet -o out --json 2>&1) ||
	smk_fail "generate unlogged: $out"
size=$(smkd_call io.smkeyd.GetCheckpoint '{}' | smkd_json 'r["parameters"]["checkpoint"]["size"]')
"$SMKEY" sign "${S[@]}" --key apk-quiet msg >quiet.sig 2>sign.log || smk_fail "sign with apk-quiet: $(cat sign.log)"
smk_expect "log: false" 'not archived' "$(cat sign.log)"
openssl dgst -sha256 -verify out/apk-quiet.pub.pem -signature quiet.sig msg >/dev/null 2>&1 ||
	smk_fail "the unlogged signature does not verify"
[ "$(smkd_call io.smkeyd.GetCheckpoint '{}' | smkd_json 'r["parameters"]["checkpoint"]["size"]')" = "$size" ] ||
	smk_fail "a log: false signature added a record"
smk_log "log: false: signed, nothing archived"

# ---- a Generate beside a burst of Signs on the one device ----
pids=()
for i in $(seq 12); do
	"$SMKEY" sign "${S[@]}" --key apk-app msg >"burst$i.sig" 2>"burst$i.log" &
	pids+=($!)
done
"$SMKEY" generate "${S[@]}" --policy release-apk --label late -o out --json >gen.json 2>&1 &
gpid=$!
for p in "${pids[@]}"; do wait "$p" || smk_fail "a Sign of the burst failed: $(cat burst*.log)"; done
wait "$gpid" || smk_fail "the Generate beside the burst failed: $(cat gen.json)"
for i in $(seq 12); do
	openssl dgst -sha256 -verify out/apk-app.pub.pem -signature "burst$i.sig" msg >/dev/null 2>&1 ||
		smk_fail "burst signature $i does not verify"
done
smk_log "12 Signs and a Generate on one device: all finished"

# ---- audit lists the signatures ----
out=$("$SMKEY" audit archive.db --trust trust 2>&1) || smk_fail "smkey audit: $out"
smk_expect "audit" "^  $rec +[0-9-]+ [0-9:]+Z +signature +- +by record $seq" "$out"
smk_expect "audit" "signature ecdsa-sha256 by record $seq, message SHA-256" "$out"
smk_expect "audit" "signature ecdsa by record $seq, digest" "$out"
smk_log "smkey audit: clean, lists the signatures"
smk_pass
