/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * BER-TLV as used by ISO 7816-4 and TR-03110: tags of one to three bytes,
 * definite lengths up to `83 xx xx xx`. This is the one reader that checks
 * bounds; every parser of card, certificate or request bytes goes through it.
 */
#ifndef SMK_TLV_H
#define SMK_TLV_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

typedef struct tlv {
	uint32_t tag;	      /* tag bytes as a big-endian number: 0x7F21, 0x5F37, 0x86 */
	const uint8_t *value; /* points into the parsed input */
	size_t len;
	const uint8_t *raw; /* the whole TLV: tag, length and value (what signatures cover) */
	size_t raw_len;
} tlv;

typedef struct tlv_iter {
	const uint8_t *p;
	size_t n;
} tlv_iter;

/* Parse the TLV at the start of p[0..n). Trailing bytes are allowed; t->raw_len
 * says how many were consumed. */
int tlv_parse(const uint8_t *p, size_t n, tlv *t, smk_err *e);

/* The whole of p[0..n) must be exactly one TLV with the given tag. */
int tlv_parse_exact(const uint8_t *p, size_t n, uint32_t tag, tlv *t, smk_err *e);

void tlv_iter_init(tlv_iter *it, const uint8_t *p, size_t n);
/* 1 and *t filled, 0 at the end, -1 on malformed input. */
int tlv_next(tlv_iter *it, tlv *t, smk_err *e);

/* Find the first TLV with this tag among the siblings in p[0..n) (one level,
 * no descent). 1 found, 0 absent, -1 malformed (the whole level is checked). */
int tlv_find(const uint8_t *p, size_t n, uint32_t tag, tlv *t, smk_err *e);

/* Is the tag's first byte marked constructed (bit 6)? */
int tlv_constructed(uint32_t tag);

/* Writers. Return 0, or -1 when out of memory. */
int tlv_put_tag(smk_buf *b, uint32_t tag);
int tlv_put_len(smk_buf *b, size_t len);
int tlv_put(smk_buf *b, uint32_t tag, const void *value, size_t len);
/* Nested writing: tlv_begin writes the tag and remembers where the value
 * starts; tlv_end inserts the length once the value is complete. */
int tlv_begin(smk_buf *b, uint32_t tag, size_t *mark);
int tlv_end(smk_buf *b, size_t mark);
/* Number of bytes the length field takes for len. */
size_t tlv_len_size(size_t len);

#endif
