#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# smkeyd end to end: a private pcscd with two smkey-sim cards (one test
# root), smkeyd on its own config, and clients on its Unix socket:
#
#  - first start makes the archive key in an HSM (record 0);
#  - a generic varlink client calls GetInfo and Generate (with progress);
#    `smkey generate` makes keys under the other example policies; every
#    bundle passes `smkey verify`;
#  - the simulators saw every GAKP under secure messaging, none in plain, and
#    each key on a card carries exactly its policy's algorithm list (tag 91);
#  - a uid the policy does not allow gets PolicyDenied and no intent is
#    written; a malformed message gets an error and the daemon keeps serving;
#  - SIGTERM stops the daemon cleanly; then OpenSC's pkcs11-tool lists the
#    APK key with its label and signs with it (openssl verifies), and the
#    card refuses an algorithm outside the key's list;
#  - `smkey audit` finds the archive clean.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
# nobody runs these: copies it can read wherever the tree is (smk_shared_copy)
SMKEY=$(smk_shared_copy "$SMKEY")
SMKD_CLIENT=$(smk_shared_copy "$SMKD_CLIENT")

smk_start_pcscd 1
smk_sim_init card1 1
smk_sim_init card2 2
smk_sim_start card1 0
smk_sim_start card2 1
smk_wait_card 0
smk_wait_card 1

smkd_config
out=$("$SMKEYD" --check-config -c "$SMKD_CONF" 2>&1) || smk_fail "--check-config: $out"
smk_expect "--check-config" 'ok: 1 device entry, 3 policies, 1 trust anchor' "$out"
smk_log "smkeyd --check-config: $out"

smkd_start
smkd_wait_log 'ready'
log=$(cat "$SMK_TMP/smkeyd.log")
smk_expect "start log" 'ZZSIM0000100000 up' "$log"
smk_expect "start log" 'ZZSIM0000200000 up' "$log"
smk_expect "start log" 'archive key created: key 1, record 0' "$log"
smk_log "both HSMs up; archive key made in an HSM as record 0"

# ---- a generic varlink client: GetInfo and Generate ----
out=$(smkd_call org.varlink.service.GetInfo '{}') || smk_fail "GetInfo: $out"
smk_expect "GetInfo" '"io.smkeyd"' "$out"
out=$(smkd_call io.smkeyd.Generate '{"policy": "release-apk", "label": "demo"}' --more) ||
	smk_fail "Generate release-apk: $out"
for stage in queued session generating archived; do
	smk_expect "Generate progress" "\"stage\": \"$stage\"" "$out"
done
smkd_json 'r["parameters"]["bundle"]' <<<"$out" >"$SMK_TMP/release-apk.bundle"
smkd_json 'r["parameters"]["public_key_pem"]' <<<"$out" >"$SMK_TMP/release-apk.pem"
read -r apk_id apk_dev apk_label < <(smkd_json \
	'"%s %s %s" % (r["parameters"]["key_id"], r["parameters"]["device"], r["parameters"]["label"])' <<<"$out")
[ "$apk_label" = apk-demo ] || smk_fail "label of the APK key is $apk_label, not apk-demo"
smk_log "varlink Generate release-apk: progress queued/session/generating/archived; key $apk_id \"$apk_label\" on $apk_dev"

# ---- smkey generate under the other policies ----
mkdir -p "$SMK_TMP/out" "$SMK_TMP/out-nobody"
chmod 0711 "$SMK_TMP"
chmod 0777 "$SMK_TMP/out-nobody"
out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy firmware-rsa --label fw -o "$SMK_TMP/out" --json 2>&1) ||
	smk_fail "smkey generate firmware-rsa: $out"
read -r fw_id fw_dev fw_req < <(smkd_json '"%s %s %s" % (r["key_id"], r["device"], r["request_id"])' <<<"$out")
# ecdh-agreement allows the group adm only: ask as nobody in group adm
out=$(setpriv --reuid=nobody --regid=adm --clear-groups "$SMKEY" generate --socket "$SMKD_SOCK" \
	--policy ecdh-agreement --label kex -o "$SMK_TMP/out-nobody" --json 2>&1) ||
	smk_fail "smkey generate ecdh-agreement as nobody:adm: $out"
