/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * From a policy and a request to the exact GENERATE ASYMMETRIC KEY PAIR
 * parameters. This is the one place that decides what the card is told, so
 * the daemon calls it and the tests check its bytes.
 */
#include "internal.h"

#include <stdio.h>
#include <string.h>

#include "../common/buf.h"
#include "../sm/tlv.h"

/* ref §6.2: id-TA-ECDSA-SHA-256 and id-TA-RSA-v1-5-SHA-256 (0.4.0.127.0.7.2.2.2.2.3 / .1.2) */

int policy_label_char(char c)
{
	/* what PKCS#15 labels, file names and shells all take without quoting */
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '.' || c == '_' || c == '-';
}

int policy_label_template_scan(const char *tmpl, char *why, size_t why_len, size_t *off)
{
	const size_t ph_len = strlen(POLICY_LABEL_PLACEHOLDER);
	size_t literal = 0, placeholders = 0, i = 0;
	const char *close;

	*off = 0;
	if (tmpl[0] == '\0') {
		snprintf(why, why_len, "empty; write e.g. apk-%s", POLICY_LABEL_PLACEHOLDER);
		return -1;
	}
	while (tmpl[i]) {
		*off = i;
		if (strncmp(tmpl + i, POLICY_LABEL_PLACEHOLDER, ph_len) == 0) {
			if (placeholders++) {
				snprintf(why, why_len, "%s may appear only once",
					 POLICY_LABEL_PLACEHOLDER);
				return -1;
			}
			i += ph_len;
			continue;
		}
		if (tmpl[i] == '{') {
			close = strchr(tmpl + i, '}');
			if (close == NULL)
				snprintf(why, why_len,
					 "\"{\" is never closed; the placeholder is %s",
					 POLICY_LABEL_PLACEHOLDER);
			else
				snprintf(why, why_len,
					 "unknown placeholder \"%.*s\"; the only placeholder is %s",
					 (int)(close - (tmpl + i) + 1), tmpl + i,
					 POLICY_LABEL_PLACEHOLDER);
			return -1;
		}
		if (!policy_label_char(tmpl[i])) {
			unsigned char c = (unsigned char)tmpl[i];

			if (c == ' ')
				snprintf(why, why_len,
					 "a space would be in every label; labels use only "
					 "A-Z a-z 0-9 . _ -");
			else if (c > 0x20 && c < 0x7F)
				snprintf(why, why_len,
					 "character '%c' would be in every label; labels use only "
					 "A-Z a-z 0-9 . _ -",
					 c);
			else
				snprintf(why, why_len,
					 "byte 0x%02X would be in every label; labels use only "
					 "A-Z a-z 0-9 . _ -",
					 c);
			return -1;
		}
		literal++;
		i++;
	}
	/* the request label adds at least one character */
	if (literal + placeholders > POLICY_LABEL_MAX) {
		*off = 0;
		snprintf(why, why_len,
			 "%zu fixed characters%s leave no room; a label is at most %d characters",
			 literal, placeholders ? " plus the request label" : "", POLICY_LABEL_MAX);
		return -1;
	}
	return 0;
}

int policy_label_template_check(const char *tmpl, char *why, size_t why_len)
{
	size_t off;

	return policy_label_template_scan(tmpl, why, why_len, &off);
}

/* Expand the template with the client's label; refuse what cannot be a label. */
static int make_label(const policy *p, const char *req, char *out, smk_err *e)
{
	const char *ph = strstr(p->label_template, POLICY_LABEL_PLACEHOLDER);
	size_t i, prefix, total;

	if (ph == NULL) {
		if (req && req[0])
			return smk_fail(e, SMK_E_LABEL,
					"policy %s: the label is fixed (\"%s\"); the request must "
					"not give one",
					p->name, p->label_template);
		snprintf(out, POLICY_LABEL_MAX + 1, "%s", p->label_template);
		return 0;
	}
	if (req == NULL || req[0] == '\0')
		return smk_fail(e, SMK_E_LABEL,
				"policy %s: the request needs a label (template \"%s\")", p->name,
				p->label_template);
	for (i = 0; req[i] && i <= POLICY_LABEL_MAX; i++)
		if (!policy_label_char(req[i]))
			return smk_fail(e, SMK_E_LABEL,
					"policy %s: request label has a character other than "
					"A-Z a-z 0-9 . _ - at position %zu",
					p->name, i + 1);
	prefix = (size_t)(ph - p->label_template);
	total = strlen(p->label_template) - strlen(POLICY_LABEL_PLACEHOLDER) + i;
	if (req[i] != '\0' || total > POLICY_LABEL_MAX)
		return smk_fail(e, SMK_E_LABEL,
				"policy %s: the label would be longer than %d characters; the "
				"request label may have at most %zu",
				p->name, POLICY_LABEL_MAX,
				POLICY_LABEL_MAX -
				    (strlen(p->label_template) - strlen(POLICY_LABEL_PLACEHOLDER)));
	snprintf(out, POLICY_LABEL_MAX + 1, "%.*s%s%s", (int)prefix, p->label_template, req,
		 ph + strlen(POLICY_LABEL_PLACEHOLDER));
	return 0;
}

