/*
 * The strict YAML reader for policy files. A reviewed policy must read as it
 * means, so everything that lets a file say one thing and mean another is
 * refused here: anchors and aliases (a value defined elsewhere), tags
 * (a type chosen by the author), directives, a second document, and
 * duplicate keys (libyaml keeps both and a loader silently takes one).
 */
#include "internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

static int vfail_at(smk_err *e, const char *file, size_t line, size_t col, const char *fmt,
		    va_list ap)
{
	char msg[sizeof(e->msg)];

	vsnprintf(msg, sizeof(msg), fmt, ap);
	return smk_fail(e, SMK_E_POLICY, "%s:%zu:%zu: %s", file, line, col, msg);
}

int policy_fail_at(smk_err *e, const char *file, const pnode *n, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = vfail_at(e, file, n ? n->line : 1, n ? n->col : 1, fmt, ap);
	va_end(ap);
	return rc;
}

static int fail_mark(smk_err *e, const char *file, yaml_mark_t m, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int fail_mark(smk_err *e, const char *file, yaml_mark_t m, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	/* libyaml counts from 0; editors count from 1 */
	rc = vfail_at(e, file, m.line + 1, m.column + 1, fmt, ap);
	va_end(ap);
	return rc;
}

void pnode_free(pnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++)
		pnode_free(n->items[i]);
	free(n->items);
	free(n->text);
	free(n);
}

struct reader {
	const char *file;
	smk_err *e;
	pnode *stack[PYAML_DEPTH_MAX];
	size_t depth;
	pnode *root;
	size_t nodes;
};

static pnode *node_new(enum pnode_kind kind, yaml_mark_t m)
{
	pnode *n = calloc(1, sizeof(*n));

	if (n == NULL)
		return NULL;
	n->kind = kind;
	n->line = (unsigned)m.line + 1;
	n->col = (unsigned)m.column + 1;
	return n;
}

