/* SPDX-License-Identifier: BSD-3-Clause */
#include "tlv.h"

#include <string.h>

/* Largest length we accept: 83 xx xx xx. Nothing on a SmartCard-HSM comes
 * near it; it only bounds what a hostile peer can claim. */
#define TLV_MAX_LEN 0xFFFFFFu

int tlv_parse(const uint8_t *p, size_t n, tlv *t, smk_err *e)
{
	size_t pos = 0, len = 0, nlen, i;
	uint32_t tag;

	if (n == 0)
		return smk_fail(e, SMK_E_FORMAT, "TLV: no bytes where a tag must be");
	if (p[0] == 0x00 || p[0] == 0xFF)
		return smk_fail(e, SMK_E_FORMAT, "TLV: invalid tag byte %02X", p[0]);
	tag = p[pos++];
	if ((tag & 0x1F) == 0x1F) {
		/* ISO 7816-4 5.2.2.1: subsequent tag bytes while b8 is set; we take
		 * at most three tag bytes, which covers every tag in TR-03110 */
		do {
			if (pos >= n)
				return smk_fail(e, SMK_E_FORMAT, "TLV: truncated tag %X", tag);
			if (pos >= 3)
				return smk_fail(e, SMK_E_FORMAT, "TLV: tag longer than 3 bytes");
			tag = tag << 8 | p[pos];
		} while (p[pos++] & 0x80);
	}
	if (pos >= n)
		return smk_fail(e, SMK_E_FORMAT, "TLV %X: missing length", tag);
	if (p[pos] < 0x80) {
		len = p[pos++];
	} else {
		nlen = p[pos++] & 0x7F;
		if (nlen == 0)
			return smk_fail(e, SMK_E_FORMAT, "TLV %X: indefinite length not allowed",
					tag);
		if (nlen > 3)
			return smk_fail(e, SMK_E_FORMAT,
					"TLV %X: length field of %zu bytes is too long", tag, nlen);
		if (n - pos < nlen)
			return smk_fail(e, SMK_E_FORMAT, "TLV %X: truncated length", tag);
		for (i = 0; i < nlen; i++)
			len = len << 8 | p[pos++];
		if (len > TLV_MAX_LEN)
			return smk_fail(e, SMK_E_FORMAT, "TLV %X: length %zu too large", tag, len);
	}
	if (n - pos < len)
		return smk_fail(e, SMK_E_FORMAT, "TLV %X: length %zu but only %zu bytes follow",
				tag, len, n - pos);
	t->tag = tag;
	t->value = p + pos;
	t->len = len;
	t->raw = p;
	t->raw_len = pos + len;
	return 0;
}

int tlv_parse_exact(const uint8_t *p, size_t n, uint32_t tag, tlv *t, smk_err *e)
{
	if (tlv_parse(p, n, t, e) < 0)
		return -1;
	if (t->tag != tag)
		return smk_fail(e, SMK_E_FORMAT, "expected tag %X, found %X", tag, t->tag);
	if (t->raw_len != n)
		return smk_fail(e, SMK_E_FORMAT, "TLV %X: %zu unexpected bytes after it", tag,
				n - t->raw_len);
	return 0;
}

void tlv_iter_init(tlv_iter *it, const uint8_t *p, size_t n)
{
	it->p = p;
	it->n = n;
}

int tlv_next(tlv_iter *it, tlv *t, smk_err *e)
{
	if (it->n == 0)
		return 0;
	if (tlv_parse(it->p, it->n, t, e) < 0)
		return -1;
	it->p += t->raw_len;
	it->n -= t->raw_len;
	return 1;
}

int tlv_find(const uint8_t *p, size_t n, uint32_t tag, tlv *t, smk_err *e)
{
	tlv_iter it;
	tlv cur;
	int r, found = 0;

	tlv_iter_init(&it, p, n);
	while ((r = tlv_next(&it, &cur, e)) == 1) {
		if (!found && cur.tag == tag) {
			*t = cur;
			found = 1;
		}
	}
	if (r < 0)
		return -1;
	return found;
}

int tlv_constructed(uint32_t tag)
{
	while (tag > 0xFF)
		tag >>= 8;
	return (tag & 0x20) != 0;
}

int tlv_put_tag(smk_buf *b, uint32_t tag)
{
	uint8_t tb[4];
	size_t n = 0;

	if (tag > 0xFFFF)
		tb[n++] = (uint8_t)(tag >> 16);
	if (tag > 0xFF)
		tb[n++] = (uint8_t)(tag >> 8);
	tb[n++] = (uint8_t)tag;
	return smk_buf_add(b, tb, n);
}

size_t tlv_len_size(size_t len)
{
	if (len < 0x80)
		return 1;
	if (len <= 0xFF)
		return 2;
	if (len <= 0xFFFF)
		return 3;
	return 4;
}

static size_t encode_len(size_t len, uint8_t out[4])
{
	size_t n = tlv_len_size(len), i;

	if (n == 1) {
		out[0] = (uint8_t)len;
		return 1;
	}
	out[0] = (uint8_t)(0x80 | (n - 1));
	for (i = 1; i < n; i++)
		out[i] = (uint8_t)(len >> (8 * (n - 1 - i)));
	return n;
}

int tlv_put_len(smk_buf *b, size_t len)
{
	uint8_t lb[4];

	if (len > TLV_MAX_LEN)
		return -1;
	return smk_buf_add(b, lb, encode_len(len, lb));
}

int tlv_put(smk_buf *b, uint32_t tag, const void *value, size_t len)
{
	if (tlv_put_tag(b, tag) < 0 || tlv_put_len(b, len) < 0)
		return -1;
	return smk_buf_add(b, value, len);
}

int tlv_begin(smk_buf *b, uint32_t tag, size_t *mark)
{
	if (tlv_put_tag(b, tag) < 0)
		return -1;
	*mark = b->len;
	return 0;
}

int tlv_end(smk_buf *b, size_t mark)
{
	uint8_t lb[4];
	size_t len;

	if (mark > b->len)
		return -1;
	len = b->len - mark;
	if (len > TLV_MAX_LEN)
		return -1;
	return smk_buf_insert(b, mark, lb, encode_len(len, lb));
}
