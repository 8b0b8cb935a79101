# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# Shared set-up of the reliability scripts (tests/reliability/*.sh and their
# ctest smoke versions): a private pcscd, two smkey-sim HSMs, smkeyd on a
# config with the given limits. Sourced after tests/integration/lib.sh and
# daemon_lib.sh, after smk_enter_namespace.

REL_DIR=$SMK_SOURCE_DIR/tests/reliability
# another user may not run root's own Python (e.g. a pyenv shim under /root)
REL_PY=/usr/bin/python3
[ -x "$REL_PY" ] || REL_PY=$(command -v python3)

# rel_start_sims [LATENCY]: pcscd, card1 and card2 (smkey-sim run --latency
# LATENCY unless empty). With REL_PIN set, the cards get that user PIN and
# the daemon's PIN file holds it (secrets.sh greps every log for it).
rel_start_sims() {
	local latency=${1:-} c dev=0
	local -a simopt=()
	[ -n "$latency" ] && simopt=(--latency "$latency")
	[ -n "${REL_PIN:-}" ] && SMKD_PIN=$REL_PIN
	smk_start_pcscd 1
	for c in card1 card2; do
		dev=$((dev + 1))
		"$SMK_SIM" init --state "$SMK_TMP/$c.json" --trust-out "$SMK_TMP/trust" \
			--ca "$SMK_TMP/sim-ca.json" --device "$dev" --pin "$SMKD_PIN" \
			>"$SMK_TMP/$c-init.log" 2>&1 || smk_fail "smkey-sim init $c: $(cat "$SMK_TMP/$c-init.log")"
	done
	smk_sim_start card1 0 "${simopt[@]}"
	smk_sim_start card2 1 "${simopt[@]}"
	smk_wait_card 0
	smk_wait_card 1
}

# rel_start [LATENCY] [EXTRA_YAML]: rel_start_sims, then smkeyd started and
# ready (archive key made) on a config with EXTRA_YAML (e.g. limits).
rel_start() {
	rel_start_sims "${1:-}"
	smkd_config "${2:-}"
	smkd_start
	smkd_wait_log 'ready' 60
}

# rel_alive: the daemon process runs and answers a new client.
rel_alive() {
	kill -0 "$SMKD_PID" 2>/dev/null || smk_fail "smkeyd is gone: $(tail -n 20 "$SMK_TMP/smkeyd.log")"
	smkd_call org.varlink.service.GetInfo '{}' >/dev/null ||
		smk_fail "smkeyd does not answer a new client: $(tail -n 20 "$SMK_TMP/smkeyd.log")"
}

# rel_mem: the daemon's peak resident set (VmHWM) and current (VmRSS), kB.
rel_mem() {
	awk '/^VmHWM|^VmRSS/ {printf "%s %s kB  ", $1, $2}' "/proc/$SMKD_PID/status"
}

# rel_gakp_ok CARD: GAKP commands the card answered 9000 (keys it made).
rel_gakp_ok() {
	grep -c '"cmd":"gakp".*"sw":"9000"' "$SMK_TMP/$1.apdu.jsonl" || true
}

