#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Secrets: run load.sh (small), hostile.sh and authz.sh with a known user PIN
# (REL_PIN, default 271828), keep every scratch directory, then search
# every file in them (smkeyd logs, simulator logs and APDU logs, pcscd logs,
# the archive databases and their .pending directories, client outputs) and
# the journal for the PIN as ASCII, as hex (lower, upper, spaced) and as
# base64. Any hit fails.
#
# Excluded, by design: the simulators' state files (card*.json: the card's
# own PIN store) and the PIN files given to smkeyd (pin, unpriv/pin).
#
#   sudo tests/reliability/secrets.sh
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
PIN=${REL_PIN:-271828}
# mktemp's template ends in six X
work=$(mktemp -d "/tmp/smk-secrets.$(printf 'X%.0s' 1 2 3 4 5 6)")
chmod 0711 "$work" # authz.sh connects as nobody to sockets below it
export REL_PIN=$PIN TMPDIR=$work SMK_KEEP_TMP=1
since=$(date '+%Y-%m-%d %H:%M:%S')

log() { printf '[secrets %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }

log "PIN $PIN; scratch $work"
CONNS=${CONNS:-200} ACTIVE=${ACTIVE:-20} ROUNDS=1 LIMIT_EXTRA=10 bash "$here/load.sh" >"$work/load.out" 2>&1 ||
	{ tail -n 30 "$work/load.out"; log "FAIL: load.sh"; exit 1; }
bash "$here/hostile.sh" >"$work/hostile.out" 2>&1 || { tail -n 30 "$work/hostile.out"; log "FAIL: hostile.sh"; exit 1; }
bash "$here/authz.sh" >"$work/authz.out" 2>&1 || { tail -n 30 "$work/authz.out"; log "FAIL: authz.sh"; exit 1; }
log "load.sh, hostile.sh and authz.sh passed with PIN $PIN"

hex=$(printf '%s' "$PIN" | od -An -tx1 | tr -d ' \n')
HEX=$(tr a-f A-F <<<"$hex")
spaced=$(printf '%s' "$PIN" | od -An -tx1 | sed 's/^ //' | tr -d '\n')
b64=$(printf '%s' "$PIN" | base64)
patterns=("$PIN" "$hex" "$HEX" "$spaced" "${spaced^^}" "${b64%%=*}")

files=$(find "$work" -type f ! -name 'card[0-9]*.json' ! -name pin ! -name 'sim-ca.json')
nfiles=$(wc -l <<<"$files")
# the simulator's CA file holds no PIN but keys; it is excluded only because
# it is the simulator's own state, like card*.json
bytes=$(xargs -d '\n' cat <<<"$files" | wc -c)
hits=0
for p in "${patterns[@]}"; do
	if found=$(xargs -d '\n' grep -aFl -- "$p" <<<"$files"); then
		log "HIT for '$p' in: $found"
		hits=$((hits + 1))
	fi
done
# control: the same search finds the PIN in the files excluded by design
for f in "$(find "$work" -name card1.json | head -n 1)" "$(find "$work" -name pin | head -n 1)"; do
	for p in "${patterns[@]}"; do
		if grep -aqF -- "$p" "$f"; then
			log "control: the search finds the PIN (as '$p') in the excluded ${f#"$work"/}"
			continue 2
		fi
	done
	log "control: no form of the PIN in the excluded ${f#"$work"/}"
done
if command -v journalctl >/dev/null && journalctl --since "$since" -q -o cat 2>/dev/null | grep -aqF -e "$PIN" -e "$hex"; then
	log "HIT in the journal since $since"
	hits=$((hits + 1))
fi
log "searched $nfiles files ($bytes bytes) and the journal since $since for ${#patterns[@]} forms of the PIN: $hits hits"
[ "$hits" = 0 ] || { log "FAIL"; exit 1; }
log "PASS (scratch kept in $work)"
