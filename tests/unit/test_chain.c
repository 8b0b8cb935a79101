/* SPDX-License-Identifier: BSD-3-Clause */
/* Device chain validation and authenticated request verification: the
 * genuine DENK0404144 device (protocol reference §8.2, §8.3) and PKIs built
 * here with the encoder, as the simulator builds its own. */
#include <openssl/evp.h>
#include <openssl/objects.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "tests/lib/testutil.h"
#include "sm/chain.h"
#include "sm/tlv.h"

#define CHAIN "tests/data/cvc/DENK0404144-2F02.hex"
#define REQ_P256 "tests/data/cvc/DENK0404144-CE03-secp256r1.hex"
#define REQ_K1 "tests/data/cvc/DENK0404144-CE01-secp256k1.hex"
#define SPKI_P256 "tests/data/cvc/DENK0404144-CE03-secp256r1.spki.hex"

static time_t day(const char *s)
{
	cvc_date d;
	smk_err e;

	ck_assert_int_eq(cvc_date_parse(s, &d, &e), 0);
	return cvc_date_to_time(&d) + 12 * 3600; /* midday UTC */
}

static void add_root(trust_store *t, const char *file)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	tu_read_source_file(&b, file);
	ck_assert_msg(trust_add(t, b.data, b.len, file, &e) == 0, "%s", e.msg);
	smk_buf_free(&b);
}

/* Validate the (possibly modified) chain; return the error. */
static smk_err try_chain(const smk_buf *chain, const char *root_file, time_t at)
{
	trust_store t = TRUST_STORE_INIT;
	devaut_chain c;
	smk_err e;

	smk_err_clear(&e);
	add_root(&t, root_file);
	if (chain_validate(chain->data, chain->len, &t, at, &c, &e) == 0)
		e.code = SMK_OK;
	chain_free(&c);
	trust_free(&t);
	return e;
}

#define ROOT_DE "etc/trust/DESRCACC100001.cvcert"
#define ROOT_UT "etc/trust-test/UTSRCACC100001.cvcert"

static void genuine_chain(devaut_chain *c)
{
	trust_store t = TRUST_STORE_INIT;
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	add_root(&t, ROOT_DE);
	tu_read_vector(&b, CHAIN);
	ck_assert_msg(chain_validate(b.data, b.len, &t, day("2026-11-27"), c, &e) == 0, "%s",
		      e.msg);
	trust_free(&t);
	smk_buf_free(&b);
}

START_TEST(genuine_chain_validates)
{
	devaut_chain c;
	smk_buf b = SMK_BUF_INIT;

	genuine_chain(&c);
	ck_assert_str_eq(c.device_chr, "DENK040414400000");
	ck_assert_str_eq(c.serial, "DENK0404144");
	ck_assert_str_eq(c.dica_chr, "DEDINK0400001");
	ck_assert_str_eq(c.root_chr, "DESRCACC100001");
	/* ref §3.3, §4.3: inherited from the root */
	ck_assert_str_eq(c.curve->name, "brainpoolP256r1");
	ck_assert_str_eq(c.alg->name, "id-TA-ECDSA-SHA-256");
	tu_assert_hex(c.point, c.point_len,
		      "04854A608E6F7B27D4B990C0EEA68F6C1D738E0E38CC9C6D1CEEDE55C0583F0B7B"
		      "37363551A876B8EC2B0DB88545ADFE418ABECD555C128BE81A5C6A0361FCA1DF");
	ck_assert_ptr_nonnull(c.key);
	ck_assert(EVP_PKEY_is_a(c.key, "EC"));
	tu_read_vector(&b, CHAIN);
	ck_assert_uint_eq(c.device_cert.len + c.dica_cert.len, b.len);
	ck_assert_mem_eq(c.device_cert.data, b.data, c.device_cert.len);
	ck_assert_mem_eq(c.dica_cert.data, b.data + c.device_cert.len, c.dica_cert.len);
	ck_assert_uint_eq(c.device_valid.cxd.year, 2031);
	chain_free(&c);
	smk_buf_free(&b);
}
END_TEST

