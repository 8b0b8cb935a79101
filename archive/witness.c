/* SPDX-License-Identifier: BSD-3-Clause */
/* Witness cosignatures and push outcomes in the archive (witness.h). */
#include "witness.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "../common/show.h"
#include "checkpoint.h"
#include "internal.h"

static const char witness_schema[] =
    "CREATE TABLE IF NOT EXISTS cosignatures("
    " size INTEGER NOT NULL REFERENCES checkpoints(size),"
    " witness TEXT NOT NULL,"
    " key_id BLOB NOT NULL,"
    " time INTEGER NOT NULL,"
    " received INTEGER NOT NULL,"
    " line TEXT NOT NULL,"
    " PRIMARY KEY(size, witness, key_id));"
    "CREATE TABLE IF NOT EXISTS witness_events("
    " id INTEGER PRIMARY KEY,"
    " time INTEGER NOT NULL,"
    " witness TEXT NOT NULL,"
    " size INTEGER NOT NULL,"
    " outcome TEXT NOT NULL CHECK(outcome IN ('cosigned', 'unreachable', 'conflict',"
    "  'inconsistent', 'rejected', 'bad-cosignature')),"
    " witness_size INTEGER,"
    " detail TEXT NOT NULL);"
    "CREATE TRIGGER IF NOT EXISTS cosignatures_no_update BEFORE UPDATE ON cosignatures"
    " BEGIN SELECT RAISE(ABORT, 'archive cosignatures are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS cosignatures_no_delete BEFORE DELETE ON cosignatures"
    " BEGIN SELECT RAISE(ABORT, 'archive cosignatures are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS witness_events_no_update BEFORE UPDATE ON witness_events"
    " BEGIN SELECT RAISE(ABORT, 'archive witness events are append-only'); END;"
    "CREATE TRIGGER IF NOT EXISTS witness_events_no_delete BEFORE DELETE ON witness_events"
    " BEGIN SELECT RAISE(ABORT, 'archive witness events are append-only'); END;";

static const char *const outcomes[] = {"cosigned", "unreachable",     "conflict", "inconsistent",
				       "rejected", "bad-cosignature", NULL};

/* The index of s in outcomes[], or -1. */
static int outcome_find(const char *s)
{
	int i;

	for (i = 0; outcomes[i]; i++)
		if (strcmp(outcomes[i], s) == 0)
			return i;
	return -1;
}

int archive_witness_outcome_valid(const char *s)
{
	return outcome_find(s) >= 0;
}

int archive_witness_schema(archive *a, smk_err *e)
{
	if (sqlite3_exec(a->db, witness_schema, NULL, NULL, NULL) != SQLITE_OK)
		return archive_db_fail(a, "create the witness tables", e);
	return 0;
}

/* An archive older than the witness tables, opened read-only, has none. */
static int has_tables(archive *a, int *yes, smk_err *e)
{
	int cosigs, events;

	if (archive_db_has_table(a, "cosignatures", &cosigs, e) < 0 ||
	    archive_db_has_table(a, "witness_events", &events, e) < 0)
		return -1;
	*yes = cosigs && events;
	return 0;
}

int archive_checkpoint_at(archive *a, uint64_t size, smk_buf *note, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	if (archive_db_prepare_int(a, "SELECT note FROM checkpoints WHERE size = ?", (int64_t)size,
				   &st, e) < 0)
		return -1;
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW)
		rc = archive_db_blob(st, 0, note, e);
	else if (rc == SQLITE_DONE)
		rc = smk_fail(e, SMK_E_ARG, "archive: no checkpoint of tree size %" PRIu64, size);
	else
		rc = archive_db_fail(a, "read checkpoint", e);
	sqlite3_finalize(st);
	return rc;
}

