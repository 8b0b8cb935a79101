/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * What the card told the SM session, for the records (docs/archive.md
 * "Record format 2"): its key-domain state (read once per session) and the
 * algorithm list it reports for a key, if it reports one.
 */
#include <stdio.h>
#include <string.h>

#include "../sm/alg.h"
#include "daemon.h"
#include "log.h"

void card_facts_domains(device *d, archive_card_facts *card)
{
	smk_err e;
	size_t i;

	if (d->domains_opens == 0 || d->domains_opens != session_opens(d->session)) {
		if (session_key_domains(d->session, &d->domains, &e) < 0) {
			log_msg(LOG_WARNING, &(log_fields){.device = d->serial},
				"key-domain state not read (recorded as not reported): %s", e.msg);
			memset(&d->domains, 0, sizeof(d->domains));
			d->domains_opens = 0; /* asked again for the next key */
		} else {
			d->domains_opens = session_opens(d->session);
		}
	}
	/* the config entry matched the verified DevAut serial (config.c) */
	card->relayed = d->cfg && d->cfg->relayed;
	card->domains_reported = d->domains.reported;
	card->domain_count = d->domains.reported ? d->domains.count : 0;
	if (card->domain_count > ARCHIVE_DOMAINS_MAX)
		card->domain_count = ARCHIVE_DOMAINS_MAX;
	for (i = 0; i < card->domain_count; i++) {
		const hsm_key_domain *h = &d->domains.d[i];
		archive_key_domain *a = &card->domains[i];

		memset(a, 0, sizeof(*a));
		a->index = h->index;
		a->kind = h->kind == HSM_DOMAIN_DKEK   ? ARCHIVE_DOMAIN_DKEK
			  : h->kind == HSM_DOMAIN_XKEK ? ARCHIVE_DOMAIN_XKEK
						       : ARCHIVE_DOMAIN_EMPTY;
		if (a->kind != ARCHIVE_DOMAIN_EMPTY) {
			a->shares_total = h->shares_total;
			a->shares_outstanding = h->shares_outstanding;
			a->has_kcv = h->has_kcv;
			memcpy(a->kcv, h->kcv, 8);
		}
	}
}

void card_facts_algs(device *d, unsigned key_id, int always, archive_card_facts *card)
{
	uint8_t algs[SMK_ALG_LIST_MAX];
	size_t n = 0;
	bool reported = false;
	smk_err e;

	card->algs_reported = 0;
	card->alg_count = 0;
	/* a card that reports no list keeps to it within a session: one SELECT
	 * per session then, not one per key */
	if (!always && d->algs_none_opens != 0 && d->algs_none_opens == session_opens(d->session))
		return;
	if (session_key_algs(d->session, (uint8_t)key_id, algs, &n, &reported, &e) < 0) {
		log_msg(LOG_WARNING, &(log_fields){.device = d->serial},
			"key %u: algorithm list not read back (recorded as not reported): %s",
			key_id, e.msg);
		return;
	}
	if (!reported) {
		d->algs_none_opens = session_opens(d->session);
		return;
	}
	card->algs_reported = 1;
	card->alg_count = n;
	memcpy(card->algs, algs, n);
}
