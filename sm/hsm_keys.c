/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The key commands of the SmartCard-HSM (ref §6, §7.7, §7.8): GENERATE
 * ASYMMETRIC KEY PAIR with its card-side parser, SIGN with the DER <-> plain
 * ECDSA conversion, DECIPHER and ECDH. File, PIN and device commands are in
 * hsm.c; both share hsm.h.
 */
#include "hsm.h"

#include <string.h>

#include "tlv.h"

const uint8_t hsm_oid_ecdsa_sha256[HSM_OID_LEN] = {0x04, 0x00, 0x7F, 0x00, 0x07,
						   0x02, 0x02, 0x02, 0x02, 0x03};
const uint8_t hsm_oid_rsa_v15_sha256[HSM_OID_LEN] = {0x04, 0x00, 0x7F, 0x00, 0x07,
						     0x02, 0x02, 0x02, 0x01, 0x02};

static int nomem(smk_err *e, const char *what)
{
	return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", what);
}

/* ---- GAKP ---- */

/* id-TA arc: 0.4.0.127.0.7.2.2.2, then 1 RSA or 2 ECDSA, then the hash (ref §3.5) */
static const uint8_t ta_prefix[8] = {0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02};

static bool oid_is_zero(const uint8_t *oid)
{
	for (size_t i = 0; i < HSM_OID_LEN; i++)
		if (oid[i])
			return false;
	return true;
}

/* Does oid name a TA signature algorithm for keys of this type? */
static bool oid_fits(const uint8_t *oid, size_t len, enum smk_keytype type)
{
	if (len != HSM_OID_LEN || memcmp(oid, ta_prefix, sizeof(ta_prefix)) != 0)
		return false;
	if (type == SMK_KEY_EC)
		return oid[8] == 0x02 && oid[9] >= 1 && oid[9] <= 5;
	if (type == SMK_KEY_RSA)
		return oid[8] == 0x01 && oid[9] >= 1 && oid[9] <= 6;
	return false;
}

static bool rsa_bits_known(unsigned bits, bool *legacy)
{
	*legacy = bits == 1024 || bits == 1536;
	return *legacy || bits == 2048 || bits == 3072 || bits == 4096;
}

/* CAR / CHR: 1..16 printable ASCII characters (ref §3.6) */
static int check_ref(const char *name, const char *s, smk_err *e)
{
	size_t n = strnlen(s, HSM_REF_MAX + 1);

	if (n == 0)
		return smk_fail(e, SMK_E_ARG, "GAKP: %s is empty", name);
	if (n > HSM_REF_MAX)
		return smk_fail(e, SMK_E_ARG, "GAKP: %s is longer than %d characters", name,
				HSM_REF_MAX);
	for (size_t i = 0; i < n; i++)
		if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7E)
			return smk_fail(e, SMK_E_ARG,
					"GAKP: %s has a non-printable character at position %zu",
					name, i + 1);
	return 0;
}

/* The tag-91 list (ref §6.2, §6.5): what the card will enforce, so every
 * entry must be known and fit the key. `where` and `code` say whether a
 * caller (builder) or the wire (parser) got it wrong. */
static int check_alg_list(const uint8_t *algs, size_t n, enum smk_keytype type, const char *where,
			  enum smk_errc code, smk_err *e)
{
	if (n == 0 || n > SMK_ALG_LIST_MAX)
		return smk_fail(e, code, "%s: algorithm list of %zu entries (must be 1 to %d)",
				where, n, SMK_ALG_LIST_MAX);
	for (size_t i = 0; i < n; i++) {
		const smk_alg *alg = alg_by_id(algs[i]);

		if (alg == NULL)
			return smk_fail(e, code, "%s: unknown algorithm id %02X in the list", where,
					algs[i]);
		if (!(alg->keytypes & type))
			return smk_fail(e, code, "%s: algorithm %s (%02X) is not for %s keys",
					where, alg->name, algs[i], keytype_name(type));
		for (size_t j = 0; j < i; j++)
			if (algs[j] == algs[i])
				return smk_fail(e, code, "%s: algorithm %s listed twice", where,
						alg->name);
	}
	return 0;
}

