/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The socket layer over a real Unix socket in a temporary directory, with a
 * real libevent loop on its own thread and real blocking clients: what a
 * client sees (replies, errors, closed connections) and what the engine is
 * told (the peer, forget on disconnect).
 *
 * The engine is defined here, all of daemon/engine.h, so the daemon
 * library's real engine object is never linked in. It runs on the loop
 * thread; the test reads what it recorded only after a reply has come back
 * over the socket (or through atomics while polling).
 */
#include <errno.h>
#include <event2/event.h>
#include <event2/thread.h>
#include <fcntl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "daemon/engine.h"
#include "daemon/server.h"
#include "tests/lib/testutil.h"
#include "proto/varlink.h"

/* ---- the test engine ---- */

struct engine {
	int unused;
};

struct job {
	struct event *ev;
	enum engine_stage next;
	engine_progress_fn progress;
	engine_done_fn done;
	void *ctx;
	char label[80];
	json_t *reply; /* the card methods: answered with this at the first tick */
	struct job *link;
};

static struct engine test_engine;
static struct event_base *base;
static struct job *jobs;
static engine_peer last_peer;
static _Atomic int forgotten, held;
static void *_Atomic held_ctx;
static void *_Atomic forgotten_ctx;

void engine_error_clear(engine_error *err)
{
	json_decref(err->params);
	err->params = NULL;
}

const char *engine_stage_name(enum engine_stage stage)
{
	static const char *const names[] = {"queued", "session", "generating", "archived"};

	return names[stage];
}

static void job_free(struct job *j)
{
	struct job **p;

	for (p = &jobs; *p; p = &(*p)->link)
		if (*p == j) {
			*p = j->link;
			break;
		}
	if (j->ev)
		event_free(j->ev);
	json_decref(j->reply);
	free(j);
}

/* One stage every 20 ms, then the reply. */
static void job_tick(evutil_socket_t fd, short what, void *arg)
{
	struct job *j = arg;

	(void)fd;
	(void)what;
	if (j->reply) {
		j->done(j->ctx, j->reply, NULL);
		j->reply = NULL;
		job_free(j);
		return;
	}
	if (j->next <= ENGINE_ARCHIVED) {
		j->progress(j->ctx, j->next++);
		return;
	}
	j->done(j->ctx,
		json_pack("{sisssssIssssssss}", "seq", 1, "request_id", "r-0001", "label", j->label,
			  "key_id", (json_int_t)3, "device", "DENK0404144", "public_key_pem",
			  "-----BEGIN PUBLIC KEY-----\n", "cvreq", "fyGB", "bundle", "{}"),
		NULL);
	job_free(j);
}

int generate_key(engine *eng, const engine_peer *peer, const char *policy, const char *label,
		 const char *device, engine_progress_fn progress, engine_done_fn done, void *ctx,
		 engine_error *err)
{
	struct timeval tick = {0, 20000};
	struct job *j;

	(void)eng;
	(void)device;
	last_peer = *peer;
	if (strcmp(policy, "denied") == 0) {
		err->name = "io.smkeyd.PolicyDenied";
		err->params = json_pack("{ssss}", "policy", policy, "reason",
					"uid 1000 is not in users or groups");
		snprintf(err->msg, sizeof(err->msg), "policy denied");
		return -1;
	}
	if (strcmp(policy, "chatty") == 0) {
		int i;

		/* more progress than any client should be sent, all at once */
		for (i = 0; i < 500; i++)
			progress(ctx, ENGINE_GENERATING);
		held_ctx = ctx;
		held = 1;
		return 0;
	}
	if (strcmp(policy, "slow") == 0) {
		/* never completes: the client goes away first */
		held_ctx = ctx;
		held = 1;
		return 0;
	}
	/* no ck_assert here: --serve runs this engine outside any test */
	j = calloc(1, sizeof(*j));
	if (j == NULL) {
		err->name = "io.smkeyd.TooManyRequests";
		err->params = json_pack("{si}", "limit", 0);
		return -1;
	}
	j->progress = progress;
	j->done = done;
	j->ctx = ctx;
	snprintf(j->label, sizeof(j->label), "apk-%s", label ? label : "default");
	j->ev = event_new(base, -1, EV_PERSIST, job_tick, j);
	event_add(j->ev, &tick);
	j->link = jobs;
	jobs = j;
	return 0;
}

/* every client here is the test's own uid, which the test engine names */
int engine_peer_named(engine *eng, const engine_peer *peer)
{
	(void)eng;
	(void)peer;
	return 1;
}

void engine_forget(engine *eng, void *ctx)
{
	struct job *j;

	(void)eng;
	for (j = jobs; j; j = j->link)
		if (j->ctx == ctx) {
			job_free(j);
			break;
		}
	forgotten_ctx = ctx;
	forgotten++;
}

/* The certificate and adoption methods answer later, from the loop, as the
 * real engine does after the card work. The reply carries the parameters
 * as the engine received them (after the socket layer's checks), beside
 * the fields smkey reads. Key id 99 is not adoptable. */
static int card_later(json_t *reply, json_t *params, engine_done_fn done, void *ctx,
		      engine_error *err)
{
	struct timeval tick = {0, 1000};
	struct job *j;

	if (json_integer_value(json_object_get(params, "key_id")) == 99) {
		json_decref(reply);
		err->name = "io.smkeyd.NotAdoptable";
		err->params = json_pack("{sssiss}", "device", "ZZSIM00001", "key_id", 99, "reason",
					"CE|63 holds an X.509 certificate");
		return -1;
	}
	j = calloc(1, sizeof(*j));
	if (j == NULL || reply == NULL) {
		free(j);
		json_decref(reply);
		err->name = "io.smkeyd.TooManyRequests";
		err->params = json_pack("{si}", "limit", 0);
		return -1;
	}
	json_object_set(reply, "seen", params);
	j->reply = reply;
	j->done = done;
	j->ctx = ctx;
	j->ev = event_new(base, -1, EV_PERSIST, job_tick, j);
	event_add(j->ev, &tick);
	j->link = jobs;
	jobs = j;
	return 0;
}

int certs_create_csr(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,
		     void *ctx, engine_error *err)
{
	char pem[1200];

	(void)eng, (void)peer;
	snprintf(pem, sizeof(pem),
		 "-----BEGIN CERTIFICATE REQUEST-----\n%s\n-----END CERTIFICATE REQUEST-----\n",
		 json_string_value(json_object_get(params, "subject")));
	return card_later(json_pack("{ss}", "csr", pem), params, done, ctx, err);
}

int certs_self_sign(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,
		    void *ctx, engine_error *err)
{
	(void)eng, (void)peer;
	return card_later(json_pack("{ss}", "certificate", "-----BEGIN CERTIFICATE-----\n"), params,
			  done, ctx, err);
}

