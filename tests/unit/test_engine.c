/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The engine with two in-process simulated HSMs (no pcscd): start-up makes
 * the archive key; Generate archives a verifiable record before it answers;
 * refusals write nothing; a forgotten client's key is still archived; a card
 * refusal closes the intent as failed; shutdown fails what no card has seen
 * and finishes the rest; a key left on a card by a crash is recovered at the
 * next start, and an intent whose key never reached a card is closed; a
 * batch of records waits for keys still being made before its checkpoint.
 */
#include <event2/event.h>
#include <pthread.h>
#include <pwd.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "archive/archive.h"
#include "archive/bundle.h"
#include "archive/record.h"
#include "archive/verify.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "tests/lib/testutil.h"
#include "sim/card.h"
#include "sm/curves.h"
#include "sm/cvc.h"
#include "sm/x509.h"

#include <openssl/evp.h>

#define NCARDS 2

static char dir[64];
static sim_card *cards[NCARDS];
/* a reader without its card: opening it fails as PC/SC does (SMK_E_IO) */
static int absent[NCARDS];
static config *cfg;
static struct event_base *base;
static engine *eng;

/* ---- the simulator as a card transport ---- */

/* A closed gate holds its card's GAKP (INS 46, plain or under SM) before
 * the card sees it: a key that is "being generated" for as long as a test
 * needs. */
static pthread_mutex_t gate_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t gate_cv = PTHREAD_COND_INITIALIZER;
static int gate_closed[NCARDS], gate_held[NCARDS];

static void gate_pass(size_t i, const uint8_t *cmd, size_t n)
{
	if (n < 2 || cmd[1] != 0x46)
		return;
	pthread_mutex_lock(&gate_mu);
	gate_held[i]++;
	pthread_cond_broadcast(&gate_cv);
	while (gate_closed[i])
		pthread_cond_wait(&gate_cv, &gate_mu);
	gate_held[i]--;
	pthread_mutex_unlock(&gate_mu);
}

static void gate_set(size_t i, int closed)
{
	pthread_mutex_lock(&gate_mu);
	gate_closed[i] = closed;
	pthread_cond_broadcast(&gate_cv);
	pthread_mutex_unlock(&gate_mu);
}

static int gate_holds(size_t i)
{
	int n;

	pthread_mutex_lock(&gate_mu);
	n = gate_held[i];
	pthread_mutex_unlock(&gate_mu);
	return n;
}

/* Held while a card runs a command, so a test may change a card's faults
 * while workers are using it. */
static pthread_mutex_t card_mu = PTHREAD_MUTEX_INITIALIZER;

static void clear_faults_now(void)
{
	pthread_mutex_lock(&card_mu);
	sim_card_clear_faults(cards[0]);
	sim_card_clear_faults(cards[1]);
	pthread_mutex_unlock(&card_mu);
}

typedef struct simlink {
	sim_card *card;
	char name[16];
} simlink;

static int sl_transmit(void *impl, const uint8_t *cmd, size_t n, smk_buf *resp, unsigned ms,
		       smk_err *e)
{
	simlink *l = impl;
	smk_buf r = SMK_BUF_INIT;
	int rc;

	(void)ms;
	gate_pass(l->card == cards[0] ? 0 : 1, cmd, n);
	if (absent[l->card == cards[0] ? 0 : 1])
		return smk_fail(e, SMK_E_IO, "%s: no card", l->name);
	pthread_mutex_lock(&card_mu);
	rc = sim_card_transmit(l->card, cmd, n, &r);
	pthread_mutex_unlock(&card_mu);
	if (rc == SIM_ANSWERED)
		rc = smk_buf_add(resp, r.data, r.len);
	else
		rc =
		    smk_fail(e, rc == SIM_RESET ? SMK_E_RESET : SMK_E_IO, "%s: card gone", l->name);
	smk_buf_free(&r);
	return rc;
}

static int sl_reconnect(void *impl, int reset, unsigned ms, smk_err *e)
{
	simlink *l = impl;

	(void)ms;
	(void)e;
	if (reset)
		sim_card_reset(l->card);
	return 0;
}

static const char *sl_name(void *impl)
{
	return ((simlink *)impl)->name;
}

static const uint8_t *sl_atr(void *impl, size_t *len)
{
	(void)impl;
	return sim_card_atr(len);
}

static void sl_close(void *impl)
{
	simlink *l = impl;

	sim_card_reset(l->card);
	free(l);
}

static const struct smk_transport_ops sl_ops = {sl_transmit, sl_reconnect, sl_name,
						sl_atr,	     sl_close,	   NULL};

static int sim_list(void *ctx, char ***names, size_t *n, smk_err *e)
{
	char **v = calloc(NCARDS + 1, sizeof(*v));
	size_t i;

	(void)ctx;
	(void)e;
	for (i = 0; i < NCARDS; i++) {
		v[i] = malloc(16);
		snprintf(v[i], 16, "sim-%zu", i);
	}
	*names = v;
	*n = NCARDS;
	return 0;
}

static int sim_open(void *ctx, const char *reader, smk_transport **t, smk_err *e)
{
	simlink *l = calloc(1, sizeof(*l));
	unsigned i = (unsigned)(reader[4] - '0');

	(void)ctx;
	ck_assert_uint_lt(i, NCARDS);
	if (absent[i]) {
		free(l);
		return smk_fail(e, SMK_E_IO, "reader \"%s\": no card", reader);
	}
	l->card = cards[i];
	snprintf(l->name, sizeof(l->name), "%s", reader);
	*t = calloc(1, sizeof(**t));
	(*t)->ops = &sl_ops;
	(*t)->impl = l;
	return 0;
}

static const engine_cards sim_cards = {sim_list, sim_open, NULL};

/* ---- fixture ---- */

static void write_file(const char *name, const void *p, size_t n, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	ck_assert_uint_eq(fwrite(p, 1, n, f), n);
	fclose(f);
	ck_assert_int_eq(chmod(path, mode), 0);
}

static const char *me(void)
{
	struct passwd *pw = getpwuid(getuid());

	ck_assert_ptr_nonnull(pw);
	return pw->pw_name;
}

static void engine_up(void)
{
	engine_options o;
	smk_err e;

	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.base = base;
	o.cards = &sim_cards;
	ck_assert_msg(engine_new(&o, &eng, &e) == 0, "%s", e.msg);
	ck_assert_msg(engine_start(eng, &e) == 0, "%s", e.msg);
}

static void setup(void)
{
	smk_buf root = SMK_BUF_INIT;
	char text[1024], path[256];
	sim_ca *ca;
	smk_err e;
	size_t i;

	log_init(LOG_TARGET_STDERR, 0);
	memset(absent, 0, sizeof(absent));
	tu_temp_dir(dir, sizeof(dir), "smk-engine");
	snprintf(path, sizeof(path), "%s/trust", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	snprintf(path, sizeof(path), "%s/policies.d", dir);
	ck_assert_int_eq(mkdir(path, 0700), 0);
	ca = sim_ca_new(&e);
	ck_assert_msg(ca != NULL, "%s", e.msg);
	for (i = 0; i < NCARDS; i++) {
		cards[i] = sim_card_new();
		smk_buf_reset(&root);
		ck_assert_msg(sim_card_init_pki(cards[i], ca, (unsigned)i + 1, &root, &e) == 0,
			      "%s", e.msg);
		ck_assert_msg(sim_card_set_pins(cards[i], (const uint8_t *)SIM_DEFAULT_PIN,
						strlen(SIM_DEFAULT_PIN),
						(const uint8_t *)"57621880", &e) == 0,
			      "%s", e.msg);
	}
	sim_ca_free(ca);
	write_file("trust/root.cvcert", root.data, root.len, 0644);
	smk_buf_free(&root);
	write_file("pin", SIM_DEFAULT_PIN "\n", strlen(SIM_DEFAULT_PIN) + 1, 0600);
	snprintf(text, sizeof(text),
		 "name: sign\ndescription: test\nkey: {type: ec, curve: secp256r1}\n"
		 "algorithms: [ecdsa-sha256]\nlabel: \"t-{request.label}\"\n"
		 "allow: {users: [%s]}\n",
		 me());
	write_file("policies.d/sign.yaml", text, strlen(text), 0644);
	snprintf(text, sizeof(text),
		 "name: one\ndescription: test\nkey: {type: ec, curve: secp256r1}\n"
		 "algorithms: [ecdsa]\nlabel: only\nmax-keys: 1\nallow: {users: [%s]}\n",
		 me());
	write_file("policies.d/one.yaml", text, strlen(text), 0644);
	snprintf(text, sizeof(text),
		 "archive: archive.db\npolicies: policies.d\ntrust: trust\n"
		 "devices: [{reader: \"sim-*\", pin-file: pin}]\nlimits: {queue: 4}\n");
	snprintf(path, sizeof(path), "%s/smkeyd.yaml", dir);
	ck_assert_msg(config_parse(path, (const uint8_t *)text, strlen(text), &cfg, &e) == 0, "%s",
		      e.msg);
	base = event_base_new();
	engine_up();
}

static void teardown(void)
{
	char cmd[128];
	size_t i;

	for (i = 0; i < NCARDS; i++)
		gate_set(i, 0);
	engine_free(eng);
	event_base_free(base);
	config_free(cfg);
	for (i = 0; i < NCARDS; i++)
		sim_card_free(cards[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	ck_assert_int_eq(system(cmd), 0);
}

/* ---- a client ---- */

typedef struct client {
	int done;
	json_t *reply;
	char err[64];
	char msg[512];
	int stages[4];
} client;

static void on_progress(void *ctx, enum engine_stage stage)
{
	((client *)ctx)->stages[stage]++;
}

static void on_done(void *ctx, json_t *reply, const engine_error *err)
{
	client *c = ctx;

	c->done++;
	c->reply = reply;
	if (err) {
		snprintf(c->err, sizeof(c->err), "%s", err->name);
		snprintf(c->msg, sizeof(c->msg), "%s", err->msg);
	}
}

static engine_peer peer_me(void)
{
	engine_peer p;

	memset(&p, 0, sizeof(p));
	p.uid = getuid();
	p.gid = getgid();
	p.pid = getpid();
	return p;
}

/* Run the loop until every client has its answer (or 30 s passed). */
static void run_until(client *c, size_t n)
{
	struct timeval tick = {0, 20000};
	size_t i, left;
	int rounds;

	for (rounds = 0; rounds < 1500; rounds++) {
		for (left = 0, i = 0; i < n; i++)
			left += c[i].done == 0;
		if (left == 0 && engine_in_flight(eng) == 0)
			return;
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	ck_abort_msg("engine did not answer in time");
}

/* Run the loop for about ms milliseconds. */
static void run_for(unsigned ms)
{
	struct timeval tick = {ms / 1000, (long)(ms % 1000) * 1000};

	event_base_loopexit(base, &tick);
	event_base_dispatch(base);
}

static double mono_now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* records the archive device committed and holds for their checkpoint */
static unsigned held_records(void)
{
	unsigned n;

	pthread_mutex_lock(&eng->lock);
	n = eng->archive_dev->uncovered_n;
	pthread_mutex_unlock(&eng->lock);
	return n;
}

static device *other_device(void)
{
	for (size_t i = 0; i < eng->device_count; i++)
		if (eng->devices[i] != eng->archive_dev)
			return eng->devices[i];
	ck_abort_msg("no device besides the archive device");
	return NULL;
}

/* One Generate pinned to the other device held at its GAKP, then one on
 * the archive device, committed and held for the first (hold: 5 s). */
static void hold_a_batch(client c[2], device *other)
{
	engine_peer p = peer_me();
	engine_error err;
	size_t rounds;

	cfg->limits.checkpoint_hold_ms = 5000;
	memset(c, 0, 2 * sizeof(*c));
	gate_set(other->index, 1);
	ck_assert_msg(
	    generate_key(eng, &p, "sign", "slow", other->serial, NULL, on_done, &c[1], &err) == 0,
	    "%s", err.msg);
	for (rounds = 0; !gate_holds(other->index); rounds++) {
		ck_assert_uint_lt(rounds, 1500);
		run_for(20);
	}
	ck_assert_msg(generate_key(eng, &p, "sign", "fast", eng->archive_dev->serial, NULL, on_done,
				   &c[0], &err) == 0,
		      "%s", err.msg);
	for (rounds = 0; held_records() == 0; rounds++) {
		ck_assert_uint_lt(rounds, 1500);
		run_for(20);
	}
}

/* The checkpoint size of a reply's bundle, which must verify. */
static uint64_t bundle_checkpoint(const client *c)
{
	const char *bundle = json_string_value(json_object_get(c->reply, "bundle"));
	archive_verified v;
	uint64_t size;
	smk_err e;

	ck_assert_ptr_nonnull(bundle);
	memset(&v, 0, sizeof(v));
	ck_assert_msg(archive_verify_bundle((const uint8_t *)bundle, strlen(bundle), &eng->trust,
					    NULL, NULL, NULL, &v, &e) == ARCHIVE_VERIFY_UNPINNED,
		      "%s", e.msg);
	size = v.checkpoint_size;
	archive_verified_free(&v);
	return size;
}

static size_t open_intents(void)
{
	archive_intent_info *list = NULL;
	size_t n = 0;
	smk_err e;

	ck_assert_msg(archive_pending(eng->arc, &list, &n, &e) == 0, "%s", e.msg);
	free(list);
	return n;
}

static uint64_t records(void)
{
	uint64_t n;
	smk_err e;

	ck_assert_msg(archive_size(eng->arc, &n, &e) == 0, "%s", e.msg);
	return n;
}

/* ---- tests ---- */

START_TEST(start_makes_archive_key)
{
	json_t *reply = NULL, *params = json_pack("{s:i}", "seq", 0);
	engine_peer p = peer_me();
	engine_error err;

	ck_assert_uint_eq(records(), 1); /* record 0: the archive key */
	ck_assert_ptr_nonnull(eng->archive_dev);
	ck_assert_int_eq(engine_get_record(eng, &p, params, &reply, &err), 0);
	json_decref(params);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(reply, "record"), "kind")),
	    "archive_key");
	json_decref(reply);
	ck_assert_int_eq(engine_list_devices(eng, &p, NULL, &reply, &err), 0);
	ck_assert_uint_eq(json_array_size(json_object_get(reply, "devices")), 2);
	ck_assert_str_eq(json_string_value(json_object_get(
			     json_array_get(json_object_get(reply, "devices"), 1), "state")),
			 "up");
	json_decref(reply);
}
END_TEST

START_TEST(generate_answers_after_commit)
{
	engine_peer p = peer_me();
	engine_error err;
	client c;
	archive_bundle b;
	json_t *rec = NULL, *params;
	const char *bundle, *rid;
	smk_err e;

	memset(&c, 0, sizeof(c));
	ck_assert_msg(generate_key(eng, &p, "sign", "app", NULL, on_progress, on_done, &c, &err) ==
			  0,
		      "%s", err.msg);
	ck_assert_int_eq(c.done, 0); /* never answered from inside the call */
	run_until(&c, 1);
	ck_assert_msg(c.reply != NULL, "%s: %s", c.err, c.msg);
	ck_assert_int_eq(c.stages[ENGINE_QUEUED], 1);
	ck_assert_int_eq(c.stages[ENGINE_GENERATING], 1);
	ck_assert_int_eq(c.stages[ENGINE_ARCHIVED], 1);
	ck_assert_str_eq(json_string_value(json_object_get(c.reply, "label")), "t-app");
	ck_assert_int_eq(json_integer_value(json_object_get(c.reply, "seq")), 1);
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(c.reply, "public_key_pem")),
				     "BEGIN PUBLIC KEY"));
	/* the bundle in the reply is a complete, parseable bundle of that record */
	bundle = json_string_value(json_object_get(c.reply, "bundle"));
	archive_bundle_init(&b);
	ck_assert_msg(archive_bundle_parse((const uint8_t *)bundle, strlen(bundle), &b, &e) == 0,
		      "%s", e.msg);
	ck_assert_uint_eq(b.inclusion.index, 1);
	archive_bundle_free(&b);
	/* and the record is there by request id, with the key's label */
	rid = json_string_value(json_object_get(c.reply, "request_id"));
	params = json_pack("{s:s}", "request_id", rid);
	ck_assert_int_eq(engine_get_record(eng, &p, params, &rec, &err), 0);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(rec, "record"), "label")), "t-app");
	json_decref(params);
	json_decref(rec);
	ck_assert_uint_eq(open_intents(), 0);
	json_decref(c.reply);
}
END_TEST

