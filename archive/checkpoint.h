/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Checkpoints: the C2SP tlog-checkpoint body
 *
 *     <origin>\n<tree size>\n<base64 root hash>\n
 *
 * as a C2SP signed note signed by the archive key. The signature type is
 * 0x02 (ECDSA, as defined by c2sp.org/signed-note): key ID = first four
 * bytes of SHA-256 of the key's SubjectPublicKeyInfo DER, signature = DER
 * ECDSA-SHA256 over the note text. The origin (and key name) is
 * "smkeyd/" + the first 16 hex digits of that SHA-256.
 */
#ifndef SMK_ARCHIVE_CHECKPOINT_H
#define SMK_ARCHIVE_CHECKPOINT_H

#include <stddef.h>
#include <stdint.h>

#include "archive.h"

#define ARCHIVE_ORIGIN_MAX 64
#define ARCHIVE_NOTE_MAX 4096

typedef struct archive_checkpoint {
	char origin[ARCHIVE_ORIGIN_MAX];
	uint64_t size;
	uint8_t root[32];
} archive_checkpoint;

/* The origin line for an archive key. */
int archive_checkpoint_origin(EVP_PKEY *pub, char origin[ARCHIVE_ORIGIN_MAX], smk_err *e);
/* Sign c (its origin must be the signer's) and append the signed note. */
int archive_checkpoint_sign(const archive_checkpoint *c, const archive_signer *s, smk_buf *note,
			    smk_err *e);
/* archive_sign_checkpoint in three steps, so that a caller holding a lock
 * on the archive can release it while the card signs:
 * archive_checkpoint_begin fills *c with the tree head over every record so
 * far (c->size 0: the latest checkpoint covers them all, nothing to sign;
 * the signer must be the archive key), archive_checkpoint_sign signs it,
 * and archive_checkpoint_store stores the signed note, unless a checkpoint
 * as large was stored meanwhile (then nothing is stored; the note is
 * still a true statement, merely not needed). */
int archive_checkpoint_begin(archive *a, const archive_signer *s, archive_checkpoint *c,
			     smk_err *e);
int archive_checkpoint_store(archive *a, const archive_checkpoint *c, const smk_buf *note,
			     smk_err *e);
/* Parse a signed note and verify the archive key's signature on it; the
 * origin must be pub's. Signatures by other keys are ignored (C2SP). */
int archive_checkpoint_open(const uint8_t *note, size_t len, EVP_PKEY *pub, archive_checkpoint *out,
			    smk_err *e);

/* The archive key's origin and key ID, derived once for many notes (an
 * audit opens one per record). pub is not owned. */
typedef struct archive_checkpoint_key {
	EVP_PKEY *pub;
	char origin[ARCHIVE_ORIGIN_MAX];
	uint8_t fp[32];
} archive_checkpoint_key;
int archive_checkpoint_key_init(archive_checkpoint_key *k, EVP_PKEY *pub, smk_err *e);
/* archive_checkpoint_open with the key's identity from k. */
int archive_checkpoint_open_key(const uint8_t *note, size_t len, const archive_checkpoint_key *k,
				archive_checkpoint *out, smk_err *e);

#endif
