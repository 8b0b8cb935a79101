# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# A notary with a relayed card behind a relay that lies, for the
# test_relay_*.sh scenarios. Sourced after lib.sh and daemon_lib.sh:
#
#   relay_setup          # notary card (archive key) in reader 0; the far card
#                        # through relay_liar.py into reader 1; with RELAY_SWAP=swap a
#                        # second genuine card waits behind the relay
#   relay_arm SPEC       # arm one behaviour (relay_liar.py's list)
#   relay_generate LABEL # a Generate pinned to the far card; reply in $RELAY_OUT
#   relay_check          # the notary's invariants (below)
#
# The notary is stock smkeyd: its config names both devices by DevAut serial,
# the archive key is on its own card (reader 0), and the far card reaches it
# only through the relay, exactly as a relayed card host would.

RELAY_LIAR=$SMK_SOURCE_DIR/tests/integration/relay_liar.py
RELAY_NOTARY=ZZSIM00001
RELAY_FAR=ZZSIM00002
# shellcheck disable=SC2034 # read by the scenarios that source this file
RELAY_OTHER=ZZSIM00003

relay_setup() {
	local swap=${RELAY_SWAP:-}
	smk_start_pcscd 1
	RELAY_PORT=$((SMK_PORT_BASE + 10))
	smk_sim_init notary 1
	smk_sim_init far 2
	smk_sim_start notary 0
	smk_wait_card 0
	local listen2=()
	if [ "$swap" = swap ]; then
		listen2=(--listen2 $((RELAY_PORT + 1)))
	fi
	: >"$SMK_TMP/relay.ctl"
	smk_spawn "$SMK_TMP/relay.log" python3 -u "$RELAY_LIAR" --listen "$RELAY_PORT" \
		--vpcd "$(smk_reader_port 1)" --control "$SMK_TMP/relay.ctl" "${listen2[@]}"
	RELAY_PID=$SMK_LAST_PID
	for _ in $(seq 50); do
		grep -q 'listening on' "$SMK_TMP/relay.log" && break
		sleep 0.1
	done
	smk_spawn "$SMK_TMP/far.log" "$SMK_SIM" run --state "$SMK_TMP/far.json" --port "$RELAY_PORT" \
		--control "$SMK_TMP/far.ctl" --log "$SMK_TMP/far.apdu.jsonl"
	if [ "$swap" = swap ]; then
		smk_sim_init other 3
		smk_spawn "$SMK_TMP/other.log" "$SMK_SIM" run --state "$SMK_TMP/other.json" \
			--port $((RELAY_PORT + 1)) --log "$SMK_TMP/other.apdu.jsonl"
	fi
	smk_wait_card 1
	smkd_prepare
	cat >"$SMKD_CONF" <<CONF
socket: smkeyd.sock
archive: archive.db
policies: policies.d
trust: trust
devices:
  - serial: $RELAY_NOTARY
    pin-file: pin
  - serial: $RELAY_FAR
    pin-file: pin
archive-key:
  device: $RELAY_NOTARY
retry: {min: 1, max: 2}
CONF
	smkd_start
	smkd_wait_log 'ready'
	relay_wait_up
	# one honest key through the relay first: the far card's session is up
	# and listed, so what follows is a key's steady-state life
	relay_generate warmup || smk_fail "Generate through an honest relay: $RELAY_OUT"
	RELAY_GA0=$(relay_count ga)
}

# relay_count CMD: how many CMD the far card has seen (its APDU log).
relay_count() {
	grep -c "\"cmd\":\"$1\"" "$SMK_TMP/far.apdu.jsonl" || true
}

# relay_arm SPEC: arm one behaviour and wait until the relay says so.
relay_arm() {
	local n
	n=$(grep -c "armed " "$SMK_TMP/relay.log" || true)
	printf '%s\n' "$1" >"$SMK_TMP/relay.ctl"
	kill -USR1 "$RELAY_PID"
	for _ in $(seq 50); do
		[ "$(grep -c "armed " "$SMK_TMP/relay.log" || true)" -gt "$n" ] && return 0
		sleep 0.1
	done
	smk_fail "the relay did not arm $1"
}

