/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The engine's lifecycle and its synchronous queries (engine.h). Replies are
 * shaped as proto/io.smkeyd.varlink says; records come from the archive as
 * stored, parsed by archive/record.h and never re-encoded.
 */
#include <errno.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "../archive/logkey.h"
#include "../archive/record.h"
#include "../common/hex.h"
#include "../common/json.h"
#include "../common/names.h"
#include "cardop.h"
#include "daemon.h"
#include "log.h"
#include "varlink_errors.h"

#define LIST_LIMIT_DEFAULT 100
#define LIST_LIMIT_MAX 10000 /* as the socket layer and docs/varlink.md say */

/* ---- errors ---- */

void engine_error_clear(engine_error *err)
{
	if (err == NULL)
		return;
	json_decref(err->params);
	err->params = NULL;
}

const char *engine_archive_error(engine *eng, char *buf, size_t n)
{
	pthread_mutex_lock(&eng->lock);
	snprintf(buf, n, "%s", eng->archive_error);
	pthread_mutex_unlock(&eng->lock);
	return buf;
}

int engine_fail_no_archive_key(engine *eng, engine_error *err)
{
	char why[sizeof(eng->archive_error)];

	engine_archive_error(eng, why, sizeof(why));
	return engine_fail(err, SMK_VERR_DEVICE_UNAVAILABLE,
			   json_pack("{s:n, s:s}", "device", "reason", why), "no archive key: %s",
			   why);
}

int engine_fail_stopping(engine_error *err)
{
	return engine_fail(err, SMK_VERR_DEVICE_UNAVAILABLE,
			   json_pack("{s:n, s:s}", "device", "reason", "smkeyd is stopping"),
			   "refused: smkeyd is stopping");
}

int engine_fail_archive(engine_error *err, const smk_err *e)
{
	return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
			   engine_param_str("reason", e->msg, NULL, NULL), "%s", e->msg);
}

int engine_archive_size(engine *eng, uint64_t *size, smk_err *e)
{
	int rc;

	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_size(eng->arc, size, e);
	pthread_mutex_unlock(&eng->archive_lock);
	return rc;
}

archive_peer engine_archive_peer(const engine_peer *peer)
{
	archive_peer p = {(uint32_t)peer->uid, (uint32_t)peer->gid, (int64_t)peer->pid,
			  peer->exe[0] ? peer->exe : NULL};

	return p;
}

int engine_fail(engine_error *err, const char *name, json_t *params, const char *fmt, ...)
{
	va_list ap;

	err->name = name;
	err->params = params ? params : json_object();
	va_start(ap, fmt);
	vsnprintf(err->msg, sizeof(err->msg), fmt, ap);
	va_end(ap);
	return -1;
}

/* The one map from an error code to the varlink error that answers it
 * (proto/io.smkeyd.varlink). The code says what went wrong, never the
 * message's words: a policy named "label-signer" that reached max-keys is
 * SMK_E_POLICY (RequestRefused) however its name reads. */
static const struct {
	enum smk_errc code;
	const char *name;
} error_map[] = {
    {SMK_E_LABEL, SMK_VERR_INVALID_PARAMETER}, /* parameter: label */
    {SMK_E_POLICY, SMK_VERR_REQUEST_REFUSED},
    {SMK_E_DENIED, SMK_VERR_POLICY_DENIED},
    /* the device's link or SM channel is gone (device_lost) */
    {SMK_E_IO, SMK_VERR_DEVICE_UNAVAILABLE},
    {SMK_E_TIMEOUT, SMK_VERR_DEVICE_UNAVAILABLE},
    {SMK_E_RESET, SMK_VERR_DEVICE_UNAVAILABLE},
    {SMK_E_SM, SMK_VERR_DEVICE_UNAVAILABLE},
    {SMK_E_TRUST, SMK_VERR_DEVICE_UNAVAILABLE},
};

