#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Load: CONNS concurrent clients (default 1000) against two simulated HSMs
# with the genuine latency model; ACTIVE of them (default 200) call Generate
# at once, the others stay connected and idle. Two rounds, so a leak shows as
# a growing RSS. Then LIMIT_EXTRA (default 50) clients past the configured
# limit get TooManyRequests and the daemon keeps serving.
#
# Checks: every Generate answered with a key; records (kind key) = keys the
# cards made (GAKP 9000, minus the archive key) = successful replies;
# `smkey audit` clean; peak RSS (VmHWM) reported.
#
#   sudo tests/reliability/load.sh            # CONNS=1000 ACTIVE=200
#   sudo CONNS=200 ACTIVE=20 tests/reliability/load.sh
#
# Two fresh simulated cards hold 2 x 255 key ids, one taken by the archive
# key: ACTIVE * ROUNDS above 509 ends in DeviceUnavailable ("no free key id
# on the device") for the rest, which this script counts as a failure.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/daemon_lib.sh"
smk_enter_namespace "$@"
. "$SMK_SOURCE_DIR/tests/reliability/rel_lib.sh"

CONNS=${CONNS:-1000}
ACTIVE=${ACTIVE:-200}
ROUNDS=${ROUNDS:-2}
LIMIT_EXTRA=${LIMIT_EXTRA:-50}
LATENCY=${LATENCY-genuine}
# each client is one descriptor in the daemon and one in the load client
[ $((ACTIVE * ROUNDS)) -lt 10000 ] || smk_fail "ACTIVE * ROUNDS must stay under 10000 (one ListRecords page)"
ulimit -n $((CONNS * 2 + 1024))

# the two devices share the work evenly: each queue holds half the burst
queue=$(((ACTIVE + 1) / 2 + 1))
# all clients are one uid here: the per-uid limit is the whole table
rel_start "$LATENCY" "limits: {clients: $CONNS, clients-per-uid: $CONNS, queue: $queue}"
smk_log "smkeyd holds $(rel_unix_only) sockets, all AF_UNIX"
smk_log "smkeyd up, limits clients $CONNS queue $queue per device, latency $LATENCY; $(rel_mem)"

total_ok=0
for round in $(seq "$ROUNDS"); do
	t0=$(date +%s.%N)
	out=$(python3 "$REL_DIR/loadclient.py" "$SMKD_SOCK" --conns "$CONNS" --active "$ACTIVE" \
		--label "r${round}x" --json "$SMK_TMP/load-$round.json") ||
		smk_fail "round $round: $out"
	t1=$(date +%s.%N)
	smk_log "round $round ($(printf '%.1f' "$(echo "$t1 - $t0" | bc)") s): $out"
	smk_log "round $round: smkeyd $(rel_mem)"
	total_ok=$((total_ok + ACTIVE))
done

# past the limit: hold CONNS idle connections, LIMIT_EXTRA more are refused
out=$(python3 "$REL_DIR/loadclient.py" "$SMKD_SOCK" --conns "$CONNS" --active 0 \
	--expect-refused "$LIMIT_EXTRA") || smk_fail "past the limit: $out"
smk_log "past the limit: $out"
rel_alive
n=$(grep -c 'clients connected (the limit); refusing' "$SMK_TMP/smkeyd.log" || true)
[ "$n" -ge "$LIMIT_EXTRA" ] || smk_fail "the log shows $n refusals, expected $LIMIT_EXTRA"
smk_log "past the limit: $LIMIT_EXTRA clients got TooManyRequests ($n refusals logged); smkeyd still serves"

# records = keys on the cards = successful replies
records=$(smkd_call io.smkeyd.ListRecords '{"limit": 10000}' |
	smkd_json 'sum(1 for x in r["parameters"]["records"] if x["kind"] == "key")')
made=$(($(rel_gakp_ok card1) + $(rel_gakp_ok card2) - 1))
smk_log "records of kind key: $records; keys the cards made (GAKP 9000, without the archive key): $made; Generate successes: $total_ok"
[ "$records" = "$total_ok" ] && [ "$made" = "$total_ok" ] || smk_fail "records, keys and replies differ"
ids=$(python3 -c 'import json,sys; s=[i for f in sys.argv[1:] for i in json.load(open(f))["request_ids"]]; print(len(s), len(set(s)))' "$SMK_TMP"/load-*.json)
[ "${ids% *}" = "${ids#* }" ] || smk_fail "duplicate request ids: $ids"

smk_log "smkeyd final: $(rel_mem)"
smkd_stop
out=$("$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" 2>&1) || smk_fail "smkey audit: $out"
smk_expect "audit" 'all checks hold \(0 problems\)' "$out"
smk_log "smkey audit: all checks hold"
smk_pass