START_TEST(two_devices_share_the_work)
{
	engine_peer p = peer_me();
	engine_error err;
	client c[4];
	char *devs[4];
	size_t i;

	memset(c, 0, sizeof(c));
	for (i = 0; i < 4; i++)
		ck_assert_msg(
		    generate_key(eng, &p, "sign", "w", NULL, NULL, on_done, &c[i], &err) == 0, "%s",
		    err.msg);
	run_until(c, 4);
	for (i = 0; i < 4; i++) {
		ck_assert_msg(c[i].reply != NULL, "%s", c[i].msg);
		devs[i] = strdup(json_string_value(json_object_get(c[i].reply, "device")));
		json_decref(c[i].reply);
	}
	ck_assert_str_ne(devs[0], devs[1]);
	ck_assert_uint_eq(records(), 5);
	for (i = 0; i < 4; i++)
		free(devs[i]);
}
END_TEST

/* Group commit: every concurrent Generate (6, below the 2 x 4 queue limit,
 * so a momentary placement imbalance cannot refuse one) is answered with a
 * bundle whose checkpoint covers its record, and the whole bundle verifies
 * against the pinned root; no record is left uncovered; the placement spreads the jobs
 * over both devices although one of them signs every record. */
START_TEST(concurrent_generates_get_verified_bundles)
{
	engine_peer p = peer_me();
	engine_error err;
	client c[6];
	size_t i, on_archive_dev = 0;
	uint64_t covered = 0;
	smk_buf note = SMK_BUF_INIT;
	smk_err e;

	memset(c, 0, sizeof(c));
	for (i = 0; i < 6; i++)
		ck_assert_msg(
		    generate_key(eng, &p, "sign", "b", NULL, NULL, on_done, &c[i], &err) == 0, "%s",
		    err.msg);
	run_until(c, 6);
	for (i = 0; i < 6; i++) {
		const char *bundle;
		archive_verified v;
		json_int_t seq;

		ck_assert_msg(c[i].reply != NULL, "%s: %s", c[i].err, c[i].msg);
		seq = json_integer_value(json_object_get(c[i].reply, "seq"));
		bundle = json_string_value(json_object_get(c[i].reply, "bundle"));
		ck_assert_ptr_nonnull(bundle);
		memset(&v, 0, sizeof(v));
		ck_assert_msg(archive_verify_bundle((const uint8_t *)bundle, strlen(bundle),
						    &eng->trust, NULL, NULL, NULL, &v,
						    &e) == ARCHIVE_VERIFY_UNPINNED,
			      "reply %zu: %s", i, e.msg);
		ck_assert_uint_eq(v.record.seq, (uint64_t)seq);
		ck_assert_uint_gt(v.checkpoint_size, (uint64_t)seq);
		archive_verified_free(&v);
		if (strcmp(json_string_value(json_object_get(c[i].reply, "device")),
			   eng->archive_dev->serial) == 0)
			on_archive_dev++;
		json_decref(c[i].reply);
	}
	ck_assert_uint_eq(records(), 7);
	ck_assert_int_eq(archive_latest_checkpoint(eng->arc, &note, &covered, &e), 0);
	ck_assert_uint_eq(covered, 7);
	smk_buf_free(&note);
	ck_assert_uint_eq(open_intents(), 0);
	/* both devices took keys (how many each depends on the card times
	 * measured while the six are placed, which vary from run to run) */
	ck_assert_uint_ge(on_archive_dev, 1);
	ck_assert_uint_le(on_archive_dev, 5);
}
END_TEST

/* A device's identity is known from its first session on: the loop reads
 * it (under the engine lock) to place a job and writes it into the intent,
 * while the worker re-checks it at the start of every card task. A watcher
 * reads it as the placement does while keys are made on both devices: it
 * must never see an up device without its serial or DevAut CHR (an intent
 * written in such a moment was refused with "device serial: missing"). */
static atomic_int watching;
static unsigned long watch_blank, watch_reads;

static void *watch_identity(void *arg)
{
	size_t i;

	(void)arg;
	while (watching) {
		pthread_mutex_lock(&eng->lock);
		for (i = 0; i < eng->device_count; i++) {
			const device *d = eng->devices[i];

			if (d->state != DEVICE_DOWN && (!d->serial[0] || !d->devaut_chr[0]))
				watch_blank++;
			watch_reads++;
		}
		pthread_mutex_unlock(&eng->lock);
	}
	return NULL;
}

START_TEST(identity_steady_while_keys_are_made)
{
	engine_peer p = peer_me();
	engine_error err;
	pthread_t watcher;
	client c[6];
	size_t i, round;

	watch_blank = watch_reads = 0;
	watching = 1;
	ck_assert_int_eq(pthread_create(&watcher, NULL, watch_identity, NULL), 0);
	for (round = 0; round < 3; round++) {
		memset(c, 0, sizeof(c));
		for (i = 0; i < 6; i++)
			ck_assert_msg(generate_key(eng, &p, "sign", "w", NULL, NULL, on_done, &c[i],
						   &err) == 0,
				      "round %zu, request %zu: %s", round, i, err.msg);
		run_until(c, 6);
		for (i = 0; i < 6; i++) {
			ck_assert_msg(c[i].reply != NULL, "%s: %s", c[i].err, c[i].msg);
			json_decref(c[i].reply);
		}
	}
	watching = 0;
	pthread_join(watcher, NULL);
	ck_assert_uint_gt(watch_reads, 0);
	ck_assert_msg(watch_blank == 0, "an up device showed no identity %lu times in %lu reads",
		      watch_blank, watch_reads);
}
END_TEST

/* Group commit with a hold: while a key is still being made on the other
 * device, the archive device holds the batch of the record it committed;
 * the first reply waits, and one checkpoint covers both keys' records. */
START_TEST(batch_waits_for_keys_being_made)
{
	device *other = other_device();
	client c[2];

	hold_a_batch(c, other);
	run_for(300);
	ck_assert_int_eq(c[0].done, 0); /* committed, held */
	gate_set(other->index, 0);
	run_until(c, 2);
	ck_assert_msg(c[0].reply != NULL, "%s: %s", c[0].err, c[0].msg);
	ck_assert_msg(c[1].reply != NULL, "%s: %s", c[1].err, c[1].msg);
	ck_assert_uint_eq(bundle_checkpoint(&c[0]), 3);
	ck_assert_uint_eq(bundle_checkpoint(&c[1]), 3);
	json_decref(c[0].reply);
	json_decref(c[1].reply);
	ck_assert_uint_eq(records(), 3);
}
END_TEST

/* The key the batch waits for fails on its card: the held record gets its
 * checkpoint then, not when the 5 s hold runs out. */