static void bind_event(sqlite3_stmt *st, const void *arg)
{
	const archive_witness_event *ev = arg;

	sqlite3_bind_int64(st, 1, ev->time);
	sqlite3_bind_text(st, 2, ev->witness, -1, SQLITE_STATIC);
	sqlite3_bind_int64(st, 3, (sqlite3_int64)ev->size);
	sqlite3_bind_text(st, 4, ev->outcome, -1, SQLITE_STATIC);
	if (ev->witness_size >= 0)
		sqlite3_bind_int64(st, 5, ev->witness_size);
	else
		sqlite3_bind_null(st, 5);
	sqlite3_bind_text(st, 6, ev->detail, -1, SQLITE_STATIC);
}

static int insert_event(archive *a, const archive_witness_event *ev, smk_err *e)
{
	return archive_db_insert(a,
				 "INSERT INTO witness_events(time, witness, size, outcome,"
				 " witness_size, detail) VALUES(?, ?, ?, ?, ?, ?)",
				 "record a witness event", e, bind_event, ev);
}

int archive_witness_record(archive *a, const archive_witness_event *ev, smk_err *e)
{
	if (!archive_witness_outcome_valid(ev->outcome))
		return smk_fail(e, SMK_E_ARG, "witness event: unknown outcome");
	return insert_event(a, ev, e);
}

/* A cosignature row: the checkpoint size, the parsed line and the line. */
struct cosig_insert {
	uint64_t size;
	const cosig *c;
	const char *line;
	int64_t now;
};

static void bind_cosig(sqlite3_stmt *st, const void *arg)
{
	const struct cosig_insert *r = arg;

	sqlite3_bind_int64(st, 1, (sqlite3_int64)r->size);
	sqlite3_bind_text(st, 2, r->c->name, -1, SQLITE_STATIC);
	sqlite3_bind_blob(st, 3, r->c->key_id, 4, SQLITE_STATIC);
	sqlite3_bind_int64(st, 4, (sqlite3_int64)r->c->time);
	sqlite3_bind_int64(st, 5, r->now);
	sqlite3_bind_text(st, 6, r->line, -1, SQLITE_STATIC);
}

static int insert_cosig(archive *a, uint64_t size, const cosig *c, const char *line, int64_t now,
			int *added, smk_err *e)
{
	const struct cosig_insert r = {size, c, line, now};

	/* the first cosignature a witness gave for a size is the one kept */
	if (archive_db_insert(a,
			      "INSERT OR IGNORE INTO cosignatures(size, witness, key_id, time,"
			      " received, line) VALUES(?, ?, ?, ?, ?, ?)",
			      "store a cosignature", e, bind_cosig, &r) < 0)
		return -1;
	*added = sqlite3_changes(a->db) > 0;
	return 0;
}