static int check_keyspec(const hsm_keyspec *k, smk_err *e)
{
	bool legacy;

	if (k->type == SMK_KEY_EC) {
		if (k->curve == NULL)
			return smk_fail(e, SMK_E_ARG, "GAKP: EC key without a curve");
	} else if (k->type == SMK_KEY_RSA) {
		if (!rsa_bits_known(k->rsa_bits, &legacy))
			return smk_fail(e, SMK_E_UNSUPPORTED,
					"GAKP: RSA-%u is not a supported size (2048, 3072, 4096)",
					k->rsa_bits);
		if (legacy && !k->rsa_legacy_ok)
			return smk_fail(
			    e, SMK_E_ARG,
			    "GAKP: RSA-%u is a legacy size; it must be asked for explicitly",
			    k->rsa_bits);
	} else {
		return smk_fail(e, SMK_E_UNSUPPORTED, "GAKP: key type %s cannot be generated here",
				keytype_name(k->type));
	}
	if (!oid_is_zero(k->oid) && !oid_fits(k->oid, HSM_OID_LEN, k->type))
		return smk_fail(e, SMK_E_ARG, "GAKP: algorithm OID is not an id-TA-%s OID",
				k->type == SMK_KEY_EC ? "ECDSA" : "RSA");
	if (check_ref("CHR", k->chr, e) < 0)
		return -1;
	if (k->car[0] && check_ref("CAR", k->car, e) < 0)
		return -1;
	if (k->outer_car[0] && check_ref("outer CAR", k->outer_car, e) < 0)
		return -1;
	if (k->alg_count &&
	    check_alg_list(k->algs, k->alg_count, k->type, "GAKP", SMK_E_ARG, e) < 0)
		return -1;
	return 0;
}

int hsm_encode_key_template(smk_buf *out, const hsm_keyspec *k, smk_err *e)
{
	const uint8_t *oid = k->oid;
	size_t mark;
	int r = 0;

	if (oid_is_zero(oid))
		oid = k->type == SMK_KEY_EC ? hsm_oid_ecdsa_sha256 : hsm_oid_rsa_v15_sha256;
	r |= tlv_begin(out, 0x7F49, &mark);
	r |= tlv_put(out, 0x06, oid, HSM_OID_LEN);
	if (k->type == SMK_KEY_EC) {
		smk_curve_params cp;

		if (curve_params(k->curve, &cp, e) < 0)
			return smk_context(e, "GAKP");
		/* ref §6.2: every component at full field length, no 86 */
		r |= tlv_put(out, 0x81, cp.p, cp.field_len);
		r |= tlv_put(out, 0x82, cp.a, cp.field_len);
		r |= tlv_put(out, 0x83, cp.b, cp.field_len);
		r |= tlv_put(out, 0x84, cp.g, cp.g_len);
		r |= tlv_put(out, 0x85, cp.r, cp.order_len);
		r |= tlv_put(out, 0x87, &cp.cofactor, 1);
	} else {
		static const uint8_t e65537[3] = {0x01, 0x00, 0x01};
		uint8_t bits[2] = {(uint8_t)(k->rsa_bits >> 8), (uint8_t)k->rsa_bits};

		r |= tlv_put(out, 0x82, e65537, sizeof(e65537));
		r |= tlv_put(out, 0x02, bits, 2);
	}
	r |= tlv_end(out, mark);
	if (r < 0)
		return nomem(e, "GAKP");
	return 0;
}

