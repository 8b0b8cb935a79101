#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# Authorization with real second users (setpriv), the smoke version of
# tests/reliability/authz.sh: a user outside the socket's group cannot
# connect to smkeyd's 0660 socket; with the socket open, nobody:nogroup gets
# PolicyDenied for every example policy and nothing is archived; the
# policy's group as a supplementary group is allowed and the record names
# the real uid.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/daemon_lib.sh"
smk_enter_namespace "$@"
. "$SMK_SOURCE_DIR/tests/reliability/rel_lib.sh"

rel_authz
smkd_stop
smk_pass
