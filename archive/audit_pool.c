/* SPDX-License-Identifier: BSD-3-Clause */
/* The audit's threads (audit_pool.h). */
#include <stdlib.h>
#include <string.h>

#include "audit_pool.h"

struct audit_pool_thread {
	audit_pool *pool;
	pthread_t thread;
	smk_sigcount sigs;
};

/* Work on the items of the current batch that nobody took yet; p->lock is
 * held on entry and on return. */
static void take_items(audit_pool *p)
{
	while (p->items && p->next < p->n) {
		void *item = p->items + p->next++ * p->size;

		pthread_mutex_unlock(&p->lock);
		p->fn(p->ctx, item);
		pthread_mutex_lock(&p->lock);
		if (--p->left == 0)
			pthread_cond_broadcast(&p->done);
	}
}

static void *thread_main(void *arg)
{
	struct audit_pool_thread *t = arg;
	audit_pool *p = t->pool;
	unsigned seen = 0;

	smk_sigcount_attach(&t->sigs);
	pthread_mutex_lock(&p->lock);
	for (;;) {
		while (!p->quit && p->round == seen)
			pthread_cond_wait(&p->go, &p->lock);
		if (p->quit)
			break;
		seen = p->round;
		take_items(p);
	}
	pthread_mutex_unlock(&p->lock);
	smk_sigcount_attach(NULL);
	return NULL;
}

int audit_pool_init(audit_pool *p, unsigned jobs, smk_sigcount *total, smk_err *e)
{
	unsigned i;

	memset(p, 0, sizeof(*p));
	p->total = total;
	if (jobs > AUDIT_POOL_JOBS_MAX)
		jobs = AUDIT_POOL_JOBS_MAX;
	if (pthread_mutex_init(&p->lock, NULL) != 0)
		return smk_fail(e, SMK_E_NOMEM, "audit: cannot create the threads' lock");
	if (pthread_cond_init(&p->go, NULL) != 0) {
		pthread_mutex_destroy(&p->lock);
		return smk_fail(e, SMK_E_NOMEM, "audit: cannot create the threads' lock");
	}
	if (pthread_cond_init(&p->done, NULL) != 0) {
		pthread_cond_destroy(&p->go);
		pthread_mutex_destroy(&p->lock);
		return smk_fail(e, SMK_E_NOMEM, "audit: cannot create the threads' lock");
	}
	if (jobs > 1 && !(p->t = calloc(jobs - 1, sizeof(*p->t))))
		jobs = 1;
	for (i = 0; i + 1 < jobs; i++) {
		p->t[i].pool = p;
		if (pthread_create(&p->t[i].thread, NULL, thread_main, &p->t[i]) != 0)
			break;
		p->nt++;
	}
	return 0;
}

void audit_pool_start(audit_pool *p, void *items, size_t n, size_t size, audit_pool_fn fn,
		      void *ctx)
{
	pthread_mutex_lock(&p->lock);
	p->items = items;
	p->n = n;
	p->size = size;
	p->fn = fn;
	p->ctx = ctx;
	p->next = 0;
	p->left = n;
	p->round++;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->lock);
}

void audit_pool_finish(audit_pool *p)
{
	pthread_mutex_lock(&p->lock);
	take_items(p);
	while (p->left)
		pthread_cond_wait(&p->done, &p->lock);
	p->items = NULL;
	pthread_mutex_unlock(&p->lock);
}

void audit_pool_free(audit_pool *p)
{
	unsigned i;

	pthread_mutex_lock(&p->lock);
	p->quit = 1;
	pthread_cond_broadcast(&p->go);
	pthread_mutex_unlock(&p->lock);
	for (i = 0; i < p->nt; i++) {
		pthread_join(p->t[i].thread, NULL);
		smk_sigcount_add(p->total, &p->t[i].sigs);
	}
	free(p->t);
	pthread_cond_destroy(&p->done);
	pthread_cond_destroy(&p->go);
	pthread_mutex_destroy(&p->lock);
}
