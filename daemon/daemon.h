/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkeyd's internal header: how the program builds, starts and stops the
 * engine (daemon/engine.h is the contract with the socket layer), and the
 * pieces shared between the engine's files (docs/daemon.md, "Where things
 * are"): engine.c (queries, lifecycle), op.c (the one operation pipeline),
 * generate.c and generate_card.c (a Generate request on the loop and on its
 * device), cardop.c, certs.c and adopt.c (the calls after generation),
 * worker.c (one thread per HSM), commit.c (group commit), device*.c (the
 * devices), recover.c (the archive key and reconciliation at start),
 * pending.c, card_facts.c and testhook.c.
 *
 * Threads: the event-loop thread owns operations, policies and the engine's
 * bookkeeping; each worker thread owns its device's card session. They meet
 * under eng->lock (device queues and state) and eng->archive_lock (the
 * SQLite archive, used by the loop for intents and queries, by the worker
 * of the device that made a key for its record's commit, and by the
 * archive-key device's worker for the checkpoints its card signs).
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
#include <stdbool.h>
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
#include "op.h"
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

/* testhook.c: SIGKILL itself when SMKEYD_TEST_CRASH_AT names this point;
 * testhook_crash_step is the archive's step hook doing the same per commit
 * step (docs/daemon.md). */
void testhook_crash_point(const char *where);
void testhook_crash_step(const char *step, void *ctx);

enum device_state {
	DEVICE_UP,
	DEVICE_DOWN,
	DEVICE_BUSY,
	DEVICE_STATE_COUNT, /* not a state: how many there are */
};

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
	struct task_queue tasks;  /* commits and signatures go to the front */
	unsigned queued;	  /* generation jobs waiting or running here */
	unsigned generating;	  /* of those, jobs whose card work is not done yet */
	double gen_s;		  /* card time per generation here (moving average) */
	double commit_s;	  /* archive device: time per record committed, its
				     share of a checkpoint signature included (moving average) */
	unsigned long picks;	  /* jobs given to it so far: ties go to the least used */
	uint8_t used_ids[32];	  /* key ids with a key on the card, as last listed */
	uint8_t reserved_ids[32]; /* key ids promised to jobs in flight */
	unsigned backoff_s;
	time_t retry_at;
	int stop;
	/* idle release (docs/daemon.md "Releasing an idle card"): the card is
	 * let go (session_release) while released; idle_since is when the
	 * worker last finished a task */
	int released;
	time_t idle_since;

	/* its worker only (with the session): what the card told this SM
	 * session, for the records (card_facts_*) */
	hsm_domain_state domains; /* read once per session */
	unsigned domains_opens;	  /* session_opens() when read; 0 = not read */
	unsigned algs_none_opens; /* session_opens() when the card reported no
				     algorithm list: not asked again in it */

	/* the archive device's worker only: jobs whose record is committed and
	 * waits for the batch's checkpoint (group commit) */
	STAILQ_HEAD(job_batch, job) uncovered; /* in commit order */
	unsigned uncovered_n;
	/* signature records committed and not covered yet: their replies went
	 * out once they were durable (sign.c) */
	unsigned sig_uncovered;
	double batch_first; /* when its first record was committed (monotonic s) */
} device;

/* A Generate request (generate.c), or an open intent taken up when its
 * device came back: an operation of the generation kind. */
struct job {
	operation base; /* first: the pipeline's part (eng, done, ctx) */
	char request_id[ARCHIVE_REQUEST_ID_LEN + 1];
	char chr[ARCHIVE_CHR_LEN + 1];
	policy_set *set; /* reference held for the job's life */
	const policy *pol;
	policy_gakp gakp;
	device *dev;
	uint8_t key_id;
	engine_progress_fn progress;
	struct timespec started;

