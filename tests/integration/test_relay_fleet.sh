#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Notary fleet: one stock smkeyd serves 8 relayed card hosts at once (each
# in a mount namespace of its own with its own pcscd, smkey-sim and `smkey
# relay`, connected to the notary's 8 vpcd readers; fleet_lib.sh). One key
# per host, all requested at once. Asserts: records from 8 distinct DevAut
# serials in the one archive, every GAKP and PIN under SM on every far card,
# one checkpoint sequence that grows and covers every record, smkey audit
# clean. SMK_FLEET_KEYS=N makes N keys per host (the benchmark's full form
# is tests/bench/run relay).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
. "$(dirname "$0")/notary_lib.sh"
. "$(dirname "$0")/fleet_lib.sh"
smk_enter_namespace "$@"
hosts=8
per=${SMK_FLEET_KEYS:-1}
fleet_setup "$hosts"
smk_log "notary up with $hosts relayed card hosts: $FLEET_SERIALS"

out=$(python3 "$SMK_SOURCE_DIR/tests/bench/load.py" "$SMKD_SOCK" generate release-apk \
	$((hosts * per)) "$hosts" fleet "$FLEET_SERIALS" 2>&1) || smk_fail "Generate over the fleet: $out"
smk_log "$((hosts * per)) keys over $hosts hosts in $(smkd_json 'round(r["wall_s"], 2)' <<<"$out") s"

# records from 8 distinct DevAut serials, each backed by its far card
serials=$(python3 - "$SMK_TMP/archive.db" <<'PY'
import json, sqlite3, sys
con = sqlite3.connect("file:%s?mode=ro" % sys.argv[1], uri=True)
seen = {}
for (c,) in con.execute("SELECT canonical FROM records"):
    r = json.loads(c)
    if r["intent"]["kind"] == "key":
        s = r["intent"]["device"]["serial"]
        seen[s] = seen.get(s, 0) + 1
print(" ".join("%s:%d" % kv for kv in sorted(seen.items())))
PY
)
smk_log "key records per device: $serials"
for s in ${FLEET_SERIALS//,/ }; do
	grep -q "$s:$per" <<<"$serials" || smk_fail "device $s does not have $per key records: $serials"
done
[ "$(wc -w <<<"$serials")" = "$hosts" ] || smk_fail "keys on other devices than the $hosts hosts: $serials"
for ((k = 1; k <= hosts; k++)); do
	python3 "$SMK_SOURCE_DIR/tests/integration/relay_records.py" "$SMK_TMP/archive.db" \
		"$SMK_TMP/host$k/card.json" "$(fleet_serial $((k + 1)))" "$SMK_TMP/host$k/card.apdu.jsonl" >/dev/null ||
		smk_fail "host$k: a record its card does not back"
done
smk_log "every record is backed by CE|id on its far card; GAKP and PIN only under SM"

# one log: checkpoint sizes strictly grow and the last covers every record
recs=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
sizes=$(sqlite3 "$SMK_TMP/archive.db" "SELECT size FROM checkpoints ORDER BY rowid" | tr '\n' ' ')
python3 -c 'import sys; s = list(map(int, sys.argv[1].split())); sys.exit(0 if s == sorted(set(s)) and s[-1] == int(sys.argv[2]) else 1)' \
	"$sizes" "$recs" || smk_fail "checkpoint sizes $sizes do not grow to $recs records"
smkd_stop TERM
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_expect "audit" 'all checks hold' "$out"
smk_log "one archive, $recs records, checkpoints $sizes, smkey audit clean"
smk_pass
