/* SPDX-License-Identifier: BSD-3-Clause */
/* The archive signing key held in a SmartCard-HSM, used through an SM session. */
#ifndef SMK_ARCHIVE_HSM_SIGNER_H
#define SMK_ARCHIVE_HSM_SIGNER_H

#include <stdint.h>

#include "../sm/session.h"
#include "archive.h"

typedef struct archive_session_key {
	smk_session *session; /* owned by the caller (the worker of that HSM) */
	uint8_t key_id;	      /* the archive key's id on the card */
	EVP_PKEY *pub;	      /* its public key (record 0's SPKI); owned by the caller */
} archive_session_key;

/* A signer that signs with k through its session; k must outlive s. */
void archive_session_signer(archive_signer *s, archive_session_key *k);

#endif
