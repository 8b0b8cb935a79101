/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * A log's identity: its note verifier key, the one line a relying party
 * publishes and pins (golang.org/x/mod/sumdb/note verifier-key form):
 *
 *     <key name>+<8 hex digits key ID>+<base64(0x02 || SPKI DER)>
 *
 * Signature type 0x02 is ECDSA as c2sp.org/signed-note assigns it and as
 * transparency-dev/witness verifies it (internal/note NewECDSAVerifier): the
 * public key is the DER SubjectPublicKeyInfo, the key ID the first four bytes
 * (big-endian) of SHA-256 of that DER, without the name or type byte. The
 * key name is the origin the checkpoints carry and sign under
 * ("smkeyd/<16 hex>", checkpoint.h). docs/archive.md "Log identity".
 */
#ifndef SMK_ARCHIVE_LOGKEY_H
#define SMK_ARCHIVE_LOGKEY_H

#include <stddef.h>
#include <stdint.h>

#include "../common/err.h"
#include "checkpoint.h"

#define ARCHIVE_LOGKEY_TYPE_ECDSA 0x02
/* SPKI DER of an EC key on P-256, P-384 or P-521 is at most 158 bytes */
#define ARCHIVE_LOGKEY_SPKI_MAX 160
/* name (< ARCHIVE_ORIGIN_MAX) + 2 '+' + 8 hex + base64 of 1 + 160 bytes + NUL */
#define ARCHIVE_VKEY_MAX 320

typedef struct archive_logkey {
	char name[ARCHIVE_ORIGIN_MAX]; /* the key name: the log's origin */
	uint32_t id;		       /* key ID */
	uint8_t spki[ARCHIVE_LOGKEY_SPKI_MAX];
	size_t spki_len;
	char text[ARCHIVE_VKEY_MAX]; /* the verifier key line, as we print it */
} archive_logkey;

/* The verifier key of the log whose archive key is spki (SPKI DER of an EC
 * key): name = the checkpoint origin derived from the key. */
int archive_logkey_of(const uint8_t *spki, size_t n, archive_logkey *out, smk_err *e);

/* Parse a verifier key strictly: a key name by the signed-note rules
 * (non-empty UTF-8, no Unicode space, no '+', and here no control
 * character, shorter than ARCHIVE_ORIGIN_MAX), exactly 8 hex digits,
 * canonical standard base64 of type byte 0x02 and the DER SPKI of an EC key
 * on P-256, P-384 or P-521 (DER as we would encode it), and the key ID
 * recomputed from it. Nothing before or after. */
int archive_logkey_parse(const char *s, size_t len, archive_logkey *out, smk_err *e);

/* The same log: name, key ID and public key all equal. */
int archive_logkey_same(const archive_logkey *a, const archive_logkey *b);

/* Pinned logs: what `smkey verify --log` and the trust directory's `logs`
 * file name. */
typedef struct archive_logpins {
	archive_logkey *keys;
	size_t n;
} archive_logpins;
#define ARCHIVE_LOGPINS_INIT                                                                       \
	{                                                                                          \
		NULL, 0                                                                            \
	}

/* Parse one verifier key (what names it, for errors: "--log") and add it. */
int archive_logpins_add(archive_logpins *p, const char *vkey, const char *what, smk_err *e);
/* Read a logs file: one verifier key per line, '#' comments and blank lines
 * (white space only) allowed; a bad line fails naming path:line. A file that
 * does not exist adds nothing and returns 1; 0 when it was read. */
int archive_logpins_load_file(archive_logpins *p, const char *path, smk_err *e);
/* The pin that is k, or NULL. */
const archive_logkey *archive_logpins_find(const archive_logpins *p, const archive_logkey *k);
void archive_logpins_free(archive_logpins *p);

#endif
