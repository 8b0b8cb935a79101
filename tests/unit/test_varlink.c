/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The varlink wire format and the method checks: messages come out of any
 * split of the byte stream whole and in order, size and depth limits hold at
 * their boundary, and every hostile message is refused at the right layer
 * (framing, call envelope, or parameter check) without reaching the engine.
 *
 * methods.c is driven directly here: this file defines the two sides it
 * talks to as recorders (the connection, and the hooks of the fake engine of
 * tests/lib/fake_engine.c).
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/engine.h"
#include "daemon/methods.h"
#include "tests/lib/fake_engine.h"
#include "tests/lib/testutil.h"
#include "proto/varlink.h"
#include "varlink_errors.h"

/* ---- the connection methods.c answers on: records the last answer ---- */

struct server_conn {
	json_t *params;
	char error[128];
	int answers;
	int continues;
};

void server_conn_reply(struct server_conn *c, json_t *params, int continues)
{
	json_decref(c->params);
	c->params = params ? params : json_object();
	c->error[0] = '\0';
	c->continues = continues;
	c->answers++;
}

/* the text form of a final reply (GetRecord, ListPolicies): kept as the
 * object it encodes */
void server_conn_reply_text(struct server_conn *c, const char *params, size_t len)
{
	json_t *v = json_loadb(params, len, 0, NULL);

	ck_assert_ptr_nonnull(v);
	server_conn_reply(c, v, 0);
}

void server_conn_error(struct server_conn *c, const char *name, json_t *params)
{
	server_conn_reply(c, params, 0);
	snprintf(c->error, sizeof(c->error), "%s", name);
}

long long server_conn_elapsed_ms(const struct server_conn *c)
{
	(void)c;
	return 5;
}

/* ---- the engine (tests/lib/fake_engine.c): counts calls and keeps what it
 * was given ---- */

static int engine_calls;
static char gen_policy[128], gen_label[128], gen_device[128];
static json_t *query_params;

static int generate(engine *eng, const char *policy, const char *label, const char *device,
		    engine_progress_fn progress, engine_done_fn done, void *ctx, engine_error *err)
{
	(void)eng;
	engine_calls++;
	snprintf(gen_policy, sizeof(gen_policy), "%s", policy);
	snprintf(gen_label, sizeof(gen_label), "%s", label ? label : "(none)");
	snprintf(gen_device, sizeof(gen_device), "%s", device ? device : "(none)");
	if (strcmp(policy, "denied") == 0) {
		err->name = "io.smkeyd.PolicyDenied";
		err->params = json_pack("{ssss}", "policy", policy, "reason", "uid 1000");
		return -1;
	}
	/* answer at once, from inside the call, as an engine may */
	progress(ctx, ENGINE_QUEUED);
	done(ctx, json_pack("{si}", "seq", 7), NULL);
	return 0;
}

static int query(engine *eng, json_t *params, json_t **reply, engine_error *err)
{
	(void)eng;
	(void)err;
	engine_calls++;
	json_decref(query_params);
	query_params = json_incref(params);
	*reply = json_pack("{sb}", "answered", 1);
	return 0;
}

/* The card methods: answered at once, like Generate above. */
static int card(engine *eng, json_t *params, engine_done_fn done, void *ctx, engine_error *err)
{
	json_t *reply;

	query(eng, params, &reply, err);
	done(ctx, reply, NULL);
	return 0;
}

/* ---- framing ---- */

static const char three[] = "{\"method\":\"io.smkeyd.ListPolicies\"}\0"
			    "{\"method\":\"io.smkeyd.GetRecord\",\"parameters\":{\"seq\":3}}\0"
			    "{\"method\":\"org.varlink.service.GetInfo\",\"more\":false}";
#define THREE_LEN sizeof(three) /* includes the last NUL */

static const char *const three_methods[] = {"io.smkeyd.ListPolicies", "io.smkeyd.GetRecord",
					    "org.varlink.service.GetInfo"};

/* Drain r; check each message is the next of three_methods. */
static void drain(varlink_reader *r, int *got)
{
	varlink_call call;
	json_t *msg;
	smk_err e;
	int rc;

	while ((rc = varlink_reader_next(r, &msg, &e)) == 1) {
		ck_assert_int_lt(*got, 3);
		ck_assert_int_eq(varlink_call_decode(msg, &call, &e), 0);
		ck_assert_str_eq(call.method, three_methods[*got]);
		varlink_call_clear(&call);
		json_decref(msg);
		(*got)++;
	}
	ck_assert_msg(rc == 0, "stream refused: %s", e.msg);
}

START_TEST(test_split_at_every_byte)
{
	size_t split;

	for (split = 0; split <= THREE_LEN; split++) {
		varlink_reader r;
		smk_err e;
		int got = 0;

		varlink_reader_init(&r, 1024);
		ck_assert_int_eq(varlink_reader_feed(&r, three, split, &e), 0);
		drain(&r, &got);
		ck_assert_int_eq(varlink_reader_feed(&r, three + split, THREE_LEN - split, &e), 0);
		drain(&r, &got);
		ck_assert_msg(got == 3, "split at %zu: %d messages", split, got);
		ck_assert_uint_eq(varlink_reader_pending(&r), 0);
		varlink_reader_free(&r);
	}
}
END_TEST

