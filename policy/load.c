/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Policy validation: from the node tree of one file to a policy. Every
 * message says where (file:line:col) and what would be right, because the
 * reader is a release manager fixing a file, not a programmer.
 */
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "../common/file.h"

#define DESCRIPTION_MAX 1024
#define DEVICE_ID_MAX 16 /* a DevAut CHR (ref §4.2) */

static const char *const top_keys[] = {
    "name",  "description", "key",	"algorithms", "use-counter", "key-domain", "exportable",
    "label", "allow",	    "max-keys", "devices",    "car",	     "sign",	   NULL,
};
static const char *const key_keys[] = {"type", "curve", "bits", NULL};

/* Names are file names and command-line words: keep them boring. */
static int name_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '-' || c == '_' || c == '.';
}

/* The policy name a file must carry: its base name without .yaml / .yml. */
static void expected_name(const char *file, char *out, size_t n)
{
	const char *base = strrchr(file, '/');
	size_t len;

	base = base ? base + 1 : file;
	len = strlen(base);
	if (len > 5 && strcmp(base + len - 5, ".yaml") == 0)
		len -= 5;
	else if (len > 4 && strcmp(base + len - 4, ".yml") == 0)
		len -= 4;
	snprintf(out, n, "%.*s", (int)len, base);
}

static const pnode *require(const char *file, const pnode *map, const char *key, const char *hint,
			    smk_err *e)
{
	const pnode *v = pval_get(map, key);

	if (v == NULL)
		policy_fail_at(e, file, map, "missing \"%s\"; %s", key, hint);
	return v;
}

static char *dup_or_fail(const char *s, smk_err *e)
{
	char *d = strdup(s);

	if (d == NULL)
		smk_fail(e, SMK_E_NOMEM, "out of memory");
	return d;
}

static int load_name(const char *file, const pnode *root, policy *p, smk_err *e)
{
	char want[256];
	const pnode *n;
	const char *s;
	size_t i;

	n = require(file, root, "name", "give the policy a name equal to the file name", e);
	if (n == NULL || pval_string(file, n, "name", &s, e) < 0)
		return -1;
	for (i = 0; s[i]; i++)
		if (!name_char(s[i]))
			return policy_fail_at(e, file, n,
					      "name \"%s\" has the character '%c'; use only "
					      "A-Z a-z 0-9 . _ -",
					      s, s[i]);
	if (i == 0 || i > POLICY_NAME_MAX || s[0] == '.' || s[0] == '-')
		return policy_fail_at(e, file, n,
				      "name \"%s\" must be 1 to %d characters and not start "
				      "with '.' or '-'",
				      s, POLICY_NAME_MAX);
	expected_name(file, want, sizeof(want));
	if (strcmp(s, want) != 0)
		return policy_fail_at(e, file, n,
				      "name \"%s\" differs from the file name; name it \"%s\" or "
				      "rename the file to %s.yaml",
				      s, want, s);
	p->name = dup_or_fail(s, e);
	if (p->name == NULL)
		return -1;

	n = require(file, root, "description",
		    "say in one sentence what the key is for; an auditor reads it", e);
	if (n == NULL || pval_string(file, n, "description", &s, e) < 0)
		return -1;
	if (strlen(s) > DESCRIPTION_MAX)
		return policy_fail_at(e, file, n, "description is longer than %d bytes; shorten it",
				      DESCRIPTION_MAX);
	p->description = dup_or_fail(s, e);
	return p->description ? 0 : -1;
}