START_TEST(batch_not_held_for_a_failed_key)
{
	device *other = other_device();
	client c[2];
	sim_fault f;
	smk_err e;
	double t0;

	hold_a_batch(c, other);
	ck_assert_int_eq(sim_fault_parse("cmd=gakp:sw=6A84", 0, &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[other->index], &f, &e), 0);
	t0 = mono_now();
	gate_set(other->index, 0);
	run_until(c, 2);
	ck_assert_str_eq(c[1].err, "io.smkeyd.GenerationFailed");
	ck_assert_msg(c[0].reply != NULL, "%s: %s", c[0].err, c[0].msg);
	ck_assert_uint_eq(bundle_checkpoint(&c[0]), 2);
	json_decref(c[0].reply);
	ck_assert_msg(mono_now() - t0 < 4.0, "the held record waited %.1f s", mono_now() - t0);
}
END_TEST

/* Nothing else being made: no hold at all (5 s configured). */
START_TEST(lone_key_not_held)
{
	engine_peer p = peer_me();
	engine_error err;
	client c;
	double t0 = mono_now();

	cfg->limits.checkpoint_hold_ms = 5000;
	memset(&c, 0, sizeof(c));
	ck_assert_msg(generate_key(eng, &p, "sign", "lone", NULL, NULL, on_done, &c, &err) == 0,
		      "%s", err.msg);
	run_until(&c, 1);
	ck_assert_msg(c.reply != NULL, "%s: %s", c.err, c.msg);
	ck_assert_uint_eq(bundle_checkpoint(&c), 2);
	json_decref(c.reply);
	ck_assert_msg(mono_now() - t0 < 4.0, "a lone key waited %.1f s", mono_now() - t0);
}
END_TEST

/* The batch's checkpoint SIGN fails: the record stays committed (no open
 * intent), the client hears ArchiveError naming the record, and no bundle
 * is exported for it until the next checkpoint, which covers it. */
START_TEST(failed_checkpoint_leaves_record_uncovered)
{
	engine_peer p = peer_me();
	engine_error err;
	client c, c2;
	device *other = NULL;
	json_t *params, *reply = NULL;
	sim_fault f;
	size_t i;
	smk_err e;

	for (i = 0; i < eng->device_count; i++)
		if (eng->devices[i] != eng->archive_dev)
			other = eng->devices[i];
	ck_assert_ptr_nonnull(other);
	/* the archive card's next APDU: the key is made on the other card and
	 * its record (format 3) needs none, so the checkpoint's SIGN is the
	 * first */
	ck_assert_int_eq(sim_fault_parse("apdu=+1:sw=6A80",
					 sim_card_stats(cards[eng->archive_dev->index])->apdus, &f,
					 &e),
			 0);
	ck_assert_int_eq(sim_card_add_fault(cards[eng->archive_dev->index], &f, &e), 0);
	memset(&c, 0, sizeof(c));
	ck_assert_msg(
	    generate_key(eng, &p, "sign", "nocp", other->serial, NULL, on_done, &c, &err) == 0,
	    "%s", err.msg);
	run_until(&c, 1);
	ck_assert_ptr_null(c.reply);
	ck_assert_str_eq(c.err, "io.smkeyd.ArchiveError");
	ck_assert_msg(strstr(c.msg, "record 1 is archived but no checkpoint covers it") != NULL,
		      "%s", c.msg);
	ck_assert_uint_eq(records(), 2);
	ck_assert_uint_eq(open_intents(), 0);
	params = json_pack("{s:i}", "seq", 1);
	ck_assert_int_eq(engine_get_bundle(eng, &p, params, &reply, &err), -1);
	engine_error_clear(&err);
	/* the next key's checkpoint covers record 1 as well */
	memset(&c2, 0, sizeof(c2));
	ck_assert_int_eq(
	    generate_key(eng, &p, "sign", "next", other->serial, NULL, on_done, &c2, &err), 0);
	run_until(&c2, 1);
	ck_assert_msg(c2.reply != NULL, "%s: %s", c2.err, c2.msg);
	json_decref(c2.reply);
	ck_assert_msg(engine_get_bundle(eng, &p, params, &reply, &err) == 0, "%s", err.msg);
	json_decref(reply);
	json_decref(params);
}
END_TEST

START_TEST(refusals_write_nothing)
{
	engine_peer p = peer_me(), stranger = peer_me();
	engine_error err;
	client c;

	memset(&c, 0, sizeof(c));
	stranger.uid = 4242;
	stranger.gid = 4242;
	ck_assert_int_eq(generate_key(eng, &p, "nope", "x", NULL, NULL, on_done, &c, &err), -1);
	ck_assert_str_eq(err.name, "io.smkeyd.PolicyNotFound");
	engine_error_clear(&err);
	ck_assert_int_eq(generate_key(eng, &stranger, "sign", "x", NULL, NULL, on_done, &c, &err),
			 -1);
	ck_assert_str_eq(err.name, "io.smkeyd.PolicyDenied");
	ck_assert_ptr_nonnull(json_object_get(err.params, "reason"));
	engine_error_clear(&err);
	ck_assert_int_eq(
	    generate_key(eng, &p, "sign", "bad label/..", NULL, NULL, on_done, &c, &err), -1);
	ck_assert_msg(strcmp(err.name, "io.smkeyd.InvalidParameter") == 0 ||
			  strcmp(err.name, "io.smkeyd.RequestRefused") == 0,
		      "%s", err.name);
	engine_error_clear(&err);
	ck_assert_int_eq(generate_key(eng, &p, "sign", "x", "ZZSIM99999", NULL, on_done, &c, &err),
			 -1);
	ck_assert_str_eq(err.name, "io.smkeyd.DeviceUnavailable");
	engine_error_clear(&err);
	run_until(&c, 0);
	ck_assert_int_eq(c.done, 0);
	ck_assert_uint_eq(open_intents(), 0);
	ck_assert_uint_eq(records(), 1);
}
END_TEST

START_TEST(max_keys_counts_jobs_in_flight)
{
	engine_peer p = peer_me();
	engine_error err;
	client c[2];

	memset(c, 0, sizeof(c));
	ck_assert_msg(generate_key(eng, &p, "one", NULL, NULL, NULL, on_done, &c[0], &err) == 0,
		      "%s", err.msg);
	/* the first is not archived yet; its open intent counts all the same */
	ck_assert_int_eq(generate_key(eng, &p, "one", NULL, NULL, NULL, on_done, &c[1], &err), -1);
	ck_assert_str_eq(err.name, "io.smkeyd.RequestRefused");
	ck_assert_ptr_nonnull(strstr(err.msg, "max-keys 1 reached"));
	engine_error_clear(&err);
	run_until(c, 1);
	ck_assert_msg(c[0].reply != NULL, "%s", c[0].msg);
	ck_assert_str_eq(json_string_value(json_object_get(c[0].reply, "label")), "only");
	json_decref(c[0].reply);
	ck_assert_int_eq(generate_key(eng, &p, "one", NULL, NULL, NULL, on_done, &c[1], &err), -1);
	engine_error_clear(&err);
	ck_assert_uint_eq(records(), 2);
}
END_TEST

/* The varlink error follows the error's code, not its words: a policy whose
 * NAME says "label" that reaches max-keys is RequestRefused, and only a
 * label the policy refuses is InvalidParameter{label}. */
START_TEST(label_named_policy_at_max_keys_is_refused)
{
	engine_peer p = peer_me();
	engine_error err;
	char text[1024];
	client c;
	smk_err e;

	snprintf(text, sizeof(text),
		 "name: label-signer\ndescription: a policy named label\n"
		 "key: {type: ec, curve: secp256r1}\nalgorithms: [ecdsa]\n"
		 "label: \"ls-{request.label}\"\nmax-keys: 1\nallow: {users: [%s]}\n",
		 me());
	write_file("policies.d/label-signer.yaml", text, strlen(text), 0644);
	ck_assert_msg(engine_reload(eng, &e) == 0, "%s", e.msg);
	memset(&c, 0, sizeof(c));
	ck_assert_msg(generate_key(eng, &p, "label-signer", "a", NULL, NULL, on_done, &c, &err) ==
			  0,
		      "%s", err.msg);
	run_until(&c, 1);
	ck_assert_msg(c.reply != NULL, "%s", c.msg);
	json_decref(c.reply);
	/* max-keys 1 reached: the policy's own limit */
	ck_assert_int_eq(generate_key(eng, &p, "label-signer", "b", NULL, NULL, on_done, &c, &err),
			 -1);
	ck_assert_str_eq(err.name, "io.smkeyd.RequestRefused");
	ck_assert_str_eq(json_string_value(json_object_get(err.params, "policy")), "label-signer");
	ck_assert_ptr_nonnull(strstr(err.msg, "max-keys 1 reached"));
	engine_error_clear(&err);
	/* a label the template refuses: InvalidParameter naming the label */
	ck_assert_int_eq(generate_key(eng, &p, "sign", "bad/label", NULL, NULL, on_done, &c, &err),
			 -1);
	ck_assert_str_eq(err.name, "io.smkeyd.InvalidParameter");
	ck_assert_str_eq(json_string_value(json_object_get(err.params, "parameter")), "label");
	engine_error_clear(&err);
	ck_assert_uint_eq(open_intents(), 0);
}
END_TEST

START_TEST(forgotten_client_key_is_archived)
{
	engine_peer p = peer_me();
	engine_error err;
	client c;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(
	    generate_key(eng, &p, "sign", "gone", NULL, on_progress, on_done, &c, &err), 0);
	engine_forget(eng, &c);
	run_until(&c, 0);
	ck_assert_int_eq(c.done, 0);
	ck_assert_int_eq(c.stages[ENGINE_QUEUED], 0);
	ck_assert_uint_eq(records(), 2);
	ck_assert_uint_eq(open_intents(), 0);
}
END_TEST

START_TEST(card_refusal_closes_the_intent)
{
	engine_peer p = peer_me();
	engine_error err;
	sim_fault f;
	client c;
	smk_err e;

	memset(&c, 0, sizeof(c));
	ck_assert_int_eq(sim_fault_parse("cmd=gakp:sw=6A84", 0, &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[0], &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[1], &f, &e), 0);
	ck_assert_int_eq(generate_key(eng, &p, "sign", "full", NULL, NULL, on_done, &c, &err), 0);
	run_until(&c, 1);
	ck_assert_ptr_null(c.reply);
	ck_assert_str_eq(c.err, "io.smkeyd.GenerationFailed");
	ck_assert_msg(strstr(c.msg, "6A84") != NULL, "%s", c.msg);
	ck_assert_uint_eq(open_intents(), 0); /* closed as failed, not left open */
	ck_assert_uint_eq(records(), 1);
}
END_TEST

START_TEST(lost_gakp_answer_key_is_read_back)
{
	/* the card makes the key, but its answer is spoiled on the way (bad
	 * MAC, or a plain answer that ends SM): the key is read back from CE|id
	 * under a new session, checked, and archived like any other */
	static const char *const spoil[] = {"cmd=gakp:badmac", "cmd=gakp:plain"};
	engine_peer p = peer_me();
	engine_error err;
	sim_fault f;
	client c;
	smk_err e;
	size_t i;

	for (i = 0; i < 2; i++) {
		memset(&c, 0, sizeof(c));
		ck_assert_int_eq(sim_fault_parse(spoil[i], 0, &f, &e), 0);
		ck_assert_int_eq(sim_card_add_fault(cards[0], &f, &e), 0);
		ck_assert_int_eq(sim_card_add_fault(cards[1], &f, &e), 0);
		ck_assert_int_eq(
		    generate_key(eng, &p, "sign", "spoilt", NULL, NULL, on_done, &c, &err), 0);
		run_until(&c, 1);
		ck_assert_msg(c.reply != NULL, "%s: %s: %s", spoil[i], c.err, c.msg);
		ck_assert_int_eq(json_integer_value(json_object_get(c.reply, "seq")),
				 (json_int_t)i + 1);
		json_decref(c.reply);
		sim_card_clear_faults(cards[0]);
		sim_card_clear_faults(cards[1]);
	}
	ck_assert_uint_eq(open_intents(), 0);
	ck_assert_uint_eq(records(), 3);
}
END_TEST