START_TEST(test_byte_by_byte_and_merged)
{
	varlink_reader r;
	smk_err e;
	size_t i;
	int got = 0;

	varlink_reader_init(&r, 1024);
	for (i = 0; i < THREE_LEN; i++) {
		ck_assert_int_eq(varlink_reader_feed(&r, three + i, 1, &e), 0);
		drain(&r, &got);
	}
	ck_assert_int_eq(got, 3);
	got = 0;
	ck_assert_int_eq(varlink_reader_feed(&r, three, THREE_LEN, &e), 0);
	drain(&r, &got);
	ck_assert_int_eq(got, 3);
	varlink_reader_free(&r);
}
END_TEST

/* A prefix of a valid message is never an error: it only waits. */
START_TEST(test_every_prefix_waits)
{
	const char msg[] = "{\"method\":\"io.smkeyd.Generate\",\"parameters\":{\"policy\":"
			   "\"release-apk\",\"label\":\"p\\u00e9\"},\"more\":true}";
	size_t n;

	for (n = 0; n < sizeof(msg) - 1; n++) {
		varlink_reader r;
		json_t *m;
		smk_err e;

		varlink_reader_init(&r, 1024);
		varlink_reader_feed(&r, msg, n, &e);
		ck_assert_msg(varlink_reader_next(&r, &m, &e) == 0, "prefix %zu: %s", n, e.msg);
		varlink_reader_feed(&r, msg + n, sizeof(msg) - n, &e); /* rest and the NUL */
		ck_assert_msg(varlink_reader_next(&r, &m, &e) == 1, "prefix %zu: %s", n, e.msg);
		json_decref(m);
		varlink_reader_free(&r);
	}
}
END_TEST

/* {"p":"aaa..."} padded to exactly n bytes. */
static char *message_of(size_t n)
{
	char *s = malloc(n + 1);

	memset(s, 'a', n);
	memcpy(s, "{\"p\":\"", 6);
	memcpy(s + n - 2, "\"}", 2);
	s[n] = '\0';
	return s;
}

START_TEST(test_size_limit_boundary)
{
	const size_t max = 4096;
	char *at = message_of(max), *over = message_of(max + 1);
	varlink_reader r;
	json_t *m;
	smk_err e;

	varlink_reader_init(&r, max);
	varlink_reader_feed(&r, at, max + 1, &e); /* with its NUL */
	ck_assert_int_eq(varlink_reader_next(&r, &m, &e), 1);
	json_decref(m);
	varlink_reader_free(&r);

	varlink_reader_init(&r, max);
	varlink_reader_feed(&r, over, max + 2, &e);
	ck_assert_int_eq(varlink_reader_next(&r, &m, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "4097 bytes, larger than the limit of 4096"));
	varlink_reader_free(&r);

	/* no NUL: waiting is fine up to the limit, past it the stream is refused */
	varlink_reader_init(&r, max);
	varlink_reader_feed(&r, over, max, &e);
	ck_assert_int_eq(varlink_reader_next(&r, &m, &e), 0);
	varlink_reader_feed(&r, "a", 1, &e);
	ck_assert_int_eq(varlink_reader_next(&r, &m, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "no NUL terminator within 4096 bytes"));
	varlink_reader_free(&r);
	free(at);
	free(over);
}
END_TEST

static char *nested(int depth, char open, char close)
{
	const char *head = "{\"method\":\"io.smkeyd.ListPolicies\",\"parameters\":{\"x\":";
	size_t hl = strlen(head), i;
	char *s = malloc(hl + 2 * (size_t)depth + 3);

	memcpy(s, head, hl);
	for (i = 0; i < (size_t)depth; i++)
		s[hl + i] = open;
	for (i = 0; i < (size_t)depth; i++)
		s[hl + (size_t)depth + i] = close;
	strcpy(s + hl + 2 * (size_t)depth, "}}");
	return s;
}

START_TEST(test_depth_boundary)
{
	/* the message object and "parameters" are two levels */
	char *ok = nested(VARLINK_MAX_DEPTH - 2, '[', ']');
	char *deep = nested(VARLINK_MAX_DEPTH - 1, '[', ']');
	char *bomb = nested(100000, '[', ']');
	json_t *m;
	smk_err e;

	ck_assert_int_eq(varlink_parse(ok, strlen(ok), &m, &e), 0);
	json_decref(m);
	ck_assert_int_eq(varlink_parse(deep, strlen(deep), &m, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "nested deeper than 32 levels"));
	ck_assert_int_eq(varlink_parse(bomb, strlen(bomb), &m, &e), -1);
	/* brackets inside strings are text, not depth */
	ck_assert_int_eq(
	    varlink_parse("{\"s\":\"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\"}", 46, &m, &e), 0);
	json_decref(m);
	free(ok);
	free(deep);
	free(bomb);
}
END_TEST

/* A reply given as text (the engine's reply caches) is framed byte for byte
 * as the same object given to varlink_reply_encode. */
