#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Certificates for an smkeyd key without losing its attestation:
#
#  - an APK key (release-apk) gets a self-signed certificate made in the HSM
#    (`smkey selfsign`), which `smkey import-cert` writes into its CE|id;
#  - OpenSC then lists the key AND its certificate under one ID, signs with
#    ECDSA-SHA256, and the signature verifies with the certificate's key;
#  - a certificate of another key is refused (CertificateMismatch), and so is
#    an import for a request that never became a record (a failed and an
#    unknown request id) or for a record that is not a key; nothing reaches
#    the card then;
#  - `smkey verify` still proves the key's origin and policy from its bundle,
#    says with --certificate that the certificate holds the attested key, and
#    verifies the import record's bundle;
#  - `smkey csr` output passes `openssl req -verify`; a CSR for a key whose
#    algorithm list allows no signature (ecdh-agreement) is refused naming
#    the list; a uid the key's policy does not allow gets PolicyDenied.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
# nobody runs these: copies it can read wherever the tree is (smk_shared_copy)
SMKEY=$(smk_shared_copy "$SMKEY")
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_one_card
smkd_config
smkd_start
smkd_wait_log 'ready'
S=(--socket "$SMKD_SOCK")
dev=$(smkd_call io.smkeyd.ListDevices '{}' | smkd_json 'r["parameters"]["devices"][0]["serial"]')

mkdir -p out out-nobody
chmod 0711 "$SMK_TMP"
chmod 0777 out-nobody
out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label app -o out --json 2>&1) ||
	smk_fail "generate release-apk: $out"
read -r apk_seq apk_id < <(smkd_json '"%s %s" % (r["seq"], r["key_id"])' <<<"$out")
out=$("$SMKEY" generate "${S[@]}" --policy release-apk --label other -o out --json 2>&1) ||
	smk_fail "generate the second release-apk key: $out"
other_seq=$(smkd_json 'r["seq"]' <<<"$out")
smk_log "APK keys: apk-app record $apk_seq (key $apk_id), apk-other record $other_seq"

# ---- self-signed certificate, made in the HSM ----
subject="/CN=Release key/O=Example Ltd/C=DE"
out=$("$SMKEY" selfsign "${S[@]}" apk-app --subject "$subject" -o cert.pem 2>&1) ||
	smk_fail "smkey selfsign: $out"
openssl x509 -in cert.pem -noout -pubkey >cert.pub.pem
cmp -s cert.pub.pem out/apk-app.pub.pem || smk_fail "the certificate's key is not the archived key"
v=$(openssl x509 -in cert.pem -noout -subject 2>&1)
smk_expect "certificate subject" 'CN *= *Release key, O *= *Example Ltd, C *= *DE' "$v"
# 25 years by default: still valid in 24 years, not in 26
openssl x509 -in cert.pem -noout -checkend $((24 * 365 * 86400)) >/dev/null ||
	smk_fail "the certificate expires within 24 years"
openssl x509 -in cert.pem -noout -checkend $((26 * 365 * 86400)) >/dev/null &&
	smk_fail "the certificate is valid for more than 26 years"
v=$(openssl verify -check_ss_sig -partial_chain -trusted cert.pem cert.pem 2>&1) ||
	smk_fail "openssl verify of the self-signed certificate: $v"
v=$(openssl x509 -in cert.pem -noout -text)
smk_expect "extensions" 'Digital Signature' "$v"
smk_expect "extensions" 'CA:FALSE' "$v"
smk_log "selfsign: certificate for the archived key, 25 years, self-signature verifies"

# ---- refusals: nothing reaches the card ----
writes() { grep -c '"cmd":"update"' card1.apdu.jsonl || true; }
before=$(writes)
"$SMKEY" selfsign "${S[@]}" apk-other --subject "/CN=Other" -o other.pem >/dev/null 2>&1 ||
	smk_fail "selfsign apk-other"
out=$("$SMKEY" import-cert "${S[@]}" apk-app other.pem 2>&1) &&
	smk_fail "a certificate of apk-other was imported for apk-app: $out"
smk_expect "import of another key's certificate" 'certificate refused: .*not the key' "$out"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout soft.key \
	-subj /CN=soft -days 1 -out soft.pem 2>/dev/null
out=$("$SMKEY" import-cert "${S[@]}" apk-app soft.pem 2>&1) &&
	smk_fail "a software key's certificate was imported: $out"