static json_t *generate(const char *label);

/* Commands counted by both cards, under SM. */
static unsigned long card_cmds(uint8_t ins)
{
	return sim_card_stats(cards[0])->sm_by_ins[ins] + sim_card_stats(cards[1])->sm_by_ins[ins];
}

/* The inner CAR of the CV request archived in record seq ("" if none). */
static void record_car(uint64_t seq, char car[CVC_REF_MAX + 1])
{
	json_t *params = json_pack("{s:I}", "seq", (json_int_t)seq), *rec = NULL;
	engine_peer p = peer_me();
	engine_error err;
	const char *b;
	unsigned char *der;
	cvc_authreq ar;
	smk_err e;
	int n;

	ck_assert_msg(engine_get_record(eng, &p, params, &rec, &err) == 0, "%s", err.msg);
	b = json_string_value(json_object_get(json_object_get(rec, "record"), "cvreq"));
	ck_assert_ptr_nonnull(b);
	der = malloc(strlen(b));
	ck_assert_ptr_nonnull(der);
	n = EVP_DecodeBlock(der, (const unsigned char *)b, (int)strlen(b));
	ck_assert_int_gt(n, 0);
	/* base64 padding leaves up to 2 zero bytes after the DER: parse by its length */
	ck_assert_msg(cvc_parse_authreq(
			  der, (size_t)n - (b[strlen(b) - 1] == '=') - (b[strlen(b) - 2] == '='),
			  &ar, &e) == 0,
		      "%s", e.msg);
	snprintf(car, CVC_REF_MAX + 1, "%s", ar.req.has_car ? ar.req.car : "");
	free(der);
	json_decref(rec);
	json_decref(params);
}

/* A card that names itself as inner CAR when the GAKP has none: smkeyd
 * always sends one (the policy's, here the default), the card echoes it, the
 * echo check holds and the record's request carries the CAR we sent. */
START_TEST(card_filling_in_its_own_car)
{
	json_t *reply;
	char car[CVC_REF_MAX + 1];
	uint64_t seq;

	sim_card_set_quirks(cards[0], SIM_QUIRK_CAR_FROM_DEVICE);
	sim_card_set_quirks(cards[1], SIM_QUIRK_CAR_FROM_DEVICE);
	reply = generate("car");
	seq = (uint64_t)json_integer_value(json_object_get(reply, "seq"));
	json_decref(reply);
	record_car(seq, car);
	ck_assert_str_eq(car, POLICY_CAR_DEFAULT);
	record_car(0, car); /* the archive key too */
	ck_assert_str_eq(car, POLICY_CAR_DEFAULT);
}
END_TEST

/* Someone between host and card answers the GAKP with a bare status word;
 * the card did make the key. A plain answer proves nothing: the GAKP is not
 * sent again and the key is settled by reading CE|id back under a fresh
 * session, so it is archived rather than left on the card unrecorded. */
START_TEST(plain_answer_to_gakp_is_settled_by_read_back)
{
	static const char *const forged[] = {"cmd=gakp:plainsw=6982", "cmd=gakp:plainsw=6A80",
					     "cmd=gakp:plainsw=6988", "cmd=gakp:plainsw=9000"};
	engine_peer p = peer_me();
	engine_error err;
	unsigned long gakps;
	sim_fault f;
	client c;
	smk_err e;
	size_t i;

	for (i = 0; i < sizeof(forged) / sizeof(forged[0]); i++) {
		memset(&c, 0, sizeof(c));
		ck_assert_int_eq(sim_fault_parse(forged[i], 0, &f, &e), 0);
		ck_assert_int_eq(sim_card_add_fault(cards[0], &f, &e), 0);
		ck_assert_int_eq(sim_card_add_fault(cards[1], &f, &e), 0);
		gakps = card_cmds(0x46);
		ck_assert_int_eq(
		    generate_key(eng, &p, "sign", "forged", NULL, NULL, on_done, &c, &err), 0);
		run_until(&c, 1);
		ck_assert_msg(c.reply != NULL, "%s: %s: %s", forged[i], c.err, c.msg);
		ck_assert_int_eq(json_integer_value(json_object_get(c.reply, "seq")),
				 (json_int_t)i + 1);
		json_decref(c.reply);
		ck_assert_msg(card_cmds(0x46) == gakps + 1, "%s: %lu GAKPs", forged[i],
			      card_cmds(0x46) - gakps);
		sim_card_clear_faults(cards[0]);
		sim_card_clear_faults(cards[1]);
	}
	ck_assert_uint_eq(open_intents(), 0);
	ck_assert_uint_eq(records(), 5);
}
END_TEST

/* Whether the archive has n records and no open intent (read under the
 * archive lock: the workers write meanwhile). */
static int settled(uint64_t n)
{
	archive_intent_info *list = NULL;
	size_t open = 0;
	uint64_t size = 0;
	smk_err e;
	int rc;

	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_size(eng->arc, &size, &e) == 0 &&
	     archive_pending(eng->arc, &list, &open, &e) == 0;
	pthread_mutex_unlock(&eng->archive_lock);
	free(list);
	ck_assert_msg(rc, "%s", e.msg);
	return size == n && open == 0;
}

/* The card makes the key but its answer is spoiled, and the card is gone
 * before CE|id can be read back: whether the key exists is unknown, so the
 * intent stays open (the client hears ArchiveError naming the request).
 * When the device is back (the worker's retry), the key is read back and
 * archived under that request, without a restart. */
START_TEST(unsettled_key_archived_when_device_back)
{
	engine_peer p = peer_me();
	engine_error err;
	device *other = other_device();
	archive_intent_info *list = NULL;
	char serial[sizeof(other->serial)], rid[ARCHIVE_REQUEST_ID_LEN + 1];
	json_t *params, *rec = NULL;
	size_t n = 0, idx = other->index, rounds;
	sim_fault f;
	client c;
	smk_err e;

	snprintf(serial, sizeof(serial), "%s", other->serial);
	ck_assert_int_eq(sim_fault_parse("cmd=gakp:badmac", 0, &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[idx], &f, &e), 0);
	ck_assert_int_eq(sim_fault_parse("cmd=read:remove=1", 0, &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[idx], &f, &e), 0);
	memset(&c, 0, sizeof(c));
	ck_assert_msg(generate_key(eng, &p, "sign", "lost", serial, NULL, on_done, &c, &err) == 0,
		      "%s", err.msg);
	run_until(&c, 1);
	ck_assert_ptr_null(c.reply);
	ck_assert_str_eq(c.err, "io.smkeyd.ArchiveError");
	ck_assert_msg(strstr(c.msg, "the request stays open") != NULL, "%s", c.msg);
	pthread_mutex_lock(&eng->archive_lock);
	ck_assert_msg(archive_pending(eng->arc, &list, &n, &e) == 0, "%s", e.msg);
	pthread_mutex_unlock(&eng->archive_lock);
	ck_assert_uint_eq(n, 1);
	snprintf(rid, sizeof(rid), "%s", list[0].request_id);
	free(list);
	ck_assert_msg(strstr(c.msg, rid) != NULL, "%s", c.msg);

	/* the card answers again: the device comes back, CE|id is read */
	for (rounds = 0; !settled(2); rounds++) {
		ck_assert_msg(rounds < 1500, "the open request was not settled");
		run_for(20);
	}
	params = json_pack("{s:s}", "request_id", rid);
	ck_assert_msg(engine_get_record(eng, &p, params, &rec, &err) == 0, "%s", err.msg);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(rec, "record"), "request_id")), rid);
	json_decref(rec);
	json_decref(params);
	/* and its bundle is served once the checkpoint covers it */
	params = json_pack("{s:s}", "request_id", rid);
	for (rounds = 0; engine_get_bundle(eng, &p, params, &rec, &err) < 0; rounds++) {
		engine_error_clear(&err);
		ck_assert_msg(rounds < 500, "no bundle for the recovered record");
		run_for(20);
	}
	json_decref(rec);
	json_decref(params);
	/* and the job that took it up is over (its completion may still be on
	 * the way when the checkpoint is already stored) */
	for (rounds = 0; engine_in_flight(eng) != 0; rounds++) {
		ck_assert_msg(rounds < 500, "the take-up job did not finish");
		run_for(20);
	}
}
END_TEST

static void stopped(void *ctx)
{
	(*(int *)ctx)++;
}