START_TEST(test_reply_text_frames_as_object)
{
	json_t *params = json_pack("{s{sIss}s[bn]}", "record", "seq", (json_int_t)7, "label",
				   "k\u00e9y \"q\"", "list", 1);
	smk_buf a = SMK_BUF_INIT, b = SMK_BUF_INIT;
	char *text = json_dumps(params, JSON_COMPACT);
	smk_err e;

	ck_assert_int_eq(varlink_reply_encode(&a, params, 0, &e), 0);
	ck_assert_int_eq(varlink_reply_encode_text(&b, text, strlen(text), &e), 0);
	ck_assert_uint_eq(a.len, b.len);
	ck_assert_int_eq(memcmp(a.data, b.data, a.len), 0);
	ck_assert_int_eq(b.data[b.len - 1], 0); /* the frame's NUL */
	/* what is not an object's text is refused, nothing appended */
	smk_buf_reset(&b);
	ck_assert_int_eq(varlink_reply_encode_text(&b, "[1]", 3, &e), -1);
	ck_assert_int_eq(varlink_reply_encode_text(&b, "", 0, &e), -1);
	ck_assert_uint_eq(b.len, 0);
	free(text);
	json_decref(params);
	smk_buf_free(&a);
	smk_buf_free(&b);
}
END_TEST

/* What GetInterfaceDescription answers for iface: the "description" string
 * (caller frees). */
static char *served_description(const char *iface)
{
	char msg[256];
	struct server_conn conn = {NULL, "", 0, 0};
	engine_peer peer = {0};
	varlink_call call;
	json_t *m;
	smk_err e;
	char *text;

	snprintf(msg, sizeof(msg),
		 "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
		 "\"parameters\":{\"interface\":\"%s\"}}",
		 iface);
	ck_assert_int_eq(varlink_parse(msg, strlen(msg), &m, &e), 0);
	ck_assert_int_eq(varlink_call_decode(m, &call, &e), 0);
	methods_dispatch(NULL, &conn, &peer, &call);
	ck_assert_msg(conn.error[0] == '\0', "%s: refused with %s", iface, conn.error);
	ck_assert_ptr_nonnull(json_string_value(json_object_get(conn.params, "description")));
	text = strdup(json_string_value(json_object_get(conn.params, "description")));
	varlink_call_clear(&call);
	json_decref(m);
	json_decref(conn.params);
	return text;
}

/* the descriptions served are the .varlink files byte for byte (they are
 * generated from them at build time) */
START_TEST(test_interface_text_is_the_file)
{
	static const char *const ifaces[] = {"io.smkeyd", "org.varlink.service"};
	size_t i;

	for (i = 0; i < sizeof(ifaces) / sizeof(ifaces[0]); i++) {
		smk_buf file = SMK_BUF_INIT;
		char path[128];
		char *served = served_description(ifaces[i]);

		snprintf(path, sizeof(path), "proto/%s.varlink", ifaces[i]);
		tu_read_source_file(&file, path);
		ck_assert_uint_eq(strlen(served), file.len);
		ck_assert_msg(memcmp(served, file.data, file.len) == 0,
			      "%s: served description differs from %s", ifaces[i], path);
		smk_buf_free(&file);
		free(served);
	}
	ck_assert_str_eq(SMK_VERR_INVALID_PARAMETER, "io.smkeyd.InvalidParameter");
	ck_assert_str_eq(SMK_VERR_CERTIFICATE_MISMATCH, "io.smkeyd.CertificateMismatch");
	ck_assert_str_eq(SMK_VSVC_METHOD_NOT_FOUND, "org.varlink.service.MethodNotFound");
}
END_TEST

/* The generator refuses a malformed description by file and line and writes
 * nothing; a well-formed one gives one macro per error line. */
static const struct {
	const char *what, *text, *where;
} bad_descriptions[] = {
    {"keyword", "interface a.b\n\nerrr Oops ()\n", ":3: "},
    {"lower-case error name", "interface a.b\n# c\n\nerror oops ()\n", ":4: "},
    {"unbalanced", "interface a.b\ntype T (\n  a: int\n", ":3: "},
    {"closes nothing", "interface a.b\nerror E ())\n", ":2: "},
    {"before interface", "error E ()\ninterface a.b\n", ":1: "},
    {"bad interface name", "# x\ninterface Ab\n", ":2: "},
    {"second interface", "interface a.b\ninterface a.c\n", ":2: "},
    {"error twice", "interface a.b\nerror E ()\nerror E (x: int)\n", ":3: "},
    {"control character", "interface a.b\n# \033[2J\n", ":2: "},
    {"character in a definition", "interface a.b\ntype T (a: \"x\")\n", ":2: "},
};

static int run_gen(const char *dir, const char *text, char *out, size_t cap)
{
	char in[512], cmd[2048];
	FILE *f, *p;
	size_t n;
	int status;

	snprintf(in, sizeof(in), "%s/in.varlink", dir);
	f = fopen(in, "w");
	ck_assert_ptr_nonnull(f);
	fputs(text, f);
	fclose(f);
	snprintf(cmd, sizeof(cmd), "'%s/varlink-gen' errors '%s/out.h' '%s' SMK_X 2>&1",
		 SMK_BUILD_DIR, dir, in);
	p = popen(cmd, "r");
	ck_assert_ptr_nonnull(p);
	n = fread(out, 1, cap - 1, p);
	out[n] = '\0';
	status = pclose(p);
	return status;
}