int engine_fail_as(engine_error *err, const smk_err *e, const engine_about *about)
{
	const char *name = about->otherwise;
	json_t *params;
	size_t i;

	for (i = 0; i < sizeof(error_map) / sizeof(error_map[0]); i++)
		if (error_map[i].code == e->code)
			name = error_map[i].name;
	if (strcmp(name, SMK_VERR_INVALID_PARAMETER) == 0)
		params = engine_param_str("parameter",
					  e->code == SMK_E_LABEL ? "label" : about->parameter,
					  "reason", e->msg);
	else if (strcmp(name, SMK_VERR_REQUEST_REFUSED) == 0 ||
		 strcmp(name, SMK_VERR_POLICY_DENIED) == 0)
		params = engine_param_str("policy", about->policy, "reason", e->msg);
	else if (strcmp(name, SMK_VERR_DEVICE_UNAVAILABLE) == 0)
		params = engine_param_str("device", about->device, "reason", e->msg);
	else if (strcmp(name, SMK_VERR_GENERATION_FAILED) == 0)
		params = engine_param_str("request_id", about->request_id, "reason", e->msg);
	else
		params = engine_param_str("reason", e->msg, NULL, NULL);
	return engine_fail(err, name, params, "%s", e->msg);
}

json_t *engine_param_str(const char *k1, const char *v1, const char *k2, const char *v2)
{
	json_t *o = json_object();

	if (o && k1)
		json_object_set_new(o, k1, v1 ? json_string(v1) : json_null());
	if (o && k2)
		json_object_set_new(o, k2, v2 ? json_string(v2) : json_null());
	return o;
}

/* clang-format off */
static const char *const stage_names[] = {
	[ENGINE_QUEUED] = "queued",         [ENGINE_SESSION] = "session",
	[ENGINE_GENERATING] = "generating", [ENGINE_ARCHIVED] = "archived",
};
/* clang-format on */
_Static_assert(SMK_NELEM(stage_names) == ENGINE_STAGE_COUNT, "every stage has a name");

const char *engine_stage_name(enum engine_stage stage)
{
	return smk_enum_name(stage_names, SMK_NELEM(stage_names), stage, "queued");
}

/* ---- completions from the workers ---- */

static void on_done(evutil_socket_t fd, short what, void *arg)
{
	engine *eng = arg;
	uint64_t count;

	(void)what;
	if (read(fd, &count, sizeof(count)) < 0 && errno != EAGAIN)
		log_warn("completion eventfd: %s", strerror(errno));
	op_deliver_posted(eng);
}

/* ---- lifecycle ---- */

static time_t default_now(void)
{
	return time(NULL);
}

int engine_new(const engine_options *o, engine **out, smk_err *e)
{
	engine *eng;

	*out = NULL;
	eng = calloc(1, sizeof(*eng));
	if (eng == NULL)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	eng->cfg = o->cfg;
	eng->base = o->base;
	eng->cards = o->cards ? *o->cards : engine_pcsc_cards;
	eng->now = o->now ? o->now : default_now;
	eng->done_fd = -1;
	STAILQ_INIT(&eng->posted);
	LIST_INIT(&eng->ops);
	SLIST_INIT(&eng->found);
	pthread_mutex_init(&eng->lock, NULL);
	pthread_mutex_init(&eng->archive_lock, NULL);
	snprintf(eng->archive_error, sizeof(eng->archive_error), "no archive key yet");
	if (trust_load_dir(&eng->trust, eng->cfg->trust_dir, e) < 0) {
		smk_context(e, "trust anchors");
		goto fail;
	}
	/* said at start and in every ListDevices reply: devices chained to
	 * such a root are accepted, and prove nothing about real hardware */
	if (trust_test_warning(&eng->trust, eng->trust_warning, sizeof(eng->trust_warning)) > 0)
		log_warn("%s (trust directory %s)", eng->trust_warning, eng->cfg->trust_dir);
	if (policy_set_load(eng->cfg->policies_dir, &eng->policies, NULL, NULL, e) < 0)
		goto fail;
	if (archive_open(eng->cfg->archive_path, ARCHIVE_OPEN_CREATE, &eng->arc, e) < 0)
		goto fail;
	if (archive_tree_built(eng->arc))
		log_info("archive %s: stored the Merkle tree of its %" PRIu64
			 " records (table tree_nodes, added to an archive written before it): "
			 "opening reads no record from now on",
			 eng->cfg->archive_path, archive_tree_built(eng->arc));
	if (getenv("SMKEYD_TEST_CRASH_AT"))
		archive_set_step_hook(eng->arc, testhook_crash_step, NULL);
	if ((size_t)snprintf(eng->pending_dir, sizeof(eng->pending_dir), "%s.pending",
			     eng->cfg->archive_path) >= sizeof(eng->pending_dir)) {
		smk_fail(e, SMK_E_ARG, "archive path too long");
		goto fail;
	}
	if (mkdir(eng->pending_dir, 0700) < 0 && errno != EEXIST) {
		smk_fail(e, SMK_E_IO, "%s: %s", eng->pending_dir, strerror(errno));
		goto fail;
	}
	eng->done_fd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (eng->done_fd < 0) {
		smk_fail(e, SMK_E_IO, "eventfd: %s", strerror(errno));
		goto fail;
	}
	eng->done_ev = event_new(eng->base, eng->done_fd, EV_READ | EV_PERSIST, on_done, eng);
	if (eng->done_ev == NULL || event_add(eng->done_ev, NULL) < 0) {
		smk_fail(e, SMK_E_NOMEM, "cannot register the completion event");
		goto fail;
	}
	*out = eng;
	return 0;
fail:
	engine_free(eng);
	return -1;
}