int archive_add_cosignatures(archive *a, uint64_t size, const cosig_key *keys, size_t nkeys,
			     const char *const *lines, size_t n, int64_t now,
			     archive_cosig_outcome *out, size_t *stored, smk_err *e)
{
	smk_buf note = SMK_BUF_INIT;
	size_t text_len, sigs_at, i, k;
	int rc = -1;

	*stored = 0;
	if (a->readonly)
		return smk_fail(e, SMK_E_ARG, "archive: opened read-only");
	if (archive_checkpoint_at(a, size, &note, e) < 0)
		return -1;
	if (cosig_note_split(note.data, note.len, &text_len, &sigs_at, e) < 0)
		goto out;
	if (sqlite3_exec(a->db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
		archive_db_fail(a, "begin", e);
		goto out;
	}
	for (i = 0; i < n; i++) {
		archive_witness_event ev;
		smk_err le;
		cosig c;
		const cosig_key *key = NULL;
		int added = 0;

		memset(&out[i], 0, sizeof(out[i]));
		memset(&ev, 0, sizeof(ev));
		ev.time = now;
		ev.size = size;
		ev.witness_size = -1;
		if (cosig_parse_line((const uint8_t *)lines[i], strlen(lines[i]), &c, &le) == 0) {
			snprintf(ev.witness, sizeof(ev.witness), "%s", c.name);
			for (k = 0; k < nkeys && !key; k++)
				if (cosig_by(&c, &keys[k]))
					key = &keys[k];
			if (!key)
				smk_fail(&le, SMK_E_TRUST,
					 "cosignature by %s (key ID %02x%02x%02x%02x): no such "
					 "witness key in the configuration",
					 c.name, c.key_id[0], c.key_id[1], c.key_id[2],
					 c.key_id[3]);
		} else {
			/* the name, when the line got that far */
			snprintf(ev.witness, sizeof(ev.witness), "%s",
				 c.name[0] ? c.name : "(unparsed)");
		}
		if (key && cosig_verify(&c, key, note.data, text_len, now + 3600, &le) == 0) {
			if (insert_cosig(a, size, &c, lines[i], now, &added, e) < 0)
				goto rollback;
			out[i].stored = 1;
			(*stored)++;
			if (!added)
				continue; /* a second push of the same size: kept the first */
			ev.outcome = "cosigned";
			snprintf(ev.detail, sizeof(ev.detail),
				 "cosignature of tree size %" PRIu64 ", timestamp %" PRIu64
				 " verified and stored",
				 size, c.time);
		} else {
			ev.outcome = "bad-cosignature";
			snprintf(out[i].why, sizeof(out[i].why), "signature line %zu: %s", i + 1,
				 le.msg);
			snprintf(ev.detail, sizeof(ev.detail), "not stored: %s", le.msg);
		}
		if (insert_event(a, &ev, e) < 0)
			goto rollback;
	}
	if (sqlite3_exec(a->db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
		archive_db_fail(a, "commit cosignatures", e);
		goto rollback;
	}
	rc = 0;
	goto out;
rollback:
	sqlite3_exec(a->db, "ROLLBACK", NULL, NULL, NULL);
	*stored = 0;
out:
	smk_buf_free(&note);
	if (rc < 0)
		smk_context(e, "cosignatures for checkpoint %" PRIu64, size);
	return rc;
}

static void column_text(sqlite3_stmt *st, int col, char *out, size_t cap)
{
	const unsigned char *s = sqlite3_column_text(st, col);

	snprintf(out, cap, "%s", s ? (const char *)s : "");
}

/* Each row of sql over the witness tables to row(), until it returns
 * non-zero; an archive without the tables has no rows. what names the
 * query in an error. */
static int each_row(archive *a, const char *sql, const char *what,
		    int (*row)(sqlite3_stmt *st, void *ctx), void *ctx, smk_err *e)
{
	sqlite3_stmt *st;
	int yes, rc;

	if (has_tables(a, &yes, e) < 0)
		return -1;
	if (!yes)
		return 0;
	if (archive_db_prepare(a, sql, &st, e) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		if (row(st, ctx))
			break;
	sqlite3_finalize(st);
	if (rc != SQLITE_ROW && rc != SQLITE_DONE)
		return archive_db_fail(a, what, e);
	return 0;
}

/* A caller's function for each row of a query, and its context. */
struct visit {
	union {
		int (*event)(const archive_witness_event *ev, void *ctx);
		int (*cosig)(const archive_cosig_row *r, void *ctx);
	} fn;
	void *ctx;
};

static int event_row(sqlite3_stmt *st, void *ctx)
{
	const struct visit *v = ctx;
	archive_witness_event ev;
	char outcome[32];
	int i;

	memset(&ev, 0, sizeof(ev));
	ev.time = sqlite3_column_int64(st, 0);
	column_text(st, 1, ev.witness, sizeof(ev.witness));
	ev.size = (uint64_t)sqlite3_column_int64(st, 2);
	column_text(st, 3, outcome, sizeof(outcome));
	/* the stored name, as one of ours (the CHECK allows no other) */
	i = outcome_find(outcome);
	ev.outcome = i >= 0 ? outcomes[i] : "rejected";
	ev.witness_size =
	    sqlite3_column_type(st, 4) == SQLITE_NULL ? -1 : sqlite3_column_int64(st, 4);
	column_text(st, 5, ev.detail, sizeof(ev.detail));
	return v->fn.event(&ev, v->ctx);
}

int archive_witness_events(archive *a, int (*fn)(const archive_witness_event *ev, void *ctx),
			   void *ctx, smk_err *e)
{
	struct visit v = {.fn.event = fn, .ctx = ctx};

	return each_row(a,
			"SELECT time, witness, size, outcome, witness_size, detail"
			" FROM witness_events ORDER BY id",
			"read witness events", event_row, &v, e);
}

static int cosig_row(sqlite3_stmt *st, void *ctx)
{
	const struct visit *v = ctx;
	archive_cosig_row r;

	memset(&r, 0, sizeof(r));
	r.size = (uint64_t)sqlite3_column_int64(st, 0);
	column_text(st, 1, r.witness, sizeof(r.witness));
	r.time = sqlite3_column_int64(st, 2);
	r.received = sqlite3_column_int64(st, 3);
	return v->fn.cosig(&r, v->ctx);
}

int archive_witness_cosigs(archive *a, int (*fn)(const archive_cosig_row *r, void *ctx), void *ctx,
			   smk_err *e)
{
	struct visit v = {.fn.cosig = fn, .ctx = ctx};

	return each_row(a,
			"SELECT size, witness, time, received FROM cosignatures"
			" ORDER BY size, witness",
			"read cosignatures", cosig_row, &v, e);
}

int archive_bundle_checkpoint(archive *a, uint64_t seq, smk_buf *note, uint64_t *size, smk_err *e)
{
	sqlite3_stmt *st;
	int64_t best = -1;
	int yes, rc;

	if (has_tables(a, &yes, e) < 0)
		return -1;
	if (yes) {
		if (archive_db_prepare_int(
			a,
			"SELECT size FROM cosignatures WHERE size > ? GROUP BY size"
			" ORDER BY COUNT(*) DESC, size DESC LIMIT 1",
			(int64_t)seq, &st, e) < 0)
			return -1;
		rc = sqlite3_step(st);
		if (rc == SQLITE_ROW)
			best = sqlite3_column_int64(st, 0);
		sqlite3_finalize(st);
		if (rc != SQLITE_ROW && rc != SQLITE_DONE)
			return archive_db_fail(a, "choose a cosigned checkpoint", e);
	}
	if (best < 0)
		return archive_latest_checkpoint(a, note, size, e);
	*size = (uint64_t)best;
	if (archive_checkpoint_at(a, *size, note, e) < 0)
		return -1;
	if (archive_db_prepare_int(a,
				   "SELECT line FROM cosignatures WHERE size = ? ORDER BY witness",
				   best, &st, e) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		const unsigned char *line = sqlite3_column_text(st, 0);
		size_t n = (size_t)sqlite3_column_bytes(st, 0);

		/* a signed note may carry several signatures; verifiers that do
		 * not know a witness ignore its line */
		if (!line || note->len + n + 1 > ARCHIVE_NOTE_MAX)
			continue;
		if (smk_buf_add(note, line, n) < 0 || smk_buf_add_byte(note, '\n') < 0) {
			sqlite3_finalize(st);
			return smk_fail(e, SMK_E_NOMEM, "archive: out of memory");
		}
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE)
		return archive_db_fail(a, "read cosignatures", e);
	return 0;
}

/* ---- smkey audit ---- */

#define AUDIT_WITNESSES 64
#define AUDIT_RECENT 20

struct witness_tally {
	char name[COSIG_NAME_MAX + 1];
	uint64_t cosigs, last_size;
	int64_t last_time;
	uint64_t by_outcome[8]; /* indexed like outcomes[] */
};

struct audit_ctx {
	FILE *out;
	unsigned *problems;
	struct witness_tally w[AUDIT_WITNESSES];
	size_t nw;
	uint64_t events, failures, skip; /* skip: failures before the last AUDIT_RECENT */
	uint64_t seen_failures;
};

static struct witness_tally *tally(struct audit_ctx *x, const char *name)
{
	size_t i;

	for (i = 0; i < x->nw; i++)
		if (strcmp(x->w[i].name, name) == 0)
			return &x->w[i];
	if (x->nw == AUDIT_WITNESSES)
		return NULL;
	snprintf(x->w[x->nw].name, sizeof(x->w[x->nw].name), "%s", name);
	return &x->w[x->nw++];
}

static void when(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%SZ", &tm))
		snprintf(buf, cap, "%" PRId64, t);
}

static int count_cosig(const archive_cosig_row *r, void *ctx)
{
	struct audit_ctx *x = ctx;
	struct witness_tally *t = tally(x, r->witness);

	if (t) {
		t->cosigs++;
		if (r->size >= t->last_size) {
			t->last_size = r->size;
			t->last_time = r->time;
		}
	}
	return 0;
}

static size_t outcome_index(const char *o)
{
	int i = outcome_find(o);

	return i >= 0 ? (size_t)i : 4; /* rejected */
}

static int count_event(const archive_witness_event *ev, void *ctx)
{
	struct audit_ctx *x = ctx;
	struct witness_tally *t = tally(x, ev->witness);

	x->events++;
	if (t)
		t->by_outcome[outcome_index(ev->outcome)]++;
	if (strcmp(ev->outcome, "cosigned") != 0)
		x->failures++;
	return 0;
}

static int show_event(const archive_witness_event *ev, void *ctx)
{
	struct audit_ctx *x = ctx;
	int inconsistent = strcmp(ev->outcome, "inconsistent") == 0;
	char t[32], ws[48] = "";

	if (strcmp(ev->outcome, "cosigned") == 0)
		return 0;
	x->seen_failures++;
	/* every refusal of a split view is shown; other failures, the latest */
	if (!inconsistent && x->seen_failures <= x->skip)
		return 0;
	when(ev->time, t, sizeof(t));
	if (ev->witness_size >= 0)
		snprintf(ws, sizeof(ws), " (witness at size %" PRId64 ")", ev->witness_size);
	if (inconsistent) {
		(*x->problems)++;
		fprintf(x->out,
			"  PROBLEM: %s witness %s refused checkpoint %" PRIu64
			"%s: split view or rollback: %s\n",
			t, smk_show(ev->witness), ev->size, ws, smk_show(ev->detail));
	} else {
		fprintf(x->out, "  %s  witness %s, checkpoint %" PRIu64 ": %s%s: %s\n", t,
			smk_show(ev->witness), ev->size, ev->outcome, ws, smk_show(ev->detail));
	}
	return 0;
}

int archive_witness_audit(archive *a, FILE *out, unsigned *problems, smk_err *e)
{
	struct audit_ctx *x = calloc(1, sizeof(*x));
	size_t i, k;
	int rc = -1;

	if (!x)
		return smk_fail(e, SMK_E_NOMEM, "audit: out of memory");
	x->out = out;
	x->problems = problems;
	fprintf(out, "\nWitnesses\n");
	if (archive_witness_cosigs(a, count_cosig, x, e) < 0 ||
	    archive_witness_events(a, count_event, x, e) < 0)
		goto out;
	if (x->nw == 0) {
		fprintf(out, "  no cosignatures and no witness pushes recorded\n");
		rc = 0;
		goto out;
	}
	for (i = 0; i < x->nw; i++) {
		struct witness_tally *t = &x->w[i];
		char when_s[32] = "-";

		if (t->cosigs)
			when(t->last_time, when_s, sizeof(when_s));
		fprintf(out, "  witness %s: %" PRIu64 " cosignature%s stored", smk_show(t->name),
			t->cosigs, t->cosigs == 1 ? "" : "s");
		if (t->cosigs)
			fprintf(out, ", latest on checkpoint %" PRIu64 " at %s", t->last_size,
				when_s);
		for (k = 1; outcomes[k]; k++)
			if (t->by_outcome[k])
				fprintf(out, "; %" PRIu64 " %s", t->by_outcome[k], outcomes[k]);
		fputc('\n', out);
	}
	if (x->failures) {
		x->skip = x->failures > AUDIT_RECENT ? x->failures - AUDIT_RECENT : 0;
		fprintf(out, "  pushes without a cosignature (%s):\n",
			x->skip ? "the latest 20, and every refusal" : "all");
		if (archive_witness_events(a, show_event, x, e) < 0)
			goto out;
	}
	rc = 0;
out:
	free(x);
	return rc;
}
