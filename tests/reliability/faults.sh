#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The fault matrix: every APDU position of a key generation through smkeyd
# (session setup, PIN, free-id search, GAKP, PrKD write, archive signatures)
# x every fault kind the simulator injects, plus pcscd killed and restarted.
#
#   sudo tests/reliability/faults.sh [REPORT.md] [POSITIONS] [KINDS]
#
# REPORT defaults to build/reliability/faults.md; POSITIONS and KINDS (e.g.
# "reset badmac") restrict the run (the ctest smoke uses a few cells). A
# position is an APDU number of the reference generation (e.g. "1 9 12") or
# a command resolved from its trace: "gakp" (the first GAKP), "last-sign"
# (the last SIGN: the checkpoint); a position the trace lacks fails the run. For each cell the simulator is restarted (a freshly inserted
# card, so the next Generate sets up SM and the PIN again and the APDU
# counter starts at 1) with the fault at APDU N; then:
#   1. Generate: it completes or fails with a clear error (the reply);
#   2. the card's device comes back up within 30 s and a second Generate
#      completes (SM is established again after the fault);
#   3. no GAKP ever reached the card in plain (the simulator's APDU log);
#   4. every key on the card has exactly one committed record or a failed
#      intent naming it; if an intent is still open (the commit could not
#      reach the card), smkeyd is restarted and recovery must close it;
#   5. smkey audit is clean.
# Any cell that breaks 2-5 fails the run. Timeout cells wait out the 15 s
# APDU deadline, so the full matrix takes several minutes.
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/daemon_lib.sh"
. "$(dirname "$0")/lib_faults.sh"
smk_enter_namespace "$@"

report=${1:-$SMK_BUILD_DIR/reliability/faults.md}
want_pos=${2:-}
kinds=${3:-reset remove timeout badmac plain sw pcscd}
mkdir -p "$(dirname "$report")"

rf_setup
start_all=$(date +%s)

# the reference generation: the positions and their commands
rf_sim_restart
ref=$(rf_generate ref)
[[ $ref == ok* ]] || smk_fail "reference Generate: $ref"
mapfile -t trace < <("$RF_PY" -c '
import json, sys
lines = [json.loads(l) for l in open(sys.argv[1])]
# the last run of the simulator starts at the last n == 1
start = max(i for i, l in enumerate(lines) if l["n"] == 1)
for l in lines[start:]:
    print("%d %s %s %s" % (l["n"], l["cmd"], "SM" if l["sm"] else "plain", l["header"]))
' "$SMK_TMP/card1.apdu.jsonl")
smk_log "reference generation: ${#trace[@]} APDUs"
[ "${#trace[@]}" -gt 0 ] || smk_fail "reference generation: no APDU in $SMK_TMP/card1.apdu.jsonl"

# position POS: the APDU number POS names in the reference trace. A number
# must be one of its positions; CMD (e.g. gakp) is the first APDU with that
# command, last-CMD (e.g. last-sign: the checkpoint signature, the last
# thing a generation asks of the card) the last one.
position() {
	local pos=$1 cmd c i n=${#trace[@]} found=""
	case $pos in
	[0-9]*)
		if ! [[ $pos =~ ^[0-9]+$ ]] || [ "$pos" -lt 1 ] || [ "$pos" -gt "$n" ]; then
			smk_fail "position $pos: the reference generation has APDUs 1 to $n (${trace[*]})"
		fi
		echo "$pos"
		return
		;;
	last-*)
		cmd=${pos#last-}
		for ((i = n - 1; i >= 0; i--)); do
			read -r _ c _ _ <<<"${trace[$i]}"
			[ "$c" = "$cmd" ] && { found=$((i + 1)); break; }
		done
		;;
	*)
		cmd=$pos
		for ((i = 0; i < n; i++)); do
			read -r _ c _ _ <<<"${trace[$i]}"
			[ "$c" = "$cmd" ] && { found=$((i + 1)); break; }
		done
		;;
	esac
	[ -n "$found" ] || smk_fail "position $pos: no $cmd in the reference generation (${trace[*]})"
	echo "$found"
}
if [ -n "$want_pos" ]; then
	positions=""
	for p in $want_pos; do
		n=$(position "$p") || exit 1
		positions="$positions $n"
		[ "$p" = "$n" ] || smk_log "position $p = APDU $n (${trace[$((n - 1))]})"
	done
else
	positions=$(seq "${#trace[@]}")
fi

fault_spec() { # KIND N GAKP?
	case $1 in
	reset) echo "apdu=$2:reset" ;;
	remove) echo "apdu=$2:remove=1500" ;;
	timeout) if [ "$3" = gakp ]; then echo "apdu=$2:late=3000"; else echo "apdu=$2:late=16000"; fi ;;
	badmac) echo "apdu=$2:badmac" ;;
	plain) echo "apdu=$2:plain" ;;
	sw) echo "apdu=$2:sw=6F00" ;;
	pcscd) echo "apdu=$2:late=2500" ;;
	esac
}