int engine_start(engine *eng, smk_err *e)
{
	if (device_discover(eng, e) < 0)
		return -1;
	if (recover_archive_key(eng, e) < 0)
		return smk_context(e, "archive key");
	if (recover_pending(eng, e) < 0 || recover_certificates(eng, e) < 0)
		return smk_context(e, "recovery");
	return worker_start(eng, e);
}

int engine_reload(engine *eng, smk_err *e)
{
	if (policy_set_reload(&eng->policies, eng->cfg->policies_dir, e) < 0)
		return -1;
	log_info("policies reloaded from %s: %zu policies", eng->cfg->policies_dir,
		 policy_set_count(eng->policies));
	return 0;
}

size_t engine_in_flight(const engine *eng)
{
	return eng->in_flight;
}

void engine_forget(engine *eng, void *ctx)
{
	op_forget(eng, ctx);
}

void engine_shutdown(engine *eng, void (*cb)(void *ctx), void *ctx)
{
	eng->shutting_down = 1;
	eng->shutdown_cb = cb;
	eng->shutdown_ctx = ctx;
	/* take back every generation no worker has started: no card has seen it */
	op_cancel_queued(eng, "smkeyd stopped before the card was asked");
	if (eng->in_flight == 0 && eng->shutdown_cb) {
		eng->shutdown_cb = NULL;
		cb(ctx);
	}
}

void engine_free(engine *eng)
{
	if (eng == NULL)
		return;
	worker_stop(eng);
	op_free_posted(eng);
	if (eng->done_ev)
		event_free(eng->done_ev);
	if (eng->done_fd >= 0)
		close(eng->done_fd);
	engine_replies_free(eng->replies);
	sign_counts_free(eng->sign_counts);
	recover_found_free(eng);
	archive_close(eng->arc);
	policy_set_unref(eng->policies);
	trust_free(&eng->trust);
	EVP_PKEY_free(eng->archive_pub);
	pthread_mutex_destroy(&eng->lock);
	pthread_mutex_destroy(&eng->archive_lock);
	free(eng);
}

/* ---- helpers for replies ---- */

static json_t *iso_time(int64_t t)
{
	char buf[32];
	time_t tt = (time_t)t;
	struct tm tm;

	gmtime_r(&tt, &tm);
	strftime(buf, sizeof(buf), "%Y-%m-%dT%H:%M:%SZ", &tm);
	return json_string(buf);
}

static json_t *spki_pem(const smk_buf *spki)
{
	const unsigned char *p = spki->data;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &p, (long)spki->len);
	BIO *bio;
	char *data;
	long n;
	json_t *s = NULL;

	if (k == NULL)
		return json_null();
	bio = BIO_new(BIO_s_mem());
	if (bio && PEM_write_bio_PUBKEY(bio, k) == 1 && (n = BIO_get_mem_data(bio, &data)) > 0)
		s = json_stringn(data, (size_t)n);
	BIO_free(bio);
	EVP_PKEY_free(k);
	return s ? s : json_null();
}