smk_expect "import of a software key's certificate" 'certificate refused' "$out"
smk_ctl card1 fault cmd=gakp:sw=6A80 >/dev/null
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "broken"}' 2>&1) &&
	smk_fail "generation with a refused GAKP succeeded: $out"
failed_req=$(smkd_json 'r["parameters"]["request_id"]' <<<"$out")
out=$("$SMKEY" import-cert "${S[@]}" "$failed_req" cert.pem 2>&1) &&
	smk_fail "import for the failed request $failed_req succeeded: $out"
smk_expect "import for a failed request" 'no such record' "$out"
out=$("$SMKEY" import-cert "${S[@]}" 0123456789abcdef0123456789abcdef cert.pem 2>&1) &&
	smk_fail "import for an unknown request succeeded: $out"
smk_expect "import for an unknown request" 'no such record' "$out"
out=$("$SMKEY" import-cert "${S[@]}" 0 cert.pem 2>&1) &&
	smk_fail "import for the archive key's record succeeded: $out"
smk_expect "import for record 0" "not a key record" "$out"
[ "$(writes)" = "$before" ] || smk_fail "a refused import wrote to the card"
smk_log "refused without a card write: another key's certificate, a software key's, failed request $failed_req, an unknown request, record 0"

# ---- the import ----
out=$("$SMKEY" import-cert "${S[@]}" apk-app cert.pem -o import.bundle.json --json 2>&1) ||
	smk_fail "smkey import-cert: $out"
read -r imp_seq key_seq fp < <(smkd_json '"%s %s %s" % (r["seq"], r["key_seq"], r["fingerprint"])' <<<"$out")
[ "$key_seq" = "$apk_seq" ] || smk_fail "import names key record $key_seq, not $apk_seq"
want=$(openssl x509 -in cert.pem -outform DER | sha256sum | cut -d' ' -f1)
[ "$fp" = "$want" ] || smk_fail "import fingerprint $fp is not the certificate's $want"
rec=$(smkd_call io.smkeyd.GetRecord "{\"seq\": $imp_seq}")
smk_expect "import record" '"kind": "certificate"' "$rec"
out=$("$SMKEY" inspect "${S[@]}" --device "$dev" 2>&1) || smk_fail "smkey inspect: $out"
smk_expect "inspect after the import" "apk-app .* x509 .* record $apk_seq \(key\)" "$out"
smk_expect "inspect after the import" "certificate imported as record $imp_seq" "$out"
smk_expect "inspect after the import" "certificate: CN *= *Release key|certificate: CN=Release key" "$out"
smk_log "import-cert: record $imp_seq (kind certificate) for key record $key_seq, fingerprint $fp"

# ---- what the records prove ----
v=$(smkd_verify out/apk-app.bundle.json 2>&1) ||
	smk_fail "smkey verify of the key's bundle after the import: $v"
v=$(smkd_verify out/apk-app.bundle.json --certificate cert.pem 2>&1) ||
	smk_fail "smkey verify --certificate: $v"
smk_expect "verify --certificate" 'holds the attested key' "$v"
v=$(smkd_verify out/apk-app.bundle.json --certificate soft.pem 2>&1) &&
	smk_fail "smkey verify accepted a software key's certificate: $v"
v=$(smkd_verify import.bundle.json 2>&1) ||
	smk_fail "smkey verify of the import record's bundle: $v"
smk_log "smkey verify: the key's bundle still verifies; the certificate holds the attested key; the import bundle verifies"

# ---- CSR ----
out=$("$SMKEY" csr "${S[@]}" "$apk_seq" --subject "/CN=apk-app/O=Example Ltd" -o req.pem 2>&1) ||
	smk_fail "smkey csr: $out"
v=$(openssl req -in req.pem -verify -noout 2>&1) || smk_fail "openssl req -verify: $v"
smk_expect "openssl req -verify" 'verify OK' "$v"
openssl req -in req.pem -noout -pubkey >req.pub.pem
cmp -s req.pub.pem out/apk-app.pub.pem || smk_fail "the CSR's key is not the archived key"
smk_log "smkey csr: openssl req -verify says $v; the request holds the archived key"

out=$(setpriv --reuid=nobody --regid=adm --clear-groups "$SMKEY" generate "${S[@]}" \
	--policy ecdh-agreement --label kex -o out-nobody --json 2>&1) ||
	smk_fail "generate ecdh-agreement as nobody:adm: $out"
out=$(setpriv --reuid=nobody --regid=adm --clear-groups "$SMKEY" csr "${S[@]}" kex-kex \
	--subject /CN=kex 2>&1) && smk_fail "CSR for the ECDH-only key: $out"
