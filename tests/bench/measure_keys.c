/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * measure_keys: what smkeyd's memory does over many generated keys
 * (benchmark "keys" of tests/bench/run): the daemon's engine with in-process
 * simulated HSMs at zero latency (tests/lib/simtransport.c, no pcscd), as
 * tests/unit/test_engine.c drives it, so that 10,000 keys take minutes:
 *
 *   measure_keys [KEYS [CARDS]]     (default 10000 keys on 2 cards)
 *
 * Generate runs KEYS times (policy ec P-256, at most 4 requests queued per
 * card), each answer checked (a record and a bundle). VmRSS is read after
 * 10 keys and after KEYS keys, each time with nothing in flight, the cards
 * emptied of the keys this run made (so the simulator, in the same process,
 * holds the same either time) and after malloc_trim(0), as smkeyd's idle
 * settle does (daemon/main.c); and also before the trim. Beside them, what
 * malloc counts in use (mallinfo2: live blocks, and those in the threads'
 * caches) and what SQLite holds (sqlite3_memory_used: its page cache,
 * schema and statements), to tell live growth from the allocator keeping
 * freed pages. It runs with one malloc arena, as smkeyd's main sets, and
 * the GLIBC_TUNABLES it is given (tests/bench/run passes those of
 * systemd/smkeyd.service), which the JSON line repeats. One JSON line;
 * figures in KiB.
 *
 * A card holds 255 key ids. When a card is three-quarters full, the run
 * waits until nothing is in flight and no record waits for its checkpoint,
 * then deletes the keys it made through the device's own session (its
 * worker idle and eng->lock held, so the worker cannot wake) and refreshes
 * the device's key list, as an operator deleting keys between batches
 * would. The archive key is kept. The simulator's own memory is bounded by
 * its 255 key slots and it holds no key of this run when RSS is read, so
 * what grows is the daemon's.
 */
#include <event2/event.h>
#include <malloc.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "archive/archive.h"
#include "daemon/daemon.h"
#include "daemon/log.h"
#include "sim/card.h"
#include "tests/lib/simtransport.h"

#define MAX_CARDS 16
#define PER_CARD 4    /* requests queued per card */
#define CARD_FULL 190 /* key ids in use that make the run empty a card */

static char dir[64];
static sim_card *cards[MAX_CARDS];
static size_t ncards = 2;
static struct event_base *base;
static engine *eng;
static unsigned long done_keys, failed;

static void die(const char *what, const smk_err *e)
{
	fprintf(stderr, "measure_keys: %s: %s\n", what, e ? e->msg : "failed");
	exit(1);
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static long rss_kib(void)
{
	char line[256];
	long v = -1;
	FILE *f = fopen("/proc/self/status", "r");

	while (f && fgets(line, sizeof(line), f))
		if (strncmp(line, "VmRSS:", 6) == 0)
			v = strtol(line + 6, NULL, 10);
	if (f)
		fclose(f);
	return v;
}

/* ---- the simulated cards as readers "sim-0".. ---- */

static int sim_list(void *ctx, char ***names, size_t *n, smk_err *e)
{
	char **v = calloc(ncards + 1, sizeof(*v));
	size_t i;

	(void)ctx;
	if (v == NULL)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	for (i = 0; i < ncards; i++) {
		v[i] = malloc(32);
		if (v[i] == NULL)
			return smk_fail(e, SMK_E_NOMEM, "out of memory");
		snprintf(v[i], 32, "sim-%zu", i);
	}
	*names = v;
	*n = ncards;
	return 0;
}

static int sim_open(void *ctx, const char *reader, smk_transport **t, smk_err *e)
{
	unsigned long i = strtoul(reader + 4, NULL, 10);

	(void)ctx;
	if (strncmp(reader, "sim-", 4) != 0 || i >= ncards)
		return smk_fail(e, SMK_E_IO, "reader \"%s\": no card", reader);
	return simtransport_new(cards[i], reader, t, e);
}

static const engine_cards sim_cards = {sim_list, sim_open, NULL};

/* ---- set-up: the simulator CA, cards, trust, a policy, the config ---- */

static void write_file(const char *name, const void *p, size_t n, mode_t mode)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0 || chmod(path, mode) < 0)
		die(path, NULL);
}

