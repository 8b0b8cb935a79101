/* SPDX-License-Identifier: BSD-3-Clause */
/* Bundle encoding, parsing, and export from an archive. */
#include "bundle.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "archive.h"
#include "checkpoint.h"
#include "internal.h"
#include "merkle.h"
#include "record.h"
#include "witness.h"

void archive_bundle_init(archive_bundle *b)
{
	memset(b, 0, sizeof(*b));
}

void archive_bundle_free(archive_bundle *b)
{
	smk_buf *const bufs[] = {&b->record,
				 &b->record_sig,
				 &b->key_spki,
				 &b->key_record,
				 &b->key_record_sig,
				 &b->device_chain,
				 &b->cvreq,
				 &b->checkpoint,
				 &b->inclusion.hashes,
				 &b->key_inclusion.hashes,
				 &b->cert_key_record,
				 &b->cert_key_record_sig,
				 &b->cert_key_inclusion.hashes};

	archive_bufs_free(bufs, sizeof(bufs) / sizeof(bufs[0]));
	memset(b, 0, sizeof(*b));
}

static json_t *proof_json(const archive_proof *p)
{
	json_t *hashes = json_array();
	size_t i;

	for (i = 0; hashes && i + 32 <= p->hashes.len; i += 32)
		if (json_array_append_new(hashes, smk_json_b64(p->hashes.data + i, 32)) < 0) {
			json_decref(hashes);
			return NULL;
		}
	if (!hashes)
		return NULL;
	return json_pack("{s:I, s:I, s:o}", "index", (json_int_t)p->index, "size",
			 (json_int_t)p->size, "hashes", hashes);
}

static json_t *b64(const smk_buf *b)
{
	return smk_json_b64(b->data, b->len);
}

int archive_bundle_encode(const archive_bundle *b, smk_buf *out, smk_err *e)
{
	json_t *o, *note;
	char *text;
	int rc = 0;

	/* a format-3 record has no signature to carry: version 2 */
	int unsigned_records =
	    !b->has_record_sig || (b->has_cert_key && !b->has_cert_key_record_sig);

	note = json_stringn((const char *)b->checkpoint.data, b->checkpoint.len);
	o = json_pack("{s:s, s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:o}", "format",
		      ARCHIVE_BUNDLE_FORMAT, "version",
		      (json_int_t)(unsigned_records ? ARCHIVE_BUNDLE_VERSION_UNSIGNED
						    : ARCHIVE_BUNDLE_VERSION),
		      "record", b64(&b->record), "archive-key", b64(&b->key_spki),
		      "archive-key-record", b64(&b->key_record), "archive-key-signature",
		      b64(&b->key_record_sig), "device-chain", b64(&b->device_chain), "cvreq",
		      b64(&b->cvreq), "checkpoint", note, "inclusion", proof_json(&b->inclusion),
		      "archive-key-inclusion", proof_json(&b->key_inclusion));
	if (o && b->has_record_sig &&
	    json_object_set_new(o, "record-signature", b64(&b->record_sig)) < 0) {
		json_decref(o);
		o = NULL;
	}
	if (o && b->has_cert_key &&
	    (json_object_set_new(o, "key-record", b64(&b->cert_key_record)) < 0 ||
	     (b->has_cert_key_record_sig &&
	      json_object_set_new(o, "key-record-signature", b64(&b->cert_key_record_sig)) < 0) ||
	     json_object_set_new(o, "key-record-inclusion", proof_json(&b->cert_key_inclusion)) <
		 0)) {
		json_decref(o);
		o = NULL;
	}
	if (!o)
		return smk_fail(e, SMK_E_NOMEM, "bundle: cannot build the document");
	text = json_dumps(o, JSON_SORT_KEYS | JSON_INDENT(2));
	json_decref(o);
	if (!text || smk_buf_add(out, text, strlen(text)) < 0 || smk_buf_add_byte(out, '\n') < 0)
		rc = smk_fail(e, SMK_E_NOMEM, "bundle: out of memory");
	free(text);
	return rc;
}

/* A certificate's bundle carries its key record too: the three key-record
 * members, then every member of any bundle (bundle_keys). */
static const char *const cert_bundle_keys[] = {"key-record",
					       "key-record-inclusion",
					       "key-record-signature",
					       "archive-key",
					       "archive-key-inclusion",
					       "archive-key-record",
					       "archive-key-signature",
					       "checkpoint",
					       "cvreq",
					       "device-chain",
					       "format",
					       "inclusion",
					       "record",
					       "record-signature",
					       "version",
					       NULL};
static const char *const *const bundle_keys = cert_bundle_keys + 3;
static const char *const proof_keys[] = {"hashes", "index", "size", NULL};

