/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Card work after generation: certificates for archived keys
 * (certs.c: CreateCSR, SelfSign, ImportCertificate), keys made elsewhere and
 * the card beside the archive (adopt.c: Adopt, ListDeviceObjects). cardop.c
 * holds what they share: the operation (an op.h operation whose steps run
 * first on the key's device worker, in that device's session, then, for
 * what must be archived, on the archive-key device's worker), who may do
 * what, and the key record a call names. certs.c and adopt.c each register
 * their op_kind.
 *
 * Threads as for a Generate job (daemon.h): the loop owns the operation;
 * a worker writes the "written by the worker" part, then posts it back.
 */
#ifndef SMK_DAEMON_CARDOP_H
#define SMK_DAEMON_CARDOP_H

#include <stdbool.h>

#include "../archive/record.h"
#include "daemon.h"

enum cardop_kind { CARDOP_CSR, CARDOP_SELFSIGN, CARDOP_IMPORT, CARDOP_ADOPT, CARDOP_OBJECTS };

/* What the next worker run does: the card work on the key's device, or the
 * commit through the archive key. */
enum cardop_step { CARDOP_STEP_CARD, CARDOP_STEP_COMMIT };

/* How the card step ended when it failed. */
enum cardop_failure {
	CARDOP_FAILED,	  /* the card or the device failed */
	CARDOP_REFUSED,	  /* what the card holds does not allow it (NotAdoptable, mismatch) */
	CARDOP_LEFT_OPEN, /* import: CE|id could not be read back; recovery decides at start */
};

typedef struct cardop cardop;

/* What certs.c and adopt.c register: an op_kind whose run and deliver are
 * cardop_run and cardop_deliver, which call these for the kind. */
typedef struct cardop_methods {
	op_kind base;
	/* on d's worker: the card or commit work of op->step (op->err cleared) */
	void (*run)(device *d, cardop *op);
	/* on the loop: what that step did */
	void (*deliver)(cardop *op);
} cardop_methods;

/* The algorithm list a key's FCP reports (session_key_algs). */
struct cardop_key_algs {
	bool reported; /* the card reported a list (n 0: no list) */
	uint8_t algs[SMK_ALG_LIST_MAX];
	size_t n;
	char problem[512]; /* the FCP did not parse, "" otherwise */
};

struct cardop {
	operation base; /* first: the pipeline's part (eng, done, ctx) */
	enum cardop_kind kind;
	enum cardop_step step;
	engine_peer peer;
	device *dev; /* the key's device: where the card step runs */

	/* the key record the call names (CSR, SelfSign, ImportCertificate) */
	uint64_t key_seq;
	uint8_t key_id;
	char policy[128]; /* "" for an adopted key */
	smk_buf spki;
	uint8_t algs[SMK_ALG_LIST_MAX];
	size_t alg_count;
	EVP_PKEY *pub;

	char subject[1025];
	unsigned days;
	char label[128]; /* Adopt: the label given, else the PrKD's (up to 127 bytes) */
	bool label_given;
	smk_buf cert; /* ImportCertificate: the certificate, DER */
	char request_id[ARCHIVE_REQUEST_ID_LEN + 1];

	/* written by the worker, read by the loop after the completion */
	int rc;
	enum cardop_failure failure;
	smk_err err;
	smk_buf out; /* CSR or certificate, PEM */
	uint64_t seq;
	smk_buf cvreq;		 /* Adopt: CE|id as read */
	chain_attested att;	 /* Adopt: what the CV request proves */
	smk_buf chain;		 /* Adopt: the device chain the session validated */
	archive_card_facts card; /* Adopt: key domains and the list the card reports */
	session_object *objs;	 /* ListDeviceObjects */
	size_t nobj;
	struct cardop_key_algs *key_algs; /* ListDeviceObjects: per key, objs[i] */
	/* Adopt and ListDeviceObjects: the device's key domains, read under SM
	 * in the same session; domains_read false: the query failed (reason in
	 * domains_error), which counts as "may have imported" */
	hsm_domain_state domains;
	bool domains_read;
	char domains_error[512];
};

/* ---- cardop.c ---- */

/* The key-domain state as the interface's DomainState (docs/varlink.md). */
json_t *cardop_domains_json(const cardop *op);
/* Whether a key on op's device may have come in through UNWRAP KEY: the
 * domain state says so, or it could not be read. */
bool cardop_may_import(const cardop *op);

/* uid 0, or a gid / supplementary gid in the config's admin-groups. */
bool cardop_is_admin(const engine *eng, const engine_peer *peer);
/* A new operation of kind (the calling file's op_kind) for peer, or NULL
 * after filling err. */
cardop *cardop_new(engine *eng, const op_kind *ok, enum cardop_kind kind, const engine_peer *peer,
		   engine_done_fn done, void *ctx, engine_error *err);
/* Free an operation that was never queued (refused at once). */
void cardop_discard(cardop *op);
/* The op_kind functions of every cardop_methods. */
void cardop_run(device *d, operation *o, int step);
void cardop_deliver(operation *o, int what, enum engine_stage stage);
void cardop_free(operation *o);
/* Hand op to d's worker for op->step (commits go to the front). */
int cardop_queue(cardop *op, device *d, engine_error *err);
/* Answer (reply stolen) and forget op. */
void cardop_reply(cardop *op, json_t *reply);
void cardop_fail(cardop *op, const char *name, json_t *params, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));
/* A device that is up, by serial or DevAut CHR; NULL otherwise. */
device *cardop_device(engine *eng, const char *serial);
/* Is s a request id, 32 lower-case hex digits? Only that names a record by
 * request_id: archive_find would also resolve a number or a label given in
 * its place. */
bool cardop_is_request_id(const char *s);
/* The InvalidParameter failures of a record lookup: request_id is not a
 * request id; neither seq nor request_id given. Both return -1. */
int cardop_fail_request_id(engine_error *err);
int cardop_fail_no_record_key(engine_error *err);
/* The record named by seq or request_id (32 hex digits), loaded. */
int cardop_find_record(engine *eng, json_t *params, archive_record *r, engine_error *err);
/* May peer use the key of record r (kind key or adopted)? Fills op's key
 * fields on success. Refusals are logged; nothing is written. */
int cardop_take_key(cardop *op, const archive_record *r, engine_error *err);
/* The record's bundle as a JSON string (NULL and e on failure). */
json_t *cardop_bundle(engine *eng, uint64_t seq, smk_err *e);

#endif
