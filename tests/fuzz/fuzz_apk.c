/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * APK signer certificates (apk/apk.h), for smkey verify --apk.
 *
 * First byte % 4:
 *   0  the rest is an APK: apk_read_signers (End of Central Directory,
 *      APK Signing Block before the central directory, v1 entries via
 *      libzip and PKCS#7);
 *   1  the rest is an APK Signing Block: apk_parse_signing_block;
 *   2  second byte % 3 picks v2, v3 or v3.1, the rest is that block's
 *      value (the signer sequence): apk_parse_scheme_block;
 *   3  the rest is a v1 signature block file (PKCS#7 DER):
 *      apk_parse_v1_block.
 * Invariants: a failure leaves no signer and says something; a success
 * gives at most APK_SIGNERS_MAX signers, each with a certificate, an SPKI
 * that it holds (and not a shorter one), lower-case SHA-256 hex of both,
 * an index counting from 1 within its scheme, and its scheme's bit set.
 */
#include "apk/apk.h"
#include "fuzz.h"

static void check(const apk_signers *s, int rc, const smk_err *e)
{
	unsigned count[APK_V31 + 1] = {0};
	size_t i;

	if (rc < 0) {
		FZ_CHECK(s->n == 0);
		FZ_CHECK(e->msg[0] != '\0');
		return;
	}
	FZ_CHECK(s->n <= APK_SIGNERS_MAX);
	for (i = 0; i < s->n; i++) {
		const apk_signer *sg = &s->v[i];

		FZ_CHECK(sg->scheme >= APK_V1 && sg->scheme <= APK_V31);
		FZ_CHECK(s->schemes & (1u << sg->scheme));
		FZ_CHECK(sg->index == ++count[sg->scheme]);
		FZ_CHECK(sg->cert.len > 0 && sg->spki.len > 0);
		FZ_CHECK(sg->ncerts >= 1);
		FZ_CHECK(strlen(sg->cert_sha256) == 64 && strlen(sg->spki_sha256) == 64);
		FZ_CHECK(strspn(sg->spki_sha256, "0123456789abcdef") == 64);
		FZ_CHECK(apk_signer_holds(sg, sg->spki.data, sg->spki.len));
		FZ_CHECK(!apk_signer_holds(sg, sg->spki.data, sg->spki.len - 1));
		FZ_CHECK(strlen(sg->subject) < sizeof(sg->subject));
	}
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const uint32_t ids[3] = {APK_BLOCK_V2, APK_BLOCK_V3, APK_BLOCK_V31};
	fz_in in = {data, size};
	apk_signers s = APK_SIGNERS_INIT;
	uint8_t mode = fz_u8(&in), *p;
	uint32_t id = 0;
	smk_err e;
	int rc;

	if (mode % 4 == 2)
		id = ids[fz_u8(&in) % 3];
	p = fz_dup(in.p, in.n);
	smk_err_clear(&e);
	switch (mode % 4) {
	case 0:
		rc = apk_read_signers(p, in.n, &s, &e);
		if (rc == 0 && s.has_block)
			FZ_CHECK(s.block_offset + 32 <= in.n);
		break;
	case 1:
		rc = apk_parse_signing_block(p, in.n, 0, &s, &e);
		FZ_CHECK(rc < 0 || s.has_block);
		break;
	case 2:
		rc = apk_parse_scheme_block(id, p, in.n, 0, &s, &e);
		FZ_CHECK(rc < 0 || s.n >= 1);
		break;
	default:
		rc = apk_parse_v1_block("META-INF/FUZZ.RSA", p, in.n, &s, &e);
		FZ_CHECK(rc < 0 || s.n >= 1);
		break;
	}
	check(&s, rc, &e);
	apk_signers_free(&s);
	free(p);
	return 0;
}