read -r kex_id kex_dev < <(smkd_json '"%s %s" % (r["key_id"], r["device"])' <<<"$out")
smk_log "smkey generate: firmware-rsa key $fw_id on $fw_dev, ecdh-agreement key $kex_id on $kex_dev (as nobody:adm)"

for b in "$SMK_TMP/release-apk.bundle" "$SMK_TMP"/out*/*.bundle.json; do
	v=$(smkd_verify "$b" 2>&1) || smk_fail "smkey verify $b: $v"
	smk_log "smkey verify $(basename "$b"): ok"
done
bundles=("$SMK_TMP"/out*/*.bundle.json)
[ "${#bundles[@]}" = 2 ] || smk_fail "expected 2 bundles from smkey generate"

# ---- smkey export asks the daemon for what generate wrote ----
"$SMKEY" export "$fw_req" --cvreq --socket "$SMKD_SOCK" -o "$SMK_TMP/fw2.cvreq" ||
	smk_fail "smkey export --cvreq $fw_req"
cmp "$SMK_TMP/fw2.cvreq" "$SMK_TMP/out/fw-fw.cvreq" || smk_fail "exported CV request differs from generate's"
"$SMKEY" export "$fw_req" --pem --socket "$SMKD_SOCK" -o "$SMK_TMP/fw2.pem" ||
	smk_fail "smkey export --pem $fw_req"
cmp "$SMK_TMP/fw2.pem" "$SMK_TMP/out/fw-fw.pub.pem" || smk_fail "exported public key differs from generate's"
out=$("$SMKEY" export 99999 --pem --socket "$SMKD_SOCK" 2>&1) && smk_fail "export of a missing record succeeded: $out"
smk_log "smkey export (online): CV request and public key equal what generate wrote"

# ---- what the cards saw ----
ngakp=0
for card in card1 card2; do
	if grep -q '"cmd":"gakp","sm":false' "$SMK_TMP/$card.apdu.jsonl"; then
		smk_fail "$card: a GAKP arrived in plain"
	fi
	n=$(grep -c '"cmd":"gakp","sm":true' "$SMK_TMP/$card.apdu.jsonl" || true)
	ngakp=$((ngakp + n))
done
[ "$ngakp" = 4 ] || smk_fail "expected 4 GAKP under SM (archive key + 3 keys), saw $ngakp"
smk_log "all $ngakp GAKP came under secure messaging, none in plain"
policies=$(smkd_call io.smkeyd.ListPolicies '{}') || smk_fail "ListPolicies: $policies"
for spec in "release-apk $apk_id $apk_dev" "firmware-rsa $fw_id $fw_dev" "ecdh-agreement $kex_id $kex_dev"; do
	read -r policy kid dev <<<"$spec"
	want=$(smkd_json "[p['alg_list_hex'] for p in r['parameters']['policies'] if p['name'] == '$policy'][0].upper()" <<<"$policies")
	card=$(smkd_card_of "$dev")
	got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"][sys.argv[2]].get("algorithms","(none)").upper())' \
		"$SMK_TMP/$card.json" "$kid")
	[ -n "$want" ] && [ "$got" = "$want" ] ||
		smk_fail "$policy: key $kid on $card has algorithm list $got, the policy says $want"
	smk_log "$policy: key $kid on $card is restricted to algorithm list $got, as the policy says"
done

# ---- refusals ----
before=$(sqlite3 "$SMK_TMP/archive.db" 'SELECT count(*) FROM intents')
out=$(setpriv --reuid=nobody --regid=nogroup --clear-groups /usr/bin/python3 "$SMKD_CLIENT" "$SMKD_SOCK" \
	io.smkeyd.Generate '{"policy": "release-apk", "label": "intruder"}' 2>&1) &&
	smk_fail "nobody was allowed to generate: $out"
smk_expect "nobody's Generate" 'io.smkeyd.PolicyDenied' "$out"
after=$(sqlite3 "$SMK_TMP/archive.db" 'SELECT count(*) FROM intents')
[ "$before" = "$after" ] || smk_fail "a denied request wrote an intent ($before -> $after)"
smk_log "uid nobody: PolicyDenied, no intent written ($after intents)"

