#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Test roots are never trusted by accident: etc/trust holds the
# production root DESRCACC100001 alone (CardContact's test root is in
# etc/trust-test), and every output of smkey verify, smkey audit and
# smkeyd --check-config starts with a warning while a test (UT...) or
# simulator (ZZ...) root is among the anchors in use, and has none with the
# production root alone. (smkeyd's start-up log and ListDevices:
# test_daemon_private.sh.) Needs no root and starts nothing.
set -euo pipefail
src=${SMK_SOURCE_DIR:-$(cd "$(dirname "$0")/../.." && pwd)}
build=${SMK_BUILD_DIR:-$src/build}
smkey=$build/smkey
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smk-trustwarn.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
W='^WARNING: trusting test or simulator root'

fail() {
	echo "test_trust_warning: FAIL: $*" >&2
	exit 1
}

# the shipped default directory: the production root, nothing else
roots=$(cd "$src/etc/trust" && ls ./*.cvcert)
[ "$roots" = ./DESRCACC100001.cvcert ] || fail "etc/trust holds $roots"
[ -e "$src/etc/trust-test/UTSRCACC100001.cvcert" ] || fail "etc/trust-test lacks the test root"

# an archive whose devices chain to a simulator root (ZZSIMRCA00001)
"$build/gen_archive" "$tmp" 3 --devices 1 >"$tmp/gen.json" || fail "gen_archive"
"$smkey" export "$tmp/archive.db" 1 --bundle -o "$tmp/bundle.json" || fail "export"
# the log is pinned, so that verify's exit 0 means verified (3 would mean unpinned)
log=$("$smkey" log-key "$tmp/archive.db") || fail "log-key"

# warned: the simulator root (and the test root) in use
out=$("$smkey" verify "$tmp/bundle.json" --trust "$tmp/trust" --log "$log") || fail "verify with the simulator root: $out"
head -n 1 <<<"$out" | grep -Eq "$W ZZSIMRCA00001: a key attested under it proves nothing about genuine hardware" ||
	fail "verify with the simulator root: no warning first: $out"
out=$("$smkey" audit "$tmp/archive.db" --trust "$tmp/trust") || fail "audit with the simulator root: $out"
head -n 1 <<<"$out" | grep -Eq "$W ZZSIMRCA00001" || fail "audit with the simulator root: no warning first: $out"
"$smkey" audit "$tmp/archive.db" --trust "$tmp/trust" --report "$tmp/report.txt" >"$tmp/audit.out" ||
	fail "audit --report"
head -n 1 "$tmp/report.txt" | grep -Eq "$W" || fail "audit --report: no warning in the report"
grep -Eq "$W" "$tmp/audit.out" || fail "audit --report: no warning on standard output"
cp "$src/etc/trust-test/UTSRCACC100001.cvcert" "$tmp/trust/"
out=$("$smkey" verify "$tmp/bundle.json" --trust "$tmp/trust" --log "$log") || fail "verify with two test roots: $out"
head -n 1 <<<"$out" | grep -Eq "$W""s (UTSRCACC100001, ZZSIMRCA00001|ZZSIMRCA00001, UTSRCACC100001): a key attested under them" ||
	fail "verify with the test and simulator roots: $out"
echo "test_trust_warning: $(head -n 1 <<<"$out")"

# smkeyd --check-config says it too
sed -e "s|^policies: .*|policies: $src/etc/policies.d|" -e "s|^trust: .*|trust: $tmp/trust|" \
	-e "s|^archive: .*|archive: $tmp/daemon.db|" "$src/etc/smkeyd.yaml" >"$tmp/smkeyd.yaml"
out=$("$build/smkeyd" --check-config -c "$tmp/smkeyd.yaml") || fail "check-config: $out"
grep -Eq "smkeyd.yaml: WARNING: trusting test or simulator roots" <<<"$out" || fail "check-config: no warning: $out"

# not warned: the production root alone
rc=0
out=$("$smkey" verify "$tmp/bundle.json" --trust "$src/etc/trust" --log "$log" 2>&1) || rc=$?
[ "$rc" = 1 ] || fail "verify of a simulator bundle against the production root: status $rc"
grep -q 'WARNING' <<<"$out" && fail "verify with the production root alone warns: $out"
rc=0
out=$("$smkey" audit "$tmp/archive.db" --trust "$src/etc/trust" 2>&1) || rc=$?
grep -q 'WARNING' <<<"$out" && fail "audit with the production root alone warns: $out"
sed -i "s|^trust: .*|trust: $src/etc/trust|" "$tmp/smkeyd.yaml"
out=$("$build/smkeyd" --check-config -c "$tmp/smkeyd.yaml") || fail "check-config: $out"
grep -q 'WARNING' <<<"$out" && fail "check-config with the production root alone warns: $out"
echo "test_trust_warning: no warning with DESRCACC100001 alone (verify, audit, check-config)"
echo "test_trust_warning: PASS"
