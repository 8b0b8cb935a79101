/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The varlink side of smkeyd (proto/varlink.h, daemon/methods.h): the
 * incremental reader fed the input in pseudo-random splits, reply and call
 * decoding of every message it returns, and methods_dispatch with the
 * parameter checks of io.smkeyd against the fake engine of
 * tests/lib/fake_engine.c, whose hooks are defined here (as
 * tests/unit/test_varlink.c does, so the real engine is never linked).
 *
 * Invariants: the reader returns the same messages whatever the split; a
 * decoded call encodes back to a call that decodes to the same method and
 * flags; every dispatched call is answered exactly once (Generate: when the
 * engine completes it); every answer encodes to a message the reader takes
 * back, so a client never sees a dropped connection instead of an error;
 * the engine only ever receives parameters of the declared names and types.
 *
 * Input: two bytes seed the split sizes (and the bit 0x8000 picks a 512-byte
 * message limit instead of the default), the rest is the byte stream.
 */
#include "daemon/engine.h"
#include "daemon/methods.h"
#include "fuzz.h"
#include "proto/varlink.h"
#include "tests/lib/fake_engine.h"

/* ---- the connection methods.c answers on ---- */

struct server_conn {
	int answers, terminal;
};

static void check_answer(const char *name, json_t *params, int continues)
{
	varlink_reader r;
	varlink_reply rep;
	smk_buf out = SMK_BUF_INIT;
	json_t *msg = NULL;
	smk_err e;
	int rc;

	rc = name ? varlink_error_encode(&out, name, params, &e)
		  : varlink_reply_encode(&out, params, continues, &e);
	if (rc < 0)
		fprintf(stderr, "answer does not encode: %s\n", e.msg);
	FZ_CHECK(rc == 0);
	varlink_reader_init(&r, out.len);
	FZ_CHECK(varlink_reader_feed(&r, out.data, out.len, &e) == 0);
	FZ_CHECK(varlink_reader_next(&r, &msg, &e) == 1);
	FZ_CHECK(varlink_reply_decode(msg, &rep, &e) == 0);
	FZ_CHECK((rep.error == NULL) == (name == NULL));
	if (name)
		FZ_CHECK(strcmp(rep.error, name) == 0);
	else
		FZ_CHECK(rep.continues == continues);
	json_decref(msg);
	varlink_reader_free(&r);
	smk_buf_free(&out);
}

void server_conn_reply(struct server_conn *c, json_t *params, int continues)
{
	/* progress goes out only when the call asked for "more": server.c filters */
	FZ_CHECK(!c->terminal);
	check_answer(NULL, params, continues);
	json_decref(params);
	c->answers++;
	c->terminal = !continues;
}

void server_conn_reply_text(struct server_conn *c, const char *params, size_t len)
{
	json_t *v = json_loadb(params, len, 0, NULL);

	/* the text form must be one JSON object, as the JSON form is */
	FZ_CHECK(json_is_object(v));
	server_conn_reply(c, v, 0);
}

void server_conn_error(struct server_conn *c, const char *name, json_t *params)
{
	FZ_CHECK(!c->terminal);
	FZ_CHECK(name != NULL && varlink_method_valid(name));
	check_answer(name, params, 0);
	json_decref(params);
	c->answers++;
	c->terminal = 1;
}

long long server_conn_elapsed_ms(const struct server_conn *c)
{
	(void)c;
	return 7;
}

/* ---- the engine: checks what it is handed, answers from the input ---- */

struct engine {
	int refuse; /* answer queries and Generate with an error */
	engine_progress_fn progress;
	engine_done_fn done;
	void *ctx;
};

static void check_string(const char *s, size_t max)
{
	FZ_CHECK(s != NULL);
	FZ_CHECK(strlen(s) >= 1 && strlen(s) <= max);
}

static int generate(engine *eng, const char *policy, const char *label, const char *device,
		    engine_progress_fn progress, engine_done_fn done, void *ctx, engine_error *err)
{
	check_string(policy, 64);
	FZ_CHECK(policy[0] != '.' && policy[0] != '-' && strchr(policy, '/') == NULL);
	if (label)
		check_string(label, 64);
	if (device)
		check_string(device, 16);
	if (eng->refuse) {
		err->name = "io.smkeyd.PolicyDenied";
		err->params = json_pack("{ssss}", "policy", policy, "reason", "refused");
		snprintf(err->msg, sizeof(err->msg), "refused");
		return -1;
	}
	eng->progress = progress;
	eng->done = done;
	eng->ctx = ctx;
	return 0;
}

/* Parameters of the declared names only, no nulls, integers >= 0. */
static int query(engine *eng, json_t *params, json_t **reply, engine_error *err)
{
	const char *key;
	json_t *v;

	FZ_CHECK(json_is_object(params));
	json_object_foreach(params, key, v)
	{
		FZ_CHECK(!json_is_null(v));
		if (json_is_integer(v))
			FZ_CHECK(json_integer_value(v) >= 0);
		else
			FZ_CHECK(json_is_string(v));
	}
	if (eng->refuse) {
		/* an engine that forgot its error name: methods.c must still answer */
		err->name = eng->refuse == 2 ? NULL : "io.smkeyd.RecordNotFound";
		err->params = eng->refuse == 2 ? NULL : json_pack("{sO}", "echo", params);
		snprintf(err->msg, sizeof(err->msg), "no such record");
		return -1;
	}
	*reply = json_pack("{sO}", "echo", params);
	return 0;
}

