/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Records in their canonical form (docs/archive.md "Record"): one JSON
 * object, keys sorted, no insignificant white space, byte strings in
 * standard base64, integers as JSON integers. The record hash is SHA-256 of
 * exactly these bytes, the Merkle leaf is SHA-256(0x00 || bytes).
 */
#ifndef SMK_ARCHIVE_RECORD_H
#define SMK_ARCHIVE_RECORD_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "../sm/alg.h"
#include "archive.h"

/* A parsed and self-consistent record. Strings point into the record and
 * live until archive_record_free. Per kind (docs/archive.md "Record kinds"):
 *   key, archive-key  everything but the certificate members;
 *   adopted           no policy: policy_name NULL, policy_digest zero,
 *                     policy_doc empty, alg_count 0, sm_used 0; chr is the
 *                     CHR inside the CV-REQ (not derived from the intent);
 *   certificate       intent members, device_serial, devaut_chr, key_id and
 *                     the certificate members; chr, label and sm_protocol
 *                     are "", policy_name NULL, no device certificates, no
 *                     cvreq, spki empty (the key is the key record's);
 *   signature         as certificate, with the signature members instead of
 *                     the certificate's. */
typedef struct archive_record {
	smk_buf canonical;
	uint8_t hash[32]; /* SHA-256(canonical): what the archive key signs */
	uint8_t leaf[32]; /* RFC 6962 leaf hash */
	uint64_t seq;
	int64_t time;	  /* commit time, seconds since the epoch */
	const char *kind; /* ARCHIVE_KIND_* */
	uint8_t prev[32]; /* hash of record seq-1; zeros for record 0 */

	/* the intent, as recorded before the card was asked */
	uint8_t intent_digest[32];
	const char *chr;
	const char *request_id;
	int64_t intent_time;
	uint32_t uid, gid;
	int64_t pid;
	const char *exe;
	const char *policy_name;
	uint8_t policy_digest[32];
	const char *device_serial;
	const char *devaut_chr;
	unsigned key_id;

	/* the policy that was applied */
	smk_buf policy_doc;
	uint8_t alg_list[SMK_ALG_LIST_MAX];
	size_t alg_count;
	int64_t use_counter; /* from the policy document; 0 = none */

	/* the device and the card's answer */
	smk_buf devaut, dica;
	int sm_used;
	const char *sm_protocol;
	const char *label;
	smk_buf cvreq, spki;

	/* kind certificate */
	smk_buf cert;		     /* X.509 DER */
	char cert_fp[65];	     /* SHA-256 of cert, hex */
	smk_buf cert_spki;	     /* the certificate's SubjectPublicKeyInfo DER */
	uint64_t key_seq;	     /* the key record the certificate is for */
	uint8_t key_record_hash[32]; /* SHA-256 of that record's canonical bytes */

	/* kind signature (sigrecord.c): key_seq and key_record_hash above name
	 * the key record that signed, as for a certificate */
	const char *sig_alg;  /* the algorithm the card used (sm/alg.h name) */
	int sig_host_hashed;  /* smkeyd hashed the message (SHA-256), the card signed the hash */
	int sig_digest_given; /* the caller gave a digest, not the message */
	smk_buf sig_input;    /* SHA-256 of the message, or the digest as given */
	smk_buf sig_value;    /* the signature as the card returned it */

	/* format 2, kinds key, archive-key and adopted (has_card): what the card
	 * did and told, stated by the log (docs/archive.md "Record format 2") */
	int format; /* 1 or 2 */
	int has_card;
	const char *car; /* the CV-REQ's inner CAR (tag 42), "" when it has none */
	archive_card_facts card;

	void *json_; /* owns the strings above */
} archive_record;

/* Parse canonical record bytes and check everything that needs no key or
 * trust anchor: canonical form, exactly the members of its kind, each with
 * its type, the intent digest, the CHR derived from it (adopted: equal to
 * the CV-REQ's), the CHR inside the CV-REQ, the policy digest, the algorithm
 * list against the policy document; for a certificate, that it is one X.509
 * certificate, its SHA-256, and that its key record comes before it. */
