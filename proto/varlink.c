/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Varlink framing and message checks (see varlink.h). Nothing here trusts
 * the peer: sizes are bounded before bytes are kept, depth is bounded before
 * jansson recurses, and field types are checked before they are used.
 */
#include "varlink.h"

#include <stdlib.h>
#include <string.h>

void varlink_reader_init(varlink_reader *r, size_t max_message)
{
	smk_buf_init(&r->buf);
	r->scanned = 0;
	r->max = max_message;
}

void varlink_reader_free(varlink_reader *r)
{
	smk_buf_free(&r->buf);
	r->scanned = 0;
}

int varlink_reader_feed(varlink_reader *r, const void *p, size_t n, smk_err *e)
{
	if (n && smk_buf_add(&r->buf, p, n) < 0)
		return smk_fail(e, SMK_E_NOMEM, "varlink: out of memory for %zu received bytes", n);
	return 0;
}

size_t varlink_reader_pending(const varlink_reader *r)
{
	return r->buf.len;
}

/* Deepest nesting of objects and arrays, counted outside strings, so that a
 * "[[[[..." bomb is refused before the recursive parser sees it. */
static int depth_ok(const char *s, size_t n, size_t *where)
{
	size_t i, depth = 0;
	int in_string = 0, escaped = 0;

	for (i = 0; i < n; i++) {
		char c = s[i];

		if (in_string) {
			if (escaped)
				escaped = 0;
			else if (c == '\\')
				escaped = 1;
			else if (c == '"')
				in_string = 0;
		} else if (c == '"') {
			in_string = 1;
		} else if (c == '{' || c == '[') {
			if (++depth > VARLINK_MAX_DEPTH) {
				*where = i;
				return 0;
			}
		} else if ((c == '}' || c == ']') && depth > 0) {
			depth--;
		}
	}
	return 1;
}

int varlink_parse(const char *text, size_t len, json_t **msg, smk_err *e)
{
	json_error_t je;
	size_t where;
	json_t *v;

	*msg = NULL;
	if (!depth_ok(text, len, &where))
		return smk_fail(e, SMK_E_FORMAT,
				"varlink message: nested deeper than %d levels at byte %zu",
				VARLINK_MAX_DEPTH, where);
	/* jansson checks UTF-8 and refuses "\u0000" unless asked; duplicate keys
	 * are refused so that no two readers can see different values */
	v = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
	if (v == NULL)
		return smk_fail(e, SMK_E_FORMAT, "varlink message: invalid JSON at byte %d: %s",
				je.position, je.text);
	if (!json_is_object(v)) {
		json_decref(v);
		return smk_fail(e, SMK_E_FORMAT, "varlink message: not a JSON object");
	}
	*msg = v;
	return 0;
}

int varlink_reader_next(varlink_reader *r, json_t **msg, smk_err *e)
{
	const uint8_t *nul;
	size_t len;
	int rc;

	*msg = NULL;
	nul = r->buf.len > r->scanned ? memchr(r->buf.data + r->scanned, 0, r->buf.len - r->scanned)
				      : NULL;
	if (nul == NULL) {
		r->scanned = r->buf.len;
		if (r->buf.len > r->max)
			return smk_fail(e, SMK_E_FORMAT,
					"varlink message: no NUL terminator within %zu bytes",
					r->max);
		return 0;
	}
	len = (size_t)(nul - r->buf.data);
	if (len > r->max)
		return smk_fail(e, SMK_E_FORMAT,
				"varlink message: %zu bytes, larger than the limit of %zu", len,
				r->max);
	rc = varlink_parse((const char *)r->buf.data, len, msg, e);
	/* the message is consumed either way; after an error the caller closes */
	memmove(r->buf.data, r->buf.data + len + 1, r->buf.len - len - 1);
	r->buf.len -= len + 1;
	r->scanned = 0;
	return rc < 0 ? -1 : 1;
}

static int lower_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
}

/* varlink: interface names are reverse-domain, lower case, at least two
 * labels ("io.smkeyd"); members start with a capital ("Generate"). */
