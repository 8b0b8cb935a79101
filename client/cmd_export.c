/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey export ARCHIVE ID --pem|--cvreq|--bundle [-o FILE [--force]]
 * smkey export ARCHIVE --checkpoint [-o FILE [--force]]
 * smkey export ID --pem|--cvreq|--bundle [-o FILE [--force]] [--socket PATH]
 *
 * With an archive file and an ID, works offline on the file; with an ID
 * alone, asks smkeyd (GetRecord / GetBundle) for the same things.
 *
 * Reads an archive file (read-only) and writes one thing about one key: its
 * public key as PEM, the raw authenticated CV-REQ the device signed, or the
 * self-contained bundle `smkey verify` checks. --checkpoint writes the
 * latest signed checkpoint, which an auditor keeps to run
 * `smkey audit --since` later. ID is a sequence number, request id or label.
 */
#include <stdio.h>
#include <string.h>

#include <stdlib.h>

#include <openssl/x509.h>

#include <openssl/evp.h>

#include "archive/archive.h"
#include "archive/record.h"
#include "common/b64.h"
#include "common/file.h"
#include "sm/cvc.h"
#include "common/show.h"
#include "smkey.h"
#include "varlink_client.h"

static void usage(FILE *f)
{
	fprintf(f, "usage: smkey export ARCHIVE ID --pem|--cvreq|--bundle [-o FILE [--force]]\n"
		   "       smkey export ARCHIVE --checkpoint [-o FILE [--force]]\n"
		   "       smkey export ID --pem|--cvreq|--bundle [-o FILE [--force]]"
		   " [--socket PATH]\n"
		   "  with ARCHIVE: offline, ID is a sequence number, request id or key label;\n"
		   "  without: asks smkeyd, ID is a sequence number or request id;\n"
		   "  -o never writes through a symbolic link, and replaces a file only with\n"
		   "  --force\n");
}

enum what { NONE, PEM, CVREQ, BUNDLE, CHECKPOINT };

static int to_pem(const smk_buf *spki, smk_buf *out, smk_err *e)
{
	const unsigned char *q = spki->data;
	EVP_PKEY *k = d2i_PUBKEY(NULL, &q, (long)spki->len);
	char *pem = NULL;
	int rc;

	if (!k)
		return smk_fail(e, SMK_E_FORMAT, "the recorded public key is not SPKI DER");
	rc = cvc_spki_pem(k, &pem, e);
	if (rc == 0 && smk_buf_add(out, pem, strlen(pem)) < 0)
		rc = smk_fail(e, SMK_E_NOMEM, "out of memory");
	free(pem);
	EVP_PKEY_free(k);
	return rc;
}

static int produce(archive *a, const char *id, enum what what, smk_buf *out, smk_err *e)
{
	smk_buf canon = SMK_BUF_INIT;
	archive_record r;
	uint64_t seq, size;
	int rc;

	if (what == CHECKPOINT)
		return archive_latest_checkpoint(a, out, &size, e);
	if (archive_find(a, id, &seq, e) < 0)
		return -1;
	if (what == BUNDLE)
		return archive_export_bundle(a, seq, out, e);
	if (archive_get(a, seq, &canon, NULL, e) < 0)
		return -1;
	rc = archive_record_parse(canon.data, canon.len, &r, e);
	smk_buf_free(&canon);
	if (rc < 0)
		return smk_context(e, "record %s", id);
	if (what == PEM)
		rc = to_pem(&r.spki, out, e);
	else
		rc = smk_buf_add(out, r.cvreq.data, r.cvreq.len) < 0
			 ? smk_fail(e, SMK_E_NOMEM, "out of memory")
			 : 0;
	archive_record_free(&r);
	return rc;
}

/* {"seq": N} for a number, {"request_id": ID} otherwise. */
static json_t *record_ref(const char *id)
{
	char *end;
	unsigned long long seq;

	if (id[0] >= '0' && id[0] <= '9' && strlen(id) <= 18) {
		seq = strtoull(id, &end, 10);
		if (*end == '\0')
			return json_pack("{sI}", "seq", (json_int_t)seq);
	}
	return json_pack("{ss}", "request_id", id);
}

