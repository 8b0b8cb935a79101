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
static const uint8_t oid_ta_ecdsa_sha256[] = {0x04, 0x00, 0x7F, 0x00, 0x07,
					      0x02, 0x02, 0x02, 0x02, 0x03};
static const uint8_t oid_ta_rsa_v15_sha256[] = {0x04, 0x00, 0x7F, 0x00, 0x07,
						0x02, 0x02, 0x02, 0x01, 0x02};
static const uint8_t rsa_exponent[] = {0x01, 0x00, 0x01};

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
			return smk_fail(e, SMK_E_POLICY,
					"policy %s: the label is fixed (\"%s\"); the request must "
					"not give one",
					p->name, p->label_template);
		snprintf(out, POLICY_LABEL_MAX + 1, "%s", p->label_template);
		return 0;
	}
	if (req == NULL || req[0] == '\0')
		return smk_fail(e, SMK_E_POLICY,
				"policy %s: the request needs a label (template \"%s\")", p->name,
				p->label_template);
	for (i = 0; req[i] && i <= POLICY_LABEL_MAX; i++)
		if (!policy_label_char(req[i]))
			return smk_fail(e, SMK_E_POLICY,
					"policy %s: request label has a character other than "
					"A-Z a-z 0-9 . _ - at position %zu",
					p->name, i + 1);
	prefix = (size_t)(ph - p->label_template);
	total = strlen(p->label_template) - strlen(POLICY_LABEL_PLACEHOLDER) + i;
	if (req[i] != '\0' || total > POLICY_LABEL_MAX)
		return smk_fail(e, SMK_E_POLICY,
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

static int key_template(const policy *p, smk_buf *b, smk_err *e)
{
	smk_curve_params cp;
	uint8_t size[2];
	size_t mark;
	int rc = 0;

	if (tlv_begin(b, 0x7F49, &mark) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	if (p->key_type == SMK_KEY_EC) {
		if (curve_params(p->curve, &cp, e) < 0)
			return smk_context(e, "policy %s", p->name);
		/* ref §6.2: EC template, every component full length, 86 omitted */
		rc |= tlv_put(b, 0x06, oid_ta_ecdsa_sha256, sizeof(oid_ta_ecdsa_sha256));
		rc |= tlv_put(b, 0x81, cp.p, cp.field_len);
		rc |= tlv_put(b, 0x82, cp.a, cp.field_len);
		rc |= tlv_put(b, 0x83, cp.b, cp.field_len);
		rc |= tlv_put(b, 0x84, cp.g, cp.g_len);
		rc |= tlv_put(b, 0x85, cp.r, cp.order_len);
		rc |= tlv_put(b, 0x87, &cp.cofactor, 1);
	} else {
		/* ref §6.2: RSA template, exponent 65537 and the modulus size in bits */
		size[0] = (uint8_t)(p->bits >> 8);
		size[1] = (uint8_t)p->bits;
		rc |= tlv_put(b, 0x06, oid_ta_rsa_v15_sha256, sizeof(oid_ta_rsa_v15_sha256));
		rc |= tlv_put(b, 0x82, rsa_exponent, sizeof(rsa_exponent));
		rc |= tlv_put(b, 0x02, size, sizeof(size));
	}
	if (rc != 0 || tlv_end(b, mark) < 0)
		return smk_fail(e, SMK_E_NOMEM, "out of memory");
	return 0;
}

/* ref §6.2: 90 use counter (4 bytes), 91 algorithm list, 92 key domain (1 byte) */
static int meta_dos(const policy_gakp *g, smk_buf *b)
{
	uint8_t counter[4], domain;
	int rc = 0;

	if (g->use_counter) {
		counter[0] = (uint8_t)(g->use_counter >> 24);
		counter[1] = (uint8_t)(g->use_counter >> 16);
		counter[2] = (uint8_t)(g->use_counter >> 8);
		counter[3] = (uint8_t)g->use_counter;
		rc |= tlv_put(b, 0x90, counter, sizeof(counter));
	}
	rc |= tlv_put(b, 0x91, g->alg_list, g->alg_list_len);
	if (g->key_domain >= 0) {
		domain = (uint8_t)g->key_domain;
		rc |= tlv_put(b, 0x92, &domain, 1);
	}
	return rc;
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

	if (key_template(p, &b, e) < 0)
		goto out;
	if (b.len > sizeof(out->key_template)) {
		smk_fail(e, SMK_E_POLICY, "policy %s: key template of %zu bytes is too large",
			 p->name, b.len);
		goto out;
	}
	memcpy(out->key_template, b.data, b.len);
	out->key_template_len = b.len;

	smk_buf_reset(&b);
	if (meta_dos(out, &b) != 0) {
		smk_fail(e, SMK_E_NOMEM, "out of memory");
		goto out;
	}
	/* cannot exceed: 6 + 2 + 16 + 3 bytes */
	memcpy(out->meta, b.data, b.len);
	out->meta_len = b.len;
	rc = 0;
out:
	smk_buf_free(&b);
	return rc;
}
