#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# A few representative cells of the reliability harnesses (tests/reliability/),
# so ctest catches a regression in under a minute; the full runs take minutes
# and are run by hand (docs/reliability-faults.md):
#   faults.sh  GAKP and the checkpoint SIGN answered with a bad MAC, and in
#              plain (the card's SM ends)
#   crash.sh   kill -9 after a record is committed, before its checkpoint;
#              and after the checkpoint is signed, before it is stored
#   disk.sh    the archive on a full tmpfs (before the card, and mid-request)
# Each harness enters its own namespaces (needs root, as every integration
# scenario) and checks its own invariants; reports go to
# $SMK_BUILD_DIR/reliability/smoke-*.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
SMK_BUILD_DIR=${SMK_BUILD_DIR:-$here/../../build}
export SMK_BUILD_DIR
out=$SMK_BUILD_DIR/reliability
mkdir -p "$out"
unset SMK_IN_NAMESPACE

# the GAKP and the checkpoint SIGN (the last SIGN of a generation), found by
# command in the trace of the reference generation, so the cells stay on
# them when the generation gains or loses an APDU (faults.sh prints the
# trace and the positions in its report)
# (each step on its own line: set -e does not stop at a failure on the left
# of &&, so a failing faults.sh would otherwise not fail the smoke)
bash "$here/../reliability/faults.sh" "$out/smoke-faults.md" "gakp last-sign" "badmac plain"
grep -q ' 0 failed' "$out/smoke-faults.md"
bash "$here/../reliability/crash.sh" "$out/smoke-crash.md" "record-committed checkpoint-signed"
bash "$here/../reliability/disk.sh" "$out/smoke-disk.md"
echo "[test_reliability_smoke] PASS"