START_TEST(genuine_requests_verify)
{
	devaut_chain c;
	chain_attested k;
	smk_buf b = SMK_BUF_INIT, want = SMK_BUF_INIT;
	smk_err e;
	cvc_authreq a;

	genuine_chain(&c);
	tu_read_vector(&b, REQ_P256);
	ck_assert_msg(chain_verify_authreq(&c, b.data, b.len, &k, &e) == 0, "%s", e.msg);
	ck_assert_int_eq(k.type, SMK_KEY_EC);
	ck_assert_str_eq(k.curve->name, "secp256r1");
	ck_assert_uint_eq(k.bits, 256);
	ck_assert_str_eq(k.chr, "DENK040414400001");
	ck_assert(k.has_car);
	ck_assert_str_eq(k.car, "UTCA00001");
	ck_assert_str_eq(k.outer_car, "DENK040414400000");
	tu_read_vector(&want, SPKI_P256);
	ck_assert_uint_eq(k.spki.len, want.len);
	ck_assert_mem_eq(k.spki.data, want.data, want.len);
	ck_assert_ptr_nonnull(
	    strstr(k.pem, "-----BEGIN PUBLIC KEY-----\nMFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE"));
	chain_attested_free(&k);

	smk_buf_reset(&b);
	smk_buf_reset(&want);
	tu_read_vector(&b, REQ_K1);
	ck_assert_msg(chain_verify_authreq(&c, b.data, b.len, &k, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(k.curve->name, "secp256k1");
	/* SPKI: id-ecPublicKey, secp256k1 (1.3.132.0.10), then the point inside the request */
	ck_assert_int_eq(cvc_parse_authreq(b.data, b.len, &a, &e), 0);
	tu_hex(&want, "3056301006072A8648CE3D020106052B8104000A034200");
	smk_buf_add(&want, a.req.key.point, a.req.key.point_len);
	ck_assert_uint_eq(k.spki.len, want.len);
	ck_assert_mem_eq(k.spki.data, want.data, want.len);
	chain_attested_free(&k);
	chain_free(&c);
	smk_buf_free(&b);
	smk_buf_free(&want);
}
END_TEST

/* Offset of a pointer into the genuine chain, from parsing it. */
struct chain_offsets {
	size_t dev_sig, dica_sig, dev_chr, dica_chr, dica_car, dev_point, dica_point, dev_len,
	    dica_body_len;
};

static void offsets(const smk_buf *b, struct chain_offsets *o)
{
	tlv t;
	cvc dev, dica;
	smk_err e;

	ck_assert_int_eq(tlv_parse(b->data, b->len, &t, &e), 0);
	ck_assert_int_eq(cvc_parse_cert(t.raw, t.raw_len, &dev, &e), 0);
	ck_assert_int_eq(cvc_parse_cert(b->data + t.raw_len, b->len - t.raw_len, &dica, &e), 0);
	o->dev_sig = (size_t)(dev.sig - b->data);
	o->dica_sig = (size_t)(dica.sig - b->data);
	o->dev_point = (size_t)(dev.key.point - b->data);
	o->dica_point = (size_t)(dica.key.point - b->data);
	o->dev_len = t.raw_len;
	/* the reference strings are copied out; find them in the bytes */
	o->dev_chr =
	    (size_t)((const uint8_t *)memmem(b->data, t.raw_len, "DENK040414400000", 16) - b->data);
	o->dica_chr = (size_t)((const uint8_t *)memmem(b->data + t.raw_len, b->len - t.raw_len,
						       "\x5F\x20\x0D"
						       "DEDINK0400001",
						       16) -
			       b->data) +
		      3;
	o->dica_car = (size_t)((const uint8_t *)memmem(b->data + t.raw_len, b->len - t.raw_len,
						       "DESRCACC100001", 14) -
			       b->data);
}

struct flip_case {
	const char *what;
	size_t at;
	uint8_t mask;
	enum smk_errc code;
	const char *needle;
};

START_TEST(chain_flips_fail_with_reason)
{
	smk_buf b = SMK_BUF_INIT;
	struct chain_offsets o;
	size_t i;

	tu_read_vector(&b, CHAIN);
	offsets(&b, &o);
	{
		const struct flip_case cases[] = {
		    {"DevAut signature", o.dev_sig + 10, 0x01, SMK_E_SIGNATURE,
		     "device DENK040414400000: signature by DICA DEDINK0400001"},
		    {"DICA signature", o.dica_sig + 40, 0x80, SMK_E_SIGNATURE,
		     "DICA DEDINK0400001: signature by root DESRCACC100001"},
		    {"device CHR", o.dev_chr + 15, 0x01, SMK_E_SIGNATURE,
		     "device DENK040414400001: signature by DICA"},
		    {"DICA CHR", o.dica_chr + 12, 0x02, SMK_E_MISMATCH,
		     "names issuer DEDINK0400001, but the DICA is DEDINK0400003"},
		    {"DICA CAR", o.dica_car + 13, 0x04, SMK_E_TRUST,
		     "issuer DESRCACC100005 is not a pinned root"},
		    {"device key", o.dev_point + 33, 0x10, SMK_E_SIGNATURE,
		     "device DENK040414400000: signature by DICA"},
		    {"DICA key", o.dica_point + 5, 0x01, SMK_E_SIGNATURE,
		     "DICA DEDINK0400001: signature by root"},
		    {"chain length byte", 3, 0x01, SMK_E_FORMAT, "device certificate"},
		    {"DICA length byte", o.dev_len + 3, 0x40, SMK_E_FORMAT, "DICA certificate"},
		    {"device role", o.dev_sig - 3 - 6 - 3 - 6 - 3 - 1, 0x80, SMK_E_MISMATCH,
		     "device DENK040414400000: role 80, must be 00"},
		};

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			smk_buf x = SMK_BUF_INIT;
			smk_err e;

			smk_buf_add(&x, b.data, b.len);
			x.data[cases[i].at] ^= cases[i].mask;
			e = try_chain(&x, ROOT_DE, day("2026-11-27"));
			ck_assert_msg(e.code == cases[i].code, "%s: got %s (%s)", cases[i].what,
				      smk_errc_name(e.code), e.msg);
			ck_assert_msg(strstr(e.msg, cases[i].needle) != NULL,
				      "%s: \"%s\" lacks \"%s\"", cases[i].what, e.msg,
				      cases[i].needle);
			smk_buf_free(&x);
		}
	}
	smk_buf_free(&b);
}
END_TEST

/* Not one bit of EF 2F02 can change without the chain failing. */
START_TEST(chain_every_bit_flip_fails)
{
	trust_store t = TRUST_STORE_INIT;
	smk_buf b = SMK_BUF_INIT;
	time_t at = day("2026-11-27");
	size_t i;
	int bit;

	add_root(&t, ROOT_DE);
	tu_read_vector(&b, CHAIN);
	for (i = 0; i < b.len; i++) {
		for (bit = 0; bit < 8; bit++) {
			devaut_chain c;
			smk_err e;
			int r;

			b.data[i] ^= (uint8_t)(1u << bit);
			r = chain_validate(b.data, b.len, &t, at, &c, &e);
			b.data[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(r == -1, "bit %d of byte %zu flipped, chain still valid", bit,
				      i);
			ck_assert(e.code != SMK_OK);
			chain_free(&c);
		}
	}
	trust_free(&t);
	smk_buf_free(&b);
}
END_TEST

START_TEST(request_flips_fail_with_reason)
{
	devaut_chain c;
	smk_buf b = SMK_BUF_INIT;
	cvc_authreq a;
	smk_err e;
	size_t inner_sig, outer_sig, outer_car, inner_chr, point, i;

	genuine_chain(&c);
	tu_read_vector(&b, REQ_P256);
	ck_assert_int_eq(cvc_parse_authreq(b.data, b.len, &a, &e), 0);
	inner_sig = (size_t)(a.req.sig - b.data);
	outer_sig = (size_t)(a.outer_sig - b.data);
	outer_car = (size_t)(a.outer_signed + a.outer_signed_len - 16 - b.data);
	inner_chr = (size_t)(a.req.sig - 3 - 16 - b.data);
	point = (size_t)(a.req.key.point - b.data);
	{
		const struct flip_case cases[] = {
		    {"inner signature", inner_sig + 7, 0x01, SMK_E_SIGNATURE,
		     "outer signature by device DENK040414400000"},
		    {"outer signature", outer_sig + 63, 0x01, SMK_E_SIGNATURE,
		     "request DENK040414400001: outer signature by device"},
		    {"outer CAR", outer_car + 15, 0x01, SMK_E_MISMATCH,
		     "outer CAR DENK040414400001 is not the device DENK040414400000"},
		    {"inner CHR", inner_chr + 15, 0x02, SMK_E_SIGNATURE,
		     "request DENK040414400003: outer signature"},
		    {"new key", point + 20, 0x01, SMK_E_SIGNATURE, "outer signature"},
		    {"length byte", 3, 0x01, SMK_E_FORMAT, "request"},
		};

		for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
			smk_buf x = SMK_BUF_INIT;
			chain_attested k;

			smk_buf_add(&x, b.data, b.len);
			x.data[cases[i].at] ^= cases[i].mask;
			ck_assert_int_eq(chain_verify_authreq(&c, x.data, x.len, &k, &e), -1);
			ck_assert_msg(e.code == cases[i].code, "%s: got %s (%s)", cases[i].what,
				      smk_errc_name(e.code), e.msg);
			ck_assert_msg(strstr(e.msg, cases[i].needle) != NULL,
				      "%s: \"%s\" lacks \"%s\"", cases[i].what, e.msg,
				      cases[i].needle);
			ck_assert_ptr_null(k.key);
			smk_buf_free(&x);
		}
	}
	/* every other bit as well */
	for (i = 0; i < b.len; i++) {
		for (int bit = 0; bit < 8; bit++) {
			chain_attested k;

			b.data[i] ^= (uint8_t)(1u << bit);
			ck_assert_msg(chain_verify_authreq(&c, b.data, b.len, &k, &e) == -1,
				      "bit %d of byte %zu flipped, request still verifies", bit, i);
			b.data[i] ^= (uint8_t)(1u << bit);
		}
	}
	chain_free(&c);
	smk_buf_free(&b);
}
END_TEST

/* Deterministic random edits (overwrite, insert, delete a few bytes):
 * nothing but the original may validate, and no edit may make a parser read
 * out of bounds (the ASan build checks that). */
START_TEST(random_edits_never_validate)
{
	trust_store t = TRUST_STORE_INIT;
	smk_buf chain = SMK_BUF_INIT, req = SMK_BUF_INIT;
	devaut_chain good;
	uint32_t seed = 0x5EC0DE;
	time_t at = day("2026-11-27");
	int round;

	add_root(&t, ROOT_DE);
	tu_read_vector(&chain, CHAIN);
	tu_read_vector(&req, REQ_P256);
	genuine_chain(&good);
	for (round = 0; round < 3000; round++) {
		const smk_buf *src = round % 2 ? &req : &chain;
		smk_buf x = SMK_BUF_INIT;
		int edits = 1 + round % 4, i, r;
		devaut_chain c;
		chain_attested k;
		cvc_authreq a;
		smk_err e;

		smk_buf_add(&x, src->data, src->len);
		for (i = 0; i < edits && x.len > 1; i++) {
			size_t at_byte;
			uint8_t v;

			seed = seed * 1103515245u + 12345u;
			at_byte = (seed >> 8) % x.len;
			v = (uint8_t)(seed >> 20);
			switch ((seed >> 4) % 3) {
			case 0:
				x.data[at_byte] = v;
				break;
			case 1:
				smk_buf_insert(&x, at_byte, &v, 1);
				break;
			default:
				memmove(x.data + at_byte, x.data + at_byte + 1,
					x.len - at_byte - 1);
				x.len--;
			}
		}
		if (x.len == src->len && memcmp(x.data, src->data, x.len) == 0) {
			smk_buf_free(&x);
			continue;
		}
		if (src == &chain) {
			r = chain_validate(x.data, x.len, &t, at, &c, &e);
			chain_free(&c);
		} else {
			r = chain_verify_authreq(&good, x.data, x.len, &k, &e);
			chain_attested_free(&k);
			cvc_parse_authreq(x.data, x.len, &a, &e);
		}
		ck_assert_msg(r == -1, "round %d: an edited %s still verifies", round,
			      src == &chain ? "chain" : "request");
		smk_buf_free(&x);
	}
	chain_free(&good);
	trust_free(&t);
	smk_buf_free(&chain);
	smk_buf_free(&req);
}
END_TEST

START_TEST(unknown_root_and_validity)
{
	smk_buf b = SMK_BUF_INIT;
	smk_err e;

	tu_read_vector(&b, CHAIN);
	e = try_chain(&b, ROOT_UT, day("2026-11-27"));
	ck_assert_int_eq(e.code, SMK_E_TRUST);
	ck_assert_ptr_nonnull(strstr(e.msg, "issuer DESRCACC100001 is not a pinned root"));

	e = try_chain(&b, ROOT_DE, day("2031-05-28"));
	ck_assert_int_eq(e.code, SMK_E_VALIDITY);
	ck_assert_ptr_nonnull(strstr(e.msg, "device DENK040414400000: expired on 2031-05-28"));
	e = try_chain(&b, ROOT_DE, day("2026-05-27"));
	ck_assert_int_eq(e.code, SMK_E_VALIDITY);
	ck_assert_ptr_nonnull(
	    strstr(e.msg, "device DENK040414400000: not yet valid on 2026-05-27"));
	/* the first and the last day are inside */
	ck_assert_int_eq(try_chain(&b, ROOT_DE, day("2026-05-28")).code, SMK_OK);
	ck_assert_int_eq(
	    try_chain(&b, ROOT_DE, cvc_date_to_time(&(cvc_date){2031, 5, 27}) + 86399).code,
	    SMK_OK);
	/* after the DICA and the root expire, the first to fail is named */
	e = try_chain(&b, ROOT_DE, day("2032-11-09"));
	ck_assert_ptr_nonnull(strstr(e.msg, "root DESRCACC100001: expired"));
	smk_buf_free(&b);
}
END_TEST

START_TEST(chain_structure_refused)
{
	smk_buf b = SMK_BUF_INIT, x = SMK_BUF_INIT;
	struct chain_offsets o;
	smk_err e;
	size_t i;

	tu_read_vector(&b, CHAIN);
	offsets(&b, &o);
	for (i = 0; i < b.len; i++) {
		smk_buf_reset(&x);
		smk_buf_add(&x, b.data, i);
		e = try_chain(&x, ROOT_DE, day("2026-11-27"));
		ck_assert_msg(e.code == SMK_E_FORMAT, "prefix %zu: %s", i, e.msg);
	}
	/* device certificate only */
	smk_buf_reset(&x);
	smk_buf_add(&x, b.data, o.dev_len);
	e = try_chain(&x, ROOT_DE, day("2026-11-27"));
	ck_assert_ptr_nonnull(strstr(e.msg, "no DICA certificate"));
	/* trailing garbage, and a third certificate */
	smk_buf_reset(&x);
	smk_buf_add(&x, b.data, b.len);
	smk_buf_add_byte(&x, 0x00);
	ck_assert_int_eq(try_chain(&x, ROOT_DE, day("2026-11-27")).code, SMK_E_FORMAT);
	smk_buf_reset(&x);
	smk_buf_add(&x, b.data, b.len);
	smk_buf_add(&x, b.data, o.dev_len);
	ck_assert_int_eq(try_chain(&x, ROOT_DE, day("2026-11-27")).code, SMK_E_FORMAT);
	/* DICA first, device second */
	smk_buf_reset(&x);
	smk_buf_add(&x, b.data + o.dev_len, b.len - o.dev_len);
	smk_buf_add(&x, b.data, o.dev_len);
	ck_assert_int_eq(try_chain(&x, ROOT_DE, day("2026-11-27")).code, SMK_E_TRUST);
	smk_buf_free(&b);
	smk_buf_free(&x);
}
END_TEST

START_TEST(trust_dir_roots)
{
	static const struct {
		const char *chr, *sha256;
	} want[] = {
	    {"DESRCACC100001", "453A391015C5FBB60116C838ED613591828BF62AC8A1ACA276CE4E60525EC3E3"},
	    {"UTSRCACC100001", "03FC6DE4527C8E914EB02CD90B0BEB105832562E8FD0A097D6CE047E87FE4A55"},
	};
	trust_store t = TRUST_STORE_INIT;
	char dir[4096], warning[512];
	smk_err e;
	size_t i;

	/* the default directory holds the production root alone */
	snprintf(dir, sizeof(dir), "%s/etc/trust", SMK_SOURCE_DIR);
	ck_assert_msg(trust_load_dir(&t, dir, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(t.n, 1); /* README.md is not a root */
	ck_assert_ptr_null(trust_find(&t, "UTSRCACC100001"));
	ck_assert_int_eq(trust_root_is_test(t.roots[0]), 0);
	ck_assert_uint_eq(trust_test_warning(&t, warning, sizeof(warning)), 0);
	ck_assert_str_eq(warning, "");
	/* the test root is kept apart, and trusting it is flagged */
	snprintf(dir, sizeof(dir), "%s/etc/trust-test", SMK_SOURCE_DIR);
	ck_assert_msg(trust_load_dir(&t, dir, &e) == 0, "%s", e.msg);
	ck_assert_uint_eq(t.n, 2);
	ck_assert_int_eq(trust_root_is_test(trust_find(&t, "UTSRCACC100001")), 1);
	ck_assert_uint_eq(trust_test_warning(&t, warning, sizeof(warning)), 1);
	ck_assert_str_eq(warning, "WARNING: trusting test or simulator root UTSRCACC100001: a key "
				  "attested under it proves nothing about genuine hardware");
	for (i = 0; i < 2; i++) {
		const trust_root *r = trust_find(&t, want[i].chr);
		uint8_t md[32];
		unsigned mdlen = 0;

		ck_assert_ptr_nonnull(r);
		ck_assert_int_eq(
		    EVP_Digest(r->bytes.data, r->bytes.len, md, &mdlen, EVP_sha256(), NULL), 1);
		tu_assert_hex(md, mdlen, want[i].sha256);
		ck_assert_int_eq(cvc_role(&r->cert), CVC_ROLE_ROOT);
		ck_assert_str_eq(r->cert.car, r->cert.chr);
		ck_assert_msg(cvc_verify(r->key, r->cert.key.alg, r->cert.body, r->cert.body_len,
					 r->cert.sig, r->cert.sig_len, &e) == 0,
			      "%s", e.msg);
	}
	ck_assert_ptr_null(trust_find(&t, "DESCHSMCVCA00001"));
	/* the same root again is no error and no second entry */
	add_root(&t, ROOT_DE);
	ck_assert_uint_eq(t.n, 2);
	trust_free(&t);

	ck_assert_int_eq(trust_load_dir(&t, SMK_SOURCE_DIR "/tests/data/cvc", &e), -1);
	ck_assert_int_eq(trust_load_dir(&t, SMK_SOURCE_DIR "/no/such/dir", &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	trust_free(&t);
}
END_TEST

START_TEST(trust_refuses_non_roots)
{
	trust_store t = TRUST_STORE_INIT;
	smk_buf b = SMK_BUF_INIT, hex = SMK_BUF_INIT;
	tlv first;
	smk_err e;
	char *h;

	tu_read_vector(&b, CHAIN);
	ck_assert_int_eq(tlv_parse(b.data, b.len, &first, &e), 0);
	/* the DICA is not self-signed and has role 80 */
	ck_assert_int_eq(trust_add(&t, b.data + first.raw_len, b.len - first.raw_len, "dica", &e),
			 -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_ptr_nonnull(strstr(e.msg, "trust anchor dica: root DEDINK0400001: role"));
	smk_buf_reset(&b);
	/* a root whose self-signature is broken */
	tu_read_source_file(&b, ROOT_DE);
	b.data[b.len - 1] ^= 1;
	ck_assert_int_eq(trust_add(&t, b.data, b.len, "broken", &e), -1);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	ck_assert_ptr_nonnull(strstr(e.msg, "self-signature"));
	/* hex text is accepted */
	b.data[b.len - 1] ^= 1;
	h = smk_hex(b.data, b.len);
	ck_assert_int_eq(trust_add(&t, (const uint8_t *)h, strlen(h), "hex", &e), 0);
	ck_assert_uint_eq(t.n, 1);
	free(h);
	trust_free(&t);
	smk_buf_free(&b);
	smk_buf_free(&hex);
}
END_TEST

/* ---- a PKI built with the encoder, as the simulator does ---- */

struct pki {
	EVP_PKEY *root, *dica, *dev;
	smk_buf root_cert, chain;
	trust_store trust;
};

static cvc_cert_fields fields(const char *car, const char *chr, uint8_t role, int params)
{
	cvc_cert_fields f;

	memset(&f, 0, sizeof(f));
	f.car = car;
	f.chr = chr;
	f.role = role;
	f.domain_params = params;
	f.ced = (cvc_date){2024, 1, 1};
	f.cxd = (cvc_date){2034, 12, 31};
	return f;
}

/* root (own curve params) -> DICA -> device; DICA and device carry domain
 * parameters only when the issuer's curve cannot be inherited (RSA issuer). */
static void pki_build(struct pki *p, EVP_PKEY *root, EVP_PKEY *dica, EVP_PKEY *dev,
		      uint8_t dev_role)
{
	cvc_cert_fields f;
	smk_err e;
	int dica_params = EVP_PKEY_is_a(root, "RSA") && EVP_PKEY_is_a(dica, "EC");
	int dev_params = EVP_PKEY_is_a(dica, "RSA");

	memset(p, 0, sizeof(*p));
	p->root = root;
	p->dica = dica;
	p->dev = dev;
	f = fields("UTSRCATEST00001", "UTSRCATEST00001", CVC_ROLE_ROOT, 1);
	ck_assert_msg(cvc_encode_cert(&p->root_cert, &f, root, root, NULL, &e) == 0, "%s", e.msg);
	ck_assert_msg(trust_add(&p->trust, p->root_cert.data, p->root_cert.len, "test", &e) == 0,
		      "%s", e.msg);
	f = fields("UTSIMDEV0000100", "UTSIMDEV0000100", dev_role, dev_params);
	f.car = "UTDISIM0000001";
	ck_assert_msg(cvc_encode_cert(&p->chain, &f, dev, dica, NULL, &e) == 0, "%s", e.msg);
	f = fields("UTSRCATEST00001", "UTDISIM0000001", CVC_ROLE_DICA, dica_params);
	f.with_ext = 1; /* empty 65, as the genuine DICA */
	ck_assert_msg(cvc_encode_cert(&p->chain, &f, dica, root, NULL, &e) == 0, "%s", e.msg);
}

static void pki_free(struct pki *p)
{
	EVP_PKEY_free(p->root);
	EVP_PKEY_free(p->dica);
	EVP_PKEY_free(p->dev);
	smk_buf_free(&p->root_cert);
	smk_buf_free(&p->chain);
	trust_free(&p->trust);
}

/* The request the simulator returns from GAKP: new key, self-signed, wrapped
 * with an outer signature by the device key. */
static void make_authreq(const struct pki *p, EVP_PKEY *newkey, const char *outer_car,
			 int break_inner, smk_buf *out)
{
	smk_buf req = SMK_BUF_INIT;
	smk_err e;

	ck_assert_msg(cvc_encode_request(&req, "UTCA00001", "UTSIMDEV0000101", newkey, NULL, &e) ==
			  0,
		      "%s", e.msg);
	if (break_inner)
		req.data[req.len - 1] ^= 0x01;
	ck_assert_msg(cvc_encode_authreq(out, req.data, req.len, outer_car, p->dev, NULL, &e) == 0,
		      "%s", e.msg);
	smk_buf_free(&req);
}

START_TEST(encoded_pki_every_curve_and_rsa)
{
	size_t n, i;
	const smk_curve *list = curve_list(&n);
	EVP_PKEY *rsa = tu_keygen("RSA");

	for (i = 0; i < n; i++) {
		const char *sn = OBJ_nid2sn(list[i].nid);
		struct pki p;
		devaut_chain c;
		chain_attested k;
		smk_buf ar = SMK_BUF_INIT;
		smk_err e;

		pki_build(&p, tu_keygen(sn), tu_keygen(sn), tu_keygen(sn), CVC_ROLE_DEVICE);
		ck_assert_msg(chain_validate(p.chain.data, p.chain.len, &p.trust, day("2026-11-27"),
					     &c, &e) == 0,
			      "%s: %s", sn, e.msg);
		ck_assert_str_eq(c.serial, "UTSIMDEV00");
		ck_assert_ptr_eq(c.curve, &list[i]);
		ck_assert_int_eq(EVP_PKEY_eq(c.key, p.dev), 1);

		/* a new key on the same curve, and an RSA-2048 key */
		for (int j = 0; j < 2; j++) {
			EVP_PKEY *newkey = j == 0 ? tu_keygen(sn) : rsa;
			smk_buf spki = SMK_BUF_INIT;

			smk_buf_reset(&ar);
			make_authreq(&p, newkey, "UTSIMDEV0000100", 0, &ar);
			ck_assert_msg(chain_verify_authreq(&c, ar.data, ar.len, &k, &e) == 0,
				      "%s/%d: %s", sn, j, e.msg);
			ck_assert_int_eq(EVP_PKEY_eq(k.key, newkey), 1);
			ck_assert_int_eq(cvc_spki_der(newkey, &spki, &e), 0);
			ck_assert_mem_eq(k.spki.data, spki.data, spki.len);
			if (j == 0) {
				ck_assert_ptr_eq(k.curve, &list[i]);
				EVP_PKEY_free(newkey);
			} else {
				ck_assert_int_eq(k.type, SMK_KEY_RSA);
				ck_assert_uint_eq(k.bits, 2048);
			}
			chain_attested_free(&k);
			smk_buf_free(&spki);
		}
		chain_free(&c);
		smk_buf_free(&ar);
		pki_free(&p);
	}
	EVP_PKEY_free(rsa);
}
END_TEST

/* RSA root and DICA: the device certificate then carries its own curve. */
START_TEST(encoded_pki_rsa_issuers)
{
	struct pki p;
	devaut_chain c;
	smk_err e;

	pki_build(&p, tu_keygen("RSA"), tu_keygen("RSA"), tu_keygen("brainpoolP256r1"),
		  CVC_ROLE_DEVICE);
	ck_assert_msg(
	    chain_validate(p.chain.data, p.chain.len, &p.trust, day("2030-01-01"), &c, &e) == 0,
	    "%s", e.msg);
	ck_assert_str_eq(c.curve->name, "brainpoolP256r1");
	chain_free(&c);
	pki_free(&p);
}
END_TEST

START_TEST(encoded_pki_failures)
{
	struct pki p, other;
	devaut_chain c;
	chain_attested k;
	smk_buf ar = SMK_BUF_INIT;
	EVP_PKEY *newkey = tu_keygen("secp384r1");
	smk_err e;

	pki_build(&p, tu_keygen("prime256v1"), tu_keygen("prime256v1"), tu_keygen("prime256v1"),
		  CVC_ROLE_DEVICE);
	ck_assert_int_eq(
	    chain_validate(p.chain.data, p.chain.len, &p.trust, day("2026-11-27"), &c, &e), 0);
	/* outer signature fine, inner signature broken: possession not proven */
	make_authreq(&p, newkey, "UTSIMDEV0000100", 1, &ar);
	ck_assert_int_eq(chain_verify_authreq(&c, ar.data, ar.len, &k, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	ck_assert_ptr_nonnull(strstr(e.msg, "inner signature by the new key"));
	/* validly signed by the device, but naming another outer CAR */
	smk_buf_reset(&ar);
	make_authreq(&p, newkey, "UTSIMDEV0000200", 0, &ar);
	ck_assert_int_eq(chain_verify_authreq(&c, ar.data, ar.len, &k, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	chain_free(&c);

	/* a device certificate issued with the DICA role */
	pki_build(&other, tu_keygen("prime256v1"), tu_keygen("prime256v1"), tu_keygen("prime256v1"),
		  CVC_ROLE_DICA);
	ck_assert_int_eq(chain_validate(other.chain.data, other.chain.len, &other.trust,
					day("2026-11-27"), &c, &e),
			 -1);
	ck_assert_int_eq(e.code, SMK_E_MISMATCH);
	ck_assert_ptr_nonnull(strstr(e.msg, "role 80, must be 00"));
	/* the right names, but the other PKI's root: signature fails */
	ck_assert_int_eq(
	    chain_validate(p.chain.data, p.chain.len, &other.trust, day("2026-11-27"), &c, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	ck_assert_ptr_nonnull(strstr(e.msg, "DICA UTDISIM0000001: signature by root"));
	/* a second, different root with the same CHR is refused by the store */
	ck_assert_int_eq(
	    trust_add(&p.trust, other.root_cert.data, other.root_cert.len, "other", &e), -1);
	ck_assert_int_eq(e.code, SMK_E_TRUST);
	ck_assert_ptr_nonnull(strstr(e.msg, "already loaded"));
	chain_free(&c);
	pki_free(&other);
	pki_free(&p);
	smk_buf_free(&ar);
	EVP_PKEY_free(newkey);
}
END_TEST

static Suite *chain_suite(void)
{
	Suite *s = suite_create("chain");
	TCase *tc = tcase_create("core");

	tcase_set_timeout(tc, 300);
	tcase_add_test(tc, genuine_chain_validates);
	tcase_add_test(tc, genuine_requests_verify);
	tcase_add_test(tc, chain_flips_fail_with_reason);
	tcase_add_test(tc, chain_every_bit_flip_fails);
	tcase_add_test(tc, request_flips_fail_with_reason);
	tcase_add_test(tc, random_edits_never_validate);
	tcase_add_test(tc, unknown_root_and_validity);
	tcase_add_test(tc, chain_structure_refused);
	tcase_add_test(tc, trust_dir_roots);
	tcase_add_test(tc, trust_refuses_non_roots);
	tcase_add_test(tc, encoded_pki_every_curve_and_rsa);
	tcase_add_test(tc, encoded_pki_rsa_issuers);
	tcase_add_test(tc, encoded_pki_failures);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(chain_suite());
}
