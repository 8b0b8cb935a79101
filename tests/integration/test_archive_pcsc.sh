#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The archive end to end over a real pcscd (private, vpcd reader) and
# smkey-sim: the scenario of tests/unit/test_archive_sim.c (archive key and
# keys under the example policies generated through the SM session, bundles
# exported and verified with smkey, the audit of a flipped byte, a deleted
# row and a truncated log) runs against the card over PC/SC; then the
# simulator's APDU log must show every GAKP and every SIGN of the archive key
# under secure messaging, none in plain.
. "$(dirname "$0")/lib.sh"
smk_enter_namespace "$@"
export HOME=$SMK_TMP
cd "$SMK_TMP"

smk_start_pcscd 1
smk_sim_init card 7
smk_sim_start card 0
smk_wait_card 0
reader=$("$SMK_BUILD_DIR/smkey" card find) || smk_fail "no SmartCard-HSM found in the vpcd readers"

SMK_ARCHIVE_READER=$reader SMK_ARCHIVE_TRUST=$SMK_TMP/trust \
	"$SMK_BUILD_DIR/test_archive_sim" >"$SMK_TMP/scenario.log" 2>&1 ||
	smk_fail "archive scenario over PC/SC: $(tail -n 20 "$SMK_TMP/scenario.log")"
smk_log "archive key and 3 policy keys made over PC/SC, bundles verified, tampering audited"

LOG=$SMK_TMP/card.apdu.jsonl
gakp_sm=$(grep -c '"cmd":"gakp","sm":true' "$LOG" || true)
gakp_plain=$(grep -c '"cmd":"gakp","sm":false' "$LOG" || true)
[ "$gakp_sm" = 4 ] && [ "$gakp_plain" = 0 ] ||
	smk_fail "GAKP: $gakp_sm under SM and $gakp_plain in plain (want 4 and 0)"
# the archive key signs its own record 0 and 4 checkpoints with ecdsa-sha256
# (P2 73); records 1..3 (format 3) have no signature of their own
sign_sm=$(grep -Ec '"cmd":"sign","sm":true,"header":"[0-9A-F]C68[0-9A-F]{2}73"' "$LOG" || true)
sign_plain=$(grep -c '"cmd":"sign","sm":false' "$LOG" || true)
[ "$sign_sm" = 5 ] && [ "$sign_plain" = 0 ] ||
	smk_fail "SIGN 0x73: $sign_sm under SM and $sign_plain in plain (want 5 and 0)"
smk_log "4 GAKP and 5 archive signatures, all under secure messaging"
smk_pass
