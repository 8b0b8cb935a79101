/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey's side of the varlink protocol: a blocking client on smkeyd's Unix
 * socket, and what every online command shares (finding the socket, turning
 * a varlink error into one line and an exit status).
 */
#ifndef SMK_VARLINK_CLIENT_H
#define SMK_VARLINK_CLIENT_H

#include <jansson.h>

#include "common/err.h"
#include "proto/varlink.h"

/* Exit statuses scripts can rely on. */
#define SMKEY_EXIT_OK 0
#define SMKEY_EXIT_FAILED 1	 /* refused or failed: policy denied, generation failed */
#define SMKEY_EXIT_USAGE 2	 /* bad arguments, or parameters the daemon calls invalid */
#define SMKEY_EXIT_UNREACHABLE 3 /* no daemon on the socket, or it went away */

#define SMKEYD_DEFAULT_SOCKET "/run/smkeyd/smkeyd.sock"
/* Replies carry bundles and record lists: far larger than calls. */
#define VLC_MAX_REPLY (64u << 20)

typedef struct vlc {
	int fd;
	varlink_reader rd;
} vlc;

/* The socket: the --socket value when given, else $SMKEYD_SOCKET, else the default. */
const char *vlc_socket_path(const char *opt);
int vlc_connect(vlc *c, const char *path, smk_err *e);
void vlc_close(vlc *c);
int vlc_send(vlc *c, const char *method, json_t *params, int flags, smk_err *e);
/* The next reply: 1 with *msg (caller frees) and *reply pointing into it;
 * 0 when timeout_ms passed first (-1 waits for ever); -1 when the stream
 * broke or the daemon closed it. */
int vlc_recv(vlc *c, int timeout_ms, json_t **msg, varlink_reply *reply, smk_err *e);

/* Connect, call method, wait for the one reply, an error reply included
 * (reply->error set). Returns an exit status: 0 with *msg (caller frees)
 * and *reply, otherwise the failure has been printed as "smkey CMD: ..."
 * and *msg is NULL. */
int vlc_call(const char *cmd, const char *socket_path, const char *method, json_t *params,
	     json_t **msg, varlink_reply *reply);
/* vlc_call, an error reply printed too (vlc_report_error). Returns an exit
 * status: 0 with *msg and *reply (not an error), otherwise the error has
 * been printed as "smkey CMD: ..." and *msg is NULL. */
int vlc_simple(const char *cmd, const char *socket_path, const char *method, json_t *params,
	       json_t **msg, varlink_reply *reply);
/* Print a varlink error reply in words; returns its exit status. */
int vlc_report_error(const char *cmd, const varlink_reply *reply);

/* obj[key] as a string, or dflt when absent or not a string. */
const char *vlc_str(json_t *obj, const char *key, const char *dflt);
/* The same for a terminal: escaped with smk_show() (common/show.h), since
 * replies repeat labels, subjects, reader names and policy text. */
const char *vlc_show(json_t *obj, const char *key, const char *dflt);

/* A sequence number, --since or --limit as typed: up to 18 decimal digits,
 * or -1. */
long long vlc_number(const char *s);

/* A key record as commands take it (ID: a sequence number, a request id,
 * or the label of exactly one key or adopted record, looked up with
 * ListRecords): sets seq or request_id in params. Returns an exit status,
 * the error already printed. */
int vlc_key_ref(const char *cmd, const char *socket_path, const char *id, json_t *params);

/* Write p to path, a new file (smk_write_new_file: never through a link; an
 * existing file replaced only when force), or to stdout when path is NULL
 * or "-". Returns an exit status, the error already printed. */
int vlc_write_output(const char *cmd, const char *path, const void *p, size_t n, int force);

/* Print v as indented JSON on stdout. */
void vlc_print_json(json_t *v);

/* A query command's whole run: vlc_simple, then the reply's member key (the
 * whole reply when key is NULL) printed as JSON with json, else by
 * text(v, ctx); a trust_warning in the reply (ListDevices) comes first, on
 * stderr with json. Takes params (NULL: none). Returns the exit status. */
int vlc_call_print(const char *cmd, const char *socket_path, const char *method, json_t *params,
		   const char *key, int json, void (*text)(json_t *v, void *ctx), void *ctx);

#endif