	/* written by the worker, read by the loop after the completion */
	int rc;
	smk_err err;
	session_key key;
	smk_buf device_chain;
	uint64_t seq;
	int committed;		      /* the record is in the archive (maybe not covered yet) */
	int unsettled;		      /* GAKP's answer was lost and the device went away: the
					 key may exist; the intent stays open (generate.c) */
	int recovered;		      /* an open intent taken up when its device came back */
	archive_policy_key want;      /* recovered: what the intent's policy asks for */
	archive_card_facts card;      /* what the card did and told, for the record */
	int generating;		      /* counted in dev->generating */
	STAILQ_ENTRY(job) next_batch; /* in the archive device's uncovered list */
};

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
	struct completion_list posted;
	int done_fd;
	struct event *done_ev;

	struct op_list ops; /* operations in flight (op.h) */
	size_t in_flight;
	/* records queued for commit on some worker and not yet in the archive
	 * device's batch (commit.c; under eng->lock) */
	unsigned commits_queued;
	int shutting_down;
	void (*shutdown_cb)(void *ctx);
	void *shutdown_ctx;
	char pending_dir[4096]; /* <archive>.pending: label and device of each open intent */
	/* keys of open intents read back at start while no archive key was up
	 * (recover.c); under archive_lock once the workers run */
	SLIST_HEAD(found_keys, found_key) found;

	/* query replies kept as text (engine.c; the loop thread only) */
	struct engine_replies *replies;
	/* sign.c: signatures per key this UTC day (the loop thread only) */
	struct sign_counts *sign_counts;
};

/* sign.c: free eng->sign_counts (engine_free) */
void sign_counts_free(struct sign_counts *c);
/* sign.c: a warning when the archive key's device also holds keys of a
 * policy with a sign: section (logged when it first appears), or NULL;
 * recomputed when the archive, the policies or the archive device changed.
 * The loop thread only. */
const char *sign_archive_warning(engine *eng);

/* engine.c: the query reply caches (made on first use), freed with the engine;
 * the GetRecord cache's counters (all 0 before first use), for tests */
void engine_replies_free(struct engine_replies *r);
void engine_record_cache_stats(engine *eng, reply_cache_stats *st);

/* engine.c: fill an engine_error (name, params built from a jansson pack
 * format, message for logs). Returns -1. */
