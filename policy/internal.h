/* Shared between the files of policy/ only; not part of the module's API. */
#ifndef SMK_POLICY_INTERNAL_H
#define SMK_POLICY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "policy.h"

/* A node of a policy file as the strict YAML reader saw it. */
enum pnode_kind { PNODE_SCALAR, PNODE_SEQ, PNODE_MAP };

typedef struct pnode {
	enum pnode_kind kind;
	unsigned line, col;   /* 1-based, where the node starts */
	int plain;	      /* scalar written without quotes or block style */
	char *text;	      /* scalar value, NUL-terminated (never contains NUL) */
	struct pnode **items; /* sequence items; mapping: key, value, key, value ... */
	size_t n;	      /* entries in items */
} pnode;

#define PYAML_DEPTH_MAX 8 /* nesting of mappings and sequences */
#define PYAML_NODES_MAX 4096

/* Parse one YAML document into a node tree. Refuses aliases, anchors, tags,
 * directives, more than one document, non-scalar mapping keys and duplicate
 * keys, each with a file:line:col message. *root is NULL for an empty file. */
int pyaml_parse(const char *file, const unsigned char *text, size_t len, pnode **root, smk_err *e);
void pnode_free(pnode *n);

/* "FILE:LINE:COL: " + message, SMK_E_POLICY; returns -1. */
int policy_fail_at(smk_err *e, const char *file, const pnode *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Typed access to values; each fails naming the node and what was expected.
 * what is the field's name as the file spells it ("use-counter"). */
int pval_is_null(const pnode *n);
int pval_string(const char *file, const pnode *n, const char *what, const char **out, smk_err *e);
int pval_uint(const char *file, const pnode *n, const char *what, uint64_t min, uint64_t max,
	      uint64_t *out, smk_err *e);
int pval_bool(const char *file, const pnode *n, const char *what, int *out, smk_err *e);
/* A non-empty list. */
int pval_list(const char *file, const pnode *n, const char *what, smk_err *e);
/* Refuse keys not in known (NULL-terminated); where is "" or "in key". */
int pval_known_keys(const char *file, const pnode *map, const char *const *known, const char *where,
		    smk_err *e);
/* The value of key in map, or NULL. */
const pnode *pval_get(const pnode *map, const char *key);

/* Read allow: {users, groups}, resolve the names, fill p->users / p->groups. */
int policy_load_allow(const char *file, const pnode *root, policy *p, smk_err *e);
/* Scan a label template; on failure why says the problem and *off the byte
 * offset of the offending character. */
int policy_label_template_scan(const char *tmpl, char *why, size_t why_len, size_t *off);

/* Fill p->canonical, p->digest and p->digest_hex from the validated fields. */
int policy_canonicalize(policy *p, smk_err *e);

/* Is c allowed in a key label (and in the literal parts of a template)? */
int policy_label_char(char c);

#endif