# rel_hostile [--smoke]: the hostile catalogue (hostile.py) against smkeyd
# with two simulators and a client limit of 32; the daemon is stopped with
# SIGTERM at the end and must exit 0 (a sanitizer report in any log fails
# the run in lib.sh's cleanup). No case may make a key.
rel_hostile() {
	local before after rc
	rel_start "" "limits: {clients: 32}"
	before=$(($(rel_gakp_ok card1) + $(rel_gakp_ok card2)))
	python3 "$REL_DIR/hostile.py" "$SMKD_SOCK" --pid "$SMKD_PID" --max-clients 32 \
		--report "$SMK_TMP/hostile-report.md" "$@" >"$SMK_TMP/hostile.out" 2>&1 || {
		cat "$SMK_TMP/hostile.out" >&2
		smk_fail "hostile catalogue: $(grep -c '^FAIL' "$SMK_TMP/hostile.out") cases not as expected"
	}
	grep -v '^ok' "$SMK_TMP/hostile.out" >&2 || true
	after=$(($(rel_gakp_ok card1) + $(rel_gakp_ok card2)))
	[ "$before" = "$after" ] || smk_fail "the hostile clients made $((after - before)) keys"
	rel_alive
	smk_log "smkeyd holds $(rel_unix_only) sockets after the catalogue, all AF_UNIX"
	smk_log "$(tail -n 1 "$SMK_TMP/hostile.out"); no key made; smkeyd $(rel_mem)"
	[ -n "${HOSTILE_REPORT:-}" ] && cp "$SMK_TMP/hostile-report.md" "$HOSTILE_REPORT"
	kill -TERM "$SMKD_PID"
	rc=0
	wait "$SMKD_PID" || rc=$?
	[ "$rc" = 0 ] || smk_fail "smkeyd exited $rc after SIGTERM: $(tail -n 30 "$SMK_TMP/smkeyd.log")"
	if grep -qE 'Sanitizer|runtime error:' "$SMK_TMP/smkeyd.log"; then
		smk_fail "sanitizer report: $(grep -A30 -E 'Sanitizer|runtime error:' "$SMK_TMP/smkeyd.log" | head -60)"
	fi
	smk_log "smkeyd exited 0 after SIGTERM; no sanitizer report in its log"
}

# rel_call_as SETPRIV_OPTS METHOD PARAMS: one call as another user; prints
# the replies (or the client's error) and returns the client's status.
rel_call_as() {
	local opts=$1
	shift
	# shellcheck disable=SC2086 # opts is a word list on purpose
	setpriv $opts "$REL_PY" "$SMKD_CLIENT" "$SMKD_SOCK" "$@" 2>&1
}

