/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * measure_scale: what the daemon pays on an archive of a given size
 * (benchmark "scale" of tests/bench/run, on archives from gen_archive),
 * in-process through the archive calls smkeyd makes:
 *
 *   measure_scale ARCHIVE [REPS]
 *
 *   open    archive_open for writing (as smkeyd does: schema checks, tree
 *           table), then what recovery reads at start (size, latest
 *           checkpoint, open intents) and the tree head of the latest
 *           checkpoint: the tree state ready; wall and CPU time, the pages
 *           SQLite read from the file (its cache misses: what the open
 *           reads, whatever the machine's load), and VmRSS after. Whether
 *           this open built the intents_policy_kind index (a one-time
 *           migration of an archive made before it, O(n) like the tree
 *           table's) is said, as tree_built_at_open says the tree's
 *   pending recovery's list of open intents with one open (a crash left
 *           it): an intent made in a transaction that is rolled back, so
 *           the archive is left as it was; the median of REPS lists
 *   record  GetRecord: archive_get + archive_record_parse
 *   bundle  GetBundle: archive_export_bundle
 *   proof   GetConsistencyProof: archive_consistency_proof from the
 *           record's size to the current one
 * each for the oldest key record (1) and the newest covered one, the
 * median of REPS (default 200) calls after one warm-up call. One JSON line.
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "archive/archive.h"
#include "archive/internal.h"
#include "archive/record.h"

#include <sqlite3.h>

static double now_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
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

static double cpu_us(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &ts);
	return (double)ts.tv_sec * 1e6 + (double)ts.tv_nsec / 1e3;
}

static void die(const char *what, const smk_err *e)
{
	fprintf(stderr, "measure_scale: %s: %s\n", what, e ? e->msg : "failed");
	exit(1);
}

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return x < y ? -1 : x > y;
}

enum op { OP_RECORD, OP_BUNDLE, OP_PROOF };

static void run_op(archive *a, enum op op, uint64_t seq)
{
	smk_buf b = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	archive_record r;
	uint64_t size = 0;
	smk_err e;

	switch (op) {
	case OP_RECORD:
		if (archive_get(a, seq, &b, &sig, &e) < 0 ||
		    archive_record_parse(b.data, b.len, &r, &e) < 0)
			die("GetRecord", &e);
		archive_record_free(&r);
		break;
	case OP_BUNDLE:
		if (archive_export_bundle(a, seq, &b, &e) < 0)
			die("GetBundle", &e);
		break;
	case OP_PROOF:
		if (archive_consistency_proof(a, seq + 1, &size, &b, &e) < 0)
			die("GetConsistencyProof", &e);
		break;
	}
	smk_buf_free(&b);
	smk_buf_free(&sig);
}

/* Median microseconds of reps calls, after one warm-up. */
static double median_us(archive *a, enum op op, uint64_t seq, unsigned reps)
{
	double *t = calloc(reps, sizeof(double)), m;
	unsigned i;

	if (!t)
		die("out of memory", NULL);
	run_op(a, op, seq);
	for (i = 0; i < reps; i++) {
		double t0 = now_us();

		run_op(a, op, seq);
		t[i] = now_us() - t0;
	}
	qsort(t, reps, sizeof(double), cmp_double);
	m = t[reps / 2];
	free(t);
	return m;
}

/* Does the file hold the max-keys index yet (read before archive_open,
 * which creates it)? */
static int has_policy_index(const char *path)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int yes = 0;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE name = 'intents_policy_kind'",
			       -1, &st, NULL) == SQLITE_OK)
		yes = sqlite3_step(st) == SQLITE_ROW;
	sqlite3_finalize(st);
	sqlite3_close(db);
	return yes;
}

/* Median microseconds of archive_pending with one intent open, made and
 * rolled back in one transaction; it must list exactly that intent. */