/* The card methods: checked like the queries; accepted ones are answered
 * later through done, as Generate (the harness answers them). */
static int card(engine *eng, json_t *params, engine_done_fn done, void *ctx, engine_error *err)
{
	json_t *reply = NULL;

	if (query(eng, params, &reply, err) < 0)
		return -1;
	json_decref(reply);
	eng->progress = NULL;
	eng->done = done;
	eng->ctx = ctx;
	return 0;
}

/* ---- the harness ---- */

static void one_call(json_t *msg, unsigned refuse)
{
	static const engine_peer peer = {1000, 1000, 4242, {1000, 4}, 2, "/usr/bin/smkey"};
	struct server_conn c = {0, 0};
	engine eng;
	varlink_call call, again;
	varlink_reply rep;
	smk_buf out = SMK_BUF_INIT;
	json_t *msg2 = NULL;
	smk_err e;
	int held;

	fake_engine = (fake_engine_hooks){generate, query, card};

	/* the same message as a reply, as smkey reads one */
	(void)varlink_reply_decode(msg, &rep, &e);
	if (varlink_call_decode(msg, &call, &e) < 0) {
		FZ_CHECK(e.msg[0] != '\0');
		varlink_call_clear(&call);
		return;
	}
	FZ_CHECK(json_is_object(call.params));
	FZ_CHECK(varlink_method_valid(call.method));
	FZ_CHECK(strncmp(call.method, call.interface, strlen(call.interface)) == 0);
	FZ_CHECK(call.method[strlen(call.interface)] == '.');
	FZ_CHECK(strcmp(call.member, call.method + strlen(call.interface) + 1) == 0);

	/* what decodes encodes again to the same call */
	FZ_CHECK(varlink_call_encode(
		     &out, call.method, call.params,
		     (call.more ? VARLINK_MORE : 0) | (call.oneway ? VARLINK_ONEWAY : 0), &e) == 0);
	FZ_CHECK(out.len > 0 && out.data[out.len - 1] == '\0');
	FZ_CHECK(varlink_parse((const char *)out.data, out.len - 1, &msg2, &e) == 0);
	FZ_CHECK(varlink_call_decode(msg2, &again, &e) == 0);
	FZ_CHECK(strcmp(again.method, call.method) == 0);
	FZ_CHECK(again.more == call.more && again.oneway == call.oneway);
	FZ_CHECK(json_equal(again.params, call.params));
	varlink_call_clear(&again);
	json_decref(msg2);
	smk_buf_free(&out);

	memset(&eng, 0, sizeof(eng));
	eng.refuse = (int)refuse;
	held = methods_dispatch(&eng, &c, &peer, &call);
	FZ_CHECK(held == 0 || held == 1);
	if (held == 1) {
		FZ_CHECK(c.answers == 0 && eng.done != NULL);
		if (eng.progress) /* Generate reports progress, the card methods do not */
			eng.progress(eng.ctx, ENGINE_SESSION);
		eng.done(eng.ctx, json_pack("{sisssi}", "seq", 1, "request_id", "r-1", "key_id", 3),
			 NULL);
	}
	FZ_CHECK(c.terminal);
	varlink_call_clear(&call);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fz_in in = {data, size};
	uint16_t seed = fz_u16(&in);
	uint32_t x = seed * 2654435761u + 1;
	size_t max = seed & 0x8000 ? 512 : VARLINK_DEFAULT_MAX_MESSAGE;
	varlink_reader r;
	json_t *msg;
	smk_err e;
	unsigned calls = 0;
	int rc = 0;

	varlink_reader_init(&r, max);
	while (in.n > 0 && rc >= 0) {
		size_t n;
		const uint8_t *p;
		uint8_t *chunk;

		x ^= x << 13;
		x ^= x >> 17;
		x ^= x << 5;
		p = fz_take(&in, 1 + x % 97, &n);
		chunk = fz_dup(p, n);
		FZ_CHECK(varlink_reader_feed(&r, chunk, n, &e) == 0);
		free(chunk);
		while ((rc = varlink_reader_next(&r, &msg, &e)) == 1) {
			FZ_CHECK(json_is_object(msg));
			one_call(msg, (seed >> 8) % 3 == 0 ? 0 : calls % 3);
			calls++;
			json_decref(msg);
		}
		if (rc < 0)
			FZ_CHECK(e.msg[0] != '\0');
		/* a stream without a NUL is bounded too */
		FZ_CHECK(rc < 0 || varlink_reader_pending(&r) <= max + 1);
	}
	varlink_reader_free(&r);
	return 0;
}
