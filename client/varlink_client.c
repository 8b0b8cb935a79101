/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Blocking varlink client for smkey (see varlink_client.h). The daemon is
 * trusted to be smkeyd only as far as the socket's permissions go, so its
 * replies go through the same bounded reader as anything else.
 */
#include "varlink_client.h"

#include "common/show.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "common/file.h"
#include "varlink_errors.h"

const char *vlc_socket_path(const char *opt)
{
	const char *env = getenv("SMKEYD_SOCKET");

	if (opt && *opt)
		return opt;
	return env && *env ? env : SMKEYD_DEFAULT_SOCKET;
}

int vlc_connect(vlc *c, const char *path, smk_err *e)
{
	struct sockaddr_un sa;

	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	c->fd = -1;
	if (strlen(path) >= sizeof(sa.sun_path))
		return smk_fail(e, SMK_E_ARG, "socket path %s is too long", path);
	memcpy(sa.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0)
		return smk_fail(e, SMK_E_IO, "socket: %s", strerror(errno));
	if (connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int err = errno;

		close(c->fd);
		c->fd = -1;
		return smk_fail(e, SMK_E_IO, "cannot reach smkeyd at %s: %s", path, strerror(err));
	}
	varlink_reader_init(&c->rd, VLC_MAX_REPLY);
	return 0;
}

void vlc_close(vlc *c)
{
	if (c->fd >= 0) {
		close(c->fd);
		varlink_reader_free(&c->rd);
	}
	c->fd = -1;
}

int vlc_send(vlc *c, const char *method, json_t *params, int flags, smk_err *e)
{
	smk_buf out = SMK_BUF_INIT;
	size_t off = 0;
	ssize_t n;

	if (varlink_call_encode(&out, method, params, flags, e) < 0)
		return -1;
	while (off < out.len) {
		n = send(c->fd, out.data + off, out.len - off, MSG_NOSIGNAL);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			smk_buf_free(&out);
			return smk_fail(e, SMK_E_IO, "sending %s: %s", method, strerror(errno));
		}
		off += (size_t)n;
	}
	smk_buf_free(&out);
	return 0;
}

int vlc_recv(vlc *c, int timeout_ms, json_t **msg, varlink_reply *reply, smk_err *e)
{
	struct pollfd pfd = {c->fd, POLLIN, 0};
	char chunk[65536];
	ssize_t n;
	int rc;

	*msg = NULL;
	for (;;) {
		rc = varlink_reader_next(&c->rd, msg, e);
		if (rc < 0)
			return smk_context(e, "reply from smkeyd");
		if (rc == 1) {
			if (varlink_reply_decode(*msg, reply, e) < 0) {
				json_decref(*msg);
				*msg = NULL;
				return smk_context(e, "reply from smkeyd");
			}
			return 1;
		}
		rc = poll(&pfd, 1, timeout_ms);
		if (rc < 0 && errno == EINTR)
			continue;
		if (rc < 0)
			return smk_fail(e, SMK_E_IO, "poll: %s", strerror(errno));
		if (rc == 0)
			return 0;
		n = read(c->fd, chunk, sizeof(chunk));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return smk_fail(e, SMK_E_IO, "reading from smkeyd: %s", strerror(errno));
		if (n == 0)
			return smk_fail(e, SMK_E_IO, "smkeyd closed the connection");
		if (varlink_reader_feed(&c->rd, chunk, (size_t)n, e) < 0)
			return -1;
	}
}

/* A member of an error reply, shown escaped: the daemon repeats names
 * clients, cards and policy files chose. */
static const char *pstr(const varlink_reply *r, const char *key)
{
	return vlc_show(r->params, key, "?");
}