int policy_device_allowed(const policy *p, const char *chr, smk_err *e)
{
	size_t i, len;

	if (p->devices == NULL)
		return 0;
	if (chr == NULL)
		return smk_fail(e, SMK_E_POLICY,
				"policy %s: runs only on listed devices, and no device was named",
				p->name);
	len = strlen(chr);
	for (i = 0; i < p->device_count; i++) {
		const char *d = p->devices[i];

		if (strcmp(d, chr) == 0)
			return 0;
		/* ref §4.2: the serial is the DevAut CHR without its last 5 characters */
		if (len > 5 && strlen(d) == len - 5 && strncmp(d, chr, len - 5) == 0)
			return 0;
	}
	return smk_fail(e, SMK_E_POLICY, "policy %s: device %.32s is not in its devices list",
			p->name, chr);
}

int policy_gakp_params(const policy *p, const policy_request *req, policy_gakp *out, smk_err *e)
{
	smk_buf b = SMK_BUF_INIT;
	int rc = -1;

	memset(out, 0, sizeof(*out));
	if (p->max_keys && req->keys_made >= p->max_keys)
		return smk_fail(e, SMK_E_POLICY,
				"policy %s: max-keys %u reached (%llu keys made); no more keys "
				"under this policy",
				p->name, (unsigned)p->max_keys, (unsigned long long)req->keys_made);
	if (policy_device_allowed(p, req->devaut_chr, e) < 0)
		return -1;
	if (make_label(p, req->label, out->label, e) < 0)
		return -1;

	out->key_type = p->key_type;
	out->curve = p->curve;
	out->bits = p->bits;
	memcpy(out->alg_list, p->alg_list, p->alg_count);
	out->alg_list_len = p->alg_count;
	out->use_counter = p->use_counter;
	out->key_domain = p->key_domain;
	out->policy_name = p->name;
	memcpy(out->policy_digest, p->digest, sizeof(out->policy_digest));

	/* the GAKP key spec; the CHR is the caller's, committed to the intent */
	out->spec.type = p->key_type;
	out->spec.curve = p->curve;
	out->spec.rsa_bits = p->bits;
	out->spec.use_counter = p->use_counter;
	memcpy(out->spec.algs, p->alg_list, p->alg_count);
	out->spec.alg_count = p->alg_count;
	/* always a CAR: other firmware puts one of its own in the request when
	 * the GAKP has none, and the echo check would refuse that request */
	snprintf(out->spec.car, sizeof(out->spec.car), "%s", p->car ? p->car : POLICY_CAR_DEFAULT);
	out->spec.has_key_domain = p->key_domain >= 0;
	out->spec.key_domain = p->key_domain >= 0 ? (uint8_t)p->key_domain : 0;

	if (hsm_encode_key_template(&b, &out->spec, e) < 0) {
		smk_context(e, "policy %s", p->name);
		goto out;
	}
	if (b.len > sizeof(out->key_template)) {
		smk_fail(e, SMK_E_POLICY, "policy %s: key template of %zu bytes is too large",
			 p->name, b.len);
		goto out;
	}
	memcpy(out->key_template, b.data, b.len);
	out->key_template_len = b.len;

	smk_buf_reset(&b);
	if (hsm_encode_key_meta(&b, &out->spec, e) < 0)
		goto out;
	/* cannot exceed: 6 + 2 + 16 + 3 bytes */
	memcpy(out->meta, b.data, b.len);
	out->meta_len = b.len;
	rc = 0;
out:
	smk_buf_free(&b);
	return rc;
}