int hsm_encode_gakp_data(smk_buf *out, const hsm_keyspec *k, smk_err *e)
{
	static const uint8_t cpi = 0x00;
	int r = 0;

	if (check_keyspec(k, e) < 0)
		return -1;
	/* ref §6.2: the content of a CV request body, then the metadata DOs */
	r |= tlv_put(out, 0x5F29, &cpi, 1);
	if (k->car[0])
		r |= tlv_put(out, 0x42, k->car, strlen(k->car));
	if (r < 0)
		return nomem(e, "GAKP");
	if (hsm_encode_key_template(out, k, e) < 0)
		return -1;
	r |= tlv_put(out, 0x5F20, k->chr, strlen(k->chr));
	if (k->outer_car[0])
		r |= tlv_put(out, 0x45, k->outer_car, strlen(k->outer_car));
	if (r < 0)
		return nomem(e, "GAKP");
	return hsm_encode_key_meta(out, k, e);
}

int hsm_encode_key_meta(smk_buf *out, const hsm_keyspec *k, smk_err *e)
{
	int r = 0;

	/* ref §6.2: 90 use counter (4 bytes), 91 algorithm list, 92 key domain */
	if (k->use_counter) {
		uint8_t c[4] = {(uint8_t)(k->use_counter >> 24), (uint8_t)(k->use_counter >> 16),
				(uint8_t)(k->use_counter >> 8), (uint8_t)k->use_counter};

		r |= tlv_put(out, 0x90, c, 4);
	}
	if (k->alg_count)
		r |= tlv_put(out, 0x91, k->algs, k->alg_count);
	if (k->has_key_domain)
		r |= tlv_put(out, 0x92, &k->key_domain, 1);
	if (r < 0)
		return nomem(e, "GAKP");
	return 0;
}

int hsm_build_gakp(apdu *a, smk_buf *data, uint8_t key_id, uint8_t signer_id, const hsm_keyspec *k,
		   bool extended_le, smk_err *e)
{
	if (key_id == 0)
		return smk_fail(e, SMK_E_ARG, "GAKP: key id 0 is the device key");
	smk_buf_reset(data);
	if (hsm_encode_gakp_data(data, k, e) < 0)
		return -1;
	if (!extended_le && data->len > APDU_SHORT_MAX_LC)
		return smk_fail(e, SMK_E_ARG,
				"GAKP: %zu bytes of command data need extended length "
				"(leaving out the CAR saves %zu)",
				data->len, k->car[0] ? strlen(k->car) + 2 : (size_t)0);
	/* ref §6.1: ISO CLA; Le 0000 returns the request, no Le leaves it in CE|id */
	*a = (apdu){.cla = 0x00,
		    .ins = 0x46,
		    .p1 = key_id,
		    .p2 = signer_id,
		    .data = data->data,
		    .lc = data->len,
		    .ne = extended_le ? APDU_EXT_MAX_NE : 0,
		    .extended = extended_le};
	return 0;
}

/* A GAKP data field that has exactly one size. */
static int fixed_len(const tlv *t, size_t n, const char *name, smk_err *e)
{
	if (t->len != n)
		return smk_fail(e, SMK_E_FORMAT, "GAKP data: %s of %zu bytes (must be %zu)", name,
				t->len, n);
	return 0;
}

/* A CAR/CHR from the wire into a NUL-terminated field. */
static int take_ref(const tlv *t, const char *name, char out[HSM_REF_MAX + 1], smk_err *e)
{
	if (t->len == 0 || t->len > HSM_REF_MAX)
		return smk_fail(e, SMK_E_FORMAT,
				"GAKP data: %s of %zu characters (must be 1 to %d)", name, t->len,
				HSM_REF_MAX);
	for (size_t i = 0; i < t->len; i++)
		if (t->value[i] < 0x20 || t->value[i] > 0x7E)
			return smk_fail(e, SMK_E_FORMAT,
					"GAKP data: %s has a non-printable byte %02X", name,
					t->value[i]);
	memcpy(out, t->value, t->len);
	out[t->len] = '\0';
	return 0;
}