int certs_import(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,
		 void *ctx, engine_error *err)
{
	(void)eng, (void)peer;
	return card_later(json_pack("{sisiss}", "seq", 9, "key_seq", 5, "fingerprint", "ab"),
			  params, done, ctx, err);
}

int adopt_key(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done, void *ctx,
	      engine_error *err)
{
	(void)eng, (void)peer;
	return card_later(json_pack("{sisssssss{}}", "seq", 7, "request_id", "r-0007",
				    "fingerprint", "cd", "public_key_pem", "", "bundle"),
			  params, done, ctx, err);
}

int adopt_list_objects(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,
		       void *ctx, engine_error *err)
{
	(void)eng, (void)peer;
	return card_later(json_pack("{s[{sisssbss}]}", "objects", "key_id", 2, "ce", "cv_request",
				    "archived", 0, "hint", "not in the archive: adopt it"),
			  params, done, ctx, err);
}

int sign_data(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done, void *ctx,
	      engine_error *err)
{
	(void)eng, (void)peer;
	return card_later(json_pack("{sssssi}", "signature", "MEUC", "algorithm", "ecdsa-sha256",
				    "record_seq", 8),
			  params, done, ctx, err);
}

static int reply_with(json_t *v, json_t **reply)
{
	*reply = v;
	return 0;
}

int sign_list_keys(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
		   engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_pack("{s[]}", "keys"), reply);
}

int engine_get_record(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
		      engine_error *err)
{
	(void)eng;
	(void)peer;
	if (json_integer_value(json_object_get(params, "seq")) == 404) {
		err->name = "io.smkeyd.RecordNotFound";
		err->params = json_object();
		return -1;
	}
	return reply_with(json_pack("{s{sI}}", "record", "seq",
				    json_integer_value(json_object_get(params, "seq"))),
			  reply);
}

int engine_list_records(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_pack("{s[]}", "records"), reply);
}

int engine_get_bundle(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
		      engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_pack("{ss}", "bundle", "{}"), reply);
}

int engine_list_policies(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			 engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_pack("{s[]}", "policies"), reply);
}

int engine_list_devices(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_pack("{s[]}", "devices"), reply);
}

int engine_get_checkpoint(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			  engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_pack("{s{sissss}}", "checkpoint", "size", 1, "root_hash", "AA",
				    "text", "smkeyd\n1\nAA\n"),
			  reply);
}

int engine_get_log_key(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
		       engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_pack("{ssss}", "origin", "smkeyd/0000000000000000", "verifier_key",
				    "smkeyd/0000000000000000+00000000+AA=="),
			  reply);
}

int engine_get_consistency_proof(engine *eng, const engine_peer *peer, json_t *params,
				 json_t **reply, engine_error *err)
{
	(void)eng, (void)peer, (void)err;
	return reply_with(json_pack("{sOsis[]}", "old_size", json_object_get(params, "old_size"),
				    "new_size", 9, "proof"),
			  reply);
}

int witness_add_cosignatures(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			     engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_pack("{sis[]}", "stored", 0, "rejected"), reply);
}

int witness_report_push(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			engine_error *err)
{
	(void)eng, (void)peer, (void)params, (void)err;
	return reply_with(json_object(), reply);
}

/* The text forms methods.c uses for GetRecord and ListPolicies: the JSON
 * forms above, dumped as the real engine does. */
static int as_text(int rc, json_t *reply, smk_buf *out)
{
	char *text;

	if (rc < 0)
		return rc;
	text = json_dumps(reply, JSON_COMPACT);
	json_decref(reply);
	if (text == NULL)
		return -1;
	rc = smk_buf_add(out, text, strlen(text));
	free(text);
	return rc;
}

int engine_get_record_text(engine *eng, const engine_peer *peer, json_t *params, smk_buf *out,
			   engine_error *err)
{
	json_t *reply = NULL;
	int rc = engine_get_record(eng, peer, params, &reply, err);

	return as_text(rc, reply, out);
}

int engine_list_policies_text(engine *eng, const engine_peer *peer, json_t *params, smk_buf *out,
			      engine_error *err)
{
	json_t *reply = NULL;
	int rc = engine_list_policies(eng, peer, params, &reply, err);

	return as_text(rc, reply, out);
}

/* ---- the server under test, on its own loop thread ---- */

static server *srv;
static pthread_t loop_thread;
static char dir[64], sock_path[128];

static _Atomic int dropped_slow, dropped_idle, dropped_deadline;

static void quiet(void *ctx, enum server_log_level level, const char *msg)
{
	(void)ctx;
	if (strstr(msg, "not reading its replies"))
		dropped_slow = 1;
	if (strstr(msg, "took no reply bytes within the idle time"))
		dropped_idle = 1;
	if (strstr(msg, "no complete request within"))
		dropped_deadline = 1;
	if (getenv("SMK_TEST_VERBOSE") || level == SERVER_LOG_ERR)
		fprintf(stderr, "server: %s\n", msg);
}

static void *loop_main(void *arg)
{
	(void)arg;
	event_base_loop(base, EVLOOP_NO_EXIT_ON_EMPTY);
	return NULL;
}

