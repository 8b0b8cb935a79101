/* SPDX-License-Identifier: BSD-3-Clause */
/* Shared between the files of policy/ only; not part of the module's API. */
#ifndef SMK_POLICY_INTERNAL_H
#define SMK_POLICY_INTERNAL_H

#include <stddef.h>
#include <stdint.h>

#include "../common/yaml.h"
#include "policy.h"

/* Policy files are read with the shared strict YAML reader (common/yaml.h);
 * these names keep policy/ reading as it did, with SMK_E_POLICY errors. */
typedef smk_ynode pnode;
#define PNODE_SCALAR SMK_YNODE_SCALAR
#define PNODE_SEQ SMK_YNODE_SEQ
#define PNODE_MAP SMK_YNODE_MAP
#define pnode_free smk_ynode_free
#define pval_is_null smk_yval_is_null
#define pval_get smk_yval_get

#define POLICY_YDOC(file) (&(const smk_ydoc){(file), SMK_E_POLICY, "policy", 0, 0})

static inline int pyaml_parse(const char *file, const unsigned char *text, size_t len, pnode **root,
			      smk_err *e)
{
	return smk_yaml_parse(POLICY_YDOC(file), text, len, root, e);
}

/* "FILE:LINE:COL: " + message, SMK_E_POLICY; returns -1. */
#define policy_fail_at(e, file, n, ...) smk_yaml_fail_at(POLICY_YDOC(file), (e), (n), __VA_ARGS__)

static inline int pval_string(const char *file, const pnode *n, const char *what, const char **out,
			      smk_err *e)
{
	return smk_yval_string(POLICY_YDOC(file), n, what, out, e);
}

static inline int pval_uint(const char *file, const pnode *n, const char *what, uint64_t min,
			    uint64_t max, uint64_t *out, smk_err *e)
{
	return smk_yval_uint(POLICY_YDOC(file), n, what, min, max, out, e);
}

static inline int pval_bool(const char *file, const pnode *n, const char *what, int *out,
			    smk_err *e)
{
	return smk_yval_bool(POLICY_YDOC(file), n, what, out, e);
}

static inline int pval_list(const char *file, const pnode *n, const char *what, smk_err *e)
{
	return smk_yval_list(POLICY_YDOC(file), n, what, e);
}

static inline int pval_known_keys(const char *file, const pnode *map, const char *const *known,
				  const char *where, smk_err *e)
{
	return smk_yval_known_keys(POLICY_YDOC(file), map, known, where, e);
}

/* Read allow: {users, groups}, resolve the names, fill p->users / p->groups. */
int policy_load_allow(const char *file, const pnode *root, policy *p, smk_err *e);
/* Read the optional sign: {users, groups, max-per-day, log} section. */
int policy_load_sign(const char *file, const pnode *root, policy *p, smk_err *e);
/* Scan a label template; on failure why says the problem and *off the byte
 * offset of the offending character. */
int policy_label_template_scan(const char *tmpl, char *why, size_t why_len, size_t *off);

/* Fill p->canonical, p->digest and p->digest_hex from the validated fields. */
int policy_canonicalize(policy *p, smk_err *e);

/* Is c allowed in a key label (and in the literal parts of a template)? */
int policy_label_char(char c);

#endif
