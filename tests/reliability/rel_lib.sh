# shellcheck shell=bash
# Shared set-up of the reliability scripts (tests/reliability/*.sh and their
# ctest smoke versions): a private pcscd, two smkey-sim HSMs, smkeyd on a
# config with the given limits. Sourced after tests/integration/lib.sh and
# daemon_lib.sh, after smk_enter_namespace.

REL_DIR=$SMK_SOURCE_DIR/tests/reliability

# rel_start [LATENCY] [EXTRA_YAML]: pcscd, card1 and card2 (smkey-sim run
# --latency LATENCY unless empty), smkeyd started and ready (archive key made).
rel_start() {
	local latency=${1:-} extra=${2:-}
	local -a simopt=()
	[ -n "$latency" ] && simopt=(--latency "$latency")
	smk_start_pcscd 1
	smk_sim_init card1 1
	smk_sim_init card2 2
	smk_sim_start card1 0 "${simopt[@]}"
	smk_sim_start card2 1 "${simopt[@]}"
	smk_wait_card 0
	smk_wait_card 1
	smkd_config "$extra"
	smkd_start
	smkd_wait_log 'ready' 60
}

# rel_alive: the daemon process runs and answers a new client.
rel_alive() {
	kill -0 "$SMKD_PID" 2>/dev/null || smk_fail "smkeyd is gone: $(tail -n 20 "$SMK_TMP/smkeyd.log")"
	smkd_call org.varlink.service.GetInfo '{}' >/dev/null ||
		smk_fail "smkeyd does not answer a new client: $(tail -n 20 "$SMK_TMP/smkeyd.log")"
}

# rel_hwm: the daemon's peak resident set (VmHWM) and current (VmRSS), kB.
rel_mem() {
	awk '/^VmHWM|^VmRSS/ {printf "%s %s kB  ", $1, $2}' "/proc/$SMKD_PID/status"
}

# rel_gakp_ok CARD: GAKP commands the card answered 9000 (keys it made).
rel_gakp_ok() {
	grep -c '"cmd":"gakp".*"sw":"9000"' "$SMK_TMP/$1.apdu.jsonl" || true
}
