/* Attestation of records and verification of bundles (smkey verify). */
#include "verify.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <openssl/x509.h>

#include "bundle.h"
#include "checkpoint.h"
#include "internal.h"
#include "merkle.h"

void archive_attestation_free(archive_attestation *a)
{
	chain_free(&a->chain);
	chain_attested_free(&a->key);
	memset(a, 0, sizeof(*a));
}

static int same(const smk_buf *a, const uint8_t *p, size_t n)
{
	return a->len == n && (n == 0 || memcmp(a->data, p, n) == 0);
}

int archive_attest(const archive_record *r, const trust_store *t, archive_attestation *out,
		   smk_err *e)
{
	return archive_attest_cached(r, t, NULL, out, e);
}

int archive_attest_cached(const archive_record *r, const trust_store *t, archive_chain_cache *cache,
			  archive_attestation *out, smk_err *e)
{
	smk_buf chain = SMK_BUF_INIT;
	uint8_t fp[32];
	int rc;

	memset(out, 0, sizeof(*out));
	/* the device had to be trustworthy when the key was made */
	if (cache) {
		rc =
		    archive_chain_cache_validate(cache, r->devaut.data, r->devaut.len, r->dica.data,
						 r->dica.len, (time_t)r->time, &out->chain, e);
	} else {
		if (smk_buf_add(&chain, r->devaut.data, r->devaut.len) < 0 ||
		    smk_buf_add(&chain, r->dica.data, r->dica.len) < 0) {
			smk_buf_free(&chain);
			return smk_fail(e, SMK_E_NOMEM, "out of memory");
		}
		rc = chain_validate(chain.data, chain.len, t, (time_t)r->time, &out->chain, e);
		smk_buf_free(&chain);
	}
	if (rc < 0)
		goto fail_ctx;
	if (strcmp(out->chain.device_chr, r->devaut_chr) != 0 ||
	    strcmp(out->chain.serial, r->device_serial) != 0) {
		smk_fail(e, SMK_E_MISMATCH,
			 "device %s (serial %s) is not the device %s (serial %s) the intent named",
			 out->chain.device_chr, out->chain.serial, r->devaut_chr, r->device_serial);
		goto fail_ctx;
	}
	if (chain_verify_authreq(&out->chain, r->cvreq.data, r->cvreq.len, &out->key, e) < 0) {
		smk_context(e, "CV-REQ");
		goto fail_ctx;
	}
	if (strcmp(out->key.chr, r->chr) != 0) {
		smk_fail(e, SMK_E_MISMATCH, "CV-REQ CHR %s does not commit to the intent (%s)",
			 out->key.chr, r->chr);
		goto fail_ctx;
	}
	if (!same(&out->key.spki, r->spki.data, r->spki.len)) {
		smk_fail(e, SMK_E_MISMATCH, "the recorded public key is not the CV-REQ's key");
		goto fail_ctx;
	}
	if (!r->sm_used) {
		smk_fail(e, SMK_E_MISMATCH,
			 "the GAKP was not sent under secure messaging: the algorithm list is not "
			 "evidence");
		goto fail_ctx;
	}
	if (out->key.type == SMK_KEY_EC && out->key.curve)
		snprintf(out->key_type, sizeof(out->key_type), "EC %s", out->key.curve->name);
	else if (out->key.type == SMK_KEY_RSA)
		snprintf(out->key_type, sizeof(out->key_type), "RSA %u", out->key.bits);
	else
		snprintf(out->key_type, sizeof(out->key_type), "%s %u", keytype_name(out->key.type),
			 out->key.bits);
	if (archive_sha256(out->key.spki.data, out->key.spki.len, fp, e) < 0)
		goto fail_ctx;
	archive_hex(fp, 32, out->key_fp);
	return 0;
fail_ctx:
	smk_context(e, "record %" PRIu64 " (%s)", r->seq, r->label ? r->label : "?");
	archive_attestation_free(out);
	return -1;
}

