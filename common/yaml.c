/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The strict YAML reader (see yaml.h for what it refuses and why) and the
 * typed accessors every loader uses, so that policy files and the daemon
 * config fail with the same kind of FILE:LINE:COL message.
 */
#include "yaml.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "names.h"

static int vfail_at(const smk_ydoc *d, smk_err *e, size_t line, size_t col, const char *fmt,
		    va_list ap)
{
	char msg[sizeof(e->msg)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return smk_fail(e, d->code, "%s:%zu:%zu: %s", d->file, line, col, msg);
}

int smk_yaml_fail_at(const smk_ydoc *d, smk_err *e, const smk_ynode *n, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail_at(d, e, n ? n->line : 1, n ? n->col : 1, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail_mark(const smk_ydoc *d, smk_err *e, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_mark(const smk_ydoc *d, smk_err *e, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	/* libyaml counts from 0; editors count from 1 */
	rc = vfail_at(d, e, m.line + 1, m.column + 1, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail_oom(const smk_ydoc *d, smk_err *e)
{
	return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", d->file);
}

void smk_ynode_free(smk_ynode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		smk_ynode_free(n->items[i]);
	free(n->items);
	free(n->text);
	free(n);
}

struct reader {
	const smk_ydoc *d;
	smk_err *e;
	smk_ynode **stack;
	unsigned depth, depth_max;
	unsigned nodes, nodes_max;
	smk_ynode *root;
};

static smk_ynode *node_new(enum smk_ynode_kind kind, yaml_mark_t m)
{
	smk_ynode *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)m.line + 1;
	n->col = (unsigned)m.column + 1;
	return n;
}

/* Attach nd to the open collection (or make it the root). Frees nd on failure. */
static int attach(struct reader *r, smk_ynode *nd)
{
	smk_ynode *parent, **items;
	size_t i;

	if (++r->nodes > r->nodes_max) {
		smk_yaml_fail_at(r->d, r->e, nd, "more than %u values; a %s is small", r->nodes_max,
				 r->d->what);
		smk_ynode_free(nd);
		return -1;
	}
	if (r->depth == 0) {
		r->root = nd;
		return 0;
	}
	parent = r->stack[r->depth - 1];
	if (parent->kind == SMK_YNODE_MAP && parent->n % 2 == 0) {
		if (nd->kind != SMK_YNODE_SCALAR) {
			smk_yaml_fail_at(r->d, r->e, nd,
					 "a mapping key must be a name, not a list or mapping");
			smk_ynode_free(nd);
			return -1;
		}
		for (i = 0; i < parent->n; i += 2) {
			if (strcmp(parent->items[i]->text, nd->text) == 0) {
				smk_yaml_fail_at(r->d, r->e, nd,
						 "duplicate key \"%s\" (first at %u:%u); write "
						 "each key once",
						 nd->text, parent->items[i]->line,
						 parent->items[i]->col);
				smk_ynode_free(nd);
				return -1;
			}
		}
	}
	items = realloc(parent->items, (parent->n + 1) * sizeof(*items));
	if (items == NULL) {
		smk_ynode_free(nd);
		return fail_oom(r->d, r->e);
	}
	parent->items = items;
	parent->items[parent->n++] = nd;
	return 0;
}

/* Anchors and tags are refused wherever they appear. */
static int plain_node_props(struct reader *r, const yaml_event_t *ev, const yaml_char_t *anchor,
			    const yaml_char_t *tag)
{
	if (anchor)
		return fail_mark(r->d, r->e, ev->start_mark,
				 "anchor \"&%s\" is not allowed; write the value out where it "
				 "is used",
				 (const char *)anchor);
	if (tag)
		return fail_mark(r->d, r->e, ev->start_mark,
				 "tag \"%s\" is not allowed; write plain values",
				 (const char *)tag);
	return 0;
}

static int on_scalar(struct reader *r, const yaml_event_t *ev)
{
	smk_ynode *nd;

	if (plain_node_props(r, ev, ev->data.scalar.anchor, ev->data.scalar.tag) < 0)
		return -1;
	if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length))
		return fail_mark(r->d, r->e, ev->start_mark,
				 "a NUL character is not allowed in a value");
	nd = node_new(SMK_YNODE_SCALAR, ev->start_mark);
	if (nd == NULL)
		return fail_oom(r->d, r->e);
	nd->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	nd->text = malloc(ev->data.scalar.length + 1);
	if (nd->text == NULL) {
		smk_ynode_free(nd);
		return fail_oom(r->d, r->e);
	}
	memcpy(nd->text, ev->data.scalar.value, ev->data.scalar.length);
	nd->text[ev->data.scalar.length] = '\0';
	return attach(r, nd);
}

static int on_start(struct reader *r, const yaml_event_t *ev, enum smk_ynode_kind kind,
		    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	smk_ynode *nd;

	if (plain_node_props(r, ev, anchor, tag) < 0)
		return -1;
	if (r->depth == r->depth_max)
		return fail_mark(r->d, r->e, ev->start_mark,
				 "nested more than %u levels deep; write a flatter %s",
				 r->depth_max, r->d->what);
	nd = node_new(kind, ev->start_mark);
	if (nd == NULL)
		return fail_oom(r->d, r->e);
	if (attach(r, nd) < 0)
		return -1;
	r->stack[r->depth++] = nd;
	return 0;
}

static int on_event(struct reader *r, const yaml_event_t *ev, int *documents, int *done)
{
	switch (ev->type) {
	case YAML_STREAM_START_EVENT:
	case YAML_NO_EVENT:
		return 0;
	case YAML_STREAM_END_EVENT:
		*done = 1;
		return 0;
	case YAML_DOCUMENT_START_EVENT:
		if (++*documents > 1)
			return fail_mark(r->d, r->e, ev->start_mark,
					 "a second document; one %s per file, no \"---\" after "
					 "the first",
					 r->d->what);
		if (ev->data.document_start.version_directive ||
		    ev->data.document_start.tag_directives.start !=
			ev->data.document_start.tag_directives.end)
			return fail_mark(r->d, r->e, ev->start_mark,
					 "directives (%%YAML, %%TAG) are not allowed; remove them");
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_ALIAS_EVENT:
		return fail_mark(
		    r->d, r->e, ev->start_mark,
		    "alias \"*%s\" is not allowed; write the value out where it is used",
		    (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		return on_scalar(r, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(r, ev, SMK_YNODE_SEQ, ev->data.sequence_start.anchor,
				ev->data.sequence_start.tag);
	case YAML_MAPPING_START_EVENT:
		return on_start(r, ev, SMK_YNODE_MAP, ev->data.mapping_start.anchor,
				ev->data.mapping_start.tag);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (r->depth > 0)
			r->depth--;
		return 0;
	}
	return 0;
}

int smk_yaml_parse(const smk_ydoc *d, const unsigned char *text, size_t len, smk_ynode **root,
		   smk_err *e)
{
	struct reader r;
	yaml_parser_t parser;
	yaml_event_t ev;
	int documents = 0, done = 0, rc = 0;

	*root = NULL;
	memset(&r, 0, sizeof(r));
	r.d = d;
	r.e = e;
	r.depth_max = d->depth_max ? d->depth_max : SMK_YAML_DEPTH_MAX;
	r.nodes_max = d->nodes_max ? d->nodes_max : SMK_YAML_NODES_MAX;
	r.stack = calloc(r.depth_max, sizeof(*r.stack));
	if (r.stack == NULL)
		return fail_oom(d, e);
	if (!yaml_parser_initialize(&parser)) {
		free(r.stack);
		return fail_oom(d, e);
	}
	yaml_parser_set_input_string(&parser, text, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR)
				rc = fail_oom(d, e);
			else if (parser.context)
				rc = fail_mark(d, e, parser.problem_mark,
					       "YAML syntax: %s %s; fix the indentation or quoting",
					       parser.problem ? parser.problem : "error",
					       parser.context);
			else
				rc = fail_mark(d, e, parser.problem_mark,
					       "YAML syntax: %s; fix the indentation or quoting",
					       parser.problem ? parser.problem : "error");
			break;
		}
		rc = on_event(&r, &ev, &documents, &done);
		yaml_event_delete(&ev);
		if (rc < 0)
			break;
	}
	yaml_parser_delete(&parser);
	free(r.stack);
	if (rc < 0) {
		smk_ynode_free(r.root);
		return -1;
	}
	*root = r.root;
	return 0;
}

/* ---- typed access ---- */

/* clang-format off */
static const char *const ynode_kind_names[] = {
	[SMK_YNODE_SCALAR] = "a single value", [SMK_YNODE_SEQ] = "a list",
	[SMK_YNODE_MAP] = "a mapping",
};
/* clang-format on */
_Static_assert(SMK_NELEM(ynode_kind_names) == SMK_YNODE_KIND_COUNT, "every kind has a name");

const char *smk_ynode_kind_name(const smk_ynode *n)
{
	return smk_enum_name(ynode_kind_names, SMK_NELEM(ynode_kind_names), n->kind,
			     "something else");
}

const smk_ynode *smk_yval_get(const smk_ynode *map, const char *key)
{
	size_t i;

	if (map == NULL || map->kind != SMK_YNODE_MAP)
		return NULL;
	for (i = 0; i + 1 < map->n; i += 2)
		if (strcmp(map->items[i]->text, key) == 0)
			return map->items[i + 1];
	return NULL;
}

int smk_yval_is_null(const smk_ynode *n)
{
	static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
	size_t i;

	if (n->kind != SMK_YNODE_SCALAR || !n->plain)
		return 0;
	for (i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
		if (strcmp(n->text, nulls[i]) == 0)
			return 1;
	return 0;
}

/* n must be a scalar, a list or a mapping; `must` says which to the user. */
static int want_kind(const smk_ydoc *d, const smk_ynode *n, enum smk_ynode_kind kind,
		     const char *what, const char *must, smk_err *e)
{
	if (n->kind != kind)
		return smk_yaml_fail_at(d, e, n, "%s is %s; it must be %s", what,
					smk_ynode_kind_name(n), must);
	return 0;
}

int smk_yval_string(const smk_ydoc *d, const smk_ynode *n, const char *what, const char **out,
		    smk_err *e)
{
	if (want_kind(d, n, SMK_YNODE_SCALAR, what, "a single text value", e) < 0)
		return -1;
	if (smk_yval_is_null(n))
		return smk_yaml_fail_at(d, e, n, "%s has no value; give one or remove the line",
					what);
	*out = n->text;
	return 0;
}

int smk_yval_uint(const smk_ydoc *d, const smk_ynode *n, const char *what, uint64_t min,
		  uint64_t max, uint64_t *out, smk_err *e)
{
	const char *s = n->text;
	uint64_t v = 0;
	int neg = 0;

	if (n->kind != SMK_YNODE_SCALAR || !n->plain || smk_yval_is_null(n) ||
	    strspn(s + (s[0] == '-'), "0123456789") != strlen(s + (s[0] == '-')) ||
	    s[s[0] == '-'] == '\0')
		return smk_yaml_fail_at(d, e, n,
					"%s must be a whole number from %" PRIu64 " to %" PRIu64
					", written without quotes; got %s%s%s",
					what, min, max, n->kind == SMK_YNODE_SCALAR ? "\"" : "",
					n->kind == SMK_YNODE_SCALAR ? n->text
								    : smk_ynode_kind_name(n),
					n->kind == SMK_YNODE_SCALAR ? "\"" : "");
	if (*s == '-') {
		neg = 1;
		s++;
	}
	for (; *s; s++) {
		if (v > (UINT64_MAX - 9) / 10) {
			v = UINT64_MAX;
			break;
		}
		v = v * 10 + (uint64_t)(*s - '0');
	}
	if ((neg && (v != 0 || min > 0)) || v < min || v > max)
		return smk_yaml_fail_at(
		    d, e, n, "%s %s is out of range; it must be from %" PRIu64 " to %" PRIu64, what,
		    n->text, min, max);
	*out = v;
	return 0;
}

int smk_yval_bool(const smk_ydoc *d, const smk_ynode *n, const char *what, int *out, smk_err *e)
{
	if (n->kind == SMK_YNODE_SCALAR && n->plain && strcmp(n->text, "true") == 0)
		*out = 1;
	else if (n->kind == SMK_YNODE_SCALAR && n->plain && strcmp(n->text, "false") == 0)
		*out = 0;
	else
		return smk_yaml_fail_at(d, e, n, "%s must be true or false, written without quotes",
					what);
	return 0;
}

int smk_yval_list(const smk_ydoc *d, const smk_ynode *n, const char *what, smk_err *e)
{
	if (want_kind(d, n, SMK_YNODE_SEQ, what,
		      "a list such as [a, b] or lines starting with \"- \"", e) < 0)
		return -1;
	if (n->n == 0)
		return smk_yaml_fail_at(d, e, n, "%s is an empty list; name at least one entry",
					what);
	return 0;
}

int smk_yval_map(const smk_ydoc *d, const smk_ynode *n, const char *what, smk_err *e)
{
	return want_kind(d, n, SMK_YNODE_MAP, what, "a mapping of \"key: value\" lines", e);
}

/* Edit distance, for "did you mean"; short strings only. */
static size_t distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), i, j;
	size_t row[65], prev, tmp;

	if (la > 64 || lb > 64)
		return SIZE_MAX;
	for (j = 0; j <= lb; j++)
		row[j] = j;
	for (i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (j = 1; j <= lb; j++) {
			tmp = row[j];
			row[j] = prev + (a[i - 1] != b[j - 1]);
			if (row[j - 1] + 1 < row[j])
				row[j] = row[j - 1] + 1;
			if (tmp + 1 < row[j])
				row[j] = tmp + 1;
			prev = tmp;
		}
	}
	return row[lb];
}

int smk_yval_known_keys(const smk_ydoc *d, const smk_ynode *map, const char *const *known,
			const char *where, smk_err *e)
{
	char list[256] = "", hint[96] = "";
	const char *const *k;
	size_t i;

	for (i = 0; i + 1 < map->n; i += 2) {
		const smk_ynode *key = map->items[i];

		for (k = known; *k; k++)
			if (strcmp(key->text, *k) == 0)
				break;
		if (*k)
			continue;
		for (k = known; *k; k++) {
			if (list[0])
				strncat(list, ", ", sizeof(list) - strlen(list) - 1);
			strncat(list, *k, sizeof(list) - strlen(list) - 1);
			if (!hint[0] && distance(key->text, *k) <= 2)
				snprintf(hint, sizeof(hint), "did you mean \"%s\"? ", *k);
		}
		return smk_yaml_fail_at(d, e, key, "unknown key \"%s\"%s%s; %sknown keys: %s",
					key->text, where[0] ? " " : "", where, hint, list);
	}
	return 0;
}
