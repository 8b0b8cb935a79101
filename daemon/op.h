/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The one pipeline every call that needs a card goes through (Generate,
 * CreateCSR, SelfSign, ImportCertificate, Adopt, ListDeviceObjects): an
 * operation is accepted on the loop, its steps are queued on device workers
 * (op_queue), each step's card work runs on that worker (kind->run), its
 * results come back to the loop (op_post, kind->deliver), and it leaves once
 * answered (op_release). The pipeline never names its users: each method
 * file registers its kind's table of functions (op_kind) and embeds an op at
 * the start of its own operation (generate.c: job; cardop.h: cardop).
 *
 * Threads (daemon.h): the loop owns the operations; a worker runs one step
 * at a time and posts back. Task queues and completions are under eng->lock.
 */
#ifndef SMK_DAEMON_OP_H
#define SMK_DAEMON_OP_H

#include <stdbool.h>
#include <sys/queue.h>

#include "engine.h"

struct device;
typedef struct operation operation;

typedef struct op_kind {
	const char *name; /* for logs: "generation", "certificate call", ... */
	/* On the worker of d: the card work of step (the kind's own numbering);
	 * reports with op_post. */
	void (*run)(struct device *d, operation *o, int step);
	/* On the loop: what a worker posted with op_post(o, what, stage). */
	void (*deliver)(operation *o, int what, enum engine_stage stage);
	/* On the loop, at shutdown: a step no card has seen was taken back
	 * (only steps queued with OP_TASK_CANCELLABLE). */
	void (*cancel)(operation *o, const char *why);
	/* On the loop: the client went away (o->ctx is already NULL). NULL: nothing to do. */
	void (*forget)(operation *o);
	/* Under eng->lock, when o leaves the pipeline: undo what it holds on
	 * its devices. NULL: nothing. */
	void (*detach)(operation *o);
	/* Free o (the kind's own data with it). */
	void (*free)(operation *o);
} op_kind;

struct operation {
	engine *eng;
	const op_kind *kind;
	engine_done_fn done;
	void *ctx;    /* NULL once the client went away */
	bool started; /* in eng->ops, counted in eng->in_flight */
	LIST_ENTRY(operation) link;
};

LIST_HEAD(op_list, operation);

/* How a step is queued on a worker. */
enum {
	/* a record signed by the archive key for a key already made (group
	 * commit): to the front, after the records queued before it; the
	 * batch's checkpoint waits while more of them are queued */
	OP_TASK_RECORD = 1u << 0,
	/* other work that holds a result already made (a commit): to the
	 * front, after the records queued */
	OP_TASK_FRONT = 1u << 1,
	/* may be taken back at shutdown: no card has seen it */
	OP_TASK_CANCELLABLE = 1u << 2,
};

typedef struct task {
	operation *op;
	int step;
	unsigned flags;
	TAILQ_ENTRY(task) link;
} task;

TAILQ_HEAD(task_queue, task);

typedef struct completion {
	operation *op; /* NULL: a call of fn on the loop */
	int what;
	enum engine_stage stage;
	void (*fn)(engine *eng, struct device *d);
	struct device *dev;
	STAILQ_ENTRY(completion) link;
} completion;

STAILQ_HEAD(completion_list, completion);

/* Initialize o as an operation of kind for a client (done, ctx). */
void op_init(operation *o, engine *eng, const op_kind *kind, engine_done_fn done, void *ctx);
/* Count o as in flight (once; op_queue does it too). */
void op_start(operation *o);
/* A step of o, to be pushed (NULL: out of memory). */
task *op_task(operation *o, int step, unsigned flags);
/* Queue t on d's worker (o counted as in flight first). */
void op_push(struct device *d, task *t);
/* Both: queue step of o on d's worker. -1 on out of memory (nothing queued). */
int op_queue(operation *o, struct device *d, int step, unsigned flags);
/* Worker side: hand what happened back to the loop (kind->deliver). */
void op_post(operation *o, int what, enum engine_stage stage);
/* Worker side: run fn(eng, d) on the loop. */
void op_post_call(engine *eng, void (*fn)(engine *eng, struct device *d), struct device *d);
/* On the loop: o leaves the pipeline (its pending completions dropped, its
 * device bookkeeping undone, freed); the last one out lets a stopping
 * daemon go. */
void op_release(operation *o);
/* Answer o's client, if it is still there: exactly one of reply / err
 * (reply is consumed either way). */
void op_answer(operation *o, json_t *reply, const engine_error *err);
/* The client ctx went away: its operations go on without it. */
void op_forget(engine *eng, void *ctx);
/* On the loop: deliver every completion posted so far, one at a time. */
void op_deliver_posted(engine *eng);
/* At shutdown: take back every cancellable step no worker has started and
 * cancel its operation with why. */
void op_cancel_queued(engine *eng, const char *why);
/* Free the completions left (engine_free, after the workers stopped). */
void op_free_posted(engine *eng);

#endif
