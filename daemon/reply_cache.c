/*
 * The reply cache (see reply_cache.h): a chained hash table for lookup and a
 * doubly linked list in use order for eviction, one allocation per entry.
 */
#include "reply_cache.h"

#include <stdlib.h>
#include <string.h>

#define BUCKETS 1024 /* a power of two */

struct entry {
	struct entry *hnext;	   /* same bucket */
	struct entry *prev, *next; /* use order: head is the most recent */
	uint64_t key;
	size_t len;
	char text[];
};

struct reply_cache {
	struct entry *bucket[BUCKETS];
	struct entry *head, *tail;
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

	if (c)
		c->max = max_bytes;
	return c;
}

void reply_cache_free(reply_cache *c)
{
	struct entry *e, *next;

	if (c == NULL)
		return;
	for (e = c->head; e; e = next) {
		next = e->next;
		free(e);
	}
	free(c);
}

static void unlink_use(reply_cache *c, struct entry *e)
{
	if (e->prev)
		e->prev->next = e->next;
	else
		c->head = e->next;
	if (e->next)
		e->next->prev = e->prev;
	else
		c->tail = e->prev;
	e->prev = e->next = NULL;
}

static void push_front(reply_cache *c, struct entry *e)
{
	e->prev = NULL;
	e->next = c->head;
	if (c->head)
		c->head->prev = e;
	c->head = e;
	if (c->tail == NULL)
		c->tail = e;
}

static struct entry **find(reply_cache *c, uint64_t key)
{
	struct entry **p = &c->bucket[slot(key)];

	while (*p && (*p)->key != key)
		p = &(*p)->hnext;
	return p;
}

static void drop(reply_cache *c, struct entry *e)
{
	struct entry **p = find(c, e->key);

	*p = e->hnext;
	unlink_use(c, e);
	c->bytes -= e->len;
	c->entries--;
	free(e);
}

int reply_cache_get(reply_cache *c, uint64_t key, const char **text, size_t *len)
{
	struct entry *e = *find(c, key);

	if (e == NULL) {
		c->misses++;
		return 0;
	}
	c->hits++;
	if (c->head != e) {
		unlink_use(c, e);
		push_front(c, e);
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
	old = *find(c, key);
	if (old)
		drop(c, old);
	while (c->tail && c->bytes + len > c->max)
		drop(c, c->tail);
	e->key = key;
	e->len = len;
	memcpy(e->text, text, len);
	e->hnext = c->bucket[slot(key)];
	c->bucket[slot(key)] = e;
	push_front(c, e);
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
