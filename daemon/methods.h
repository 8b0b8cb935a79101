/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The methods of io.smkeyd and org.varlink.service: parameters are checked
 * against proto/io.smkeyd.varlink here, then handed to the engine.
 *
 * server.c owns the connections; this is the contract between the two files.
 */
#ifndef SMK_METHODS_H
#define SMK_METHODS_H

#include <jansson.h>

#include "daemon/engine.h"
#include "proto/varlink.h"

#define SMKEYD_VERSION "0.1.0"

struct server_conn;

/* server.c: answer the call in flight on c. A reply with continues is only
 * sent when the call asked for "more"; the first reply without it (or an
 * error) ends the call, and then the client's next call is read. params is
 * stolen (NULL: {}). A oneway call gets nothing. */
void server_conn_reply(struct server_conn *c, json_t *params, int continues);
void server_conn_error(struct server_conn *c, const char *name, json_t *params);
/* The same as server_conn_reply(c, params, 0) with params given as the
 * compact JSON text of the object (len bytes, no NUL), as the engine's
 * reply caches hold it: the final reply, without a re-encode. */
void server_conn_reply_text(struct server_conn *c, const char *params, size_t len);
/* Milliseconds since the call in flight on c was read. */
long long server_conn_elapsed_ms(const struct server_conn *c);

/* methods.c: answer call, made by peer on c. 0: answered before returning.
 * 1: the engine holds c and answers later (Generate, and the certificate and
 * adoption methods); if c goes away first, the server calls
 * engine_forget(eng, c). */
int methods_dispatch(engine *eng, struct server_conn *c, const engine_peer *peer,
		     const varlink_call *call);

#endif
