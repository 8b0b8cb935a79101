#!/usr/bin/env bash
# SPDX-License-Identifier: BSD-3-Clause
# The programs a user installs link no simulator code: no global symbol that
# libsmk_sim.a defines is defined in them.
#   tests/layering.sh LIBSMK_SIM PROGRAM...
set -euo pipefail
lib=$1
shift
sim_syms=$(nm --defined-only -g "$lib" 2>/dev/null | awk 'NF == 3 { print $3 }' | sort -u)
[ -n "$sim_syms" ] || { echo "no symbols read from $lib"; exit 1; }
status=0
for prog in "$@"; do
	found=$(nm --defined-only "$prog" | awk 'NF == 3 { print $3 }' | sort -u | comm -12 - <(printf '%s\n' "$sim_syms"))
	if [ -n "$found" ]; then
		echo "$prog links simulator code: $(head -n 5 <<<"$found" | tr '\n' ' ')"
		status=1
	else
		echo "$prog: no simulator code"
	fi
done
exit "$status"
