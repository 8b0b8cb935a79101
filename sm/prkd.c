/* SPDX-License-Identifier: BSD-3-Clause */
#include "prkd.h"

#include <openssl/evp.h>
#include <string.h>

#include "tlv.h"

/* Outer tags of the PrivateKeyObject CHOICE (OpenSC c_asn1_prkey): RSA is
 * a plain SEQUENCE, EC is [0], secret keys on this card use A8 (ref §2.6). */
#define TAG_RSA 0x30
#define TAG_EC 0xA0
#define TAG_AES 0xA8

unsigned prkd_usage(enum smk_keytype type, const uint8_t *algs, size_t alg_count)
{
	unsigned u = 0;

	if (alg_count == 0) {
		if (type == SMK_KEY_EC)
			return PRKD_USAGE_SIGN | PRKD_USAGE_DERIVE;
		if (type == SMK_KEY_RSA)
			return PRKD_USAGE_DECRYPT | PRKD_USAGE_SIGN | PRKD_USAGE_SIGN_RECOVER |
			       PRKD_USAGE_UNWRAP;
		return 0;
	}
	for (size_t i = 0; i < alg_count; i++) {
		uint8_t a = algs[i];

		/* ref §6.6 algorithm ids */
		if (type == SMK_KEY_EC) {
			if (a >= 0x70 && a <= 0x75)
				u |= PRKD_USAGE_SIGN;
			/* only plain ECDH (80) is what a PKCS#11 derive sends; 83/84
			 * are card-internal key-domain variants */
			else if (a == 0x80)
				u |= PRKD_USAGE_DERIVE;
		} else if (type == SMK_KEY_RSA) {
			if (a == 0x20)
				u |= PRKD_USAGE_SIGN | PRKD_USAGE_SIGN_RECOVER;
			else if ((a >= 0x30 && a <= 0x35) || (a >= 0x40 && a <= 0x45))
				u |= PRKD_USAGE_SIGN;
			else if (a >= 0x21 && a <= 0x23)
				u |= PRKD_USAGE_DECRYPT | PRKD_USAGE_UNWRAP;
		}
	}
	return u;
}

/* Labels are printed by the daemon and by pkcs11-tool: valid UTF-8, no C0
 * controls, no DEL, no NUL. */
static int check_label(const uint8_t *s, size_t n, enum smk_errc code, smk_err *e)
{
	size_t i = 0;

	if (n > PRKD_LABEL_MAX)
		return smk_fail(e, code, "PrKD: label of %zu bytes (at most %d)", n,
				PRKD_LABEL_MAX);
	while (i < n) {
		uint8_t c = s[i];
		size_t more;
		uint32_t cp;

		if (c < 0x80) {
			if (c < 0x20 || c == 0x7F)
				return smk_fail(e, code, "PrKD: label has control byte %02X at %zu",
						c, i + 1);
			i++;
			continue;
		}
		if (c >= 0xC2 && c <= 0xDF) {
			more = 1;
			cp = c & 0x1F;
		} else if (c >= 0xE0 && c <= 0xEF) {
			more = 2;
			cp = c & 0x0F;
		} else if (c >= 0xF0 && c <= 0xF4) {
			more = 3;
			cp = c & 0x07;
		} else {
			return smk_fail(e, code, "PrKD: label is not UTF-8 at byte %zu", i + 1);
		}
		if (n - i - 1 < more)
			return smk_fail(e, code, "PrKD: label ends inside a UTF-8 sequence");
		for (size_t k = 1; k <= more; k++) {
			if ((s[i + k] & 0xC0) != 0x80)
				return smk_fail(e, code, "PrKD: label is not UTF-8 at byte %zu",
						i + k + 1);
			cp = cp << 6 | (s[i + k] & 0x3F);
		}
		/* overlong forms, surrogates, beyond U+10FFFF */
		if ((more == 2 && cp < 0x800) || (more == 3 && cp < 0x10000) ||
		    (cp >= 0xD800 && cp <= 0xDFFF) || cp > 0x10FFFF)
			return smk_fail(e, code, "PrKD: label is not UTF-8 at byte %zu", i + 1);
		i += more + 1;
	}
	return 0;
}

