/*
 * smkeyd's internal header: how the program builds, starts and stops the
 * engine (daemon/engine.h is the contract with the socket layer), and the
 * pieces shared between engine.c (queries, lifecycle), jobs.c (a Generate
 * request on the event loop), worker.c (one thread per HSM) and recover.c
 * (the archive key and reconciliation at start).
 *
 * Threads: the event-loop thread owns jobs, policies and the engine's
 * bookkeeping; each worker thread owns its device's card session. They meet
 * under eng->lock (device queues and state) and eng->archive_lock (the
 * SQLite archive, used by the loop for intents and queries and by the
 * archive-key device's worker for commits, which the card must sign).
 * Results travel back to the loop through an eventfd-signalled list.
 * Where both are taken, eng->archive_lock comes first, eng->lock inside it.
 *
 * The archive key's device: eng->archive_dev is set at start, or later, once,
 * by the worker of the device that holds the archive key when that device
 * comes up (recover_archive_late, under both locks); it never changes back.
 */
#ifndef SMK_DAEMON_H
#define SMK_DAEMON_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <time.h>

#include "../archive/archive.h"
#include "../archive/record.h"
#include "../policy/policy.h"
#include "../sm/chain.h"
#include "../sm/pin.h"
#include "../sm/session.h"
#include "config.h"
#include "engine.h"
#include "reply_cache.h"

/* ---- building and running the engine (main.c, tests) ---- */

/* How a worker reaches its card. The default is PC/SC (sm/pcsc.h); unit
 * tests put the simulator here, in-process. */
typedef struct engine_cards {
	int (*list)(void *ctx, char ***names, size_t *n,
		    smk_err *e); /* free with pcsc_free_names */
	int (*open)(void *ctx, const char *reader, smk_transport **t, smk_err *e);
	void *ctx;
} engine_cards;

typedef struct engine_options {
	const config *cfg;	   /* must outlive the engine */
	struct event_base *base;   /* the event loop completions are delivered on */
	const engine_cards *cards; /* NULL: PC/SC */
	time_t (*now)(void);	   /* chain validity time; NULL: time() */
} engine_options;

/* PC/SC readers through pcscd (the default). */
extern const engine_cards engine_pcsc_cards;

/* Open the archive, load trust anchors and policies. No card I/O. */
int engine_new(const engine_options *o, engine **out, smk_err *e);
/* Find the devices, bring their sessions up, create the archive key if the
 * archive has none, reconcile interrupted requests, start one worker thread
 * per device. Runs before the daemon reports READY. Devices that do not
 * come up are kept down and retried; only a broken archive fails here. */
int engine_start(engine *eng, smk_err *e);
/* SIGHUP: load the policy directory again; on failure the old set keeps
 * serving and e says why. */
int engine_reload(engine *eng, smk_err *e);
/* SIGTERM: refuse new requests, fail queued jobs that no card has seen
 * (their intents end as failed), let jobs already on a card finish and
 * commit. done(ctx) runs on the loop once nothing is in flight. */
void engine_shutdown(engine *eng, void (*done)(void *ctx), void *ctx);
/* Jobs accepted and not yet answered. */
size_t engine_in_flight(const engine *eng);
/* Stop the workers and free everything (after engine_shutdown completed). */
void engine_free(engine *eng);

/* ---- shared inside daemon/ ---- */

/* Test hook: SIGKILL itself when SMKEYD_TEST_CRASH_AT names this point;
 * engine_crash_step is the archive's step hook doing the same per commit
 * step (docs/daemon.md). */
void engine_crash_point(const char *where);
void engine_crash_step(const char *step, void *ctx);

enum device_state { DEVICE_UP, DEVICE_DOWN, DEVICE_BUSY };

typedef struct task task;
typedef struct job job;

typedef struct device {
	struct engine *eng;
	size_t index;
	char reader[128];
	const config_device *cfg;
	char serial[CVC_REF_MAX + 1]; /* of the validated DevAut certificate */
	char devaut_chr[CVC_REF_MAX + 1];
	smk_buf chain_bytes; /* EF 2F02 as validated: DevAut || DICA certificate */
	smk_pin_source pin;
	smk_session *session; /* owned by the worker thread once it runs */
	pthread_t thread;
	int thread_started;

	/* under eng->lock */
	pthread_cond_t wake;
	enum device_state state;
	char last_error[600];
	task *head, *tail;	  /* commits and signatures go to the front */
	unsigned queued;	  /* generation jobs waiting or running here */
	unsigned generating;	  /* of those, jobs whose card work is not done yet */
	double gen_s;		  /* card time per generation here (moving average) */
	double commit_s;	  /* archive device: card time per record committed,
				     its share of a checkpoint included (moving average) */
	unsigned long picks;	  /* jobs given to it so far: ties go to the least used */
	uint8_t used_ids[32];	  /* key ids with a key on the card, as last listed */
	uint8_t reserved_ids[32]; /* key ids promised to jobs in flight */
	unsigned backoff_s;
	time_t retry_at;
	int stop;

	/* its worker only (with the session): what the card told this SM
	 * session, for the records (card_facts_*) */
	hsm_domain_state domains; /* read once per session */
	unsigned domains_opens;	  /* session_opens() when read; 0 = not read */
	unsigned algs_none_opens; /* session_opens() when the card reported no
				     algorithm list: not asked again in it */

	/* the archive device's worker only: jobs whose record is committed and
	 * waits for the batch's checkpoint (group commit) */
	job *uncovered;
	unsigned uncovered_n;
	double batch_s;	    /* card time spent on this batch so far */
	double batch_first; /* when its first record was committed (monotonic s) */
} device;