static const char *kind_wire(const char *kind)
{
	if (strcmp(kind, ARCHIVE_KIND_ADOPTED) == 0)
		return "adopted";
	if (strcmp(kind, ARCHIVE_KIND_CERTIFICATE) == 0)
		return "certificate";
	if (strcmp(kind, ARCHIVE_KIND_SIGNATURE) == 0)
		return "signature";
	return strcmp(kind, ARCHIVE_KIND_ARCHIVE_KEY) == 0 ? "archive_key" : "key";
}

/* A certificate record's fingerprint is its certificate's; the other kinds
 * are fingerprinted by their key. */
static json_t *record_fingerprint(const archive_record *r)
{
	if (strcmp(r->kind, ARCHIVE_KIND_CERTIFICATE) == 0)
		return json_string(r->cert_fp);
	return smk_json_sha256_hex(r->spki.data, r->spki.len);
}

/* Load and parse record seq; under archive_lock. */
static int load_record(engine *eng, uint64_t seq, archive_record *r, smk_err *e)
{
	smk_buf canon = SMK_BUF_INIT, sig = SMK_BUF_INIT;
	int rc;

	memset(r, 0, sizeof(*r));
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_get(eng->arc, seq, &canon, &sig, e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc == 0)
		rc = archive_record_parse(canon.data, canon.len, r, e);
	smk_buf_free(&canon);
	smk_buf_free(&sig);
	return rc;
}

/* seq or request_id, exactly one (checked by the socket layer, checked again). */
static int find_record(engine *eng, json_t *params, uint64_t *seq, engine_error *err)
{
	json_t *js = json_object_get(params, "seq"), *jr = json_object_get(params, "request_id");
	char id[64];
	smk_err e;
	int rc;

	if (js && !json_is_null(js)) {
		if (!json_is_integer(js) || json_integer_value(js) < 0)
			return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
					   engine_param_str("parameter", "seq", "reason",
							    "must be a record number >= 0"),
					   "seq must be a record number");
		snprintf(id, sizeof(id), "%lld", (long long)json_integer_value(js));
	} else if (jr && json_is_string(jr) && json_string_length(jr) < sizeof(id)) {
		if (!cardop_is_request_id(json_string_value(jr)))
			return cardop_fail_request_id(err);
		snprintf(id, sizeof(id), "%s", json_string_value(jr));
	} else {
		return cardop_fail_no_record_key(err);
	}
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_find(eng->arc, id, seq, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0)
		return engine_fail(err, SMK_VERR_RECORD_NOT_FOUND, NULL, "no record %s: %s", id,
				   e.msg);
	return 0;
}

/* ---- queries ---- */

/* GetRecord's reply for record seq, as the archive holds it. */
static int record_reply(engine *eng, uint64_t seq, json_t **reply, engine_error *err)
{
	archive_record r;
	json_t *rec;
	smk_err e;

	if (load_record(eng, seq, &r, &e) < 0)
		return engine_fail_archive(err, &e);
	rec = json_pack(
	    "{s:I, s:s, s:s, s:o, s:s?, s:o, s:s, s:s, s:i, s:o, s:o, s:o, s:n, s:s%}", "seq",
	    (json_int_t)r.seq, "request_id", r.request_id, "kind", kind_wire(r.kind), "time",
	    iso_time(r.time), "policy", r.policy_name, "policy_digest",
	    r.policy_name ? smk_json_hex(r.policy_digest, 32, SMK_HEX_LOWER) : json_null(), "label",
	    r.label, "device", r.device_serial, "key_id", (int)r.key_id, "public_key_pem",
	    spki_pem(&r.spki), "cvreq",
	    r.cvreq.len ? smk_json_b64(r.cvreq.data, r.cvreq.len) : json_null(), "fingerprint",
	    record_fingerprint(&r), "reason", "canonical", (const char *)r.canonical.data,
	    r.canonical.len);
	archive_record_free(&r);
	if (rec == NULL || (*reply = json_pack("{s:o}", "record", rec)) == NULL)
		return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
				   engine_param_str("reason", "out of memory", NULL, NULL),
				   "out of memory");
	return 0;
}

