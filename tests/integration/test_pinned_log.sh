#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Pinned logs (docs/archive.md "Trust model"): a bundle's policy claims are
# the log's statements, worth what the log is, so smkey verify pins a log or
# says plainly that it did not.
#
#  - a bundle from a real smkeyd over smkey-sim: `smkey verify` exits 3
#    without a pinned log (the device part verified, the log's part marked
#    NOT VERIFIED), 0 with --log "$(smkey log-key ARCHIVE)", 1 with another
#    archive's verifier key pinned (naming both); the same three through the
#    trust directory's `logs` file; `smkey log-key` from smkeyd (GetLogKey)
#    prints the same line as from the archive file; a bad line in `logs` is
#    refused naming file:line; smkey audit --log passes for the real log and
#    fails for the other;
#  - a forged bundle: smkeyd-liar (a test build whose GAKP carries no
#    algorithm list while the record still names the policy's) on a second
#    genuine card under the same root. Its key on the card has no algorithm
#    list, yet without a pinned log its bundle verifies everything the device
#    proves and shows the policy's list under the NOT VERIFIED heading (exit
#    3); with the real log pinned it is refused (exit 1);
#  - smkeyd itself has none of the liar's code (its marker string is absent).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"

LIAR=${SMKEYD_LIAR:-$SMK_BUILD_DIR/smkeyd-liar}
[ -x "$LIAR" ] || smk_fail "missing $LIAR: build first"
if grep -aq 'SMK_TEST_LIAR' "$SMKEYD"; then
	smk_fail "$SMKEYD contains the test-only lie (SMK_TEST_LIAR)"
fi
grep -aq 'SMK_TEST_LIAR: GAKP without' "$LIAR" ||
	smk_fail "$LIAR lacks its lie: the forged bundle would prove nothing"
smk_log "smkeyd has no SMK_TEST_LIAR code; smkeyd-liar has"

smk_start_pcscd 1
smk_sim_init card1 1
smk_sim_init card2 2
smk_sim_start card1 0
smk_sim_start card2 1
smk_wait_card 0
smk_wait_card 1

# expect_rc WANT WHAT CMD...: run CMD, its output in $out, its status WANT
expect_rc() {
	local want=$1 what=$2 rc=0
	shift 2
	out=$("$@" 2>&1) || rc=$?
	[ "$rc" = "$want" ] || smk_fail "$what: exit $rc, not $want: $out"
}

# ---- the real log: smkeyd on card1 (reader 0) ----
smkd_config
sed -i 's/reader: "\*"/reader: "smk-vpcd-0 00 00"/' "$SMKD_CONF"
smkd_start
smkd_wait_log 'ready'
mkdir -p "$SMK_TMP/out-real"
out=$("$SMKEY" generate --socket "$SMKD_SOCK" --policy release-apk --label real \
	-o "$SMK_TMP/out-real" --json 2>&1) || smk_fail "smkey generate (real): $out"
