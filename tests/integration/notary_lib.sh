# shellcheck shell=bash
# Notary scenarios (docs/notary.md): the notary is this scenario's own
# namespace (lib.sh: pcscd with vpcd readers, smkeyd from daemon_lib.sh);
# each card host runs tests/integration/card_host.sh in a mount namespace
# of its own. Sourced after lib.sh and daemon_lib.sh.

SMK_CARD_HOST=$SMK_SOURCE_DIR/tests/integration/card_host.sh

# notary_card_init HOST DEVICE_NO: the card of HOST in $SMK_TMP/HOST/card.json,
# from the scenario's simulator CA (so the notary's trust directory holds
# its root).
notary_card_init() {
	local host=$1 dev=$2
	mkdir -p "$SMK_TMP/$host"
	"$SMK_SIM" init --state "$SMK_TMP/$host/card.json" --trust-out "$SMK_TMP/trust" \
		--ca "$SMK_TMP/sim-ca.json" --device "$dev" >"$SMK_TMP/$host-init.log" 2>&1 ||
		smk_fail "smkey-sim init $host: $(cat "$SMK_TMP/$host-init.log")"
}

# notary_host_start HOST LOCAL_PORT [NETNS_OPTS] -- RELAY_OPTS...: start
# card host HOST (its pid in NOTARY_HOST_PID_<HOST>). NETNS_OPTS are extra
# unshare options (--net for a network namespace of its own).
notary_host_start() {
	local host=$1 port=$2 ns=()
	shift 2
	while [ $# -gt 0 ] && [ "$1" != -- ]; do
		ns+=("$1")
		shift
	done
	[ "${1:-}" = -- ] && shift
	smk_spawn "$SMK_TMP/$host.log" unshare --mount --propagation private "${ns[@]}" \
		bash "$SMK_CARD_HOST" "$SMK_TMP/$host" "$port" "$@"
	printf -v "NOTARY_HOST_PID_$host" '%s' "$SMK_LAST_PID"
}

# notary_host_stop HOST: stop the card host and wait for it.
notary_host_stop() {
	local var="NOTARY_HOST_PID_$1"
	kill "${!var}" 2>/dev/null || true
	wait "${!var}" 2>/dev/null || true
}

# notary_wait_device SERIAL [SECONDS]: until smkeyd lists SERIAL as up.
notary_wait_device() {
	local serial=$1 secs=${2:-30} i out=""
	for ((i = 0; i < secs * 5; i++)); do
		out=$(smkd_call io.smkeyd.ListDevices '{}' 2>&1) || true
		if grep -q "\"serial\": \"$serial\"" <<<"$out" &&
			[ "$(smkd_json "[d['state'] for d in r['parameters']['devices'] if d['serial'] == '$serial'][0]" <<<"$out" 2>/dev/null)" = up ]; then
			return 0
		fi
		sleep 0.2
	done
	smk_fail "device $serial not up at the notary after ${secs}s: $out"
}

# notary_wait_relay HOST PATTERN [SECONDS]: until HOST's relay log matches.
notary_wait_relay() {
	local host=$1 pattern=$2 secs=${3:-20} i
	for ((i = 0; i < secs * 10; i++)); do
		grep -Eq -- "$pattern" "$SMK_TMP/$host/relay.log" 2>/dev/null && return 0
		sleep 0.1
	done
	smk_fail "relay of $host never logged /$pattern/: $(tail -n 20 "$SMK_TMP/$host/relay.log" 2>&1)"
}
