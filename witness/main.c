/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkeyd-witness: pushes smkeyd's latest checkpoint to the configured
 * witnesses (c2sp.org/tlog-witness add-checkpoint) and hands what they
 * answer back to smkeyd. One pass per run (smkeyd-witness.timer starts it).
 *
 * smkeyd itself has no network (PrivateNetwork=yes) and stays the only
 * writer of the archive: this program talks to it over its varlink socket
 * only (GetCheckpoint, GetConsistencyProof, AddCosignatures,
 * ReportWitnessPush), and to the witnesses over HTTP(S) with libcurl.
 * smkeyd checks every cosignature itself; nothing here is trusted.
 *
 * Per witness (docs/daemon.md "Witnesses"):
 *   old = the size this witness last cosigned for us (state file: size and
 *         root; the same size and root again is not pushed), else 0
 *   POST <url>/add-checkpoint   "old <old>\n" <proof lines> "\n" <checkpoint>
 *   200  cosignature lines -> AddCosignatures
 *   409  the witness's size: recorded as conflict; if it is below ours,
 *        sent once more with the proof from it; above ours (or at ours
 *        with another root) the log was rolled back or forked: inconsistent
 *   422  the witness refused the consistency proof: inconsistent
 *   other status: rejected; no answer in time or no connection: unreachable
 *
 * Exit status: 0 every witness cosigned the checkpoint, 1 some did not
 * (each outcome is in the archive and the log), 2 usage or configuration,
 * 3 smkeyd could not be asked.
 */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "client/varlink_client.h"
#include "common/show.h"
#include "daemon/config.h"

#define RESPONSE_MAX (64 * 1024) /* a few signature lines; anything larger is not an answer */
#define PROOF_MAX 63		 /* tlog-witness: at most 63 consistency proof lines */

static const char *prog = "smkeyd-witness";

typedef struct pusher {
	const config *cfg;
	vlc conn;
	const char *state_dir; /* NULL: no state kept */
	long timeout_ms;
	int verbose;
} pusher;

static void usage(FILE *f)
{
	fprintf(f,
		"usage: smkeyd-witness [--config FILE] [--socket PATH] [--state DIR]\n"
		"                      [--timeout SECONDS] [--verbose]\n"
		"  push smkeyd's latest checkpoint to the witnesses in the configuration\n"
		"  (default %s) and hand their cosignatures to smkeyd\n",
		CONFIG_DEFAULT_PATH);
}

/* One call on the open connection: 0 with *msg (caller frees) and *params,
 * -1 with the error in e (a varlink error is named with its reason). */
static int call(pusher *p, const char *method, json_t *params, json_t **msg, json_t **out,
		smk_err *e)
{
	varlink_reply r;
	char full[64];
	int rc;

	*msg = NULL;
	snprintf(full, sizeof(full), "io.smkeyd.%s", method);
	if (vlc_send(&p->conn, full, params, 0, e) < 0)
		return -1;
	rc = vlc_recv(&p->conn, 60000, msg, &r, e);
	if (rc == 0)
		return smk_fail(e, SMK_E_TIMEOUT, "smkeyd did not answer %s in 60 s", method);
	if (rc < 0)
		return -1;
	if (r.error) {
		char *dump = json_dumps(r.params, JSON_COMPACT);

		smk_fail(e, SMK_E_IO, "%s: %s %s", method, r.error, dump ? dump : "");
		free(dump);
		json_decref(*msg);
		*msg = NULL;
		return -1;
	}
	*out = r.params;
	return 0;
}

/* ---- state: the size each witness last cosigned, one small file each ---- */

static void state_path(const pusher *p, const config_witness *w, char *out, size_t cap)
{
	snprintf(out, cap, "%s/%02x%02x%02x%02x.size", p->state_dir, w->key.key_id[0],
		 w->key.key_id[1], w->key.key_id[2], w->key.key_id[3]);
}

/* "<size> <base64 root>\n": what the witness last cosigned (root "-" when
 * only its size is known, from a 409). */
