/* SPDX-License-Identifier: BSD-3-Clause */
/* CVC parsing: certificates, CV requests, authenticated requests (ref §3). */
#include "cvc.h"

#include <stdio.h>
#include <string.h>

#include "../common/hex.h"
#include "tlv.h"

/* clang-format off */
#define OID_TA(a, b) {0x04, 0x00, 0x7F, 0x00, 0x07, 0x02, 0x02, 0x02, a, b}

/* ref §3.5 */
static const cvc_alg algs[] = {
	{"id-TA-RSA-v1-5-SHA-1", OID_TA(1, 1), SMK_KEY_RSA, "SHA1", 0},
	{"id-TA-RSA-v1-5-SHA-256", OID_TA(1, 2), SMK_KEY_RSA, "SHA256", 0},
	{"id-TA-RSA-PSS-SHA-1", OID_TA(1, 3), SMK_KEY_RSA, "SHA1", 1},
	{"id-TA-RSA-PSS-SHA-256", OID_TA(1, 4), SMK_KEY_RSA, "SHA256", 1},
	{"id-TA-RSA-v1-5-SHA-512", OID_TA(1, 5), SMK_KEY_RSA, "SHA512", 0},
	{"id-TA-RSA-PSS-SHA-512", OID_TA(1, 6), SMK_KEY_RSA, "SHA512", 1},
	{"id-TA-ECDSA-SHA-1", OID_TA(2, 1), SMK_KEY_EC, "SHA1", 0},
	{"id-TA-ECDSA-SHA-224", OID_TA(2, 2), SMK_KEY_EC, "SHA224", 0},
	{"id-TA-ECDSA-SHA-256", OID_TA(2, 3), SMK_KEY_EC, "SHA256", 0},
	{"id-TA-ECDSA-SHA-384", OID_TA(2, 4), SMK_KEY_EC, "SHA384", 0},
	{"id-TA-ECDSA-SHA-512", OID_TA(2, 5), SMK_KEY_EC, "SHA512", 0},
};
/* clang-format on */

const uint8_t cvc_oid_sc_hsm_role[11] = {0x2B, 0x06, 0x01, 0x04, 0x01, 0x81,
					 0xC3, 0x1F, 0x03, 0x01, 0x01};

const cvc_alg *cvc_alg_by_oid(const uint8_t *oid, size_t len)
{
	size_t i;

	for (i = 0; i < sizeof(algs) / sizeof(algs[0]); i++)
		if (len == sizeof(algs[i].oid) && memcmp(oid, algs[i].oid, len) == 0)
			return &algs[i];
	return NULL;
}

const cvc_alg *cvc_alg_by_name(const char *name)
{
	size_t i;

	for (i = 0; name && i < sizeof(algs) / sizeof(algs[0]); i++)
		if (strcmp(name, algs[i].name) == 0)
			return &algs[i];
	return NULL;
}

const cvc_alg *cvc_alg_default(enum smk_keytype t)
{
	if (t == SMK_KEY_EC)
		return cvc_alg_by_name("id-TA-ECDSA-SHA-256");
	if (t == SMK_KEY_RSA)
		return cvc_alg_by_name("id-TA-RSA-v1-5-SHA-256");
	return NULL;
}

int cvc_oid_text(const uint8_t *oid, size_t n, char *buf, size_t cap)
{
	size_t i, pos = 0;
	uint64_t v = 0;
	int r;

	if (cap == 0 || n == 0)
		return -1;
	buf[0] = '\0';
	for (i = 0; i < n; i++) {
		if (v > (UINT64_MAX >> 7))
			return -1;
		v = v << 7 | (oid[i] & 0x7F);
		if (oid[i] & 0x80)
			continue;
		if (pos == 0) {
			/* X.690 8.19.4: the first sub-identifier packs two arcs */
			unsigned first = v < 40 ? 0 : v < 80 ? 1 : 2;

			r = snprintf(buf, cap, "%u.%llu", first,
				     (unsigned long long)(v - 40u * first));
		} else {
			r = snprintf(buf + pos, cap - pos, ".%llu", (unsigned long long)v);
		}
		if (r < 0 || (size_t)r >= cap - pos)
			return -1;
		pos += (size_t)r;
		v = 0;
	}
	return (oid[n - 1] & 0x80) ? -1 : 0;
}