int engine_get_record(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
		      engine_error *err)
{
	uint64_t seq;

	(void)peer;
	memset(err, 0, sizeof(*err));
	if (find_record(eng, params, &seq, err) < 0)
		return -1;
	return record_reply(eng, seq, reply, err);
}

static int opt_uint(json_t *params, const char *key, uint64_t def, uint64_t max, uint64_t *out,
		    engine_error *err)
{
	json_t *v = json_object_get(params, key);

	*out = def;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    (uint64_t)json_integer_value(v) > max)
		return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
				   engine_param_str("parameter", key, "reason", "out of range"),
				   "%s is out of range", key);
	*out = (uint64_t)json_integer_value(v);
	return 0;
}

int engine_list_records(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			engine_error *err)
{
	json_t *pol = json_object_get(params, "policy"), *list;
	uint64_t since, limit, size, seq;
	archive_record r;
	smk_err e;

	(void)peer;
	memset(err, 0, sizeof(*err));
	if (opt_uint(params, "since", 0, UINT64_MAX >> 1, &since, err) < 0 ||
	    opt_uint(params, "limit", LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX, &limit, err) < 0)
		return -1;
	if (pol && !json_is_null(pol) && !json_is_string(pol))
		return engine_fail(
		    err, SMK_VERR_INVALID_PARAMETER,
		    engine_param_str("parameter", "policy", "reason", "must be a string"),
		    "policy must be a string");
	if (engine_archive_size(eng, &size, &e) < 0)
		return engine_fail_archive(err, &e);
	list = json_array();
	for (seq = since; seq < size && json_array_size(list) < limit; seq++) {
		if (load_record(eng, seq, &r, &e) < 0) {
			json_decref(list);
			return engine_fail_archive(err, &e);
		}
		if (!json_is_string(pol) ||
		    (r.policy_name && strcmp(json_string_value(pol), r.policy_name) == 0))
			json_array_append_new(
			    list, json_pack("{s:I, s:s, s:s, s:o, s:s?, s:s, s:s, s:i, s:o}", "seq",
					    (json_int_t)r.seq, "request_id", r.request_id, "kind",
					    kind_wire(r.kind), "time", iso_time(r.time), "policy",
					    r.policy_name, "label", r.label, "device",
					    r.device_serial, "key_id", (int)r.key_id, "fingerprint",
					    record_fingerprint(&r)));
		archive_record_free(&r);
	}
	*reply = json_pack("{s:o}", "records", list);
	return 0;
}

int engine_get_bundle(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
		      engine_error *err)
{
	smk_buf b = SMK_BUF_INIT;
	uint64_t seq;
	smk_err e;
	int rc;

	(void)peer;
	memset(err, 0, sizeof(*err));
	if (find_record(eng, params, &seq, err) < 0)
		return -1;
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_export_bundle(eng->arc, seq, &b, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		smk_buf_free(&b);
		return engine_fail_archive(err, &e);
	}
	*reply = json_pack("{s:s%}", "bundle", (const char *)b.data, b.len);
	smk_buf_free(&b);
	return 0;
}

static void peer_of(const engine_peer *peer, policy_peer *pp)
{
	memset(pp, 0, sizeof(*pp));
	pp->uid = peer->uid;
	pp->gid = peer->gid;
	pp->groups = peer->groups;
	pp->group_count = peer->ngroups;
}

int engine_peer_named(engine *eng, const engine_peer *peer)
{
	policy_peer pp;
	size_t i;

	if (cardop_is_admin(eng, peer))
		return 1;
	peer_of(peer, &pp);
	for (i = 0; i < policy_set_count(eng->policies); i++)
		if (policy_authorize(policy_set_at(eng->policies, i), &pp, NULL) == 0)
			return 1;
	return 0;
}

