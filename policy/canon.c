/*
 * The canonical policy document: the effective policy after validation, with
 * defaults filled in, names resolved to ids and algorithm names turned into
 * the bytes the card gets. JSON with sorted keys and no white space, so two
 * files that mean the same thing give the same bytes and the same SHA-256.
 * docs/policy.md describes every field; the archive stores document and digest.
 */
#include "internal.h"

#include <jansson.h>
#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

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
	static const char digits[] = "0123456789abcdef";
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
		hex[2 * i] = digits[p->alg_list[i] >> 4];
		hex[2 * i + 1] = digits[p->alg_list[i] & 15];
	}
	hex[2 * p->alg_count] = '\0';
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

int policy_canonicalize(policy *p, smk_err *e)
{
	char hex[2 * SMK_ALG_LIST_MAX + 1];
	static const char digits[] = "0123456789abcdef";
	unsigned int dlen = 0;
	json_t *doc;
	char *text;
	size_t i;

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
	if (doc == NULL)
		return smk_fail(e, SMK_E_NOMEM, "policy %s: cannot build the canonical document",
				p->name);
	text = json_dumps(doc, JSON_SORT_KEYS | JSON_COMPACT);
	json_decref(doc);
	if (text == NULL)
		return smk_fail(e, SMK_E_NOMEM, "policy %s: cannot encode the canonical document",
				p->name);
	p->canonical = text;
	p->canonical_len = strlen(text);
	if (!EVP_Digest(text, p->canonical_len, p->digest, &dlen, EVP_sha256(), NULL) ||
	    dlen != sizeof(p->digest))
		return smk_fail(e, SMK_E_CRYPTO, "policy %s: SHA-256 failed", p->name);
	for (i = 0; i < sizeof(p->digest); i++) {
		p->digest_hex[2 * i] = digits[p->digest[i] >> 4];
		p->digest_hex[2 * i + 1] = digits[p->digest[i] & 15];
	}
	p->digest_hex[64] = '\0';
	return 0;
}
