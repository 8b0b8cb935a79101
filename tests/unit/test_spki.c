/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * SubjectPublicKeyInfo as smkey writes it (cvc_spki_der, cvc_spki_pem,
 * cvc_spki_pem_of): byte for byte what OpenSSL's encoder writes
 * (i2d_PUBKEY, PEM_write_bio_PUBKEY), for every curve the card knows and
 * for RSA, and a key read back from it is the same key.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/objects.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#include "sm/cvc.h"
#include "tests/lib/testutil.h"

static void check(const char *curve_or_rsa)
{
	EVP_PKEY *k = tu_keygen(curve_or_rsa), *back;
	smk_buf der = SMK_BUF_INIT;
	unsigned char *ref = NULL;
	const unsigned char *q;
	char *pem = NULL, *pem_of = NULL, *ref_pem;
	BIO *b = BIO_new(BIO_s_mem());
	long ref_pem_len;
	int n = i2d_PUBKEY(k, &ref);
	smk_err e;

	ck_assert_int_gt(n, 0);
	ck_assert_msg(cvc_spki_der(k, &der, &e) == 0, "%s: %s", curve_or_rsa, e.msg);
	ck_assert_msg(der.len == (size_t)n && memcmp(der.data, ref, der.len) == 0,
		      "%s: SPKI differs from i2d_PUBKEY's", curve_or_rsa);
	q = der.data;
	back = d2i_PUBKEY(NULL, &q, (long)der.len);
	ck_assert_ptr_nonnull(back);
	ck_assert_int_eq(EVP_PKEY_eq(k, back), 1);
	ck_assert_ptr_nonnull(b);
	ck_assert_int_eq(PEM_write_bio_PUBKEY(b, k), 1);
	ref_pem_len = BIO_get_mem_data(b, &ref_pem);
	ck_assert_int_eq(cvc_spki_pem(k, &pem, &e), 0);
	ck_assert_int_eq(cvc_spki_pem_of(der.data, der.len, &pem_of, &e), 0);
	ck_assert_msg(strlen(pem) == (size_t)ref_pem_len &&
			  memcmp(pem, ref_pem, (size_t)ref_pem_len) == 0,
		      "%s: PEM differs:\n%s", curve_or_rsa, pem);
	ck_assert_str_eq(pem, pem_of);
	free(pem);
	free(pem_of);
	BIO_free(b);
	OPENSSL_free(ref);
	smk_buf_free(&der);
	EVP_PKEY_free(back);
	EVP_PKEY_free(k);
}

/* The SPKI of a point as a CV request carries it (cvc_spki_der_ec) is the
 * SPKI OpenSSL writes for the key made of that point, on every curve. */
START_TEST(spki_of_a_point_is_the_keys)
{
	size_t n, i;
	const smk_curve *list = curve_list(&n);

	for (i = 0; i < n; i++) {
		EVP_PKEY *k = tu_keygen(OBJ_nid2sn(list[i].nid));
		uint8_t pt[1 + 2 * 66];
		size_t len = 0;
		smk_buf der = SMK_BUF_INIT;
		unsigned char *ref = NULL;
		int rn = i2d_PUBKEY(k, &ref);
		smk_err e;

		ck_assert_int_gt(rn, 0);
		ck_assert_int_eq(
		    EVP_PKEY_get_octet_string_param(k, "encoded-pub-key", pt, sizeof(pt), &len), 1);
		ck_assert_int_eq(smk_buf_add(&der, "x", 1), 0); /* appended, not overwritten */
		ck_assert_msg(cvc_spki_der_ec(&list[i], pt, len, &der, &e) == 0, "%s: %s",
			      list[i].name, e.msg);
		ck_assert_msg(der.len == 1 + (size_t)rn &&
				  memcmp(der.data + 1, ref, (size_t)rn) == 0,
			      "%s: SPKI of the point differs from i2d_PUBKEY's", list[i].name);
		OPENSSL_free(ref);
		smk_buf_free(&der);
		EVP_PKEY_free(k);
	}
}
END_TEST

START_TEST(spki_is_what_openssl_encodes)
{
	static const char *const keys[] = {
	    "P-256",	       "P-384",		  "P-521", "brainpoolP256r1",
	    "brainpoolP384r1", "brainpoolP512r1", "RSA"};
	size_t i;

	for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
		check(keys[i]);
}
END_TEST

static Suite *spki_suite(void)
{
	Suite *s = suite_create("spki");
	TCase *tc = tcase_create("spki");

	tcase_add_test(tc, spki_is_what_openssl_encodes);
	tcase_add_test(tc, spki_of_a_point_is_the_keys);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(spki_suite());
}