static config *setup(void)
{
	smk_buf root = SMK_BUF_INIT;
	char text[1024], path[256];
	struct passwd *pw = getpwuid(getuid());
	config *cfg;
	sim_ca *ca;
	smk_err e;
	size_t i;

	snprintf(dir, sizeof(dir), "/tmp/smk-keys-XXXXXX");
	if (mkdtemp(dir) == NULL || pw == NULL)
		die("temporary directory", NULL);
	snprintf(path, sizeof(path), "%s/trust", dir);
	if (mkdir(path, 0700) < 0)
		die(path, NULL);
	snprintf(path, sizeof(path), "%s/policies.d", dir);
	if (mkdir(path, 0700) < 0)
		die(path, NULL);
	ca = sim_ca_new(&e);
	if (ca == NULL)
		die("simulator CA", &e);
	for (i = 0; i < ncards; i++) {
		cards[i] = sim_card_new();
		smk_buf_reset(&root);
		if (cards[i] == NULL ||
		    sim_card_init_pki(cards[i], ca, (unsigned)i + 1, &root, &e) < 0 ||
		    sim_card_set_pins(cards[i], (const uint8_t *)SIM_DEFAULT_PIN,
				      strlen(SIM_DEFAULT_PIN), (const uint8_t *)"57621880", &e) < 0)
			die("simulated card", &e);
	}
	sim_ca_free(ca);
	write_file("trust/root.cvcert", root.data, root.len, 0644);
	smk_buf_free(&root);
	write_file("pin", SIM_DEFAULT_PIN "\n", strlen(SIM_DEFAULT_PIN) + 1, 0600);
	snprintf(text, sizeof(text),
		 "name: bench\ndescription: measure_keys\nkey: {type: ec, curve: secp256r1}\n"
		 "algorithms: [ecdsa-sha256]\nlabel: \"k-{request.label}\"\n"
		 "allow: {users: [%s]}\n",
		 pw->pw_name);
	write_file("policies.d/bench.yaml", text, strlen(text), 0644);
	snprintf(text, sizeof(text),
		 "archive: archive.db\npolicies: policies.d\ntrust: trust\n"
		 "devices: [{reader: \"sim-*\", pin-file: pin}]\nlimits: {queue: %d}\n",
		 PER_CARD);
	snprintf(path, sizeof(path), "%s/smkeyd.yaml", dir);
	if (config_parse(path, (const uint8_t *)text, strlen(text), &cfg, &e) < 0)
		die("config", &e);
	return cfg;
}

/* ---- Generate ---- */

static void on_done(void *ctx, json_t *reply, const engine_error *err)
{
	(void)ctx;
	if (err != NULL) {
		fprintf(stderr, "measure_keys: Generate failed: %s: %s\n", err->name, err->msg);
		failed++;
	} else if (!json_is_integer(json_object_get(reply, "seq")) ||
		   !json_is_string(json_object_get(reply, "bundle"))) {
		fprintf(stderr, "measure_keys: Generate answered without a record and bundle\n");
		failed++;
	} else {
		done_keys++;
	}
	json_decref(reply);
}

/* Run the loop until nothing is in flight and no record waits for its
 * checkpoint. */
