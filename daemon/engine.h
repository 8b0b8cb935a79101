/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The engine: the part of smkeyd that owns the HSMs, the policies and the
 * archive. The socket layer (server.c, methods.c) calls it on the event-loop
 * thread with parameters already checked against proto/io.smkeyd.varlink;
 * card work runs on one worker thread per HSM; completions are delivered back
 * on the event-loop thread.
 *
 * Replies are jansson objects shaped exactly as the method's reply in
 * io.smkeyd.varlink. Errors carry the varlink error name and its parameters.
 */
#ifndef SMK_ENGINE_H
#define SMK_ENGINE_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

#include "common/buf.h"

struct event_base;

typedef struct engine engine;

/* The client as the kernel saw it at accept (SO_PEERCRED) plus its groups
 * and executable, read from /proc at accept. */
typedef struct engine_peer {
	uid_t uid;
	gid_t gid;
	pid_t pid;
	gid_t groups[64];
	size_t ngroups;
	char exe[256];
} engine_peer;

typedef struct engine_error {
	const char *name; /* "io.smkeyd.PolicyDenied" (varlink_errors.h) */
	json_t *params;	  /* the error's parameters (owned; engine_error_clear frees) */
	char msg[512];	  /* the same, in one sentence, for logs */
} engine_error;

void engine_error_clear(engine_error *err);

enum engine_stage {
	ENGINE_QUEUED,
	ENGINE_SESSION,
	ENGINE_GENERATING,
	ENGINE_ARCHIVED,
	ENGINE_STAGE_COUNT, /* not a stage: how many there are */
};
const char *engine_stage_name(enum engine_stage stage);

/* Called on the event-loop thread. */
typedef void (*engine_progress_fn)(void *ctx, enum engine_stage stage);
/* Exactly one of reply / err is non-NULL; the callee takes ownership of
 * reply (json_decref) and must not keep err. */
typedef void (*engine_done_fn)(void *ctx, json_t *reply, const engine_error *err);

/* generate.c: start a generation. 0: accepted, progress/done will be called later
 * (unless cancelled). -1: refused at once (unknown policy, denied, invalid
 * label, queue full, no device) and err says why; nothing was written. */
int generate_key(engine *eng, const engine_peer *peer, const char *policy, const char *label,
		 const char *device, engine_progress_fn progress, engine_done_fn done, void *ctx,
		 engine_error *err);

/* engine.c: the client went away: forget ctx. The job itself completes and is archived
 * (the key can be fetched later by request id). */
void engine_forget(engine *eng, void *ctx);

/* Does the configuration name this peer: uid 0, a member of an admin group,
 * or allowed by at least one loaded policy? The socket layer keeps slots
 * for such peers before others (server.h). */
int engine_peer_named(engine *eng, const engine_peer *peer);

/* Card work for one call, answered later like Generate (without progress):
 * 0 accepted, done(ctx, ...) runs on the loop unless engine_forget(ctx) came
 * first; -1 refused at once (not found, denied, no device, bad input) with
 * nothing written. params are the method's, checked by methods.c. */
typedef int engine_call_fn(engine *eng, const engine_peer *peer, json_t *params,
			   engine_done_fn done, void *ctx, engine_error *err);
/* A synchronous query: 0 and *reply (the caller's), or -1 and err. */
typedef int engine_query_fn(engine *eng, const engine_peer *peer, json_t *params, json_t **reply,
			    engine_error *err);
/* A query answered as the compact JSON text of its reply, appended to out
 * (no NUL). */
typedef int engine_text_query_fn(engine *eng, const engine_peer *peer, json_t *params, smk_buf *out,
				 engine_error *err);

/* CreateCSR, SelfSign, ImportCertificate: for a committed key record,
 * allowed to a peer its policy authorizes or to an admin; Adopt and
 * ListDeviceObjects (and anything on an adopted key): admins only. */
engine_call_fn certs_create_csr;   /* certs.c: CreateCSR */
engine_call_fn certs_self_sign;	   /* certs.c: SelfSign */
engine_call_fn certs_import;	   /* certs.c: ImportCertificate */
engine_call_fn adopt_key;	   /* adopt.c: Adopt */
engine_call_fn adopt_list_objects; /* adopt.c: ListDeviceObjects */

/* sign.c: Sign with a key whose policy's sign: rule admits the peer (no
 * implicit right for admins; never the archive key), with an algorithm of
 * the key's archived list; the signature is archived as a record (intent
 * before the card, record after) unless the policy says log: false. */
engine_call_fn sign_data;
/* sign.c: the keys the peer may sign with (ListSigningKeys). */
engine_query_fn sign_list_keys;

/* engine.c: the archive, the policies and the devices */
engine_query_fn engine_get_record;
engine_query_fn engine_list_records;
engine_query_fn engine_get_bundle;
engine_query_fn engine_list_policies;
engine_query_fn engine_list_devices;
engine_query_fn engine_get_checkpoint;
engine_query_fn engine_get_consistency_proof;
/* The log's identity: origin and note verifier key (archive/logkey.h) of
 * the archive key in record 0. */
engine_query_fn engine_get_log_key;
/* witness.c: cosignatures and push outcomes from smkeyd-witness */
engine_query_fn witness_add_cosignatures;
engine_query_fn witness_report_push;

/* GetRecord and ListPolicies answered as text: byte for byte what
 * json_dumps(reply, JSON_COMPACT) of the queries above gives, served from
 * caches where the reply cannot have changed. ListPolicies still authorizes
 * this peer on every call. The socket layer answers these two methods
 * through them. */
engine_text_query_fn engine_get_record_text;
engine_text_query_fn engine_list_policies_text;

#endif