int engine_fail(engine_error *err, const char *name, json_t *params, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
json_t *engine_param_str(const char *k1, const char *v1, const char *k2, const char *v2);
/* What a failure was about, for the varlink error's parameters. */
typedef struct engine_about {
	const char *policy;	/* RequestRefused, PolicyDenied */
	const char *device;	/* DeviceUnavailable (NULL: null) */
	const char *request_id; /* GenerationFailed */
	const char *parameter;	/* InvalidParameter, unless the code names it */
	const char *otherwise;	/* the error for a code the map does not name */
} engine_about;
/* engine.c: fill err from e by the one map from error code to varlink
 * error (engine.c, error_map): the error's name by e->code, its parameters
 * from about, its reason e's message. Returns -1. */
int engine_fail_as(engine_error *err, const smk_err *e, const engine_about *about);
/* engine.c: eng->archive_error copied into buf under eng->lock (a worker
 * taking up the archive key late may rewrite it); returns buf. */
const char *engine_archive_error(engine *eng, char *buf, size_t n);
/* engine.c: DeviceUnavailable (device null) saying why no archive key is
 * usable. Returns -1. */
int engine_fail_no_archive_key(engine *eng, engine_error *err);
/* engine.c: DeviceUnavailable (device null): smkeyd is stopping and takes
 * no new card work. Returns -1. */
int engine_fail_stopping(engine_error *err);
/* engine.c: ArchiveError with e's message as its reason. Returns -1. */
int engine_fail_archive(engine_error *err, const smk_err *e);
/* engine.c: archive_size under eng->archive_lock */
int engine_archive_size(engine *eng, uint64_t *size, smk_err *e);
/* engine.c: the peer as the archive records it (no exe: NULL). */
archive_peer engine_archive_peer(const engine_peer *peer);

/* device_discover.c: find the readers the config names and open their
 * devices (before the workers run) */
int device_discover(engine *eng, smk_err *e);

/* device.c: a device's state and identity, on its worker (or at start) */
const char *device_state_name(enum device_state s);
/* Is e a device error (the link or the SM channel gone) rather than a
 * refusal of one command? Such a device is down until it answers again. */
bool device_lost(const smk_err *e);
/* d failed: down with e's message as its last error, retried with backoff. */
void device_mark_down(device *d, const smk_err *e);
/* A session on the card in reader (pin NULL: never sends a PIN). */
int device_open_session(engine *eng, const char *reader, const smk_pin_source *pin,
			smk_session **out, smk_err *e);
/* Take (first time) or check (later) the identity the session validated. */
int device_take_identity(device *d, smk_err *e);
/* Down and idle: try to bring the session back (docs/daemon.md). */
void device_reopen(device *d);
/* Idle release: let d's card go for other PC/SC clients; and, before d's
 * next task, take it back (connect, the device checked, a new SM session),
 * waiting up to idle-release wait-s while someone else holds it; after that
 * d is down with why, and the task meets a down device. No lock held. */
void device_release(device *d);
void device_retake(device *d);
void device_free(device *d);

/* device_ids.c: key-id bitmaps (used on the card, reserved for jobs) */
int device_id_used(const uint8_t map[32], unsigned id);
void device_id_set(uint8_t map[32], unsigned id, int on);
/* Mark ids used on d from a fresh listing. */
int device_id_refresh(device *d, smk_err *e);

/* worker.c: one thread per device, running the tasks queued on it */
int worker_start(engine *eng, smk_err *e);
void worker_stop(engine *eng);
/* Queue t on d: a record (OP_TASK_RECORD) or other commit (OP_TASK_FRONT)
 * after the records queued and before any other work; else at the back.
 * Under no lock. */
void worker_push(device *d, task *t);
/* Monotonic seconds; a moving average of card time (under eng->lock). */
double worker_mono_s(void);
void worker_average(double *avg, double sample);

/* commit.c: records without signatures (format 3), one checkpoint per batch */
/* The archive signer over d's session and key_id (worker thread or start-up). */
void commit_signer(device *d, uint8_t key_id, EVP_PKEY *pub, archive_signer *s);
/* The archive signer for a record of format 3, which no card signs (any
 * worker, once archive_dev is set): what archive_commit_record checks. */
void commit_record_signer(engine *eng, archive_signer *s);
/* On the archive device's worker: j's record, held for its batch's checkpoint. */
void commit_record(device *d, job *j);
/* On any worker, not under eng->lock: a signature record was committed on
 * its own (its reply does not wait); the next checkpoint on d, the archive
 * device, covers it, at most limits: signature-hold-ms later. */
void commit_signature_record(device *d);
/* Under eng->lock: whether records wait for a checkpoint on d. */
int commit_uncovered(const device *d);
/* Under eng->lock: whether the held batch is to be covered now; wait for
 * more records (or the hold to run out); cover it (no lock held). */
int commit_batch_due(const engine *eng, const device *d, double now);
void commit_batch_wait(device *d);
void commit_checkpoint(device *d);
/* Whether any device still has a key to generate for a job (under eng->lock). */
int commit_keys_generating(const engine *eng);

/* generate.c: the Generate operation on the loop */
enum generate_step { GENERATE_STEP_CARD, GENERATE_STEP_READBACK, GENERATE_STEP_COMMIT };
/* What its steps post (op_post). */
enum generate_done { GENERATE_PROGRESS, GENERATE_MADE, GENERATE_COMMITTED };
/* d came back: open key intents on it that no job holds are read back and
 * archived (GENERATE_STEP_READBACK), as the next start would. */
void generate_device_up(engine *eng, device *d);
/* generate_card.c: a step of a Generate job on its worker */
void generate_run(device *d, operation *o, int step);

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
int recover_intent_want(engine *eng, const char *request_id, archive_policy_key *want, smk_err *e);
/* card_facts.c: */
/* On d's worker, for a record: the key-domain state of d (read once per SM
 * session, cached until the session is re-opened) into card; failures are
 * logged and recorded as "not reported". */
void card_facts_domains(device *d, archive_card_facts *card);
/* The algorithm list the card reports for key_id, into card (algs_reported).
 * always: ask even if the card reported none earlier in this session (a
 * read-back); otherwise a card that reported none is not asked again until
 * the session is re-opened. Failures are logged; nothing reported then. */
void card_facts_algs(device *d, unsigned key_id, int always, archive_card_facts *card);
/* pending.c: the sidecar of an intent: label, device, key id (written before the card
 * is asked, removed when the intent has an outcome). */
int pending_write(engine *eng, const char *request_id, const char *label, const char *serial,
		  unsigned key_id, smk_err *e);
void pending_remove(engine *eng, const char *request_id);
typedef struct pending_file {
	char label[POLICY_LABEL_MAX + 1];
	char device[CVC_REF_MAX + 1];
	unsigned key_id;
} pending_file;
/* 1 read, 0 no sidecar, -1 unreadable or malformed (e says why). */
int pending_read(engine *eng, const char *request_id, pending_file *out, smk_err *e);

#endif