static uint64_t state_get(const pusher *p, const config_witness *w, char root[64])
{
	char path[4096], line[128], r[64] = "-";
	unsigned long long v = 0;
	FILE *f;

	root[0] = '\0';
	if (!p->state_dir)
		return 0;
	state_path(p, w, path, sizeof(path));
	f = fopen(path, "r");
	if (!f)
		return 0;
	if (!fgets(line, sizeof(line), f) || sscanf(line, "%llu %63s", &v, r) < 1)
		v = 0;
	fclose(f);
	snprintf(root, 64, "%s", r);
	return (uint64_t)v;
}

static void state_put(const pusher *p, const config_witness *w, uint64_t size, const char *root)
{
	char path[4096], tmp[4200];
	FILE *f;

	if (!p->state_dir)
		return;
	state_path(p, w, path, sizeof(path));
	snprintf(tmp, sizeof(tmp), "%s.new", path);
	f = fopen(tmp, "w");
	if (!f || fprintf(f, "%" PRIu64 " %s\n", size, root && root[0] ? root : "-") < 0 ||
	    fclose(f) != 0 || rename(tmp, path) != 0) {
		fprintf(stderr, "%s: cannot write %s: %s\n", prog, path, strerror(errno));
		unlink(tmp);
	}
}

/* ---- HTTP ---- */

typedef struct response {
	long status; /* 0: no HTTP answer (e.msg says why) */
	smk_buf body;
	char content_type[64];
	int too_long;
} response;

static size_t collect(char *ptr, size_t size, size_t nmemb, void *ctx)
{
	response *r = ctx;
	size_t n = size * nmemb;

	if (r->body.len + n > RESPONSE_MAX) {
		r->too_long = 1;
		return 0; /* stops the transfer */
	}
	if (smk_buf_add(&r->body, ptr, n) < 0)
		return 0;
	return n;
}

static int post(pusher *p, const config_witness *w, const smk_buf *body, response *r, smk_err *e)
{
	char url[1100], errbuf[CURL_ERROR_SIZE] = "";
	struct curl_slist *hdr = NULL;
	size_t ulen = strlen(w->url);
	const char *ct = NULL;
	CURLcode cc;
	CURL *h;

	memset(r, 0, sizeof(*r));
	snprintf(url, sizeof(url), "%s%sadd-checkpoint", w->url,
		 ulen && w->url[ulen - 1] == '/' ? "" : "/");
	h = curl_easy_init();
	if (!h)
		return smk_fail(e, SMK_E_NOMEM, "curl: cannot start a transfer");
	hdr = curl_slist_append(hdr, "Content-Type: text/plain; charset=utf-8");
	hdr = curl_slist_append(hdr, "Expect:");
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(h, CURLOPT_POST, 1L);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, (const char *)body->data);
	curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body->len);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, p->timeout_ms);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "smkeyd-witness");
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	cc = curl_easy_perform(h);
	if (cc == CURLE_OK) {
		curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
		if (curl_easy_getinfo(h, CURLINFO_CONTENT_TYPE, &ct) == CURLE_OK && ct)
			snprintf(r->content_type, sizeof(r->content_type), "%s", ct);
	} else {
		smk_fail(e, cc == CURLE_OPERATION_TIMEDOUT ? SMK_E_TIMEOUT : SMK_E_IO, "%s: %s",
			 url,
			 r->too_long ? "answer longer than 64 KiB"
			 : errbuf[0] ? errbuf
				     : curl_easy_strerror(cc));
	}
	curl_slist_free_all(hdr);
	curl_easy_cleanup(h);
	return cc == CURLE_OK ? 0 : -1;
}

/* ---- reporting to smkeyd ---- */

/* The first line of a witness's answer, printable, for a detail text. */
static void excerpt(const smk_buf *b, char *out, size_t cap)
{
	size_t i, n = 0;

	for (i = 0; i < b->len && n + 1 < cap && n < 120; i++) {
		uint8_t c = b->data[i];

		if (c == '\n')
			break;
		out[n++] = (c < 0x20 || c >= 0x7f) ? '?' : (char)c;
	}
	out[n] = '\0';
}

static void report(pusher *p, const config_witness *w, uint64_t size, const char *outcome,
		   int64_t witness_size, const char *fmt, ...)
    __attribute__((format(printf, 6, 7)));

