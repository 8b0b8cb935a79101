#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# test_notary_ssh.sh with `smkey relay-gate` in front of the notary's vpcd
# reader: the relay's `ssh -W` points at the gate (docs/notary.md "The
# gate"); everything test_notary_ssh.sh asserts, and the gate's counts.
SMK_NOTARY_GATE=1 exec bash "$(dirname "$0")/test_notary_ssh.sh" "$@"