# relay_generate LABEL: Generate pinned to the far card; reply in RELAY_OUT,
# the request id in RELAY_RID (also when it failed).
relay_generate() {
	local rc=0
	RELAY_OUT=$(smkd_call io.smkeyd.Generate \
		"{\"policy\": \"release-apk\", \"label\": \"$1\", \"device\": \"$RELAY_FAR\"}" 2>&1) || rc=$?
	# an error reply may not carry it: the intent written last is this one
	# shellcheck disable=SC2034 # read by the scenarios that source this file
	RELAY_RID=$(sqlite3 "$SMK_TMP/archive.db" "SELECT request_id FROM intents ORDER BY rowid DESC LIMIT 1")
	return "$rc"
}

# relay_state SERIAL: the device's state in ListDevices.
relay_state() {
	smkd_call io.smkeyd.ListDevices '{}' |
		smkd_json "[d['state'] for d in r['parameters']['devices'] if d['serial'] == '$1'][0]"
}

# relay_wait_up [SECONDS]: until the far device is up.
relay_wait_up() {
	local secs=${1:-30} st=
	for ((i = 0; i < secs * 5; i++)); do
		st=$(relay_state "$RELAY_FAR" 2>/dev/null || true)
		[ "$st" = up ] && return 0
		sleep 0.2
	done
	smk_fail "$RELAY_FAR not up after ${secs}s (state ${st:-none})"
}

# relay_open_intents: intents without an outcome.
relay_open_intents() {
	sqlite3 "$SMK_TMP/archive.db" \
		"SELECT count(*) FROM intents WHERE request_id NOT IN (SELECT request_id FROM outcomes)"
}

# relay_wait_settled [SECONDS]: until no intent is open and no sidecar left.
relay_wait_settled() {
	local secs=${1:-30}
	for ((i = 0; i < secs * 5; i++)); do
		if [ "$(relay_open_intents)" = 0 ] && [ -z "$(ls -A "$SMK_TMP/archive.db.pending" 2>/dev/null)" ]; then
			return 0
		fi
		sleep 0.2
	done
	smk_fail "$(relay_open_intents) intents still open after ${secs}s: $(ls "$SMK_TMP/archive.db.pending" 2>/dev/null)"
}

# relay_outcome RID: the intent's outcome (committed, failed, or open).
relay_outcome() {
	local o
	o=$(sqlite3 "$SMK_TMP/archive.db" "SELECT status FROM outcomes WHERE request_id = '$1'")
	echo "${o:-open}"
}

# relay_records_match: every record of a key on the far card names a CV
# request that the card itself holds in CE|id (the state file is the card's
# memory): the notary archived no key the card did not make, and the far
# card's APDU log shows every VERIFY and GAKP under SM.
relay_records_match() {
	python3 "$SMK_SOURCE_DIR/tests/integration/relay_records.py" \
		"$SMK_TMP/archive.db" "$SMK_TMP/far.json" "$RELAY_FAR" "$SMK_TMP/far.apdu.jsonl" ||
		smk_fail "the archive holds a record the far card does not back"
}

# relay_check: the notary's invariants after a lie. The intent is settled
# (no open intent, no sidecar), every record of the far card is a key the card
# holds, the session came up again from scratch (a new chip authentication
# than before the lie) and a following Generate succeeds, the audit is clean.
relay_check() {
	relay_wait_up 30
	relay_wait_settled 30
	relay_records_match
	local recs
	recs=$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")
	relay_generate "after" || smk_fail "Generate after the lie: $RELAY_OUT"
	[ "$(relay_count ga)" -gt "$RELAY_GA0" ] ||
		smk_fail "no new chip authentication on the far card after the lie"
	[ "$(sqlite3 "$SMK_TMP/archive.db" "SELECT count(*) FROM records")" = $((recs + 1)) ] ||
		smk_fail "the Generate after the lie left no record"
	relay_records_match
	relay_wait_settled 10
	RELAY_GA0=$(relay_count ga)
	local out
	out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) ||
		smk_fail "smkey audit: $out"
	smk_log "settled, records backed by the card, new session, next key archived, audit clean"
}