/* DER BIT STRING content for KeyUsageFlags: bit i is the i-th bit from the
 * most significant bit of the first byte; trailing zero bits are dropped
 * (X.690 11.2.2), so sign + derive is 07 20 80. */
static int put_bits(smk_buf *b, unsigned bits)
{
	uint8_t v[1 + sizeof(unsigned)] = {0};
	int high = -1;

	for (int i = 0; i < (int)(8 * sizeof(unsigned)); i++)
		if (bits & (1u << i))
			high = i;
	if (high < 0)
		return tlv_put(b, 0x03, v, 1);
	v[0] = (uint8_t)(7 - high % 8);
	for (int i = 0; i <= high; i++)
		if (bits & (1u << i))
			v[1 + i / 8] |= (uint8_t)(0x80 >> (i % 8));
	return tlv_put(b, 0x03, v, 2 + (size_t)high / 8);
}

/* DER INTEGER for a non-negative value */
static int put_uint(smk_buf *b, unsigned v)
{
	uint8_t be[1 + sizeof(unsigned)];
	size_t n = 0, start;

	be[n++] = 0;
	for (int i = (int)sizeof(unsigned) - 1; i >= 0; i--)
		be[n++] = (uint8_t)(v >> (8 * i));
	start = 0;
	while (start + 1 < n && be[start] == 0 && !(be[start + 1] & 0x80))
		start++;
	return tlv_put(b, 0x02, be + start, n - start);
}

int prkd_encode(smk_buf *out, const prkd_key *k, smk_err *e)
{
	static const uint8_t empty_path[] = {0x04, 0x00};
	size_t label_len = k->label ? strlen(k->label) : 0;
	size_t outer, coa, cka, type_attr, key_attr, start = out->len;
	int r = 0;

	if (k->type != SMK_KEY_EC && k->type != SMK_KEY_RSA)
		return smk_fail(e, SMK_E_UNSUPPORTED, "PrKD: key type %s has no description here",
				keytype_name(k->type));
	if (k->id == NULL || k->id_len == 0 || k->id_len > PRKD_ID_MAX)
		return smk_fail(e, SMK_E_ARG, "PrKD: key iD of %zu bytes (must be 1 to %d)",
				k->id ? k->id_len : 0, PRKD_ID_MAX);
	if (k->key_bits == 0 || k->key_bits > 16384)
		return smk_fail(e, SMK_E_ARG, "PrKD: key size of %u bits", k->key_bits);
	if (check_label((const uint8_t *)k->label, label_len, SMK_E_ARG, e) < 0)
		return -1;

	r |= tlv_begin(out, k->type == SMK_KEY_EC ? TAG_EC : TAG_RSA, &outer);
	r |= tlv_begin(out, 0x30, &coa);
	if (label_len)
		r |= tlv_put(out, 0x0C, k->label, label_len);
	r |= tlv_end(out, coa);
	r |= tlv_begin(out, 0x30, &cka);
	r |= tlv_put(out, 0x04, k->id, k->id_len);
	r |= put_bits(out, prkd_usage(k->type, k->algs, k->alg_count));
	r |= tlv_end(out, cka);
	/* [1] typeAttributes: SEQUENCE { path, modulusLength / fieldSize } */
	r |= tlv_begin(out, 0xA1, &type_attr);
	r |= tlv_begin(out, 0x30, &key_attr);
	r |= tlv_put(out, 0x30, empty_path, sizeof(empty_path));
	r |= put_uint(out, k->key_bits);
	r |= tlv_end(out, key_attr);
	r |= tlv_end(out, type_attr);
	r |= tlv_end(out, outer);
	if (r < 0) {
		out->len = start;
		return smk_fail(e, SMK_E_NOMEM, "PrKD: out of memory");
	}
	return 0;
}

