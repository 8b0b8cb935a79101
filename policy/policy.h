/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Key policies: what key may be made, with which restrictions, by whom.
 *
 * One YAML file per policy (docs/policy.md is the format reference). Loading
 * validates every field and fails with "FILE:LINE:COL: problem; what would be
 * right". A loaded policy carries its canonical document (normalised JSON)
 * and that document's SHA-256, which the archive records; the GAKP
 * parameters the card is told come from policy_gakp() and nowhere else.
 *
 * A policy_set is immutable once loaded and reference counted: the daemon
 * swaps in a new set on reload, and every request in flight keeps a
 * reference to the set it started with.
 */
#ifndef SMK_POLICY_H
#define SMK_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "../sm/alg.h"
#include "../sm/hsm.h"
#include "../sm/curves.h"

#define POLICY_FORMAT_VERSION 1
#define POLICY_FILE_MAX (64 * 1024) /* bytes in one policy file */
#define POLICY_LABEL_MAX 64	    /* PKCS#15 label of the key, in characters */
#define POLICY_NAME_MAX 64
#define POLICY_KEY_TEMPLATE_MAX 512 /* 7F49 template of secp521r1 is 431 bytes */
#define POLICY_GAKP_META_MAX 32	    /* tags 90, 91, 92: 6 + 18 + 3 bytes */

/* The inner CAR (tag 42) every GAKP carries unless the policy says `car:`:
 * what OpenSC and the vendor's tools send, so every firmware that works with
 * them takes it, and a firmware that fills in a CAR of its own when none is
 * sent cannot make the request differ from what we asked (docs/policy.md). */
#define POLICY_CAR_DEFAULT "UTCA00001"

/* The only placeholder a label template may contain. */
#define POLICY_LABEL_PLACEHOLDER "{request.label}"

typedef struct policy_principal {
	char *name;
	uint32_t id; /* uid or gid, resolved when the policy was loaded */
} policy_principal;

/* A loaded, validated policy. Read-only for everyone but policy/. */
typedef struct policy {
	char *file; /* path it was loaded from */
	char *name; /* equals the file name without .yaml / .yml */
	char *description;

	enum smk_keytype key_type; /* SMK_KEY_EC or SMK_KEY_RSA */
	const smk_curve *curve;	   /* EC: canonical curve */
	unsigned bits;		   /* RSA: modulus bits (2048, 3072, 4096) */

	/* ascending id order, no duplicates: exactly the tag-91 bytes */
	const smk_alg *algs[SMK_ALG_LIST_MAX];
	uint8_t alg_list[SMK_ALG_LIST_MAX];
	size_t alg_count;

	uint32_t use_counter; /* 0: none */
	int key_domain;	      /* -1: none, else 0..255 */
	int exportable;	      /* 1 only if wrap is listed */
	char *car;	      /* inner CAR of the GAKP; NULL: POLICY_CAR_DEFAULT */
	char *label_template;

	policy_principal *users, *groups; /* sorted by name */
	size_t user_count, group_count;

	uint32_t max_keys; /* 0: no limit */

	/* sign: who may sign with the policy's keys through smkeyd (enforced by
	 * the daemon, not the card; not part of the canonical document, so
	 * the digest in records made before a sign: edit keeps its meaning).
	 * has_sign 0: no sign: section, nobody may sign. */
	int has_sign;
	policy_principal *sign_users, *sign_groups; /* sorted by name */
	size_t sign_user_count, sign_group_count;
	uint32_t sign_max_per_day; /* per key, per UTC day; 0: no limit */
	int sign_log;		   /* every signature becomes a record (default 1) */
	char **devices;		   /* sorted; NULL: any device */
	size_t device_count;

	char *canonical; /* canonical JSON document, NUL-terminated */
	size_t canonical_len;
	uint8_t digest[32];  /* SHA-256 of canonical[0..canonical_len) */
	char digest_hex[65]; /* lower-case hex of digest */
} policy;

/* Parse and validate one policy from memory; file names it in messages and
 * gives the expected policy name. */
int policy_parse(const char *file, const uint8_t *text, size_t len, policy **out, smk_err *e);
/* Read (at most POLICY_FILE_MAX bytes) and parse one file. */
int policy_load_file(const char *path, policy **out, smk_err *e);
void policy_free(policy *p);

/* The set of policies in a directory. */
typedef struct policy_set policy_set;

