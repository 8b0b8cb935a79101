/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Verified device chains, remembered across the records of one audit.
 *
 * An archive holds many records from few devices, and every record carries
 * its device chain (DevAut certificate, DICA certificate). Validating it
 * costs two signature verifications on the device's curve, the dearest part
 * of a record's attestation. The cache remembers a chain that validated,
 * keyed by its exact bytes, together with the validity period of every
 * certificate on it (root, DICA, DevAut); a later record with byte-for-byte
 * the same chain is accepted only if its own time lies within all three. Any
 * other case (different bytes, a date outside a period, a chain that never
 * validated) goes through chain_validate in full, so the answer and its
 * error message are those of chain_validate. One cache serves one trust
 * store, and may be shared by threads.
 */
#ifndef SMK_ARCHIVE_CHAINCACHE_H
#define SMK_ARCHIVE_CHAINCACHE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "../common/buf.h"
#include "../common/err.h"
#include "../sm/chain.h"

typedef struct archive_chain_cache archive_chain_cache;

/* NULL when out of memory; t must outlive the cache. */
archive_chain_cache *archive_chain_cache_new(const trust_store *t);
void archive_chain_cache_free(archive_chain_cache *c);

/* chain_validate(devaut || dica, t, at, out, e), answered from the cache
 * when the same bytes validated before and at lies within the validity of
 * every certificate of the chain. *out is the caller's (chain_free). */
int archive_chain_cache_validate(archive_chain_cache *c, const uint8_t *devaut, size_t devaut_len,
				 const uint8_t *dica, size_t dica_len, time_t at, devaut_chain *out,
				 smk_err *e);

/* How often a chain came from the cache, and how often it was validated. */
void archive_chain_cache_counts(const archive_chain_cache *c, unsigned long *hits,
				unsigned long *validated);

#endif
