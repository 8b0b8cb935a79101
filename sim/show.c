/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Looking into a card from outside, without APDUs: what `smkey-sim show`
 * prints, and EF contents for tests that check what the card stored.
 * Never the PINs or key material.
 */
#include "sim/sim_int.h"

#include <string.h>

#include "sm/alg.h"
#include "sm/cvc.h"

int sim_card_read_ef(const sim_card *c, uint16_t fid, smk_buf *out)
{
	for (size_t i = 0; i < c->n_files; i++)
		if (c->files[i].fid == fid)
			return smk_buf_add(out, c->files[i].data.data, c->files[i].data.len);
	return -1;
}

static void describe_key(const struct sim_key *k, FILE *f)
{
	enum smk_keytype type;
	const smk_curve *curve = NULL;
	unsigned bits = 0;

	fprintf(f, "key %u: ", k->id);
	if (cvc_key_describe(k->pkey, &type, &curve, &bits, NULL) < 0)
		fputs("(unknown key type)", f);
	else if (curve)
		fprintf(f, "EC %s", curve->name);
	else
		fprintf(f, "RSA %u", bits);
	if (k->id == 0)
		fputs(", device authentication key", f);
	if (k->n_algs) {
		fputs(", algorithms", f);
		for (size_t i = 0; i < k->n_algs; i++) {
			const smk_alg *a = alg_by_id(k->algs[i]);

			fprintf(f, " %s", a ? a->name : "?");
		}
	} else if (k->id != 0) {
		fputs(", any algorithm", f);
	}
	if (k->has_counter)
		fprintf(f, ", %lu uses left", (unsigned long)k->counter);
	if (k->has_domain)
		fprintf(f, ", key domain %u", k->domain);
	fputc('\n', f);
}

void sim_card_describe(const sim_card *c, FILE *f)
{
	size_t i;

	fprintf(f, "card %s\n", c->chr[0] ? c->chr : "(no device PKI)");
	if (!c->initialized) {
		fputs("not initialised\n", f);
	} else {
		fprintf(f, "options %04X, user PIN %u of %u tries left%s, SO-PIN %u tries left\n",
			c->options, c->pin_left, c->pin_max,
			c->transport_pin ? " (transport PIN)" : "", c->so_left);
	}
	for (i = 0; i < c->n_domains; i++) {
		const struct sim_domain *d = &c->domains[i];

		if (!d->present)
			fprintf(f, "key domain %zu: not set up\n", i);
		else if (d->xkek)
			fprintf(f, "key domain %zu: XKEK\n", i);
		else
			fprintf(f, "key domain %zu: DKEK, %u of %u shares imported%s\n", i,
				d->shares_total - d->shares_left, d->shares_total,
				d->shares_total == 0 ? " (random DKEK)" : "");
	}
	for (i = 0; i < 256; i++)
		if (c->keys[i])
			describe_key(c->keys[i], f);
	for (i = 0; i < c->n_files; i++)
		fprintf(f, "EF %04X: %zu bytes\n", c->files[i].fid, c->files[i].data.len);
}
