/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Witness cosignatures on checkpoints (c2sp.org/tlog-cosignature, type 0x04,
 * timestamped Ed25519) and the witness verifier keys that check them
 * (c2sp.org/signed-note "verifier keys"). Byte formats: docs/archive.md
 * "Witness cosignatures".
 *
 *   verifier key   <name>+<8 hex key ID>+<base64(0x04 || 32-byte Ed25519 key)>
 *   key ID         SHA-256(<name> || "\n" || 0x04 || key)[:4]
 *   signature line U+2014 " " <name> " " base64(key ID || u64 timestamp BE || sig[64])
 *   signed message "cosignature/v1\ntime <timestamp>\n" || checkpoint note text
 *
 * Everything here is pure (no archive, no I/O), so smkeyd (which stores
 * only cosignatures that verify), smkey verify and the tests share it.
 */
#ifndef SMK_ARCHIVE_COSIG_H
#define SMK_ARCHIVE_COSIG_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

#define COSIG_NAME_MAX 128 /* key name bytes, without the terminating NUL */
#define COSIG_TYPE_ED25519 0x04
#define COSIG_SIG_LEN 76 /* key ID 4 + timestamp 8 + Ed25519 signature 64 */
/* More witness keys than anyone configures; bounds the loops below. */
#define COSIG_KEYS_MAX 32

typedef struct cosig_key {
	char name[COSIG_NAME_MAX + 1];
	uint8_t key_id[4];
	uint8_t pub[32];
} cosig_key;

/* Parse a verifier key line (no surrounding white space): type must be
 * 0x04 and the key ID must be the one the name and key give. */
int cosig_key_parse(const char *s, size_t len, cosig_key *k, smk_err *e);
/* The verifier key line of k into out (NUL-terminated). */
int cosig_key_format(const cosig_key *k, char *out, size_t cap, smk_err *e);
/* The key ID of (name, Ed25519 key). */
int cosig_key_id(const char *name, const uint8_t pub[32], uint8_t id[4], smk_err *e);

typedef struct cosig {
	char name[COSIG_NAME_MAX + 1];
	uint8_t key_id[4];
	uint64_t time; /* POSIX seconds, < 2^63 */
	uint8_t sig[64];
} cosig;

/* One note signature line ("— name base64", without its newline) as a
 * type 0x04 cosignature: 76 bytes after base64, timestamp below 2^63. */
int cosig_parse_line(const uint8_t *line, size_t len, cosig *c, smk_err *e);
/* Whether c claims to be by k (same name and key ID). */
int cosig_by(const cosig *c, const cosig_key *k);
/* Verify c by k over the checkpoint note text (up to and including the
 * newline before the blank line); not_after, when non-zero, refuses a
 * timestamp later than it (a cosignature from the future). */
int cosig_verify(const cosig *c, const cosig_key *k, const uint8_t *text, size_t text_len,
		 int64_t not_after, smk_err *e);

/* Where the text of a signed note ends: *text_len bytes of text (the last
 * one a newline), then a blank line, then *sigs_at, the first signature line. */
int cosig_note_split(const uint8_t *note, size_t len, size_t *text_len, size_t *sigs_at,
		     smk_err *e);

/* What a note says about each of n witness keys. */
enum cosig_status { COSIG_MISSING = 0, COSIG_OK, COSIG_BAD };
typedef struct cosig_result {
	enum cosig_status status;
	uint64_t time; /* COSIG_OK: the cosignature's timestamp */
	char why[520]; /* COSIG_BAD / COSIG_MISSING: in words */
} cosig_result;

/* Check every signature line of a signed checkpoint note against keys[n]:
 * res[i] is COSIG_OK when a line by keys[i] verifies, COSIG_BAD when lines
 * claim keys[i] and none verifies, else COSIG_MISSING. Lines by other keys
 * are ignored (C2SP signed-note). *valid counts the keys with COSIG_OK. A
 * note that is not a signed note fails. */
int cosig_check_note(const uint8_t *note, size_t len, const cosig_key *keys, size_t n,
		     int64_t not_after, cosig_result *res, size_t *valid, smk_err *e);

/* A list of witness keys and a quorum, as `smkey verify` takes them: from
 * --witness options and from a trust directory's "witnesses" file. */
typedef struct cosig_policy {
	cosig_key keys[COSIG_KEYS_MAX];
	size_t n;
	long quorum; /* -1: not set */
} cosig_policy;

void cosig_policy_init(cosig_policy *p);
/* Add a key; the same key twice counts once, two keys with one name fail. */
int cosig_policy_add(cosig_policy *p, const char *vkey, smk_err *e);
/* A witnesses file: one verifier key per line, "quorum N" at most once,
 * '#' comments and blank lines. Named as path in messages. */
int cosig_policy_load(cosig_policy *p, const uint8_t *text, size_t len, const char *path,
		      smk_err *e);

#endif