enum task_kind {
	TASK_GENERATE, /* job: GAKP under SM, check, PrKD */
	TASK_COMMIT,   /* job: its record signed by the archive key (archive device only);
			  one checkpoint follows when no more commits are queued */
	TASK_CARDOP,   /* op: one step of a certificate or adoption call (cardop.h) */
	TASK_READBACK, /* job: an open intent's key read back from CE|id after its
			  device came back (jobs_device_up); then as TASK_GENERATE */
};

struct cardop;

struct task {
	enum task_kind kind;
	job *job;
	struct cardop *op; /* TASK_CARDOP */
	task *next;
};

struct job {
	engine *eng;
	job *next_all; /* eng->jobs, the jobs in flight */
	char request_id[ARCHIVE_REQUEST_ID_LEN + 1];
	char chr[ARCHIVE_CHR_LEN + 1];
	policy_set *set; /* reference held for the job's life */
	const policy *pol;
	policy_gakp gakp;
	device *dev;
	uint8_t key_id;
	engine_progress_fn progress;
	engine_done_fn done;
	void *ctx; /* NULL once the client went away */
	struct timespec started;

	/* written by the worker, read by the loop after the completion */
	int rc;
	smk_err err;
	session_key key;
	smk_buf device_chain;
	uint64_t seq;
	int committed;	 /* the record is in the archive (maybe not covered yet) */
	int unsettled;	 /* GAKP's answer was lost and the device went away: the
			    key may exist; the intent stays open (jobs.c) */
	int recovered;	 /* an open intent taken up when its device came back */
	archive_policy_key want;  /* recovered: what the intent's policy asks for */
	archive_card_facts card;  /* what the card did and told, for the record */
	int generating;	 /* counted in dev->generating */
	job *next_batch; /* in the archive device's uncovered list */
};

/* What a worker reports to the loop. */
enum completion_kind {
	DONE_PROGRESS,
	DONE_GENERATED,
	DONE_COMMITTED,
	DONE_CARDOP,
	DONE_DEVICE_UP, /* dev came back after being down */
};

typedef struct completion {
	enum completion_kind kind;
	job *job;
	struct cardop *op; /* DONE_CARDOP */
	device *dev;	   /* DONE_DEVICE_UP */
	enum engine_stage stage;
	struct completion *next;
} completion;

struct engine {
	const config *cfg;
	struct event_base *base;
	engine_cards cards;
	time_t (*now)(void);

	trust_store trust;
	char trust_warning[512]; /* "" unless a test or simulator root is trusted */
	policy_set *policies;
	archive *arc;
	pthread_mutex_t archive_lock;

	pthread_mutex_t lock;
	device **devices;
	size_t device_count;
	/* holds the archive key; NULL: none up. It only ever goes from NULL to a
	 * device (under lock, after archive_key_id and archive_pub are set), and
	 * the loop and the workers read it without the lock: hence atomic. */
	device *_Atomic archive_dev;
	uint8_t archive_key_id;
	EVP_PKEY *archive_pub;	 /* from record 0 */
	char archive_error[700]; /* why no archive key is usable, when archive_dev is NULL
				    (written under lock once the workers run) */

	/* completions, under lock; the loop is woken through done_fd */
	completion *done_head, *done_tail;
	int done_fd;
	struct event *done_ev;

	job *jobs;
	struct cardop *ops; /* certificate and adoption calls in flight (cardop.h) */
	size_t in_flight;
	int shutting_down;
	void (*shutdown_cb)(void *ctx);
	void *shutdown_ctx;
	char pending_dir[4096]; /* <archive>.pending: label and device of each open intent */
	/* keys of open intents read back at start while no archive key was up
	 * (recover.c); under archive_lock once the workers run */
	struct found_key *found;

	/* query replies kept as text (engine.c; the loop thread only) */
	struct engine_replies *replies;
};

/* engine.c: the query reply caches (made on first use), freed with the engine;
 * the GetRecord cache's counters (all 0 before first use), for tests */
void engine_replies_free(struct engine_replies *r);
void engine_record_cache_stats(engine *eng, reply_cache_stats *st);

/* engine.c: fill an engine_error (name, params built from a jansson pack
 * format, message for logs). Returns -1. */