static int parse_proof(json_t *o, const char *key, archive_proof *p, smk_err *e)
{
	json_t *obj, *hashes, *h;
	int64_t v;
	size_t i;

	if (archive_json_obj(o, key, &obj, "bundle", e) < 0 ||
	    archive_json_keys(obj, proof_keys, key, e) < 0 ||
	    archive_json_int(obj, "index", 0, (int64_t)MERKLE_MAX_SIZE, &v, key, e) < 0)
		return -1;
	p->index = (uint64_t)v;
	if (archive_json_int(obj, "size", 1, (int64_t)MERKLE_MAX_SIZE, &v, key, e) < 0)
		return -1;
	p->size = (uint64_t)v;
	hashes = json_object_get(obj, "hashes");
	if (!json_is_array(hashes) || json_array_size(hashes) > 128)
		return smk_fail(e, SMK_E_FORMAT, "bundle: %s: \"hashes\" must be a list of hashes",
				key);
	json_array_foreach(hashes, i, h)
	{
		if (!json_is_string(h) ||
		    smk_b64_decode(json_string_value(h), json_string_length(h), &p->hashes, key,
				   e) < 0 ||
		    p->hashes.len != 32 * (i + 1))
			return smk_fail(e, SMK_E_FORMAT, "bundle: %s: hash %zu is not 32 bytes",
					key, i);
	}
	return 0;
}

/* The members this bundle must have: the list for its kind, without the
 * signatures a version-2 bundle leaves out (keys has room for the list). */
static void expected_keys(const archive_bundle *b, int version, const char **keys)
{
	const char *const *all = b->has_cert_key ? cert_bundle_keys : bundle_keys;
	size_t i, n = 0;

	for (i = 0; all[i]; i++) {
		if (version == ARCHIVE_BUNDLE_VERSION_UNSIGNED &&
		    ((!b->has_record_sig && strcmp(all[i], "record-signature") == 0) ||
		     (!b->has_cert_key_record_sig && strcmp(all[i], "key-record-signature") == 0)))
			continue;
		keys[n++] = all[i];
	}
	keys[n] = NULL;
}

int archive_bundle_parse(const uint8_t *p, size_t n, archive_bundle *b, smk_err *e)
{
	const char *w = "bundle", *format, *note;
	const char *keys[sizeof(cert_bundle_keys) / sizeof(cert_bundle_keys[0])];
	json_t *o;
	int64_t v;

	archive_bundle_init(b);
	if (archive_json_load(p, n, &o, w, e) < 0)
		return -1;
	if (archive_json_str(o, "format", &format, w, e) < 0)
		goto fail;
	if (strcmp(format, ARCHIVE_BUNDLE_FORMAT) != 0) {
		smk_fail(e, SMK_E_FORMAT, "bundle: format \"%s\" is not %s", format,
			 ARCHIVE_BUNDLE_FORMAT);
		goto fail;
	}
	if (archive_json_int(o, "version", ARCHIVE_BUNDLE_VERSION, ARCHIVE_BUNDLE_VERSION_UNSIGNED,
			     &v, w, e) < 0)
		goto fail;
	/* a format-3 record is authenticated by nothing else */
	if (!json_object_get(o, "inclusion")) {
		smk_fail(e, SMK_E_FORMAT,
			 "bundle: no inclusion proof (\"inclusion\"): the record cannot be "
			 "shown to be in a checkpoint signed by the log");
		goto fail;
	}
	/* a certificate bundle carries the key record too */
	b->has_cert_key = json_object_get(o, "key-record") != NULL;
	b->has_record_sig = json_object_get(o, "record-signature") != NULL;
	b->has_cert_key_record_sig = json_object_get(o, "key-record-signature") != NULL;
	expected_keys(b, (int)v, keys);
	if (archive_json_keys(o, keys, w, e) < 0 ||
	    archive_json_bytes(o, "record", &b->record, 0, w, e) < 0 ||
	    (b->has_record_sig &&
	     archive_json_bytes(o, "record-signature", &b->record_sig, 0, w, e) < 0) ||
	    archive_json_bytes(o, "archive-key", &b->key_spki, 0, w, e) < 0 ||
	    archive_json_bytes(o, "archive-key-record", &b->key_record, 0, w, e) < 0 ||
	    archive_json_bytes(o, "archive-key-signature", &b->key_record_sig, 0, w, e) < 0 ||
	    archive_json_bytes(o, "device-chain", &b->device_chain, 0, w, e) < 0 ||
	    archive_json_bytes(o, "cvreq", &b->cvreq, 0, w, e) < 0 ||
	    archive_json_str(o, "checkpoint", &note, w, e) < 0 ||
	    parse_proof(o, "inclusion", &b->inclusion, e) < 0 ||
	    parse_proof(o, "archive-key-inclusion", &b->key_inclusion, e) < 0)
		goto fail;
	if (b->has_cert_key &&
	    (archive_json_bytes(o, "key-record", &b->cert_key_record, 0, w, e) < 0 ||
	     (b->has_cert_key_record_sig &&
	      archive_json_bytes(o, "key-record-signature", &b->cert_key_record_sig, 0, w, e) <
		  0) ||
	     parse_proof(o, "key-record-inclusion", &b->cert_key_inclusion, e) < 0))
		goto fail;
	if (smk_buf_add(&b->checkpoint, note, strlen(note)) < 0) {
		smk_fail(e, SMK_E_NOMEM, "bundle: out of memory");
		goto fail;
	}
	json_decref(o);
	return 0;
fail:
	json_decref(o);
	archive_bundle_free(b);
	return -1;
}

