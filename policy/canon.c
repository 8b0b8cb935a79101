/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The canonical policy document: the effective policy after validation, with
 * defaults filled in, names resolved to ids and algorithm names turned into
 * the bytes the card gets. JSON with sorted keys and no white space, so two
 * files that mean the same thing give the same bytes and the same SHA-256.
 * docs/policy.md describes every field; the archive stores document and digest.
 */
#include "internal.h"

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "../common/digest.h"
#include "../common/hex.h"
#include "../common/json.h"

#define FORMAT_NAME "smkeyd-policy"

static json_t *key_object(const policy *p)
{
	if (p->key_type == SMK_KEY_EC)
		return json_pack("{s:s, s:s}", "type", "ec", "curve", p->curve->name);
	return json_pack("{s:s, s:I, s:I}", "type", "rsa", "bits", (json_int_t)p->bits, "exponent",
			 (json_int_t)65537);
}

static json_t *algorithms(const policy *p, char *hex)
{
	json_t *list = json_array();
	size_t i;

	if (list == NULL)
		return NULL;
	for (i = 0; i < p->alg_count; i++) {
		if (json_array_append_new(list, json_pack("{s:s, s:I}", "name", p->algs[i]->name,
							  "id", (json_int_t)p->algs[i]->id)) < 0) {
			json_decref(list);
			return NULL;
		}
	}
	smk_hex_to(hex, p->alg_list, p->alg_count, SMK_HEX_LOWER);
	return list;
}

static json_t *principals(const policy_principal *list, size_t n, const char *id_key)
{
	json_t *arr = json_array();
	size_t i;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (json_array_append_new(arr, json_pack("{s:s, s:I}", "name", list[i].name, id_key,
							 (json_int_t)list[i].id)) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

static json_t *devices(const policy *p)
{
	json_t *arr;
	size_t i;

	if (p->devices == NULL)
		return json_null();
	arr = json_array();
	for (i = 0; arr && i < p->device_count; i++) {
		if (json_array_append_new(arr, json_string(p->devices[i])) < 0) {
			json_decref(arr);
			return NULL;
		}
	}
	return arr;
}

/* An optional number: null when absent, so "no limit" is written, not implied. */
static json_t *optional(int present, json_int_t v)
{
	return present ? json_integer(v) : json_null();
}

/* The document of p: every member but car always, car only when set. */
static json_t *document(const policy *p, char hex[2 * SMK_ALG_LIST_MAX + 1])
{
	json_t *doc;

	/* "o" steals each reference; a NULL from a builder fails the pack */
	doc = json_pack("{s:s, s:I, s:s, s:s, s:o, s:o, s:s, s:o, s:o, s:b, s:s, "
			"s:{s:o, s:o}, s:o, s:o}",
			"format", FORMAT_NAME, "version", (json_int_t)POLICY_FORMAT_VERSION, "name",
			p->name, "description", p->description, "key", key_object(p), "algorithms",
			algorithms(p, hex), "alg-list-hex", hex, "use-counter",
			optional(p->use_counter != 0, p->use_counter), "key-domain",
			optional(p->key_domain >= 0, p->key_domain), "exportable", p->exportable,
			"label", p->label_template, "allow", "users",
			principals(p->users, p->user_count, "uid"), "groups",
			principals(p->groups, p->group_count, "gid"), "max-keys",
			optional(p->max_keys != 0, p->max_keys), "devices", devices(p));
	/* only when set: a policy without car: keeps the document, and the
	 * digest, it had before the member existed */
	if (doc != NULL && p->car != NULL &&
	    json_object_set_new(doc, "car", json_string(p->car)) < 0) {
		json_decref(doc);
		doc = NULL;
	}
	return doc;
}

/* Append the canonical document of p to out. */
static int write_document(const policy *p, smk_buf *out, smk_err *e)
{
	char hex[2 * SMK_ALG_LIST_MAX + 1];
	json_t *doc = document(p, hex);
	int rc;

	if (doc == NULL)
		return smk_fail(e, SMK_E_NOMEM, "policy %s: cannot build the canonical document",
				p->name);
	rc = smk_json_canonical(doc, out, e);
	json_decref(doc);
	if (rc < 0)
		return smk_context(e, "policy %s", p->name);
	return 0;
}

int policy_canonicalize(policy *p, smk_err *e)
{
	smk_buf text = SMK_BUF_INIT;
	size_t len;

	if (write_document(p, &text, e) < 0)
		return -1;
	if (smk_buf_add_byte(&text, 0) < 0) {
		smk_buf_free(&text);
		return smk_fail(e, SMK_E_NOMEM, "policy %s: cannot encode the canonical document",
				p->name);
	}
	p->canonical = (char *)smk_buf_steal(&text, &len);
	p->canonical_len = len - 1;
	if (smk_sha256(p->canonical, p->canonical_len, p->digest, e) < 0)
		return smk_context(e, "policy %s", p->name);
	smk_hex_to(p->digest_hex, p->digest, sizeof(p->digest), SMK_HEX_LOWER);
	return 0;
}

int policy_archive_key_document(const char *name, smk_buf *out, smk_err *e)
{
	const smk_alg *alg = alg_by_name("ecdsa-sha256");
	const smk_curve *curve = curve_by_name("secp256r1");
	policy p = {0};

	if (alg == NULL || curve == NULL)
		return smk_fail(e, SMK_E_UNSUPPORTED,
				"archive key policy: no ecdsa-sha256 algorithm or secp256r1 curve");
	/* sign-only: the card hashes (0x73), so only whole messages are signed, one
	 * algorithm, no wrap (never exported), no key domain, no use counter, no
	 * one allowed (no client asks for the archive key), any device */
	p.name = (char *)name;
	p.description = "smkeyd archive signing key: ECDSA-SHA256 only, never exported";
	p.key_type = SMK_KEY_EC;
	p.curve = curve;
	p.algs[0] = alg;
	p.alg_list[0] = alg->id;
	p.alg_count = 1;
	p.key_domain = -1;
	p.label_template = "smkeyd-archive";
	return write_document(&p, out, e);
}