START_TEST(shutdown_fails_only_what_no_card_saw)
{
	engine_peer p = peer_me();
	engine_error err;
	sim_latency lat;
	client c[2];
	int down = 0;
	smk_err e;
	const char *serial = eng->devices[0]->serial;

	memset(c, 0, sizeof(c));
	memset(&lat, 0, sizeof(lat));
	ck_assert_int_eq(sim_latency_parse("ec256=400", &lat, &e), 0);
	sim_card_set_latency(cards[0], &lat);
	ck_assert_int_eq(
	    generate_key(eng, &p, "sign", "a", serial, on_progress, on_done, &c[0], &err), 0);
	ck_assert_int_eq(generate_key(eng, &p, "sign", "b", serial, NULL, on_done, &c[1], &err), 0);
	/* until the first is on the card (GAKP takes 400 ms); the second waits */
	while (c[0].stages[ENGINE_GENERATING] == 0) {
		struct timeval tick = {0, 10000};

		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	engine_shutdown(eng, stopped, &down);
	ck_assert_int_eq(c[1].done, 1);
	ck_assert_str_eq(c[1].err, "io.smkeyd.GenerationFailed");
	ck_assert_ptr_nonnull(strstr(c[1].msg, "before the card was asked"));
	run_until(c, 2);
	ck_assert_msg(c[0].reply != NULL, "%s", c[0].msg);
	ck_assert_int_eq(down, 1);
	ck_assert_uint_eq(open_intents(), 0);
	json_decref(c[0].reply);
	/* once stopping, nothing new is taken */
	ck_assert_int_eq(generate_key(eng, &p, "sign", "c", NULL, NULL, on_done, &c[1], &err), -1);
	engine_error_clear(&err);
}
END_TEST

/* What a key put on the card for an open intent is: the policy's (EC
 * secp256r1, list [ecdsa-sha256]), or what an attacker put into the
 * reserved slot with the intent's CHR. */
enum planted { PLANT_POLICY, PLANT_UNRESTRICTED_EC, PLANT_RSA };

static void key_planted(device *d, uint8_t key_id, const char *label, enum planted what,
			archive_intent_info *info);

/* An open intent whose key is on d's card (as a crash after GAKP leaves it). */
static void key_left_on_card(device *d, uint8_t key_id, const char *label,
			     archive_intent_info *info)
{
	key_planted(d, key_id, label, PLANT_POLICY, info);
}

static void key_planted(device *d, uint8_t key_id, const char *label, enum planted what,
			archive_intent_info *info)
{
	const policy *pol = policy_set_find(eng->policies, "sign");
	archive_intent_req ir;
	session_keygen g;
	session_key key;
	smk_err e;

	memset(&ir, 0, sizeof(ir));
	ir.kind = ARCHIVE_KIND_KEY;
	ir.peer.uid = getuid();
	ir.policy_name = pol->name;
	ir.policy_doc = (const uint8_t *)pol->canonical;
	ir.policy_doc_len = pol->canonical_len;
	ir.device_serial = d->serial;
	ir.devaut_chr = d->devaut_chr;
	ir.key_id = key_id;
	ck_assert_msg(archive_intent(eng->arc, &ir, info, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(pending_write(eng, info->request_id, label, d->serial, key_id, &e), 0);
	memset(&g, 0, sizeof(g));
	memset(&key, 0, sizeof(key));
	if (what == PLANT_RSA) {
		g.spec.type = SMK_KEY_RSA;
		g.spec.rsa_bits = 2048;
	} else {
		g.spec.type = SMK_KEY_EC;
		g.spec.curve = curve_by_name("secp256r1");
	}
	if (what == PLANT_POLICY) {
		g.spec.algs[0] = 0x73;
		g.spec.alg_count = 1;
	}
	snprintf(g.spec.chr, sizeof(g.spec.chr), "%s", info->chr);
	g.key_id = key_id;
	g.label = label;
	ck_assert_msg(session_generate(d->session, &g, &key, &e) == 0, "%s", e.msg);
	session_key_free(&key);
}

/* The audit of the daemon's archive: its report, and problems counted. */
static unsigned audit_report(smk_buf *out)
{
	archive_audit_opts o;
	unsigned problems = 0;
	char chunk[4096];
	size_t n;
	smk_err e;
	FILE *f = tmpfile();

	ck_assert_ptr_nonnull(f);
	memset(&o, 0, sizeof(o));
	o.trust = &eng->trust;
	o.path = "archive.db";
	ck_assert_msg(archive_audit(eng->arc, &o, f, &problems, &e) == 0, "%s", e.msg);
	rewind(f);
	smk_buf_reset(out);
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0)
		ck_assert(smk_buf_add(out, chunk, n) == 0);
	ck_assert(smk_buf_add_byte(out, 0) == 0);
	fclose(f);
	return problems;
}

/* The record of a request, parsed. */
static void record_of(const char *request_id, archive_record *r)
{
	smk_buf canon = SMK_BUF_INIT;
	uint64_t seq;
	smk_err e;

	ck_assert_msg(archive_find(eng->arc, request_id, &seq, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_get(eng->arc, seq, &canon, NULL, &e) == 0, "%s", e.msg);
	ck_assert_msg(archive_record_parse(canon.data, canon.len, r, &e) == 0, "%s", e.msg);
	smk_buf_free(&canon);
}

/* Does the card hold key key_id? (its summary lists keys by id) */
static int card_has_key(size_t card, unsigned key_id)
{
	char *text = NULL, want[32];
	size_t len = 0;
	FILE *f = open_memstream(&text, &len);
	int has;

	ck_assert_ptr_nonnull(f);
	sim_card_describe(cards[card], f);
	fclose(f);
	snprintf(want, sizeof(want), "key %u: ", key_id);
	has = strstr(text, want) != NULL;
	free(text);
	return has;
}

/* The read-back check, as an attacker would test it: after a lost answer, the reserved
 * slot holds a key with the intent's CHR that is not what the policy asks
 * for. An RSA key is caught by its type whatever the card reports; an
 * unrestricted EC key of the right curve only when the card reports the
 * key's algorithm list (FCP). Caught: no record, the intent closed as
 * REFUSED, the key deleted, a FINDING in the audit. */
static void planted_key_refused(enum planted what, int fcp, const char *reason)
{
	device *d = eng->devices[1];
	size_t idx = d->index;
	archive_intent_info info;
	smk_buf out = SMK_BUF_INIT;
	uint64_t before = records();

	sim_card_set_fcp_algorithms(cards[idx], fcp);
	key_planted(d, 7, "t-planted", what, &info);
	ck_assert(card_has_key(idx, 7));
	engine_free(eng);
	engine_up();
	ck_assert_uint_eq(open_intents(), 0);
	ck_assert_uint_eq(records(), before);
	ck_assert_msg(!card_has_key(idx, 7), "the refused key is still on the card");
	ck_assert_uint_gt(audit_report(&out), 0);
	ck_assert_msg(strstr((char *)out.data, "FINDING: intent ") &&
			  strstr((char *)out.data, info.request_id) &&
			  strstr((char *)out.data, reason) &&
			  strstr((char *)out.data, "of which 1 refused"),
		      "%s", out.data);
	smk_buf_free(&out);
}

START_TEST(recovery_refuses_rsa_key_in_reserved_slot)
{
	planted_key_refused(PLANT_RSA, 0,
			    "the key is RSA-2048, the intent's policy asks for EC secp256r1");
}
END_TEST

START_TEST(recovery_refuses_unrestricted_key_when_card_reports_list)
{
	planted_key_refused(PLANT_UNRESTRICTED_EC, 1,
			    "the card reports the algorithm list none (unrestricted), the "
			    "intent's policy asks for 73");
}
END_TEST

/* The limit of what recovery can see: a card that does not report lists
 * (the simulator's default) cannot tell an unrestricted key from the
 * policy's. It is archived, and the record and verify say exactly that the
 * list rests on the intent and the CHR only. */
START_TEST(recovery_without_reported_list_says_what_it_rests_on)
{
	device *d = eng->devices[1];
	archive_intent_info info;
	archive_record r;
	archive_card_text t;

	key_planted(d, 7, "t-planted", PLANT_UNRESTRICTED_EC, &info);
	engine_free(eng);
	engine_up();
	ck_assert_uint_eq(open_intents(), 0);
	record_of(info.request_id, &r);
	ck_assert_int_eq(r.format, ARCHIVE_RECORD_FORMAT);
	ck_assert_int_eq(r.card.cvreq_from, ARCHIVE_CVREQ_RECOVERED);
	ck_assert_int_eq(r.card.algs_reported, 0);
	archive_card_describe(&r, &t);
	ck_assert_msg(strstr(t.source, "the card's answer under secure messaging was lost") &&
			  strstr(t.source, "the algorithm list rests on the intent and the CHR "
					   "only"),
		      "%s", t.source);
	archive_record_free(&r);
}
END_TEST

/* A genuine key recovered on a card that reports lists: archived, the list
 * confirmed, the record says it was recovered. */
START_TEST(recovery_with_reported_list_confirms_it)
{
	device *d = eng->devices[1];
	archive_intent_info info;
	archive_record r;
	archive_card_text t;
	smk_buf out = SMK_BUF_INIT;

	sim_card_set_fcp_algorithms(cards[d->index], 1);
	key_left_on_card(d, 7, "t-crash", &info);
	engine_free(eng);
	engine_up();
	ck_assert_uint_eq(open_intents(), 0);
	record_of(info.request_id, &r);
	ck_assert_int_eq(r.card.cvreq_from, ARCHIVE_CVREQ_RECOVERED);
	ck_assert_int_eq(r.card.algs_reported, 1);
	ck_assert_uint_eq(r.card.alg_count, 1);
	ck_assert_uint_eq(r.card.algs[0], 0x73);
	archive_card_describe(&r, &t);
	ck_assert_msg(strstr(t.source, "RECOVERED: ") &&
			  strstr(t.source, "the card confirmed the algorithm list"),
		      "%s", t.source);
	archive_record_free(&r);
	ck_assert_uint_eq(audit_report(&out), 0);
	ck_assert_msg(strstr((char *)out.data, "RECOVERED: ") &&
			  strstr((char *)out.data, "1 recovered: "),
		      "%s", out.data);
	smk_buf_free(&out);
}
END_TEST

/* A crash between GAKP and commit, replayed by hand: intent, sidecar, key
 * made on the card under the intent's CHR, no record. */
START_TEST(restart_recovers_key_from_card)
{
	device *d = eng->devices[1];
	const policy *pol = policy_set_find(eng->policies, "sign");
	archive_intent_req ir;
	archive_intent_info info, lost;
	engine_peer p = peer_me();
	engine_error err;
	json_t *rec = NULL, *params;
	smk_err e;

	key_left_on_card(d, 7, "t-crash", &info);
	/* a second intent that died before its sidecar: no card saw it */
	memset(&ir, 0, sizeof(ir));
	ir.kind = ARCHIVE_KIND_KEY;
	ir.peer.uid = getuid();
	ir.policy_name = pol->name;
	ir.policy_doc = (const uint8_t *)pol->canonical;
	ir.policy_doc_len = pol->canonical_len;
	ir.device_serial = d->serial;
	ir.devaut_chr = d->devaut_chr;
	ir.key_id = 8;
	ck_assert_msg(archive_intent(eng->arc, &ir, &lost, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(open_intents(), 2);

	engine_free(eng);
	engine_up();
	ck_assert_uint_eq(open_intents(), 0);
	ck_assert_uint_eq(records(), 2);
	params = json_pack("{s:s}", "request_id", info.request_id);
	ck_assert_int_eq(engine_get_record(eng, &p, params, &rec, &err), 0);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(rec, "record"), "key_id")), 7);
	json_decref(rec);
	json_decref(params);
	params = json_pack("{s:s}", "request_id", lost.request_id);
	ck_assert_int_eq(engine_get_record(eng, &p, params, &rec, &err), -1);
	ck_assert_str_eq(err.name, "io.smkeyd.RecordNotFound");
	engine_error_clear(&err);
	json_decref(params);
}
END_TEST

/* One key under "sign" on device d, answered. */
static void generate_on(device *d, const char *label)
{
	engine_peer p = peer_me();
	engine_error err;
	client c;

	memset(&c, 0, sizeof(c));
	ck_assert_msg(generate_key(eng, &p, "sign", label, d->serial, NULL, on_done, &c, &err) == 0,
		      "%s", err.msg);
	run_until(&c, 1);
	ck_assert_msg(c.reply != NULL, "%s", c.msg);
	json_decref(c.reply);
}

/* What the card told goes into every record at no cost in the steady
 * state: the key-domain query runs once per SM session, and a card that
 * reports no algorithm list (genuine firmware, as far as known) is not
 * asked again in that session. A card that does report lists costs one
 * SELECT per key and confirms the list in the record. */
START_TEST(card_facts_in_records_and_their_apdu_cost)
{
	device *d = eng->devices[1];
	const sim_stats *st = sim_card_stats(cards[d->index]);
	archive_record r;
	archive_card_text t;

	generate_on(d, "first");
	sim_card_stats_reset(cards[d->index]);
	generate_on(d, "second");
	ck_assert_uint_eq(st->sm_by_ins[0x52], 0); /* no key-domain query */
	ck_assert_uint_eq(st->sm_by_ins[0xA4], 0); /* no SELECT for a list */
	ck_assert_uint_eq(st->apdus, 2);	   /* GAKP, PrKD: the archive device signs */
	record_of("t-second", &r);
	ck_assert_int_eq(r.format, ARCHIVE_RECORD_FORMAT);
	ck_assert_int_eq(r.card.cvreq_from, ARCHIVE_CVREQ_GAKP);
	ck_assert_int_eq(r.card.algs_reported, 0);
	/* the simulator has no key domain configured: the query says so */
	ck_assert_int_eq(r.card.domains_reported, 0);
	archive_card_describe(&r, &t);
	ck_assert_str_eq(t.source, "the GAKP's answer under secure messaging");
	archive_record_free(&r);

	/* a card that reports lists, from a fresh session on */
	sim_card_set_fcp_algorithms(cards[d->index], 1);
	engine_free(eng);
	engine_up();
	d = eng->devices[1];
	generate_on(d, "third");
	sim_card_stats_reset(cards[d->index]);
	generate_on(d, "fourth");
	ck_assert_uint_eq(st->sm_by_ins[0x52], 0);
	ck_assert_uint_eq(st->sm_by_ins[0xA4], 1);
	ck_assert_uint_eq(st->apdus, 3);
	record_of("t-fourth", &r);
	ck_assert_int_eq(r.card.algs_reported, 1);
	ck_assert_uint_eq(r.card.alg_count, 1);
	ck_assert_uint_eq(r.card.algs[0], 0x73);
	ck_assert_ptr_nonnull(strstr(r.canonical.data ? (const char *)r.canonical.data : "",
				     "\"algorithms\":\"confirmed\""));
	archive_record_free(&r);
}
END_TEST

/* ---- after generation: certificates, adoption, inspection ---- */

typedef int (*card_call)(engine *, const engine_peer *, json_t *, engine_done_fn, void *,
			 engine_error *);

/* One card call through the engine, params stolen. The reply, or NULL with
 * the error's name in err_name (refused at once or answered with an error). */
static json_t *call(card_call fn, const engine_peer *p, json_t *params, char err_name[64])
{
	engine_error err;
	client c;

	memset(&c, 0, sizeof(c));
	memset(&err, 0, sizeof(err));
	err_name[0] = '\0';
	if (fn(eng, p, params, on_done, &c, &err) < 0) {
		ck_assert_int_eq(c.done, 0);
		snprintf(err_name, 64, "%s", err.name);
		engine_error_clear(&err);
		json_decref(params);
		return NULL;
	}
	json_decref(params);
	ck_assert_int_eq(c.done, 0); /* never answered from inside the call */
	run_until(&c, 1);
	snprintf(err_name, 64, "%s", c.err);
	return c.reply;
}

static json_t *generate(const char *label)
{
	engine_peer p = peer_me();
	engine_error err;
	client c;

	memset(&c, 0, sizeof(c));
	ck_assert_msg(generate_key(eng, &p, "sign", label, NULL, NULL, on_done, &c, &err) == 0,
		      "%s", err.msg);
	run_until(&c, 1);
	ck_assert_msg(c.reply != NULL, "%s", c.msg);
	return c.reply;
}

/* The device object with key_id id in a ListDeviceObjects reply. */
static json_t *object(json_t *reply, int id)
{
	json_t *o;
	size_t i;

	json_array_foreach(json_object_get(reply, "objects"), i,
			   o) if (json_integer_value(json_object_get(o, "key_id")) == id) return o;
	ck_abort_msg("key %d not listed", id);
	return NULL;
}

START_TEST(certificates_for_a_key)
{
	engine_peer p = peer_me(), stranger = peer_me();
	json_t *app = generate("app"), *other = generate("other"), *r;
	json_int_t app_seq = json_integer_value(json_object_get(app, "seq"));
	json_int_t other_seq = json_integer_value(json_object_get(other, "seq"));
	char cert[4096], other_cert[4096], name[64];
	uint64_t before;

	stranger.uid = 4242;
	stranger.gid = 4242;
	r = call(
	    certs_self_sign, &p,
	    json_pack("{s:I, s:s, s:i}", "seq", app_seq, "subject", "/CN=app/O=Test", "days", 30),
	    name);
	ck_assert_msg(r != NULL, "%s", name);
	snprintf(cert, sizeof(cert), "%s", json_string_value(json_object_get(r, "certificate")));
	ck_assert_ptr_nonnull(strstr(cert, "-----BEGIN CERTIFICATE-----"));
	json_decref(r);
	r = call(certs_self_sign, &p, json_pack("{s:I, s:s}", "seq", other_seq, "subject", "/CN=o"),
		 name);
	ck_assert_msg(r != NULL, "%s", name);
	snprintf(other_cert, sizeof(other_cert), "%s",
		 json_string_value(json_object_get(r, "certificate")));
	json_decref(r);
	r = call(certs_create_csr, &p, json_pack("{s:I, s:s}", "seq", app_seq, "subject", "/CN=a"),
		 name);
	ck_assert_msg(
	    r && strstr(json_string_value(json_object_get(r, "csr")), "BEGIN CERTIFICATE REQUEST"),
	    "%s", name);
	json_decref(r);

	/* refusals: nothing written, nothing open */
	before = records();
	ck_assert_ptr_null(call(certs_import, &p,
				json_pack("{s:I, s:s}", "seq", app_seq, "certificate", other_cert),
				name));
	ck_assert_str_eq(name, "io.smkeyd.CertificateMismatch");
	ck_assert_ptr_null(call(certs_import, &stranger,
				json_pack("{s:I, s:s}", "seq", app_seq, "certificate", cert),
				name));
	ck_assert_str_eq(name, "io.smkeyd.PolicyDenied");
	ck_assert_ptr_null(
	    call(certs_import, &p, json_pack("{s:i, s:s}", "seq", 0, "certificate", cert), name));
	ck_assert_str_eq(name, "io.smkeyd.InvalidParameter");
	ck_assert_ptr_null(call(certs_import, &p,
				json_pack("{s:s, s:s}", "request_id",
					  "0123456789abcdef0123456789abcdef", "certificate", cert),
				name));
	ck_assert_str_eq(name, "io.smkeyd.RecordNotFound");
	ck_assert_ptr_null(call(certs_create_csr, &stranger,
				json_pack("{s:I, s:s}", "seq", app_seq, "subject", "/CN=a"), name));
	ck_assert_str_eq(name, "io.smkeyd.PolicyDenied");
	ck_assert_ptr_null(call(adopt_list_objects, &stranger,
				json_pack("{s:s}", "device", eng->devices[0]->serial), name));
	ck_assert_str_eq(name, "io.smkeyd.PolicyDenied");
	ck_assert_uint_eq(records(), before);
	ck_assert_uint_eq(open_intents(), 0);
	/* a subject that does not parse is the caller's: InvalidParameter at
	 * once, naming the parameter and the position, no card work queued */
	{
		engine_error xe;
		client xc;
		json_t *xp =
		    json_pack("{s:I, s:s}", "seq", app_seq, "subject", "/CN=Release key/OU");

		memset(&xc, 0, sizeof(xc));
		memset(&xe, 0, sizeof(xe));
		ck_assert_int_eq(certs_self_sign(eng, &p, xp, on_done, &xc, &xe), -1);
		ck_assert_str_eq(xe.name, "io.smkeyd.InvalidParameter");
		ck_assert_str_eq(json_string_value(json_object_get(xe.params, "parameter")),
				 "subject");
		ck_assert_msg(strstr(json_string_value(json_object_get(xe.params, "reason")),
				     "position 17: \"OU\" has no '='") != NULL,
			      "%s", xe.msg);
		ck_assert_int_eq(xc.done, 0);
		ck_assert_uint_eq(engine_in_flight(eng), 0);
		engine_error_clear(&xe);
		json_decref(xp);
	}

	/* the import: record of kind certificate, then CE|id holds it */
	r = call(certs_import, &p, json_pack("{s:I, s:s}", "seq", app_seq, "certificate", cert),
		 name);
	ck_assert_msg(r != NULL, "%s", name);
	ck_assert_int_eq(json_integer_value(json_object_get(r, "key_seq")), app_seq);
	ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(r, "seq")), before);
	ck_assert_uint_eq(strlen(json_string_value(json_object_get(r, "fingerprint"))), 64);
	json_decref(r);
	ck_assert_uint_eq(open_intents(), 0);
	r = call(adopt_list_objects, &p,
		 json_pack("{s:s}", "device", json_string_value(json_object_get(app, "device"))),
		 name);
	ck_assert_msg(r != NULL, "%s", name);
	ck_assert_str_eq(
	    json_string_value(json_object_get(
		object(r, (int)json_integer_value(json_object_get(app, "key_id"))), "ce")),
	    "x509");
	ck_assert(json_is_true(json_object_get(
	    object(r, (int)json_integer_value(json_object_get(app, "key_id"))), "archived")));
	ck_assert_ptr_nonnull(
	    strstr(json_string_value(json_object_get(
		       object(r, (int)json_integer_value(json_object_get(app, "key_id"))), "hint")),
		   "certificate imported as record"));
	json_decref(r);
	json_decref(app);
	json_decref(other);
}
END_TEST