smk_expect "CSR for the ECDH-only key" 'ecdh' "$out"
smk_expect "CSR for the ECDH-only key" 'refused' "$out"
smk_log "CSR for the ecdh-agreement key refused: $out"
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$SMKEY" csr "${S[@]}" "$apk_seq" \
	--subject /CN=intruder 2>&1) && smk_fail "nobody made a CSR with the APK key: $out"
smk_expect "nobody's CSR" 'not allowed' "$out"
smk_log "nobody:nogroup may not use the APK key: $out"

# ---- OpenSC sees key and certificate, and signs ----
smkd_stop
smkd_wait_log 'all requests answered; exiting'
p11() { pkcs11-tool --module "$SMKD_P11" --slot-index 0 "$@"; }
out=$(p11 --login --pin "$SMKD_PIN" -O 2>&1) || smk_fail "pkcs11-tool -O: $out"
id=$(awk '/label: +apk-app$/{f=1} f && /ID:/{print $2; exit}' <<<"$out")
[ -n "$id" ] || smk_fail "no ID for apk-app in: $out"
cert_ids=$(awk '/Certificate Object/{f=1} f && /ID:/{print $2; f=0}' <<<"$out")
grep -qx "$id" <<<"$cert_ids" ||
	smk_fail "pkcs11-tool lists no certificate with the key's ID $id (certificates: $cert_ids): $out"
smk_log "pkcs11-tool -O: apk-app and its certificate, both ID $id"
echo "release 2.0" >msg
p11 --login --pin "$SMKD_PIN" --sign --id "$id" -m ECDSA-SHA256 --input-file msg \
	--output-file sig --signature-format openssl >sign.log 2>&1 ||
	smk_fail "pkcs11-tool --sign: $(cat sign.log)"
v=$(openssl dgst -sha256 -verify cert.pub.pem -signature sig msg 2>&1) || true
smk_expect "signature with the certificate's key" '^Verified OK$' "$v"
p11 --read-object --type cert --id "$id" --output-file card-cert.der >/dev/null 2>&1 ||
	smk_fail "pkcs11-tool cannot read the certificate back"
cmp -s card-cert.der <(openssl x509 -in cert.pem -outform DER) ||
	smk_fail "the certificate on the card differs from the imported one"
smk_log "OpenSC signed with ECDSA-SHA256; openssl verifies with the certificate's key"

# ---- an import interrupted by kill -9 is settled at the next start ----
# after the write: CE|id holds the certificate, so recovery commits it
smkd_start SMKEYD_TEST_CRASH_AT=after-cert-write
smkd_wait_log 'ready'
out=$("$SMKEY" import-cert "${S[@]}" apk-other other.pem 2>&1) &&
	smk_fail "import survived SMKEYD_TEST_CRASH_AT=after-cert-write: $out"
wait "$SMKD_PID" 2>/dev/null || true
mv smkeyd.log smkeyd-crash1.log
smkd_start
smkd_wait_log 'ready'
smk_expect "recovery log" "certificate import for record $other_seq found in CE\|[0-9A-F]{2}, archived as record" \
	"$(cat smkeyd.log)"
out=$(smkd_call io.smkeyd.ListRecords '{}')
n=$(smkd_json "len([x for x in r['parameters']['records'] if x['kind'] == 'certificate'])" <<<"$out")
[ "$n" = 2 ] || smk_fail "expected 2 certificate records after recovery, saw $n"
smkd_stop
# before the write: CE|id still holds the CV request, so the intent fails
mv smkeyd.log smkeyd-recovered1.log
smkd_start SMKEYD_TEST_CRASH_AT=before-cert-write
smkd_wait_log 'ready'
"$SMKEY" selfsign "${S[@]}" apk-app --subject "/CN=Second" -o second.pem >/dev/null 2>&1 ||
	smk_fail "selfsign before the second crash"
out=$("$SMKEY" import-cert "${S[@]}" apk-app second.pem 2>&1) &&
	smk_fail "import survived SMKEYD_TEST_CRASH_AT=before-cert-write: $out"
wait "$SMKD_PID" 2>/dev/null || true
mv smkeyd.log smkeyd-crash2.log
smkd_start
smkd_wait_log 'ready'
smk_expect "recovery log" 'interrupted before the certificate reached the card' "$(cat smkeyd.log)"
smkd_stop
smk_log "kill -9 after the card write: recovery archives the import; before it: the intent fails"

out=$("$SMKEY" audit archive.db --trust trust 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean"
smk_pass