/* One entry of ListPolicies' reply; "allowed" is its last member. */
static json_t *policy_entry(const policy *p, int allowed)
{
	json_t *algs = json_array();
	size_t k;

	for (k = 0; k < p->alg_count; k++)
		json_array_append_new(algs, json_string(p->algs[k]->name));
	return json_pack(
	    "{s:s, s:s, s:s, s:s, s:o, s:o, s:o, s:o, s:o, s:o, s:b, s:s, s:b}", "name", p->name,
	    "description", p->description, "digest", p->digest_hex, "key_type",
	    keytype_name(p->key_type), "curve",
	    p->curve ? json_string(p->curve->name) : json_null(), "bits",
	    p->bits ? json_integer(p->bits) : json_null(), "algorithms", algs, "alg_list_hex",
	    smk_json_hex(p->alg_list, p->alg_count, SMK_HEX_LOWER), "use_counter",
	    p->use_counter ? json_integer(p->use_counter) : json_null(), "key_domain",
	    p->key_domain >= 0 ? json_integer(p->key_domain) : json_null(), "exportable",
	    p->exportable, "label_template", p->label_template, "allowed", allowed);
}

int engine_list_policies(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			 engine_error *err)
{
	json_t *list = json_array();
	policy_peer pp;
	size_t i;

	(void)params;
	memset(err, 0, sizeof(*err));
	peer_of(peer, &pp);
	for (i = 0; i < policy_set_count(eng->policies); i++) {
		const policy *p = policy_set_at(eng->policies, i);

		json_array_append_new(list, policy_entry(p, policy_authorize(p, &pp, NULL) == 0));
	}
	*reply = json_pack("{s:o}", "policies", list);
	return 0;
}

int engine_list_devices(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			engine_error *err)
{
	json_t *list = json_array();
	const char *shared;
	size_t i;

	(void)peer;
	(void)params;
	memset(err, 0, sizeof(*err));
	pthread_mutex_lock(&eng->lock);
	for (i = 0; i < eng->device_count; i++) {
		const device *d = eng->devices[i];

		json_array_append_new(
		    list,
		    json_pack("{s:s, s:s, s:s, s:s, s:i, s:o}", "serial", d->serial, "devaut_chr",
			      d->devaut_chr, "reader", d->reader, "state",
			      device_state_name(d->state), "queued", (int)d->queued, "last_error",
			      d->last_error[0] ? json_string(d->last_error) : json_null()));
	}
	pthread_mutex_unlock(&eng->lock);
	*reply = json_pack("{s:o}", "devices", list);
	shared = sign_archive_warning(eng);
	if (*reply && (eng->trust_warning[0] || shared))
		json_object_set_new(*reply, "trust_warning",
				    json_sprintf("%s%s%s", eng->trust_warning,
						 eng->trust_warning[0] && shared ? "; " : "",
						 shared ? shared : ""));
	return 0;
}

int engine_get_checkpoint(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			  engine_error *err)
{
	smk_buf note = SMK_BUF_INIT;
	uint64_t size;
	const char *root, *nl;
	char b64root[64] = "";
	smk_err e;
	int rc;

	(void)peer;
	(void)params;
	memset(err, 0, sizeof(*err));
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_latest_checkpoint(eng->arc, &note, &size, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0 || smk_buf_add_byte(&note, 0) < 0) {
		smk_buf_free(&note);
		return engine_fail_archive(err, &e);
	}
	/* C2SP tlog-checkpoint: origin, size, base64 root hash, one per line */
	root = strchr((const char *)note.data, '\n');
	root = root ? strchr(root + 1, '\n') : NULL;
	if (root && (nl = strchr(root + 1, '\n')) != NULL &&
	    (size_t)(nl - root - 1) < sizeof(b64root))
		snprintf(b64root, sizeof(b64root), "%.*s", (int)(nl - root - 1), root + 1);
	*reply = json_pack("{s:{s:I, s:s, s:s}}", "checkpoint", "size", (json_int_t)size,
			   "root_hash", b64root, "text", (const char *)note.data);
	smk_buf_free(&note);
	return 0;
}

int engine_get_log_key(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
		       engine_error *err)
{
	archive_record r;
	archive_logkey k;
	smk_err e;
	int rc;

	(void)peer;
	(void)params;
	memset(err, 0, sizeof(*err));
	if (load_record(eng, 0, &r, &e) < 0) {
		smk_context(&e, "log key: record 0 (the archive key)");
		return engine_fail_archive(err, &e);
	}
	rc = archive_logkey_of(r.spki.data, r.spki.len, &k, &e);
	archive_record_free(&r);
	if (rc < 0) {
		smk_context(&e, "log key");
		return engine_fail_archive(err, &e);
	}
	*reply = json_pack("{s:s, s:s}", "origin", k.name, "verifier_key", k.text);
	return 0;
}

