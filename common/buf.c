/* SPDX-License-Identifier: BSD-3-Clause */
#include "buf.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

void smk_buf_init(smk_buf *b)
{
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	b->secret = 0;
}

int smk_buf_reserve(smk_buf *b, size_t extra)
{
	size_t need, cap;
	uint8_t *p;

	if (extra > SIZE_MAX - b->len)
		return -1;
	need = b->len + extra;
	if (need <= b->cap)
		return 0;
	cap = b->cap ? b->cap : 64;
	while (cap < need) {
		if (cap > SIZE_MAX / 2)
			return -1;
		cap *= 2;
	}
	if (b->secret) {
		/* never leave a copy of a secret behind in freed memory */
		p = malloc(cap);
		if (p == NULL)
			return -1;
		if (b->len)
			memcpy(p, b->data, b->len);
		if (b->data) {
			OPENSSL_cleanse(b->data, b->cap);
			free(b->data);
		}
	} else {
		p = realloc(b->data, cap);
		if (p == NULL)
			return -1;
	}
	b->data = p;
	b->cap = cap;
	return 0;
}

int smk_buf_add(smk_buf *b, const void *p, size_t n)
{
	if (n == 0)
		return 0;
	if (smk_buf_reserve(b, n) < 0)
		return -1;
	memcpy(b->data + b->len, p, n);
	b->len += n;
	return 0;
}

int smk_buf_add_byte(smk_buf *b, uint8_t v)
{
	return smk_buf_add(b, &v, 1);
}

int smk_buf_insert(smk_buf *b, size_t off, const void *p, size_t n)
{
	if (off > b->len)
		return -1;
	if (n == 0)
		return 0;
	if (smk_buf_reserve(b, n) < 0)
		return -1;
	memmove(b->data + off + n, b->data + off, b->len - off);
	memcpy(b->data + off, p, n);
	b->len += n;
	return 0;
}

void smk_buf_reset(smk_buf *b)
{
	if (b->secret && b->data)
		OPENSSL_cleanse(b->data, b->cap);
	b->len = 0;
}

void smk_buf_free(smk_buf *b)
{
	if (b->data) {
		if (b->secret)
			OPENSSL_cleanse(b->data, b->cap);
		free(b->data);
	}
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
}

uint8_t *smk_buf_steal(smk_buf *b, size_t *len)
{
	uint8_t *p = b->data;

	if (len)
		*len = b->len;
	b->data = NULL;
	b->len = 0;
	b->cap = 0;
	return p;
}