declare -A cell
details=()
failures=0
ncells=0
for n in $positions; do
	read -r _ cmd _ _ <<<"${trace[$((n - 1))]}"
	for kind in $kinds; do
		ncells=$((ncells + 1))
		spec=$(fault_spec "$kind" "$n" "$cmd")
		log_before=$(wc -l <"$SMK_TMP/card1.apdu.jsonl")
		rf_sim_restart --fault "$spec"
		t0=$(date +%s.%N)
		if [ "$kind" = pcscd ]; then
			rf_generate "c$n$kind" 60 >"$SMK_TMP/cell.out" &
			gen=$!
			for _ in $(seq 100); do
				tail -n +"$((log_before + 1))" "$SMK_TMP/card1.apdu.jsonl" | grep -q "\"n\":$n," && break
				sleep 0.05
			done
			smk_restart_pcscd
			wait "$gen" || true
			first=$(cat "$SMK_TMP/cell.out")
		else
			first=$(rf_generate "c$n$kind" 60)
		fi
		secs=$("$RF_PY" -c "import sys; print('%.1f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$t0" "$(date +%s.%N)")
		kill -0 "$SMKD_PID" 2>/dev/null || smk_fail "cell $n/$kind: smkeyd died"
		up=yes
		why_down=$(rf_wait_up 30) || up="no: $why_down"
		next=$(rf_generate "n$n$kind" 60)
		recovered=""
		if [ "$(rf_open_intents)" != 0 ]; then
			rf_restart_daemon
			recovered=" (intent closed by recovery at restart)"
		fi
		plain=$(rf_gakp_plain)
		rec=$(rf_reconcile)
		aud=$(rf_audit)
		fired=$(tail -n +"$((log_before + 1))" "$SMK_TMP/card1.apdu.jsonl" | grep -c '"fault"' || true)
		short=${first%%:*}
		[ "$short" = "$first" ] || short="fail ${short#error }"
		[[ $first == ok* ]] && short=ok
		verdict=pass
		if [ "$up" != yes ] || [[ $next != ok* ]] || [ "$plain" != 0 ] || [[ $rec != clean* ]] || [ "$aud" != clean ] || [ "$fired" = 0 ]; then
			verdict=FAIL
			failures=$((failures + 1))
		fi
		cell[$n,$kind]="$short"
		[ "$verdict" = pass ] || cell[$n,$kind]="**FAIL** $short"
		details+=("| $n $cmd | $kind \`$spec\` | ${first//|//} (${secs} s) | ${up//|//} | ${next%% *}$recovered | $plain | $rec | $aud |")
		smk_log "cell $n $cmd $kind: $first; device up: $up; next $next; $rec; $verdict"
	done
done
elapsed=$(($(date +%s) - start_all))

{
	echo "# Fault matrix"
	echo
	echo "Produced by \`tests/reliability/faults.sh\` on $(date -u '+%Y-%m-%d %H:%M UTC'):"
	echo "$ncells cells, $failures failed, ${elapsed} s. One smkey-sim card in a vpcd reader under"
	echo "a private pcscd, smkeyd with the example policies, Generate under release-apk."
	echo "Positions are the APDUs of one generation on a freshly inserted card (the"
	echo "simulator's APDU log of the reference run). A cell says what the first"
	echo "Generate answered; in every passing cell the next Generate completed, no GAKP"
	echo "reached the card in plain, every key on the card has exactly one record (or"
	echo "a failed intent naming it) and smkey audit is clean."
	echo
	printf '| # | APDU |'
	for kind in $kinds; do printf ' %s |' "$kind"; done
	echo
	printf '|---|---|'
	for kind in $kinds; do printf -- '---|'; done
	echo
	for n in $positions; do
		read -r _ cmd mode hdr <<<"${trace[$((n - 1))]}"
		printf '| %s | %s (%s, %s) |' "$n" "$cmd" "$mode" "$hdr"
		for kind in $kinds; do printf ' %s |' "${cell[$n,$kind]}"; done
		echo
	done
	echo
	echo "Fault kinds: reset = \`apdu=N:reset\` (no answer, the card resets); remove ="
	echo "\`apdu=N:remove=1500\` (pulled for 1.5 s); timeout = \`apdu=N:late=16000\` (past the"
	echo "15 s APDU deadline; at GAKP, whose deadline is 600 s, \`late=3000\`: a late answer);"
	echo "badmac = \`apdu=N:badmac\`; plain = \`apdu=N:plain\` (the answer in plain, the"
	echo "card's SM ends); sw = \`apdu=N:sw=6F00\` (not executed); pcscd = the answer to N"
	echo "held back 2.5 s (\`late=2500\`) while pcscd is killed and started again."
	echo
	echo "## Every cell"
	echo
	echo "| position | fault | first Generate (time) | device up again | next Generate | GAKP in plain (whole log) | card vs archive | smkey audit |"
	echo "|---|---|---|---|---|---|---|---|"
	printf '%s\n' "${details[@]}"
} >"$report"
cp "$report" "$SMK_TMP/faults.md"
smk_log "matrix: $ncells cells, $failures failed, ${elapsed} s; report $report"
[ "$failures" = 0 ] || smk_fail "$failures cells failed (see $report)"
smk_pass
