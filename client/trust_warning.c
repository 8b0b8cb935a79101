/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The warning smkey verify and smkey audit print at the top of their output
 * while a test (CardContact "UT...") or simulator ("ZZ...") root is among
 * the trust anchors in use: a chain ending there proves nothing about
 * genuine hardware, whatever else holds.
 */
#include <stdio.h>

#include "smkey.h"

void smkey_warn_test_roots(FILE *f, const trust_store *t)
{
	char line[512];

	if (t != NULL && trust_test_warning(t, line, sizeof(line)) > 0)
		fprintf(f, "%s\n", line);
}
