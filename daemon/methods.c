/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The methods (see methods.h). Each io.smkeyd method's parameters are
 * checked here against proto/io.smkeyd.varlink - names, types, ranges - so
 * the engine only ever sees an object with the declared fields, nulls
 * dropped, values in range. Labels beyond their length are the policy's
 * business (the engine's).
 */
#include "methods.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "policy/policy.h"
#include "varlink_errors.h"

#define SERIAL_MAX 16 /* a DevAut CHR: country, mnemonic, sequence (ref §4.2) */
#define REQUEST_ID_MAX 128
#define LIST_LIMIT_MAX 10000
#define SUBJECT_MAX 1024   /* an -subj string; x509_parse_subject checks the rest */
#define CERT_PEM_MAX 16384 /* a PEM certificate; CE|id holds at most 4096 DER bytes */
#define DAYS_MAX 36500	   /* 100 years */
#define SIGLINE_MAX 512	   /* a note signature line: a cosignature's is ~110 + its name */
#define DETAIL_MAX 500	   /* a witness push outcome in words */

enum ptype {
	P_POLICY,   /* [A-Za-z0-9._-]{1,64}, not starting with '.' or '-' */
	P_LABEL,    /* 1..POLICY_LABEL_MAX bytes, no control characters */
	P_SERIAL,   /* [A-Za-z0-9]{1,16} */
	P_REQID,    /* [A-Za-z0-9._:-]{1,128} */
	P_UINT,	    /* integer >= 0 */
	P_LIMIT,    /* integer 1..LIST_LIMIT_MAX */
	P_SUBJECT,  /* 2..SUBJECT_MAX bytes, starting with '/', no control characters */
	P_DAYS,	    /* integer 1..DAYS_MAX */
	P_CERT,	    /* 1..CERT_PEM_MAX bytes of PEM text */
	P_KEYID,    /* integer 1..255, a key id on the card */
	P_SIGLINES, /* 1..64 strings of 1..SIGLINE_MAX bytes, no control characters */
	P_WNAME,    /* a witness key name: 1..128 printable ASCII, no space or '+' */
	P_OUTCOME,  /* [a-z-]{1,32} */
	P_DETAIL,   /* 0..DETAIL_MAX bytes, no control characters */
	P_ALG,	    /* an algorithm name: [a-z0-9-]{1,32} */
	P_B64,	    /* 1 or more bytes of base64 text (A-Z a-z 0-9 + / =) */
};

struct param {
	const char *name;
	enum ptype type;
	int required;
};

struct method {
	const char *name;
	struct param params[6]; /* ends with a NULL name */
	int seq_or_id;		/* exactly one of seq / request_id */
	engine_query_fn *query; /* NULL and no card: Generate */
	engine_call_fn *card;	/* card work answered later (engine.h) */
};

static const struct method methods[] = {
    {"Generate",
     {{"policy", P_POLICY, 1}, {"label", P_LABEL, 0}, {"device", P_SERIAL, 0}},
     0,
     NULL,
     NULL},
    {"GetRecord", {{"seq", P_UINT, 0}, {"request_id", P_REQID, 0}}, 1, engine_get_record, NULL},
    {"ListRecords",
     {{"policy", P_POLICY, 0}, {"since", P_UINT, 0}, {"limit", P_LIMIT, 0}},
     0,
     engine_list_records,
     NULL},
    {"GetBundle", {{"seq", P_UINT, 0}, {"request_id", P_REQID, 0}}, 1, engine_get_bundle, NULL},
    {"ListPolicies", {{NULL, 0, 0}}, 0, engine_list_policies, NULL},
    {"ListDevices", {{NULL, 0, 0}}, 0, engine_list_devices, NULL},
    {"GetCheckpoint", {{NULL, 0, 0}}, 0, engine_get_checkpoint, NULL},
    {"GetLogKey", {{NULL, 0, 0}}, 0, engine_get_log_key, NULL},
    {"GetConsistencyProof",
     {{"old_size", P_UINT, 1}, {"new_size", P_UINT, 0}},
     0,
     engine_get_consistency_proof,
     NULL},
    {"CreateCSR",
     {{"seq", P_UINT, 0}, {"request_id", P_REQID, 0}, {"subject", P_SUBJECT, 1}},
     1,
     NULL,
     certs_create_csr},
    {"SelfSign",
     {{"seq", P_UINT, 0},
      {"request_id", P_REQID, 0},
      {"subject", P_SUBJECT, 1},
      {"days", P_DAYS, 0}},
     1,
     NULL,
     certs_self_sign},
    {"ImportCertificate",
     {{"seq", P_UINT, 0}, {"request_id", P_REQID, 0}, {"certificate", P_CERT, 1}},
     1,
     NULL,
     certs_import},
    {"Adopt",
     {{"device", P_SERIAL, 1}, {"key_id", P_KEYID, 1}, {"label", P_LABEL, 0}},
     0,
     NULL,
     adopt_key},
    {"ListDeviceObjects", {{"device", P_SERIAL, 1}}, 0, NULL, adopt_list_objects},
    {"ListSigningKeys", {{NULL, 0, 0}}, 0, sign_list_keys, NULL},
    {"Sign",
     {{"seq", P_UINT, 0},
      {"label", P_LABEL, 0},
      {"algorithm", P_ALG, 1},
      {"data", P_B64, 0},
      {"digest", P_B64, 0}},
     0,
     NULL,
     sign_data},
    {"AddCosignatures",
     {{"size", P_UINT, 1}, {"signatures", P_SIGLINES, 1}},
     0,
     witness_add_cosignatures,
     NULL},
    {"ReportWitnessPush",
     {{"witness", P_WNAME, 1},
      {"size", P_UINT, 1},
      {"outcome", P_OUTCOME, 1},
      {"witness_size", P_UINT, 0},
      {"detail", P_DETAIL, 1}},
     0,
     witness_report_push,
     NULL},
};

/* Queries the engine answers as JSON text from its reply caches; the
 * parameters are checked against methods[] first, as for every query. */
static const struct {
	const char *name;
	engine_text_query_fn *query;
} text_queries[] = {
    {"GetRecord", engine_get_record_text},
    {"ListPolicies", engine_list_policies_text},
};

static engine_text_query_fn *text_query_of(const char *member)
{
	size_t i;

	for (i = 0; i < sizeof(text_queries) / sizeof(text_queries[0]); i++)
		if (strcmp(text_queries[i].name, member) == 0)
			return text_queries[i].query;
	return NULL;
}

static int in_set(char c, const char *extra)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       (c && strchr(extra, c) != NULL);
}

