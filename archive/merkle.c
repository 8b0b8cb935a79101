/* SPDX-License-Identifier: BSD-3-Clause */
/* RFC 6962 Merkle tree heads and proofs; RFC 9162 proof verification. */
#include "merkle.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "../common/digest.h"

static int sha256_parts(const uint8_t prefix, const uint8_t *a, size_t alen, const uint8_t *b,
			size_t blen, uint8_t out[MERKLE_HASH_LEN], smk_err *e)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int ok;

	if (!md)
		return smk_fail(e, SMK_E_NOMEM, "merkle: out of memory");
	ok = EVP_DigestInit_ex(md, smk_sha256_md(), NULL) && EVP_DigestUpdate(md, &prefix, 1) &&
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

		if (!EVP_Digest("", 0, out, &len, smk_sha256_md(), NULL))
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

/* Where subtree hashes come from: a flat array of leaf hashes (every
 * subtree recomputed) or complete subtrees looked up (merkle_nodes), each
 * looked up once per proof: a proof of the oldest leaf asks for the peaks
 * of the right edge O(log n) times each. */
#define NODE_MEMO 192
struct source {
	const uint8_t (*leaves)[MERKLE_HASH_LEN];
	const merkle_nodes *nodes;
	unsigned memo_n;
	struct {
		unsigned level;
		uint64_t index;
		uint8_t hash[MERKLE_HASH_LEN];
	} memo[NODE_MEMO];
};

static unsigned log2_floor(uint64_t n)
{
	unsigned l = 0;

	while (n >>= 1)
		l++;
	return l;
}

static int node_get(struct source *s, unsigned l, uint64_t i, uint8_t out[MERKLE_HASH_LEN],
		    smk_err *e)
{
	unsigned k;

	for (k = 0; k < s->memo_n; k++)
		if (s->memo[k].level == l && s->memo[k].index == i) {
			memcpy(out, s->memo[k].hash, MERKLE_HASH_LEN);
			return 0;
		}
	if (s->nodes->get(s->nodes->ctx, l, i, out, e) < 0)
		return -1;
	if (s->memo_n < NODE_MEMO) {
		s->memo[s->memo_n].level = l;
		s->memo[s->memo_n].index = i;
		memcpy(s->memo[s->memo_n].hash, out, MERKLE_HASH_LEN);
		s->memo_n++;
	}
	return 0;
}

/* RFC 6962's recursion only ever asks for D[lo:lo+n] with lo a multiple of
 * the largest power of two <= n, so its left part is always a complete
 * subtree the source keeps. */
static int nodes_mth(struct source *s, uint64_t lo, uint64_t n, uint8_t out[MERKLE_HASH_LEN],
		     smk_err *e)
{
	uint8_t l[MERKLE_HASH_LEN], r[MERKLE_HASH_LEN];
	uint64_t k;
	unsigned lv;

	if (n == 0)
		return merkle_root(NULL, 0, out, e);
	if (lo > s->nodes->size || n > s->nodes->size - lo)
		return smk_fail(e, SMK_E_ARG, "merkle: leaves %llu..%llu of a tree of size %llu",
				(unsigned long long)lo, (unsigned long long)(lo + n - 1),
				(unsigned long long)s->nodes->size);
	lv = log2_floor(n);
	k = UINT64_C(1) << lv;
	if (lo % k != 0)
		return smk_fail(e, SMK_E_ARG,
				"merkle: subtree at %llu of %llu leaves is not aligned",
				(unsigned long long)lo, (unsigned long long)n);
	if (k == n)
		return node_get(s, lv, lo >> lv, out, e);
	if (node_get(s, lv, lo >> lv, l, e) < 0 || nodes_mth(s, lo + k, n - k, r, e) < 0)
		return -1;
	return merkle_node_hash(l, r, out, e);
}

/* MTH(D[lo:lo+n]) */
static int sub_root(struct source *s, uint64_t lo, uint64_t n, uint8_t out[MERKLE_HASH_LEN],
		    smk_err *e)
{
	if (s->nodes)
		return nodes_mth(s, lo, n, out, e);
	return merkle_root(s->leaves + lo, n, out, e);
}

