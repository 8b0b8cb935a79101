/* SPDX-License-Identifier: BSD-3-Clause */
/* Pinned root certificates (ref §4.5): the only keys a device chain may end in. */
#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "chain.h"
#include "../common/file.h"

static void root_free(trust_root *r)
{
	if (r == NULL)
		return;
	EVP_PKEY_free(r->key);
	smk_buf_free(&r->bytes);
	free(r);
}

/* A root must stand on its own: explicit curve, role C0, CAR == CHR and a
 * signature by its own key. */
static int root_check(trust_root *r, smk_err *e)
{
	cvc *c = &r->cert;

	if (cvc_parse_cert(r->bytes.data, r->bytes.len, c, e) < 0)
		return -1;
	if (!cvc_role_is_sc_hsm(c) || c->chat_bits_len != 1 || c->chat_bits[0] != CVC_ROLE_ROOT)
		return smk_fail(e, SMK_E_MISMATCH, "root %s: role is not SmartCard-HSM root (C0)",
				c->chr);
	if (strcmp(c->car, c->chr) != 0)
		return smk_fail(e, SMK_E_MISMATCH, "root %s: not self-signed (CAR %s)", c->chr,
				c->car);
	if (c->key.alg->keytype == SMK_KEY_EC && c->key.curve == NULL)
		return smk_fail(e, SMK_E_FORMAT, "root %s: EC key without domain parameters",
				c->chr);
	if (cvc_pubkey_to_evp(&c->key, NULL, &r->key, e) < 0)
		return smk_context(e, "root %s", c->chr);
	if (cvc_verify(r->key, c->key.alg, c->body, c->body_len, c->sig, c->sig_len, e) < 0)
		return smk_context(e, "root %s: self-signature", c->chr);
	return 0;
}

int trust_add(trust_store *t, const uint8_t *p, size_t n, const char *origin, smk_err *e)
{
	trust_root *r = calloc(1, sizeof(*r)), **grown;
	const trust_root *old;

	if (r == NULL)
		return smk_fail(e, SMK_E_NOMEM, "trust store: out of memory");
	snprintf(r->origin, sizeof(r->origin), "%s", origin ? origin : "(memory)");
	if (cvc_input_bytes(p, n, &r->bytes, e) < 0 || root_check(r, e) < 0) {
		smk_context(e, "trust anchor %s", r->origin);
		root_free(r);
		return -1;
	}
	old = trust_find(t, r->cert.chr);
	if (old != NULL) {
		int same = old->bytes.len == r->bytes.len &&
			   memcmp(old->bytes.data, r->bytes.data, r->bytes.len) == 0;

		if (!same)
			smk_fail(e, SMK_E_TRUST,
				 "trust anchor %s: a different root %s is already loaded from %s",
				 r->origin, r->cert.chr, old->origin);
		root_free(r);
		return same ? 0 : -1;
	}
	grown = realloc(t->roots, (t->n + 1) * sizeof(*grown));
	if (grown == NULL) {
		root_free(r);
		return smk_fail(e, SMK_E_NOMEM, "trust store: out of memory");
	}
	t->roots = grown;
	t->roots[t->n++] = r;
	return 0;
}

/* Files of a trust directory that are not root certificates: notes, and
 * the pins smkey verify reads beside the roots (docs/archive.md "Trust
 * model"). */
static const char *const not_roots[] = {
    "logs",	 /* pinned log verifier keys */
    "witnesses", /* witness verifier keys and the quorum */
    NULL,
};

static int skip_name(const char *name)
{
	size_t n = strlen(name), i;

	if (name[0] == '.')
		return 1;
	for (i = 0; not_roots[i]; i++)
		if (strcmp(name, not_roots[i]) == 0)
			return 1;
	return (n >= 3 && strcmp(name + n - 3, ".md") == 0) ||
	       (n >= 4 && strcmp(name + n - 4, ".txt") == 0);
}

/* Root certificates are a few hundred bytes; anything far larger is not one. */
#define TRUST_FILE_MAX 65536

static int name_cmp(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int trust_load_dir(trust_store *t, const char *dir, smk_err *e)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	char **names = NULL, **grown, path[4096];
	size_t n = 0, i, before = t->n;
	int r = 0;

	if (d == NULL)
		return smk_fail(e, SMK_E_IO, "trust directory %s: %s", dir, strerror(errno));
	while ((de = readdir(d)) != NULL) {
		if (skip_name(de->d_name))
			continue;
		grown = realloc(names, (n + 1) * sizeof(*names));
		if (grown == NULL || (grown[n] = strdup(de->d_name)) == NULL) {
			names = grown ? grown : names;
			r = smk_fail(e, SMK_E_NOMEM, "trust directory %s: out of memory", dir);
			break;
		}
		names = grown;
		n++;
	}
	closedir(d);
	/* a stable order makes "already loaded from" messages reproducible */
	if (r == 0 && n > 0)
		qsort(names, n, sizeof(*names), name_cmp);
	for (i = 0; r == 0 && i < n; i++) {
		smk_buf b = SMK_BUF_INIT;
		struct stat st;

		snprintf(path, sizeof(path), "%s/%s", dir, names[i]);
		if (stat(path, &st) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (smk_read_stream(path, 0, TRUST_FILE_MAX, &b, e) < 0 ||
		    trust_add(t, b.data, b.len, path, e) < 0)
			r = -1;
		smk_buf_free(&b);
	}
	for (i = 0; i < n; i++)
		free(names[i]);
	free(names);
	if (r == 0 && t->n == before)
		r = smk_fail(e, SMK_E_TRUST, "trust directory %s: no root certificate in it", dir);
	return r;
}

const trust_root *trust_find(const trust_store *t, const char *chr)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->roots[i]->cert.chr, chr) == 0)
			return t->roots[i];
	return NULL;
}

void trust_free(trust_store *t)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		root_free(t->roots[i]);
	free(t->roots);
	t->roots = NULL;
	t->n = 0;
}

/* CHR prefixes of roots that are not production roots: CardContact's test
 * PKI uses country code "UT", smkey-sim "ZZ" (docs/simulator.md). */
int trust_root_is_test(const trust_root *r)
{
	const char *chr = r->cert.chr;

	return strncmp(chr, "UT", 2) == 0 || strncmp(chr, "ZZ", 2) == 0;
}

size_t trust_test_roots(const trust_store *t, char *names, size_t cap)
{
	size_t i, n = 0, len = 0;

	if (cap > 0)
		names[0] = '\0';
	for (i = 0; i < t->n; i++) {
		if (!trust_root_is_test(t->roots[i]))
			continue;
		if (cap > len) {
			int w = snprintf(names + len, cap - len, "%s%s", n ? ", " : "",
					 t->roots[i]->cert.chr);

			len = w > 0 ? len + (size_t)w : len;
		}
		n++;
	}
	return n;
}

size_t trust_test_warning(const trust_store *t, char *out, size_t cap)
{
	char names[256];
	size_t n = trust_test_roots(t, names, sizeof(names));

	if (cap > 0)
		out[0] = '\0';
	if (n > 0)
		snprintf(out, cap,
			 "WARNING: trusting test or simulator root%s %s: a key attested under %s "
			 "proves nothing about genuine hardware",
			 n == 1 ? "" : "s", names, n == 1 ? "it" : "them");
	return n;
}
