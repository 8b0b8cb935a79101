# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# A private pcscd with vpcd readers, and smkey-sim cards in them, for one
# integration scenario. Sourced by tests/integration/test_*.sh:
#
#   . "$(dirname "$0")/lib.sh"
#   smk_enter_namespace "$@"       # re-runs the script in its own mount+net namespaces
#   smk_start_pcscd 1              # 1 reader entry = 2 vpcd readers (ports BASE, BASE+1)
#   smk_sim_init card1 1           # state + trust anchor in $SMK_TMP
#   smk_sim_start card1 0          # serve card1 in reader 0
#   smk_wait_card 0
#   ... test commands (opensc-tool -r 0 ...) ...
#   smk_pass
#
# Debian 12's pcscd always listens on /run/pcscd/pcscd.comm, so the script runs
# in private mount and network namespaces (docs/design.md "Testing against real
# parts"): a tmpfs over /run, loopback up, its own pcscd, vpcd's TCP ports on
# its own loopback. Several scenarios therefore run at once without clashing,
# and the host's pcscd (if any) is never touched. Everything started here is
# stopped by the EXIT trap, on success and on failure. The scratch directory
# (logs, state, APDU logs) is kept on failure, or always with SMK_KEEP_TMP=1.

set -euo pipefail

SMK_VPCD_LIB=${SMK_VPCD_LIB:-/usr/lib/pcsc/drivers/serial/libifdvpcd.so}
SMK_SOURCE_DIR=${SMK_SOURCE_DIR:-$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)}
SMK_BUILD_DIR=${SMK_BUILD_DIR:-$SMK_SOURCE_DIR/build}
SMK_SIM=${SMK_SIM:-$SMK_BUILD_DIR/smkey-sim}
SMK_TEST_NAME=$(basename "$0" .sh)

smk_log() {
	printf '[%s %s] %s\n' "$SMK_TEST_NAME" "$(date +%H:%M:%S)" "$*" >&2
}

smk_fail() {
	smk_log "FAIL: $*"
	exit 1
}

smk_pass() {
	smk_log "PASS"
	exit 0
}

# Re-execute the calling script inside new mount and network namespaces.
# Needs root; without it the test fails (it must not pass silently).
smk_enter_namespace() {
	if [ -z "${SMK_IN_NAMESPACE:-}" ]; then
		if [ "$(id -u)" != 0 ]; then
			smk_fail "needs root: it runs a private pcscd in its own mount and network namespaces (unshare -mn); run ./scripts/test as root"
		fi
		local tool
		for tool in unshare ip pcscd mount; do
			command -v "$tool" >/dev/null || smk_fail "missing $tool (see scripts/deps.sh)"
		done
		[ -e "$SMK_VPCD_LIB" ] || smk_fail "missing vpcd driver $SMK_VPCD_LIB (Debian: vsmartcard-vpcd)"
		[ -x "$SMK_SIM" ] || smk_fail "missing $SMK_SIM: build first"
		export SMK_IN_NAMESPACE=1 SMK_SOURCE_DIR SMK_BUILD_DIR SMK_SIM
		exec unshare --mount --net --propagation private bash "$0" "$@"
	fi
	mount -t tmpfs -o mode=0755 smk-run /run || smk_fail "cannot mount a tmpfs over /run"
	mkdir -p /run/pcscd
	ip link set lo up || smk_fail "cannot bring up loopback in the network namespace"
	# mktemp's template ends in six X
	SMK_TMP=$(mktemp -d "${TMPDIR:-/tmp}/smk-$SMK_TEST_NAME.$(printf 'X%.0s' 1 2 3 4 5 6)")
	export SMK_TMP
	SMK_PIDS=()
	trap smk_cleanup EXIT
	trap 'exit 130' INT TERM
}

