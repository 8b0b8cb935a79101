/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The archive: an append-only SQLite store of signed key-generation records.
 *
 * Flow (docs/design.md "A Generate request, end to end"):
 *   archive_intent()  before the card is asked: durably records who asked for
 *                     what, and returns the CHR the GAKP must carry, which
 *                     commits to the intent;
 *   archive_commit()  after the card answered: the intent becomes record n,
 *                     signed by the archive key, appended to the Merkle log,
 *                     and a new signed checkpoint is stored, in one transaction;
 *                     or, batched (group commit):
 *   archive_commit_record()   the record alone, and later
 *   archive_sign_checkpoint() one checkpoint over every record so far;
 *   archive_fail()    or the intent ends as a failed outcome with a reason.
 * A record is "covered" once a checkpoint's tree includes it; only covered
 * records have a bundle.
 *
 * Record 0 is the archive signing key's own record (kind "archive-key"),
 * signed by itself; every later record is signed by that key. The encoding
 * of records, checkpoints and bundles is described in docs/archive.md.
 */
#ifndef SMK_ARCHIVE_H
#define SMK_ARCHIVE_H

#include <stddef.h>
#include <stdint.h>

#include <openssl/evp.h>

#include "../common/buf.h"
#include "../common/err.h"

/* Format of intents and of the SQLite schema (user_version). Records:
 * format 1 (the first), format 2 (kinds key, archive-key and adopted add
 * what the card did and told, "card", docs/archive.md "Record format 2"),
 * both signed one by one by the archive key; format 3 (docs/archive.md
 * "Record format 3"), the members of format 2 (certificate records: of
 * format 1) and no signature of its own: a format-3 record is authenticated
 * by its inclusion in a checkpoint the log signed. Record 0 (the archive
 * key) is written in ARCHIVE_RECORD_FORMAT_SIGNED and signed by itself,
 * every later record in ARCHIVE_RECORD_FORMAT. Formats 1 and 2 still read,
 * verify and audit. */
#define ARCHIVE_FORMAT 1
#define ARCHIVE_RECORD_FORMAT_SIGNED 2
#define ARCHIVE_RECORD_FORMAT 3
#define ARCHIVE_KIND_KEY "key"
#define ARCHIVE_KIND_ARCHIVE_KEY "archive-key"
/* A key generated elsewhere whose CV-REQ was still in CE|id (no policy, no SM). */
#define ARCHIVE_KIND_ADOPTED "adopted"
/* A certificate written into CE|id of a key that has a record. */
#define ARCHIVE_KIND_CERTIFICATE "certificate"
/* A signature made through Sign with a key that has a record. */
#define ARCHIVE_KIND_SIGNATURE "signature"
/* The largest caller digest a signature intent records (an RSA raw block). */
#define ARCHIVE_SIG_DIGEST_MAX 512
/* The largest signature value a signature record holds (RSA 4096: 512). */
#define ARCHIVE_SIG_MAX 1024
/* The largest certificate an import accepts: what EF CE|id holds (session_write_cert). */
#define ARCHIVE_CERT_MAX 4096
#define ARCHIVE_SM_PROTOCOL "id-CA-ECDH-AES-CBC-CMAC-128"
/* The CHR of an intent: "SK" + 14 base32 characters of its digest. */
#define ARCHIVE_CHR_LEN 16
#define ARCHIVE_REQUEST_ID_LEN 32

/* Signs with the archive key: ECDSA with SHA-256 over msg, DER signature
 * appended to der_sig. For record 0 msg is the 32-byte record hash, for a
 * checkpoint the note text (later records are not signed one by one). pub
 * is the public half (not owned). */
typedef struct archive_signer {
	int (*sign)(void *ctx, const uint8_t *msg, size_t len, smk_buf *der_sig, smk_err *e);
	void *ctx;
	EVP_PKEY *pub;
} archive_signer;

/* A signer over a software key (tests, tools); s->ctx and s->pub are key,
 * which the caller keeps alive. */
void archive_soft_signer(archive_signer *s, EVP_PKEY *key);
/* ECDSA-SHA256 verification of a DER signature over msg by pub. */
int archive_sig_verify(EVP_PKEY *pub, const uint8_t *msg, size_t len, const uint8_t *sig,
		       size_t sig_len, smk_err *e);

/* Who asked (SO_PEERCRED and /proc/PID/exe). exe may be NULL. */
typedef struct archive_peer {
	uint32_t uid, gid;
	int64_t pid;
	const char *exe;
} archive_peer;