static void start(const server_limits *lim)
{
	smk_err e;

	tu_temp_dir(dir, sizeof(dir), "smk-server");
	snprintf(sock_path, sizeof(sock_path), "%s/smkeyd.sock", dir);
	ck_assert_int_eq(evthread_use_pthreads(), 0);
	base = event_base_new();
	ck_assert_ptr_nonnull(base);
	srv = server_new(base, &test_engine, lim, &e);
	ck_assert_msg(srv != NULL, "%s", e.msg);
	server_set_log(srv, quiet, NULL);
	ck_assert_msg(server_listen_path(srv, sock_path, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(pthread_create(&loop_thread, NULL, loop_main, NULL), 0);
}

static void start_default(void)
{
	start(NULL);
}

static void stop(void)
{
	event_base_loopbreak(base);
	pthread_join(loop_thread, NULL);
	server_free(srv);
	while (jobs)
		job_free(jobs);
	event_base_free(base);
	/* the server removes its own socket file */
	ck_assert_int_eq(access(sock_path, F_OK), -1);
	rmdir(dir);
}

/* ---- a blocking client ---- */

typedef struct client {
	int fd;
	varlink_reader rd;
} client;

static void cl_open(client *c)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	struct timeval tv = {5, 0};

	strcpy(sa.sun_path, sock_path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ge(c->fd, 0);
	ck_assert_msg(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "connect: %s",
		      strerror(errno));
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof(tv));
	varlink_reader_init(&c->rd, 1 << 20);
}

static void cl_close(client *c)
{
	close(c->fd);
	varlink_reader_free(&c->rd);
}

static void cl_send_raw(client *c, const void *p, size_t n)
{
	ck_assert_int_eq(write(c->fd, p, n), (ssize_t)n);
}

static void cl_send(client *c, const char *json)
{
	cl_send_raw(c, json, strlen(json) + 1);
}

/* The next message, or NULL at end of stream. A timeout fails the test. */
static json_t *cl_recv(client *c)
{
	char chunk[4096];
	json_t *m;
	smk_err e;
	ssize_t n;
	int rc;

	for (;;) {
		rc = varlink_reader_next(&c->rd, &m, &e);
		ck_assert_msg(rc >= 0, "client: %s", e.msg);
		if (rc == 1)
			return m;
		n = read(c->fd, chunk, sizeof(chunk));
		ck_assert_msg(n >= 0 || errno == ECONNRESET, "client read: %s", strerror(errno));
		if (n <= 0)
			return NULL;
		varlink_reader_feed(&c->rd, chunk, (size_t)n, &e);
	}
}

static json_t *cl_call(client *c, const char *json)
{
	json_t *m;

	cl_send(c, json);
	m = cl_recv(c);
	ck_assert_msg(m != NULL, "no reply to %s", json);
	return m;
}

static const char *error_of(json_t *m)
{
	return json_string_value(json_object_get(m, "error"));
}

static json_t *params_of(json_t *m)
{
	return json_object_get(m, "parameters");
}

static const char *param_str(json_t *m, const char *key)
{
	return json_string_value(json_object_get(params_of(m), key));
}

static void assert_served(void)
{
	client c;
	json_t *m;

	cl_open(&c);
	m = cl_call(&c, "{\"method\":\"org.varlink.service.GetInfo\"}");
	ck_assert_ptr_null(error_of(m));
	ck_assert_str_eq(param_str(m, "product"), "smkeyd");
	json_decref(m);
	cl_close(&c);
}

static void sleep_ms(long ms)
{
	struct timespec ts = {ms / 1000, (ms % 1000) * 1000000};

	nanosleep(&ts, NULL);
}

/* ---- tests ---- */

START_TEST(test_getinfo_and_description)
{
	smk_buf file = SMK_BUF_INIT;
	client c;
	json_t *m, *ifaces;

	cl_open(&c);
	m = cl_call(&c, "{\"method\":\"org.varlink.service.GetInfo\",\"parameters\":{}}");
	ifaces = json_object_get(params_of(m), "interfaces");
	ck_assert_uint_eq(json_array_size(ifaces), 2);
	ck_assert_str_eq(json_string_value(json_array_get(ifaces, 0)), "org.varlink.service");
	ck_assert_str_eq(json_string_value(json_array_get(ifaces, 1)), "io.smkeyd");
	ck_assert_str_eq(param_str(m, "version"), "0.1.0");
	json_decref(m);

	tu_read_source_file(&file, "proto/io.smkeyd.varlink");
	m = cl_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			"\"parameters\":{\"interface\":\"io.smkeyd\"}}");
	ck_assert_uint_eq(strlen(param_str(m, "description")), file.len);
	ck_assert(memcmp(param_str(m, "description"), file.data, file.len) == 0);
	json_decref(m);
	m = cl_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			"\"parameters\":{\"interface\":\"org.varlink.service\"}}");
	ck_assert_ptr_nonnull(
	    strstr(param_str(m, "description"), "interface org.varlink.service\n"));
	json_decref(m);
	m = cl_call(&c, "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			"\"parameters\":{\"interface\":\"com.example.x\"}}");
	ck_assert_str_eq(error_of(m), "org.varlink.service.InterfaceNotFound");
	ck_assert_str_eq(param_str(m, "interface"), "com.example.x");
	json_decref(m);
	smk_buf_free(&file);
	cl_close(&c);
}
END_TEST

/* One invalid call per method, on one connection that stays usable. */
START_TEST(test_validation_errors_per_method)
{
	static const struct {
		const char *call, *parameter;
	} bad[] = {
	    {"\"io.smkeyd.Generate\",\"parameters\":{\"policy\":\"../release-apk\"}", "policy"},
	    {"\"io.smkeyd.GetRecord\",\"parameters\":{\"seq\":-3}", "seq"},
	    {"\"io.smkeyd.ListRecords\",\"parameters\":{\"limit\":\"ten\"}", "limit"},
	    {"\"io.smkeyd.GetBundle\",\"parameters\":{}", "seq"},
	    {"\"io.smkeyd.ListPolicies\",\"parameters\":{\"all\":true}", "all"},
	    {"\"io.smkeyd.ListDevices\",\"parameters\":{\"serial\":\"x\"}", "serial"},
	    {"\"io.smkeyd.GetCheckpoint\",\"parameters\":{\"size\":1}", "size"},
	    {"\"io.smkeyd.GetConsistencyProof\",\"parameters\":{\"old_size\":2.5}", "old_size"},
	};
	char msg[256];
	client c;
	json_t *m;
	size_t i;

	cl_open(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(msg, sizeof(msg), "{\"method\":%s}", bad[i].call);
		m = cl_call(&c, msg);
		ck_assert_msg(error_of(m) && strcmp(error_of(m), "io.smkeyd.InvalidParameter") == 0,
			      "%s: %s", msg, error_of(m));
		ck_assert_str_eq(param_str(m, "parameter"), bad[i].parameter);
		ck_assert_ptr_nonnull(param_str(m, "reason"));
		json_decref(m);
	}
	m = cl_call(&c, "{\"method\":\"io.smkeyd.Nope\"}");
	ck_assert_str_eq(error_of(m), "org.varlink.service.MethodNotFound");
	ck_assert_str_eq(param_str(m, "method"), "io.smkeyd.Nope");
	json_decref(m);
	/* the engine's own errors pass through by name */
	m = cl_call(&c, "{\"method\":\"io.smkeyd.GetRecord\",\"parameters\":{\"seq\":404}}");
	ck_assert_str_eq(error_of(m), "io.smkeyd.RecordNotFound");
	json_decref(m);
	m = cl_call(&c, "{\"method\":\"io.smkeyd.GetConsistencyProof\",\"parameters\":"
			"{\"old_size\":2}}");
	ck_assert_ptr_null(error_of(m));
	ck_assert_int_eq(json_integer_value(json_object_get(params_of(m), "old_size")), 2);
	json_decref(m);
	cl_close(&c);
}
END_TEST

/* The after-generation methods: each parameter checked as the interface says, on
 * one connection that stays usable; what passes reaches the engine without
 * nulls, and its later answer comes back. */
