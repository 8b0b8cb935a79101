/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SmartCard-HSM algorithm identifiers (protocol reference §6.6): the P2 of
 * SIGN / DECIPHER / CIPHER and the entries of the GAKP algorithm list (tag
 * 91), which is what the card enforces for a key. Policies name algorithms;
 * this table is the only place names become bytes.
 */
#ifndef SMK_ALG_H
#define SMK_ALG_H

#include <stddef.h>
#include <stdint.h>

enum smk_keytype {
	SMK_KEY_RSA = 1,
	SMK_KEY_EC = 2,
	SMK_KEY_AES = 4,
};

/* At most this many entries in a tag-91 algorithm list. */
#define SMK_ALG_LIST_MAX 16

typedef struct smk_alg {
	const char *name;    /* "ecdsa-sha256" */
	uint8_t id;	     /* 0x73 */
	unsigned keytypes;   /* which key types it applies to (SMK_KEY_* bits) */
	const char *summary; /* one line for reviewers */
} smk_alg;

const smk_alg *alg_list(size_t *n);
const smk_alg *alg_by_name(const char *name);
const smk_alg *alg_by_id(uint8_t id);
const char *keytype_name(enum smk_keytype t);
/* Is id a SIGN algorithm (ref §6.6: 0x20, 0x30..0x35, 0x40..0x45, 0x70..0x75)? */
int alg_is_signature(uint8_t id);

#endif