int varlink_method_valid(const char *method)
{
	const char *dot = strrchr(method, '.');
	const char *p;
	int labels = 1, label_len = 0;

	if (dot == NULL || dot == method || strlen(method) > VARLINK_MAX_METHOD)
		return 0;
	if (!(method[0] >= 'a' && method[0] <= 'z'))
		return 0;
	for (p = method; p < dot; p++) {
		if (*p == '.') {
			if (label_len == 0 || p[-1] == '-')
				return 0;
			labels++;
			label_len = 0;
		} else if (lower_alnum(*p) || (*p == '-' && label_len > 0)) {
			label_len++;
		} else {
			return 0;
		}
	}
	if (label_len == 0 || dot[-1] == '-' || labels < 2)
		return 0;
	if (!(dot[1] >= 'A' && dot[1] <= 'Z'))
		return 0;
	for (p = dot + 1; *p; p++)
		if (!lower_alnum(*p) && !(*p >= 'A' && *p <= 'Z'))
			return 0;
	return 1;
}

static int opt_bool(json_t *msg, const char *key, int *out, varlink_call *call, smk_err *e)
{
	json_t *v = json_object_get(msg, key);

	*out = 0;
	if (v == NULL || json_is_null(v))
		return 0;
	if (!json_is_boolean(v)) {
		call->invalid = key;
		return smk_fail(e, SMK_E_FORMAT, "varlink call: \"%s\" must be true or false", key);
	}
	*out = json_is_true(v);
	return 0;
}

void varlink_call_clear(varlink_call *call)
{
	/* params is either borrowed from the message or our own empty object;
	 * both are released by dropping the reference we took */
	json_decref(call->params);
	call->params = NULL;
}

int varlink_call_decode(json_t *msg, varlink_call *call, smk_err *e)
{
	const char *key, *dot;
	json_t *v;
	int upgrade;

	memset(call, 0, sizeof(*call));
	json_object_foreach(msg, key, v)
	{
		if (strcmp(key, "method") && strcmp(key, "parameters") && strcmp(key, "more") &&
		    strcmp(key, "oneway") && strcmp(key, "upgrade")) {
			call->invalid = "message";
			return smk_fail(e, SMK_E_FORMAT, "varlink call: unknown field \"%.64s\"",
					key);
		}
	}
	v = json_object_get(msg, "method");
	if (!json_is_string(v) || !varlink_method_valid(json_string_value(v))) {
		call->invalid = "method";
		return smk_fail(e, SMK_E_FORMAT, "varlink call: %s",
				v == NULL ? "no \"method\""
				: !json_is_string(v)
				    ? "\"method\" must be a string"
				    : "\"method\" is not an interface.Method name");
	}
	call->method = json_string_value(v);
	dot = strrchr(call->method, '.');
	memcpy(call->interface, call->method, (size_t)(dot - call->method));
	call->interface[dot - call->method] = '\0';
	call->member = dot + 1;

	v = json_object_get(msg, "parameters");
	if (v != NULL && !json_is_null(v) && !json_is_object(v)) {
		call->invalid = "parameters";
		return smk_fail(e, SMK_E_FORMAT,
				"varlink call %s: \"parameters\" must be an object", call->method);
	}
	if (opt_bool(msg, "more", &call->more, call, e) < 0 ||
	    opt_bool(msg, "oneway", &call->oneway, call, e) < 0 ||
	    opt_bool(msg, "upgrade", &upgrade, call, e) < 0)
		return smk_context(e, "%s", call->method);
	if (upgrade) {
		call->invalid = "upgrade";
		return smk_fail(e, SMK_E_UNSUPPORTED,
				"varlink call %s: \"upgrade\" is not supported here", call->method);
	}
	if (call->more && call->oneway) {
		call->invalid = "oneway";
		return smk_fail(e, SMK_E_FORMAT,
				"varlink call %s: \"more\" and \"oneway\" exclude each other",
				call->method);
	}
	call->params = json_is_object(v) ? json_incref(v) : json_object();
	if (call->params == NULL)
		return smk_fail(e, SMK_E_NOMEM, "varlink call: out of memory");
	return 0;
}

