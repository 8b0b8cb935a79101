#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Smoke version of tests/reliability/hostile.sh (< 60 s): the whole hostile
# catalogue against smkeyd from this build (under the ASan build, with
# LeakSanitizer at exit), without waiting for the 60 s idle limit. After every
# case the daemon must run and serve a fresh client; no case makes a key;
# SIGTERM ends it with status 0 and no sanitizer report.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
. "$SMK_SOURCE_DIR/tests/reliability/rel_lib.sh"

rel_hostile --smoke
smk_pass
