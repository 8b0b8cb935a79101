#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Output that cannot lie to a terminal (common/show.h). Hostile text with
# ESC [2K (erase the line), CR, a newline and a fake "  ok  " line reaches
# smkey and smkeyd by every way it can:
#
#  - a policy description (policy files take any text): `smkey policies`
#    and `smkey policy check`;
#  - a certificate subject with ESC and a C1 CSI (U+009B), imported for a
#    key: `smkey inspect`, `smkey audit`, and the "ok" line of `smkey verify`
#    for the certificate's bundle;
#  - a label no smkeyd would write (labels are printable at Generate and in
#    the archive writer), forged into an archived record as someone holding
#    the archive file could: `smkey list`, `smkey show`, `smkey audit`, and
#    the FAILED line of `smkey verify` for its bundle;
#  - varlink calls whose field name, parameter name and method name hold a
#    newline and ESC, and a client whose executable path holds them: the
#    daemon log.
#
# Every output must be free of raw control bytes (only the newlines and tabs
# of the output's own layout), and must show the escaped form
# (common/show.h): "\x1B[2K\r  ok  forged\nsmkeyd: info: forged".
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

HOSTILE=$'\e[2K\r  ok  forged\nsmkeyd: info: forged'
SHOWN='\x1B[2K\r  ok  forged\nsmkeyd: info: forged'

# clean LABEL FILE: no byte below 0x20 but newline and tab, no DEL, no C1
# control in UTF-8 (C2 80..C2 9F), and no line of the fake text's own
clean() {
	python3 - "$1" "$2" <<'PY' || smk_fail "$1: raw control bytes in the output (see above)"
import re, sys
label, path = sys.argv[1], sys.argv[2]
data = open(path, "rb").read()
bad = [(m.start(), m.group()) for m in re.finditer(rb"[\x00-\x08\x0b-\x1f\x7f]|\xc2[\x80-\x9f]", data)]
forged = [l for l in data.split(b"\n") if l.startswith(b"smkeyd: info: forged") or l.startswith(b"  ok  forged")]
if bad or forged:
    sys.stderr.write("%s: %d raw control bytes %r, forged lines %r\n%s\n" % (
        label, len(bad), bad[:5], forged, data.decode("utf-8", "replace")))
    sys.exit(1)
PY
}

# shows LABEL FILE TEXT: the output holds TEXT (fixed string) and is clean
shows() {
	clean "$1" "$2"
	grep -qF -- "$3" "$2" || {
		cat "$2" >&2
		smk_fail "$1: the escaped form $3 is not in the output"
	}
}

smk_one_card
smkd_config
# a policy file is text an administrator copied from somewhere
sed -e 's/^name: release-apk/name: hostile/' \
	-e 's/^description: .*/description: "\\e[2K\\r  ok  forged\\nsmkeyd: info: forged"/' \
	-e 's/^label: apk-/label: hostile-/' \
	policies.d/release-apk.yaml >policies.d/hostile.yaml
smkd_start
smkd_wait_log 'ready'
S=(--socket "$SMKD_SOCK")
dev=$(smkd_call io.smkeyd.ListDevices '{}' | smkd_json 'r["parameters"]["devices"][0]["serial"]')

# ---- a policy description ----
"$SMKEY" policies "${S[@]}" >policies.out 2>&1 || smk_fail "smkey policies: $(cat policies.out)"
shows "smkey policies" policies.out "description  $SHOWN"
"$SMKEY" policy check policies.d >check.out 2>&1 || smk_fail "smkey policy check: $(cat check.out)"
shows "smkey policy check" check.out "description  $SHOWN"
"$SMKEY" policies "${S[@]}" --json >policies.json 2>&1 || smk_fail "smkey policies --json"
shows "smkey policies --json" policies.json '\u001B[2K\r  ok  forged\nsmkeyd'
smk_log "policy description: escaped in policies, policy check and --json"

# ---- a certificate subject ----
mkdir -p out
out=$("$SMKEY" generate "${S[@]}" --policy hostile --label victim -o out --json 2>&1) ||
	smk_fail "generate: $out"
seq=$(smkd_json 'r["seq"]' <<<"$out")
clean "smkey generate --json" <(printf '%s' "$out")
openssl ecparam -name prime256v1 -genkey -noout -out issuer.key 2>/dev/null
# OpenSSL itself escapes C0 controls in a subject line (\1B), not C1 ones
openssl x509 -new -key issuer.key -force_pubkey out/hostile-victim.pub.pem -days 2 \
	-subj "/CN=$HOSTILE"$'\xc2\x9b2K/O=Example' -out hostile.pem 2>openssl.err ||
	smk_fail "openssl x509 -new: $(cat openssl.err)"
