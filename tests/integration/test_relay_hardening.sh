#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Hardening gate for systemd/smkey-relay@.service (the relay on a card's
# host, docs/notary.md): `systemd-analyze security --offline=yes` exposure
# must be <= 2.0 (SMK_RELAY_EXPOSURE_MAX); where systemd-analyze is missing
# the test exits 77 (skipped, never passed). The unit runs as its own
# dynamic user without capabilities or new privileges, allows AF_UNIX
# (pcscd) and AF_INET/AF_INET6 (ssh to the notary) only, writes no core
# file, and gets its SSH key as a credential. Needs no root, starts nothing.
set -euo pipefail
src=${SMK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
unit=$src/systemd/smkey-relay@.service
max=${SMK_RELAY_EXPOSURE_MAX:-2.0}
analyze=${SMK_SYSTEMD_ANALYZE:-systemd-analyze}

fail() {
	echo "test_relay_hardening: FAIL: $*" >&2
	exit 1
}

val() {
	sed -n "s/^$2=//p" "$1" | tail -n 1
}

[ "$(val "$unit" DynamicUser)" = yes ] || fail "DynamicUser= is not yes"
[ "$(val "$unit" User)" = smkey-relay ] || fail "User= is '$(val "$unit" User)', not smkey-relay (the polkit rule names it)"
[ "$(val "$unit" NoNewPrivileges)" = yes ] || fail "NoNewPrivileges= is not yes"
[ "$(val "$unit" LimitCORE)" = 0 ] || fail "LimitCORE= is not 0"
grep -qx 'CapabilityBoundingSet=' "$unit" || fail "CapabilityBoundingSet= does not empty the bounding set"
grep -qx 'AmbientCapabilities=' "$unit" || fail "AmbientCapabilities= is not empty"
[ "$(val "$unit" RestrictAddressFamilies)" = "AF_UNIX AF_INET AF_INET6" ] ||
	fail "RestrictAddressFamilies= is '$(val "$unit" RestrictAddressFamilies)'"
grep -q '^LoadCredential=ssh-key:' "$unit" || fail "the SSH key is not a credential"
grep -q '^ExecStart=/usr/bin/smkey relay ' "$unit" || fail "ExecStart= does not run smkey relay"
echo "test_relay_hardening: smkey-relay@.service: DynamicUser smkey-relay, no capabilities, NoNewPrivileges, AF_UNIX/INET/INET6 only, SSH key as credential"

if ! command -v "$analyze" >/dev/null 2>&1; then
	echo "test_relay_hardening: SKIP: $analyze not found; the exposure score was not measured" >&2
	exit 77
fi
out=$("$analyze" security --offline=yes "$unit" 2>&1) || fail "systemd-analyze security: $out"
score=$(sed -n 's/.*Overall exposure level for smkey-relay@[^:]*: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || fail "no exposure level in: $out"
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' ||
	fail "exposure $score is above $max: $(grep '✗' <<<"$out")"
echo "test_relay_hardening: systemd-analyze security --offline=yes systemd/smkey-relay@.service: exposure $score (limit $max)"