/* A key made without smkeyd (a GAKP with a CHR of nobody's intent) is
 * listed as not archived with the adopt hint, adopted, then listed as
 * archived; one whose CE|id holds a certificate is not adoptable. A
 * certificate import interrupted after the card write is committed at the
 * next start. */
START_TEST(adopt_and_inspect)
{
	device *d = eng->devices[0];
	engine_peer p = peer_me();
	session_keygen g;
	session_key key;
	json_t *r, *o, *app;
	char name[64], cert[4096];
	archive_cert_req cr;
	archive_intent_info info;
	smk_buf der = SMK_BUF_INIT;
	smk_err e;
	uint64_t before;

	memset(&g, 0, sizeof(g));
	memset(&key, 0, sizeof(key));
	g.spec.type = SMK_KEY_EC;
	g.spec.curve = curve_by_name("secp256r1");
	snprintf(g.spec.chr, sizeof(g.spec.chr), "ZZOUTSIDE00001");
	g.key_id = 9;
	g.label = "outside";
	ck_assert_msg(session_generate(d->session, &g, &key, &e) == 0, "%s", e.msg);
	session_key_free(&key);

	r = call(adopt_list_objects, &p, json_pack("{s:s}", "device", d->serial), name);
	ck_assert_msg(r != NULL, "%s", name);
	o = object(r, 9);
	ck_assert_str_eq(json_string_value(json_object_get(o, "label")), "outside");
	ck_assert_str_eq(json_string_value(json_object_get(o, "ce")), "cv_request");
	ck_assert(json_is_false(json_object_get(o, "archived")));
	ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(o, "hint")),
				     "smkey adopt --device ZZSIM00001 --key-id 9"));
	json_decref(r);

	before = records();
	r = call(adopt_key, &p, json_pack("{s:s, s:i}", "device", d->serial, "key_id", 9), name);
	ck_assert_msg(r != NULL, "%s", name);
	ck_assert_uint_eq((uint64_t)json_integer_value(json_object_get(r, "seq")), before);
	json_decref(r);
	r = call(adopt_key, &p, json_pack("{s:s, s:i}", "device", d->serial, "key_id", 9), name);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(name, "io.smkeyd.NotAdoptable");
	r = call(adopt_list_objects, &p, json_pack("{s:s}", "device", d->serial), name);
	o = object(r, 9);
	ck_assert(json_is_true(json_object_get(o, "archived")));
	ck_assert_str_eq(json_string_value(json_object_get(o, "record_kind")), "adopted");
	ck_assert_int_eq(json_integer_value(json_object_get(o, "record_seq")), (json_int_t)before);
	json_decref(r);

	/* a certificate written over CE|id behind smkeyd's back: not adoptable.
	 * Use the adopted key's own self-signed certificate, made by the engine */
	r = call(certs_self_sign, &p,
		 json_pack("{s:I, s:s}", "seq", (json_int_t)before, "subject", "/CN=x"), name);
	ck_assert_msg(r != NULL, "%s", name);
	snprintf(cert, sizeof(cert), "%s", json_string_value(json_object_get(r, "certificate")));
	json_decref(r);
	app = generate("app");
	memset(&g, 0, sizeof(g));
	g.spec.type = SMK_KEY_EC;
	g.spec.curve = curve_by_name("secp256r1");
	snprintf(g.spec.chr, sizeof(g.spec.chr), "ZZOUTSIDE00002");
	g.key_id = 10;
	ck_assert_msg(session_generate(d->session, &g, &key, &e) == 0, "%s", e.msg);
	session_key_free(&key);
	ck_assert_msg(x509_load_cert((const uint8_t *)cert, strlen(cert), &der, &e) == 0, "%s",
		      e.msg);
	ck_assert_msg(session_write_cert(d->session, 10, der.data, der.len, &e) == 0, "%s", e.msg);
	r = call(adopt_key, &p, json_pack("{s:s, s:i}", "device", d->serial, "key_id", 10), name);
	ck_assert_ptr_null(r);
	ck_assert_str_eq(name, "io.smkeyd.NotAdoptable");

	/* an import interrupted after the card write: intent durable, CE|id
	 * written, then the daemon dies; the next start commits it */
	memset(&cr, 0, sizeof(cr));
	cr.peer.uid = getuid();
	cr.key_seq = before;
	cr.cert = der.data;
	cr.cert_len = der.len;
	ck_assert_msg(archive_cert_intent(eng->arc, &cr, &info, &e) == 0, "%s", e.msg);
	ck_assert_msg(session_write_cert(d->session, 9, der.data, der.len, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(open_intents(), 1);
	before = records();
	engine_free(eng);
	engine_up();
	ck_assert_uint_eq(open_intents(), 0);
	ck_assert_uint_eq(records(), before + 1);
	smk_buf_free(&der);
	json_decref(app);
}
END_TEST

START_TEST(queries_check_their_parameters)
{
	engine_peer p = peer_me();
	engine_error err;
	json_t *reply = NULL, *params, *pol;

	params = json_pack("{s:s}", "request_id", "1");
	ck_assert_int_eq(engine_get_record(eng, &p, params, &reply, &err), -1);
	ck_assert_str_eq(err.name, "io.smkeyd.InvalidParameter");
	engine_error_clear(&err);
	json_decref(params);
	params = json_pack("{s:i}", "seq", 99);
	ck_assert_int_eq(engine_get_bundle(eng, &p, params, &reply, &err), -1);
	ck_assert_str_eq(err.name, "io.smkeyd.RecordNotFound");
	engine_error_clear(&err);
	json_decref(params);
	params = json_pack("{s:i}", "limit", 100000);
	ck_assert_int_eq(engine_list_records(eng, &p, params, &reply, &err), -1);
	engine_error_clear(&err);
	json_decref(params);
	/* the socket layer lets 1..10000 through: the engine must answer
	 * every such limit, not refuse the upper part of the range */
	params = json_pack("{s:i}", "limit", 10000);
	ck_assert_int_eq(engine_list_records(eng, &p, params, &reply, &err), 0);
	ck_assert_int_eq(json_array_size(json_object_get(reply, "records")), 1);
	json_decref(reply);
	json_decref(params);
	ck_assert_int_eq(engine_get_checkpoint(eng, &p, NULL, &reply, &err), 0);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(reply, "checkpoint"), "size")), 1);
	json_decref(reply);
	ck_assert_int_eq(engine_list_policies(eng, &p, NULL, &reply, &err), 0);
	pol = json_array_get(json_object_get(reply, "policies"), 1); /* name order: one, sign */
	ck_assert_str_eq(json_string_value(json_object_get(pol, "name")), "sign");
	ck_assert_str_eq(json_string_value(json_object_get(pol, "alg_list_hex")), "73");
	ck_assert(json_is_true(json_object_get(pol, "allowed")));
	json_decref(reply);
}
END_TEST