int varlink_reply_decode(json_t *msg, varlink_reply *reply, smk_err *e)
{
	json_t *err, *params, *cont;

	memset(reply, 0, sizeof(*reply));
	err = json_object_get(msg, "error");
	params = json_object_get(msg, "parameters");
	cont = json_object_get(msg, "continues");
	if (err != NULL && !json_is_null(err)) {
		if (!json_is_string(err) || !varlink_method_valid(json_string_value(err)))
			return smk_fail(e, SMK_E_FORMAT,
					"varlink reply: \"error\" is not an interface.Error name");
		reply->error = json_string_value(err);
	}
	if (params == NULL || json_is_null(params)) {
		/* an empty reply may omit its parameters: give it {} so that
		 * callers never check for NULL */
		params = json_object();
		if (params == NULL || json_object_set_new(msg, "parameters", params) < 0)
			return smk_fail(e, SMK_E_NOMEM, "varlink reply: out of memory");
	} else if (!json_is_object(params)) {
		return smk_fail(e, SMK_E_FORMAT, "varlink reply: \"parameters\" must be an object");
	}
	reply->params = params;
	if (cont != NULL && !json_is_null(cont)) {
		if (!json_is_boolean(cont))
			return smk_fail(e, SMK_E_FORMAT,
					"varlink reply: \"continues\" must be true or false");
		reply->continues = json_is_true(cont);
	}
	return 0;
}

static int dump_into(smk_buf *out, json_t *msg, smk_err *e)
{
	char *text = json_dumps(msg, JSON_COMPACT);
	int rc;

	if (text == NULL)
		return smk_fail(e, SMK_E_NOMEM, "varlink: cannot encode message");
	rc = smk_buf_add(out, text, strlen(text) + 1); /* the NUL is the frame end */
	free(text);
	if (rc < 0)
		return smk_fail(e, SMK_E_NOMEM, "varlink: out of memory");
	return 0;
}

/* Build {key: value, ...} without stealing the caller's params. */
static int encode(smk_buf *out, json_t *msg, json_t *params, smk_err *e)
{
	int rc;

	if (msg == NULL)
		return smk_fail(e, SMK_E_NOMEM, "varlink: out of memory");
	if (params != NULL && !json_is_object(params)) {
		json_decref(msg);
		return smk_fail(e, SMK_E_ARG, "varlink: parameters must be an object");
	}
	if (json_object_set_new(msg, "parameters", params ? json_incref(params) : json_object())) {
		json_decref(msg);
		return smk_fail(e, SMK_E_NOMEM, "varlink: out of memory");
	}
	rc = dump_into(out, msg, e);
	json_decref(msg);
	return rc;
}

int varlink_call_encode(smk_buf *out, const char *method, json_t *params, int flags, smk_err *e)
{
	json_t *msg;

	if (!varlink_method_valid(method))
		return smk_fail(e, SMK_E_ARG, "varlink: \"%.64s\" is not an interface.Method name",
				method);
	msg = json_pack("{ss}", "method", method);
	if (msg && (flags & VARLINK_MORE))
		json_object_set_new(msg, "more", json_true());
	if (msg && (flags & VARLINK_ONEWAY))
		json_object_set_new(msg, "oneway", json_true());
	return encode(out, msg, params, e);
}

int varlink_reply_encode(smk_buf *out, json_t *params, int continues, smk_err *e)
{
	json_t *msg = continues ? json_pack("{sb}", "continues", 1) : json_object();

	return encode(out, msg, params, e);
}

int varlink_reply_encode_text(smk_buf *out, const char *params, size_t len, smk_err *e)
{
	static const char head[] = "{\"parameters\":";

	/* the same bytes varlink_reply_encode writes for a final reply whose
	 * parameters dump to this text */
	if (len < 2 || params[0] != '{' || params[len - 1] != '}')
		return smk_fail(e, SMK_E_ARG, "varlink: parameters must be an object");
	if (smk_buf_reserve(out, sizeof(head) - 1 + len + 2) < 0)
		return smk_fail(e, SMK_E_NOMEM, "varlink: out of memory");
	smk_buf_add(out, head, sizeof(head) - 1);
	smk_buf_add(out, params, len);
	smk_buf_add(out, "}", 2); /* and the NUL that ends the frame */
	return 0;
}

int varlink_error_encode(smk_buf *out, const char *name, json_t *params, smk_err *e)
{
	if (!varlink_method_valid(name))
		return smk_fail(e, SMK_E_ARG, "varlink: \"%.64s\" is not an interface.Error name",
				name);
	return encode(out, json_pack("{ss}", "error", name), params, e);
}