# rel_authz: who may connect (the socket's mode and group) and who may use
# a policy (uid, gid, supplementary groups from the kernel), with real
# second users made by setpriv. smkeyd is started here without the test
# library's chmod 0666, so the mode checked is the one the daemon made.
rel_authz() {
	local out rc mode size0 size1 seq pol nobody="--reuid=nobody --regid=nogroup --clear-groups"
	# nobody runs the client: a copy it can read wherever the tree is
	SMKD_CLIENT=$(smk_shared_copy "$SMKD_CLIENT")
	rel_start_sims ""
	smkd_config
	smk_spawn "$SMK_TMP/smkeyd.log" "$SMKEYD" --stderr --debug -c "$SMKD_CONF"
	SMKD_PID=$SMK_LAST_PID
	smkd_wait_log 'ready' 60
	mode=$(stat -c '%a %U:%G' "$SMKD_SOCK")
	[ "$mode" = "660 root:root" ] || smk_fail "socket made by smkeyd is $mode, not 660 root:root"
	# the directory must not be what stops them: only the socket's mode
	chmod 0711 "$SMK_TMP"
	smk_log "smkeyd made its socket mode $mode"

	# 1. outside the socket's group: no connection at all
	rc=0
	out=$(rel_call_as "$nobody" org.varlink.service.GetInfo '{}') || rc=$?
	[ "$rc" = 3 ] && grep -q 'Permission denied' <<<"$out" ||
		smk_fail "nobody:nogroup on a 0660 root:root socket: status $rc: $out"
	chgrp adm "$SMKD_SOCK"
	rc=0
	out=$(rel_call_as "$nobody" org.varlink.service.GetInfo '{}') || rc=$?
	[ "$rc" = 3 ] && grep -q 'Permission denied' <<<"$out" ||
		smk_fail "nobody:nogroup on a 0660 root:adm socket: status $rc: $out"
	smk_log "nobody:nogroup cannot connect to the 0660 socket (root:root, then root:adm): $out"
	out=$(rel_call_as "--reuid=nobody --regid=nogroup --groups=adm" org.varlink.service.GetInfo '{}') ||
		smk_fail "nobody with supplementary group adm on a root:adm 0660 socket: $out"
	smk_log "nobody in group adm (supplementary) connects to the root:adm 0660 socket"

	# 2. the socket open to all: the policy decides, on what the kernel says
	chmod 0666 "$SMKD_SOCK"
	size0=$(smkd_call io.smkeyd.GetCheckpoint '{}' | smkd_json 'r["parameters"]["checkpoint"]["size"]')
	for pol in release-apk firmware-rsa ecdh-agreement; do
		rc=0
		out=$(rel_call_as "$nobody" io.smkeyd.Generate "{\"policy\": \"$pol\", \"label\": \"x\"}") || rc=$?
		[ "$rc" = 1 ] && grep -q '"error": "io.smkeyd.PolicyDenied"' <<<"$out" ||
			smk_fail "nobody:nogroup Generate $pol: status $rc: $out"
	done
	out=$(rel_call_as "$nobody" io.smkeyd.ListPolicies '{}')
	[ "$(smkd_json 'sum(1 for p in r["parameters"]["policies"] if p["allowed"])' <<<"$out")" = 0 ] ||
		smk_fail "ListPolicies shows nobody:nogroup an allowed policy: $out"
	# a client cannot claim another identity in its parameters
	rc=0
	out=$(rel_call_as "$nobody" io.smkeyd.Generate '{"policy": "release-apk", "label": "x", "uid": 0}') || rc=$?
	grep -q 'io.smkeyd.InvalidParameter' <<<"$out" || smk_fail "a uid parameter was not refused: $out"
	# the primary group alone is not the allowed group either
	rc=0
	out=$(rel_call_as "--reuid=nobody --regid=nogroup --groups=nogroup" io.smkeyd.Generate '{"policy": "firmware-rsa", "label": "x"}') || rc=$?
	grep -q 'PolicyDenied' <<<"$out" || smk_fail "firmware-rsa (root only) for nobody: $out"
	size1=$(smkd_call io.smkeyd.GetCheckpoint '{}' | smkd_json 'r["parameters"]["checkpoint"]["size"]')
	[ "$size0" = "$size1" ] || smk_fail "refused requests changed the archive: size $size0 -> $size1"
	grep -q 'outcome=denied' "$SMK_TMP/smkeyd.log" || smk_fail "no denied line in the log"
	smk_log "nobody:nogroup: PolicyDenied for all 3 policies, none allowed in ListPolicies, a uid parameter refused; archive size stays $size1"

	# 3. the same uid with the policy's group as a SUPPLEMENTARY group
	out=$(rel_call_as "--reuid=nobody --regid=nogroup --groups=adm" io.smkeyd.Generate '{"policy": "release-apk", "label": "authz"}') ||
		smk_fail "nobody with supplementary group adm, release-apk: $out"
	seq=$(smkd_json 'r["parameters"]["seq"]' <<<"$out")
	out=$(smkd_call io.smkeyd.GetRecord "{\"seq\": $seq}" |
		smkd_json 'r["parameters"]["record"]["canonical"]')
	grep -Eq '"uid": ?65534' <<<"$out" || smk_fail "record $seq does not name uid 65534 as requester: $out"
	smk_log "nobody with supplementary group adm: release-apk allowed, record $seq names uid 65534"
}

# rel_unix_only: every socket smkeyd holds is an AF_UNIX socket (its
# inode is in /proc/net/unix); prints how many it holds.
rel_unix_only() {
	local fd link ino n=0
	for fd in /proc/"$SMKD_PID"/fd/*; do
		link=$(readlink "$fd" 2>/dev/null) || continue
		case $link in
		socket:*)
			ino=${link#socket:[}
			ino=${ino%]}
			awk -v i="$ino" 'NR > 1 && $7 == i { f = 1 } END { exit !f }' /proc/net/unix ||
				smk_fail "smkeyd fd ${fd##*/} is a socket that is not AF_UNIX ($link)"
			n=$((n + 1))
			;;
		esac
	done
	echo "$n"
}