static int get_bits(const tlv *t, unsigned *bits, smk_err *e)
{
	unsigned unused;
	size_t nbytes;

	if (t->len == 0)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: empty usage BIT STRING");
	unused = t->value[0];
	nbytes = t->len - 1;
	if (unused > 7 || (nbytes == 0 && unused != 0))
		return smk_fail(e, SMK_E_FORMAT, "PrKD: usage BIT STRING with %u unused bits",
				unused);
	if (nbytes > sizeof(unsigned))
		return smk_fail(e, SMK_E_FORMAT, "PrKD: usage BIT STRING of %zu bytes", nbytes);
	if (nbytes && (t->value[nbytes] & ((1u << unused) - 1)))
		return smk_fail(e, SMK_E_FORMAT,
				"PrKD: usage BIT STRING has bits set in its padding");
	*bits = 0;
	for (size_t i = 0; i < nbytes * 8; i++)
		if (t->value[1 + i / 8] & (0x80 >> (i % 8)))
			*bits |= 1u << i;
	return 0;
}

static int get_uint(const tlv *t, const char *what, unsigned *v, smk_err *e)
{
	size_t n = t->len;
	const uint8_t *p = t->value;

	if (t->tag != 0x02 || n == 0)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: %s is not an INTEGER", what);
	if (p[0] & 0x80)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: %s is negative", what);
	while (n > 1 && p[0] == 0) {
		p++;
		n--;
	}
	if (n > 2)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: %s is too large", what);
	*v = n == 1 ? p[0] : (unsigned)p[0] << 8 | p[1];
	return 0;
}

static int parse_common_object(const tlv *t, prkd_info *out, smk_err *e)
{
	tlv label;
	int r;

	if (t->tag != 0x30)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: CommonObjectAttributes missing");
	/* the label is the only attribute we read; flags, authId, ... are skipped */
	r = tlv_find(t->value, t->len, 0x0C, &label, e);
	if (r < 0)
		return smk_context(e, "PrKD: CommonObjectAttributes");
	if (r == 1) {
		if (check_label(label.value, label.len, SMK_E_FORMAT, e) < 0)
			return -1;
		memcpy(out->label, label.value, label.len);
		out->label[label.len] = '\0';
	}
	return 0;
}

static int parse_common_key(const tlv *t, prkd_info *out, smk_err *e)
{
	tlv_iter it;
	tlv id, usage, other;
	int r;

	if (t->tag != 0x30)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: CommonKeyAttributes missing");
	tlv_iter_init(&it, t->value, t->len);
	r = tlv_next(&it, &id, e);
	if (r < 0)
		return smk_context(e, "PrKD: CommonKeyAttributes");
	if (r == 0 || id.tag != 0x04)
		return smk_fail(e, SMK_E_FORMAT,
				"PrKD: CommonKeyAttributes do not start with the iD");
	if (id.len == 0 || id.len > PRKD_ID_MAX)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: iD of %zu bytes", id.len);
	r = tlv_next(&it, &usage, e);
	if (r < 0)
		return smk_context(e, "PrKD: CommonKeyAttributes");
	if (r == 0 || usage.tag != 0x03)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: usage flags missing after the iD");
	if (get_bits(&usage, &out->usage, e) < 0)
		return -1;
	/* native, accessFlags, keyReference, algReference may follow */
	while ((r = tlv_next(&it, &other, e)) == 1)
		;
	if (r < 0)
		return smk_context(e, "PrKD: CommonKeyAttributes");
	memcpy(out->id, id.value, id.len);
	out->id_len = id.len;
	return 0;
}

static int parse_type_attributes(const tlv *t, prkd_info *out, smk_err *e)
{
	tlv attrs, value, size, rest;
	tlv_iter it;
	int r;

	if (tlv_parse_exact(t->value, t->len, 0x30, &attrs, e) < 0)
		return smk_context(e, "PrKD: key attributes");
	tlv_iter_init(&it, attrs.value, attrs.len);
	/* value: a path (30) or another ObjectValue choice; not used on this card */
	if (tlv_next(&it, &value, e) != 1)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: key attributes lack the value");
	r = tlv_next(&it, &size, e);
	if (r < 0)
		return smk_context(e, "PrKD: key attributes");
	if (r == 0) {
		/* OpenSC treats fieldSize as optional; modulusLength is not */
		if (out->type == SMK_KEY_RSA)
			return smk_fail(e, SMK_E_FORMAT, "PrKD: RSA key without modulus length");
		return 0;
	}
	if (get_uint(&size, out->type == SMK_KEY_RSA ? "modulus length" : "field size",
		     &out->key_bits, e) < 0)
		return -1;
	/* keyInfo (an INTEGER reference) may follow, nothing else */
	r = tlv_next(&it, &rest, e);
	if (r == 1 && (rest.tag != 0x02 || tlv_next(&it, &rest, e) != 0))
		return smk_fail(e, SMK_E_FORMAT, "PrKD: unexpected data in the key attributes");
	if (r < 0)
		return smk_context(e, "PrKD: key attributes");
	return 0;
}