int cvc_input_bytes(const uint8_t *p, size_t n, smk_buf *out, smk_err *e)
{
	smk_buf text = SMK_BUF_INIT;
	int r;

	if (n == 0)
		return smk_fail(e, SMK_E_FORMAT, "input is empty");
	if (p[0] == 0x7F || p[0] == 0x67) {
		if (smk_buf_add(out, p, n) < 0)
			return smk_fail(e, SMK_E_NOMEM, "input: out of memory");
		return 0;
	}
	if (memchr(p, 0, n) != NULL)
		return smk_fail(e, SMK_E_FORMAT, "input is neither a binary CVC nor hex text");
	if (smk_buf_add(&text, p, n) < 0 || smk_buf_add_byte(&text, 0) < 0) {
		smk_buf_free(&text);
		return smk_fail(e, SMK_E_NOMEM, "input: out of memory");
	}
	r = smk_hex_decode((const char *)text.data, out, e);
	smk_buf_free(&text);
	if (r < 0)
		return smk_context(e, "input is neither a binary CVC nor hex text");
	return 0;
}

/* ---- dates ---- */

static unsigned days_in_month(unsigned y, unsigned m)
{
	static const unsigned d[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};

	if (m == 2 && ((y % 4 == 0 && y % 100 != 0) || y % 400 == 0))
		return 29;
	return d[m - 1];
}

static int date_ok(const cvc_date *d)
{
	return d->month >= 1 && d->month <= 12 && d->day >= 1 &&
	       d->day <= days_in_month(d->year, d->month);
}

int cvc_date_cmp(const cvc_date *a, const cvc_date *b)
{
	unsigned long x = a->year * 10000ul + a->month * 100ul + a->day;
	unsigned long y = b->year * 10000ul + b->month * 100ul + b->day;

	return x < y ? -1 : x > y ? 1 : 0;
}

void cvc_date_from_time(time_t t, cvc_date *d)
{
	struct tm tm;

	gmtime_r(&t, &tm);
	d->year = (unsigned)tm.tm_year + 1900;
	d->month = (unsigned)tm.tm_mon + 1;
	d->day = (unsigned)tm.tm_mday;
}

time_t cvc_date_to_time(const cvc_date *d)
{
	struct tm tm;

	memset(&tm, 0, sizeof(tm));
	tm.tm_year = (int)d->year - 1900;
	tm.tm_mon = (int)d->month - 1;
	tm.tm_mday = (int)d->day;
	return timegm(&tm);
}