/* ---- the reply caches behind GetRecord and ListPolicies ---- */

/* The compact JSON text of reply (taken), as the socket layer would send it
 * without the caches. */
static char *dumped(json_t *reply)
{
	char *text = json_dumps(reply, JSON_COMPACT);

	ck_assert_ptr_nonnull(text);
	json_decref(reply);
	return text;
}

static char *record_text(const engine_peer *p, json_t *params)
{
	smk_buf out = SMK_BUF_INIT;
	engine_error err;
	char *text;

	ck_assert_msg(engine_get_record_text(eng, p, params, &out, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(smk_buf_add_byte(&out, 0), 0);
	text = (char *)smk_buf_steal(&out, NULL);
	return text;
}

static char *policies_text(const engine_peer *p)
{
	smk_buf out = SMK_BUF_INIT;
	engine_error err;

	ck_assert_msg(engine_list_policies_text(eng, p, NULL, &out, &err) == 0, "%s", err.msg);
	ck_assert_int_eq(smk_buf_add_byte(&out, 0), 0);
	return (char *)smk_buf_steal(&out, NULL);
}

static char *policies_uncached(const engine_peer *p)
{
	engine_error err;
	json_t *reply = NULL;

	ck_assert_int_eq(engine_list_policies(eng, p, NULL, &reply, &err), 0);
	return dumped(reply);
}

START_TEST(cached_record_equals_uncached)
{
	engine_peer p = peer_me();
	engine_error err;
	reply_cache_stats st;
	json_t *params, *reply = NULL;
	char *first, *again, *plain, *by_id;
	client c;

	memset(&c, 0, sizeof(c));
	ck_assert_msg(generate_key(eng, &p, "sign", "app", NULL, on_progress, on_done, &c, &err) ==
			  0,
		      "%s", err.msg);
	run_until(&c, 1);
	ck_assert_msg(c.reply != NULL, "%s: %s", c.err, c.msg);
	params = json_pack("{s:i}", "seq", 1);
	first = record_text(&p, params); /* made, then kept */
	again = record_text(&p, params); /* from the cache */
	engine_record_cache_stats(eng, &st);
	ck_assert_uint_eq(st.hits, 1);
	ck_assert_uint_eq(st.entries, 1);
	ck_assert_int_eq(engine_get_record(eng, &p, params, &reply, &err), 0);
	plain = dumped(reply);
	ck_assert_str_eq(first, plain);
	ck_assert_str_eq(again, plain);
	ck_assert_ptr_nonnull(strstr(again, "\"label\":\"t-app\""));
	json_decref(params);
	/* by request id: the same record, the same bytes, from the cache */
	params = json_pack("{s:O}", "request_id", json_object_get(c.reply, "request_id"));
	by_id = record_text(&p, params);
	ck_assert_str_eq(by_id, plain);
	engine_record_cache_stats(eng, &st);
	ck_assert_uint_eq(st.hits, 2);
	json_decref(params);
	/* a record that does not exist is an error, and nothing is kept for it */
	params = json_pack("{s:i}", "seq", 2);
	{
		smk_buf out = SMK_BUF_INIT;

		ck_assert_int_eq(engine_get_record_text(eng, &p, params, &out, &err), -1);
		ck_assert_str_eq(err.name, "io.smkeyd.RecordNotFound");
		ck_assert_uint_eq(out.len, 0);
		engine_error_clear(&err);
	}
	engine_record_cache_stats(eng, &st);
	ck_assert_uint_eq(st.entries, 1);
	json_decref(params);
	/* record 0, the archive key, differs from record 1 */
	params = json_pack("{s:i}", "seq", 0);
	free(first);
	first = record_text(&p, params);
	ck_assert_str_ne(first, plain);
	ck_assert_ptr_nonnull(strstr(first, "\"kind\":\"archive_key\""));
	json_decref(params);
	free(first);
	free(again);
	free(plain);
	free(by_id);
	json_decref(c.reply);
}
END_TEST

START_TEST(cached_policies_follow_peer_and_reload)
{
	engine_peer me_peer = peer_me(), other;
	char *allowed, *denied, *after, *plain, text[512];
	smk_err e;

	memset(&other, 0, sizeof(other));
	other.uid = 4242; /* in no policy's users */
	other.gid = 4242;
	allowed = policies_text(&me_peer);
	plain = policies_uncached(&me_peer);
	ck_assert_str_eq(allowed, plain);
	ck_assert_ptr_nonnull(strstr(allowed, "\"allowed\":true"));
	free(plain);
	/* the entries are cached now: a denied peer still gets its own answer */
	denied = policies_text(&other);
	plain = policies_uncached(&other);
	ck_assert_str_eq(denied, plain);
	ck_assert_str_ne(denied, allowed);
	ck_assert_ptr_null(strstr(denied, "\"allowed\":true"));
	ck_assert_ptr_nonnull(strstr(denied, "\"allowed\":false"));
	free(plain);
	/* and the allowed peer again, after the denied one */
	after = policies_text(&me_peer);
	ck_assert_str_eq(after, allowed);
	free(after);
	/* a reload changes the reply: one more policy */
	snprintf(text, sizeof(text),
		 "name: extra\ndescription: added by reload\nkey: {type: ec, curve: secp384r1}\n"
		 "algorithms: [ecdsa]\nlabel: x\nallow: {users: [%s]}\n",
		 me());
	write_file("policies.d/extra.yaml", text, strlen(text), 0644);
	ck_assert_msg(engine_reload(eng, &e) == 0, "%s", e.msg);
	after = policies_text(&me_peer);
	plain = policies_uncached(&me_peer);
	ck_assert_str_eq(after, plain);
	ck_assert_str_ne(after, allowed);
	ck_assert_ptr_nonnull(strstr(after, "added by reload"));
	free(after);
	free(plain);
	after = policies_text(&other);
	plain = policies_uncached(&other);
	ck_assert_str_eq(after, plain);
	ck_assert_str_ne(after, denied);
	ck_assert_ptr_null(strstr(after, "\"allowed\":true"));
	free(after);
	free(plain);
	free(allowed);
	free(denied);
}
END_TEST

/* ---- the archive key's device down at start ---- */

/* Run the loop until a worker made some device the archive device (10 s). */
static device *wait_archive_dev(void)
{
	struct timeval tick = {0, 50000};
	device *d = NULL;
	int rounds;

	for (rounds = 0; rounds < 200 && d == NULL; rounds++) {
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
		pthread_mutex_lock(&eng->lock);
		d = eng->archive_dev;
		pthread_mutex_unlock(&eng->lock);
	}
	ck_assert_msg(d != NULL, "the archive key's device was not taken up");
	return d;
}

/* Generate: refused at once with DeviceUnavailable, the reason in msg. */
static void generate_refused(char msg[512])
{
	engine_peer p = peer_me();
	engine_error err;
	client c;

	memset(&c, 0, sizeof(c));
	memset(&err, 0, sizeof(err));
	ck_assert_int_eq(generate_key(eng, &p, "sign", "early", NULL, NULL, on_done, &c, &err), -1);
	ck_assert_str_eq(err.name, "io.smkeyd.DeviceUnavailable");
	snprintf(msg, 512, "%s", err.msg);
	engine_error_clear(&err);
	ck_assert_int_eq(c.done, 0);
}

/* A verified bundle of a fresh key, and every record under the checkpoint. */
static void generate_verified(void)
{
	json_t *reply = generate("late");
	const char *bundle = json_string_value(json_object_get(reply, "bundle"));
	archive_verified v;
	smk_buf note = SMK_BUF_INIT;
	uint64_t covered = 0;
	smk_err e;

	ck_assert_ptr_nonnull(bundle);
	memset(&v, 0, sizeof(v));
	ck_assert_msg(archive_verify_bundle((const uint8_t *)bundle, strlen(bundle), &eng->trust,
					    NULL, NULL, NULL, &v, &e) == ARCHIVE_VERIFY_UNPINNED,
		      "%s", e.msg);
	ck_assert_uint_eq(v.record.seq,
			  (uint64_t)json_integer_value(json_object_get(reply, "seq")));
	archive_verified_free(&v);
	json_decref(reply);
	ck_assert_int_eq(archive_latest_checkpoint(eng->arc, &note, &covered, &e), 0);
	ck_assert_uint_eq(covered, records());
	smk_buf_free(&note);
	ck_assert_uint_eq(open_intents(), 0);
}

/* The archive key's card is out of its reader at start: Generate is refused
 * naming the archive key, keys left open on the other card wait; once the
 * card is back the worker checks it holds record 0's key, commits the keys
 * left on both cards, covers them with a checkpoint and serves Generate. */
START_TEST(archive_device_taken_up_when_it_comes)
{
	device *adev = eng->archive_dev, *other = eng->devices[adev->index == 0 ? 1 : 0];
	size_t ai = adev->index;
	char serial[CVC_REF_MAX + 1], msg[512];
	archive_intent_info on_other, on_archive;
	json_t *params, *rec = NULL;
	engine_peer p = peer_me();
	engine_error err;

	snprintf(serial, sizeof(serial), "%s", adev->serial);
	key_left_on_card(other, 9, "t-other", &on_other);
	key_left_on_card(adev, 10, "t-arch", &on_archive);
	engine_free(eng);
	cfg->retry_min_s = 1;
	cfg->retry_max_s = 1;
	absent[ai] = 1;
	engine_up();
	pthread_mutex_lock(&eng->lock);
	ck_assert_ptr_null(eng->archive_dev);
	ck_assert_int_eq(eng->devices[ai]->state, DEVICE_DOWN);
	pthread_mutex_unlock(&eng->lock);
	generate_refused(msg);
	ck_assert_msg(strstr(msg, "archive key") && strstr(msg, serial), "%s", msg);
	ck_assert_uint_eq(open_intents(), 2);
	ck_assert_uint_eq(records(), 1);

	absent[ai] = 0;
	ck_assert_ptr_eq(wait_archive_dev(), eng->devices[ai]);
	ck_assert_str_eq(eng->devices[ai]->serial, serial);
	/* both keys left by the crash are archived now, as they were made */
	ck_assert_uint_eq(records(), 3);
	ck_assert_uint_eq(open_intents(), 0);
	params = json_pack("{s:s}", "request_id", on_other.request_id);
	ck_assert_int_eq(engine_get_record(eng, &p, params, &rec, &err), 0);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(rec, "record"), "key_id")), 9);
	json_decref(rec);
	json_decref(params);
	params = json_pack("{s:s}", "request_id", on_archive.request_id);
	ck_assert_int_eq(engine_get_record(eng, &p, params, &rec, &err), 0);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(rec, "record"), "device")), serial);
	json_decref(rec);
	json_decref(params);
	generate_verified();
	ck_assert_uint_eq(records(), 4);
}
END_TEST

