/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Device chain validation (chain_validate, ref §4.4): fuzzed EF 2F02
 * content (DevAut certificate then DICA certificate) against the pinned
 * roots of etc/trust and etc/trust-test, on a fixed day. The same bytes are
 * also offered as a trust anchor (trust_add: parse, role, self-signature), which is what a
 * file dropped into the trust directory goes through.
 */
#include "fuzz.h"

static trust_store roots = TRUST_STORE_INIT;

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	trust_store own = TRUST_STORE_INIT;
	devaut_chain c;
	smk_err e;

	if (roots.n == 0)
		fz_trust(&roots);
	if (chain_validate(data, size, &roots, fz_day(), &c, &e) == 0) {
		/* only a chain ending in a pinned root gets here */
		FZ_CHECK(trust_find(&roots, c.root_chr) != NULL);
		FZ_CHECK(c.key != NULL && c.curve != NULL && c.alg != NULL);
		FZ_CHECK(c.point_len == 1 + 2 * c.curve->field_len);
		FZ_CHECK(strlen(c.serial) + 5 == strlen(c.device_chr));
		FZ_CHECK(c.device_cert.len + c.dica_cert.len == size);
		FZ_CHECK(memcmp(c.device_cert.data, data, c.device_cert.len) == 0);
	} else {
		FZ_CHECK(c.key == NULL && c.device_cert.len == 0);
		FZ_CHECK(e.code != SMK_OK && e.msg[0] != '\0');
	}
	chain_free(&c);

	if (trust_add(&own, data, size, "fuzz", &e) == 0) {
		FZ_CHECK(own.n == 1 && own.roots[0]->key != NULL);
		FZ_CHECK(trust_find(&own, own.roots[0]->cert.chr) == own.roots[0]);
		/* the same root twice is kept once */
		FZ_CHECK(trust_add(&own, data, size, "fuzz again", &e) == 0 && own.n == 1);
	} else {
		FZ_CHECK(own.n == 0);
	}
	trust_free(&own);
	return 0;
}