static int load_key(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *key, *type, *curve, *bits;
	const char *s;
	uint64_t v;

	key = require(file, root, "key", "describe the key, e.g. key: {type: ec, curve: secp256r1}",
		      e);
	if (key == NULL)
		return -1;
	if (key->kind != PNODE_MAP)
		return policy_fail_at(e, file, key,
				      "key is %s; it must be a mapping such as {type: ec, curve: "
				      "secp256r1} or {type: rsa, bits: 3072}",
				      smk_ynode_kind_name(key));
	if (pval_known_keys(file, key, key_keys, "in key", e) < 0)
		return -1;
	type = require(file, key, "type", "give type: ec or type: rsa", e);
	if (type == NULL || pval_string(file, type, "key type", &s, e) < 0)
		return -1;
	curve = pval_get(key, "curve");
	bits = pval_get(key, "bits");
	if (strcmp(s, "ec") == 0) {
		p->key_type = SMK_KEY_EC;
		if (bits)
			return policy_fail_at(e, file, bits,
					      "bits is for rsa keys; an ec key's size follows "
					      "from its curve, remove bits");
		curve = require(file, key, "curve",
				"an ec key needs a curve, e.g. curve: secp256r1", e);
		if (curve == NULL || pval_string(file, curve, "curve", &s, e) < 0)
			return -1;
		p->curve = curve_by_name(s);
		if (p->curve == NULL) {
			char list[256] = "";
			size_t n, i;
			const smk_curve *c = curve_list(&n);

			for (i = 0; i < n; i++) {
				if (i)
					strncat(list, ", ", sizeof(list) - strlen(list) - 1);
				strncat(list, c[i].name, sizeof(list) - strlen(list) - 1);
			}
			return policy_fail_at(e, file, curve, "unknown curve \"%s\"; known: %s", s,
					      list);
		}
	} else if (strcmp(s, "rsa") == 0) {
		p->key_type = SMK_KEY_RSA;
		if (curve)
			return policy_fail_at(e, file, curve,
					      "curve is for ec keys; an rsa key has bits, remove "
					      "curve");
		bits = require(file, key, "bits", "an rsa key needs bits: 2048, 3072 or 4096", e);
		if (bits == NULL)
			return -1;
		if (bits->kind != PNODE_SCALAR || !bits->plain || bits->text[0] == '-' ||
		    pval_uint(file, bits, "bits", 0, UINT32_MAX, &v, e) < 0)
			return policy_fail_at(e, file, bits,
					      "bits must be 2048, 3072 or 4096, written without "
					      "quotes");
		if (v != 2048 && v != 3072 && v != 4096)
			return policy_fail_at(e, file, bits,
					      "bits %s is not offered; use 2048, 3072 or 4096",
					      bits->text);
		p->bits = (unsigned)v;
	} else {
		return policy_fail_at(e, file, type, "unknown key type \"%s\"; use ec or rsa", s);
	}
	return 0;
}

static void alg_names_for(enum smk_keytype t, char *out, size_t n)
{
	size_t count, i;
	const smk_alg *a = alg_list(&count);

	out[0] = '\0';
	for (i = 0; i < count; i++) {
		if (!(a[i].keytypes & (unsigned)t))
			continue;
		if (out[0])
			strncat(out, ", ", n - strlen(out) - 1);
		strncat(out, a[i].name, n - strlen(out) - 1);
	}
}

static int cmp_alg(const void *a, const void *b)
{
	const smk_alg *x = *(const smk_alg *const *)a, *y = *(const smk_alg *const *)b;

	return (int)x->id - (int)y->id;
}

static int load_algorithms(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const char *kt = keytype_name(p->key_type);
	const pnode *list, *item;
	const smk_alg *a;
	const char *s;
	char known[400];
	size_t i, j;

	list = require(file, root, "algorithms",
		       "list every operation the key may perform (e.g. [ecdsa-sha256]); a key "
		       "without a list would be unrestricted",
		       e);
	if (list == NULL || pval_list(file, list, "algorithms", e) < 0)
		return -1;
	for (i = 0; i < list->n; i++) {
		item = list->items[i];
		if (pval_string(file, item, "an algorithm", &s, e) < 0)
			return -1;
		if (i == SMK_ALG_LIST_MAX)
			return policy_fail_at(e, file, item,
					      "more than %d algorithms; the card's list (tag 91) "
					      "holds at most %d, keep only those the key needs",
					      SMK_ALG_LIST_MAX, SMK_ALG_LIST_MAX);
		a = alg_by_name(s);
		alg_names_for(p->key_type, known, sizeof(known));
		if (a == NULL)
			return policy_fail_at(e, file, item,
					      "unknown algorithm \"%s\"; known for %s keys: %s", s,
					      kt, known);
		if (!(a->keytypes & (unsigned)p->key_type))
			return policy_fail_at(e, file, item,
					      "algorithm \"%s\" cannot be used with an %s key; "
					      "for %s keys use: %s",
					      s, kt, kt, known);
		for (j = 0; j < i; j++)
			if (p->algs[j] == a)
				return policy_fail_at(e, file, item,
						      "algorithm \"%s\" is listed twice (first at "
						      "%u:%u); list it once",
						      s, list->items[j]->line, list->items[j]->col);
		p->algs[i] = a;
	}
	p->alg_count = list->n;
	/* one canonical order for the tag-91 bytes: ascending identifier */
	qsort(p->algs, p->alg_count, sizeof(p->algs[0]), cmp_alg);
	for (i = 0; i < p->alg_count; i++)
		p->alg_list[i] = p->algs[i]->id;
	return 0;
}