smk_cleanup() {
	local rc=$? pid
	for pid in "${SMK_PIDS[@]}"; do
		kill "$pid" 2>/dev/null || true
	done
	for pid in "${SMK_PIDS[@]}"; do
		wait "$pid" 2>/dev/null || true
	done
	# a sanitizer build reports into the simulators' logs: that is a failure
	if [ "$rc" = 0 ] && grep -lE 'ERROR: (Address|Leak)Sanitizer|runtime error:' "$SMK_TMP"/*.log 2>/dev/null; then
		smk_log "FAIL: sanitizer report in the logs above"
		rc=1
	fi
	if [ "$rc" != 0 ]; then
		smk_log "exit $rc; logs in $SMK_TMP:"
		local f
		for f in "$SMK_TMP"/*.log; do
			[ -e "$f" ] || continue
			echo "---- $f (last 40 lines)" >&2
			tail -n 40 "$f" >&2
		done
	elif [ -n "${SMK_KEEP_TMP:-}" ]; then
		smk_log "kept $SMK_TMP"
	else
		rm -rf "$SMK_TMP"
	fi
	exit "$rc"
}

# Run a command in the background and stop it at exit; its pid in SMK_LAST_PID.
smk_spawn() {
	local log=$1
	shift
	"$@" >"$log" 2>&1 &
	SMK_LAST_PID=$!
	SMK_PIDS+=("$SMK_LAST_PID")
}

# smk_start_pcscd ENTRIES: pcscd with ENTRIES vpcd entries; reader 2k and 2k+1
# are vpcd ports SMK_PORT_BASE+2k and +2k+1. The base is random: inside our
# own network namespace any port is free, and a random one also keeps a
# scenario correct if it is ever run without the namespace.
#
# Each entry loads its own copy of the vpcd driver. vpcd keeps its readers in
# one static table indexed by the slot number (the low 16 bits of the Lun),
# and pcscd loads a library named twice only once: with one LIBPATH, slot 0
# of the second entry overwrites slot 0 of the first, so readers 0 and 2 (and
# 1 and 3) share one connection and the other simulator's commands are never
# answered. A copy under another name is a separate dlopen() with its own
# table (the dynamic loader tells libraries apart by file, so a symlink
# would not do).
smk_start_pcscd() {
	local entries=${1:-1} i port lib
	SMK_PORT_BASE=$((20000 + (RANDOM % 2000) * 16))
	: >"$SMK_TMP/reader.conf"
	for ((i = 0; i < entries; i++)); do
		port=$((SMK_PORT_BASE + 2 * i))
		lib=$SMK_VPCD_LIB
		if [ "$i" -gt 0 ]; then
			lib=$SMK_TMP/vpcd-driver-$i/$(basename "$SMK_VPCD_LIB")
			mkdir -p "$(dirname "$lib")"
			cp "$(readlink -f "$SMK_VPCD_LIB")" "$lib"
		fi
		cat >>"$SMK_TMP/reader.conf" <<EOF
FRIENDLYNAME "smk-vpcd-$i"
DEVICENAME   /dev/null:$port
LIBPATH      $lib
CHANNELID    $port

EOF
	done
	smk_run_pcscd
}

smk_run_pcscd() {
	local i
	rm -f /run/pcscd/pcscd.comm
	# no --apdu: command data carry the PIN, and logs are shown on failure
	smk_spawn "$SMK_TMP/pcscd.log" pcscd --foreground -c "$SMK_TMP/reader.conf"
	SMK_PCSCD_PID=$SMK_LAST_PID
	for i in $(seq 100); do
		[ -S /run/pcscd/pcscd.comm ] && return 0
		kill -0 "$SMK_PCSCD_PID" 2>/dev/null || smk_fail "pcscd exited at start"
		sleep 0.1
	done
	smk_fail "pcscd did not create /run/pcscd/pcscd.comm"
}

# smk_restart_pcscd: stop pcscd and start it again with the same readers
# (the simulators are left alone: they must find vpcd again by themselves).
smk_restart_pcscd() {
	kill "$SMK_PCSCD_PID" 2>/dev/null || true
	wait "$SMK_PCSCD_PID" 2>/dev/null || true
	mv "$SMK_TMP/pcscd.log" "$SMK_TMP/pcscd-before-restart.log"
	smk_run_pcscd
}

# vpcd port of reader index N.
smk_reader_port() {
	echo $((SMK_PORT_BASE + $1))
}

# smk_sim_init NAME [DEVICE_NO]: a fresh card in $SMK_TMP/NAME.json. All
# cards of a scenario come from one simulator CA ($SMK_TMP/sim-ca.json), so
# the one root in $SMK_TMP/trust/ is the trust anchor for every one of them.
smk_sim_init() {
	local name=$1 dev=${2:-1}
	"$SMK_SIM" init --state "$SMK_TMP/$name.json" --trust-out "$SMK_TMP/trust" \
		--ca "$SMK_TMP/sim-ca.json" --device "$dev" >"$SMK_TMP/$name-init.log" 2>&1 ||
		smk_fail "smkey-sim init $name: $(cat "$SMK_TMP/$name-init.log")"
}

# smk_sim_start NAME READER [smkey-sim run options...]: serve NAME in reader
# READER. Control socket $SMK_TMP/NAME.ctl, APDU log $SMK_TMP/NAME.apdu.jsonl,
# messages in $SMK_TMP/NAME.log. The pid is in SMK_SIM_PID_<NAME>.
smk_sim_start() {
	local name=$1 reader=$2
	shift 2
	smk_spawn "$SMK_TMP/$name.log" "$SMK_SIM" run --state "$SMK_TMP/$name.json" \
		--port "$(smk_reader_port "$reader")" --control "$SMK_TMP/$name.ctl" \
		--log "$SMK_TMP/$name.apdu.jsonl" "$@"
	printf -v "SMK_SIM_PID_$name" '%s' "$SMK_LAST_PID"
	local i
	for i in $(seq 50); do
		[ -S "$SMK_TMP/$name.ctl" ] && return 0
		sleep 0.1
	done
	smk_fail "smkey-sim $name did not open its control socket"
}

# smk_sim_stop NAME [SIGNAL]: stop the simulator (default TERM) and wait for it.
smk_sim_stop() {
	local var="SMK_SIM_PID_$1"
	local pid=${!var}
	kill -"${2:-TERM}" "$pid" 2>/dev/null || true
	wait "$pid" 2>/dev/null || true
	rm -f "$SMK_TMP/$1.ctl"
}

# smk_ctl NAME REQUEST...: one control request; prints the reply.
smk_ctl() {
	local name=$1
	shift
	"$SMK_SIM" ctl --control "$SMK_TMP/$name.ctl" "$@"
}

# smk_wait_card READER [SECONDS]: until pcscd reports a card in READER.
smk_wait_card() {
	local reader=$1 secs=${2:-15} i
	for ((i = 0; i < secs * 5; i++)); do
		# bounded: with a broken reader opensc-tool can wait for ever
		if timeout 10 opensc-tool --reader "$reader" --atr >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.2
	done
	smk_fail "no card in reader $reader after ${secs}s"
}

# smk_one_card [smkey-sim run options...]: the usual opening of a scenario
# with one card: pcscd with one vpcd entry, a fresh card card1 (device 1)
# served in reader 0 with the options given, and pcscd seeing it.
smk_one_card() {
	smk_start_pcscd 1
	smk_sim_init card1 1
	smk_sim_start card1 0 "$@"
	smk_wait_card 0
}

# smk_wait_no_card READER [SECONDS]: until the reader is empty.
smk_wait_no_card() {
	local reader=$1 secs=${2:-15} i
	for ((i = 0; i < secs * 5; i++)); do
		local rc=0
		timeout 10 opensc-tool --reader "$reader" --atr >/dev/null 2>&1 || rc=$?
		# 124: opensc-tool hung, which says nothing about the card
		if [ "$rc" != 0 ] && [ "$rc" != 124 ]; then
			return 0
		fi
		sleep 0.2
	done
	smk_fail "reader $reader still has a card after ${secs}s"
}

# smk_shared_copy PATH: a copy of PATH that every user can read (and run,
# when PATH is a program), in $SMK_TMP/shared; prints its path. A test that
# acts as another user (setpriv) hands it these copies, never files of the
# source or build tree: a clone in a 0700 home directory (Debian's default)
# is closed to that user.
smk_shared_copy() {
	local src=$1 dst mode=0644
	dst=$SMK_TMP/shared/$(basename "$src")
	chmod 0711 "$SMK_TMP"
	mkdir -p "$SMK_TMP/shared"
	chmod 0755 "$SMK_TMP/shared"
	[ -x "$src" ] && mode=0755
	[ -e "$dst" ] || install -m "$mode" "$src" "$dst" || smk_fail "cannot copy $src to $dst"
	printf '%s\n' "$dst"
}

# smk_expect LABEL PATTERN TEXT: TEXT must match the extended regex PATTERN.
smk_expect() {
	local label=$1 pattern=$2 text=$3
	if ! grep -Eq -- "$pattern" <<<"$text"; then
		smk_log "output of $label:"
		printf '%s\n' "$text" >&2
		smk_fail "$label: expected /$pattern/"
	fi
}
