/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * PKCS#15 private-key descriptions as read from EF C4|id (prkd_parse, ref
 * §2.6): what OpenSC, pico-hsm or a hostile card left there. A description
 * that parses is written again with prkd_encode and must read back with the
 * same type, label, iD and key size.
 */
#include "fuzz.h"
#include "sm/prkd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smk_buf again = SMK_BUF_INIT;
	prkd_info a, b;
	prkd_key k;
	smk_err e;

	if (prkd_parse(data, size, &a, &e) < 0)
		return 0;
	FZ_CHECK(a.type == SMK_KEY_EC || a.type == SMK_KEY_RSA);
	FZ_CHECK(a.id_len >= 1 && a.id_len <= PRKD_ID_MAX);
	FZ_CHECK(strlen(a.label) <= PRKD_LABEL_MAX);
	if (a.key_bits == 0 || a.key_bits > 16384)
		return 0; /* the encoder wants a size; EC descriptions may leave it out */
	k = (prkd_key){.type = a.type,
		       .label = a.label,
		       .id = a.id,
		       .id_len = a.id_len,
		       .key_bits = a.key_bits};
	FZ_CHECK(prkd_encode(&again, &k, &e) == 0);
	FZ_CHECK(prkd_parse(again.data, again.len, &b, &e) == 0);
	FZ_CHECK(b.type == a.type && b.key_bits == a.key_bits);
	FZ_CHECK(strcmp(b.label, a.label) == 0);
	FZ_CHECK(b.id_len == a.id_len && memcmp(b.id, a.id, a.id_len) == 0);
	FZ_CHECK(b.usage == prkd_usage(a.type, NULL, 0));
	smk_buf_free(&again);
	return 0;
}