/* The card that comes back holds a key under record 0's key id, but not
 * that key: it never becomes the archive device. */
START_TEST(archive_device_with_another_key_is_not_taken)
{
	device *adev = eng->archive_dev;
	size_t ai = adev->index, rounds;
	uint8_t key_id = eng->archive_key_id;
	session_keygen g;
	session_key key;
	char msg[512];
	smk_err e;

	/* replace the archive key on its card by another key under its id */
	memset(&g, 0, sizeof(g));
	memset(&key, 0, sizeof(key));
	g.spec.type = SMK_KEY_EC;
	g.spec.curve = curve_by_name("secp256r1");
	g.spec.algs[0] = 0x73;
	g.spec.alg_count = 1;
	snprintf(g.spec.chr, sizeof(g.spec.chr), "ZZIMPOSTOR00001");
	g.key_id = key_id;
	g.label = "impostor";
	ck_assert_msg(session_generate(adev->session, &g, &key, &e) == 0, "%s", e.msg);
	session_key_free(&key);
	engine_free(eng);
	cfg->retry_min_s = 1;
	cfg->retry_max_s = 1;
	absent[ai] = 1;
	engine_up();
	absent[ai] = 0;
	for (rounds = 0; rounds < 60; rounds++) {
		struct timeval tick = {0, 50000};

		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	pthread_mutex_lock(&eng->lock);
	ck_assert_int_ne(eng->devices[ai]->state, DEVICE_DOWN); /* up: it was retried */
	ck_assert_ptr_null(eng->archive_dev);
	pthread_mutex_unlock(&eng->lock);
	generate_refused(msg);
	ck_assert_msg(strstr(msg, "is not the archive key of record 0"), "%s", msg);
	ck_assert_uint_eq(records(), 1);
}
END_TEST

/* An empty archive and no card at start: nothing is made; the first card
 * that comes makes the archive key, as start-up would have. */
START_TEST(empty_archive_key_made_by_first_device_up)
{
	char cmd[256], msg[512];
	device *d;

	engine_free(eng);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/archive.db* ", dir);
	ck_assert_int_eq(system(cmd), 0);
	cfg->retry_min_s = 1;
	cfg->retry_max_s = 1;
	absent[0] = absent[1] = 1;
	engine_up();
	ck_assert_uint_eq(records(), 0);
	generate_refused(msg);
	ck_assert_msg(strstr(msg, "no archive key yet"), "%s", msg);
	absent[1] = 0;
	d = wait_archive_dev();
	ck_assert_ptr_eq(d, eng->devices[1]);
	ck_assert_uint_eq(records(), 1);
	generate_verified();
	ck_assert_uint_eq(records(), 2);
}
END_TEST

/* An empty archive, and the cards refuse to make the archive key: smkeyd
 * starts anyway. After the first card, the second is asked; both are down
 * with the card's reason (ListDevices), Generate answers DeviceUnavailable
 * naming it, and the devices are retried; once the cards stop refusing,
 * the archive key is made and keys follow. */
START_TEST(archive_key_refused_keeps_service_up)
{
	char cmd[256], msg[512];
	json_t *reply = NULL;
	engine_peer p = peer_me();
	engine_error err;
	sim_fault f;
	smk_err e;
	size_t i, down = 0;
	unsigned long gakps;

	engine_free(eng);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/archive.db* ", dir);
	ck_assert_int_eq(system(cmd), 0);
	/* long enough for the checks below to run before the first retry */
	cfg->retry_min_s = 3;
	cfg->retry_max_s = 3;
	ck_assert_int_eq(sim_fault_parse("cmd=gakp:sw=6A84:times=0", 0, &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[0], &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[1], &f, &e), 0);
	gakps = card_cmds(0x46);
	engine_up();
	ck_assert_uint_eq(records(), 0);
	generate_refused(msg);
	ck_assert_msg(strstr(msg, "creating the archive key") && strstr(msg, "6A84"), "%s", msg);
	ck_assert_int_eq(engine_list_devices(eng, &p, NULL, &reply, &err), 0);
	for (i = 0; i < 2; i++) {
		json_t *d = json_array_get(json_object_get(reply, "devices"), i);
		const char *why = json_string_value(json_object_get(d, "last_error"));

		/* busy: being retried, the reason still shown */
		if (strcmp(json_string_value(json_object_get(d, "state")), "up") == 0)
			continue;
		down++;
		ck_assert_msg(why && strstr(why, "creating the archive key") && strstr(why, "6A84"),
			      "%s", why ? why : "(null)");
	}
	ck_assert_uint_eq(down, 2);
	ck_assert_uint_eq(card_cmds(0x46), gakps + 2);
	json_decref(reply);
	/* the request is closed as failed: the card answered under SM */
	ck_assert_uint_eq(open_intents(), 0);
	/* the devices are retried, and meet the same refusal */
	run_for(4000);
	ck_assert_uint_gt(card_cmds(0x46), gakps + 2);
	generate_refused(msg);
	ck_assert_msg(strstr(msg, "6A84"), "%s", msg);
	clear_faults_now();
	wait_archive_dev();
	ck_assert_uint_eq(records(), 1);
	generate_verified();
	ck_assert_uint_eq(records(), 2);
}
END_TEST

/* The first card refuses the archive key, the second makes it: smkeyd
 * serves at once, the first device is down with its reason until it
 * answers again. */
START_TEST(archive_key_made_on_the_next_device)
{
	char cmd[256];
	json_t *reply = NULL;
	engine_peer p = peer_me();
	engine_error err;
	sim_fault f;
	smk_err e;
	const char *why;

	engine_free(eng);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/archive.db* ", dir);
	ck_assert_int_eq(system(cmd), 0);
	cfg->retry_min_s = 1;
	cfg->retry_max_s = 1;
	ck_assert_int_eq(sim_fault_parse("cmd=gakp:sw=6A84:times=0", 0, &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[0], &f, &e), 0);
	engine_up();
	ck_assert_uint_eq(records(), 1);
	ck_assert_ptr_eq(eng->archive_dev, eng->devices[1]);
	ck_assert_int_eq(engine_list_devices(eng, &p, NULL, &reply, &err), 0);
	why = json_string_value(
	    json_object_get(json_array_get(json_object_get(reply, "devices"), 0), "last_error"));
	ck_assert_msg(why && strstr(why, "6A84"), "%s", why ? why : "(null)");
	json_decref(reply);
	generate_verified();
}
END_TEST

/* The archive key's GAKP is answered with a forged plain status word while
 * the card made the key: the intent stays open, the device goes down, and
 * the retry reads the key back from CE|id; it becomes record 0 without a
 * second GAKP. */
START_TEST(archive_key_plain_answer_read_back)
{
	char cmd[256];
	unsigned long gakps;
	sim_fault f;
	smk_err e;

	engine_free(eng);
	snprintf(cmd, sizeof(cmd), "rm -rf %s/archive.db* ", dir);
	ck_assert_int_eq(system(cmd), 0);
	cfg->retry_min_s = 1;
	cfg->retry_max_s = 1;
	ck_assert_int_eq(sim_fault_parse("cmd=gakp:plainsw=6982", 0, &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[0], &f, &e), 0);
	ck_assert_int_eq(sim_card_add_fault(cards[1], &f, &e), 0);
	gakps = card_cmds(0x46);
	engine_up();
	ck_assert_uint_eq(records(), 0);
	ck_assert_uint_eq(open_intents(), 1);
	wait_archive_dev();
	ck_assert_uint_eq(records(), 1);
	ck_assert_uint_eq(open_intents(), 0);
	ck_assert_uint_eq(card_cmds(0x46), gakps + 1);
	clear_faults_now();
	generate_verified();
}
END_TEST

int main(void)
{
	Suite *s = suite_create("engine");
	TCase *tc = tcase_create("engine");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, start_makes_archive_key);
	tcase_add_test(tc, generate_answers_after_commit);
	tcase_add_test(tc, two_devices_share_the_work);
	tcase_add_test(tc, concurrent_generates_get_verified_bundles);
	tcase_add_test(tc, identity_steady_while_keys_are_made);
	tcase_add_test(tc, failed_checkpoint_leaves_record_uncovered);
	tcase_add_test(tc, batch_waits_for_keys_being_made);
	tcase_add_test(tc, batch_not_held_for_a_failed_key);
	tcase_add_test(tc, lone_key_not_held);
	tcase_add_test(tc, unsettled_key_archived_when_device_back);
	tcase_add_test(tc, refusals_write_nothing);
	tcase_add_test(tc, max_keys_counts_jobs_in_flight);
	tcase_add_test(tc, label_named_policy_at_max_keys_is_refused);
	tcase_add_test(tc, forgotten_client_key_is_archived);
	tcase_add_test(tc, card_refusal_closes_the_intent);
	tcase_add_test(tc, lost_gakp_answer_key_is_read_back);
	tcase_add_test(tc, plain_answer_to_gakp_is_settled_by_read_back);
	tcase_add_test(tc, card_filling_in_its_own_car);
	tcase_add_test(tc, shutdown_fails_only_what_no_card_saw);
	tcase_add_test(tc, restart_recovers_key_from_card);
	tcase_add_test(tc, recovery_refuses_rsa_key_in_reserved_slot);
	tcase_add_test(tc, recovery_refuses_unrestricted_key_when_card_reports_list);
	tcase_add_test(tc, recovery_without_reported_list_says_what_it_rests_on);
	tcase_add_test(tc, recovery_with_reported_list_confirms_it);
	tcase_add_test(tc, card_facts_in_records_and_their_apdu_cost);
	tcase_add_test(tc, archive_device_taken_up_when_it_comes);
	tcase_add_test(tc, archive_device_with_another_key_is_not_taken);
	tcase_add_test(tc, empty_archive_key_made_by_first_device_up);
	tcase_add_test(tc, archive_key_refused_keeps_service_up);
	tcase_add_test(tc, archive_key_made_on_the_next_device);
	tcase_add_test(tc, archive_key_plain_answer_read_back);
	tcase_add_test(tc, queries_check_their_parameters);
	tcase_add_test(tc, certificates_for_a_key);
	tcase_add_test(tc, adopt_and_inspect);
	tcase_add_test(tc, cached_record_equals_uncached);
	tcase_add_test(tc, cached_policies_follow_peer_and_reload);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