int archive_record_parse(const uint8_t *p, size_t n, archive_record *r, smk_err *e);
void archive_record_free(archive_record *r);

/* "SK" + the first 14 characters of base32(digest) (RFC 4648 alphabet). */
void archive_chr_from_digest(const uint8_t digest[32], char out[ARCHIVE_CHR_LEN + 1]);

/* The algorithm list inside a canonical policy document ("algorithms":
 * [{"id": n, ...}], and "alg-list-hex" when present, which must agree), and
 * its use counter (0 when absent). */
int archive_policy_algs(const uint8_t *doc, size_t len, uint8_t algs[SMK_ALG_LIST_MAX], size_t *n,
			int64_t *use_counter, smk_err *e);

/* The inner CHR of an authenticated request (67 { 7F21 { 7F4E { 5F20 } } }). */
int archive_cvreq_chr(const uint8_t *cvreq, size_t len, char out[17], smk_err *e);

/* The inner CAR of an authenticated request (67 { 7F21 { 7F4E { 42 } } }),
 * "" when the request carries none. */
int archive_cvreq_car(const uint8_t *cvreq, size_t len, char out[17], smk_err *e);

/* The key a canonical policy document asks for ("key": type, curve or
 * bits) and its algorithm list: what a key read back from CE|id must be
 * before it is archived under that policy. */
typedef struct archive_policy_key {
	int rsa;	/* 0: EC */
	char curve[32]; /* EC: the curve name of sm/curves.h */
	unsigned bits;	/* RSA: modulus size */
	uint8_t algs[SMK_ALG_LIST_MAX];
	size_t alg_count;
} archive_policy_key;
int archive_policy_key_of(const uint8_t *doc, size_t len, archive_policy_key *out, smk_err *e);

/* Whether the key domains recorded allow importing a key (any domain set up,
 * DKEK in any share state or XKEK: shares can be completed later): 1 yes,
 * 0 no, -1 unknown (not reported). */
int archive_card_can_import(const archive_card_facts *c);
/* The words a record uses: "gakp", "recovered", "ce"; "empty", "dkek",
 * "xkek". */
const char *archive_cvreq_source_name(enum archive_cvreq_source s);
const char *archive_domain_kind_name(enum archive_domain_kind k);

/* One X.509 certificate, DER, exactly n bytes: its SubjectPublicKeyInfo
 * DER appended to spki. */
int archive_cert_spki(const uint8_t *der, size_t n, smk_buf *spki, smk_err *e);

/* Does the certificate's public key equal spki? 0 yes; -1 with
 * SMK_E_MISMATCH "certificate's public key (sha256 ...) is not the key's
 * (sha256 ...)". */
int archive_cert_matches(const uint8_t *der, size_t n, const uint8_t *spki, size_t spki_len,
			 smk_err *e);

/* Whether a record of this kind holds a key made on a device (key,
 * archive-key, adopted), as opposed to a certificate record. */
int archive_kind_has_key(const char *kind);
/* Whether a record of this kind is about the key of an earlier record
 * (certificate, signature): its bundle carries that key record too. */
int archive_kind_names_key(const char *kind);

/* ---- signature records (sigrecord.c) ---- */

/* Does the signature of record sig verify with the public key of its key
 * record key (already matched by seq and hash)? 1 checked and good, 0 the
 * algorithm cannot be checked offline from what the record holds (why
 * says which), -1 and e when it does not verify. */
/* The same for a signature value: the key spki signed input (the message's
 * SHA-256, or the digest given when digest_given) with algorithm alg. */
int archive_sig_value_check(const uint8_t *spki, size_t spki_len, const char *alg, int digest_given,
			    const uint8_t *input, size_t input_len, const uint8_t *sig,
			    size_t sig_len, char *why, size_t why_len, smk_err *e);
int archive_sig_check(const archive_record *sig, const archive_record *key, char *why,
		      size_t why_len, smk_err *e);
/* Does the file's content (SHA-256 sha256) match what record sig signed? 0
 * yes; -1 with SMK_E_MISMATCH naming both hashes. */
int archive_sig_matches_file(const archive_record *sig, const uint8_t sha256[32], smk_err *e);

#endif
