/* SPDX-License-Identifier: BSD-3-Clause */
#include "fake_engine.h"

#include <stdlib.h>
#include <string.h>

fake_engine_hooks fake_engine;

void engine_error_clear(engine_error *err)
{
	json_decref(err->params);
	err->params = NULL;
}

const char *engine_stage_name(enum engine_stage stage)
{
	static const char *const names[] = {"queued", "session", "generating", "archived"};

	/* methods.c only ever reports the stages the engine has */
	if (stage > ENGINE_ARCHIVED)
		abort();
	return names[stage];
}

int generate_key(engine *eng, const engine_peer *peer, const char *policy, const char *label,
		 const char *device, engine_progress_fn progress, engine_done_fn done, void *ctx,
		 engine_error *err)
{
	(void)peer;
	return fake_engine.generate(eng, policy, label, device, progress, done, ctx, err);
}

void engine_forget(engine *eng, void *ctx)
{
	(void)eng;
	(void)ctx;
}

#define QUERY(fn)                                                                                  \
	int fn(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,               \
	       engine_error *err)                                                                  \
	{                                                                                          \
		(void)peer;                                                                        \
		return fake_engine.query(eng, params, reply, err);                                 \
	}
QUERY(engine_get_record)
QUERY(engine_list_records)
QUERY(engine_get_bundle)
QUERY(engine_list_policies)
QUERY(engine_list_devices)
QUERY(engine_get_checkpoint)
QUERY(engine_get_log_key)
QUERY(engine_get_consistency_proof)
QUERY(witness_add_cosignatures)
QUERY(witness_report_push)
QUERY(sign_list_keys)

#define CARD(fn)                                                                                   \
	int fn(engine *eng, const engine_peer *peer, json_t *params, engine_done_fn done,          \
	       void *ctx, engine_error *err)                                                       \
	{                                                                                          \
		(void)peer;                                                                        \
		return fake_engine.card(eng, params, done, ctx, err);                              \
	}
CARD(certs_create_csr)
CARD(certs_self_sign)
CARD(certs_import)
CARD(adopt_key)
CARD(adopt_list_objects)
CARD(sign_data)

/* GetRecord and ListPolicies reach the engine in their text form. */
#define QUERY_TEXT(fn, json_fn)                                                                    \
	int fn(engine *eng, const engine_peer *peer, json_t *params, smk_buf *out,                 \
	       engine_error *err)                                                                  \
	{                                                                                          \
		json_t *reply = NULL;                                                              \
		char *text;                                                                        \
		int rc = json_fn(eng, peer, params, &reply, err);                                  \
                                                                                                   \
		if (rc < 0)                                                                        \
			return rc;                                                                 \
		text = json_dumps(reply, JSON_COMPACT);                                            \
		json_decref(reply);                                                                \
		rc = text ? smk_buf_add(out, text, strlen(text)) : -1;                             \
		free(text);                                                                        \
		return rc;                                                                         \
	}
QUERY_TEXT(engine_get_record_text, engine_get_record)
QUERY_TEXT(engine_list_policies_text, engine_list_policies)