int engine_fail(engine_error *err, const char *name, json_t *params, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
json_t *engine_param_str(const char *k1, const char *v1, const char *k2, const char *v2);
/* engine.c: eng->archive_error copied into buf under eng->lock (a worker
 * taking up the archive key late may rewrite it); returns buf. */
const char *engine_archive_error(engine *eng, char *buf, size_t n);

/* worker.c */
int workers_discover(engine *eng, smk_err *e);
int workers_start(engine *eng, smk_err *e);
void workers_stop(engine *eng);
/* Queue t on d (front: a commit, after the commits queued and before any
 * generation); under no lock. */
void worker_push(device *d, task *t, int front);
const char *device_state_name(enum device_state s);
/* The archive signer over d's session and key_id (worker thread or start-up). */
void worker_signer(device *d, uint8_t key_id, EVP_PKEY *pub, archive_signer *s);
/* Mark ids used on d from a fresh listing. */
int device_refresh_ids(device *d, smk_err *e);
/* d failed at something only it can do (making the archive key): down with
 * e's message as its last error, retried as any device that is down. */
void device_mark_down(device *d, const smk_err *e);
int device_id_used(const uint8_t map[32], unsigned id);
void device_id_set(uint8_t map[32], unsigned id, int on);
/* Whether any device still has a key to generate for a job (under eng->lock). */
int engine_keys_generating(const engine *eng);

/* jobs.c: runs on the loop */
void jobs_deliver(engine *eng, completion *c);
/* d came back: open key intents on it that no job holds are read back and
 * archived (TASK_READBACK), as the next start would. */
void jobs_device_up(engine *eng, device *d);
/* worker side: post a completion and wake the loop */
void engine_post(engine *eng, enum completion_kind kind, job *j, enum engine_stage stage);
/* worker side: d is up again after being down */
void engine_post_device_up(engine *eng, device *d);

/* cardop.c: certificate and adoption calls (cardop.h). run: on the worker
 * for a TASK_CARDOP; deliver: on the loop for a DONE_CARDOP; forget: the
 * client went away (the work still completes and is archived). */
void cardop_run(device *d, struct cardop *op);
void cardop_deliver(engine *eng, struct cardop *op);
void cardop_forget(engine *eng, void *ctx);

/* recover.c: at start, before the workers run */
int recover_archive_key(engine *eng, smk_err *e);
int recover_pending(engine *eng, smk_err *e);
/* Certificate imports left open: CE|id holds the intent's certificate ->
 * committed; holds something else -> failed; device not up -> left open. */
int recover_certificates(engine *eng, smk_err *e);
/* On d's worker, once d is up again while no archive key is: if d holds the
 * archive key (record 0's device serial and key, checked against the card's
 * attested public key) or, with an empty archive, may make it, do what start
 * could not (keys found at start and on d committed, one checkpoint over
 * uncovered records) and make d the archive device. */
void recover_archive_late(device *d);
void recover_found_free(engine *eng);
/* What CE|key_id on d holds, d's session owned by the caller: 1 a request
 * with the CHR chr_want that verifies against d's device key (cvreq, att);
 * 0 none of ours (why; a request of ours that does not verify is deleted
 * from the card); -1 the device cannot be asked now (why). */
int recover_read_key(device *d, unsigned key_id, const char *chr_want,
		     const archive_policy_key *want, smk_buf *cvreq, chain_attested *att,
		     archive_card_facts *card, smk_err *why);
/* The same check for any key read back for an intent: 0 when att (and the
 * list the card reports, in card) are what want asks for; else -1 with why
 * ARCHIVE_REFUSED_PREFIX "... what differs". */
int recover_key_wanted(const archive_policy_key *want, const chain_attested *att,
		       const archive_card_facts *card, smk_err *why);
/* What the intent's stored policy asks for (its canonical document). */
int recover_intent_want(engine *eng, const char *request_id, archive_policy_key *want,
			smk_err *e);
/* On d's worker, for a record: the key-domain state of d (read once per SM
 * session, cached until the session is re-opened) into card; failures are
 * logged and recorded as "not reported". */
void card_facts_domains(device *d, archive_card_facts *card);
/* The algorithm list the card reports for key_id, into card (algs_reported).
 * always: ask even if the card reported none earlier in this session (a
 * read-back); otherwise a card that reported none is not asked again until
 * the session is re-opened. Failures are logged; nothing reported then. */
void card_facts_algs(device *d, unsigned key_id, int always, archive_card_facts *card);
/* The sidecar of an intent: label, device, key id (written before the card
 * is asked, removed when the intent has an outcome). */
int pending_write(engine *eng, const char *request_id, const char *label, const char *serial,
		  unsigned key_id, smk_err *e);
void pending_remove(engine *eng, const char *request_id);
/* 1 read (label, serial, key id), 0 no sidecar, -1 unreadable (e says why). */
int pending_read(engine *eng, const char *request_id, char label[POLICY_LABEL_MAX + 1],
		 char serial[CVC_REF_MAX + 1], unsigned *key_id, smk_err *e);

#endif