typedef struct archive_intent_req {
	const char *kind; /* ARCHIVE_KIND_KEY or ARCHIVE_KIND_ARCHIVE_KEY */
	archive_peer peer;
	const char *policy_name;
	const uint8_t *policy_doc; /* canonical policy document (policy/), as bytes */
	size_t policy_doc_len;
	const char *device_serial; /* "DENK0404144" */
	const char *devaut_chr;	   /* "DENK040414400000" */
	unsigned key_id;	   /* 1..255, the GAKP P1 */
	int64_t time;		   /* seconds since the epoch; 0 = now */
} archive_intent_req;

typedef struct archive_intent_info {
	char request_id[ARCHIVE_REQUEST_ID_LEN + 1]; /* 128 random bits, hex */
	uint8_t digest[32];			     /* SHA-256 of the canonical intent */
	char chr[ARCHIVE_CHR_LEN + 1];		     /* the CHR to send in the GAKP */
	int64_t time;
	char kind[16];
	char policy_name[128]; /* "" for kinds adopted and certificate */
} archive_intent_info;

/* What the card did and told at generation or adoption, stored in a format-2
 * record's "card" member (docs/archive.md). None of it is signed by the
 * device: the log states it. */
#define ARCHIVE_DOMAINS_MAX 16
#define ARCHIVE_ALG_LIST_MAX 16
enum archive_domain_kind {
	ARCHIVE_DOMAIN_EMPTY, /* the domain exists, not set up (no DKEK or XKEK) */
	ARCHIVE_DOMAIN_DKEK,
	ARCHIVE_DOMAIN_XKEK,
};
typedef struct archive_key_domain {
	unsigned index; /* 0..255 */
	enum archive_domain_kind kind;
	unsigned shares_total, shares_outstanding; /* DKEK shares; 0 otherwise */
	int has_kcv;
	uint8_t kcv[8];
} archive_key_domain;

enum archive_cvreq_source {
	ARCHIVE_CVREQ_GAKP,	 /* the GAKP's answer under secure messaging */
	ARCHIVE_CVREQ_RECOVERED, /* read back from CE|id after the answer was lost */
	ARCHIVE_CVREQ_CE,	 /* adopted: read from CE|id, no GAKP of ours */
};

typedef struct archive_card_facts {
	enum archive_cvreq_source cvreq_from;
	int domains_reported; /* the card answered the key-domain query under SM */
	size_t domain_count;
	archive_key_domain domains[ARCHIVE_DOMAINS_MAX];
	int algs_reported; /* the card reported the key's algorithm list (FCP) */
	uint8_t algs[ARCHIVE_ALG_LIST_MAX];
	size_t alg_count;
	/* the device is configured as reached through a relay (notary mode,
	 * docs/notary.md): member "relayed": true, absent otherwise */
	int relayed;
} archive_card_facts;

typedef struct archive_commit_req {
	const char *request_id;
	const char *label;	     /* the key's label (PKCS#15) */
	const uint8_t *device_chain; /* EF 2F02: DevAut certificate, then DICA certificate */
	size_t device_chain_len;
	int sm_used;		 /* the GAKP went under secure messaging */
	const char *sm_protocol; /* NULL = ARCHIVE_SM_PROTOCOL when sm_used */
	const uint8_t *cvreq;	 /* the authenticated request (67 ...) */
	size_t cvreq_len;
	const uint8_t *spki; /* the new public key, SubjectPublicKeyInfo DER */
	size_t spki_len;
	int64_t time; /* 0 = now */
	/* what the card told; NULL = the GAKP's answer, nothing reported. A
	 * reported algorithm list must equal the policy's (else SMK_E_MISMATCH:
	 * the key must not be archived under that policy) */
	const archive_card_facts *card;
	/* kind signature: the signature the card returned */
	const uint8_t *signature;
	size_t signature_len;
} archive_commit_req;

typedef struct archive archive;

enum {
	ARCHIVE_OPEN_CREATE = 1,   /* create the file and tables when missing */
	ARCHIVE_OPEN_READONLY = 2, /* offline tools: never write */
};

int archive_open(const char *path, int flags, archive **out, smk_err *e);
void archive_close(archive *a);
/* How many records' tree nodes archive_open stored because the archive had
 * no tree table, or one behind its records (written before the table
 * existed, docs/archive.md "Storage"): 0 on every later open. */
uint64_t archive_tree_built(const archive *a);

int archive_intent(archive *a, const archive_intent_req *req, archive_intent_info *out, smk_err *e);
/* The signer must be the archive key: for record 0 the key of the record
 * itself, afterwards the key of record 0. *seq receives the record number. */