int cvc_date_parse(const char *s, cvc_date *d, smk_err *e)
{
	static const char shape[] = "dddd-dd-dd";
	size_t i;

	for (i = 0; shape[i]; i++) {
		if (shape[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != '-')
			return smk_fail(e, SMK_E_ARG, "date \"%s\": expected YYYY-MM-DD", s);
	}
	if (s[i] != '\0')
		return smk_fail(e, SMK_E_ARG, "date \"%s\": expected YYYY-MM-DD", s);
	d->year =
	    (unsigned)((s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 + (s[3] - '0'));
	d->month = (unsigned)((s[5] - '0') * 10 + (s[6] - '0'));
	d->day = (unsigned)((s[8] - '0') * 10 + (s[9] - '0'));
	if (!date_ok(d))
		return smk_fail(e, SMK_E_ARG, "date \"%s\": no such day", s);
	return 0;
}

void cvc_date_format(const cvc_date *d, char *buf, size_t cap)
{
	snprintf(buf, cap, "%04u-%02u-%02u", d->year % 10000, d->month % 100, d->day % 100);
}

/* ref §3.1: YYMMDD, one decimal digit per byte, 20YY */
static int parse_date(const tlv *t, const char *what, cvc_date *d, smk_err *e)
{
	size_t i;

	if (t->len != 6)
		return smk_fail(e, SMK_E_FORMAT, "%s: %zu bytes, must be 6", what, t->len);
	for (i = 0; i < 6; i++)
		if (t->value[i] > 9)
			return smk_fail(e, SMK_E_FORMAT,
					"%s: byte %zu is %02X, not a decimal digit", what, i + 1,
					t->value[i]);
	d->year = 2000u + t->value[0] * 10u + t->value[1];
	d->month = t->value[2] * 10u + t->value[3];
	d->day = t->value[4] * 10u + t->value[5];
	if (!date_ok(d))
		return smk_fail(e, SMK_E_FORMAT, "%s: %04u-%02u-%02u is not a calendar date", what,
				d->year, d->month, d->day);
	return 0;
}

/* CAR / CHR: 1..16 printable ASCII, not NUL terminated in the input */
static int parse_ref(const tlv *t, const char *what, char out[CVC_REF_MAX + 1], smk_err *e)
{
	size_t i;

	if (t->len == 0 || t->len > CVC_REF_MAX)
		return smk_fail(e, SMK_E_FORMAT, "%s: %zu characters, must be 1..%d", what, t->len,
				CVC_REF_MAX);
	for (i = 0; i < t->len; i++)
		if (t->value[i] < 0x20 || t->value[i] > 0x7E)
			return smk_fail(e, SMK_E_FORMAT,
					"%s: byte %zu (%02X) is not printable ASCII", what, i + 1,
					t->value[i]);
	memcpy(out, t->value, t->len);
	out[t->len] = '\0';
	return 0;
}

/* ---- public key template ---- */

enum { K_OID, K_81, K_82, K_83, K_84, K_85, K_86, K_87, K_N };

static int parse_pubkey(const tlv *outer, cvc_pubkey *k, smk_err *e)
{
	tlv f[K_N], t;
	int have[K_N] = {0};
	tlv_iter it;
	int r, slot, params = 0;
	char oid[64];

	memset(k, 0, sizeof(*k));
	k->raw = outer->raw;
	k->raw_len = outer->raw_len;
	tlv_iter_init(&it, outer->value, outer->len);
	while ((r = tlv_next(&it, &t, e)) == 1) {
		if (t.tag == 0x06)
			slot = K_OID;
		else if (t.tag >= 0x81 && t.tag <= 0x87)
			slot = K_81 + (int)(t.tag - 0x81);
		else
			return smk_fail(e, SMK_E_FORMAT, "public key: unexpected tag %X", t.tag);
		if (have[slot])
			return smk_fail(e, SMK_E_FORMAT, "public key: duplicate tag %X", t.tag);
		if (t.len == 0)
			return smk_fail(e, SMK_E_FORMAT, "public key: tag %X is empty", t.tag);
		have[slot] = 1;
		f[slot] = t;
	}
	if (r < 0)
		return smk_context(e, "public key");
	if (!have[K_OID])
		return smk_fail(e, SMK_E_FORMAT, "public key: no algorithm OID (06)");
	k->alg = cvc_alg_by_oid(f[K_OID].value, f[K_OID].len);
	if (k->alg == NULL) {
		if (cvc_oid_text(f[K_OID].value, f[K_OID].len, oid, sizeof(oid)) < 0)
			snprintf(oid, sizeof(oid), "(malformed)");
		return smk_fail(e, SMK_E_UNSUPPORTED, "public key: unknown algorithm OID %s", oid);
	}
	if (k->alg->keytype == SMK_KEY_RSA) {
		for (slot = K_83; slot < K_N; slot++)
			if (have[slot])
				return smk_fail(e, SMK_E_FORMAT,
						"RSA public key: unexpected tag %X",
						0x81 + slot - K_81);
		if (!have[K_81] || !have[K_82])
			return smk_fail(e, SMK_E_FORMAT, "RSA public key: %s missing",
					have[K_81] ? "exponent (82)" : "modulus (81)");
		k->modulus = f[K_81].value;
		k->modulus_len = f[K_81].len;
		k->exponent = f[K_82].value;
		k->exponent_len = f[K_82].len;
		return 0;
	}
	if (!have[K_86])
		return smk_fail(e, SMK_E_FORMAT, "EC public key: no public point (86)");
	k->point = f[K_86].value;
	k->point_len = f[K_86].len;
	if (k->point[0] != 0x04 || k->point_len % 2 == 0)
		return smk_fail(e, SMK_E_FORMAT,
				"EC public key: point is not uncompressed 04||x||y");
	for (slot = K_81; slot <= K_85; slot++)
		params += have[slot];
	if (params == 0) {
		if (have[K_87])
			return smk_fail(e, SMK_E_FORMAT,
					"EC public key: cofactor (87) without domain parameters");
		return 0; /* ref §3.3: inherited from the issuer */
	}
	if (params != 5)
		return smk_fail(e, SMK_E_FORMAT,
				"EC public key: incomplete domain parameters (need 81..85)");
	k->curve =
	    curve_match(f[K_81].value, f[K_81].len, f[K_82].value, f[K_82].len, f[K_83].value,
			f[K_83].len, f[K_84].value, f[K_84].len, f[K_85].value, f[K_85].len, e);
	if (k->curve == NULL)
		return smk_context(e, "EC public key");
	if (have[K_87] && (f[K_87].len != 1 || f[K_87].value[0] != 1))
		return smk_fail(e, SMK_E_UNSUPPORTED, "EC public key: cofactor is not 1 for %s",
				k->curve->name);
	if (k->point_len != 1 + 2 * k->curve->field_len)
		return smk_fail(e, SMK_E_FORMAT, "EC public key: point is %zu bytes, %s needs %zu",
				k->point_len, k->curve->name, 1 + 2 * k->curve->field_len);
	return 0;
}

/* ---- certificate body ---- */

enum { B_CPI, B_CAR, B_KEY, B_CHR, B_CHAT, B_CED, B_CXD, B_EXT, B_N };

static const struct {
	uint32_t tag;
	const char *name;
} body_tags[B_N] = {
    {0x5F29, "profile identifier (5F29)"},
    {0x42, "CAR (42)"},
    {0x7F49, "public key (7F49)"},
    {0x5F20, "CHR (5F20)"},
    {0x7F4C, "CHAT (7F4C)"},
    {0x5F25, "effective date (5F25)"},
    {0x5F24, "expiration date (5F24)"},
    {0x65, "extensions (65)"},
};

static int parse_chat(const tlv *chat, cvc *c, smk_err *e)
{
	tlv t;
	tlv_iter it;
	int r, n = 0;

	tlv_iter_init(&it, chat->value, chat->len);
	while ((r = tlv_next(&it, &t, e)) == 1) {
		if (n == 0 && t.tag == 0x06 && t.len > 0) {
			c->chat_oid = t.value;
			c->chat_oid_len = t.len;
		} else if (n == 1 && t.tag == 0x53 && t.len > 0) {
			c->chat_bits = t.value;
			c->chat_bits_len = t.len;
		} else {
			return smk_fail(
			    e, SMK_E_FORMAT,
			    "CHAT: expected role OID (06) then role bits (53), found %X", t.tag);
		}
		n++;
	}
	if (r < 0)
		return smk_context(e, "CHAT");
	if (n != 2)
		return smk_fail(e, SMK_E_FORMAT, "CHAT: role OID or role bits missing");
	return 0;
}

static const char *kind_name(enum cvc_kind k)
{
	return k == CVC_CERT ? "certificate" : "request";
}

static int parse_body(const tlv *body, cvc *c, smk_err *e)
{
	tlv f[B_N], t;
	int have[B_N] = {0};
	tlv_iter it;
	int r, i, slot;

	tlv_iter_init(&it, body->value, body->len);
	while ((r = tlv_next(&it, &t, e)) == 1) {
		for (slot = 0; slot < B_N && body_tags[slot].tag != t.tag; slot++)
			;
		if (slot == B_N)
			return smk_fail(e, SMK_E_FORMAT, "body: unexpected tag %X", t.tag);
		if (have[slot])
			return smk_fail(e, SMK_E_FORMAT, "body: duplicate %s",
					body_tags[slot].name);
		have[slot] = 1;
		f[slot] = t;
	}
	if (r < 0)
		return smk_context(e, "body");
	/* ref §3.2: a request has neither CHAT nor dates, a certificate has all */
	c->kind = (have[B_CHAT] || have[B_CED] || have[B_CXD]) ? CVC_CERT : CVC_REQUEST;
	for (i = 0; i < B_N; i++) {
		int mandatory =
		    i == B_CPI || i == B_KEY || i == B_CHR || (c->kind == CVC_CERT && i != B_EXT);

		if (mandatory && !have[i])
			return smk_fail(e, SMK_E_FORMAT, "%s: %s missing", kind_name(c->kind),
					body_tags[i].name);
	}
	if (f[B_CPI].len != 1 || f[B_CPI].value[0] != 0)
		return smk_fail(e, SMK_E_UNSUPPORTED, "profile identifier is not 00");
	if (have[B_CAR]) {
		if (parse_ref(&f[B_CAR], "CAR", c->car, e) < 0)
			return -1;
		c->has_car = 1;
	}
	if (parse_ref(&f[B_CHR], "CHR", c->chr, e) < 0)
		return -1;
	if (parse_pubkey(&f[B_KEY], &c->key, e) < 0)
		return -1;
	if (c->kind == CVC_CERT) {
		if (parse_chat(&f[B_CHAT], c, e) < 0 ||
		    parse_date(&f[B_CED], "effective date", &c->ced, e) < 0 ||
		    parse_date(&f[B_CXD], "expiration date", &c->cxd, e) < 0)
			return -1;
	}
	if (have[B_EXT]) {
		c->has_ext = 1;
		c->ext = f[B_EXT].value;
		c->ext_len = f[B_EXT].len;
	}
	return 0;
}

/* 7F21 { 7F4E body, 5F37 signature }, nothing else, starting at p. */
static int parse_7f21(const tlv *outer, cvc *c, smk_err *e)
{
	tlv body, sig;

	memset(c, 0, sizeof(*c));
	c->raw = outer->raw;
	c->raw_len = outer->raw_len;
	if (tlv_parse(outer->value, outer->len, &body, e) < 0)
		return -1;
	if (body.tag != 0x7F4E)
		return smk_fail(e, SMK_E_FORMAT, "expected body 7F4E, found %X", body.tag);
	if (tlv_parse_exact(body.raw + body.raw_len, outer->len - body.raw_len, 0x5F37, &sig, e) <
	    0)
		return smk_context(e, "signature");
	if (sig.len == 0)
		return smk_fail(e, SMK_E_FORMAT, "signature (5F37) is empty");
	c->body = body.raw;
	c->body_len = body.raw_len;
	c->sig = sig.value;
	c->sig_len = sig.len;
	return parse_body(&body, c, e);
}

int cvc_parse(const uint8_t *p, size_t n, cvc *c, smk_err *e)
{
	tlv outer;

	if (tlv_parse_exact(p, n, 0x7F21, &outer, e) < 0 || parse_7f21(&outer, c, e) < 0)
		return smk_context(e, "CVC");
	return 0;
}

/* cvc_parse, and the object must be of the kind the caller expects. */
static int parse_kind(const uint8_t *p, size_t n, enum cvc_kind want, cvc *c, smk_err *e)
{
	if (cvc_parse(p, n, c, e) < 0)
		return -1;
	if (c->kind != want)
		return smk_fail(e, SMK_E_FORMAT, "CVC %s: a %s, not a %s", c->chr,
				kind_name(c->kind), kind_name(want));
	return 0;
}

int cvc_parse_cert(const uint8_t *p, size_t n, cvc *c, smk_err *e)
{
	return parse_kind(p, n, CVC_CERT, c, e);
}

int cvc_parse_request(const uint8_t *p, size_t n, cvc *c, smk_err *e)
{
	return parse_kind(p, n, CVC_REQUEST, c, e);
}

int cvc_parse_authreq(const uint8_t *p, size_t n, cvc_authreq *a, smk_err *e)
{
	tlv outer, req, car, sig;
	const uint8_t *q;
	size_t left;

	memset(a, 0, sizeof(*a));
	if (tlv_parse_exact(p, n, 0x67, &outer, e) < 0)
		return smk_context(e, "authenticated request");
	q = outer.value;
	left = outer.len;
	/* ref §3.2: request, outer CAR, outer signature, in this order and
	 * adjacent, so 7F21||42 is one contiguous signed range */
	if (tlv_parse(q, left, &req, e) < 0)
		return smk_context(e, "authenticated request");
	if (req.tag != 0x7F21)
		return smk_fail(e, SMK_E_FORMAT, "authenticated request: expected 7F21, found %X",
				req.tag);
	q += req.raw_len;
	left -= req.raw_len;
	if (tlv_parse(q, left, &car, e) < 0)
		return smk_context(e, "authenticated request: outer CAR");
	if (car.tag != 0x42)
		return smk_fail(e, SMK_E_FORMAT,
				"authenticated request: expected outer CAR 42, found %X", car.tag);
	q += car.raw_len;
	left -= car.raw_len;
	if (tlv_parse_exact(q, left, 0x5F37, &sig, e) < 0)
		return smk_context(e, "authenticated request: outer signature");
	if (sig.len == 0)
		return smk_fail(e, SMK_E_FORMAT, "authenticated request: outer signature is empty");
	if (parse_ref(&car, "outer CAR", a->outer_car, e) < 0)
		return smk_context(e, "authenticated request");
	if (parse_7f21(&req, &a->req, e) < 0)
		return smk_context(e, "authenticated request: inner request");
	if (a->req.kind != CVC_REQUEST)
		return smk_fail(e, SMK_E_FORMAT,
				"authenticated request: inner object %s is a certificate",
				a->req.chr);
	a->outer_signed = req.raw;
	a->outer_signed_len = req.raw_len + car.raw_len;
	a->outer_sig = sig.value;
	a->outer_sig_len = sig.len;
	a->raw = outer.raw;
	a->raw_len = outer.raw_len;
	return 0;
}

int cvc_role(const cvc *c)
{
	if (c->kind != CVC_CERT || c->chat_bits_len == 0)
		return -1;
	return c->chat_bits[0] & 0xC0;
}

int cvc_role_is_sc_hsm(const cvc *c)
{
	return c->chat_oid_len == sizeof(cvc_oid_sc_hsm_role) &&
	       memcmp(c->chat_oid, cvc_oid_sc_hsm_role, sizeof(cvc_oid_sc_hsm_role)) == 0;
}

const char *cvc_role_name(int role)
{
	switch (role) {
	case CVC_ROLE_ROOT:
		return "root (SRCA)";
	case CVC_ROLE_DICA:
		return "device issuer CA (DICA)";
	case CVC_ROLE_DEVICE:
		return "device (DevAut)";
	case 0x40:
		return "non-SmartCard-HSM role 40";
	}
	return "none";
}