static int has_alg(const policy *p, const char *name)
{
	size_t i;

	for (i = 0; i < p->alg_count; i++)
		if (strcmp(p->algs[i]->name, name) == 0)
			return 1;
	return 0;
}

static const pnode *list_entry(const pnode *list, const char *text)
{
	size_t i;

	for (i = 0; list && i < list->n; i++)
		if (list->items[i]->kind == PNODE_SCALAR && strcmp(list->items[i]->text, text) == 0)
			return list->items[i];
	return list;
}

static int load_restrictions(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *n;
	uint64_t v;
	int exportable;

	p->key_domain = -1;
	if ((n = pval_get(root, "use-counter")) != NULL) {
		if (pval_uint(file, n, "use-counter", 1, UINT32_MAX, &v, e) < 0)
			return -1;
		p->use_counter = (uint32_t)v;
	}
	if ((n = pval_get(root, "key-domain")) != NULL) {
		if (pval_uint(file, n, "key-domain", 0, 255, &v, e) < 0)
			return -1;
		p->key_domain = (int)v;
	}
	p->exportable = has_alg(p, "wrap");
	/* ref §6.5: wrapping needs the DKEK of a key domain */
	if (p->exportable && p->key_domain < 0)
		return policy_fail_at(e, file, list_entry(pval_get(root, "algorithms"), "wrap"),
				      "\"wrap\" needs a key-domain: a key is exported only under a "
				      "domain's DKEK; add key-domain: N or remove wrap");
	if ((n = pval_get(root, "exportable")) != NULL) {
		if (pval_bool(file, n, "exportable", &exportable, e) < 0)
			return -1;
		if (exportable != p->exportable)
			return policy_fail_at(
			    e, file, n,
			    exportable ? "exportable: true, but \"wrap\" is not in algorithms; "
					 "add wrap (and a key-domain) or say exportable: false"
				       : "exportable: false, but \"wrap\" is in algorithms; "
					 "remove wrap or say exportable: true");
	}
	if ((n = pval_get(root, "max-keys")) != NULL) {
		if (pval_uint(file, n, "max-keys", 1, UINT32_MAX, &v, e) < 0)
			return -1;
		p->max_keys = (uint32_t)v;
	}
	return 0;
}

static int load_label(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *n;
	const char *s;
	char why[200];
	size_t off;

	n = require(file, root, "label", "give a label template such as label: apk-{request.label}",
		    e);
	if (n == NULL || pval_string(file, n, "label", &s, e) < 0)
		return -1;
	if (policy_label_template_scan(s, why, sizeof(why), &off) < 0) {
		/* point at the offending character of a one-line value */
		pnode at = *n;

		if (strchr(s, '\n') == NULL)
			at.col += (unsigned)off + (n->plain ? 0 : 1);
		return policy_fail_at(e, file, &at, "label template \"%s\": %s", s, why);
	}
	p->label_template = dup_or_fail(s, e);
	return p->label_template ? 0 : -1;
}

/* car: the inner CAR of the GAKP, as a CHR/CAR allows (ref §3.6): 1..16
 * printable ASCII characters. */