int engine_get_consistency_proof(engine *eng, const engine_peer *peer, json_t *params,
				 json_t **reply, engine_error *err)
{
	smk_buf proof = SMK_BUF_INIT;
	uint64_t old_size, new_size;
	json_t *hashes;
	smk_err e;
	size_t i;
	int rc;

	(void)peer;
	memset(err, 0, sizeof(*err));
	if (opt_uint(params, "old_size", 0, UINT64_MAX >> 1, &old_size, err) < 0 ||
	    opt_uint(params, "new_size", 0, UINT64_MAX >> 1, &new_size, err) < 0)
		return -1;
	pthread_mutex_lock(&eng->archive_lock);
	rc = archive_consistency_proof(eng->arc, old_size, &new_size, &proof, &e);
	pthread_mutex_unlock(&eng->archive_lock);
	if (rc < 0) {
		smk_buf_free(&proof);
		return engine_fail(err, SMK_VERR_INVALID_PARAMETER,
				   engine_param_str("parameter", "old_size", "reason", e.msg), "%s",
				   e.msg);
	}
	hashes = json_array();
	for (i = 0; i + 32 <= proof.len; i += 32)
		json_array_append_new(hashes, smk_json_b64(proof.data + i, 32));
	smk_buf_free(&proof);
	*reply = json_pack("{s:I, s:I, s:o}", "old_size", (json_int_t)old_size, "new_size",
			   (json_int_t)new_size, "proof", hashes);
	return 0;
}

/* ---- queries answered as JSON text, from caches (engine.h) ----
 *
 * GetRecord: a committed record never changes (the archive only appends),
 * so its reply is kept by seq in a bounded LRU and never invalidated. The
 * reply does not depend on the peer (engine_get_record answers every peer
 * alike), so one entry serves every client.
 *
 * ListPolicies: each policy's entry is kept as text twice, with "allowed"
 * false and true, for the policy set it was made from (a reference is held,
 * so a reloaded set can never be mistaken for the cached one). Every call
 * still asks policy_authorize for this peer and picks the matching text:
 * a peer only ever gets the entries its own authorization selects.
 */

#define RECORD_CACHE_BYTES (512u * 1024) /* about 200 EC records' replies */
/* seq values that find_record resolves as a record number ("%lld" shorter
 * than 19 digits, as archive_find reads it) */
#define SEQ_DIRECT_MAX 1000000000000000000LL

struct engine_replies {
	reply_cache *records;
	policy_set *set; /* the set the entries below were made from */
	smk_buf text[2]; /* entries with "allowed": false / true, back to back */
	size_t *off[2];	 /* entry i is text[a][off[a][i] .. off[a][i + 1]) */
	size_t count;
};

void engine_replies_free(struct engine_replies *r)
{
	if (r == NULL)
		return;
	reply_cache_free(r->records);
	policy_set_unref(r->set);
	smk_buf_free(&r->text[0]);
	smk_buf_free(&r->text[1]);
	free(r->off[0]);
	free(r->off[1]);
	free(r);
}

void engine_record_cache_stats(engine *eng, reply_cache_stats *st)
{
	memset(st, 0, sizeof(*st));
	if (eng->replies)
		reply_cache_get_stats(eng->replies->records, st);
}

static struct engine_replies *replies_of(engine *eng)
{
	if (eng->replies == NULL) {
		eng->replies = calloc(1, sizeof(*eng->replies));
		if (eng->replies &&
		    (eng->replies->records = reply_cache_new(RECORD_CACHE_BYTES)) == NULL) {
			free(eng->replies);
			eng->replies = NULL;
		}
	}
	return eng->replies;
}

static int out_of_memory(engine_error *err)
{
	return engine_fail(err, SMK_VERR_ARCHIVE_ERROR,
			   engine_param_str("reason", "out of memory", NULL, NULL),
			   "out of memory");
}

