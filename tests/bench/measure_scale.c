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
 *           checkpoint: the tree state ready; wall time and VmRSS after
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

int main(int argc, char **argv)
{
	archive_intent_info *pending = NULL;
	smk_buf note = SMK_BUF_INIT;
	uint8_t root[32];
	uint64_t size = 0, covered = 0, seqs[2];
	unsigned reps = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 200, k;
	size_t npending;
	double t0, t1;
	long rss0, rss1;
	archive *a;
	smk_err e;

	if (argc < 2 || reps < 1) {
		fprintf(stderr, "usage: measure_scale ARCHIVE [REPS]\n");
		return 2;
	}
	rss0 = rss_kib();
	t0 = now_us();
	if (archive_open(argv[1], 0, &a, &e) < 0)
		die("open", &e);
	if (archive_size(a, &size, &e) < 0 ||
	    archive_latest_checkpoint(a, &note, &covered, &e) < 0 ||
	    archive_pending(a, &pending, &npending, &e) < 0 ||
	    archive_tree_root(a, covered, root, &e) < 0)
		die("start", &e);
	t1 = now_us();
	rss1 = rss_kib();
	free(pending);
	smk_buf_free(&note);
	printf("{\"archive\":\"%s\",\"records\":%" PRIu64 ",\"tree_built_at_open\":%" PRIu64
	       ",\"open_ms\":%.3f,\"rss_kib_before_open\":%ld,\"rss_kib_after_open\":%ld",
	       argv[1], size, archive_tree_built(a), (t1 - t0) / 1e3, rss0, rss1);
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