/* The same three things, from smkeyd. Returns an exit status. */
static int produce_online(const char *socket, const char *id, enum what what, smk_buf *out)
{
	json_t *msg = NULL, *params = record_ref(id), *rec;
	varlink_reply r;
	const char *v;
	int rc;

	rc = vlc_simple("export", socket,
			what == BUNDLE ? "io.smkeyd.GetBundle" : "io.smkeyd.GetRecord", params,
			&msg, &r);
	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	rec = what == BUNDLE ? r.params : json_object_get(r.params, "record");
	v = vlc_str(rec,
		    what == BUNDLE ? "bundle"
		    : what == PEM  ? "public_key_pem"
				   : "cvreq",
		    NULL);
	if (v == NULL) {
		fprintf(stderr, "smkey export: record %s has no %s\n", id,
			what == BUNDLE ? "bundle"
			: what == PEM  ? "public key"
				       : "CV request");
		json_decref(msg);
		return SMKEY_EXIT_FAILED;
	}
	if (what != CVREQ) {
		rc = smk_buf_add(out, v, strlen(v)) < 0 ? SMKEY_EXIT_FAILED : SMKEY_EXIT_OK;
	} else {
		/* the CV request travels as base64; write the raw bytes the device signed */
		smk_err e;

		if (smk_b64_decode(v, strlen(v), out, "CV request", &e) < 0) {
			fprintf(stderr, "smkey export: record %s: the CV request is not base64\n",
				id);
			rc = SMKEY_EXIT_FAILED;
		} else {
			rc = SMKEY_EXIT_OK;
		}
	}
	json_decref(msg);
	return rc;
}

int cmd_export(int argc, char **argv)
{
	const char *path = NULL, *id = NULL, *outfile = NULL, *socket = NULL;
	enum what what = NONE;
	smk_buf out = SMK_BUF_INIT;
	archive *a;
	smk_err e;
	int i, rc, force = 0;

	for (i = 1; i < argc; i++) {
		enum what w = NONE;

		if (strcmp(argv[i], "--pem") == 0)
			w = PEM;
		else if (strcmp(argv[i], "--cvreq") == 0)
			w = CVREQ;
		else if (strcmp(argv[i], "--bundle") == 0)
			w = BUNDLE;
		else if (strcmp(argv[i], "--checkpoint") == 0)
			w = CHECKPOINT;
		else if (strcmp(argv[i], "-o") == 0 && i + 1 < argc)
			outfile = argv[++i];
		else if (strcmp(argv[i], "--force") == 0)
			force = 1;
		else if (strcmp(argv[i], "--socket") == 0 && i + 1 < argc)
			socket = argv[++i];
		else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if (argv[i][0] == '-' && argv[i][1]) {
			usage(stderr);
			return 2;
		} else if (!path)
			path = argv[i];
		else if (!id)
			id = argv[i];
		else {
			usage(stderr);
			return 2;
		}
		if (w != NONE) {
			if (what != NONE) {
				usage(stderr);
				return 2;
			}
			what = w;
		}
	}
	if (!path || what == NONE || (what == CHECKPOINT && id) || (socket && id)) {
		usage(stderr);
		return 2;
	}
	if (what != CHECKPOINT && !id) {
		/* one positional argument: an ID, and smkeyd holds the archive */
		rc = produce_online(socket, path, what, &out);
		if (rc != SMKEY_EXIT_OK) {
			smk_buf_free(&out);
			return rc;
		}
	} else {
		if (archive_open(path, ARCHIVE_OPEN_READONLY, &a, &e) < 0) {
			fprintf(stderr, "smkey export: %s\n", smk_show(e.msg));
			return 2;
		}
		rc = produce(a, id, what, &out, &e);
		archive_close(a);
		if (rc < 0) {
			fprintf(stderr, "smkey export: %s\n", smk_show(e.msg));
			smk_buf_free(&out);
			return 2;
		}
	}
	rc = smk_write_new_file(outfile ? outfile : "-", out.data, out.len,
				force ? SMK_OUT_FORCE : 0, &e);
	smk_buf_free(&out);
	if (rc < 0) {
		fprintf(stderr, "smkey export: %s\n", e.msg);
		return 2;
	}
	return 0;
}
