#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Hardening gate for systemd/smkey-relay-gate@.service (the gate in front
# of a notary's vpcd reader, docs/notary.md "The gate"):
# `systemd-analyze security --offline=yes` exposure must be <= 2.0
# (SMK_GATE_EXPOSURE_MAX); where systemd-analyze is missing the test exits
# 77 (skipped, never passed). The unit runs as its own dynamic user without
# capabilities or new privileges, allows AF_INET/AF_INET6 only and IP
# traffic with the loopback only, and writes no core file. Needs no root,
# starts nothing.
set -euo pipefail
src=${SMK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
unit=$src/systemd/smkey-relay-gate@.service
max=${SMK_GATE_EXPOSURE_MAX:-2.0}
analyze=${SMK_SYSTEMD_ANALYZE:-systemd-analyze}

fail() {
	echo "test_relay_gate_hardening: FAIL: $*" >&2
	exit 1
}

val() {
	sed -n "s/^$2=//p" "$1" | tail -n 1
}

[ "$(val "$unit" DynamicUser)" = yes ] || fail "DynamicUser= is not yes"
[ "$(val "$unit" User)" = smkey-relay-gate ] || fail "User= is '$(val "$unit" User)', not smkey-relay-gate"
[ "$(val "$unit" NoNewPrivileges)" = yes ] || fail "NoNewPrivileges= is not yes"
[ "$(val "$unit" LimitCORE)" = 0 ] || fail "LimitCORE= is not 0"
grep -qx 'CapabilityBoundingSet=' "$unit" || fail "CapabilityBoundingSet= does not empty the bounding set"
grep -qx 'AmbientCapabilities=' "$unit" || fail "AmbientCapabilities= is not empty"
[ "$(val "$unit" RestrictAddressFamilies)" = "AF_INET AF_INET6" ] ||
	fail "RestrictAddressFamilies= is '$(val "$unit" RestrictAddressFamilies)'"
if [ "$(val "$unit" IPAddressDeny)" != any ] || [ "$(val "$unit" IPAddressAllow)" != localhost ]; then
	fail "IP traffic is not limited to the loopback (IPAddressDeny=any, IPAddressAllow=localhost)"
fi
grep -q '^ExecStart=/usr/bin/smkey relay-gate ' "$unit" || fail "ExecStart= does not run smkey relay-gate"
echo "test_relay_gate_hardening: smkey-relay-gate@.service: DynamicUser smkey-relay-gate, no capabilities, NoNewPrivileges, AF_INET/INET6 on the loopback only"

if ! command -v "$analyze" >/dev/null 2>&1; then
	echo "test_relay_gate_hardening: SKIP: $analyze not found; the exposure score was not measured" >&2
	exit 77
fi
out=$("$analyze" security --offline=yes "$unit" 2>&1) || fail "systemd-analyze security: $out"
score=$(sed -n 's/.*Overall exposure level for smkey-relay-gate@[^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || fail "no exposure level in: $out"
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' ||
	fail "exposure $score is above $max: $(grep '✗' <<<"$out")"
echo "test_relay_gate_hardening: systemd-analyze security --offline=yes systemd/smkey-relay-gate@.service: exposure $score (limit $max)"
