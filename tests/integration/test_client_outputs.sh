#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Files smkey writes on request: `smkey export -o`, `smkey audit
# --report`, `smkey card genkey --req-out/--pem-out` and `smkey card sign
# --out`. An output path that is a symbolic link to a victim file is refused
# with an error naming the path, and the victim keeps its bytes; an existing
# file is not overwritten without --force, and is replaced whole with it.
# The card commands refuse before touching any reader (none exists here).
# Needs no root and starts nothing.
set -euo pipefail
build=${SMK_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build}
smkey=$build/smkey
tmp=$(mktemp -d "${TMPDIR:-/tmp}/smk-outputs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

fail() {
	echo "test_client_outputs: FAIL: $*" >&2
	exit 1
}

"$build/gen_archive" "$tmp" 3 --devices 1 >"$tmp/gen.json" || fail "gen_archive"
arch=$tmp/archive.db
victim=$tmp/victim
printf 'precious\n' >"$victim"
ln -s "$victim" "$tmp/link"

# refused: status not 0, the message names the link, the victim unchanged
refused() {
	local what=$1 rc=0 out
	shift
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" != 0 ] || fail "$what through a symbolic link succeeded: $out"
	grep -q "$tmp/link: is a symbolic link" <<<"$out" || fail "$what: error does not name the link: $out"
	[ "$(cat "$victim")" = precious ] || fail "$what wrote through the link into the victim"
	echo "test_client_outputs: $what: $(grep 'symbolic link' <<<"$out" | head -n 1)"
}

refused "export -o" "$smkey" export "$arch" 1 --pem -o "$tmp/link"
refused "export -o --force" "$smkey" export "$arch" 1 --pem -o "$tmp/link" --force
refused "export --checkpoint -o" "$smkey" export "$arch" --checkpoint -o "$tmp/link"
refused "audit --report" "$smkey" audit "$arch" --report "$tmp/link"
refused "card genkey --req-out" "$smkey" card genkey -r none -t "$tmp" -p "$victim" \
	--type ec:prime256v1 --chr UTTEST00001 --req-out "$tmp/link"
refused "card genkey --pem-out" "$smkey" card genkey -r none -t "$tmp" -p "$victim" \
	--type ec:prime256v1 --chr UTTEST00001 --pem-out "$tmp/link"
refused "card sign --out" "$smkey" card sign -r none -t "$tmp" -p "$victim" --id 1 \
	--alg ecdsa-sha256 --in "$victim" --out "$tmp/link"
[ -L "$tmp/link" ] || fail "the link itself was replaced"

# an existing file: kept without --force, replaced whole with it
printf 'old\n' >"$tmp/key.pem"
rc=0
out=$("$smkey" export "$arch" 1 --pem -o "$tmp/key.pem" 2>&1) || rc=$?
[ "$rc" != 0 ] && grep -q "$tmp/key.pem: exists; not overwriting it" <<<"$out" ||
	fail "export -o over an existing file: status $rc: $out"
[ "$(cat "$tmp/key.pem")" = old ] || fail "export -o overwrote an existing file without --force"
printf 'old report\n' >"$tmp/report.txt"
rc=0
out=$("$smkey" audit "$arch" --report "$tmp/report.txt" 2>&1) || rc=$?
[ "$rc" = 2 ] && grep -q "exists; not overwriting it" <<<"$out" ||
	fail "audit --report over an existing file: status $rc: $out"
[ "$(cat "$tmp/report.txt")" = "old report" ] || fail "audit --report overwrote an existing file"
echo "test_client_outputs: existing files kept without --force: $out"

"$smkey" export "$arch" 1 --pem -o "$tmp/key.pem" --force || fail "export -o --force"
grep -q 'BEGIN PUBLIC KEY' "$tmp/key.pem" || fail "export -o --force did not write the key"
"$smkey" audit "$arch" --report "$tmp/report.txt" --force >/dev/null || fail "audit --report --force"
grep -q '3 records' "$tmp/report.txt" || fail "audit --report --force: $(cat "$tmp/report.txt")"
"$smkey" audit "$arch" --report "$tmp/new-report.txt" >/dev/null || fail "audit --report to a new file"
left=$(find "$tmp" -name '.*' -type f | wc -l)
[ "$left" = 0 ] || fail "$left temporary files left behind"
echo "test_client_outputs: --force replaces whole; new files written; no temporary file left"
echo "test_client_outputs: PASS"