/* Append the compact JSON text of v (taken). */
static int add_json(smk_buf *out, json_t *v)
{
	char *text = v ? json_dumps(v, JSON_COMPACT) : NULL;
	int rc = text ? smk_buf_add(out, text, strlen(text)) : -1;

	free(text);
	json_decref(v);
	return rc;
}

int engine_get_record_text(engine *eng, const engine_peer *peer, json_t *params, smk_buf *out,
			   engine_error *err)
{
	struct engine_replies *rs = replies_of(eng);
	json_t *js = json_object_get(params, "seq"), *reply = NULL;
	const char *text;
	smk_buf fresh = SMK_BUF_INIT;
	uint64_t seq;
	size_t len;

	(void)peer; /* the same reply for every peer, as engine_get_record */
	memset(err, 0, sizeof(*err));
	if (rs && json_is_integer(js) && json_integer_value(js) >= 0 &&
	    json_integer_value(js) < SEQ_DIRECT_MAX &&
	    reply_cache_get(rs->records, (uint64_t)json_integer_value(js), &text, &len))
		return smk_buf_add(out, text, len) < 0 ? out_of_memory(err) : 0;
	if (find_record(eng, params, &seq, err) < 0)
		return -1;
	/* by request id: the record number is known now */
	if (rs && !json_is_integer(js) && reply_cache_get(rs->records, seq, &text, &len))
		return smk_buf_add(out, text, len) < 0 ? out_of_memory(err) : 0;
	if (record_reply(eng, seq, &reply, err) < 0)
		return -1;
	if (add_json(&fresh, reply) < 0) {
		smk_buf_free(&fresh);
		return out_of_memory(err);
	}
	/* a cache that cannot take it only costs speed */
	if (rs)
		(void)reply_cache_put(rs->records, seq, (const char *)fresh.data, fresh.len);
	if (smk_buf_add(out, fresh.data, fresh.len) < 0) {
		smk_buf_free(&fresh);
		return out_of_memory(err);
	}
	smk_buf_free(&fresh);
	return 0;
}

/* Make the entries of every policy in set, both ways. */
static int policy_entries(struct engine_replies *rs, policy_set *set)
{
	size_t n = policy_set_count(set), i;
	int a;

	smk_buf_reset(&rs->text[0]);
	smk_buf_reset(&rs->text[1]);
	policy_set_unref(rs->set);
	rs->set = NULL;
	for (a = 0; a < 2; a++) {
		free(rs->off[a]);
		rs->off[a] = calloc(n + 1, sizeof(size_t));
		if (rs->off[a] == NULL)
			return -1;
	}
	for (i = 0; i < n; i++)
		for (a = 0; a < 2; a++) {
			if (add_json(&rs->text[a], policy_entry(policy_set_at(set, i), a)) < 0)
				return -1;
			rs->off[a][i + 1] = rs->text[a].len;
		}
	rs->count = n;
	rs->set = policy_set_ref(set);
	return 0;
}

int engine_list_policies_text(engine *eng, const engine_peer *peer, json_t *params, smk_buf *out,
			      engine_error *err)
{
	struct engine_replies *rs = replies_of(eng);
	policy_peer pp;
	json_t *reply = NULL;
	size_t i;
	int a, rc = 0;

	memset(err, 0, sizeof(*err));
	if (rs == NULL || (rs->set != eng->policies && policy_entries(rs, eng->policies) < 0)) {
		/* no memory for the cache: answer without it */
		if (engine_list_policies(eng, peer, params, &reply, err) < 0)
			return -1;
		return add_json(out, reply) < 0 ? out_of_memory(err) : 0;
	}
	peer_of(peer, &pp);
	rc |= smk_buf_add(out, "{\"policies\":[", 13);
	for (i = 0; i < rs->count; i++) {
		a = policy_authorize(policy_set_at(rs->set, i), &pp, NULL) == 0;
		if (i > 0)
			rc |= smk_buf_add_byte(out, ',');
		rc |= smk_buf_add(out, rs->text[a].data + rs->off[a][i],
				  rs->off[a][i + 1] - rs->off[a][i]);
	}
	rc |= smk_buf_add(out, "]}", 2);
	return rc < 0 ? out_of_memory(err) : 0;
}
