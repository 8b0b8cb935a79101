/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The reply cache (see reply_cache.h): a chained hash table for lookup and a
 * list in use order for eviction (<sys/queue.h>), one allocation per entry.
 */
#include "reply_cache.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>

#define BUCKETS 1024 /* a power of two */

struct entry {
	SLIST_ENTRY(entry) hnext; /* same bucket */
	TAILQ_ENTRY(entry) use;	  /* use order: first is the most recent */
	uint64_t key;
	size_t len;
	char text[];
};

SLIST_HEAD(bucket, entry);

struct reply_cache {
	struct bucket bucket[BUCKETS];
	TAILQ_HEAD(use_order, entry) used;
	size_t max, bytes, entries;
	unsigned long long hits, misses;
};

static size_t slot(uint64_t key)
{
	/* Fibonacci hashing: consecutive seqs spread over the buckets */
	return (size_t)((key * 0x9E3779B97F4A7C15ull) >> 54) & (BUCKETS - 1);
}

reply_cache *reply_cache_new(size_t max_bytes)
{
	reply_cache *c = calloc(1, sizeof(*c));

	if (c) {
		c->max = max_bytes;
		TAILQ_INIT(&c->used);
	}
	return c;
}

void reply_cache_free(reply_cache *c)
{
	struct entry *e;

	if (c == NULL)
		return;
	while ((e = TAILQ_FIRST(&c->used)) != NULL) {
		TAILQ_REMOVE(&c->used, e, use);
		free(e);
	}
	free(c);
}

static struct entry *find(reply_cache *c, uint64_t key)
{
	struct entry *e;

	SLIST_FOREACH(e, &c->bucket[slot(key)], hnext)
	if (e->key == key)
		return e;
	return NULL;
}

static void drop(reply_cache *c, struct entry *e)
{
	SLIST_REMOVE(&c->bucket[slot(e->key)], e, entry, hnext);
	TAILQ_REMOVE(&c->used, e, use);
	c->bytes -= e->len;
	c->entries--;
	free(e);
}

int reply_cache_get(reply_cache *c, uint64_t key, const char **text, size_t *len)
{
	struct entry *e = find(c, key);

	if (e == NULL) {
		c->misses++;
		return 0;
	}
	c->hits++;
	if (TAILQ_FIRST(&c->used) != e) {
		TAILQ_REMOVE(&c->used, e, use);
		TAILQ_INSERT_HEAD(&c->used, e, use);
	}
	*text = e->text;
	*len = e->len;
	return 1;
}

int reply_cache_put(reply_cache *c, uint64_t key, const char *text, size_t len)
{
	struct entry *e, *old;

	if (len > c->max)
		return 0;
	e = malloc(sizeof(*e) + len);
	if (e == NULL)
		return -1;
	old = find(c, key);
	if (old)
		drop(c, old);
	while (!TAILQ_EMPTY(&c->used) && c->bytes + len > c->max)
		drop(c, TAILQ_LAST(&c->used, use_order));
	e->key = key;
	e->len = len;
	memcpy(e->text, text, len);
	SLIST_INSERT_HEAD(&c->bucket[slot(key)], e, hnext);
	TAILQ_INSERT_HEAD(&c->used, e, use);
	c->bytes += len;
	c->entries++;
	return 0;
}

void reply_cache_get_stats(const reply_cache *c, reply_cache_stats *st)
{
	st->entries = c->entries;
	st->bytes = c->bytes;
	st->hits = c->hits;
	st->misses = c->misses;
}
