/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Signature records (docs/archive.md "Record kind signature"): a signature made
 * through Sign with a key that has a record. The intent is stored before the
 * card is asked (who, which key record and its hash, the algorithm, whether
 * smkeyd hashed, SHA-256 of the message or the digest given); the record is
 * that intent plus the signature the card returned, committed through the
 * archive's one commit path like every other record.
 */
#include <openssl/evp.h>
#include <openssl/rsa.h>
#include <openssl/x509.h>
#include <stdio.h>
#include <string.h>

#include "internal.h"

const char *const archive_sig_intent_keys[] = {
    "device", "format", "key-id", "key-record", "kind", "peer", "request-id", "sign", "time", NULL};
const char *const archive_sig_record_keys[] = {"format", "intent",    "intent-digest", "prev",
					       "seq",	 "signature", "time",	       NULL};
static const char *const message_keys[] = {"algorithm", "host-hashed", "input", "sha256", NULL};
static const char *const digest_keys[] = {"algorithm", "digest", "host-hashed", "input", NULL};
static const char *const key_record_keys[] = {"hash", "seq", NULL};

static int check_req(const archive_sig_req *req, smk_err *e)
{
	const smk_alg *alg = alg_by_name(req->algorithm);

	if (alg == NULL || !alg_is_signature(alg->id))
		return smk_fail(e, SMK_E_ARG,
				"signature intent: \"%s\" is not a signature algorithm",
				req->algorithm ? req->algorithm : "(null)");
	if (!req->input || req->input_len == 0 || (!req->digest_given && req->input_len != 32) ||
	    req->input_len > ARCHIVE_SIG_DIGEST_MAX)
		return smk_fail(e, SMK_E_ARG,
				"signature intent: %s of %zu bytes (a message hash has 32, a "
				"digest 1..%u)",
				req->digest_given ? "digest" : "message hash", req->input_len,
				ARCHIVE_SIG_DIGEST_MAX);
	if (req->host_hashed && req->digest_given)
		return smk_fail(e, SMK_E_ARG,
				"signature intent: smkeyd hashes only a message, not a digest");
	return 0;
}

static int sig_intent_encode(const void *req_, const archive_record *key, const char *request_id,
			     int64_t time, smk_buf *out, smk_err *e)
{
	const archive_sig_req *req = req_;
	json_t *o, *sign, *keyrec;
	int ok;

	if (check_req(req, e) < 0 ||
	    archive_check_device(key->device_serial, key->devaut_chr, key->key_id, e) < 0)
		return -1;
	o = archive_intent_common(ARCHIVE_KIND_SIGNATURE, &req->peer, key->device_serial,
				  key->devaut_chr, key->key_id, request_id, time);
	sign = json_pack("{s:s, s:b, s:s, s:o}", "algorithm", req->algorithm, "host-hashed",
			 req->host_hashed, "input", req->digest_given ? "digest" : "message",
			 req->digest_given ? "digest" : "sha256",
			 smk_json_b64(req->input, req->input_len));
	keyrec = json_pack("{s:I, s:o}", "seq", (json_int_t)key->seq, "hash",
			   smk_json_b64(key->hash, 32));
	ok = o && sign && keyrec;
	if (ok && (json_object_set_new(o, "sign", sign) < 0 ||
		   json_object_set_new(o, "key-record", keyrec) < 0))
		ok = 0;
	else if (!ok) {
		json_decref(sign);
		json_decref(keyrec);
	}
	return archive_dump_intent(o, ok, out, e);
}

int archive_sig_intent(archive *a, const archive_sig_req *req, archive_intent_info *out, smk_err *e)
{
	if (archive_intent_begin(a, out, e) < 0 || check_req(req, e) < 0)
		return -1;
	return archive_key_intent(a, ARCHIVE_KIND_SIGNATURE, req->key_seq, req->time, req, NULL,
				  sig_intent_encode, out, e);
}

