#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Re-make the examples of docs/varlink.md, "Certificates, adoption and
# inspection": the real smkeyd over smkey-sim (private namespaces, pcscd,
# vpcd, as the integration tests run), one call per exchange with
# tests/integration/varlink_client.py. Not a ctest entry; run as root after
# a build:
#
#   tests/integration/capture_examples.sh            # values shortened, as in the doc
#   SMK_CAPTURE_FULL=1 tests/integration/capture_examples.sh   # nothing shortened
#
# Prints the exchanges on stdout in the doc's form; progress goes to stderr.
# Shortening: a PEM, bundle or base64 value (csr, certificate, bundle,
# public_key_pem, cvreq) longer than 64 characters keeps its first 40 and
# ends in "…"; nothing else is changed.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
# nobody runs these: copies it can read wherever the tree is (smk_shared_copy)
SMKEY=$(smk_shared_copy "$SMKEY")
export HOME=$SMK_TMP
cd "$SMK_TMP"

# shorten [--keep-order]: each stdin line is one JSON document, printed back
# as varlink_client.py prints it (sorted keys, ASCII escapes) with the long
# values (PEM, bundle JSON, base64) cut; --keep-order for a call's parameters,
# shown in the order they were sent.
shorten() {
	python3 -c '
import json, os, sys
full = os.environ.get("SMK_CAPTURE_FULL")
LONG = {"csr", "certificate", "bundle", "public_key_pem", "cvreq"}
MARK = "\x00ELLIPSIS\x00"
def cut(v, key=None):
    if isinstance(v, str):
        return v if full or key not in LONG or len(v) <= 64 else v[:40] + MARK
    if isinstance(v, list):
        return [cut(x) for x in v]
    if isinstance(v, dict):
        return {k: cut(x, k) for k, x in v.items()}
    return v
for line in sys.stdin:
    line = line.strip()
    if not line:
        continue
    try:
        doc = json.loads(line)
    except ValueError:
        print(line)  # the client'"'"'s own message, e.g. a broken connection
        continue
    out = json.dumps(cut(doc), sort_keys=len(sys.argv) < 2)
    print(out.replace(json.dumps(MARK)[1:-1], "\u2026"))' "$@"
}

# ex METHOD PARAMS: one call, shown as a command line and its
# replies (indented four spaces, as in the doc); the full replies are left in
# $SMK_TMP/last.json.
ex() {
	local method=$1 params=$2
	# shellcheck disable=SC2016 # $S is shown, not expanded
	printf '    $ python3 tests/integration/varlink_client.py $S %s '\''%s'\''\n' \
		"$method" "$(shorten --keep-order <<<"$params")"
	python3 "$SMKD_CLIENT" "$SMKD_SOCK" "$method" "$params" >last.json 2>&1 || true
	shorten <last.json | sed 's/^/    /'
	echo
}

smk_start_pcscd 1
smk_sim_init card1 1
smk_sim_start card1 0
smk_wait_card 0

# ---- two keys made by OpenSC before smkeyd holds the card (test_adopt.sh) ----
p11() { pkcs11-tool --module "$SMKD_P11" --slot-index 0 --login --pin "$SMKD_PIN" "$@"; }
p11 --keypairgen --key-type EC:prime256v1 --label opensc-kept >p11.log 2>&1 ||
	smk_fail "pkcs11-tool --keypairgen opensc-kept: $(cat p11.log)"
p11 --keypairgen --key-type EC:prime256v1 --label opensc-certified >p11.log 2>&1 ||
	smk_fail "pkcs11-tool --keypairgen opensc-certified: $(cat p11.log)"
objs=$(p11 -O 2>&1) || smk_fail "pkcs11-tool -O: $objs"
cert_id=$(awk '/label: +opensc-certified$/{f=1} f && /ID:/{print $2; exit}' <<<"$objs")
[ -n "$cert_id" ] || smk_fail "no ID for opensc-certified in: $objs"
p11 --read-object --type pubkey --id "$cert_id" --output-file certified.pub.der >/dev/null 2>&1 ||
	smk_fail "cannot read opensc-certified's public key"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
	-subj /CN=ca -days 2 -out ca.pem 2>/dev/null
openssl pkey -pubin -inform DER -in certified.pub.der -out certified.pub.pem
openssl x509 -new -force_pubkey certified.pub.pem -subj "/CN=opensc-certified" -CA ca.pem \
	-CAkey ca.key -days 2 -outform DER -out certified.der 2>/dev/null ||
	smk_fail "cannot make a certificate for opensc-certified"
p11 --write-object certified.der --type cert --id "$cert_id" --label opensc-certified >p11.log 2>&1 ||
	smk_fail "pkcs11-tool --write-object cert: $(cat p11.log)"