static int record_and_sig(archive *a, uint64_t seq, smk_buf *canon, smk_buf *sig, archive_record *r,
			  smk_err *e)
{
	if (archive_get(a, seq, canon, sig, e) < 0)
		return -1;
	if (archive_record_parse(canon->data, canon->len, r, e) < 0)
		return smk_context(e, "record %" PRIu64, seq);
	return 0;
}

int archive_export_bundle(archive *a, uint64_t seq, smk_buf *out, smk_err *e)
{
	archive_bundle b;
	archive_record r, k, ck;
	const archive_record *dev;
	merkle_nodes nodes;
	uint64_t size;
	int rc = -1;

	archive_bundle_init(&b);
	memset(&r, 0, sizeof(r));
	memset(&k, 0, sizeof(k));
	memset(&ck, 0, sizeof(ck));
	if (record_and_sig(a, seq, &b.record, &b.record_sig, &r, e) < 0 ||
	    record_and_sig(a, 0, &b.key_record, &b.key_record_sig, &k, e) < 0 ||
	    archive_bundle_checkpoint(a, seq, &b.checkpoint, &size, e) < 0)
		goto out;
	b.has_record_sig = archive_record_signed(&r);
	/* a bundle proves inclusion in a signed checkpoint, the most cosigned
	 * one that covers the record (witness.h): a record committed after the
	 * latest one (group commit, docs/archive.md) has none yet */
	if (size <= seq) {
		smk_fail(e, SMK_E_ARG,
			 "archive: record %" PRIu64
			 " is not covered by a checkpoint yet (the latest"
			 " covers records 0..%" PRIu64 ")",
			 seq, size - 1);
		goto out;
	}
	/* a certificate or a signature is about the key of an earlier record:
	 * that record and its proof come along, and the device chain and CV-REQ
	 * are its own */
	dev = &r;
	if (archive_kind_names_key(r.kind)) {
		if (record_and_sig(a, r.key_seq, &b.cert_key_record, &b.cert_key_record_sig, &ck,
				   e) < 0)
			goto out;
		b.has_cert_key = 1;
		b.has_cert_key_record_sig = archive_record_signed(&ck);
		dev = &ck;
	}
	if (smk_buf_add(&b.key_spki, k.spki.data, k.spki.len) < 0 ||
	    smk_buf_add(&b.device_chain, dev->devaut.data, dev->devaut.len) < 0 ||
	    smk_buf_add(&b.device_chain, dev->dica.data, dev->dica.len) < 0 ||
	    smk_buf_add(&b.cvreq, dev->cvreq.data, dev->cvreq.len) < 0) {
		smk_fail(e, SMK_E_NOMEM, "bundle: out of memory");
		goto out;
	}
	if (archive_tree_nodes(a, size, &nodes, e) < 0)
		goto out;
	b.inclusion.index = seq;
	b.inclusion.size = size;
	b.key_inclusion.index = 0;
	b.key_inclusion.size = size;
	if (merkle_nodes_inclusion_proof(&nodes, size, seq, &b.inclusion.hashes, e) < 0 ||
	    merkle_nodes_inclusion_proof(&nodes, size, 0, &b.key_inclusion.hashes, e) < 0)
		goto out;
	if (b.has_cert_key) {
		b.cert_key_inclusion.index = r.key_seq;
		b.cert_key_inclusion.size = size;
		if (merkle_nodes_inclusion_proof(&nodes, size, r.key_seq,
						 &b.cert_key_inclusion.hashes, e) < 0)
			goto out;
	}
	if (archive_bundle_encode(&b, out, e) < 0)
		goto out;
	rc = 0;
out:
	if (rc < 0)
		smk_context(e, "bundle for record %" PRIu64, seq);
	archive_record_free(&r);
	archive_record_free(&k);
	archive_record_free(&ck);
	archive_bundle_free(&b);
	return rc;
}