START_TEST(test_card_methods_check_parameters)
{
	static const char *const pem = "-----BEGIN CERTIFICATE-----\\nMII\\n";
	static const struct {
		const char *method, *params, *parameter;
	} bad[] = {
	    {"CreateCSR", "{\"seq\":1}", "subject"},
	    {"CreateCSR", "{\"subject\":\"/CN=x\"}", "seq"},
	    {"CreateCSR", "{\"seq\":1,\"request_id\":\"ab\",\"subject\":\"/CN=x\"}", "seq"},
	    {"CreateCSR", "{\"seq\":1,\"subject\":\"CN=x\"}", "subject"},
	    {"CreateCSR", "{\"seq\":1,\"subject\":\"/CN=a\\nb\"}", "subject"},
	    {"CreateCSR", "{\"seq\":1,\"subject\":7}", "subject"},
	    {"CreateCSR", "{\"seq\":1,\"subject\":\"/CN=x\",\"days\":5}", "days"},
	    {"SelfSign", "{\"seq\":1,\"subject\":\"/CN=x\",\"days\":0}", "days"},
	    {"SelfSign", "{\"seq\":1,\"subject\":\"/CN=x\",\"days\":36501}", "days"},
	    {"SelfSign", "{\"seq\":1,\"subject\":\"/CN=x\",\"days\":\"9\"}", "days"},
	    {"SelfSign", "{\"seq\":-1,\"subject\":\"/CN=x\"}", "seq"},
	    {"ImportCertificate", "{\"seq\":1}", "certificate"},
	    {"ImportCertificate", "{\"seq\":1,\"certificate\":\"MIIB\"}", "certificate"},
	    {"ImportCertificate",
	     "{\"request_id\":\"a/b\",\"certificate\":\"-----BEGIN CERTIFICATE-----\"}",
	     "request_id"},
	    {"Adopt", "{\"key_id\":1}", "device"},
	    {"Adopt", "{\"device\":\"ZZSIM00001\"}", "key_id"},
	    {"Adopt", "{\"device\":\"ZZSIM00001\",\"key_id\":0}", "key_id"},
	    {"Adopt", "{\"device\":\"ZZSIM00001\",\"key_id\":256}", "key_id"},
	    {"Adopt", "{\"device\":\"../x\",\"key_id\":1}", "device"},
	    {"Adopt", "{\"device\":\"ZZSIM00001\",\"key_id\":1,\"label\":\"\"}", "label"},
	    {"Adopt", "{\"device\":\"ZZSIM00001\",\"key_id\":1,\"policy\":\"x\"}", "policy"},
	    {"ListDeviceObjects", "{}", "device"},
	    {"ListDeviceObjects", "{\"device\":\"ZZSIM00001\",\"key_id\":1}", "key_id"},
	};
	char msg[512];
	client c;
	json_t *m, *seen;
	size_t i;

	cl_open(&c);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(msg, sizeof(msg), "{\"method\":\"io.smkeyd.%s\",\"parameters\":%s}",
			 bad[i].method, bad[i].params);
		m = cl_call(&c, msg);
		ck_assert_msg(error_of(m) && strcmp(error_of(m), "io.smkeyd.InvalidParameter") == 0,
			      "%s: %s", msg, error_of(m));
		ck_assert_msg(strcmp(param_str(m, "parameter"), bad[i].parameter) == 0, "%s: %s",
			      msg, param_str(m, "parameter"));
		ck_assert_ptr_nonnull(param_str(m, "reason"));
		json_decref(m);
	}

	/* accepted: answered later with the parameters the engine saw */
	m = cl_call(&c, "{\"method\":\"io.smkeyd.SelfSign\",\"parameters\":{\"request_id\":"
			"\"0123456789abcdef0123456789abcdef\",\"seq\":null,\"subject\":"
			"\"/CN=Release key/O=Example Ltd\",\"days\":36500}}");
	ck_assert_ptr_null(error_of(m));
	seen = json_object_get(params_of(m), "seen");
	ck_assert_ptr_null(json_object_get(seen, "seq"));
	ck_assert_int_eq(json_integer_value(json_object_get(seen, "days")), 36500);
	ck_assert_str_eq(json_string_value(json_object_get(seen, "subject")),
			 "/CN=Release key/O=Example Ltd");
	json_decref(m);
	snprintf(msg, sizeof(msg),
		 "{\"method\":\"io.smkeyd.ImportCertificate\",\"parameters\":{\"seq\":5,"
		 "\"certificate\":\"%s\"}}",
		 pem);
	m = cl_call(&c, msg);
	ck_assert_ptr_null(error_of(m));
	ck_assert_int_eq(json_integer_value(json_object_get(params_of(m), "key_seq")), 5);
	json_decref(m);
	m = cl_call(&c, "{\"method\":\"io.smkeyd.Adopt\",\"parameters\":{\"device\":"
			"\"ZZSIM00001\",\"key_id\":255,\"label\":\"made by OpenSC\"}}");
	ck_assert_ptr_null(error_of(m));
	seen = json_object_get(params_of(m), "seen");
	ck_assert_int_eq(json_integer_value(json_object_get(seen, "key_id")), 255);
	json_decref(m);
	/* the engine's refusal passes through by name, with its parameters */
	m = cl_call(&c, "{\"method\":\"io.smkeyd.Adopt\",\"parameters\":{\"device\":"
			"\"ZZSIM00001\",\"key_id\":99}}");
	ck_assert_str_eq(error_of(m), "io.smkeyd.NotAdoptable");
	ck_assert_int_eq(json_integer_value(json_object_get(params_of(m), "key_id")), 99);
	json_decref(m);
	m = cl_call(&c, "{\"method\":\"io.smkeyd.ListDeviceObjects\",\"parameters\":{"
			"\"device\":\"ZZSIM00001\"}}");
	ck_assert_ptr_null(error_of(m));
	ck_assert_uint_eq(json_array_size(json_object_get(params_of(m), "objects")), 1);
	json_decref(m);
	cl_close(&c);
}
END_TEST

START_TEST(test_generate_without_more)
{
	client c;
	json_t *m;

	cl_open(&c);
	m = cl_call(&c, "{\"method\":\"io.smkeyd.Generate\",\"parameters\":"
			"{\"policy\":\"release-apk\",\"label\":\"app\"}}");
	ck_assert_ptr_null(error_of(m));
	ck_assert_ptr_null(json_object_get(m, "continues"));
	ck_assert_ptr_null(json_object_get(params_of(m), "progress"));
	ck_assert_str_eq(param_str(m, "label"), "apk-app");
	ck_assert_str_eq(param_str(m, "request_id"), "r-0001");
	json_decref(m);
	/* no progress was queued behind the reply: the next message answers the next call */
	m = cl_call(&c, "{\"method\":\"io.smkeyd.ListDevices\"}");
	ck_assert_ptr_nonnull(json_object_get(params_of(m), "devices"));
	json_decref(m);
	cl_close(&c);
}
END_TEST