static void report(pusher *p, const config_witness *w, uint64_t size, const char *outcome,
		   int64_t witness_size, const char *fmt, ...)
{
	char detail[500];
	json_t *params, *msg, *out;
	va_list ap;
	smk_err e;
	size_t i;

	va_start(ap, fmt);
	vsnprintf(detail, sizeof(detail), fmt, ap);
	va_end(ap);
	for (i = 0; detail[i]; i++)
		if ((unsigned char)detail[i] < 0x20 || detail[i] == 0x7f)
			detail[i] = '?';
	fprintf(stderr, "%s: witness %s, checkpoint %" PRIu64 ": %s: %s\n", prog,
		smk_show(w->key.name), size, outcome, detail);
	params = json_pack("{s:s, s:I, s:s, s:s}", "witness", w->key.name, "size", (json_int_t)size,
			   "outcome", outcome, "detail", detail);
	if (params && witness_size >= 0)
		json_object_set_new(params, "witness_size", json_integer(witness_size));
	if (!params || call(p, "ReportWitnessPush", params, &msg, &out, &e) < 0)
		fprintf(stderr, "%s: could not record it in the archive: %s\n", prog,
			params ? e.msg : "out of memory");
	else
		json_decref(msg);
	json_decref(params);
}

/* 200: the cosignature lines to smkeyd. 0 when at least one was stored. */
static int hand_in(pusher *p, const config_witness *w, uint64_t size, const response *r)
{
	static const uint8_t dash[] = {0xe2, 0x80, 0x94, ' '};
	json_t *lines = json_array(), *params, *msg, *out, *v;
	size_t pos = 0, i;
	smk_err e;
	int rc = -1;

	while (lines && pos < r->body.len) {
		const uint8_t *s = r->body.data + pos, *nl = memchr(s, '\n', r->body.len - pos);
		size_t n = nl ? (size_t)(nl - s) : r->body.len - pos;

		pos += n + 1;
		/* tlog-witness: one or more note signature lines; smkeyd checks them */
		if (n > sizeof(dash) && n <= 512 && memcmp(s, dash, sizeof(dash)) == 0 &&
		    json_array_size(lines) < 64)
			json_array_append_new(lines, json_stringn((const char *)s, n));
	}
	if (!lines || json_array_size(lines) == 0) {
		char ex[128];

		excerpt(&r->body, ex, sizeof(ex));
		report(p, w, size, "rejected", -1,
		       "HTTP 200 without a signature line (answer begins \"%s\")", ex);
		json_decref(lines);
		return -1;
	}
	params = json_pack("{s:I, s:o}", "size", (json_int_t)size, "signatures", lines);
	if (call(p, "AddCosignatures", params, &msg, &out, &e) < 0) {
		fprintf(stderr, "%s: witness %s: smkeyd did not take the cosignatures: %s\n", prog,
			smk_show(w->key.name), e.msg);
	} else {
		json_int_t stored = json_integer_value(json_object_get(out, "stored"));

		json_array_foreach(json_object_get(out, "rejected"), i, v)
		    fprintf(stderr, "%s: witness %s: smkeyd refused a cosignature: %s\n", prog,
			    smk_show(w->key.name), smk_show(json_string_value(v)));
		if (p->verbose || stored == 0)
			fprintf(stderr,
				"%s: witness %s, checkpoint %" PRIu64
				": %lld cosignature(s) stored\n",
				prog, smk_show(w->key.name), size, (long long)stored);
		rc = stored > 0 ? 0 : -1;
		json_decref(msg);
	}
	json_decref(params);
	return rc;
}

