/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A bounded LRU of serialized replies, keyed by a 64-bit number (a record's
 * seq). Only for replies that can never change once made: nothing is ever
 * invalidated, entries are only dropped to stay within the byte bound.
 * Single-threaded: the engine uses it on the event-loop thread only.
 */
#ifndef SMK_REPLY_CACHE_H
#define SMK_REPLY_CACHE_H

#include <stddef.h>
#include <stdint.h>

typedef struct reply_cache reply_cache;

/* A cache holding at most max_bytes of reply text (plus a fixed overhead
 * per entry). NULL when out of memory. */
reply_cache *reply_cache_new(size_t max_bytes);
void reply_cache_free(reply_cache *c);
/* 1 and the stored bytes (valid until the next put or free; the entry
 * becomes the most recently used), or 0 when key is not held. */
int reply_cache_get(reply_cache *c, uint64_t key, const char **text, size_t *len);
/* Store a copy of text under key (replacing what key held), dropping the
 * least recently used entries to stay within the bound. A text larger than
 * the bound is not stored. 0, or -1 when out of memory (nothing stored). */
int reply_cache_put(reply_cache *c, uint64_t key, const char *text, size_t len);
/* Entries and bytes of text held, hits and misses so far. */
typedef struct reply_cache_stats {
	size_t entries, bytes;
	unsigned long long hits, misses;
} reply_cache_stats;
void reply_cache_get_stats(const reply_cache *c, reply_cache_stats *st);

#endif
