#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The hostile-client catalogue (tests/reliability/hostile.py, 80+ cases) against
# smkeyd from the ASan+UBSan build (build-asan by default; LeakSanitizer runs
# at its exit), two simulated HSMs, client limit 32. Waits past the daemon's
# 60 s idle limit for the half-open, silent and never-reading clients.
#
#   sudo tests/reliability/hostile.sh
#   sudo HOSTILE_REPORT=/tmp/hostile.md SMK_BUILD_DIR=build tests/reliability/hostile.sh
SMK_BUILD_DIR=${SMK_BUILD_DIR:-$(cd "$(dirname "$0")/../.." && pwd)/build-asan}
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1}
. "$(dirname "$0")/../integration/lib.sh"
. "$(dirname "$0")/../integration/daemon_lib.sh"
smk_enter_namespace "$@"
. "$SMK_SOURCE_DIR/tests/reliability/rel_lib.sh"

grep -q __asan_init "$SMKEYD" || smk_log "note: $SMKEYD is not an ASan build: no leak check"
rel_hostile
smk_pass