int prkd_parse(const uint8_t *p, size_t n, prkd_info *out, smk_err *e)
{
	tlv obj, t;
	tlv_iter it;
	int r;

	memset(out, 0, sizeof(*out));
	if (tlv_parse(p, n, &obj, e) < 0)
		return smk_context(e, "PrKD");
	if (obj.tag == TAG_EC)
		out->type = SMK_KEY_EC;
	else if (obj.tag == TAG_RSA)
		out->type = SMK_KEY_RSA;
	else if (obj.tag == TAG_AES)
		return smk_fail(e, SMK_E_UNSUPPORTED, "PrKD: a secret-key description (A8)");
	else
		return smk_fail(e, SMK_E_FORMAT, "PrKD: tag %X is not a private-key object",
				obj.tag);
	if (obj.raw_len != n)
		return smk_fail(e, SMK_E_FORMAT, "PrKD: %zu bytes after the description",
				n - obj.raw_len);

	tlv_iter_init(&it, obj.value, obj.len);
	r = tlv_next(&it, &t, e);
	if (r < 0)
		return smk_context(e, "PrKD");
	if (r == 0 || parse_common_object(&t, out, e) < 0)
		return r == 0 ? smk_fail(e, SMK_E_FORMAT, "PrKD: empty description") : -1;
	r = tlv_next(&it, &t, e);
	if (r < 0)
		return smk_context(e, "PrKD");
	if (r == 0 || parse_common_key(&t, out, e) < 0)
		return r == 0 ? smk_fail(e, SMK_E_FORMAT, "PrKD: CommonKeyAttributes missing") : -1;
	r = tlv_next(&it, &t, e);
	/* [0] CommonPrivateKeyAttributes (subjectName, ...) is optional */
	if (r == 1 && t.tag == 0xA0)
		r = tlv_next(&it, &t, e);
	if (r != 1 || t.tag != 0xA1)
		return r < 0 ? smk_context(e, "PrKD")
			     : smk_fail(e, SMK_E_FORMAT, "PrKD: key attributes ([1]) missing");
	if (parse_type_attributes(&t, out, e) < 0)
		return -1;
	r = tlv_next(&it, &t, e);
	if (r != 0)
		return r < 0 ? smk_context(e, "PrKD")
			     : smk_fail(e, SMK_E_FORMAT, "PrKD: tag %X after the key attributes",
					t.tag);
	return 0;
}

int prkd_sha1_id(enum smk_keytype type, const uint8_t *pub, size_t len,
		 uint8_t id[PRKD_SHA1_ID_LEN], smk_err *e)
{
	unsigned int dlen = 0;

	if (pub == NULL || len == 0)
		return smk_fail(e, SMK_E_ARG, "PrKD iD: no public key");
	if (type == SMK_KEY_RSA) {
		while (len > 1 && pub[0] == 0) {
			pub++;
			len--;
		}
	} else if (type == SMK_KEY_EC) {
		if (len < 3 || len % 2 == 0 || pub[0] != 0x04)
			return smk_fail(e, SMK_E_ARG, "PrKD iD: EC public key is not 04||x||y");
		len = (len - 1) / 2;
		pub++;
	} else {
		return smk_fail(e, SMK_E_ARG, "PrKD iD: key type %s", keytype_name(type));
	}
	if (!EVP_Digest(pub, len, id, &dlen, EVP_sha1(), NULL) || dlen != PRKD_SHA1_ID_LEN)
		return smk_fail(e, SMK_E_CRYPTO, "PrKD iD: SHA-1 failed");
	return 0;
}