static void settle(void)
{
	struct timeval tick = {0, 2000};
	unsigned held;

	for (;;) {
		pthread_mutex_lock(&eng->lock);
		held = eng->archive_dev ? eng->archive_dev->uncovered_n : 0;
		pthread_mutex_unlock(&eng->lock);
		if (engine_in_flight(eng) == 0 && held == 0)
			return;
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
}

static unsigned used_ids(const device *d)
{
	unsigned id, n = 0;

	for (id = 1; id <= 255; id++)
		n += (unsigned)device_id_used(d->used_ids, id);
	return n;
}

/* Delete the keys this run made on full cards, or on every card (see the
 * comment on top). */
static void empty_cards(int all)
{
	size_t i;
	unsigned id;
	smk_err e;

	settle();
	for (i = 0; i < eng->device_count; i++) {
		device *d = eng->devices[i];
		uint8_t ids[32];

		if (!all && used_ids(d) < CARD_FULL)
			continue;
		pthread_mutex_lock(&eng->lock);
		memcpy(ids, d->used_ids, sizeof(ids));
		for (id = 1; id <= 255; id++) {
			if (!device_id_used(ids, id) ||
			    (d == eng->archive_dev && id == eng->archive_key_id))
				continue;
			if (session_delete_key(d->session, (uint8_t)id, &e) < 0) {
				pthread_mutex_unlock(&eng->lock);
				die("delete key", &e);
			}
		}
		pthread_mutex_unlock(&eng->lock);
		if (device_id_refresh(d, &e) < 0)
			die("list keys", &e);
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

/* Generate until done_keys reaches target, keeping the cards' queues full. */
static void generate_until(unsigned long target)
{
	struct timeval tick = {0, 1000};
	engine_peer p = peer_me();
	unsigned long asked = done_keys;
	engine_error err;
	char label[32];
	size_t i;
	int full;

	while (done_keys < target) {
		if (failed)
			die("Generate", NULL);
		full = 0;
		for (i = 0; i < eng->device_count; i++)
			full |= used_ids(eng->devices[i]) >= CARD_FULL;
		if (full) {
			settle();
			asked = done_keys;
			empty_cards(0);
		}
		while (asked < target && asked - done_keys < PER_CARD * ncards) {
			snprintf(label, sizeof(label), "%lu", asked);
			/* a non-NULL ctx: the engine answers only a client it has */
			if (generate_key(eng, &p, "bench", label, NULL, NULL, on_done, &done_keys,
					 &err) < 0)
				break; /* a queue is full: wait for answers */
			asked++;
		}
		event_base_loopexit(base, &tick);
		event_base_dispatch(base);
	}
	settle();
}

/* RSS with nothing in flight and the cards emptied (the simulator holding
 * what it held at the first measurement), before and after giving free
 * heap back. */
static void rss_settled(long *raw, long *trimmed, long *heap, long *sql)
{
	struct mallinfo2 mi;

	empty_cards(1);
	*raw = rss_kib();
	malloc_trim(0);
	*trimmed = rss_kib();
	mi = mallinfo2();
	*heap = (long)(mi.uordblks / 1024);
	*sql = (long)(sqlite3_memory_used() / 1024);
}

int main(int argc, char **argv)
{
	unsigned long keys = argc > 1 ? strtoul(argv[1], NULL, 10) : 10000;
	const char *tunables = getenv("GLIBC_TUNABLES") ? getenv("GLIBC_TUNABLES") : "";
	long raw10, rss10, raw_n, rss_n, heap10, heap_n, sql10, sql_n;
	engine_options o;
	uint64_t size = 0;
	config *cfg;
	double t0, t1;
	char cmd[128];
	smk_err e;

	if (argc > 2)
		ncards = strtoul(argv[2], NULL, 10);
	if (strpbrk(tunables, "\"\\") != NULL)
		tunables = "(not shown)";
	if (keys < 10 || ncards < 1 || ncards > MAX_CARDS) {
		fprintf(stderr, "usage: measure_keys [KEYS >= 10 [CARDS 1..%d]]\n", MAX_CARDS);
		return 2;
	}
	/* as smkeyd's main does before any thread (memory_at_start) */
	mallopt(M_ARENA_MAX, 1);
	log_init(LOG_TARGET_STDERR, 0);
	cfg = setup();
	base = event_base_new();
	memset(&o, 0, sizeof(o));
	o.cfg = cfg;
	o.base = base;
	o.cards = &sim_cards;
	if (engine_new(&o, &eng, &e) < 0 || engine_start(eng, &e) < 0)
		die("engine", &e);
	if (eng->archive_dev == NULL)
		die("no archive key", NULL);

	generate_until(10);
	rss_settled(&raw10, &rss10, &heap10, &sql10);
	t0 = now_s();
	generate_until(keys);
	t1 = now_s();
	rss_settled(&raw_n, &rss_n, &heap_n, &sql_n);
	if (archive_size(eng->arc, &size, &e) < 0)
		die("archive size", &e);
	printf("{\"keys\":%lu,\"cards\":%zu,\"seconds\":%.3f,\"keys_per_s\":%.1f,"
	       "\"rss_kib_after_10\":%ld,\"rss_kib_after_%lu\":%ld,\"growth_kib\":%ld,"
	       "\"untrimmed_kib_after_10\":%ld,\"untrimmed_kib_after_%lu\":%ld,"
	       "\"malloc_in_use_kib\":[%ld,%ld],\"sqlite_kib\":[%ld,%ld],\"archive_records\":%llu,"
	       "\"glibc_tunables\":\"%s\"}\n",
	       done_keys, ncards, t1 - t0, (double)(done_keys - 10) / (t1 - t0), rss10, keys, rss_n,
	       rss_n - rss10, raw10, keys, raw_n, heap10, heap_n, sql10, sql_n,
	       (unsigned long long)size, tunables);
	engine_free(eng);
	event_base_free(base);
	config_free(cfg);
	for (size_t i = 0; i < ncards; i++)
		sim_card_free(cards[i]);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", dir);
	return system(cmd) == 0 ? 0 : 1;
}
