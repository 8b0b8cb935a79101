/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * RFC 6962 tree heads and proofs. Roots are recomputed here by the MTH
 * definition (RFC 6962 §2.1) with plain SHA-256, independently of
 * archive/merkle.c, and every proof the module makes must verify against
 * them, while every altered proof must not.
 */
#include <string.h>

#include <openssl/evp.h>

#include "archive/merkle.h"
#include "tests/lib/testutil.h"

#define N_LEAVES 33

/* The eight inputs of the RFC 6962 reference test tree (certificate
 * transparency test suites). */
static const char *const ref_inputs[8] = {
    "",
    "00",
    "10",
    "2021",
    "3031",
    "40414243",
    "5051525354555657",
    "606162636465666768696a6b6c6d6e6f",
};

static void sha256(const uint8_t *p, size_t n, uint8_t out[32])
{
	ck_assert(EVP_Digest(p, n, out, NULL, EVP_sha256(), NULL) == 1);
}

/* MTH by definition, over the raw leaf inputs. */
static void mth(smk_buf *const *d, size_t n, uint8_t out[32])
{
	uint8_t buf[65];
	size_t k = 1;

	if (n == 0) {
		sha256(NULL, 0, out);
		return;
	}
	if (n == 1) {
		uint8_t tmp[64];

		ck_assert_uint_lt(d[0]->len, sizeof(tmp));
		tmp[0] = 0;
		if (d[0]->len)
			memcpy(tmp + 1, d[0]->data, d[0]->len);
		sha256(tmp, d[0]->len + 1, out);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	buf[0] = 1;
	mth(d, k, buf + 1);
	mth(d + k, n - k, buf + 33);
	sha256(buf, sizeof(buf), out);
}

static smk_buf inputs[N_LEAVES];
static smk_buf *input_ptrs[N_LEAVES];
static uint8_t leaves[N_LEAVES][32];

static void setup(void)
{
	size_t i, j;
	smk_err e;

	for (i = 0; i < N_LEAVES; i++) {
		smk_buf_init(&inputs[i]);
		if (i < 8) {
			tu_hex(&inputs[i], ref_inputs[i]);
		} else {
			for (j = 0; j < i % 7 + 1; j++)
				ck_assert(smk_buf_add_byte(&inputs[i], (uint8_t)(i * 31 + j)) == 0);
		}
		input_ptrs[i] = &inputs[i];
		ck_assert_int_eq(merkle_leaf_hash(inputs[i].data, inputs[i].len, leaves[i], &e), 0);
	}
}

static void teardown(void)
{
	size_t i;

	for (i = 0; i < N_LEAVES; i++)
		smk_buf_free(&inputs[i]);
}

START_TEST(reference_tree_heads)
{
	/* Published roots of the RFC 6962 reference tree for sizes 1..8. */
	static const char *const roots[8] = {
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	uint8_t root[32];
	smk_err e;
	size_t n;

	ck_assert_int_eq(merkle_root(leaves, 0, root, &e), 0);
	tu_assert_hex(root, 32, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	for (n = 1; n <= 8; n++) {
		ck_assert_int_eq(merkle_root(leaves, n, root, &e), 0);
		tu_assert_hex(root, 32, roots[n - 1]);
	}
}
END_TEST

START_TEST(reference_proofs)
{
	smk_buf p = SMK_BUF_INIT;
	smk_err e;

	/* PATH(0, D[8]) and PATH(5, D[8]) */
	ck_assert_int_eq(merkle_inclusion_proof(leaves, 8, 0, &p, &e), 0);
	tu_assert_hex(p.data, p.len,
		      "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7"
		      "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e"
		      "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4");
	smk_buf_reset(&p);
	ck_assert_int_eq(merkle_inclusion_proof(leaves, 8, 5, &p, &e), 0);
	tu_assert_hex(p.data, p.len,
		      "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"
		      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
		      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7");
	/* PROOF(6, D[8]) and PROOF(3, D[7]) */
	smk_buf_reset(&p);
	ck_assert_int_eq(merkle_consistency_proof(leaves, 8, 6, &p, &e), 0);
	tu_assert_hex(p.data, p.len,
		      "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a"
		      "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0"
		      "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7");
	smk_buf_reset(&p);
	ck_assert_int_eq(merkle_consistency_proof(leaves, 7, 3, &p, &e), 0);
	tu_assert_hex(p.data, p.len,
		      "0298d122906dcfc10892cb53a73992fc5b9f493ea4c9badb27b791b4127a7fe7"
		      "07506a85fd9dd2f120eb694f86011e5bb4662e5c415a62917033d4a9624487e7"
		      "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"
		      "837dbb152e9b079010717e84e865da4ebc0fa198a806d59d31bf15accef22d0e");
	smk_buf_free(&p);
}
END_TEST

START_TEST(root_matches_definition_for_every_size)
{
	uint8_t want[32], got[32];
	smk_err e;
	size_t n;

	for (n = 0; n <= N_LEAVES; n++) {
		mth(input_ptrs, n, want);
		ck_assert_int_eq(merkle_root(leaves, n, got, &e), 0);
		ck_assert_msg(memcmp(want, got, 32) == 0, "root differs at size %zu", n);
	}
}
END_TEST

START_TEST(inclusion_every_leaf_every_size)
{
	uint8_t root[32], other[32];
	smk_err e;
	size_t n, i, j;

	for (n = 1; n <= N_LEAVES; n++) {
		mth(input_ptrs, n, root);
		for (i = 0; i < n; i++) {
			smk_buf p = SMK_BUF_INIT;

			ck_assert_int_eq(merkle_inclusion_proof(leaves, n, i, &p, &e), 0);
			ck_assert_msg(
			    merkle_verify_inclusion(i, n, leaves[i], p.data, p.len, root, &e) == 0,
			    "leaf %zu of %zu: %s", i, n, e.msg);
			/* the same proof must not prove a neighbour, another size or leaf */
			if (n > 1) {
				ck_assert_int_eq(merkle_verify_inclusion((i + 1) % n, n, leaves[i],
									 p.data, p.len, root, &e),
						 -1);
				ck_assert_int_eq(merkle_verify_inclusion(i, n, leaves[(i + 1) % n],
									 p.data, p.len, root, &e),
						 -1);
				ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
			}
			mth(input_ptrs, n + 1 <= N_LEAVES ? n + 1 : n - 1, other);
			if (n + 1 <= N_LEAVES)
				ck_assert_int_eq(merkle_verify_inclusion(i, n + 1, leaves[i],
									 p.data, p.len, other, &e),
						 -1);
			/* flip one bit in each proof hash */
			for (j = 0; j < p.len; j += 32) {
				p.data[j + j / 32 % 32] ^= 0x01;
				ck_assert_int_eq(merkle_verify_inclusion(i, n, leaves[i], p.data,
									 p.len, root, &e),
						 -1);
				p.data[j + j / 32 % 32] ^= 0x01;
			}
			/* truncated and over-long proofs */
			if (p.len) {
				ck_assert_int_eq(merkle_verify_inclusion(i, n, leaves[i], p.data,
									 p.len - 32, root, &e),
						 -1);
				ck_assert_int_eq(merkle_verify_inclusion(i, n, leaves[i], p.data,
									 p.len - 1, root, &e),
						 -1);
				ck_assert_int_eq(e.code, SMK_E_FORMAT);
			}
			ck_assert(smk_buf_add(&p, root, 32) == 0);
			ck_assert_int_eq(
			    merkle_verify_inclusion(i, n, leaves[i], p.data, p.len, root, &e), -1);
			smk_buf_free(&p);
		}
		ck_assert_int_eq(merkle_verify_inclusion(n, n, leaves[0], NULL, 0, root, &e), -1);
	}
}
END_TEST

START_TEST(consistency_every_pair_of_sizes)
{
	uint8_t old_root[32], new_root[32];
	smk_err e;
	size_t n, m, j;

	for (n = 1; n <= N_LEAVES; n++) {
		mth(input_ptrs, n, new_root);
		for (m = 1; m <= n; m++) {
			smk_buf p = SMK_BUF_INIT;

			mth(input_ptrs, m, old_root);
			ck_assert_int_eq(merkle_consistency_proof(leaves, n, m, &p, &e), 0);
			ck_assert_msg(merkle_verify_consistency(m, n, old_root, new_root, p.data,
								p.len, &e) == 0,
				      "%zu -> %zu: %s", m, n, e.msg);
			if (m == n) {
				ck_assert_uint_eq(p.len, 0);
				smk_buf_free(&p);
				continue;
			}
			/* an old tree whose last leaf changed is not extended by this one */
			old_root[0] ^= 0x80;
			ck_assert_int_eq(
			    merkle_verify_consistency(m, n, old_root, new_root, p.data, p.len, &e),
			    -1);
			ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
			old_root[0] ^= 0x80;
			/* swapped sizes: the log cannot shrink */
			ck_assert_int_eq(
			    merkle_verify_consistency(n, m, new_root, old_root, p.data, p.len, &e),
			    -1);
			for (j = 0; j < p.len; j += 32) {
				p.data[j + 7] ^= 0x04;
				ck_assert_int_eq(merkle_verify_consistency(m, n, old_root, new_root,
									   p.data, p.len, &e),
						 -1);
				p.data[j + 7] ^= 0x04;
			}
			ck_assert_int_eq(merkle_verify_consistency(m, n, old_root, new_root, p.data,
								   p.len - 32, &e),
					 -1);
			ck_assert_int_eq(merkle_verify_consistency(m, n, old_root, new_root, p.data,
								   p.len - 1, &e),
					 -1);
			ck_assert(smk_buf_add(&p, new_root, 32) == 0);
			ck_assert_int_eq(
			    merkle_verify_consistency(m, n, old_root, new_root, p.data, p.len, &e),
			    -1);
			smk_buf_free(&p);
		}
	}
}
END_TEST

/* A proof of the wrong length is refused by name, before any root is compared. */
START_TEST(wrong_length_proofs_say_which_proof)
{
	uint8_t root[32], old_root[32];
	smk_buf p = SMK_BUF_INIT;
	smk_err e;

	mth(input_ptrs, 7, root);
	mth(input_ptrs, 3, old_root);
	ck_assert_int_eq(merkle_inclusion_proof(leaves, 7, 2, &p, &e), 0);
	ck_assert_int_eq(merkle_verify_inclusion(2, 7, leaves[2], p.data, p.len - 32, root, &e),
			 -1);
	ck_assert_str_eq(e.msg, "inclusion proof: shorter than the tree is deep");
	ck_assert(smk_buf_add(&p, root, 32) == 0);
	ck_assert_int_eq(merkle_verify_inclusion(2, 7, leaves[2], p.data, p.len, root, &e), -1);
	ck_assert_str_eq(e.msg, "inclusion proof: longer than the tree is deep");
	smk_buf_free(&p);

	ck_assert_int_eq(merkle_consistency_proof(leaves, 7, 3, &p, &e), 0);
	ck_assert_int_eq(merkle_verify_consistency(3, 7, old_root, root, p.data, p.len - 32, &e),
			 -1);
	ck_assert_str_eq(e.msg, "consistency proof: shorter than the tree is deep");
	ck_assert(smk_buf_add(&p, root, 32) == 0);
	ck_assert_int_eq(merkle_verify_consistency(3, 7, old_root, root, p.data, p.len, &e), -1);
	ck_assert_str_eq(e.msg, "consistency proof: longer than the tree is deep");
	ck_assert_int_eq(e.code, SMK_E_SIGNATURE);
	smk_buf_free(&p);
}
END_TEST

START_TEST(degenerate_sizes)
{
	uint8_t a[32], b[32];
	smk_buf p = SMK_BUF_INIT;
	smk_err e;

	mth(input_ptrs, 3, a);
	mth(input_ptrs, 4, b);
	/* from the empty tree anything follows; equal sizes need equal roots */
	ck_assert_int_eq(merkle_verify_consistency(0, 4, a, b, NULL, 0, &e), 0);
	ck_assert_int_eq(merkle_verify_consistency(3, 3, a, a, NULL, 0, &e), 0);
	ck_assert_int_eq(merkle_verify_consistency(3, 3, a, b, NULL, 0, &e), -1);
	ck_assert_int_eq(merkle_verify_consistency(3, 4, a, b, NULL, 0, &e), -1);
	ck_assert_int_eq(merkle_consistency_proof(leaves, 3, 4, &p, &e), -1);
	ck_assert_int_eq(merkle_inclusion_proof(leaves, 3, 3, &p, &e), -1);
	ck_assert_int_eq(merkle_verify_inclusion(0, UINT64_MAX, leaves[0], NULL, 0, a, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
	smk_buf_free(&p);
}
END_TEST

static Suite *merkle_suite(void)
{
	Suite *s = suite_create("merkle");
	TCase *tc = tcase_create("rfc6962");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, reference_tree_heads);
	tcase_add_test(tc, reference_proofs);
	tcase_add_test(tc, root_matches_definition_for_every_size);
	tcase_add_test(tc, inclusion_every_leaf_every_size);
	tcase_add_test(tc, consistency_every_pair_of_sizes);
	tcase_add_test(tc, wrong_length_proofs_say_which_proof);
	tcase_add_test(tc, degenerate_sizes);
	suite_add_tcase(s, tc);
	return s;
}

int main(void)
{
	return tu_run(merkle_suite());
}