static int parse_ec_template(tlv_iter *it, hsm_keyspec *k, smk_err *e)
{
	tlv c[7]; /* 81..87 by tag - 0x81; 86 is refused */
	bool have[7] = {false};
	smk_curve_params cp;
	tlv t;
	int r;

	while ((r = tlv_next(it, &t, e)) == 1) {
		if (t.tag < 0x81 || t.tag > 0x87 || t.tag == 0x86)
			return smk_fail(e, SMK_E_FORMAT,
					"GAKP data: tag %X does not belong in an EC key template",
					t.tag);
		if (have[t.tag - 0x81])
			return smk_fail(e, SMK_E_FORMAT, "GAKP data: tag %X twice", t.tag);
		have[t.tag - 0x81] = true;
		c[t.tag - 0x81] = t;
	}
	if (r < 0)
		return -1;
	for (int i = 0; i < 7; i++)
		if (i != 5 && !have[i])
			return smk_fail(e, SMK_E_FORMAT,
					"GAKP data: EC domain parameter %X missing", 0x81 + i);
	k->curve = curve_match(c[0].value, c[0].len, c[1].value, c[1].len, c[2].value, c[2].len,
			       c[3].value, c[3].len, c[4].value, c[4].len, e);
	if (k->curve == NULL || curve_params(k->curve, &cp, e) < 0)
		return smk_context(e, "GAKP data");
	/* ref §6.2: full field length, as every client sends it */
	if (c[0].len != cp.field_len || c[1].len != cp.field_len || c[2].len != cp.field_len ||
	    c[4].len != cp.order_len)
		return smk_fail(e, SMK_E_FORMAT,
				"GAKP data: %s parameters not at full field length",
				k->curve->name);
	if (c[6].len != 1 || c[6].value[0] != cp.cofactor)
		return smk_fail(e, SMK_E_FORMAT, "GAKP data: cofactor does not match %s",
				k->curve->name);
	return 0;
}

static int parse_rsa_template(tlv_iter *it, hsm_keyspec *k, smk_err *e)
{
	bool have_e = false, have_bits = false;
	unsigned bits = 0;
	tlv t;
	int r;

	while ((r = tlv_next(it, &t, e)) == 1) {
		if (t.tag == 0x82 && !have_e) {
			size_t i = 0;

			while (i < t.len && t.value[i] == 0)
				i++;
			if (t.len - i != 3 || memcmp(t.value + i, "\x01\x00\x01", 3) != 0)
				return smk_fail(e, SMK_E_UNSUPPORTED,
						"GAKP data: RSA public exponent other than 65537");
			have_e = true;
		} else if (t.tag == 0x02 && !have_bits) {
			if (t.len == 0 || t.len > 2)
				return smk_fail(e, SMK_E_FORMAT,
						"GAKP data: modulus size of %zu bytes", t.len);
			for (size_t i = 0; i < t.len; i++)
				bits = bits << 8 | t.value[i];
			have_bits = true;
		} else {
			return smk_fail(e, SMK_E_FORMAT,
					"GAKP data: tag %X unexpected in an RSA key template",
					t.tag);
		}
	}
	if (r < 0)
		return -1;
	if (!have_e || !have_bits)
		return smk_fail(e, SMK_E_FORMAT,
				"GAKP data: RSA template needs exponent (82) "
				"and modulus size (02)");
	if (!rsa_bits_known(bits, &k->rsa_legacy_ok))
		return smk_fail(e, SMK_E_UNSUPPORTED, "GAKP data: RSA-%u is not a supported size",
				bits);
	k->rsa_bits = bits;
	return 0;
}

static int parse_pubkey_template(const tlv *tmpl, hsm_keyspec *k, smk_err *e)
{
	tlv_iter it;
	tlv oid;
	int r;

	tlv_iter_init(&it, tmpl->value, tmpl->len);
	r = tlv_next(&it, &oid, e);
	if (r < 0)
		return -1;
	if (r == 0 || oid.tag != 0x06)
		return smk_fail(e, SMK_E_FORMAT,
				"GAKP data: key template does not start with an OID");
	if (oid_fits(oid.value, oid.len, SMK_KEY_EC))
		k->type = SMK_KEY_EC;
	else if (oid_fits(oid.value, oid.len, SMK_KEY_RSA))
		k->type = SMK_KEY_RSA;
	else
		return smk_fail(e, SMK_E_UNSUPPORTED,
				"GAKP data: key algorithm OID is not id-TA-ECDSA-* or id-TA-RSA-*");
	memcpy(k->oid, oid.value, HSM_OID_LEN);
	return k->type == SMK_KEY_EC ? parse_ec_template(&it, k, e) : parse_rsa_template(&it, k, e);
}