out=$("$SMKEY" import-cert "${S[@]}" "$seq" hostile.pem 2>&1) || smk_fail "import-cert: $out"
cert_seq=$(smkd_call io.smkeyd.ListRecords '{}' | smkd_json 'r["parameters"]["records"][-1]["seq"]')
"$SMKEY" inspect "${S[@]}" --device "$dev" >inspect.out 2>&1 || smk_fail "inspect: $(cat inspect.out)"
shows "smkey inspect" inspect.out '\xC2\x9B2K'
# the certificate's bundle: every check up to the checkpoint holds, whose
# root is then changed so that verify stops there
"$SMKEY" bundle "${S[@]}" -o cert-bundle.json "$cert_seq" || smk_fail "bundle $cert_seq"
python3 - <<'PY'
import json
b = json.load(open("cert-bundle.json"))
lines = b["checkpoint"].split("\n")
lines[2] = ("B" if lines[2][0] != "B" else "C") + lines[2][1:]
b["checkpoint"] = "\n".join(lines)
json.dump(b, open("cert-bundle.json", "w"))
PY
rc=0
"$SMKEY" verify cert-bundle.json --trust trust >verify-cert.out 2>&1 || rc=$?
[ "$rc" = 1 ] || smk_fail "verify of the bundle with a changed checkpoint: exit $rc: $(cat verify-cert.out)"
shows "smkey verify (certificate)" verify-cert.out '  ok  certificate CN='
shows "smkey verify (certificate)" verify-cert.out '\xC2\x9B2K'
smk_expect "smkey verify (certificate)" '^  FAILED  .*checkpoint' "$(cat verify-cert.out)"
smk_log "certificate subject: escaped in inspect and verify's ok line"

# ---- a label forged into the archive ----
python3 - "$seq" "$HOSTILE" <<'PY'
import json, re, sqlite3, sys
seq, label = int(sys.argv[1]), sys.argv[2]
db = sqlite3.connect("archive.db")
# the writer's triggers keep records append-only; whoever holds the file
# can drop them, and puts them back afterwards
triggers = db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'trigger'"
                      " AND tbl_name = 'records'").fetchall()
for name, _ in triggers:
    db.execute('DROP TRIGGER "%s"' % name)
canon = db.execute("SELECT canonical FROM records WHERE seq = ?", (seq,)).fetchone()[0]
old = b'"label":"hostile-victim"'
assert old in canon, canon
# the canonical form is jansson's: control characters as \u001B (upper case)
new = b'"label":' + re.sub(r"\\u00([0-9a-f]{2})", lambda m: "\\u00" + m.group(1).upper(),
                           json.dumps(label)).encode()
db.execute("UPDATE records SET canonical = ? WHERE seq = ?", (canon.replace(old, new), seq))
for _, sql in triggers:
    db.execute(sql)
db.commit()
PY
"$SMKEY" list "${S[@]}" >list.out 2>&1 || smk_fail "list: $(cat list.out)"
shows "smkey list" list.out "$SHOWN"
"$SMKEY" show "${S[@]}" "$seq" >show.out 2>&1 || smk_fail "show: $(cat show.out)"
shows "smkey show" show.out "label          $SHOWN"
"$SMKEY" bundle "${S[@]}" -o label-bundle.json "$seq" || smk_fail "bundle $seq"
rc=0
"$SMKEY" verify label-bundle.json --trust trust >verify-label.out 2>verify-label.err || rc=$?
[ "$rc" = 1 ] || smk_fail "verify of the forged record: exit $rc: $(cat verify-label.out)"
shows "smkey verify (forged label)" verify-label.out "  FAILED  record $seq ($SHOWN): not authenticated"
shows "smkey verify stderr (forged label)" verify-label.err "NOT VERIFIED: record $seq ($SHOWN)"
rc=0
"$SMKEY" audit archive.db --trust trust >audit.out 2>&1 || rc=$?
[ "$rc" = 1 ] || smk_fail "audit of the forged archive: exit $rc: $(cat audit.out)"
# the record (format 3) has no signature of its own: the signed
# checkpoints over it no longer match the log; its label is listed escaped
shows "smkey audit" audit.out ": root hash does not match records 0.."
shows "smkey audit" audit.out '\xC2\x9B2K'
smk_log "forged label: escaped in list, show, verify's FAILED line and audit"

# ---- the daemon log ----
python3 - "$SMKD_SOCK" <<'PY'
import json, socket, sys
forged = "\n\x1b[2Ksmkeyd: info: forged"
calls = [
    # an unknown field of the call: logged as the reason the client is closed
    {"method": "io.smkeyd.ListPolicies", "parameters": {}, "x" + forged: 1},
    # an unknown parameter, and a method name that is no method name
    {"method": "io.smkeyd.ListRecords", "parameters": {"p" + forged: 1}},
    {"method": "io.smkeyd.List" + forged, "parameters": {}},
]
for c in calls:
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.connect(sys.argv[1])
        s.sendall(json.dumps(c).encode() + b"\0")
        s.settimeout(10)
        s.recv(65536)
PY
# a client whose executable path holds the same text (logged at connect)
exe_dir=$SMK_TMP/$'bin\n\e[2Ksmkeyd: info: forged'
mkdir -p "$exe_dir"
cp "$SMKEY" "$exe_dir/smkey"
"$exe_dir/smkey" policies "${S[@]}" >/dev/null 2>&1 || smk_fail "smkey from $exe_dir"
smkd_wait_log 'unknown field'
smkd_wait_log 'exe .*bin\\n\\x1B\[2Ksmkeyd'
smkd_stop
shows "smkeyd log" smkeyd.log "unknown field \"x\\n\\x1B[2Ksmkeyd: info: forged\"; closing"
shows "smkeyd log" smkeyd.log 'bin\n\x1B[2Ksmkeyd: info: forged/smkey'
smk_log "daemon log: field names and executable paths stay on their line, escaped"
smk_pass