static int chars_ok(const char *s, const char *extra)
{
	for (; *s; s++)
		if (!in_set(*s, extra))
			return 0;
	return 1;
}

/* No control characters and no NUL inside. */
static int text_ok(const char *s, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || s[i] == 0x7f)
			return 0;
	return 1;
}

/* NULL when v fits t, else the reason. */
static const char *check_value(enum ptype t, json_t *v)
{
	const char *s;
	size_t n;

	if (t == P_UINT || t == P_LIMIT || t == P_DAYS || t == P_KEYID) {
		json_int_t i;

		if (!json_is_integer(v))
			return "must be an integer";
		i = json_integer_value(v);
		if (t == P_UINT && i < 0)
			return "must be 0 or more";
		if (t == P_LIMIT && (i < 1 || i > LIST_LIMIT_MAX))
			return "must be from 1 to 10000";
		if (t == P_DAYS && (i < 1 || i > DAYS_MAX))
			return "must be from 1 to 36500 days";
		if (t == P_KEYID && (i < 1 || i > 255))
			return "must be a key id from 1 to 255";
		return NULL;
	}
	if (t == P_SIGLINES) {
		json_t *line;
		size_t i;

		if (!json_is_array(v) || json_array_size(v) < 1 || json_array_size(v) > 64)
			return "must be a list of 1 to 64 note signature lines";
		json_array_foreach(v, i, line)
		{
			if (!json_is_string(line) || json_string_length(line) < 1 ||
			    json_string_length(line) > SIGLINE_MAX ||
			    !text_ok(json_string_value(line), json_string_length(line)))
				return "must be note signature lines of at most 512 bytes, without "
				       "control characters";
		}
		return NULL;
	}
	if (!json_is_string(v))
		return "must be a string";
	s = json_string_value(v);
	n = json_string_length(v);
	switch (t) {
	case P_POLICY:
		if (n < 1 || n > POLICY_NAME_MAX || !chars_ok(s, "._-") || s[0] == '.' ||
		    s[0] == '-')
			return "must be a policy name: 1 to 64 of A-Z a-z 0-9 . _ -, not starting "
			       "with '.' or '-'";
		return NULL;
	case P_LABEL:
		if (n < 1 || n > POLICY_LABEL_MAX)
			return "must be 1 to 64 bytes";
		for (; *s; s++)
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				return "must not contain control characters";
		return NULL;
	case P_SERIAL:
		if (n < 1 || n > SERIAL_MAX || !chars_ok(s, ""))
			return "must be a device serial: 1 to 16 of A-Z a-z 0-9";
		return NULL;
	case P_REQID:
		if (n < 1 || n > REQUEST_ID_MAX || !chars_ok(s, "._:-"))
			return "must be a request id: 1 to 128 of A-Z a-z 0-9 . _ : -";
		return NULL;
	case P_SUBJECT:
		if (n < 2 || n > SUBJECT_MAX || s[0] != '/')
			return "must be a subject such as /CN=Release key/O=Example Ltd, at most "
			       "1024 bytes";
		for (; *s; s++)
			if ((unsigned char)*s < 0x20 || *s == 0x7f)
				return "must not contain control characters";
		return NULL;
	case P_CERT:
		if (n < 1 || n > CERT_PEM_MAX || strstr(s, "-----BEGIN CERTIFICATE-----") == NULL)
			return "must be one PEM certificate (-----BEGIN CERTIFICATE-----), at most "
			       "16384 bytes";
		return NULL;
	case P_WNAME:
		if (n < 1 || n > 128)
			return "must be a witness name of 1 to 128 characters";
		for (; *s; s++)
			if ((unsigned char)*s <= 0x20 || (unsigned char)*s >= 0x7f || *s == '+')
				return "must be a witness name: printable ASCII, no space or '+'";
		return NULL;
	case P_OUTCOME:
		if (n < 1 || n > 32 || !chars_ok(s, "-"))
			return "must be an outcome name";
		return NULL;
	case P_DETAIL:
		if (n > DETAIL_MAX || !text_ok(s, n))
			return "must be at most 500 bytes without control characters";
		return NULL;
	case P_ALG:
		if (n < 1 || n > 32 || strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789-") != n)
			return "must be an algorithm name such as ecdsa-sha256";
		return NULL;
	case P_B64:
		if (n < 1 || !chars_ok(s, "+/="))
			return "must be base64 text (A-Z a-z 0-9 + / =)";
		return NULL;
	default:
		return "has no known type";
	}
}

/* A name the client sent, cut to 64 bytes on a UTF-8 boundary so that it
 * can go back into a reply. */
static void client_name(char out[65], const char *s)
{
	size_t n = strnlen(s, 64);

	while (n > 0 && n == 64 && ((unsigned char)s[n] & 0xC0) == 0x80)
		n--;
	memcpy(out, s, n);
	out[n] = '\0';
}

static void invalid(struct server_conn *c, const char *parameter, const char *reason)
{
	server_conn_error(c, SMK_VERR_INVALID_PARAMETER,
			  json_pack("{ssss}", "parameter", parameter, "reason", reason));
}

/* The checked parameters without nulls, or NULL after answering the error. */
static json_t *check_params(struct server_conn *c, const struct method *m, json_t *params)
{
	const struct param *p;
	const char *key, *why;
	json_t *v, *out = json_object();

	if (out == NULL) {
		invalid(c, "parameters", "out of memory");
		return NULL;
	}
	json_object_foreach(params, key, v)
	{
		for (p = m->params; p->name; p++)
			if (strcmp(p->name, key) == 0)
				break;
		if (p->name == NULL) {
			char name[65];

			client_name(name, key);
			invalid(c, name, "is not a parameter of this method");
			goto fail;
		}
		if (json_is_null(v))
			continue;
		if ((why = check_value(p->type, v)) != NULL) {
			invalid(c, p->name, why);
			goto fail;
		}
		json_object_set(out, key, v);
	}
	for (p = m->params; p->name; p++)
		if (p->required && json_object_get(out, p->name) == NULL) {
			invalid(c, p->name, "is required");
			goto fail;
		}
	if (m->seq_or_id &&
	    (json_object_get(out, "seq") != NULL) == (json_object_get(out, "request_id") != NULL)) {
		invalid(c, "seq", "give either seq or request_id");
		goto fail;
	}
	v = json_object_get(out, "new_size");
	if (v && json_integer_value(v) < json_integer_value(json_object_get(out, "old_size"))) {
		invalid(c, "new_size", "must not be smaller than old_size");
		goto fail;
	}
	return out;
fail:
	json_decref(out);
	return NULL;
}

static void answer_engine_error(struct server_conn *c, engine_error *err)
{
	const char *name = err->name;

	/* an engine that forgot to name its error still gets a valid reply */
	if (name == NULL || !varlink_method_valid(name))
		name = SMK_VERR_ARCHIVE_ERROR;
	server_conn_error(c, name,
			  err->params ? json_incref(err->params)
				      : json_pack("{ss}", "reason", err->msg));
}

static void generate_progress(void *ctx, enum engine_stage stage)
{
	struct server_conn *c = ctx;

	server_conn_reply(c,
			  json_pack("{s{sssI}}", "progress", "stage", engine_stage_name(stage),
				    "elapsed_ms", (json_int_t)server_conn_elapsed_ms(c)),
			  1);
}

static void generate_done(void *ctx, json_t *reply, const engine_error *err)
{
	struct server_conn *c = ctx;

	if (reply != NULL)
		server_conn_reply(c, reply, 0);
	else
		answer_engine_error(c, (engine_error *)err);
}

static int generate(engine *eng, struct server_conn *c, const engine_peer *peer, json_t *params)
{
	engine_error err;
	json_t *label = json_object_get(params, "label"),
	       *device = json_object_get(params, "device");

	memset(&err, 0, sizeof(err));
	if (generate_key(eng, peer, json_string_value(json_object_get(params, "policy")),
			 label ? json_string_value(label) : NULL,
			 device ? json_string_value(device) : NULL, generate_progress,
			 generate_done, c, &err) < 0) {
		answer_engine_error(c, &err);
		engine_error_clear(&err);
		return 0;
	}
	return 1;
}

/* The certificate and adoption methods: the engine answers through
 * generate_done once the card work is over. */
static int card_call(engine *eng, struct server_conn *c, const engine_peer *peer,
		     const struct method *m, json_t *params)
{
	engine_error err;

	memset(&err, 0, sizeof(err));
	if (m->card(eng, peer, params, generate_done, c, &err) < 0) {
		answer_engine_error(c, &err);
		engine_error_clear(&err);
		return 0;
	}
	return 1;
}

/* org.varlink.service: what any varlink client asks first. */
static int service(struct server_conn *c, const varlink_call *call)
{
	json_t *v;
	const char *key, *iface;
	char name[65];

	if (strcmp(call->member, "GetInfo") == 0) {
		json_object_foreach(call->params, key, v)
		{
			(void)v;
			client_name(name, key);
			server_conn_error(c, "org.varlink.service.InvalidParameter",
					  json_pack("{ss}", "parameter", name));
			return 0;
		}
		server_conn_reply(c,
				  json_pack("{sssssssss[ss]}", "vendor", "smkeyd", "product",
					    "smkeyd", "version", SMKEYD_VERSION, "url",
					    "man:smkeyd(8)", "interfaces", "org.varlink.service",
					    "io.smkeyd"),
				  0);
		return 0;
	}
	if (strcmp(call->member, "GetInterfaceDescription") == 0) {
		json_object_foreach(call->params, key, v)
		{
			if (strcmp(key, "interface") == 0 && json_is_string(v))
				continue;
			client_name(name, key);
			server_conn_error(c, "org.varlink.service.InvalidParameter",
					  json_pack("{ss}", "parameter", name));
			return 0;
		}
		v = json_object_get(call->params, "interface");
		if (v == NULL) {
			server_conn_error(c, "org.varlink.service.InvalidParameter",
					  json_pack("{ss}", "parameter", "interface"));
			return 0;
		}
		iface = json_string_value(v);
		if (strcmp(iface, "io.smkeyd") == 0 || strcmp(iface, "org.varlink.service") == 0) {
			server_conn_reply(c,
					  json_pack("{ss}", "description",
						    iface[0] == 'i'
							? varlink_interface_io_smkeyd
							: varlink_interface_org_varlink_service),
					  0);
			return 0;
		}
		client_name(name, iface);
		server_conn_error(c, "org.varlink.service.InterfaceNotFound",
				  json_pack("{ss}", "interface", name));
		return 0;
	}
	server_conn_error(c, "org.varlink.service.MethodNotFound",
			  json_pack("{ss}", "method", call->method));
	return 0;
}

static void answer_text_query(engine *eng, struct server_conn *c, const engine_peer *peer,
			      engine_text_query_fn *query, json_t *params)
{
	smk_buf text = SMK_BUF_INIT;
	engine_error err;

	memset(&err, 0, sizeof(err));
	/* a record's reply is a few KiB: one allocation, not a series */
	(void)smk_buf_reserve(&text, 4096);
	if (query(eng, peer, params, &text, &err) == 0) {
		server_conn_reply_text(c, (const char *)text.data, text.len);
	} else {
		answer_engine_error(c, &err);
		engine_error_clear(&err);
	}
	smk_buf_free(&text);
}

int methods_dispatch(engine *eng, struct server_conn *c, const engine_peer *peer,
		     const varlink_call *call)
{
	const struct method *m = NULL;
	engine_error err;
	json_t *params, *reply = NULL;
	size_t i;
	int rc;

	if (strcmp(call->interface, "org.varlink.service") == 0)
		return service(c, call);
	if (strcmp(call->interface, "io.smkeyd") != 0) {
		server_conn_error(c, "org.varlink.service.InterfaceNotFound",
				  json_pack("{ss}", "interface", call->interface));
		return 0;
	}
	for (i = 0; i < sizeof(methods) / sizeof(methods[0]); i++)
		if (strcmp(methods[i].name, call->member) == 0)
			m = &methods[i];
	if (m == NULL) {
		server_conn_error(c, "org.varlink.service.MethodNotFound",
				  json_pack("{ss}", "method", call->method));
		return 0;
	}
	params = check_params(c, m, call->params);
	if (params == NULL)
		return 0;
	if (m->card != NULL) {
		rc = card_call(eng, c, peer, m, params);
		json_decref(params);
		return rc;
	}
	if (m->query == NULL) {
		rc = generate(eng, c, peer, params);
		json_decref(params);
		return rc;
	}
	memset(&err, 0, sizeof(err));
	if (text_query_of(m->name) != NULL) {
		answer_text_query(eng, c, peer, text_query_of(m->name), params);
	} else if (m->query(eng, peer, params, &reply, &err) == 0) {
		server_conn_reply(c, reply, 0);
	} else {
		answer_engine_error(c, &err);
		engine_error_clear(&err);
	}
	json_decref(params);
	return 0;
}
