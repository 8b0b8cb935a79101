# SPDX-License-Identifier: BSD-3-Clause
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

# ---- over OpenSSH, in two network namespaces (docs/notary.md) ----
NOTARY_ADDR=10.77.0.1
# shellcheck disable=SC2034 # the card host's address, used by the scenarios
NOTARY_HOST_ADDR=10.77.0.2

# notary_users: the notary's SSH logins, in private copies of /etc/passwd,
# /etc/group and /etc/shadow bind-mounted over the originals in this
# scenario's mount namespace only: smkrelay (the relays log in as it; it
# may open the vpcd port and nothing else) and smkowner (a card owner who
# asks smkeyd for keys through a forwarded socket).
notary_users() {
	local f
	for f in passwd group shadow; do
		cp -p "/etc/$f" "$SMK_TMP/etc-$f"
		mount --bind "$SMK_TMP/etc-$f" "/etc/$f" || smk_fail "cannot bind-mount a copy of /etc/$f"
	done
	mkdir -p "$SMK_TMP/home"
	chmod 0755 "$SMK_TMP/home"
	printf '%s\n' "smkrelay:x:4241:4241:smkey relay:$SMK_TMP/home:/bin/sh" \
		"smkowner:x:4242:4242:card owner:$SMK_TMP/home:/bin/sh" >>/etc/passwd
	printf '%s\n' "smkrelay:x:4241:" "smkowner:x:4242:" >>/etc/group
	printf '%s\n' "smkrelay:*:20000:0:99999:7:::" "smkowner:*:20000:0:99999:7:::" >>/etc/shadow
	# the owner's sshd child reaches smkeyd's socket as smkowner
	chmod 0711 "$SMK_TMP"
}

# notary_sshd VPCD_PORT: keys (host, relay, owner) and the config of a real
# sshd on $NOTARY_ADDR:22 (notary_sshd_start starts it once the veth pair
# is up). The relay login may only open 127.0.0.1:VPCD_PORT; the
# owner login may only forward Unix sockets.
notary_sshd() {
	local port=$1 d=$SMK_TMP/sshd k
	mkdir -p "$d/keys" /run/sshd
	chmod 0755 "$d" /run/sshd
	for k in host relay owner; do
		ssh-keygen -q -t ed25519 -N '' -C "$k" -f "$d/$k" || smk_fail "ssh-keygen $k"
	done
	printf 'restrict,port-forwarding,permitopen="127.0.0.1:%s" %s\n' "$port" "$(cat "$d/relay.pub")" >"$d/keys/smkrelay"
	printf 'restrict,port-forwarding %s\n' "$(cat "$d/owner.pub")" >"$d/keys/smkowner"
	chmod 0644 "$d/keys/"*
	cat >"$d/sshd_config" <<CONF
ListenAddress $NOTARY_ADDR
Port 22
HostKey $d/host
PidFile $d/sshd.pid
AuthorizedKeysFile $d/keys/%u
AllowUsers smkrelay smkowner
UsePAM no
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin no
StrictModes no
X11Forwarding no
PermitTunnel no
AllowAgentForwarding no
LogLevel VERBOSE
Match User smkrelay
	AllowTcpForwarding local
	AllowStreamLocalForwarding no
	PermitOpen 127.0.0.1:$port
	PermitTTY no
Match User smkowner
	AllowTcpForwarding local
	AllowStreamLocalForwarding local
	PermitTTY no
CONF
	printf '%s %s\n' "$NOTARY_ADDR" "$(cut -d' ' -f1,2 "$d/host.pub")" >"$d/known_hosts"
}

# notary_firewall VPCD_PORT: vpcd listens on every address; drop its port
# on every interface but loopback, so only an SSH channel (ssh -W to
# 127.0.0.1) reaches it.
notary_firewall() {
	nft -f - <<NFT || smk_fail "cannot add the firewall rule for the vpcd port"
table inet smk_notary {
	chain input {
		type filter hook input priority 0; policy accept;
		iifname != "lo" tcp dport $1 drop
	}
}
NFT
}

notary_sshd_start() {
	smk_spawn "$SMK_TMP/sshd.log" /usr/sbin/sshd -D -e -f "$SMK_TMP/sshd/sshd_config"
	local i
	for i in $(seq 50); do
		grep -q 'Server listening' "$SMK_TMP/sshd.log" && return 0
		sleep 0.1
	done
	smk_fail "sshd did not start: $(cat "$SMK_TMP/sshd.log")"
}

# notary_ssh USER: the ssh command line a card host uses to reach the notary
# as USER (its key, the pinned host key, no config files, no prompts).
notary_ssh() {
	local d=$SMK_TMP/sshd
	printf 'ssh -F /dev/null -i %s -o IdentitiesOnly=yes -o UserKnownHostsFile=%s -o StrictHostKeyChecking=yes -o BatchMode=yes -o ServerAliveInterval=15 -l %s' \
		"$d/${1#smk}" "$d/known_hosts" "$1"
}

