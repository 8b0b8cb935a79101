/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The bundle: one JSON file per key that `smkey verify` checks with pinned
 * trust anchors only (docs/archive.md "Bundle"). It carries the record and
 * its signature, the archive key's record 0 and its signature, the archive
 * key itself, the device chain and CV-REQ (also inside the record), a signed
 * checkpoint and inclusion proofs of both records in it. The bundle of a
 * certificate record also carries the key record the certificate is for,
 * its signature and its inclusion proof ("key-record*"), and its device
 * chain and CV-REQ are that key record's.
 */
#ifndef SMK_ARCHIVE_BUNDLE_H
#define SMK_ARCHIVE_BUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

#define ARCHIVE_BUNDLE_FORMAT "smkeyd-bundle"
/* Version 1: every record in the bundle carries its signature. Version 2
 * (record format 3): "record-signature" and "key-record-signature" are
 * present only for a record of format 1 or 2; a format-3 record has none
 * and rests on its inclusion proof into the signed checkpoint. A bundle
 * whose records are all signed is still written as version 1. */
#define ARCHIVE_BUNDLE_VERSION 1
#define ARCHIVE_BUNDLE_VERSION_UNSIGNED 2

typedef struct archive_proof {
	uint64_t index, size;
	smk_buf hashes; /* 32 bytes each, RFC 6962 order */
} archive_proof;

typedef struct archive_bundle {
	smk_buf record, record_sig;	    /* canonical record bytes, DER signature */
	int has_record_sig;		    /* "record-signature" present (version 2: optional) */
	smk_buf key_spki;		    /* the archive key (SPKI DER) */
	smk_buf key_record, key_record_sig; /* record 0 */
	smk_buf device_chain;		    /* EF 2F02: DevAut || DICA */
	smk_buf cvreq;
	smk_buf checkpoint; /* signed note text */
	archive_proof inclusion, key_inclusion;
	/* certificate bundles only: the certificate's key record */
	int has_cert_key;
	smk_buf cert_key_record, cert_key_record_sig;
	int has_cert_key_record_sig; /* "key-record-signature" present */
	archive_proof cert_key_inclusion;
} archive_bundle;

void archive_bundle_init(archive_bundle *b);
void archive_bundle_free(archive_bundle *b);
/* Strict: every member present with its type, nothing else; the
 * key-record members all or none (in version 2 the two signatures may be
 * absent: has_record_sig, has_cert_key_record_sig; whether they must be is
 * the records' format, which archive_verify_bundle checks). */
int archive_bundle_parse(const uint8_t *p, size_t n, archive_bundle *b, smk_err *e);
/* JSON, keys sorted, indented for people; appended to out. */
int archive_bundle_encode(const archive_bundle *b, smk_buf *out, smk_err *e);

#endif
