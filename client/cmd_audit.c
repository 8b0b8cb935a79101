/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey audit ARCHIVE [--trust DIR] [--log VKEY]... [--since CHECKPOINT]
 *                   [--report FILE [--force]] [--jobs N] [--stats]
 *
 * For the auditor: opens the archive read-only and checks every record's
 * signature, the hash chain (gaps = deleted rows), the Merkle tree against
 * every stored checkpoint, consistency with an earlier checkpoint file, and
 * lists intents that never got an outcome. With --trust every device chain
 * and CV-REQ is verified too. Adopted keys are listed as such (no policy),
 * certificate records with their certificate, checked against the key
 * record they name; the record count is split by kind. The report names
 * the log's verifier key; with --log (repeatable) the archive's log must be
 * one of those pinned, else that is a problem. Records are verified on
 * --jobs threads (default: one per online CPU); the report is the same for
 * any number. --stats adds the signature verifications made, by algorithm
 * and curve. Exit 0 when
 * everything holds, 1 when something does not, 2 on usage or unreadable
 * input.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "archive/verify.h"
#include "common/show.h"
#include "common/file.h"
#include "smkey.h"

#define NOTE_MAX 4096
#define JOBS_MAX 256

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smkey audit ARCHIVE [--trust DIR] [--log VKEY]... [--since CHECKPOINT]\n"
		"                   [--report FILE [--force]] [--jobs N] [--stats]\n"
		"  check every record (generated, adopted, certificate), the hash chain,\n"
		"  the log and its checkpoints;\n"
		"  --log: a pinned verifier key (smkey log-key); the archive's log must be\n"
		"  one of them\n"
		"  --since: a checkpoint kept earlier (smkey export ARCHIVE --checkpoint);\n"
		"  --report: a new file (never through a symbolic link; an existing file\n"
		"  is replaced only with --force);\n"
		"  --jobs: threads that verify records (1..%d, default: the online CPUs);\n"
		"  --stats: add the signature verifications made, by algorithm and curve\n",
		JOBS_MAX);
}

/* The online CPUs, the default number of threads. */
static unsigned default_jobs(void)
{
	long n = sysconf(_SC_NPROCESSORS_ONLN);

	return n < 1 ? 1 : n > JOBS_MAX ? JOBS_MAX : (unsigned)n;
}

static int parse_jobs(const char *s, unsigned *jobs)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno || end == s || *end || v < 1 || v > JOBS_MAX)
		return -1;
	*jobs = (unsigned)v;
	return 0;
}

static int read_note(const char *path, smk_buf *out)
{
	FILE *f = fopen(path, "rb");
	uint8_t buf[NOTE_MAX + 1];
	size_t n;

	if (!f)
		return -1;
	n = fread(buf, 1, sizeof(buf), f);
	fclose(f);
	if (n == 0 || n > NOTE_MAX)
		return -1;
	return smk_buf_add(out, buf, n);
}

int cmd_audit(int argc, char **argv)
{
	const char *path = NULL, *trust_dir = NULL, *since = NULL, *report = NULL;
	trust_store trust = TRUST_STORE_INIT;
	archive_audit_opts o;
	archive_logpins pins = ARCHIVE_LOGPINS_INIT;
	smk_buf note = SMK_BUF_INIT;
	unsigned problems = 0;
	archive *a = NULL;
	smk_outfile rep = {NULL, NULL, NULL, 0};
	FILE *out = stdout;
	smk_err e;
	int i, rc = 2, force = 0, stats = 0;
	unsigned jobs = default_jobs();

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--trust") == 0 && i + 1 < argc)
			trust_dir = argv[++i];
		else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
			if (archive_logpins_add(&pins, argv[++i], "--log", &e) < 0) {
				fprintf(stderr, "smkey audit: %s\n", smk_show(e.msg));
				archive_logpins_free(&pins);
				return 2;
			}
		} else if (strcmp(argv[i], "--since") == 0 && i + 1 < argc)
			since = argv[++i];
		else if (strcmp(argv[i], "--report") == 0 && i + 1 < argc)
			report = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (strcmp(argv[i], "--stats") == 0)
			stats = 1;
		else if (strcmp(argv[i], "--jobs") == 0 && i + 1 < argc) {
			if (parse_jobs(argv[++i], &jobs) < 0) {
				fprintf(stderr,
					"smkey audit: --jobs %s: not a number from 1 to %d\n",
					smk_show(argv[i]), JOBS_MAX);
				archive_logpins_free(&pins);
				return 2;
			}
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			archive_logpins_free(&pins);
			return 0;
		} else if (argv[i][0] != '-' && !path)
			path = argv[i];
		else {
			usage(stderr);
			archive_logpins_free(&pins);
			return 2;
		}
	}
	if (!path) {
		usage(stderr);
		archive_logpins_free(&pins);
		return 2;
	}
	memset(&o, 0, sizeof(o));
	o.path = path;
	o.pins = &pins;
	o.jobs = jobs;
	o.stats = stats;
	if (trust_dir) {
		if (trust_load_dir(&trust, trust_dir, &e) < 0) {
			fprintf(stderr, "smkey audit: trust anchors %s: %s\n", trust_dir,
				smk_show(e.msg));
			archive_logpins_free(&pins);
			return 2;
		}
		o.trust = &trust;
	}
	if (since) {
		if (read_note(since, &note) < 0) {
			fprintf(stderr, "smkey audit: cannot read checkpoint %s\n", since);
			goto out;
		}
		o.since = note.data;
		o.since_len = note.len;
		o.since_name = since;
	}
	if (archive_open(path, ARCHIVE_OPEN_READONLY, &a, &e) < 0) {
		fprintf(stderr, "smkey audit: %s\n", smk_show(e.msg));
		goto out;
	}
	if (report) {
		if (smk_outfile_open(&rep, report, force ? SMK_OUT_FORCE : 0, &e) < 0) {
			fprintf(stderr, "smkey audit: report: %s\n", smk_show(e.msg));
			goto out;
		}
		out = rep.f;
	}
	smkey_warn_test_roots(out, o.trust);
	if (report)
		smkey_warn_test_roots(stdout, o.trust);
	if (archive_audit(a, &o, out, &problems, &e) < 0) {
		fprintf(stderr, "smkey audit: %s\n", smk_show(e.msg));
		goto out;
	}
	if (report && smk_outfile_commit(&rep, &e) < 0) {
		fprintf(stderr, "smkey audit: report: %s\n", smk_show(e.msg));
		goto out;
	}
	rc = problems ? 1 : 0;
	if (report)
		printf("smkey audit: %s: %s (%u problem%s), report in %s\n", path,
		       problems ? "FAILED" : "all checks hold", problems, problems == 1 ? "" : "s",
		       report);
out:
	smk_outfile_abort(&rep);
	archive_close(a);
	trust_free(&trust);
	archive_logpins_free(&pins);
	smk_buf_free(&note);
	return rc;
}
