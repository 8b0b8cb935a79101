/* RFC 6962 Merkle tree heads and proofs; RFC 9162 proof verification. */
#include "merkle.h"

#include <string.h>

#include <openssl/evp.h>

static int sha256_parts(const uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b,
			size_t blen, uint8_t out[MERKLE_HASH_LEN], smk_err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	if (!md)
		return smk_fail(e, SMK_E_NOMEM, "merkle: out of memory");
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) && EVP_DigestUpdate(md, &prefix, 1) &&
	     (alen == 0 || EVP_DigestUpdate(md, a, alen)) &&
	     (blen == 0 || EVP_DigestUpdate(md, b, blen)) && EVP_DigestFinal_ex(md, out, NULL);
	EVP_MD_CTX_free(md);
	if (!ok)
		return smk_fail(e, SMK_E_CRYPTO, "merkle: SHA-256 failed");
	return 0;
}

int merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN], smk_err *e)
{
	return sha256_parts(0x00, data, len, NULL, 0, out, e);
}

int merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
		     uint8_t out[MERKLE_HASH_LEN], smk_err *e)
{
	return sha256_parts(0x01, left, MERKLE_HASH_LEN, right, MERKLE_HASH_LEN, out, e);
}

/* RFC 6962 §2.1: k is the largest power of two smaller than n (n > 1). */
static uint64_t split_point(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

int merkle_root(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n, uint8_t out[MERKLE_HASH_LEN],
		smk_err *e)
{
	uint8_t l[MERKLE_HASH_LEN], r[MERKLE_HASH_LEN];
	uint64_t k;

	if (n == 0) {
		unsigned int len = 0;

		if (!EVP_Digest("", 0, out, &len, EVP_sha256(), NULL))
			return smk_fail(e, SMK_E_CRYPTO, "merkle: SHA-256 failed");
		return 0;
	}
	if (n == 1) {
		memcpy(out, leaves[0], MERKLE_HASH_LEN);
		return 0;
	}
	k = split_point(n);
	if (merkle_root(leaves, k, l, e) < 0 || merkle_root(leaves + k, n - k, r, e) < 0)
		return -1;
	return merkle_node_hash(l, r, out, e);
}

static int add_root(smk_buf *proof, const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n,
		    smk_err *e)
{
	uint8_t h[MERKLE_HASH_LEN];

	if (merkle_root(leaves, n, h, e) < 0)
		return -1;
	if (smk_buf_add(proof, h, sizeof(h)) < 0)
		return smk_fail(e, SMK_E_NOMEM, "merkle: out of memory");
	return 0;
}

/* RFC 6962 §2.1.1 PATH(m, D[n]): the recursion's result comes first, then
 * the sibling subtree at this level. */
static int path(const uint8_t (*d)[MERKLE_HASH_LEN], uint64_t n, uint64_t m, smk_buf *proof,
		smk_err *e)
{
	uint64_t k;

	if (n <= 1)
		return 0;
	k = split_point(n);
	if (m < k)
		return path(d, k, m, proof, e) < 0 ? -1 : add_root(proof, d + k, n - k, e);
	return path(d + k, n - k, m - k, proof, e) < 0 ? -1 : add_root(proof, d, k, e);
}

int merkle_inclusion_proof(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t size, uint64_t index,
			   smk_buf *proof, smk_err *e)
{
	if (index >= size)
		return smk_fail(e, SMK_E_ARG,
				"merkle: inclusion proof for leaf %llu of a tree of size %llu",
				(unsigned long long)index, (unsigned long long)size);
	return path(leaves, size, index, proof, e);
}

/* RFC 6962 §2.1.2 SUBPROOF(m, D[n], b). */
static int subproof(const uint8_t (*d)[MERKLE_HASH_LEN], uint64_t n, uint64_t m, int whole,
		    smk_buf *proof, smk_err *e)
{
	uint64_t k;

	if (m == n)
		return whole ? 0 : add_root(proof, d, n, e);
	k = split_point(n);
	if (m <= k)
		return subproof(d, k, m, whole, proof, e) < 0 ? -1
							      : add_root(proof, d + k, n - k, e);
	return subproof(d + k, n - k, m - k, 0, proof, e) < 0 ? -1 : add_root(proof, d, k, e);
}

int merkle_consistency_proof(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t new_size,
			     uint64_t old_size, smk_buf *proof, smk_err *e)
{
	if (old_size > new_size)
		return smk_fail(e, SMK_E_ARG,
				"merkle: consistency proof from size %llu to smaller size %llu",
				(unsigned long long)old_size, (unsigned long long)new_size);
	if (old_size == 0 || old_size == new_size)
		return 0;
	return subproof(leaves, new_size, old_size, 1, proof, e);
}

static int check_proof_len(size_t proof_len, smk_err *e)
{
	if (proof_len % MERKLE_HASH_LEN != 0)
		return smk_fail(e, SMK_E_FORMAT,
				"merkle proof: %zu bytes is not a whole number of hashes",
				proof_len);
	if (proof_len / MERKLE_HASH_LEN > 2 * 64)
		return smk_fail(e, SMK_E_FORMAT, "merkle proof: %zu hashes is too many",
				proof_len / MERKLE_HASH_LEN);
	return 0;
}

int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_LEN],
			    const uint8_t *proof, size_t proof_len,
			    const uint8_t root[MERKLE_HASH_LEN], smk_err *e)
{
	uint8_t r[MERKLE_HASH_LEN];
	uint64_t fn, sn;
	size_t i;

	if (check_proof_len(proof_len, e) < 0)
		return -1;
	if (size > MERKLE_MAX_SIZE || index >= size)
		return smk_fail(e, SMK_E_FORMAT,
				"inclusion proof: leaf index %llu outside tree size %llu",
				(unsigned long long)index, (unsigned long long)size);
	/* RFC 9162 §2.1.3.2 */
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, MERKLE_HASH_LEN);
	for (i = 0; i < proof_len; i += MERKLE_HASH_LEN) {
		const uint8_t *p = proof + i;

		if (sn == 0)
			return smk_fail(e, SMK_E_SIGNATURE,
					"inclusion proof: longer than the tree is deep");
		if ((fn & 1) || fn == sn) {
			if (merkle_node_hash(p, r, r, e) < 0)
				return -1;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (merkle_node_hash(r, p, r, e) < 0) {
			return -1;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return smk_fail(e, SMK_E_SIGNATURE,
				"inclusion proof: shorter than the tree is deep");
	if (memcmp(r, root, MERKLE_HASH_LEN) != 0)
		return smk_fail(e, SMK_E_SIGNATURE,
				"inclusion proof: leaf %llu does not lead to the root of size %llu",
				(unsigned long long)index, (unsigned long long)size);
	return 0;
}

int merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
			      const uint8_t old_root[MERKLE_HASH_LEN],
			      const uint8_t new_root[MERKLE_HASH_LEN], const uint8_t *proof,
			      size_t proof_len, smk_err *e)
{
	uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
	uint64_t fn, sn;
	size_t i;

	if (check_proof_len(proof_len, e) < 0)
		return -1;
	if (new_size > MERKLE_MAX_SIZE)
		return smk_fail(e, SMK_E_FORMAT, "consistency proof: tree size %llu too large",
				(unsigned long long)new_size);
	if (old_size > new_size)
		return smk_fail(e, SMK_E_SIGNATURE,
				"consistency: the log shrank from %llu to %llu records",
				(unsigned long long)old_size, (unsigned long long)new_size);
	if (old_size == new_size) {
		if (proof_len != 0)
			return smk_fail(e, SMK_E_FORMAT,
					"consistency proof: must be empty for equal sizes");
		if (memcmp(old_root, new_root, MERKLE_HASH_LEN) != 0)
			return smk_fail(e, SMK_E_SIGNATURE,
					"consistency: different roots for the same size %llu",
					(unsigned long long)old_size);
		return 0;
	}
	if (old_size == 0)
		return proof_len == 0 ? 0
				      : smk_fail(e, SMK_E_FORMAT,
						 "consistency proof: must be empty from size 0");
	/* RFC 9162 §2.1.4.2 */
	if (proof_len == 0)
		return smk_fail(e, SMK_E_SIGNATURE, "consistency proof: empty");
	fn = old_size - 1;
	sn = new_size - 1;
	i = 0;
	/* step 2: a power-of-two old tree is its own first node */
	if ((old_size & (old_size - 1)) == 0) {
		memcpy(fr, old_root, MERKLE_HASH_LEN);
	} else {
		memcpy(fr, proof, MERKLE_HASH_LEN);
		i = MERKLE_HASH_LEN;
	}
	memcpy(sr, fr, MERKLE_HASH_LEN);
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < proof_len; i += MERKLE_HASH_LEN) {
		const uint8_t *c = proof + i;

		if (sn == 0)
			return smk_fail(e, SMK_E_SIGNATURE,
					"consistency proof: longer than the tree is deep");
		if ((fn & 1) || fn == sn) {
			if (merkle_node_hash(c, fr, fr, e) < 0 ||
			    merkle_node_hash(c, sr, sr, e) < 0)
				return -1;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else if (merkle_node_hash(sr, c, sr, e) < 0) {
			return -1;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return smk_fail(e, SMK_E_SIGNATURE,
				"consistency proof: shorter than the tree is deep");
	if (memcmp(fr, old_root, MERKLE_HASH_LEN) != 0)
		return smk_fail(
		    e, SMK_E_SIGNATURE,
		    "consistency: the first %llu records differ from the old checkpoint",
		    (unsigned long long)old_size);
	if (memcmp(sr, new_root, MERKLE_HASH_LEN) != 0)
		return smk_fail(e, SMK_E_SIGNATURE,
				"consistency: proof does not lead to the new root of size %llu",
				(unsigned long long)new_size);
	return 0;
}
