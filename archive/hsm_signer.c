/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The archive signer in the HSM: SIGN with algorithm 0x73 (ecdsa-sha256,
 * the card hashes; ref §6.6, §7.7) under the secure-messaging session. That
 * is the one algorithm the archive key's built-in policy allows, and the
 * card returns ECDSA signatures as DER (ref §3.4), which is what the signer
 * interface hands back.
 */
#include "hsm_signer.h"

#include "../sm/alg.h"

static int session_sign_cb(void *ctx, const uint8_t *msg, size_t len, smk_buf *der_sig, smk_err *e)
{
	archive_session_key *k = ctx;

	if (session_sign(k->session, k->key_id, alg_by_name("ecdsa-sha256")->id, msg, len, der_sig,
			 e) < 0)
		return smk_context(e, "archive key %u", k->key_id);
	return 0;
}

void archive_session_signer(archive_signer *s, archive_session_key *k)
{
	s->sign = session_sign_cb;
	s->ctx = k;
	s->pub = k->pub;
}