int vlc_report_error(const char *cmd, const varlink_reply *r)
{
	const char *name = r->error;
	char *dump;

	if (strcmp(name, SMK_VERR_POLICY_DENIED) == 0)
		fprintf(stderr, "smkey %s: policy %s: not allowed: %s\n", cmd, pstr(r, "policy"),
			pstr(r, "reason"));
	else if (strcmp(name, SMK_VERR_POLICY_NOT_FOUND) == 0)
		fprintf(stderr, "smkey %s: no policy named \"%s\" (see smkey policies)\n", cmd,
			pstr(r, "policy"));
	else if (strcmp(name, SMK_VERR_REQUEST_REFUSED) == 0)
		fprintf(stderr, "smkey %s: policy %s refused the request: %s\n", cmd,
			pstr(r, "policy"), pstr(r, "reason"));
	else if (strcmp(name, SMK_VERR_DEVICE_UNAVAILABLE) == 0)
		fprintf(stderr, "smkey %s: device %s unavailable: %s\n", cmd,
			json_is_string(json_object_get(r->params, "device")) ? pstr(r, "device")
									     : "(any)",
			pstr(r, "reason"));
	else if (strcmp(name, SMK_VERR_GENERATION_FAILED) == 0)
		fprintf(stderr, "smkey %s: generation failed (request %s): %s\n", cmd,
			pstr(r, "request_id"), pstr(r, "reason"));
	else if (strcmp(name, SMK_VERR_RECORD_NOT_FOUND) == 0)
		fprintf(stderr, "smkey %s: no such record\n", cmd);
	else if (strcmp(name, SMK_VERR_ARCHIVE_ERROR) == 0 &&
		 json_is_string(json_object_get(r->params, "request_id")))
		fprintf(stderr,
			"smkey %s: archive error (request %s): %s; the request stays open and is "
			"settled when the device is back or at smkeyd's next start (then: smkey "
			"show %s)\n",
			cmd, pstr(r, "request_id"), pstr(r, "reason"), pstr(r, "request_id"));
	else if (strcmp(name, SMK_VERR_ARCHIVE_ERROR) == 0)
		fprintf(stderr, "smkey %s: archive error: %s\n", cmd, pstr(r, "reason"));
	else if (strcmp(name, SMK_VERR_NOT_ADOPTABLE) == 0)
		fprintf(stderr, "smkey %s: key %lld on %s cannot be adopted: %s\n", cmd,
			(long long)json_integer_value(json_object_get(r->params, "key_id")),
			pstr(r, "device"), pstr(r, "reason"));
	else if (strcmp(name, SMK_VERR_CERTIFICATE_MISMATCH) == 0)
		fprintf(stderr, "smkey %s: certificate refused: %s\n", cmd, pstr(r, "reason"));
	else if (strcmp(name, SMK_VERR_TOO_MANY_REQUESTS) == 0)
		fprintf(stderr, "smkey %s: smkeyd is busy (limit %lld); try again later\n", cmd,
			(long long)json_integer_value(json_object_get(r->params, "limit")));
	else if (strcmp(name, SMK_VERR_INVALID_PARAMETER) == 0) {
		fprintf(stderr, "smkey %s: %s %s\n", cmd, pstr(r, "parameter"), pstr(r, "reason"));
		return SMKEY_EXIT_USAGE;
	} else if (strcmp(name, SMK_VSVC_INVALID_PARAMETER) == 0) {
		fprintf(stderr, "smkey %s: smkeyd refused parameter \"%s\"\n", cmd,
			pstr(r, "parameter"));
		return SMKEY_EXIT_USAGE;
	} else {
		dump = json_dumps(r->params, JSON_COMPACT | JSON_ENSURE_ASCII);
		fprintf(stderr, "smkey %s: %s %s\n", cmd, name, dump ? dump : "");
		free(dump);
	}
	return SMKEY_EXIT_FAILED;
}

int vlc_call(const char *cmd, const char *socket_path, const char *method, json_t *params,
	     json_t **msg, varlink_reply *reply)
{
	vlc c;
	smk_err e;
	int rc;

	*msg = NULL;
	if (vlc_connect(&c, vlc_socket_path(socket_path), &e) < 0) {
		fprintf(stderr, "smkey %s: %s\n", cmd, smk_show(e.msg));
		return SMKEY_EXIT_UNREACHABLE;
	}
	rc = vlc_send(&c, method, params, 0, &e) < 0 ? -1 : vlc_recv(&c, -1, msg, reply, &e);
	vlc_close(&c);
	if (rc < 0) {
		fprintf(stderr, "smkey %s: %s\n", cmd, smk_show(e.msg));
		return SMKEY_EXIT_UNREACHABLE;
	}
	return SMKEY_EXIT_OK;
}

int vlc_simple(const char *cmd, const char *socket_path, const char *method, json_t *params,
	       json_t **msg, varlink_reply *reply)
{
	int rc = vlc_call(cmd, socket_path, method, params, msg, reply);

	if (rc != SMKEY_EXIT_OK)
		return rc;
	if (reply->error) {
		rc = vlc_report_error(cmd, reply);
		json_decref(*msg);
		*msg = NULL;
		return rc;
	}
	return SMKEY_EXIT_OK;
}

