#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Hardening gate for systemd/smkeyd.service and smkeyd.socket, and for
# systemd/smkeyd-witness.service (the witness pusher, which has a network):
#  - `systemd-analyze security --offline=yes` exposure must be <= 1.5
#    (SMK_EXPOSURE_MAX); where systemd-analyze is missing the test prints
#    SKIP and exits 77, which ctest reports as skipped (SKIP_RETURN_CODE),
#    never as passed;
#  - the unit drops privileges (own user, no capabilities, no new
#    privileges), writes no core file (LimitCORE=0) and allows AF_UNIX
#    only, without a network;
#  - the socket is 0660 for user smkeyd and group smkey, so a user outside
#    the group cannot connect at all;
#  - smkeyd-witness.service: exposure <= 2.0 (SMK_WITNESS_EXPOSURE_MAX), its
#    own user, no capabilities, no new privileges, address families
#    AF_UNIX AF_INET AF_INET6 only; its timer exists.
# Needs no root and starts nothing.
set -euo pipefail
src=${SMK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
unit=$src/systemd/smkeyd.service
sock=$src/systemd/smkeyd.socket
max=${SMK_EXPOSURE_MAX:-1.5}
wunit=$src/systemd/smkeyd-witness.service
wtimer=$src/systemd/smkeyd-witness.timer
wmax=${SMK_WITNESS_EXPOSURE_MAX:-2.0}
analyze=${SMK_SYSTEMD_ANALYZE:-systemd-analyze} # a test of the SKIP path names a missing one

fail() {
	echo "test_hardening: FAIL: $*" >&2
	exit 1
}

# the value of KEY= in a unit (the last one wins, as in systemd; empty when unset)
val() {
	sed -n "s/^$2=//p" "$1" | tail -n 1
}

[ "$(val "$unit" User)" = smkeyd ] || fail "User= is '$(val "$unit" User)', not smkeyd"
[ "$(val "$unit" NoNewPrivileges)" = yes ] || fail "NoNewPrivileges= is not yes"
[ "$(val "$unit" LimitCORE)" = 0 ] || fail "LimitCORE= is '$(val "$unit" LimitCORE)', not 0 (the daemon holds SM keys)"
grep -qx 'CapabilityBoundingSet=' "$unit" || fail "CapabilityBoundingSet= does not empty the bounding set"
grep -qx 'AmbientCapabilities=' "$unit" || fail "AmbientCapabilities= is not empty"
[ "$(val "$unit" RestrictAddressFamilies)" = AF_UNIX ] ||
	fail "RestrictAddressFamilies= is '$(val "$unit" RestrictAddressFamilies)', not AF_UNIX alone"
[ "$(val "$unit" PrivateNetwork)" = yes ] || fail "PrivateNetwork= is not yes"
[ "$(val "$unit" IPAddressDeny)" = any ] || fail "IPAddressDeny= is not any"
[ "$(val "$sock" SocketMode)" = 0660 ] || fail "SocketMode= is '$(val "$sock" SocketMode)', not 0660"
[ "$(val "$sock" SocketGroup)" = smkey ] || fail "SocketGroup= is not smkey"
[ "$(val "$sock" SocketUser)" = smkeyd ] || fail "SocketUser= is not smkeyd"
echo "test_hardening: unit: User=smkeyd, no capabilities, NoNewPrivileges, LimitCORE=0, AF_UNIX only, PrivateNetwork; socket 0660 smkeyd:smkey"

[ "$(val "$wunit" User)" = smkeyd-witness ] || fail "smkeyd-witness: User= is '$(val "$wunit" User)'"
[ "$(val "$wunit" NoNewPrivileges)" = yes ] || fail "smkeyd-witness: NoNewPrivileges= is not yes"
grep -qx 'CapabilityBoundingSet=' "$wunit" || fail "smkeyd-witness: CapabilityBoundingSet= is not empty"
grep -qx 'AmbientCapabilities=' "$wunit" || fail "smkeyd-witness: AmbientCapabilities= is not empty"
[ "$(val "$wunit" RestrictAddressFamilies)" = "AF_UNIX AF_INET AF_INET6" ] ||
	fail "smkeyd-witness: RestrictAddressFamilies= is '$(val "$wunit" RestrictAddressFamilies)'"
[ -f "$wtimer" ] && grep -q '^OnUnitInactiveSec=' "$wtimer" || fail "smkeyd-witness.timer missing or without OnUnitInactiveSec="
echo "test_hardening: smkeyd-witness.service: User=smkeyd-witness, no capabilities, NoNewPrivileges, AF_UNIX/INET/INET6 only; timer present"

if ! command -v "$analyze" >/dev/null 2>&1; then
	echo "test_hardening: SKIP: systemd-analyze not installed; exposure score not checked"
	exit 77
fi
out=$("$analyze" security --offline=yes "$unit" 2>&1) || fail "systemd-analyze security: $out"
score=$(sed -n 's/.*Overall exposure level for smkeyd.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || fail "no exposure level in: $out"
awk -v s="$score" -v m="$max" 'BEGIN { exit !(s <= m) }' ||
	fail "exposure $score is above $max: $(grep '✗' <<<"$out")"
echo "test_hardening: systemd-analyze security --offline=yes systemd/smkeyd.service: exposure $score (limit $max)"

out=$("$analyze" security --offline=yes "$wunit" 2>&1) || fail "systemd-analyze security: $out"
score=$(sed -n 's/.*Overall exposure level for smkeyd-witness.service: \([0-9.]*\).*/\1/p' <<<"$out")
[ -n "$score" ] || fail "no exposure level in: $out"
awk -v s="$score" -v m="$wmax" 'BEGIN { exit !(s <= m) }' ||
	fail "smkeyd-witness exposure $score is above $wmax: $(grep '✗' <<<"$out")"
echo "test_hardening: systemd-analyze security --offline=yes systemd/smkeyd-witness.service: exposure $score (limit $wmax)"