static int load_car(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *n = pval_get(root, "car");
	const char *s;
	size_t i, len;

	if (n == NULL)
		return 0;
	if (pval_string(file, n, "car", &s, e) < 0)
		return -1;
	len = strlen(s);
	if (len == 0 || len > HSM_REF_MAX)
		return policy_fail_at(e, file, n,
				      "car has %zu characters; a CAR has 1 to %d, e.g. car: %s",
				      len, HSM_REF_MAX, POLICY_CAR_DEFAULT);
	for (i = 0; i < len; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
			return policy_fail_at(e, file, n,
					      "car: byte 0x%02X at position %zu is not printable "
					      "ASCII; a CAR is printable ASCII, e.g. car: %s",
					      (unsigned char)s[i], i + 1, POLICY_CAR_DEFAULT);
	p->car = dup_or_fail(s, e);
	return p->car ? 0 : -1;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

static int load_devices(const char *file, const pnode *root, policy *p, smk_err *e)
{
	const pnode *list = pval_get(root, "devices");
	const char *s;
	size_t i, j, len;

	if (list == NULL)
		return 0;
	if (pval_list(file, list, "devices", e) < 0)
		return -1;
	p->devices = calloc(list->n, sizeof(*p->devices));
	if (p->devices == NULL)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	for (i = 0; i < list->n; i++) {
		const pnode *item = list->items[i];

		if (pval_string(file, item, "a device", &s, e) < 0)
			return -1;
		len = strlen(s);
		if (len < 5 || len > DEVICE_ID_MAX ||
		    strspn(s, "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
			      "abcdefghijklmnopqrstuvwxyz"
			      "0123456789") != len)
			return policy_fail_at(e, file, item,
					      "device \"%s\" is not a device serial or DevAut CHR; "
					      "write e.g. DENK0404144 or DENK040414400000",
					      s);
		for (j = 0; j < i; j++)
			if (strcmp(list->items[j]->text, s) == 0)
				return policy_fail_at(e, file, item,
						      "device \"%s\" is listed twice (first at "
						      "%u:%u); list it once",
						      s, list->items[j]->line, list->items[j]->col);
		p->devices[i] = dup_or_fail(s, e);
		if (p->devices[i] == NULL)
			return -1;
		p->device_count++;
	}
	qsort(p->devices, p->device_count, sizeof(*p->devices), cmp_str);
	return 0;
}

int policy_parse(const char *file, const uint8_t *text, size_t len, policy **out, smk_err *e)
{
	pnode *root = NULL;
	policy *p;
	int rc = -1;

	*out = NULL;
	if (len > POLICY_FILE_MAX)
		return smk_fail(e, SMK_E_POLICY, "%s: %zu bytes; a policy file is at most %d bytes",
				file, len, POLICY_FILE_MAX);
	if (pyaml_parse(file, text, len, &root, e) < 0)
		return -1;
	if (root == NULL)
		return policy_fail_at(e, file, NULL,
				      "empty file; a policy is a mapping with name, description, "
				      "key, algorithms, label and allow");
	p = calloc(1, sizeof(*p));
	if (p == NULL) {
		pnode_free(root);
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	}
	p->key_domain = -1;
	if (root->kind != PNODE_MAP) {
		policy_fail_at(e, file, root,
			       "the file holds %s; a policy is a mapping with name, description, "
			       "key, algorithms, label and allow",
			       smk_ynode_kind_name(root));
		goto out;
	}
	if ((p->file = dup_or_fail(file, e)) == NULL ||
	    pval_known_keys(file, root, top_keys, "", e) < 0 || load_name(file, root, p, e) < 0 ||
	    load_key(file, root, p, e) < 0 || load_algorithms(file, root, p, e) < 0 ||
	    load_restrictions(file, root, p, e) < 0 || load_label(file, root, p, e) < 0 ||
	    policy_load_allow(file, root, p, e) < 0 || policy_load_sign(file, root, p, e) < 0 ||
	    load_devices(file, root, p, e) < 0 || load_car(file, root, p, e) < 0 ||
	    policy_canonicalize(p, e) < 0)
		goto out;
	*out = p;
	p = NULL;
	rc = 0;
out:
	policy_free(p);
	pnode_free(root);
	return rc;
}

int policy_load_file(const char *path, policy **out, smk_err *e)
{
	smk_buf text = SMK_BUF_INIT;
	int rc;

	*out = NULL;
	/* policy_parse refuses a file over the limit, with the limit in words */
	if (smk_read_file(path, POLICY_FILE_MAX, &text, e) < 0)
		return -1;
	rc = policy_parse(path, text.data, text.len, out, e);
	smk_buf_free(&text);
	return rc;
}

/* A users: or groups: list and the names in it. */
static void principals_free(policy_principal *list, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++)
		free(list[i].name);
	free(list);
}

void policy_free(policy *p)
{
	size_t i;

	if (p == NULL)
		return;
	free(p->file);
	free(p->name);
	free(p->description);
	free(p->label_template);
	free(p->car);
	principals_free(p->users, p->user_count);
	principals_free(p->groups, p->group_count);
	principals_free(p->sign_users, p->sign_user_count);
	principals_free(p->sign_groups, p->sign_group_count);
	for (i = 0; i < p->device_count; i++)
		free(p->devices[i]);
	free(p->devices);
	free(p->canonical);
	free(p);
}
