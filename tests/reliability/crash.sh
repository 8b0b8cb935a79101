#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# kill -9 smkeyd at every step of a generation, restart it, and check that
# recovery leaves nothing behind:
#
#   sudo tests/reliability/crash.sh [REPORT.md] [POINTS]
#
# Points (POINTS restricts, e.g. "after-gakp checkpoint-signed"):
#   after-intent          hook: intent and pending file durable, no card I/O yet
#   gakp-sent             kill -9 from outside while the card holds back its
#                         answer to GAKP (the key exists, smkeyd never saw it)
#   after-gakp            hook: the answer is verified, PrKD written
#   intent-loaded, record-built, record-signed, record-inserted
#                         hooks: the archive's record steps (archive.h); the
#                         record's transaction has not committed
#   record-committed      hook: the record is durable, no checkpoint covers
#                         it yet (group commit); the restart signs one
#   checkpoint-signed, checkpoint-inserted
#                         hooks: the batch's checkpoint, before it is stored
#   record-signing        kill -9 from outside during the card's first SIGN
#   checkpoint-signing    kill -9 from outside during the second SIGN (the
#                         batch's checkpoint; the record is committed)
# After each kill: the process died of SIGKILL; smkeyd starts again (recovery
# before READY); no intent stays open, no pending file is left, every key on
# the card has exactly one record or a failed intent naming it, every record
# is covered by a checkpoint, smkey audit is clean, and the next Generate
# completes.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/daemon_lib.sh"
. "$(dirname "$0")/lib_faults.sh"
smk_enter_namespace "$@"

report=${1:-$SMK_BUILD_DIR/reliability/crash.md}
points=${2:-after-intent gakp-sent after-gakp intent-loaded record-built record-signed record-inserted record-committed record-signing checkpoint-signing checkpoint-signed checkpoint-inserted}
mkdir -p "$(dirname "$report")"

rf_setup
start_all=$(date +%s)
rows=()
failures=0

# wait_log_cmd CMD N: until the APDU log has N lines of CMD after line $mark
wait_log_cmd() {
	local cmd=$1 count=$2
	for _ in $(seq 200); do
		[ "$(tail -n +"$((mark + 1))" "$SMK_TMP/card1.apdu.jsonl" | grep -c "\"cmd\":\"$cmd\"")" -ge "$count" ] &&
			return 0
		sleep 0.05
	done
	smk_fail "no $count $cmd APDUs in the log"
}

for point in $points; do
	case $point in
	gakp-sent | record-signing | checkpoint-signing) rf_restart_daemon ;;
	*) rf_restart_daemon SMKEYD_TEST_CRASH_AT="$point" ;;
	esac
	keys_before=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$SMK_TMP/card1.json")
	mark=$(wc -l <"$SMK_TMP/card1.apdu.jsonl")
	how="SMKEYD_TEST_CRASH_AT=$point"
	# shellcheck disable=SC2016 # the backquotes are Markdown code spans in the report
	case $point in
	gakp-sent)
		smk_ctl card1 fault cmd=gakp:late=3000 >/dev/null
		how='`cmd=gakp:late=3000`, kill -9 once the card has the GAKP'
		;;
	record-signing)
		smk_ctl card1 fault cmd=sign:late=3000 >/dev/null
		how='`cmd=sign:late=3000`, kill -9 during the first SIGN'
		;;
	checkpoint-signing)
		smk_ctl card1 fault cmd=sign:late=1500:times=2 >/dev/null
		how='`cmd=sign:late=1500:times=2`, kill -9 during the second SIGN'
		;;
	esac
	rf_generate "crash-$point" 30 >"$SMK_TMP/crash.out" &
	gen=$!
	case $point in
	gakp-sent) wait_log_cmd gakp 1; kill -9 "$SMKD_PID" ;;
	record-signing) wait_log_cmd sign 1; kill -9 "$SMKD_PID" ;;
	checkpoint-signing) wait_log_cmd sign 2; kill -9 "$SMKD_PID" ;;
	esac
	wait "$gen" || true
	rc=0
	wait "$SMKD_PID" 2>/dev/null || rc=$?
	[ "$rc" = 137 ] || smk_fail "$point: smkeyd exit status $rc, expected 137 (SIGKILL)"
	answer=$(cat "$SMK_TMP/crash.out")
	[[ $answer == ok* ]] && smk_fail "$point: Generate answered ok although smkeyd was killed"
	open=$(rf_open_intents)
	keys_after=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["keys"]))' "$SMK_TMP/card1.json")
	newkey=$([ "$keys_after" -gt "$keys_before" ] && echo yes || echo no)
	# the card is still holding back its late answer: a daemon started
	# now would find it busy, keep it down, and (docs/daemon.md, limits)
	# look for the archive key's device at start only
	case $point in gakp-sent | record-signing | checkpoint-signing) sleep 3.5 ;; esac
	clog="$SMK_TMP/smkeyd.log"
	cp "$clog" "$SMK_TMP/crash-$point.txt"
	rf_restart_daemon
	outcome=$(grep -Eo 'outcome=(recovered|failed)' "$SMK_TMP/smkeyd.log" | sort | uniq -c | awk '{printf "%s%s %s", (NR>1?", ":""), $1, $2}' || true)
	reason=$(grep -Eo '(recovered from CE\|[0-9A-F]+ as record [0-9]+|interrupted before[^=]*|closed[^=]*)' "$SMK_TMP/smkeyd.log" | head -n 1 | sed 's/ request_id$//; s/|/\\|/g' || true)
	if grep -q 'checkpoint signed at start' "$SMK_TMP/smkeyd.log"; then
		reason="${reason:+$reason; }$(grep -Eo 'checkpoint signed at start: covers records [0-9.]+' "$SMK_TMP/smkeyd.log" | head -n 1)"
	fi
	after_open=$(rf_open_intents)
	pending=$(find "$SMK_TMP/archive.db.pending" -type f | wc -l)
	rec=$(rf_reconcile)
	aud=$(rf_audit)
	# group commit: the restart signed a checkpoint over every record
	uncovered=$(sqlite3 "$SMK_TMP/archive.db" \
		"SELECT (SELECT count(*) FROM records) - (SELECT max(size) FROM checkpoints)")
	[ "$uncovered" = 0 ] || aud="$uncovered records not covered by a checkpoint after the restart"
	next=$(rf_generate "after-$point" 30)
	verdict=pass
	if [ "$after_open" != 0 ] || [ "$pending" != 0 ] || [[ $rec != clean* ]] || [ "$aud" != clean ] || [[ $next != ok* ]]; then
		verdict=FAIL
		failures=$((failures + 1))
	fi
	rows+=("| $point | $how | $open | $newkey | ${outcome:-none} ${reason:+($reason)} | $after_open / $pending | $rec | $aud | ${next%% *} | $verdict |")
	smk_log "$point: open $open, new key $newkey; restart: ${outcome:-none} $reason; $rec; audit $aud; next $next; $verdict"
done
elapsed=$(($(date +%s) - start_all))
{
	echo "# Crash points"
	echo
	echo "Produced by \`tests/reliability/crash.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'): ${#rows[@]} points, $failures failed, ${elapsed} s."
	echo
	echo "| point | how smkeyd died (exit 137 = SIGKILL each time) | open intents after the kill | new key on the card | restart: recovery | open intents / pending files after | card vs archive | smkey audit | next Generate | |"
	echo "|---|---|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${rows[@]}"
} >"$report"
smk_log "crash points: ${#rows[@]}, $failures failed, ${elapsed} s; report $report"
[ "$failures" = 0 ] || smk_fail "$failures crash points failed (see $report)"
smk_pass