START_TEST(test_generate_with_more)
{
	static const char *const stages[] = {"queued", "session", "generating", "archived"};
	long long last = -1;
	client c;
	json_t *m, *p;
	int i;

	cl_open(&c);
	cl_send(&c,
		"{\"method\":\"io.smkeyd.Generate\",\"parameters\":{\"policy\":\"release-apk\"},"
		"\"more\":true}");
	for (i = 0; i < 4; i++) {
		m = cl_recv(&c);
		ck_assert_ptr_nonnull(m);
		ck_assert(json_is_true(json_object_get(m, "continues")));
		p = json_object_get(params_of(m), "progress");
		ck_assert_str_eq(json_string_value(json_object_get(p, "stage")), stages[i]);
		ck_assert_int_ge(json_integer_value(json_object_get(p, "elapsed_ms")), last);
		last = json_integer_value(json_object_get(p, "elapsed_ms"));
		json_decref(m);
	}
	/* stages come 20 ms apart */
	ck_assert_int_ge(last, 60);
	m = cl_recv(&c);
	ck_assert_ptr_nonnull(m);
	ck_assert_ptr_null(json_object_get(m, "continues"));
	ck_assert_int_eq(json_integer_value(json_object_get(params_of(m), "key_id")), 3);
	ck_assert_str_eq(param_str(m, "label"), "apk-default");
	json_decref(m);
	cl_close(&c);
}
END_TEST

START_TEST(test_policy_denied_passthrough)
{
	client c;
	json_t *m;

	cl_open(&c);
	m = cl_call(&c, "{\"method\":\"io.smkeyd.Generate\",\"parameters\":{\"policy\":\"denied\"},"
			"\"more\":true}");
	ck_assert_str_eq(error_of(m), "io.smkeyd.PolicyDenied");
	ck_assert_str_eq(param_str(m, "policy"), "denied");
	ck_assert_str_eq(param_str(m, "reason"), "uid 1000 is not in users or groups");
	json_decref(m);
	cl_close(&c);
}
END_TEST

START_TEST(test_peer_seen_by_kernel)
{
	char exe[256];
	gid_t groups[64];
	client c;
	json_t *m;
	ssize_t n;
	int ng, i;
	size_t k;

	cl_open(&c);
	m = cl_call(&c,
		    "{\"method\":\"io.smkeyd.Generate\",\"parameters\":{\"policy\":\"denied\"}}");
	json_decref(m);
	ck_assert_uint_eq(last_peer.uid, getuid());
	ck_assert_uint_eq(last_peer.gid, getgid());
	ck_assert_int_eq(last_peer.pid, getpid());
	n = readlink("/proc/self/exe", exe, sizeof(exe) - 1);
	ck_assert_int_gt(n, 0);
	exe[n] = '\0';
	ck_assert_str_eq(last_peer.exe, exe);
	ng = getgroups(64, groups);
	ck_assert_int_ge(ng, 0);
	ck_assert_uint_eq(last_peer.ngroups, (size_t)ng);
	for (i = 0; i < ng; i++) {
		for (k = 0; k < last_peer.ngroups; k++)
			if (last_peer.groups[k] == groups[i])
				break;
		ck_assert_msg(k < last_peer.ngroups, "group %u not seen", (unsigned)groups[i]);
	}
	cl_close(&c);
}
END_TEST

static void assert_refused_and_closed(client *c, const char *parameter)
{
	json_t *m = cl_recv(c);

	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(error_of(m), "org.varlink.service.InvalidParameter");
	ck_assert_str_eq(param_str(m, "parameter"), parameter);
	json_decref(m);
	ck_assert_ptr_null(cl_recv(c)); /* then the end of the stream */
}

static void start_small(void)
{
	server_limits lim;

	server_limits_default(&lim);
	lim.max_message = 1024;
	lim.max_output = 8192;
	lim.max_clients = 3;
	lim.idle_timeout_ms = 300;
	start(&lim);
}

START_TEST(test_oversized_message_closes_and_next_served)
{
	char big[3000];
	client c;

	/* a stream without NUL past the limit */
	memset(big, ' ', sizeof(big));
	cl_open(&c);
	cl_send_raw(&c, big, sizeof(big));
	assert_refused_and_closed(&c, "message");
	cl_close(&c);
	assert_served();

	/* a whole message over the limit */
	memcpy(big, "{\"method\":\"io.smkeyd.ListPolicies\",\"x\":\"", 41);
	memset(big + 41, 'a', 2000);
	strcpy(big + 2041, "\"}");
	cl_open(&c);
	cl_send(&c, big);
	assert_refused_and_closed(&c, "message");
	cl_close(&c);
	assert_served();
}
END_TEST

START_TEST(test_malformed_messages_close)
{
	static const char *const bad[][2] = {
	    {"{nope}", "message"},
	    {"[1,2]", "message"},
	    {"{\"method\":\"io.smkeyd.ListPolicies\",\"upgrade\":true}", "upgrade"},
	    {"{\"method\":7}", "method"},
	    {"{\"method\":\"io.smkeyd.ListPolicies\",\"parameters\":[]}", "parameters"},
	    {"{\"x\":\"\xff\"}", "message"},
	};
	client c;
	size_t i;

	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		static const char good[] = "{\"method\":\"org.varlink.service.GetInfo\"}";
		char both[256];
		size_t n = strlen(bad[i][0]) + 1;

		cl_open(&c);
		/* a good call pipelined after the bad one is never answered; both go
		 * in one write, since the server may close before a second write */
		memcpy(both, bad[i][0], n);
		memcpy(both + n, good, sizeof(good));
		cl_send_raw(&c, both, n + sizeof(good));
		assert_refused_and_closed(&c, bad[i][1]);
		cl_close(&c);
	}
	assert_served();
}
END_TEST

START_TEST(test_pipelined_and_oneway)
{
	static const char three[] =
	    "{\"method\":\"io.smkeyd.GetRecord\",\"parameters\":{\"seq\":1}}\0"
	    "{\"method\":\"io.smkeyd.ListPolicies\",\"oneway\":true}\0"
	    "{\"method\":\"io.smkeyd.GetRecord\",\"parameters\":{\"seq\":2}}";
	client c;
	json_t *m;

	cl_open(&c);
	cl_send_raw(&c, three, sizeof(three)); /* in one write, each with its NUL */
	m = cl_recv(&c);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(params_of(m), "record"), "seq")), 1);
	json_decref(m);
	/* the oneway call got nothing; the next reply is the third call's */
	m = cl_recv(&c);
	ck_assert_int_eq(
	    json_integer_value(json_object_get(json_object_get(params_of(m), "record"), "seq")), 2);
	json_decref(m);
	cl_close(&c);
}
END_TEST

START_TEST(test_half_closed_client_answered)
{
	char call[128];
	client c;
	json_t *m;
	int i;

	/* 20 pipelined calls, then the client shuts down its sending side:
	 * every call is answered, in order, then the stream ends */
	cl_open(&c);
	for (i = 0; i < 20; i++) {
		snprintf(call, sizeof(call),
			 "{\"method\":\"io.smkeyd.GetRecord\",\"parameters\":{\"seq\":%d}}", i);
		cl_send(&c, call);
	}
	ck_assert_int_eq(shutdown(c.fd, SHUT_WR), 0);
	for (i = 0; i < 20; i++) {
		m = cl_recv(&c);
		ck_assert_msg(m != NULL, "reply %d missing", i);
		ck_assert_int_eq(json_integer_value(json_object_get(
				     json_object_get(params_of(m), "record"), "seq")),
				 i);
		json_decref(m);
	}
	ck_assert_ptr_null(cl_recv(&c));
	cl_close(&c);
}
END_TEST