static int add_root(smk_buf *proof, struct source *s, uint64_t lo, uint64_t n, smk_err *e)
{
	uint8_t h[MERKLE_HASH_LEN];

	if (sub_root(s, lo, n, h, e) < 0)
		return -1;
	if (smk_buf_add(proof, h, sizeof(h)) < 0)
		return smk_fail(e, SMK_E_NOMEM, "merkle: out of memory");
	return 0;
}

/* RFC 6962 §2.1.1 PATH(m, D[lo:lo+n]): the recursion's result comes first,
 * then the sibling subtree at this level. */
static int path(struct source *s, uint64_t lo, uint64_t n, uint64_t m, smk_buf *proof, smk_err *e)
{
	uint64_t k;

	if (n <= 1)
		return 0;
	k = split_point(n);
	if (m < k)
		return path(s, lo, k, m, proof, e) < 0 ? -1 : add_root(proof, s, lo + k, n - k, e);
	return path(s, lo + k, n - k, m - k, proof, e) < 0 ? -1 : add_root(proof, s, lo, k, e);
}

static int inclusion_proof(struct source *s, uint64_t size, uint64_t index, smk_buf *proof,
			   smk_err *e)
{
	if (index >= size)
		return smk_fail(e, SMK_E_ARG,
				"merkle: inclusion proof for leaf %llu of a tree of size %llu",
				(unsigned long long)index, (unsigned long long)size);
	return path(s, 0, size, index, proof, e);
}

int merkle_inclusion_proof(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t size, uint64_t index,
			   smk_buf *proof, smk_err *e)
{
	struct source s;

	s.leaves = leaves;
	s.nodes = NULL;
	s.memo_n = 0;
	return inclusion_proof(&s, size, index, proof, e);
}

/* RFC 6962 §2.1.2 SUBPROOF(m, D[lo:lo+n], b). */
static int subproof(struct source *s, uint64_t lo, uint64_t n, uint64_t m, int whole,
		    smk_buf *proof, smk_err *e)
{
	uint64_t k;

	if (m == n)
		return whole ? 0 : add_root(proof, s, lo, n, e);
	k = split_point(n);
	if (m <= k)
		return subproof(s, lo, k, m, whole, proof, e) < 0
			   ? -1
			   : add_root(proof, s, lo + k, n - k, e);
	return subproof(s, lo + k, n - k, m - k, 0, proof, e) < 0 ? -1
								  : add_root(proof, s, lo, k, e);
}

static int consistency_proof(struct source *s, uint64_t new_size, uint64_t old_size, smk_buf *proof,
			     smk_err *e)
{
	if (old_size > new_size)
		return smk_fail(e, SMK_E_ARG,
				"merkle: consistency proof from size %llu to smaller size %llu",
				(unsigned long long)old_size, (unsigned long long)new_size);
	if (old_size == 0 || old_size == new_size)
		return 0;
	return subproof(s, 0, new_size, old_size, 1, proof, e);
}

int merkle_consistency_proof(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t new_size,
			     uint64_t old_size, smk_buf *proof, smk_err *e)
{
	struct source s;

	s.leaves = leaves;
	s.nodes = NULL;
	s.memo_n = 0;
	return consistency_proof(&s, new_size, old_size, proof, e);
}

static struct source *nodes_source(const merkle_nodes *n, smk_err *e)
{
	struct source *s = malloc(sizeof(*s));

	if (!s) {
		smk_fail(e, SMK_E_NOMEM, "merkle: out of memory");
		return NULL;
	}
	s->leaves = NULL;
	s->nodes = n;
	s->memo_n = 0;
	return s;
}

int merkle_nodes_root(const merkle_nodes *n, uint64_t size, uint8_t out[MERKLE_HASH_LEN],
		      smk_err *e)
{
	struct source *s = nodes_source(n, e);
	int rc;

	if (!s)
		return -1;
	rc = nodes_mth(s, 0, size, out, e);
	free(s);
	return rc;
}

/* A proof (inclusion_proof or consistency_proof) from the stored nodes of
 * a tree of size leaves; other is the proof's second size or index. */