int archive_commit(archive *a, const archive_signer *signer, const archive_commit_req *req,
		   uint64_t *seq, smk_err *e);
/* Group commit: as archive_commit, but no checkpoint is signed; the record
 * is durable and signed, and not covered until archive_sign_checkpoint. */
int archive_commit_record(archive *a, const archive_signer *signer, const archive_commit_req *req,
			  uint64_t *seq, smk_err *e);
/* Sign and store a checkpoint over the current tree, which covers every
 * record committed since the last one; *size receives the tree size. When
 * the latest checkpoint already covers every record nothing is signed. */
int archive_sign_checkpoint(archive *a, const archive_signer *signer, uint64_t *size, smk_err *e);
int archive_fail(archive *a, const char *request_id, const char *reason, smk_err *e);
/* A failed outcome whose reason starts with this is a refusal: the card held
 * a key for the intent that did not match what the intent asked for (read
 * back after a lost answer: wrong type, curve, size or algorithm list), and
 * the key was not archived. smkey audit reports each as a FINDING. */
#define ARCHIVE_REFUSED_PREFIX "REFUSED: "
/* The canonical policy document stored with an open intent (appended), for
 * recovery: what a key read back must be. SMK_E_ARG when the intent is
 * unknown, has an outcome, or has no policy (adopted, certificate). */
int archive_intent_policy(archive *a, const char *request_id, smk_buf *doc, smk_err *e);

/* Intents without an outcome (interrupted requests), oldest first. The
 * caller frees *list. */
int archive_pending(archive *a, archive_intent_info **list, size_t *n, smk_err *e);
/* (kind is "certificate" for an interrupted certificate import; policy_name
 * is empty for it.) */
/* Number of committed records of kind "key" made under this policy (max-keys). */
int archive_policy_key_count(archive *a, const char *policy_name, uint64_t *n, smk_err *e);
/* The sequence numbers of the committed records of kind "key" made under
 * this policy, in log order, read through the policy's index (not every
 * record). The caller frees *seqs. */
int archive_policy_key_seqs(archive *a, const char *policy_name, uint64_t **seqs, size_t *n,
			    smk_err *e);
/* Number of records (the tree size). */
int archive_size(archive *a, uint64_t *n, smk_err *e);

/* Find a record by sequence number, request id or key label. */
int archive_find(archive *a, const char *id, uint64_t *seq, smk_err *e);
/* The stored canonical bytes and signature of record seq (appended). */
int archive_get(archive *a, uint64_t seq, smk_buf *canonical, smk_buf *sig, smk_err *e);
/* The latest signed checkpoint note (appended) and its tree size. */
int archive_latest_checkpoint(archive *a, smk_buf *note, uint64_t *size, smk_err *e);
/* RFC 6962 consistency proof from the tree of old_size records to the tree
 * of new_size records (0 = the current size, returned in *new_size): the
 * hashes, 32 bytes each, appended to proof. */
int archive_consistency_proof(archive *a, uint64_t old_size, uint64_t *new_size, smk_buf *proof,
			      smk_err *e);
/* The self-contained bundle for record seq (JSON, appended). */
int archive_export_bundle(archive *a, uint64_t seq, smk_buf *out, smk_err *e);

/* Adopt a key made elsewhere: its CV-REQ read from CE|id, verified by the
 * caller against the device's validated DevAut key. One transaction: intent
 * (kind adopted: peer, device, key id, time; no policy), record (chr = the
 * CHR inside the CV-REQ, device chain, key {label, cvreq, spki}, no policy,
 * sm.used false), Merkle leaf, signed checkpoint. Refuses (SMK_E_MISMATCH,
 * naming the existing seq) a CV-REQ or SPKI already in a committed record. */
typedef struct archive_adopt_req {
	archive_peer peer;
	const char *device_serial, *devaut_chr;
	unsigned key_id;
	const char *label; /* PrKD label or "" */
	const uint8_t *device_chain;
	size_t device_chain_len;
	const uint8_t *cvreq;
	size_t cvreq_len;
	const uint8_t *spki;
	size_t spki_len;
	int64_t time; /* 0 = now */
	/* key domains and reported list; NULL = nothing reported (cvreq_from
	 * is ignored: an adopted request is always read from CE|id) */
	const archive_card_facts *card;
} archive_adopt_req;
int archive_adopt(archive *a, const archive_signer *signer, const archive_adopt_req *req,
		  uint64_t *seq, smk_err *e);