/* Attach nd to the open collection (or make it the root). Frees nd on failure. */
static int attach(struct reader *r, pnode *nd)
{
	pnode *parent, **items;
	size_t i;

	if (++r->nodes > PYAML_NODES_MAX) {
		policy_fail_at(r->e, r->file, nd, "more than %d values; a policy is small",
			       PYAML_NODES_MAX);
		pnode_free(nd);
		return -1;
	}
	if (r->depth == 0) {
		r->root = nd;
		return 0;
	}
	parent = r->stack[r->depth - 1];
	if (parent->kind == PNODE_MAP && parent->n % 2 == 0) {
		if (nd->kind != PNODE_SCALAR) {
			policy_fail_at(r->e, r->file, nd,
				       "a mapping key must be a name, not a list or mapping");
			pnode_free(nd);
			return -1;
		}
		for (i = 0; i < parent->n; i += 2) {
			if (strcmp(parent->items[i]->text, nd->text) == 0) {
				policy_fail_at(r->e, r->file, nd,
					       "duplicate key \"%s\" (first at %u:%u); write each "
					       "key once",
					       nd->text, parent->items[i]->line,
					       parent->items[i]->col);
				pnode_free(nd);
				return -1;
			}
		}
	}
	items = realloc(parent->items, (parent->n + 1) * sizeof(*items));
	if (items == NULL) {
		pnode_free(nd);
		return smk_fail(r->e, SMK_E_NOMEM, "%s: out of memory", r->file);
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
		return fail_mark(r->e, r->file, ev->start_mark,
				 "anchor \"&%s\" is not allowed; write the value out where it "
				 "is used",
				 (const char *)anchor);
	if (tag)
		return fail_mark(r->e, r->file, ev->start_mark,
				 "tag \"%s\" is not allowed; write plain values",
				 (const char *)tag);
	return 0;
}

static int on_scalar(struct reader *r, const yaml_event_t *ev)
{
	pnode *nd;

	if (plain_node_props(r, ev, ev->data.scalar.anchor, ev->data.scalar.tag) < 0)
		return -1;
	if (memchr(ev->data.scalar.value, 0, ev->data.scalar.length))
		return fail_mark(r->e, r->file, ev->start_mark,
				 "a NUL character is not allowed in a value");
	nd = node_new(PNODE_SCALAR, ev->start_mark);
	if (nd == NULL)
		return smk_fail(r->e, SMK_E_NOMEM, "%s: out of memory", r->file);
	nd->plain = ev->data.scalar.style == YAML_PLAIN_SCALAR_STYLE;
	nd->text = malloc(ev->data.scalar.length + 1);
	if (nd->text == NULL) {
		pnode_free(nd);
		return smk_fail(r->e, SMK_E_NOMEM, "%s: out of memory", r->file);
	}
	memcpy(nd->text, ev->data.scalar.value, ev->data.scalar.length);
	nd->text[ev->data.scalar.length] = '\0';
	return attach(r, nd);
}

static int on_start(struct reader *r, const yaml_event_t *ev, enum pnode_kind kind,
		    const yaml_char_t *anchor, const yaml_char_t *tag)
{
	pnode *nd;

	if (plain_node_props(r, ev, anchor, tag) < 0)
		return -1;
	if (r->depth == PYAML_DEPTH_MAX)
		return fail_mark(r->e, r->file, ev->start_mark,
				 "nested more than %d levels deep; a policy needs at most 3",
				 PYAML_DEPTH_MAX);
	nd = node_new(kind, ev->start_mark);
	if (nd == NULL)
		return smk_fail(r->e, SMK_E_NOMEM, "%s: out of memory", r->file);
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
			return fail_mark(r->e, r->file, ev->start_mark,
					 "a second document; one policy per file, no \"---\" "
					 "after the first");
		if (ev->data.document_start.version_directive ||
		    ev->data.document_start.tag_directives.start !=
			ev->data.document_start.tag_directives.end)
			return fail_mark(r->e, r->file, ev->start_mark,
					 "directives (%%YAML, %%TAG) are not allowed; remove them");
		return 0;
	case YAML_DOCUMENT_END_EVENT:
		return 0;
	case YAML_ALIAS_EVENT:
		return fail_mark(
		    r->e, r->file, ev->start_mark,
		    "alias \"*%s\" is not allowed; write the value out where it is used",
		    (const char *)ev->data.alias.anchor);
	case YAML_SCALAR_EVENT:
		return on_scalar(r, ev);
	case YAML_SEQUENCE_START_EVENT:
		return on_start(r, ev, PNODE_SEQ, ev->data.sequence_start.anchor,
				ev->data.sequence_start.tag);
	case YAML_MAPPING_START_EVENT:
		return on_start(r, ev, PNODE_MAP, ev->data.mapping_start.anchor,
				ev->data.mapping_start.tag);
	case YAML_SEQUENCE_END_EVENT:
	case YAML_MAPPING_END_EVENT:
		if (r->depth > 0)
			r->depth--;
		return 0;
	}
	return 0;
}

int pyaml_parse(const char *file, const unsigned char *text, size_t len, pnode **root, smk_err *e)
{
	struct reader r;
	yaml_parser_t parser;
	yaml_event_t ev;
	int documents = 0, done = 0, rc = 0;

	*root = NULL;
	memset(&r, 0, sizeof(r));
	r.file = file;
	r.e = e;
	if (!yaml_parser_initialize(&parser))
		return smk_fail(e, SMK_E_NOMEM, "%s: out of memory", file);
	yaml_parser_set_input_string(&parser, text, len);
	while (!done) {
		if (!yaml_parser_parse(&parser, &ev)) {
			if (parser.error == YAML_MEMORY_ERROR)
				rc = smk_fail(e, SMK_E_NOMEM, "%s: out of memory", file);
			else if (parser.context)
				rc = fail_mark(e, file, parser.problem_mark,
					       "YAML syntax: %s %s; fix the indentation or quoting",
					       parser.problem ? parser.problem : "error",
					       parser.context);
			else
				rc = fail_mark(e, file, parser.problem_mark,
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
	if (rc < 0) {
		pnode_free(r.root);
		return -1;
	}
	*root = r.root;
	return 0;
}
