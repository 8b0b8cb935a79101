/* SPDX-License-Identifier: BSD-3-Clause */
/* The cache of verified device chains (chaincache.h). */
#include "chaincache.h"

#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

/* Distinct chains kept; an archive sees one per device. Beyond this the
 * cache stops learning and everything still validates in full. */
#define CACHE_MAX 4096

struct entry {
	uint64_t tag;	 /* FNV-1a of the bytes: a quick "not this one" */
	smk_buf bytes;	 /* devaut || dica, exactly as validated */
	size_t dica_at;	 /* where the DICA certificate starts in bytes */
	devaut_chain ok; /* what chain_validate returned */
};

struct archive_chain_cache {
	/* audit's threads share one cache: lookups, and the validation of a
	 * chain not remembered yet, hold the lock, so a chain is validated in
	 * full once however many threads meet it first */
	pthread_mutex_t lock;
	const trust_store *trust;
	struct entry *v;
	size_t n, cap;
	unsigned long hits, validated;
};

archive_chain_cache *archive_chain_cache_new(const trust_store *t)
{
	archive_chain_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	if (pthread_mutex_init(&c->lock, NULL) != 0) {
		free(c);
		return NULL;
	}
	c->trust = t;
	return c;
}

void archive_chain_cache_free(archive_chain_cache *c)
{
	size_t i;

	if (!c)
		return;
	for (i = 0; i < c->n; i++) {
		smk_buf_free(&c->v[i].bytes);
		chain_free(&c->v[i].ok);
	}
	free(c->v);
	pthread_mutex_destroy(&c->lock);
	free(c);
}

void archive_chain_cache_counts(const archive_chain_cache *c, unsigned long *hits,
				unsigned long *validated)
{
	*hits = c->hits;
	*validated = c->validated;
}

static uint64_t fnv1a(uint64_t h, const uint8_t *p, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		h ^= p[i];
		h *= UINT64_C(0x100000001b3);
	}
	return h;
}

static int within(const chain_validity *v, const cvc_date *day)
{
	return cvc_date_cmp(day, &v->ced) >= 0 && cvc_date_cmp(day, &v->cxd) <= 0;
}

static struct entry *find(archive_chain_cache *c, uint64_t tag, const uint8_t *devaut,
			  size_t devaut_len, const uint8_t *dica, size_t dica_len)
{
	size_t i;

	for (i = 0; i < c->n; i++) {
		struct entry *x = &c->v[i];

		if (x->tag == tag && x->dica_at == devaut_len &&
		    x->bytes.len == devaut_len + dica_len &&
		    memcmp(x->bytes.data, devaut, devaut_len) == 0 &&
		    memcmp(x->bytes.data + devaut_len, dica, dica_len) == 0)
			return x;
	}
	return NULL;
}

/* A copy of a cached chain that the caller owns. */
static int copy_chain(const devaut_chain *from, devaut_chain *to, smk_err *e)
{
	*to = *from;
	memset(&to->device_cert, 0, sizeof(to->device_cert));
	memset(&to->dica_cert, 0, sizeof(to->dica_cert));
	to->key = NULL;
	if (EVP_PKEY_up_ref(from->key) != 1)
		return smk_fail(e, SMK_E_CRYPTO, "device chain: cannot share the DevAut key");
	to->key = from->key;
	if (smk_buf_add(&to->device_cert, from->device_cert.data, from->device_cert.len) < 0 ||
	    smk_buf_add(&to->dica_cert, from->dica_cert.data, from->dica_cert.len) < 0) {
		chain_free(to);
		return smk_fail(e, SMK_E_NOMEM, "device chain: out of memory");
	}
	return 0;
}

/* Remember a chain that just validated; when that fails the audit only
 * gets slower, never wrong. */
static void remember(archive_chain_cache *c, uint64_t tag, const uint8_t *devaut, size_t devaut_len,
		     const uint8_t *dica, size_t dica_len, const devaut_chain *ok)
{
	struct entry *x;
	smk_err e;

	if (c->n == CACHE_MAX)
		return;
	if (c->n == c->cap) {
		size_t cap = c->cap ? 2 * c->cap : 8;
		struct entry *v = realloc(c->v, cap * sizeof(*v));

		if (!v)
			return;
		c->v = v;
		c->cap = cap;
	}
	x = &c->v[c->n];
	memset(x, 0, sizeof(*x));
	x->tag = tag;
	x->dica_at = devaut_len;
	if (smk_buf_add(&x->bytes, devaut, devaut_len) < 0 ||
	    smk_buf_add(&x->bytes, dica, dica_len) < 0 || copy_chain(ok, &x->ok, &e) < 0) {
		smk_buf_free(&x->bytes);
		return;
	}
	c->n++;
}

static int validate(archive_chain_cache *c, const uint8_t *devaut, size_t devaut_len,
		    const uint8_t *dica, size_t dica_len, time_t at, devaut_chain *out, smk_err *e)
{
	uint64_t tag =
	    fnv1a(fnv1a(UINT64_C(0xcbf29ce484222325), devaut, devaut_len), dica, dica_len);
	struct entry *x = find(c, tag, devaut, devaut_len, dica, dica_len);
	smk_buf chain = SMK_BUF_INIT;
	int rc;

	memset(out, 0, sizeof(*out));
	if (x) {
		cvc_date day;

		cvc_date_from_time(at, &day);
		/* the dates are the one part of chain_validate that depends on
		 * the record: asked again for every record */
		if (within(&x->ok.root_valid, &day) && within(&x->ok.dica_valid, &day) &&
		    within(&x->ok.device_valid, &day)) {
			c->hits++;
			return copy_chain(&x->ok, out, e);
		}
	}
	if (smk_buf_add(&chain, devaut, devaut_len) < 0 ||
	    smk_buf_add(&chain, dica, dica_len) < 0) {
		smk_buf_free(&chain);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	c->validated++;
	rc = chain_validate(chain.data, chain.len, c->trust, at, out, e);
	smk_buf_free(&chain);
	if (rc == 0 && !x)
		remember(c, tag, devaut, devaut_len, dica, dica_len, out);
	return rc;
}

int archive_chain_cache_validate(archive_chain_cache *c, const uint8_t *devaut, size_t devaut_len,
				 const uint8_t *dica, size_t dica_len, time_t at, devaut_chain *out,
				 smk_err *e)
{
	int rc;

	pthread_mutex_lock(&c->lock);
	rc = validate(c, devaut, devaut_len, dica, dica_len, at, out, e);
	pthread_mutex_unlock(&c->lock);
	return rc;
}
