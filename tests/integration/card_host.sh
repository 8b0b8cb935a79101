#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The card host of a notary scenario (docs/notary.md): its own pcscd with
# one vpcd reader, a simulated card in it, and `smkey relay` joining that
# card to the notary's vpcd reader. Run by notary_lib.sh inside a mount
# namespace of its own (a tmpfs over /run, so this pcscd does not meet the
# notary's), in the notary's network namespace or in one of its own:
#
#   card_host.sh DIR LOCAL_PORT [--veth IFACE ADDR/PREFIX] [smkey relay options...]
#
# With --veth (a network namespace of its own): wait for IFACE (the caller
# moves one end of a veth pair in) and give it ADDR.
# DIR holds the card's state (card.json, made by the caller); the host
# writes reader.conf, pcscd.log, card.log (the simulator's messages),
# card.apdu.jsonl (its APDU log) and relay.log there. LOCAL_PORT is the
# vpcd port of this host's own reader. TERM stops everything.
. "$(dirname "$0")/lib.sh"

SMK_TMP=$1
port=$2
shift 2
veth=""
if [ "${1:-}" = --veth ]; then
	veth=$2
	veth_addr=$3
	shift 3
fi
SMK_PIDS=()
host_stop() {
	local pid
	for pid in "${SMK_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	wait
	exit 0
}
trap host_stop TERM INT
mount -t tmpfs -o mode=0755 smk-host-run /run || smk_fail "cannot mount a tmpfs over /run"
if [ -n "$veth" ]; then
	ip link set lo up
	# the notary moves the veth end in after this host started; allow a
	# loaded machine a minute of wall clock for it
	deadline=$((SECONDS + 60))
	while ! ip link show "$veth" >/dev/null 2>&1 && [ $SECONDS -lt $deadline ]; do
		sleep 0.1
	done
	ip addr add "$veth_addr" dev "$veth" || smk_fail "no interface $veth in the card host"
	ip link set "$veth" up
fi
mkdir -p /run/pcscd
cat >"$SMK_TMP/reader.conf" <<EOF
FRIENDLYNAME "smk-host-vpcd"
DEVICENAME   /dev/null:$port
LIBPATH      $SMK_VPCD_LIB
CHANNELID    $port
EOF
smk_run_pcscd
SMK_PORT_BASE=$port
smk_sim_start card 0
smk_spawn "$SMK_TMP/relay.log" "$SMK_BUILD_DIR/smkey" relay --reader 'smk-host-vpcd*' "$@"
echo "$SMK_LAST_PID" >"$SMK_TMP/relay.pid"
wait
