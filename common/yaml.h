/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The strict YAML reader shared by policy files and the daemon config.
 *
 * A reviewed file must read as it means, so everything that lets a file say
 * one thing and mean another is refused: anchors and aliases (a value defined
 * elsewhere), tags (a type chosen by the author), directives, a second
 * document, and duplicate keys (libyaml keeps both and a loader silently
 * takes one). Every failure is "FILE:LINE:COL: problem; what would be right".
 */
#ifndef SMK_YAML_H
#define SMK_YAML_H

#include <stddef.h>
#include <stdint.h>

#include "err.h"

/* What kind of file is read: names it in messages and sets the error code. */
typedef struct smk_ydoc {
	const char *file;   /* the path, as messages show it */
	enum smk_errc code; /* code of every failure (SMK_E_POLICY, SMK_E_ARG ...) */
	const char *what;   /* "policy", "configuration" */
	unsigned depth_max; /* nesting of mappings and sequences; 0: SMK_YAML_DEPTH_MAX */
	unsigned nodes_max; /* values in the file; 0: SMK_YAML_NODES_MAX */
} smk_ydoc;

#define SMK_YAML_DEPTH_MAX 8
#define SMK_YAML_NODES_MAX 4096

enum smk_ynode_kind {
	SMK_YNODE_SCALAR,
	SMK_YNODE_SEQ,
	SMK_YNODE_MAP,
	SMK_YNODE_KIND_COUNT, /* not a kind: how many there are */
};

typedef struct smk_ynode {
	enum smk_ynode_kind kind;
	unsigned line, col;	  /* 1-based, where the node starts */
	int plain;		  /* scalar written without quotes or block style */
	char *text;		  /* scalar value, NUL-terminated (never contains NUL) */
	struct smk_ynode **items; /* sequence items; mapping: key, value, key, value ... */
	size_t n;		  /* entries in items */
} smk_ynode;

/* Parse one YAML document into a node tree. *root is NULL for an empty file. */
int smk_yaml_parse(const smk_ydoc *d, const unsigned char *text, size_t len, smk_ynode **root,
		   smk_err *e);
void smk_ynode_free(smk_ynode *n);

/* "FILE:LINE:COL: " + message with d->code; n NULL means 1:1. Returns -1. */
int smk_yaml_fail_at(const smk_ydoc *d, smk_err *e, const smk_ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* "a single value", "a list", "a mapping": for messages. */
const char *smk_ynode_kind_name(const smk_ynode *n);

/* Typed access to values; each fails naming the node and what was expected.
 * what is the field's name as the file spells it ("use-counter"). */
int smk_yval_is_null(const smk_ynode *n);
int smk_yval_string(const smk_ydoc *d, const smk_ynode *n, const char *what, const char **out,
		    smk_err *e);
int smk_yval_uint(const smk_ydoc *d, const smk_ynode *n, const char *what, uint64_t min,
		  uint64_t max, uint64_t *out, smk_err *e);
int smk_yval_bool(const smk_ydoc *d, const smk_ynode *n, const char *what, int *out, smk_err *e);
/* A non-empty list. */
int smk_yval_list(const smk_ydoc *d, const smk_ynode *n, const char *what, smk_err *e);
/* A mapping. */
int smk_yval_map(const smk_ydoc *d, const smk_ynode *n, const char *what, smk_err *e);
/* Refuse keys not in known (NULL-terminated), suggesting a near match; where
 * is "" or "in key". */
int smk_yval_known_keys(const smk_ydoc *d, const smk_ynode *map, const char *const *known,
			const char *where, smk_err *e);
/* The value of key in map, or NULL. */
const smk_ynode *smk_yval_get(const smk_ynode *map, const char *key);

#endif