int archive_sig_intent_parse(json_t *in, archive_record *r, smk_err *e)
{
	const char *w = "record: intent sign", *input;
	json_t *sign, *keyrec;
	smk_buf h = SMK_BUF_INIT;
	int64_t v;
	int rc;

	if (archive_json_obj(in, "sign", &sign, "record: intent", e) < 0 ||
	    archive_json_str(sign, "input", &input, w, e) < 0)
		return -1;
	if (strcmp(input, "message") != 0 && strcmp(input, "digest") != 0)
		return smk_fail(e, SMK_E_FORMAT,
				"%s: input \"%s\" is neither \"message\" nor \"digest\"", w, input);
	r->sig_digest_given = strcmp(input, "digest") == 0;
	if (archive_json_keys(sign, r->sig_digest_given ? digest_keys : message_keys, w, e) < 0 ||
	    archive_json_str(sign, "algorithm", &r->sig_alg, w, e) < 0 ||
	    archive_json_bool(sign, "host-hashed", &r->sig_host_hashed, w, e) < 0 ||
	    archive_json_bytes(sign, r->sig_digest_given ? "digest" : "sha256", &r->sig_input,
			       r->sig_digest_given ? 0 : 32, w, e) < 0)
		return -1;
	if (alg_by_name(r->sig_alg) == NULL || !alg_is_signature(alg_by_name(r->sig_alg)->id))
		return smk_fail(e, SMK_E_FORMAT, "%s: \"%s\" is not a signature algorithm", w,
				r->sig_alg);
	if (r->sig_input.len == 0 || r->sig_input.len > ARCHIVE_SIG_DIGEST_MAX)
		return smk_fail(e, SMK_E_FORMAT, "%s: digest of %zu bytes (1..%u)", w,
				r->sig_input.len, ARCHIVE_SIG_DIGEST_MAX);
	if (r->sig_host_hashed && r->sig_digest_given)
		return smk_fail(e, SMK_E_FORMAT, "%s: host-hashed with a digest given", w);
	w = "record: intent key-record";
	rc = archive_json_obj(in, "key-record", &keyrec, "record: intent", e) < 0 ||
	     archive_json_keys(keyrec, key_record_keys, w, e) < 0 ||
	     archive_json_int(keyrec, "seq", 0, INT64_MAX, &v, w, e) < 0 ||
	     archive_json_bytes(keyrec, "hash", &h, 32, w, e) < 0;
	if (rc == 0) {
		r->key_seq = (uint64_t)v;
		memcpy(r->key_record_hash, h.data, 32);
	}
	smk_buf_free(&h);
	return rc ? -1 : 0;
}

int archive_sig_record_members(json_t *o, const archive_commit_req *req, smk_err *e)
{
	if (!req || !req->signature || req->signature_len == 0 ||
	    req->signature_len > ARCHIVE_SIG_MAX)
		return smk_fail(e, SMK_E_ARG, "signature record: a signature of 1..%u bytes needed",
				ARCHIVE_SIG_MAX);
	if (json_object_set_new(o, "signature", smk_json_b64(req->signature, req->signature_len)) <
	    0)
		return smk_fail(e, SMK_E_NOMEM, "record: out of memory");
	return 0;
}

int archive_sig_record_parse(json_t *o, archive_record *r, smk_err *e)
{
	if (archive_json_bytes(o, "signature", &r->sig_value, 0, "record", e) < 0)
		return -1;
	if (r->sig_value.len == 0 || r->sig_value.len > ARCHIVE_SIG_MAX)
		return smk_fail(e, SMK_E_FORMAT, "record %llu: signature of %zu bytes (1..%u)",
				(unsigned long long)r->seq, r->sig_value.len, ARCHIVE_SIG_MAX);
	return 0;
}

/* What the key signed, as the verifier gets it: the hash (ECDSA, RSA with a
 * hash) and the digest algorithm to name, or NULL md for a hash the card
 * took as it is. 0 when the record does not hold what the key signed. */
static int signed_hash(const char *a, int digest_given, const EVP_MD **md, char *why,
		       size_t why_len)
{
	*md = NULL;
	if (strcmp(a, "ecdsa") == 0)
		return 1; /* the card signed the hash it got: message hash or digest */
	if (digest_given) {
		snprintf(why, why_len, "algorithm %s over a caller's digest", a);
		return 0;
	}
	if (strcmp(a, "ecdsa-sha256") == 0 || strcmp(a, "rsa-pkcs1-sha256") == 0 ||
	    strcmp(a, "rsa-pss-sha256") == 0) {
		*md = EVP_sha256();
		return 1;
	}
	snprintf(why, why_len,
		 "algorithm %s hashes with another function than SHA-256; the record holds the "
		 "message's SHA-256 only",
		 a);
	return 0;
}