static int nodes_proof(const merkle_nodes *n,
		       int (*prove)(struct source *s, uint64_t size, uint64_t other, smk_buf *proof,
				    smk_err *e),
		       uint64_t size, uint64_t other, smk_buf *proof, smk_err *e)
{
	struct source *s;
	int rc;

	if (size > n->size)
		return smk_fail(e, SMK_E_ARG, "merkle: tree size %llu, only %llu leaves",
				(unsigned long long)size, (unsigned long long)n->size);
	if (!(s = nodes_source(n, e)))
		return -1;
	rc = prove(s, size, other, proof, e);
	free(s);
	return rc;
}

int merkle_nodes_inclusion_proof(const merkle_nodes *n, uint64_t size, uint64_t index,
				 smk_buf *proof, smk_err *e)
{
	return nodes_proof(n, inclusion_proof, size, index, proof, e);
}

int merkle_nodes_consistency_proof(const merkle_nodes *n, uint64_t new_size, uint64_t old_size,
				   smk_buf *proof, smk_err *e)
{
	return nodes_proof(n, consistency_proof, new_size, old_size, proof, e);
}

unsigned merkle_peaks(uint64_t size, unsigned level[64], uint64_t index[64])
{
	unsigned n = 0;
	int l;

	for (l = 63; l >= 0; l--)
		if (size & (UINT64_C(1) << l)) {
			level[n] = (unsigned)l;
			index[n] = (size >> l) - 1;
			n++;
		}
	return n;
}

/* ---- the append-only tree ---- */

const uint8_t *merkle_tree_node(const merkle_tree *t, unsigned l, uint64_t i)
{
	if (l >= 64 || i < t->base[l] || i - t->base[l] >= t->cap[l] || i >= (t->size >> l))
		return NULL;
	return t->level[l][i - t->base[l]];
}

static int tree_get(void *ctx, unsigned l, uint64_t i, uint8_t out[MERKLE_HASH_LEN], smk_err *e)
{
	const uint8_t *h = merkle_tree_node(ctx, l, i);
	uint64_t first = l < 64 ? i << l : 0;

	if (!h)
		return smk_fail(e, SMK_E_ARG,
				"merkle: the tree does not hold the subtree of 2^%u leaves at %llu",
				l, (unsigned long long)first);
	memcpy(out, h, MERKLE_HASH_LEN);
	return 0;
}

merkle_nodes merkle_tree_nodes(const merkle_tree *t)
{
	merkle_nodes n;

	n.get = tree_get;
	n.ctx = (void *)t; /* only read: tree_get takes it back as const */
	n.size = t->size;
	return n;
}

static int level_put(merkle_tree *t, unsigned l, uint64_t i, const uint8_t h[MERKLE_HASH_LEN],
		     smk_err *e)
{
	uint64_t j = i - t->base[l];

	if (j >= t->cap[l]) {
		uint64_t cap = t->cap[l] ? 2 * t->cap[l] : 64;
		uint8_t(*p)[MERKLE_HASH_LEN];

		if (cap > SIZE_MAX / MERKLE_HASH_LEN)
			return smk_fail(e, SMK_E_NOMEM, "merkle: tree too large");
		p = realloc(t->level[l], (size_t)cap * MERKLE_HASH_LEN);
		if (!p)
			return smk_fail(e, SMK_E_NOMEM, "merkle: out of memory");
		t->level[l] = p;
		t->cap[l] = cap;
	}
	memcpy(t->level[l][j], h, MERKLE_HASH_LEN);
	return 0;
}

int merkle_tree_start_at(merkle_tree *t, uint64_t size, const uint8_t (*peaks)[MERKLE_HASH_LEN],
			 smk_err *e)
{
	unsigned lv[64], k, n;
	uint64_t ix[64];
	unsigned l;

	if (t->size != 0)
		return smk_fail(e, SMK_E_ARG, "merkle: a tree can only start when empty");
	if (size > MERKLE_MAX_SIZE)
		return smk_fail(e, SMK_E_ARG, "merkle: tree size %llu too large",
				(unsigned long long)size);
	for (l = 0; l < 64; l++)
		t->base[l] = size >> l;
	n = merkle_peaks(size, lv, ix);
	for (k = 0; k < n; k++) {
		t->base[lv[k]] = ix[k];
		if (level_put(t, lv[k], ix[k], peaks[k], e) < 0) {
			merkle_tree_reset(t);
			return -1;
		}
	}
	t->size = size;
	return 0;
}