START_TEST(test_generator_refuses_malformed)
{
	char dir[256], out[1024], path[512], want[600];
	int status;

	tu_temp_dir(dir, sizeof(dir), "smk-vlgen");
	status = run_gen(dir, bad_descriptions[_i].text, out, sizeof(out));
	snprintf(path, sizeof(path), "%s/out.h", dir);
	snprintf(want, sizeof(want), "%s/in.varlink%s", dir, bad_descriptions[_i].where);
	ck_assert_msg(status != 0, "%s: accepted", bad_descriptions[_i].what);
	ck_assert_msg(strstr(out, want) != NULL, "%s: \"%s\" does not name %s",
		      bad_descriptions[_i].what, out, want);
	ck_assert_msg(access(path, F_OK) != 0, "%s: wrote an output", bad_descriptions[_i].what);
	snprintf(path, sizeof(path), "%s/out.h.tmp", dir);
	ck_assert_msg(access(path, F_OK) != 0, "%s: left a temporary file",
		      bad_descriptions[_i].what);
	snprintf(path, sizeof(path), "%s/in.varlink", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_generator_error_macros)
{
	char dir[256], out[1024], path[512], h[4096];
	FILE *f;
	size_t n;

	tu_temp_dir(dir, sizeof(dir), "smk-vlgen");
	ck_assert_int_eq(run_gen(dir,
				 "# c\ninterface org.example.thing\n\n"
				 "method Get(a: ?[]string) -> (b: int)\n"
				 "error NoSuchThing (\n  thing: string\n)\n"
				 "error IOFailed ()\n",
				 out, sizeof(out)),
			 0);
	snprintf(path, sizeof(path), "%s/out.h", dir);
	f = fopen(path, "r");
	ck_assert_ptr_nonnull(f);
	n = fread(h, 1, sizeof(h) - 1, f);
	fclose(f);
	h[n] = '\0';
	ck_assert_ptr_nonnull(strstr(h, "#define SMK_X_PREFIX \"org.example.thing.\"\n"));
	ck_assert_ptr_nonnull(
	    strstr(h, "#define SMK_X_NO_SUCH_THING \"org.example.thing.NoSuchThing\"\n"));
	ck_assert_ptr_nonnull(
	    strstr(h, "#define SMK_X_IO_FAILED \"org.example.thing.IOFailed\"\n"));
	unlink(path);
	snprintf(path, sizeof(path), "%s/in.varlink", dir);
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(test_encode_round_trip)
{
	smk_buf out = SMK_BUF_INIT;
	varlink_reader r;
	varlink_reply reply;
	varlink_call call;
	json_t *p = json_pack("{ss}", "policy", "release-apk"), *m;
	json_t *progress = json_pack("{s{ss}}", "progress", "stage", "queued");
	smk_err e;

	ck_assert_int_eq(varlink_call_encode(&out, "io.smkeyd.Generate", p, VARLINK_MORE, &e), 0);
	ck_assert_int_eq(varlink_reply_encode(&out, progress, 1, &e), 0);
	ck_assert_int_eq(varlink_error_encode(&out, "io.smkeyd.PolicyDenied", NULL, &e), 0);
	ck_assert_int_eq(varlink_call_encode(&out, "no-dot", NULL, 0, &e), -1);
	ck_assert_int_eq(out.data[out.len - 1], 0);

	varlink_reader_init(&r, 1024);
	varlink_reader_feed(&r, out.data, out.len, &e);
	ck_assert_int_eq(varlink_reader_next(&r, &m, &e), 1);
	ck_assert_int_eq(varlink_call_decode(m, &call, &e), 0);
	ck_assert_str_eq(call.interface, "io.smkeyd");
	ck_assert_str_eq(call.member, "Generate");
	ck_assert(call.more && !call.oneway);
	ck_assert(json_equal(call.params, p));
	varlink_call_clear(&call);
	json_decref(m);

	ck_assert_int_eq(varlink_reader_next(&r, &m, &e), 1);
	ck_assert_int_eq(varlink_reply_decode(m, &reply, &e), 0);
	ck_assert(reply.continues && reply.error == NULL);
	ck_assert_str_eq(
	    json_string_value(json_object_get(json_object_get(reply.params, "progress"), "stage")),
	    "queued");
	json_decref(m);

	ck_assert_int_eq(varlink_reader_next(&r, &m, &e), 1);
	ck_assert_int_eq(varlink_reply_decode(m, &reply, &e), 0);
	ck_assert_str_eq(reply.error, "io.smkeyd.PolicyDenied");
	ck_assert(!reply.continues && json_object_size(reply.params) == 0);
	json_decref(m);
	ck_assert_int_eq(varlink_reader_next(&r, &m, &e), 0);
	varlink_reader_free(&r);
	json_decref(p);
	json_decref(progress);
	smk_buf_free(&out);
}
END_TEST

START_TEST(test_hostile_replies)
{
	static const char *const bad[] = {
	    "{\"error\":42}",	      "{\"error\":\"nodot\"}",	 "{\"parameters\":[]}",
	    "{\"parameters\":\"x\"}", "{\"continues\":\"yes\"}", "{\"continues\":1}",
	};
	varlink_reply reply;
	json_t *m;
	smk_err e;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		ck_assert_int_eq(varlink_parse(bad[i], strlen(bad[i]), &m, &e), 0);
		ck_assert_msg(varlink_reply_decode(m, &reply, &e) == -1, "accepted %s", bad[i]);
		json_decref(m);
	}
}
END_TEST

/* ---- hostile calls, each refused at its layer ---- */

enum layer {
	FRAME,	  /* the reader refuses: error reply, connection closed */
	ENVELOPE, /* the call envelope is wrong: error reply, connection closed */
	ERROR,	  /* a varlink error reply, the connection stays */
	OK,	  /* reaches the engine */
};

struct hostile {
	const char *what;
	const char *msg;
	size_t len; /* 0: strlen(msg) */
	enum layer layer;
	const char *error; /* ERROR: error name */
	const char *field; /* ENVELOPE: the field; ERROR: the "parameter" named */
};

#define SVC "org.varlink.service."
#define IP "io.smkeyd.InvalidParameter"
#define GEN(params) "{\"method\":\"io.smkeyd.Generate\",\"parameters\":" params "}"
#define CALL(m, params) "{\"method\":\"io.smkeyd." m "\",\"parameters\":" params "}"
#define RAW_NUL "{\"method\":\"io.smk\0eyd.ListPolicies\"}"
#define A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"

static const struct hostile hostile[] = {
    {"empty message", "", 0, FRAME, NULL, NULL},
    {"white space", "  \n ", 0, FRAME, NULL, NULL},
    {"null", "null", 0, FRAME, NULL, NULL},
    {"an array", "[]", 0, FRAME, NULL, NULL},
    {"a string", "\"io.smkeyd.Generate\"", 0, FRAME, NULL, NULL},
    {"a number", "42", 0, FRAME, NULL, NULL},
    {"unterminated object", "{", 0, FRAME, NULL, NULL},
    {"unterminated string", "{\"method\":\"io.smkeyd.ListPolicies}", 0, FRAME, NULL, NULL},
    {"trailing garbage", "{}}", 0, FRAME, NULL, NULL},
    {"two objects in one message", "{} {}", 0, FRAME, NULL, NULL},
    {"invalid UTF-8", "{\"method\":\"io.smkeyd.ListPolicies\",\"x\":\"\xff\"}", 0, FRAME, NULL,
     NULL},
    {"overlong UTF-8", "{\"method\":\"io.smkeyd.Gen\xc0\xafrate\"}", 0, FRAME, NULL, NULL},
    {"UTF-8 encoded surrogate", "{\"x\":\"\xed\xa0\x80\"}", 0, FRAME, NULL, NULL},
    {"truncated UTF-8 sequence", "{\"x\":\"\xe2\x82\"}", 0, FRAME, NULL, NULL},
    {"escaped NUL in a string", GEN("{\"policy\":\"release\\u0000apk\"}"), 0, FRAME, NULL, NULL},
    {"raw NUL inside a string ends the message early", RAW_NUL, sizeof(RAW_NUL) - 1, FRAME, NULL,
     NULL},
    {"lone surrogate escape", "{\"x\":\"\\ud800\"}", 0, FRAME, NULL, NULL},
    {"raw control character in a string", "{\"x\":\"a\x01z\"}", 0, FRAME, NULL, NULL},
    {"duplicate key", "{\"method\":\"io.smkeyd.ListPolicies\",\"method\":\"io.smkeyd.Generate\"}",
     0, FRAME, NULL, NULL},
    {"single quotes", "{'method':'io.smkeyd.ListPolicies'}", 0, FRAME, NULL, NULL},
    {"trailing comma", "{\"method\":\"io.smkeyd.ListPolicies\",}", 0, FRAME, NULL, NULL},
    {"comment", "{/* hi */\"method\":\"io.smkeyd.ListPolicies\"}", 0, FRAME, NULL, NULL},
    {"NaN", CALL("GetRecord", "{\"seq\":NaN}"), 0, FRAME, NULL, NULL},
    {"integer beyond 64 bits", CALL("GetRecord", "{\"seq\":99999999999999999999999}"), 0, FRAME,
     NULL, NULL},
    {"nesting 40 deep",
     "{\"a\":[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]]]]]]]]]"
     "]]]]]]]]]]]}",
     0, FRAME, NULL, NULL},

    {"no method", "{}", 0, ENVELOPE, NULL, "method"},
    {"method a number", "{\"method\":42}", 0, ENVELOPE, NULL, "method"},
    {"method null", "{\"method\":null}", 0, ENVELOPE, NULL, "method"},
    {"method without interface", "{\"method\":\"Generate\"}", 0, ENVELOPE, NULL, "method"},
    {"method without member", "{\"method\":\"io.smkeyd.\"}", 0, ENVELOPE, NULL, "method"},
    {"method with an empty label", "{\"method\":\"io..smkeyd.Generate\"}", 0, ENVELOPE, NULL,
     "method"},
    {"member in lower case", "{\"method\":\"io.smkeyd.generate\"}", 0, ENVELOPE, NULL, "method"},
    {"interface in upper case", "{\"method\":\"IO.smkeyd.Generate\"}", 0, ENVELOPE, NULL, "method"},
    {"interface of one label", "{\"method\":\"smkeyd.Generate\"}", 0, ENVELOPE, NULL, "method"},
    {"space in the member", "{\"method\":\"io.smkeyd.Gen erate\"}", 0, ENVELOPE, NULL, "method"},
    {"path in the method", "{\"method\":\"io/smkeyd.Generate\"}", 0, ENVELOPE, NULL, "method"},
    {"method of 300 bytes",
     "{\"method\":\"io.smkeyd." A64 A64 A64 A64 "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
     "B\"}",
     0, ENVELOPE, NULL, "method"},
    {"parameters an array", CALL("ListPolicies", "[]"), 0, ENVELOPE, NULL, "parameters"},
    {"parameters a string", CALL("ListPolicies", "\"x\""), 0, ENVELOPE, NULL, "parameters"},
    {"more a string", "{\"method\":\"io.smkeyd.Generate\",\"more\":\"yes\"}", 0, ENVELOPE, NULL,
     "more"},
    {"oneway a number", "{\"method\":\"io.smkeyd.Generate\",\"oneway\":1}", 0, ENVELOPE, NULL,
     "oneway"},
    {"upgrade", "{\"method\":\"io.smkeyd.ListPolicies\",\"upgrade\":true}", 0, ENVELOPE, NULL,
     "upgrade"},
    {"more and oneway", "{\"method\":\"io.smkeyd.Generate\",\"more\":true,\"oneway\":true}", 0,
     ENVELOPE, NULL, "oneway"},
    {"unknown envelope field", "{\"method\":\"io.smkeyd.ListPolicies\",\"id\":1}", 0, ENVELOPE,
     NULL, "message"},

    {"unknown interface", "{\"method\":\"org.example.Thing\"}", 0, ERROR, SVC "InterfaceNotFound",
     NULL},
    {"unknown method", "{\"method\":\"io.smkeyd.DeleteEverything\"}", 0, ERROR,
     SVC "MethodNotFound", NULL},
    {"unknown service method", "{\"method\":\"org.varlink.service.Shutdown\"}", 0, ERROR,
     SVC "MethodNotFound", NULL},
    {"Generate without policy", GEN("{}"), 0, ERROR, IP, "policy"},
    {"Generate, policy null", GEN("{\"policy\":null}"), 0, ERROR, IP, "policy"},
    {"policy with a path", GEN("{\"policy\":\"../etc/passwd\"}"), 0, ERROR, IP, "policy"},
    {"policy with '/'", GEN("{\"policy\":\"release/apk\"}"), 0, ERROR, IP, "policy"},
    {"policy empty", GEN("{\"policy\":\"\"}"), 0, ERROR, IP, "policy"},
    {"policy starting with '.'", GEN("{\"policy\":\".hidden\"}"), 0, ERROR, IP, "policy"},
    {"policy starting with '-'", GEN("{\"policy\":\"-rf\"}"), 0, ERROR, IP, "policy"},
    {"policy of 65 characters", GEN("{\"policy\":\"" A64 "b\"}"), 0, ERROR, IP, "policy"},
    {"policy a number", GEN("{\"policy\":42}"), 0, ERROR, IP, "policy"},
    {"policy an array", GEN("{\"policy\":[\"release-apk\"]}"), 0, ERROR, IP, "policy"},
    {"policy an object", GEN("{\"policy\":{\"name\":\"release-apk\"}}"), 0, ERROR, IP, "policy"},
    {"policy not ASCII", GEN("{\"policy\":\"p\\u00f6licy\"}"), 0, ERROR, IP, "policy"},
    {"policy with a space", GEN("{\"policy\":\"release apk\"}"), 0, ERROR, IP, "policy"},
    {"label empty", GEN("{\"policy\":\"release-apk\",\"label\":\"\"}"), 0, ERROR, IP, "label"},
    {"label of 65 bytes", GEN("{\"policy\":\"release-apk\",\"label\":\"" A64 "b\"}"), 0, ERROR, IP,
     "label"},
    {"label with a control character", GEN("{\"policy\":\"release-apk\",\"label\":\"a\\u0001\"}"),
     0, ERROR, IP, "label"},
    {"label with a newline", GEN("{\"policy\":\"release-apk\",\"label\":\"a\\nb\"}"), 0, ERROR, IP,
     "label"},
    {"label a number", GEN("{\"policy\":\"release-apk\",\"label\":7}"), 0, ERROR, IP, "label"},
    {"device with '/'", GEN("{\"policy\":\"release-apk\",\"device\":\"DE/NK\"}"), 0, ERROR, IP,
     "device"},
    {"device of 17 characters",
     GEN("{\"policy\":\"release-apk\",\"device\":\"DENK0404144000000\"}"), 0, ERROR, IP, "device"},
    {"device true", GEN("{\"policy\":\"release-apk\",\"device\":true}"), 0, ERROR, IP, "device"},
    {"unknown parameter", GEN("{\"policy\":\"release-apk\",\"pin\":\"123456\"}"), 0, ERROR, IP,
     "pin"},
    {"GetRecord with neither", CALL("GetRecord", "{}"), 0, ERROR, IP, "seq"},
    {"GetRecord with both", CALL("GetRecord", "{\"seq\":1,\"request_id\":\"r1\"}"), 0, ERROR, IP,
     "seq"},
    {"seq negative", CALL("GetRecord", "{\"seq\":-1}"), 0, ERROR, IP, "seq"},
    {"seq a fraction", CALL("GetRecord", "{\"seq\":1.5}"), 0, ERROR, IP, "seq"},
    {"seq a real", CALL("GetRecord", "{\"seq\":1.0}"), 0, ERROR, IP, "seq"},
    {"seq a string", CALL("GetRecord", "{\"seq\":\"1\"}"), 0, ERROR, IP, "seq"},
    {"request id with a space", CALL("GetBundle", "{\"request_id\":\"a b\"}"), 0, ERROR, IP,
     "request_id"},
    {"request id with '/'", CALL("GetBundle", "{\"request_id\":\"../x\"}"), 0, ERROR, IP,
     "request_id"},
    {"limit 0", CALL("ListRecords", "{\"limit\":0}"), 0, ERROR, IP, "limit"},
    {"limit 10001", CALL("ListRecords", "{\"limit\":10001}"), 0, ERROR, IP, "limit"},
    {"since true", CALL("ListRecords", "{\"since\":true}"), 0, ERROR, IP, "since"},
    {"ListRecords policy with '/'", CALL("ListRecords", "{\"policy\":\"a/b\"}"), 0, ERROR, IP,
     "policy"},
    {"ListPolicies with a parameter", CALL("ListPolicies", "{\"x\":1}"), 0, ERROR, IP, "x"},
    {"proof without old_size", CALL("GetConsistencyProof", "{}"), 0, ERROR, IP, "old_size"},
    {"proof shrinking", CALL("GetConsistencyProof", "{\"old_size\":5,\"new_size\":4}"), 0, ERROR,
     IP, "new_size"},
    {"GetInfo with a parameter",
     "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":"
     "{\"verbose\":true}}",
     0, ERROR, SVC "InvalidParameter", "verbose"},
    {"description without interface",
     "{\"method\":\"org.varlink.service.GetInterfaceDescription\"}", 0, ERROR,
     SVC "InvalidParameter", "interface"},
    {"description of a number",
     "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":"
     "{\"interface\":5}}",
     0, ERROR, SVC "InvalidParameter", "interface"},
    {"description of an unknown interface",
     "{\"method\":\"org.varlink.service.GetInterfaceDescription\",\"parameters\":"
     "{\"interface\":\"org.example.x\"}}",
     0, ERROR, SVC "InterfaceNotFound", NULL},
    {"refused by the engine", GEN("{\"policy\":\"denied\"}"), 0, ERROR, "io.smkeyd.PolicyDenied",
     NULL},

    {"parameters null", CALL("ListPolicies", "null"), 0, OK, NULL, NULL},
    {"optional null", CALL("GetRecord", "{\"seq\":0,\"request_id\":null}"), 0, OK, NULL, NULL},
    {"largest seq", CALL("GetRecord", "{\"seq\":9223372036854775807}"), 0, OK, NULL, NULL},
    {"label with spaces and accents",
     GEN("{\"policy\":\"release-apk\",\"label\":\"App 2027 \\u00e9\",\"device\":"
	 "\"DENK0404144\"}"),
     0, OK, NULL, NULL},
};

static void run_hostile(const struct hostile *h, size_t max)
{
	size_t len = h->len ? h->len : strlen(h->msg);
	struct server_conn conn = {NULL, "", 0, 0};
	engine_peer peer = {0};
	varlink_reader r;
	varlink_call call;
	json_t *m;
	smk_err e;
	int rc, before = engine_calls;

	varlink_reader_init(&r, max);
	varlink_reader_feed(&r, h->msg, len, &e);
	varlink_reader_feed(&r, "", 1, &e); /* the terminator */
	rc = varlink_reader_next(&r, &m, &e);
	varlink_reader_free(&r);
	if (h->layer == FRAME) {
		ck_assert_msg(rc == -1, "%s: framing accepted it", h->what);
		ck_assert_msg(e.msg[0] != '\0', "%s: no reason given", h->what);
		return;
	}
	ck_assert_msg(rc == 1, "%s: framing refused it: %s", h->what, e.msg);
	rc = varlink_call_decode(m, &call, &e);
	if (h->layer == ENVELOPE) {
		ck_assert_msg(rc == -1, "%s: envelope accepted", h->what);
		ck_assert_msg(call.invalid && strcmp(call.invalid, h->field) == 0,
			      "%s: blamed %s, not %s", h->what, call.invalid, h->field);
		varlink_call_clear(&call);
		json_decref(m);
		return;
	}
	ck_assert_msg(rc == 0, "%s: envelope refused: %s", h->what, e.msg);
	methods_dispatch(NULL, &conn, &peer, &call);
	ck_assert_msg(conn.answers >= 1, "%s: no answer", h->what);
	if (h->layer == ERROR) {
		ck_assert_msg(strcmp(conn.error, h->error) == 0, "%s: answered \"%s\", want %s",
			      h->what, conn.error, h->error);
		if (h->field)
			ck_assert_str_eq(
			    json_string_value(json_object_get(conn.params, "parameter")), h->field);
		if (strcmp(h->error, IP) == 0)
			ck_assert_msg(json_is_string(json_object_get(conn.params, "reason")),
				      "%s: no reason", h->what);
		/* a refused call never reaches the engine, except the engine's own refusal */
		if (strcmp(h->error, "io.smkeyd.PolicyDenied") != 0)
			ck_assert_msg(engine_calls == before, "%s: engine was called", h->what);
	} else {
		ck_assert_msg(conn.error[0] == '\0', "%s: refused with %s", h->what, conn.error);
		ck_assert_int_eq(engine_calls, before + 1);
	}
	varlink_call_clear(&call);
	json_decref(m);
	json_decref(conn.params);
}

START_TEST(test_hostile_calls)
{
	run_hostile(&hostile[_i], 65536);
}
END_TEST

START_TEST(test_huge_string_within_limit)
{
	/* a 60000-byte policy name fits the message limit and is refused by name */
	size_t n = 60000;
	char *msg = malloc(n + 64);
	struct hostile h = {"huge policy", msg, 0, ERROR, IP, "policy"};

	size_t head;

	strcpy(msg, "{\"method\":\"io.smkeyd.Generate\",\"parameters\":{\"policy\":\"");
	head = strlen(msg);
	memset(msg + head, 'a', n);
	strcpy(msg + head + n, "\"}}");
	run_hostile(&h, 65536);
	/* and the same over a smaller limit is refused by the framing */
	h.layer = FRAME;
	run_hostile(&h, 4096);
	free(msg);
}
END_TEST

START_TEST(test_dispatch_passes_checked_values)
{
	static const char *msg = GEN("{\"policy\":\"release-apk\",\"label\":\"App 2027\","
				     "\"device\":null}");
	struct server_conn conn = {NULL, "", 0, 0};
	engine_peer peer = {0};
	varlink_call call;
	json_t *m;
	smk_err e;

	ck_assert_int_eq(varlink_parse(msg, strlen(msg), &m, &e), 0);
	ck_assert_int_eq(varlink_call_decode(m, &call, &e), 0);
	ck_assert_int_eq(methods_dispatch(NULL, &conn, &peer, &call), 1);
	ck_assert_str_eq(gen_policy, "release-apk");
	ck_assert_str_eq(gen_label, "App 2027");
	ck_assert_str_eq(gen_device, "(none)");
	/* the engine answered from inside the call: the final reply is the last */
	ck_assert_int_eq(conn.answers, 2);
	ck_assert_int_eq(json_integer_value(json_object_get(conn.params, "seq")), 7);
	varlink_call_clear(&call);
	json_decref(m);
	json_decref(conn.params);

	/* queries get the parameters without nulls */
	msg = CALL("ListRecords", "{\"policy\":\"release-apk\",\"since\":null,\"limit\":5}");
	memset(&conn, 0, sizeof(conn));
	ck_assert_int_eq(varlink_parse(msg, strlen(msg), &m, &e), 0);
	ck_assert_int_eq(varlink_call_decode(m, &call, &e), 0);
	ck_assert_int_eq(methods_dispatch(NULL, &conn, &peer, &call), 0);
	ck_assert_uint_eq(json_object_size(query_params), 2);
	ck_assert_int_eq(json_integer_value(json_object_get(query_params, "limit")), 5);
	ck_assert_ptr_null(json_object_get(query_params, "since"));
	varlink_call_clear(&call);
	json_decref(m);
	json_decref(conn.params);
	json_decref(query_params);
	query_params = NULL;
}
END_TEST

int main(void)
{
	Suite *s = suite_create("varlink");
	TCase *t = tcase_create("framing");

	fake_engine = (fake_engine_hooks){generate, query, card};

	tcase_add_test(t, test_split_at_every_byte);
	tcase_add_test(t, test_byte_by_byte_and_merged);
	tcase_add_test(t, test_every_prefix_waits);
	tcase_add_test(t, test_size_limit_boundary);
	tcase_add_test(t, test_depth_boundary);
	tcase_add_test(t, test_interface_text_is_the_file);
	tcase_add_loop_test(t, test_generator_refuses_malformed, 0,
			    sizeof(bad_descriptions) / sizeof(bad_descriptions[0]));
	tcase_add_test(t, test_generator_error_macros);
	tcase_add_test(t, test_encode_round_trip);
	tcase_add_test(t, test_hostile_replies);
	suite_add_tcase(s, t);
	t = tcase_create("calls");
	tcase_add_loop_test(t, test_hostile_calls, 0, sizeof(hostile) / sizeof(hostile[0]));
	tcase_add_test(t, test_huge_string_within_limit);
	tcase_add_test(t, test_dispatch_passes_checked_values);
	tcase_add_test(t, test_reply_text_frames_as_object);
	suite_add_tcase(s, t);
	return tu_run(s);
}