int archive_sig_value_check(const uint8_t *spki, size_t spki_len, const char *alg, int digest_given,
			    const uint8_t *input, size_t input_len, const uint8_t *sig,
			    size_t sig_len, char *why, size_t why_len, smk_err *e)
{
	const unsigned char *p = spki;
	EVP_PKEY *pub = d2i_PUBKEY(NULL, &p, (long)spki_len);
	EVP_PKEY_CTX *ctx = NULL;
	const EVP_MD *md;
	int rc = -1;

	why[0] = '\0';
	if (pub == NULL)
		return smk_fail(e, SMK_E_FORMAT, "public key does not parse");
	if (signed_hash(alg, digest_given, &md, why, why_len) == 0) {
		EVP_PKEY_free(pub);
		return 0;
	}
	ctx = EVP_PKEY_CTX_new(pub, NULL);
	if (ctx == NULL || EVP_PKEY_verify_init(ctx) <= 0 ||
	    (md && EVP_PKEY_CTX_set_signature_md(ctx, md) <= 0) ||
	    (EVP_PKEY_get_base_id(pub) == EVP_PKEY_RSA &&
	     EVP_PKEY_CTX_set_rsa_padding(ctx, strcmp(alg, "rsa-pss-sha256") == 0
						   ? RSA_PKCS1_PSS_PADDING
						   : RSA_PKCS1_PADDING) <= 0)) {
		smk_fail(e, SMK_E_CRYPTO, "cannot set up the %s verification", alg);
		goto out;
	}
	if (EVP_PKEY_verify(ctx, sig, sig_len, input, input_len) != 1) {
		smk_fail(e, SMK_E_SIGNATURE, "the %s signature does not verify with the public key",
			 alg);
		goto out;
	}
	rc = 1;
out:
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(pub);
	return rc;
}

int archive_sig_check(const archive_record *sig, const archive_record *key, char *why,
		      size_t why_len, smk_err *e)
{
	int rc = archive_sig_value_check(
	    key->spki.data, key->spki.len, sig->sig_alg, sig->sig_digest_given, sig->sig_input.data,
	    sig->sig_input.len, sig->sig_value.data, sig->sig_value.len, why, why_len, e);

	if (rc < 0)
		smk_context(e, "record %llu, signed with key record %llu",
			    (unsigned long long)sig->seq, (unsigned long long)key->seq);
	return rc;
}

int archive_sig_matches_file(const archive_record *sig, const uint8_t sha256[32], smk_err *e)
{
	char want[2 * ARCHIVE_SIG_DIGEST_MAX + 1], got[65];

	smk_hex_to(got, sha256, 32, SMK_HEX_LOWER);
	smk_hex_to(want, sig->sig_input.data, sig->sig_input.len, SMK_HEX_LOWER);
	if (sig->sig_input.len != 32 || memcmp(sig->sig_input.data, sha256, 32) != 0)
		return smk_fail(e, SMK_E_MISMATCH,
				"the file's SHA-256 %s is not the %s signature record %llu holds "
				"(%s)",
				got, sig->sig_digest_given ? "digest" : "message SHA-256",
				(unsigned long long)sig->seq, want);
	return 0;
}

int archive_sig_count_since(archive *a, uint64_t key_seq, int64_t since, uint64_t *n, smk_err *e)
{
	sqlite3_stmt *st;
	int rc;

	*n = 0;
	if (archive_db_prepare_int(
		a,
		"SELECT canonical FROM intents WHERE kind = '" ARCHIVE_KIND_SIGNATURE
		"' AND time >= ?",
		since, &st, e) < 0)
		return -1;
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_t *o = NULL, *seq;
		smk_err ignore;

		if (archive_json_load(sqlite3_column_blob(st, 0),
				      (size_t)sqlite3_column_bytes(st, 0), &o, "signature intent",
				      &ignore) < 0)
			continue;
		seq = json_object_get(json_object_get(o, "key-record"), "seq");
		if (json_is_integer(seq) && (uint64_t)json_integer_value(seq) == key_seq)
			(*n)++;
		json_decref(o);
	}
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : archive_db_fail(a, "count signatures", e);
}
