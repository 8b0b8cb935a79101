/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The archive's log is an RFC 6962 Merkle tree over the canonical bytes of
 * the records, in sequence order. This module knows only hashes: it computes
 * tree heads, makes inclusion and consistency proofs, and verifies them with
 * the algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2.
 *
 * A proof is a flat array of 32-byte hashes, in the order the RFC lists them
 * (the one nearest the leaf first).
 */
#ifndef SMK_MERKLE_H
#define SMK_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#include "../common/buf.h"
#include "../common/err.h"

#define MERKLE_HASH_LEN 32

/* Largest tree we accept in a proof (2^62 leaves): bounds the shifts and the
 * proof length (at most 2 * 62 hashes). */
#define MERKLE_MAX_SIZE (UINT64_C(1) << 62)

/* RFC 6962 §2.1: leaf hash SHA-256(0x00 || data). */
int merkle_leaf_hash(const uint8_t *data, size_t len, uint8_t out[MERKLE_HASH_LEN], smk_err *e);
/* RFC 6962 §2.1: interior node SHA-256(0x01 || left || right). */
int merkle_node_hash(const uint8_t left[MERKLE_HASH_LEN], const uint8_t right[MERKLE_HASH_LEN],
		     uint8_t out[MERKLE_HASH_LEN], smk_err *e);

/* MTH over n leaf hashes (n = 0 gives SHA-256 of the empty string). */
int merkle_root(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t n, uint8_t out[MERKLE_HASH_LEN],
		smk_err *e);

/* RFC 6962 §2.1.1 PATH(index, D[0:size]); appended to proof. */
int merkle_inclusion_proof(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t size, uint64_t index,
			   smk_buf *proof, smk_err *e);
/* RFC 6962 §2.1.2 PROOF(old_size, D[0:new_size]); appended to proof. */
int merkle_consistency_proof(const uint8_t (*leaves)[MERKLE_HASH_LEN], uint64_t new_size,
			     uint64_t old_size, smk_buf *proof, smk_err *e);

/* RFC 9162 §2.1.3.2: does leaf (a leaf hash) sit at index in the tree of
 * size with this root? 0 yes; -1 with SMK_E_SIGNATURE (proof does not hold)
 * or SMK_E_FORMAT (proof malformed). */
int merkle_verify_inclusion(uint64_t index, uint64_t size, const uint8_t leaf[MERKLE_HASH_LEN],
			    const uint8_t *proof, size_t proof_len,
			    const uint8_t root[MERKLE_HASH_LEN], smk_err *e);

/* RFC 9162 §2.1.4.2: is the tree (new_size, new_root) an append-only
 * extension of (old_size, old_root)? Equal sizes need an empty proof and equal
 * roots; old_size 0 is consistent with anything. */
int merkle_verify_consistency(uint64_t old_size, uint64_t new_size,
			      const uint8_t old_root[MERKLE_HASH_LEN],
			      const uint8_t new_root[MERKLE_HASH_LEN], const uint8_t *proof,
			      size_t proof_len, smk_err *e);

/* Where the hashes of complete subtrees come from: get(ctx, l, i, out) is
 * the hash of the subtree of 2^l leaves starting at leaf i << l, for any
 * such subtree inside the first size leaves (a stored tree: archive/read.c
 * reads them from the archive's tree table). A get that does not hold a
 * node fails (SMK_E_ARG or its own error): a proof is then not made, never
 * made wrong. Roots and proofs cost O(log n) distinct gets. */
typedef struct merkle_nodes {
	int (*get)(void *ctx, unsigned level, uint64_t index, uint8_t out[MERKLE_HASH_LEN],
		   smk_err *e);
	void *ctx;
	uint64_t size;
} merkle_nodes;

int merkle_nodes_root(const merkle_nodes *s, uint64_t size, uint8_t out[MERKLE_HASH_LEN],
		      smk_err *e);
int merkle_nodes_inclusion_proof(const merkle_nodes *s, uint64_t size, uint64_t index,
				 smk_buf *proof, smk_err *e);
int merkle_nodes_consistency_proof(const merkle_nodes *s, uint64_t new_size, uint64_t old_size,
				   smk_buf *proof, smk_err *e);

/* The complete subtrees the tree of size leaves is made of, left to right
 * (largest first): one per bit set in size, peak k being (level[k],
 * index[k]). Returns how many (0..63). MTH(size) folds their hashes from
 * the right: r = peak[last]; r = H(peak[k], r) for k downwards. */
unsigned merkle_peaks(uint64_t size, unsigned level[64], uint64_t index[64]);

/* An append-only tree that keeps the hash of every complete subtree (level
 * l: the subtrees of 2^l leaves, in order; 2n hashes in all). Appending is
 * amortised O(1) hashes; the root of any prefix and proofs cost O(log^2 n)
 * instead of O(n), so checking n checkpoints is O(n log^2 n), not O(n^2).
 * Start from MERKLE_TREE_INIT (or zeroed memory). Level l holds the
 * subtrees from index base[l] on (0 unless started by merkle_tree_start_at). */
typedef struct merkle_tree {
	uint8_t (*level[64])[MERKLE_HASH_LEN];
	uint64_t cap[64];
	uint64_t base[64];
	uint64_t size;
} merkle_tree;

#define MERKLE_TREE_INIT                                                                           \
	{                                                                                          \
		{NULL}, {0}, {0}, 0                                                                \
	}

/* Start an empty t as the tree of size leaves of which only the peaks
 * (merkle_peaks order) are known: later appends, roots of sizes >= size,
 * consistency proofs between such sizes and inclusion proofs of the later
 * leaves work; anything that needs an earlier node fails (SMK_E_ARG). An
 * audit from a trusted checkpoint uses it to hash only the records since. */
int merkle_tree_start_at(merkle_tree *t, uint64_t size, const uint8_t (*peaks)[MERKLE_HASH_LEN],
			 smk_err *e);
int merkle_tree_append(merkle_tree *t, const uint8_t leaf[MERKLE_HASH_LEN], smk_err *e);
/* MTH of the first size leaves (size <= t->size), as merkle_root would. */
int merkle_tree_root(const merkle_tree *t, uint64_t size, uint8_t out[MERKLE_HASH_LEN], smk_err *e);
/* PATH and PROOF as above, over the first size / new_size leaves. */
int merkle_tree_inclusion_proof(const merkle_tree *t, uint64_t size, uint64_t index, smk_buf *proof,
				smk_err *e);
int merkle_tree_consistency_proof(const merkle_tree *t, uint64_t new_size, uint64_t old_size,
				  smk_buf *proof, smk_err *e);
/* t as a source of nodes (it must outlive the result and not change). */
merkle_nodes merkle_tree_nodes(const merkle_tree *t);
/* The stored node (level, index) of t, or NULL when t does not hold it. */
const uint8_t *merkle_tree_node(const merkle_tree *t, unsigned level, uint64_t index);
/* Leaf hash index, or NULL past the end (or before a started tree's base). */
const uint8_t *merkle_tree_leaf(const merkle_tree *t, uint64_t index);
/* Free everything; the tree is empty and usable again. */
void merkle_tree_reset(merkle_tree *t);

#endif
