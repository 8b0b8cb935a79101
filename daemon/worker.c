/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * One thread per HSM: the thread loop. The thread owns the device's card
 * session: nothing else touches the card while it runs (before it starts,
 * engine_start uses the session from the main thread). It takes tasks from
 * its queue and runs each one's step through the operation's kind (op.h),
 * which posts the result to the event loop. On the archive key's device it
 * also covers the records it committed with a checkpoint (commit.c). A
 * device whose transport or secure messaging fails is marked down and,
 * while idle, tries to come back with exponential backoff (device.c).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "daemon.h"
#include "log.h"

double worker_mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Under eng->lock: a moving average of the card time per task, so the
 * placement (generate.c) follows what the device really takes. */
void worker_average(double *avg, double sample)
{
	*avg = *avg > 0 ? 0.75 * *avg + 0.25 * sample : sample;
}

/* Under eng->lock: an up device with idle-release set that still holds its
 * card. */
static int release_due(const device *d)
{
	return d->state == DEVICE_UP && !d->released && d->session != NULL && d->cfg != NULL &&
	       d->cfg->idle_release_s > 0;
}

static void *worker_main(void *arg)
{
	device *d = arg;
	engine *eng = d->eng;
	task *t;

	pthread_mutex_lock(&eng->lock);
	d->idle_since = time(NULL);
	for (;;) {
		while (!d->stop && TAILQ_EMPTY(&d->tasks)) {
			if (commit_uncovered(d)) {
				/* a batch held for more records (commit_batch_due) */
				if (commit_batch_due(eng, d, worker_mono_s())) {
					pthread_mutex_unlock(&eng->lock);
					commit_checkpoint(d);
					pthread_mutex_lock(&eng->lock);
				} else {
					commit_batch_wait(d);
				}
				continue;
			}
			if (d->state == DEVICE_DOWN) {
				struct timespec until = {.tv_sec = d->retry_at};

				/* wake is waited on with CLOCK_REALTIME (the default) */
				if (pthread_cond_timedwait(&d->wake, &eng->lock, &until) ==
				    ETIMEDOUT) {
					pthread_mutex_unlock(&eng->lock);
					device_reopen(d);
					pthread_mutex_lock(&eng->lock);
				}
			} else if (release_due(d)) {
				/* idle release: let the card go once no job came for
				 * idle-release-s */
				struct timespec until = {.tv_sec = d->idle_since +
								   (time_t)d->cfg->idle_release_s};

				if (pthread_cond_timedwait(&d->wake, &eng->lock, &until) ==
					ETIMEDOUT &&
				    !d->stop && TAILQ_EMPTY(&d->tasks) && !commit_uncovered(d) &&
				    release_due(d)) {
					pthread_mutex_unlock(&eng->lock);
					device_release(d);
					pthread_mutex_lock(&eng->lock);
				}
			} else {
				pthread_cond_wait(&d->wake, &eng->lock);
			}
		}
		if (TAILQ_EMPTY(&d->tasks) && commit_uncovered(d)) {
			/* stopping: cover the batch */
			pthread_mutex_unlock(&eng->lock);
			commit_checkpoint(d);
			pthread_mutex_lock(&eng->lock);
			continue;
		}
		t = TAILQ_FIRST(&d->tasks);
		if (t == NULL) /* stopping and nothing left */
			break;
		TAILQ_REMOVE(&d->tasks, t, link);
		if (d->released) {
			/* the job waits for its card (device_retake) */
			pthread_mutex_unlock(&eng->lock);
			device_retake(d);
			pthread_mutex_lock(&eng->lock);
		}
		if (d->state == DEVICE_UP)
			d->state = DEVICE_BUSY;
		pthread_mutex_unlock(&eng->lock);

		t->op->kind->run(d, t->op, t->step);
		free(t);

		pthread_mutex_lock(&eng->lock);
		/* at BATCH_MAX records a steady stream of commits still gets
		 * its checkpoints; a batch not due yet is held above */
		if (commit_batch_due(eng, d, worker_mono_s())) {
			pthread_mutex_unlock(&eng->lock);
			commit_checkpoint(d);
			pthread_mutex_lock(&eng->lock);
		}
		if (d->state == DEVICE_BUSY)
			d->state = DEVICE_UP;
		d->idle_since = time(NULL);
	}
	pthread_mutex_unlock(&eng->lock);
	return NULL;
}

void worker_push(device *d, task *t)
{
	pthread_mutex_lock(&d->eng->lock);
	if (t->flags & (OP_TASK_RECORD | OP_TASK_FRONT)) {
		/* a commit waits for nothing but the card: it holds the reply of
		 * work already done. It goes after the records already queued
		 * (first come, first committed), before any other work. */
		task *after = NULL, *q;

		TAILQ_FOREACH(q, &d->tasks, link)
		{
			if (!(q->flags & OP_TASK_RECORD))
				break;
			after = q;
		}
		if (after)
			TAILQ_INSERT_AFTER(&d->tasks, after, t, link);
		else
			TAILQ_INSERT_HEAD(&d->tasks, t, link);
	} else {
		TAILQ_INSERT_TAIL(&d->tasks, t, link);
	}
	pthread_cond_signal(&d->wake);
	pthread_mutex_unlock(&d->eng->lock);
}

int worker_start(engine *eng, smk_err *e)
{
	size_t i;
	int rc;

	for (i = 0; i < eng->device_count; i++) {
		device *d = eng->devices[i];

		rc = pthread_create(&d->thread, NULL, worker_main, d);
		if (rc != 0)
			return smk_fail(e, SMK_E_NOMEM, "worker thread for %s: %s", d->reader,
					strerror(rc));
		d->thread_started = 1;
	}
	return 0;
}

void worker_stop(engine *eng)
{
	size_t i;

	pthread_mutex_lock(&eng->lock);
	for (i = 0; i < eng->device_count; i++) {
		eng->devices[i]->stop = 1;
		pthread_cond_signal(&eng->devices[i]->wake);
	}
	pthread_mutex_unlock(&eng->lock);
	for (i = 0; i < eng->device_count; i++) {
		if (eng->devices[i]->thread_started)
			pthread_join(eng->devices[i]->thread, NULL);
		device_free(eng->devices[i]);
	}
	free(eng->devices);
	eng->devices = NULL;
	eng->device_count = 0;
}
