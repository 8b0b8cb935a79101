/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The threads smkey audit verifies with: one function run over every item
 * of a batch, the items taken in turn by the pool's threads and by the
 * thread that handed the batch over (audit_pool_finish). Between
 * audit_pool_start and audit_pool_finish that thread is free to read the
 * next batch. Each thread counts its signature verifications in a tally of
 * its own; they join the caller's tally when the pool is freed.
 */
#ifndef SMK_AUDIT_POOL_H
#define SMK_AUDIT_POOL_H

#include <pthread.h>
#include <stddef.h>

#include "../common/err.h"
#include "../common/sigcount.h"

/* Run on one item; ctx as given to audit_pool_start. */
typedef void (*audit_pool_fn)(void *ctx, void *item);

struct audit_pool_thread;

typedef struct audit_pool {
	pthread_mutex_t lock;
	pthread_cond_t go, done;
	/* the batch being worked on: n items of size bytes from items */
	char *items;
	size_t size, n;
	size_t next;	/* its next item to take */
	size_t left;	/* its items not finished */
	unsigned round; /* counts the batches handed out */
	audit_pool_fn fn;
	void *ctx;
	int quit;
	struct audit_pool_thread *t;
	unsigned nt;
	smk_sigcount *total; /* where the threads' counts go */
} audit_pool;

/* Start jobs - 1 threads (the calling thread is the last one), at most
 * AUDIT_POOL_JOBS_MAX; fewer when the system gives no more, which changes
 * nothing but the time taken. */
#define AUDIT_POOL_JOBS_MAX 256
int audit_pool_init(audit_pool *p, unsigned jobs, smk_sigcount *total, smk_err *e);
/* Hand n items of size bytes at items to the threads: fn(ctx, item) each. */
void audit_pool_start(audit_pool *p, void *items, size_t n, size_t size, audit_pool_fn fn,
		      void *ctx);
/* Work on what is left of the batch on this thread too; return when every
 * item is done. */
void audit_pool_finish(audit_pool *p);
/* Stop the threads; their counts are added to total. */
void audit_pool_free(audit_pool *p);

#endif