real_dev=$(smkd_json 'r["device"]' <<<"$out")
[ "$real_dev" = ZZSIM00001 ] || smk_fail "the real key is on $real_dev, not card1"
real_bundle=$(ls "$SMK_TMP"/out-real/*.bundle.json)
real_key=$(smkd_log_key "$SMK_TMP/archive.db")
online=$("$SMKEY" log-key --socket "$SMKD_SOCK" 2>&1) || smk_fail "smkey log-key (smkeyd): $online"
[ "$online" = "$real_key" ] || smk_fail "smkeyd's GetLogKey ($online) is not the archive's ($real_key)"
case "$real_key" in
smkeyd/????????????????+????????+AjBZMBMGByqGSM49AgEGCCqGSM49AwEHA0IAB*) ;;
*) smk_fail "verifier key is not <origin>+<key ID>+base64(0x02 || P-256 SPKI): $real_key" ;;
esac
re_real=${real_key//+/\\+}
smk_log "real log: $real_key (the same from smkeyd and from the archive file)"

# ---- the liar's log: smkeyd-liar on card2 (reader 1), its own archive ----
L=$SMK_TMP/liar
mkdir -p "$L/out"
cat >"$L/smkeyd.yaml" <<CONF
socket: smkeyd.sock
archive: archive.db
policies: $SMK_TMP/policies.d
trust: $SMK_TMP/trust
devices:
  - reader: "smk-vpcd-0 00 01"
    pin-file: $SMK_TMP/pin
retry: {min: 1, max: 5}
CONF
smk_spawn "$SMK_TMP/liar.log" "$LIAR" --stderr --debug -c "$L/smkeyd.yaml"
for i in $(seq 150); do
	[ -S "$L/smkeyd.sock" ] && grep -q 'ready' "$SMK_TMP/liar.log" && break
	sleep 0.1
done
grep -q 'ready' "$SMK_TMP/liar.log" || smk_fail "smkeyd-liar not ready: $(cat "$SMK_TMP/liar.log")"
out=$("$SMKEY" generate --socket "$L/smkeyd.sock" --policy release-apk --label forged \
	-o "$L/out" --json 2>&1) || smk_fail "smkey generate (liar): $out"
read -r forged_dev forged_kid < <(smkd_json '"%s %s" % (r["device"], r["key_id"])' <<<"$out")
[ "$forged_dev" = ZZSIM00002 ] || smk_fail "the forged key is on $forged_dev, not card2"
forged_bundle=$(ls "$L"/out/*.bundle.json)
liar_key=$(smkd_log_key "$L/archive.db")
[ "$liar_key" != "$real_key" ] || smk_fail "the liar's log has the real log's key"
re_liar=${liar_key//+/\\+}
grep -q 'SMK_TEST_LIAR: GAKP without' "$SMK_TMP/liar.log" || smk_fail "the liar did not lie"
got=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["keys"][sys.argv[2]].get("algorithms","none"))' \
	"$SMK_TMP/card2.json" "$forged_kid")
[ "$got" = none ] || smk_fail "the forged key on card2 has algorithm list $got: the lie did not happen"
smk_log "forged key $forged_kid on card2 has no algorithm list; liar's log: $liar_key"

# ---- the real bundle: 3 without a pin, 0 pinned, 1 with another log ----
expect_rc 3 "verify, no pinned log" "$SMKEY" verify "$real_bundle" --trust "$SMK_TMP/trust"
smk_expect "verify, no pinned log" 'Proven by the device \(CV request, chain to the pinned root\):' "$out"
smk_expect "verify, no pinned log" 'held by +device ZZSIM00001' "$out"
smk_expect "verify, no pinned log" 'NOT VERIFIED: log smkeyd/[0-9a-f]{16} is not pinned; these are its unverified statements:' "$out"
smk_expect "verify, no pinned log" "verifier key $re_real" "$out"
if grep -q 'Stated by log' <<<"$out"; then
	smk_fail "unpinned output claims a pinned log: $out"
fi
expect_rc 0 "verify --log real" "$SMKEY" verify "$real_bundle" --trust "$SMK_TMP/trust" --log "$real_key"
smk_expect "verify --log real" 'Stated by log smkeyd/[0-9a-f]{16} \(pinned as smkeyd/' "$out"
smk_expect "verify --log real" 'algorithms +ecdsa \(0x70\), ecdsa-sha256 \(0x73\)' "$out"
if grep -q 'NOT VERIFIED' <<<"$out"; then
	smk_fail "pinned output says NOT VERIFIED: $out"
fi
expect_rc 1 "verify --log other" "$SMKEY" verify "$real_bundle" --trust "$SMK_TMP/trust" --log "$liar_key"
smk_expect "verify --log other" "the bundle's log smkeyd/.* \\(verifier key $re_real\\) is not among the pinned logs \\(1 pinned\\)" "$out"
smk_expect "verify --log other" "pinned log: $re_liar" "$out"
expect_rc 0 "verify, both pinned" "$SMKEY" verify "$real_bundle" --trust "$SMK_TMP/trust" \
	--log "$liar_key" --log "$real_key"
smk_log "real bundle: exit 3 without a pinned log, 0 with --log, 1 with the other log pinned"

# ---- the same through the trust directory's logs file ----
printf '# the release log\n%s\n' "$real_key" >"$SMK_TMP/trust/logs"
expect_rc 0 "verify, logs file: real" "$SMKEY" verify "$real_bundle" --trust "$SMK_TMP/trust"
smk_expect "verify, logs file: real" "1 pinned log: 0 from --log, 1 from $SMK_TMP/trust/logs" "$out"
printf '# not ours\n\n%s\n' "$liar_key" >"$SMK_TMP/trust/logs"
expect_rc 1 "verify, logs file: other" "$SMKEY" verify "$real_bundle" --trust "$SMK_TMP/trust"
smk_expect "verify, logs file: other" "is not among the pinned logs \\(1 pinned\\)" "$out"
printf '# nothing pinned yet\n\n' >"$SMK_TMP/trust/logs"
expect_rc 3 "verify, logs file: empty" "$SMKEY" verify "$real_bundle" --trust "$SMK_TMP/trust"
printf '%s\n%s\n' "$real_key" "${real_key%?}A" >"$SMK_TMP/trust/logs"
expect_rc 2 "verify, logs file: bad line" "$SMKEY" verify "$real_bundle" --trust "$SMK_TMP/trust"
smk_expect "verify, logs file: bad line" "$SMK_TMP/trust/logs:2: verifier key" "$out"
rm "$SMK_TMP/trust/logs"
smk_log "trust directory logs file: 0 with the real log, 1 with the other, 3 with none, 2 and file:line on a bad line"

# ---- the forged bundle ----
expect_rc 3 "forged bundle, no pinned log" "$SMKEY" verify "$forged_bundle" --trust "$SMK_TMP/trust"
smk_expect "forged bundle, no pinned log" 'held by +device ZZSIM00002' "$out"
smk_expect "forged bundle, no pinned log" 'NOT VERIFIED: log smkeyd/' "$out"
# the lie is there, but only as the unpinned log's statement
smk_expect "forged bundle, no pinned log" 'algorithms +ecdsa \(0x70\), ecdsa-sha256 \(0x73\)' "$out"
awk '/^NOT VERIFIED: log/ {s = 1} /algorithms +ecdsa / {exit !s}' <<<"$out" ||
	smk_fail "the forged algorithm list is not under the NOT VERIFIED heading: $out"
expect_rc 1 "forged bundle, real log pinned" "$SMKEY" verify "$forged_bundle" --trust "$SMK_TMP/trust" \
	--log "$real_key"
smk_expect "forged bundle, real log pinned" "FAILED  the bundle's log smkeyd/.* is not among the pinned logs \\(1 pinned\\)" "$out"
printf '%s\n' "$real_key" >"$SMK_TMP/trust/logs"
expect_rc 1 "forged bundle, real log in logs" "$SMKEY" verify "$forged_bundle" --trust "$SMK_TMP/trust"
rm "$SMK_TMP/trust/logs"
smk_log "forged bundle: device part verifies (exit 3, claims marked NOT VERIFIED); refused (exit 1) with the real log pinned"

# ---- smkey audit names the log and checks a pin ----
expect_rc 0 "audit --log real" "$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" --log "$real_key"
smk_expect "audit --log real" "log verifier key: $re_real" "$out"
smk_expect "audit --log real" "log pinned: yes" "$out"
expect_rc 1 "audit --log other" "$SMKEY" audit "$SMK_TMP/archive.db" --trust "$SMK_TMP/trust" --log "$liar_key"
smk_expect "audit --log other" "PROBLEM: the archive's log smkeyd/" "$out"
smk_log "smkey audit: names the verifier key; --log passes for the real log, fails for the other"

smkd_stop
smk_pass