static void say(void (*fn)(void *, const char *), void *ctx, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void say(void (*fn)(void *, const char *), void *ctx, const char *fmt, ...)
{
	char line[512];
	va_list ap;

	if (!fn)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	fn(ctx, line);
}

void archive_verified_free(archive_verified *v)
{
	archive_record_free(&v->record);
	archive_record_free(&v->key_record);
	archive_attestation_free(&v->att);
	archive_attestation_free(&v->key_att);
	memset(v, 0, sizeof(*v));
}

static void alg_text(const archive_record *r, char *out, size_t cap)
{
	size_t i, used = 0;

	out[0] = '\0';
	for (i = 0; i < r->alg_count && used < cap; i++) {
		const smk_alg *a = alg_by_id(r->alg_list[i]);
		int n = snprintf(out + used, cap - used, "%s%s (0x%02x)", i ? ", " : "",
				 a ? a->name : "unknown", r->alg_list[i]);

		if (n < 0)
			break;
		used += (size_t)n;
	}
}

static int check_proof(const archive_proof *p, uint64_t seq, const archive_checkpoint *cp,
		       const uint8_t leaf[32], smk_err *e)
{
	if (p->index != seq)
		return smk_fail(e, SMK_E_MISMATCH,
				"inclusion proof is for leaf %" PRIu64 ", not record %" PRIu64,
				p->index, seq);
	if (p->size != cp->size)
		return smk_fail(e, SMK_E_MISMATCH,
				"inclusion proof is for tree size %" PRIu64
				", the checkpoint has %" PRIu64,
				p->size, cp->size);
	if (merkle_verify_inclusion(seq, cp->size, leaf, p->hashes.data, p->hashes.len, cp->root,
				    e) < 0)
		return smk_context(e, "record %" PRIu64 " in checkpoint size %" PRIu64, seq,
				   cp->size);
	return 0;
}

int archive_verify_bundle(const uint8_t *p, size_t n, const trust_store *t,
			  void (*fn)(void *ctx, const char *line), void *ctx, archive_verified *v,
			  smk_err *e)
{
	archive_bundle b;
	archive_checkpoint cp;
	archive_record *k = &v->key_record, *r = &v->record;
	const unsigned char *q;
	EVP_PKEY *akey = NULL;
	uint8_t fp[32];
	int rc = -1;

	memset(v, 0, sizeof(*v));
	if (archive_bundle_parse(p, n, &b, e) < 0)
		return -1;

	/* 1. the archive key: record 0, signed by itself, sign-only, attested */
	if (archive_record_parse(b.key_record.data, b.key_record.len, k, e) < 0) {
		smk_context(e, "archive key record");
		goto out;
	}
	if (k->seq != 0) {
		smk_fail(e, SMK_E_MISMATCH, "archive key record is record %" PRIu64 ", not 0",
			 k->seq);
		goto out;
	}
	q = b.key_spki.data;
	akey = d2i_PUBKEY(NULL, &q, (long)b.key_spki.len);
	if (!akey || q != b.key_spki.data + b.key_spki.len) {
		smk_fail(e, SMK_E_FORMAT, "bundle: archive key is not a public key (SPKI DER)");
		goto out;
	}
	if (!same(&b.key_spki, k->spki.data, k->spki.len)) {
		smk_fail(e, SMK_E_MISMATCH,
			 "bundle: the archive key is not the key of archive record 0");
		goto out;
	}
	if (archive_sig_verify(akey, k->hash, 32, b.key_record_sig.data, b.key_record_sig.len, e) <
	    0) {
		smk_fail(e, SMK_E_SIGNATURE,
			 "archive key record 0: signature by itself does not verify");
		goto out;
	}
	alg_text(k, v->algorithms, sizeof(v->algorithms));
	if (k->alg_count != 1 || k->alg_list[0] != alg_by_name("ecdsa-sha256")->id) {
		smk_fail(e, SMK_E_POLICY,
			 "archive key record 0: policy %s is not sign-only: algorithms %s",
			 k->policy_name, v->algorithms);
		goto out;
	}
	if (archive_attest(k, t, &v->key_att, e) < 0) {
		smk_context(e, "archive key");
		goto out;
	}
	if (archive_sha256(b.key_spki.data, b.key_spki.len, fp, e) < 0)
		goto out;
	archive_hex(fp, 32, v->archive_key_fp);
	say(fn, ctx, "archive key: record 0 signed by itself, %s, SHA-256 %s", v->key_att.key_type,
	    v->archive_key_fp);
	say(fn, ctx, "archive key: made in device %s (%s -> %s), policy %s sign-only (%s)",
	    v->key_att.chain.device_chr, v->key_att.chain.dica_chr, v->key_att.chain.root_chr,
	    k->policy_name, v->algorithms);

	/* 2. the record */
	if (archive_record_parse(b.record.data, b.record.len, r, e) < 0)
		goto out;
	if (archive_sig_verify(akey, r->hash, 32, b.record_sig.data, b.record_sig.len, e) < 0) {
		smk_fail(e, SMK_E_SIGNATURE,
			 "record %" PRIu64 " (%s): signature by the archive key does not verify",
			 r->seq, r->label);
		goto out;
	}
	say(fn, ctx, "record %" PRIu64 ": signed by the archive key", r->seq);
	if (archive_attest(r, t, &v->att, e) < 0)
		goto out;
	say(fn, ctx, "device chain: %s -> %s -> pinned root %s, valid at the record's time",
	    v->att.chain.device_chr, v->att.chain.dica_chr, v->att.chain.root_chr);
	say(fn, ctx, "CV-REQ: outer signature by device %s, inner signature by the new key",
	    v->att.chain.device_chr);
	say(fn, ctx, "CV-REQ CHR %s commits to intent %s", r->chr, r->request_id);
	{
		smk_buf chain = SMK_BUF_INIT;
		int ok = smk_buf_add(&chain, r->devaut.data, r->devaut.len) == 0 &&
			 smk_buf_add(&chain, r->dica.data, r->dica.len) == 0 &&
			 same(&b.device_chain, chain.data, chain.len);

		smk_buf_free(&chain);
		if (!ok) {
			smk_fail(e, SMK_E_MISMATCH,
				 "bundle: device chain differs from the record's");
			goto out;
		}
	}
	if (!same(&b.cvreq, r->cvreq.data, r->cvreq.len)) {
		smk_fail(e, SMK_E_MISMATCH, "bundle: CV-REQ differs from the record's");
		goto out;
	}

	/* 3. the log */
	if (archive_checkpoint_open(b.checkpoint.data, b.checkpoint.len, akey, &cp, e) < 0)
		goto out;
	snprintf(v->origin, sizeof(v->origin), "%s", cp.origin);
	v->checkpoint_size = cp.size;
	say(fn, ctx, "checkpoint: %s size %" PRIu64 " signed by the archive key", cp.origin,
	    cp.size);
	if (check_proof(&b.inclusion, r->seq, &cp, r->leaf, e) < 0 ||
	    check_proof(&b.key_inclusion, 0, &cp, k->leaf, e) < 0) {
		smk_context(e, "inclusion proof");
		goto out;
	}
	say(fn, ctx, "inclusion: records %" PRIu64 " and 0 are in the checkpoint's tree", r->seq);
	archive_hex(r->policy_digest, 32, v->policy_digest);
	alg_text(r, v->algorithms, sizeof(v->algorithms));
	rc = 0;
out:
	EVP_PKEY_free(akey);
	archive_bundle_free(&b);
	if (rc < 0)
		archive_verified_free(v);
	return rc;
}