START_TEST(test_slow_reader_dropped)
{
	const char call[] = "{\"method\":\"org.varlink.service.GetInterfaceDescription\","
			    "\"parameters\":{\"interface\":\"io.smkeyd\"}}";
	client c;
	json_t *m;
	int i, got = 0;

	cl_open(&c);
	/* 300 calls (~29 KB) and no reading: the replies (~900 KB) fill the
	 * kernel buffer, the server stops reading calls, and the write timeout
	 * (300 ms here) closes the connection */
	for (i = 0; i < 300; i++)
		ck_assert_int_eq(write(c.fd, call, sizeof(call)), (ssize_t)sizeof(call));
	sleep_ms(700);
	ck_assert(dropped_idle);
	while ((m = cl_recv(&c)) != NULL) {
		got++;
		json_decref(m);
	}
	ck_assert_int_gt(got, 0);
	ck_assert_int_lt(got, 300);
	cl_close(&c);
	assert_served();
}
END_TEST

/* Replies pushed faster than the client takes them: past max_output the
 * client is dropped, and its pending job forgotten. */
START_TEST(test_unread_replies_bounded)
{
	client c;
	int i;

	cl_open(&c);
	cl_send(&c, "{\"method\":\"io.smkeyd.Generate\",\"parameters\":{\"policy\":\"chatty\"},"
		    "\"more\":true}");
	for (i = 0; i < 250 && !forgotten; i++)
		sleep_ms(20);
	ck_assert(dropped_slow);
	ck_assert_int_eq(forgotten, 1);
	ck_assert_ptr_eq(forgotten_ctx, held_ctx);
	cl_close(&c);
	assert_served();
}
END_TEST

START_TEST(test_max_clients)
{
	client c[3], extra;
	json_t *m;
	int i, tries;

	for (i = 0; i < 3; i++) {
		cl_open(&c[i]);
		m = cl_call(&c[i], "{\"method\":\"io.smkeyd.ListDevices\"}");
		ck_assert_ptr_null(error_of(m));
		json_decref(m);
	}
	cl_open(&extra);
	m = cl_recv(&extra);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(error_of(m), "io.smkeyd.TooManyRequests");
	ck_assert_int_eq(json_integer_value(json_object_get(params_of(m), "limit")), 3);
	json_decref(m);
	ck_assert_ptr_null(cl_recv(&extra));
	cl_close(&extra);

	/* a slot frees when a client leaves */
	cl_close(&c[0]);
	for (tries = 0; tries < 100; tries++) {
		cl_open(&extra);
		m = cl_call(&extra, "{\"method\":\"io.smkeyd.ListDevices\"}");
		if (error_of(m) == NULL)
			break;
		json_decref(m);
		cl_close(&extra);
		sleep_ms(20);
	}
	ck_assert_int_lt(tries, 100);
	json_decref(m);
	cl_close(&extra);
	cl_close(&c[1]);
	cl_close(&c[2]);
}
END_TEST

START_TEST(test_disconnect_during_generate_forgets)
{
	client c;
	int i;

	cl_open(&c);
	cl_send(&c, "{\"method\":\"io.smkeyd.Generate\",\"parameters\":{\"policy\":\"slow\"},"
		    "\"more\":true}");
	for (i = 0; i < 250 && !held; i++)
		sleep_ms(20);
	ck_assert(held);
	/* longer than the idle time: a call in flight is not idleness */
	sleep_ms(500);
	ck_assert_int_eq(forgotten, 0);
	cl_close(&c);
	for (i = 0; i < 250 && !forgotten; i++)
		sleep_ms(20);
	ck_assert_int_eq(forgotten, 1);
	ck_assert_ptr_eq(forgotten_ctx, held_ctx);
	assert_served();
}
END_TEST