/* Certificate import, two steps around the card write (crash-safe):
 * archive_cert_intent refuses unless key_seq is a committed record of kind
 * key or adopted (SMK_E_ARG "record 7 is not a committed key record"), and
 * unless the certificate's public key equals that record's SPKI
 * (SMK_E_MISMATCH naming both fingerprints). It durably stores the intent
 * (kind certificate: peer, key seq, the key record's hash, device serial,
 * DevAut CHR and key id of that record, the certificate DER, its SHA-256,
 * time). archive_cert_commit makes it a record (signature, leaf,
 * checkpoint); archive_fail() ends it when the card write failed. */
typedef struct archive_cert_req {
	archive_peer peer;
	uint64_t key_seq;
	const uint8_t *cert; /* DER, at most ARCHIVE_CERT_MAX bytes */
	size_t cert_len;
	int64_t time; /* 0 = now */
} archive_cert_req;
int archive_cert_intent(archive *a, const archive_cert_req *req, archive_intent_info *out,
			smk_err *e);
int archive_cert_commit(archive *a, const archive_signer *signer, const char *request_id,
			int64_t time, uint64_t *seq, smk_err *e);
/* The key record and certificate of a pending (open) certificate intent, for
 * recovery: CE|id equal to the certificate -> archive_cert_commit, else
 * archive_fail. The certificate DER is appended to cert. */
int archive_pending_cert(archive *a, const char *request_id, uint64_t *key_seq, smk_buf *cert,
			 smk_err *e);

/* Signatures made through Sign (archive/sigrecord.c), two steps around the
 * card, as for a certificate: archive_sig_intent refuses unless key_seq is
 * a committed record of kind key or adopted, and stores the intent (kind
 * signature: peer, key seq and that record's hash, device, key id,
 * algorithm, whether the host hashed, SHA-256 of the message or the digest
 * given, time) without an fsync of its own: the commit that makes it a
 * record syncs both, so a power loss can lose only an intent whose
 * signature was never handed out. After the card signed, archive_commit /
 * archive_commit_record with request_id and signature make it a record;
 * archive_fail() ends it when the card did not sign. */
typedef struct archive_sig_req {
	archive_peer peer;
	uint64_t key_seq;
	const char *algorithm; /* the card's algorithm, sm/alg.h name */
	int host_hashed;       /* smkeyd hashed the message with SHA-256 */
	int digest_given;      /* input is the caller's digest, not a message hash */
	const uint8_t *input;  /* SHA-256 of the message (32 bytes), or the digest */
	size_t input_len;
	int64_t time; /* 0 = now */
} archive_sig_req;
int archive_sig_intent(archive *a, const archive_sig_req *req, archive_intent_info *out,
		       smk_err *e);
/* Signature intents for key record key_seq stored at or after since
 * (seconds since the epoch), whatever their outcome: max-per-day. */
int archive_sig_count_since(archive *a, uint64_t key_seq, int64_t since, uint64_t *n, smk_err *e);

/* The latest committed record of kind key / adopted / archive-key for
 * (device serial, key id), or -1 with SMK_E_ARG ("no committed record for ..."). */
int archive_find_device_key(archive *a, const char *serial, unsigned key_id, uint64_t *seq,
			    smk_err *e);
/* A committed record holding this SPKI (kinds key, adopted, archive-key), or
 * -1 with SMK_E_ARG. */
int archive_find_spki(archive *a, const uint8_t *spki, size_t n, uint64_t *seq, smk_err *e);
/* The latest certificate record for key record key_seq, or -1 with SMK_E_ARG. */
int archive_find_cert(archive *a, uint64_t key_seq, uint64_t *seq, smk_err *e);

/* Fault injection for durability tests: fn is called with the name of each
 * step of archive_commit as it is reached ("intent-loaded", "record-built",
 * "record-signed", "record-inserted", "checkpoint-signed",
 * "checkpoint-inserted"); the transaction commits after the last one.
 * archive_commit_record stops after "record-inserted", commits, then calls
 * "record-committed" (the record is durable, no checkpoint covers it);
 * archive_sign_checkpoint has "checkpoint-signed" and
 * "checkpoint-inserted", and commits after the last. */
void archive_set_step_hook(archive *a, void (*fn)(const char *step, void *ctx), void *ctx);

/* The built-in sign-only policy of the archive key, as a canonical policy
 * document: EC secp256r1, algorithm list [ecdsa-sha256 (0x73)], no export. */
int archive_key_policy(smk_buf *doc, smk_err *e);
#define ARCHIVE_KEY_POLICY_NAME "smkeyd-archive-key"

#endif