/* Called for every file that fails to load, so a checker can report them all. */
typedef void (*policy_report_fn)(void *ctx, const smk_err *e);

/* Load every *.yaml / *.yml file in dir (hidden files and others are
 * skipped). All or nothing: any bad file fails the whole set (e holds the
 * first error; report, if not NULL, sees each). An empty directory fails. */
int policy_set_load(const char *dir, policy_set **out, policy_report_fn report, void *ctx,
		    smk_err *e);
policy_set *policy_set_ref(policy_set *s);
void policy_set_unref(policy_set *s);
size_t policy_set_count(const policy_set *s);
/* In name order. */
const policy *policy_set_at(const policy_set *s, size_t i);
const policy *policy_set_find(const policy_set *s, const char *name);

/* Reload dir into *current. On failure *current is untouched (and keeps
 * serving) and e says why. On success the caller's reference to the old set
 * is dropped; requests holding their own reference finish with it. */
int policy_set_reload(policy_set **current, const char *dir, smk_err *e);

/* The client, as SO_PEERCRED and getgrouplist() describe it. */
typedef struct policy_peer {
	uid_t uid;
	gid_t gid;
	const gid_t *groups; /* supplementary groups */
	size_t group_count;
} policy_peer;

/* 0 if the peer may use p (uid in allow.users, or its gid or any
 * supplementary gid in allow.groups); else -1, SMK_E_DENIED, and a reason
 * that names the peer and the policy. */
int policy_authorize(const policy *p, const policy_peer *peer, smk_err *e);

/* 0 if the peer may sign with p's keys (uid in sign.users, or its gid or
 * any supplementary gid in sign.groups); else -1, SMK_E_DENIED, and a reason
 * that names the peer and the policy. Root and admins get no implicit
 * right: only what sign: names. */
int policy_authorize_sign(const policy *p, const policy_peer *peer, smk_err *e);

/* Is the device with this DevAut CHR allowed? An entry matches the whole
 * CHR or its serial (the CHR without its last 5 characters, ref §4.2). */
int policy_device_allowed(const policy *p, const char *devaut_chr, smk_err *e);

typedef struct policy_request {
	const char *label; /* the client's label, or NULL */
	const char
	    *devaut_chr; /* device the key will be made on; required if the policy lists devices */
	uint64_t keys_made; /* keys already made under this policy (the archive knows) */
} policy_request;

/* Everything the card is told in GENERATE ASYMMETRIC KEY PAIR (ref §6.2). */
typedef struct policy_gakp {
	enum smk_keytype key_type;
	const smk_curve *curve; /* EC */
	unsigned bits;		/* RSA */
	/* 7F49 public-key template (OID and domain parameters or exponent and size) */
	uint8_t key_template[POLICY_KEY_TEMPLATE_MAX];
	size_t key_template_len;
	uint8_t alg_list[SMK_ALG_LIST_MAX]; /* value of tag 91 */
	size_t alg_list_len;
	uint32_t use_counter; /* value of tag 90; 0: not sent */
	int key_domain;	      /* value of tag 92; -1: not sent */
	/* the DOs 90, 91, 92 as they follow the CHR in the command data */
	uint8_t meta[POLICY_GAKP_META_MAX];
	size_t meta_len;
	char label[POLICY_LABEL_MAX + 1]; /* final PKCS#15 label */
	/* CHR input: the intent (and so the CHR) commits to the policy by name and digest */
	const char *policy_name;
	uint8_t policy_digest[32];
	/* the same as a GAKP key spec for sm/hsm.h, inner CAR included; the chr
	 * is left empty for the caller (the CHR commits to the archive intent) */
	hsm_keyspec spec;
} policy_gakp;

/* Turn p plus a request into the GAKP parameters, or refuse (SMK_E_POLICY)
 * with the reason: bad label, device not allowed, max-keys reached. */
int policy_gakp_params(const policy *p, const policy_request *req, policy_gakp *out, smk_err *e);

/* Check a label template; 0 or -1 with the problem in why (no position). */
int policy_label_template_check(const char *tmpl, char *why, size_t why_len);

/* Append the canonical document (the format of policy->canonical) of the
 * archive key's built-in policy, named name: ECDSA-SHA256 on secp256r1,
 * sign only, never exported, no client allowed, any device. The archive's
 * record 0 holds it; no configuration can widen what the archive key may do. */
int policy_archive_key_document(const char *name, smk_buf *out, smk_err *e);

#endif
