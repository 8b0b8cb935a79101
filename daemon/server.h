/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkeyd's socket layer: the Unix socket, its clients and their limits,
 * written once for every method (methods.c answers the calls).
 *
 * At accept the peer is recorded as the kernel saw it (SO_PEERCRED,
 * SO_PEERGROUPS, /proc/PID/exe) and never asked again. Every client is
 * bounded: message size; one call in flight (varlink answers in order: the
 * next call is read when the last reply has gone to the kernel, so a client
 * that sends calls and reads no replies is simply not served further); bytes
 * queued for a client that does not read (past the bound it is dropped);
 * idle time (no call and no byte, or no reply byte taken); the time from the
 * first byte of a message to its NUL (a client that trickles a request is
 * closed at the deadline, whatever its pace). A malformed message is
 * answered with an error and the connection closed; the loop never blocks
 * and never trusts a byte.
 *
 * Sharing the slots (the choice is daemon/slots.h): one uid holds at most
 * max_clients_per_uid connections.
 * When every slot is taken, a newcomer takes the slot of a connection that
 * has no call in flight (idle, or in the middle of a request), from another
 * uid: first one that no policy and no admin group names when the newcomer
 * is named (engine_peer_named), else one of the uid with the most
 * connections, if that uid holds at least two more than the newcomer's. So
 * a uid the policies allow is never kept out by one they do not, and no uid
 * keeps out a uid with fewer connections by holding idle ones.
 */
#ifndef SMK_SERVER_H
#define SMK_SERVER_H

#include <stddef.h>

#include "common/err.h"
#include "daemon/engine.h"

struct event_base;

typedef struct server_limits {
	size_t max_clients;	     /* connections at once; one more is told TooManyRequests */
	size_t max_clients_per_uid;  /* connections of one uid at once (same answer) */
	size_t max_message;	     /* bytes of one received message, without its NUL */
	size_t max_output;	     /* bytes queued for a client that does not read */
	unsigned idle_timeout_ms;    /* no call and no byte for this long: closed (0: never) */
	unsigned request_timeout_ms; /* first byte of a message to its NUL (0: no deadline) */
} server_limits;

/* 64 clients, 16 per uid, 64 KiB messages, 16 MiB queued, 60 s idle, 10 s
 * for a request to arrive whole. */
void server_limits_default(server_limits *lim);

enum server_log_level { SERVER_LOG_ERR, SERVER_LOG_WARNING, SERVER_LOG_INFO, SERVER_LOG_DEBUG };
/* Where the socket layer reports (default: stderr). Never given a secret. */
typedef void (*server_log_fn)(void *ctx, enum server_log_level level, const char *msg);

typedef struct server server;

/* The server answers on base with eng; lim NULL takes the defaults. */
server *server_new(struct event_base *base, engine *eng, const server_limits *lim, smk_err *e);
void server_set_log(server *srv, server_log_fn fn, void *ctx);
/* Listen on a Unix socket path, created with mode 0660. An existing socket
 * that nobody answers on (a crashed daemon's) is replaced; a live one, or a
 * file that is not a socket, is refused. */
int server_listen_path(server *srv, const char *path, smk_err *e);
/* Adopt a listening Unix stream socket (from systemd or a test). */
int server_listen_fd(server *srv, int fd, smk_err *e);
/* Adopt the sockets systemd passed (sdnotify_listen_fds). Returns how many (0 when
 * not socket-activated), or -1. */
int server_listen_systemd(server *srv, smk_err *e);
/* Clients connected now. */
size_t server_client_count(const server *srv);
/* Close every client (telling the engine to forget pending ones), stop
 * listening, remove the socket path it created, free. */
void server_free(server *srv);

#endif