/* The request body for old -> size: "old N\n", proof lines, "\n", the note. */
static int build_body(pusher *p, uint64_t old, uint64_t size, const char *note, smk_buf *body,
		      smk_err *e)
{
	char line[40];
	json_t *params, *msg = NULL, *out, *proof, *h;
	size_t i;
	int n, rc = -1;

	smk_buf_reset(body);
	n = snprintf(line, sizeof(line), "old %" PRIu64 "\n", old);
	if (smk_buf_add(body, line, (size_t)n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	if (old > 0 && old < size) {
		params = json_pack("{s:I, s:I}", "old_size", (json_int_t)old, "new_size",
				   (json_int_t)size);
		if (call(p, "GetConsistencyProof", params, &msg, &out, e) < 0) {
			json_decref(params);
			return -1;
		}
		json_decref(params);
		proof = json_object_get(out, "proof");
		if (json_array_size(proof) > PROOF_MAX) {
			smk_fail(e, SMK_E_FORMAT, "consistency proof of %zu hashes",
				 json_array_size(proof));
			goto out;
		}
		json_array_foreach(proof, i, h)
		{
			const char *s = json_string_value(h);

			if (!s || smk_buf_add(body, s, strlen(s)) < 0 ||
			    smk_buf_add_byte(body, '\n') < 0) {
				smk_fail(e, SMK_E_FORMAT,
					 "consistency proof from smkeyd is not text");
				goto out;
			}
		}
	}
	if (smk_buf_add_byte(body, '\n') < 0 || smk_buf_add(body, note, strlen(note)) < 0) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto out;
	}
	rc = 0;
out:
	json_decref(msg);
	return rc;
}

/* A 409 body: the witness's size in decimal and a newline. */
static int conflict_size(const response *r, uint64_t *ws)
{
	uint64_t v = 0;
	size_t i, n = r->body.len;

	if (n >= 2 && r->body.data[n - 1] == '\n')
		n--;
	if (n == 0 || n > 19)
		return -1;
	for (i = 0; i < n; i++) {
		if (!isdigit(r->body.data[i]))
			return -1;
		v = v * 10 + (uint64_t)(r->body.data[i] - '0');
	}
	*ws = v;
	return 0;
}

/* One witness: 0 it cosigned size, -1 it did not (reported). */
static int push_one(pusher *p, const config_witness *w, uint64_t size, const char *root,
		    const char *note)
{
	smk_buf body = SMK_BUF_INIT;
	char old_root[64];
	uint64_t old = state_get(p, w, old_root), ws;
	response r;
	smk_err e;
	int attempt, rc = -1;

	if (old > size) {
		report(p, w, size, "inconsistent", (int64_t)old,
		       "this witness cosigned tree size %" PRIu64
		       " of this log before; the log now has %" PRIu64
		       ": it was rolled back or replaced",
		       old, size);
		return -1;
	}
	for (attempt = 0; attempt < 2; attempt++) {
		if (build_body(p, old, size, note, &body, &e) < 0) {
			fprintf(stderr, "%s: witness %s: %s\n", prog, smk_show(w->key.name), e.msg);
			break;
		}
		if (post(p, w, &body, &r, &e) < 0) {
			report(p, w, size, "unreachable", -1, "%s", e.msg);
			smk_buf_free(&r.body);
			break;
		}
		if (r.status == 200) {
			/* the witness holds size now, whatever smkeyd makes of its answer */
			state_put(p, w, size, root);
			rc = hand_in(p, w, size, &r);
			smk_buf_free(&r.body);
			break;
		}
		if (r.status == 409 && conflict_size(&r, &ws) == 0) {
			smk_buf_free(&r.body);
			if (ws > size) {
				report(p, w, size, "inconsistent", (int64_t)ws,
				       "the witness cosigned tree size %" PRIu64
				       " of this log; the log has %" PRIu64
				       ": it was rolled back or forked",
				       ws, size);
				state_put(p, w, ws, NULL);
				break;
			}
			if (attempt == 1 || ws == old) {
				report(p, w, size, "inconsistent", (int64_t)ws,
				       "409: the witness holds another tree of size %" PRIu64
				       " than the one sent (old %" PRIu64 ")",
				       ws, old);
				break;
			}
			report(p, w, size, "conflict", (int64_t)ws,
			       "409: the witness is at tree size %" PRIu64 ", not %" PRIu64
			       "; sent again from %" PRIu64,
			       ws, old, ws);
			old = ws;
			continue;
		}
		if (r.status == 422) {
			char ex[128];

			excerpt(&r.body, ex, sizeof(ex));
			report(p, w, size, "inconsistent", (int64_t)old,
			       "422: the witness refused the consistency proof from tree size "
			       "%" PRIu64 " to %" PRIu64
			       ": the log is not an extension of what it cosigned (\"%s\")",
			       old, size, ex);
		} else {
			char ex[128];

			excerpt(&r.body, ex, sizeof(ex));
			report(p, w, size, "rejected", -1, "HTTP %ld%s%s (\"%s\")", r.status,
			       r.status == 403 ? ": the witness does not know the log's key" : "",
			       r.status == 404 ? ": the witness does not know the log's origin"
					       : "",
			       ex);
		}
		smk_buf_free(&r.body);
		break;
	}
	smk_buf_free(&body);
	return rc;
}

int main(int argc, char **argv)
{
	const char *config_path = CONFIG_DEFAULT_PATH, *socket_path = NULL;
	pusher p;
	config *cfg = NULL;
	json_t *msg = NULL, *out, *cp;
	const char *note, *root;
	char old_root[64];
	uint64_t size;
	smk_err e;
	size_t i, pushed = 0, failed = 0;
	int k;

	memset(&p, 0, sizeof(p));
	p.timeout_ms = 10000;
	p.state_dir = getenv("STATE_DIRECTORY"); /* systemd StateDirectory= */
	for (k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--config") == 0 && k + 1 < argc) {
			config_path = argv[++k];
		} else if (strcmp(argv[k], "--socket") == 0 && k + 1 < argc) {
			socket_path = argv[++k];
		} else if (strcmp(argv[k], "--state") == 0 && k + 1 < argc) {
			p.state_dir = argv[++k];
		} else if (strcmp(argv[k], "--timeout") == 0 && k + 1 < argc) {
			char *end;
			double s = strtod(argv[++k], &end);

			if (*end || s <= 0 || s > 600) {
				fprintf(stderr, "%s: --timeout takes 0.001 to 600 seconds\n", prog);
				return 2;
			}
			p.timeout_ms = (long)(s * 1000);
			if (p.timeout_ms < 1)
				p.timeout_ms = 1;
		} else if (strcmp(argv[k], "--verbose") == 0) {
			p.verbose = 1;
		} else if (strcmp(argv[k], "-h") == 0 || strcmp(argv[k], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (p.state_dir && p.state_dir[0] == '\0')
		p.state_dir = NULL;
	if (config_load(config_path, &cfg, &e) < 0) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		return 2;
	}
	p.cfg = cfg;
	if (!socket_path)
		socket_path = getenv("SMKEYD_SOCKET") ? getenv("SMKEYD_SOCKET") : cfg->socket_path;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
		fprintf(stderr, "%s: libcurl does not start\n", prog);
		config_free(cfg);
		return 2;
	}
	if (vlc_connect(&p.conn, socket_path, &e) < 0 ||
	    call(&p, "GetCheckpoint", NULL, &msg, &out, &e) < 0) {
		fprintf(stderr, "%s: %s\n", prog, e.msg);
		vlc_close(&p.conn);
		curl_global_cleanup();
		config_free(cfg);
		return 3;
	}
	cp = json_object_get(out, "checkpoint");
	size = (uint64_t)json_integer_value(json_object_get(cp, "size"));
	note = json_string_value(json_object_get(cp, "text"));
	root = json_string_value(json_object_get(cp, "root_hash"));
	for (i = 0; note && i < cfg->witness_count; i++) {
		const config_witness *w = &cfg->witnesses[i];

		if (!w->url)
			continue;
		pushed++;
		/* the same size with another root is pushed: the witness must
		 * see a log that was rolled back and re-extended to its size */
		if (state_get(&p, w, old_root) == size && root && strcmp(old_root, root) == 0) {
			if (p.verbose)
				fprintf(stderr,
					"%s: witness %s already cosigned size %" PRIu64 "\n", prog,
					smk_show(w->key.name), size);
			continue;
		}
		if (push_one(&p, w, size, root, note) < 0)
			failed++;
	}
	if (!note)
		fprintf(stderr, "%s: smkeyd's checkpoint has no text\n", prog);
	if (p.verbose)
		fprintf(stderr,
			"%s: checkpoint %" PRIu64 ": %zu witness(es), %zu without a cosignature\n",
			prog, size, pushed, failed);
	json_decref(msg);
	vlc_close(&p.conn);
	curl_global_cleanup();
	config_free(cfg);
	return !note ? 3 : failed ? 1 : 0;
}