static double pending_one_open_us(archive *a, unsigned reps)
{
	static const char doc[] = "{}";
	archive_intent_req ir;
	archive_intent_info info, *list = NULL;
	double *t = calloc(reps, sizeof(double)), m;
	size_t n = 0;
	unsigned i;
	smk_err e;

	if (!t)
		die("out of memory", NULL);
	memset(&ir, 0, sizeof(ir));
	ir.kind = ARCHIVE_KIND_KEY;
	ir.peer.uid = 1000;
	ir.peer.gid = 1000;
	ir.peer.pid = 4242;
	ir.peer.exe = "/usr/bin/smkey";
	ir.policy_name = "measure-scale";
	ir.policy_doc = (const uint8_t *)doc;
	ir.policy_doc_len = sizeof(doc) - 1;
	ir.device_serial = "ZZSIM00001";
	ir.devaut_chr = "ZZSIM0000100000";
	ir.key_id = 2;
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK)
		die("begin", NULL);
	if (archive_intent(a, &ir, &info, &e) < 0)
		die("intent", &e);
	for (i = 0; i <= reps; i++) {
		double t0 = now_us();

		if (archive_pending(a, &list, &n, &e) < 0)
			die("pending", &e);
		if (i > 0) /* the first is the warm-up */
			t[i - 1] = now_us() - t0;
		if (n != 1 || strcmp(list[0].request_id, info.request_id) != 0)
			die("pending: not the one open intent", NULL);
		free(list);
	}
	if (sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL) != SQLITE_OK)
		die("rollback", NULL);
	qsort(t, reps, sizeof(double), cmp_double);
	m = t[reps / 2];
	free(t);
	return m;
}

int main(int argc, char **argv)
{
	archive_intent_info *pending = NULL;
	smk_buf note = SMK_BUF_INIT;
	uint8_t root[32];
	uint64_t size = 0, covered = 0, seqs[2];
	unsigned reps = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200, k;
	size_t npending;
	double t0, t1, c0, c1;
	long rss0, rss1;
	int cur = 0, hi = 0, had_index;
	archive *a;
	smk_err e;

	if (argc < 2 || reps < 1) {
		fprintf(stderr, "usage: measure_scale ARCHIVE [REPS]\n");
		return 2;
	}
	had_index = has_policy_index(argv[1]);
	rss0 = rss_kib();
	t0 = now_us();
	c0 = cpu_us();
	if (archive_open(argv[1], 0, &a, &e) < 0)
		die("open", &e);
	if (archive_size(a, &size, &e) < 0 ||
	    archive_latest_checkpoint(a, &note, &covered, &e) < 0 ||
	    archive_pending(a, &pending, &npending, &e) < 0 ||
	    archive_tree_root(a, covered, root, &e) < 0)
		die("start", &e);
	c1 = cpu_us();
	t1 = now_us();
	rss1 = rss_kib();
	sqlite3_db_status(a->db, SQLITE_DBSTATUS_CACHE_MISS, &cur, &hi, 0);
	free(pending);
	smk_buf_free(&note);
	printf("{\"archive\":\"%s\",\"records\":%" PRIu64 ",\"tree_built_at_open\":%" PRIu64
	       ",\"index_built_at_open\":%s,\"open_ms\":%.3f,\"open_cpu_ms\":%.3f,"
	       "\"open_pages_read\":%d,\"rss_kib_before_open\":%ld,\"rss_kib_after_open\":%ld",
	       argv[1], size, archive_tree_built(a), had_index ? "false" : "true", (t1 - t0) / 1e3,
	       (c1 - c0) / 1e3, cur, rss0, rss1);
	printf(",\"pending_one_open_us\":%.1f", pending_one_open_us(a, reps));
	seqs[0] = 1;
	seqs[1] = covered - 1;
	for (k = 0; k < 2; k++)
		printf(",\"%s\":{\"seq\":%" PRIu64 ",\"get_record_us\":%.1f,\"get_bundle_us\":%.1f,"
		       "\"get_consistency_proof_us\":%.1f}",
		       k ? "newest" : "oldest", seqs[k], median_us(a, OP_RECORD, seqs[k], reps),
		       median_us(a, OP_BUNDLE, seqs[k], reps),
		       median_us(a, OP_PROOF, seqs[k], reps));
	printf("}\n");
	archive_close(a);
	return 0;
}
