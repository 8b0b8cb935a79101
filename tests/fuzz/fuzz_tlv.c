/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BER-TLV reader and writer (sm/tlv.h): tlv_parse, tlv_parse_exact,
 * iteration with tlv_next, tlv_find, and descent into every constructed
 * value (as the CVC, PrKD and SM parsers do). Whatever parses is written
 * back with tlv_put / tlv_begin / tlv_end and must read back the same:
 * same tags, same values, and byte for byte the input when its lengths were
 * minimal.
 */
#include "fuzz.h"
#include "sm/tlv.h"

#define DEPTH_MAX 16
#define FIND_CHECKS 32

/* The single TLV at p must describe itself consistently. */
static void check_one(const uint8_t *p, size_t n, const tlv *t)
{
	FZ_CHECK(t->raw == p);
	FZ_CHECK(t->raw_len <= n);
	FZ_CHECK(t->len < t->raw_len);
	FZ_CHECK(t->value == t->raw + (t->raw_len - t->len));
	FZ_CHECK(t->tag != 0);
}

/* Rewrite the siblings in p[0..n) with minimal lengths, descending into
 * constructed values that hold a whole TLV list. -1 when p is not a TLV
 * list. *minimal is cleared when some length field was not minimal. */
static int rebuild(const uint8_t *p, size_t n, smk_buf *out, int depth, int *minimal)
{
	tlv_iter it;
	tlv t, found;
	size_t mark, before;
	smk_err e;
	int r, f, find_failed = 0, was_minimal, seen = 0;

	tlv_iter_init(&it, p, n);
	while ((r = tlv_next(&it, &t, &e)) == 1) {
		check_one(t.raw, (size_t)(p + n - t.raw), &t);
		/* tlv_find sees the first sibling with this tag, or refuses the
		 * whole level when a later sibling is malformed; checked for the
		 * first siblings only, since each call scans the whole level */
		if (++seen <= FIND_CHECKS) {
			f = tlv_find(p, n, t.tag, &found, &e);
			FZ_CHECK(f == 1 || f == -1);
			if (f == 1)
				FZ_CHECK(found.raw <= t.raw && found.tag == t.tag);
			else
				find_failed = 1;
		}
		/* one tag byte per 0x100, plus the length field */
		if (t.raw_len - t.len -
			(t.tag > 0xFFFF ? 3
			 : t.tag > 0xFF ? 2
					: 1) !=
		    tlv_len_size(t.len))
			*minimal = 0;
		before = out->len;
		if (depth < DEPTH_MAX && tlv_constructed(t.tag) && t.len > 0) {
			was_minimal = *minimal;
			FZ_CHECK(tlv_begin(out, t.tag, &mark) == 0);
			if (rebuild(t.value, t.len, out, depth + 1, minimal) == 0) {
				FZ_CHECK(tlv_end(out, mark) == 0);
				continue;
			}
			/* not a list: keep the value as it is */
			out->len = before;
			*minimal = was_minimal;
		}
		FZ_CHECK(tlv_put(out, t.tag, t.value, t.len) == 0);
	}
	if (r < 0)
		FZ_CHECK(tlv_find(p, n, 0x01, &found, &e) == -1);
	else
		FZ_CHECK(!find_failed);
	return r;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	smk_buf once = SMK_BUF_INIT, twice = SMK_BUF_INIT, put = SMK_BUF_INIT;
	int minimal = 1, minimal2 = 1;
	tlv t, t2;
	smk_err e;

	if (tlv_parse(data, size, &t, &e) == 0) {
		check_one(data, size, &t);
		FZ_CHECK((tlv_parse_exact(data, size, t.tag, &t2, &e) == 0) == (t.raw_len == size));
		FZ_CHECK(tlv_parse_exact(data, size, t.tag ^ 1, &t2, &e) == -1);
		/* the writer puts back what the reader read */
		FZ_CHECK(tlv_put(&put, t.tag, t.value, t.len) == 0);
		FZ_CHECK(tlv_parse_exact(put.data, put.len, t.tag, &t2, &e) == 0);
		FZ_CHECK(t2.len == t.len && memcmp(t2.value, t.value, t.len) == 0);
	} else {
		FZ_CHECK(e.code == SMK_E_FORMAT);
		FZ_CHECK(tlv_parse_exact(data, size, 0x30, &t2, &e) == -1);
	}

	if (rebuild(data, size, &once, 0, &minimal) == 0) {
		if (minimal)
			FZ_CHECK(once.len == size &&
				 (size == 0 || memcmp(once.data, data, size) == 0));
		/* the rewritten list is canonical: rewriting it changes nothing */
		FZ_CHECK(rebuild(once.data, once.len, &twice, 0, &minimal2) == 0);
		FZ_CHECK(minimal2);
		FZ_CHECK(twice.len == once.len &&
			 (once.len == 0 || memcmp(twice.data, once.data, once.len) == 0));
	}
	smk_buf_free(&once);
	smk_buf_free(&twice);
	smk_buf_free(&put);
	return 0;
}