START_TEST(test_idle_client_closed)
{
	struct timespec t0, t1;
	client c;

	cl_open(&c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	ck_assert_ptr_null(cl_recv(&c));
	clock_gettime(CLOCK_MONOTONIC, &t1);
	ck_assert_int_ge((t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000, 250);
	cl_close(&c);
}
END_TEST

/* ---- request deadline and per-uid limit ---- */

static void start_request_limits(void)
{
	server_limits lim;

	server_limits_default(&lim);
	lim.max_clients = 4;
	lim.max_clients_per_uid = 2;
	lim.idle_timeout_ms = 3000;
	lim.request_timeout_ms = 400;
	dropped_deadline = 0;
	start(&lim);
}

static long since_ms(const struct timespec *t0)
{
	struct timespec t1;

	clock_gettime(CLOCK_MONOTONIC, &t1);
	return (long)((t1.tv_sec - t0->tv_sec) * 1000 + (t1.tv_nsec - t0->tv_nsec) / 1000000);
}

/* A client that sends one byte of a request every 100 ms never gets idle,
 * but is closed at the request deadline (400 ms), long before the idle
 * time (3 s). */
START_TEST(test_trickled_request_closed_at_deadline)
{
	static const char req[] = "{\"method\":\"io.smkeyd.ListDevices\"";
	struct timespec t0;
	char buf[64];
	long ms = 0;
	size_t i = 0;
	ssize_t n;
	client c;

	cl_open(&c);
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (;;) {
		if (send(c.fd, req + i % (sizeof(req) - 1), 1, MSG_NOSIGNAL) != 1)
			break;
		i++;
		sleep_ms(100);
		/* closed? (a read of 0, or a reset) */
		n = recv(c.fd, buf, sizeof(buf), MSG_DONTWAIT);
		if (n == 0 || (n < 0 && errno != EAGAIN))
			break;
		ck_assert_msg(since_ms(&t0) < 2500, "still open after %ld ms of trickling",
			      since_ms(&t0));
	}
	ms = since_ms(&t0);
	ck_assert_msg(ms >= 350 && ms < 1500, "closed after %ld ms", ms);
	ck_assert(dropped_deadline);
	cl_close(&c);
	assert_served();
}
END_TEST

/* The deadline is for a request under way: between calls a client may
 * wait (up to the idle time) and is served again. */
START_TEST(test_idle_between_requests_not_a_deadline)
{
	client c;
	json_t *m;

	cl_open(&c);
	m = cl_call(&c, "{\"method\":\"io.smkeyd.ListDevices\"}");
	ck_assert_ptr_null(error_of(m));
	json_decref(m);
	sleep_ms(900);
	m = cl_call(&c, "{\"method\":\"io.smkeyd.ListDevices\"}");
	ck_assert_ptr_null(error_of(m));
	json_decref(m);
	ck_assert(!dropped_deadline);
	cl_close(&c);
}
END_TEST

/* One uid holds at most max_clients_per_uid connections; the next one is
 * told TooManyRequests with that limit. */
START_TEST(test_per_uid_limit)
{
	client c[2], extra;
	json_t *m;
	int i;

	for (i = 0; i < 2; i++) {
		cl_open(&c[i]);
		m = cl_call(&c[i], "{\"method\":\"io.smkeyd.ListDevices\"}");
		ck_assert_ptr_null(error_of(m));
		json_decref(m);
	}
	cl_open(&extra);
	m = cl_recv(&extra);
	ck_assert_ptr_nonnull(m);
	ck_assert_str_eq(error_of(m), "io.smkeyd.TooManyRequests");
	ck_assert_int_eq(json_integer_value(json_object_get(params_of(m), "limit")), 2);
	json_decref(m);
	cl_close(&extra);
	cl_close(&c[0]);
	cl_close(&c[1]);
}
END_TEST

/* ---- smkey and the Python client against this server ---- */

/* Run a shell command with SMKEYD_SOCKET set; its exit status, and its
 * stdout and stderr in out. */
static int run(char *out, size_t outsz, const char *cmd)
{
	char line[2048];
	size_t n = 0, k;
	FILE *p;
	int st;

	snprintf(line, sizeof(line), "SMKEYD_SOCKET=%s %s 2>&1", sock_path, cmd);
	p = popen(line, "r");
	ck_assert_ptr_nonnull(p);
	while (n + 1 < outsz && (k = fread(out + n, 1, outsz - 1 - n, p)) > 0)
		n += k;
	out[n] = '\0';
	st = pclose(p);
	ck_assert(WIFEXITED(st));
	return WEXITSTATUS(st);
}

#define SMKEY SMK_BUILD_DIR "/smkey"

START_TEST(test_smkey_generate_writes_files)
{
	char out[8192], cmd[512], path[256];
	smk_buf b = SMK_BUF_INIT;
	FILE *f;
	size_t n;

	snprintf(cmd, sizeof(cmd), SMKEY " generate --policy release-apk --label app -o %s", dir);
	ck_assert_msg(run(out, sizeof(out), cmd) == 0, "%s", out);
	ck_assert_msg(strstr(out, "generated apk-app: key 3 on DENK0404144, record 1 (request "
				  "r-0001)"),
		      "%s", out);
	/* the CV request is written as bytes: base64 "fyGB" is 7F 21 81 */
	snprintf(path, sizeof(path), "%s/apk-app.cvreq", dir);
	f = fopen(path, "rb");
	ck_assert_ptr_nonnull(f);
	ck_assert_int_eq(smk_buf_reserve(&b, 16), 0);
	n = fread(b.data, 1, 16, f);
	fclose(f);
	tu_assert_hex(b.data, n, "7F2181");
	snprintf(path, sizeof(path), "%s/apk-app.pub.pem", dir);
	ck_assert_int_eq(access(path, R_OK), 0);
	snprintf(path, sizeof(path), "%s/apk-app.bundle.json", dir);
	ck_assert_int_eq(access(path, R_OK), 0);

	/* never over an earlier key's evidence; the way to the bundle is named */
	ck_assert_int_eq(run(out, sizeof(out), cmd), 1);
	ck_assert_msg(strstr(out, "exists; not overwriting it") &&
			  strstr(out, "smkey bundle r-0001"),
		      "%s", out);

	snprintf(cmd, sizeof(cmd), SMKEY " generate --json --policy release-apk -o %s", dir);
	ck_assert_msg(run(out, sizeof(out), cmd) == 0, "%s", out);
	ck_assert_msg(strstr(out, "\"bundle\": \"") && strstr(out, "apk-default.bundle.json"), "%s",
		      out);
	smk_buf_free(&b);
	snprintf(cmd, sizeof(cmd), "rm -f %s/apk-*", dir);
	ck_assert_int_eq(system(cmd), 0);
}
END_TEST

START_TEST(test_smkey_exit_codes)
{
	static const struct {
		const char *args;
		int status;
		const char *says;
	} cases[] = {
	    {"generate --policy denied", 1,
	     "policy denied: not allowed: uid 1000 is not in users or groups"},
	    {"generate --policy ../x", 2, "policy must be a policy name"},
	    {"generate --label x", 2, "usage: smkey generate"},
	    {"generate --policy x --socket /nonexistent/s.sock", 3,
	     "cannot reach smkeyd at /nonexistent/s.sock"},
	    {"list --limit 0", 2, "limit must be from 1 to 10000"},
	    {"list --since x", 2, "usage: smkey list"},
	    {"list", 0, "(no records)"},
	    {"show 404", 1, "no such record"},
	    {"show --json 5", 0, "\"seq\": 5"},
	    {"show", 2, "usage: smkey show"},
	    {"bundle r-1", 0, "{}"},
	    {"policies", 0, "(no policies)"},
	    {"devices --json", 0, "[]"},
	    {"checkpoint", 0, "smkeyd\n1\nAA\n"},
	    {"checkpoint extra", 2, "usage: smkey checkpoint"},
	    {"csr 5 --subject /CN=Release", 0,
	     "-----BEGIN CERTIFICATE REQUEST-----\n/CN=Release\n"},
	    {"csr 5", 2, "usage: smkey csr"},
	    {"csr no-such-label --subject /CN=x", 1, "no key record with seq, request id or label"},
	    {"csr 5 --subject CN=x", 2, "subject must be a subject such as /CN="},
	    {"selfsign 5 --subject /CN=x --days 0", 2, "--days must be from 1 to 36500"},
	    {"selfsign 0123456789abcdef0123456789abcdef --subject /CN=x", 0,
	     "-----BEGIN CERTIFICATE-----"},
	    {"import-cert 5 /nonexistent.pem", 2, "/nonexistent.pem"},
	    {"adopt --device ZZSIM00001 --key-id 99", 1,
	     "key 99 on ZZSIM00001 cannot be adopted: CE|63 holds an X.509 certificate"},
	    {"adopt --device ZZSIM00001 --key-id 3", 0,
	     "not proven:  where the key was made, policy"},
	    {"adopt --device ZZSIM00001", 2, "usage: smkey adopt"},
	    {"inspect --device ZZSIM00001", 0, "NOT ARCHIVED"},
	    {"inspect --device ZZSIM00001 --json", 0, "\"ce\": \"cv_request\""},
	};
	char out[8192], cmd[512];
	size_t i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(cmd, sizeof(cmd), SMKEY " %s", cases[i].args);
		ck_assert_msg(run(out, sizeof(out), cmd) == cases[i].status, "%s: %s",
			      cases[i].args, out);
		ck_assert_msg(strstr(out, cases[i].says), "%s: %s", cases[i].args, out);
	}
}
END_TEST

START_TEST(test_python_client)
{
	const char *py = "python3 " SMK_SOURCE_DIR "/tests/integration/varlink_client.py";
	char out[16384], cmd[512];

	snprintf(cmd, sizeof(cmd), "%s %s org.varlink.service.GetInfo", py, sock_path);
	ck_assert_msg(run(out, sizeof(out), cmd) == 0, "%s", out);
	ck_assert_msg(strstr(out, "\"interfaces\": [\"org.varlink.service\", \"io.smkeyd\"]"), "%s",
		      out);
	snprintf(cmd, sizeof(cmd), "%s %s io.smkeyd.Generate '{\"policy\":\"release-apk\"}' --more",
		 py, sock_path);
	ck_assert_msg(run(out, sizeof(out), cmd) == 0, "%s", out);
	ck_assert_msg(strstr(out, "\"stage\": \"archived\"") && strstr(out, "\"key_id\": 3"), "%s",
		      out);
	snprintf(cmd, sizeof(cmd), "%s %s io.smkeyd.Generate '{\"policy\":\"denied\"}'", py,
		 sock_path);
	ck_assert_int_eq(run(out, sizeof(out), cmd), 1);
	ck_assert_ptr_nonnull(strstr(out, "io.smkeyd.PolicyDenied"));
}
END_TEST

/* ---- listening: paths and inherited sockets, no loop needed ---- */

START_TEST(test_socket_path_rules)
{
	struct sockaddr_un sa = {.sun_family = AF_UNIX};
	char path[128], file[128];
	struct event_base *b = event_base_new();
	server *s1, *s2;
	struct stat st;
	smk_err e;
	int fd;

	tu_temp_dir(dir, sizeof(dir), "smk-server");
	snprintf(path, sizeof(path), "%s/s.sock", dir);
	snprintf(file, sizeof(file), "%s/plain", dir);

	/* a stale socket: bound, never listening, owner gone */
	strcpy(sa.sun_path, path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	umask(0);
	s1 = server_new(b, &test_engine, NULL, &e);
	ck_assert_msg(server_listen_path(s1, path, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(stat(path, &st), 0);
	ck_assert_int_eq(st.st_mode & 0777, 0660);

	/* a live one is not taken over */
	s2 = server_new(b, &test_engine, NULL, &e);
	ck_assert_int_eq(server_listen_path(s2, path, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "another daemon answers on it"));

	/* nor is a file that is not a socket */
	fd = open(file, O_CREAT | O_WRONLY, 0600);
	ck_assert_int_eq(write(fd, "keep", 4), 4);
	close(fd);
	ck_assert_int_eq(server_listen_path(s2, file, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "is not a socket"));
	ck_assert_int_eq(stat(file, &st), 0);
	ck_assert_int_eq(st.st_size, 4);

	/* inherited sockets: a listening Unix stream socket yes; a pipe, a
	 * stream socket that does not listen and a datagram socket no */
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s/act.sock", dir);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	ck_assert_int_eq(listen(fd, 4), 0);
	ck_assert_msg(server_listen_fd(s2, fd, &e) == 0, "%s", e.msg);
	{
		int p[2];

		ck_assert_int_eq(pipe(p), 0);
		ck_assert_int_eq(server_listen_fd(s2, p[0], &e), -1);
		close(p[0]);
		close(p[1]);
		p[0] = socket(AF_UNIX, SOCK_STREAM, 0);
		ck_assert_int_eq(server_listen_fd(s2, p[0], &e), -1);
		ck_assert_ptr_nonnull(strstr(e.msg, "is not a listening Unix stream socket"));
		close(p[0]);
		p[0] = socket(AF_UNIX, SOCK_DGRAM, 0);
		ck_assert_int_eq(server_listen_fd(s2, p[0], &e), -1);
		close(p[0]);
	}
	server_free(s2);
	server_free(s1);
	ck_assert_int_eq(access(path, F_OK), -1);
	unlink(sa.sun_path);
	unlink(file);
	rmdir(dir);
	event_base_free(b);
}
END_TEST

static void stop_serving(evutil_socket_t sig, short what, void *arg)
{
	(void)sig;
	(void)what;
	event_base_loopbreak(arg);
}

/* test_server --serve PATH: this file's engine behind the real socket layer,
 * until SIGINT or SIGTERM; docs/varlink.md's examples were taken from it. */
static int serve(const char *path)
{
	struct event *sigint, *sigterm;
	smk_err e;

	base = event_base_new();
	srv = server_new(base, &test_engine, NULL, &e);
	if (srv == NULL || server_listen_path(srv, path, &e) < 0) {
		fprintf(stderr, "test_server: %s\n", e.msg);
		return 1;
	}
	sigint = evsignal_new(base, SIGINT, stop_serving, base);
	sigterm = evsignal_new(base, SIGTERM, stop_serving, base);
	event_add(sigint, NULL);
	event_add(sigterm, NULL);
	event_base_dispatch(base);
	event_free(sigint);
	event_free(sigterm);
	server_free(srv);
	event_base_free(base);
	return 0;
}

int main(int argc, char **argv)
{
	Suite *s;
	TCase *t;

	if (argc == 3 && strcmp(argv[1], "--serve") == 0)
		return serve(argv[2]);
	s = suite_create("server");
	t = tcase_create("default limits");

	tcase_add_checked_fixture(t, start_default, stop);
	tcase_add_test(t, test_getinfo_and_description);
	tcase_add_test(t, test_validation_errors_per_method);
	tcase_add_test(t, test_card_methods_check_parameters);
	tcase_add_test(t, test_generate_without_more);
	tcase_add_test(t, test_generate_with_more);
	tcase_add_test(t, test_policy_denied_passthrough);
	tcase_add_test(t, test_peer_seen_by_kernel);
	tcase_add_test(t, test_pipelined_and_oneway);
	tcase_add_test(t, test_half_closed_client_answered);
	tcase_add_test(t, test_smkey_generate_writes_files);
	tcase_add_test(t, test_smkey_exit_codes);
	tcase_add_test(t, test_python_client);
	suite_add_tcase(s, t);

	t = tcase_create("small limits");
	tcase_add_checked_fixture(t, start_small, stop);
	tcase_add_test(t, test_oversized_message_closes_and_next_served);
	tcase_add_test(t, test_malformed_messages_close);
	tcase_add_test(t, test_slow_reader_dropped);
	tcase_add_test(t, test_unread_replies_bounded);
	tcase_add_test(t, test_max_clients);
	tcase_add_test(t, test_disconnect_during_generate_forgets);
	tcase_add_test(t, test_idle_client_closed);
	suite_add_tcase(s, t);

	t = tcase_create("request limits");
	tcase_add_checked_fixture(t, start_request_limits, stop);
	tcase_add_test(t, test_trickled_request_closed_at_deadline);
	tcase_add_test(t, test_idle_between_requests_not_a_deadline);
	tcase_add_test(t, test_per_uid_limit);
	suite_add_tcase(s, t);

	t = tcase_create("listening");
	tcase_add_test(t, test_socket_path_rules);
	suite_add_tcase(s, t);
	return tu_run(s);
}
