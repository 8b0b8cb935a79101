# SPDX-License-Identifier: BSD-3-Clause
# shellcheck shell=bash
# smkeyd on top of lib.sh: a config for the scenario's simulators, start and
# stop, and a varlink client. Sourced after lib.sh.

SMKEYD=${SMKEYD:-$SMK_BUILD_DIR/smkeyd}
SMKEY=${SMKEY:-$SMK_BUILD_DIR/smkey}
SMKD_CLIENT=$SMK_SOURCE_DIR/tests/integration/varlink_client.py
SMKD_PIN=648219 # smkey-sim's default user PIN
# shellcheck disable=SC2034 # used by the scripts that source this file
SMKD_P11=${SMK_PKCS11_MODULE:-/usr/lib/x86_64-linux-gnu/opensc-pkcs11.so}

# smkd_config [EXTRA_YAML]: $SMK_TMP/smkeyd.yaml using every reader, the
# simulators' test root, and the example policies (copied, so a test may
# change them).
# What every smkeyd config of a scenario shares: its path, the socket, the
# shipped policies and the PIN file (smkd_config, relay_lib.sh, fleet_lib.sh).
smkd_prepare() {
	SMKD_CONF=$SMK_TMP/smkeyd.yaml
	SMKD_SOCK=$SMK_TMP/smkeyd.sock
	mkdir -p "$SMK_TMP/policies.d"
	cp "$SMK_SOURCE_DIR"/etc/policies.d/*.yaml "$SMK_TMP/policies.d/"
	(umask 077 && printf '%s\n' "$SMKD_PIN" >"$SMK_TMP/pin")
}

# smkd_cardhash_policy: policies.d/cardhash.yaml (after smkd_config), a
# copy of release-apk whose keys may only have the card hash: ecdsa is left
# out of the list, and its labels are ch-*.
smkd_cardhash_policy() {
	sed -e 's/^name: release-apk/name: cardhash/' -e 's/^label: apk-/label: ch-/' \
		-e '/^  - ecdsa$/d' "$SMK_TMP/policies.d/release-apk.yaml" >"$SMK_TMP/policies.d/cardhash.yaml"
	if grep -q '^  - ecdsa$' "$SMK_TMP/policies.d/cardhash.yaml"; then
		smk_fail "cardhash.yaml still lists ecdsa"
	fi
}

smkd_config() {
	smkd_prepare
	cat >"$SMKD_CONF" <<CONF
socket: smkeyd.sock
archive: archive.db
policies: policies.d
trust: trust
devices:
  - reader: "*"
    pin-file: pin
retry: {min: 1, max: 5}
${1:-}
CONF
}

# smkd_start [ENV=VALUE...]: start smkeyd in the background (log
# $SMK_TMP/smkeyd.log) and wait for its socket.
smkd_start() {
	smk_spawn "$SMK_TMP/smkeyd.log" env "$@" "$SMKEYD" --stderr --debug -c "$SMKD_CONF"
	SMKD_PID=$SMK_LAST_PID
	local i
	for i in $(seq 150); do
		[ -S "$SMKD_SOCK" ] && { chmod 0666 "$SMKD_SOCK"; return 0; }
		kill -0 "$SMKD_PID" 2>/dev/null || smk_fail "smkeyd exited at start: $(cat "$SMK_TMP/smkeyd.log")"
		sleep 0.1
	done
	smk_fail "smkeyd did not create $SMKD_SOCK"
}

# smkd_stop [SIGNAL]: stop smkeyd and wait for it.
smkd_stop() {
	kill -"${1:-TERM}" "$SMKD_PID" 2>/dev/null || true
	wait "$SMKD_PID" 2>/dev/null || true
}

# smkd_wait_log PATTERN [SECONDS]: until the daemon's log matches.
smkd_wait_log() {
	local pattern=$1 secs=${2:-20} i
	for ((i = 0; i < secs * 10; i++)); do
		grep -Eq -- "$pattern" "$SMK_TMP/smkeyd.log" && return 0
		sleep 0.1
	done
	smk_fail "smkeyd log never showed /$pattern/: $(tail -n 20 "$SMK_TMP/smkeyd.log")"
}

# smkd_log_key [ARCHIVE]: the log's verifier key, the line a relying party
# pins (smkey log-key, offline and read-only; default the scenario's
# archive).
smkd_log_key() {
	local k
	k=$("$SMKEY" log-key "${1:-$SMK_TMP/archive.db}" 2>&1) || smk_fail "smkey log-key: $k"
	printf '%s\n' "$k"
}

# smkd_verify BUNDLE [ARGS...]: smkey verify against the scenario's trust
# anchors with its own log pinned (--log), so that exit 0 means verified;
# without a pinned log smkey verify exits 3.
smkd_verify() {
	local bundle=$1 key
	shift
	key=$(smkd_log_key) || exit 1
	"$SMKEY" verify "$bundle" --trust "$SMK_TMP/trust" --log "$key" "$@"
}

# smkd_call METHOD PARAMS_JSON [--more]: one call with the generic varlink
# client; every reply printed as one JSON line.
smkd_call() {
	python3 "$SMKD_CLIENT" "$SMKD_SOCK" "$@"
}

# smkd_wait_covered SEQ: wait (at most 15 s) until a checkpoint covers record
# SEQ. A Sign reply goes out once its signature record is durable; the
# checkpoint that authenticates it follows within limits: signature-hold-ms.
smkd_wait_covered() {
	local i size
	for ((i = 0; i < 150; i++)); do
		size=$(smkd_call io.smkeyd.GetCheckpoint '{}' | smkd_json 'r["parameters"]["checkpoint"]["size"]')
		[ "$size" -gt "$1" ] && return 0
		sleep 0.1
	done
	smk_fail "no checkpoint covers record $1 after 15 s (latest size $size)"
}

# smkd_json EXPR: evaluate a Python expression over the JSON on stdin (one
# document, or the last line of a stream of replies), bound to r, e.g.
# 'r["parameters"]["seq"]'.
smkd_json() {
	python3 -c '
import json, sys
text = sys.stdin.read().strip()
try:
    r = json.loads(text)
except ValueError:
    r = json.loads(text.splitlines()[-1])
print(eval(sys.argv[1]))' "$1"
}

# smkd_card_of SERIAL: the simulator name (card1, card2) holding device SERIAL.
smkd_card_of() {
	local c
	for c in card1 card2; do
		if grep -q "\"chr\": *\"$1" "$SMK_TMP/$c.json"; then
			echo "$c"
			return 0
		fi
	done
	smk_fail "no simulator holds device $1"
}