# ---- smkeyd, its keys ----
smkd_config "admin-groups: [adm]"
smkd_start
smkd_wait_log 'ready'
chmod 0711 "$SMK_TMP"
dev=$(smkd_call io.smkeyd.ListDevices '{}' | smkd_json 'r["parameters"]["devices"][0]["serial"]')
gen() {
	local out
	out=$(python3 "$SMKD_CLIENT" "$SMKD_SOCK" io.smkeyd.Generate \
		"{\"policy\": \"$1\", \"label\": \"$2\"}" 2>&1) || smk_fail "generate $1 $2: $out"
	smkd_json '"%s %s %s" % (r["parameters"]["seq"], r["parameters"]["key_id"], r["parameters"]["label"])' <<<"$out"
}
read -r apk_seq apk_kid apk_label < <(gen release-apk app)
read -r other_seq other_kid other_label < <(gen release-apk other)
# ecdh-agreement allows group adm only; root's python3 may be out of nobody's reach
mkdir -p out-nobody
chmod 0777 out-nobody
out=$(setpriv --reuid=nobody --regid=adm --clear-groups "$SMKEY" generate --socket "$SMKD_SOCK" \
	--policy ecdh-agreement --label kex -o out-nobody --json 2>&1) ||
	smk_fail "generate ecdh-agreement as nobody:adm: $out"
read -r kex_seq kex_kid kex_label < <(smkd_json '"%s %s %s" % (r["seq"], r["key_id"], r["label"])' <<<"$out")
objs=$(smkd_call io.smkeyd.ListDeviceObjects "{\"device\": \"$dev\"}")
kept_kid=$(smkd_json '[o["key_id"] for o in r["parameters"]["objects"] if o.get("label") == "opensc-kept"][0]' <<<"$objs")
cert_kid=$(smkd_json '[o["key_id"] for o in r["parameters"]["objects"] if o.get("label") == "opensc-certified"][0]' <<<"$objs")
smk_log "device $dev: $apk_label record $apk_seq key $apk_kid, $other_label record $other_seq key $other_kid, $kex_label record $kex_seq key $kex_kid; opensc-kept key $kept_kid, opensc-certified key $cert_kid"

cat <<EOF
Device $dev: records $apk_seq \`$apk_label\` (key $apk_kid) and $other_seq \`$other_label\` (key $other_kid), release-apk;
record $kex_seq \`$kex_label\` (key $kex_kid), ecdh-agreement, made by nobody:adm; opensc-kept (key $kept_kid) and
opensc-certified (key $cert_kid, a certificate in its CE) made by pkcs11-tool. The caller is root.

EOF

printf '#### %s\n\n' CreateCSR
ex io.smkeyd.CreateCSR "{\"seq\": $apk_seq, \"subject\": \"/CN=apk-app/O=Example Ltd\"}"
ex io.smkeyd.CreateCSR "{\"seq\": $kex_seq, \"subject\": \"/CN=kex\"}"

printf '#### %s\n\n' SelfSign
ex io.smkeyd.SelfSign "{\"seq\": $apk_seq, \"subject\": \"/CN=Release key/O=Example Ltd/C=DE\"}"
smkd_json 'r["parameters"]["certificate"]' <last.json >app.pem
ex io.smkeyd.SelfSign "{\"seq\": $apk_seq, \"subject\": \"/CN=Release key/OU\"}"
python3 "$SMKD_CLIENT" "$SMKD_SOCK" io.smkeyd.SelfSign "{\"seq\": $other_seq, \"subject\": \"/CN=Other\"}" |
	smkd_json 'r["parameters"]["certificate"]' >other.pem

printf '#### %s\n\n' ImportCertificate
imp() { python3 -c 'import json, sys; print(json.dumps({"seq": int(sys.argv[1]), "certificate": open(sys.argv[2]).read()}))' "$@"; }
ex io.smkeyd.ImportCertificate "$(imp "$apk_seq" app.pem)"
ex io.smkeyd.ImportCertificate "$(imp "$apk_seq" other.pem)"

printf '#### %s\n\n' Adopt
ex io.smkeyd.Adopt "{\"device\": \"$dev\", \"key_id\": $kept_kid}"
ex io.smkeyd.Adopt "{\"device\": \"$dev\", \"key_id\": $cert_kid}"

printf '#### %s\n\n' ListDeviceObjects
ex io.smkeyd.ListDeviceObjects "{\"device\": \"$dev\"}"
ex io.smkeyd.ListDeviceObjects '{"device": "DENK9999999"}'

smkd_stop
smk_pass
