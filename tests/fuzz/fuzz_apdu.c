/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Command APDU parsing (apdu_parse, card side: every case 1, 2S/3S/4S,
 * 2E/3E/4E) and response splitting (rapdu_parse, sw_describe). A command
 * that parses must encode back to exactly the input with apdu_encode, and
 * its data must lie inside the input.
 */
#include "fuzz.h"
#include "sm/apdu.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smk_buf out = SMK_BUF_INIT;
	apdu a;
	rapdu r;
	smk_err e;

	if (apdu_parse(data, size, &a, &e) == 0) {
		FZ_CHECK(a.lc <= APDU_EXT_MAX_LC && a.ne <= APDU_EXT_MAX_NE);
		FZ_CHECK((a.lc == 0) == (a.data == NULL));
		if (a.lc > 0)
			FZ_CHECK(a.data >= data + 5 && a.data + a.lc <= data + size);
		FZ_CHECK(apdu_encode(&a, &out, &e) == 0);
		FZ_CHECK(out.len == size && memcmp(out.data, data, size) == 0);
	} else {
		FZ_CHECK(e.code == SMK_E_FORMAT);
	}
	if (rapdu_parse(data, size, &r, &e) == 0) {
		FZ_CHECK(r.len + 2 == size && r.data == data);
		FZ_CHECK(sw_describe(r.sw) != NULL);
		sw_fail(&e, r.sw, "fuzz");
		FZ_CHECK(e.code == SMK_E_CARD && e.sw == r.sw);
	} else {
		FZ_CHECK(size < 2);
	}
	smk_buf_free(&out);
	return 0;
}