int hsm_parse_gakp_data(const uint8_t *data, size_t len, hsm_keyspec *k, smk_err *e)
{
	uint32_t tags[] = {0x5F29, 0x42, 0x7F49, 0x5F20, 0x45, 0x90, 0x91, 0x92};
	bool seen[8] = {false};
	const uint8_t *algs = NULL;
	size_t nalgs = 0, i;
	tlv_iter it;
	tlv t;
	int r, first = 1;

	memset(k, 0, sizeof(*k));
	tlv_iter_init(&it, data, len);
	while ((r = tlv_next(&it, &t, e)) == 1) {
		for (i = 0; i < 8 && tags[i] != t.tag; i++)
			;
		if (i == 8)
			return smk_fail(e, SMK_E_FORMAT, "GAKP data: unexpected tag %X", t.tag);
		if (seen[i])
			return smk_fail(e, SMK_E_FORMAT, "GAKP data: tag %X twice", t.tag);
		seen[i] = true;
		/* ref §3.2: the profile identifier leads the body */
		if (first && t.tag != 0x5F29)
			return smk_fail(e, SMK_E_FORMAT, "GAKP data: does not start with 5F29");
		first = 0;
		switch (t.tag) {
		case 0x5F29:
			if (t.len != 1 || t.value[0] != 0x00)
				return smk_fail(e, SMK_E_UNSUPPORTED,
						"GAKP data: profile identifier is not 00");
			break;
		case 0x42:
			r = take_ref(&t, "CAR", k->car, e);
			break;
		case 0x5F20:
			r = take_ref(&t, "CHR", k->chr, e);
			break;
		case 0x45:
			r = take_ref(&t, "outer CAR", k->outer_car, e);
			break;
		case 0x7F49:
			r = parse_pubkey_template(&t, k, e);
			break;
		case 0x90:
			if (fixed_len(&t, 4, "use counter", e) < 0)
				return -1;
			k->use_counter = (uint32_t)t.value[0] << 24 | (uint32_t)t.value[1] << 16 |
					 (uint32_t)t.value[2] << 8 | t.value[3];
			if (k->use_counter == 0)
				return smk_fail(e, SMK_E_FORMAT, "GAKP data: use counter of 0");
			break;
		case 0x91:
			algs = t.value;
			nalgs = t.len;
			break;
		case 0x92:
			if (fixed_len(&t, 1, "key domain", e) < 0)
				return -1;
			k->has_key_domain = true;
			k->key_domain = t.value[0];
			break;
		}
		if (r < 0)
			return -1;
	}
	if (r < 0)
		return smk_context(e, "GAKP data");
	if (!seen[0] || !seen[2] || !seen[3])
		return smk_fail(e, SMK_E_FORMAT,
				"GAKP data: profile (5F29), key template (7F49) and CHR (5F20) are "
				"required");
	if (seen[6]) {
		/* checked once the key type is known */
		if (check_alg_list(algs, nalgs, k->type, "GAKP data", SMK_E_FORMAT, e) < 0)
			return -1;
		memcpy(k->algs, algs, nalgs);
		k->alg_count = nalgs;
	}
	return 0;
}

int hsm_parse_gakp_response(const uint8_t *data, size_t len, uint16_t sw, const uint8_t **req,
			    size_t *req_len, smk_err *e)
{
	tlv t;

	*req = NULL;
	*req_len = 0;
	if (hsm_check_sw(sw, "GAKP", e) < 0)
		return -1;
	if (len == 0)
		return 0;
	/* ref §6.3: the authenticated CV request, one 67 object */
	if (tlv_parse_exact(data, len, 0x67, &t, e) < 0)
		return smk_context(e, "GAKP answer");
	*req = data;
	*req_len = len;
	return 0;
}

