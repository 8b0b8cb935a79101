/* SPDX-License-Identifier: BSD-3-Clause */
/* Counting signature verifications (sigcount.h). */
#include "sigcount.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static _Thread_local smk_sigcount *tally;

void smk_sigcount_attach(smk_sigcount *c)
{
	tally = c;
}

static void add_named(smk_sigcount *c, const char *name, uint64_t n)
{
	size_t i;

	for (i = 0; i < c->n; i++)
		if (strcmp(c->kind[i].name, name) == 0) {
			c->kind[i].n += n;
			return;
		}
	if (c->n == SMK_SIGCOUNT_KINDS) {
		c->other += n;
		return;
	}
	snprintf(c->kind[c->n].name, sizeof(c->kind[c->n].name), "%s", name);
	c->kind[c->n].n = n;
	c->n++;
}

void smk_sigcount_note(const EVP_PKEY *key)
{
	char name[SMK_SIGCOUNT_NAME], group[32];
	size_t glen = 0;

	if (!tally)
		return;
	if (EVP_PKEY_get_base_id(key) == EVP_PKEY_EC &&
	    EVP_PKEY_get_group_name(key, group, sizeof(group), &glen) == 1)
		snprintf(name, sizeof(name), "ecdsa %s", group);
	else if (EVP_PKEY_get_base_id(key) == EVP_PKEY_RSA)
		snprintf(name, sizeof(name), "rsa %d", EVP_PKEY_get_bits(key));
	else
		snprintf(name, sizeof(name), "%s",
			 EVP_PKEY_get0_type_name(key) ? EVP_PKEY_get0_type_name(key) : "unknown");
	add_named(tally, name, 1);
}

void smk_sigcount_add(smk_sigcount *into, const smk_sigcount *from)
{
	size_t i;

	for (i = 0; i < from->n; i++)
		add_named(into, from->kind[i].name, from->kind[i].n);
	into->other += from->other;
}

static int by_name(const void *x, const void *y)
{
	return strcmp(((const smk_sigkind *)x)->name, ((const smk_sigkind *)y)->name);
}

void smk_sigcount_sort(smk_sigcount *c)
{
	qsort(c->kind, c->n, sizeof(c->kind[0]), by_name);
}