out=$(python3 - "$SMKD_SOCK" <<'PY'
import socket, sys
s = socket.socket(socket.AF_UNIX)
s.connect(sys.argv[1])
s.sendall(b'{"method": "io.smkeyd.Generate", "parameters": [1,\0')
print(s.recv(65536).decode(errors="replace"))
PY
)
smk_expect "malformed message" 'error' "$out"
out=$(smkd_call io.smkeyd.ListDevices '{}') || smk_fail "no service after a malformed message: $out"
smk_expect "ListDevices" '"state": "up"' "$out"
smk_log "malformed message answered with an error; the daemon still serves"

# ---- clean stop, then OpenSC on the APK key's card ----
smkd_stop
smkd_wait_log 'all requests answered; exiting'
export HOME=$SMK_TMP
apk_card=$(smkd_card_of "$apk_dev")
apk_reader=$([ "$apk_card" = card1 ] && echo 0 || echo 1)
p11() { pkcs11-tool --module "$SMKD_P11" --slot-index "$apk_reader" "$@"; }
out=$(p11 --login --pin "$SMKD_PIN" -O 2>&1) || smk_fail "pkcs11-tool -O: $out"
smk_expect "pkcs11-tool -O" 'label: +apk-demo' "$out"
id=$(awk '/label: +apk-demo/{f=1} f && /ID:/{print $2; exit}' <<<"$out")
[ -n "$id" ] || smk_fail "no ID for apk-demo in: $out"
smk_log "pkcs11-tool lists the APK key: label apk-demo, ID $id"
for spec in "fw-fw $fw_dev" "kex-kex $kex_dev"; do
	read -r label dev <<<"$spec"
	r=$([ "$(smkd_card_of "$dev")" = card1 ] && echo 0 || echo 1)
	out=$(pkcs11-tool --module "$SMKD_P11" --slot-index "$r" --login --pin "$SMKD_PIN" -O 2>&1) ||
		smk_fail "pkcs11-tool -O on reader $r: $out"
	smk_expect "pkcs11-tool -O reader $r" "label: +$label" "$out"
	smk_log "pkcs11-tool lists $label on $dev"
done
echo "release 1.0" >"$SMK_TMP/msg"
p11 --login --pin "$SMKD_PIN" --sign --id "$id" -m ECDSA-SHA256 --input-file "$SMK_TMP/msg" \
	--output-file "$SMK_TMP/sig" --signature-format openssl >"$SMK_TMP/sign.log" 2>&1 ||
	smk_fail "pkcs11-tool sign with the APK key: $(cat "$SMK_TMP/sign.log")"
v=$(openssl dgst -sha256 -verify "$SMK_TMP/release-apk.pem" -signature "$SMK_TMP/sig" "$SMK_TMP/msg" 2>&1) || true
smk_expect "openssl verify APK signature" '^Verified OK$' "$v"
smk_log "pkcs11-tool signed with the APK key; openssl with the archived public key: Verified OK"
# the card itself refuses what the list does not name: ECDSA with SHA-512
# (0x75) is not in [ecdsa-sha256, ecdsa]; smkey card talks to the card
# directly under SM, so no host-side check stands in between
reader_name=$("$SMKEY" card list 2>/dev/null | grep -o "smk-vpcd-0 00 0$apk_reader" | head -n 1)
[ -n "$reader_name" ] || smk_fail "reader $apk_reader not in: $("$SMKEY" card list 2>&1)"
out=$("$SMKEY" card sign -r "$reader_name" -t "$SMK_TMP/trust" -p "$SMK_TMP/pin" \
	--id "$apk_id" --alg ecdsa-sha512 --in "$SMK_TMP/msg" --out "$SMK_TMP/sig512" 2>&1) &&
	smk_fail "the card signed with ecdsa-sha512, outside the key's list: $out"
smk_expect "sign outside the list" '6A81' "$out"
smk_log "the card refuses ecdsa-sha512 with the APK key: $out"

# ---- the audit ----
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_log "smkey audit: clean ($(grep -c . <<<"$out") lines of report)"
smk_pass