/* ---- SIGN, DECIPHER, ECDH ---- */

static bool sign_alg(uint8_t alg)
{
	/* ref §6.6 */
	return alg == 0x20 || (alg >= 0x30 && alg <= 0x35) || (alg >= 0x40 && alg <= 0x45) ||
	       (alg >= 0x70 && alg <= 0x75);
}

static int key_op(apdu *a, const char *what, uint8_t ins, uint8_t key_id, uint8_t alg,
		  const uint8_t *input, size_t len, bool extended, smk_err *e)
{
	if (key_id == 0)
		return smk_fail(e, SMK_E_ARG, "%s: key id 0 is the device key", what);
	if (input == NULL || len == 0)
		return smk_fail(e, SMK_E_ARG, "%s: no input", what);
	if (len > (extended ? APDU_EXT_MAX_LC : APDU_SHORT_MAX_LC))
		return smk_fail(e, SMK_E_ARG, "%s: %zu input bytes do not fit a%s APDU", what, len,
				extended ? "n extended" : " short");
	*a = (apdu){.cla = 0x80,
		    .ins = ins,
		    .p1 = key_id,
		    .p2 = alg,
		    .data = input,
		    .lc = len,
		    .ne = extended ? APDU_EXT_MAX_NE : APDU_SHORT_MAX_NE,
		    .extended = extended};
	return 0;
}

int hsm_build_sign(apdu *a, uint8_t key_id, uint8_t alg, const uint8_t *input, size_t len,
		   bool extended, smk_err *e)
{
	if (!sign_alg(alg))
		return smk_fail(e, SMK_E_ARG, "SIGN: algorithm %02X is not a signature algorithm",
				alg);
	return key_op(a, "SIGN", 0x68, key_id, alg, input, len, extended, e);
}

/* One DER INTEGER into a fixed-width big-endian field. */
static int der_int_fixed(const tlv *t, size_t width, uint8_t *out, smk_err *e)
{
	const uint8_t *v = t->value;
	size_t n = t->len, i;

	if (t->tag != 0x02 || n == 0)
		return smk_fail(e, SMK_E_FORMAT, "ECDSA signature: expected an INTEGER");
	if (v[0] & 0x80)
		return smk_fail(e, SMK_E_FORMAT, "ECDSA signature: negative integer");
	if (n > 1 && v[0] == 0 && !(v[1] & 0x80))
		return smk_fail(e, SMK_E_FORMAT,
				"ECDSA signature: integer with a needless leading 0");
	if (v[0] == 0 && n > 1) {
		v++;
		n--;
	}
	if (n > width)
		return smk_fail(e, SMK_E_FORMAT,
				"ECDSA signature: integer of %zu bytes, order has %zu", n, width);
	for (i = 0; i < n && v[i] == 0; i++)
		;
	if (i == n)
		return smk_fail(e, SMK_E_FORMAT, "ECDSA signature: r or s is zero");
	memset(out, 0, width - n);
	memcpy(out + width - n, v, n);
	return 0;
}

int hsm_ecdsa_der_to_plain(const uint8_t *der, size_t len, size_t order_len, uint8_t *rs,
			   smk_err *e)
{
	tlv seq, r_int, s_int, extra;
	tlv_iter it;

	if (order_len == 0 || order_len > 66)
		return smk_fail(e, SMK_E_ARG, "ECDSA signature: order length %zu", order_len);
	if (tlv_parse_exact(der, len, 0x30, &seq, e) < 0)
		return smk_context(e, "ECDSA signature");
	tlv_iter_init(&it, seq.value, seq.len);
	if (tlv_next(&it, &r_int, e) != 1 || tlv_next(&it, &s_int, e) != 1)
		return smk_fail(e, SMK_E_FORMAT, "ECDSA signature: SEQUENCE lacks r and s");
	if (tlv_next(&it, &extra, e) != 0)
		return smk_fail(e, SMK_E_FORMAT, "ECDSA signature: bytes after s");
	if (der_int_fixed(&r_int, order_len, rs, e) < 0 ||
	    der_int_fixed(&s_int, order_len, rs + order_len, e) < 0)
		return -1;
	return 0;
}

