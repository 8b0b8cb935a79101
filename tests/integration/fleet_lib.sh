# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# A notary serving a fleet of relayed card hosts (test_relay_fleet.sh and
# the relay benchmark). Sourced after lib.sh, daemon_lib.sh, notary_lib.sh.
#
#   fleet_setup N [LATENCY] [DELAY_MS]
#
# The notary: pcscd with vpcd readers 0..N, its own card (device 1, the
# archive key) in reader 0, stock smkeyd naming every device by DevAut
# serial. Card host k (1..N, device k+1) runs tests/integration/card_host.sh
# in a mount namespace of its own (own pcscd, own simulator) and its
# `smkey relay --connect` joins that card to the notary's reader k. LATENCY
# is the simulators' latency model (default off). With DELAY_MS, each relay
# connects through tests/integration/relay_liar.py holding every message
# DELAY_MS in each direction (a slow link; this kernel has no netem).
# FLEET_SERIALS: the hosts' device serials, comma-separated.

fleet_serial() {
	printf 'ZZSIM%05d' "$1"
}

fleet_setup() {
	local n=$1 lat=${2:-off} delay=${3:-} k port target
	smk_start_pcscd $(((n + 2) / 2))
	smk_sim_init notary 1
	smk_sim_start notary 0 --latency "$lat" --quiet
	smk_wait_card 0
	FLEET_SERIALS=
	for ((k = 1; k <= n; k++)); do
		notary_card_init "host$k" $((k + 1))
		target=$(smk_reader_port "$k")
		if [ -n "$delay" ]; then
			port=$((SMK_PORT_BASE + 60 + k))
			smk_spawn "$SMK_TMP/delay$k.log" python3 -u "$SMK_SOURCE_DIR/tests/integration/relay_liar.py" \
				--listen "$port" --vpcd "$target" --delay "$delay"
			target=$port
		fi
		# a vpcd entry listens on its port and the next one
		notary_host_start "host$k" $((SMK_PORT_BASE + 40 + 2 * k)) -- \
			--connect "127.0.0.1:$target" --retry-max-ms 1000
		FLEET_SERIALS+="${FLEET_SERIALS:+,}$(fleet_serial $((k + 1)))"
	done
	for ((k = 1; k <= n; k++)); do
		for _ in $(seq 100); do
			[ -S "$SMK_TMP/host$k/card.ctl" ] && break
			sleep 0.1
		done
		if [ "$lat" != off ]; then
			"$SMK_SIM" ctl --control "$SMK_TMP/host$k/card.ctl" latency "$lat" >/dev/null ||
				smk_fail "latency $lat on host$k's card"
		fi
		smk_wait_card "$k" 60
	done
	fleet_config "$n"
	smkd_start
	smkd_wait_log 'ready' 60
	for ((k = 1; k <= n + 1; k++)); do
		notary_wait_device "$(fleet_serial "$k")" 60
	done
}

# fleet_config N: smkeyd.yaml naming devices 1..N+1 by serial, the archive
# key on device 1 (the notary's own card); SMK_BENCH_HOLD_MS, when set, is
# its limits.checkpoint-hold-ms (as in tests/bench/run scaling).
fleet_config() {
	local n=$1 k devs=
	for ((k = 1; k <= n + 1; k++)); do
		devs+="  - serial: $(fleet_serial "$k")"$'\n'"    pin-file: pin"$'\n'
	done
	smkd_prepare
	cat >"$SMKD_CONF" <<CONF
socket: smkeyd.sock
archive: archive.db
policies: policies.d
trust: trust
devices:
${devs%$'\n'}
archive-key:
  device: $(fleet_serial 1)
limits: {clients-per-uid: 64${SMK_BENCH_HOLD_MS:+, checkpoint-hold-ms: $SMK_BENCH_HOLD_MS}}
retry: {min: 1, max: 5}
CONF
}