void vlc_print_json(json_t *v)
{
	/* ASCII only: JSON escapes control characters, and this escapes the
	 * rest (C1 controls arrive as UTF-8) */
	char *s = json_dumps(v, JSON_INDENT(2) | JSON_SORT_KEYS | JSON_ENSURE_ASCII);

	if (s)
		printf("%s\n", s);
	free(s);
}

int vlc_call_print(const char *cmd, const char *socket_path, const char *method, json_t *params,
		   const char *key, int json, void (*text)(json_t *v, void *ctx), void *ctx)
{
	varlink_reply r;
	json_t *msg, *v;
	int rc = vlc_simple(cmd, socket_path, method, params, &msg, &r);

	json_decref(params);
	if (rc != SMKEY_EXIT_OK)
		return rc;
	/* ListDevices warns of test roots: beside the JSON, before the text */
	if (json_is_string(json_object_get(r.params, "trust_warning")))
		fprintf(json ? stderr : stdout, "%s\n", vlc_show(r.params, "trust_warning", ""));
	v = key ? json_object_get(r.params, key) : r.params;
	if (json)
		vlc_print_json(v);
	else
		text(v, ctx);
	json_decref(msg);
	return SMKEY_EXIT_OK;
}

const char *vlc_str(json_t *obj, const char *key, const char *dflt)
{
	const char *s = json_string_value(json_object_get(obj, key));

	return s ? s : dflt;
}

const char *vlc_show(json_t *obj, const char *key, const char *dflt)
{
	return smk_show(vlc_str(obj, key, dflt));
}

long long vlc_number(const char *s)
{
	long long v = 0;
	size_t i;

	if (s[0] == '\0' || strlen(s) > 18)
		return -1;
	for (i = 0; s[i]; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	return v;
}

static int is_request_id(const char *s)
{
	size_t i;

	for (i = 0; s[i]; i++)
		if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return i == 32;
}

int vlc_key_ref(const char *cmd, const char *socket_path, const char *id, json_t *params)
{
	long long seq = vlc_number(id), found = -1, since = 0;
	char seen[256] = "";
	varlink_reply r;
	json_t *msg, *q, *recs, *rec;
	size_t i, n;
	int rc;

	if (seq >= 0)
		return json_object_set_new(params, "seq", json_integer(seq)) == 0
			   ? SMKEY_EXIT_OK
			   : SMKEY_EXIT_FAILED;
	if (is_request_id(id))
		return json_object_set_new(params, "request_id", json_string(id)) == 0
			   ? SMKEY_EXIT_OK
			   : SMKEY_EXIT_FAILED;
	/* a label: the key records (key or adopted) that carry it */
	for (;;) {
		q = json_pack("{sIsi}", "since", (json_int_t)since, "limit", 10000);
		rc = vlc_simple(cmd, socket_path, "io.smkeyd.ListRecords", q, &msg, &r);
		json_decref(q);
		if (rc != SMKEY_EXIT_OK)
			return rc;
		recs = json_object_get(r.params, "records");
		n = json_array_size(recs);
		json_array_foreach(recs, i, rec)
		{
			const char *kind = vlc_str(rec, "kind", "");

			since = json_integer_value(json_object_get(rec, "seq")) + 1;
			if (strcmp(vlc_str(rec, "label", ""), id) != 0 ||
			    (strcmp(kind, "key") != 0 && strcmp(kind, "adopted") != 0))
				continue;
			if (found >= 0)
				snprintf(seen + strlen(seen), sizeof(seen) - strlen(seen), ", %lld",
					 since - 1);
			else
				snprintf(seen, sizeof(seen), "%lld", since - 1);
			found = since - 1;
		}
		json_decref(msg);
		if (n < 10000)
			break;
	}
	if (found < 0) {
		fprintf(stderr, "smkey %s: no key record with seq, request id or label \"%s\"\n",
			cmd, id);
		return SMKEY_EXIT_FAILED;
	}
	if (strchr(seen, ',')) {
		fprintf(stderr, "smkey %s: label \"%s\" names records %s; give the number\n", cmd,
			id, seen);
		return SMKEY_EXIT_USAGE;
	}
	json_object_set_new(params, "seq", json_integer(found));
	return SMKEY_EXIT_OK;
}

int vlc_write_output(const char *cmd, const char *path, const void *p, size_t n, int force)
{
	smk_err e;

	if (smk_write_new_file(path ? path : "-", p, n, force ? SMK_OUT_FORCE : 0, &e) < 0) {
		fprintf(stderr, "smkey %s: %s\n", cmd, e.msg);
		return SMKEY_EXIT_FAILED;
	}
	return SMKEY_EXIT_OK;
}