int hsm_ecdsa_plain_to_der(const uint8_t *rs, size_t rs_len, smk_buf *out, smk_err *e)
{
	size_t half = rs_len / 2, mark, vmark;
	int r = 0;

	if (rs_len == 0 || rs_len % 2 != 0 || half > 66)
		return smk_fail(e, SMK_E_ARG, "ECDSA signature: plain form of %zu bytes", rs_len);
	r |= tlv_begin(out, 0x30, &mark);
	for (int k = 0; k < 2; k++) {
		const uint8_t *v = rs + k * half;
		size_t n = half;

		while (n > 0 && v[0] == 0) {
			v++;
			n--;
		}
		if (n == 0)
			return smk_fail(e, SMK_E_ARG, "ECDSA signature: %c is zero", k ? 's' : 'r');
		r |= tlv_begin(out, 0x02, &vmark);
		if (v[0] & 0x80)
			r |= smk_buf_add_byte(out, 0x00);
		r |= smk_buf_add(out, v, n);
		r |= tlv_end(out, vmark);
	}
	r |= tlv_end(out, mark);
	if (r < 0)
		return nomem(e, "ECDSA signature");
	return 0;
}

int hsm_parse_sign_ecdsa(const uint8_t *data, size_t len, uint16_t sw, size_t order_len,
			 uint8_t *rs, smk_err *e)
{
	if (hsm_check_sw(sw, "SIGN", e) < 0)
		return -1;
	/* ref §3.4: INS 68 answers DER, unlike the plain form in CVCs */
	return hsm_ecdsa_der_to_plain(data, len, order_len, rs, e);
}

int hsm_parse_sign_rsa(const uint8_t *data, size_t len, uint16_t sw, size_t modulus_len, smk_err *e)
{
	(void)data;
	if (hsm_check_sw(sw, "SIGN", e) < 0)
		return -1;
	if (len != modulus_len)
		return smk_fail(e, SMK_E_FORMAT,
				"SIGN: RSA signature of %zu bytes, modulus has %zu", len,
				modulus_len);
	return 0;
}

int hsm_build_decipher(apdu *a, uint8_t key_id, uint8_t alg, const uint8_t *input, size_t len,
		       bool extended, smk_err *e)
{
	if (alg < 0x21 || alg > 0x23)
		return smk_fail(e, SMK_E_ARG, "DECIPHER: algorithm %02X is not an RSA decryption",
				alg);
	return key_op(a, "DECIPHER", 0x62, key_id, alg, input, len, extended, e);
}

int hsm_build_ecdh(apdu *a, uint8_t key_id, const uint8_t *point, size_t len, bool extended,
		   smk_err *e)
{
	if (point == NULL || len < 3 || len % 2 == 0 || point[0] != 0x04)
		return smk_fail(e, SMK_E_ARG, "ECDH: peer key is not an uncompressed point");
	return key_op(a, "ECDH", 0x62, key_id, 0x80, point, len, extended, e);
}

int hsm_parse_ecdh(const uint8_t *data, size_t len, uint16_t sw, size_t field_len, uint8_t *x,
		   smk_err *e)
{
	if (hsm_check_sw(sw, "ECDH", e) < 0)
		return -1;
	if (field_len == 0 || field_len > 66)
		return smk_fail(e, SMK_E_ARG, "ECDH: field length %zu", field_len);
	/* ref §7.8: 04||x (pico) or 04||x||y; the secret is x either way */
	if ((len != 1 + field_len && len != 1 + 2 * field_len) || data[0] != 0x04)
		return smk_fail(e, SMK_E_FORMAT,
				"ECDH: answer of %zu bytes is neither 04||x nor 04||x||y", len);
	memcpy(x, data + 1, field_len);
	return 0;
}
