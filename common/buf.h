/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A growable byte buffer. Every encoder in the code base appends to one of
 * these, so lengths are tracked in one place. A buffer marked secret (keys,
 * PIN) is wiped with OPENSSL_cleanse whenever its memory is released.
 */
#ifndef SMK_BUF_H
#define SMK_BUF_H

#include <stddef.h>
#include <stdint.h>

typedef struct smk_buf {
	uint8_t *data;
	size_t len;
	size_t cap;
	int secret;
} smk_buf;

#define SMK_BUF_INIT                                                                               \
	{                                                                                          \
		NULL, 0, 0, 0                                                                      \
	}

void smk_buf_init(smk_buf *b);
/* Make room for extra more bytes. 0, or -1 when out of memory. */
int smk_buf_reserve(smk_buf *b, size_t extra);
int smk_buf_add(smk_buf *b, const void *p, size_t n);
int smk_buf_add_byte(smk_buf *b, uint8_t v);
/* Insert n bytes at offset off (off <= len). */
int smk_buf_insert(smk_buf *b, size_t off, const void *p, size_t n);
/* Drop the content, keep the memory (wiped first if secret). */
void smk_buf_reset(smk_buf *b);
void smk_buf_free(smk_buf *b);
/* Take ownership of the data: the buffer is left empty. */
uint8_t *smk_buf_steal(smk_buf *b, size_t *len);

#endif