# notary_veth HOST: a veth pair between the notary ($NOTARY_ADDR) and the
# card host HOST (started with --net -- HOST_DIR PORT --veth smkh0
# $NOTARY_HOST_ADDR/24 ...).
notary_veth() {
	local var="NOTARY_HOST_PID_$1" own i
	# unshare makes the host's network namespace after it started: moved
	# before that, the veth end would land in ours and the host would wait
	# for it in vain (seen on a loaded machine)
	own=$(readlink /proc/self/ns/net)
	for i in $(seq 101); do
		[ "$(readlink "/proc/${!var}/ns/net" 2>/dev/null)" != "$own" ] && break
		[ "$i" = 101 ] && smk_fail "card host $1 has no network namespace of its own after 10 s"
		sleep 0.1
	done
	ip link add smkn0 type veth peer name smkh0 || smk_fail "cannot make a veth pair"
	ip link set smkh0 netns "${!var}" || smk_fail "cannot move the veth end into $1"
	ip addr add "$NOTARY_ADDR/24" dev smkn0
	ip link set smkn0 up
}

# notary_in HOST CMD...: run CMD in card host HOST's network and mount
# namespaces.
notary_in() {
	local var="NOTARY_HOST_PID_$1"
	shift
	nsenter -t "${!var}" -n -m -- "$@"
}

# notary_spawn_in HOST LOG CMD...: smk_spawn CMD in card host HOST's network
# and mount namespaces (stopped at exit like everything else).
notary_spawn_in() {
	local var="NOTARY_HOST_PID_$1" log=$2
	shift 2
	smk_spawn "$log" nsenter -t "${!var}" -n -m -- "$@"
}

# notary_host_clean HOST: a sanitizer build reports into the card host's
# logs (the relay's, the simulator's), which lib.sh's exit check does not
# read: fail on any report there.
notary_host_clean() {
	if grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SMK_TMP/$1"/*.log 2>/dev/null; then
		smk_fail "sanitizer report in the logs of card host $1 (above)"
	fi
}

# ---- the gate: vpcd's presence polls answered on the notary's side ----

# notary_gate_start LISTEN_PORT VPCD_PORT: `smkey relay-gate` on the
# notary's loopback in front of the vpcd reader on VPCD_PORT (log
# $SMK_TMP/gate.log, pid in NOTARY_GATE_PID); returns once it listens.
notary_gate_start() {
	smk_spawn "$SMK_TMP/gate.log" "$SMKEY" relay-gate --listen "127.0.0.1:$1" --vpcd "127.0.0.1:$2"
	NOTARY_GATE_PID=$SMK_LAST_PID
	local i
	for i in $(seq 50); do
		grep -q 'listening on' "$SMK_TMP/gate.log" && return 0
		kill -0 "$NOTARY_GATE_PID" 2>/dev/null || smk_fail "smkey relay-gate exited: $(cat "$SMK_TMP/gate.log")"
		sleep 0.1
	done
	smk_fail "smkey relay-gate is not listening: $(cat "$SMK_TMP/gate.log")"
}

# notary_link_start LISTEN_PORT GATE_PORT [relay_liar.py options]: an honest
# relay_liar.py as the link between a card host and the gate, counting the
# vpcd frames that cross it in $SMK_TMP/link.json (log $SMK_TMP/link.log,
# pid in NOTARY_LINK_PID).
notary_link_start() {
	local listen=$1 gate=$2
	shift 2
	smk_spawn "$SMK_TMP/link.log" python3 -u "$SMK_SOURCE_DIR/tests/integration/relay_liar.py" \
		--listen "$listen" --vpcd "$gate" --stats "$SMK_TMP/link.json" "$@"
	# shellcheck disable=SC2034 # read by the scenarios that source this file
	NOTARY_LINK_PID=$SMK_LAST_PID
	local i
	for i in $(seq 50); do
		grep -q 'listening on' "$SMK_TMP/link.log" && return 0
		sleep 0.1
	done
	smk_fail "the link (relay_liar.py) is not listening: $(cat "$SMK_TMP/link.log")"
}

# notary_gate_counts N: the counts of the gate's N-th ended relay connection
# as "APDUS LOCAL CROSSED POWER_ONS RESETS" (its log line "... ended ...").
notary_gate_counts() {
	local line
	line=$(grep ' ended (' "$SMK_TMP/gate.log" | sed -n "$1p")
	[ -n "$line" ] || smk_fail "the gate logged no end of relay connection $1: $(cat "$SMK_TMP/gate.log")"
	sed -En 's/.*: ([0-9]+) APDUs?; ATR requests: ([0-9]+) answered here, ([0-9]+) crossed the link; power on ([0-9]+), reset ([0-9]+), .*/\1 \2 \3 \4 \5/p' <<<"$line"
}

# notary_link_atrs: the ATR requests (control frame 04) that crossed the link.
notary_link_atrs() {
	python3 -c 'import json, sys; print(json.load(open(sys.argv[1]))["control"].get("04", 0))' "$SMK_TMP/link.json"
}
