/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The operation pipeline (op.h): an operation's life from accepted to
 * answered, its steps' trips to the device workers and the results' trips
 * back to the loop. What a step does is its kind's business (op_kind).
 */
#include "op.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

void op_init(operation *o, engine *eng, const op_kind *kind, engine_done_fn done, void *ctx)
{
	o->eng = eng;
	o->kind = kind;
	o->done = done;
	o->ctx = ctx;
	o->started = false;
}

void op_start(operation *o)
{
	if (o->started)
		return;
	o->started = true;
	LIST_INSERT_HEAD(&o->eng->ops, o, link);
	o->eng->in_flight++;
}

task *op_task(operation *o, int step, unsigned flags)
{
	task *t = calloc(1, sizeof(*t));

	if (t) {
		t->op = o;
		t->step = step;
		t->flags = flags;
	}
	return t;
}

void op_push(device *d, task *t)
{
	op_start(t->op);
	worker_push(d, t);
}

int op_queue(operation *o, device *d, int step, unsigned flags)
{
	task *t = op_task(o, step, flags);

	if (t == NULL)
		return -1;
	op_push(d, t);
	return 0;
}

static void post(engine *eng, completion *c)
{
	uint64_t one = 1;
	ssize_t r;

	pthread_mutex_lock(&eng->lock);
	STAILQ_INSERT_TAIL(&eng->posted, c, link);
	pthread_mutex_unlock(&eng->lock);
	do
		r = write(eng->done_fd, &one, sizeof(one));
	while (r < 0 && errno == EINTR);
}

void op_post(operation *o, int what, enum engine_stage stage)
{
	completion *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		/* without memory the loop cannot learn the result; what has an
		 * intent keeps it open and the next start reconciles it */
		log_err("out of memory posting the result of a %s", o->kind->name);
		return;
	}
	c->op = o;
	c->what = what;
	c->stage = stage;
	post(o->eng, c);
}

void op_post_call(engine *eng, void (*fn)(engine *eng, device *d), device *d)
{
	completion *c = calloc(1, sizeof(*c));

	if (c == NULL) {
		log_err("out of memory: open requests on %s wait for the next start", d->serial);
		return;
	}
	c->fn = fn;
	c->dev = d;
	post(eng, c);
}

/* Under eng->lock: no completion may outlive o (an operation taken back at
 * shutdown may have a progress report pending). */
static void purge(engine *eng, const operation *o)
{
	completion *c, *next;

	for (c = STAILQ_FIRST(&eng->posted); c; c = next) {
		next = STAILQ_NEXT(c, link);
		if (c->op == o) {
			STAILQ_REMOVE(&eng->posted, c, completion, link);
			free(c);
		}
	}
}

void op_release(operation *o)
{
	engine *eng = o->eng;

	pthread_mutex_lock(&eng->lock);
	purge(eng, o);
	if (o->kind->detach)
		o->kind->detach(o);
	pthread_mutex_unlock(&eng->lock);
	if (o->started) {
		LIST_REMOVE(o, link);
		eng->in_flight--;
	}
	o->kind->free(o);
	if (eng->shutting_down && eng->in_flight == 0 && eng->shutdown_cb) {
		void (*cb)(void *) = eng->shutdown_cb;

		eng->shutdown_cb = NULL;
		cb(eng->shutdown_ctx);
	}
}

void op_answer(operation *o, json_t *reply, const engine_error *err)
{
	if (o->ctx && o->done)
		o->done(o->ctx, reply, reply ? NULL : err);
	else
		json_decref(reply);
}

void op_forget(engine *eng, void *ctx)
{
	operation *o;

	LIST_FOREACH(o, &eng->ops, link)
	if (o->ctx == ctx) {
		o->ctx = NULL;
		if (o->kind->forget)
			o->kind->forget(o);
	}
}

void op_deliver_posted(engine *eng)
{
	completion *c;

	/* one at a time: delivering one may release an operation and purge
	 * the others that name it */
	for (;;) {
		pthread_mutex_lock(&eng->lock);
		c = STAILQ_FIRST(&eng->posted);
		if (c)
			STAILQ_REMOVE_HEAD(&eng->posted, link);
		pthread_mutex_unlock(&eng->lock);
		if (c == NULL)
			break;
		if (c->op)
			c->op->kind->deliver(c->op, c->what, c->stage);
		else
			c->fn(eng, c->dev);
		free(c);
	}
}

void op_cancel_queued(engine *eng, const char *why)
{
	struct task_queue taken = TAILQ_HEAD_INITIALIZER(taken);
	task *t, *next;
	size_t i;

	pthread_mutex_lock(&eng->lock);
	for (i = 0; i < eng->device_count; i++) {
		device *d = eng->devices[i];

		for (t = TAILQ_FIRST(&d->tasks); t; t = next) {
			next = TAILQ_NEXT(t, link);
			if (t->flags & OP_TASK_CANCELLABLE) {
				TAILQ_REMOVE(&d->tasks, t, link);
				TAILQ_INSERT_HEAD(&taken, t, link);
			}
		}
	}
	pthread_mutex_unlock(&eng->lock);
	while ((t = TAILQ_FIRST(&taken)) != NULL) {
		TAILQ_REMOVE(&taken, t, link);
		t->op->kind->cancel(t->op, why);
		free(t);
	}
}

void op_free_posted(engine *eng)
{
	completion *c;

	while ((c = STAILQ_FIRST(&eng->posted)) != NULL) {
		STAILQ_REMOVE_HEAD(&eng->posted, link);
		free(c);
	}
}
