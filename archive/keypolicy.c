/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The archive key's built-in policy. policy/ writes it, in the same canonical
 * document format as every other policy (docs/policy.md), so the archive
 * key's record 0 reads like any other record, but it is not loaded from a
 * file: no configuration can widen what the archive key may do.
 */
#include "archive.h"

#include "../policy/policy.h"

int archive_key_policy(smk_buf *doc, smk_err *e)
{
	return policy_archive_key_document(ARCHIVE_KEY_POLICY_NAME, doc, e);
}