int merkle_tree_append(merkle_tree *t, const uint8_t leaf[MERKLE_HASH_LEN], smk_err *e)
{
	uint8_t h[MERKLE_HASH_LEN];
	uint64_t i = t->size;
	unsigned l = 0;

	if (t->size >= MERKLE_MAX_SIZE)
		return smk_fail(e, SMK_E_ARG, "merkle: tree is full");
	if (level_put(t, 0, i, leaf, e) < 0)
		return -1;
	/* every right child completes its parent */
	while (i & 1) {
		if (merkle_node_hash(t->level[l][i - 1 - t->base[l]], t->level[l][i - t->base[l]],
				     h, e) < 0 ||
		    level_put(t, l + 1, i >> 1, h, e) < 0)
			return -1;
		i >>= 1;
		l++;
	}
	t->size++;
	return 0;
}

int merkle_tree_root(const merkle_tree *t, uint64_t size, uint8_t out[MERKLE_HASH_LEN], smk_err *e)
{
	merkle_nodes n = merkle_tree_nodes(t);

	return merkle_nodes_root(&n, size, out, e);
}

int merkle_tree_inclusion_proof(const merkle_tree *t, uint64_t size, uint64_t index, smk_buf *proof,
				smk_err *e)
{
	merkle_nodes n = merkle_tree_nodes(t);

	return merkle_nodes_inclusion_proof(&n, size, index, proof, e);
}

int merkle_tree_consistency_proof(const merkle_tree *t, uint64_t new_size, uint64_t old_size,
				  smk_buf *proof, smk_err *e)
{
	merkle_nodes n = merkle_tree_nodes(t);

	return merkle_nodes_consistency_proof(&n, new_size, old_size, proof, e);
}

const uint8_t *merkle_tree_leaf(const merkle_tree *t, uint64_t index)
{
	return merkle_tree_node(t, 0, index);
}

void merkle_tree_reset(merkle_tree *t)
{
	unsigned l;

	for (l = 0; l < 64; l++)
		free(t->level[l]);
	memset(t, 0, sizeof(*t));
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

/* The proof walk of RFC 9162 §2.1.3.2 step 3 and §2.1.4.2 steps 5-6: fold the
 * hashes of proof from offset i into sr (and into fr where fr is not NULL: the
 * consistency walk keeps the old root apart), fn and sn being the node numbers
 * the walk starts from. what names the proof in the errors. */
static int walk_proof(const char *what, const uint8_t *proof, size_t i, size_t proof_len,
		      uint64_t fn, uint64_t sn, uint8_t *fr, uint8_t sr[MERKLE_HASH_LEN],
		      smk_err *e)
{
	for (; i < proof_len; i += MERKLE_HASH_LEN) {
		const uint8_t *c = proof + i;

		if (sn == 0)
			return smk_fail(e, SMK_E_SIGNATURE, "%s: longer than the tree is deep",
					what);
		if ((fn & 1) || fn == sn) {
			if ((fr && merkle_node_hash(c, fr, fr, e) < 0) ||
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
		return smk_fail(e, SMK_E_SIGNATURE, "%s: shorter than the tree is deep", what);
	return 0;
}

int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_LEN],
			    const uint8_t *proof, size_t proof_len,
			    const uint8_t root[MERKLE_HASH_LEN], smk_err *e)
{
	uint8_t r[MERKLE_HASH_LEN];

	if (check_proof_len(proof_len, e) < 0)
		return -1;
	if (size > MERKLE_MAX_SIZE || index >= size)
		return smk_fail(e, SMK_E_FORMAT,
				"inclusion proof: leaf index %llu outside tree size %llu",
				(unsigned long long)index, (unsigned long long)size);
	/* RFC 9162 §2.1.3.2 */
	memcpy(r, leaf, MERKLE_HASH_LEN);
	if (walk_proof("inclusion proof", proof, 0, proof_len, index, size - 1, NULL, r, e) < 0)
		return -1;
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
	if (walk_proof("consistency proof", proof, i, proof_len, fn, sn, fr, sr, e) < 0)
		return -1;
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
